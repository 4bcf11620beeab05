// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * replica/applier.c: the mirror applier (replica/applier.h).
 *
 * It reads one node's journal from its checkpoint (journal/reader.h,
 * segments read whole through replica/jstore.h), applies each record to
 * the mirror tree with raw NFSv3 RPCs (replica/apl_rpc.h) and stores the
 * checkpoint after each batch.  Objects are found through the fid map
 * (replica/apl_fid.h); fid 1 is .ofsrep/mirror.
 *
 * RECORDS, as applied
 *   BIND      LOOKUP the name in the parent's directory and map the fid.
 *             A missing name is damage.
 *   CREATE, MKDIR, MKNOD, SYMLINK
 *             CREATE (GUARDED) / MKDIR / MKNOD / SYMLINK with the record's
 *             mode, uid, gid (rdev, target), then map the fid.  A name
 *             that exists as the same kind of object (type; a SYMLINK's
 *             target, a device's number) is mapped instead and given the
 *             record's mode and owner (CREATE: and size 0: the record made
 *             a new, empty file).  Another kind of object is damage.
 *   LINK      LINK the fid's object under the name.  The name already
 *             naming it is fine.
 *   UNLINK    REMOVE, or move to mirror-orphans (ORPHANS).  A missing
 *             name is fine.
 *   RMDIR     RMDIR.  A missing name is fine.
 *   RENAME    RENAME (a replaced object that is some fid's goes to the
 *             orphans first).  A source that is gone while the target is
 *             there is fine (applied before).  RENAME_NOREPLACE onto an
 *             existing name is damage.  RENAME_EXCHANGE is three RENAMEs
 *             through mirror-orphans/<node>-<epoch>-x<seq>; a run that
 *             stopped half-way is finished by the next.
 *   WRITE     UNSTABLE WRITEs, APL_RPC_WINDOW in flight (WRITES).
 *   SETATTR   mode, uid, gid, size, atime, mtime as the mask says, with
 *             the record's concrete times.  NFSv3 times are unsigned
 *             32-bit seconds: times before 1970 become 0 and after 2106
 *             become 2^32 - 1.
 *   SETXATTR, REMOVEXATTR
 *             stored nowhere yet: NFSv3 has no extended attributes.
 *             Counted as skipped (skipped_xattr); a later version keeps
 *             them beside the mirror.
 *   A record naming a fid the map does not have, or introducing a fid
 *   twice in one epoch, is damage (writer rule W6).  UNLINK, RMDIR and
 *   RENAME that carry a fid must find that object under the name:
 *   anything else is damage.
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
 *
 * ORPHANS.  An object whose last name an UNLINK removes (nlink 1), and
 *   that is some fid's, is not removed: it is renamed to
 *   .ofsrep/mirror-orphans/<node>-<epoch>-<fid>, so WRITEs to the fid
 *   (an unlinked file still open on the writer) still land.  The same
 *   happens to such an object replaced by a RENAME.  Other UNLINKs
 *   REMOVE.  The rule that removes orphans ("reaping"): at the end of
 *   every run that ends without error, an orphan of this node is removed
 *   if its epoch is older than the current one (the writer restarted, so
 *   nothing holds it open), or if its fid got no WRITE or SETATTR after
 *   it was unlinked during this run.  A later WRITE or SETATTR to a
 *   reaped orphan gets NFS3ERR_STALE; for a fid the journal unlinked
 *   that is expected and ignored (counted in stale): the object has no
 *   name, so the tree does not change.
 *
 * IDEMPOTENCY AND THE REPLAY ZONE.  A run that stops (crash, lost
 *   connection, NAS restart) between a batch's first change and its
 *   checkpoint leaves that batch applied in part; the next run applies
 *   it again from the checkpoint.  Applying a record again is safe when
 *   its names still show its own effect (the rules above: a made name is
 *   mapped, a removed name is fine, a moved source with its target in
 *   place is fine), but not after a LATER record changed one of those
 *   names too: a LINK applied again would bring back a name a later
 *   RENAME had moved away.  So the applier keeps, within a batch, the
 *   set of names (parent fid, name) the namespace records touched since
 *   the last DONE; before a record that touches one of them again it
 *   writes DONE up to the record before (FILE_SYNC, with the fid map
 *   entries made so far) and starts a new set.  A replay then
 *     - skips namespace records up to the last DONE (they were applied;
 *       their fids are in the log) and applies their WRITEs and
 *       SETATTRs again (which only set values, so a server that lost
 *       UNSTABLE data gets it back);
 *     - applies the records after it normally: none of them touches a
 *       name another of them touched, so each finds, at its names,
 *       either the state before it (not applied yet) or its own effect
 *       (applied), and the rules above decide exactly.  A name holding
 *       anything else is damage, in a replay as in a first run.
 *   The records after the checkpoint up to the last INTENT (written
 *   before a batch's first change) are the replay zone; in it, and only
 *   there, a stale handle (an object or directory a later, applied
 *   record removed) is a record applied before, not damage.  An
 *   unbound RENAME_EXCHANGE, which swaps two names and so would look
 *   the same either way, logs which object it moves (ACTED) first.
 *   Costs: one FILE_SYNC write of the fid log per batch, and one per
 *   name touched twice within a batch (a file made and removed, a
 *   temporary file renamed into place).
 *
 * CHECKPOINT CADENCE.  A batch is at most conf.batch records and
 *   APL_BATCH_BYTES of WRITE data, and never spans segments (so never
 *   epochs).  It ends with: coalesced writes sent, the window drained,
 *   the fid log written (the batch's fid entries, its DONE and the next
 *   batch's INTENT), every written file COMMITted, the verifiers
 *   compared, then the checkpoint stored (jstore_ckpt_store, the other
 *   slot each time).  A crash re-applies at most one batch.
 *   When a record fails (damage or an NFS error), the records before it
 *   are made durable and the checkpoint stops right before it.
 *
 * What it does not do: merge several nodes (one node per run), store
 * xattrs, trim applied segments, or follow a journal that grows during
 * the run (the next run applies what came after).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include <xxhash.h>

#include "replica/applier.h"

#define APL_NAME(s)	(int)(s)->len, (s)->ptr

/* What a record handler returns besides 0 and -errno. */
#define APL_AGAIN	1	/* found applied before (a replay) */
#define APL_SKIP	2	/* not applied: SETXATTR, REMOVEXATTR */

/* ---- messages ---- */

/* Is err one that comes with libnfs's text in a->rpc.msg? */
static bool apl_rpc_err(int err)
{
	return err == -ETIMEDOUT || err == -ECONNRESET || err == -ENOTCONN ||
	       err == -EIO || err == -EBADMSG;
}

/*
 * The one-line message, first error only:
 * "<url>: seq S <type>: <what>: <errno text>[ (<rpc text>)]<tail>".
 */
static void apl_vmsg(struct apl *a, uint64_t seq, unsigned type, int err,
		     const char *tail, const char *fmt, va_list ap)
{
	const char *rpc = apl_rpc_err(err) ? a->rpc.msg : "";
	char what[640];
	char where[80] = "";

	if (a->err[0])
		return;
	vsnprintf(what, sizeof(what), fmt, ap);
	if (seq)
		snprintf(where, sizeof(where), "seq %" PRIu64 " %s: ", seq,
			 jnl_type_name(type));
	/* a message longer than a->err is cut: the result is checked only
	 * to say so to the compiler */
	if (snprintf(a->err, sizeof(a->err), "%s: %s%s: %s%s%s%s%s",
		     a->js.url, where, what, strerror(-err), *rpc ? " (" : "",
		     rpc, *rpc ? ")" : "", tail) >= (int)sizeof(a->err))
		a->err[sizeof(a->err) - 2] = '.';
}

static uint64_t apl_seq(const struct apl *a)
{
	return a->rec ? a->rec->hdr.seq : 0;
}

static unsigned apl_type(const struct apl *a)
{
	return a->rec ? a->rec->hdr.type : 0;
}

/* An operational failure of the record being applied: returns err. */
__attribute__((format(printf, 3, 4)))
static int apl_fail(struct apl *a, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	apl_vmsg(a, apl_seq(a), apl_type(a), err, "", fmt, ap);
	va_end(ap);
	return err;
}

/* The mirror or journal does not fit: returns -EUCLEAN. */
__attribute__((format(printf, 4, 5)))
static int apl_damage(struct apl *a, int err, const char *why,
		      const char *fmt, ...)
{
	char tail[256];
	va_list ap;

	snprintf(tail, sizeof(tail), " (damage: %s)", why);
	va_start(ap, fmt);
	apl_vmsg(a, apl_seq(a), apl_type(a), err, tail, fmt, ap);
	va_end(ap);
	return -EUCLEAN;
}

/* A failure of record seq (a windowed call's): returns err. */
__attribute__((format(printf, 6, 7)))
static int apl_fail_at(struct apl *a, uint64_t seq, unsigned type, int err,
		       const char *tail, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	apl_vmsg(a, seq, type, err, tail, fmt, ap);
	va_end(ap);
	return err;
}

/* Debug trace (conf.trace): what happened to the record being applied. */
__attribute__((format(printf, 2, 3)))
static void apl_trace(struct apl *a, const char *fmt, ...)
{
	va_list ap;

	if (!a->conf.trace)
		return;
	fprintf(a->conf.trace, "seq %" PRIu64 " %s: ", apl_seq(a),
		jnl_type_name(apl_type(a)));
	va_start(ap, fmt);
	vfprintf(a->conf.trace, fmt, ap);
	va_end(ap);
	fputc('\n', a->conf.trace);
}

/* Is the record being applied in the replay zone? */
static bool apl_zone(const struct apl *a)
{
	return a->rec && a->rec->hdr.seq <= a->replay_to;
}

/* A stale handle (the object or directory is gone): in the replay zone a
 * record applied before, whose object a later record removed (skip it:
 * APL_AGAIN); elsewhere damage. */
__attribute__((format(printf, 4, 5)))
static int apl_mismatch(struct apl *a, int err, const char *why,
			const char *fmt, ...)
{
	char tail[256];
	va_list ap;

	if (apl_zone(a)) {
		a->st.replayed++;
		apl_trace(a, "zone: skipped: %s", why);
		return APL_AGAIN;
	}
	snprintf(tail, sizeof(tail), " (damage: %s)", why);
	va_start(ap, fmt);
	apl_vmsg(a, apl_seq(a), apl_type(a), err, tail, fmt, ap);
	va_end(ap);
	return -EUCLEAN;
}

/* ---- the export's directories ---- */

/* LOOKUP name, with attributes (GETATTR if the reply had none). */
static int apl_lookup(struct apl *a, const struct apl_fh *dir,
		      const char *name, size_t len, struct apl_fh *fh,
		      struct apl_attr *attr)
{
	int rc = apl_rpc_lookup(&a->rpc, dir, name, len, fh, attr);

	if (!rc && !attr->valid)
		rc = apl_rpc_getattr(&a->rpc, fh, attr);
	return rc;
}

/* The directory name in dir, made (mode) if missing and make is set. */
static int apl_subdir(struct apl *a, const struct apl_fh *dir,
		      const char *name, uint32_t mode, bool make,
		      struct apl_fh *out)
{
	struct apl_sattr sa = { .set_mode = true, .mode = mode };
	struct apl_attr attr = { 0 };
	int rc = apl_lookup(a, dir, name, strlen(name), out, &attr);

	if (rc == -ENOENT && make) {
		rc = apl_rpc_mkdir(&a->rpc, dir, name, strlen(name), &sa, out,
				   &attr);
		if (rc == -EEXIST)	/* made meanwhile */
			rc = apl_lookup(a, dir, name, strlen(name), out,
					&attr);
		attr.type = rc ? attr.type : APL_NF3DIR;
	}
	if (!rc && attr.valid && attr.type != APL_NF3DIR)
		rc = -ENOTDIR;
	if (rc && rc != -ENOENT)
		apl_fail(a, rc, "%s .ofsrep directory '%s'", make ? "make" :
			 "look up", name);
	return rc;
}

/*
 * .ofsrep, .ofsrep/mirror and .ofsrep/mirror-orphans (made if missing),
 * and the node's journal directory (st.no_journal if there is none).
 */
static int apl_dirs(struct apl *a)
{
	struct apl_fh journal;
	char node[16];
	int rc;

	rc = apl_subdir(a, &a->root, ".ofsrep", 0700, true, &a->ofsrep);
	if (!rc)
		rc = apl_subdir(a, &a->ofsrep, APL_MIRROR, 0755, true,
				&a->mirror);
	if (!rc)
		rc = apl_subdir(a, &a->ofsrep, APL_ORPHANS, 0700, true,
				&a->orphans);
	if (rc)
		return rc;
	snprintf(node, sizeof(node), "%" PRIu32, a->conf.node);
	rc = apl_subdir(a, &a->ofsrep, "journal", 0, false, &journal);
	if (!rc)
		rc = apl_subdir(a, &journal, node, 0, false, &a->jdir);
	a->have_jdir = !rc;
	a->st.no_journal = rc == -ENOENT;
	return rc == -ENOENT ? 0 : rc;
}

static int apl_wdone(void *arg, struct apl_call *c);
static void apl_region_reset(struct apl_region *r);

/*
 * Connect to the export and find (or make) the mirror.  On error a->err
 * says why; call apl_close() in any case.
 */
int apl_open(struct apl *a, const struct apl_conf *conf)
{
	size_t len;
	int rc;

	memset(a, 0, sizeof(*a));
	a->conf = *conf;
	if (!a->conf.batch)
		a->conf.batch = APL_BATCH_DEFAULT;
	apl_fid_init(&a->map);
	a->region = calloc(1, sizeof(*a->region));
	if (!a->region) {
		snprintf(a->err, sizeof(a->err), "%s: out of memory",
			 conf->url);
		return -ENOMEM;
	}
	apl_region_reset(a->region);
	rc = jstore_open(&a->js, conf->url, conf->node, conf->timeout_ms,
			 a->err, sizeof(a->err));
	if (rc)
		return rc;
	a->open = true;
	rc = apl_rpc_init(&a->rpc, &a->js, apl_wdone, a);
	if (!rc)
		rc = jstore_root_fh(&a->js, a->root.data, APL_FH_MAX, &len);
	if (rc) {
		snprintf(a->err, sizeof(a->err), "%s: no root file handle: %s",
			 conf->url, strerror(-rc));
		return rc;
	}
	a->root.len = (uint32_t)len;
	return apl_dirs(a);
}

/* Release everything; the connection first (see apl_rpc_fini()). */
void apl_close(struct apl *a)
{
	if (a->open)
		jstore_close(&a->js);
	a->open = false;
	apl_rpc_fini(&a->rpc);
	apl_fid_free(&a->map);
	free(a->pend.buf);
	free(a->flog_buf);
	free(a->written);
	free(a->region);
	a->pend.buf = NULL;
	a->flog_buf = NULL;
	a->written = NULL;
	a->region = NULL;
}

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
static int apl_flog_add(struct apl *a, enum apl_flog_kind kind, uint64_t seq,
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
static int apl_flog_flush(struct apl *a)
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
static int apl_intent(struct apl *a, uint64_t seq)
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
static void apl_region_reset(struct apl_region *r)
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
static int apl_region_enter(struct apl *a, const uint64_t *keys, unsigned n)
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

/* The journal moved to epoch: forget the fids, load its log. */
static int apl_epoch(struct apl *a, uint32_t epoch, uint64_t ckpt_seq)
{
	if (epoch == a->epoch)
		return 0;
	apl_fid_reset(&a->map);
	a->epoch = epoch;
	a->flog_len = 0;
	apl_region_reset(a->region);
	return apl_flog_load(a, ckpt_seq);
}

/* ---- fids and names ---- */

/* The handle of fid (fid 1 is the mirror root); unknown fids: W6. */
static int apl_fh_of(struct apl *a, uint64_t fid, struct apl_fh *fh)
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
static int apl_introduce(struct apl *a, uint64_t fid)
{
	if (apl_fid_get(&a->map, fid))
		return apl_damage(a, -EEXIST, "a fid introduced twice in one "
				  "epoch (writer rule W6)", "fid %" PRIu64,
				  fid);
	return 0;
}

/* What a name in a directory holds. */
struct apl_found {
	bool found;
	struct apl_fh fh;
	struct apl_attr attr;
};

static int apl_look(struct apl *a, const struct apl_fh *dir, uint64_t dfid,
		    const struct jnl_str *name, struct apl_found *f)
{
	int rc = apl_lookup(a, dir, name->ptr, name->len, &f->fh, &f->attr);

	f->found = rc == 0;
	if (rc == -ENOENT)
		return 0;
	if (rc == -ESTALE || rc == -ENOTDIR)	/* removed by a later record? */
		return apl_mismatch(a, rc, "the directory is gone from the "
				    "mirror or is none", "name '%.*s' in fid %"
				    PRIu64, APL_NAME(name), dfid);
	if (rc)
		return apl_fail(a, rc, "look up name '%.*s' in fid %" PRIu64,
				APL_NAME(name), dfid);
	return 0;
}

/* The object an UNLINK, RMDIR or RENAME names: its fid's, or (fid 0,
 * RENAME_EXCHANGE only) the one an ACTED entry logged.  *known is false
 * if neither says. */
static int apl_subject(struct apl *a, uint64_t fid, struct apl_fh *fh,
		       bool *known)
{
	const struct apl_fh *p;
	int rc;

	*known = false;
	if (fid) {
		rc = apl_fh_of(a, fid, fh);
		*known = !rc;
		return rc;
	}
	p = apl_fid_acted_get(&a->map, apl_seq(a));
	if (p) {
		*fh = *p;
		*known = true;
	}
	return 0;
}

static int apl_map(struct apl *a, uint64_t fid, const struct apl_fh *fh)
{
	struct apl_fid_ent *e;

	if (apl_fid_set(&a->map, fid, fh, apl_seq(a), &e))
		return apl_fail(a, -ENOMEM, "fid map");
	return apl_flog_add(a, APL_FLOG_MAP, apl_seq(a), fid, fh);
}

static int apl_mark_unlinked(struct apl *a, uint64_t fid)
{
	struct apl_fid_ent *e = apl_fid_get(&a->map, fid);

	if (!e || (e->flags & APL_FID_UNLINKED))
		return 0;
	e->flags |= APL_FID_UNLINKED;
	return apl_flog_add(a, APL_FLOG_UNLINKED, apl_seq(a), fid, NULL);
}

/* Move (dir, name) to mirror-orphans/<node>-<epoch>-<fid>. */
static int apl_orphan(struct apl *a, const struct apl_fh *dir,
		      const struct jnl_str *name, uint64_t fid)
{
	char oname[64];
	int rc;

	snprintf(oname, sizeof(oname), "%" PRIu32 "-%" PRIu32 "-%" PRIu64,
		 a->conf.node, a->epoch, fid);
	rc = apl_rpc_rename(&a->rpc, dir, name->ptr, name->len, &a->orphans,
			    oname, strlen(oname));
	if (rc)
		return apl_fail(a, rc, "move name '%.*s' (fid %" PRIu64 ") to "
				".ofsrep/" APL_ORPHANS "/%s", APL_NAME(name),
				fid, oname);
	a->st.orphaned++;
	return apl_mark_unlinked(a, fid);
}

/* ---- writes ---- */

/* A windowed WRITE or COMMIT answered (from normal context). */
static int apl_wdone(void *arg, struct apl_call *c)
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
static int apl_barrier(struct apl *a)
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

static int apl_write(struct apl *a, const struct jnl_op_write *w)
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
static int apl_commit(struct apl *a, uint64_t seq)
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

static int apl_setattr(struct apl *a, const struct jnl_op_setattr *s)
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

/* SETXATTR, REMOVEXATTR: nowhere to store them on NFSv3 (yet). */
static int apl_xattr(struct apl *a, const struct jnl_op_xattr *x)
{
	struct apl_fh fh;
	int rc = apl_fh_of(a, x->fid, &fh);	/* W6 still holds */

	if (rc)
		return rc;
	a->st.skipped_xattr++;
	return APL_SKIP;
}

/* ---- names ---- */

static uint32_t apl_ftype(uint32_t mode)
{
	switch (mode & JNL_S_IFMT) {
	case JNL_S_IFREG:	return APL_NF3REG;
	case JNL_S_IFDIR:	return APL_NF3DIR;
	case JNL_S_IFLNK:	return APL_NF3LNK;
	case JNL_S_IFCHR:	return APL_NF3CHR;
	case JNL_S_IFBLK:	return APL_NF3BLK;
	case JNL_S_IFIFO:	return APL_NF3FIFO;
	default:		return APL_NF3SOCK;
	}
}

static int apl_bind(struct apl *a, const struct jnl_op_link *l)
{
	struct apl_found f;
	struct apl_fh dir;
	int rc = apl_fh_of(a, l->parent, &dir);

	if (!rc)
		rc = apl_introduce(a, l->fid);
	if (!rc)
		rc = apl_look(a, &dir, l->parent, &l->name, &f);
	if (rc)
		return rc;
	if (!f.found)
		return apl_damage(a, -ENOENT, "the mirror lacks the object a "
				  "BIND names", "name '%.*s' in fid %" PRIu64,
				  APL_NAME(&l->name), l->parent);
	return apl_map(a, l->fid, &f.fh);
}

/* Is the object found under the name of the kind en makes?  1, 0, -errno */
static int apl_same_kind(struct apl *a, const struct jnl_op_entry *en,
			 const struct apl_found *f)
{
	uint32_t type = apl_ftype(en->mode);
	char target[JNL_TARGET_MAX];
	size_t len;
	int rc;

	if (f->attr.type != type)
		return 0;
	if (type == APL_NF3CHR || type == APL_NF3BLK)
		return f->attr.rdev_major == major(en->rdev) &&
		       f->attr.rdev_minor == minor(en->rdev);
	if (type != APL_NF3LNK)
		return 1;
	rc = apl_rpc_readlink(&a->rpc, &f->fh, target, sizeof(target), &len);
	if (rc)
		return apl_fail(a, rc, "read symlink '%.*s'",
				APL_NAME(&en->name));
	return len == en->target.len && !memcmp(target, en->target.ptr, len);
}

/*
 * Give the object the record's mode and owner (and, for CREATE, size 0)
 * where attr (if valid) differs.  Symlinks have no mode of their own.
 */
static int apl_reset(struct apl *a, const struct jnl_op_entry *en,
		     const struct apl_fh *fh, const struct apl_attr *attr)
{
	bool lnk = apl_ftype(en->mode) == APL_NF3LNK;
	struct apl_sattr sa = {
		.set_mode = !lnk && (!attr->valid ||
				     attr->mode != (en->mode & 07777)),
		.mode = en->mode & 07777,
		.set_uid = !attr->valid || attr->uid != en->uid,
		.uid = en->uid,
		.set_gid = !attr->valid || attr->gid != en->gid,
		.gid = en->gid,
		.set_size = apl_ftype(en->mode) == APL_NF3REG &&
			    (!attr->valid || attr->size),
	};
	int rc = 0;

	if (!sa.set_mode && !sa.set_uid && !sa.set_gid && !sa.set_size)
		return 0;
	if (sa.set_size)
		rc = apl_barrier(a);
	if (!rc)
		rc = apl_rpc_setattr(&a->rpc, fh, &sa);
	if (rc)
		return apl_fail(a, rc, "set the attributes of '%.*s'",
				APL_NAME(&en->name));
	return 0;
}

/*
 * A name that exists already: the same kind is the object (mapped).  An
 * object another fid names cannot be this record's (one object, one fid
 * per epoch, and a replay would have logged this fid: REPLAY ZONE).
 */
static int apl_reuse(struct apl *a, const struct jnl_op_entry *en,
		     const struct apl_found *f)
{
	struct apl_fid_ent *o = apl_fid_by_fh(&a->map, &f->fh);
	int rc = apl_same_kind(a, en, f);

	if (rc < 0)
		return rc;
	if (!rc)
		return apl_damage(a, -EEXIST, "the name holds another kind of "
				  "object", "name '%.*s' in fid %" PRIu64,
				  APL_NAME(&en->name), en->parent);
	if (o && o->fid != en->fid)
		return apl_damage(a, -EEXIST, "the name holds another fid's "
				  "object", "name '%.*s' in fid %" PRIu64
				  " (fid %" PRIu64 ")", APL_NAME(&en->name),
				  en->parent, o->fid);
	rc = apl_reset(a, en, &f->fh, &f->attr);
	if (rc)
		return rc;
	a->st.existing++;
	return apl_map(a, en->fid, &f->fh);
}

/* CREATE / MKDIR / MKNOD / SYMLINK the record's object. */
static int apl_create(struct apl *a, const struct apl_fh *dir,
		      const struct jnl_op_entry *en, struct apl_fh *fh)
{
	struct apl_sattr sa = {
		.set_mode = true, .mode = en->mode & 07777,
		.set_uid = true, .uid = en->uid,
		.set_gid = true, .gid = en->gid,
	};
	uint32_t type = apl_ftype(en->mode);
	const char *n = en->name.ptr;
	size_t nl = en->name.len;
	struct apl_attr attr = { 0 };
	int rc;

	if (type == APL_NF3REG)
		rc = apl_rpc_create(&a->rpc, dir, n, nl, &sa, fh, &attr);
	else if (type == APL_NF3DIR)
		rc = apl_rpc_mkdir(&a->rpc, dir, n, nl, &sa, fh, &attr);
	else if (type == APL_NF3LNK)
		rc = apl_rpc_symlink(&a->rpc, dir, n, nl, en->target.ptr,
				     en->target.len, &sa, fh, &attr);
	else
		rc = apl_rpc_mknod(&a->rpc, dir, n, nl, type,
				   major(en->rdev), minor(en->rdev), &sa, fh,
				   &attr);
	if (rc == -EBADMSG)	/* made, but the reply had no handle */
		rc = apl_lookup(a, dir, n, nl, fh, &attr);
	if (rc)
		return apl_fail(a, rc, "name '%.*s' in fid %" PRIu64,
				APL_NAME(&en->name), en->parent);
	/* the server may not honour every attribute at creation */
	return apl_reset(a, en, fh, &attr);
}

static int apl_make(struct apl *a, const struct jnl_op_entry *en)
{
	struct apl_found f;
	struct apl_fh dir;
	struct apl_fh fh;
	int rc = apl_fh_of(a, en->parent, &dir);

	if (!rc)
		rc = apl_introduce(a, en->fid);
	if (!rc)
		rc = apl_look(a, &dir, en->parent, &en->name, &f);
	if (rc)
		return rc;
	if (f.found)
		return apl_reuse(a, en, &f);
	rc = apl_create(a, &dir, en, &fh);
	return rc ? rc : apl_map(a, en->fid, &fh);
}

static int apl_link(struct apl *a, const struct jnl_op_link *l)
{
	struct apl_found f;
	struct apl_fh obj;
	struct apl_fh dir;
	int rc = apl_fh_of(a, l->fid, &obj);

	if (!rc)
		rc = apl_fh_of(a, l->parent, &dir);
	if (!rc)
		rc = apl_look(a, &dir, l->parent, &l->name, &f);
	if (rc)
		return rc;
	if (f.found && apl_fh_eq(&f.fh, &obj)) {
		a->st.replayed++;	/* linked before */
		return 0;
	}
	if (f.found)
		return apl_damage(a, -EEXIST, "the name holds another object",
				  "name '%.*s' in fid %" PRIu64,
				  APL_NAME(&l->name), l->parent);
	rc = apl_rpc_link(&a->rpc, &obj, &dir, l->name.ptr, l->name.len);
	if (rc == -ESTALE)
		return apl_mismatch(a, rc, "the object is gone from the mirror",
				    "fid %" PRIu64, l->fid);
	if (rc)
		return apl_fail(a, rc, "fid %" PRIu64 " as name '%.*s' in fid %"
				PRIu64, l->fid, APL_NAME(&l->name), l->parent);
	return 0;
}

/* REMOVE, or (last link of some fid's object) move to the orphans. */
static int apl_unlink_found(struct apl *a, const struct jnl_op_link *l,
			    const struct apl_fh *dir,
			    const struct apl_found *f)
{
	struct apl_fid_ent *owner;
	uint64_t fid;
	int rc;

	owner = l->fid ? apl_fid_get(&a->map, l->fid) :
			 apl_fid_by_fh(&a->map, &f->fh);
	fid = owner ? owner->fid : 0;
	if (fid && f->attr.nlink <= 1)
		return apl_orphan(a, dir, &l->name, fid);
	rc = apl_rpc_remove(&a->rpc, dir, l->name.ptr, l->name.len);
	if (rc)
		return apl_fail(a, rc, "name '%.*s' in fid %" PRIu64,
				APL_NAME(&l->name), l->parent);
	return l->fid ? apl_mark_unlinked(a, l->fid) : 0;
}

static int apl_unlink(struct apl *a, const struct jnl_op_link *l)
{
	struct apl_found f;
	struct apl_fh dir;
	struct apl_fh x;
	bool known;
	int rc = apl_fh_of(a, l->parent, &dir);

	if (!rc)
		rc = apl_subject(a, l->fid, &x, &known);
	if (!rc)
		rc = apl_look(a, &dir, l->parent, &l->name, &f);
	if (rc)
		return rc;
	if (!f.found) {		/* removed before */
		a->st.replayed++;
		apl_trace(a, "name missing");
		return l->fid ? apl_mark_unlinked(a, l->fid) : 0;
	}
	if (f.attr.type == APL_NF3DIR)
		return apl_damage(a, -EISDIR, "UNLINK of a directory",
				  "name '%.*s' in fid %" PRIu64,
				  APL_NAME(&l->name), l->parent);
	if (known && !apl_fh_eq(&f.fh, &x))
		return apl_damage(a, -ENOENT, "the name holds another object "
				  "than the record's", "fid %" PRIu64 " as "
				  "name '%.*s' in fid %" PRIu64, l->fid,
				  APL_NAME(&l->name), l->parent);
	return apl_unlink_found(a, l, &dir, &f);
}

static int apl_rmdir(struct apl *a, const struct jnl_op_link *l)
{
	struct apl_found f;
	struct apl_fh dir;
	struct apl_fh x;
	bool known;
	int rc = apl_fh_of(a, l->parent, &dir);

	if (!rc)
		rc = apl_subject(a, l->fid, &x, &known);
	if (!rc)
		rc = apl_look(a, &dir, l->parent, &l->name, &f);
	if (rc || !f.found) {	/* removed before */
		a->st.replayed += !rc;
		return rc;
	}
	if (f.attr.type != APL_NF3DIR || (known && !apl_fh_eq(&f.fh, &x)))
		return apl_damage(a, f.attr.type != APL_NF3DIR ? -ENOTDIR :
				  -ENOENT, "the name holds another object than "
				  "the record's", "name '%.*s' in fid %" PRIu64,
				  APL_NAME(&l->name), l->parent);
	rc = apl_rpc_rmdir(&a->rpc, &dir, l->name.ptr, l->name.len);
	if (rc == -ENOTEMPTY)
		return apl_damage(a, rc, "the directory is not empty in the "
				  "mirror", "name '%.*s' in fid %" PRIu64,
				  APL_NAME(&l->name), l->parent);
	if (rc)
		return apl_fail(a, rc, "name '%.*s' in fid %" PRIu64,
				APL_NAME(&l->name), l->parent);
	/* an open directory may still get a SETATTR: tolerate it stale */
	return l->fid ? apl_mark_unlinked(a, l->fid) : 0;
}

/* What a RENAME's names hold, and the object it moves if known. */
struct apl_rn {
	struct apl_fh dir;
	struct apl_fh ndir;
	struct apl_fh x;
	bool known;
	struct apl_found s;
	struct apl_found d;
};

static int apl_rename_look(struct apl *a, const struct jnl_op_rename *rn,
			   struct apl_rn *r)
{
	int rc = apl_fh_of(a, rn->parent, &r->dir);

	if (!rc)
		rc = apl_fh_of(a, rn->newparent, &r->ndir);
	if (!rc)
		rc = apl_subject(a, rn->fid, &r->x, &r->known);
	if (!rc)
		rc = apl_look(a, &r->dir, rn->parent, &rn->name, &r->s);
	if (!rc)
		rc = apl_look(a, &r->ndir, rn->newparent, &rn->newname, &r->d);
	return rc;
}

/* A RENAME the mirror refused: the names do not fit the journal. */
static int apl_rename_err(struct apl *a, const struct jnl_op_rename *rn,
			  int rc)
{
	if (rc == -ENOTEMPTY || rc == -EEXIST || rc == -ENOTDIR ||
	    rc == -EISDIR || rc == -EINVAL)
		return apl_damage(a, rc, "the mirror refuses the rename",
				  "name '%.*s' in fid %" PRIu64 " to '%.*s' in "
				  "fid %" PRIu64, APL_NAME(&rn->name),
				  rn->parent, APL_NAME(&rn->newname),
				  rn->newparent);
	return apl_fail(a, rc, "name '%.*s' in fid %" PRIu64 " to '%.*s' in "
			"fid %" PRIu64, APL_NAME(&rn->name), rn->parent,
			APL_NAME(&rn->newname), rn->newparent);
}

static int apl_rename_do(struct apl *a, const struct jnl_op_rename *rn,
			 const struct apl_rn *r)
{
	struct apl_fid_ent *o = NULL;
	int rc = 0;

	if (r->d.found && r->d.attr.type != APL_NF3DIR && r->d.attr.nlink <= 1)
		o = apl_fid_by_fh(&a->map, &r->d.fh);
	if (o)	/* the replaced object may still be written */
		rc = apl_orphan(a, &r->ndir, &rn->newname, o->fid);
	if (rc)
		return rc;
	rc = apl_rpc_rename(&a->rpc, &r->dir, rn->name.ptr, rn->name.len,
			    &r->ndir, rn->newname.ptr, rn->newname.len);
	return rc ? apl_rename_err(a, rn, rc) : 0;
}

/* The second half of an exchange: target to source (unless done), the
 * temporary name to target. */
static int apl_exchange_finish(struct apl *a, const struct jnl_op_rename *rn,
			       const struct apl_rn *r, const char *tmp)
{
	struct apl_found s;
	int rc = apl_look(a, &r->dir, rn->parent, &rn->name, &s);

	if (rc)
		return rc;
	if (!s.found)
		rc = apl_rpc_rename(&a->rpc, &r->ndir, rn->newname.ptr,
				    rn->newname.len, &r->dir, rn->name.ptr,
				    rn->name.len);
	if (!rc)
		rc = apl_rpc_rename(&a->rpc, &a->orphans, tmp, strlen(tmp),
				    &r->ndir, rn->newname.ptr,
				    rn->newname.len);
	return rc ? apl_rename_err(a, rn, rc) : 0;
}

/* RENAME_EXCHANGE: NFSv3 has none; three RENAMEs through a temporary
 * name, which tells a later run where a stopped one was. */
static int apl_exchange(struct apl *a, const struct jnl_op_rename *rn,
			const struct apl_rn *r)
{
	char tmp[64];
	struct jnl_str t = { .ptr = tmp };
	struct apl_found tf;
	int rc;

	t.len = (size_t)snprintf(tmp, sizeof(tmp), "%" PRIu32 "-%" PRIu32
				 "-x%" PRIu64, a->conf.node, a->epoch,
				 apl_seq(a));
	rc = apl_look(a, &a->orphans, 0, &t, &tf);
	if (rc || tf.found)	/* a stopped run got half-way */
		return rc ? rc : apl_exchange_finish(a, rn, r, tmp);
	if (!r->s.found || !r->d.found || (r->known &&
					   !apl_fh_eq(&r->s.fh, &r->x))) {
		if (r->known && r->d.found && apl_fh_eq(&r->d.fh, &r->x)) {
			a->st.replayed++;	/* exchanged before */
			return 0;
		}
		return apl_damage(a, -ENOENT, "RENAME_EXCHANGE of a name that "
				  "is missing or holds another object",
				  "name '%.*s' in fid %" PRIu64 " and '%.*s' in "
				  "fid %" PRIu64, APL_NAME(&rn->name),
				  rn->parent, APL_NAME(&rn->newname),
				  rn->newparent);
	}
	if (!r->known) {	/* which way round: ACTED, before swapping */
		rc = apl_flog_add(a, APL_FLOG_ACTED, apl_seq(a), 0, &r->s.fh);
		if (!rc)
			rc = apl_flog_flush(a);
		if (rc)
			return rc;
	}
	rc = apl_rpc_rename(&a->rpc, &r->dir, rn->name.ptr, rn->name.len,
			    &a->orphans, tmp, strlen(tmp));
	if (rc)
		return apl_rename_err(a, rn, rc);
	return apl_exchange_finish(a, rn, r, tmp);
}

static int apl_rename(struct apl *a, const struct jnl_op_rename *rn)
{
	struct apl_rn r;
	int rc = apl_rename_look(a, rn, &r);

	if (rc)
		return rc;
	if (rn->flags & JNL_RENAME_EXCHANGE)
		return apl_exchange(a, rn, &r);
	if (!r.s.found || (r.known && !apl_fh_eq(&r.s.fh, &r.x))) {
		/* source gone and target present: applied before */
		if (r.d.found && (r.known ? apl_fh_eq(&r.d.fh, &r.x) :
				  !r.s.found)) {
			a->st.replayed++;
			apl_trace(a, "source gone, target there (known %d)",
				  r.known);
			return 0;
		}
		return apl_damage(a, -ENOENT, r.s.found ? "the source name "
				  "holds another object than the record's" :
				  "the source name is missing", "name '%.*s' "
				  "in fid %" PRIu64, APL_NAME(&rn->name),
				  rn->parent);
	}
	if (r.d.found && apl_fh_eq(&r.d.fh, &r.s.fh))
		return 0;	/* two links of one object: a no-op */
	if (r.d.found && (rn->flags & JNL_RENAME_NOREPLACE))
		return apl_damage(a, -EEXIST, "RENAME_NOREPLACE onto an "
				  "existing name", "name '%.*s' in fid %" PRIu64,
				  APL_NAME(&rn->newname), rn->newparent);
	return apl_rename_do(a, rn, &r);
}

/* ---- records and batches ---- */

static int apl_dispatch(struct apl *a, const struct jnl_op *op)
{
	switch (op->type) {
	case JNL_OP_BIND:
		return apl_bind(a, &op->u.link);
	case JNL_OP_CREATE:
	case JNL_OP_MKDIR:
	case JNL_OP_MKNOD:
	case JNL_OP_SYMLINK:
		return apl_make(a, &op->u.entry);
	case JNL_OP_LINK:
		return apl_link(a, &op->u.link);
	case JNL_OP_UNLINK:
		return apl_unlink(a, &op->u.link);
	case JNL_OP_RMDIR:
		return apl_rmdir(a, &op->u.link);
	case JNL_OP_RENAME:
		return apl_rename(a, &op->u.rename);
	case JNL_OP_WRITE:
		return apl_write(a, &op->u.write);
	case JNL_OP_SETATTR:
		return apl_setattr(a, &op->u.setattr);
	case JNL_OP_SETXATTR:
	case JNL_OP_REMOVEXATTR:
		return apl_xattr(a, &op->u.xattr);
	}
	return apl_damage(a, -EPROTO, "a record type this applier does not "
			  "know", "type %u", (unsigned)op->type);
}

/* The names a namespace record touches, as region keys; 0 for data. */
static unsigned apl_keys(const struct jnl_op *op, uint64_t keys[2])
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

/*
 * Apply one record (a->rec while it runs): a namespace record up to the
 * loaded DONE is skipped (applied before), the others first close the
 * replay region if they touch one of its names.  0 or -errno.
 */
static int apl_record(struct apl *a, const struct jnl_rec *rec)
{
	uint64_t keys[2];
	unsigned n = apl_keys(&rec->op, keys);
	int rc = 0;

	a->rec = rec;
	if (n && rec->hdr.seq <= a->done_to) {
		rc = APL_AGAIN;		/* before the last DONE: applied */
		a->st.replayed++;
	} else if (n) {
		rc = apl_region_enter(a, keys, n);
	}
	if (!rc)
		rc = apl_dispatch(a, &rec->op);
	apl_trace(a, "%s (zone to %" PRIu64 ", done to %" PRIu64 ")",
		  rc < 0 ? a->err : rc == APL_SKIP ? "skipped" :
		  rc == APL_AGAIN ? "applied before" : "done", a->replay_to,
		  a->done_to);
	if (rc < 0)
		return rc;
	a->st.records++;
	a->st.first_seq = a->st.first_seq ? a->st.first_seq : rec->hdr.seq;
	a->st.last_seq = rec->hdr.seq;
	if (rc == APL_SKIP)
		a->st.skipped++;
	else
		a->st.applied++;
	return 0;
}

static int apl_ckpt_store(struct apl *a, struct jnl_ckpt *ck)
{
	char err[JSTORE_ERR_MAX];
	unsigned slot = a->have_ck ? a->slot ^ 1 : 0;
	int rc = jstore_ckpt_store(&a->js, slot, ck, err, sizeof(err));

	if (rc) {
		if (!a->err[0])
			snprintf(a->err, sizeof(a->err), "%s", err);
		return rc;
	}
	a->slot = slot;
	a->ck = *ck;
	a->have_ck = true;
	a->st.batches++;
	return 0;
}

/*
 * The end of a batch (CHECKPOINT CADENCE), the checkpoint excepted:
 * namespace records up to done are applied.  more: records follow in
 * this segment (queue the next INTENT).  Returns 0 or -errno (also when
 * a verifier changed: the server restarted and may have lost writes).
 */
static int apl_batch_end(struct apl *a, uint64_t done, bool more)
{
	uint64_t intent = a->rd.next_seq + a->conf.batch - 1;
	bool add = more && a->intent < intent;
	int rc = apl_barrier(a);
	int rc2;

	if (!rc && done > a->done_to)
		rc = apl_flog_add(a, APL_FLOG_DONE, done, 0, NULL);
	if (!rc && add)
		rc = apl_flog_add(a, APL_FLOG_INTENT, intent, 0, NULL);
	if (!rc)
		rc = apl_flog_flush(a);
	if (!rc && add)
		a->intent = intent;
	rc2 = apl_commit(a, a->rd.next_seq - 1);
	apl_region_reset(a->region);
	if (apl_rpc_verf_changed(&a->rpc))
		return apl_fail(a, -EIO, "the server restarted during the "
				"batch (its write verifier changed): the batch "
				"is applied again by the next run");
	return rc ? rc : rc2;
}

/* The reader stopped on damage or refusal: one line, returns rc. */
static int apl_journal_end(struct apl *a, int rc)
{
	char line[512];

	jnl_end_describe(&a->rd.end, line, sizeof(line));
	if (!a->err[0])
		snprintf(a->err, sizeof(a->err), "%s: node %" PRIu32 ": the "
			 "journal is %s: %s: %s", a->js.url, a->conf.node,
			 rc == -EPROTO ? "refused (written by a newer ofsrep)"
			 : "damaged", line, strerror(-rc));
	return rc;
}

/*
 * One batch of the open segment, checkpoint included.  Returns 1 if the
 * segment has more records, 0 at its end, or -errno.
 */
static int apl_batch(struct apl *a)
{
	struct jnl_ckpt pre = { 0 };
	struct jnl_ckpt ck;
	struct jnl_rec rec;
	uint64_t n = 0;
	uint64_t bytes = 0;
	int next = 1;
	int rc = 0;
	int end;

	apl_rpc_verf_reset(&a->rpc);
	apl_region_reset(a->region);	/* the checkpoint is a DONE */
	while (!rc && n < a->conf.batch && bytes < APL_BATCH_BYTES) {
		if (a->conf.upto && a->rd.next_seq > a->conf.upto) {
			a->st.stopped = true;
			next = 0;
			break;
		}
		jnl_rd_ckpt(&a->rd, &pre);
		next = jnl_rd_next(&a->rd, &rec);
		if (next <= 0)
			break;
		if (!n)		/* before the batch's first change */
			rc = apl_intent(a, rec.hdr.seq + a->conf.batch - 1);
		if (!rc)
			rc = apl_record(a, &rec);
		n += !rc;
		if (rec.op.type == JNL_OP_WRITE)
			bytes += rec.op.u.write.len;
	}
	a->rec = NULL;
	if (rc)
		ck = pre;	/* right before the record that failed */
	else
		jnl_rd_ckpt(&a->rd, &ck);
	end = apl_batch_end(a, ck.seq, !rc && next == 1);
	if (end)
		return rc ? rc : end;
	end = n ? apl_ckpt_store(a, &ck) : 0;
	if (rc || end)
		return rc ? rc : end;
	return next < 0 ? apl_journal_end(a, next) : next;
}



/* ---- segments ---- */

static int apl_seg_read(struct apl *a, uint64_t segno, uint8_t **buf,
			size_t *len)
{
	char err[JSTORE_ERR_MAX];
	int rc = jstore_seg_read(&a->js, segno, buf, len, err, sizeof(err));

	if (rc && !a->err[0])
		snprintf(a->err, sizeof(a->err), "%s", err);
	return rc;
}

/* conf.upto reached, or the daemon cancels the run (mirror.c). */
static bool apl_stopping(struct apl *a)
{
	if (a->conf.cancel && atomic_load(a->conf.cancel))
		a->st.stopped = true;
	return a->st.stopped;
}

/* Apply the segment in buf, sealed by the header in next (or NULL). */
static int apl_segment(struct apl *a, const uint8_t *buf, size_t len,
		       const uint8_t *next, size_t next_len)
{
	int rc = jnl_rd_open(&a->rd, buf, len, next, next_len);

	if (rc)
		return apl_journal_end(a, rc);
	if (a->rd.end.kind == JNL_END_EMPTY)
		return 0;
	rc = apl_epoch(a, a->rd.epoch, a->rd.next_seq - 1);
	if (rc)
		return rc;
	do
		rc = apl_batch(a);
	while (rc == 1 && !apl_stopping(a));
	return rc < 0 ? rc : 0;
}

/* Segments [i, n), each read whole together with the one after it. */
static int apl_segments(struct apl *a, const uint64_t *segnos, size_t n,
			size_t i)
{
	uint8_t *cur = NULL;
	uint8_t *nxt = NULL;
	size_t curlen = 0;
	size_t nxtlen = 0;
	int rc = 0;

	for (; !rc && !apl_stopping(a) && i < n; i++) {
		if (!cur)
			rc = apl_seg_read(a, segnos[i], &cur, &curlen);
		if (!rc && i + 1 < n)
			rc = apl_seg_read(a, segnos[i + 1], &nxt, &nxtlen);
		if (!rc)
			rc = apl_segment(a, cur, curlen, nxt, nxtlen);
		free(cur);
		cur = nxt;
		curlen = nxtlen;
		nxt = NULL;
		nxtlen = 0;
	}
	free(cur);
	free(nxt);
	return rc;
}

/* ---- the end of a run ---- */

/* "<node>-<epoch>-<fid>", all decimal. */
static bool apl_orphan_name(const char *s, uint32_t *node, uint32_t *epoch,
			    uint64_t *fid)
{
	unsigned long long v[3];
	char *end;

	for (int i = 0; i < 3; i++) {
		if (*s < '0' || *s > '9')
			return false;
		errno = 0;
		v[i] = strtoull(s, &end, 10);
		if (errno || *end != (i < 2 ? '-' : 0))
			return false;
		s = end + 1;
	}
	if (v[0] > UINT32_MAX || v[1] > UINT32_MAX)
		return false;
	*node = (uint32_t)v[0];
	*epoch = (uint32_t)v[1];
	*fid = v[2];
	return true;
}

/* Remove this node's orphans that the ORPHANS rule lets go. */
static int apl_reap(struct apl *a)
{
	uint32_t cur = a->epoch ? a->epoch : a->ck.epoch;
	struct apl_names nm;
	struct apl_fid_ent *e;
	uint32_t node;
	uint32_t epoch;
	uint64_t fid;
	int rc = apl_rpc_readdir(&a->rpc, &a->orphans, &nm);

	for (size_t i = 0; !rc && i < nm.n; i++) {
		if (!apl_orphan_name(nm.v[i], &node, &epoch, &fid) ||
		    node != a->conf.node || epoch > cur)
			continue;
		e = epoch == cur ? apl_fid_get(&a->map, fid) : NULL;
		if (e && (e->flags & APL_FID_USED))
			continue;
		rc = apl_rpc_remove(&a->rpc, &a->orphans, nm.v[i],
				    strlen(nm.v[i]));
		a->st.reaped += !rc;
		rc = rc == -ENOENT ? 0 : rc;
	}
	apl_names_free(&nm);
	return rc ? apl_fail(a, rc, "reap .ofsrep/" APL_ORPHANS) : 0;
}

/* Drop fid logs of epochs before the checkpoint's. */
static int apl_drop_logs(struct apl *a)
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

/* ---- a run ---- */

static int apl_load_ckpt(struct apl *a)
{
	char err[JSTORE_ERR_MAX];
	int rc = jstore_ckpt_load(&a->js, &a->ck, &a->slot, err, sizeof(err));

	if (rc == -ENOENT)
		return 0;	/* nothing applied yet */
	if (rc) {
		snprintf(a->err, sizeof(a->err), "%s", err);
		return rc;
	}
	if (a->ck.node != a->conf.node)
		return apl_damage(a, -EINVAL, "the checkpoint is another "
				  "node's", "checkpoint of node %" PRIu32,
				  a->ck.node);
	a->have_ck = true;
	a->st.start_seq = a->ck.seq;
	return 0;
}

/* Position the reader at the checkpoint (segnos[*i] is its segment). */
static int apl_start(struct apl *a, const uint64_t *segnos, size_t n,
		     size_t *i)
{
	*i = 0;
	if (!a->have_ck) {
		jnl_rd_init(&a->rd, a->conf.node);
		return 0;
	}
	while (*i < n && segnos[*i] < a->ck.segno)
		(*i)++;
	if (*i == n || segnos[*i] != a->ck.segno)
		return apl_damage(a, -ENOENT, "the checkpoint's segment is "
				  "missing", "segment %016" PRIx64,
				  a->ck.segno);
	if (jnl_rd_init_ckpt(&a->rd, &a->ck))
		return apl_damage(a, -EINVAL, "the checkpoint is not usable",
				  "checkpoint at offset %" PRIu64,
				  a->ck.offset);
	return apl_epoch(a, a->ck.epoch, a->ck.seq);
}

static int apl_list(struct apl *a, uint64_t **segnos, size_t *n)
{
	char err[JSTORE_ERR_MAX];
	int rc = jstore_list(&a->js, segnos, n, err, sizeof(err));

	if (rc == -ENOENT) {
		a->st.no_journal = true;
		return 0;
	}
	if (rc)
		snprintf(a->err, sizeof(a->err), "%s", err);
	return rc;
}

/*
 * Apply every record after the checkpoint, as the journal is listed now.
 * Returns 0, -EUCLEAN (damage), -EPROTO (refused) or -errno; a->st says
 * what was done, a->err why it stopped.
 */
int apl_run(struct apl *a)
{
	uint64_t *segnos = NULL;
	size_t n = 0;
	size_t i = 0;
	int rc = a->st.no_journal ? 0 : apl_load_ckpt(a);

	if (!rc && !a->st.no_journal)
		rc = apl_list(a, &segnos, &n);
	if (!rc && !a->st.no_journal)
		rc = apl_start(a, segnos, n, &i);
	if (!rc && !a->st.no_journal)
		rc = apl_segments(a, segnos, n, i);
	if (!rc)
		rc = apl_reap(a);
	if (!rc)
		rc = apl_drop_logs(a);
	free(segnos);
	a->st.end = a->rd.end;
	a->st.have_ckpt = a->have_ck;
	a->st.ckpt = a->ck;
	a->st.write_rpcs = a->rpc.nwrites;
	a->st.commits = a->rpc.ncommits;
	if (rc && !a->err[0])
		snprintf(a->err, sizeof(a->err), "%s: node %" PRIu32 ": %s",
			 a->js.url, a->conf.node, strerror(-rc));
	return rc;
}
