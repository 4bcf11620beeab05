/*
 * health.h — is an export alive? (see health.c for the state machine)
 */
#ifndef OFSREP_HEALTH_H
#define OFSREP_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include "replica/export.h"

enum health_state {
	HEALTH_UP,		/* answers */
	HEALTH_SUSPECT,		/* no connection, for less than the grace */
	HEALTH_DOWN,		/* declared lost */
};

struct health {
	struct rep_export *exp;
	int state;		/* enum health_state */
	uint64_t window_ms;	/* an answer this old still counts */
	uint64_t suspect_since_ms;
	uint64_t down_since_ms;	/* DOWN: when it was declared */
	uint64_t changes;	/* transitions to DOWN, this mount */
	char why[160];		/* DOWN: what gave it away */
};

void health_init(struct health *h, struct rep_export *exp,
		 int failover_timeout_ms);
/* From the loop, after the export's pump.  Returns true when the state
 * changed (to or from DOWN). */
bool health_update(struct health *h);
const char *health_state_name(int state);

#endif
