// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for journal/format.h, journal/record.c and journal/op.c:
 * byte layout, encode/decode round trips for every record type, and one
 * test per numbered validity rule of records (1-14) and payloads (P1-P10).
 * Segment headers and checkpoints: test_journal_segment.c.
 *
 *   make && ./build/tests/test_journal_record
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <xxhash.h>

#include "journal/format.h"

#define NODE	7u
#define EPOCH	3u
#define SEQ	5u
#define PREV	0x1122334455667788ull

static const uint8_t data5[5] = { 'h', 'e', 'l', 'l', 'o' };
static const uint8_t xval[3] = { 1, 0, 2 };
/* A well-formed set (journal/xattr_set.c): "user.a" = "v", "user.b" = "" */
static const uint8_t xset2[] = { 6, 0, 1, 0, 0, 0, 'u', 's', 'e', 'r', '.',
				 'a', 'v', 6, 0, 0, 0, 0, 0, 'u', 's', 'e',
				 'r', '.', 'b' };
static const uint8_t fh28[28] = { 0x01, 0x00, 0x07, 0x00, 0xde, 0xad, 0xbe, 0xef,
				  0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70 };

static struct jnl_str S(const char *s)
{
	return (struct jnl_str){ .ptr = s, .len = strlen(s) };
}

/* A valid operation of each type. */
static struct jnl_op sample_op(enum jnl_type type)
{
	struct jnl_op op = { .type = type };
	struct jnl_op_entry *e = &op.u.entry;

	switch (type) {
	case JNL_OP_CREATE:
	case JNL_OP_MKDIR:
	case JNL_OP_MKNOD:
	case JNL_OP_SYMLINK:
		*e = (struct jnl_op_entry){ .parent = 1, .fid = 42,
			.mode = 0644, .uid = 1000, .gid = 100,
			.name = S("entry.txt") };
		e->mode |= type == JNL_OP_CREATE ? JNL_S_IFREG :
			   type == JNL_OP_MKDIR ? JNL_S_IFDIR :
			   type == JNL_OP_MKNOD ? JNL_S_IFCHR : JNL_S_IFLNK;
		if (type == JNL_OP_MKNOD)
			e->rdev = 0x0103;
		if (type == JNL_OP_SYMLINK)
			e->target = S("../some/where");
		break;
	case JNL_OP_BIND:
	case JNL_OP_LINK:
	case JNL_OP_UNLINK:
	case JNL_OP_RMDIR:
		op.u.link = (struct jnl_op_link){ .parent = 9, .fid = 43,
			.name = S("linked") };
		break;
	case JNL_OP_RENAME:
		op.u.rename = (struct jnl_op_rename){ .parent = 9,
			.newparent = 10, .fid = 44,
			.flags = JNL_RENAME_NOREPLACE,
			.name = S("old"), .newname = S("new name") };
		break;
	case JNL_OP_WRITE:
		op.u.write = (struct jnl_op_write){ .fid = 45,
			.offset = 5ull << 32, .data = data5, .len = 5 };
		break;
	case JNL_OP_SETATTR:
		op.u.setattr = (struct jnl_op_setattr){ .fid = 46,
			.mask = JNL_SA_KNOWN, .mode = 04755, .uid = 1, .gid = 2,
			.size = 1ull << 40, .atime_sec = -5,
			.mtime_sec = 1700000000,
			.atime_nsec = 999999999, .mtime_nsec = 1 };
		break;
	case JNL_OP_SETXATTR:
		op.u.xattr = (struct jnl_op_xattr){ .fid = 47,
			.flags = JNL_XATTR_CREATE, .name = S("user.k"),
			.value = xval, .value_len = sizeof(xval) };
		break;
	case JNL_OP_REMOVEXATTR:
		op.u.xattr = (struct jnl_op_xattr){ .fid = 47,
			.name = S("user.k") };
		break;
	case JNL_OP_BINDFH:
		op.u.handle = (struct jnl_op_handle){ .fid = 48,
			.fh = fh28, .fh_len = sizeof(fh28) };
		break;
	case JNL_OP_XATTRS:
		op.u.xattrs = (struct jnl_op_xattrs){ .fid = JNL_FID_ROOT,
			.count = 2, .set = xset2, .set_len = sizeof(xset2) };
		break;
	}
	return op;
}

static bool str_eq(struct jnl_str a, struct jnl_str b)
{
	return a.len == b.len && (!a.len || !memcmp(a.ptr, b.ptr, a.len));
}

static bool bytes_eq(const uint8_t *a, size_t alen, const uint8_t *b,
		     size_t blen)
{
	return alen == blen && (!alen || !memcmp(a, b, alen));
}

static bool op_eq(const struct jnl_op *a, const struct jnl_op *b)
{
	const struct jnl_op_entry *ea = &a->u.entry, *eb = &b->u.entry;
	const struct jnl_op_rename *ra = &a->u.rename, *rb = &b->u.rename;
	const struct jnl_op_xattr *xa = &a->u.xattr, *xb = &b->u.xattr;

	if (a->type != b->type)
		return false;
	switch (a->type) {
	case JNL_OP_CREATE: case JNL_OP_MKDIR: case JNL_OP_MKNOD:
	case JNL_OP_SYMLINK:
		return ea->parent == eb->parent && ea->fid == eb->fid &&
		       ea->rdev == eb->rdev && ea->mode == eb->mode &&
		       ea->uid == eb->uid && ea->gid == eb->gid &&
		       str_eq(ea->name, eb->name) &&
		       str_eq(ea->target, eb->target);
	case JNL_OP_BIND: case JNL_OP_LINK: case JNL_OP_UNLINK:
	case JNL_OP_RMDIR:
		return a->u.link.parent == b->u.link.parent &&
		       a->u.link.fid == b->u.link.fid &&
		       str_eq(a->u.link.name, b->u.link.name);
	case JNL_OP_RENAME:
		return ra->parent == rb->parent &&
		       ra->newparent == rb->newparent && ra->fid == rb->fid &&
		       ra->flags == rb->flags && str_eq(ra->name, rb->name) &&
		       str_eq(ra->newname, rb->newname);
	case JNL_OP_WRITE:
		return a->u.write.fid == b->u.write.fid &&
		       a->u.write.offset == b->u.write.offset &&
		       bytes_eq(a->u.write.data, a->u.write.len,
				b->u.write.data, b->u.write.len);
	case JNL_OP_SETATTR:
		return !memcmp(&a->u.setattr, &b->u.setattr,
			       sizeof(a->u.setattr));
	case JNL_OP_BINDFH:
		return a->u.handle.fid == b->u.handle.fid &&
		       bytes_eq(a->u.handle.fh, a->u.handle.fh_len,
				b->u.handle.fh, b->u.handle.fh_len);
	case JNL_OP_XATTRS:
		return a->u.xattrs.fid == b->u.xattrs.fid &&
		       a->u.xattrs.count == b->u.xattrs.count &&
		       bytes_eq(a->u.xattrs.set, a->u.xattrs.set_len,
				b->u.xattrs.set, b->u.xattrs.set_len);
	case JNL_OP_SETXATTR: case JNL_OP_REMOVEXATTR:
		return xa->fid == xb->fid && xa->flags == xb->flags &&
		       str_eq(xa->name, xb->name) &&
		       bytes_eq(xa->value, xa->value_len, xb->value,
				xb->value_len);
	}
	return false;
}

static struct jnl_rec_hdr base_hdr(void)
{
	return (struct jnl_rec_hdr){ .gidx = 2, .node = NODE, .epoch = EPOCH,
		.seq = SEQ, .prev = PREV, .time_ns = 99 };
}

static struct jnl_expect base_exp(void)
{
	return (struct jnl_expect){ .node = NODE, .epoch = EPOCH, .seq = SEQ,
		.prev = PREV, .gidx = 2 };
}

/* Encode op with the base header into buf; returns reclen. */
static size_t encode(const struct jnl_op *op, uint8_t *buf, size_t cap)
{
	struct jnl_rec_hdr h = base_hdr();
	size_t reclen = 0;

	cr_assert_eq(jnl_rec_encode(&h, op, buf, cap, &reclen), 0);
	return reclen;
}

/* Recompute a record's checksum after a test edited it. */
static void reseal(uint8_t *rec)
{
	size_t reclen = JNL_REC_HDR_SIZE +
			jnl_pad8(jnl_get_le32(rec + JNL_REC_OFF_PAYLEN));

	jnl_put_le64(rec, XXH3_64bits_withSeed(rec + 8, reclen - 8,
					       JNL_SEED_REC));
}

/* A WRITE of 5 bytes: 3 bytes of padding. */
static size_t write_record(uint8_t *buf, size_t cap)
{
	struct jnl_op op = sample_op(JNL_OP_WRITE);

	return encode(&op, buf, cap);
}

static enum jnl_rec_status decode_base(const uint8_t *buf, size_t len)
{
	struct jnl_expect exp = base_exp();
	struct jnl_rec rec;

	return jnl_rec_decode(buf, len, &exp, &rec);
}

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

/* ---- payload rules P1-P10 ---- */

/* Decode the payload of op after edit() changed its bytes. */
static enum jnl_op_status decode_edited(struct jnl_op op, size_t off,
					const void *bytes, size_t n,
					long dlen)
{
	uint8_t p[512] = { 0 };
	struct jnl_op out;
	size_t len = jnl_op_size(&op);

	cr_assert_eq(jnl_op_encode(&op, p, sizeof(p)), 0);
	memcpy(p + off, bytes, n);
	return jnl_op_decode(op.type, p, (size_t)((long)len + dlen), &out);
}

Test(journal_payload, p1_length_must_match_the_layout_exactly)
{
	uint8_t big[2] = { 0xff, 0x00 };
	uint8_t vl[4] = { 0xff, 0xff, 0xff, 0xff };

	for (unsigned t = 1; t <= JNL_OP_TYPE_MAX; t++) {
		enum jnl_op_status st = decode_edited(
			sample_op((enum jnl_type)t), 0, "", 0, -1);

		/* a WRITE's data is "the rest": shorter is still whole */
		cr_assert_eq(st, t == JNL_OP_WRITE ? JNL_OPST_OK :
			     JNL_OPST_BAD_LENGTH, "%s short", jnl_type_name(t));
	}
	cr_assert_eq(decode_edited(sample_op(JNL_OP_CREATE), 36, big, 2, 0),
		     JNL_OPST_BAD_LENGTH);
	cr_assert_eq(decode_edited(sample_op(JNL_OP_SETATTR), 0, "", 0, 1),
		     JNL_OPST_BAD_LENGTH);
	cr_assert_eq(decode_edited(sample_op(JNL_OP_RENAME), 30, big, 2, 0),
		     JNL_OPST_BAD_LENGTH);
	cr_assert_eq(decode_edited(sample_op(JNL_OP_SETXATTR), 12, vl, 4, 0),
		     JNL_OPST_BAD_LENGTH);
	cr_assert_eq(decode_edited(sample_op(JNL_OP_UNLINK), 0, "", 0, +1),
		     JNL_OPST_BAD_LENGTH);
	cr_assert_eq(jnl_op_decode(JNL_OP_WRITE, (const uint8_t *)"", 15,
				   &(struct jnl_op){ 0 }),
		     JNL_OPST_BAD_LENGTH);
}

static enum jnl_op_status check(struct jnl_op op)
{
	uint8_t buf[8192];
	enum jnl_op_status st = jnl_op_check(&op);

	/* whatever the checker rejects, the encoder refuses */
	if (st != JNL_OPST_OK)
		cr_assert_eq(jnl_op_encode(&op, buf, sizeof(buf)), -EINVAL);
	return st;
}

Test(journal_payload, p2_file_ids_must_be_given_and_root_is_protected)
{
	struct jnl_op op = sample_op(JNL_OP_CREATE);

	op.u.entry.fid = 0;
	cr_assert_eq(check(op), JNL_OPST_BAD_FID);
	op.u.entry.fid = JNL_FID_ROOT;
	cr_assert_eq(check(op), JNL_OPST_BAD_FID);
	op = sample_op(JNL_OP_MKDIR);
	op.u.entry.parent = 0;
	cr_assert_eq(check(op), JNL_OPST_BAD_FID);
	op = sample_op(JNL_OP_BIND);
	op.u.link.fid = 0;
	cr_assert_eq(check(op), JNL_OPST_BAD_FID);
	op = sample_op(JNL_OP_UNLINK);
	op.u.link.fid = JNL_FID_NONE;
	cr_assert_eq(check(op), JNL_OPST_OK, "an unbound victim is fine");
	op.u.link.fid = JNL_FID_ROOT;
	cr_assert_eq(check(op), JNL_OPST_BAD_FID);
	op = sample_op(JNL_OP_RENAME);
	op.u.rename.newparent = 0;
	cr_assert_eq(check(op), JNL_OPST_BAD_FID);
	op = sample_op(JNL_OP_WRITE);
	op.u.write.fid = 0;
	cr_assert_eq(check(op), JNL_OPST_BAD_FID);
	op = sample_op(JNL_OP_SETATTR);
	op.u.setattr.fid = 0;
	cr_assert_eq(check(op), JNL_OPST_BAD_FID);
	op = sample_op(JNL_OP_REMOVEXATTR);
	op.u.xattr.fid = 0;
	cr_assert_eq(check(op), JNL_OPST_BAD_FID);
}

Test(journal_payload, p3_names_are_single_path_components)
{
	static const char *const bad[] = { "", ".", "..", "a/b", "/" };
	struct jnl_op op = sample_op(JNL_OP_LINK);
	char long_name[257];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		op.u.link.name = S(bad[i]);
		cr_assert_eq(check(op), JNL_OPST_BAD_NAME, "'%s'", bad[i]);
	}
	op.u.link.name = (struct jnl_str){ .ptr = "a\0b", .len = 3 };
	cr_assert_eq(check(op), JNL_OPST_BAD_NAME);
	memset(long_name, 'x', 256);
	long_name[256] = 0;
	op.u.link.name = S(long_name);
	cr_assert_eq(check(op), JNL_OPST_BAD_NAME);
	long_name[255] = 0;
	op.u.link.name = S(long_name);
	cr_assert_eq(check(op), JNL_OPST_OK);
	op.u.link.name = S("...");
	cr_assert_eq(check(op), JNL_OPST_OK);
	op = sample_op(JNL_OP_RENAME);
	op.u.rename.newname = S("..");
	cr_assert_eq(check(op), JNL_OPST_BAD_NAME);
}

Test(journal_payload, p4_entry_mode_matches_the_record_type)
{
	struct jnl_op op = sample_op(JNL_OP_CREATE);

	op.u.entry.mode = JNL_S_IFDIR | 0755;
	cr_assert_eq(check(op), JNL_OPST_BAD_MODE);
	op = sample_op(JNL_OP_MKDIR);
	op.u.entry.mode = JNL_S_IFREG | 0755;
	cr_assert_eq(check(op), JNL_OPST_BAD_MODE);
	op = sample_op(JNL_OP_MKNOD);
	op.u.entry.mode = JNL_S_IFREG | 0644;
	op.u.entry.rdev = 0;
	cr_assert_eq(check(op), JNL_OPST_BAD_MODE);
	op.u.entry.mode = JNL_S_IFIFO | 0644;
	cr_assert_eq(check(op), JNL_OPST_OK);
	op.u.entry.rdev = 5;
	cr_assert_eq(check(op), JNL_OPST_BAD_MODE, "rdev on a fifo");
	op.u.entry.mode = JNL_S_IFBLK | 0600;
	cr_assert_eq(check(op), JNL_OPST_OK);
	op = sample_op(JNL_OP_CREATE);
	op.u.entry.mode |= 0200000;
	cr_assert_eq(check(op), JNL_OPST_BAD_MODE);
}

Test(journal_payload, p5_only_symlinks_carry_a_target)
{
	struct jnl_op op = sample_op(JNL_OP_SYMLINK);
	static char long_target[4097];

	op.u.entry.target = S("");
	cr_assert_eq(check(op), JNL_OPST_BAD_TARGET);
	op.u.entry.target = (struct jnl_str){ .ptr = "a\0", .len = 2 };
	cr_assert_eq(check(op), JNL_OPST_BAD_TARGET);
	memset(long_target, 'a', 4096);
	op.u.entry.target = S(long_target);
	cr_assert_eq(check(op), JNL_OPST_BAD_TARGET);
	long_target[4095] = 0;
	op.u.entry.target = S(long_target);
	cr_assert_eq(check(op), JNL_OPST_OK);
	op = sample_op(JNL_OP_CREATE);
	op.u.entry.target = S("x");
	cr_assert_eq(check(op), JNL_OPST_BAD_TARGET);
}

Test(journal_payload, p6_writes_are_bounded)
{
	struct jnl_op op = sample_op(JNL_OP_WRITE);

	op.u.write.len = 0;
	cr_assert_eq(check(op), JNL_OPST_BAD_RANGE);
	op.u.write.len = JNL_MAX_WRITE + 1;
	cr_assert_eq(check(op), JNL_OPST_BAD_RANGE);
	op.u.write.len = 5;
	op.u.write.offset = JNL_MAX_FILE_SIZE - 4;
	cr_assert_eq(check(op), JNL_OPST_BAD_RANGE);
	op.u.write.offset = JNL_MAX_FILE_SIZE - 5;
	cr_assert_eq(check(op), JNL_OPST_OK);
	op.u.write.offset = UINT64_MAX;
	cr_assert_eq(check(op), JNL_OPST_BAD_RANGE);
}

Test(journal_payload, p7_setattr_is_canonical)
{
	struct jnl_op op = { .type = JNL_OP_SETATTR, .u.setattr = {
		.fid = 2 } };

	cr_assert_eq(check(op), JNL_OPST_BAD_SETATTR, "empty mask");
	op = sample_op(JNL_OP_SETATTR);
	op.u.setattr.mask |= 0x40;
	cr_assert_eq(check(op), JNL_OPST_BAD_SETATTR);
	op = sample_op(JNL_OP_SETATTR);
	op.u.setattr.mask &= ~JNL_SA_UID;	/* uid set but not selected */
	cr_assert_eq(check(op), JNL_OPST_BAD_SETATTR);
	op = sample_op(JNL_OP_SETATTR);
	op.u.setattr.mode |= JNL_S_IFREG;
	cr_assert_eq(check(op), JNL_OPST_BAD_SETATTR);
	op = sample_op(JNL_OP_SETATTR);
	op.u.setattr.mtime_nsec = 1000000000u;
	cr_assert_eq(check(op), JNL_OPST_BAD_SETATTR);
	op = sample_op(JNL_OP_SETATTR);
	op.u.setattr.size = JNL_MAX_FILE_SIZE + 1;
	cr_assert_eq(check(op), JNL_OPST_BAD_SETATTR);
	op = (struct jnl_op){ .type = JNL_OP_SETATTR, .u.setattr = {
		.fid = 2, .mask = JNL_SA_SIZE } };
	cr_assert_eq(check(op), JNL_OPST_OK, "truncate to 0");
}

Test(journal_payload, p8_flags_are_known_and_exclusive)
{
	struct jnl_op op = sample_op(JNL_OP_RENAME);

	op.u.rename.flags = JNL_RENAME_NOREPLACE | JNL_RENAME_EXCHANGE;
	cr_assert_eq(check(op), JNL_OPST_BAD_FLAGS);
	op.u.rename.flags = 4;
	cr_assert_eq(check(op), JNL_OPST_BAD_FLAGS);
	op.u.rename.flags = JNL_RENAME_EXCHANGE;
	cr_assert_eq(check(op), JNL_OPST_OK);
	op = sample_op(JNL_OP_SETXATTR);
	op.u.xattr.flags = JNL_XATTR_CREATE | JNL_XATTR_REPLACE;
	cr_assert_eq(check(op), JNL_OPST_BAD_FLAGS);
	op = sample_op(JNL_OP_REMOVEXATTR);
	op.u.xattr.flags = JNL_XATTR_CREATE;
	cr_assert_eq(check(op), JNL_OPST_BAD_FLAGS);
}

Test(journal_payload, p9_xattr_names_and_values_are_bounded)
{
	static uint8_t value[JNL_XATTR_VALUE_MAX + 1];
	struct jnl_op op = sample_op(JNL_OP_SETXATTR);
	char long_name[257];

	op.u.xattr.name = S("");
	cr_assert_eq(check(op), JNL_OPST_BAD_XATTR);
	op.u.xattr.name = (struct jnl_str){ .ptr = "user.\0", .len = 6 };
	cr_assert_eq(check(op), JNL_OPST_BAD_XATTR);
	memset(long_name, 'u', 256);
	long_name[256] = 0;
	op.u.xattr.name = S(long_name);
	cr_assert_eq(check(op), JNL_OPST_BAD_XATTR);
	op = sample_op(JNL_OP_SETXATTR);
	op.u.xattr.value = value;
	op.u.xattr.value_len = sizeof(value);
	cr_assert_eq(check(op), JNL_OPST_BAD_XATTR);
	op.u.xattr.value_len = sizeof(value) - 1;
	cr_assert_eq(check(op), JNL_OPST_OK);
	op = sample_op(JNL_OP_REMOVEXATTR);
	op.u.xattr.value = xval;
	op.u.xattr.value_len = 1;
	cr_assert_eq(check(op), JNL_OPST_BAD_XATTR);
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

Test(journal_payload, p10_bindfh_needs_a_new_fid_and_a_handle_of_nfs3_size)
{
	uint8_t fh[JNL_FH_MAX + 1] = { 1 };
	struct jnl_op op = sample_op(JNL_OP_BINDFH);
	uint8_t len_big[2] = { JNL_FH_MAX + 1, 0 };

	cr_assert_eq(check(op), JNL_OPST_OK);
	op.u.handle.fid = JNL_FID_ROOT;
	cr_assert_eq(check(op), JNL_OPST_BAD_FID);
	op.u.handle.fid = 0;
	cr_assert_eq(check(op), JNL_OPST_BAD_FID);
	op = sample_op(JNL_OP_BINDFH);
	op.u.handle.fh_len = 0;
	cr_assert_eq(check(op), JNL_OPST_BAD_HANDLE);
	op.u.handle.fh = fh;
	op.u.handle.fh_len = sizeof(fh);
	cr_assert_eq(check(op), JNL_OPST_BAD_HANDLE);
	op.u.handle.fh_len = JNL_FH_MAX;
	cr_assert_eq(check(op), JNL_OPST_OK);
	/* a length field that promises more than the payload holds */
	cr_assert_eq(decode_edited(sample_op(JNL_OP_BINDFH), 8, len_big, 2,
				   0), JNL_OPST_BAD_LENGTH);
}

Test(journal_payload, p11_xattrs_needs_a_fid_and_a_well_formed_set)
{
	static const uint8_t unsorted[] = { 6, 0, 0, 0, 0, 0, 'u', 's', 'e',
					    'r', '.', 'b', 6, 0, 0, 0, 0, 0,
					    'u', 's', 'e', 'r', '.', 'a' };
	struct jnl_op op = sample_op(JNL_OP_XATTRS);
	uint8_t setlen_big[4] = { sizeof(xset2) + 1, 0, 0, 0 };

	cr_assert_eq(check(op), JNL_OPST_OK);
	op.u.xattrs.fid = 0;
	cr_assert_eq(check(op), JNL_OPST_BAD_FID);
	op = sample_op(JNL_OP_XATTRS);
	op.u.xattrs.count = 3;			/* X2: not the entries' count */
	cr_assert_eq(check(op), JNL_OPST_BAD_XATTRS);
	op.u.xattrs.count = 2;
	op.u.xattrs.set = unsorted;		/* X4 */
	op.u.xattrs.set_len = sizeof(unsorted);
	cr_assert_eq(check(op), JNL_OPST_BAD_XATTRS);
	op.u.xattrs.set_len = 0;		/* the empty set, count 0 */
	op.u.xattrs.count = 0;
	cr_assert_eq(check(op), JNL_OPST_OK);
	/* a set length that promises more than the payload holds */
	cr_assert_eq(decode_edited(sample_op(JNL_OP_XATTRS), 12, setlen_big,
				   4, 0), JNL_OPST_BAD_LENGTH);
}
