/*
 * journal_reader_fixture.h — what the journal reader tests share
 * (test_journal_reader*.c): an in-memory journal directory (struct jfs)
 * filled through the appender, walks that collect what the reader
 * returns (struct got), and the fixture state every test uses.  The
 * code is in journal_reader_fixture.c; the Makefile links every
 * tests/unit/NAME_fixture.c into the unit tests that use it.
 */
#ifndef OFSREP_TEST_JOURNAL_READER_FIXTURE_H
#define OFSREP_TEST_JOURNAL_READER_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

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

void jfs_write(struct jfs *j, const struct jnl_app_write *w);
void jfs_free(struct jfs *j);
/* The i-th test operation: a mix of types and sizes. */
struct jnl_op op_for(unsigned i);
/* Append n records through *a, flushing every `group` records. */
void append_n(struct jfs *j, struct jnl_appender *a, unsigned from,
	      unsigned n, unsigned group);
/* A journal of n records, in groups, segments rolled at seg_limit. */
void build(struct jfs *j, uint32_t node, uint32_t epoch, unsigned n,
	   unsigned group, size_t seg_limit);
/* jnl_rd_walk() callback: append rec to the struct got at arg. */
int collect(void *arg, const struct jnl_rec *rec);
/* Walk the segments listed in order[] (segnos of fs); -1 ends the list. */
int walk_order(struct jnl_reader *r, struct jfs *j, const int *order,
	       struct got *out);
/* Walk every segment of j in segno order. */
int walk_all(struct jnl_reader *r, struct jfs *j, struct got *out);
/* Every record in g is the same as the first g->n records of ref. */
void assert_prefix(const struct got *out, const struct got *want);
/* Replace segment s's bytes from off on with tail[0, n). */
void splice(struct jfs *j, size_t s, size_t off, const uint8_t *tail,
	    size_t n);
/* Read fs to its end and continue it in a new epoch through *a. */
void resume(struct jfs *j, struct jnl_appender *a, uint32_t epoch);

/* The fixture: the journal under test, a reference walk, a walk. */
extern struct jfs fs;
extern struct got ref;
extern struct got g;
extern struct jnl_reader rd;

/* .fini of TestSuite(journal_reader): frees fs. */
void teardown(void);

#endif
