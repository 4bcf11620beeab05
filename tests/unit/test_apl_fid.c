// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for replica/apl_fid.c: the applier's fid map (two hash
 * indexes over one array) and the fid log codec and loader, one test per
 * validity rule of the ENTRY table in replica/apl_fid.h.
 *
 *   make && ./build/tests/test_apl_fid
 */
#include <criterion/criterion.h>
#include <string.h>

#include "journal/format.h"
#include "replica/apl_fid.h"

#define NODE	7u
#define EPOCH	1234u

/* A handle of len (>= 4) bytes, unique per v. */
static struct apl_fh fh_of(uint32_t v, uint32_t len)
{
	struct apl_fh fh = { .len = len };

	for (uint32_t i = 0; i < len; i++)
		fh.data[i] = (uint8_t)(v * 13 + i);
	jnl_put_le32(fh.data, v);
	return fh;
}

static void encode(uint8_t *buf, enum apl_flog_kind kind, uint64_t seq,
		   uint64_t fid, uint32_t fhv)
{
	struct apl_flog_ent e = {
		.kind = (uint8_t)kind, .node = NODE, .epoch = EPOCH,
		.seq = seq, .fid = fid,
	};

	if (kind == APL_FLOG_MAP || kind == APL_FLOG_ACTED)
		e.fh = fh_of(fhv, 32);
	apl_flog_encode(&e, buf);
}

/* ---- the map ---- */

Test(apl_fid, set_then_get_by_fid_and_by_handle)
{
	struct apl_fidmap m;
	struct apl_fid_ent *e;
	struct apl_fh a = fh_of(1, 28);
	struct apl_fh b = fh_of(2, 28);

	apl_fid_init(&m);
	cr_assert_null(apl_fid_get(&m, 5));
	cr_assert_null(apl_fid_by_fh(&m, &a));
	cr_assert_eq(apl_fid_set(&m, 5, &a, 10, &e), 0);
	cr_assert_eq(e->fid, 5);
	cr_assert_eq(e->seq, 10);
	cr_assert_eq(apl_fid_get(&m, 5), e);
	cr_assert_eq(apl_fid_by_fh(&m, &a), e);
	cr_assert_null(apl_fid_by_fh(&m, &b));
	apl_fid_free(&m);
}

Test(apl_fid, remap_moves_the_entry_to_the_new_handle_and_keeps_flags)
{
	struct apl_fidmap m;
	struct apl_fid_ent *e;
	struct apl_fh a = fh_of(1, 28);
	struct apl_fh b = fh_of(2, 28);

	apl_fid_init(&m);
	cr_assert_eq(apl_fid_set(&m, 5, &a, 10, &e), 0);
	e->flags = APL_FID_UNLINKED;
	cr_assert_eq(apl_fid_set(&m, 5, &b, 11, &e), 0);
	cr_assert_eq(e->flags, APL_FID_UNLINKED);
	cr_assert_eq(e->seq, 11);
	cr_assert_null(apl_fid_by_fh(&m, &a));
	cr_assert_eq(apl_fid_by_fh(&m, &b), e);
	cr_assert_eq(m.n, 1);
	apl_fid_free(&m);
}

Test(apl_fid, many_fids_survive_growth_of_both_indexes)
{
	struct apl_fidmap m;
	struct apl_fh fh;

	apl_fid_init(&m);
	for (uint64_t fid = 2; fid < 50002; fid++) {
		fh = fh_of((uint32_t)fid, 8 + fid % 57);
		cr_assert_eq(apl_fid_set(&m, fid, &fh, fid, NULL), 0);
	}
	for (uint64_t fid = 2; fid < 50002; fid += 7) {
		fh = fh_of((uint32_t)fid, 8 + fid % 57);
		cr_assert_eq(apl_fid_get(&m, fid)->fid, fid);
		cr_assert_eq(apl_fid_by_fh(&m, &fh)->fid, fid);
	}
	cr_assert_null(apl_fid_get(&m, 50002));
	apl_fid_free(&m);
}

Test(apl_fid, reset_forgets_every_fid_and_acted_entry)
{
	struct apl_fidmap m;
	struct apl_fh a = fh_of(1, 20);

	apl_fid_init(&m);
	cr_assert_eq(apl_fid_set(&m, 9, &a, 1, NULL), 0);
	cr_assert_eq(apl_fid_acted_put(&m, 3, &a), 0);
	apl_fid_reset(&m);
	cr_assert_null(apl_fid_get(&m, 9));
	cr_assert_null(apl_fid_by_fh(&m, &a));
	cr_assert_null(apl_fid_acted_get(&m, 3));
	cr_assert_eq(apl_fid_set(&m, 9, &a, 1, NULL), 0);
	cr_assert_not_null(apl_fid_get(&m, 9));
	apl_fid_free(&m);
}

/* ---- the codec: one test per validity rule ---- */

Test(apl_fid, entry_round_trips)
{
	uint8_t buf[APL_FLOG_SIZE];
	struct apl_flog_ent e;

	encode(buf, APL_FLOG_MAP, 42, 17, 3);
	cr_assert(apl_flog_decode(buf, sizeof(buf), NODE, EPOCH, &e));
	cr_assert_eq(e.kind, APL_FLOG_MAP);
	cr_assert_eq(e.seq, 42);
	cr_assert_eq(e.fid, 17);
	cr_assert_eq(e.fh.len, 32);
	cr_assert(apl_fh_eq(&e.fh, &(struct apl_fh){ 0 }) == false);
	cr_assert_eq(memcmp(buf + APL_FLOG_OFF_MAGIC, "OFSF", 4), 0);
}

Test(apl_fid, entry_needs_its_104_bytes)
{
	uint8_t buf[APL_FLOG_SIZE];
	struct apl_flog_ent e;

	encode(buf, APL_FLOG_UNLINKED, 1, 2, 0);
	cr_assert_not(apl_flog_decode(buf, APL_FLOG_SIZE - 1, NODE, EPOCH, &e));
}

Test(apl_fid, entry_needs_its_magic)
{
	uint8_t buf[APL_FLOG_SIZE];
	struct apl_flog_ent e;

	encode(buf, APL_FLOG_UNLINKED, 1, 2, 0);
	buf[APL_FLOG_OFF_MAGIC] ^= 1;
	cr_assert_not(apl_flog_decode(buf, sizeof(buf), NODE, EPOCH, &e));
}

Test(apl_fid, every_single_bit_flip_is_caught)
{
	uint8_t buf[APL_FLOG_SIZE];
	struct apl_flog_ent e;

	for (unsigned bit = 0; bit < APL_FLOG_SIZE * 8; bit++) {
		encode(buf, APL_FLOG_MAP, 99, 5, 7);
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		cr_assert_not(apl_flog_decode(buf, sizeof(buf), NODE, EPOCH,
					      &e), "bit %u", bit);
	}
}

Test(apl_fid, entry_kind_and_fhlen_must_fit)
{
	uint8_t buf[APL_FLOG_SIZE];
	struct apl_flog_ent e = {
		.kind = APL_FLOG_INTENT, .node = NODE, .epoch = EPOCH,
		.seq = 5, .fh = fh_of(1, 8),
	};

	/* the encoder writes no handle for INTENT: a valid entry */
	apl_flog_encode(&e, buf);
	cr_assert(apl_flog_decode(buf, sizeof(buf), NODE, EPOCH, &e));
	cr_assert_eq(e.fh.len, 0);
	/* unknown kinds and MAP without a handle are refused, even with a
	 * good checksum (the encoder writes whatever it is given) */
	encode(buf, APL_FLOG_MAP, 1, 2, 3);
	e = (struct apl_flog_ent){ .kind = 9, .node = NODE, .epoch = EPOCH };
	apl_flog_encode(&e, buf);
	cr_assert_not(apl_flog_decode(buf, sizeof(buf), NODE, EPOCH, &e));
	e = (struct apl_flog_ent){ .kind = APL_FLOG_MAP, .node = NODE,
				   .epoch = EPOCH, .fid = 3 };
	apl_flog_encode(&e, buf);
	cr_assert_not(apl_flog_decode(buf, sizeof(buf), NODE, EPOCH, &e));
}

Test(apl_fid, entry_without_a_fid_must_carry_none)
{
	uint8_t buf[APL_FLOG_SIZE];
	struct apl_flog_ent e = {
		.kind = APL_FLOG_DONE, .node = NODE, .epoch = EPOCH,
		.seq = 9, .fid = 4,
	};

	apl_flog_encode(&e, buf);
	cr_assert_not(apl_flog_decode(buf, sizeof(buf), NODE, EPOCH, &e));
	e.fid = 0;
	apl_flog_encode(&e, buf);
	cr_assert(apl_flog_decode(buf, sizeof(buf), NODE, EPOCH, &e));
	cr_assert_eq(e.kind, APL_FLOG_DONE);
	cr_assert_eq(e.seq, 9);
}

Test(apl_fid, entry_of_another_node_or_epoch_is_refused)
{
	uint8_t buf[APL_FLOG_SIZE];
	struct apl_flog_ent e;

	encode(buf, APL_FLOG_MAP, 1, 2, 3);
	cr_assert_not(apl_flog_decode(buf, sizeof(buf), NODE + 1, EPOCH, &e));
	cr_assert_not(apl_flog_decode(buf, sizeof(buf), NODE, EPOCH + 1, &e));
}

/* ---- loading ---- */

Test(apl_fid, load_maps_flags_and_finds_the_zone_and_the_done_mark)
{
	uint8_t buf[9 * APL_FLOG_SIZE];
	struct apl_fid_loaded ld;
	struct apl_fidmap m;
	struct apl_fh h2 = fh_of(2, 32);

	encode(buf + 0 * APL_FLOG_SIZE, APL_FLOG_INTENT, 40, 0, 0);
	encode(buf + 1 * APL_FLOG_SIZE, APL_FLOG_MAP, 10, 5, 1);
	encode(buf + 2 * APL_FLOG_SIZE, APL_FLOG_UNLINKED, 12, 5, 0);
	encode(buf + 3 * APL_FLOG_SIZE, APL_FLOG_INTENT, 80, 0, 0);
	encode(buf + 4 * APL_FLOG_SIZE, APL_FLOG_MAP, 45, 6, 2);
	encode(buf + 5 * APL_FLOG_SIZE, APL_FLOG_ACTED, 46, 0, 3);
	encode(buf + 6 * APL_FLOG_SIZE, APL_FLOG_ACTED, 20, 0, 4);
	encode(buf + 7 * APL_FLOG_SIZE, APL_FLOG_DONE, 52, 0, 0);
	encode(buf + 8 * APL_FLOG_SIZE, APL_FLOG_DONE, 47, 0, 0);
	apl_fid_init(&m);
	cr_assert_eq(apl_fid_load(&m, buf, sizeof(buf), NODE, EPOCH, 40, &ld),
		     0);
	cr_assert_eq(ld.entries, 9);
	cr_assert_eq(ld.valid_len, sizeof(buf));
	cr_assert_eq(ld.replay_to, 80);
	cr_assert_eq(ld.done_to, 52);
	cr_assert_eq(apl_fid_get(&m, 5)->flags, APL_FID_UNLINKED);
	cr_assert_eq(apl_fid_get(&m, 6)->flags, 0);
	cr_assert(apl_fh_eq(&apl_fid_get(&m, 6)->fh, &h2));
	/* ACTED entries matter only after the checkpoint */
	cr_assert_not_null(apl_fid_acted_get(&m, 46));
	cr_assert_null(apl_fid_acted_get(&m, 20));
	apl_fid_free(&m);
}

Test(apl_fid, load_stops_at_a_torn_entry)
{
	uint8_t buf[3 * APL_FLOG_SIZE];
	struct apl_fid_loaded ld;
	struct apl_fidmap m;

	encode(buf, APL_FLOG_MAP, 1, 5, 1);
	encode(buf + APL_FLOG_SIZE, APL_FLOG_MAP, 2, 6, 2);
	encode(buf + 2 * APL_FLOG_SIZE, APL_FLOG_MAP, 3, 7, 3);
	buf[APL_FLOG_SIZE + 50] ^= 0x40;	/* the second is torn */
	apl_fid_init(&m);
	cr_assert_eq(apl_fid_load(&m, buf, sizeof(buf) - 10, NODE, EPOCH, 3,
				  &ld), 0);
	cr_assert_eq(ld.entries, 1);
	cr_assert_eq(ld.valid_len, APL_FLOG_SIZE);
	cr_assert_not_null(apl_fid_get(&m, 5));
	cr_assert_null(apl_fid_get(&m, 6));
	cr_assert_null(apl_fid_get(&m, 7));
	apl_fid_free(&m);
}

Test(apl_fid, load_of_an_empty_log_finds_nothing)
{
	struct apl_fid_loaded ld;
	struct apl_fidmap m;

	apl_fid_init(&m);
	cr_assert_eq(apl_fid_load(&m, NULL, 0, NODE, EPOCH, 0, &ld), 0);
	cr_assert_eq(ld.entries, 0);
	cr_assert_eq(ld.valid_len, 0);
	cr_assert_eq(m.n, 0);
	apl_fid_free(&m);
}

Test(apl_fid, a_later_map_entry_wins)
{
	uint8_t buf[2 * APL_FLOG_SIZE];
	struct apl_fid_loaded ld;
	struct apl_fidmap m;
	struct apl_fh h2 = fh_of(2, 32);

	encode(buf, APL_FLOG_MAP, 50, 5, 1);
	encode(buf + APL_FLOG_SIZE, APL_FLOG_MAP, 30, 5, 2);
	apl_fid_init(&m);
	cr_assert_eq(apl_fid_load(&m, buf, sizeof(buf), NODE, EPOCH, 40, &ld),
		     0);
	cr_assert(apl_fh_eq(&apl_fid_get(&m, 5)->fh, &h2));
	apl_fid_free(&m);
}
