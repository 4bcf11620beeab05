// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for fs/inode.c: the nodeid <-> NFS file handle table.
 *
 * What the FUSE side relies on (fuse_lowlevel.h's lookup-count contract):
 * a handle seen twice is one inode with two references; forget(n) drops n
 * and frees at zero unless an open file or an unstable write still needs
 * the inode; the root is never freed and FUSE_ROOT_ID is the root; every
 * inode gets a fresh generation; the hash keeps every handle findable as it
 * grows; and a forget below zero is a bug that aborts.
 *
 *   make && ./build/tests/test_inode
 *   make SANITIZE=1 && ./build-asan/tests/test_inode   (leaks, UAF)
 */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <signal.h>
#include <string.h>

#include "fs/inode.h"

#define FH_LEN 28		/* ganesha's VFS handles are about this long */

static struct ino_table t;
static const char root_fh[FH_LEN] = "root-handle";

/* Handle number @i: a fixed prefix (as real handles share one per export)
 * and @i in the last bytes. */
static void make_fh(char fh[FH_LEN], uint32_t i)
{
	memset(fh, 0xa5, FH_LEN);
	memcpy(fh + FH_LEN - sizeof(i), &i, sizeof(i));
}

static struct ino *ref(uint32_t i)
{
	char fh[FH_LEN];
	struct ino *ino;

	make_fh(fh, i);
	ino = ino_ref_fh(&t, fh, FH_LEN, 1000 + i);
	cr_assert_not_null(ino, "ino_ref_fh(%u) failed", i);
	return ino;
}

static struct ino *find(uint32_t i)
{
	char fh[FH_LEN];

	make_fh(fh, i);
	return ino_find_fh(&t, fh, FH_LEN);
}

static void setup(void)
{
	cr_assert_eq(ino_table_init(&t, root_fh, FH_LEN), 0);
}

static void teardown(void)
{
	ino_table_free(&t);
}

TestSuite(inode, .init = setup, .fini = teardown);

Test(inode, first_lookup_creates_inode_with_one_reference)
{
	struct ino *ino = ref(1);

	cr_expect_eq(ino->nlookup, 1);
	cr_expect_eq(ino->fh_len, FH_LEN);
	cr_expect_eq(ino->fileid, 1001);
	cr_expect_eq(find(1), ino);
	cr_expect_eq(t.count, 1);
}

Test(inode, lookup_of_same_handle_twice_is_one_inode_with_two_references)
{
	struct ino *a = ref(7);
	struct ino *b = ref(7);

	cr_expect_eq(a, b);
	cr_expect_eq(a->nlookup, 2);
	cr_expect_eq(t.count, 1);
}

Test(inode, partial_forget_keeps_inode)
{
	struct ino *ino = ref(3);

	ref(3);
	ref(3);
	ino_forget(&t, ino, 2);
	cr_expect_eq(find(3), ino);
	cr_expect_eq(ino->nlookup, 1);
}

Test(inode, forget_to_zero_frees_inode)
{
	struct ino *ino = ref(5);

	ref(5);
	ino_forget(&t, ino, 2);
	cr_expect_null(find(5));
	cr_expect_eq(t.count, 0);
}

Test(inode, lookup_after_free_makes_new_generation)
{
	struct ino *ino = ref(5);
	uint64_t gen = ino->generation;

	ino_forget(&t, ino, 1);
	cr_assert_null(find(5));
	ino = ref(5);
	cr_expect_gt(ino->generation, gen);
	cr_expect_eq(ino->nlookup, 1);
}

Test(inode, open_inode_survives_forget_to_zero_until_closed)
{
	struct ino *ino = ref(9);

	ino->open_count = 1;
	ino_forget(&t, ino, 1);
	cr_assert_eq(find(9), ino, "freed while open");
	cr_expect_eq(ino->nlookup, 0);
	ino->open_count = 0;
	ino_maybe_free(&t, ino);
	cr_expect_null(find(9));
	cr_expect_eq(t.count, 0);
}

Test(inode, unanswered_write_keeps_inode_after_forget)
{
	struct ino *ino = ref(11);

	ino->wb_inflight = 1;
	ino_forget(&t, ino, 1);
	cr_assert_eq(find(11), ino, "freed with a WRITE in flight");
	ino->wb_inflight = 0;
	ino_maybe_free(&t, ino);
	cr_expect_null(find(11));
}

Test(inode, pinned_inode_survives_forget_until_unpinned)
{
	struct ino *ino = ref(13);

	ino->pins = 1;		/* a COMMIT round or hidden-name removal */
	ino_forget(&t, ino, 1);
	cr_assert_eq(find(13), ino, "freed while pinned");
	ino->pins = 0;
	ino_maybe_free(&t, ino);
	cr_expect_null(find(13));
}

Test(inode, maybe_free_keeps_referenced_inode)
{
	struct ino *ino = ref(12);

	ino_maybe_free(&t, ino);
	cr_expect_eq(find(12), ino);
}

Test(inode, root_id_maps_to_root)
{
	struct ino *root = ino_get(&t, FUSE_ROOT_ID);

	cr_assert_eq(root, &t.root);
	cr_expect_eq(ino_nodeid(&t, root), FUSE_ROOT_ID);
	cr_expect(root->is_dir);
	cr_expect_eq(ino_find_fh(&t, root_fh, FH_LEN), root);
}

Test(inode, root_is_never_freed)
{
	struct ino *root = ino_get(&t, FUSE_ROOT_ID);
	uint64_t n = root->nlookup;

	ino_forget(&t, root, n + 100);	/* no abort, no change */
	cr_expect_eq(root->nlookup, n);
	ino_maybe_free(&t, root);
	cr_expect_eq(ino_find_fh(&t, root_fh, FH_LEN), root);
	cr_expect_eq(ino_get(&t, FUSE_ROOT_ID), root);
}

Test(inode, lookup_of_root_handle_returns_root)
{
	struct ino *root = ino_ref_fh(&t, root_fh, FH_LEN, 1);

	cr_expect_eq(root, &t.root);
	cr_expect_eq(t.count, 0);
}

Test(inode, nodeid_round_trips_to_inode)
{
	struct ino *ino = ref(21);
	fuse_ino_t id = ino_nodeid(&t, ino);

	cr_expect_neq(id, FUSE_ROOT_ID);
	cr_expect_eq(ino_get(&t, id), ino);
}

Test(inode, distinct_handles_get_distinct_inodes_with_increasing_generations)
{
	struct ino *prev = NULL;

	for (uint32_t i = 0; i < 100; i++) {
		struct ino *ino = ref(i);

		if (prev) {
			cr_assert_neq(ino, prev);
			cr_assert_gt(ino->generation, prev->generation);
			cr_assert_neq(ino_nodeid(&t, ino),
				      ino_nodeid(&t, prev));
		}
		prev = ino;
	}
	cr_expect_eq(t.count, 100);
}

Test(inode, handles_differing_only_in_length_are_distinct)
{
	char fh[FH_LEN];
	struct ino *a;
	struct ino *b;

	make_fh(fh, 1);
	a = ino_ref_fh(&t, fh, FH_LEN, 1);
	b = ino_ref_fh(&t, fh, FH_LEN - 1, 2);
	cr_assert_not_null(a);
	cr_assert_not_null(b);
	cr_expect_neq(a, b);
	cr_expect_eq(ino_find_fh(&t, fh, FH_LEN - 1), b);
}

Test(inode, oversized_handle_is_refused)
{
	char fh[INO_FH_MAX + 1];

	memset(fh, 1, sizeof(fh));
	cr_expect_null(ino_ref_fh(&t, fh, sizeof(fh), 1));
	cr_expect_eq(t.count, 0);
}

Test(inode, fh3_view_points_at_the_handle)
{
	struct ino *ino = ref(4);
	struct nfs_fh3 fh = ino_fh3(ino);

	cr_expect_eq(fh.data.data_len, FH_LEN);
	cr_expect_eq(fh.data.data_val, ino->fh);
}

#define MANY 20000u

Test(inode, table_growth_keeps_every_handle_findable)
{
	static struct ino *all[MANY];

	for (uint32_t i = 0; i < MANY; i++)
		all[i] = ref(i);
	cr_expect_eq(t.count, MANY);
	cr_expect_geq(t.nbuckets, MANY, "table did not grow (%zu buckets)",
		      t.nbuckets);
	cr_expect_eq(t.nbuckets & (t.nbuckets - 1), 0, "not a power of two");
	for (uint32_t i = 0; i < MANY; i++)
		cr_assert_eq(find(i), all[i], "handle %u lost", i);
	/* freeing from a grown table unlinks from the right chain */
	for (uint32_t i = 0; i < MANY; i += 2)
		ino_forget(&t, all[i], 1);
	cr_expect_eq(t.count, MANY / 2);
	for (uint32_t i = 0; i < MANY; i++)
		cr_assert_eq(find(i), i % 2 ? all[i] : NULL, "handle %u", i);
}

/* Test-level .init runs after the suite's: only silence the abort line. */
static void quiet(void)
{
	cr_redirect_stderr();
}

Test(inode, forget_underflow_aborts, .init = quiet, .signal = SIGABRT)
{
	struct ino *ino = ref(8);

	ino_forget(&t, ino, 2);
}

Test(inode, forget_after_zero_aborts, .init = quiet, .signal = SIGABRT)
{
	struct ino *ino = ref(8);

	ino->open_count = 1;	/* kept alive, so the pointer stays valid */
	ino_forget(&t, ino, 1);
	ino_forget(&t, ino, 1);
}
