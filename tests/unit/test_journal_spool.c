// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for journal/spool.c: append and drain order, the durable
 * drained mark (P2), a torn last entry cut at open (P1), damage that is
 * not a torn append, the bound (P4) and the overflow flag surviving a
 * reopen.  Runs on a temporary directory of the local disk.
 *
 *   make && ./build/tests/test_journal_spool
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal/spool.h"

#define NODE 4u

static char dir[64];
static char path[128];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/ofsrep-spool-test-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	/* a directory below that does not exist yet: open makes it */
	snprintf(path, sizeof(path), "%s/sub/node4.spool", dir);
}

static void teardown(void)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(journal_spool, .init = setup, .fini = teardown);

static uint8_t bytes[3][5000];

static struct jnl_app_write group(int i, size_t len)
{
	memset(bytes[i], 'a' + i, sizeof(bytes[i]));
	return (struct jnl_app_write){
		.segno = 7, .offset = 64 + 5000 * (uint64_t)i,
		.data = bytes[i], .len = len, .new_segment = i == 0,
		.first_seq = 10 * (uint64_t)i + 1,
		.last_seq = 10 * (uint64_t)i + 9,
	};
}

static void open_ok(struct jnl_spool *sp, uint64_t max)
{
	char err[512] = "";

	cr_assert_eq(jnl_spool_open(sp, path, NODE, max, err, sizeof(err)),
		     0, "%s", err);
}

static void append_ok(struct jnl_spool *sp, int i, size_t len)
{
	struct jnl_app_write w = group(i, len);
	char err[512] = "";

	cr_assert_eq(jnl_spool_append(sp, &w, err, sizeof(err)), 0, "%s",
		     err);
}

static void expect_next(struct jnl_spool *sp, int i, size_t len)
{
	struct jnl_spool_entry e;
	char err[512] = "";

	cr_assert_eq(jnl_spool_peek(sp, &e, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(e.len, len);
	cr_assert_eq(e.segno, 7);
	cr_assert_eq(e.offset, 64 + 5000 * (uint64_t)i);
	cr_assert_eq(e.new_segment, i == 0);
	cr_assert_eq(e.first_seq, 10 * (uint64_t)i + 1);
	cr_assert_eq(e.last_seq, 10 * (uint64_t)i + 9);
	cr_assert_eq(memcmp(e.data, bytes[i], len), 0);
	cr_assert_eq(jnl_spool_advance(sp, &e, err, sizeof(err)), 0, "%s",
		     err);
	free(e.data);
}

static off_t file_size(void)
{
	struct stat st;

	cr_assert_eq(stat(path, &st), 0);
	return st.st_size;
}

Test(journal_spool, entries_drain_in_order_and_the_mark_survives_reopen)
{
	struct jnl_spool sp;
	struct jnl_spool_entry e;
	char err[512];

	open_ok(&sp, 0);
	cr_assert_not(jnl_spool_pending(&sp));
	append_ok(&sp, 0, 100);
	append_ok(&sp, 1, 5000);
	append_ok(&sp, 2, 1);
	cr_assert_eq(jnl_spool_bytes(&sp), 3 * JNL_SPOOL_ENT_SIZE + 5101);
	expect_next(&sp, 0, 100);
	jnl_spool_close(&sp);

	/* A restart drains from the mark, not from the start (P2). */
	open_ok(&sp, 0);
	cr_assert(jnl_spool_pending(&sp));
	expect_next(&sp, 1, 5000);
	expect_next(&sp, 2, 1);
	cr_assert_not(jnl_spool_pending(&sp));
	cr_assert_eq(jnl_spool_peek(&sp, &e, err, sizeof(err)), -ENODATA);
	cr_assert_eq(jnl_spool_reset(&sp, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(file_size(), JNL_SPOOL_HDR_SIZE);
	jnl_spool_close(&sp);
	open_ok(&sp, 0);
	cr_assert_not(jnl_spool_pending(&sp));
	jnl_spool_close(&sp);
}

Test(journal_spool, a_torn_last_entry_is_cut_at_open)
{
	struct jnl_spool sp;
	off_t whole;

	open_ok(&sp, 0);
	append_ok(&sp, 0, 100);
	whole = file_size();
	append_ok(&sp, 1, 5000);
	jnl_spool_close(&sp);
	/* The second append was torn: half its bytes reached the disk. */
	cr_assert_eq(truncate(path, whole + 2000), 0);
	open_ok(&sp, 0);
	cr_assert_eq(file_size(), whole);
	expect_next(&sp, 0, 100);
	cr_assert_not(jnl_spool_pending(&sp));
	/* and the next append goes where the torn one was */
	append_ok(&sp, 2, 10);
	expect_next(&sp, 2, 10);
	jnl_spool_close(&sp);
}

Test(journal_spool, a_bit_flip_in_a_pending_entry_is_damage_at_peek)
{
	struct jnl_spool sp;
	struct jnl_spool_entry e;
	char err[512] = "";
	int fd;

	open_ok(&sp, 0);
	append_ok(&sp, 0, 100);
	fd = open(path, O_WRONLY);
	cr_assert_geq(fd, 0);
	cr_assert_eq(pwrite(fd, "X", 1, JNL_SPOOL_HDR_SIZE +
			    JNL_SPOOL_ENT_SIZE + 50), 1);
	close(fd);
	cr_assert_eq(jnl_spool_peek(&sp, &e, err, sizeof(err)), -EUCLEAN);
	cr_assert(strstr(err, "checksum"), "%s", err);
	jnl_spool_close(&sp);
}

Test(journal_spool, a_damaged_header_refuses_to_open_and_leaves_the_file)
{
	struct jnl_spool sp;
	char err[512] = "";
	int fd;

	open_ok(&sp, 0);
	append_ok(&sp, 0, 100);
	jnl_spool_close(&sp);
	fd = open(path, O_WRONLY);
	cr_assert_eq(pwrite(fd, "\xff", 1, 17), 1);	/* drained */
	close(fd);
	cr_assert_eq(jnl_spool_open(&sp, path, NODE, 0, err, sizeof(err)),
		     -EUCLEAN);
	cr_assert(strstr(err, "header is damaged"), "%s", err);
	cr_assert_eq(file_size(), JNL_SPOOL_HDR_SIZE + JNL_SPOOL_ENT_SIZE +
		     100);
}

Test(journal_spool, another_nodes_spool_is_refused)
{
	struct jnl_spool sp;
	char err[512] = "";

	open_ok(&sp, 0);
	jnl_spool_close(&sp);
	cr_assert_eq(jnl_spool_open(&sp, path, NODE + 1, 0, err, sizeof(err)),
		     -EUCLEAN);
	cr_assert(strstr(err, "belongs to node 4"), "%s", err);
}

Test(journal_spool, the_bound_refuses_and_overflow_is_remembered)
{
	struct jnl_spool sp;
	struct jnl_app_write w = group(1, 5000);
	char err[512] = "";

	open_ok(&sp, 2 * (JNL_SPOOL_ENT_SIZE + 5000));
	append_ok(&sp, 0, 5000);
	append_ok(&sp, 1, 5000);
	cr_assert_eq(jnl_spool_append(&sp, &w, err, sizeof(err)), -EFBIG);
	cr_assert(strstr(err, "full"), "%s", err);
	cr_assert_eq(jnl_spool_bytes(&sp), 2 * (JNL_SPOOL_ENT_SIZE + 5000));
	cr_assert_eq(jnl_spool_mark_overflow(&sp, 21, err, sizeof(err)), 0);
	jnl_spool_close(&sp);
	open_ok(&sp, 0);
	cr_assert(sp.flags & JNL_SPOOL_OVERFLOWED);
	cr_assert_eq(sp.lost_seq, 21);
	expect_next(&sp, 0, 5000);	/* what was spooled still drains */
	jnl_spool_close(&sp);
}

Test(journal_spool, reset_interrupted_after_the_truncate_reads_as_empty)
{
	struct jnl_spool sp;

	open_ok(&sp, 0);
	append_ok(&sp, 0, 100);
	append_ok(&sp, 1, 100);
	expect_next(&sp, 0, 100);
	jnl_spool_close(&sp);
	/* reset's first half: entries gone, header still says drained
	 * past entry 0 */
	cr_assert_eq(truncate(path, JNL_SPOOL_HDR_SIZE), 0);
	open_ok(&sp, 0);
	cr_assert_not(jnl_spool_pending(&sp));
	jnl_spool_close(&sp);
}

Test(journal_spool, a_bad_entry_with_an_entry_after_it_is_damage_not_torn)
{
	struct jnl_spool sp;
	char err[512] = "";
	int fd;

	open_ok(&sp, 0);
	append_ok(&sp, 0, 100);
	append_ok(&sp, 1, 10);
	jnl_spool_close(&sp);
	/* flip a byte of the first entry's data: the second follows it */
	fd = open(path, O_WRONLY);
	cr_assert_eq(pwrite(fd, "X", 1, JNL_SPOOL_HDR_SIZE +
			    JNL_SPOOL_ENT_SIZE + 5), 1);
	close(fd);
	cr_assert_eq(jnl_spool_open(&sp, path, NODE, 0, err, sizeof(err)),
		     -EUCLEAN);
	cr_assert(strstr(err, "damaged"), "%s", err);
	/* nothing was cut */
	cr_assert_eq(file_size(), JNL_SPOOL_HDR_SIZE +
		     2 * JNL_SPOOL_ENT_SIZE + 110);
}

Test(journal_spool, a_bad_last_entry_of_full_length_is_torn)
{
	struct jnl_spool sp;
	off_t whole;
	int fd;

	open_ok(&sp, 0);
	append_ok(&sp, 0, 100);
	whole = file_size();
	append_ok(&sp, 1, 10);
	jnl_spool_close(&sp);
	/* the size reached the disk, the bytes did not */
	fd = open(path, O_WRONLY);
	cr_assert_eq(pwrite(fd, "\0\0\0\0", 4, whole + JNL_SPOOL_ENT_SIZE),
		     4);
	close(fd);
	open_ok(&sp, 0);
	cr_assert_eq(file_size(), whole);
	expect_next(&sp, 0, 100);
	jnl_spool_close(&sp);
}

Test(journal_spool, after_an_interrupted_reset_new_entries_are_not_skipped)
{
	struct jnl_spool sp;

	open_ok(&sp, 0);
	append_ok(&sp, 0, 100);
	expect_next(&sp, 0, 100);
	jnl_spool_close(&sp);
	cr_assert_eq(truncate(path, JNL_SPOOL_HDR_SIZE), 0);
	open_ok(&sp, 0);		/* rewrites the stale header */
	append_ok(&sp, 1, 10);
	jnl_spool_close(&sp);
	open_ok(&sp, 0);
	cr_assert(jnl_spool_pending(&sp));
	expect_next(&sp, 1, 10);
	jnl_spool_close(&sp);
}

Test(journal_spool, the_bound_counts_only_what_is_not_drained)
{
	struct jnl_spool sp;

	open_ok(&sp, JNL_SPOOL_ENT_SIZE + 5000);
	append_ok(&sp, 0, 5000);
	expect_next(&sp, 0, 5000);	/* drained, file not yet emptied */
	append_ok(&sp, 1, 5000);	/* fits: only this one is pending */
	jnl_spool_close(&sp);
}
