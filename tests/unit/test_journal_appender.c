// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for journal/appender.c: group commit, segment roll, the
 * in-flight discipline (W4) and resuming in a new epoch (W3).
 *
 *   make && ./build/tests/test_journal_appender
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "journal/appender.h"

#define NODE	9u

static uint8_t data[JNL_MAX_WRITE];

static struct jnl_op wr(uint64_t fid, size_t len)
{
	return (struct jnl_op){ .type = JNL_OP_WRITE, .u.write = {
		.fid = fid, .offset = 0, .data = data, .len = len } };
}

static void init(struct jnl_appender *a, size_t seg_limit)
{
	struct jnl_app_conf c;

	cr_assert_eq(jnl_app_conf_genesis(&c, NODE, 1), 0);
	c.seg_limit = seg_limit;
	cr_assert_eq(jnl_app_init(a, &c), 0);
}

static void append(struct jnl_appender *a, size_t len, uint64_t want_seq)
{
	struct jnl_op op = wr(2, len);
	uint64_t seq = 0;

	cr_assert_eq(jnl_app_append(a, &op, 7, &seq), 0);
	cr_assert_eq(seq, want_seq);
}

Test(journal_appender, first_flush_creates_segment_zero_with_a_header)
{
	struct jnl_appender a;
	struct jnl_app_write w;
	struct jnl_seg_hdr h;

	init(&a, 0);
	append(&a, 10, 1);
	append(&a, 20, 2);
	cr_assert_eq(jnl_app_flush(&a, &w), 0);
	cr_assert(w.new_segment);
	cr_assert_eq(w.segno, 0);
	cr_assert_eq(w.offset, 0);
	cr_assert_eq(w.first_seq, 1);
	cr_assert_eq(w.last_seq, 2);
	cr_assert_eq(w.len, JNL_SEG_HDR_SIZE + 56 + 32 + 56 + 40);
	cr_assert_eq(jnl_seg_decode(w.data, w.len, &h), JNL_SEG_OK);
	cr_assert_eq(h.first_seq, 1);
	cr_assert_eq(h.chain_seed, jnl_chain_genesis(NODE, 1));
	cr_assert_eq(h.created_ns, 7);
	jnl_app_fini(&a);
}

Test(journal_appender, records_of_a_group_are_numbered_from_zero)
{
	struct jnl_appender a;
	struct jnl_app_write w;
	struct jnl_rec rec;
	size_t off = JNL_SEG_HDR_SIZE;

	init(&a, 0);
	for (uint64_t s = 1; s <= 3; s++)
		append(&a, 8, s);
	cr_assert_eq(jnl_app_flush(&a, &w), 0);
	for (uint32_t i = 0; i < 3; i++) {
		cr_assert_eq(jnl_rec_decode(w.data + off, w.len - off, NULL,
					    &rec), JNL_REC_OK);
		cr_assert_eq(rec.hdr.gidx, i);
		off += rec.reclen;
	}
	cr_assert_eq(jnl_app_done(&a), 0);
	append(&a, 8, 4);
	cr_assert_eq(jnl_app_flush(&a, &w), 0);
	cr_assert_eq(jnl_rec_decode(w.data, w.len, NULL, &rec), JNL_REC_OK);
	cr_assert_eq(rec.hdr.gidx, 0, "a new group starts at 0");
	jnl_app_fini(&a);
}

Test(journal_appender, group_writes_follow_each_other_in_the_segment)
{
	struct jnl_appender a;
	struct jnl_app_write w;
	uint64_t end = 0;

	init(&a, 0);
	for (uint64_t s = 1; s <= 10; s++) {
		append(&a, (size_t)s * 3, s);
		cr_assert_eq(jnl_app_flush(&a, &w), 0);
		cr_assert_eq(w.segno, 0);
		cr_assert_eq(w.offset, end);
		cr_assert_eq(w.new_segment, s == 1);
		end = w.offset + w.len;
		cr_assert_eq(jnl_app_done(&a), 0);
	}
	jnl_app_fini(&a);
}

Test(journal_appender, rolls_to_a_new_segment_at_the_size_limit)
{
	struct jnl_appender a;
	struct jnl_app_write w;
	struct jnl_seg_hdr h;
	uint64_t seglen = 0;
	uint64_t segno = 0;
	uint64_t chain = jnl_chain_genesis(NODE, 1);
	struct jnl_rec rec;

	init(&a, 400);
	for (uint64_t s = 1; s <= 30; s++) {
		append(&a, 40, s);			/* 112-byte records */
		cr_assert_eq(jnl_app_flush(&a, &w), 0);
		if (w.new_segment) {
			cr_assert_eq(w.segno, s == 1 ? 0 : segno + 1);
			cr_assert_eq(jnl_seg_decode(w.data, w.len, &h),
				     JNL_SEG_OK);
			cr_assert_eq(h.first_seq, s);
			cr_assert_eq(h.chain_seed, chain,
				     "the header continues the chain");
			segno = w.segno;
			seglen = 0;
		}
		seglen += w.len;
		cr_assert_leq(seglen, 400);
		cr_assert_eq(jnl_rec_decode(w.data + w.len - 112, 112, NULL,
					    &rec), JNL_REC_OK);
		chain = rec.hdr.cksum;
		cr_assert_eq(jnl_app_done(&a), 0);
	}
	cr_assert_geq(segno, 9);
	jnl_app_fini(&a);
}

Test(journal_appender, flush_is_refused_while_a_group_is_in_flight)
{
	struct jnl_appender a;
	struct jnl_app_write w;

	init(&a, 0);
	cr_assert_eq(jnl_app_flush(&a, &w), -ENODATA);
	append(&a, 1, 1);
	cr_assert_eq(jnl_app_flush(&a, &w), 0);
	append(&a, 1, 2);
	cr_assert_eq(jnl_app_flush(&a, &w), -EBUSY);
	cr_assert_eq(jnl_app_done(&a), 0);
	cr_assert_eq(jnl_app_done(&a), -EINVAL);
	cr_assert_eq(jnl_app_flush(&a, &w), 0);
	cr_assert_eq(w.first_seq, 2);
	jnl_app_fini(&a);
}

Test(journal_appender, appends_continue_while_a_group_is_in_flight)
{
	struct jnl_appender a;
	struct jnl_app_write w;
	uint8_t *copy;

	init(&a, 0);
	append(&a, 100, 1);
	cr_assert_eq(jnl_app_flush(&a, &w), 0);
	copy = malloc(w.len);
	memcpy(copy, w.data, w.len);
	for (uint64_t s = 2; s < 200; s++)	/* grows the other buffer */
		append(&a, 1000, s);
	cr_assert(!memcmp(copy, w.data, w.len), "in-flight bytes moved");
	cr_assert_eq(jnl_app_pending(&a), 198 * (56 + 1016));
	free(copy);
	jnl_app_fini(&a);
}

Test(journal_appender, durable_seq_advances_only_when_the_write_is_done)
{
	struct jnl_appender a;
	struct jnl_app_write w;

	init(&a, 0);
	cr_assert_eq(jnl_app_durable(&a), 0);
	append(&a, 5, 1);
	append(&a, 5, 2);
	cr_assert_eq(jnl_app_flush(&a, &w), 0);
	append(&a, 5, 3);
	cr_assert_eq(jnl_app_durable(&a), 0);
	cr_assert_eq(jnl_app_done(&a), 0);
	cr_assert_eq(jnl_app_durable(&a), 2);
	jnl_app_fini(&a);
}

Test(journal_appender, full_group_asks_for_a_flush)
{
	struct jnl_appender a;
	struct jnl_app_write w;
	struct jnl_op op = wr(2, JNL_MAX_WRITE);
	uint64_t seq;
	int n = 0;

	init(&a, 0);
	while (jnl_app_append(&a, &op, 0, &seq) == 0)
		n++;
	cr_assert_eq(n, 3, "4 MiB holds three 1 MiB writes");
	cr_assert_eq(jnl_app_append(&a, &op, 0, &seq), -ENOBUFS);
	cr_assert_eq(jnl_app_flush(&a, &w), 0);
	cr_assert_eq(jnl_app_append(&a, &op, 0, &seq), 0);
	cr_assert_eq(seq, 4);
	jnl_app_fini(&a);
}

Test(journal_appender, invalid_operation_is_refused_and_costs_no_seq)
{
	struct jnl_appender a;
	struct jnl_op op = wr(0, 5);
	uint64_t seq;

	init(&a, 0);
	cr_assert_eq(jnl_app_append(&a, &op, 0, &seq), -EINVAL);
	append(&a, 5, 1);
	jnl_app_fini(&a);
}

Test(journal_appender, init_rejects_a_bad_configuration)
{
	struct jnl_appender a;
	struct jnl_app_conf c;

	cr_assert_eq(jnl_app_conf_genesis(&c, 0, 1), -EINVAL);
	cr_assert_eq(jnl_app_conf_genesis(&c, NODE, 1), 0);
	c.chain_seed ^= 1;
	cr_assert_eq(jnl_app_init(&a, &c), -EINVAL, "segment 0 off genesis");
	cr_assert_eq(jnl_app_conf_genesis(&c, NODE, 1), 0);
	c.group_limit = JNL_REC_MAX - 1;
	cr_assert_eq(jnl_app_init(&a, &c), -EINVAL);
	c = (struct jnl_app_conf){ .node = NODE, .epoch = 2, .segno = 5,
		.first_seq = 0 };
	cr_assert_eq(jnl_app_init(&a, &c), -EINVAL);
}

Test(journal_appender, resume_continues_the_chain_in_a_new_epoch)
{
	struct jnl_appender a;
	struct jnl_app_write w;
	struct jnl_app_conf c;
	struct jnl_reader rd;
	struct jnl_rec rec;
	uint8_t seg[1024];
	size_t len;

	init(&a, 0);
	append(&a, 5, 1);
	append(&a, 5, 2);
	cr_assert_eq(jnl_app_flush(&a, &w), 0);
	memcpy(seg, w.data, w.len);
	len = w.len;
	jnl_app_fini(&a);

	jnl_rd_init(&rd, NODE);
	cr_assert_eq(jnl_app_conf_resume(&c, &rd, 2), -EINVAL, "not read");
	cr_assert_eq(jnl_rd_open(&rd, seg, len, NULL, 0), 0);
	while (jnl_rd_next(&rd, &rec) == 1)
		;
	cr_assert_eq(jnl_app_conf_resume(&c, &rd, 1), -EINVAL, "same epoch");
	cr_assert_eq(jnl_app_conf_resume(&c, &rd, 2), 0);
	cr_assert_eq(c.segno, 1);
	cr_assert_eq(c.first_seq, 3);
	cr_assert_eq(c.chain_seed, rd.chain);
	cr_assert_eq(jnl_app_init(&a, &c), 0);
	append(&a, 5, 3);
	cr_assert_eq(jnl_app_flush(&a, &w), 0);
	cr_assert(w.new_segment);
	cr_assert_eq(w.segno, 1);
	cr_assert_eq(jnl_rd_open(&rd, w.data, w.len, NULL, 0), 0);
	cr_assert_eq(jnl_rd_next(&rd, &rec), 1);
	cr_assert_eq(rec.hdr.seq, 3);
	cr_assert_eq(rec.hdr.epoch, 2);
	jnl_app_fini(&a);

	rd.end.kind = JNL_END_DAMAGED;
	cr_assert_eq(jnl_app_conf_resume(&c, &rd, 3), -EUCLEAN);
	jnl_rd_init(&rd, NODE);
	rd.end.kind = JNL_END_EMPTY;		/* only empty segments */
	cr_assert_eq(jnl_app_conf_resume(&c, &rd, 3), -ENODATA);
}
