/*
 * ops_remove.c — unlink, rmdir and rename, with NFS "silly rename".
 *
 * An NFSv3 server forgets a file the moment its last name goes, so a file
 * that is still open here would turn stale under its reader.  POSIX says
 * it lives until the last close.  So, as the Linux NFS client does, when
 * unlink or a rename would remove the last name of a file that is open on
 * this mount, ofsrep renames it to a hidden name (FS_SILLY_PREFIX + fileid
 * + a counter) in the export's root directory instead, and removes that
 * name at the last release.  Unlike the Linux NFS client's .nfsXXXX files
 * the hidden name is not left in the original directory, so that directory
 * can still be removed (as on a local filesystem).  Hidden names are
 * filtered from lookup and readdir, and fstat() shows the link count
 * without the hidden name.  If the
 * daemon dies in between, the hidden file stays behind (as .nfsXXXX files
 * do); ofsrep-fsck lists them.
 *
 * Retries: a REMOVE/RMDIR/RENAME re-sent after a connection loss may find
 * its first attempt done; ENOENT on a retry is then success.
 */
#include "fs/fs.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#define OP_OF(r) ((struct fs_op *)(r))

static bool retried_noent(struct fs_op *op, int status)
{
	return status == NFS3ERR_NOENT && op->rr.attempts > 1;
}

static void reply_ok(struct fs_op *op)
{
	op_reply_err(op, 0);
}

/* Replies for a name operation; in journal mode a success first becomes
 * the record @type (UNLINK, RMDIR or RENAME of op's names). */
static void reply_status(struct fs_op *op, int status, unsigned type)
{
	if (retried_noent(op, status))
		status = NFS3_OK;
	if (status != NFS3_OK) {
		op_reply_err(op, fs_nfs_errno(status));
		return;
	}
	fsj_names(op, type, op->ino, op->name, op->ino2, op->name2);
	fsj_commit(op, reply_ok);
}

/* ---- plain remove / rmdir ---- */

static int remove_send(struct rep_req *r, struct rpc_context *rpc, rpc_cb cb)
{
	struct fs_op *op = OP_OF(r);
	REMOVE3args a;

	a.object.dir = ino_fh3(op->ino);
	a.object.name = op->name;
	return rpc_nfs3_remove_async(rpc, cb, &a, r);
}

static void remove_done(struct rep_req *r, void *data)
{
	REMOVE3res *res = data;

	if (res->status == NFS3_OK)
		fsj_dir_changed(OP_OF(r), OP_OF(r)->ino,
				&res->REMOVE3res_u.resok.dir_wcc.after);
	reply_status(OP_OF(r), res->status, JNL_OP_UNLINK);
}

static int rmdir_send(struct rep_req *r, struct rpc_context *rpc, rpc_cb cb)
{
	struct fs_op *op = OP_OF(r);
	RMDIR3args a;

	a.object.dir = ino_fh3(op->ino);
	a.object.name = op->name;
	return rpc_nfs3_rmdir_async(rpc, cb, &a, r);
}

static void rmdir_done(struct rep_req *r, void *data)
{
	RMDIR3res *res = data;

	if (res->status == NFS3_OK)
		fsj_dir_changed(OP_OF(r), OP_OF(r)->ino,
				&res->RMDIR3res_u.resok.dir_wcc.after);
	reply_status(OP_OF(r), res->status, JNL_OP_RMDIR);
}

void fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs_ctx *fs = fs_of(req);
	struct fs_op *op = op_new(req, ino_get(&fs->inodes, parent),
				  rmdir_send, rmdir_done);

	if (!op)
		return;
	op->name = strdup(name);
	if (!op->name) {
		op_reply_err(op, ENOMEM);
		return;
	}
	op_submit(op);
}

/* ---- hiding an open file ---- */

static int hide_send(struct rep_req *r, struct rpc_context *rpc, rpc_cb cb)
{
	struct fs_op *op = OP_OF(r);
	RENAME3args a;

	a.from.dir = ino_fh3(op->ino2);
	a.from.name = op->name2;
	a.to.dir = ino_fh3(&op->fs->inodes.root);
	a.to.name = op->victim->silly_name;
	return rpc_nfs3_rename_async(rpc, cb, &a, r);
}

static void rename_submit(struct fs_op *op);

static void hide_done(struct rep_req *r, void *data)
{
	struct fs_op *op = OP_OF(r);
	RENAME3res *res = data;
	struct ino *v = op->victim;

	if (res->status != NFS3_OK && !retried_noent(op, res->status)) {
		free(v->silly_name);
		v->silly_name = NULL;
		op_reply_err(op, fs_nfs_errno(res->status));
		return;
	}
	if (res->status == NFS3_OK)	/* the name left op->ino2 */
		fsj_dir_changed(op, op->ino2,
				&res->RENAME3res_u.resok.fromdir_wcc.after);
	v->silly = true;
	v->silly_dir_len = op->fs->inodes.root.fh_len;
	memcpy(v->silly_dir_fh, op->fs->inodes.root.fh, v->silly_dir_len);
	/* The journal follows the primary: a rename into the root. */
	fsj_names(op, JNL_OP_RENAME, op->ino2, op->name2,
		  &op->fs->inodes.root, v->silly_name);
	if (op->step == 1) {	/* unlink: hiding was the whole job */
		fsj_commit(op, reply_ok);
		return;
	}
	if (fs_recording(op->fs))
		fsj_note(op->fs, &op->jop);
	rename_submit(op);
}

/* Hides @v, whose name is op->name2 in op->ino2, then continues. */
static void hide_victim(struct fs_op *op, struct ino *v)
{
	char buf[64];

	snprintf(buf, sizeof(buf), FS_SILLY_PREFIX "%016llx%04llx",
		 (unsigned long long)v->fileid,
		 (unsigned long long)(op->fs->silly_seq++ & 0xffff));
	free(v->silly_name);
	v->silly_name = strdup(buf);
	if (!v->silly_name) {
		op_reply_err(op, ENOMEM);
		return;
	}
	op->victim = v;
	op_chain(op, hide_send, hide_done);
}

/* LOOKUP of op->name2 in op->ino2, to see whether it is open here. */
static int probe_send(struct rep_req *r, struct rpc_context *rpc, rpc_cb cb)
{
	struct fs_op *op = OP_OF(r);
	LOOKUP3args a;

	a.what.dir = ino_fh3(op->ino2);
	a.what.name = op->name2;
	return rpc_nfs3_lookup_async(rpc, cb, &a, r);
}

/* Returns the open, non-directory inode the LOOKUP found, or NULL. */
static struct ino *probe_open_victim(struct fs_op *op, LOOKUP3res *res)
{
	struct ino *v;
	nfs_fh3 *fh;

	if (res->status != NFS3_OK)
		return NULL;
	fh = &res->LOOKUP3res_u.resok.object;
	v = ino_find_fh(&op->fs->inodes, fh->data.data_val,
			fh->data.data_len);
	if (!v || !v->open_count || v->is_dir || v->silly)
		return NULL;
	return v;
}

/* Whether the LOOKUP shows the last link (unknown counts as last: hiding
 * a file that had another name costs a hidden name, not data). */
static bool last_link(LOOKUP3res *res)
{
	post_op_attr *pa = &res->LOOKUP3res_u.resok.obj_attributes;

	return !pa->attributes_follow ||
	       pa->post_op_attr_u.attributes.nlink <= 1;
}

/* ---- unlink ---- */

static void unlink_probe_done(struct rep_req *r, void *data)
{
	struct fs_op *op = OP_OF(r);
	struct ino *v = probe_open_victim(op, data);

	/* Only the last name needs hiding; another link keeps it alive. */
	if (v && last_link(data)) {
		hide_victim(op, v);
		return;
	}
	op_chain(op, remove_send, remove_done);
}

void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs_ctx *fs = fs_of(req);
	struct fs_op *op = op_new(req, ino_get(&fs->inodes, parent),
				  remove_send, remove_done);

	if (!op)
		return;
	op->name = strdup(name);
	op->name2 = strdup(name);
	if (!op->name || !op->name2) {
		op_reply_err(op, ENOMEM);
		return;
	}
	if (!fs->open_files) {
		op_submit(op);
		return;
	}
	op->ino2 = op->ino;
	op->step = 1;
	op_chain(op, probe_send, unlink_probe_done);
}

/* ---- rename ---- */

static int rename_send(struct rep_req *r, struct rpc_context *rpc, rpc_cb cb)
{
	struct fs_op *op = OP_OF(r);
	RENAME3args a;

	a.from.dir = ino_fh3(op->ino);
	a.from.name = op->name;
	a.to.dir = ino_fh3(op->ino2);
	a.to.name = op->name2;
	return rpc_nfs3_rename_async(rpc, cb, &a, r);
}

static void rename_done(struct rep_req *r, void *data)
{
	struct fs_op *op = OP_OF(r);
	RENAME3res *res = data;

	if (res->status == NFS3_OK) {
		fsj_dir_changed(op, op->ino,
				&res->RENAME3res_u.resok.fromdir_wcc.after);
		fsj_dir_changed(op, op->ino2,
				&res->RENAME3res_u.resok.todir_wcc.after);
	}
	reply_status(op, res->status, JNL_OP_RENAME);
}

static void rename_submit(struct fs_op *op)
{
	op_chain(op, rename_send, rename_done);
}

static void rename_probe_done(struct rep_req *r, void *data)
{
	struct fs_op *op = OP_OF(r);
	struct ino *v = probe_open_victim(op, data);

	if (v && last_link(data)) {
		op->step = 2;
		hide_victim(op, v);
		return;
	}
	rename_submit(op);
}

void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		  fuse_ino_t newparent, const char *newname,
		  unsigned int flags)
{
	struct fs_ctx *fs = fs_of(req);
	struct fs_op *op;

	/* NFSv3 RENAME cannot exchange or refuse to replace atomically. */
	if (flags) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (fs_reserved_name(ino_get(&fs->inodes, newparent), &fs->inodes.root,
			     newname)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	op = op_new(req, ino_get(&fs->inodes, parent), rename_send,
		    rename_done);
	if (!op)
		return;
	op->ino2 = ino_get(&fs->inodes, newparent);
	op->name = strdup(name);
	op->name2 = strdup(newname);
	if (!op->name || !op->name2) {
		op_reply_err(op, ENOMEM);
		return;
	}
	if (!fs->open_files) {
		op_submit(op);
		return;
	}
	op_chain(op, probe_send, rename_probe_done);
}

/* ---- removal of a hidden file after its last close ---- */

static int silly_send(struct rep_req *r, struct rpc_context *rpc, rpc_cb cb)
{
	struct fs_op *op = OP_OF(r);
	REMOVE3args a;

	a.object.dir.data.data_len = op->victim->silly_dir_len;
	a.object.dir.data.data_val = op->victim->silly_dir_fh;
	a.object.name = op->victim->silly_name;
	return rpc_nfs3_remove_async(rpc, cb, &a, r);
}

static void silly_finish(struct fs_op *op, int status)
{
	struct ino *v = op->victim;

	if (status != NFS3_OK && status != NFS3ERR_NOENT)
		syslog(LOG_WARNING, "primary: cannot remove hidden file %s "
		       "of an unlinked open file: %s", v->silly_name,
		       strerror(fs_nfs_errno(status)));
	if (status == NFS3_OK && fs_recording(op->fs)) {
		fsj_names(op, JNL_OP_UNLINK, &op->fs->inodes.root,
			  v->silly_name, NULL, NULL);
		fsj_note(op->fs, &op->jop);
	}
	v->silly = false;
	v->pins--;
	if (status == NFS3_OK)
		fs_xattr_drop_if_gone(op->fs, v);	/* its blob too */
	ino_maybe_free(&op->fs->inodes, v);
	op_free(op);
}

static void silly_done(struct rep_req *r, void *data)
{
	silly_finish(OP_OF(r), ((REMOVE3res *)data)->status);
}

static void silly_fail(struct rep_req *r, int err)
{
	silly_finish(OP_OF(r), NFS3ERR_IO);
}

void fs_silly_remove(struct fs_ctx *fs, struct ino *ino)
{
	struct fs_op *op = calloc(1, sizeof(*op));

	if (!op)
		return;
	op->fs = fs;
	op_count(op);
	op->victim = ino;
	op->rr.send = silly_send;
	op->rr.done = silly_done;
	op->rr.fail = silly_fail;
	ino->pins++;	/* until the REMOVE is answered */
	op_submit(op);
}
