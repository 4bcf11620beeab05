// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * replica/apl_flog.c: the mirror applier's side of the fid log, whose
 * entries, validity rules and loading are specified in replica/apl_fid.h.
 *
 * When the journal enters an epoch, the map is reset and that epoch's
 * log loaded (its torn tail cut off), which sets the replay zone and the
 * last DONE.  Each change to the map (MAP, UNLINKED) and each mark
 * (INTENT, DONE, ACTED) is queued here and written, FILE_SYNC, by
 * apl_flog_flush(): before a batch's first change (INTENT), when a name
 * is touched a second time (DONE), before an unbound RENAME_EXCHANGE
 * (ACTED), and at the end of every batch.  The replay region is the set
 * of names (parent fid, name) the namespace records touched since the
 * last DONE; the rule it serves is IDEMPOTENCY AND THE REPLAY ZONE at the
 * top of replica/applier.c.  At the end of a run the logs of epochs
 * before the checkpoint's are dropped.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "replica/apl_internal.h"

/* ---- the fid log ---- */

static void apl_flog_name(uint32_t epoch, char *buf, size_t size)
{
	snprintf(buf, size, "applied-%" PRIu32 ".fids", epoch);
}

/* Read a whole file of size bytes into a malloc'd *buf. */
static int apl_read_file(struct apl *a, const struct apl_fh *fh,
			 uint64_t size, uint8_t **buf, size_t *len)
{
	size_t got;
	bool eof = false;
	int rc = 0;

	*len = 0;
	*buf = malloc(size ? size : 1);
	if (!*buf)
		return -ENOMEM;
	while (!rc && *len < size && !eof) {
		rc = apl_rpc_read(&a->rpc, fh, *len, *buf + *len, size - *len,
				  &got, &eof);
		*len += rc ? 0 : got;
		if (!rc && !got && !eof)
			rc = -EIO;
	}
	return rc;
}

/* A torn tail of the log: cut it so new entries continue the valid run. */
static int apl_flog_cut(struct apl *a, uint64_t len)
{
	struct apl_sattr sa = { .set_size = true, .size = len };

	return apl_rpc_setattr(&a->rpc, &a->flog, &sa);
}

/*
 * Load applied-<a->epoch>.fids into the (reset) map, the checkpoint
 * being at ckpt_seq, and set the replay zone from its INTENT entries.
 */
static int apl_flog_load(struct apl *a, uint64_t ckpt_seq)
{
	struct apl_fid_loaded ld;
	struct apl_attr attr;
	char name[40];
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	a->have_flog = false;
	a->flog_off = 0;
	a->replay_to = 0;
	a->done_to = 0;
	a->intent = 0;
	if (!a->have_jdir)
		return 0;
	apl_flog_name(a->epoch, name, sizeof(name));
	rc = apl_lookup(a, &a->jdir, name, strlen(name), &a->flog, &attr);
	if (rc == -ENOENT)
		return 0;
	if (!rc)
		rc = apl_read_file(a, &a->flog, attr.size, &buf, &len);
	if (!rc)
		rc = apl_fid_load(&a->map, buf, len, a->conf.node, a->epoch,
				  ckpt_seq, &ld);
	free(buf);
	if (!rc && len > ld.valid_len)
		rc = apl_flog_cut(a, ld.valid_len);
	if (rc)
		return apl_fail(a, rc, "load the fid log %s", name);
	a->have_flog = true;
	a->flog_off = ld.valid_len;
	a->replay_to = ld.replay_to;
	a->done_to = ld.done_to;
	a->intent = ld.replay_to;
	return 0;
}

/* Queue one entry of the current epoch's log (written by apl_flog_flush). */
int apl_flog_add(struct apl *a, enum apl_flog_kind kind, uint64_t seq,
		 uint64_t fid, const struct apl_fh *fh)
{
	struct apl_flog_ent e = {
		.kind = (uint8_t)kind, .node = a->conf.node, .epoch = a->epoch,
		.seq = seq, .fid = fid,
	};
	uint8_t *p;

	if (a->flog_len + APL_FLOG_SIZE > a->flog_cap) {
		p = realloc(a->flog_buf, a->flog_cap ? a->flog_cap * 2 :
			    64 * APL_FLOG_SIZE);
		if (!p)
			return apl_fail(a, -ENOMEM, "fid log");
		a->flog_buf = p;
		a->flog_cap = a->flog_cap ? a->flog_cap * 2 :
			      64 * APL_FLOG_SIZE;
	}
	if (fh)
		e.fh = *fh;
	apl_flog_encode(&e, a->flog_buf + a->flog_len);
	a->flog_len += APL_FLOG_SIZE;
	return 0;
}

/* Create the current epoch's log file on its first write. */
static int apl_flog_create(struct apl *a)
{
	struct apl_sattr sa = { .set_mode = true, .mode = 0600 };
	struct apl_attr attr = { 0 };
	char name[40];
	int rc;

	apl_flog_name(a->epoch, name, sizeof(name));
	rc = apl_rpc_create(&a->rpc, &a->jdir, name, strlen(name), &sa,
			    &a->flog, &attr);
	if (rc == -EEXIST) {	/* made meanwhile: append after it */
		rc = apl_lookup(a, &a->jdir, name, strlen(name), &a->flog,
				&attr);
		a->flog_off = attr.size / APL_FLOG_SIZE * APL_FLOG_SIZE;
	}
	if (rc)
		return apl_fail(a, rc, "create the fid log %s", name);
	a->have_flog = true;
	return 0;
}

/* Write the queued entries, FILE_SYNC (DURABILITY in apl_fid.h). */
int apl_flog_flush(struct apl *a)
{
	int rc;

	if (!a->flog_len)
		return 0;
	if (!a->have_jdir)
		return apl_fail(a, -ENOENT, "no journal directory for the "
				"fid log");
	if (!a->have_flog) {
		rc = apl_flog_create(a);
		if (rc)
			return rc;
	}
	rc = apl_rpc_write_wait(&a->rpc, &a->flog, a->flog_off, a->flog_buf,
				a->flog_len, true);
	if (rc)
		return apl_fail(a, rc, "write %zu bytes of the fid log at "
				"offset %" PRIu64, a->flog_len, a->flog_off);
	a->flog_off += a->flog_len;
	a->flog_len = 0;
	a->st.flog_writes++;
	return 0;
}

/* Make sure an INTENT up to seq is written before changes. */
int apl_intent(struct apl *a, uint64_t seq)
{
	int rc;

	if (a->intent >= seq)
		return 0;
	rc = apl_flog_add(a, APL_FLOG_INTENT, seq, 0, NULL);
	if (!rc)
		rc = apl_flog_flush(a);
	if (!rc)
		a->intent = seq;
	return rc;
}

/* ---- replay regions ---- */

/* The region key of (parent fid, name): the fid seeds the hash. */
static uint64_t apl_name_key(uint64_t parent, const struct jnl_str *name)
{
	return XXH3_64bits_withSeed(name->ptr, name->len, parent);
}

/* Forget the region's names (a DONE was written, or a batch began). */
void apl_region_reset(struct apl_region *r)
{
	if (++r->cur == 0) {	/* wrapped: really clear */
		memset(r->gen, 0, sizeof(r->gen));
		r->cur = 1;
	}
	r->n = 0;
}

/* Is key in the region?  With add, put it there if not. */
static bool apl_region_has(struct apl_region *r, uint64_t key, bool add)
{
	uint32_t i = (uint32_t)key & (APL_REGION_SLOTS - 1);

	for (;; i = (i + 1) & (APL_REGION_SLOTS - 1)) {
		if (r->gen[i] != r->cur)
			break;
		if (r->key[i] == key)
			return true;
	}
	if (add) {
		r->gen[i] = r->cur;
		r->key[i] = key;
		r->n++;
	}
	return false;
}

/*
 * Write DONE up to the record before this one (with the MAP and UNLINKED
 * entries queued before it) and start a new region.
 */
static int apl_done(struct apl *a)
{
	int rc = apl_flog_add(a, APL_FLOG_DONE, apl_seq(a) - 1, 0, NULL);

	if (!rc)
		rc = apl_flog_flush(a);
	if (!rc) {
		apl_region_reset(a->region);
		a->st.dones++;
	}
	return rc;
}

/*
 * A namespace record is about to touch the names keys[0, n): if an
 * earlier record of the region touched one, close the region first
 * (IDEMPOTENCY), then add them.
 */
int apl_region_enter(struct apl *a, const uint64_t *keys, unsigned n)
{
	bool seen = a->region->n + n > APL_REGION_SLOTS / 2;
	int rc;

	for (unsigned i = 0; i < n && !seen; i++)
		seen = apl_region_has(a->region, keys[i], false);
	if (seen) {
		rc = apl_done(a);
		if (rc)
			return rc;
	}
	for (unsigned i = 0; i < n; i++)
		apl_region_has(a->region, keys[i], true);
	return 0;
}

/* The names a namespace record touches, as region keys; 0 for data. */
unsigned apl_keys(const struct jnl_op *op, uint64_t keys[2])
{
	switch (op->type) {
	case JNL_OP_BIND:
	case JNL_OP_LINK:
	case JNL_OP_UNLINK:
	case JNL_OP_RMDIR:
		keys[0] = apl_name_key(op->u.link.parent, &op->u.link.name);
		return 1;
	case JNL_OP_CREATE:
	case JNL_OP_MKDIR:
	case JNL_OP_MKNOD:
	case JNL_OP_SYMLINK:
		keys[0] = apl_name_key(op->u.entry.parent, &op->u.entry.name);
		return 1;
	case JNL_OP_RENAME:
		keys[0] = apl_name_key(op->u.rename.parent,
				       &op->u.rename.name);
		keys[1] = apl_name_key(op->u.rename.newparent,
				       &op->u.rename.newname);
		return 2;
	default:	/* WRITE, SETATTR, xattrs: data, applied again */
		return 0;
	}
}

/* ---- a new epoch ---- */

/* The journal moved to epoch: forget the fids, load its log. */
int apl_epoch(struct apl *a, uint32_t epoch, uint64_t ckpt_seq)
{
	if (epoch == a->epoch)
		return 0;
	apl_fid_reset(&a->map);
	a->epoch = epoch;
	a->flog_len = 0;
	apl_region_reset(a->region);
	return apl_flog_load(a, ckpt_seq);
}

/* ---- fids: handles, and the map's logged changes ---- */

/* The handle of fid (fid 1 is the mirror root); unknown fids: W6. */
int apl_fh_of(struct apl *a, uint64_t fid, struct apl_fh *fh)
{
	struct apl_fid_ent *e;

	if (fid == JNL_FID_ROOT) {
		*fh = a->mirror;
		return 0;
	}
	e = apl_fid_get(&a->map, fid);
	if (!e)
		return apl_damage(a, -ENOENT, "a fid used before the record "
				  "that introduces it (writer rule W6)",
				  "fid %" PRIu64, fid);
	*fh = e->fh;
	return 0;
}

/* A fid about to be introduced must be new in its epoch (W6). */
int apl_introduce(struct apl *a, uint64_t fid)
{
	if (apl_fid_get(&a->map, fid))
		return apl_damage(a, -EEXIST, "a fid introduced twice in one "
				  "epoch (writer rule W6)", "fid %" PRIu64,
				  fid);
	return 0;
}

/* The record being applied introduced fid as fh: map it, log MAP. */
int apl_map(struct apl *a, uint64_t fid, const struct apl_fh *fh)
{
	struct apl_fid_ent *e;

	if (apl_fid_set(&a->map, fid, fh, apl_seq(a), &e))
		return apl_fail(a, -ENOMEM, "fid map");
	return apl_flog_add(a, APL_FLOG_MAP, apl_seq(a), fid, fh);
}

/* The record being applied removed a name of fid's object: log
 * UNLINKED once (a stale handle for it later is no damage). */
int apl_mark_unlinked(struct apl *a, uint64_t fid)
{
	struct apl_fid_ent *e = apl_fid_get(&a->map, fid);

	if (!e || (e->flags & APL_FID_UNLINKED))
		return 0;
	e->flags |= APL_FID_UNLINKED;
	return apl_flog_add(a, APL_FLOG_UNLINKED, apl_seq(a), fid, NULL);
}

/*
 * After the mirror was served directly (a failover, then a failback, in
 * the same epoch): the mount removed objects without records, so their
 * fids would stay mapped to stale handles.  Flag each such fid UNLINKED,
 * as if a record had removed it (it cannot be named again: the writer
 * removed it itself), so that ofsrep-fsck's check of the map
 * (tools/fsck/fids.c) finds only objects the mirror really lost.  One
 * GETATTR per mapped fid, in the keeper's thread, once per failback.
 */
int apl_revalidate(struct apl *a)
{
	struct apl_attr attr;
	uint64_t flagged = 0;
	int rc = 0;

	for (uint32_t i = 0; i < a->map.n && !rc; i++) {
		struct apl_fid_ent *e = &a->map.ents[i];

		if (e->flags & APL_FID_UNLINKED)
			continue;
		rc = apl_rpc_getattr(&a->rpc, &e->fh, &attr);
		if (rc == -ESTALE) {
			e->flags |= APL_FID_UNLINKED;
			flagged++;
			rc = apl_flog_add(a, APL_FLOG_UNLINKED, a->ck.seq,
					  e->fid, NULL);
		} else if (rc) {
			return apl_fail(a, rc, "revalidate fid %" PRIu64
					" after serving the mirror", e->fid);
		}
	}
	if (!rc)
		rc = apl_flog_flush(a);
	if (rc)
		return rc;
	a->st.revalidated += flagged;
	a->revalidate = false;
	return 0;
}

/* ---- old logs ---- */

/* Drop fid logs of epochs before the checkpoint's. */
int apl_drop_logs(struct apl *a)
{
	struct apl_names nm;
	unsigned long long e;
	int used;
	int rc;

	if (!a->have_jdir || !a->have_ck)
		return 0;
	rc = apl_rpc_readdir(&a->rpc, &a->jdir, &nm);
	for (size_t i = 0; !rc && i < nm.n; i++) {
		used = 0;
		if (sscanf(nm.v[i], "applied-%llu.fids%n", &e, &used) != 1 ||
		    (size_t)used != strlen(nm.v[i]) || e >= a->ck.epoch)
			continue;
		rc = apl_rpc_remove(&a->rpc, &a->jdir, nm.v[i],
				    strlen(nm.v[i]));
		rc = rc == -ENOENT ? 0 : rc;
	}
	apl_names_free(&nm);
	return rc ? apl_fail(a, rc, "drop old fid logs") : 0;
}
