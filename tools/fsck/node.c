/*
 * node.c — ofsrep-fsck's passes over one node's journal on the secondary
 * export, and the repairs each may make:
 *
 *   lease    a live mount (or another repair) owns the journal
 *            (replica/lease.c): only -n may go on, read-only; otherwise
 *            the tool takes the lease for the repairs and drops it after.
 *   pass 1   every segment and record (journal/reader.h rules):
 *            torn tail  -> cut the segment at the last whole record
 *                          (safe: those bytes were never acknowledged);
 *            damage     -> quarantine: the bad record and everything after
 *                          it are set aside in .ofsrep/quarantine/<node>/
 *                          <time>-<pid>/ (a segment's tail copied, later
 *                          segments moved) and the segment is cut, so the
 *                          journal ends at the last good record (not safe:
 *                          records after the damage may be acknowledged
 *                          mutations; preen stops and asks for a human);
 *            refused    -> a newer ofsrep wrote it: nothing to do here.
 *   pass 2   the checkpoint: the journal must read on from it.
 *   pass 3   records after the checkpoint: replayed onto the mirror with
 *            the daemon's own applier (replica/applier.h; safe, idempotent);
 *            then every object the journal's fid map names must still be
 *            in the mirror (tools/fsck/fids.c: read-only; a lost object
 *            is repaired only by a mirror resync).
 *
 * Every repair can be interrupted (SIGINT, SIGKILL, a dead NAS) and run
 * again: a cut is a truncate to a length, a quarantine copies before it
 * moves and moves before it cuts (a second run sets aside the same bytes
 * again, in a new directory), and applying is idempotent.
 * OFSREP_FSCK_KILL_AFTER=copy|move|cut makes the tool SIGKILL itself
 * after that step of a quarantine: the tests' way to prove it.
 * OFSREP_FSCK_TRACE=1 makes pass 3's applier print a line per record and
 * decision on stderr (replica/applier.h, conf.trace): for a developer.
 */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "replica/applier.h"
#include "replica/lease.h"
#include "tools/fsck/fsck.h"
#include "tools/journal/tool.h"

void fsck_problem(struct fsck_node *r, const char *kind, bool fixed,
		  const char *fmt, ...)
{
	struct fsck_problem *p;
	va_list ap;

	if (r->nproblems == FSCK_MAX_PROBLEMS)
		return;
	p = &r->problems[r->nproblems++];
	p->kind = kind;
	p->fixed = fixed;
	va_start(ap, fmt);
	vsnprintf(p->what, sizeof(p->what), fmt, ap);
	va_end(ap);
}

static void kill_hook(const char *step)
{
	const char *want = getenv("OFSREP_FSCK_KILL_AFTER");

	if (want && !strcmp(want, step))
		raise(SIGKILL);
}

static size_t seg_index(const struct journal *j, uint64_t segno)
{
	size_t i = 0;

	while (i < j->n && j->info[i].segno != segno)
		i++;
	return i;
}

/* Set the bytes from e->segno:e->offset on aside, then cut there. */
static int quarantine(const struct fsck_opts *o, struct journal *j,
		      const struct jnl_end *e, struct fsck_node *r)
{
	char name[64], dir[256], path[512];
	size_t i = seg_index(j, e->segno);
	uint64_t off = e->offset;
	int rc;

	if (i == j->n) {
		snprintf(j->err, sizeof(j->err), "segment %016" PRIx64
			 " of the damage is not in the listing", e->segno);
		return -ENOENT;
	}
	snprintf(name, sizeof(name), "%lld-%d", (long long)time(NULL),
		 (int)getpid());
	rc = jstore_quarantine_dir(&j->js, name, dir, sizeof(dir), j->err,
				   sizeof(j->err));
	if (rc)
		return rc;
	snprintf(r->quarantine, sizeof(r->quarantine), "%s", dir);
	if (off > JNL_SEG_HDR_SIZE && off < j->segs[i].len) {
		snprintf(path, sizeof(path), "%s/%016" PRIx64 "-from-%" PRIu64
			 ".bin", dir, e->segno, off);
		rc = jstore_put(&j->js, path, j->segs[i].data + off,
				j->segs[i].len - off, j->err, sizeof(j->err));
		if (rc)
			return rc;
	}
	kill_hook("copy");
	for (size_t k = j->n; k-- > i + 1;) {
		rc = jstore_seg_move(&j->js, j->info[k].segno, dir, j->err,
				     sizeof(j->err));
		if (rc)
			return rc;
	}
	kill_hook("move");
	if (off <= JNL_SEG_HDR_SIZE)	/* nothing good in it: all of it */
		rc = jstore_seg_move(&j->js, e->segno, dir, j->err,
				     sizeof(j->err));
	else if (off < j->segs[i].len)
		rc = jstore_seg_truncate(&j->js, e->segno, off, j->err,
					 sizeof(j->err));
	kill_hook("cut");
	fsck_say(o, "Node %" PRIu32 ": set aside in %s\n", r->node, dir);
	return rc;
}

static const char *end_word(enum jnl_end_kind k)
{
	switch (k) {
	case JNL_END_TORN:
		return "torn";
	case JNL_END_DAMAGED:
		return "damaged";
	case JNL_END_REFUSED:
		return "refused";
	default:
		return "clean";
	}
}

/*
 * Damage before the checkpoint lies in records the mirror has applied;
 * the applier never reads them again.  Whole segments below the
 * checkpoint's may go (as the daemon's trimming does: safe); damage in
 * the checkpoint's own segment before it stays, reported.  Returns 2 if
 * the damage is after the checkpoint (quarantine is the caller's), else
 * as pass1().
 */
static int damage_applied(const struct fsck_opts *o, struct journal *j,
			  const struct jnl_end *e, bool may,
			  struct fsck_node *r)
{
	struct jnl_ckpt ck;
	unsigned slot;
	int rc;

	if (jstore_ckpt_load(&j->js, &ck, &slot, j->err, sizeof(j->err)) ||
	    e->segno > ck.segno ||
	    (e->segno == ck.segno && e->offset >= ck.offset))
		return 2;
	j->err[0] = 0;
	if (e->segno == ck.segno) {
		fsck_problem(r, "damage_applied", false, "%s: in records the "
			"mirror has applied (before the checkpoint at seq %"
			PRIu64 "); left in place", r->describe, ck.seq);
		r->exit |= FX_UNCORRECTED;
		return 0;
	}
	if (!fsck_ask(o, true, "Node %" PRIu32 ": segment %016" PRIx64 ": %s; "
		      "every record in it is applied to the mirror.  Remove "
		      "the segments before the checkpoint's (%016" PRIx64 ")",
		      r->node, e->segno, r->describe, ck.segno) || !may) {
		fsck_problem(r, "damage_applied", false, "%s", r->describe);
		r->exit |= FX_UNCORRECTED;
		return 0;
	}
	for (size_t i = 0; i < j->n && j->info[i].segno < ck.segno; i++) {
		char name[40];

		snprintf(name, sizeof(name), "%016" PRIx64 ".seg",
			 j->info[i].segno);
		rc = jstore_file_remove(&j->js, name, j->err, sizeof(j->err));
		if (rc)
			return -1;
	}
	fsck_problem(r, "damage_applied", true, "%s; applied segments removed",
		r->describe);
	r->exit |= FX_CORRECTED;
	return 1;
}

/* Pass 1: walk; returns 1 if a repair changed the journal (walk again),
 * 0 if nothing to repair, -1 if the node cannot go on. */
static int pass1(const struct fsck_opts *o, struct journal *j, bool may,
		 struct fsck_node *r)
{
	struct jnl_reader rd;
	struct tally t = { 0 };
	const struct jnl_end *e = &rd.end;
	size_t i;
	int rc;

	fsck_progress(o, r->node, 1, 0, j->n);
	jnl_rd_init(&rd, r->node);
	journal_walk(j, &rd, 0, &t, true, 0);
	fsck_progress(o, r->node, 1, j->n, j->n);
	r->records = t.nrecs;
	r->first_seq = t.first_seq;
	r->last_seq = t.last_seq;
	r->epochs = t.nepochs;
	r->segments = j->n;
	r->end = end_word(e->kind);
	describe_end(e, r->describe, sizeof(r->describe));
	if (o->verbose)
		fsck_say(o, "Node %" PRIu32 ": %" PRIu64 " records (seq %"
			 PRIu64 "..%" PRIu64 ") in %zu segments, %u epochs; "
			 "%s\n", r->node, t.nrecs, t.first_seq, t.last_seq,
			 j->n, t.nepochs, r->describe);
	switch (e->kind) {
	case JNL_END_TORN:
		i = seg_index(j, e->segno);
		if (i == j->n || e->offset >= j->segs[i].len)
			return 0;
		if (!fsck_ask(o, true, "Node %" PRIu32 ": segment %016" PRIx64
			      ": the last group write did not finish: %zu "
			      "bytes after record %" PRIu64 " at offset %"
			      PRIu64 " were never acknowledged.  Cut them",
			      r->node, e->segno, j->segs[i].len - e->offset,
			      e->seq - 1, e->offset) || !may) {
			fsck_problem(r, "torn_tail", false, "%s", r->describe);
			return 0;	/* harmless: the writer seals it */
		}
		rc = jstore_seg_truncate(&j->js, e->segno, e->offset, j->err,
					 sizeof(j->err));
		fsck_problem(r, "torn_tail", !rc, "%s", r->describe);
		if (rc)
			return -1;
		r->exit |= FX_CORRECTED;
		return 1;
	case JNL_END_DAMAGED:
		rc = damage_applied(o, j, e, may, r);
		if (rc != 2)
			return rc;
		if (!fsck_ask(o, false, "Node %" PRIu32 ": record %" PRIu64
			      " in segment %016" PRIx64 " at offset %" PRIu64
			      ": %s.  Set it and everything after it aside "
			      "(quarantine) so the journal ends at record %"
			      PRIu64, r->node, e->seq, e->segno, e->offset,
			      r->describe, e->seq - 1) || !may) {
			fsck_problem(r, "damage", false, "%s", r->describe);
			r->exit |= FX_UNCORRECTED;
			return -1;
		}
		rc = quarantine(o, j, e, r);
		fsck_problem(r, "damage", !rc, "%s; quarantined in %s",
			r->describe, r->quarantine);
		if (rc)
			return -1;
		r->exit |= FX_CORRECTED;
		return 1;
	case JNL_END_REFUSED:
		fsck_problem(r, "refused", false, "%s: written by a newer ofsrep; "
			"check it with that version", r->describe);
		r->exit |= FX_UNCORRECTED;
		return -1;
	default:
		return 0;
	}
}

/* Pass 2 and 3: the checkpoint, then replay what is after it. */
static void pass23(const struct fsck_opts *o, struct journal *j, bool may,
		   struct fsck_node *r)
{
	struct opts jo = { .url = o->secondary, .node = r->node,
			   .timeout_ms = o->timeout_ms };
	struct apl_conf conf = { .url = o->secondary, .node = r->node,
				 .timeout_ms = o->timeout_ms };
	struct ckpt_check cc = { 0 };
	struct apl *a;
	int rc;

	if (journal_check_ckpt(j, &jo, &cc)) {
		fsck_problem(r, "error", false, "%s", j->err);
		r->exit |= FX_ERROR;
		return;
	}
	r->have_ckpt = cc.present;
	r->ckpt_damaged = cc.present && cc.damaged;
	r->ckpt_seq = cc.ck.seq;
	r->ckpt_epoch = cc.ck.epoch;
	/* an untrusted checkpoint says nothing about what is applied: all of
	 * it may be pending (and --resync=primary must not go on) */
	r->pending = cc.present && cc.consistent ? cc.pending : r->records;
	if (cc.present && !cc.consistent && cc.refused) {
		fsck_problem(r, "checkpoint", false, "%s", cc.line);
		r->exit |= FX_UNCORRECTED;
		return;
	}
	if (cc.present && !cc.consistent) {
		if (!cc.damaged) {
			char line[sizeof(cc.line)];

			snprintf(line, sizeof(line), "the checkpoint (seq %"
				 PRIu64 ") does not lead to the journal's "
				 "end: %.400s", cc.ck.seq, cc.line);
			snprintf(cc.line, sizeof(cc.line), "%s", line);
		}
		fsck_ckpt_repair(o, j, may, &cc, r);
		return;
	}
	if (!r->pending || fsck_interrupted)
		return;
	fsck_progress(o, r->node, 3, 0, r->pending);
	if (!fsck_ask(o, true, "Node %" PRIu32 ": %" PRIu64 " records are "
		      "not yet applied to the mirror.  Replay them", r->node,
		      r->pending) || !may) {
		fsck_problem(r, "unapplied", false, "%" PRIu64 " records not yet "
			"applied to the mirror", r->pending);
		r->exit |= FX_UNCORRECTED;
		return;
	}
	if (getenv("OFSREP_FSCK_TRACE"))
		conf.trace = stderr;
	a = calloc(1, sizeof(*a));
	rc = a ? apl_open(a, &conf) : -ENOMEM;
	if (!rc)
		rc = apl_run(a);
	fsck_problem(r, "unapplied", !rc, "%" PRIu64 " records not yet applied "
		"to the mirror%s%s", r->pending, rc ? ": " : "",
		rc && a ? a->err : "");
	if (!rc) {
		fsck_progress(o, r->node, 3, r->pending, r->pending);
		r->exit |= FX_CORRECTED;
		r->pending = 0;
	} else {
		r->exit |= rc == -EUCLEAN ? FX_UNCORRECTED : FX_ERROR;
	}
	if (a)
		apl_close(a);
	free(a);
}

/* The epoch of the journal's last segment (0: no segment). */
static uint32_t last_epoch(const struct journal *j)
{
	const struct jnl_seg_buf *s = j->n ? &j->segs[j->n - 1] : NULL;

	if (!s || s->len < JNL_SEG_HDR_SIZE)
		return 0;
	return jnl_get_le32(s->data + JNL_SEG_OFF_EPOCH);
}

/* The journal's lease, on a connection of its own (struct lease_conn):
 * taken before the journal is read, so nothing a mount writes meanwhile
 * can be mistaken for a torn tail. */
struct lease_conn {
	struct jstore js;
	char err[JSTORE_ERR_MAX];
};

static int unlink_lease(struct lease_conn *lc)
{
	return lease_drop(&lc->js, lc->err, sizeof(lc->err));
}

/* The lease: returns true if the tool may change the journal. */
static bool take_lease(const struct fsck_opts *o, struct lease_conn *lc,
		       struct fsck_node *r, bool *held)
{
	struct lease cur, me;
	char who[320];
	int rc = lease_read(&lc->js, &cur, lc->err, sizeof(lc->err));
	bool busy = !rc && !lease_mine(&cur) && lease_live(&cur);

	*held = false;
	if (rc == -EUCLEAN && o->mode != ASK_NO) {
		if (!o->break_lease) {
			fsck_problem(r, "lease", false, "%s (--break-lease "
				"replaces it)", lc->err);
			r->exit |= FX_ERROR;
			return false;
		}
		fsck_say(o, "Node %" PRIu32 ": replacing an unreadable "
			 "lease\n", r->node);
		if (unlink_lease(lc)) {
			fsck_problem(r, "lease", false, "%s", lc->err);
			r->exit |= FX_ERROR;
			return false;
		}
	}
	if (busy) {
		r->live = true;
		lease_describe(&cur, who, sizeof(who));
		if (o->mode == ASK_NO) {
			fsck_say(o, "Node %" PRIu32 ": in use by %s: checking "
				 "read-only\n", r->node, who);
			return false;
		}
		if (!o->break_lease) {
			fsck_problem(r, "lease", false, "the journal is in use by "
				"%s: unmount it first (or -n to check only; "
				"--break-lease if that holder is dead)", who);
			r->exit |= FX_ERROR;
			return false;
		}
		fsck_say(o, "Node %" PRIu32 ": breaking the lease of %s\n",
			 r->node, who);
		if (unlink_lease(lc)) {
			fsck_problem(r, "lease", false, "%s", lc->err);
			r->exit |= FX_ERROR;
			return false;
		}
	}
	if (o->mode == ASK_NO)
		return false;
	lease_self(&me, "ofsrep-fsck", NULL);
	rc = lease_take(&lc->js, &me, lc->err, sizeof(lc->err));
	if (rc) {
		fsck_problem(r, "lease", false, "%s", lc->err);
		r->exit |= FX_ERROR;
		return false;
	}
	*held = true;
	return true;
}

int fsck_node(const struct fsck_opts *o, uint32_t node, struct fsck_node *r)
{
	struct opts jo = { .url = o->secondary, .node = node,
			   .timeout_ms = o->timeout_ms };
	struct lease_conn lc;
	struct journal j;
	bool held = false;
	bool may;
	int rounds = 0;
	int rc;

	memset(r, 0, sizeof(*r));
	r->node = node;
	r->end = "clean";
	rc = jstore_open(&lc.js, o->secondary, node, o->timeout_ms, lc.err,
			 sizeof(lc.err));
	if (rc) {
		fsck_problem(r, "error", false, "%s", lc.err);
		return r->exit |= FX_ERROR;
	}
	may = take_lease(o, &lc, r, &held);
	if (r->exit & FX_ERROR) {
		jstore_close(&lc.js);
		return r->exit;
	}
	rc = journal_open(&j, &jo, false);
	if (!rc) {
		fsck_say(o, "Node %" PRIu32 ": pass 1: checking the journal's "
			 "segments and records\n", node);
		/* A repair changes the journal: read it again and re-check,
		 * until it walks to its end (bounded: each repair shortens
		 * it). */
		while ((rc = pass1(o, &j, may, r)) == 1 && ++rounds < 4 &&
		       !fsck_interrupted) {
			journal_close(&j);
			rc = journal_open(&j, &jo, false) ? -1 : 0;
			if (rc)
				break;
		}
		if (rc == 0 && !fsck_interrupted) {
			fsck_say(o, "Node %" PRIu32 ": pass 2: checking the "
				 "checkpoint\n", node);
			fsck_say(o, "Node %" PRIu32 ": pass 3: records not "
				 "yet applied to the mirror\n", node);
			pass23(o, &j, may, r);
			if (!fsck_interrupted && !(r->exit & FX_ERROR))
				fsck_fids(o, &lc.js, last_epoch(&j), r);
			if (!fsck_interrupted && !(r->exit & FX_ERROR))
				fsck_trees(o, &lc.js, may, r);
			fsck_fids_verdict(o, &lc.js, r->fids_obsolete, r);
		}
		if (rc < 0 && j.err[0] && !(r->exit & FX_UNCORRECTED)) {
			fsck_problem(r, "error", false, "%s", j.err);
			r->exit |= FX_ERROR;
		}
	} else {
		fsck_problem(r, "error", false, "%s", j.err);
		r->exit |= FX_ERROR;
	}
	journal_close(&j);
	if (held && !lc.js.broken)
		unlink_lease(&lc);
	jstore_close(&lc.js);
	if (fsck_interrupted)
		r->exit |= FX_CANCELLED;
	return r->exit;
}

/* One node of the --json report, on stdout (tools/journal/print.c's
 * json_str escapes the strings). */
static void node_json(const struct fsck_node *r)
{
	printf("{\"node\":%" PRIu32 ",\"records\":%" PRIu64
		",\"first_seq\":%" PRIu64 ",\"last_seq\":%" PRIu64
		",\"segments\":%zu,\"epochs\":%u,\"end\":\"%s\","
		"\"describe\":", r->node, r->records, r->first_seq, r->last_seq,
		r->segments, r->epochs, r->end);
	json_str(r->describe);
	printf(",\"checkpoint_seq\":");
	if (r->have_ckpt && !r->ckpt_damaged)
		printf("%" PRIu64, r->ckpt_seq);
	else
		fputs("null", stdout);
	printf(",\"checkpoint_damaged\":%s", r->ckpt_damaged ? "true" :
	       "false");
	printf(",\"pending\":%" PRIu64 ",\"quarantine\":", r->pending);
	if (r->quarantine[0])
		json_str(r->quarantine);
	else
		fputs("null", stdout);
	printf(",\"mirror_objects_checked\":%" PRIu64 ",\"mirror_objects_gone"
	       "\":%" PRIu64, r->fids_checked, r->fids_gone);
	printf(",\"tree_entries\":%" PRIu64 ",\"tree_differences\":%" PRIu64
	       ",\"xattr_orphans\":%" PRIu64 ",\"xattr_reclaimed\":%" PRIu64
	       ",\"differences\":[", r->tree_entries, r->tree_differences,
	       r->xattr_orphans, r->xattr_reclaimed);
	for (unsigned i = 0; i < r->ndiff_lines; i++) {
		if (i)
			putchar(',');
		json_str(r->diff_lines[i]);
	}
	putchar(']');
	printf(",\"exit\":%d,\"problems\":[", r->exit);
	for (unsigned i = 0; i < r->nproblems; i++) {
		printf("%s{\"kind\":\"%s\",\"fixed\":%s,\"what\":",
			i ? "," : "", r->problems[i].kind,
			r->problems[i].fixed ? "true" : "false");
		json_str(r->problems[i].what);
		putchar('}');
	}
	fputs("]}", stdout);
}

/* The --json report (ofsrep-fsck(8) lists its fields). */
void fsck_report_json(const struct fsck_opts *o, int ex,
		      const struct fsck_node *r, size_t n)
{
	printf("{\"version\":1,\"secondary\":");
	json_str(o->secondary);
	printf(",\"mode\":\"%s\",\"exit\":%d,\"nodes\":[",
	       o->mode == ASK_NO ? "n" : o->mode == ASK_YES ? "y" : "p", ex);
	for (size_t i = 0; i < n; i++) {
		if (i)
			putchar(',');
		node_json(&r[i]);
	}
	printf("]}\n");
}
