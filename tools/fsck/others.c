/*
 * others.c — whether the other nodes sharing the exports leave this
 * repair alone.
 *
 * ofsrep-fsck holds the lease of the node it is checking, not of the
 * others.  On a CTDB pair the other node may be mounted and writing both
 * trees, or may have left a failover marker or records its keeper never
 * applied.  A repair that rewrites the shared mirror (checkpoint rebuild,
 * --resync) or removes blobs nobody seemed to need (the reclaim) is only
 * right when every other node is unmounted, has no split-brain marker
 * and, if @need_applied, has nothing left to apply: else its keeper or
 * its own pass 3 would later write on top of what the repair decided.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "replica/jstore.h"
#include "replica/lease.h"
#include "tools/fsck/fsck.h"
#include "tools/journal/tool.h"

/* Records of @node's journal not applied to the mirror: 0, a count, or
 * UINT64_MAX when that cannot be told (the checkpoint is damaged). */
static uint64_t pending_of(const struct fsck_opts *o, uint32_t node,
			   char *err, size_t errlen)
{
	struct opts jo = { .url = o->secondary, .node = node,
			   .timeout_ms = o->timeout_ms };
	struct ckpt_check cc = { 0 };
	struct jnl_reader rd;
	struct tally t = { 0 };
	struct journal j;
	uint64_t pending = UINT64_MAX;

	if (journal_open(&j, &jo, false)) {
		snprintf(err, errlen, "%s", j.err);
		return UINT64_MAX;
	}
	if (journal_check_ckpt(&j, &jo, &cc)) {
		snprintf(err, errlen, "%s", j.err);
	} else if (cc.present) {
		if (cc.consistent)
			pending = cc.pending;
	} else {
		jnl_rd_init(&rd, node);
		if (journal_walk(&j, &rd, 0, &t, false, 0) >= 0)
			pending = t.nrecs;	/* nothing applied yet */
	}
	journal_close(&j);
	return pending;
}

bool fsck_others_quiet(const struct fsck_opts *o, uint32_t self,
		       bool need_applied, char *why, size_t whylen)
{
	char err[JSTORE_ERR_MAX] = "";
	uint32_t *nodes = NULL;
	struct jstore js;
	size_t n = 0;
	bool quiet = true;

	if (jstore_open(&js, o->secondary, self, o->timeout_ms, err,
			sizeof(err))) {
		snprintf(why, whylen, "%s", err);
		return false;
	}
	if (jstore_list_nodes(&js, &nodes, &n, err, sizeof(err))) {
		snprintf(why, whylen, "%s", err);
		quiet = false;
	}
	for (size_t i = 0; quiet && i < n; i++) {
		struct jstore pj;
		struct lease l;
		long long since;
		uint64_t pending;

		if (nodes[i] == self)
			continue;
		if (jstore_open(&pj, o->secondary, nodes[i], o->timeout_ms,
				err, sizeof(err))) {
			snprintf(why, whylen, "%s", err);
			quiet = false;
			break;
		}
		if (!lease_read(&pj, &l, err, sizeof(err)) && lease_live(&l)) {
			snprintf(why, whylen, "node %" PRIu32 " is in use (%s "
				 "pid %d on %s, %s): unmount every node first",
				 nodes[i], l.holder, l.pid, l.host, l.mount);
			quiet = false;
		} else if (jstore_stale_read(&pj, &since, err,
					     sizeof(err)) != 0) {
			snprintf(why, whylen, "node %" PRIu32 ": a failover "
				 "left the primary stale (or its marker cannot "
				 "be read): resolve that first", nodes[i]);
			quiet = false;
		}
		jstore_close(&pj);
		if (!quiet || !need_applied)
			continue;
		pending = pending_of(o, nodes[i], err, sizeof(err));
		if (pending) {
			if (pending == UINT64_MAX)
				snprintf(why, whylen, "node %" PRIu32 ": what "
					 "its journal left unapplied cannot be "
					 "told%s%s: check it first (--node %"
					 PRIu32 ")", nodes[i], err[0] ? ": " :
					 "", err, nodes[i]);
			else
				snprintf(why, whylen, "node %" PRIu32 " has %"
					 PRIu64 " records not yet applied to "
					 "the mirror: replay them first (--node "
					 "%" PRIu32 ")", nodes[i], pending,
					 nodes[i]);
			quiet = false;
		}
	}
	free(nodes);
	jstore_close(&js);
	return quiet;
}
