// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * append.c — the append command: reads the node's journal to its end
 * (walk.c), takes a new epoch (W2) and continues the journal (W3) through
 * the group-commit appender (journal/appender.h), each group one durable
 * write to the export (replica/jstore.h).  The records come from syn.c
 * (--count) or script.c (--script).  A failed write ends the run with one
 * line saying how far the journal is durable; the next run resumes after
 * it.  Refuses (exit 4) to continue a damaged journal.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "journal/appender.h"
#include "tools/journal/tool.h"

struct run {
	struct journal *j;
	struct jnl_appender a;
	uint64_t stale_from;	/* segments >= this exist and are EMPTY */
	bool stale;		/* ... if any exist at all */
	uint64_t groups;
	uint64_t bytes;
	uint64_t segments;	/* created by this run */
	uint64_t first_segno;
	uint64_t last_segno;
	uint64_t records;	/* appended by this run */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Write the filling group, if any: create its segment, write, done. */
static int run_flush(struct run *r)
{
	struct journal *j = r->j;
	struct jnl_app_write w;
	unsigned flags;
	int rc = jnl_app_flush(&r->a, &w);

	if (rc == -ENODATA)
		return 0;
	if (rc)
		return rc;
	if (w.new_segment) {
		/* W5: only a segment the reader found EMPTY is rewritten */
		flags = r->stale && w.segno >= r->stale_from ?
			JSTORE_REPLACE : 0;
		rc = jstore_seg_create(&j->js, w.segno, flags, j->err,
				       sizeof(j->err));
		if (rc)
			return rc;
		r->first_segno = r->segments++ ? r->first_segno : w.segno;
		r->last_segno = w.segno;
	}
	rc = jstore_seg_write(&j->js, w.segno, w.offset, w.data, w.len,
			      j->err, sizeof(j->err));
	if (rc)
		return rc;
	r->groups++;
	r->bytes += w.len;
	return jnl_app_done(&r->a);
}

/* The next op to append: synthetic or from the script.  1, 0, -errno */
static int run_next(struct run *r, const struct opts *o, struct syn *y,
		    struct script *sc, struct jnl_op *op)
{
	int rc;

	if (!sc) {
		if (r->records == o->count)
			return 0;
		syn_op(y, op, r->a.next_seq, r->records == 0);
		return 1;
	}
	rc = script_next(sc, op);
	if (rc < 0)
		snprintf(r->j->err, sizeof(r->j->err), "%s", sc->err);
	return rc;
}

/* Append o->count synthetic records, or the script's, o->group per group. */
static int run_records(struct run *r, const struct opts *o, struct syn *y,
		       struct script *sc)
{
	struct jnl_op op;
	uint64_t in_group = 0;
	uint64_t seq;
	int rc;

	while ((rc = run_next(r, o, y, sc, &op)) == 1) {
		r->records++;
		rc = jnl_app_append(&r->a, &op, now_ns(), &seq);
		if (rc == -ENOBUFS) {	/* group_limit reached before G */
			in_group = 0;
			rc = run_flush(r);
			if (!rc)
				rc = jnl_app_append(&r->a, &op, now_ns(),
						    &seq);
		}
		if (rc)
			return rc;
		if (++in_group == o->group) {
			in_group = 0;
			rc = run_flush(r);
			if (rc)
				return rc;
		}
	}
	return rc ? rc : run_flush(r);
}

/* W2: greater than the journal's last epoch, Unix time if that is more. */
static int new_epoch(const struct jnl_reader *rd, uint32_t *epoch)
{
	uint64_t e = (uint64_t)time(NULL);

	if (rd->phase == JNL_RD_SEG && e <= rd->epoch)
		e = (uint64_t)rd->epoch + 1;
	if (e > UINT32_MAX)
		return -EOVERFLOW;
	*epoch = (uint32_t)e;
	return 0;
}

/* The configuration that continues what rd read (W3), or a new journal. */
static int run_conf(struct run *r, const struct opts *o,
		    const struct jnl_reader *rd, struct jnl_app_conf *c)
{
	uint32_t epoch;
	int rc = new_epoch(rd, &epoch);

	if (rc)
		return rc;
	/* no segment at all leaves the reader at END_NONE, which
	 * jnl_app_conf_resume() takes for "not read to the end" (-EINVAL) */
	rc = rd->phase == JNL_RD_SEG ? jnl_app_conf_resume(c, rd, epoch) :
				       -ENODATA;
	if (rc == -ENODATA)
		rc = jnl_app_conf_genesis(c, o->node, epoch);
	if (rc)
		return rc;
	c->seg_limit = o->seg_limit;
	/* files at or above the first new segment hold no valid record
	 * (jnl_app_conf_resume), so those may be replaced */
	r->stale = r->j->n && r->j->info[r->j->n - 1].segno >= c->segno;
	r->stale_from = c->segno;
	return 0;
}

static void run_report(const struct run *r, const struct opts *o,
		       uint64_t first, double secs)
{
	double rate = secs > 0 ? (double)r->records / secs : 0;

	if (o->json) {
		printf("{\"node\":%" PRIu32 ",\"epoch\":%" PRIu32
		       ",\"records\":%" PRIu64 ",\"first_seq\":%" PRIu64
		       ",\"last_seq\":%" PRIu64 ",\"groups\":%" PRIu64
		       ",\"group\":%" PRIu64 ",\"bytes\":%" PRIu64
		       ",\"segments_created\":%" PRIu64
		       ",\"seconds\":%.6f,\"records_s\":%.1f}\n",
		       o->node, r->a.epoch, r->records, first,
		       jnl_app_durable(&r->a), r->groups, o->group, r->bytes,
		       r->segments, secs, rate);
		return;
	}
	printf("node %" PRIu32 " epoch %" PRIu32 ": appended %" PRIu64
	       " records (seq %" PRIu64 "..%" PRIu64 ") in %" PRIu64
	       " groups, %" PRIu64 " bytes, segments %016" PRIx64 "..%016"
	       PRIx64 ", %.3f s, %.0f records/s\n", o->node, r->a.epoch,
	       r->records, first, jnl_app_durable(&r->a), r->groups, r->bytes,
	       r->first_segno, r->last_segno, secs, rate);
}

/* The failed run's one line: what failed and how far it is durable. */
static int run_failed(const struct run *r, int rc)
{
	const char *what = r->j->err[0] ? r->j->err :
			   rc == -EINVAL ? "invalid record" :
			   rc == -ENOMEM ? "out of memory" : strerror(-rc);

	fprintf(stderr, PROG " append: %s; journal durable up to seq %"
		PRIu64 ", epoch %" PRIu32 "\n", what,
		jnl_app_durable(&r->a), r->a.epoch);
	return EX_ERROR;
}

static int run_append(struct journal *j, const struct opts *o,
		      const struct jnl_reader *rd)
{
	struct run r = { .j = j };
	struct jnl_app_conf c;
	struct syn y = { .payload = o->payload };
	struct script sc;
	uint64_t first;
	double t0;
	int rc = run_conf(&r, o, rd, &c);

	if (!rc)
		rc = jnl_app_init(&r.a, &c);
	if (rc) {
		fprintf(stderr, PROG " append: node %" PRIu32 ": cannot "
			"continue the journal: %s\n", o->node, strerror(-rc));
		return EX_ERROR;
	}
	journal_free(j);	/* the reader is done with the bytes */
	j->err[0] = 0;
	y.data = malloc(o->payload);
	if (!y.data || (o->script && script_open(&sc, o->script))) {
		free(y.data);
		jnl_app_fini(&r.a);
		return op_error("append", y.data ? sc.err : "out of memory");
	}
	first = r.a.next_seq;
	t0 = mono_s();
	rc = run_records(&r, o, &y, o->script ? &sc : NULL);
	if (rc)
		rc = run_failed(&r, rc);
	else
		run_report(&r, o, first, mono_s() - t0);
	if (o->script)
		script_close(&sc);
	free(y.data);
	jnl_app_fini(&r.a);
	return rc;
}

int cmd_append(const struct opts *o)
{
	struct journal j;
	struct jnl_reader rd;
	struct tally t = { 0 };
	char line[512];
	uint64_t n;
	int rc;

	if (o->script && script_check(o->script, &n))
		return EX_USAGE;	/* nothing written */
	rc = journal_open(&j, o, true);
	if (rc) {
		rc = op_error("append", j.err);
		goto out;
	}
	jnl_rd_init(&rd, o->node);
	rc = journal_walk(&j, &rd, 0, &t, true, 0);
	if (rc) {
		describe_end(&rd.end, line, sizeof(line));
		fprintf(stderr, PROG " append: node %" PRIu32 ": the journal "
			"cannot be continued: %s; run " PROG " check\n",
			o->node, line);
		rc = EX_UNCORRECTED;
		goto out;
	}
	rc = run_append(&j, o, &rd);
out:
	journal_close(&j);
	return rc;
}
