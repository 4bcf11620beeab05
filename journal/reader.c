// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * journal/reader.c: the validating reader, the RECOVERY RULE and the
 * SEGMENT SEQUENCE of journal/format.h, over caller buffers.
 *
 * Invariants: every record returned passed rules 1-14 in its place, so
 * by the chain every record before it did too; after DAMAGED or REFUSED
 * nothing more is returned; next_seq/chain always describe the record
 * after the last one returned (or the checkpoint's position).
 *
 * What it does not do: read files, list directories, log, or repair.
 * Those belong to the applier (replica/) and ofsrep-fsck (tools/).
 * Tests: tests/unit/test_journal_reader.c (sound journals),
 * test_journal_reader_torn.c (torn tails) and test_journal_reader_damage.c.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "journal/reader.h"

void jnl_rd_init(struct jnl_reader *rd, uint32_t node)
{
	memset(rd, 0, sizeof(*rd));
	rd->node = node;
	rd->phase = JNL_RD_START;
}

/*
 * Position a fresh reader at checkpoint *ck: the first segment opened
 * must be ck->segno, and reading starts at ck->offset there.
 * Returns 0 or -EINVAL if *ck breaks rule C5 or C6.
 */
int jnl_rd_init_ckpt(struct jnl_reader *rd, const struct jnl_ckpt *ck)
{
	if (!ck->node || !ck->epoch || ck->offset < JNL_SEG_HDR_SIZE ||
	    ck->offset % JNL_ALIGN)
		return -EINVAL;
	jnl_rd_init(rd, ck->node);
	rd->phase = JNL_RD_CKPT;
	rd->epoch = ck->epoch;
	rd->segno = ck->segno;
	rd->next_seq = ck->seq + 1;
	rd->chain = ck->chain;
	rd->start_off = ck->offset;
	rd->last_time_ns = ck->time_ns;
	return 0;
}

static int jnl_rd_result(const struct jnl_reader *rd)
{
	switch (rd->end.kind) {
	case JNL_END_DAMAGED:
		return -EUCLEAN;
	case JNL_END_REFUSED:
		return -EPROTO;
	default:
		return 0;
	}
}

static bool jnl_rd_stuck(const struct jnl_reader *rd)
{
	return rd->end.kind == JNL_END_DAMAGED ||
	       rd->end.kind == JNL_END_REFUSED;
}

/* Record why the reader stopped; returns 0, -EUCLEAN or -EPROTO. */
static int jnl_rd_stop(struct jnl_reader *rd, enum jnl_end_kind kind,
		       enum jnl_why why, uint64_t segno, uint64_t off)
{
	memset(&rd->end, 0, sizeof(rd->end));
	rd->end.kind = kind;
	rd->end.why = why;
	rd->end.segno = segno;
	rd->end.offset = off;
	rd->end.seq = rd->next_seq;
	return jnl_rd_result(rd);
}

/* Damage found in the header *h of a segment that cannot follow. */
static int jnl_rd_seg_damage(struct jnl_reader *rd, enum jnl_why why,
			     const struct jnl_seg_hdr *h)
{
	int rc = jnl_rd_stop(rd, JNL_END_DAMAGED, why, h->segno, 0);

	rd->end.found_segno = h->segno;
	rd->end.found_seq = h->first_seq;
	rd->end.found_node = h->node;
	rd->end.found_epoch = h->epoch;
	return rc;
}

/* ---- scanning past bad bytes: torn tail or damage? ---- */

/*
 * Find, at or after off, the first record of this node that is intact on
 * its own (rules 1-6 and gidx < seq).  Returns true with *r and *at set.
 */
static bool jnl_rd_find(const struct jnl_reader *rd, const uint8_t *buf,
			size_t len, size_t off, struct jnl_rec *r, size_t *at)
{
	enum jnl_rec_status st;

	for (; off + JNL_REC_HDR_SIZE <= len; off += JNL_ALIGN) {
		if (jnl_get_le32(buf + off + JNL_REC_OFF_MAGIC) !=
		    JNL_REC_MAGIC)
			continue;
		st = jnl_rec_decode(buf + off, len - off, NULL, r);
		if (!jnl_rec_intact(st) || r->hdr.node != rd->node ||
		    r->hdr.gidx >= r->hdr.seq)
			continue;
		*at = off;
		return true;
	}
	return false;
}

/*
 * The record expected at rd->off is not intact.  Is there, after it, an
 * intact record of this epoch from a LATER group (one starting after
 * next_seq)?  By W4 that group was written after the damaged record's
 * group completed, so the damaged bytes had been durable: damage.
 */
static bool jnl_rd_later_group(const struct jnl_reader *rd,
			       struct jnl_rec *r, size_t *at)
{
	size_t off = rd->off + JNL_ALIGN;

	while (jnl_rd_find(rd, rd->buf, rd->len, off, r, at)) {
		if (r->hdr.epoch == rd->epoch &&
		    r->hdr.seq - r->hdr.gidx > rd->next_seq)
			return true;
		off = *at + JNL_ALIGN;
	}
	return false;
}

/*
 * A segment header is invalid.  Its first group carried the header (W4),
 * so if intact records of two different groups follow, the first group
 * completed and the header had been durable: damage.  Otherwise the
 * segment is EMPTY.  Returns true if damaged, with the first intact
 * record's seq and offset.
 */
static bool jnl_rd_two_groups(const struct jnl_reader *rd, const uint8_t *buf,
			      size_t len, uint64_t *seq, size_t *at)
{
	struct jnl_rec r;
	uint64_t first_group = 0;
	size_t off = JNL_SEG_HDR_SIZE;
	size_t where;

	while (jnl_rd_find(rd, buf, len, off, &r, &where)) {
		if (!first_group) {
			first_group = r.hdr.seq - r.hdr.gidx;
			*seq = r.hdr.seq;
			*at = where;
		} else if (r.hdr.seq - r.hdr.gidx != first_group) {
			return true;
		}
		off = where + JNL_ALIGN;
	}
	return false;
}

static int jnl_rd_bad_header(struct jnl_reader *rd, const uint8_t *buf,
			     size_t len, const struct jnl_seg_hdr *h,
			     enum jnl_seg_status st)
{
	uint64_t seq = 0;
	size_t at = 0;
	int rc;

	/* S4/S5 come after the checksum: h->segno can be trusted */
	if (jnl_seg_refused(st))
		rc = jnl_rd_stop(rd, JNL_END_REFUSED, JNL_WHY_HEADER,
				 h->segno, 0);
	else if (jnl_rd_two_groups(rd, buf, len, &seq, &at))
		rc = jnl_rd_stop(rd, JNL_END_DAMAGED, JNL_WHY_HEADER,
				 JNL_SEGNO_UNKNOWN, 0);
	else
		rc = jnl_rd_stop(rd, JNL_END_EMPTY, JNL_WHY_NONE,
				 JNL_SEGNO_UNKNOWN, 0);
	rd->end.seg = st;
	rd->end.found_seq = seq;
	rd->end.found_off = at;
	return rc;
}

/* ---- segment sequence ---- */

/* *h's first_seq and chain_seed must continue the reader's position. */
static int jnl_rd_follow_seq(struct jnl_reader *rd,
			     const struct jnl_seg_hdr *h)
{
	if (h->first_seq > rd->next_seq)
		return jnl_rd_seg_damage(rd, JNL_WHY_GAP, h);
	if (h->first_seq < rd->next_seq)
		return jnl_rd_seg_damage(rd, JNL_WHY_OVERLAP, h);
	if (h->chain_seed != rd->chain)
		return jnl_rd_seg_damage(rd, JNL_WHY_CHAIN, h);
	rd->off = JNL_SEG_HDR_SIZE;
	rd->gidx = 0;
	return 0;
}

static int jnl_rd_follow_ckpt(struct jnl_reader *rd,
			      const struct jnl_seg_hdr *h, size_t len)
{
	if (h->segno != rd->segno)
		return jnl_rd_seg_damage(rd, JNL_WHY_SEG_ORDER, h);
	if (h->epoch != rd->epoch)
		return jnl_rd_seg_damage(rd, JNL_WHY_EPOCH, h);
	if (rd->start_off > len)
		return jnl_rd_stop(rd, JNL_END_DAMAGED, JNL_WHY_SHORT,
				   h->segno, len);
	if (rd->start_off == JNL_SEG_HDR_SIZE)
		return jnl_rd_follow_seq(rd, h);
	/* mid-segment: the record there checks seq and prev (rules 9, 10);
	 * its group may have begun before the checkpoint */
	rd->off = rd->start_off;
	rd->gidx = JNL_GIDX_ANY;
	return 0;
}

/* May the segment with header *h be read next?  Positions the reader. */
static int jnl_rd_follow(struct jnl_reader *rd, const struct jnl_seg_hdr *h,
			 size_t len)
{
	switch (rd->phase) {
	case JNL_RD_START:
		rd->next_seq = h->first_seq;
		rd->chain = h->chain_seed;
		rd->off = JNL_SEG_HDR_SIZE;
		rd->gidx = 0;
		return 0;
	case JNL_RD_CKPT:
		return jnl_rd_follow_ckpt(rd, h, len);
	case JNL_RD_SEG:
		break;
	}
	if (h->segno == rd->segno)
		return jnl_rd_seg_damage(rd, JNL_WHY_SEG_DUP, h);
	if (h->segno < rd->segno)
		return jnl_rd_seg_damage(rd, JNL_WHY_SEG_ORDER, h);
	if (h->epoch < rd->epoch)
		return jnl_rd_seg_damage(rd, JNL_WHY_EPOCH, h);
	return jnl_rd_follow_seq(rd, h);
}

/*
 * Take the seal from the next segment's header bytes, if they are a valid
 * header that can follow this segment (otherwise opening that segment
 * will say what is wrong with it).  Returns 0, or -EUCLEAN if records
 * already returned lie beyond the seal.
 */
static int jnl_rd_seal(struct jnl_reader *rd, const uint8_t *next,
		       size_t len)
{
	struct jnl_seg_hdr h;

	if (!next || jnl_seg_decode(next, len, &h) != JNL_SEG_OK ||
	    h.node != rd->node || h.segno <= rd->segno ||
	    h.epoch < rd->epoch)
		return 0;
	rd->sealed = true;
	rd->seal_epoch = h.epoch;
	rd->seal_segno = h.segno;
	rd->seal_seq = h.first_seq - 1;
	rd->seal_chain = h.chain_seed;
	if (h.first_seq >= rd->next_seq)
		return 0;
	return jnl_rd_seg_damage(rd, JNL_WHY_OVERLAP, &h);
}

/*
 * Open the next segment: buf[0, len) holds it from byte 0 (it may still
 * be growing).  next[0, next_len), if not NULL, holds at least the header
 * of the segment after it, which seals this one.
 * Returns 0 (also for an EMPTY segment: end.kind says so), -EUCLEAN or
 * -EPROTO (see rd->end), or -EINVAL if the current segment is not done.
 */
int jnl_rd_open(struct jnl_reader *rd, const uint8_t *buf, size_t len,
		const uint8_t *next, size_t next_len)
{
	struct jnl_seg_hdr h;
	enum jnl_seg_status st;
	int rc;

	if (jnl_rd_stuck(rd))
		return jnl_rd_result(rd);
	if (rd->phase == JNL_RD_SEG && rd->end.kind == JNL_END_NONE)
		return -EINVAL;
	st = jnl_seg_decode(buf, len, &h);
	if (st != JNL_SEG_OK)
		return jnl_rd_bad_header(rd, buf, len, &h, st);
	if (h.node != rd->node)
		return jnl_rd_seg_damage(rd, JNL_WHY_NODE, &h);
	rc = jnl_rd_follow(rd, &h, len);
	if (rc)
		return rc;
	rd->phase = JNL_RD_SEG;
	rd->segno = h.segno;
	rd->epoch = h.epoch;
	rd->seg_cksum = h.cksum;
	rd->buf = buf;
	rd->len = len;
	rd->sealed = false;
	memset(&rd->end, 0, sizeof(rd->end));
	return jnl_rd_seal(rd, next, next_len);
}

/*
 * The current segment again, re-read with more bytes, and/or with the
 * next segment's header to seal it.  Reading resumes where it stopped
 * (after a TORN or CLEAN end).  Same returns as jnl_rd_open().
 */
int jnl_rd_refresh(struct jnl_reader *rd, const uint8_t *buf, size_t len,
		   const uint8_t *next, size_t next_len)
{
	struct jnl_seg_hdr h;

	if (jnl_rd_stuck(rd))
		return jnl_rd_result(rd);
	if (rd->phase != JNL_RD_SEG || rd->end.kind == JNL_END_EMPTY)
		return jnl_rd_open(rd, buf, len, next, next_len);
	if (jnl_seg_decode(buf, len, &h) != JNL_SEG_OK ||
	    h.cksum != rd->seg_cksum)
		return jnl_rd_stop(rd, JNL_END_DAMAGED, JNL_WHY_REPLACED,
				   rd->segno, 0);
	if (len < rd->off)
		return jnl_rd_stop(rd, JNL_END_DAMAGED, JNL_WHY_SHORT,
				   rd->segno, len);
	rd->buf = buf;
	rd->len = len;
	if (rd->end.kind == JNL_END_TORN || rd->end.kind == JNL_END_CLEAN)
		memset(&rd->end, 0, sizeof(rd->end));
	return rd->sealed ? 0 : jnl_rd_seal(rd, next, next_len);
}

/* ---- records ---- */

/* next_seq is past the seal: the chain must meet the sealing header. */
static int jnl_rd_at_seal(struct jnl_reader *rd)
{
	int rc;

	if (rd->chain == rd->seal_chain)
		return jnl_rd_stop(rd, JNL_END_SEALED, JNL_WHY_NONE,
				   rd->segno, rd->off);
	rc = jnl_rd_stop(rd, JNL_END_DAMAGED, JNL_WHY_CHAIN, rd->segno,
			 rd->off);
	rd->end.found_segno = rd->seal_segno;
	return rc;
}

/* The segment ended cleanly before its seal: records are missing. */
static int jnl_rd_short_of_seal(struct jnl_reader *rd)
{
	int rc = jnl_rd_stop(rd, JNL_END_DAMAGED, JNL_WHY_GAP, rd->segno,
			     rd->off);

	rd->end.found_segno = rd->seal_segno;
	rd->end.found_seq = rd->seal_seq + 1;
	return rc;
}

/* The bytes at rd->off are not an intact record: torn tail or damage. */
static int jnl_rd_bad_bytes(struct jnl_reader *rd, enum jnl_rec_status st)
{
	struct jnl_rec r;
	size_t at = 0;
	bool later = jnl_rd_later_group(rd, &r, &at);
	int rc;

	if (later)
		rc = jnl_rd_stop(rd, JNL_END_DAMAGED, JNL_WHY_RECORD,
				 rd->segno, rd->off);
	else if (rd->sealed)
		rc = jnl_rd_stop(rd, JNL_END_DAMAGED, JNL_WHY_SHORT,
				 rd->segno, rd->off);
	else
		rc = jnl_rd_stop(rd, JNL_END_TORN, JNL_WHY_NONE, rd->segno,
				 rd->off);
	rd->end.rec = st;
	if (later) {
		rd->end.found_seq = r.hdr.seq;
		rd->end.found_off = at;
	}
	return rc;
}

static int jnl_rd_bad_record(struct jnl_reader *rd, enum jnl_rec_status st,
			     const struct jnl_rec *rec)
{
	int rc;

	if (!jnl_rec_intact(st))
		return jnl_rd_bad_bytes(rd, st);
	rc = jnl_rd_stop(rd, jnl_rec_refused(st) ? JNL_END_REFUSED :
			 JNL_END_DAMAGED, JNL_WHY_RECORD, rd->segno, rd->off);
	rd->end.rec = st;
	rd->end.found_seq = rec->hdr.seq;
	rd->end.found_off = rd->off;
	rd->end.found_node = rec->hdr.node;
	rd->end.found_epoch = rec->hdr.epoch;
	return rc;
}

/*
 * Return the next record of the open segment in *rec (payload pointers
 * into the segment buffer).
 * Returns 1 with a record; 0 at the end of the segment (CLEAN, TORN,
 * EMPTY or SEALED in rd->end); -EUCLEAN or -EPROTO (rd->end says why and
 * where); -EINVAL if no segment was opened.
 */
int jnl_rd_next(struct jnl_reader *rd, struct jnl_rec *rec)
{
	struct jnl_expect exp;
	enum jnl_rec_status st;

	if (rd->end.kind != JNL_END_NONE)
		return jnl_rd_result(rd);
	if (rd->phase != JNL_RD_SEG)
		return -EINVAL;
	if (rd->sealed && rd->next_seq > rd->seal_seq)
		return jnl_rd_at_seal(rd);
	if (rd->off >= rd->len)
		return rd->sealed ? jnl_rd_short_of_seal(rd) :
			jnl_rd_stop(rd, JNL_END_CLEAN, JNL_WHY_NONE, rd->segno,
				    rd->off);
	exp = (struct jnl_expect){
		.node = rd->node, .epoch = rd->epoch, .seq = rd->next_seq,
		.prev = rd->chain, .gidx = rd->gidx,
	};
	st = jnl_rec_decode(rd->buf + rd->off, rd->len - rd->off, &exp, rec);
	if (st != JNL_REC_OK)
		return jnl_rd_bad_record(rd, st, rec);
	rec->segno = rd->segno;
	rec->offset = rd->off;
	rd->off += rec->reclen;
	rd->next_seq++;
	rd->chain = rec->hdr.cksum;
	rd->gidx = rec->hdr.gidx + 1;
	rd->last_time_ns = rec->hdr.time_ns;
	rd->nrecs++;
	return 1;
}

/*
 * The checkpoint for "every record returned so far is applied".  After a
 * SEALED end it points at the start of the sealing segment, so bytes past
 * the seal are never read again.  Returns 0, or -EINVAL before the
 * reader has a position.
 */
int jnl_rd_ckpt(const struct jnl_reader *rd, struct jnl_ckpt *ck)
{
	if (rd->phase == JNL_RD_START)
		return -EINVAL;
	*ck = (struct jnl_ckpt){
		.node = rd->node, .epoch = rd->epoch,
		.seq = rd->next_seq - 1, .chain = rd->chain,
		.segno = rd->segno, .offset = rd->off,
		.time_ns = rd->last_time_ns,
	};
	if (rd->phase == JNL_RD_CKPT) {
		ck->offset = rd->start_off;
	} else if (rd->end.kind == JNL_END_SEALED) {
		ck->segno = rd->seal_segno;
		ck->epoch = rd->seal_epoch;
		ck->offset = JNL_SEG_HDR_SIZE;
	}
	return 0;
}

/*
 * Read segs[0..n) in order (each sealed by the next) and call fn for
 * every record.  Returns 0 when the log ended normally (rd->end: CLEAN,
 * TORN or EMPTY), -EUCLEAN or -EPROTO, or fn's nonzero return.
 */
int jnl_rd_walk(struct jnl_reader *rd, const struct jnl_seg_buf *segs,
		size_t n, jnl_rd_fn *fn, void *arg)
{
	const struct jnl_seg_buf *nx;
	struct jnl_rec rec;
	size_t i;
	int rc;

	for (i = 0; i < n; i++) {
		nx = i + 1 < n ? &segs[i + 1] : NULL;
		rc = jnl_rd_open(rd, segs[i].data, segs[i].len,
				 nx ? nx->data : NULL, nx ? nx->len : 0);
		if (rc)
			return rc;
		while ((rc = jnl_rd_next(rd, &rec)) == 1) {
			rc = fn(arg, &rec);
			if (rc)
				return rc;
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

const char *jnl_end_name(enum jnl_end_kind kind)
{
	switch (kind) {
	case JNL_END_NONE:	return "reading";
	case JNL_END_CLEAN:	return "clean end";
	case JNL_END_TORN:	return "torn tail";
	case JNL_END_EMPTY:	return "empty segment";
	case JNL_END_SEALED:	return "sealed";
	case JNL_END_DAMAGED:	return "damaged";
	case JNL_END_REFUSED:	return "refused";
	}
	return "?";
}

const char *jnl_why_name(enum jnl_why why)
{
	switch (why) {
	case JNL_WHY_NONE:	return "none";
	case JNL_WHY_RECORD:	return "bad record";
	case JNL_WHY_HEADER:	return "bad segment header";
	case JNL_WHY_NODE:	return "segment of another node";
	case JNL_WHY_SEG_DUP:	return "duplicated segment";
	case JNL_WHY_SEG_ORDER:	return "segment out of order";
	case JNL_WHY_EPOCH:	return "segment from an older epoch";
	case JNL_WHY_GAP:	return "gap: records missing";
	case JNL_WHY_OVERLAP:	return "overlap: records read twice";
	case JNL_WHY_CHAIN:	return "chain break between segments";
	case JNL_WHY_SHORT:	return "segment shorter than its seal";
	case JNL_WHY_REPLACED:	return "segment replaced while read";
	}
	return "?";
}

/* One line for logs and fsck: what ended, why, where.  snprintf returns. */
int jnl_end_describe(const struct jnl_end *e, char *buf, size_t size)
{
	const char *detail = "";

	if (e->why == JNL_WHY_RECORD || e->kind == JNL_END_TORN ||
	    e->why == JNL_WHY_SHORT)
		detail = e->rec ? jnl_rec_status_name(e->rec) : "";
	else if (e->why == JNL_WHY_HEADER || e->kind == JNL_END_EMPTY)
		detail = jnl_seg_status_name(e->seg);
	return snprintf(buf, size,
			"%s: %s%s%s; segment %lld offset %llu, "
			"expected seq %llu, found seq %llu at offset %llu",
			jnl_end_name(e->kind), jnl_why_name(e->why),
			*detail ? ": " : "", detail,
			e->segno == JNL_SEGNO_UNKNOWN ? -1LL :
			(long long)e->segno,
			(unsigned long long)e->offset,
			(unsigned long long)e->seq,
			(unsigned long long)e->found_seq,
			(unsigned long long)e->found_off);
}
