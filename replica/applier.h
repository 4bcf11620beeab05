/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * replica/applier.h: the mirror applier.  Replays one node's journal
 * (journal/format.h), in order, from its checkpoint on, onto the mirror
 * tree on the same (secondary) export, and moves the checkpoint after
 * each batch.
 *
 * Where things are, on the export (replica/jstore.h for the journal):
 *
 *	.ofsrep/mirror/				the mirror: fid 1 (the root)
 *	.ofsrep/mirror-orphans/<node>-<epoch>-<fid>
 *						unlinked objects kept for
 *						writes still to come
 *	.ofsrep/journal/<node>/applied.ckpt	the checkpoint
 *	.ofsrep/journal/<node>/applied-<epoch>.fids
 *						the fid log (apl_fid.h)
 *
 * Use (tools/journal/ `apply`):
 *
 *	apl_open(&a, &conf);          connect, find or make the mirror
 *	apl_run(&a);                  apply what is after the checkpoint
 *	a.st                          what happened; a.err on failure
 *	apl_close(&a);
 *
 * apl_run() applies the journal as it was listed when it started and
 * returns 0 at its end (a clean end or a torn tail: end of log);
 * -EUCLEAN when the journal is damaged or the mirror does not fit it
 * (the records before are applied and checkpointed, nothing after);
 * -EPROTO when a newer ofsrep wrote the journal; another -errno for an
 * operational failure (a.err: one line naming the export, the record's
 * seq and type, the name or fid and the errno).
 *
 * The record semantics, idempotency rules and checkpoint cadence are
 * documented at the top of replica/applier.c, orphans at the top of
 * replica/apl_names.c, write coalescing in replica/apl_data.c, and the
 * whole in docs/journal-format.md ("The mirror applier").
 *
 * Not thread-safe: one struct apl per thread.
 */
#ifndef OFSREP_APPLIER_H
#define OFSREP_APPLIER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "journal/reader.h"
#include "replica/apl_fid.h"
#include "replica/apl_rpc.h"
#include "replica/jstore.h"
#include "replica/xstore.h"

#define APL_MIRROR		"mirror"		/* under .ofsrep */
#define APL_ORPHANS		"mirror-orphans"
#define APL_BATCH_DEFAULT	1024u		/* records per batch */
#define APL_BATCH_MAX		1000000u
#define APL_BATCH_BYTES		(64u << 20)	/* WRITE payload per batch */

struct apl_conf {
	const char *url;	/* nfs://HOST/EXPORT?nfsport=N&mountport=M */
	uint32_t node;
	uint32_t batch;		/* records per batch, 0 = default */
	uint64_t upto;		/* stop after this seq; 0 = the end */
	int timeout_ms;		/* per RPC and per call (replica/jstore.h) */
	FILE *trace;		/* debug: a line per record and decision */
	atomic_bool *cancel;	/* if set and true: stop after the batch
				 * (st.stopped), the daemon's unmount */
	/* if set: called after each checkpoint is stored (the daemon
	 * publishes its position and renews its lease there) */
	void (*on_ckpt)(void *arg, const struct jnl_ckpt *ck);
	void *on_ckpt_arg;
};

/* What a run did. */
struct apl_stats {
	uint64_t records;	/* records read and handled */
	uint64_t applied;	/* ... that changed or confirmed the mirror */
	uint64_t skipped;	/* records not applied */
	uint64_t skipped_xattr;	/* always 0 since xattrs are stored; kept
				 * for the tools' JSON */
	uint64_t xattr_sets;	/* xattr blobs written */
	uint64_t xattr_drops;	/* blobs of removed objects removed */
	uint64_t stale;		/* WRITE/SETATTR/COMMIT RPCs that found a
				 * reaped orphan (ignored: no name) */
	uint64_t first_seq;	/* of the records handled, 0 if none */
	uint64_t last_seq;
	uint64_t existing;	/* creating records that found their object */
	uint64_t replayed;	/* records found already applied (replay) */
	uint64_t orphaned;	/* objects moved into mirror-orphans */
	uint64_t reaped;	/* orphans removed at the end of the run */
	uint64_t revalidated;	/* fids flagged by apl_revalidate */
	uint64_t coalesced;	/* WRITE records merged into another's RPC */
	uint64_t write_rpcs;	/* WRITE RPCs (UNSTABLE) */
	uint64_t commits;	/* COMMIT RPCs */
	uint64_t bytes;		/* WRITE payload bytes applied */
	uint64_t batches;	/* checkpoints stored */
	uint64_t flog_writes;	/* fid log writes */
	uint64_t dones;		/* DONE entries written between batches */
	bool have_ckpt;		/* ckpt is the checkpoint now in effect */
	struct jnl_ckpt ckpt;
	uint64_t start_seq;	/* checkpoint seq when the run began */
	struct jnl_end end;	/* how the journal ended */
	bool no_journal;	/* the node has no journal directory */
	bool stopped;		/* stopped at conf.upto */
};

/*
 * The names (parent fid, name) the namespace records since the last DONE
 * touched, as 64-bit hashes (a collision only costs an early DONE).
 * Slots are live when their gen is the set's: clearing is gen++.
 */
#define APL_REGION_SLOTS	4096u

struct apl_region {
	uint64_t key[APL_REGION_SLOTS];
	uint32_t gen[APL_REGION_SLOTS];
	uint32_t cur;		/* the live generation, >= 1 */
	uint32_t n;		/* keys in it */
};

/* A WRITE (or several coalesced) not yet sent. */
struct apl_pend {
	bool active;
	uint64_t fid;
	struct apl_fh fh;
	uint64_t offset;
	size_t len;
	uint8_t *buf;		/* wtmax bytes */
	size_t cap;
	uint64_t seq;		/* last record merged in */
};

struct apl {
	struct jstore js;
	struct apl_rpc rpc;
	struct apl_fidmap map;
	struct apl_conf conf;
	bool open;
	uint32_t epoch;		/* the map's and fid log's; 0 = none */
	uint32_t old_epoch;	/* log to drop after the next ckpt; 0 none */
	struct apl_fh root;	/* the export */
	struct apl_fh ofsrep;	/* .ofsrep */
	struct apl_fh mirror;	/* .ofsrep/mirror = fid 1 */
	struct apl_fh orphans;	/* .ofsrep/mirror-orphans */
	struct apl_fh jdir;	/* .ofsrep/journal/<node> */
	bool have_jdir;
	struct apl_fh flog;	/* applied-<epoch>.fids */
	bool have_flog;
	uint64_t flog_off;	/* bytes of valid entries in it */
	uint8_t *flog_buf;	/* entries not yet written */
	size_t flog_len;
	size_t flog_cap;
	uint64_t intent;	/* largest INTENT seq written this epoch */
	uint64_t replay_to;	/* the replay zone: seqs up to this */
	uint64_t done_to;	/* loaded DONE: namespace records up to
				 * this are applied (skipped) */
	struct apl_region *region;	/* names since the last DONE */
	unsigned slot;		/* checkpoint slot written last */
	bool have_ck;
	struct jnl_ckpt ck;	/* the checkpoint in effect */
	struct jnl_reader rd;
	struct apl_pend pend;
	uint64_t *written;	/* fids written this batch (to COMMIT) */
	size_t nwritten;
	size_t capwritten;
	const struct jnl_rec *rec;	/* being applied, for messages */
	/* Set by the keeper after a failback (replica/mirror.c): the next
	 * run first flags the mapped fids whose objects the mount removed
	 * while it served the mirror directly (apl_revalidate); cleared
	 * once done. */
	bool revalidate;
	/* The checkpoint segment's valid prefix, kept between runs of one
	 * struct apl (the daemon's) so a run reads only what was added. */
	uint8_t *seg_cache;
	size_t seg_cache_len;
	uint64_t seg_cache_segno;
	struct apl_stats st;
	struct xstore xs;	/* the secondary's xattr store */
	char err[JSTORE_ERR_MAX];
};

int apl_open(struct apl *a, const struct apl_conf *conf);
int apl_run(struct apl *a);
void apl_close(struct apl *a);

#endif /* OFSREP_APPLIER_H */
