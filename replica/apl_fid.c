// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * replica/apl_fid.c: the applier's fid map (two chained hash indexes over
 * one entry array: by fid, and by file handle for "is the object at this
 * name some fid's?") and the fid log codec.  The log format is specified
 * in replica/apl_fid.h.
 *
 * Entries are never removed one by one: a fid stays mapped for its
 * epoch (W6), and apl_fid_reset() drops them all when the epoch changes.
 * A remap (the applier re-made an object) moves the entry to its new
 * handle's chain.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "journal/format.h"
#include "replica/apl_fid.h"

/* ---- the log codec ---- */

void apl_flog_encode(const struct apl_flog_ent *e, uint8_t *buf)
{
	memset(buf, 0, APL_FLOG_SIZE);
	jnl_put_le32(buf + APL_FLOG_OFF_MAGIC, APL_FLOG_MAGIC);
	buf[APL_FLOG_OFF_KIND] = e->kind;
	if (e->kind == APL_FLOG_MAP || e->kind == APL_FLOG_ACTED) {
		buf[APL_FLOG_OFF_FHLEN] = (uint8_t)e->fh.len;
		memcpy(buf + APL_FLOG_OFF_FH, e->fh.data, e->fh.len);
	}
	jnl_put_le32(buf + APL_FLOG_OFF_NODE, e->node);
	jnl_put_le32(buf + APL_FLOG_OFF_EPOCH, e->epoch);
	jnl_put_le64(buf + APL_FLOG_OFF_SEQ, e->seq);
	jnl_put_le64(buf + APL_FLOG_OFF_FID, e->fid);
	jnl_put_le64(buf, XXH3_64bits_withSeed(buf + 8, APL_FLOG_SIZE - 8,
					       APL_FLOG_SEED));
}

static bool apl_flog_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/* Is the fhlen right for the kind, and the unused bytes zero? */
static bool apl_flog_shape(const uint8_t *buf, unsigned kind, unsigned fhlen)
{
	bool has_fh = kind == APL_FLOG_MAP || kind == APL_FLOG_ACTED;

	if (has_fh && (fhlen == 0 || fhlen > APL_FH_MAX))
		return false;
	if (!has_fh && fhlen != 0)
		return false;
	if (kind != APL_FLOG_MAP && kind != APL_FLOG_UNLINKED &&
	    jnl_get_le64(buf + APL_FLOG_OFF_FID))
		return false;
	return apl_flog_zero(buf + APL_FLOG_OFF_ZERO, 2) &&
	       apl_flog_zero(buf + APL_FLOG_OFF_FH + fhlen, APL_FH_MAX - fhlen);
}

/* Decode one entry of the (node, epoch) log: the validity rules of the
 * header, in order. */
bool apl_flog_decode(const uint8_t *buf, size_t len, uint32_t node,
		     uint32_t epoch, struct apl_flog_ent *out)
{
	unsigned kind;
	unsigned fhlen;

	/* An entry is valid only if the buffer holds its 104 bytes, */
	if (len < APL_FLOG_SIZE)
		return false;
	/* magic and cksum match, */
	if (jnl_get_le32(buf + APL_FLOG_OFF_MAGIC) != APL_FLOG_MAGIC ||
	    jnl_get_le64(buf) != XXH3_64bits_withSeed(buf + 8,
						      APL_FLOG_SIZE - 8,
						      APL_FLOG_SEED))
		return false;
	/* kind is known, fhlen fits it and unused bytes are zero, */
	kind = buf[APL_FLOG_OFF_KIND];
	fhlen = buf[APL_FLOG_OFF_FHLEN];
	if (kind < APL_FLOG_MAP || kind > APL_FLOG_DONE ||
	    !apl_flog_shape(buf, kind, fhlen))
		return false;
	/* and node and epoch are the file's. */
	if (jnl_get_le32(buf + APL_FLOG_OFF_NODE) != node ||
	    jnl_get_le32(buf + APL_FLOG_OFF_EPOCH) != epoch)
		return false;
	*out = (struct apl_flog_ent){
		.kind = (uint8_t)kind, .node = node, .epoch = epoch,
		.seq = jnl_get_le64(buf + APL_FLOG_OFF_SEQ),
		.fid = jnl_get_le64(buf + APL_FLOG_OFF_FID),
		.fh.len = fhlen,
	};
	memcpy(out->fh.data, buf + APL_FLOG_OFF_FH, fhlen);
	return true;
}

/* ---- the map ---- */

static uint32_t apl_hash_fid(uint64_t fid, uint32_t nb)
{
	return (uint32_t)((fid * 0x9e3779b97f4a7c15ULL) >> 32) & (nb - 1);
}

static uint32_t apl_hash_fh(const struct apl_fh *fh, uint32_t nb)
{
	return (uint32_t)XXH3_64bits(fh->data, fh->len) & (nb - 1);
}

void apl_fid_init(struct apl_fidmap *m)
{
	memset(m, 0, sizeof(*m));
}

void apl_fid_free(struct apl_fidmap *m)
{
	free(m->acted);
	free(m->ents);
	free(m->fid_heads);
	free(m->fh_heads);
	memset(m, 0, sizeof(*m));
}

/* Forget every fid (a new epoch); keeps the memory. */
void apl_fid_reset(struct apl_fidmap *m)
{
	m->n = 0;
	m->nacted = 0;
	if (m->nb) {
		memset(m->fid_heads, 0, m->nb * sizeof(*m->fid_heads));
		memset(m->fh_heads, 0, m->nb * sizeof(*m->fh_heads));
	}
}

struct apl_fid_ent *apl_fid_get(const struct apl_fidmap *m, uint64_t fid)
{
	uint32_t i;

	if (!m->nb)
		return NULL;
	for (i = m->fid_heads[apl_hash_fid(fid, m->nb)]; i;
	     i = m->ents[i - 1].next_fid)
		if (m->ents[i - 1].fid == fid)
			return &m->ents[i - 1];
	return NULL;
}

/* Some entry whose handle is fh, or NULL. */
struct apl_fid_ent *apl_fid_by_fh(const struct apl_fidmap *m,
				  const struct apl_fh *fh)
{
	uint32_t i;

	if (!m->nb)
		return NULL;
	for (i = m->fh_heads[apl_hash_fh(fh, m->nb)]; i;
	     i = m->ents[i - 1].next_fh)
		if (apl_fh_eq(&m->ents[i - 1].fh, fh))
			return &m->ents[i - 1];
	return NULL;
}

static void apl_fid_link(struct apl_fidmap *m, uint32_t idx)
{
	struct apl_fid_ent *e = &m->ents[idx];
	uint32_t *fb = &m->fid_heads[apl_hash_fid(e->fid, m->nb)];
	uint32_t *hb = &m->fh_heads[apl_hash_fh(&e->fh, m->nb)];

	e->next_fid = *fb;
	*fb = idx + 1;
	e->next_fh = *hb;
	*hb = idx + 1;
}

/* Grow the entry array and, past one entry per bucket, the indexes. */
static int apl_fid_grow(struct apl_fidmap *m)
{
	uint32_t nb = m->nb ? m->nb * 2 : 1024;
	struct apl_fid_ent *e;
	uint32_t *fh;
	uint32_t *fi;

	if (m->n < m->cap && m->n < m->nb)
		return 0;
	if (m->n >= UINT32_MAX / 2)
		return -ENOMEM;
	e = realloc(m->ents, nb * sizeof(*e));
	if (!e)
		return -ENOMEM;
	m->ents = e;
	m->cap = nb;
	fi = calloc(nb, sizeof(*fi));
	fh = calloc(nb, sizeof(*fh));
	if (!fi || !fh) {
		free(fi);
		free(fh);
		return -ENOMEM;
	}
	free(m->fid_heads);
	free(m->fh_heads);
	m->fid_heads = fi;
	m->fh_heads = fh;
	m->nb = nb;
	for (uint32_t i = 0; i < m->n; i++)
		apl_fid_link(m, i);
	return 0;
}

/* Take entry e out of its handle's chain (before it changes handle). */
static void apl_fid_unlink_fh(struct apl_fidmap *m, struct apl_fid_ent *e)
{
	uint32_t idx = (uint32_t)(e - m->ents) + 1;
	uint32_t *p = &m->fh_heads[apl_hash_fh(&e->fh, m->nb)];

	while (*p && *p != idx)
		p = &m->ents[*p - 1].next_fh;
	if (*p)
		*p = e->next_fh;
}

/*
 * Map fid to fh (made by record seq): a new entry, or the existing one
 * moved to the new handle (flags kept: a later MAP entry of the log
 * wins).  *out (may be NULL) gets it.
 * Returns 0 or -ENOMEM.
 */
int apl_fid_set(struct apl_fidmap *m, uint64_t fid, const struct apl_fh *fh,
		uint64_t seq, struct apl_fid_ent **out)
{
	struct apl_fid_ent *e = apl_fid_get(m, fid);
	int rc;

	if (e) {
		apl_fid_unlink_fh(m, e);
		e->fh = *fh;
		e->seq = seq;
		e->next_fh = m->fh_heads[apl_hash_fh(fh, m->nb)];
		m->fh_heads[apl_hash_fh(fh, m->nb)] =
			(uint32_t)(e - m->ents) + 1;
	} else {
		rc = apl_fid_grow(m);
		if (rc)
			return rc;
		e = &m->ents[m->n];
		*e = (struct apl_fid_ent){ .fid = fid, .seq = seq, .fh = *fh };
		apl_fid_link(m, m->n++);
	}
	if (out)
		*out = e;
	return 0;
}

/* Remember that record seq acted on the object fh (an ACTED entry). */
int apl_fid_acted_put(struct apl_fidmap *m, uint64_t seq,
		      const struct apl_fh *fh)
{
	struct apl_acted *v;

	if (m->nacted == m->capacted) {
		v = realloc(m->acted, (m->capacted ? m->capacted * 2 : 16) *
			    sizeof(*v));
		if (!v)
			return -ENOMEM;
		m->acted = v;
		m->capacted = m->capacted ? m->capacted * 2 : 16;
	}
	m->acted[m->nacted++] = (struct apl_acted){ .seq = seq, .fh = *fh };
	return 0;
}

/* The object record seq acted on, if an ACTED entry says (the last). */
const struct apl_fh *apl_fid_acted_get(const struct apl_fidmap *m,
				       uint64_t seq)
{
	for (size_t i = m->nacted; i > 0; i--)
		if (m->acted[i - 1].seq == seq)
			return &m->acted[i - 1].fh;
	return NULL;
}

/* Apply one loaded entry (see LOADING in the header). */
static int apl_fid_load_one(struct apl_fidmap *m,
			    const struct apl_flog_ent *e, uint64_t ckpt_seq,
			    struct apl_fid_loaded *out)
{
	struct apl_fid_ent *f;
	int rc;

	switch (e->kind) {
	case APL_FLOG_MAP:
		rc = apl_fid_set(m, e->fid, &e->fh, e->seq, &f);
		if (rc)
			return rc;
		break;
	case APL_FLOG_UNLINKED:
		f = apl_fid_get(m, e->fid);
		if (f)
			f->flags |= APL_FID_UNLINKED;
		break;
	case APL_FLOG_INTENT:
		if (e->seq > out->replay_to)
			out->replay_to = e->seq;
		break;
	case APL_FLOG_ACTED:
		if (e->seq > ckpt_seq)
			return apl_fid_acted_put(m, e->seq, &e->fh);
		break;
	case APL_FLOG_DONE:
		if (e->seq > out->done_to)
			out->done_to = e->seq;
		break;
	}
	return 0;
}

/*
 * Load the log of (node, epoch) from buf[0, len) into m (which the caller
 * reset), the checkpoint being at ckpt_seq.  Stops at the first invalid
 * entry.  Returns 0 or -ENOMEM; *out says what was found.
 */
int apl_fid_load(struct apl_fidmap *m, const uint8_t *buf, size_t len,
		 uint32_t node, uint32_t epoch, uint64_t ckpt_seq,
		 struct apl_fid_loaded *out)
{
	struct apl_flog_ent e;
	size_t off;
	int rc;

	memset(out, 0, sizeof(*out));
	for (off = 0; off + APL_FLOG_SIZE <= len &&
	     apl_flog_decode(buf + off, len - off, node, epoch, &e);
	     off += APL_FLOG_SIZE) {
		rc = apl_fid_load_one(m, &e, ckpt_seq, out);
		if (rc)
			return rc;
		out->entries++;
	}
	out->valid_len = off;
	return 0;
}
