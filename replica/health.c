/*
 * health.c — whether an export is alive, judged from what its
 * connections already see (replica/export.c: every answer moves
 * exp->last_ok_ms; an idle connection sends an NFS NULL heartbeat every
 * second; a refused or reset connection fails at once, an unanswered
 * call after the export's RPC timeout).  The secondary's export runs
 * with failover_timeout as its RPC timeout, so a hung NAS b fails its
 * heartbeat that fast.
 *
 * STATE MACHINE (one per watched export; the loop calls health_update
 * after each batch)
 *
 *   UP --(no connection UP)----------------------------> SUSPECT
 *   SUSPECT --(a connection UP again, within GRACE_MS)--> UP
 *   SUSPECT --(still none after GRACE_MS)---------------> DOWN
 *   UP, SUSPECT --(no answer for window_ms: a hung or
 *                  cut-off server whose kernel still
 *                  accepts connections)------------------> DOWN
 *   DOWN --(a connection UP and an answer newer than
 *           the moment it was declared down)------------> UP
 *
 *   window_ms = failover_timeout + the heartbeat period + slack: the
 *   longest a live, idle export can go without an answer.  GRACE_MS
 *   covers a reconnect after a single failed call and the first connect
 *   at mount (every connection of the export down at once means the
 *   server is gone).  So a dead server (refused, reset) is DOWN after
 *   about a quarter of a second, a hung one after at most window_ms.
 *
 *   Every change to and from DOWN is logged with the export and figures.
 */
#include "replica/health.h"

#include <stdio.h>
#include <syslog.h>

#define GRACE_MS	250
#define HEARTBEAT_SLACK_MS	1500	/* heartbeat period + scheduling */

const char *health_state_name(int state)
{
	return state == HEALTH_UP ? "up" : state == HEALTH_SUSPECT ?
	       "suspect" : "down";
}

void health_init(struct health *h, struct rep_export *exp,
		 int failover_timeout_ms)
{
	*h = (struct health){
		.exp = exp, .state = HEALTH_UP,
		.window_ms = (uint64_t)failover_timeout_ms +
			     HEARTBEAT_SLACK_MS,
	};
}

static void go_down(struct health *h, uint64_t now, const char *why)
{
	h->state = HEALTH_DOWN;
	h->down_since_ms = now;
	h->changes++;
	snprintf(h->why, sizeof(h->why), "%s", why);
	syslog(LOG_ERR, "%s export %s declared down: %s", h->exp->name,
	       h->exp->url_text, why);
}

bool health_update(struct health *h)
{
	struct rep_export *exp = h->exp;
	uint64_t now = ev_now_ms();
	bool up = false;
	bool silent = now > exp->last_ok_ms + h->window_ms;

	for (int i = 0; i < exp->nconns; i++)
		up |= exp->conns[i].state == REP_CONN_UP;
	switch (h->state) {
	case HEALTH_UP:
	case HEALTH_SUSPECT:
		if (silent) {
			char why[96];

			if (exp->last_ok_ms)
				snprintf(why, sizeof(why), "no answer for "
					 "%.1f s", (double)(now -
					 exp->last_ok_ms) / 1000.0);
			else
				snprintf(why, sizeof(why), "no answer since "
					 "the mount");
			go_down(h, now, why);
			return true;
		}
		if (up) {
			h->state = HEALTH_UP;
			return false;
		}
		if (h->state == HEALTH_UP) {
			h->state = HEALTH_SUSPECT;
			h->suspect_since_ms = now;
		} else if (now >= h->suspect_since_ms + GRACE_MS) {
			go_down(h, now, exp->conns[0].last_error[0] ?
				exp->conns[0].last_error : "no connection");
			return true;
		}
		return false;
	default:
		if (!up || exp->last_ok_ms <= h->down_since_ms)
			return false;
		syslog(LOG_NOTICE, "%s export %s answers again after %.1f s "
		       "down", exp->name, exp->url_text,
		       (double)(now - h->down_since_ms) / 1000.0);
		h->state = HEALTH_UP;
		return true;
	}
}
