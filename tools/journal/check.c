// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * check.c — the check command: walks every segment (walk.c), reports the
 * records, segments, epochs, last seq and how the journal ends
 * (jnl_end_describe()), as text or --json, then checks the applier's
 * checkpoint, if any, by reading the journal from it as the applier would.
 * The seed of ofsrep-fsck: it reads, it never repairs.  Exit 0 clean or
 * torn, 4 damaged, refused or an inconsistent checkpoint, 8 error.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "tools/journal/tool.h"

static const char *status_word(enum jnl_end_kind k)
{
	switch (k) {
	case JNL_END_NONE:	/* no segments at all */
	case JNL_END_CLEAN:
	case JNL_END_SEALED:
		return "clean";
	case JNL_END_TORN:
		return "torn";
	case JNL_END_EMPTY:
		return "empty";
	case JNL_END_DAMAGED:
		return "damaged";
	case JNL_END_REFUSED:
		return "refused";
	}
	return "?";
}

static const char *status_text(enum jnl_end_kind k)
{
	switch (k) {
	case JNL_END_TORN:
		return "torn tail (end of log, not an error)";
	case JNL_END_EMPTY:
		return "empty last segment (end of log, not an error)";
	case JNL_END_DAMAGED:
		return "DAMAGED";
	case JNL_END_REFUSED:
		return "REFUSED (written by a newer ofsrep)";
	default:
		return "clean";
	}
}

struct report {
	const struct journal *j;
	const struct opts *o;
	const struct jnl_reader *rd;
	const struct tally *t;
	const struct ckpt_check *cc;
	uint64_t digest;
	size_t ignored;		/* bytes after seals, all segments */
	int exit;
};

static void json_types(const struct tally *t)
{
	bool first = true;

	printf(",\"types\":{");
	for (unsigned i = 1; i <= JNL_OP_TYPE_MAX; i++) {
		if (!t->types[i])
			continue;
		printf("%s\"%s\":%" PRIu64, first ? "" : ",",
		       jnl_type_name(i), t->types[i]);
		first = false;
	}
	putchar('}');
}

static void json_segs(const struct journal *j)
{
	printf(",\"segs\":[");
	for (size_t i = 0; i < j->n; i++) {
		const struct seg_info *si = &j->info[i];

		printf("%s{\"segno\":%" PRIu64 ",\"bytes\":%zu,\"epoch\":%"
		       PRIu32 ",\"first_seq\":%" PRIu64 ",\"records\":%"
		       PRIu64 ",\"end\":\"%s\",\"ignored\":%zu}",
		       i ? "," : "", si->segno, si->len,
		       si->hdr_ok ? si->hdr.epoch : 0,
		       si->hdr_ok ? si->hdr.first_seq : 0, si->nrecs,
		       jnl_end_name(si->end), si->ignored);
	}
	putchar(']');
}

static void json_end(const struct jnl_end *e)
{
	char line[512];

	describe_end(e, line, sizeof(line));
	printf(",\"end\":{\"kind\":\"%s\",\"why\":\"%s\",\"rec\":\"%s\","
	       "\"segno\":%lld,\"offset\":%" PRIu64 ",\"seq\":%" PRIu64
	       ",\"found_seq\":%" PRIu64 ",\"found_off\":%" PRIu64
	       ",\"describe\":", jnl_end_name(e->kind), jnl_why_name(e->why),
	       jnl_rec_status_name(e->rec),
	       e->segno == JNL_SEGNO_UNKNOWN ? -1LL : (long long)e->segno,
	       e->offset, e->seq, e->found_seq, e->found_off);
	json_str(line);
	putchar('}');
}

static void json_ckpt(const struct ckpt_check *cc)
{
	if (!cc->present) {
		printf(",\"checkpoint\":null");
		return;
	}
	printf(",\"checkpoint\":{\"slot\":%u,\"epoch\":%" PRIu32 ",\"seq\":%"
	       PRIu64 ",\"segno\":%" PRIu64 ",\"offset\":%" PRIu64
	       ",\"consistent\":%s,\"pending\":%" PRIu64 ",\"describe\":",
	       cc->slot, cc->ck.epoch, cc->ck.seq, cc->ck.segno,
	       cc->ck.offset, cc->consistent ? "true" : "false", cc->pending);
	json_str(cc->line);
	putchar('}');
}

static void report_json(const struct report *p)
{
	const struct journal *j = p->j;
	const struct tally *t = p->t;

	printf("{\"node\":%" PRIu32 ",\"url\":", p->o->node);
	json_str(p->o->url);
	printf(",\"status\":\"%s\",\"exit\":%d,\"segments\":%zu,"
	       "\"records\":%" PRIu64 ",\"first_seq\":%" PRIu64
	       ",\"last_seq\":%" PRIu64 ",\"epochs\":%u,\"last_epoch\":%"
	       PRIu32 ",\"ignored\":%zu,\"ops_digest\":\"%016" PRIx64 "\"",
	       status_word(p->rd->end.kind), p->exit, j->n, t->nrecs,
	       t->first_seq, t->last_seq, t->nepochs, t->last_epoch,
	       p->ignored, p->digest);
	json_types(t);
	json_end(&p->rd->end);
	json_ckpt(p->cc);
	json_segs(j);
	printf("}\n");
}

static void report_segs(const struct journal *j)
{
	for (size_t i = 0; i < j->n; i++) {
		const struct seg_info *si = &j->info[i];

		printf("  segment %016" PRIx64 ": %zu bytes, ", si->segno,
		       si->len);
		if (si->hdr_ok)
			printf("epoch %" PRIu32 ", ", si->hdr.epoch);
		printf("%" PRIu64 " records", si->nrecs);
		if (si->nrecs)
			printf(" (seq %" PRIu64 "..%" PRIu64 ")", si->first_seq,
			       si->last_seq);
		printf(", %s\n", si->end ? jnl_end_name(si->end) : "not read");
	}
}

static void report_text(const struct report *p)
{
	const struct tally *t = p->t;
	const struct ckpt_check *cc = p->cc;
	char line[512];

	printf("node %" PRIu32 ": %s: %" PRIu64 " records", p->o->node,
	       status_text(p->rd->end.kind), t->nrecs);
	if (t->nrecs)
		printf(" (seq %" PRIu64 "..%" PRIu64 ")", t->first_seq,
		       t->last_seq);
	printf(" in %zu segment%s, %u epoch%s", p->j->n,
	       p->j->n == 1 ? "" : "s", t->nepochs,
	       t->nepochs == 1 ? "" : "s");
	if (t->nrecs)
		printf(" (last %" PRIu32 ")", t->last_epoch);
	printf("\n");
	if (p->o->verbose)
		report_segs(p->j);
	for (size_t i = 0; i < p->j->n; i++)
		if (p->j->info[i].ignored)
			printf("sealed: segment %016" PRIx64 ": %zu bytes after"
			       " seq %" PRIu64 " ignored (torn group or fenced "
			       "writer)\n", p->j->info[i].segno,
			       p->j->info[i].ignored, p->j->info[i].last_seq);
	describe_end(&p->rd->end, line, sizeof(line));
	printf("end: %s\n", line);
	if (cc->present)
		printf("checkpoint: slot %u, seq %" PRIu64 ", segment %016"
		       PRIx64 " offset %" PRIu64 ": %s%s (%" PRIu64
		       " records not yet applied)\n", cc->slot, cc->ck.seq,
		       cc->ck.segno, cc->ck.offset,
		       cc->consistent ? "" : "INCONSISTENT: ", cc->line,
		       cc->pending);
}

static int check_exit(const struct jnl_reader *rd,
		      const struct ckpt_check *cc)
{
	if (rd->end.kind == JNL_END_DAMAGED ||
	    rd->end.kind == JNL_END_REFUSED)
		return EX_UNCORRECTED;
	return cc->present && !cc->consistent ? EX_UNCORRECTED : EX_OK;
}

int cmd_check(const struct opts *o)
{
	struct journal j;
	struct jnl_reader rd;
	struct tally t = { 0 };
	struct ckpt_check cc = { 0 };
	struct report p = { .j = &j, .o = o, .rd = &rd, .t = &t, .cc = &cc };
	int rc = journal_open(&j, o, false);

	if (!rc) {
		t.xxh = XXH3_createState();
		rc = t.xxh ? 0 : -ENOMEM;
		if (t.xxh)
			XXH3_64bits_reset(t.xxh);
	}
	if (rc) {
		rc = op_error("check", rc == -ENOMEM ? "out of memory" : j.err);
		goto out;
	}
	jnl_rd_init(&rd, o->node);
	journal_walk(&j, &rd, 0, &t, true, 0);
	if (journal_check_ckpt(&j, o, &cc)) {
		rc = op_error("check", j.err);
		goto out;
	}
	p.digest = XXH3_64bits_digest(t.xxh);
	for (size_t i = 0; i < j.n; i++)
		p.ignored += j.info[i].ignored;
	p.exit = rc = check_exit(&rd, &cc);
	if (o->json)
		report_json(&p);
	else
		report_text(&p);
out:
	XXH3_freeState(t.xxh);
	journal_close(&j);
	return rc;
}
