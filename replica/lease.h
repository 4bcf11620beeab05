/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * replica/lease.h: who may change a node's journal right now (see
 * lease.c for the file format and the rules).
 */
#ifndef OFSREP_LEASE_H
#define OFSREP_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "replica/jstore.h"

#define LEASE_NAME	"lease"
#define LEASE_SIZE	256u		/* bytes, fixed */
#define LEASE_TTL_S	30
#define LEASE_RENEW_S	5
#define LEASE_SKEW_S	10		/* clock difference tolerated */

struct lease {
	char holder[16];	/* "ofsrep" or "ofsrep-fsck" */
	char host[64];
	int pid;
	uint64_t expires;	/* Unix seconds, holder's clock */
	char mount[128];	/* the mount point, or "-" */
};

/* Fills *l for this process (holder, host, pid, mount), expiring in TTL. */
void lease_self(struct lease *l, const char *holder, const char *mount);
int lease_format(const struct lease *l, char *buf, size_t size);
int lease_parse(const char *buf, size_t len, struct lease *l);
/* Read the node's lease: 0, -ENOENT if none, -EUCLEAN if unreadable. */
int lease_read(struct jstore *js, struct lease *l, char *err, size_t errlen);
/* True if the lease may still be held: not expired (with skew), and, on
 * this host, its process is alive. */
bool lease_live(const struct lease *l);
/* True if *l names this very process. */
bool lease_mine(const struct lease *l);
/* Take or renew: refuses (-EBUSY, err says who holds it) if another
 * holder's lease is live. */
int lease_take(struct jstore *js, struct lease *mine, char *err,
	       size_t errlen);
int lease_drop(struct jstore *js, char *err, size_t errlen);
/* One line describing the holder, for messages. */
void lease_describe(const struct lease *l, char *buf, size_t size);

#endif /* OFSREP_LEASE_H */
