/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * journal/reader.h: walk one node's journal and say how it ends.
 *
 * The reader validates segments held in caller buffers (it does no I/O)
 * and returns their records in order, each only once rules 1-14 of
 * journal/format.h hold for it.  When it stops it says why, in
 * struct jnl_end: a clean end, a torn tail (end of log, not an error), an
 * empty segment, the seal set by the next segment, damage (-EUCLEAN: gap,
 * replay, chain break, foreign node, old or new epoch, corrupt record
 * followed by later groups, duplicated or reordered segment), or a refusal
 * (-EPROTO: unknown version, feature, record flag or type).  Damage and
 * refusal are sticky: nothing after them is returned, ever.
 *
 * The mirror applier:
 *
 *	jnl_ckpt_pick(file, len, &ck, &slot);   (or jnl_rd_init for a new one)
 *	jnl_rd_init_ckpt(&rd, &ck);
 *	jnl_rd_open(&rd, seg, seglen, next_hdr_or_NULL, next_len);
 *	while ((rc = jnl_rd_next(&rd, &rec)) == 1)
 *		apply(&rec); jnl_rd_ckpt(&rd, &ck) now and then;
 *	rc == 0 and rd.end.kind == JNL_END_TORN/CLEAN: the live tail; later
 *	    jnl_rd_refresh() with the re-read segment (and, once segment
 *	    segno + 1 exists, its header as next) and keep going;
 *	JNL_END_SEALED: jnl_rd_open() the next segment;
 *	rc < 0: stop applying; report rd.end; the node needs ofsrep-fsck.
 *
 * ofsrep-fsck: jnl_rd_walk() over the segments it read, in segno order,
 * then report rd.end (jnl_end_describe()) and rd.nrecs.
 *
 * Before opening segment k + 1, refresh segment k with k + 1's header as
 * next, so that k is read up to its seal; a reader that already returned
 * records of k beyond the seal reports JNL_WHY_OVERLAP.
 *
 * Not thread-safe: one reader per thread.  The buffers must stay valid
 * and unchanged while the reader uses them; records point into them.
 */
#ifndef OFSREP_JOURNAL_READER_H
#define OFSREP_JOURNAL_READER_H

#include "journal/format.h"

#define JNL_SEGNO_UNKNOWN	UINT64_MAX

enum jnl_end_kind {
	JNL_END_NONE = 0,	/* not ended: call jnl_rd_next() */
	JNL_END_CLEAN,		/* consumed to the last byte, all valid */
	JNL_END_TORN,		/* torn tail: end of log, not an error */
	JNL_END_EMPTY,		/* header torn, no completed group: skipped */
	JNL_END_SEALED,		/* reached the seal set by the next segment */
	JNL_END_DAMAGED,	/* -EUCLEAN */
	JNL_END_REFUSED,	/* -EPROTO */
};

enum jnl_why {
	JNL_WHY_NONE = 0,
	JNL_WHY_RECORD,		/* record at offset broke rule .rec */
	JNL_WHY_HEADER,		/* header broke rule .seg, yet holds groups */
	JNL_WHY_NODE,		/* header of another node (.found_node) */
	JNL_WHY_SEG_DUP,	/* segno repeats the previous segment's */
	JNL_WHY_SEG_ORDER,	/* segno below the previous / not the ckpt's */
	JNL_WHY_EPOCH,		/* epoch below the previous segment's */
	JNL_WHY_GAP,		/* first_seq above the expected seq */
	JNL_WHY_OVERLAP,	/* first_seq below: records read twice */
	JNL_WHY_CHAIN,		/* seq continues, chain value does not */
	JNL_WHY_SHORT,		/* segment ends before its seal/ckpt offset */
	JNL_WHY_REPLACED,	/* segment header changed between reads */
};

struct jnl_end {
	enum jnl_end_kind kind;
	enum jnl_why why;
	enum jnl_rec_status rec;	/* rule the record failed (also TORN) */
	enum jnl_seg_status seg;	/* rule the header failed */
	uint64_t segno;		/* segment it ended in, or JNL_SEGNO_UNKNOWN */
	uint64_t offset;	/* byte offset there */
	uint64_t seq;		/* first seq not returned (expected there) */
	uint64_t found_seq;	/* seq found instead, or where valid records
				 * resume after corruption; 0 if none */
	uint64_t found_off;	/* offset of found_seq's record */
	uint64_t found_segno;	/* segno in the offending header */
	uint32_t found_node;
	uint32_t found_epoch;
};

enum jnl_rd_phase {
	JNL_RD_START,		/* fresh: the first segment opened sets it */
	JNL_RD_CKPT,		/* positioned by a checkpoint */
	JNL_RD_SEG,		/* a segment has been opened */
};

struct jnl_reader {
	uint32_t node;		/* the journal being read */
	uint32_t epoch;		/* epoch of the current segment */
	uint32_t gidx;		/* gidx of a record continuing the group */
	enum jnl_rd_phase phase;
	uint64_t segno;		/* current segment */
	uint64_t seg_cksum;	/* its header checksum: identifies it */
	uint64_t next_seq;	/* seq the next record must carry */
	uint64_t chain;		/* prev the next record must carry */
	uint64_t last_time_ns;	/* time_ns of the last record returned */
	uint64_t start_off;	/* JNL_RD_CKPT: offset to start at */
	bool sealed;		/* seal_* below are known */
	uint32_t seal_epoch;	/* the sealing segment's epoch */
	uint64_t seal_segno;	/* the sealing segment */
	uint64_t seal_seq;	/* last seq of the current segment */
	uint64_t seal_chain;	/* cksum that record must have */
	const uint8_t *buf;	/* current segment, from byte 0 */
	size_t len;
	size_t off;		/* offset of the next record in buf */
	uint64_t nrecs;		/* records returned */
	struct jnl_end end;	/* why the reader stopped */
};

/* A segment's bytes, for jnl_rd_walk(). */
struct jnl_seg_buf {
	const uint8_t *data;
	size_t len;
};

typedef int jnl_rd_fn(void *arg, const struct jnl_rec *rec);

void jnl_rd_init(struct jnl_reader *rd, uint32_t node);
int jnl_rd_init_ckpt(struct jnl_reader *rd, const struct jnl_ckpt *ck);
int jnl_rd_open(struct jnl_reader *rd, const uint8_t *buf, size_t len,
		const uint8_t *next, size_t next_len);
int jnl_rd_refresh(struct jnl_reader *rd, const uint8_t *buf, size_t len,
		   const uint8_t *next, size_t next_len);
int jnl_rd_next(struct jnl_reader *rd, struct jnl_rec *rec);
int jnl_rd_ckpt(const struct jnl_reader *rd, struct jnl_ckpt *ck);
int jnl_rd_walk(struct jnl_reader *rd, const struct jnl_seg_buf *segs,
		size_t n, jnl_rd_fn *fn, void *arg);
const char *jnl_end_name(enum jnl_end_kind kind);
const char *jnl_why_name(enum jnl_why why);
int jnl_end_describe(const struct jnl_end *end, char *buf, size_t size);

#endif /* OFSREP_JOURNAL_READER_H */
