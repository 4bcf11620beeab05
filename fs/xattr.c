/*
 * xattr.c — extended attributes (getxattr, listxattr, setxattr,
 * removexattr) on top of NFSv3, which has none.
 *
 * Each export keeps, per object with attributes, one blob file in its
 * xattr store, <export root>/.ofsrep/xattr/<hh>/<key>, key the hash of the
 * object's handle on that export (formats and rules: journal/
 * xattr_set.c).  The served export's store is the one read and written:
 * the primary's, or after a failover the secondary's, whose blobs belong
 * to the mirror's objects (the applier keeps them, replica/xstore.c).
 *
 * A change is a read-modify-write of the whole set: the set is loaded
 * (unless cached), changed in memory, and the blob written FILE_SYNC in
 * place; then, in journal mode, an XATTRS record carries the new set to
 * the mirror, and the caller hears of success once that record is
 * durable (the same promise as every other mutation).  Changes of one
 * inode run one at a time (the kernel already serialises them under the
 * inode lock; the queue here makes it a property of ofsrep too).
 *
 * Caching: the set read is kept with the inode for attr_timeout seconds,
 * like its attributes: the kernel asks for security.capability before
 * every write(2) to a file, and that must not cost a round trip each
 * time.  Two nodes sharing an export see each other's changes after at
 * most that long, as with attributes.
 *
 *
 * The store's handles and the NFS calls of each op (the LOAD and SAVE
 * steps) are in fs/xattr_io.c; fs/xattr.h is what the two share.
 */
#include "fs/xattr.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <time.h>

#define OP_OF(r) XA_OP(r)

static void job_free(struct fs_op *op)
{
	struct xa_job *j = xa_job_of(op);

	if (!j)
		return;
	free(j->buf);
	xset_free(&j->next);
	free(j);
	op->dir = NULL;
}


static void xa_start_next(struct ino *ino);

/* Every end of an op goes through here: a change lets the next one run. */
void xa_finish(struct fs_op *op, int err)
{
	struct ino *ino = op->ino;
	bool exclusive = xa_job_of(op) && xa_job_of(op)->exclusive;

	if (xa_job_of(op) && xa_job_of(op)->kind == XA_DROP) {
		xa_drop_end(op, err);
		return;
	}
	job_free(op);
	if (err)
		op_reply_err(op, err);
	else
		op_free(op);
	if (exclusive) {
		ino->xattr->busy = false;
		xa_start_next(ino);
	}
}

/* ---- what each op does with the set ---- */

static bool name_supported(const char *name)
{
	/* system.* are the POSIX ACLs and other kernel-interpreted names,
	 * which need a filesystem that enforces them. */
	return !strncmp(name, "user.", 5) || !strncmp(name, "security.", 9) ||
	       !strncmp(name, "trusted.", 8);
}

static void reply_get(struct fs_op *op)
{
	struct xa_job *j = xa_job_of(op);
	struct xset_entry e;

	if (xset_get(&op->ino->xattr->set, op->name, &e)) {
		xa_finish(op, ENODATA);
		return;
	}
	if (j->size == 0)
		fuse_reply_xattr(op->req, e.value_len);
	else if (j->size < e.value_len) {
		xa_finish(op, ERANGE);
		return;
	} else
		fuse_reply_buf(op->req, (const char *)e.value, e.value_len);
	xa_finish(op, 0);
}

static void reply_list(struct fs_op *op)
{
	struct xa_job *j = xa_job_of(op);
	struct xset *s = &op->ino->xattr->set;
	size_t need = xset_list(s, NULL, 0);
	char *buf;

	if (j->size == 0) {
		fuse_reply_xattr(op->req, need);
		xa_finish(op, 0);
		return;
	}
	if (j->size < need) {
		xa_finish(op, ERANGE);
		return;
	}
	buf = malloc(need ? need : 1);
	if (!buf) {
		xa_finish(op, ENOMEM);
		return;
	}
	xset_list(s, buf, need);
	fuse_reply_buf(op->req, buf, need);
	free(buf);
	xa_finish(op, 0);
}

/* SET/REMOVE with the current set loaded: make the new one and save it. */
static void xa_change(struct fs_op *op)
{
	struct xa_job *j = xa_job_of(op);
	struct ino_xattr *x = op->ino->xattr;
	int rc;

	rc = xset_assign(&j->next, x->set.buf, x->set.len, x->set.count);
	if (!rc)
		rc = j->kind == XA_SET ?
		     xset_set(&j->next, op->name, op->data, op->size,
			      j->flags) :
		     xset_remove(&j->next, op->name);
	if (rc) {
		xa_finish(op, -rc);
		return;
	}
	free(j->buf);
	j->buf = malloc(XBLOB_HDR_SIZE + j->next.len);
	if (!j->buf) {
		xa_finish(op, ENOMEM);
		return;
	}
	{
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		j->blob_len = xblob_encode(&j->next, j->key,
					   (uint64_t)now.tv_sec * 1000000000u +
					   now.tv_nsec, j->buf);
	}
	j->saving = true;
	j->creating = false;
	j->written = 0;
	fs_failback_dirty(op->fs, op->ino);
	xa_continue(op);
}

void xa_loaded(struct fs_op *op)
{
	struct xa_job *j = xa_job_of(op);
	struct ino_xattr *x = op->ino->xattr;

	if (j->kind == XA_DROP) {	/* a level is missing: no blob */
		xa_drop_end(op, 0);
		return;
	}
	x->loaded = true;
	x->exp = j->exp;
	x->expires_ms = fb_mono_ms() +
			(uint64_t)(op->fs->opts.attr_timeout * 1000);
	switch (j->kind) {
	case XA_GET:
		reply_get(op);
		return;
	case XA_LIST:
		reply_list(op);
		return;
	default:
		xa_change(op);
	}
}

static void xa_acked(struct fs_op *op)
{
	xa_finish(op, 0);
}

static void xa_reply_ok(struct fs_op *op)
{
	fuse_reply_err(op->req, 0);
	xa_acked(op);
}

/* The blob is on the served export's disk: the set is the new one. */
void xa_saved(struct fs_op *op)
{
	struct xa_job *j = xa_job_of(op);
	struct ino_xattr *x = op->ino->xattr;
	struct jnl_op_xattrs *rec = &op->jop.u.xattrs;

	if (xset_assign(&x->set, j->next.buf, j->next.len, j->next.count)) {
		x->loaded = false;	/* read it again next time */
	} else {
		x->loaded = true;
		x->expires_ms = fb_mono_ms() +
				(uint64_t)(op->fs->opts.attr_timeout * 1000);
	}
	memset(&op->jop, 0, sizeof(op->jop));
	op->jop.type = JNL_OP_XATTRS;
	rec->fid = fsj_fid(op->fs, op->ino);
	rec->count = j->next.count;
	rec->set = j->next.buf;		/* lives with the job until the ack */
	rec->set_len = j->next.len;
	fsj_commit(op, xa_reply_ok);
}

/* ---- starting ---- */

static bool cache_fresh(struct fs_ctx *fs, struct ino_xattr *x)
{
	return x->loaded && x->exp == fs->active &&
	       fb_mono_ms() < x->expires_ms;
}

static void xa_begin(struct fs_op *op)
{
	struct xa_job *j = xa_job_of(op);
	struct ino_xattr *x = op->ino->xattr;

	if (cache_fresh(op->fs, x)) {
		if (xa_job_target(op)) {
			xa_finish(op, ENOMEM);
			return;
		}
		xa_loaded(op);
		return;
	}
	x->loaded = false;
	j->got = 0;
	op_submit(op);
}

static void xa_start_next(struct ino *ino)
{
	struct ino_xattr *x = ino->xattr;
	struct fs_op *op = x->wait_head;

	if (!op || x->busy)
		return;
	x->wait_head = op->next;
	if (!x->wait_head)
		x->wait_tail = NULL;
	op->next = NULL;
	x->busy = true;
	xa_begin(op);
}

static void xa_fail(struct rep_req *r, int err)
{
	xa_finish(OP_OF(r), err);
}

static void xa_start(fuse_req_t req, fuse_ino_t nodeid, enum xa_kind kind,
		     const char *name, const char *value, size_t size,
		     int flags)
{
	struct fs_ctx *fs = fs_of(req);
	struct ino *ino = ino_get(&fs->inodes, nodeid);
	struct fs_op *op;
	struct xa_job *j;
	struct ino_xattr *x;

	if (name && !name_supported(name)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (!ino->xattr) {
		ino->xattr = calloc(1, sizeof(*ino->xattr));
		if (!ino->xattr) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
	}
	op = op_new(req, ino, xa_send, xa_done);
	if (!op)
		return;
	op->rr.fail = xa_fail;
	j = calloc(1, sizeof(*j));
	op->dir = j;
	if (!j || (name && !(op->name = strdup(name)))) {
		xa_finish(op, ENOMEM);
		return;
	}
	j->kind = kind;
	j->flags = flags;
	j->size = size;
	if (kind == XA_SET) {
		op->size = size;
		op->data = malloc(size ? size : 1);
		if (!op->data) {
			xa_finish(op, ENOMEM);
			return;
		}
		memcpy(op->data, value, size);
	}
	/* A read answered from the cache needs nothing else; anything that
	 * goes to the server runs alone on its inode, so that no read sees a
	 * blob half rewritten and no two changes overwrite each other. */
	x = ino->xattr;
	if ((kind == XA_GET || kind == XA_LIST) && !x->busy &&
	    cache_fresh(fs, x)) {
		xa_begin(op);
		return;
	}
	j->exclusive = true;
	if (x->busy) {
		if (x->wait_tail)
			x->wait_tail->next = op;
		else
			x->wait_head = op;
		x->wait_tail = op;
		return;
	}
	x->busy = true;
	xa_begin(op);
}

void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    size_t size)
{
	xa_start(req, ino, XA_GET, name, NULL, size, 0);
}

void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	xa_start(req, ino, XA_LIST, NULL, NULL, size, 0);
}

void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    const char *value, size_t size, int flags)
{
	int f = 0;

	if (flags & ~(XATTR_CREATE | XATTR_REPLACE)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (flags & XATTR_CREATE)
		f |= XSET_CREATE;
	if (flags & XATTR_REPLACE)
		f |= XSET_REPLACE;
	xa_start(req, ino, XA_SET, name, value, size, f);
}

void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	xa_start(req, ino, XA_REMOVE, name, NULL, 0, 0);
}
