// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for journal/reader.c: the RECOVERY RULE and SEGMENT
 * SEQUENCE of journal/format.h.  Journals are built with the appender
 * into an in-memory "export" (struct jfs), then cut, flipped, spliced,
 * swapped and duplicated.
 *
 *   make && ./build/tests/test_journal_reader
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "journal/appender.h"
#include "journal/reader.h"

#define NODE	3u
#define MAXSEG	32
#define MAXREC	64

/* An in-memory journal directory: segment files by segno. */
struct jfs {
	uint8_t *seg[MAXSEG];
	size_t len[MAXSEG];
	size_t nseg;
};

/* What a walk returned. */
struct got {
	size_t n;
	uint64_t seq[MAXREC];
	uint64_t cksum[MAXREC];
	uint64_t segno[MAXREC];
	uint64_t off[MAXREC];
	uint32_t reclen[MAXREC];
};

static uint8_t data[256];

static void jfs_write(struct jfs *j, const struct jnl_app_write *w)
{
	size_t end = w->offset + w->len;

	cr_assert_lt(w->segno, MAXSEG);
	if (end > j->len[w->segno]) {
		j->seg[w->segno] = realloc(j->seg[w->segno], end);
		j->len[w->segno] = end;
	}
	memcpy(j->seg[w->segno] + w->offset, w->data, w->len);
	if (w->segno + 1 > j->nseg)
		j->nseg = w->segno + 1;
}

static void jfs_free(struct jfs *j)
{
	for (size_t i = 0; i < MAXSEG; i++)
		free(j->seg[i]);
	memset(j, 0, sizeof(*j));
}

/* The i-th test operation: a mix of types and sizes. */
static struct jnl_op op_for(unsigned i)
{
	static const char *const names[] = { "a", "bb", "ccc", "dddd" };
	struct jnl_op op = { .type = JNL_OP_WRITE };

	switch (i % 4) {
	case 0:
		op.u.write = (struct jnl_op_write){ .fid = 10 + i,
			.offset = i * 100, .data = data,
			.len = 1 + i * 13 % 40 };
		break;
	case 1:
		op.type = JNL_OP_CREATE;
		op.u.entry = (struct jnl_op_entry){ .parent = 1, .fid = 100 + i,
			.mode = JNL_S_IFREG | 0600, .name = {
			names[i / 4 % 4], strlen(names[i / 4 % 4]) } };
		break;
	case 2:
		op.type = JNL_OP_SETATTR;
		op.u.setattr = (struct jnl_op_setattr){ .fid = 100 + i,
			.mask = JNL_SA_SIZE, .size = i };
		break;
	default:
		op.type = JNL_OP_UNLINK;
		op.u.link = (struct jnl_op_link){ .parent = 1, .name = {
			names[i % 4], strlen(names[i % 4]) } };
		break;
	}
	return op;
}

/* Append n records through *a, flushing every `group` records. */
static void append_n(struct jfs *j, struct jnl_appender *a, unsigned from,
		     unsigned n, unsigned group)
{
	struct jnl_app_write w;
	uint64_t seq;

	for (unsigned i = 0; i < n; i++) {
		struct jnl_op op = op_for(from + i);

		cr_assert_eq(jnl_app_append(a, &op, 1000 + from + i, &seq), 0);
		if ((i + 1) % group && i + 1 < n)
			continue;
		cr_assert_eq(jnl_app_flush(a, &w), 0);
		jfs_write(j, &w);
		cr_assert_eq(jnl_app_done(a), 0);
	}
}

/* A journal of n records, in groups, segments rolled at seg_limit. */
static void build(struct jfs *j, uint32_t node, uint32_t epoch, unsigned n,
		  unsigned group, size_t seg_limit)
{
	struct jnl_app_conf c;
	struct jnl_appender a;

	memset(j, 0, sizeof(*j));
	cr_assert_eq(jnl_app_conf_genesis(&c, node, epoch), 0);
	c.seg_limit = seg_limit;
	cr_assert_eq(jnl_app_init(&a, &c), 0);
	append_n(j, &a, 0, n, group);
	jnl_app_fini(&a);
}

static int collect(void *arg, const struct jnl_rec *rec)
{
	struct got *out = arg;

	cr_assert_lt(out->n, MAXREC);
	out->seq[out->n] = rec->hdr.seq;
	out->cksum[out->n] = rec->hdr.cksum;
	out->segno[out->n] = rec->segno;
	out->off[out->n] = rec->offset;
	out->reclen[out->n] = rec->reclen;
	out->n++;
	return 0;
}

/* Walk the segments listed in order[] (segnos of fs); -1 ends the list. */
static int walk_order(struct jnl_reader *r, struct jfs *j, const int *order,
		      struct got *out)
{
	struct jnl_seg_buf segs[MAXSEG];
	size_t n = 0;

	for (; order[n] >= 0; n++)
		segs[n] = (struct jnl_seg_buf){ j->seg[order[n]],
						j->len[order[n]] };
	memset(out, 0, sizeof(*out));
	jnl_rd_init(r, NODE);
	return jnl_rd_walk(r, segs, n, collect, out);
}

static int walk_all(struct jnl_reader *r, struct jfs *j, struct got *out)
{
	int order[MAXSEG + 1];
	size_t i;

	for (i = 0; i < j->nseg; i++)
		order[i] = (int)i;
	order[i] = -1;
	return walk_order(r, j, order, out);
}

/* Every record in g is the same as the first g->n records of ref. */
static void assert_prefix(const struct got *out, const struct got *want)
{
	cr_assert_leq(out->n, want->n);
	for (size_t i = 0; i < out->n; i++) {
		cr_assert_eq(out->seq[i], want->seq[i]);
		cr_assert_eq(out->cksum[i], want->cksum[i]);
	}
}

/* Replace segment s's bytes from off on with tail[0, n). */
static void splice(struct jfs *j, size_t s, size_t off, const uint8_t *tail,
		   size_t n)
{
	uint8_t *copy = malloc(n ? n : 1);

	memcpy(copy, tail, n);
	j->seg[s] = realloc(j->seg[s], off + n + 1);
	memcpy(j->seg[s] + off, copy, n);
	j->len[s] = off + n;
	free(copy);
}

/* The fixture: the journal under test, a reference walk, a walk. */
static struct jfs fs;
static struct got ref;
static struct got g;
static struct jnl_reader rd;

static void teardown(void)
{
	jfs_free(&fs);
}

TestSuite(journal_reader, .fini = teardown);

Test(journal_reader, reads_every_record_in_order_across_segments)
{

	build(&fs, NODE, 1, 40, 3, 1024);
	cr_assert_gt(fs.nseg, 2, "the journal must span segments");
	cr_assert_eq(walk_all(&rd, &fs, &g), 0);
	cr_assert_eq(rd.end.kind, JNL_END_CLEAN);
	cr_assert_eq(g.n, 40);
	cr_assert_eq(rd.nrecs, 40);
	for (size_t i = 0; i < g.n; i++)
		cr_assert_eq(g.seq[i], i + 1);
}

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

/* Read fs to its end and continue it in a new epoch through *a. */
static void resume(struct jfs *j, struct jnl_appender *a, uint32_t epoch)
{
	struct jnl_reader r;
	struct jnl_app_conf c;
	struct got out;

	cr_assert_eq(walk_all(&r, j, &out), 0);
	cr_assert_eq(jnl_app_conf_resume(&c, &r, epoch), 0);
	cr_assert_eq(jnl_app_init(a, &c), 0);
}

Test(journal_reader, new_epoch_seals_a_torn_tail)
{
	struct jnl_appender a;
	uint8_t junk[37];

	build(&fs, NODE, 1, 5, 2, 1 << 20);
	memset(junk, 0x5a, sizeof(junk));
	splice(&fs, 0, fs.len[0], junk, sizeof(junk));
	resume(&fs, &a, 2);
	append_n(&fs, &a, 5, 4, 2);
	jnl_app_fini(&a);
	cr_assert_eq(fs.nseg, 2);
	cr_assert_eq(walk_all(&rd, &fs, &g), 0);
	cr_assert_eq(g.n, 9);
	cr_assert_eq(g.seq[8], 9);
	cr_assert_eq(rd.end.kind, JNL_END_CLEAN);
	cr_assert_eq(rd.epoch, 2);
}

Test(journal_reader, records_of_a_fenced_epoch_after_the_seal_are_ignored)
{
	struct jnl_app_conf c;
	struct jnl_appender old;
	struct jnl_appender a;

	memset(&fs, 0, sizeof(fs));
	cr_assert_eq(jnl_app_conf_genesis(&c, NODE, 1), 0);
	cr_assert_eq(jnl_app_init(&old, &c), 0);
	append_n(&fs, &old, 0, 4, 2);
	resume(&fs, &a, 2);			/* seals segment 0 at seq 4 */
	append_n(&fs, &a, 4, 3, 1);
	append_n(&fs, &old, 4, 2, 1);		/* the zombie writes on */
	jnl_app_fini(&old);
	jnl_app_fini(&a);
	cr_assert_eq(walk_all(&rd, &fs, &g), 0);
	cr_assert_eq(g.n, 7);
	for (size_t i = 0; i < g.n; i++)
		cr_assert_eq(g.seq[i], i + 1);
	cr_assert_eq(g.segno[4], 1, "seq 5 comes from epoch 2's segment");
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

Test(journal_reader, empty_segment_is_skipped_when_the_chain_continues)
{
	struct jnl_app_conf c;
	struct jnl_appender a;

	build(&fs, NODE, 1, 4, 2, 1 << 20);
	cr_assert_eq(walk_all(&rd, &fs, &g), 0);
	fs.seg[1] = calloc(1, 40);		/* created, header torn */
	fs.len[1] = 40;
	fs.nseg = 2;
	cr_assert_eq(walk_all(&rd, &fs, &g), 0);
	cr_assert_eq(rd.end.kind, JNL_END_EMPTY, "an empty tail ends it");
	cr_assert_eq(g.n, 4);
	cr_assert_eq(jnl_app_conf_resume(&c, &rd, 2), 0);
	c.segno = 2;				/* the writer skipped it */
	cr_assert_eq(jnl_app_init(&a, &c), 0);
	append_n(&fs, &a, 4, 3, 2);
	jnl_app_fini(&a);
	cr_assert_eq(walk_all(&rd, &fs, &g), 0);
	cr_assert_eq(rd.end.kind, JNL_END_CLEAN);
	cr_assert_eq(g.n, 7);
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

/* Read up to k records of segment s with a fresh or given reader. */
static void read_k(struct jnl_reader *r, struct jfs *j, size_t s,
		   size_t k, struct got *out)
{
	const uint8_t *next = s + 1 < j->nseg ? j->seg[s + 1] : NULL;
	struct jnl_rec rec;

	cr_assert_eq(jnl_rd_open(r, j->seg[s], j->len[s], next,
				 next ? j->len[s + 1] : 0), 0);
	while (out->n < k && jnl_rd_next(r, &rec) == 1)
		collect(out, &rec);
}

/* Checkpoint rd through a two-slot file and start a new reader from it. */
static void via_ckpt_file(const struct jnl_reader *r, struct jnl_reader *nrd)
{
	uint8_t file[2 * JNL_CKPT_SIZE] = { 0 };
	struct jnl_ckpt ck;
	unsigned slot;

	cr_assert_eq(jnl_rd_ckpt(r, &ck), 0);
	jnl_ckpt_encode(&ck, file + JNL_CKPT_SIZE);
	cr_assert_eq(jnl_ckpt_pick(file, sizeof(file), &ck, &slot), 0);
	cr_assert_eq(jnl_rd_init_ckpt(nrd, &ck), 0);
}

Test(journal_reader, checkpoint_resumes_in_the_middle_of_a_segment)
{
	struct jnl_reader nrd;

	build(&fs, NODE, 1, 12, 5, 1 << 20);
	cr_assert_eq(walk_all(&rd, &fs, &ref), 0);
	jnl_rd_init(&rd, NODE);
	read_k(&rd, &fs, 0, 7, &g);		/* mid-group */
	via_ckpt_file(&rd, &nrd);
	read_k(&nrd, &fs, 0, MAXREC, &g);
	cr_assert_eq(nrd.end.kind, JNL_END_CLEAN);
	cr_assert_eq(g.n, 12);
	assert_prefix(&g, &ref);
}

Test(journal_reader, checkpoint_at_a_seal_resumes_in_the_next_segment)
{
	struct jnl_reader nrd;
	struct jnl_ckpt ck;

	build(&fs, NODE, 1, 20, 2, 300);
	cr_assert_eq(walk_all(&rd, &fs, &ref), 0);
	jnl_rd_init(&rd, NODE);
	read_k(&rd, &fs, 0, MAXREC, &g);
	cr_assert_eq(rd.end.kind, JNL_END_SEALED);
	cr_assert_eq(jnl_rd_ckpt(&rd, &ck), 0);
	cr_assert_eq(ck.segno, 1);
	cr_assert_eq(ck.offset, JNL_SEG_HDR_SIZE);
	via_ckpt_file(&rd, &nrd);
	read_k(&nrd, &fs, 1, MAXREC, &g);
	assert_prefix(&g, &ref);
	cr_assert_eq(g.seq[g.n - 1], ref.seq[g.n - 1]);
	cr_assert_gt(g.n, rd.nrecs);
}

Test(journal_reader, checkpoint_that_does_not_match_the_journal_is_damage)
{
	struct jnl_ckpt ck;

	build(&fs, NODE, 1, 12, 3, 700);
	cr_assert_geq(fs.nseg, 2);
	jnl_rd_init(&rd, NODE);
	read_k(&rd, &fs, 0, 3, &g);
	cr_assert_eq(rd.end.kind, JNL_END_NONE, "stopped mid-segment");
	cr_assert_eq(jnl_rd_ckpt(&rd, &ck), 0);
	ck.chain ^= 1;
	cr_assert_eq(jnl_rd_init_ckpt(&rd, &ck), 0);
	cr_assert_eq(jnl_rd_open(&rd, fs.seg[0], fs.len[0], NULL, 0), 0);
	cr_assert_eq(jnl_rd_next(&rd, &(struct jnl_rec){ 0 }), -EUCLEAN);
	cr_assert_eq(rd.end.rec, JNL_REC_BAD_CHAIN);
	ck.chain ^= 1;
	cr_assert_eq(jnl_rd_init_ckpt(&rd, &ck), 0);
	cr_assert_eq(jnl_rd_open(&rd, fs.seg[1], fs.len[1], NULL, 0),
		     -EUCLEAN);
	cr_assert_eq(rd.end.why, JNL_WHY_SEG_ORDER);
	cr_assert_eq(jnl_rd_init_ckpt(&rd, &ck), 0);
	cr_assert_eq(jnl_rd_open(&rd, fs.seg[0], ck.offset - 8, NULL, 0),
		     -EUCLEAN);
	cr_assert_eq(rd.end.why, JNL_WHY_SHORT);
	ck.offset = 3;
	cr_assert_eq(jnl_rd_init_ckpt(&rd, &ck), -EINVAL);
}

Test(journal_reader, live_tail_is_followed_with_refresh)
{
	struct jnl_rec rec;
	size_t part;

	build(&fs, NODE, 1, 12, 3, 700);
	cr_assert_eq(walk_all(&rd, &fs, &ref), 0);
	cr_assert_eq(ref.segno[3], 0);
	part = ref.off[2] + 10;			/* mid-way through seq 3 */
	jnl_rd_init(&rd, NODE);
	cr_assert_eq(jnl_rd_open(&rd, fs.seg[0], part, NULL, 0), 0);
	while (jnl_rd_next(&rd, &rec) == 1)
		collect(&g, &rec);
	cr_assert_eq(g.n, 2);
	cr_assert_eq(rd.end.kind, JNL_END_TORN);
	cr_assert_eq(jnl_rd_refresh(&rd, fs.seg[0], fs.len[0], NULL, 0), 0);
	while (jnl_rd_next(&rd, &rec) == 1)
		collect(&g, &rec);
	cr_assert_eq(rd.end.kind, JNL_END_CLEAN);
	cr_assert_eq(jnl_rd_refresh(&rd, fs.seg[0], fs.len[0], fs.seg[1],
				    fs.len[1]), 0);
	cr_assert_eq(jnl_rd_next(&rd, &rec), 0);
	cr_assert_eq(rd.end.kind, JNL_END_SEALED);
	cr_assert_eq(jnl_rd_open(&rd, fs.seg[1], fs.len[1], NULL, 0), 0);
	while (jnl_rd_next(&rd, &rec) == 1)
		collect(&g, &rec);
	assert_prefix(&g, &ref);
	cr_assert_eq(g.seq[g.n - 1], g.n);
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

Test(journal_reader, opening_before_the_segment_is_done_is_refused)
{

	build(&fs, NODE, 1, 20, 2, 300);
	jnl_rd_init(&rd, NODE);
	cr_assert_eq(jnl_rd_next(&rd, &(struct jnl_rec){ 0 }), -EINVAL);
	cr_assert_eq(jnl_rd_open(&rd, fs.seg[0], fs.len[0], NULL, 0), 0);
	cr_assert_eq(jnl_rd_open(&rd, fs.seg[1], fs.len[1], NULL, 0),
		     -EINVAL);
}

Test(journal_reader, end_is_described_in_one_line)
{
	char line[256];

	build(&fs, NODE, 1, 6, 1, 1 << 20);
	cr_assert_eq(walk_all(&rd, &fs, &ref), 0);
	splice(&fs, 0, ref.off[2], fs.seg[0] + ref.off[3],
	       fs.len[0] - ref.off[3]);
	cr_assert_eq(walk_all(&rd, &fs, &g), -EUCLEAN);
	jnl_end_describe(&rd.end, line, sizeof(line));
	cr_assert(strstr(line, "damaged") && strstr(line, "gap"), "%s", line);
	cr_assert(strstr(line, "expected seq 3") &&
		  strstr(line, "found seq 4"), "%s", line);
}
