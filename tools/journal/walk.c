// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * walk.c — the journal as ofsrep-journal reads it: every segment file of
 * the node fetched whole from the export (replica/jstore.h), then walked
 * with the validating reader (journal/reader.h), tallying the records
 * (struct tally) and, when asked, what each segment held (struct
 * seg_info).  append, check and ckpt all start here; nothing here writes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "tools/journal/tool.h"

void journal_free(struct journal *j)
{
	for (size_t i = 0; i < j->n; i++)
		free((void *)j->segs[i].data);
	free(j->segs);
	free(j->info);
	j->segs = NULL;
	j->info = NULL;
	j->n = 0;
}

void journal_close(struct journal *j)
{
	journal_free(j);
	jstore_close(&j->js);
}

/* List and read every segment of the node (none if there is none). */
static int journal_read_once(struct journal *j)
{
	uint64_t *segnos;
	uint8_t *buf;
	size_t n;
	int rc = jstore_list(&j->js, &segnos, &n, j->err, sizeof(j->err));

	if (rc)
		return rc;
	j->segs = calloc(n ? n : 1, sizeof(*j->segs));
	j->info = calloc(n ? n : 1, sizeof(*j->info));
	if (!j->segs || !j->info) {
		free(segnos);
		snprintf(j->err, sizeof(j->err), "out of memory");
		return -ENOMEM;
	}
	for (j->n = 0; j->n < n; j->n++) {
		struct seg_info *si = &j->info[j->n];

		rc = jstore_seg_read(&j->js, segnos[j->n], &buf, &si->len,
				     j->err, sizeof(j->err));
		if (rc == -ENOENT)
			rc = -EAGAIN;	/* listed, then trimmed: read again */
		if (rc)
			break;
		si->segno = segnos[j->n];
		si->hdr_ok = jnl_seg_decode(buf, si->len, &si->hdr) ==
			     JNL_SEG_OK;
		j->segs[j->n] = (struct jnl_seg_buf){ .data = buf,
						       .len = si->len };
	}
	free(segnos);
	return rc;
}

/*
 * A mounted daemon's applier deletes applied segments (trimming): one
 * listed a moment ago may be gone when it is read (jstore: -ENOENT,
 * here -EAGAIN).
 * Then list again; a journal that keeps changing under three tries is
 * reported as the error it gave.
 */
static int journal_read(struct journal *j)
{
	int rc = journal_read_once(j);

	for (int retry = 0; rc == -EAGAIN && retry < 2; retry++) {
		journal_free(j);
		j->err[0] = 0;
		rc = journal_read_once(j);
	}
	return rc == -EAGAIN ? -ENOENT : rc;
}

static void tally_record(struct tally *t, const struct jnl_rec *rec,
			 const uint8_t *seg)
{
	uint8_t head[6];

	if (!t->nrecs)
		t->first_seq = rec->hdr.seq;
	if (!t->nrecs || rec->hdr.epoch != t->last_epoch)
		t->nepochs++;
	t->nrecs++;
	t->last_seq = rec->hdr.seq;
	t->last_epoch = rec->hdr.epoch;
	if (rec->hdr.type <= JNL_OP_TYPE_MAX)
		t->types[rec->hdr.type]++;
	if (!t->xxh)
		return;
	jnl_put_le16(head, rec->hdr.type);
	jnl_put_le32(head + 2, rec->hdr.paylen);
	XXH3_64bits_update(t->xxh, head, sizeof(head));
	XXH3_64bits_update(t->xxh, seg + rec->offset + JNL_REC_HDR_SIZE,
			   rec->hdr.paylen);
}

/* Read the records of the segment the reader just opened (index i). */
static int walk_segment(struct journal *j, struct jnl_reader *rd, size_t i,
			struct tally *t, struct seg_info *si, uint64_t stop)
{
	struct jnl_rec rec;
	int rc;

	while ((rc = jnl_rd_next(rd, &rec)) == 1) {
		tally_record(t, &rec, j->segs[i].data);
		if (si) {
			si->first_seq = si->nrecs ? si->first_seq :
				rec.hdr.seq;
			si->last_seq = rec.hdr.seq;
			si->nrecs++;
		}
		if (rec.hdr.seq == stop)
			return 1;
	}
	if (si) {
		si->end = rd->end.kind;
		if (rd->end.kind == JNL_END_SEALED)
			si->ignored = rd->len - rd->off;
	}
	return rc;
}

/*
 * jnl_rd_walk() over segments [from, n), each sealed by the next, keeping
 * per-segment facts in j->info when info is set.  Stops after record
 * stop (1), at the end (0), or on damage (-EUCLEAN, -EPROTO).
 */
int journal_walk(struct journal *j, struct jnl_reader *rd,
		 size_t from, struct tally *t, bool info,
		 uint64_t stop)
{
	const struct jnl_seg_buf *nx;
	int rc;

	for (size_t i = from; i < j->n; i++) {
		nx = i + 1 < j->n ? &j->segs[i + 1] : NULL;
		rc = jnl_rd_open(rd, j->segs[i].data, j->segs[i].len,
				 nx ? nx->data : NULL, nx ? nx->len : 0);
		if (info)
			j->info[i].end = rd->end.kind;
		if (rc)
			return rc;
		if (rd->end.kind == JNL_END_EMPTY)
			continue;
		rc = walk_segment(j, rd, i, t, info ? &j->info[i] : NULL,
				  stop);
		if (rc)
			return rc;
	}
	return 0;
}

int journal_open(struct journal *j, const struct opts *o, bool mkdir)
{
	int rc;

	memset(j, 0, sizeof(*j));
	rc = jstore_open(&j->js, o->url, o->node, o->timeout_ms, j->err,
			 sizeof(j->err));
	if (!rc && mkdir)
		rc = jstore_mkdir(&j->js, j->err, sizeof(j->err));
	if (!rc)
		rc = journal_read(j);
	return rc;
}

/*
 * Read the journal from the checkpoint, as the applier will: it must be
 * able to reach the journal's end from there (jnl_rd_init_ckpt()).
 * Returns 0 (see *cc), or EX_ERROR with the message in j->err.
 */
int journal_check_ckpt(struct journal *j, const struct opts *o,
		      struct ckpt_check *cc)
{
	struct jnl_reader rd;
	struct tally t = { 0 };
	size_t from = 0;
	int rc = jstore_ckpt_load(&j->js, &cc->ck, &cc->slot, j->err,
				  sizeof(j->err));

	if (rc == -ENOENT)
		return 0;	/* none yet: nothing applied */
	if (rc == -EPROTO) {	/* a newer applier's: not ours to judge */
		cc->present = cc->refused = true;
		snprintf(cc->line, sizeof(cc->line), "%s", j->err);
		return 0;
	}
	if (rc == -EBADMSG) {	/* both slots damaged */
		cc->present = cc->damaged = true;
		snprintf(cc->line, sizeof(cc->line), "%s", j->err);
		return 0;
	}
	if (rc)
		return EX_ERROR;
	cc->present = true;
	while (from < j->n && j->info[from].segno < cc->ck.segno)
		from++;
	if (cc->ck.node != o->node || jnl_rd_init_ckpt(&rd, &cc->ck)) {
		snprintf(cc->line, sizeof(cc->line), "checkpoint of node %"
			 PRIu32 " at offset %" PRIu64 " is not usable",
			 cc->ck.node, cc->ck.offset);
		return 0;
	}
	rc = journal_walk(j, &rd, from, &t, false, 0);
	if (!rc && from == j->n)
		snprintf(cc->line, sizeof(cc->line), "segment %" PRIu64
			 " of the checkpoint is missing", cc->ck.segno);
	else
		describe_end(&rd.end, cc->line, sizeof(cc->line));
	cc->consistent = !rc && from < j->n;
	cc->pending = t.nrecs;
	return 0;
}
