// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * journal_reader_fixture.c — the journal reader tests' fixture (see
 * journal_reader_fixture.h): building journals with the appender into an
 * in-memory directory, walking them, and cutting them up.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/journal_reader_fixture.h"

static uint8_t data[256];

void jfs_write(struct jfs *j, const struct jnl_app_write *w)
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

void jfs_free(struct jfs *j)
{
	for (size_t i = 0; i < MAXSEG; i++)
		free(j->seg[i]);
	memset(j, 0, sizeof(*j));
}

/* The i-th test operation: a mix of types and sizes. */
struct jnl_op op_for(unsigned i)
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
void append_n(struct jfs *j, struct jnl_appender *a, unsigned from,
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
void build(struct jfs *j, uint32_t node, uint32_t epoch, unsigned n,
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

int collect(void *arg, const struct jnl_rec *rec)
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
int walk_order(struct jnl_reader *r, struct jfs *j, const int *order,
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

int walk_all(struct jnl_reader *r, struct jfs *j, struct got *out)
{
	int order[MAXSEG + 1];
	size_t i;

	for (i = 0; i < j->nseg; i++)
		order[i] = (int)i;
	order[i] = -1;
	return walk_order(r, j, order, out);
}

/* Every record in g is the same as the first g->n records of ref. */
void assert_prefix(const struct got *out, const struct got *want)
{
	cr_assert_leq(out->n, want->n);
	for (size_t i = 0; i < out->n; i++) {
		cr_assert_eq(out->seq[i], want->seq[i]);
		cr_assert_eq(out->cksum[i], want->cksum[i]);
	}
}

/* Replace segment s's bytes from off on with tail[0, n). */
void splice(struct jfs *j, size_t s, size_t off, const uint8_t *tail,
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
struct jfs fs;
struct got ref;
struct got g;
struct jnl_reader rd;

void teardown(void)
{
	jfs_free(&fs);
}

/* Read fs to its end and continue it in a new epoch through *a. */
void resume(struct jfs *j, struct jnl_appender *a, uint32_t epoch)
{
	struct jnl_reader r;
	struct jnl_app_conf c;
	struct got out;

	cr_assert_eq(walk_all(&r, j, &out), 0);
	cr_assert_eq(jnl_app_conf_resume(&c, &r, epoch), 0);
	cr_assert_eq(jnl_app_init(a, &c), 0);
}
