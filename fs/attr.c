/*
 * attr.c — translation between NFSv3 and POSIX: attributes, errors, and
 * the shared op lifecycle (allocation, submission, entry replies).
 */
#include "fs/fs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

/* nfsstat3 values are Sun's errno numbers; Linux differs for several. */
int fs_nfs_errno(int nfsstat)
{
	switch (nfsstat) {
	case NFS3_OK:			return 0;
	case NFS3ERR_PERM:		return EPERM;
	case NFS3ERR_NOENT:		return ENOENT;
	case NFS3ERR_IO:		return EIO;
	case NFS3ERR_NXIO:		return ENXIO;
	case NFS3ERR_ACCES:		return EACCES;
	case NFS3ERR_EXIST:		return EEXIST;
	case NFS3ERR_XDEV:		return EXDEV;
	case NFS3ERR_NODEV:		return ENODEV;
	case NFS3ERR_NOTDIR:		return ENOTDIR;
	case NFS3ERR_ISDIR:		return EISDIR;
	case NFS3ERR_INVAL:		return EINVAL;
	case NFS3ERR_FBIG:		return EFBIG;
	case NFS3ERR_NOSPC:		return ENOSPC;
	case NFS3ERR_ROFS:		return EROFS;
	case NFS3ERR_MLINK:		return EMLINK;
	case NFS3ERR_NAMETOOLONG:	return ENAMETOOLONG;
	case NFS3ERR_NOTEMPTY:		return ENOTEMPTY;
	case NFS3ERR_DQUOT:		return EDQUOT;
	case NFS3ERR_STALE:		return ESTALE;
	case NFS3ERR_REMOTE:		return EREMOTE;
	case NFS3ERR_BADHANDLE:		return ESTALE;
	case NFS3ERR_NOT_SYNC:		return EIO;
	case NFS3ERR_BAD_COOKIE:	return EINVAL;
	case NFS3ERR_NOTSUPP:		return EOPNOTSUPP;
	case NFS3ERR_TOOSMALL:		return EINVAL;
	case NFS3ERR_BADTYPE:		return EINVAL;
	case NFS3ERR_JUKEBOX:		return EAGAIN;
	default:			return EIO;
	}
}

static mode_t ftype_bits(int type)
{
	switch (type) {
	case NF3REG:	return S_IFREG;
	case NF3DIR:	return S_IFDIR;
	case NF3BLK:	return S_IFBLK;
	case NF3CHR:	return S_IFCHR;
	case NF3LNK:	return S_IFLNK;
	case NF3SOCK:	return S_IFSOCK;
	case NF3FIFO:	return S_IFIFO;
	default:	return 0;
	}
}

void fs_fattr_to_stat(const struct fattr3 *fa, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = fa->fileid;
	st->st_mode = ftype_bits(fa->type) | (fa->mode & 07777);
	st->st_nlink = fa->nlink;
	st->st_uid = fa->uid;
	st->st_gid = fa->gid;
	st->st_size = fa->size;
	st->st_blocks = (fa->used + 511) / 512;
	st->st_blksize = 1 << 20;
	st->st_rdev = makedev(fa->rdev.specdata1, fa->rdev.specdata2);
	st->st_atim.tv_sec = fa->atime.seconds;
	st->st_atim.tv_nsec = fa->atime.nseconds;
	st->st_mtim.tv_sec = fa->mtime.seconds;
	st->st_mtim.tv_nsec = fa->mtime.nseconds;
	st->st_ctim.tv_sec = fa->ctime.seconds;
	st->st_ctim.tv_nsec = fa->ctime.nseconds;
}

void fs_sattr_init(struct sattr3 *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->atime.set_it = DONT_CHANGE;
	sa->mtime.set_it = DONT_CHANGE;
}

void fs_sattr_owner(struct sattr3 *sa, mode_t mode, uid_t uid, gid_t gid)
{
	fs_sattr_init(sa);
	sa->mode.set_it = 1;
	sa->mode.set_mode3_u.mode = mode & 07777;
	sa->uid.set_it = 1;
	sa->uid.set_uid3_u.uid = uid;
	sa->gid.set_it = 1;
	sa->gid.set_gid3_u.gid = gid;
}

/* ---- op lifecycle ---- */

static void op_fail(struct rep_req *r, int err)
{
	op_reply_err((struct fs_op *)r, err);
}

struct fs_op *op_new(fuse_req_t req, struct ino *ino,
		     int (*send)(struct rep_req *, struct rpc_context *, rpc_cb),
		     void (*done)(struct rep_req *, void *))
{
	struct fs_op *op = calloc(1, sizeof(*op));

	if (!op) {
		fuse_reply_err(req, ENOMEM);
		return NULL;
	}
	op->fs = fs_of(req);
	op->req = req;
	op->ino = ino;
	op->rr.send = send;
	op->rr.done = done;
	op->rr.fail = op_fail;
	op_count(op);
	return op;
}

void op_count(struct fs_op *op)
{
	op->era = op->fs->era;
	op->era_counted = true;
	op->fs->ops_live++;
	op->fs->ops_live_cur++;
}

void op_free(struct fs_op *op)
{
	if (op->era_counted) {
		op->fs->ops_live--;
		if (op->era == op->fs->era)
			op->fs->ops_live_cur--;
	}
	free(op->parts);
	free(op->name);
	free(op->name2);
	free(op->data_base ? op->data_base : op->data);
	free(op);
}

void op_submit_req(struct fs_op *op, struct rep_req *rr)
{
	struct fs_ctx *fs = op->fs;

	if (fs->serve == SERVE_FREEZING || fs->serve == SERVE_CATCHUP ||
	    fs_failback_holds(fs, op))
		fs_hold(fs, rr);
	else
		rep_export_submit(fs->active, rr);
}

void op_submit(struct fs_op *op)
{
	op_submit_req(op, &op->rr);
}

void op_chain(struct fs_op *op,
	      int (*send)(struct rep_req *, struct rpc_context *, rpc_cb),
	      void (*done)(struct rep_req *, void *))
{
	op->rr.send = send;
	op->rr.done = done;
	op->rr.attempts = 0;
	op_submit(op);
}

void op_reply_err(struct fs_op *op, int err)
{
	if (op->req)
		fuse_reply_err(op->req, err);
	op_free(op);
}

/* ---- entry replies ---- */

void fs_entry_fill(struct fs_ctx *fs, struct fuse_entry_param *e,
		   struct ino *ino, const struct fattr3 *fa)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino_nodeid(&fs->inodes, ino);
	e->generation = ino->generation;
	fs_fattr_to_stat(fa, &e->attr);
	e->attr_timeout = fs->opts.attr_timeout;
	e->entry_timeout = fs->opts.entry_timeout;
	ino->is_dir = fa->type == NF3DIR;
	fs_ino_seen(ino, &e->attr);
}

void fs_ino_seen(struct ino *ino, struct stat *st)
{
	/* st_ino is the fileid the inode had when first seen, so it stays
	 * the same across a failover (Samba keys share modes and locks on
	 * it); see ino_table.fileid_flip. */
	if (!ino->fileid)
		ino->fileid = st->st_ino;
	st->st_ino = ino->fileid;
	ino->last_attr = *st;
	ino->have_attr = true;
	if (ino->silly && st->st_nlink > 0)
		st->st_nlink--;
}

void fs_new_owner(struct fs_op *op, mode_t mode)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(op->req);
	struct ino *dir = op->ino;

	op->mode = mode & ~ctx->umask;
	op->uid = ctx->uid;
	op->gid = ctx->gid;
	if (dir->have_attr && (dir->last_attr.st_mode & S_ISGID)) {
		op->gid = dir->last_attr.st_gid;
		if (S_ISDIR(mode))
			op->mode |= S_ISGID;
	}
}

static int entry_lookup_send(struct rep_req *r, struct rpc_context *rpc,
			     rpc_cb cb)
{
	struct fs_op *op = (struct fs_op *)r;
	LOOKUP3args a;

	a.what.dir = ino_fh3(op->ino);
	a.what.name = op->name;
	return rpc_nfs3_lookup_async(rpc, cb, &a, r);
}

static void entry_lookup_done(struct rep_req *r, void *data)
{
	struct fs_op *op = (struct fs_op *)r;
	LOOKUP3res *res = data;
	struct post_op_fh3 fh;

	if (res->status != NFS3_OK) {
		op_reply_err(op, fs_nfs_errno(res->status));
		return;
	}
	if (!res->LOOKUP3res_u.resok.obj_attributes.attributes_follow) {
		op_reply_err(op, EIO);
		return;
	}
	fh.handle_follows = 1;
	fh.post_op_fh3_u.handle = res->LOOKUP3res_u.resok.object;
	fs_reply_entry(op, &fh, &res->LOOKUP3res_u.resok.obj_attributes,
		       op->has_fi);
}

/* Sends the entry prepared in op->e (after its record is durable, in
 * journal mode). */
static void entry_send(struct fs_op *op)
{
	struct fs_ctx *fs = op->fs;
	struct ino *ino = op->entry_ino;
	int rc;

	if (op->entry_is_create)
		rc = fuse_reply_create(op->req, &op->e, &op->fi);
	else
		rc = fuse_reply_entry(op->req, &op->e);
	if (rc) {
		/* The kernel never saw the entry: give the reference back. */
		if (op->entry_is_create) {
			ino->open_count--;
			fs->open_files--;
		}
		ino_forget(&fs->inodes, ino, 1);
	}
	op_free(op);
}

void fs_reply_entry(struct fs_op *op, const struct post_op_fh3 *fh,
		    const struct post_op_attr *attr, bool is_create)
{
	struct fs_ctx *fs = op->fs;
	const struct fattr3 *fa = &attr->post_op_attr_u.attributes;
	struct ino *ino;

	if (!fh->handle_follows || !attr->attributes_follow) {
		op_chain(op, entry_lookup_send, entry_lookup_done);
		return;
	}
	ino = ino_ref_fh(&fs->inodes, fh->post_op_fh3_u.handle.data.data_val,
			 fh->post_op_fh3_u.handle.data.data_len, fa->fileid);
	if (!ino) {
		op_reply_err(op, ENOMEM);
		return;
	}
	fs_entry_fill(fs, &op->e, ino, fa);
	op->entry_ino = ino;
	op->entry_is_create = is_create;
	op->fi.fh = 0;
	if (is_create) {
		ino->open_count++;
		fs->open_files++;
		/* the mirror gets its mtime at the last close (ops_file.c) */
		ino->mtime_dirty = fs_recording(fs);
	}
	if (op->journal_entry && fs_recording(fs)) {
		/* A creating op: its record introduces the new fid, and the
		 * kernel hears of the entry once the record is durable. */
		op->journal_entry(op, ino);
		if (op->jop.type == JNL_OP_MKDIR)	/* its own mtime */
			fsj_dir_changed(op, ino, attr);
		if (op->jop.type == JNL_OP_MKNOD &&
		    S_ISREG(op->jop.u.entry.mode)) {
			/* never opened, so no close brings its mtime */
			struct jnl_op mt = { .type = JNL_OP_SETATTR };

			mt.u.setattr.fid = op->jop.u.entry.fid;
			mt.u.setattr.mask = JNL_SA_MTIME;
			mt.u.setattr.mtime_sec = fa->mtime.seconds;
			mt.u.setattr.mtime_nsec = fa->mtime.nseconds;
			fsj_commit(op, entry_send);	/* may free op */
			fsj_note(fs, &mt);
			return;
		}
		fsj_commit(op, entry_send);
		return;
	}
	fsj_bind(fs, op->ino, op->name, ino);
	entry_send(op);
}
