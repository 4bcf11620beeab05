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
 * FILES.  This one runs the applier: open and close, the journal's
 * segments, batches and checkpoints, and each record's dispatch.  The
 * rest, each with its part of this spec at its top:
 *   replica/apl_names.c   the namespace records (BIND ... RENAME) and
 *                         ORPHANS (made, and reaped at the end of a run)
 *   replica/apl_data.c    WRITE, COMMIT, SETATTR, xattrs: WRITES
 *   replica/apl_flog.c    the fid map and its log: INTENT and DONE marks,
 *                         the replay region, old logs dropped
 *   replica/apl_msg.c     the one-line message: failure, damage, trace
 *   replica/apl_internal.h  what they share
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
 *   UNLINK    REMOVE, or move to mirror-orphans (ORPHANS in
 *             replica/apl_names.c).  A missing name is fine.
 *   RMDIR     RMDIR.  A missing name is fine.
 *   RENAME    RENAME (a replaced object that is some fid's goes to the
 *             orphans first).  A source that is gone while the target is
 *             there is fine (applied before).  RENAME_NOREPLACE onto an
 *             existing name is damage.  RENAME_EXCHANGE is three RENAMEs
 *             through mirror-orphans/<node>-<epoch>-x<seq>; a run that
 *             stopped half-way is finished by the next.
 *   WRITE     UNSTABLE WRITEs, APL_RPC_WINDOW in flight (WRITES in
 *             replica/apl_data.c).
 *   SETATTR   mode, uid, gid, size, atime, mtime as the mask says, with
 *             the record's concrete times.  NFSv3 times are unsigned
 *             32-bit seconds: times before 1970 become 0 and after 2106
 *             become 2^32 - 1.
 *   XATTRS    the record's set replaces the blob of the fid's object in
 *             the secondary's xattr store (replica/xstore.h; key: the
 *             mirror object's handle), written FILE_SYNC.  An unlinked
 *             object that is gone is fine (counted stale).
 *   SETXATTR, REMOVEXATTR
 *             the blob is read, the one name set or removed (flags not
 *             checked again: a replay finds its own effect; a name
 *             already gone is fine), and stored as for XATTRS.
 *   A record naming a fid the map does not have, or introducing a fid
 *   twice in one epoch, is damage (writer rule W6).  UNLINK, RMDIR and
 *   RENAME that carry a fid must find that object under the name:
 *   anything else is damage.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replica/apl_internal.h"

/* ---- the export's directories ---- */

/* LOOKUP name, with attributes (GETATTR if the reply had none). */
int apl_lookup(struct apl *a, const struct apl_fh *dir,
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

/* ---- open and close ---- */

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
	xstore_init(&a->xs, &a->rpc, &a->root);
	return apl_dirs(a);
}

/* Release everything; the connection first (see apl_rpc_fini()). */
void apl_close(struct apl *a)
{
	if (a->open)
		jstore_close(&a->js);
	a->open = false;
	apl_rpc_fini(&a->rpc);
	xstore_fini(&a->xs);
	apl_fid_free(&a->map);
	free(a->pend.buf);
	free(a->seg_cache);
	a->seg_cache = NULL;
	free(a->flog_buf);
	free(a->written);
	free(a->region);
	a->pend.buf = NULL;
	a->flog_buf = NULL;
	a->written = NULL;
	a->region = NULL;
}

/* ---- records and batches ---- */

static int apl_dispatch(struct apl *a, const struct jnl_op *op)
{
	switch (op->type) {
	case JNL_OP_BIND:
		return apl_bind(a, &op->u.link);
	case JNL_OP_BINDFH:
		return apl_bindfh(a, &op->u.handle);
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
		return apl_xattr(a, &op->u.xattr,
				 op->type == JNL_OP_REMOVEXATTR);
	case JNL_OP_XATTRS:
		return apl_xattrs(a, &op->u.xattrs);
	}
	return apl_damage(a, -EPROTO, "a record type this applier does not "
			  "know", "type %u", (unsigned)op->type);
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
	if (a->conf.on_ckpt)
		a->conf.on_ckpt(a->conf.on_ckpt_arg, ck);
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
	int rc;

	*buf = NULL;
	*len = 0;
	if (a->seg_cache && a->seg_cache_segno == segno) {
		*buf = a->seg_cache;	/* read only what was added since */
		*len = a->seg_cache_len;
		a->seg_cache = NULL;
	}
	rc = jstore_seg_read_from(&a->js, segno, buf, len, err, sizeof(err));
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

/*
 * Done with segment segno's buf: keep it if the checkpoint points into it
 * past its first record (its header and records up to ck.offset are valid
 * and never change; a header alone might be a torn one a restarting
 * writer replaces), else free it.
 */
static void apl_seg_keep(struct apl *a, uint64_t segno, uint8_t *buf,
			 size_t len, int rc)
{
	if (rc || !a->have_ck || a->ck.segno != segno ||
	    a->ck.offset <= JNL_SEG_HDR_SIZE || a->ck.offset > len) {
		free(buf);
		return;
	}
	free(a->seg_cache);
	a->seg_cache = buf;
	a->seg_cache_len = a->ck.offset;
	a->seg_cache_segno = segno;
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
		apl_seg_keep(a, segnos[i], cur, curlen, rc);
		cur = nxt;
		curlen = nxtlen;
		nxt = NULL;
		nxtlen = 0;
	}
	free(cur);
	free(nxt);
	return rc;
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
		/* damaged: never guessed at; ofsrep-fsck rebuilds it */
		return rc == -EBADMSG ? -EUCLEAN : rc;
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
	if (!rc && !a->st.no_journal && a->revalidate)
		rc = apl_revalidate(a);
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
