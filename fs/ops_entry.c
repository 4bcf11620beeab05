/*
 * ops_entry.c — FUSE handlers for names and metadata: lookup, forget,
 * getattr, setattr, readlink, mknod, mkdir, symlink, link, statfs, access.
 * Removal and rename, with their silly-rename rule, are in ops_remove.c.
 *
 * Shape of every handler: fs_op_X() copies what it needs into a struct
 * fs_op and submits it; X_send() builds the NFSv3 arguments (again on a
 * retry); X_done() turns the NFS result into exactly one FUSE reply.
 *
 * Ownership: objects are created with the caller's uid/gid (and mode after
 * umask) in the CREATE/MKDIR/SYMLINK/MKNOD attributes, so the server sets
 * the owner in the same call.  Permission checks are the kernel's
 * (default_permissions is always on): ofsrep talks to the NAS as root.
 */
#include "fs/fs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#define OP_OF(r) ((struct fs_op *)(r))

static struct ino *ino_of(fuse_req_t req, fuse_ino_t nodeid)
{
	return ino_get(&fs_of(req)->inodes, nodeid);
}

/* Copies the name of a new entry; names in ofsrep's reserved namespace
 * are refused (EPERM), like a filesystem's own metadata names. */
static int op_set_name(struct fs_op *op, const char *name)
{
	if (fs_reserved_name(op->ino, &op->fs->inodes.root, name)) {
		op_reply_err(op, EPERM);
		return -1;
	}
	op->name = strdup(name);
	if (!op->name) {
		op_reply_err(op, ENOMEM);
		return -1;
	}
	return 0;
}

/* ---- lookup ---- */

static int lookup_send(struct rep_req *r, struct rpc_context *rpc, rpc_cb cb)
{
	struct fs_op *op = OP_OF(r);
	LOOKUP3args a;

	a.what.dir = ino_fh3(op->ino);
	a.what.name = op->name;
	return rpc_nfs3_lookup_async(rpc, cb, &a, r);
}

static void lookup_done(struct rep_req *r, void *data)
{
	struct fs_op *op = OP_OF(r);
	LOOKUP3res *res = data;
	struct post_op_fh3 fh;

	if (res->status == NFS3ERR_NOENT && op->fs->opts.negative_timeout > 0) {
		struct fuse_entry_param e = {
			.ino = 0,
			.entry_timeout = op->fs->opts.negative_timeout,
		};
		fuse_reply_entry(op->req, &e);
		op_free(op);
		return;
	}
	if (res->status != NFS3_OK) {
		op_reply_err(op, fs_nfs_errno(res->status));
		return;
	}
	fh.handle_follows = 1;
	fh.post_op_fh3_u.handle = res->LOOKUP3res_u.resok.object;
	fs_reply_entry(op, &fh, &res->LOOKUP3res_u.resok.obj_attributes,
		       false);
}

void fs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs_op *op;

	if (strlen(name) > 255) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	/* Files unlinked while open live on under hidden names; they are
	 * not part of the namespace the user sees. */
	if (fs_reserved_name(ino_of(req, parent), &fs_of(req)->inodes.root,
			     name)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	op = op_new(req, ino_of(req, parent), lookup_send, lookup_done);
	if (!op || op_set_name(op, name))
		return;
	op_submit(op);
}

/* ---- forget ---- */

void fs_op_forget(fuse_req_t req, fuse_ino_t nodeid, uint64_t nlookup)
{
	struct fs_ctx *fs = fs_of(req);

	fs_forget(fs, ino_get(&fs->inodes, nodeid), nlookup);
	fuse_reply_none(req);
}

void fs_op_forget_multi(fuse_req_t req, size_t count,
			struct fuse_forget_data *forgets)
{
	struct fs_ctx *fs = fs_of(req);

	for (size_t i = 0; i < count; i++)
		fs_forget(fs, ino_get(&fs->inodes, forgets[i].ino),
			  forgets[i].nlookup);
	fuse_reply_none(req);
}

/* ---- getattr ---- */

static void setattr_record(struct fs_op *op, const struct stat *st);
static void setattr_reply(struct fs_op *op);

/* GETATTR of op->ino; also the mtime read-backs (ops_file.c release,
 * wb_journal.c repair). */
int fs_getattr_send(struct rep_req *r, struct rpc_context *rpc, rpc_cb cb)
{
	GETATTR3args a = { .object = ino_fh3(OP_OF(r)->ino) };

	return rpc_nfs3_getattr_async(rpc, cb, &a, r);
}

static void getattr_done(struct rep_req *r, void *data)
{
	struct fs_op *op = OP_OF(r);
	GETATTR3res *res = data;
	struct stat st;

	/* A directory removed while open (NFS cannot keep it alive the way
	 * silly rename keeps files): answer as a local filesystem does, with
	 * its last attributes and no links. */
	if (res->status == NFS3ERR_STALE && op->ino->is_dir &&
	    op->ino->have_attr) {
		st = op->ino->last_attr;
		st.st_nlink = 0;
		fuse_reply_attr(op->req, &st, 0);
		op_free(op);
		return;
	}
	if (res->status != NFS3_OK) {
		op_reply_err(op, fs_nfs_errno(res->status));
		return;
	}
	fs_fattr_to_stat(&res->GETATTR3res_u.resok.obj_attributes, &st);
	fs_ino_seen(op->ino, &st);
	if (op->step == 1 && op->to_set) {	/* the end of a setattr */
		op->e.attr = st;
		setattr_record(op, &st);
		fsj_commit(op, setattr_reply);
		return;
	}
	fuse_reply_attr(op->req, &st, op->fs->opts.attr_timeout);
	op_free(op);
}

void fs_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_op *op = op_new(req, ino_of(req, ino), fs_getattr_send,
				  getattr_done);

	if (op)
		op_submit(op);
}

/* ---- setattr ---- */

static void set_time(set_atime *t, const struct timespec *ts, bool now)
{
	if (now) {
		t->set_it = SET_TO_SERVER_TIME;
		return;
	}
	t->set_it = SET_TO_CLIENT_TIME;
	t->set_atime_u.atime.seconds = ts->tv_sec;
	t->set_atime_u.atime.nseconds = ts->tv_nsec;
}

static int setattr_send(struct rep_req *r, struct rpc_context *rpc, rpc_cb cb)
{
	struct fs_op *op = OP_OF(r);
	SETATTR3args a;
	int s = op->to_set;

	memset(&a, 0, sizeof(a));
	a.object = ino_fh3(op->ino);
	fs_sattr_init(&a.new_attributes);
	if (s & FUSE_SET_ATTR_MODE) {
		a.new_attributes.mode.set_it = 1;
		a.new_attributes.mode.set_mode3_u.mode = op->attr.st_mode & 07777;
	}
	if (s & FUSE_SET_ATTR_UID) {
		a.new_attributes.uid.set_it = 1;
		a.new_attributes.uid.set_uid3_u.uid = op->attr.st_uid;
	}
	if (s & FUSE_SET_ATTR_GID) {
		a.new_attributes.gid.set_it = 1;
		a.new_attributes.gid.set_gid3_u.gid = op->attr.st_gid;
	}
	if (s & FUSE_SET_ATTR_SIZE) {
		a.new_attributes.size.set_it = 1;
		a.new_attributes.size.set_size3_u.size = op->attr.st_size;
		/* bytes change: a resync's quick pass must read the file */
		fs_failback_dirty(op->fs, op->ino);
	}
	if (s & FUSE_SET_ATTR_ATIME)
		set_time(&a.new_attributes.atime, &op->attr.st_atim,
			 s & FUSE_SET_ATTR_ATIME_NOW);
	if (s & FUSE_SET_ATTR_MTIME)
		set_time((set_atime *)&a.new_attributes.mtime,
			 &op->attr.st_mtim, s & FUSE_SET_ATTR_MTIME_NOW);
	return rpc_nfs3_setattr_async(rpc, cb, &a, r);
}

static void setattr_reply(struct fs_op *op)
{
	fuse_reply_attr(op->req, &op->e.attr, op->fs->opts.attr_timeout);
	op_free(op);
}

/* The SETATTR record, with times made concrete from what the server set
 * (UTIME_NOW), so the mirror gets the same time however late it applies. */
static void setattr_record(struct fs_op *op, const struct stat *st)
{
	struct jnl_op_setattr *sa = &op->jop.u.setattr;
	int s = op->to_set;

	memset(&op->jop, 0, sizeof(op->jop));
	op->jop.type = JNL_OP_SETATTR;
	sa->fid = fsj_fid(op->fs, op->ino);
	if (s & FUSE_SET_ATTR_MODE) {
		sa->mask |= JNL_SA_MODE;
		sa->mode = op->attr.st_mode & 07777;
	}
	if (s & FUSE_SET_ATTR_UID) {
		sa->mask |= JNL_SA_UID;
		sa->uid = op->attr.st_uid;
	}
	if (s & FUSE_SET_ATTR_GID) {
		sa->mask |= JNL_SA_GID;
		sa->gid = op->attr.st_gid;
	}
	if (s & FUSE_SET_ATTR_SIZE) {
		sa->mask |= JNL_SA_SIZE;
		sa->size = op->attr.st_size;
	}
	if (s & FUSE_SET_ATTR_ATIME) {
		sa->mask |= JNL_SA_ATIME;
		sa->atime_sec = st->st_atim.tv_sec;
		sa->atime_nsec = st->st_atim.tv_nsec;
	}
	/* A truncate moves the primary's mtime to the server's clock: the
	 * record carries the result so the mirror gets the same. */
	if (s & (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_SIZE)) {
		sa->mask |= JNL_SA_MTIME;
		sa->mtime_sec = st->st_mtim.tv_sec;
		sa->mtime_nsec = st->st_mtim.tv_nsec;
	}
}

static void setattr_done(struct rep_req *r, void *data)
{
	struct fs_op *op = OP_OF(r);
	SETATTR3res *res = data;
	post_op_attr *after;

	if (res->status != NFS3_OK) {
		op_reply_err(op, fs_nfs_errno(res->status));
		return;
	}
	after = &res->SETATTR3res_u.resok.obj_wcc.after;
	if (!after->attributes_follow) {
		/* No attributes to journal concrete times from: fetch them
		 * (the record is made from the GETATTR answer). */
		op->step = 1;
		op_chain(op, fs_getattr_send, getattr_done);
		return;
	}
	fs_fattr_to_stat(&after->post_op_attr_u.attributes, &op->e.attr);
	fs_ino_seen(op->ino, &op->e.attr);
	if (!(op->to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID |
			    FUSE_SET_ATTR_GID | FUSE_SET_ATTR_SIZE |
			    FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME))) {
		setattr_reply(op);	/* nothing the journal records */
		return;
	}
	setattr_record(op, &op->e.attr);
	fsj_commit(op, setattr_reply);
}

static void setattr_resume(struct fs_op *op)
{
	op_submit(op);
}

void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		   int to_set, struct fuse_file_info *fi)
{
	struct fs_op *op = op_new(req, ino_of(req, ino), setattr_send,
				  setattr_done);

	if (!op)
		return;
	op->attr = *attr;
	op->to_set = to_set;
	/* A truncate must not be overtaken by unstable writes that a server
	 * restart could make us re-send: commit them first. */
	if ((to_set & FUSE_SET_ATTR_SIZE) && (op->ino->wb_head ||
					      op->ino->wb_inflight))
		wb_commit_then(op, setattr_resume);
	else
		op_submit(op);
}

/* ---- readlink ---- */

static int readlink_send(struct rep_req *r, struct rpc_context *rpc,
			 rpc_cb cb)
{
	READLINK3args a = { .symlink = ino_fh3(OP_OF(r)->ino) };

	return rpc_nfs3_readlink_async(rpc, cb, &a, r);
}

static void readlink_done(struct rep_req *r, void *data)
{
	struct fs_op *op = OP_OF(r);
	READLINK3res *res = data;

	if (res->status != NFS3_OK) {
		op_reply_err(op, fs_nfs_errno(res->status));
		return;
	}
	fuse_reply_readlink(op->req, res->READLINK3res_u.resok.data);
	op_free(op);
}

void fs_op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs_op *op = op_new(req, ino_of(req, ino), readlink_send,
				  readlink_done);

	if (op)
		op_submit(op);
}

/* ---- creation of non-regular objects ---- */

/* A create-like call that was re-sent after a connection loss may find
 * its own first attempt done: EEXIST then means success, and a LOOKUP
 * gives the entry. */
static bool retried_exist(struct fs_op *op, int status)
{
	return status == NFS3ERR_EXIST && op->rr.attempts > 1;
}

static void finish_lookup(struct fs_op *op)
{
	op_chain(op, lookup_send, lookup_done);
}

static void journal_mkdir(struct fs_op *op, struct ino *ino)
{
	fsj_entry_record(op, ino, JNL_OP_MKDIR);
}

static void journal_symlink(struct fs_op *op, struct ino *ino)
{
	fsj_entry_record(op, ino, JNL_OP_SYMLINK);
}

static void journal_mknod(struct fs_op *op, struct ino *ino)
{
	fsj_entry_record(op, ino, JNL_OP_MKNOD);
}

static void journal_link(struct fs_op *op, struct ino *ino)
{
	memset(&op->jop, 0, sizeof(op->jop));
	op->jop.type = JNL_OP_LINK;
	op->jop.u.link.parent = fsj_fid(op->fs, op->ino);
	op->jop.u.link.fid = fsj_fid(op->fs, ino);
	op->jop.u.link.name.ptr = op->name;
	op->jop.u.link.name.len = strlen(op->name);
}

/* The end of MKDIR, SYMLINK and MKNOD, whose results share one shape. */
static void made_done(struct fs_op *op, int status, post_op_fh3 *obj,
		      post_op_attr *attr, wcc_data *dir_wcc)
{
	if (retried_exist(op, status)) {
		finish_lookup(op);
		return;
	}
	if (status != NFS3_OK) {
		op_reply_err(op, fs_nfs_errno(status));
		return;
	}
	fsj_dir_changed(op, op->ino, &dir_wcc->after);
	fs_reply_entry(op, obj, attr, false);
}

static int mkdir_send(struct rep_req *r, struct rpc_context *rpc, rpc_cb cb)
{
	struct fs_op *op = OP_OF(r);
	MKDIR3args a;

	a.where.dir = ino_fh3(op->ino);
	a.where.name = op->name;
	fs_sattr_owner(&a.attributes, op->mode, op->uid, op->gid);
	return rpc_nfs3_mkdir_async(rpc, cb, &a, r);
}

static void mkdir_done(struct rep_req *r, void *data)
{
	MKDIR3res *res = data;

	made_done(OP_OF(r), res->status, &res->MKDIR3res_u.resok.obj,
		  &res->MKDIR3res_u.resok.obj_attributes,
		  &res->MKDIR3res_u.resok.dir_wcc);
}

void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		 mode_t mode)
{
	struct fs_op *op = op_new(req, ino_of(req, parent), mkdir_send,
				  mkdir_done);

	if (!op || op_set_name(op, name))
		return;
	fs_new_owner(op, mode | S_IFDIR);
	op->journal_entry = journal_mkdir;
	op_submit(op);
}

static int symlink_send(struct rep_req *r, struct rpc_context *rpc,
			rpc_cb cb)
{
	struct fs_op *op = OP_OF(r);
	SYMLINK3args a;

	a.where.dir = ino_fh3(op->ino);
	a.where.name = op->name;
	fs_sattr_owner(&a.symlink.symlink_attributes, 0777, op->uid, op->gid);
	a.symlink.symlink_data = op->data;
	return rpc_nfs3_symlink_async(rpc, cb, &a, r);
}

static void symlink_done(struct rep_req *r, void *data)
{
	SYMLINK3res *res = data;

	made_done(OP_OF(r), res->status, &res->SYMLINK3res_u.resok.obj,
		  &res->SYMLINK3res_u.resok.obj_attributes,
		  &res->SYMLINK3res_u.resok.dir_wcc);
}

/* libnfs 4.0 encodes a SYMLINK call into a fixed 4 KiB buffer, so the
 * target, the name, the handle and the credentials must fit together;
 * measured on the lab, 3900 bytes fit and 3950 do not.  Longer targets get
 * the error a filesystem with a shorter limit gives. */
#define FS_SYMLINK_MAX 3584

void fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		   const char *name)
{
	struct fs_op *op;

	if (strlen(link) > FS_SYMLINK_MAX) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	op = op_new(req, ino_of(req, parent), symlink_send, symlink_done);
	if (!op || op_set_name(op, name))
		return;
	fs_new_owner(op, 0777);
	op->journal_entry = journal_symlink;
	op->data = strdup(link);
	if (!op->data) {
		op_reply_err(op, ENOMEM);
		return;
	}
	op_submit(op);
}

static int mknod_send(struct rep_req *r, struct rpc_context *rpc, rpc_cb cb)
{
	struct fs_op *op = OP_OF(r);
	MKNOD3args a;
	sattr3 sa;

	memset(&a, 0, sizeof(a));
	a.where.dir = ino_fh3(op->ino);
	a.where.name = op->name;
	fs_sattr_owner(&sa, op->mode, op->uid, op->gid);
	switch (op->mode & S_IFMT) {
	case S_IFIFO:
		a.what.type = NF3FIFO;
		a.what.mknoddata3_u.pipe_attributes = sa;
		break;
	case S_IFSOCK:
		a.what.type = NF3SOCK;
		a.what.mknoddata3_u.sock_attributes = sa;
		break;
	default:
		a.what.type = S_ISCHR(op->mode) ? NF3CHR : NF3BLK;
		a.what.mknoddata3_u.chr_device.dev_attributes = sa;
		a.what.mknoddata3_u.chr_device.spec.specdata1 =
			major(op->rdev);
		a.what.mknoddata3_u.chr_device.spec.specdata2 =
			minor(op->rdev);
	}
	return rpc_nfs3_mknod_async(rpc, cb, &a, r);
}

static void mknod_done(struct rep_req *r, void *data)
{
	MKNOD3res *res = data;

	made_done(OP_OF(r), res->status, &res->MKNOD3res_u.resok.obj,
		  &res->MKNOD3res_u.resok.obj_attributes,
		  &res->MKNOD3res_u.resok.dir_wcc);
}

/* Regular files made by mknod(2) go through CREATE (ops_file.c). */
void fs_file_mknod_reg(struct fs_op *op);

void fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		 mode_t mode, dev_t rdev)
{
	struct fs_op *op = op_new(req, ino_of(req, parent), mknod_send,
				  mknod_done);

	if (!op || op_set_name(op, name))
		return;
	fs_new_owner(op, mode);
	op->mode |= mode & S_IFMT;
	op->rdev = rdev;
	op->journal_entry = journal_mknod;
	if (S_ISREG(mode)) {
		fs_file_mknod_reg(op);
		return;
	}
	if (!S_ISFIFO(mode) && !S_ISSOCK(mode) && !S_ISCHR(mode) &&
	    !S_ISBLK(mode)) {
		op_reply_err(op, EINVAL);
		return;
	}
	op_submit(op);
}

/* ---- link ---- */

static int link_send(struct rep_req *r, struct rpc_context *rpc, rpc_cb cb)
{
	struct fs_op *op = OP_OF(r);
	LINK3args a;

	a.file = ino_fh3(op->ino2);
	a.link.dir = ino_fh3(op->ino);
	a.link.name = op->name;
	return rpc_nfs3_link_async(rpc, cb, &a, r);
}

static void link_done(struct rep_req *r, void *data)
{
	struct fs_op *op = OP_OF(r);
	LINK3res *res = data;
	struct post_op_fh3 fh;

	if (retried_exist(op, res->status)) {
		finish_lookup(op);
		return;
	}
	if (res->status != NFS3_OK) {
		op_reply_err(op, fs_nfs_errno(res->status));
		return;
	}
	fsj_dir_changed(op, op->ino, &res->LINK3res_u.resok.linkdir_wcc.after);
	fh.handle_follows = 1;
	fh.post_op_fh3_u.handle = ino_fh3(op->ino2);
	fs_reply_entry(op, &fh, &res->LINK3res_u.resok.file_attributes,
		       false);
}

void fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		const char *newname)
{
	struct fs_op *op = op_new(req, ino_of(req, newparent), link_send,
				  link_done);

	if (!op || op_set_name(op, newname))
		return;
	op->ino2 = ino_of(req, ino);
	op->journal_entry = journal_link;
	op_submit(op);
}

/* ---- statfs, access ---- */

static int statfs_send(struct rep_req *r, struct rpc_context *rpc, rpc_cb cb)
{
	FSSTAT3args a = { .fsroot = ino_fh3(&OP_OF(r)->fs->inodes.root) };

	return rpc_nfs3_fsstat_async(rpc, cb, &a, r);
}

static void statfs_done(struct rep_req *r, void *data)
{
	struct fs_op *op = OP_OF(r);
	FSSTAT3res *res = data;
	FSSTAT3resok *ok = &res->FSSTAT3res_u.resok;
	const unsigned long bsize = 4096;
	struct statvfs sv;

	if (res->status != NFS3_OK) {
		op_reply_err(op, fs_nfs_errno(res->status));
		return;
	}
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = bsize;
	sv.f_frsize = bsize;
	sv.f_blocks = ok->tbytes / bsize;
	sv.f_bfree = ok->fbytes / bsize;
	sv.f_bavail = ok->abytes / bsize;
	sv.f_files = ok->tfiles;
	sv.f_ffree = ok->ffiles;
	sv.f_favail = ok->afiles;
	sv.f_namemax = 255;
	fuse_reply_statfs(op->req, &sv);
	op_free(op);
}

void fs_op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs_op *op = op_new(req, ino_of(req, ino), statfs_send,
				  statfs_done);

	if (op)
		op_submit(op);
}

/* With default_permissions the kernel answers access(2) itself; this is
 * reached only for the mode bits it cannot judge (e.g. X_OK on root). */
void fs_op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	fuse_reply_err(req, 0);
}
