// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * replica/apl_data.c: the mirror applier's data records (RECORDS at the
 * top of replica/applier.c): WRITE, coalesced and sent in apl_rpc's
 * window (replica/apl_rpc.h), the COMMIT of every written file at the end
 * of a batch, SETATTR, and SETXATTR / REMOVEXATTR (counted, not stored).
 * apl_wdone() is the window's done function (installed by apl_open()).
 * A replay applies these records again: they only set values.
 *
 * WRITES.  UNSTABLE, then one COMMIT per file written in the batch, at
 *   the batch's end, before the checkpoint.  Why not FILE_SYNC: ganesha's
 *   VFS backend syncs the file for every FILE_SYNC WRITE, so a file
 *   written in many records pays one sync per record; UNSTABLE replies
 *   come from the server's cache and the COMMIT syncs them at once.  The
 *   checkpoint needs durability only at the batch boundary, which is
 *   exactly what COMMIT gives.  The verifier of every WRITE and COMMIT
 *   of a batch must be the same: a change means the server restarted
 *   and may have lost UNSTABLE data, so the run stops before the
 *   checkpoint and the next run applies the batch again.  Consecutive
 *   WRITE records to one fid whose ranges overlap or abut are coalesced
 *   into one WRITE of at most the server's wtmax bytes (later bytes
 *   win); a WRITE of half wtmax or more goes straight from the segment
 *   buffer.  Writes to overlapping ranges of one file are never in
 *   flight together, and a SETATTR waits for all writes in flight (a
 *   truncate must land after them).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "replica/apl_internal.h"
#include "replica/xstore.h"

/* ---- writes ---- */

/* A windowed WRITE or COMMIT answered (from normal context). */
int apl_wdone(void *arg, struct apl_call *c)
{
	struct apl *a = arg;
	struct apl_fid_ent *e = c->tag ? apl_fid_get(&a->map, c->tag) : NULL;
	const char *what = c->op == APL_RPC_WRITE ? "WRITE" : "COMMIT";
	int err = apl_nfs_errno(c->nfs_status);

	if (!err)
		return 0;
	if (err == -ESTALE && e && (e->flags & APL_FID_UNLINKED)) {
		a->st.stale++;
		return 0;
	}
	if (err == -ESTALE && c->tag2 <= a->replay_to) {
		a->st.replayed++;	/* removed by a later record */
		return 0;
	}
	if (!c->tag)
		return apl_fail_at(a, c->tag2, JNL_OP_WRITE, err, "", "%s of "
				   "the fid log", what);
	if (err == -ESTALE) {
		apl_fail_at(a, c->tag2, JNL_OP_WRITE, err, " (damage: the "
			    "object is gone from the mirror)", "%s of fid %"
			    PRIu64, what, c->tag);
		return -EUCLEAN;
	}
	return apl_fail_at(a, c->tag2, JNL_OP_WRITE, err, "", "%s of fid %"
			   PRIu64 " at offset %" PRIu64, what, c->tag,
			   c->offset);
}

/* Remember that fid was written this batch (COMMIT it at the end). */
static int apl_written(struct apl *a, uint64_t fid)
{
	struct apl_fid_ent *e = apl_fid_get(&a->map, fid);
	size_t cap = a->capwritten ? a->capwritten * 2 : 256;
	uint64_t *v;

	if (!e || (e->flags & APL_FID_WRITTEN))
		return 0;
	if (a->nwritten == a->capwritten) {
		v = realloc(a->written, cap * sizeof(*v));
		if (!v)
			return apl_fail(a, -ENOMEM, "written files");
		a->written = v;
		a->capwritten = cap;
	}
	e->flags |= APL_FID_WRITTEN;
	a->written[a->nwritten++] = fid;
	return 0;
}

/*
 * Queue an UNSTABLE WRITE of [offset, +len) of fid in a window slot.
 * own: data is a->pend.buf, which the slot takes (it gives its own
 * buffer back), so the coalescer can fill a fresh one meanwhile.
 */
static int apl_send(struct apl *a, uint64_t fid, const struct apl_fh *fh,
		    uint64_t offset, const uint8_t *data, size_t len,
		    uint64_t seq, bool own)
{
	struct apl_call *c;
	uint8_t *buf;
	size_t cap;
	int rc = 0;

	if (apl_rpc_inflight_overlaps(&a->rpc, fid, offset, len))
		rc = apl_rpc_drain(&a->rpc);	/* keep the journal's order */
	c = rc ? NULL : apl_rpc_slot(&a->rpc, &rc);
	if (!c)
		return rc;
	if (own) {
		buf = c->own;
		cap = c->own_cap;
		c->own = a->pend.buf;
		c->own_cap = a->pend.cap;
		a->pend.buf = buf;
		a->pend.cap = cap;
		data = c->own;
	}
	rc = apl_rpc_write_start(&a->rpc, c, fh, offset, data, len);
	if (rc)
		return apl_fail_at(a, seq, JNL_OP_WRITE, rc, "", "WRITE of fid %"
				   PRIu64, fid);
	c->tag = fid;
	c->tag2 = seq;
	return apl_written(a, fid);
}

/* Send the coalesced WRITE, if any. */
static int apl_pend_flush(struct apl *a)
{
	struct apl_pend *p = &a->pend;

	if (!p->active)
		return 0;
	p->active = false;
	return apl_send(a, p->fid, &p->fh, p->offset, p->buf, p->len, p->seq,
			true);
}

/* Every write sent and answered. */
int apl_barrier(struct apl *a)
{
	int rc = apl_pend_flush(a);
	int rc2 = apl_rpc_drain(&a->rpc);

	return rc ? rc : rc2;
}

/* May [offset, +len) of fid join the coalesced WRITE? */
static bool apl_pend_fits(const struct apl_pend *p, uint64_t fid,
			  uint64_t offset, size_t len, size_t cap)
{
	uint64_t lo = offset < p->offset ? offset : p->offset;
	uint64_t end = p->offset + p->len;
	uint64_t hi = offset + len > end ? offset + len : end;

	return p->active && p->fid == fid && offset <= end &&
	       offset + len >= p->offset && hi - lo <= cap;
}

/* Lay data over the coalesced WRITE (it fits: apl_pend_fits). */
static void apl_pend_merge(struct apl_pend *p, uint64_t offset,
			   const uint8_t *data, size_t len, uint64_t seq)
{
	if (offset < p->offset) {
		memmove(p->buf + (p->offset - offset), p->buf, p->len);
		p->len += p->offset - offset;
		p->offset = offset;
	}
	memcpy(p->buf + (offset - p->offset), data, len);
	if (offset + len > p->offset + p->len)
		p->len = offset + len - p->offset;
	p->seq = seq;
}

/* Start a new coalesced WRITE with this record's data. */
static int apl_pend_start(struct apl *a, uint64_t fid,
			  const struct apl_fh *fh,
			  const struct jnl_op_write *w)
{
	struct apl_pend *p = &a->pend;

	if (!p->buf || p->cap < a->rpc.wtmax) {
		free(p->buf);
		p->buf = malloc(a->rpc.wtmax);
		p->cap = p->buf ? a->rpc.wtmax : 0;
		if (!p->buf)
			return apl_fail(a, -ENOMEM, "write buffer");
	}
	*p = (struct apl_pend){
		.active = true, .fid = fid, .fh = *fh, .offset = w->offset,
		.len = w->len, .buf = p->buf, .cap = p->cap,
		.seq = apl_seq(a),
	};
	memcpy(p->buf, w->data, w->len);
	return 0;
}

int apl_write(struct apl *a, const struct jnl_op_write *w)
{
	struct apl_fid_ent *e;
	struct apl_fh fh;
	int rc = apl_fh_of(a, w->fid, &fh);

	if (rc)
		return rc;
	e = apl_fid_get(&a->map, w->fid);
	if (e && (e->flags & APL_FID_UNLINKED))
		e->flags |= APL_FID_USED;
	a->st.bytes += w->len;
	if (apl_pend_fits(&a->pend, w->fid, w->offset, w->len,
			  a->rpc.wtmax)) {
		apl_pend_merge(&a->pend, w->offset, w->data, w->len,
			       apl_seq(a));
		a->st.coalesced++;
		return 0;
	}
	rc = apl_pend_flush(a);
	if (rc)
		return rc;
	if (w->len * 2 >= a->rpc.wtmax)	/* big: no copy, from the segment */
		return apl_send(a, w->fid, &fh, w->offset, w->data, w->len,
				apl_seq(a), false);
	return apl_pend_start(a, w->fid, &fh, w);
}

/* COMMIT every file written this batch; drain. */
int apl_commit(struct apl *a, uint64_t seq)
{
	struct apl_fid_ent *e;
	struct apl_call *c;
	int rc = 0;

	for (size_t i = 0; i < a->nwritten; i++) {
		e = apl_fid_get(&a->map, a->written[i]);
		if (!e)
			continue;
		e->flags &= ~APL_FID_WRITTEN;
		c = rc ? NULL : apl_rpc_slot(&a->rpc, &rc);
		if (c && !(rc = apl_rpc_commit_start(&a->rpc, c, &e->fh))) {
			c->tag = a->written[i];
			c->tag2 = seq;
		}
	}
	a->nwritten = 0;
	if (rc)
		return rc;
	return apl_rpc_drain(&a->rpc);
}

/* ---- attributes ---- */

/* NFSv3 seconds are unsigned 32-bit: clamp. */
static uint32_t apl_secs(int64_t s)
{
	return s < 0 ? 0 : s > UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

static void apl_sattr_of(const struct jnl_op_setattr *s, struct apl_sattr *sa)
{
	*sa = (struct apl_sattr){
		.set_mode = s->mask & JNL_SA_MODE, .mode = s->mode & 07777,
		.set_uid = s->mask & JNL_SA_UID, .uid = s->uid,
		.set_gid = s->mask & JNL_SA_GID, .gid = s->gid,
		.set_size = s->mask & JNL_SA_SIZE, .size = s->size,
		.set_atime = s->mask & JNL_SA_ATIME,
		.atime_sec = apl_secs(s->atime_sec),
		.atime_nsec = s->atime_sec < 0 ? 0 : s->atime_nsec,
		.set_mtime = s->mask & JNL_SA_MTIME,
		.mtime_sec = apl_secs(s->mtime_sec),
		.mtime_nsec = s->mtime_sec < 0 ? 0 : s->mtime_nsec,
	};
}

int apl_setattr(struct apl *a, const struct jnl_op_setattr *s)
{
	struct apl_fid_ent *e;
	struct apl_sattr sa;
	struct apl_fh fh;
	int rc = apl_fh_of(a, s->fid, &fh);

	if (!rc)
		rc = apl_barrier(a);	/* a truncate lands after writes */
	if (rc)
		return rc;
	apl_sattr_of(s, &sa);
	e = apl_fid_get(&a->map, s->fid);
	if (e && (e->flags & APL_FID_UNLINKED))
		e->flags |= APL_FID_USED;
	rc = apl_rpc_setattr(&a->rpc, &fh, &sa);
	if (rc == -ESTALE && e && (e->flags & APL_FID_UNLINKED)) {
		a->st.stale++;
		return 0;
	}
	if (rc == -ESTALE)
		return apl_mismatch(a, rc, "the object is gone from the mirror",
				    "fid %" PRIu64, s->fid);
	if (rc)
		return apl_fail(a, rc, "fid %" PRIu64 " mask %#x", s->fid,
				s->mask);
	return 0;
}

/* The object of @fid, or 1 when it is an unlinked object that is gone
 * (nothing to keep attributes for). */
static int xattr_object(struct apl *a, uint64_t fid, struct apl_fh *fh)
{
	struct apl_fid_ent *e;
	struct apl_attr attr;
	int rc = apl_fh_of(a, fid, fh);

	if (rc)
		return rc;
	e = apl_fid_get(&a->map, fid);
	if (!e || !(e->flags & APL_FID_UNLINKED))
		return 0;
	e->flags |= APL_FID_USED;
	rc = apl_rpc_getattr(&a->rpc, fh, &attr);
	if (rc == -ESTALE) {
		a->st.stale++;
		return 1;
	}
	return rc ? apl_fail(a, rc, "fid %" PRIu64, fid) : 0;
}

static int xattr_store(struct apl *a, uint64_t fid, const struct apl_fh *fh,
		       const struct xset *set)
{
	int rc = xstore_save(&a->xs, xblob_key(fh->data, fh->len), set);

	if (rc)
		return apl_fail(a, rc, "storing the xattrs of fid %" PRIu64
				" in .ofsrep/" XSTORE_DIR, fid);
	a->st.xattr_sets++;
	return 0;
}

/* XATTRS: the object's whole set replaces its blob (idempotent).  The
 * empty set for an unlinked object is the writer dropping the blob of an
 * object gone from the primary (fs/xattr_drop.c): the mirror's goes too,
 * whether the mirror object is gone or still among the orphans (a
 * missing blob is the empty set). */
int apl_xattrs(struct apl *a, const struct jnl_op_xattrs *x)
{
	struct xset set = { .buf = (uint8_t *)x->set, .len = x->set_len,
			    .count = x->count };
	struct apl_fid_ent *e = apl_fid_get(&a->map, x->fid);
	struct apl_fh fh;
	int rc;

	if (x->count == 0 && e && (e->flags & APL_FID_UNLINKED)) {
		rc = apl_fh_of(a, x->fid, &fh);
		if (rc)
			return rc;
		rc = xstore_remove(&a->xs, xblob_key(fh.data, fh.len));
		if (rc)
			return apl_fail(a, rc, "removing the xattr blob of "
					"removed fid %" PRIu64 " from .ofsrep/"
					XSTORE_DIR, x->fid);
		a->st.xattr_drops++;
		return 0;
	}
	rc = xattr_object(a, x->fid, &fh);
	if (rc)
		return rc < 0 ? rc : 0;
	return xattr_store(a, x->fid, &fh, &set);
}

/* SETXATTR, REMOVEXATTR (the per-name forms): read, change, store.  The
 * flags are not checked again: a replay finds its own effect. */
int apl_xattr(struct apl *a, const struct jnl_op_xattr *x, bool remove)
{
	struct xset set = { 0 };
	enum xblob_status why;
	char name[JNL_XATTR_NAME_MAX + 1];
	struct apl_fh fh;
	int rc = xattr_object(a, x->fid, &fh);

	if (rc)
		return rc < 0 ? rc : 0;
	rc = xstore_load(&a->xs, xblob_key(fh.data, fh.len), &set, &why);
	if (rc == -EIO && why != XBLOB_OK)
		return apl_mismatch(a, rc, "the mirror's xattr blob is damaged",
				    "fid %" PRIu64 " (%s)", x->fid,
				    xblob_status_name(why));
	if (rc)
		return apl_fail(a, rc, "reading the xattrs of fid %" PRIu64,
				x->fid);
	snprintf(name, sizeof(name), "%.*s", APL_NAME(&x->name));
	rc = remove ? xset_remove(&set, name) :
	     xset_set(&set, name, x->value, x->value_len, 0);
	if (rc == -ENODATA && remove)
		rc = 0;
	if (!rc)
		rc = xattr_store(a, x->fid, &fh, &set);
	else
		rc = apl_damage(a, rc, "the attribute does not fit the set",
				"fid %" PRIu64 " %s", x->fid, name);
	xset_free(&set);
	return rc;
}
