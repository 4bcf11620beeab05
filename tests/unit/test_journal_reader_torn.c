// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for journal/reader.c: the RECOVERY RULE of journal/format.h
 * at the end of the log.  A torn or garbled last group is end of log,
 * not an error; anything wrong before a later valid group is damage,
 * and no single flipped bit is ever returned as a record.  Journals come
 * from journal_reader_fixture.h, then are cut and flipped.
 *
 *   make && ./build/tests/test_journal_reader_torn
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/journal_reader_fixture.h"

TestSuite(journal_reader, .fini = teardown);

Test(journal_reader, torn_tail_is_discarded_at_every_offset)
{
	size_t last;
	size_t end;

	build(&fs, NODE, 1, 8, 1, 1 << 20);
	cr_assert_eq(walk_all(&rd, &fs, &ref), 0);
	last = ref.off[7];
	end = last + ref.reclen[7];
	cr_assert_eq(end, fs.len[0]);
	for (size_t cut = last; cut < end; cut++) {
		fs.len[0] = cut;
		cr_assert_eq(walk_all(&rd, &fs, &g), 0, "cut %zu", cut);
		cr_assert_eq(g.n, 7, "cut %zu", cut);
		assert_prefix(&g, &ref);
		cr_assert_eq(rd.end.kind, cut == last ? JNL_END_CLEAN :
			     JNL_END_TORN, "cut %zu", cut);
		cr_assert_eq(rd.end.seq, 8);
		if (cut > last)
			cr_assert_eq(rd.end.offset, last);
	}
}

Test(journal_reader, garbage_after_the_last_record_is_a_torn_tail)
{
	uint8_t junk[100];

	build(&fs, NODE, 1, 5, 2, 1 << 20);
	memset(junk, 0xa5, sizeof(junk));
	splice(&fs, 0, fs.len[0], junk, sizeof(junk));
	cr_assert_eq(walk_all(&rd, &fs, &g), 0);
	cr_assert_eq(g.n, 5);
	cr_assert_eq(rd.end.kind, JNL_END_TORN);
	cr_assert_eq(rd.end.rec, JNL_REC_BAD_MAGIC);
}

Test(journal_reader, hole_in_the_last_group_is_end_of_log)
{

	build(&fs, NODE, 1, 9, 3, 1 << 20);	/* groups 1-3, 4-6, 7-9 */
	cr_assert_eq(walk_all(&rd, &fs, &ref), 0);
	memset(fs.seg[0] + ref.off[6], 0, ref.reclen[6]);	/* seq 7 */
	cr_assert_eq(walk_all(&rd, &fs, &g), 0);
	cr_assert_eq(g.n, 6);
	cr_assert_eq(rd.end.kind, JNL_END_TORN);
	cr_assert_eq(rd.end.seq, 7);
}

Test(journal_reader, corrupt_record_before_a_later_group_is_damage)
{

	build(&fs, NODE, 1, 9, 3, 1 << 20);
	cr_assert_eq(walk_all(&rd, &fs, &ref), 0);
	fs.seg[0][ref.off[4] + 60] ^= 0x08;			/* seq 5 */
	cr_assert_eq(walk_all(&rd, &fs, &g), -EUCLEAN);
	cr_assert_eq(g.n, 4);
	cr_assert_eq(rd.end.kind, JNL_END_DAMAGED);
	cr_assert_eq(rd.end.why, JNL_WHY_RECORD);
	cr_assert_eq(rd.end.rec, JNL_REC_BAD_CKSUM);
	cr_assert_eq(rd.end.seq, 5);
	cr_assert_eq(rd.end.found_seq, 7, "valid records resume at seq 7");
	cr_assert_eq(rd.end.found_off, ref.off[6]);
}

/* Which record of ref holds byte off of segment s; -1 for the header. */
static long owner(const struct got *want, size_t s, size_t off)
{
	for (size_t i = 0; i < want->n; i++)
		if (want->segno[i] == s && off >= want->off[i] &&
		    off < want->off[i] + want->reclen[i])
			return (long)i;
	return -1;
}

Test(journal_reader, single_bit_flips_are_detected_and_never_applied)
{

	build(&fs, NODE, 1, 12, 2, 600);	/* 3 segments of 2 groups */
	cr_assert_eq(walk_all(&rd, &fs, &ref), 0);
	cr_assert_eq(fs.nseg, 3);
	for (size_t s = 0; s < fs.nseg; s++) {
		for (size_t bit = 0; bit < fs.len[s] * 8; bit++) {
			long victim = owner(&ref, s, bit / 8);
			size_t first_in_seg = 0;
			int rc;

			while (ref.segno[first_in_seg] != s)
				first_in_seg++;
			fs.seg[s][bit / 8] ^= (uint8_t)(1u << bit % 8);
			rc = walk_all(&rd, &fs, &g);
			fs.seg[s][bit / 8] ^= (uint8_t)(1u << bit % 8);
			assert_prefix(&g, &ref);
			cr_assert_lt(g.n, ref.n, "seg %zu bit %zu missed", s,
				     bit);
			cr_assert_neq(rd.end.kind, JNL_END_CLEAN);
			cr_assert_leq(g.n, victim >= 0 ? (size_t)victim :
				      first_in_seg, "seg %zu bit %zu applied",
				      s, bit);
			/* only the last group may pass as a torn tail */
			if (rc == 0)
				cr_assert_geq(g.n, ref.n - 2, "seg %zu bit %zu",
					      s, bit);
		}
	}
}

Test(journal_reader, bad_header_of_a_segment_with_completed_groups_is_damage)
{

	build(&fs, NODE, 1, 20, 1, 300);	/* 2 groups a segment */
	fs.seg[1][JNL_SEG_OFF_SEGNO] ^= 1;
	cr_assert_eq(walk_all(&rd, &fs, &g), -EUCLEAN);
	cr_assert_eq(rd.end.why, JNL_WHY_HEADER);
	cr_assert_eq(rd.end.seg, JNL_SEG_BAD_CKSUM);
	cr_assert_eq(rd.end.found_seq, g.n + 1);
}

Test(journal_reader, segment_torn_before_its_seal_is_damage)
{

	build(&fs, NODE, 1, 20, 2, 300);
	cr_assert_eq(walk_all(&rd, &fs, &ref), 0);
	fs.len[0] -= 3;
	cr_assert_eq(walk_all(&rd, &fs, &g), -EUCLEAN);
	cr_assert_eq(rd.end.why, JNL_WHY_SHORT);
	cr_assert_eq(rd.end.rec, JNL_REC_TRUNC);
}
