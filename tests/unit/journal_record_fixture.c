// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * journal_record_fixture.c — sample operations, comparisons and the base
 * record header shared by the record tests (test_journal_record.c) and
 * the payload tests (test_journal_payload.c); see the .h.
 */
#include <criterion/criterion.h>
#include <string.h>
#include <xxhash.h>

#include "tests/unit/journal_record_fixture.h"

const uint8_t data5[5] = { 'h', 'e', 'l', 'l', 'o' };
const uint8_t xval[3] = { 1, 0, 2 };
/* A well-formed set (journal/xattr_set.c): "user.a" = "v", "user.b" = "" */
const uint8_t xset2[XSET2_LEN] = { 6, 0, 1, 0, 0, 0, 'u', 's', 'e', 'r', '.',
				 'a', 'v', 6, 0, 0, 0, 0, 0, 'u', 's', 'e',
				 'r', '.', 'b' };
const uint8_t fh28[28] = { 0x01, 0x00, 0x07, 0x00, 0xde, 0xad, 0xbe, 0xef,
				  0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70 };

struct jnl_str S(const char *s)
{
	return (struct jnl_str){ .ptr = s, .len = strlen(s) };
}

/* A valid operation of each type. */
struct jnl_op sample_op(enum jnl_type type)
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

bool str_eq(struct jnl_str a, struct jnl_str b)
{
	return a.len == b.len && (!a.len || !memcmp(a.ptr, b.ptr, a.len));
}

bool bytes_eq(const uint8_t *a, size_t alen, const uint8_t *b,
		     size_t blen)
{
	return alen == blen && (!alen || !memcmp(a, b, alen));
}

bool op_eq(const struct jnl_op *a, const struct jnl_op *b)
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

struct jnl_rec_hdr base_hdr(void)
{
	return (struct jnl_rec_hdr){ .gidx = 2, .node = NODE, .epoch = EPOCH,
		.seq = SEQ, .prev = PREV, .time_ns = 99 };
}

struct jnl_expect base_exp(void)
{
	return (struct jnl_expect){ .node = NODE, .epoch = EPOCH, .seq = SEQ,
		.prev = PREV, .gidx = 2 };
}

/* Encode op with the base header into buf; returns reclen. */
size_t encode(const struct jnl_op *op, uint8_t *buf, size_t cap)
{
	struct jnl_rec_hdr h = base_hdr();
	size_t reclen = 0;

	cr_assert_eq(jnl_rec_encode(&h, op, buf, cap, &reclen), 0);
	return reclen;
}

/* Recompute a record's checksum after a test edited it. */
void reseal(uint8_t *rec)
{
	size_t reclen = JNL_REC_HDR_SIZE +
			jnl_pad8(jnl_get_le32(rec + JNL_REC_OFF_PAYLEN));

	jnl_put_le64(rec, XXH3_64bits_withSeed(rec + 8, reclen - 8,
					       JNL_SEED_REC));
}

/* A WRITE of 5 bytes: 3 bytes of padding. */
size_t write_record(uint8_t *buf, size_t cap)
{
	struct jnl_op op = sample_op(JNL_OP_WRITE);

	return encode(&op, buf, cap);
}

enum jnl_rec_status decode_base(const uint8_t *buf, size_t len)
{
	struct jnl_expect exp = base_exp();
	struct jnl_rec rec;

	return jnl_rec_decode(buf, len, &exp, &rec);
}
