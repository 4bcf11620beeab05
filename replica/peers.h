/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * replica/peers.h: the journals of the other nodes that share this pair of
 * exports, adopted by this node's mirror keeper when their own keeper is
 * gone (see peers.c).
 */
#ifndef OFSREP_PEERS_H
#define OFSREP_PEERS_H

#include <stdbool.h>
#include <stdint.h>

#include "replica/lease.h"

#define PEERS_MAX	16

struct peer {
	uint32_t node;
	bool adopted;		/* applied since its keeper was last seen */
	bool failed_logged;
};

struct peers {
	const char *url;	/* the secondary export */
	uint32_t self;
	int timeout_ms;
	const char *mountpoint;
	struct peer v[PEERS_MAX];
	unsigned n;
	uint64_t next_ms;	/* next sweep */
	uint64_t adoptions;	/* journals adopted and applied */
	bool seen;		/* another node's journal exists */
};

void peers_init(struct peers *p, const char *url, uint32_t self,
		int timeout_ms, const char *mountpoint);

/* One sweep, if due (or @now): every other node whose lease is not live
 * and whose journal was not adopted since gets its journal applied to
 * the mirror under its lease.  Returns how many were applied. */
unsigned peers_sweep(struct peers *p, bool now);

#endif /* OFSREP_PEERS_H */
