/*
 * xattr_io.c — the NFS side of extended attributes (fs/xattr.c): the
 * handles of each export's xattr store, and the calls that read and
 * write an object's blob (formats and rules: journal/xattr_set.c).
 *
 * Each op is one fs_op with a struct xa_job in op->dir.  Its steps are
 * chosen when each call is SENT (xa_send), from the served export's store
 * handles: a request held by a failover and re-sent to the other export
 * starts over against that export's store.
 *
 *   LOAD:  LOOKUP .ofsrep -> LOOKUP xattr -> LOOKUP hh -> LOOKUP key
 *          -> READ (until 40 + setlen bytes or EOF); an ENOENT at any
 *          level is the empty set.
 *   SAVE:  the same LOOKUPs, each ENOENT answered by MKDIR (CREATE
 *          GUARDED for the blob; EEXIST: another node won, LOOKUP again)
 *          -> WRITE FILE_SYNC of the blob from offset 0.
 *   DROP:  the same LOOKUPs of the levels -> REMOVE key (fs/xattr_drop.c);
 *          an ENOENT anywhere means no blob.
 *   A cached handle answered with ESTALE (the store was removed behind
 *   our back) empties that store's cache and the op starts over, once.
 */
#include "fs/xattr.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#define OP_OF(r) XA_OP(r)
#define XA_DIR_MODE	0700
#define XA_BLOB_MODE	0600

static struct fs_xstore *store_for(struct fs_ctx *fs,
				   const struct rep_export *exp)
{
	int i = exp == &fs->secondary;

	if (!fs->xstores[i]) {
		fs->xstores[i] = calloc(1, sizeof(*fs->xstores[i]));
		if (!fs->xstores[i])
			return NULL;
		fs->xstores[i]->exp = exp;
	}
	return fs->xstores[i];
}

static void store_forget(struct fs_xstore *st)
{
	const struct rep_export *exp = st->exp;

	memset(st, 0, sizeof(*st));
	st->exp = exp;
}

void fs_xattr_free(struct fs_ctx *fs)
{
	for (int i = 0; i < 2; i++) {
		free(fs->xstores[i]);
		fs->xstores[i] = NULL;
	}
}

static void fh_set(struct xa_fh *d, const nfs_fh3 *s)
{
	d->len = s->data.data_len <= NFS3_FHSIZE ? s->data.data_len : 0;
	memcpy(d->data, s->data.data_val, d->len);
}

static nfs_fh3 fh3(const struct xa_fh *f)
{
	nfs_fh3 h;

	h.data.data_len = f->len;
	h.data.data_val = (char *)f->data;
	return h;
}

static nfs_fh3 blob_fh3(struct ino *ino)
{
	nfs_fh3 h;

	h.data.data_len = ino->xattr->blob_len;
	h.data.data_val = ino->xattr->blob_fh;
	return h;
}

int xa_job_target(struct fs_op *op)
{
	struct fs_ctx *fs = op->fs;
	struct xa_job *j = xa_job_of(op);
	struct ino_xattr *x = op->ino->xattr;

	if (j->exp == fs->active && j->st)
		return 0;
	j->exp = fs->active;
	j->st = store_for(fs, fs->active);
	if (!j->st)
		return -ENOMEM;
	j->key = xblob_key(op->ino->fh, op->ino->fh_len);
	xblob_names(j->key, j->hh, j->file);
	j->creating = false;
	j->got = 0;
	j->written = 0;
	if (x->exp != fs->active) {
		x->loaded = false;
		x->have_blob = false;
		x->exp = fs->active;
	}
	return 0;
}

/* ---- the calls ---- */

static int send_lookup(struct rpc_context *rpc, rpc_cb cb, struct rep_req *r,
		       nfs_fh3 dir, const char *name)
{
	LOOKUP3args a;

	a.what.dir = dir;
	a.what.name = (char *)name;
	return rpc_nfs3_lookup_async(rpc, cb, &a, r);
}

static int send_mkdir(struct rpc_context *rpc, rpc_cb cb, struct rep_req *r,
		      nfs_fh3 dir, const char *name)
{
	MKDIR3args a;

	memset(&a, 0, sizeof(a));
	a.where.dir = dir;
	a.where.name = (char *)name;
	fs_sattr_owner(&a.attributes, XA_DIR_MODE, 0, 0);
	return rpc_nfs3_mkdir_async(rpc, cb, &a, r);
}

static int send_create(struct rpc_context *rpc, rpc_cb cb, struct rep_req *r,
		       nfs_fh3 dir, const char *name)
{
	CREATE3args a;

	memset(&a, 0, sizeof(a));
	a.where.dir = dir;
	a.where.name = (char *)name;
	a.how.mode = GUARDED;
	fs_sattr_owner(&a.how.createhow3_u.obj_attributes, XA_BLOB_MODE, 0, 0);
	return rpc_nfs3_create_async(rpc, cb, &a, r);
}

int xa_send(struct rep_req *r, struct rpc_context *rpc, rpc_cb cb)
{
	struct fs_op *op = OP_OF(r);
	struct fs_ctx *fs = op->fs;
	struct xa_job *j = xa_job_of(op);
	struct ino_xattr *x = op->ino->xattr;
	struct fs_xstore *st;
	unsigned hh;
	bool mk;

	if (xa_job_target(op))
		return -1;
	st = j->st;
	hh = (unsigned)(j->key >> 56);
	mk = j->saving && j->creating;
	if (!st->have_own) {
		j->call = mk ? XC_MKDIR_OWN : XC_LOOKUP_OWN;
		return (mk ? send_mkdir : send_lookup)(rpc, cb, r,
						       fs->active->root,
						       XSTORE_OWN_DIR);
	}
	if (!st->have_top) {
		j->call = mk ? XC_MKDIR_TOP : XC_LOOKUP_TOP;
		return (mk ? send_mkdir : send_lookup)(rpc, cb, r,
						       fh3(&st->own),
						       XSTORE_DIR);
	}
	if (!st->have_sub[hh]) {
		j->call = mk ? XC_MKDIR_SUB : XC_LOOKUP_SUB;
		return (mk ? send_mkdir : send_lookup)(rpc, cb, r,
						       fh3(&st->top), j->hh);
	}
	if (j->kind == XA_DROP) {
		REMOVE3args a;

		j->call = XC_REMOVE_BLOB;
		a.object.dir = fh3(&st->sub[hh]);
		a.object.name = j->file;
		return rpc_nfs3_remove_async(rpc, cb, &a, r);
	}
	if (!x->have_blob) {
		j->call = mk ? XC_CREATE_BLOB : XC_LOOKUP_BLOB;
		return (mk ? send_create : send_lookup)(rpc, cb, r,
							fh3(&st->sub[hh]),
							j->file);
	}
	if (!j->saving) {
		READ3args a;
		size_t n = XBLOB_MAX - j->got;

		if (n > fs->active->rtmax)
			n = fs->active->rtmax;
		j->call = XC_READ;
		a.file = blob_fh3(op->ino);
		a.offset = j->got;
		a.count = n;
		return rpc_nfs3_read_async(rpc, cb, &a, r);
	} else {
		WRITE3args a;
		size_t n = j->blob_len - j->written;

		if (n > fs->active->wtmax)
			n = fs->active->wtmax;
		j->call = XC_WRITE;
		a.file = blob_fh3(op->ino);
		a.offset = j->written;
		a.count = n;
		/* the set is acknowledged only once on the server's disk */
		a.stable = FILE_SYNC;
		a.data.data_len = n;
		a.data.data_val = (char *)j->buf + j->written;
		return rpc_nfs3_write_async(rpc, cb, &a, r);
	}
}

void xa_continue(struct fs_op *op)
{
	op_chain(op, xa_send, xa_done);
}

/* The store is not what its cached handles say: forget them, once. */
static void xa_stale(struct fs_op *op, const char *what)
{
	struct xa_job *j = xa_job_of(op);

	syslog(LOG_WARNING, "xattr: %s export: the store's %s went stale; "
	       "looking it up again", j->exp->name, what);
	if (j->retried) {
		xa_finish(op, EIO);
		return;
	}
	j->retried = true;
	store_forget(j->st);
	op->ino->xattr->have_blob = false;
	j->creating = false;
	xa_continue(op);
}

/* A level of the store was found (or made): @fh is its handle. */
static void level_found(struct fs_op *op, const nfs_fh3 *fh)
{
	struct xa_job *j = xa_job_of(op);
	struct fs_xstore *st = j->st;
	struct ino_xattr *x = op->ino->xattr;
	unsigned hh = (unsigned)(j->key >> 56);

	switch (j->call) {
	case XC_LOOKUP_OWN: case XC_MKDIR_OWN:
		fh_set(&st->own, fh);
		st->have_own = true;
		break;
	case XC_LOOKUP_TOP: case XC_MKDIR_TOP:
		fh_set(&st->top, fh);
		st->have_top = true;
		break;
	case XC_LOOKUP_SUB: case XC_MKDIR_SUB:
		fh_set(&st->sub[hh], fh);
		st->have_sub[hh] = true;
		break;
	default:
		x->blob_len = fh->data.data_len <= INO_FH_MAX ?
			      fh->data.data_len : 0;
		memcpy(x->blob_fh, fh->data.data_val, x->blob_len);
		x->have_blob = true;
		break;
	}
	j->creating = false;
	xa_continue(op);
}

static bool is_lookup(enum xa_call c)
{
	return c <= XC_LOOKUP_BLOB;
}

static void lookup_or_make_done(struct fs_op *op, int status,
				const nfs_fh3 *fh, bool have_fh)
{
	struct xa_job *j = xa_job_of(op);

	if (status == NFS3_OK) {
		if (!have_fh) {
			/* MKDIR/CREATE without a handle: look it up */
			j->creating = false;
			xa_continue(op);
			return;
		}
		level_found(op, fh);
		return;
	}
	if (status == NFS3ERR_NOENT && is_lookup(j->call)) {
		if (!j->saving) {
			/* nothing stored: the empty set */
			xset_free(&op->ino->xattr->set);
			xa_loaded(op);
			return;
		}
		j->creating = true;
		xa_continue(op);
		return;
	}
	if (status == NFS3ERR_EXIST && !is_lookup(j->call)) {
		j->creating = false;	/* made meanwhile: look it up */
		xa_continue(op);
		return;
	}
	if (status == NFS3ERR_STALE || status == NFS3ERR_BADHANDLE) {
		xa_stale(op, "directory");
		return;
	}
	syslog(LOG_ERR, "xattr: %s export: %s of the store's %s failed: %s",
	       j->exp->name, is_lookup(j->call) ? "LOOKUP" : "MKDIR/CREATE",
	       j->call == XC_LOOKUP_BLOB || j->call == XC_CREATE_BLOB ?
	       j->file : j->call == XC_LOOKUP_SUB || j->call == XC_MKDIR_SUB ?
	       j->hh : j->call == XC_LOOKUP_TOP || j->call == XC_MKDIR_TOP ?
	       XSTORE_DIR : XSTORE_OWN_DIR,
	       strerror(fs_nfs_errno(status)));
	xa_finish(op, fs_nfs_errno(status));
}

static void read_done(struct fs_op *op, READ3res *res)
{
	struct xa_job *j = xa_job_of(op);
	struct ino_xattr *x = op->ino->xattr;
	READ3resok *ok = &res->READ3res_u.resok;
	enum xblob_status bs;
	size_t need;

	if (res->status == NFS3ERR_STALE) {
		/* the blob was removed (by the other node?): read again */
		x->have_blob = false;
		j->got = 0;
		xa_continue(op);
		return;
	}
	if (res->status != NFS3_OK) {
		syslog(LOG_ERR, "xattr: %s export: READ of blob %s/%s failed: "
		       "%s", j->exp->name, j->hh, j->file,
		       strerror(fs_nfs_errno(res->status)));
		xa_finish(op, fs_nfs_errno(res->status));
		return;
	}
	if (!j->buf) {
		j->buf = malloc(XBLOB_MAX);
		if (!j->buf) {
			xa_finish(op, ENOMEM);
			return;
		}
	}
	if (ok->data.data_len > XBLOB_MAX - j->got)
		ok->data.data_len = XBLOB_MAX - j->got;
	memcpy(j->buf + j->got, ok->data.data_val, ok->data.data_len);
	j->got += ok->data.data_len;
	need = XBLOB_HDR_SIZE;
	if (j->got >= XBLOB_HDR_SIZE) {
		uint32_t setlen;

		memcpy(&setlen, j->buf + 28, 4);
		setlen = le32toh(setlen);
		need += setlen <= XSET_MAX ? setlen : XSET_MAX;
	}
	if (j->got < need && !ok->eof && ok->data.data_len) {
		xa_continue(op);
		return;
	}
	if (j->got == 0) {
		/* an empty file: CREATE made it, the WRITE never came */
		xset_free(&x->set);
		xa_loaded(op);
		return;
	}
	bs = xblob_decode(j->buf, j->got, j->key, &x->set);
	if (bs != XBLOB_OK) {
		syslog(LOG_ERR, "xattr: %s export: blob %s/%s of a %s is "
		       "damaged (%s): its attributes cannot be read; "
		       "ofsrep-fsck repairs it from the other export",
		       j->exp->name, j->hh, j->file,
		       op->ino->is_dir ? "directory" : "file",
		       xblob_status_name(bs));
		xa_finish(op, bs == XBLOB_BAD_SET && errno == ENOMEM ?
			  ENOMEM : EIO);
		return;
	}
	xa_loaded(op);
}

static void write_done(struct fs_op *op, WRITE3res *res)
{
	struct xa_job *j = xa_job_of(op);

	if (res->status == NFS3ERR_STALE) {
		op->ino->xattr->have_blob = false;
		j->written = 0;
		xa_stale(op, "blob");
		return;
	}
	if (res->status != NFS3_OK) {
		syslog(LOG_ERR, "xattr: %s export: WRITE of blob %s/%s failed: "
		       "%s", j->exp->name, j->hh, j->file,
		       strerror(fs_nfs_errno(res->status)));
		xa_finish(op, fs_nfs_errno(res->status));
		return;
	}
	if (res->WRITE3res_u.resok.committed != FILE_SYNC) {
		syslog(LOG_ERR, "xattr: %s export: the server wrote blob %s/%s "
		       "UNSTABLE although FILE_SYNC was asked",
		       j->exp->name, j->hh, j->file);
		xa_finish(op, EIO);
		return;
	}
	j->written += res->WRITE3res_u.resok.count;
	if (!res->WRITE3res_u.resok.count) {
		xa_finish(op, EIO);
		return;
	}
	if (j->written < j->blob_len) {
		xa_continue(op);
		return;
	}
	xa_saved(op);
}

void xa_done(struct rep_req *r, void *data)
{
	struct fs_op *op = OP_OF(r);
	struct xa_job *j = xa_job_of(op);

	switch (j->call) {
	case XC_LOOKUP_OWN: case XC_LOOKUP_TOP: case XC_LOOKUP_SUB:
	case XC_LOOKUP_BLOB: {
		LOOKUP3res *res = data;

		lookup_or_make_done(op, res->status,
				    &res->LOOKUP3res_u.resok.object, true);
		return;
	}
	case XC_MKDIR_OWN: case XC_MKDIR_TOP: case XC_MKDIR_SUB: {
		MKDIR3res *res = data;
		post_op_fh3 *fh = &res->MKDIR3res_u.resok.obj;

		lookup_or_make_done(op, res->status,
				    &fh->post_op_fh3_u.handle,
				    res->status == NFS3_OK &&
				    fh->handle_follows);
		return;
	}
	case XC_CREATE_BLOB: {
		CREATE3res *res = data;
		post_op_fh3 *fh = &res->CREATE3res_u.resok.obj;

		lookup_or_make_done(op, res->status,
				    &fh->post_op_fh3_u.handle,
				    res->status == NFS3_OK &&
				    fh->handle_follows);
		return;
	}
	case XC_READ:
		read_done(op, data);
		return;
	case XC_WRITE:
		write_done(op, data);
		return;
	case XC_REMOVE_BLOB: {
		REMOVE3res *res = data;

		if (res->status == NFS3ERR_STALE ||
		    res->status == NFS3ERR_BADHANDLE) {
			xa_stale(op, "directory");
			return;
		}
		if (res->status != NFS3_OK && res->status != NFS3ERR_NOENT) {
			syslog(LOG_WARNING, "xattr: %s export: REMOVE of blob "
			       "%s/%s failed: %s", j->exp->name, j->hh,
			       j->file, strerror(fs_nfs_errno(res->status)));
			xa_drop_end(op, fs_nfs_errno(res->status));
			return;
		}
		xa_drop_end(op, 0);
		return;
	}
	}
}
