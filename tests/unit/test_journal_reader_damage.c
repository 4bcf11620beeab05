// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for journal/reader.c: each kind of damage the RECOVERY RULE
 * and SEGMENT SEQUENCE of journal/format.h name, and refusal (-EPROTO)
 * of what a newer ofsrep wrote.  Journals come from
 * journal_reader_fixture.h, then are spliced, swapped, duplicated and
 * restamped.
 *
 *   make && ./build/tests/test_journal_reader_damage
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "tests/unit/journal_reader_fixture.h"

TestSuite(journal_reader, .fini = teardown);

Test(journal_reader, missing_record_is_reported_as_a_gap)
{

	build(&fs, NODE, 1, 6, 1, 1 << 20);
	cr_assert_eq(walk_all(&rd, &fs, &ref), 0);
	splice(&fs, 0, ref.off[2], fs.seg[0] + ref.off[3],
	       fs.len[0] - ref.off[3]);			/* drop seq 3 */
	cr_assert_eq(walk_all(&rd, &fs, &g), -EUCLEAN);
	cr_assert_eq(g.n, 2);
	cr_assert_eq(rd.end.why, JNL_WHY_RECORD);
	cr_assert_eq(rd.end.rec, JNL_REC_GAP);
	cr_assert_eq(rd.end.seq, 3);
	cr_assert_eq(rd.end.found_seq, 4);
}

Test(journal_reader, replayed_record_is_reported)
{
	uint8_t *copy;
	size_t tail;

	build(&fs, NODE, 1, 4, 1, 1 << 20);
	cr_assert_eq(walk_all(&rd, &fs, &ref), 0);
	tail = fs.len[0] - ref.off[1];
	copy = malloc(tail);
	memcpy(copy, fs.seg[0] + ref.off[1], tail);
	splice(&fs, 0, ref.off[3], copy, tail);		/* 1 2 3 2 3 4 */
	cr_assert_eq(walk_all(&rd, &fs, &g), -EUCLEAN);
	cr_assert_eq(g.n, 3);
	cr_assert_eq(rd.end.rec, JNL_REC_REPLAY);
	cr_assert_eq(rd.end.seq, 4);
	cr_assert_eq(rd.end.found_seq, 2);
	free(copy);
}

Test(journal_reader, diverged_history_is_a_chain_break)
{
	struct jnl_app_conf c;
	struct jnl_appender w;
	struct jfs a;
	struct jfs b;
	struct got ra;
	struct got rb;

	build(&a, NODE, 1, 6, 1, 1 << 20);
	memset(&b, 0, sizeof(b));		/* same writer, other seq 3 */
	cr_assert_eq(jnl_app_conf_genesis(&c, NODE, 1), 0);
	cr_assert_eq(jnl_app_init(&w, &c), 0);
	append_n(&b, &w, 0, 2, 1);
	append_n(&b, &w, 10, 1, 1);
	append_n(&b, &w, 3, 3, 1);
	jnl_app_fini(&w);
	cr_assert_eq(walk_all(&rd, &a, &ra), 0);
	cr_assert_eq(walk_all(&rd, &b, &rb), 0);
	cr_assert_neq(ra.cksum[2], rb.cksum[2]);
	/* a's records 1-3, then b's 4-6, whose chain follows b's 3 */
	splice(&a, 0, ra.off[3], b.seg[0] + rb.off[3], b.len[0] - rb.off[3]);
	cr_assert_eq(walk_all(&rd, &a, &g), -EUCLEAN);
	cr_assert_eq(g.n, 3);
	cr_assert_eq(rd.end.rec, JNL_REC_BAD_CHAIN);
	cr_assert_eq(rd.end.seq, 4);
	jfs_free(&a);
	jfs_free(&b);
}

Test(journal_reader, segment_continuing_another_history_is_a_chain_break)
{
	struct jnl_app_conf c;
	struct jnl_appender w;
	struct jnl_rec rec;
	struct jfs b;

	build(&fs, NODE, 1, 20, 2, 300);
	memset(&b, 0, sizeof(b));		/* records 1-2 differ */
	cr_assert_eq(jnl_app_conf_genesis(&c, NODE, 1), 0);
	c.seg_limit = 300;
	cr_assert_eq(jnl_app_init(&w, &c), 0);
	append_n(&b, &w, 40, 2, 2);		/* same sizes as ops 0, 1 */
	append_n(&b, &w, 2, 18, 2);
	jnl_app_fini(&w);
	free(fs.seg[1]);			/* a's segment 0, b's 1 */
	fs.seg[1] = b.seg[1];
	fs.len[1] = b.len[1];
	b.seg[1] = NULL;
	cr_assert_eq(walk_all(&rd, &fs, &g), -EUCLEAN, "sealed path");
	cr_assert_eq(rd.end.why, JNL_WHY_CHAIN);
	cr_assert_eq(rd.end.found_segno, 1);
	jnl_rd_init(&rd, NODE);			/* a follower without seal */
	cr_assert_eq(jnl_rd_open(&rd, fs.seg[0], fs.len[0], NULL, 0), 0);
	while (jnl_rd_next(&rd, &rec) == 1)
		;
	cr_assert_eq(jnl_rd_open(&rd, fs.seg[1], fs.len[1], NULL, 0),
		     -EUCLEAN);
	cr_assert_eq(rd.end.why, JNL_WHY_CHAIN, "%s",
		     jnl_why_name(rd.end.why));
	cr_assert_eq(rd.end.seq, 3);
	jfs_free(&b);
}

/* Replace record seq k (index k-1) of a one-segment journal with one
 * carrying node/epoch, right seq and prev, and cut the rest. */
static void splice_foreign(struct jfs *j, const struct got *want, size_t k,
			   uint32_t node, uint32_t epoch)
{
	struct jnl_op op = op_for(0);
	struct jnl_rec_hdr h = { .node = node, .epoch = epoch,
		.seq = k, .prev = want->cksum[k - 2] };
	uint8_t buf[512];
	size_t reclen;

	cr_assert_eq(jnl_rec_encode(&h, &op, buf, sizeof(buf), &reclen), 0);
	splice(j, 0, want->off[k - 1], buf, reclen);
}

Test(journal_reader, record_from_another_epoch_is_damage)
{

	build(&fs, NODE, 5, 4, 1, 1 << 20);
	cr_assert_eq(walk_all(&rd, &fs, &ref), 0);
	splice_foreign(&fs, &ref, 3, NODE, 4);
	cr_assert_eq(walk_all(&rd, &fs, &g), -EUCLEAN);
	cr_assert_eq(g.n, 2);
	cr_assert_eq(rd.end.rec, JNL_REC_OLD_EPOCH);
	cr_assert_eq(rd.end.found_epoch, 4);
	cr_assert_eq(rd.end.seq, 3);
	splice_foreign(&fs, &ref, 3, NODE, 6);
	cr_assert_eq(walk_all(&rd, &fs, &g), -EUCLEAN);
	cr_assert_eq(rd.end.rec, JNL_REC_NEW_EPOCH);
}

Test(journal_reader, record_from_another_node_is_damage)
{

	build(&fs, NODE, 5, 4, 1, 1 << 20);
	cr_assert_eq(walk_all(&rd, &fs, &ref), 0);
	splice_foreign(&fs, &ref, 2, NODE + 1, 5);
	cr_assert_eq(walk_all(&rd, &fs, &g), -EUCLEAN);
	cr_assert_eq(g.n, 1);
	cr_assert_eq(rd.end.rec, JNL_REC_FOREIGN_NODE);
	cr_assert_eq(rd.end.found_node, NODE + 1);
	cr_assert_eq(rd.end.seq, 2);
}

Test(journal_reader, segment_of_another_node_is_damage)
{
	struct jfs other;

	build(&fs, NODE, 1, 20, 2, 300);
	build(&other, NODE + 1, 1, 20, 2, 300);
	free(fs.seg[1]);
	fs.seg[1] = other.seg[1];
	other.seg[1] = NULL;
	fs.len[1] = other.len[1];
	cr_assert_eq(walk_all(&rd, &fs, &g), -EUCLEAN);
	cr_assert_eq(rd.end.why, JNL_WHY_NODE);
	cr_assert_eq(rd.end.found_node, NODE + 1);
	cr_assert_eq(rd.end.segno, 1);
	jfs_free(&other);
}

Test(journal_reader, swapped_segments_are_detected)
{

	build(&fs, NODE, 1, 30, 2, 300);
	cr_assert_geq(fs.nseg, 3);
	cr_assert_eq(walk_order(&rd, &fs, (int[]){ 0, 2, 1, -1 }, &g),
		     -EUCLEAN);
	cr_assert_eq(rd.end.why, JNL_WHY_GAP, "%s", jnl_why_name(rd.end.why));
	cr_assert_eq(rd.end.found_segno, 2);
	cr_assert_eq(rd.end.seq, g.n + 1);
	cr_assert_eq(walk_order(&rd, &fs, (int[]){ 1, 0, -1 }, &g), -EUCLEAN);
	cr_assert_eq(rd.end.why, JNL_WHY_SEG_ORDER);
	cr_assert_eq(rd.end.found_segno, 0);
}

Test(journal_reader, duplicated_segment_is_detected)
{

	build(&fs, NODE, 1, 30, 2, 300);
	cr_assert_eq(walk_order(&rd, &fs, (int[]){ 0, 1, 1, -1 }, &g),
		     -EUCLEAN);
	cr_assert_eq(rd.end.why, JNL_WHY_SEG_DUP);
	cr_assert_eq(rd.end.found_segno, 1);
	cr_assert_eq(walk_order(&rd, &fs, (int[]){ 0, 1, 0, -1 }, &g),
		     -EUCLEAN);
	cr_assert_eq(rd.end.why, JNL_WHY_SEG_ORDER);
}

Test(journal_reader, records_read_beyond_a_later_seal_are_an_overlap)
{
	struct jnl_app_conf c;
	struct jnl_appender old;
	struct jnl_appender a;
	struct jnl_rec rec;
	int rc;

	memset(&fs, 0, sizeof(fs));
	cr_assert_eq(jnl_app_conf_genesis(&c, NODE, 1), 0);
	cr_assert_eq(jnl_app_init(&old, &c), 0);
	append_n(&fs, &old, 0, 3, 1);
	resume(&fs, &a, 2);
	append_n(&fs, &old, 3, 2, 1);		/* zombie: seq 4, 5 */
	append_n(&fs, &a, 3, 1, 1);		/* epoch 2: seq 4 */
	jnl_rd_init(&rd, NODE);
	cr_assert_eq(jnl_rd_open(&rd, fs.seg[0], fs.len[0], NULL, 0), 0);
	while ((rc = jnl_rd_next(&rd, &rec)) == 1)
		;
	cr_assert_eq(rd.nrecs, 5, "unsealed, the zombie's records look fine");
	rc = jnl_rd_refresh(&rd, fs.seg[0], fs.len[0], fs.seg[1], fs.len[1]);
	cr_assert_eq(rc, -EUCLEAN);
	cr_assert_eq(rd.end.why, JNL_WHY_OVERLAP);
	cr_assert_eq(rd.end.found_seq, 4);
	jnl_app_fini(&old);
	jnl_app_fini(&a);
}

Test(journal_reader, segment_from_an_older_epoch_after_a_newer_one_is_damage)
{
	struct jnl_app_conf c;
	struct jnl_appender zombie;
	struct jnl_appender a;

	build(&fs, NODE, 5, 4, 2, 1 << 20);
	resume(&fs, &a, 6);
	append_n(&fs, &a, 4, 2, 2);
	cr_assert_eq(walk_all(&rd, &fs, &g), 0);
	cr_assert_eq(jnl_app_conf_resume(&c, &rd, 7), 0);
	c.epoch = 5;				/* a zombie of epoch 5 */
	cr_assert_eq(jnl_app_init(&zombie, &c), 0);
	append_n(&fs, &zombie, 6, 2, 2);
	cr_assert_eq(fs.nseg, 3);
	cr_assert_eq(walk_all(&rd, &fs, &g), -EUCLEAN);
	cr_assert_eq(g.n, 6);
	cr_assert_eq(rd.end.why, JNL_WHY_EPOCH);
	cr_assert_eq(rd.end.found_epoch, 5);
	jnl_app_fini(&a);
	jnl_app_fini(&zombie);
}

/* Rewrite segment s's header with version/incompat, resealed. */
static void restamp(struct jfs *j, size_t s, uint32_t version,
		    uint32_t incompat)
{
	struct jnl_seg_hdr h;

	cr_assert_eq(jnl_seg_decode(j->seg[s], j->len[s], &h), JNL_SEG_OK);
	h.version = version;
	h.incompat = incompat;
	jnl_seg_encode(&h, j->seg[s]);
}

Test(journal_reader, unknown_version_is_refused_with_eproto)
{

	build(&fs, NODE, 1, 20, 2, 300);
	restamp(&fs, 1, JNL_VERSION + 1, 0);
	cr_assert_eq(walk_all(&rd, &fs, &g), -EPROTO);
	cr_assert_eq(rd.end.kind, JNL_END_REFUSED);
	cr_assert_eq(rd.end.seg, JNL_SEG_BAD_VERSION);
	cr_assert_eq(rd.end.segno, 1);
	cr_assert_gt(g.n, 0, "segment 0 is still read");
	restamp(&fs, 0, JNL_VERSION + 1, 0);
	cr_assert_eq(walk_all(&rd, &fs, &g), -EPROTO);
	cr_assert_eq(g.n, 0);
}

Test(journal_reader, unknown_incompatible_feature_is_refused_with_eproto)
{

	build(&fs, NODE, 1, 4, 2, 1 << 20);
	restamp(&fs, 0, JNL_VERSION, 0x10);
	cr_assert_eq(walk_all(&rd, &fs, &g), -EPROTO);
	cr_assert_eq(rd.end.seg, JNL_SEG_BAD_FEATURE);
}

Test(journal_reader, unknown_record_type_is_refused_with_eproto)
{
	uint8_t *r;

	build(&fs, NODE, 1, 4, 1, 1 << 20);
	cr_assert_eq(walk_all(&rd, &fs, &ref), 0);
	r = fs.seg[0] + ref.off[2];
	jnl_put_le16(r + JNL_REC_OFF_TYPE, 77);
	jnl_put_le64(r, XXH3_64bits_withSeed(r + 8, ref.reclen[2] - 8,
					     JNL_SEED_REC));
	cr_assert_eq(walk_all(&rd, &fs, &g), -EPROTO);
	cr_assert_eq(g.n, 2);
	cr_assert_eq(rd.end.rec, JNL_REC_BAD_TYPE);
	cr_assert_eq(rd.end.seq, 3);
}

Test(journal_reader, damage_is_sticky)
{

	build(&fs, NODE, 1, 20, 2, 300);
	cr_assert_eq(walk_order(&rd, &fs, (int[]){ 0, 0, -1 }, &g), -EUCLEAN);
	cr_assert_eq(jnl_rd_next(&rd, &(struct jnl_rec){ 0 }), -EUCLEAN);
	cr_assert_eq(jnl_rd_open(&rd, fs.seg[1], fs.len[1], NULL, 0),
		     -EUCLEAN);
	cr_assert_eq(jnl_rd_refresh(&rd, fs.seg[0], fs.len[0], NULL, 0),
		     -EUCLEAN);
}
