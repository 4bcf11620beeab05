// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for the segment header and checkpoint codecs of
 * journal/record.c: one test per rule S1-S7 and C1-C6 of
 * journal/format.h, and the two-slot checkpoint file.
 *
 *   make && ./build/tests/test_journal_segment
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <xxhash.h>

#include "journal/format.h"

#define NODE	7u
#define EPOCH	3u
#define PREV	0x1122334455667788ull

Test(journal_segment, header_round_trips_at_the_spec_offsets)
{
	uint8_t buf[JNL_SEG_HDR_SIZE];
	struct jnl_seg_hdr h = { .compat = 0x80, .node = NODE,
		.epoch = EPOCH, .segno = 12, .first_seq = 1000,
		.chain_seed = PREV, .created_ns = 123456789 };
	struct jnl_seg_hdr out;

	jnl_seg_encode(&h, buf);
	cr_assert(!memcmp(buf + 8, "OFSJ", 4));
	cr_assert_eq(jnl_get_le32(buf + 12), 1);
	cr_assert_eq(jnl_get_le32(buf + 20), 0x80);
	cr_assert_eq(jnl_get_le32(buf + 24), NODE);
	cr_assert_eq(jnl_get_le64(buf + 32), 12);
	cr_assert_eq(jnl_get_le64(buf + 40), 1000);
	cr_assert_eq(jnl_get_le64(buf + 48), PREV);
	cr_assert_eq(jnl_seg_decode(buf, sizeof(buf), &out), JNL_SEG_OK);
	cr_assert_eq(out.cksum, h.cksum);
	cr_assert_eq(out.segno, 12);
	cr_assert_eq(out.first_seq, 1000);
	cr_assert_eq(out.chain_seed, PREV);
	cr_assert_eq(out.created_ns, 123456789);
	cr_assert_eq(out.compat, 0x80, "compat bits are ignored, kept");
}

/* ---- segment header rules S1-S7 ---- */

static struct jnl_seg_hdr seg_hdr(void)
{
	return (struct jnl_seg_hdr){ .node = NODE, .epoch = EPOCH,
		.segno = 4, .first_seq = 77, .chain_seed = PREV };
}

static enum jnl_seg_status seg_status(struct jnl_seg_hdr h)
{
	uint8_t buf[JNL_SEG_HDR_SIZE];
	struct jnl_seg_hdr out;

	jnl_seg_encode(&h, buf);
	return jnl_seg_decode(buf, sizeof(buf), &out);
}

Test(journal_segment, s1_needs_64_bytes)
{
	uint8_t buf[JNL_SEG_HDR_SIZE];
	struct jnl_seg_hdr h = seg_hdr();
	struct jnl_seg_hdr out;

	jnl_seg_encode(&h, buf);
	cr_assert_eq(jnl_seg_decode(buf, 63, &out), JNL_SEG_SHORT);
	cr_assert_eq(jnl_seg_decode(buf, 0, &out), JNL_SEG_SHORT);
}

Test(journal_segment, s2_needs_the_magic)
{
	uint8_t buf[JNL_SEG_HDR_SIZE];
	struct jnl_seg_hdr h = seg_hdr();
	struct jnl_seg_hdr out;

	jnl_seg_encode(&h, buf);
	buf[JNL_SEG_OFF_MAGIC] = 'X';
	cr_assert_eq(jnl_seg_decode(buf, sizeof(buf), &out),
		     JNL_SEG_BAD_MAGIC);
}

Test(journal_segment, s3_rejects_a_checksum_mismatch)
{
	uint8_t buf[JNL_SEG_HDR_SIZE];
	struct jnl_seg_hdr h = seg_hdr();
	struct jnl_seg_hdr out;

	jnl_seg_encode(&h, buf);
	buf[JNL_SEG_OFF_FIRST_SEQ] ^= 4;
	cr_assert_eq(jnl_seg_decode(buf, sizeof(buf), &out),
		     JNL_SEG_BAD_CKSUM);
}

Test(journal_segment, s3_a_flipped_version_bit_is_damage_not_a_new_version)
{
	uint8_t buf[JNL_SEG_HDR_SIZE];
	struct jnl_seg_hdr h = seg_hdr();
	struct jnl_seg_hdr out;

	jnl_seg_encode(&h, buf);
	buf[JNL_SEG_OFF_VERSION] ^= 2;
	cr_assert_eq(jnl_seg_decode(buf, sizeof(buf), &out),
		     JNL_SEG_BAD_CKSUM);
	cr_assert(!jnl_seg_refused(JNL_SEG_BAD_CKSUM));
}

Test(journal_segment, s4_refuses_an_unknown_version)
{
	struct jnl_seg_hdr h = seg_hdr();

	h.version = JNL_VERSION + 1;
	cr_assert_eq(seg_status(h), JNL_SEG_BAD_VERSION);
	cr_assert(jnl_seg_refused(JNL_SEG_BAD_VERSION));
}

Test(journal_segment, s5_refuses_an_unknown_incompatible_feature)
{
	struct jnl_seg_hdr h = seg_hdr();

	h.incompat = 1;
	cr_assert_eq(seg_status(h), JNL_SEG_BAD_FEATURE);
	cr_assert(jnl_seg_refused(JNL_SEG_BAD_FEATURE));
	h = seg_hdr();
	h.compat = 0xffffffffu;
	cr_assert_eq(seg_status(h), JNL_SEG_OK, "compat bits are ignored");
}

Test(journal_segment, s6_needs_node_epoch_and_first_seq)
{
	struct jnl_seg_hdr h = seg_hdr();

	h.node = 0;
	cr_assert_eq(seg_status(h), JNL_SEG_BAD_IDENT);
	h = seg_hdr();
	h.epoch = 0;
	cr_assert_eq(seg_status(h), JNL_SEG_BAD_IDENT);
	h = seg_hdr();
	h.first_seq = 0;
	cr_assert_eq(seg_status(h), JNL_SEG_BAD_IDENT);
}

Test(journal_segment, s7_segment_zero_starts_at_the_genesis)
{
	struct jnl_seg_hdr h = seg_hdr();

	h.segno = 0;
	h.first_seq = 1;
	h.chain_seed = jnl_chain_genesis(NODE, EPOCH);
	cr_assert_eq(seg_status(h), JNL_SEG_OK);
	h.first_seq = 2;
	cr_assert_eq(seg_status(h), JNL_SEG_BAD_GENESIS);
	h.first_seq = 1;
	h.chain_seed = jnl_chain_genesis(NODE, EPOCH + 1);
	cr_assert_eq(seg_status(h), JNL_SEG_BAD_GENESIS);
}

/* ---- checkpoint rules C1-C6 ---- */

static struct jnl_ckpt ckpt(void)
{
	return (struct jnl_ckpt){ .node = NODE, .epoch = EPOCH, .seq = 10,
		.chain = PREV, .segno = 2, .offset = 4096, .time_ns = 5 };
}

static enum jnl_ckpt_status ckpt_status(struct jnl_ckpt ck)
{
	uint8_t buf[JNL_CKPT_SIZE];
	struct jnl_ckpt out;

	jnl_ckpt_encode(&ck, buf);
	return jnl_ckpt_decode(buf, sizeof(buf), &out);
}

Test(journal_checkpoint, round_trips_at_the_spec_offsets)
{
	uint8_t buf[JNL_CKPT_SIZE];
	struct jnl_ckpt ck = ckpt();
	struct jnl_ckpt out;

	jnl_ckpt_encode(&ck, buf);
	cr_assert(!memcmp(buf + 8, "OFSC", 4));
	cr_assert_eq(jnl_get_le64(buf + 24), 10);
	cr_assert_eq(jnl_get_le64(buf + 48), 4096);
	cr_assert_eq(jnl_ckpt_decode(buf, sizeof(buf), &out), JNL_CKPT_OK);
	cr_assert(!memcmp(&ck, &out, sizeof(ck)));
}

Test(journal_checkpoint, c1_needs_64_bytes)
{
	uint8_t buf[JNL_CKPT_SIZE];
	struct jnl_ckpt ck = ckpt();
	struct jnl_ckpt out;

	jnl_ckpt_encode(&ck, buf);
	cr_assert_eq(jnl_ckpt_decode(buf, 63, &out), JNL_CKPT_SHORT);
}

Test(journal_checkpoint, c2_needs_the_magic)
{
	uint8_t buf[JNL_CKPT_SIZE];
	struct jnl_ckpt ck = ckpt();
	struct jnl_ckpt out;

	jnl_ckpt_encode(&ck, buf);
	buf[JNL_CKPT_OFF_MAGIC + 3] = 'J';
	cr_assert_eq(jnl_ckpt_decode(buf, sizeof(buf), &out),
		     JNL_CKPT_BAD_MAGIC);
}

Test(journal_checkpoint, c3_rejects_a_checksum_mismatch)
{
	uint8_t buf[JNL_CKPT_SIZE];
	struct jnl_ckpt ck = ckpt();
	struct jnl_ckpt out;

	jnl_ckpt_encode(&ck, buf);
	buf[JNL_CKPT_OFF_SEQ] ^= 1;
	cr_assert_eq(jnl_ckpt_decode(buf, sizeof(buf), &out),
		     JNL_CKPT_BAD_CKSUM);
}

Test(journal_checkpoint, c4_refuses_an_unknown_version)
{
	uint8_t buf[JNL_CKPT_SIZE];
	struct jnl_ckpt ck = ckpt();
	struct jnl_ckpt out;
	unsigned slot;

	jnl_ckpt_encode(&ck, buf);
	jnl_put_le32(buf + JNL_CKPT_OFF_VERSION, 2);
	jnl_put_le64(buf, XXH3_64bits_withSeed(buf + 8, 56, JNL_SEED_CKPT));
	cr_assert_eq(jnl_ckpt_decode(buf, sizeof(buf), &out),
		     JNL_CKPT_BAD_VERSION);
	cr_assert_eq(jnl_ckpt_pick(buf, sizeof(buf), &out, &slot), -EPROTO);
}

Test(journal_checkpoint, c5_needs_node_and_epoch)
{
	struct jnl_ckpt ck = ckpt();

	ck.node = 0;
	cr_assert_eq(ckpt_status(ck), JNL_CKPT_BAD_IDENT);
	ck = ckpt();
	ck.epoch = 0;
	cr_assert_eq(ckpt_status(ck), JNL_CKPT_BAD_IDENT);
}

Test(journal_checkpoint, c6_offset_is_past_the_header_and_aligned)
{
	struct jnl_ckpt ck = ckpt();

	ck.offset = 56;
	cr_assert_eq(ckpt_status(ck), JNL_CKPT_BAD_OFFSET);
	ck.offset = 4097;
	cr_assert_eq(ckpt_status(ck), JNL_CKPT_BAD_OFFSET);
	ck.offset = 64;
	cr_assert_eq(ckpt_status(ck), JNL_CKPT_OK);
}

Test(journal_checkpoint, newest_valid_slot_wins_and_a_torn_slot_is_skipped)
{
	uint8_t file[2 * JNL_CKPT_SIZE];
	struct jnl_ckpt a = ckpt();
	struct jnl_ckpt b = ckpt();
	struct jnl_ckpt out;
	unsigned slot = 9;

	b.seq = a.seq + 5;
	jnl_ckpt_encode(&a, file);
	jnl_ckpt_encode(&b, file + JNL_CKPT_SIZE);
	cr_assert_eq(jnl_ckpt_pick(file, sizeof(file), &out, &slot), 0);
	cr_assert_eq(slot, 1);
	cr_assert_eq(out.seq, b.seq);
	file[JNL_CKPT_SIZE + 40] ^= 0x10;	/* slot 1 torn */
	cr_assert_eq(jnl_ckpt_pick(file, sizeof(file), &out, &slot), 0);
	cr_assert_eq(slot, 0);
	cr_assert_eq(out.seq, a.seq);
	b.epoch = a.epoch + 1;			/* new epoch beats higher seq */
	b.seq = 1;
	jnl_ckpt_encode(&b, file + JNL_CKPT_SIZE);
	cr_assert_eq(jnl_ckpt_pick(file, sizeof(file), &out, &slot), 0);
	cr_assert_eq(slot, 1);
	cr_assert_eq(jnl_ckpt_pick(file, 10, &out, &slot), -ENOENT);
	/* the first write torn (a one-slot file): none yet */
	jnl_ckpt_encode(&a, file);
	file[40] ^= 0x10;
	cr_assert_eq(jnl_ckpt_pick(file, JNL_CKPT_SIZE, &out, &slot), -ENOENT);
	/* both slots there and neither valid: damage, never "none" */
	jnl_ckpt_encode(&b, file + JNL_CKPT_SIZE);
	file[JNL_CKPT_SIZE + 40] ^= 0x10;
	cr_assert_eq(jnl_ckpt_pick(file, sizeof(file), &out, &slot), -EBADMSG);
	memset(file, 0, sizeof(file));		/* zeroed by a NAS */
	cr_assert_eq(jnl_ckpt_pick(file, sizeof(file), &out, &slot), -EBADMSG);
}
