// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for journal/reader.c, reading a sound journal: every record
 * in order across segments, new epochs that seal what came before,
 * skipped empty segments, checkpoints, following a live tail, and the
 * one-line description of the end.  Sibling files test torn tails
 * (test_journal_reader_torn.c) and the kinds of damage
 * (test_journal_reader_damage.c); all three build journals with the
 * appender into an in-memory "export" (journal_reader_fixture.h).
 *
 *   make && ./build/tests/test_journal_reader
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/journal_reader_fixture.h"

TestSuite(journal_reader, .fini = teardown);

Test(journal_reader, reads_every_record_in_order_across_segments)
{

	build(&fs, NODE, 1, 40, 3, 1024);
	cr_assert_gt(fs.nseg, 2, "the journal must span segments");
	cr_assert_eq(walk_all(&rd, &fs, &g), 0);
	cr_assert_eq(rd.end.kind, JNL_END_CLEAN);
	cr_assert_eq(g.n, 40);
	cr_assert_eq(rd.nrecs, 40);
	for (size_t i = 0; i < g.n; i++)
		cr_assert_eq(g.seq[i], i + 1);
}

Test(journal_reader, new_epoch_seals_a_torn_tail)
{
	struct jnl_appender a;
	uint8_t junk[37];

	build(&fs, NODE, 1, 5, 2, 1 << 20);
	memset(junk, 0x5a, sizeof(junk));
	splice(&fs, 0, fs.len[0], junk, sizeof(junk));
	resume(&fs, &a, 2);
	append_n(&fs, &a, 5, 4, 2);
	jnl_app_fini(&a);
	cr_assert_eq(fs.nseg, 2);
	cr_assert_eq(walk_all(&rd, &fs, &g), 0);
	cr_assert_eq(g.n, 9);
	cr_assert_eq(g.seq[8], 9);
	cr_assert_eq(rd.end.kind, JNL_END_CLEAN);
	cr_assert_eq(rd.epoch, 2);
}

Test(journal_reader, records_of_a_fenced_epoch_after_the_seal_are_ignored)
{
	struct jnl_app_conf c;
	struct jnl_appender old;
	struct jnl_appender a;

	memset(&fs, 0, sizeof(fs));
	cr_assert_eq(jnl_app_conf_genesis(&c, NODE, 1), 0);
	cr_assert_eq(jnl_app_init(&old, &c), 0);
	append_n(&fs, &old, 0, 4, 2);
	resume(&fs, &a, 2);			/* seals segment 0 at seq 4 */
	append_n(&fs, &a, 4, 3, 1);
	append_n(&fs, &old, 4, 2, 1);		/* the zombie writes on */
	jnl_app_fini(&old);
	jnl_app_fini(&a);
	cr_assert_eq(walk_all(&rd, &fs, &g), 0);
	cr_assert_eq(g.n, 7);
	for (size_t i = 0; i < g.n; i++)
		cr_assert_eq(g.seq[i], i + 1);
	cr_assert_eq(g.segno[4], 1, "seq 5 comes from epoch 2's segment");
}

Test(journal_reader, empty_segment_is_skipped_when_the_chain_continues)
{
	struct jnl_app_conf c;
	struct jnl_appender a;

	build(&fs, NODE, 1, 4, 2, 1 << 20);
	cr_assert_eq(walk_all(&rd, &fs, &g), 0);
	fs.seg[1] = calloc(1, 40);		/* created, header torn */
	fs.len[1] = 40;
	fs.nseg = 2;
	cr_assert_eq(walk_all(&rd, &fs, &g), 0);
	cr_assert_eq(rd.end.kind, JNL_END_EMPTY, "an empty tail ends it");
	cr_assert_eq(g.n, 4);
	cr_assert_eq(jnl_app_conf_resume(&c, &rd, 2), 0);
	c.segno = 2;				/* the writer skipped it */
	cr_assert_eq(jnl_app_init(&a, &c), 0);
	append_n(&fs, &a, 4, 3, 2);
	jnl_app_fini(&a);
	cr_assert_eq(walk_all(&rd, &fs, &g), 0);
	cr_assert_eq(rd.end.kind, JNL_END_CLEAN);
	cr_assert_eq(g.n, 7);
}

/* Read up to k records of segment s with a fresh or given reader. */
static void read_k(struct jnl_reader *r, struct jfs *j, size_t s,
		   size_t k, struct got *out)
{
	const uint8_t *next = s + 1 < j->nseg ? j->seg[s + 1] : NULL;
	struct jnl_rec rec;

	cr_assert_eq(jnl_rd_open(r, j->seg[s], j->len[s], next,
				 next ? j->len[s + 1] : 0), 0);
	while (out->n < k && jnl_rd_next(r, &rec) == 1)
		collect(out, &rec);
}

/* Checkpoint rd through a two-slot file and start a new reader from it. */
static void via_ckpt_file(const struct jnl_reader *r, struct jnl_reader *nrd)
{
	uint8_t file[2 * JNL_CKPT_SIZE] = { 0 };
	struct jnl_ckpt ck;
	unsigned slot;

	cr_assert_eq(jnl_rd_ckpt(r, &ck), 0);
	jnl_ckpt_encode(&ck, file + JNL_CKPT_SIZE);
	cr_assert_eq(jnl_ckpt_pick(file, sizeof(file), &ck, &slot), 0);
	cr_assert_eq(jnl_rd_init_ckpt(nrd, &ck), 0);
}

Test(journal_reader, checkpoint_resumes_in_the_middle_of_a_segment)
{
	struct jnl_reader nrd;

	build(&fs, NODE, 1, 12, 5, 1 << 20);
	cr_assert_eq(walk_all(&rd, &fs, &ref), 0);
	jnl_rd_init(&rd, NODE);
	read_k(&rd, &fs, 0, 7, &g);		/* mid-group */
	via_ckpt_file(&rd, &nrd);
	read_k(&nrd, &fs, 0, MAXREC, &g);
	cr_assert_eq(nrd.end.kind, JNL_END_CLEAN);
	cr_assert_eq(g.n, 12);
	assert_prefix(&g, &ref);
}

Test(journal_reader, checkpoint_at_a_seal_resumes_in_the_next_segment)
{
	struct jnl_reader nrd;
	struct jnl_ckpt ck;

	build(&fs, NODE, 1, 20, 2, 300);
	cr_assert_eq(walk_all(&rd, &fs, &ref), 0);
	jnl_rd_init(&rd, NODE);
	read_k(&rd, &fs, 0, MAXREC, &g);
	cr_assert_eq(rd.end.kind, JNL_END_SEALED);
	cr_assert_eq(jnl_rd_ckpt(&rd, &ck), 0);
	cr_assert_eq(ck.segno, 1);
	cr_assert_eq(ck.offset, JNL_SEG_HDR_SIZE);
	via_ckpt_file(&rd, &nrd);
	read_k(&nrd, &fs, 1, MAXREC, &g);
	assert_prefix(&g, &ref);
	cr_assert_eq(g.seq[g.n - 1], ref.seq[g.n - 1]);
	cr_assert_gt(g.n, rd.nrecs);
}

Test(journal_reader, checkpoint_that_does_not_match_the_journal_is_damage)
{
	struct jnl_ckpt ck;

	build(&fs, NODE, 1, 12, 3, 700);
	cr_assert_geq(fs.nseg, 2);
	jnl_rd_init(&rd, NODE);
	read_k(&rd, &fs, 0, 3, &g);
	cr_assert_eq(rd.end.kind, JNL_END_NONE, "stopped mid-segment");
	cr_assert_eq(jnl_rd_ckpt(&rd, &ck), 0);
	ck.chain ^= 1;
	cr_assert_eq(jnl_rd_init_ckpt(&rd, &ck), 0);
	cr_assert_eq(jnl_rd_open(&rd, fs.seg[0], fs.len[0], NULL, 0), 0);
	cr_assert_eq(jnl_rd_next(&rd, &(struct jnl_rec){ 0 }), -EUCLEAN);
	cr_assert_eq(rd.end.rec, JNL_REC_BAD_CHAIN);
	ck.chain ^= 1;
	cr_assert_eq(jnl_rd_init_ckpt(&rd, &ck), 0);
	cr_assert_eq(jnl_rd_open(&rd, fs.seg[1], fs.len[1], NULL, 0),
		     -EUCLEAN);
	cr_assert_eq(rd.end.why, JNL_WHY_SEG_ORDER);
	cr_assert_eq(jnl_rd_init_ckpt(&rd, &ck), 0);
	cr_assert_eq(jnl_rd_open(&rd, fs.seg[0], ck.offset - 8, NULL, 0),
		     -EUCLEAN);
	cr_assert_eq(rd.end.why, JNL_WHY_SHORT);
	ck.offset = 3;
	cr_assert_eq(jnl_rd_init_ckpt(&rd, &ck), -EINVAL);
}

Test(journal_reader, live_tail_is_followed_with_refresh)
{
	struct jnl_rec rec;
	size_t part;

	build(&fs, NODE, 1, 12, 3, 700);
	cr_assert_eq(walk_all(&rd, &fs, &ref), 0);
	cr_assert_eq(ref.segno[3], 0);
	part = ref.off[2] + 10;			/* mid-way through seq 3 */
	jnl_rd_init(&rd, NODE);
	cr_assert_eq(jnl_rd_open(&rd, fs.seg[0], part, NULL, 0), 0);
	while (jnl_rd_next(&rd, &rec) == 1)
		collect(&g, &rec);
	cr_assert_eq(g.n, 2);
	cr_assert_eq(rd.end.kind, JNL_END_TORN);
	cr_assert_eq(jnl_rd_refresh(&rd, fs.seg[0], fs.len[0], NULL, 0), 0);
	while (jnl_rd_next(&rd, &rec) == 1)
		collect(&g, &rec);
	cr_assert_eq(rd.end.kind, JNL_END_CLEAN);
	cr_assert_eq(jnl_rd_refresh(&rd, fs.seg[0], fs.len[0], fs.seg[1],
				    fs.len[1]), 0);
	cr_assert_eq(jnl_rd_next(&rd, &rec), 0);
	cr_assert_eq(rd.end.kind, JNL_END_SEALED);
	cr_assert_eq(jnl_rd_open(&rd, fs.seg[1], fs.len[1], NULL, 0), 0);
	while (jnl_rd_next(&rd, &rec) == 1)
		collect(&g, &rec);
	assert_prefix(&g, &ref);
	cr_assert_eq(g.seq[g.n - 1], g.n);
}

Test(journal_reader, opening_before_the_segment_is_done_is_refused)
{

	build(&fs, NODE, 1, 20, 2, 300);
	jnl_rd_init(&rd, NODE);
	cr_assert_eq(jnl_rd_next(&rd, &(struct jnl_rec){ 0 }), -EINVAL);
	cr_assert_eq(jnl_rd_open(&rd, fs.seg[0], fs.len[0], NULL, 0), 0);
	cr_assert_eq(jnl_rd_open(&rd, fs.seg[1], fs.len[1], NULL, 0),
		     -EINVAL);
}

Test(journal_reader, end_is_described_in_one_line)
{
	char line[256];

	build(&fs, NODE, 1, 6, 1, 1 << 20);
	cr_assert_eq(walk_all(&rd, &fs, &ref), 0);
	splice(&fs, 0, ref.off[2], fs.seg[0] + ref.off[3],
	       fs.len[0] - ref.off[3]);
	cr_assert_eq(walk_all(&rd, &fs, &g), -EUCLEAN);
	jnl_end_describe(&rd.end, line, sizeof(line));
	cr_assert(strstr(line, "damaged") && strstr(line, "gap"), "%s", line);
	cr_assert(strstr(line, "expected seq 3") &&
		  strstr(line, "found seq 4"), "%s", line);
}
