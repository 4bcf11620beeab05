// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for journal/format.h and journal/record.c: byte layout,
 * encode/decode round trips for every record type, and one test per
 * numbered validity rule of records (1-14).  Payload rules (journal/op.c,
 * P1-P11): test_journal_payload.c.  Segment headers and checkpoints:
 * test_journal_segment.c.
 *
 *   make && ./build/tests/test_journal_record
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <xxhash.h>

#include "journal/format.h"
#include "tests/unit/journal_record_fixture.h"

/* ---- byte layout ---- */

Test(journal_format, little_endian_helpers_write_low_byte_first)
{
	uint8_t b[8];

	jnl_put_le64(b, 0x0807060504030201ull);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(b[i], i + 1);
	cr_assert_eq(jnl_get_le16(b), 0x0201);
	cr_assert_eq(jnl_get_le32(b + 4), 0x08070605u);
	cr_assert_eq(jnl_get_le64(b), 0x0807060504030201ull);
}

Test(journal_format, record_header_fields_sit_at_the_spec_offsets)
{
	uint8_t buf[256];
	size_t reclen = write_record(buf, sizeof(buf));

	cr_assert_eq(reclen, 56 + 24);		/* 16 + 5 payload, padded */
	cr_assert_eq(jnl_get_le32(buf + 8), JNL_REC_MAGIC);
	cr_assert(!memcmp(buf + 8, "OFSR", 4));
	cr_assert_eq(jnl_get_le16(buf + 12), JNL_OP_WRITE);
	cr_assert_eq(jnl_get_le16(buf + 14), 0);
	cr_assert_eq(jnl_get_le32(buf + 16), 21);
	cr_assert_eq(jnl_get_le32(buf + 20), 2);
	cr_assert_eq(jnl_get_le32(buf + 24), NODE);
	cr_assert_eq(jnl_get_le32(buf + 28), EPOCH);
	cr_assert_eq(jnl_get_le64(buf + 32), SEQ);
	cr_assert_eq(jnl_get_le64(buf + 40), PREV);
	cr_assert_eq(jnl_get_le64(buf + 48), 99);
	cr_assert_eq(jnl_get_le64(buf + 56), 45);	/* payload: fid */
	cr_assert_eq(jnl_get_le64(buf + 64), 5ull << 32);
	cr_assert(!memcmp(buf + 72, "hello", 5));
	cr_assert_eq(jnl_get_le64(buf), XXH3_64bits_withSeed(buf + 8,
		     reclen - 8, 0x434552505253464full));
}

Test(journal_format, known_answers_freeze_the_checksums)
{
	uint8_t buf[256];
	struct jnl_seg_hdr h = { .node = 1, .epoch = 1, .segno = 0,
		.first_seq = 1, .chain_seed = jnl_chain_genesis(1, 1) };

	cr_assert_eq(jnl_chain_genesis(1, 1), 0xb9c2dbf8460bd3ddull,
		     "genesis is %#llx",
		     (unsigned long long)jnl_chain_genesis(1, 1));
	jnl_seg_encode(&h, buf);
	cr_assert_eq(h.cksum, 0x1aac7dd7209a091cull, "segment is %#llx",
		     (unsigned long long)h.cksum);
	write_record(buf, sizeof(buf));
	cr_assert_eq(jnl_get_le64(buf), 0x5052a863fd69116dull,
		     "record is %#llx",
		     (unsigned long long)jnl_get_le64(buf));
}

/* ---- round trips ---- */

Test(journal_record, every_record_type_round_trips)
{
	uint8_t buf[1024];

	for (unsigned t = 1; t <= JNL_OP_TYPE_MAX; t++) {
		struct jnl_op op = sample_op((enum jnl_type)t);
		struct jnl_rec_hdr h = base_hdr();
		struct jnl_expect exp = base_exp();
		struct jnl_rec rec;
		size_t reclen = 0;

		cr_assert_eq(jnl_rec_encode(&h, &op, buf, sizeof(buf),
					    &reclen), 0, "%s",
			     jnl_type_name(t));
		cr_assert_eq(reclen % 8, 0);
		cr_assert_eq(reclen, JNL_REC_HDR_SIZE +
			     jnl_pad8(jnl_op_size(&op)));
		cr_assert_eq(jnl_rec_decode(buf, reclen, &exp, &rec),
			     JNL_REC_OK, "%s", jnl_type_name(t));
		cr_assert_eq(rec.reclen, reclen);
		cr_assert_eq(rec.hdr.type, t);
		cr_assert_eq(rec.hdr.cksum, h.cksum);
		cr_assert_eq(rec.hdr.seq, SEQ);
		cr_assert_eq(rec.hdr.prev, PREV);
		cr_assert_eq(rec.hdr.time_ns, 99);
		cr_assert_eq(rec.hdr.gidx, 2);
		cr_assert(op_eq(&op, &rec.op), "%s", jnl_type_name(t));
	}
}

Test(journal_record, largest_write_round_trips)
{
	static uint8_t data[JNL_MAX_WRITE];
	static uint8_t buf[JNL_REC_MAX];
	struct jnl_op op = { .type = JNL_OP_WRITE, .u.write = { .fid = 3,
		.offset = JNL_MAX_FILE_SIZE - JNL_MAX_WRITE, .data = data,
		.len = JNL_MAX_WRITE } };
	struct jnl_rec rec;
	size_t reclen;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	reclen = encode(&op, buf, sizeof(buf));
	cr_assert_eq(decode_base(buf, reclen), JNL_REC_OK);
	cr_assert_eq(jnl_rec_decode(buf, reclen, NULL, &rec), JNL_REC_OK);
	cr_assert(op_eq(&op, &rec.op));
}

Test(journal_record, encoder_reports_short_buffer)
{
	uint8_t buf[64];
	struct jnl_op op = sample_op(JNL_OP_WRITE);
	struct jnl_rec_hdr h = base_hdr();
	size_t reclen;

	cr_assert_eq(jnl_rec_encode(&h, &op, buf, sizeof(buf), &reclen),
		     -ENOSPC);
}

Test(journal_record, encoder_refuses_what_the_decoder_rejects)
{
	uint8_t buf[256];
	struct jnl_op op = sample_op(JNL_OP_WRITE);
	struct jnl_rec_hdr h = base_hdr();
	size_t reclen;

	op.u.write.fid = 0;
	cr_assert_eq(jnl_rec_encode(&h, &op, buf, sizeof(buf), &reclen),
		     -EINVAL);
	op = sample_op(JNL_OP_WRITE);
	h.gidx = h.seq;
	cr_assert_eq(jnl_rec_encode(&h, &op, buf, sizeof(buf), &reclen),
		     -EINVAL);
	op.type = (enum jnl_type)99;
	h = base_hdr();
	cr_assert_eq(jnl_rec_encode(&h, &op, buf, sizeof(buf), &reclen),
		     -EINVAL);
}

/* ---- record rules 1-14 ---- */

Test(journal_record, rule1_needs_the_whole_header)
{
	uint8_t buf[256];

	write_record(buf, sizeof(buf));
	cr_assert_eq(decode_base(buf, JNL_REC_HDR_SIZE - 1),
		     JNL_REC_TRUNC_HDR);
}

Test(journal_record, rule2_needs_the_magic)
{
	uint8_t buf[256];
	size_t reclen = write_record(buf, sizeof(buf));

	buf[JNL_REC_OFF_MAGIC + 3] ^= 0x20;
	cr_assert_eq(decode_base(buf, reclen), JNL_REC_BAD_MAGIC);
}

Test(journal_record, rule3_bounds_the_payload_length)
{
	static uint8_t buf[JNL_REC_MAX + 64];
	size_t reclen = write_record(buf, sizeof(buf));

	jnl_put_le32(buf + JNL_REC_OFF_PAYLEN, JNL_MAX_PAYLOAD + 1);
	cr_assert_eq(decode_base(buf, sizeof(buf)), JNL_REC_BAD_LENGTH);
	jnl_put_le32(buf + JNL_REC_OFF_PAYLEN, UINT32_MAX);
	cr_assert_eq(decode_base(buf, reclen), JNL_REC_BAD_LENGTH);
}

Test(journal_record, rule4_needs_the_whole_record)
{
	uint8_t buf[256];
	size_t reclen = write_record(buf, sizeof(buf));

	cr_assert_eq(decode_base(buf, reclen - 1), JNL_REC_TRUNC);
	cr_assert_eq(decode_base(buf, reclen), JNL_REC_OK);
}

Test(journal_record, rule5_rejects_a_checksum_mismatch)
{
	uint8_t buf[256];
	size_t reclen = write_record(buf, sizeof(buf));

	buf[JNL_REC_HDR_SIZE + 17] ^= 1;	/* one bit of the data */
	cr_assert_eq(decode_base(buf, reclen), JNL_REC_BAD_CKSUM);
}

Test(journal_record, rule6_rejects_nonzero_padding)
{
	uint8_t buf[256];
	size_t reclen = write_record(buf, sizeof(buf));

	buf[reclen - 1] = 0xff;
	reseal(buf);
	cr_assert_eq(decode_base(buf, reclen), JNL_REC_BAD_PADDING);
}

Test(journal_record, rule7_rejects_a_record_of_another_node)
{
	uint8_t buf[256];
	size_t reclen = write_record(buf, sizeof(buf));
	struct jnl_expect exp = base_exp();
	struct jnl_rec rec;

	exp.node = NODE + 1;
	cr_assert_eq(jnl_rec_decode(buf, reclen, &exp, &rec),
		     JNL_REC_FOREIGN_NODE);
}

Test(journal_record, rule8_rejects_older_and_newer_epochs)
{
	uint8_t buf[256];
	size_t reclen = write_record(buf, sizeof(buf));
	struct jnl_expect exp = base_exp();
	struct jnl_rec rec;

	exp.epoch = EPOCH + 1;
	cr_assert_eq(jnl_rec_decode(buf, reclen, &exp, &rec),
		     JNL_REC_OLD_EPOCH);
	exp.epoch = EPOCH - 1;
	cr_assert_eq(jnl_rec_decode(buf, reclen, &exp, &rec),
		     JNL_REC_NEW_EPOCH);
}

Test(journal_record, rule9_reports_gaps_and_replays)
{
	uint8_t buf[256];
	size_t reclen = write_record(buf, sizeof(buf));
	struct jnl_expect exp = base_exp();
	struct jnl_rec rec;

	exp.seq = SEQ - 1;
	cr_assert_eq(jnl_rec_decode(buf, reclen, &exp, &rec), JNL_REC_GAP);
	exp.seq = SEQ + 1;
	cr_assert_eq(jnl_rec_decode(buf, reclen, &exp, &rec),
		     JNL_REC_REPLAY);
}

Test(journal_record, rule10_rejects_a_chain_break)
{
	uint8_t buf[256];
	size_t reclen = write_record(buf, sizeof(buf));
	struct jnl_expect exp = base_exp();
	struct jnl_rec rec;

	exp.prev ^= 1;
	cr_assert_eq(jnl_rec_decode(buf, reclen, &exp, &rec),
		     JNL_REC_BAD_CHAIN);
}

Test(journal_record, rule11_checks_the_group_index)
{
	uint8_t buf[256];
	size_t reclen = write_record(buf, sizeof(buf));	/* gidx 2 */
	struct jnl_expect exp = base_exp();
	struct jnl_rec rec;

	exp.gidx = 1;
	cr_assert_eq(jnl_rec_decode(buf, reclen, &exp, &rec),
		     JNL_REC_BAD_GROUP);
	exp.gidx = JNL_GIDX_ANY;
	cr_assert_eq(jnl_rec_decode(buf, reclen, &exp, &rec), JNL_REC_OK);
	jnl_put_le32(buf + JNL_REC_OFF_GIDX, 0);	/* a new group: fine */
	reseal(buf);
	exp.gidx = 7;
	cr_assert_eq(jnl_rec_decode(buf, reclen, &exp, &rec), JNL_REC_OK);
	jnl_put_le32(buf + JNL_REC_OFF_GIDX, SEQ);	/* group before seq 1 */
	reseal(buf);
	cr_assert_eq(jnl_rec_decode(buf, reclen, NULL, &rec),
		     JNL_REC_BAD_GROUP);
}

Test(journal_record, rule12_refuses_unknown_flags)
{
	uint8_t buf[256];
	size_t reclen = write_record(buf, sizeof(buf));

	jnl_put_le16(buf + JNL_REC_OFF_FLAGS, 0x8000);
	reseal(buf);
	cr_assert_eq(decode_base(buf, reclen), JNL_REC_BAD_FLAGS);
	cr_assert(jnl_rec_refused(JNL_REC_BAD_FLAGS));
}

Test(journal_record, rule13_refuses_unknown_types)
{
	uint8_t buf[256];
	size_t reclen = write_record(buf, sizeof(buf));

	jnl_put_le16(buf + JNL_REC_OFF_TYPE, JNL_OP_TYPE_MAX + 1);
	reseal(buf);
	cr_assert_eq(decode_base(buf, reclen), JNL_REC_BAD_TYPE);
	jnl_put_le16(buf + JNL_REC_OFF_TYPE, 0);
	reseal(buf);
	cr_assert_eq(decode_base(buf, reclen), JNL_REC_BAD_TYPE);
	cr_assert(jnl_rec_refused(JNL_REC_BAD_TYPE));
}

Test(journal_record, rule14_rejects_a_malformed_payload)
{
	uint8_t buf[256];
	size_t reclen = write_record(buf, sizeof(buf));
	struct jnl_expect exp = base_exp();
	struct jnl_rec rec;

	jnl_put_le64(buf + JNL_REC_HDR_SIZE, 0);	/* fid 0 */
	reseal(buf);
	cr_assert_eq(jnl_rec_decode(buf, reclen, &exp, &rec),
		     JNL_REC_BAD_PAYLOAD);
	cr_assert_eq(rec.op_status, JNL_OPST_BAD_FID);
	cr_assert(!jnl_rec_refused(JNL_REC_BAD_PAYLOAD));
	cr_assert(jnl_rec_intact(JNL_REC_BAD_PAYLOAD));
	cr_assert(!jnl_rec_intact(JNL_REC_BAD_CKSUM));
}

Test(journal_format, status_names_are_defined)
{
	for (int s = JNL_REC_OK; s <= JNL_REC_BAD_PAYLOAD; s++)
		cr_assert_neq(strcmp(jnl_rec_status_name(s), "?"), 0);
	for (int s = JNL_SEG_OK; s <= JNL_SEG_BAD_GENESIS; s++)
		cr_assert_neq(strcmp(jnl_seg_status_name(s), "?"), 0);
	for (int s = JNL_OPST_OK; s <= JNL_OPST_BAD_XATTR; s++)
		cr_assert_neq(strcmp(jnl_op_status_name(s), "?"), 0);
	for (int s = JNL_CKPT_OK; s <= JNL_CKPT_BAD_OFFSET; s++)
		cr_assert_neq(strcmp(jnl_ckpt_status_name(s), "?"), 0);
	cr_assert_str_eq(jnl_type_name(JNL_OP_RENAME), "rename");
	cr_assert_str_eq(jnl_type_name(99), "unknown");
}
