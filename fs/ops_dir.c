/*
 * ops_dir.c — directories: opendir, readdir, readdirplus, releasedir,
 * fsyncdir.
 *
 * The FUSE offset of an entry is its NFS cookie, so a listing resumes
 * exactly where the kernel stopped; the cookie verifier of the first
 * answer is kept per open directory and sent back, as NFSv3 asks.  Both
 * readdir flavours use READDIRPLUS, so one round trip brings names, handles
 * and attributes.  Each readdirplus entry other than . and .. takes a
 * lookup reference, returned at once if the entry does not fit.
 */
#include "fs/fs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define OP_OF(r) ((struct fs_op *)(r))
#define RDP_DIRCOUNT	8192
#define RDP_MAXCOUNT	32768

struct fs_dir {
	cookieverf3 verf;
};

void fs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_dir *d = calloc(1, sizeof(*d));

	if (!d) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fi->fh = (uintptr_t)d;
	if (fuse_reply_open(req, fi))
		free(d);
}

void fs_op_releasedir(fuse_req_t req, fuse_ino_t ino,
		      struct fuse_file_info *fi)
{
	free((struct fs_dir *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

/* Directory operations are synchronous in NFSv3: nothing to flush. */
void fs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		    struct fuse_file_info *fi)
{
	fuse_reply_err(req, 0);
}

static int rdp_send(struct rep_req *r, struct rpc_context *rpc, rpc_cb cb)
{
	struct fs_op *op = OP_OF(r);
	struct fs_dir *d = op->dir;
	READDIRPLUS3args a;

	a.dir = ino_fh3(op->ino);
	a.cookie = op->off;
	memcpy(a.cookieverf, d->verf, sizeof(a.cookieverf));
	a.dircount = RDP_DIRCOUNT;
	a.maxcount = RDP_MAXCOUNT;
	return rpc_nfs3_readdirplus_async(rpc, cb, &a, r);
}

static bool is_dot(const char *name)
{
	return !strcmp(name, ".") || !strcmp(name, "..");
}

/* Adds one entry at op->step of op->data.  Returns false if it did not
 * fit (nothing added, no reference kept). */
static bool rdp_add(struct fs_op *op, entryplus3 *ent, bool plus)
{
	struct fs_ctx *fs = op->fs;
	char *buf = op->data + op->step;
	size_t room = op->size - op->step;
	fattr3 *fa = &ent->name_attributes.post_op_attr_u.attributes;
	bool have = ent->name_attributes.attributes_follow &&
		    ent->name_handle.handle_follows;
	struct fuse_entry_param e;
	struct ino *ino = NULL;
	size_t n;

	memset(&e, 0, sizeof(e));
	if (ent->name_attributes.attributes_follow)
		fs_fattr_to_stat(fa, &e.attr);
	e.attr.st_ino = ent->fileid;
	if (!plus) {
		n = fuse_add_direntry(op->req, buf, room, ent->name, &e.attr,
				      ent->cookie);
	} else {
		if (have && !is_dot(ent->name)) {
			nfs_fh3 *fh = &ent->name_handle.post_op_fh3_u.handle;

			ino = ino_ref_fh(&fs->inodes, fh->data.data_val,
					 fh->data.data_len, fa->fileid);
			if (ino) {
				fs_entry_fill(fs, &e, ino, fa);
				fsj_bind(fs, op->ino, ent->name, ino);
			}
		}
		n = fuse_add_direntry_plus(op->req, buf, room, ent->name, &e,
					   ent->cookie);
	}
	if (n > room) {
		if (ino)
			ino_forget(&fs->inodes, ino, 1);
		return false;
	}
	op->step += n;
	return true;
}

static void rdp_done(struct rep_req *r, void *data)
{
	struct fs_op *op = OP_OF(r);
	READDIRPLUS3res *res = data;
	READDIRPLUS3resok *ok = &res->READDIRPLUS3res_u.resok;
	struct fs_dir *d = op->dir;
	bool plus = op->flags;
	entryplus3 *ent;

	/* A removed directory that is still open lists as empty. */
	if (res->status == NFS3ERR_STALE) {
		fuse_reply_buf(op->req, NULL, 0);
		op_free(op);
		return;
	}
	if (res->status != NFS3_OK) {
		op_reply_err(op, fs_nfs_errno(res->status));
		return;
	}
	memcpy(d->verf, ok->cookieverf, sizeof(d->verf));
	for (ent = ok->reply.entries; ent; ent = ent->nextentry) {
		if (fs_reserved_name(op->ino, &op->fs->inodes.root,
				     ent->name)) {
			op->off = ent->cookie;
			continue;
		}
		if (!rdp_add(op, ent, plus))
			break;
		op->off = ent->cookie;
	}
	/* Everything we got was hidden: fetch on rather than reply empty,
	 * which the kernel would take for the end of the directory. */
	if (!ent && !op->step && !ok->reply.eof) {
		op_chain(op, rdp_send, rdp_done);
		return;
	}
	fuse_reply_buf(op->req, op->data, op->step);
	op_free(op);
}

static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi, bool plus)
{
	struct fs_op *op = op_new(req, ino_get(&fs_of(req)->inodes, ino),
				  rdp_send, rdp_done);

	if (!op)
		return;
	op->dir = (struct fs_dir *)(uintptr_t)fi->fh;
	op->off = off;
	op->size = size;
	op->flags = plus;
	op->data = malloc(size);
	if (!op->data) {
		op_reply_err(op, ENOMEM);
		return;
	}
	op_submit(op);
}

void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, false);
}

void fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, true);
}
