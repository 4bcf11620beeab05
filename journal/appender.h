/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * journal/appender.h: group commit for one writer's journal.
 *
 * The appender encodes records (journal/format.h) into an in-memory group
 * and hands out the bytes to write as one WRITE: a segment number, an
 * offset and a byte range.  It keeps the chain (seq, prev), numbers the
 * records of each group (gidx), puts a segment header in front of the
 * first group of each segment, and rolls to a new segment when a group
 * would push the current one past seg_limit.  It does no I/O.
 *
 * Two buffers: records go into the filling one while the other is in
 * flight, so appending never waits for the network, and the in-flight
 * bytes never move until jnl_app_done().  Writer rule W4 is built in:
 * jnl_app_flush() refuses (-EBUSY) while a group is in flight.
 *
 *	jnl_app_init(&a, &conf);
 *	jnl_app_append(&a, &op, now_ns, &seq);   per acknowledged-later op
 *	jnl_app_flush(&a, &w);                    when the loop is idle or
 *	                                          append says -ENOBUFS
 *	write w.len bytes of w.data at w.offset of segment w.segno (create
 *	    it exclusively first if w.new_segment), FILE_SYNC or COMMIT;
 *	    on error retry the same w, the bytes stay valid;
 *	jnl_app_done(&a);                         then ack ops up to
 *	                                          jnl_app_durable(&a)
 *
 * Not thread-safe: owned by the event loop thread.
 */
#ifndef OFSREP_JOURNAL_APPENDER_H
#define OFSREP_JOURNAL_APPENDER_H

#include "journal/format.h"
#include "journal/reader.h"

#define JNL_APP_SEG_LIMIT_DEFAULT	(64u << 20)
#define JNL_APP_GROUP_LIMIT_DEFAULT	(4u << 20)

struct jnl_app_conf {
	uint32_t node;
	uint32_t epoch;		/* new for this incarnation (W2) */
	uint64_t segno;		/* segment the first group creates */
	uint64_t first_seq;	/* seq of the first record appended */
	uint64_t chain_seed;	/* prev of the first record */
	size_t seg_limit;	/* bytes; 0 = default */
	size_t group_limit;	/* record bytes per WRITE, >= JNL_REC_MAX;
				 * 0 = default */
};

/* One group, ready to write. */
struct jnl_app_write {
	uint64_t segno;		/* segment file */
	uint64_t offset;	/* byte offset in it */
	const uint8_t *data;	/* valid until jnl_app_done() */
	size_t len;
	bool new_segment;	/* offset is 0 and data starts with a header */
	uint64_t first_seq;	/* records in this write */
	uint64_t last_seq;
};

struct jnl_app_buf {
	uint8_t *data;		/* JNL_SEG_HDR_SIZE headroom, then records */
	size_t cap;		/* record bytes allocated after the headroom */
	size_t len;		/* record bytes used */
	uint32_t nrecs;
	uint64_t first_seq;
	uint64_t first_prev;	/* chain_seed if this group opens a segment */
	uint64_t first_time;
};

struct jnl_appender {
	uint32_t node;
	uint32_t epoch;
	size_t seg_limit;
	size_t group_limit;
	uint64_t segno;		/* segment being filled */
	uint64_t seg_len;	/* its bytes handed out; 0 = not started */
	uint64_t next_seq;	/* seq of the next record appended */
	uint64_t chain;		/* cksum of the last record appended */
	uint64_t durable_seq;	/* last seq of the last group done */
	uint64_t flight_last;	/* last seq of the group in flight */
	bool in_flight;
	unsigned fill;		/* bufs[fill] takes appends */
	struct jnl_app_buf bufs[2];
};

int jnl_app_conf_genesis(struct jnl_app_conf *c, uint32_t node,
			 uint32_t epoch);
int jnl_app_conf_resume(struct jnl_app_conf *c, const struct jnl_reader *rd,
			uint32_t epoch);
int jnl_app_init(struct jnl_appender *a, const struct jnl_app_conf *c);
void jnl_app_fini(struct jnl_appender *a);
int jnl_app_append(struct jnl_appender *a, const struct jnl_op *op,
		   uint64_t time_ns, uint64_t *seq);
int jnl_app_flush(struct jnl_appender *a, struct jnl_app_write *w);
int jnl_app_done(struct jnl_appender *a);
uint64_t jnl_app_durable(const struct jnl_appender *a);
size_t jnl_app_pending(const struct jnl_appender *a);

#endif /* OFSREP_JOURNAL_APPENDER_H */
