// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * journal/appender.c: group commit into segment-sized writes, see
 * journal/appender.h for the contract and journal/format.h for the bytes.
 *
 * Invariants: bufs[fill] is never in flight; the in-flight buffer is
 * never reallocated or written; a group never spans segments; the chain
 * (next_seq, chain) advances at append time, so a group's bytes are final
 * once flushed, and a retried WRITE sends identical bytes.
 * Tests: tests/unit/test_journal_appender.c (and the reader tests, which
 * build their journals with it).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "journal/appender.h"

/* A configuration for a brand-new journal: segment 0, seq 1 (W1, S7). */
int jnl_app_conf_genesis(struct jnl_app_conf *c, uint32_t node,
			 uint32_t epoch)
{
	if (!node || !epoch)
		return -EINVAL;
	*c = (struct jnl_app_conf){
		.node = node, .epoch = epoch, .segno = 0, .first_seq = 1,
		.chain_seed = jnl_chain_genesis(node, epoch),
	};
	return 0;
}

/*
 * A configuration that continues the journal rd has read to its end, in
 * a new epoch (W3): the next segment, sealing the old tail.  A segment
 * file above rd->segno, if any, holds no valid record (EMPTY) and may be
 * overwritten (W5).  Returns 0; -ENODATA if rd found no valid segment
 * (start a genesis journal); -EUCLEAN/-EPROTO if rd stopped on damage or
 * refusal (fsck first); -EINVAL if rd has not reached the end or epoch
 * does not grow.
 */
int jnl_app_conf_resume(struct jnl_app_conf *c, const struct jnl_reader *rd,
			uint32_t epoch)
{
	switch (rd->end.kind) {
	case JNL_END_DAMAGED:
		return -EUCLEAN;
	case JNL_END_REFUSED:
		return -EPROTO;
	case JNL_END_CLEAN:
	case JNL_END_TORN:
	case JNL_END_EMPTY:
		break;
	default:
		return -EINVAL;
	}
	if (rd->phase != JNL_RD_SEG)
		return -ENODATA;
	if (epoch <= rd->epoch)
		return -EINVAL;
	*c = (struct jnl_app_conf){
		.node = rd->node, .epoch = epoch, .segno = rd->segno + 1,
		.first_seq = rd->next_seq, .chain_seed = rd->chain,
	};
	return 0;
}

/*
 * Set up *a from *c.  Buffers grow on demand up to group_limit.
 * Returns 0 or -EINVAL (zero ids, segment 0 not at genesis, group_limit
 * below one maximal record).
 */
int jnl_app_init(struct jnl_appender *a, const struct jnl_app_conf *c)
{
	memset(a, 0, sizeof(*a));
	if (!c->node || !c->epoch || !c->first_seq)
		return -EINVAL;
	if (c->segno == 0 && (c->first_seq != 1 || c->chain_seed !=
			      jnl_chain_genesis(c->node, c->epoch)))
		return -EINVAL;
	a->group_limit = c->group_limit ? c->group_limit :
					  JNL_APP_GROUP_LIMIT_DEFAULT;
	a->seg_limit = c->seg_limit ? c->seg_limit : JNL_APP_SEG_LIMIT_DEFAULT;
	if (a->group_limit < JNL_REC_MAX)
		return -EINVAL;
	a->node = c->node;
	a->epoch = c->epoch;
	a->segno = c->segno;
	a->next_seq = c->first_seq;
	a->chain = c->chain_seed;
	a->durable_seq = c->first_seq - 1;
	return 0;
}

void jnl_app_fini(struct jnl_appender *a)
{
	free(a->bufs[0].data);
	free(a->bufs[1].data);
	memset(a, 0, sizeof(*a));
}

/* Make room for need record bytes in b (b is not in flight). */
static int jnl_app_reserve(struct jnl_appender *a, struct jnl_app_buf *b,
			   size_t need)
{
	size_t cap = b->cap ? b->cap : 4096;
	uint8_t *p;

	if (need <= b->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if (cap > a->group_limit)
		cap = a->group_limit;
	p = realloc(b->data, JNL_SEG_HDR_SIZE + cap);
	if (!p)
		return -ENOMEM;
	b->data = p;
	b->cap = cap;
	return 0;
}

/*
 * Encode op as the next record of the filling group.
 * OUT *seq: its sequence number (ack it once jnl_app_durable() >= seq).
 * Returns 0; -EINVAL if op breaks a payload rule; -E2BIG if it can never
 * fit one record; -ENOBUFS if the group is full (flush, wait for done if
 * a group is in flight, then append again); -ENOMEM.
 */
int jnl_app_append(struct jnl_appender *a, const struct jnl_op *op,
		   uint64_t time_ns, uint64_t *seq)
{
	struct jnl_app_buf *b = &a->bufs[a->fill];
	struct jnl_rec_hdr h = {
		.gidx = b->nrecs, .node = a->node, .epoch = a->epoch,
		.seq = a->next_seq, .prev = a->chain, .time_ns = time_ns,
	};
	size_t need;
	size_t reclen;
	int rc;

	if (jnl_op_check(op) != JNL_OPST_OK)
		return -EINVAL;
	need = JNL_REC_HDR_SIZE + jnl_pad8(jnl_op_size(op));
	if (need > JNL_REC_MAX)
		return -E2BIG;
	if (b->len + need > a->group_limit)
		return -ENOBUFS;
	rc = jnl_app_reserve(a, b, b->len + need);
	if (rc)
		return rc;
	rc = jnl_rec_encode(&h, op, b->data + JNL_SEG_HDR_SIZE + b->len,
			    b->cap - b->len, &reclen);
	if (rc)
		return rc;
	if (!b->nrecs) {
		b->first_seq = h.seq;
		b->first_prev = h.prev;
		b->first_time = time_ns;
	}
	b->len += reclen;
	b->nrecs++;
	a->chain = h.cksum;
	*seq = a->next_seq++;
	return 0;
}

/* Put the segment header for a segment opened by group b in its headroom. */
static void jnl_app_seg_header(struct jnl_appender *a, struct jnl_app_buf *b)
{
	struct jnl_seg_hdr h = {
		.node = a->node, .epoch = a->epoch, .segno = a->segno,
		.first_seq = b->first_seq, .chain_seed = b->first_prev,
		.created_ns = b->first_time,
	};

	jnl_seg_encode(&h, b->data);
}

/*
 * Hand out the filling group as one write, rolling to a new segment if
 * it would push the current one past seg_limit (a segment exceeds the
 * limit only when one group alone does).  Appends continue into the
 * other buffer meanwhile.  Returns 0 with *w; -EBUSY if a group is in
 * flight (W4); -ENODATA if nothing was appended.
 */
int jnl_app_flush(struct jnl_appender *a, struct jnl_app_write *w)
{
	struct jnl_app_buf *b = &a->bufs[a->fill];
	struct jnl_app_buf *nb = &a->bufs[a->fill ^ 1];

	if (a->in_flight)
		return -EBUSY;
	if (!b->nrecs)
		return -ENODATA;
	if (a->seg_len && a->seg_len + b->len > a->seg_limit) {
		a->segno++;
		a->seg_len = 0;
	}
	*w = (struct jnl_app_write){
		.segno = a->segno, .offset = a->seg_len,
		.data = b->data + JNL_SEG_HDR_SIZE, .len = b->len,
		.new_segment = a->seg_len == 0, .first_seq = b->first_seq,
		.last_seq = b->first_seq + b->nrecs - 1,
	};
	if (w->new_segment) {
		jnl_app_seg_header(a, b);
		w->data = b->data;
		w->len += JNL_SEG_HDR_SIZE;
	}
	a->seg_len += w->len;
	a->flight_last = w->last_seq;
	a->in_flight = true;
	a->fill ^= 1;
	nb->len = 0;
	nb->nrecs = 0;
	return 0;
}

/* The write from the last jnl_app_flush() is durable.  0 or -EINVAL. */
int jnl_app_done(struct jnl_appender *a)
{
	if (!a->in_flight)
		return -EINVAL;
	a->in_flight = false;
	a->durable_seq = a->flight_last;
	return 0;
}

/* Last seq whose group is durable: every op up to it may be acked. */
uint64_t jnl_app_durable(const struct jnl_appender *a)
{
	return a->durable_seq;
}

/* Record bytes appended and not yet handed out. */
size_t jnl_app_pending(const struct jnl_appender *a)
{
	return a->bufs[a->fill].len;
}
