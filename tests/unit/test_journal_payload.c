// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for journal/op.c: one test per numbered validity rule of
 * record payloads (P1-P11, journal/format.h).  Records themselves:
 * test_journal_record.c.
 *
 *   make && ./build/tests/test_journal_payload
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "journal/format.h"
#include "tests/unit/journal_record_fixture.h"

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
