/*
 * jw_io.c — the journal writer's I/O thread: where each group goes when
 * the secondary is there, when it is lost, and when it comes back.
 *
 * The loop thread (replica/jwriter.c) posts one group at a time; this
 * thread makes it durable and reports back through the eventfd.  A group
 * reported done is acknowledged, so "done" means durable on the
 * secondary's journal or in the local spool (journal/spool.c), or, after
 * an overflow, given up on (DETACHED, below).
 *
 * ROUTE STATE MACHINE (jw->route; only this thread changes it)
 *
 *   DIRECT --(a group write fails: refused, reset, no answer within
 *             failover_timeout; or the loop's heartbeat on the
 *             secondary gets no answer, jw_peer_state)------> SPOOLING
 *             that group and every later one go to the spool
 *   SPOOLING --(the heartbeat answers again, and a probe, at most every
 *               PROBE_MS, mounts the export)----------------> DRAINING
 *   DRAINING --(writing a spooled group fails)-----------> SPOOLING
 *   DRAINING --(spool empty; checked between groups, so no group can
 *               be posted in between)-----------------------> DIRECT
 *   SPOOLING, DRAINING --(the spool is full, spool_max)---> DETACHED
 *   DETACHED: nothing more is journaled in this mount; groups are done
 *             at once (the primary alone has them) and the spool keeps
 *             the OVERFLOWED flag, so the next mount stays DETACHED
 *             until the mirror is resynced (docs/failover.md).
 *
 *   In SPOOLING and DRAINING new groups are spooled (spool rule P3):
 *   the journal is written in order.  Draining goes one spooled group
 *   at a time and looks for a posted group in between, so writers wait
 *   for one local append, never for the drain.
 *
 *   A spool that cannot be written (local disk full or failing) fails
 *   the job: the loop retries it after a pause, as before spooling
 *   existed, and acknowledgements wait.  With spool_max=0 there is no
 *   spool: a lost secondary freezes acknowledgements until it is back.
 *
 * Start-up (jw_io_recover, from jw_open before the journal is read): a
 * spool left by an earlier mount is drained first, so the journal's end
 * is where that mount's last acknowledged group put it.  A mount that
 * cannot reach the secondary starts in SPOOLING instead
 * (jw_io_start_lost), from the tail record a clean unmount left
 * (journal/tail.c); what is spooled then drains as after any outage.
 */
#include "replica/jwriter.h"

#include "replica/lease.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define PROBE_MS	1000	/* SPOOLING: how often to try the export */
#define DRAIN_LOG_MS	10000	/* DRAINING: progress in the log */

const char *jw_route_name(int route)
{
	static const char *const names[] = {
		[JW_ROUTE_DIRECT] = "direct",
		[JW_ROUTE_SPOOLING] = "spooling",
		[JW_ROUTE_DRAINING] = "draining",
		[JW_ROUTE_DETACHED] = "detached",
	};

	return route >= 0 && route <= JW_ROUTE_DETACHED ? names[route] : "?";
}

static void set_route(struct jwriter *jw, int route)
{
	atomic_store(&jw->route, route);
}

/* Why the secondary was lost, for `ofsrep status` (read under mu). */
static void note_loss(struct jwriter *jw, const char *why)
{
	pthread_mutex_lock(&jw->mu);
	snprintf(jw->route_err, sizeof(jw->route_err), "%.*s",
		 (int)sizeof(jw->route_err) - 1, why);
	pthread_mutex_unlock(&jw->mu);
}

static void publish_spool(struct jwriter *jw)
{
	atomic_store(&jw->spool_bytes, jnl_spool_bytes(&jw->spool));
}

/* Makes sure the store is usable: jstore marks itself broken after a
 * timeout or a lost connection, and only a fresh one helps. */
static int store_ready(struct jwriter *jw, char *err, size_t errlen)
{
	char url[JSTORE_URL_MAX];

	if (!jw->js.broken && jw->js.nfs)
		return 0;
	snprintf(url, sizeof(url), "%s", jw->js.url);
	jstore_close(&jw->js);
	return jstore_open(&jw->js, url, jw->js.node, jw->io_timeout_ms, err,
			   errlen);
}

/* One group to the secondary's journal, at its place. */
static int write_group(struct jwriter *jw, uint64_t segno, uint64_t offset,
		       const uint8_t *data, size_t len, bool new_segment,
		       bool replace, char *err, size_t errlen)
{
	int rc = store_ready(jw, err, errlen);

	if (!rc && new_segment)
		rc = jstore_seg_create(&jw->js, segno,
				       replace ? JSTORE_REPLACE : 0, err,
				       errlen);
	if (!rc)
		rc = jstore_seg_write(&jw->js, segno, offset, data, len, err,
				      errlen);
	return rc;
}

/* DETACHED from here on (spool rule P4). */
static void detach(struct jwriter *jw, uint64_t first_lost, const char *why)
{
	char err[JSTORE_ERR_MAX];

	if (jnl_spool_mark_overflow(&jw->spool, first_lost, err, sizeof(err)))
		syslog(LOG_CRIT, "journal: %s", err);
	set_route(jw, JW_ROUTE_DETACHED);
	syslog(LOG_CRIT, "journal of node %" PRIu32 ": %s: records from seq "
	       "%" PRIu64 " on are NOT replicated; the mirror on %s needs a "
	       "full resync: ofsrep-fsck -y --resync=mirror (ofsrep status "
	       "says degraded)", jw->js.node, why, first_lost, jw->js.url);
}

/* DIRECT -> SPOOLING. */
static void declare_lost(struct jwriter *jw, const char *why)
{
	atomic_store(&jw->lost_at_ms, ev_now_ms());
	jw->next_probe_ms = ev_now_ms() + PROBE_MS;
	atomic_fetch_add(&jw->outages, 1);
	syslog(LOG_ERR, "secondary %s lost: %s; journal groups go to the "
	       "local spool %s until it answers again", jw->js.url, why,
	       jw->spool.path);
	note_loss(jw, why);
	set_route(jw, JW_ROUTE_SPOOLING);
}

static void spool_job(struct jwriter *jw, struct jw_job *job)
{
	const struct jnl_app_write *w = &job->w;

	job->rc = jnl_spool_append(&jw->spool, w, job->err,
				   sizeof(job->err));
	if (job->rc == -EFBIG) {
		detach(jw, w->first_seq, job->err);
		job->rc = 0;
		return;
	}
	if (!job->rc)
		atomic_fetch_add(&jw->spooled_groups, 1);
	publish_spool(jw);
}

static void job_run(struct jwriter *jw, struct jw_job *job)
{
	struct jnl_app_write *w = &job->w;
	int route = atomic_load(&jw->route);

	job->rc = 0;
	job->err[0] = 0;
	if (route == JW_ROUTE_DETACHED)
		return;
	if (route == JW_ROUTE_DIRECT && jw->spool_on &&
	    atomic_load(&jw->peer_down)) {
		declare_lost(jw, "no answer to its heartbeat");
	} else if (route == JW_ROUTE_DIRECT) {
		job->rc = write_group(jw, w->segno, w->offset, w->data, w->len,
				      w->new_segment, job->replace, job->err,
				      sizeof(job->err));
		if (!job->rc || !jw->spool_on)
			return;
		declare_lost(jw, job->err);
	}
	spool_job(jw, job);
}

/* SPOOLING: does the export answer again? */
/* A mount that started from the local tail (journal/tail.c) writes the
 * secondary's journal for the first time: it must hold the journal's
 * lease (replica/lease.c L1), and the journal must end exactly where the
 * tail said (no other writer since, no repair by ofsrep-fsck).  0 to go
 * on; -EAGAIN to try again later; -ESTALE when the spooled groups do not
 * continue the journal (then nothing is written: detached, and the mirror
 * is resynced from the primary, fs/reattach.c). */
static int check_tail_start(struct jwriter *jw, char *err, size_t errlen)
{
	struct lease me;
	struct jw_end end;
	int rc;

	if (!jw->from_tail)
		return 0;
	lease_self(&me, "ofsrep", jw->mountpoint);
	rc = lease_take(&jw->js, &me, err, errlen);
	if (rc == -EBUSY)
		return -ESTALE;
	if (!rc)
		rc = jw_read_end(&jw->js, &end, err, errlen);
	if (rc)
		return rc == -EUCLEAN ? -ESTALE : -EAGAIN;
	if (end.conf.first_seq != jw->tail_seq ||
	    end.conf.chain_seed != jw->tail_chain) {
		snprintf(err, errlen, "the journal on %s ends at seq %llu, not "
			 "where this node's last clean unmount left it (seq "
			 "%llu): another writer or a repair since",
			 jw->js.url,
			 (unsigned long long)(end.conf.first_seq - 1),
			 (unsigned long long)(jw->tail_seq - 1));
		return -ESTALE;
	}
	jw->from_tail = false;
	return 0;
}

static void probe(struct jwriter *jw)
{
	char err[JSTORE_ERR_MAX];
	int rc;

	jw->next_probe_ms = ev_now_ms() + PROBE_MS;
	jstore_close(&jw->js);	/* whatever state: start afresh */
	if (store_ready(jw, err, sizeof(err)))
		return;
	rc = check_tail_start(jw, err, sizeof(err));
	if (rc == -ESTALE) {
		detach(jw, jw->tail_seq, err);
		return;
	}
	if (rc)
		return;
	jw->drain_start_ms = ev_now_ms();
	jw->drain_logged_ms = 0;
	jw->drain_bytes = jnl_spool_bytes(&jw->spool);
	atomic_store(&jw->drain_total, jw->drain_bytes);
	syslog(LOG_NOTICE, "secondary %s answers again after %.1f s; writing "
	       "%" PRIu64 " spooled bytes to its journal", jw->js.url,
	       (double)(ev_now_ms() - jw->lost_at_ms) / 1000.0,
	       jw->drain_bytes);
	set_route(jw, JW_ROUTE_DRAINING);
}

/* Writes every spooled group to the journal (spool rule P2). */
static int drain_one(struct jwriter *jw, char *err, size_t errlen)
{
	struct jnl_spool_entry e;
	int rc = jnl_spool_peek(&jw->spool, &e, err, errlen);

	if (rc)
		return rc;
	rc = write_group(jw, e.segno, e.offset, e.data, e.len, e.new_segment,
			 true, err, errlen);
	if (!rc)
		rc = jnl_spool_advance(&jw->spool, &e, err, errlen);
	if (!rc)
		jw->drained_seq = e.last_seq;
	free(e.data);
	return rc;
}

/* A long catch-up says how far it got, every DRAIN_LOG_MS. */
static void drain_progress(struct jwriter *jw)
{
	uint64_t now = ev_now_ms();
	uint64_t left = jnl_spool_bytes(&jw->spool);

	if (now < jw->drain_logged_ms + DRAIN_LOG_MS)
		return;
	if (!jw->drain_logged_ms) {
		jw->drain_logged_ms = now;	/* the first one at +10 s */
		return;
	}
	jw->drain_logged_ms = now;
	syslog(LOG_NOTICE, "secondary %s: catching up its journal: %" PRIu64
	       " of %" PRIu64 " spooled bytes written, %.1f s so far",
	       jw->js.url, jw->drain_bytes > left ? jw->drain_bytes - left :
	       0, jw->drain_bytes,
	       (double)(now - jw->drain_start_ms) / 1000.0);
}

/* DRAINING: one spooled group, or the switch back to DIRECT. */
static void drain_step(struct jwriter *jw)
{
	char err[JSTORE_ERR_MAX];
	int rc;

	if (!jnl_spool_pending(&jw->spool)) {
		rc = jnl_spool_reset(&jw->spool, err, sizeof(err));
		if (rc)
			syslog(LOG_ERR, "journal: %s", err);
		publish_spool(jw);
		set_route(jw, JW_ROUTE_DIRECT);
		syslog(LOG_NOTICE, "secondary %s in sync again: %" PRIu64
		       " spooled bytes journaled in %.1f s; it was lost for "
		       "%.1f s", jw->js.url, jw->drain_bytes,
		       (double)(ev_now_ms() - jw->drain_start_ms) / 1000.0,
		       (double)(ev_now_ms() - jw->lost_at_ms) / 1000.0);
		return;
	}
	rc = drain_one(jw, err, sizeof(err));
	publish_spool(jw);
	if (!rc) {
		drain_progress(jw);
		return;
	}
	if (rc == -EUCLEAN) {
		/* A spooled group no longer reads back: the journal cannot
		 * be continued past the groups already drained. */
		detach(jw, jw->drained_seq + 1, err);
		return;
	}
	syslog(LOG_ERR, "secondary %s lost again while its journal was being "
	       "caught up: %s; spooling", jw->js.url, err);
	note_loss(jw, err);
	jw->next_probe_ms = ev_now_ms() + PROBE_MS;
	set_route(jw, JW_ROUTE_SPOOLING);
}

/* Under jw->mu: true when background work (probe, drain) is due. */
static bool background_due(struct jwriter *jw, struct timespec *until)
{
	int route = atomic_load(&jw->route);
	uint64_t now = ev_now_ms();
	uint64_t wait;

	if (route == JW_ROUTE_DRAINING)
		return true;
	if (route == JW_ROUTE_DIRECT)
		return jw->spool_on && atomic_load(&jw->peer_down);
	if (route != JW_ROUTE_SPOOLING)
		return false;
	/* A hung export would hold this thread, and the groups posted
	 * meanwhile, for failover_timeout per probe: probe only once the
	 * heartbeat has an answer. */
	if (now >= jw->next_probe_ms && !atomic_load(&jw->peer_down))
		return true;
	/* The peer's return signals the condition (jw_peer_state). */
	wait = now >= jw->next_probe_ms ? PROBE_MS : jw->next_probe_ms - now;
	clock_gettime(CLOCK_REALTIME, until);
	until->tv_sec += (time_t)(wait / 1000);
	until->tv_nsec += (long)(wait % 1000) * 1000000L;
	if (until->tv_nsec >= 1000000000L) {
		until->tv_sec++;
		until->tv_nsec -= 1000000000L;
	}
	return false;
}

static void *jw_thread(void *arg)
{
	struct jwriter *jw = arg;
	uint64_t one = 1;

	pthread_mutex_lock(&jw->mu);
	for (;;) {
		struct timespec until;
		bool posted;

		while (!jw->job_posted && !jw->quit &&
		       !background_due(jw, &until)) {
			if (atomic_load(&jw->route) == JW_ROUTE_SPOOLING)
				pthread_cond_timedwait(&jw->cv, &jw->mu,
						       &until);
			else
				pthread_cond_wait(&jw->cv, &jw->mu);
		}
		if (jw->quit)
			break;
		posted = jw->job_posted;
		jw->job_posted = false;
		pthread_mutex_unlock(&jw->mu);
		if (posted)
			job_run(jw, &jw->job);
		else if (atomic_load(&jw->route) == JW_ROUTE_DIRECT)
			declare_lost(jw, "no answer to its heartbeat");
		else if (atomic_load(&jw->route) == JW_ROUTE_SPOOLING)
			probe(jw);
		else
			drain_step(jw);
		pthread_mutex_lock(&jw->mu);
		if (posted) {
			jw->job_finished = true;
			if (write(jw->efd, &one, sizeof(one)) < 0)
				syslog(LOG_ERR, "journal: eventfd: %m");
		}
	}
	pthread_mutex_unlock(&jw->mu);
	return NULL;
}

void jw_peer_state(struct jwriter *jw, bool down)
{
	if (atomic_load(&jw->peer_down) == down || !jw->started)
		return;
	pthread_mutex_lock(&jw->mu);
	atomic_store(&jw->peer_down, down);
	pthread_cond_signal(&jw->cv);
	pthread_mutex_unlock(&jw->mu);
}

int jw_start(struct jwriter *jw)
{
	jw->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (jw->efd < 0)
		return -errno;
	pthread_mutex_init(&jw->mu, NULL);
	pthread_cond_init(&jw->cv, NULL);
	if (pthread_create(&jw->thread, NULL, jw_thread, jw)) {
		close(jw->efd);
		jw->efd = -1;
		return -EAGAIN;
	}
	jw->started = true;
	return 0;
}

void jw_io_start_lost(struct jwriter *jw, const char *why)
{
	declare_lost(jw, why);
}

int jw_io_recover(struct jwriter *jw, const char *path, uint64_t max,
		  char *err, size_t errlen)
{
	uint64_t bytes, groups = 0;
	int rc;

	if (!path || !max)
		return 0;
	rc = jnl_spool_open(&jw->spool, path, jw->js.node, max, err, errlen);
	if (rc)
		return rc;
	jw->spool_on = true;
	if (jw->spool.flags & JNL_SPOOL_OVERFLOWED) {
		set_route(jw, JW_ROUTE_DETACHED);
		syslog(LOG_CRIT, "journal of node %" PRIu32 ": the spool %s "
		       "overflowed in an earlier mount (records from seq %"
		       PRIu64 " on never reached %s): not journaling; the "
		       "mirror needs a full resync", jw->js.node, path,
		       jw->spool.lost_seq, jw->js.url);
		return 0;
	}
	bytes = jnl_spool_bytes(&jw->spool);
	while (jnl_spool_pending(&jw->spool)) {
		rc = drain_one(jw, err, errlen);
		if (rc)
			return rc;
		groups++;
	}
	if (groups) {
		rc = jnl_spool_reset(&jw->spool, err, errlen);
		if (rc)
			return rc;
		syslog(LOG_NOTICE, "journal of node %" PRIu32 ": %" PRIu64
		       " groups (%" PRIu64 " bytes) an earlier mount spooled "
		       "while %s was lost are in the journal now", jw->js.node,
		       groups, bytes, jw->js.url);
	}
	return 0;
}
