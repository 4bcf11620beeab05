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
 *   A cached handle answered with ESTALE (the store was removed behind
 *   our back) empties that store's cache and the op starts over, once.
 */
#include "fs/fs.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <syslog.h>
#include <time.h>

#define OP_OF(r) ((struct fs_op *)(r))
#define XA_DIR_MODE	0700
#define XA_BLOB_MODE	0600

struct xa_fh {
	uint32_t len;
	char data[NFS3_FHSIZE];
};

/* The handles of one export's store, as far as they are known. */
struct fs_xstore {
	const struct rep_export *exp;
	bool have_own, have_top;
	struct xa_fh own;		/* .ofsrep */
	struct xa_fh top;		/* .ofsrep/xattr */
	bool have_sub[256];
	struct xa_fh sub[256];		/* .ofsrep/xattr/<hh> */
};

enum xa_kind { XA_GET, XA_LIST, XA_SET, XA_REMOVE };

/* What the last call sent was (the reply is decoded by it). */
enum xa_call {
	XC_LOOKUP_OWN, XC_LOOKUP_TOP, XC_LOOKUP_SUB, XC_LOOKUP_BLOB,
	XC_MKDIR_OWN, XC_MKDIR_TOP, XC_MKDIR_SUB, XC_CREATE_BLOB,
	XC_READ, XC_WRITE,
};

struct xa_job {
	enum xa_kind kind;
	size_t size;			/* GET/LIST: the caller's buffer */
	int flags;			/* SET: XSET_CREATE / XSET_REPLACE */
	const struct rep_export *exp;	/* the export the steps are for */
	struct fs_xstore *st;
	uint64_t key;
	char hh[3], file[17];
	bool saving;			/* LOAD done: now writing */
	bool creating;			/* SAVE: the level missing is made */
	bool retried;			/* after an ESTALE */
	bool exclusive;			/* holds the inode's busy flag */
	enum xa_call call;
	uint8_t *buf;			/* READ: the blob; WRITE: encoded */
	size_t got;			/* READ: bytes so far */
	size_t blob_len;		/* WRITE: bytes of the blob */
	size_t written;
	struct xset next;		/* SET/REMOVE: the set being saved */
};

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct xa_job *job_of(struct fs_op *op)
{
	return op->dir;
}

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

static void job_free(struct fs_op *op)
{
	struct xa_job *j = job_of(op);

	if (!j)
		return;
	free(j->buf);
	xset_free(&j->next);
	free(j);
	op->dir = NULL;
}

static void xa_start_next(struct ino *ino);

/* Every end of an op goes through here: a change lets the next one run. */
static void xa_finish(struct fs_op *op, int err)
{
	struct ino *ino = op->ino;
	bool exclusive = job_of(op) && job_of(op)->exclusive;

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

/* Points the job at the served export's store, from scratch if the
 * served export changed (a failover or failback re-sent it). */
static int job_target(struct fs_op *op)
{
	struct fs_ctx *fs = op->fs;
	struct xa_job *j = job_of(op);
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

static int xa_send(struct rep_req *r, struct rpc_context *rpc, rpc_cb cb)
{
	struct fs_op *op = OP_OF(r);
	struct fs_ctx *fs = op->fs;
	struct xa_job *j = job_of(op);
	struct ino_xattr *x = op->ino->xattr;
	struct fs_xstore *st;
	unsigned hh;
	bool mk;

	if (job_target(op))
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

static void xa_done(struct rep_req *r, void *data);
static void xa_loaded(struct fs_op *op);
static void xa_saved(struct fs_op *op);

static void xa_continue(struct fs_op *op)
{
	op_chain(op, xa_send, xa_done);
}

/* The store is not what its cached handles say: forget them, once. */
static void xa_stale(struct fs_op *op, const char *what)
{
	struct xa_job *j = job_of(op);

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
	struct xa_job *j = job_of(op);
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
	struct xa_job *j = job_of(op);

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
	struct xa_job *j = job_of(op);
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
	struct xa_job *j = job_of(op);

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

static void xa_done(struct rep_req *r, void *data)
{
	struct fs_op *op = OP_OF(r);
	struct xa_job *j = job_of(op);

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
	struct xa_job *j = job_of(op);
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
	struct xa_job *j = job_of(op);
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
	struct xa_job *j = job_of(op);
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

static void xa_loaded(struct fs_op *op)
{
	struct xa_job *j = job_of(op);
	struct ino_xattr *x = op->ino->xattr;

	x->loaded = true;
	x->exp = j->exp;
	x->expires_ms = mono_ms() +
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
static void xa_saved(struct fs_op *op)
{
	struct xa_job *j = job_of(op);
	struct ino_xattr *x = op->ino->xattr;
	struct jnl_op_xattrs *rec = &op->jop.u.xattrs;

	if (xset_assign(&x->set, j->next.buf, j->next.len, j->next.count)) {
		x->loaded = false;	/* read it again next time */
	} else {
		x->loaded = true;
		x->expires_ms = mono_ms() +
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
	return x->loaded && x->exp == fs->active && mono_ms() < x->expires_ms;
}

static void xa_begin(struct fs_op *op)
{
	struct xa_job *j = job_of(op);
	struct ino_xattr *x = op->ino->xattr;

	if (cache_fresh(op->fs, x)) {
		if (job_target(op)) {
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
