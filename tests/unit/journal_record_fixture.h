/*
 * journal_record_fixture.h — what the record and payload tests share
 * (test_journal_record.c, test_journal_payload.c): a valid operation of
 * each type, comparisons of operations, and records encoded with one base
 * header.  The Makefile links every tests/unit/NAME_fixture.c into the
 * unit tests.
 */
#ifndef OFSREP_TEST_JOURNAL_RECORD_FIXTURE_H
#define OFSREP_TEST_JOURNAL_RECORD_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal/format.h"

#define NODE	7u
#define EPOCH	3u
#define SEQ	5u
#define PREV	0x1122334455667788ull
#define XSET2_LEN	25

extern const uint8_t data5[5];
extern const uint8_t xval[3];
/* A well-formed set (journal/xattr_set.c): "user.a" = "v", "user.b" = "" */
extern const uint8_t xset2[XSET2_LEN];
extern const uint8_t fh28[28];

struct jnl_str S(const char *s);
struct jnl_op sample_op(enum jnl_type type);
bool str_eq(struct jnl_str a, struct jnl_str b);
bool bytes_eq(const uint8_t *a, size_t alen, const uint8_t *b,
		     size_t blen);
bool op_eq(const struct jnl_op *a, const struct jnl_op *b);
struct jnl_rec_hdr base_hdr(void);
struct jnl_expect base_exp(void);
size_t encode(const struct jnl_op *op, uint8_t *buf, size_t cap);
void reseal(uint8_t *rec);
size_t write_record(uint8_t *buf, size_t cap);
enum jnl_rec_status decode_base(const uint8_t *buf, size_t len);

#endif
