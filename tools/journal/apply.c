// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * apply.c — the apply command: runs the mirror applier
 * (replica/applier.h) over the node's journal into EXPORT/.ofsrep/mirror
 * and prints what it did, as text or --json.  Exit 4 when the journal is
 * damaged or the mirror does not fit it (nothing after is applied), 8 on
 * an operational error.  OFSREP_APPLY_TRACE=FILE traces the applier.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replica/applier.h"
#include "replica/lease.h"
#include "tools/journal/tool.h"

static void apply_json(const struct opts *o, const struct apl *a, int ex,
		       double secs)
{
	const struct apl_stats *st = &a->st;
	char line[512];

	printf("{\"node\":%" PRIu32 ",\"exit\":%d,\"records\":%" PRIu64
	       ",\"applied\":%" PRIu64 ",\"skipped\":%" PRIu64
	       ",\"skipped_xattr\":%" PRIu64 ",\"xattr_sets\":%" PRIu64
	       ",\"stale\":%" PRIu64
	       ",\"first_seq\":%" PRIu64 ",\"last_seq\":%" PRIu64
	       ",\"start_seq\":%" PRIu64, o->node, ex, st->records,
	       st->applied, st->skipped, st->skipped_xattr, st->xattr_sets,
	       st->stale,
	       st->first_seq, st->last_seq, st->start_seq);
	if (st->have_ckpt)
		printf(",\"checkpoint\":{\"seq\":%" PRIu64 ",\"epoch\":%" PRIu32
		       ",\"segno\":%" PRIu64 ",\"offset\":%" PRIu64 "}",
		       st->ckpt.seq, st->ckpt.epoch, st->ckpt.segno,
		       st->ckpt.offset);
	else
		printf(",\"checkpoint\":null");
	printf(",\"batches\":%" PRIu64 ",\"dones\":%" PRIu64 ",\"existing\":%"
	       PRIu64 ",\"replayed\":%" PRIu64 ",\"orphaned\":%" PRIu64
	       ",\"reaped\":%" PRIu64 ",\"coalesced\":%" PRIu64
	       ",\"write_rpcs\":%" PRIu64 ",\"commits\":%" PRIu64
	       ",\"bytes\":%" PRIu64 ",\"flog_writes\":%" PRIu64
	       ",\"seconds\":%.6f,\"records_s\":%.1f", st->batches,
	       st->dones, st->existing, st->replayed, st->orphaned,
	       st->reaped, st->coalesced, st->write_rpcs, st->commits,
	       st->bytes, st->flog_writes, secs,
	       secs > 0 ? (double)st->records / secs : 0);
	describe_end(&st->end, line, sizeof(line));
	printf(",\"stopped\":%s,\"end\":", st->stopped ? "true" : "false");
	json_str(st->no_journal ? "no journal" : line);
	printf(",\"error\":");
	if (ex)
		json_str(a->err);
	else
		printf("null");
	printf("}\n");
}

static void apply_text(const struct opts *o, const struct apl *a,
		       double secs)
{
	const struct apl_stats *st = &a->st;
	char line[512];

	if (st->no_journal) {
		printf("node %" PRIu32 ": no journal, nothing to apply\n",
		       o->node);
		return;
	}
	printf("node %" PRIu32 ": applied %" PRIu64 " records (%" PRIu64
	       " xattr sets stored), skipped %" PRIu64, o->node, st->applied,
	       st->xattr_sets, st->skipped);
	if (st->records)
		printf(", seq %" PRIu64 "..%" PRIu64, st->first_seq,
		       st->last_seq);
	if (st->have_ckpt)
		printf("; checkpoint seq %" PRIu64 " (segment %016" PRIx64
		       " offset %" PRIu64 ")", st->ckpt.seq, st->ckpt.segno,
		       st->ckpt.offset);
	printf("; %" PRIu64 " batches, %.3f s, %.0f records/s\n",
	       st->batches, secs, secs > 0 ? (double)st->records / secs : 0);
	printf("details: %" PRIu64 " WRITE RPCs (%" PRIu64 " records "
	       "coalesced), %" PRIu64 " COMMITs, %" PRIu64 " bytes; %" PRIu64
	       " found existing, %" PRIu64 " found applied before; %" PRIu64
	       " orphaned, %" PRIu64 " orphans removed, %" PRIu64 " stale; %"
	       PRIu64 " fid log writes (%" PRIu64 " DONE marks)\n",
	       st->write_rpcs, st->coalesced, st->commits, st->bytes,
	       st->existing, st->replayed, st->orphaned, st->reaped,
	       st->stale, st->flog_writes, st->dones);
	describe_end(&st->end, line, sizeof(line));
	printf("end: %s\n", line);
}

/* The node's journal lease (replica/lease.c): a live mount's journal is
 * its own mirror keeper's to apply; take it for the run, drop it after. */
static bool held;

static int apply_lease(struct apl *a, bool take)
{
	struct lease me, cur;
	int rc;

	if (!take) {
		char err[JSTORE_ERR_MAX];

		/* Quietly: if NAS b is gone, the lease dies with this
		 * process (rule L2) or expires (L3); one error line is
		 * enough. */
		if (!a->js.broken)
			lease_drop(&a->js, err, sizeof(err));
		return 0;
	}
	if (!a->have_jdir)
		return 0;	/* no journal directory: nothing to hold */
	/* A noapply mount writes the journal and leaves applying to this
	 * tool: its lease stays, and the run goes on beside it. */
	if (!lease_read(&a->js, &cur, a->err, sizeof(a->err)) &&
	    lease_live(&cur) && !strcmp(cur.holder, "ofsrep-noapply")) {
		a->err[0] = 0;
		return 0;
	}
	a->err[0] = 0;
	lease_self(&me, PROG, NULL);
	rc = lease_take(&a->js, &me, a->err, sizeof(a->err));
	if (rc == -EBUSY) {
		size_t n = strlen(a->err);

		snprintf(a->err + n, sizeof(a->err) - n, "; the mount applies "
			 "its journal itself: unmount it first");
	}
	held = !rc;
	return rc;
}

int cmd_apply(const struct opts *o)
{
	struct apl_conf conf = {
		.url = o->url, .node = o->node, .batch = (uint32_t)o->batch,
		.upto = o->to, .timeout_ms = o->timeout_ms,
	};
	struct apl *a = calloc(1, sizeof(*a));
	double t0 = mono_s();
	int rc;
	int ex;

	if (!a)
		return op_error("apply", "out of memory");
	/* debugging the applier: OFSREP_APPLY_TRACE=FILE appends a line per
	 * record and per replay decision */
	if (getenv("OFSREP_APPLY_TRACE"))
		conf.trace = fopen(getenv("OFSREP_APPLY_TRACE"), "a");
	rc = apl_open(a, &conf);
	if (!rc && !a->st.no_journal)
		rc = apply_lease(a, true);
	if (!rc)
		rc = apl_run(a);
	if (held)
		apply_lease(a, false);
	ex = !rc ? EX_OK : rc == -EUCLEAN || rc == -EPROTO ? EX_UNCORRECTED :
	     EX_ERROR;
	if (o->json)
		apply_json(o, a, ex, mono_s() - t0);
	else if (!rc)
		apply_text(o, a, mono_s() - t0);
	if (rc)
		fprintf(stderr, PROG " apply: %s\n", a->err);
	apl_close(a);
	free(a);
	if (conf.trace)
		fclose(conf.trace);
	return ex;
}
