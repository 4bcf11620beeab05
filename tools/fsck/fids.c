/*
 * fids.c — ofsrep-fsck's check of the mirror against the journal's fid
 * map (the end of pass 3): does every object the journal made still
 * exist in the mirror?
 *
 * The applier writes down, in <journal dir>/<node>/applied-<epoch>.fids
 * (replica/apl_fid.h), the mirror handle of every object a record of
 * the epoch introduced, and flags the fids whose names a record removed.
 * Once every record is applied, each mapped fid that is not flagged
 * must still answer GETATTR on the secondary: a stale handle means the
 * mirror lost an object the journal had put there (someone removed it
 * behind ofsrep's back, or NAS b lost it), so the mirror is no longer a
 * copy of what was acknowledged.  The remedy is the one the tool already
 * has: --resync=mirror with PRIMARY_URL.
 *
 * When the check does not run, because its answer would not mean that:
 *   - records are pending or the checkpoint cannot be trusted (pass 2/3
 *     report those; the map is not final);
 *   - a live mount owns the journal (its applier may have removed an
 *     object and not yet logged the flag);
 *   - another node's journal shares the mirror (its records may remove
 *     objects this node's map names: they carry that node's fids);
 *   - the journal moved to a later epoch than the checkpoint's (a
 *     reattach resync rewrote the mirror and the old fids mean nothing);
 *   - the split-brain guard is set: since the failover the mount wrote
 *     the mirror directly, without records.  (A failback in the mount
 *     flags the fids of objects removed meanwhile: apl_revalidate.)
 *
 * After a mirror resync (pass 2's checkpoint rebuild, --resync=mirror)
 * the mirror equals the primary and nothing of the epoch is left to
 * apply, so the log's handles, some of them of objects the resync made
 * again, are dropped (fsck_fids_forget): a second run is then clean.
 * The same after a split brain is resolved (the mirror had been served
 * directly).
 * The next applier run finds no log and an empty map, which is right
 * when every record of the epoch is applied.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replica/apl_fid.h"
#include "replica/apl_rpc.h"
#include "replica/jstore.h"
#include "tools/fsck/fsck.h"

#define FIDS_READ_MAX	(1ull << 31)	/* 20 million entries */

static void fids_name(uint32_t epoch, char *buf, size_t size)
{
	snprintf(buf, size, "applied-%" PRIu32 ".fids", epoch);
}

/* The whole log into a malloc'd *buf (-ENOENT if there is none). */
static int fids_read(struct jstore *js, const char *name, uint8_t **buf,
		     size_t *len, char *err, size_t errlen)
{
	size_t cap = 1u << 20;
	uint8_t *p = NULL;
	int rc;

	for (;;) {
		uint8_t *q = realloc(p, cap);

		if (!q) {
			free(p);
			snprintf(err, errlen, "%s: %s: out of memory for %zu "
				 "bytes", js->url, name, cap);
			return -ENOMEM;
		}
		p = q;
		rc = jstore_file_read(js, name, p, cap, len, err, errlen);
		if (rc || *len < cap)
			break;
		if (cap >= FIDS_READ_MAX) {
			snprintf(err, errlen, "%s: %s/%s: larger than %llu "
				 "bytes", js->url, js->dir, name,
				 (unsigned long long)FIDS_READ_MAX);
			rc = -EFBIG;
			break;
		}
		cap *= 2;
	}
	if (rc) {
		free(p);
		return rc;
	}
	*buf = p;
	return 0;
}

/* Why the check would not mean what it says, or NULL. */
static const char *fids_skip(struct jstore *js, uint32_t journal_epoch,
			     const struct fsck_node *r, char *err,
			     size_t errlen)
{
	uint32_t *nodes = NULL;
	long long since = 0;
	size_t n = 0;
	int stale;

	if (!r->have_ckpt || r->ckpt_damaged || r->pending)
		return "records not applied";
	if (r->live)
		return "a live mount owns the journal";
	if (journal_epoch != r->ckpt_epoch)
		return "the journal moved to a later epoch";
	stale = jstore_stale_read(js, &since, err, errlen);
	if (stale < 0)
		return err;
	if (stale)
		return "a failover: the mirror was served directly since";
	if (jstore_list_nodes(js, &nodes, &n, err, errlen))
		return err;
	free(nodes);
	if (n > 1)
		return "other nodes' journals share the mirror";
	return NULL;
}

void fsck_fids(const struct fsck_opts *o, struct jstore *js,
	       uint32_t journal_epoch, struct fsck_node *r)
{
	char err[JSTORE_ERR_MAX], name[40];
	struct apl_fid_loaded ld;
	struct apl_fidmap map;
	struct apl_rpc rpc;
	struct apl_attr attr;
	const char *skip = fids_skip(js, journal_epoch, r, err, sizeof(err));
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	if (skip) {
		if (o->verbose)
			fsck_say(o, "Node %" PRIu32 ": the mirror's objects "
				 "not checked against the fid map: %s\n",
				 r->node, skip);
		return;
	}
	fids_name(r->ckpt_epoch, name, sizeof(name));
	rc = fids_read(js, name, &buf, &len, err, sizeof(err));
	if (rc == -ENOENT)
		return;
	apl_fid_init(&map);
	if (!rc && apl_fid_load(&map, buf, len, r->node, r->ckpt_epoch,
				r->ckpt_seq, &ld)) {
		snprintf(err, sizeof(err), "%s: %s/%s: out of memory",
			 js->url, js->dir, name);
		rc = -ENOMEM;
	}
	free(buf);
	if (!rc)
		rc = apl_rpc_init(&rpc, js, NULL, NULL);
	if (rc) {
		if (!err[0] || rc == -ENOTCONN)
			snprintf(err, sizeof(err), "%s: %s/%s: %s", js->url,
				 js->dir, name, strerror(-rc));
		fsck_problem(r, "error", false, "%s", err);
		r->exit |= FX_ERROR;
		apl_fid_free(&map);
		return;
	}
	fsck_say(o, "Node %" PRIu32 ": pass 3: checking the mirror's %" PRIu32
		 " objects against the journal's fid map\n", r->node, map.n);
	for (uint32_t i = 0; i < map.n && !fsck_interrupted; i++) {
		const struct apl_fid_ent *e = &map.ents[i];

		if (e->flags & APL_FID_UNLINKED)
			continue;
		r->fids_checked++;
		rc = apl_rpc_getattr(&rpc, &e->fh, &attr);
		if (rc == -ESTALE || rc == -ENOENT) {
			if (!r->fids_gone++) {
				r->fids_first_gone = e->fid;
				r->fids_first_seq = e->seq;
			}
			continue;
		}
		if (rc) {
			fsck_problem(r, "error", false, "%s: the mirror object "
				     "of fid %" PRIu64 " (%s/%s): GETATTR: %s",
				     js->url, e->fid, js->dir, name,
				     rpc.msg[0] ? rpc.msg : strerror(-rc));
			r->exit |= FX_ERROR;
			break;
		}
		if (!(i & 1023))
			fsck_progress(o, r->node, 3, i, map.n);
	}
	apl_rpc_fini(&rpc);
	apl_fid_free(&map);
}

/* The verdict, after pass 4.  @obsolete: the mirror was made equal to
 * the primary since (so a lost object is fixed), or a split brain was
 * resolved (so the mirror had been served directly): the log goes. */
void fsck_fids_verdict(const struct fsck_opts *o, struct jstore *js,
		       bool obsolete, struct fsck_node *r)
{
	char err[JSTORE_ERR_MAX];

	bool resynced = obsolete;

	/* always: the resync may have made mapped objects again */
	if (obsolete && r->have_ckpt &&
	    fsck_fids_forget(js, r->ckpt_epoch, err, sizeof(err))) {
		fsck_problem(r, "error", false, "%s", err);
		r->exit |= FX_ERROR;
		resynced = false;
	}
	if (!r->fids_gone)
		return;
	fsck_problem(r, "mirror_lost", resynced, "%" PRIu64 " of the %" PRIu64
		     " objects the journal made are gone from the mirror "
		     "(the first: fid %" PRIu64 ", made by record %" PRIu64
		     ")%s", r->fids_gone, r->fids_checked, r->fids_first_gone,
		     r->fids_first_seq, resynced ? "; the mirror was made "
		     "equal to the primary" : ": the mirror lost what the "
		     "journal had applied; make it equal to the primary with "
		     "PRIMARY_URL --resync=mirror");
	r->exit |= resynced ? FX_CORRECTED : FX_UNCORRECTED;
	if (resynced)
		fsck_say(o, "Node %" PRIu32 ": the %" PRIu64 " objects gone "
			 "from the mirror were made again from the primary\n",
			 r->node, r->fids_gone);
}

int fsck_fids_forget(struct jstore *js, uint32_t epoch, char *err,
		     size_t errlen)
{
	char name[40];
	int rc;

	fids_name(epoch, name, sizeof(name));
	rc = jstore_file_remove(js, name, err, errlen);
	return rc == -ENOENT ? 0 : rc;
}
