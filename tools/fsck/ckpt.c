/*
 * ckpt.c — ofsrep-fsck's repair of a checkpoint that cannot be trusted
 * (pass 2): both slots damaged, or a valid checkpoint that does not lead
 * to the journal's end (its segment gone, its offset not on a record).
 *
 * The checkpoint is the mirror's place in the journal.  Without it, what
 * the mirror has applied is unknown: replaying from the journal's start
 * would run records over a mirror far ahead of them, and skipping to the
 * end could leave out records it never got.  The one repair that needs no
 * guess is the one --resync=mirror makes after a spool overflow: make the
 * mirror equal to the primary (which has every acknowledged mutation, as
 * long as no failover made it stale), then checkpoint the journal's end.
 * So it needs PRIMARY_URL, asks (a full tree comparison is not what
 * preen does on its own), and is refused while the split-brain guard is
 * set, and while another node is mounted, has a marker of its own or has
 * records its keeper did not apply (tools/fsck/others.c).  The node's
 * overflowed spool, if any, is set aside after: the mirror has it all.
 *
 * Steps, each safe to interrupt and run again:
 *   1. the damaged checkpoint file is copied into the quarantine
 *      (.ofsrep/quarantine/<node>/<time>-<pid>-ckpt/applied.ckpt);
 *   2. the mirror is made equal to the primary (replica/treesync.c);
 *   3. a checkpoint at the journal's end is written to both slots, so
 *      nothing of the damaged one is left.
 * Interrupted before 3, the checkpoint is still the damaged one and the
 * next run does it all again (the resync then finds nothing to do).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "replica/treesync.h"
#include "tools/fsck/fsck.h"
#include "tools/journal/tool.h"

/* Step 1: the file as it was, for a human to look at. */
static int set_aside(struct journal *j, struct fsck_node *r)
{
	uint8_t buf[JSTORE_CKPT_FILE_SIZE];
	char name[64], dir[256], path[512];
	size_t len = 0;
	int rc = jstore_ckpt_read(&j->js, buf, &len, j->err, sizeof(j->err));

	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	snprintf(name, sizeof(name), "%lld-%d-ckpt", (long long)time(NULL),
		 (int)getpid());
	rc = jstore_quarantine_dir(&j->js, name, dir, sizeof(dir), j->err,
				   sizeof(j->err));
	if (rc)
		return rc;
	snprintf(path, sizeof(path), "%s/%s", dir, JSTORE_CKPT_NAME);
	rc = jstore_put(&j->js, path, buf, len, j->err, sizeof(j->err));
	if (!rc)
		snprintf(r->quarantine, sizeof(r->quarantine), "%s", dir);
	return rc;
}

/* Step 3: the journal's end as the checkpoint, in both slots.  An empty
 * journal has no end to name: the file goes, which means "nothing
 * applied yet" and so nothing left to apply. */
static int checkpoint_end(struct journal *j, struct fsck_node *r)
{
	struct jnl_reader rd;
	struct tally t = { 0 };
	struct jnl_ckpt ck;
	int rc;

	jnl_rd_init(&rd, r->node);
	rc = journal_walk(j, &rd, 0, &t, false, 0);
	if (rc) {
		describe_end(&rd.end, j->err, sizeof(j->err));
		return rc;
	}
	if (!t.nrecs || jnl_rd_ckpt(&rd, &ck))
		return jstore_file_remove(&j->js, JSTORE_CKPT_NAME, j->err,
					  sizeof(j->err));
	for (unsigned slot = 0; slot < JNL_CKPT_SLOTS; slot++) {
		rc = jstore_ckpt_store(&j->js, slot, &ck, j->err,
				       sizeof(j->err));
		if (rc)
			return rc;
	}
	r->have_ckpt = true;
	r->ckpt_damaged = false;
	r->ckpt_seq = ck.seq;
	r->ckpt_epoch = ck.epoch;
	/* the resync may have made mapped objects again (tools/fsck/fids.c) */
	return fsck_fids_forget(&j->js, ck.epoch, j->err, sizeof(j->err));
}

void fsck_ckpt_repair(const struct fsck_opts *o, struct journal *j,
		      bool may, const struct ckpt_check *cc,
		      struct fsck_node *r)
{
	char err[JSTORE_ERR_MAX];
	struct ts_stats st;
	long long since = 0;
	int stale = jstore_stale_read(&j->js, &since, err, sizeof(err));
	int rc;

	fsck_say(o, "Node %" PRIu32 ": the checkpoint cannot be trusted: "
		 "%s\n", r->node, cc->line);
	if (stale) {
		fsck_problem(r, "checkpoint", false, "%s; and a failover made "
			     "the primary stale, so the mirror cannot be "
			     "rebuilt from it: run --resync=primary first, "
			     "then this again", cc->line);
		r->exit |= stale < 0 ? FX_ERROR : FX_UNCORRECTED;
		return;
	}
	if (!o->primary) {
		fsck_problem(r, "checkpoint", false, "%s; run again with "
			     "PRIMARY_URL (and -y): the mirror is then made "
			     "equal to the primary and the journal's end "
			     "checkpointed", cc->line);
		r->exit |= FX_UNCORRECTED;
		return;
	}
	if (may && !fsck_others_quiet(o, r->node, true, err, sizeof(err))) {
		fsck_problem(r, "checkpoint", false, "%s; not rebuilt: %s",
			     cc->line, err);
		r->exit |= FX_UNCORRECTED;
		return;
	}
	if (!may || !fsck_ask(o, false, "Node %" PRIu32 ": the checkpoint "
			      "cannot be trusted (%s).  Make the mirror equal "
			      "to the primary and checkpoint the journal's end",
			      r->node, cc->damaged ? "both slots damaged" :
			      "it does not lead to the journal's end")) {
		fsck_problem(r, "checkpoint", false, "%s", cc->line);
		r->exit |= FX_UNCORRECTED;
		return;
	}
	rc = set_aside(j, r);
	if (!rc) {
		fsck_say(o, "Node %" PRIu32 ": pass 2: making the mirror equal "
			 "to the primary\n", r->node);
		rc = fsck_tree_run(o, r, true, may, false, &st);
		if (rc) {
			fsck_problem(r, "checkpoint", false, "%s; the mirror "
				     "was not rebuilt (see above)", cc->line);
			return;
		}
		fsck_say(o, "Node %" PRIu32 ": %" PRIu64 " objects compared, "
			 "%" PRIu64 " made equal, %" PRIu64 " xattr blobs of "
			 "removed objects removed\n", r->node, st.entries,
			 st.fixed, st.xattr_reclaimed);
		r->xattr_orphans = st.xattr_orphans;
		r->xattr_reclaimed = st.xattr_reclaimed;
		rc = checkpoint_end(j, r);
	}
	if (rc) {
		fsck_problem(r, "checkpoint", false, "%s; repair failed: %s",
			     cc->line, j->err);
		r->exit |= FX_ERROR;
		return;
	}
	fsck_problem(r, "checkpoint", true, "%s; the mirror was made equal to "
		     "the primary and the journal's end checkpointed (seq %"
		     PRIu64 "), the old file kept in %s", cc->line,
		     r->ckpt_seq, r->quarantine[0] ? r->quarantine : "-");
	r->pending = 0;
	r->exit |= FX_CORRECTED;
	fsck_spool_aside(o, r->node);
}
