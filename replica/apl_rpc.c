// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * replica/apl_rpc.c: raw NFSv3 calls for the mirror applier over a
 * jstore's connection.  The contract is in replica/apl_rpc.h.  This file
 * runs calls: slots, the one callback and the replies it copies, waiting,
 * the window of WRITEs and COMMITs, and the verifiers; the synchronous
 * calls, one per procedure, are in replica/apl_rpc_sync.c.
 *
 * Every call is one struct apl_call: arm it (apl_rpc_arm), queue the
 * rpc_nfs3_*_async() call with apl_rpc_cb as callback and the slot as
 * private data, then either wait for it (apl_rpc_wait, synchronous) or
 * leave it in the window (apl_rpc_reap hands completed ones back).  The
 * callback only copies the reply: it never queues, frees or destroys.
 *
 * Why one connection and not several: the applier's order is the
 * journal's, so almost every call depends on the one before it (a WRITE
 * needs the handle its CREATE returned); only WRITEs and COMMITs are
 * independent enough to overlap, and APL_RPC_WINDOW of them on one TCP
 * connection keep ganesha busy (lab-facts: 16 in flight ~1.1 GiB/s).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nfsc/libnfs.h>

#include "replica/apl_rpc_internal.h"

/* ---- errors ---- */

/* nfsstat3 -> -errno */
int apl_nfs_errno(int st)
{
	switch (st) {
	case NFS3_OK:			return 0;
	case NFS3ERR_PERM:		return -EPERM;
	case NFS3ERR_NOENT:		return -ENOENT;
	case NFS3ERR_IO:		return -EIO;
	case NFS3ERR_NXIO:		return -ENXIO;
	case NFS3ERR_ACCES:		return -EACCES;
	case NFS3ERR_EXIST:		return -EEXIST;
	case NFS3ERR_XDEV:		return -EXDEV;
	case NFS3ERR_NODEV:		return -ENODEV;
	case NFS3ERR_NOTDIR:		return -ENOTDIR;
	case NFS3ERR_ISDIR:		return -EISDIR;
	case NFS3ERR_INVAL:		return -EINVAL;
	case NFS3ERR_FBIG:		return -EFBIG;
	case NFS3ERR_NOSPC:		return -ENOSPC;
	case NFS3ERR_ROFS:		return -EROFS;
	case NFS3ERR_MLINK:		return -EMLINK;
	case NFS3ERR_NAMETOOLONG:	return -ENAMETOOLONG;
	case NFS3ERR_NOTEMPTY:		return -ENOTEMPTY;
	case NFS3ERR_DQUOT:		return -EDQUOT;
	case NFS3ERR_STALE:		return -ESTALE;
	case NFS3ERR_BADHANDLE:		return -EBADF;
	case NFS3ERR_NOTSUPP:		return -EOPNOTSUPP;
	case NFS3ERR_JUKEBOX:		return -EAGAIN;
	default:			return -EIO;
	}
}

/* ---- replies ---- */

static void apl_fh_copy(struct apl_fh *dst, const nfs_fh3 *src, bool *ok)
{
	if (src->data.data_len > APL_FH_MAX) {
		*ok = false;
		return;
	}
	dst->len = src->data.data_len;
	memcpy(dst->data, src->data.data_val, dst->len);
	*ok = true;
}

static void apl_attr_copy(struct apl_attr *a, const fattr3 *f)
{
	*a = (struct apl_attr){
		.valid = true, .type = f->type, .mode = f->mode & 07777,
		.nlink = f->nlink, .uid = f->uid, .gid = f->gid,
		.size = f->size, .rdev_major = f->rdev.specdata1,
		.rdev_minor = f->rdev.specdata2, .fileid = f->fileid,
		.mtime_sec = f->mtime.seconds, .mtime_nsec = f->mtime.nseconds,
	};
}

static void apl_post_attr(struct apl_attr *a, const post_op_attr *p)
{
	if (p->attributes_follow)
		apl_attr_copy(a, &p->post_op_attr_u.attributes);
}

/* CREATE, MKDIR, MKNOD and SYMLINK replies share this shape. */
static void apl_made(struct apl_call *c, const post_op_fh3 *obj,
		     const post_op_attr *attr)
{
	if (obj->handle_follows)
		apl_fh_copy(&c->fh, &obj->post_op_fh3_u.handle, &c->has_fh);
	apl_post_attr(&c->attr, attr);
}

static void apl_readdir_copy(struct apl_call *c, READDIR3resok *ok)
{
	struct apl_names *nm = c->names;
	char **v;

	for (entry3 *e = ok->reply.entries; e; e = e->nextentry) {
		c->cookie = e->cookie;
		if (!strcmp(e->name, ".") || !strcmp(e->name, ".."))
			continue;
		if (nm->n == nm->cap) {
			v = realloc(nm->v, (nm->cap ? nm->cap * 2 : 64) *
				    sizeof(*v));
			if (!v) {
				c->nomem = true;
				return;
			}
			nm->v = v;
			nm->cap = nm->cap ? nm->cap * 2 : 64;
		}
		nm->v[nm->n] = strdup(e->name);
		if (!nm->v[nm->n]) {
			c->nomem = true;
			return;
		}
		nm->n++;
	}
	memcpy(c->cookieverf, ok->cookieverf, sizeof(c->cookieverf));
	c->eof = ok->reply.eof;
}

static void apl_readdirplus_copy(struct apl_call *c, READDIRPLUS3resok *ok)
{
	struct apl_dirents *ents = c->ents;

	for (entryplus3 *e = ok->reply.entries; e; e = e->nextentry) {
		struct apl_dirent *d;

		c->cookie = e->cookie;
		if (!strcmp(e->name, ".") || !strcmp(e->name, ".."))
			continue;
		if (ents->n == ents->cap) {
			size_t cap = ents->cap ? ents->cap * 2 : 64;
			struct apl_dirent *v = realloc(ents->v,
						       cap * sizeof(*v));

			if (!v) {
				c->nomem = true;
				return;
			}
			ents->v = v;
			ents->cap = cap;
		}
		d = &ents->v[ents->n];
		memset(d, 0, sizeof(*d));
		d->name = strdup(e->name);
		if (!d->name) {
			c->nomem = true;
			return;
		}
		if (e->name_handle.handle_follows)
			apl_fh_copy(&d->fh, &e->name_handle.post_op_fh3_u.handle,
				    &d->has_fh);
		apl_post_attr(&d->attr, &e->name_attributes);
		ents->n++;
	}
	memcpy(c->cookieverf, ok->cookieverf, sizeof(c->cookieverf));
	c->eof = ok->reply.eof;
}

static void apl_copy_bytes(struct apl_call *c, const void *p, size_t n)
{
	c->got = n < c->cap ? n : c->cap;
	memcpy(c->buf, p, c->got);
}

/* Copy what the caller needs out of a successful reply of c->op. */
static void apl_decode(struct apl_call *c, void *data)
{
	switch (c->op) {
	case APL_RPC_LOOKUP: {
		LOOKUP3resok *ok = &((LOOKUP3res *)data)->LOOKUP3res_u.resok;

		apl_fh_copy(&c->fh, &ok->object, &c->has_fh);
		apl_post_attr(&c->attr, &ok->obj_attributes);
		break;
	}
	case APL_RPC_GETATTR:
		apl_attr_copy(&c->attr, &((GETATTR3res *)data)->GETATTR3res_u.
			      resok.obj_attributes);
		break;
	case APL_RPC_CREATE: {
		CREATE3resok *ok = &((CREATE3res *)data)->CREATE3res_u.resok;

		apl_made(c, &ok->obj, &ok->obj_attributes);
		break;
	}
	case APL_RPC_MKDIR: {
		MKDIR3resok *ok = &((MKDIR3res *)data)->MKDIR3res_u.resok;

		apl_made(c, &ok->obj, &ok->obj_attributes);
		break;
	}
	case APL_RPC_MKNOD: {
		MKNOD3resok *ok = &((MKNOD3res *)data)->MKNOD3res_u.resok;

		apl_made(c, &ok->obj, &ok->obj_attributes);
		break;
	}
	case APL_RPC_SYMLINK: {
		SYMLINK3resok *ok = &((SYMLINK3res *)data)->SYMLINK3res_u.resok;

		apl_made(c, &ok->obj, &ok->obj_attributes);
		break;
	}
	case APL_RPC_READLINK: {
		char *t = ((READLINK3res *)data)->READLINK3res_u.resok.data;

		apl_copy_bytes(c, t, strlen(t));
		break;
	}
	case APL_RPC_READ: {
		READ3resok *ok = &((READ3res *)data)->READ3res_u.resok;

		apl_copy_bytes(c, ok->data.data_val, ok->data.data_len);
		c->eof = ok->eof;
		break;
	}
	case APL_RPC_WRITE: {
		WRITE3resok *ok = &((WRITE3res *)data)->WRITE3res_u.resok;

		c->count = ok->count;
		memcpy(c->verf, ok->verf, APL_VERF_SIZE);
		break;
	}
	case APL_RPC_COMMIT:
		memcpy(c->verf, ((COMMIT3res *)data)->COMMIT3res_u.resok.verf,
		       APL_VERF_SIZE);
		break;
	case APL_RPC_READDIR:
		apl_readdir_copy(c, &((READDIR3res *)data)->READDIR3res_u.resok);
		break;
	case APL_RPC_READDIRPLUS:
		apl_readdirplus_copy(c, &((READDIRPLUS3res *)data)->
				     READDIRPLUS3res_u.resok);
		break;
	default:	/* LINK REMOVE RMDIR RENAME SETATTR: status only */
		break;
	}
}

/*
 * The one libnfs callback.  Runs inside jstore_drive() (or inside
 * jstore_close() with CANCEL): it records, it never queues or frees.
 */
void apl_rpc_cb(struct rpc_context *rpc, int status, void *data,
		void *private_data)
{
	struct apl_call *c = private_data;

	c->done = true;
	if (status != RPC_STATUS_SUCCESS) {
		c->failed = true;
		snprintf(c->msg, sizeof(c->msg), "%s",
			 status == RPC_STATUS_TIMEOUT ? "RPC timed out" :
			 status == RPC_STATUS_CANCEL ? "RPC cancelled" :
			 data ? (const char *)data : "RPC failed");
		return;
	}
	/* every NFSv3 result starts with its nfsstat3 */
	c->nfs_status = *(const int *)data;
	if (c->nfs_status == NFS3_OK)
		apl_decode(c, data);
}

/* ---- running calls ---- */

int apl_rpc_init(struct apl_rpc *r, struct jstore *js, apl_rpc_done_fn *fn,
		 void *arg)
{
	memset(r, 0, sizeof(*r));
	r->js = js;
	r->rpc = jstore_rpc(js);
	r->done_fn = fn;
	r->done_arg = arg;
	if (!r->rpc)
		return -ENOTCONN;
	r->wtmax = nfs_get_writemax(js->nfs);
	r->rtmax = nfs_get_readmax(js->nfs);
	if (!r->wtmax || r->wtmax > (1u << 20))
		r->wtmax = 1u << 20;
	if (!r->rtmax || r->rtmax > (1u << 20))
		r->rtmax = 1u << 20;
	for (unsigned i = 0; i <= APL_RPC_WINDOW; i++)
		r->slots[i].r = r;
	return 0;
}

/* After jstore_close(): nothing can call back into the slots any more. */
void apl_rpc_fini(struct apl_rpc *r)
{
	for (unsigned i = 0; i <= APL_RPC_WINDOW; i++)
		free(r->slots[i].own);
	memset(r, 0, sizeof(*r));
}

/* Make c ready for a new call of op.  Keeps its own buffer. */
static struct apl_call *apl_rpc_arm(struct apl_call *c, enum apl_rpc_op op)
{
	uint8_t *own = c->own;
	size_t own_cap = c->own_cap;
	struct apl_rpc *r = c->r;

	memset(c, 0, sizeof(*c));
	c->r = r;
	c->own = own;
	c->own_cap = own_cap;
	c->op = op;
	c->busy = true;
	return c;
}

/* The RPC-level failure of c (or of queuing it): mark the store broken. */
static int apl_rpc_broken(struct apl_rpc *r, struct apl_call *c, int rc)
{
	snprintf(r->msg, sizeof(r->msg), "%s", c->msg[0] ? c->msg :
		 rpc_get_error(r->rpc) ? rpc_get_error(r->rpc) : "");
	jstore_break(r->js);
	return rc;
}

/* Was c queued?  queued is what rpc_nfs3_*_async() returned. */
static int apl_rpc_queued(struct apl_rpc *r, struct apl_call *c, int queued)
{
	if (!queued)
		return 0;
	c->busy = false;
	snprintf(c->msg, sizeof(c->msg), "could not queue the RPC: %s",
		 rpc_get_error(r->rpc) ? rpc_get_error(r->rpc) : "?");
	return apl_rpc_broken(r, c, -EIO);
}

static bool apl_call_done(void *arg)
{
	return ((const struct apl_call *)arg)->done;
}

/* The outcome of a finished call: 0, -errno from nfsstat3, or -EIO etc. */
static int apl_rpc_result(struct apl_rpc *r, struct apl_call *c)
{
	if (c->failed)
		return apl_rpc_broken(r, c, strstr(c->msg, "timed out") ?
				      -ETIMEDOUT : -ECONNRESET);
	if (c->nomem)
		return -ENOMEM;
	if (c->nfs_status != NFS3_OK)
		r->last_nfs = c->nfs_status;
	return apl_nfs_errno(c->nfs_status);
}

/* Wait for the synchronous call in slot 0: its result. */
int apl_rpc_wait(struct apl_rpc *r, struct apl_call *c, int queued)
{
	int rc = apl_rpc_queued(r, c, queued);

	r->nsync++;
	if (rc)
		return rc;
	rc = jstore_drive(r->js, apl_call_done, c);
	c->busy = false;
	if (rc) {
		snprintf(r->msg, sizeof(r->msg), "%s", rc == -ETIMEDOUT ?
			 "no answer before the deadline" : "connection lost");
		return rc;
	}
	return apl_rpc_result(r, c);
}

/* The synchronous slot, armed for op; NULL (with -ENOTCONN) if broken. */
struct apl_call *apl_rpc_sync(struct apl_rpc *r, enum apl_rpc_op op,
			      int *rc)
{
	*rc = r->js->broken ? -ENOTCONN : 0;
	if (*rc) {
		snprintf(r->msg, sizeof(r->msg), "the connection failed "
			 "earlier");
		return NULL;
	}
	return apl_rpc_arm(&r->slots[0], op);
}

/* ---- the window ---- */

/* Compare a WRITE or COMMIT verifier with the batch's first. */
void apl_rpc_verf(struct apl_rpc *r, const uint8_t *verf)
{
	if (!r->have_verf) {
		memcpy(r->verf, verf, APL_VERF_SIZE);
		r->have_verf = true;
	} else if (memcmp(r->verf, verf, APL_VERF_SIZE)) {
		r->verf_changed = true;
	}
}

void apl_rpc_verf_reset(struct apl_rpc *r)
{
	r->have_verf = false;
	r->verf_changed = false;
}

bool apl_rpc_verf_changed(const struct apl_rpc *r)
{
	return r->verf_changed;
}

static int apl_rpc_send_write(struct apl_rpc *r, struct apl_call *c)
{
	WRITE3args a;
	size_t n = c->len < r->wtmax ? c->len : r->wtmax;

	a = (WRITE3args){ .file = apl_fh3(&c->wfh), .offset = c->offset,
			  .count = (count3)n, .stable = UNSTABLE };
	a.data.data_len = (u_int)n;
	a.data.data_val = (char *)c->data;
	r->nwrites++;
	return apl_rpc_queued(r, c, rpc_nfs3_write_async(r->rpc, apl_rpc_cb,
							 &a, c));
}

/*
 * A windowed WRITE is done: check it and re-send what is left (a short
 * write, or a payload larger than wtmax).  Returns 1 if re-sent.
 */
static int apl_rpc_write_more(struct apl_rpc *r, struct apl_call *c)
{
	size_t sent = c->len < r->wtmax ? c->len : r->wtmax;

	if (c->count == 0 || c->count > sent) {
		snprintf(r->msg, sizeof(r->msg), "WRITE reply of %u bytes "
			 "for %zu sent", c->count, sent);
		return -EIO;
	}
	apl_rpc_verf(r, c->verf);
	if (c->count == c->len)
		return 0;
	c->offset += c->count;
	c->data += c->count;
	c->len -= c->count;
	c->done = false;
	return apl_rpc_send_write(r, c) ?: 1;
}

/* Hand one completed windowed call back; frees its slot unless re-sent. */
static int apl_rpc_finish(struct apl_rpc *r, struct apl_call *c)
{
	int rc = c->failed ? apl_rpc_result(r, c) : 0;

	if (!rc && c->nfs_status == NFS3_OK) {
		if (c->op == APL_RPC_WRITE)
			rc = apl_rpc_write_more(r, c);
		else
			apl_rpc_verf(r, c->verf);
		if (rc == 1)
			return 0;
	}
	if (!rc && r->done_fn)
		rc = r->done_fn(r->done_arg, c);
	c->busy = false;
	r->inflight--;
	return rc;
}

/* Hand back every completed windowed call.  First error wins. */
static int apl_rpc_reap(struct apl_rpc *r)
{
	int first = 0;
	int rc;

	for (unsigned i = 1; i <= APL_RPC_WINDOW; i++) {
		struct apl_call *c = &r->slots[i];

		if (!c->busy || !c->done)
			continue;
		rc = apl_rpc_finish(r, c);
		first = first ? first : rc;
	}
	return first;
}

static bool apl_rpc_any_done(void *arg)
{
	const struct apl_rpc *r = arg;

	for (unsigned i = 1; i <= APL_RPC_WINDOW; i++)
		if (r->slots[i].busy && r->slots[i].done)
			return true;
	return false;
}

/* Wait until some windowed call completes, then reap. */
static int apl_rpc_step(struct apl_rpc *r)
{
	int rc = jstore_drive(r->js, apl_rpc_any_done, r);

	if (rc) {
		snprintf(r->msg, sizeof(r->msg), "%s", rc == -ETIMEDOUT ?
			 "no answer before the deadline" : "connection lost");
		return rc;
	}
	return apl_rpc_reap(r);
}

/*
 * A free window slot (waiting for one if all are busy; completed calls
 * are handed back meanwhile).  NULL with *rc set on failure.
 */
struct apl_call *apl_rpc_slot(struct apl_rpc *r, int *rc)
{
	*rc = r->js->broken ? -ENOTCONN : apl_rpc_reap(r);
	while (!*rc && r->inflight == APL_RPC_WINDOW)
		*rc = apl_rpc_step(r);
	if (*rc)
		return NULL;
	for (unsigned i = 1; i <= APL_RPC_WINDOW; i++)
		if (!r->slots[i].busy)
			return &r->slots[i];
	*rc = -EIO;	/* inflight out of step with the slots */
	return NULL;
}

/*
 * Queue an UNSTABLE WRITE of data[0, len) at offset in slot c (from
 * apl_rpc_slot()).  data must stay valid until the call is handed back
 * (it may be c->own).  c->tag/tag2 are the caller's; set them after.
 */
int apl_rpc_write_start(struct apl_rpc *r, struct apl_call *c,
			const struct apl_fh *fh, uint64_t offset,
			const uint8_t *data, size_t len)
{
	int rc;

	apl_rpc_arm(c, APL_RPC_WRITE);
	c->wfh = *fh;
	c->offset = offset;
	c->data = data;
	c->len = len;
	rc = apl_rpc_send_write(r, c);
	if (!rc)
		r->inflight++;
	return rc;
}

/* Queue a COMMIT of the whole file fh in slot c. */
int apl_rpc_commit_start(struct apl_rpc *r, struct apl_call *c,
			 const struct apl_fh *fh)
{
	COMMIT3args a;
	int rc;

	apl_rpc_arm(c, APL_RPC_COMMIT);
	c->wfh = *fh;
	a = (COMMIT3args){ .file = apl_fh3(fh), .offset = 0, .count = 0 };
	r->ncommits++;
	rc = apl_rpc_queued(r, c, rpc_nfs3_commit_async(r->rpc, apl_rpc_cb,
							&a, c));
	if (!rc)
		r->inflight++;
	return rc;
}

/* Wait for every windowed call; returns the first error. */
int apl_rpc_drain(struct apl_rpc *r)
{
	int first = apl_rpc_reap(r);
	int rc;

	while (r->inflight > 0) {
		rc = apl_rpc_step(r);
		first = first ? first : rc;
		if (rc && r->js->broken)
			return first;
	}
	return first;
}

/* Is a WRITE with this tag (fid) overlapping [offset, +len) in flight? */
bool apl_rpc_inflight_overlaps(const struct apl_rpc *r, uint64_t tag,
			       uint64_t offset, size_t len)
{
	for (unsigned i = 1; i <= APL_RPC_WINDOW; i++) {
		const struct apl_call *c = &r->slots[i];

		if (c->busy && c->op == APL_RPC_WRITE && c->tag == tag &&
		    offset < c->offset + c->len && c->offset < offset + len)
			return true;
	}
	return false;
}
