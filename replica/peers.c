// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * replica/peers.c: adopting the journal of a node that died.
 *
 * Two file-server nodes (CTDB) mount the same two exports, each with its
 * own node number and so its own journal, .ofsrep/journal/<node>/, each
 * applied to the one mirror by that node's keeper.  A node that dies
 * (killed, powered off) may leave records that are durable, and so were
 * acknowledged to its clients, but not yet applied to the mirror: until
 * someone applies them, a failover to the mirror would lose them, and the
 * surviving node's own records that name those objects (it BINDs what it
 * finds on the primary) could not be applied.
 *
 * So every keeper sweeps the journal directory (before each of its own
 * runs, at most every PEERS_SWEEP_MS) and, for each other node:
 *
 *   lease live (replica/lease.h: not expired, and on this host its
 *     process running)           -> its keeper does the job; forget any
 *                                   adoption (it came back)
 *   no live lease, not adopted   -> ADOPT: take its lease as holder
 *     since it was last live        "ofsrep-peer" (lease_take refuses if
 *                                   anyone else holds it live), apply its
 *                                   journal from its checkpoint to its
 *                                   end with the same applier, store the
 *                                   checkpoint, drop the lease; adopted
 *   adopted                      -> nothing more until its lease is seen
 *                                   live again
 *
 * A node restarting while its journal is being adopted finds its lease
 * held and refuses to mount with a message naming the adopter; adoption
 * takes as long as applying the backlog (at most journal_max).  Records a
 * live node keeps writing are never touched here: the lease decides.
 * Segments are not trimmed: the owner trims when it mounts again.
 */
#include "replica/peers.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "replica/applier.h"
#include "replica/jstore.h"

#define PEERS_SWEEP_MS	3000

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void peers_init(struct peers *p, const char *url, uint32_t self,
		int timeout_ms, const char *mountpoint)
{
	memset(p, 0, sizeof(*p));
	p->url = url;
	p->self = self;
	p->timeout_ms = timeout_ms;
	p->mountpoint = mountpoint;
}

static struct peer *peer_of(struct peers *p, uint32_t node)
{
	for (unsigned i = 0; i < p->n; i++)
		if (p->v[i].node == node)
			return &p->v[i];
	if (p->n == PEERS_MAX)
		return NULL;
	p->v[p->n] = (struct peer){ .node = node };
	return &p->v[p->n++];
}

/* Applies @node's journal under its lease; 0 or -errno (err says). */
static int adopt(struct peers *p, uint32_t node, char *err, size_t errlen)
{
	struct apl_conf conf = { .url = p->url, .node = node,
				 .timeout_ms = p->timeout_ms };
	struct jstore js;
	struct lease me;
	struct apl *a;
	int rc = jstore_open(&js, p->url, node, p->timeout_ms, err, errlen);

	if (rc)
		return rc;
	lease_self(&me, "ofsrep-peer", p->mountpoint);
	rc = lease_take(&js, &me, err, errlen);
	if (rc) {
		jstore_close(&js);
		return rc;
	}
	a = calloc(1, sizeof(*a));
	rc = a ? apl_open(a, &conf) : -ENOMEM;
	if (!rc)
		rc = apl_run(a);
	if (rc && a)
		snprintf(err, errlen, "%s", a->err);
	if (!rc)
		syslog(LOG_NOTICE, "mirror: node %" PRIu32 " adopted the "
		       "journal of node %" PRIu32 " (its keeper is gone): "
		       "applied %" PRIu64 " records, up to seq %" PRIu64,
		       p->self, node, a->st.applied,
		       a->have_ck ? a->ck.seq : 0);
	if (a) {
		apl_close(a);
		free(a);
	}
	{
		char derr[JSTORE_ERR_MAX];

		if (lease_drop(&js, derr, sizeof(derr)))
			syslog(LOG_WARNING, "mirror: node %" PRIu32 ": the "
			       "lease of node %" PRIu32 ": %s (it expires by "
			       "itself)", p->self, node, derr);
	}
	jstore_close(&js);
	return rc;
}

unsigned peers_sweep(struct peers *p, bool now)
{
	char err[JSTORE_ERR_MAX] = "";
	uint32_t *nodes = NULL;
	unsigned applied = 0;
	struct jstore js;
	size_t n = 0;
	int rc;

	if (!now && mono_ms() < p->next_ms)
		return 0;
	p->next_ms = mono_ms() + PEERS_SWEEP_MS;
	rc = jstore_open(&js, p->url, p->self, p->timeout_ms, err,
			 sizeof(err));
	if (rc)
		return 0;	/* the keeper's own run reports the export */
	rc = jstore_list_nodes(&js, &nodes, &n, err, sizeof(err));
	for (size_t i = 0; !rc && i < n; i++) {
		struct jstore pj;
		struct lease l;
		struct peer *pe;
		bool live;
		int lrc;

		if (nodes[i] == p->self || !(pe = peer_of(p, nodes[i])))
			continue;
		p->seen = true;
		if (jstore_open(&pj, p->url, nodes[i], p->timeout_ms, err,
				sizeof(err)))
			continue;
		lrc = lease_read(&pj, &l, err, sizeof(err));
		jstore_close(&pj);
		live = !lrc && lease_live(&l);
		if (live) {
			pe->adopted = false;
			continue;
		}
		if (pe->adopted || (lrc && lrc != -ENOENT))
			continue;
		err[0] = 0;
		if (adopt(p, nodes[i], err, sizeof(err))) {
			if (!pe->failed_logged)
				syslog(LOG_ERR, "mirror: node %" PRIu32 ": "
				       "adopting the journal of node %" PRIu32
				       " failed: %s; trying again", p->self,
				       nodes[i], err);
			pe->failed_logged = true;
			continue;
		}
		pe->adopted = true;
		pe->failed_logged = false;
		p->adoptions++;
		applied++;
	}
	free(nodes);
	jstore_close(&js);
	return applied;
}
