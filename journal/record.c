// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * journal/record.c: encode and validate segment headers, record headers
 * and checkpoints, as specified in journal/format.h.
 *
 * Each structure has an encode/decode mirror pair.  A decoder is a run of
 * early returns, one per numbered rule of the spec, in the spec's order,
 * each headed by the rule it checks.  Decoders never read past len and
 * never trust a length field before checking it against len.
 *
 * Pure functions on caller buffers: no I/O, no allocation, no globals.
 * Tests: tests/unit/test_journal_record.c (one test per rule).
 */
#include <errno.h>
#include <string.h>
#include <xxhash.h>

#include "journal/format.h"

uint64_t jnl_chain_genesis(uint32_t node, uint32_t epoch)
{
	uint8_t b[8];

	jnl_put_le32(b, node);
	jnl_put_le32(b + 4, epoch);
	return XXH3_64bits_withSeed(b, sizeof(b), JNL_SEED_GENESIS);
}

/* ---- segment header ---- */

/*
 * Write the 64-byte header for *h into buf and set h->cksum.
 * The caller fills every other field; version is forced to JNL_VERSION
 * unless the caller set another one (tests write future versions).
 */
void jnl_seg_encode(struct jnl_seg_hdr *h, uint8_t *buf)
{
	jnl_put_le32(buf + JNL_SEG_OFF_MAGIC, JNL_SEG_MAGIC);
	jnl_put_le32(buf + JNL_SEG_OFF_VERSION,
		     h->version ? h->version : JNL_VERSION);
	jnl_put_le32(buf + JNL_SEG_OFF_INCOMPAT, h->incompat);
	jnl_put_le32(buf + JNL_SEG_OFF_COMPAT, h->compat);
	jnl_put_le32(buf + JNL_SEG_OFF_NODE, h->node);
	jnl_put_le32(buf + JNL_SEG_OFF_EPOCH, h->epoch);
	jnl_put_le64(buf + JNL_SEG_OFF_SEGNO, h->segno);
	jnl_put_le64(buf + JNL_SEG_OFF_FIRST_SEQ, h->first_seq);
	jnl_put_le64(buf + JNL_SEG_OFF_CHAIN_SEED, h->chain_seed);
	jnl_put_le64(buf + JNL_SEG_OFF_CREATED, h->created_ns);
	h->cksum = XXH3_64bits_withSeed(buf + 8, JNL_SEG_HDR_SIZE - 8,
					JNL_SEED_SEG);
	jnl_put_le64(buf + JNL_SEG_OFF_CKSUM, h->cksum);
}

static void jnl_seg_fields(const uint8_t *buf, struct jnl_seg_hdr *h)
{
	h->cksum = jnl_get_le64(buf + JNL_SEG_OFF_CKSUM);
	h->version = jnl_get_le32(buf + JNL_SEG_OFF_VERSION);
	h->incompat = jnl_get_le32(buf + JNL_SEG_OFF_INCOMPAT);
	h->compat = jnl_get_le32(buf + JNL_SEG_OFF_COMPAT);
	h->node = jnl_get_le32(buf + JNL_SEG_OFF_NODE);
	h->epoch = jnl_get_le32(buf + JNL_SEG_OFF_EPOCH);
	h->segno = jnl_get_le64(buf + JNL_SEG_OFF_SEGNO);
	h->first_seq = jnl_get_le64(buf + JNL_SEG_OFF_FIRST_SEQ);
	h->chain_seed = jnl_get_le64(buf + JNL_SEG_OFF_CHAIN_SEED);
	h->created_ns = jnl_get_le64(buf + JNL_SEG_OFF_CREATED);
}

/*
 * Validate the segment header at buf[0, len) against rules S1-S7 and
 * decode it into *out (filled as far as it could be read).
 * Returns JNL_SEG_OK or the first rule that fails.
 */
enum jnl_seg_status jnl_seg_decode(const uint8_t *buf, size_t len,
				   struct jnl_seg_hdr *out)
{
	memset(out, 0, sizeof(*out));
	/* A segment header is valid only if (S1) the buffer holds 64 bytes */
	if (len < JNL_SEG_HDR_SIZE)
		return JNL_SEG_SHORT;
	/* ... (S2) magic is JNL_SEG_MAGIC */
	if (jnl_get_le32(buf + JNL_SEG_OFF_MAGIC) != JNL_SEG_MAGIC)
		return JNL_SEG_BAD_MAGIC;
	jnl_seg_fields(buf, out);
	/* ... (S3) cksum matches */
	if (out->cksum != XXH3_64bits_withSeed(buf + 8, JNL_SEG_HDR_SIZE - 8,
					       JNL_SEED_SEG))
		return JNL_SEG_BAD_CKSUM;
	/* ... (S4) version is JNL_VERSION */
	if (out->version != JNL_VERSION)
		return JNL_SEG_BAD_VERSION;
	/* ... (S5) incompat has no unknown bit */
	if (out->incompat & ~JNL_INCOMPAT_KNOWN)
		return JNL_SEG_BAD_FEATURE;
	/* ... (S6) node, epoch and first_seq are nonzero */
	if (!out->node || !out->epoch || !out->first_seq)
		return JNL_SEG_BAD_IDENT;
	/* ... (S7) segment 0 starts the journal: seq 1, genesis chain */
	if (out->segno == 0 &&
	    (out->first_seq != 1 ||
	     out->chain_seed != jnl_chain_genesis(out->node, out->epoch)))
		return JNL_SEG_BAD_GENESIS;
	return JNL_SEG_OK;
}

/* True if a header failed a rule that means "refuse with -EPROTO". */
bool jnl_seg_refused(enum jnl_seg_status st)
{
	return st == JNL_SEG_BAD_VERSION || st == JNL_SEG_BAD_FEATURE;
}

const char *jnl_seg_status_name(enum jnl_seg_status st)
{
	switch (st) {
	case JNL_SEG_OK:		return "ok";
	case JNL_SEG_SHORT:		return "short header";
	case JNL_SEG_BAD_MAGIC:		return "bad magic";
	case JNL_SEG_BAD_CKSUM:		return "header checksum mismatch";
	case JNL_SEG_BAD_VERSION:	return "unknown version";
	case JNL_SEG_BAD_FEATURE:	return "unknown incompatible feature";
	case JNL_SEG_BAD_IDENT:		return "zero node, epoch or first seq";
	case JNL_SEG_BAD_GENESIS:	return "segment 0 not at genesis";
	}
	return "?";
}

/* ---- records ---- */

static uint64_t jnl_rec_sum(const uint8_t *rec, size_t reclen)
{
	return XXH3_64bits_withSeed(rec + 8, reclen - 8, JNL_SEED_REC);
}

static void jnl_rec_put_hdr(const struct jnl_rec_hdr *h, uint8_t *buf)
{
	jnl_put_le32(buf + JNL_REC_OFF_MAGIC, JNL_REC_MAGIC);
	jnl_put_le16(buf + JNL_REC_OFF_TYPE, h->type);
	jnl_put_le16(buf + JNL_REC_OFF_FLAGS, h->flags);
	jnl_put_le32(buf + JNL_REC_OFF_PAYLEN, h->paylen);
	jnl_put_le32(buf + JNL_REC_OFF_GIDX, h->gidx);
	jnl_put_le32(buf + JNL_REC_OFF_NODE, h->node);
	jnl_put_le32(buf + JNL_REC_OFF_EPOCH, h->epoch);
	jnl_put_le64(buf + JNL_REC_OFF_SEQ, h->seq);
	jnl_put_le64(buf + JNL_REC_OFF_PREV, h->prev);
	jnl_put_le64(buf + JNL_REC_OFF_TIME, h->time_ns);
}

static void jnl_rec_get_hdr(const uint8_t *buf, struct jnl_rec_hdr *h)
{
	h->cksum = jnl_get_le64(buf + JNL_REC_OFF_CKSUM);
	h->type = jnl_get_le16(buf + JNL_REC_OFF_TYPE);
	h->flags = jnl_get_le16(buf + JNL_REC_OFF_FLAGS);
	h->paylen = jnl_get_le32(buf + JNL_REC_OFF_PAYLEN);
	h->gidx = jnl_get_le32(buf + JNL_REC_OFF_GIDX);
	h->node = jnl_get_le32(buf + JNL_REC_OFF_NODE);
	h->epoch = jnl_get_le32(buf + JNL_REC_OFF_EPOCH);
	h->seq = jnl_get_le64(buf + JNL_REC_OFF_SEQ);
	h->prev = jnl_get_le64(buf + JNL_REC_OFF_PREV);
	h->time_ns = jnl_get_le64(buf + JNL_REC_OFF_TIME);
}

/*
 * Encode one record for op into buf[0, cap).
 * IN h: flags, gidx, node, epoch, seq, prev, time_ns.
 * OUT h: type, paylen and cksum (the new chain value); *reclen: bytes used.
 * Returns 0, -EINVAL if op breaks a payload rule or h breaks rule 11,
 * -E2BIG if the payload exceeds JNL_MAX_PAYLOAD, -ENOSPC if cap is short.
 */
int jnl_rec_encode(struct jnl_rec_hdr *h, const struct jnl_op *op,
		   uint8_t *buf, size_t cap, size_t *reclen)
{
	size_t paylen;
	size_t len;
	int rc;

	if (jnl_op_check(op) != JNL_OPST_OK || h->gidx >= h->seq)
		return -EINVAL;
	paylen = jnl_op_size(op);
	if (paylen > JNL_MAX_PAYLOAD)
		return -E2BIG;
	len = JNL_REC_HDR_SIZE + jnl_pad8(paylen);
	if (len > cap)
		return -ENOSPC;
	h->type = (uint16_t)op->type;
	h->paylen = (uint32_t)paylen;
	rc = jnl_op_encode(op, buf + JNL_REC_HDR_SIZE, paylen);
	if (rc < 0)
		return rc;
	memset(buf + JNL_REC_HDR_SIZE + paylen, 0,
	       len - JNL_REC_HDR_SIZE - paylen);
	jnl_rec_put_hdr(h, buf);
	h->cksum = jnl_rec_sum(buf, len);
	jnl_put_le64(buf + JNL_REC_OFF_CKSUM, h->cksum);
	*reclen = len;
	return 0;
}

static bool jnl_zero(const uint8_t *p, size_t n)
{
	while (n--)
		if (*p++)
			return false;
	return true;
}

/* Rules 7-11: the record's place in its segment.  exp is not NULL. */
static enum jnl_rec_status jnl_rec_place(const struct jnl_rec_hdr *h,
					 const struct jnl_expect *exp)
{
	/* A record is valid only if (7) node is the segment's node */
	if (h->node != exp->node)
		return JNL_REC_FOREIGN_NODE;
	/* ... (8) epoch is the segment's epoch */
	if (h->epoch != exp->epoch)
		return h->epoch < exp->epoch ? JNL_REC_OLD_EPOCH :
					       JNL_REC_NEW_EPOCH;
	/* ... (9) seq is the one expected */
	if (h->seq != exp->seq)
		return h->seq > exp->seq ? JNL_REC_GAP : JNL_REC_REPLAY;
	/* ... (10) prev is the previous record's cksum */
	if (h->prev != exp->prev)
		return JNL_REC_BAD_CHAIN;
	/* ... (11) gidx starts a group or continues the previous one */
	if (exp->gidx != JNL_GIDX_ANY && h->gidx != 0 && h->gidx != exp->gidx)
		return JNL_REC_BAD_GROUP;
	return JNL_REC_OK;
}

/*
 * Validate the record at buf[0, len) and decode it into *out.
 * exp: what the record must carry at this place (rules 7-11), or NULL to
 * check the record on its own (rules 1-6, 11's gidx < seq, 12-14).
 * Returns JNL_REC_OK or the first rule that fails; on failure *out holds
 * whatever header fields could be read (reclen only from rule 4 on).
 */
enum jnl_rec_status jnl_rec_decode(const uint8_t *buf, size_t len,
				   const struct jnl_expect *exp,
				   struct jnl_rec *out)
{
	struct jnl_rec_hdr *h = &out->hdr;
	enum jnl_rec_status st;
	size_t reclen;

	memset(out, 0, sizeof(*out));
	/* A record is valid only if (1) the buffer holds its header */
	if (len < JNL_REC_HDR_SIZE)
		return JNL_REC_TRUNC_HDR;
	/* ... (2) magic is JNL_REC_MAGIC */
	if (jnl_get_le32(buf + JNL_REC_OFF_MAGIC) != JNL_REC_MAGIC)
		return JNL_REC_BAD_MAGIC;
	jnl_rec_get_hdr(buf, h);
	/* ... (3) paylen is at most JNL_MAX_PAYLOAD */
	if (h->paylen > JNL_MAX_PAYLOAD)
		return JNL_REC_BAD_LENGTH;
	/* ... (4) the buffer holds the whole record */
	reclen = JNL_REC_HDR_SIZE + jnl_pad8(h->paylen);
	if (len < reclen)
		return JNL_REC_TRUNC;
	out->reclen = (uint32_t)reclen;
	/* ... (5) cksum matches */
	if (h->cksum != jnl_rec_sum(buf, reclen))
		return JNL_REC_BAD_CKSUM;
	/* ... (6) the padding is zero */
	if (!jnl_zero(buf + JNL_REC_HDR_SIZE + h->paylen,
		      reclen - JNL_REC_HDR_SIZE - h->paylen))
		return JNL_REC_BAD_PADDING;
	/* ... (7)-(10) and (11) in place: see jnl_rec_place() */
	st = exp ? jnl_rec_place(h, exp) : JNL_REC_OK;
	if (st != JNL_REC_OK)
		return st;
	/* ... (11) gidx < seq: the group starts at seq >= 1 */
	if (h->gidx >= h->seq)
		return JNL_REC_BAD_GROUP;
	/* ... (12) flags is 0 */
	if (h->flags)
		return JNL_REC_BAD_FLAGS;
	/* ... (13) type is a type of this version */
	if (!jnl_type_known(h->type))
		return JNL_REC_BAD_TYPE;
	/* ... (14) the payload is well-formed (P1-P10) */
	out->op_status = jnl_op_decode(h->type, buf + JNL_REC_HDR_SIZE,
				       h->paylen, &out->op);
	if (out->op_status != JNL_OPST_OK)
		return JNL_REC_BAD_PAYLOAD;
	return JNL_REC_OK;
}

/* True if the record passed rules 1-6: its bytes are what a writer wrote. */
bool jnl_rec_intact(enum jnl_rec_status st)
{
	return st == JNL_REC_OK || st > JNL_REC_BAD_PADDING;
}

/* True if st means "refuse with -EPROTO" (rules 12 and 13). */
bool jnl_rec_refused(enum jnl_rec_status st)
{
	return st == JNL_REC_BAD_FLAGS || st == JNL_REC_BAD_TYPE;
}

const char *jnl_rec_status_name(enum jnl_rec_status st)
{
	switch (st) {
	case JNL_REC_OK:		return "ok";
	case JNL_REC_TRUNC_HDR:		return "truncated header";
	case JNL_REC_BAD_MAGIC:		return "bad magic";
	case JNL_REC_BAD_LENGTH:	return "payload length out of range";
	case JNL_REC_TRUNC:		return "truncated record";
	case JNL_REC_BAD_CKSUM:		return "checksum mismatch";
	case JNL_REC_BAD_PADDING:	return "nonzero padding";
	case JNL_REC_FOREIGN_NODE:	return "record from another node";
	case JNL_REC_OLD_EPOCH:		return "record from an older epoch";
	case JNL_REC_NEW_EPOCH:		return "record from a newer epoch";
	case JNL_REC_GAP:		return "gap: records missing";
	case JNL_REC_REPLAY:		return "replayed or duplicated record";
	case JNL_REC_BAD_CHAIN:		return "chain break";
	case JNL_REC_BAD_GROUP:		return "bad group index";
	case JNL_REC_BAD_FLAGS:		return "unknown record flags";
	case JNL_REC_BAD_TYPE:		return "unknown record type";
	case JNL_REC_BAD_PAYLOAD:	return "malformed payload";
	}
	return "?";
}

/* ---- checkpoint ---- */

/* Write the 64-byte checkpoint slot for *ck into buf; sets ck->cksum. */
void jnl_ckpt_encode(struct jnl_ckpt *ck, uint8_t *buf)
{
	jnl_put_le32(buf + JNL_CKPT_OFF_MAGIC, JNL_CKPT_MAGIC);
	jnl_put_le32(buf + JNL_CKPT_OFF_VERSION, JNL_VERSION);
	jnl_put_le32(buf + JNL_CKPT_OFF_NODE, ck->node);
	jnl_put_le32(buf + JNL_CKPT_OFF_EPOCH, ck->epoch);
	jnl_put_le64(buf + JNL_CKPT_OFF_SEQ, ck->seq);
	jnl_put_le64(buf + JNL_CKPT_OFF_CHAIN, ck->chain);
	jnl_put_le64(buf + JNL_CKPT_OFF_SEGNO, ck->segno);
	jnl_put_le64(buf + JNL_CKPT_OFF_OFFSET, ck->offset);
	jnl_put_le64(buf + JNL_CKPT_OFF_TIME, ck->time_ns);
	ck->cksum = XXH3_64bits_withSeed(buf + 8, JNL_CKPT_SIZE - 8,
					 JNL_SEED_CKPT);
	jnl_put_le64(buf + JNL_CKPT_OFF_CKSUM, ck->cksum);
}

static void jnl_ckpt_fields(const uint8_t *buf, struct jnl_ckpt *ck)
{
	ck->cksum = jnl_get_le64(buf + JNL_CKPT_OFF_CKSUM);
	ck->node = jnl_get_le32(buf + JNL_CKPT_OFF_NODE);
	ck->epoch = jnl_get_le32(buf + JNL_CKPT_OFF_EPOCH);
	ck->seq = jnl_get_le64(buf + JNL_CKPT_OFF_SEQ);
	ck->chain = jnl_get_le64(buf + JNL_CKPT_OFF_CHAIN);
	ck->segno = jnl_get_le64(buf + JNL_CKPT_OFF_SEGNO);
	ck->offset = jnl_get_le64(buf + JNL_CKPT_OFF_OFFSET);
	ck->time_ns = jnl_get_le64(buf + JNL_CKPT_OFF_TIME);
}

/* Validate one checkpoint slot against rules C1-C6 and decode it. */
enum jnl_ckpt_status jnl_ckpt_decode(const uint8_t *buf, size_t len,
				     struct jnl_ckpt *out)
{
	memset(out, 0, sizeof(*out));
	/* A checkpoint is valid only if (C1) the buffer holds 64 bytes */
	if (len < JNL_CKPT_SIZE)
		return JNL_CKPT_SHORT;
	/* ... (C2) magic is JNL_CKPT_MAGIC */
	if (jnl_get_le32(buf + JNL_CKPT_OFF_MAGIC) != JNL_CKPT_MAGIC)
		return JNL_CKPT_BAD_MAGIC;
	jnl_ckpt_fields(buf, out);
	/* ... (C3) cksum matches */
	if (out->cksum != XXH3_64bits_withSeed(buf + 8, JNL_CKPT_SIZE - 8,
					       JNL_SEED_CKPT))
		return JNL_CKPT_BAD_CKSUM;
	/* ... (C4) version is JNL_VERSION */
	if (jnl_get_le32(buf + JNL_CKPT_OFF_VERSION) != JNL_VERSION)
		return JNL_CKPT_BAD_VERSION;
	/* ... (C5) node and epoch are nonzero */
	if (!out->node || !out->epoch)
		return JNL_CKPT_BAD_IDENT;
	/* ... (C6) offset is past the segment header and 8-aligned */
	if (out->offset < JNL_SEG_HDR_SIZE || out->offset % JNL_ALIGN)
		return JNL_CKPT_BAD_OFFSET;
	return JNL_CKPT_OK;
}

static bool jnl_ckpt_newer(const struct jnl_ckpt *a, const struct jnl_ckpt *b)
{
	return a->epoch != b->epoch ? a->epoch > b->epoch : a->seq > b->seq;
}

/*
 * Choose the checkpoint from a checkpoint file's bytes (up to two slots).
 * OUT *out: the valid slot with the larger (epoch, seq); *slot: its index,
 * so the next write goes to the other one.  Returns 0; -EPROTO if none is
 * valid and one has an unknown version; -EBADMSG if the file holds both
 * slots and neither is valid; else -ENOENT (no checkpoint yet).
 *
 * Why a two-slot file with no valid slot is damage and a one-slot file is
 * not: the first checkpoint goes to slot 0, and slot 1 is written only
 * after slot 0 held a valid one; writes alternate, so a write torn by a
 * crash spoils one slot and leaves the other holding the checkpoint
 * before it.  Only the very first write has no such partner; torn, it
 * leaves a one-slot file, which is "nothing applied yet" (a replay of at
 * most one batch, applier.c).  Both slots invalid (spoilt, or zeroed by a
 * NAS that lost writes) is damage, and treating it as "nothing applied"
 * would replay the whole journal over a mirror that is far ahead of it.
 */
int jnl_ckpt_pick(const uint8_t *buf, size_t len, struct jnl_ckpt *out,
		  unsigned *slot)
{
	struct jnl_ckpt ck;
	enum jnl_ckpt_status st;
	bool found = false;
	bool refused = false;
	unsigned i;

	for (i = 0; i < JNL_CKPT_SLOTS && len >= (i + 1) * JNL_CKPT_SIZE;
	     i++) {
		st = jnl_ckpt_decode(buf + i * JNL_CKPT_SIZE, JNL_CKPT_SIZE,
				     &ck);
		refused |= st == JNL_CKPT_BAD_VERSION;
		if (st != JNL_CKPT_OK || (found && !jnl_ckpt_newer(&ck, out)))
			continue;
		*out = ck;
		*slot = i;
		found = true;
	}
	if (found)
		return 0;
	if (refused)
		return -EPROTO;
	return len >= JNL_CKPT_SLOTS * JNL_CKPT_SIZE ? -EBADMSG : -ENOENT;
}

const char *jnl_ckpt_status_name(enum jnl_ckpt_status st)
{
	switch (st) {
	case JNL_CKPT_OK:		return "ok";
	case JNL_CKPT_SHORT:		return "short checkpoint";
	case JNL_CKPT_BAD_MAGIC:	return "bad magic";
	case JNL_CKPT_BAD_CKSUM:	return "checksum mismatch";
	case JNL_CKPT_BAD_VERSION:	return "unknown version";
	case JNL_CKPT_BAD_IDENT:	return "zero node or epoch";
	case JNL_CKPT_BAD_OFFSET:	return "offset out of range";
	}
	return "?";
}
