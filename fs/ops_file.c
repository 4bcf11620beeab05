/*
 * ops_file.c — FUSE handlers for regular files: open, create, read, write,
 * flush, release, fsync (and mknod of a regular file, which is a CREATE).
 *
 * NFSv3 has no OPEN: open() costs no round trip.  Without a writeback
 * cache the kernel sends every write(2) to us and waits for the reply, so
 * a write that returned has reached the primary (as an unstable write kept
 * by wb.c until committed).  The page cache is dropped at each open
 * (keep_cache=0), which gives NFS's close-to-open consistency between the
 * two file-server nodes.  O_DIRECT opens get direct_io instead of EINVAL.
 */
#include "fs/fs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#define OP_OF(r) ((struct fs_op *)(r))

static struct ino *ino_of(fuse_req_t req, fuse_ino_t nodeid)
{
	return ino_get(&fs_of(req)->inodes, nodeid);
}

static void file_opened(struct fs_ctx *fs, struct ino *ino)
{
	ino->open_count++;
	fs->open_files++;
}

static void open_flags(struct fuse_file_info *fi)
{
	fi->keep_cache = 0;
	fi->direct_io = (fi->flags & O_DIRECT) ? 1 : 0;
}

void fs_op_open(fuse_req_t req, fuse_ino_t nodeid, struct fuse_file_info *fi)
{
	struct fs_ctx *fs = fs_of(req);
	struct ino *ino = ino_of(req, nodeid);

	open_flags(fi);
	fi->fh = 0;
	file_opened(fs, ino);
	if (fuse_reply_open(req, fi)) {
		ino->open_count--;
		fs->open_files--;
	}
}

/* ---- create ---- */

static void journal_trunc_existing(struct fs_op *op, struct ino *ino);

static int create_send(struct rep_req *r, struct rpc_context *rpc,
		       rpc_cb cb)
{
	struct fs_op *op = OP_OF(r);
	CREATE3args a;

	memset(&a, 0, sizeof(a));
	a.where.dir = ino_fh3(op->ino);
	a.where.name = op->name;
	/* Always GUARDED: UNCHECKED would silently re-own an existing file
	 * that the other node created a moment ago. */
	a.how.mode = GUARDED;
	fs_sattr_owner(&a.how.createhow3_u.obj_attributes, op->mode, op->uid,
		       op->gid);
	return rpc_nfs3_create_async(rpc, cb, &a, r);
}

static int create_lookup_send(struct rep_req *r, struct rpc_context *rpc,
			      rpc_cb cb)
{
	struct fs_op *op = OP_OF(r);
	LOOKUP3args a;

	a.what.dir = ino_fh3(op->ino);
	a.what.name = op->name;
	return rpc_nfs3_lookup_async(rpc, cb, &a, r);
}

/* open(O_CREAT|O_TRUNC) found an existing file (made by the other node
 * between our lookup and our CREATE): the kernel counts on us to truncate,
 * since it believes it created the file.  op->data holds its handle. */
static int create_trunc_send(struct rep_req *r, struct rpc_context *rpc,
			     rpc_cb cb)
{
	struct fs_op *op = OP_OF(r);
	SETATTR3args a;

	memset(&a, 0, sizeof(a));
	a.object.data.data_len = op->size;
	a.object.data.data_val = op->data;
	fs_sattr_init(&a.new_attributes);
	a.new_attributes.size.set_it = 1;
	a.new_attributes.size.set_size3_u.size = 0;
	return rpc_nfs3_setattr_async(rpc, cb, &a, r);
}

static void create_trunc_done(struct rep_req *r, void *data)
{
	struct fs_op *op = OP_OF(r);
	SETATTR3res *res = data;
	struct post_op_fh3 fh;

	if (res->status != NFS3_OK) {
		op_reply_err(op, fs_nfs_errno(res->status));
		return;
	}
	fh.handle_follows = 1;
	fh.post_op_fh3_u.handle.data.data_len = op->size;
	fh.post_op_fh3_u.handle.data.data_val = op->data;
	fs_reply_entry(op, &fh, &res->SETATTR3res_u.resok.obj_wcc.after,
		       op->has_fi);
}

static void create_lookup_done(struct rep_req *r, void *data)
{
	struct fs_op *op = OP_OF(r);
	LOOKUP3res *res = data;
	post_op_attr *pa = &res->LOOKUP3res_u.resok.obj_attributes;
	nfs_fh3 *obj = &res->LOOKUP3res_u.resok.object;
	struct post_op_fh3 fh;

	if (res->status != NFS3_OK) {
		op_reply_err(op, fs_nfs_errno(res->status));
		return;
	}
	/* Only a regular file can be opened in place of the one we meant
	 * to create; the kernel would fail anything else with EIO. */
	if (pa->attributes_follow && pa->post_op_attr_u.attributes.type !=
	    NF3REG) {
		op_reply_err(op, pa->post_op_attr_u.attributes.type ==
			     NF3DIR ? EISDIR : EEXIST);
		return;
	}
	if (op->has_fi && (op->fi.flags & O_TRUNC) && !op->step) {
		fs_failback_dirty_fh(op->fs, obj->data.data_val,
				     obj->data.data_len);
		op->data = malloc(obj->data.data_len);
		if (!op->data) {
			op_reply_err(op, ENOMEM);
			return;
		}
		memcpy(op->data, obj->data.data_val, obj->data.data_len);
		op->size = obj->data.data_len;
		op->journal_entry = journal_trunc_existing;
		op_chain(op, create_trunc_send, create_trunc_done);
		return;
	}
	fh.handle_follows = 1;
	fh.post_op_fh3_u.handle = *obj;
	fs_reply_entry(op, &fh, &res->LOOKUP3res_u.resok.obj_attributes,
		       op->has_fi);
}

static void journal_create(struct fs_op *op, struct ino *ino)
{
	fsj_entry_record(op, ino, JNL_OP_CREATE);
}

/* An existing file was truncated by open(O_CREAT|O_TRUNC): BIND it (it
 * is not ours), then the truncate is the record the reply waits for. */
static void journal_trunc_existing(struct fs_op *op, struct ino *ino)
{
	fsj_bind(op->fs, op->ino, op->name, ino);
	memset(&op->jop, 0, sizeof(op->jop));
	op->jop.type = JNL_OP_SETATTR;
	op->jop.u.setattr.fid = fsj_fid(op->fs, ino);
	op->jop.u.setattr.mask = JNL_SA_SIZE;
}

static void create_done(struct rep_req *r, void *data)
{
	struct fs_op *op = OP_OF(r);
	CREATE3res *res = data;
	bool excl = op->fi.flags & O_EXCL;	/* mknod sets it too */

	/* EEXIST on a retry is our own first attempt; without O_EXCL an
	 * existing file is simply opened, as open(O_CREAT) does. */
	if (res->status == NFS3ERR_EXIST && (op->rr.attempts > 1 || !excl)) {
		op->step = op->rr.attempts > 1;	/* our own create: no trunc */
		if (!op->step)		/* someone else's file: BIND it */
			op->journal_entry = NULL;
		op_chain(op, create_lookup_send, create_lookup_done);
		return;
	}
	if (res->status != NFS3_OK) {
		op_reply_err(op, fs_nfs_errno(res->status));
		return;
	}
	fsj_dir_changed(op, op->ino, &res->CREATE3res_u.resok.dir_wcc.after);
	fs_reply_entry(op, &res->CREATE3res_u.resok.obj,
		       &res->CREATE3res_u.resok.obj_attributes, op->has_fi);
}

void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		  mode_t mode, struct fuse_file_info *fi)
{
	struct fs_op *op;

	if (fs_reserved_name(ino_of(req, parent), &fs_of(req)->inodes.root,
			     name)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	op = op_new(req, ino_of(req, parent), create_send, create_done);
	if (!op)
		return;
	op->name = strdup(name);
	if (!op->name) {
		op_reply_err(op, ENOMEM);
		return;
	}
	fs_new_owner(op, mode);
	op->journal_entry = journal_create;
	op->fi = *fi;
	open_flags(&op->fi);
	op->has_fi = true;
	op_submit(op);
}

/* mknod(S_IFREG): a CREATE whose reply is an entry, not an open file.
 * Plain mknod must fail on an existing name, unlike open(O_CREAT). */
void fs_file_mknod_reg(struct fs_op *op)
{
	op->journal_entry = journal_create;
	op->fi.flags = O_EXCL;
	op->has_fi = false;
	op->mode &= 07777;
	op_chain(op, create_send, create_done);
}

/* ---- read ---- */

/* One READ of op's range [done, done + n), at most rtmax of it. */
static int read_range_send(struct fs_op *op, size_t done, size_t n,
			   struct rpc_context *rpc, rpc_cb cb,
			   struct rep_req *r)
{
	READ3args a;

	if (n > op->fs->active->rtmax)
		n = op->fs->active->rtmax;
	a.file = ino_fh3(op->ino);
	a.offset = op->off + done;
	a.count = n;
	return rpc_nfs3_read_async(rpc, cb, &a, r);
}

static int read_send(struct rep_req *r, struct rpc_context *rpc, rpc_cb cb)
{
	struct fs_op *op = OP_OF(r);

	return read_range_send(op, op->step, op->size - op->step, rpc, cb, r);
}

static void read_done(struct rep_req *r, void *data)
{
	struct fs_op *op = OP_OF(r);
	READ3res *res = data;
	READ3resok *ok = &res->READ3res_u.resok;
	size_t got = ok->data.data_len;

	if (res->status != NFS3_OK) {
		op_reply_err(op, fs_nfs_errno(res->status));
		return;
	}
	/* The usual case: one READ answered it all; reply straight from
	 * libnfs's buffer, which is valid only inside this callback. */
	if (!op->data && (ok->eof || got >= op->size)) {
		fuse_reply_buf(op->req, ok->data.data_val, got);
		op_free(op);
		return;
	}
	/* A short read before EOF would look like EOF to the kernel, so
	 * gather the rest first. */
	if (!op->data && !(op->data = malloc(op->size))) {
		op_reply_err(op, ENOMEM);
		return;
	}
	memcpy(op->data + op->step, ok->data.data_val, got);
	op->step += got;
	if (ok->eof || got == 0 || (size_t)op->step >= op->size) {
		fuse_reply_buf(op->req, op->data, op->step);
		op_free(op);
		return;
	}
	op_chain(op, read_send, read_done);
}

/* A large read as parallel READs (fs/parts.c) into one buffer; the reply
 * is the contiguous prefix up to the first part that met EOF.  Costs one
 * copy of the data, which the single-call path avoids. */
static int read_part_send(struct rep_req *r, struct rpc_context *rpc,
			  rpc_cb cb)
{
	size_t off, n;
	struct fs_op *op = op_part_op(r, &off, &n);

	return read_range_send(op, off, n, rpc, cb, r);
}

static void read_part_done(struct rep_req *r, void *data)
{
	size_t off, n;
	struct fs_op *op = op_part_op(r, &off, &n);
	READ3res *res = data;
	READ3resok *ok = &res->READ3res_u.resok;
	size_t got = ok->data.data_len;

	if (res->status != NFS3_OK) {
		op_part_end(r, fs_nfs_errno(res->status));
		return;
	}
	if (got > n)
		got = n;
	memcpy(op->data + off, ok->data.data_val, got);
	op_part_more(r, got, ok->eof);
}

static void read_parts_end(struct fs_op *op)
{
	if (op->parts_err) {
		op_reply_err(op, op->parts_err);
		return;
	}
	fuse_reply_buf(op->req, op->data, op->step);
	op_free(op);
}

void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi)
{
	struct fs_op *op = op_new(req, ino_of(req, ino), read_send,
				  read_done);

	if (!op)
		return;
	op->size = size;
	op->off = off;
	if (size >= 2 * PARTS_MIN && (op->data = malloc(size))) {
		if (op_parts_send(op, read_part_send, read_part_done,
				  read_parts_end))
			return;
		free(op->data);
		op->data = NULL;
	}
	op_submit(op);
}

/* ---- write ---- */

/* The write's bytes must outlive the reply (they are retained until the
 * server commits them), and the FUSE receive buffer is reused for the next
 * request.  Rather than copy 1 MiB, take the whole receive buffer: libfuse
 * allocates a fresh one at the next receive.  Small writes are copied, so
 * that a 4 KiB write does not pin a 1 MiB buffer. */
#define WRITE_STEAL_MIN (256 * 1024)

static int write_take_data(struct fs_op *op, const char *buf, size_t size)
{
	struct fs_ctx *fs = op->fs;
	char *base = fs->fbuf.mem;

	if (size >= WRITE_STEAL_MIN && base && buf >= base &&
	    buf + size <= base + fs->fbuf_cap) {
		op->data_base = base;
		op->data = (char *)buf;
		fs->fbuf.mem = NULL;
		return 0;
	}
	op->data = malloc(size ? size : 1);
	if (!op->data)
		return -ENOMEM;
	memcpy(op->data, buf, size);
	return 0;
}

void fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		 size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fs_op *op = op_new(req, ino_of(req, ino), NULL, NULL);

	if (!op)
		return;
	if (write_take_data(op, buf, size)) {
		op_reply_err(op, ENOMEM);
		return;
	}
	op->size = size;
	op->off = off;
	if (!size) {
		fuse_reply_write(req, 0);
		op_free(op);
		return;
	}
	wb_write(op);
}

/* ---- flush, fsync, release ---- */

static void reply_ok(struct fs_op *op)
{
	op_reply_err(op, 0);
}

/* close(2): no COMMIT here; the data is retained until the background
 * COMMIT at release, which keeps small-file closes at one round trip
 * fewer without putting acknowledged data at the server's mercy. */
void fs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

void fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		 struct fuse_file_info *fi)
{
	struct fs_op *op = op_new(req, ino_of(req, ino), NULL, NULL);

	if (op)
		wb_commit_then(op, reply_ok);
}

static void release_committed(struct fs_op *op)
{
	struct ino *ino = op->ino;
	struct fs_ctx *fs = op->fs;

	op_free(op);
	if (ino->silly && !ino->open_count)
		fs_silly_remove(fs, ino);
	else
		ino_maybe_free(&fs->inodes, ino);
}

/*
 * The mirror's mtime follows the primary's.  A WRITE sets the primary's
 * mtime from the server's clock, which no record carries; so at the last
 * close of a file written since its mtime was journaled, the mtime is
 * read back and journaled as a SETATTR (close-to-open, as NFS clients
 * promise: once a file is closed the mirror has its mtime).
 */
static void release_mtime_end(struct fs_op *op)
{
	op->ino->pins--;
	op->fs->mtime_pending--;
	release_committed(op);
}

static void release_mtime_done(struct rep_req *r, void *data)
{
	struct fs_op *op = (struct fs_op *)r;
	GETATTR3res *res = data;
	struct jnl_op j = { .type = JNL_OP_SETATTR };
	const fattr3 *fa = &res->GETATTR3res_u.resok.obj_attributes;

	if (res->status == NFS3_OK) {
		j.u.setattr.fid = fsj_fid(op->fs, op->ino);
		j.u.setattr.mask = JNL_SA_MTIME;
		j.u.setattr.mtime_sec = fa->mtime.seconds;
		j.u.setattr.mtime_nsec = fa->mtime.nseconds;
		fsj_note(op->fs, &j);
	} else {
		syslog(LOG_WARNING, "%s: reading the mtime of a closed file "
		       "for the journal: %s (the mirror keeps the apply time)",
		       op->fs->primary.url_text,
		       strerror(fs_nfs_errno(res->status)));
	}
	release_mtime_end(op);
}

static void release_mtime_fail(struct rep_req *r, int err)
{
	release_mtime_end((struct fs_op *)r);
}

static void release_last(struct fs_op *op)
{
	struct ino *ino = op->ino;

	if (!fs_recording(op->fs) || !ino->mtime_dirty || ino->open_count) {
		release_committed(op);
		return;
	}
	ino->mtime_dirty = false;
	ino->pins++;		/* until the GETATTR is answered */
	op->fs->mtime_pending++;
	op->rr.fail = release_mtime_fail;
	op_chain(op, fs_getattr_send, release_mtime_done);
}

void fs_op_release(fuse_req_t req, fuse_ino_t nodeid,
		   struct fuse_file_info *fi)
{
	struct fs_ctx *fs = fs_of(req);
	struct ino *ino = ino_of(req, nodeid);
	struct fs_op *op;

	ino->open_count--;
	fs->open_files--;
	fuse_reply_err(req, 0);
	op = calloc(1, sizeof(*op));
	if (!op)
		return;
	op->fs = fs;
	op->ino = ino;
	if (ino->open_count)
		release_committed(op);
	else
		wb_commit_then(op, release_last);
}
