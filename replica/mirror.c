/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * replica/mirror.c: the mirror keeper.  One thread of the daemon applies
 * this node's journal to the mirror tree on the secondary export, with
 * the same applier as `ofsrep-journal apply` (replica/applier.c) on a
 * libnfs context of its own (libnfs contexts are not thread-safe; the
 * loop thread and the journal writer's I/O thread have theirs).
 *
 * Why a thread and not the io_uring loop: the applier is a sequence of
 * dependent synchronous calls (look up, create, write, commit, store the
 * checkpoint), each bounded by the RPC timeout; on a thread of its own it
 * can never delay a FUSE reply, and the loop only posts a number.
 *
 * STATE MACHINE (m->state; logged to syslog on every change that matters)
 *
 *   IDLE ----(durable seq > applied seq, and WHEN TO RUN says so)----->
 *             APPLYING
 *   APPLYING --(run ok)--> IDLE
 *   APPLYING --(export unreachable, timeout, I/O error)--> RETRYING
 *   APPLYING --(damage: -EUCLEAN, 3 runs in a row)--> DAMAGED
 *   APPLYING --(-EPROTO: a newer ofsrep wrote the journal)--> DAMAGED
 *   RETRYING --(pause: 0.5 s doubling to 5 s)--> APPLYING
 *   DAMAGED: no more runs in this mount; the journal writer stops
 *            throttling (the journal grows: see jwriter.h) and the
 *            operator runs `ofsrep-journal check` / apply.
 *   any --(the lease renewal finds another live holder)--> LEASE_LOST:
 *            the run in progress stops after its batch, no more runs or
 *            trims, the lease is never taken back (replica/lease.c L3);
 *            `ofsrep status` says broken.  The lease is renewed between
 *            runs and after every batch of a run (on_ckpt).
 *   any --(mirror_stop: caught up, or the deadline passed)--> STOPPED
 *   LIVE --(failback: mirror_resume, fs/failback.c)--> IDLE: the journal
 *            goes on where the handover left it; its BINDFH records
 *            introduce the objects made while the mirror was served, and
 *            the next run first flags the fids of objects removed
 *            meanwhile (apl_revalidate, replica/apl_flog.c)
 *   IDLE --(failover: mirror_handover_release)--> LIVE: the mirror is
 *            served directly (fs/failover.c); no more runs, the lease is
 *            kept.  Before that, mirror_handover_request makes a run start
 *            at once, whatever WHEN TO RUN says, and after the run that
 *            reaches the requested seq the keeper publishes the fid map
 *            (mirror_handover_poll).
 *
 * PEERS (replica/peers.c).  Before each run and every
 * MIRROR_PEER_SWEEP_MS, the journals of other nodes sharing the exports
 * whose keeper is gone (no live lease) are applied first.  While other
 * nodes' journals exist, damage is believed only after it lasted
 * MIRROR_PEER_DAMAGE_MS too: a BIND of a name another live node made is
 * missing until that node's keeper applied it.
 *
 * Damage is believed only when three runs in a row see it: a run reads a
 * segment while the writer appends to it, in several READs, so one READ
 * may see a group the writer has not finished while a later READ sees the
 * next one; the next run reads both complete (a real damage stays).
 *
 * The first run starts at once, without a kick: records a killed daemon
 * made durable but never applied are applied now (restart safety).
 *
 * TRIMMING (journal/format.h TRIMMING).  After a run whose checkpoint
 * moved to a later segment, every segment below the checkpoint's is
 * deleted; this node's mirror is the only one the journal feeds.
 */
#include "replica/mirror.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "replica/applier.h"
#include "replica/lease.h"

#define MIRROR_DAMAGE_RUNS	3
#define MIRROR_RETRY_MIN_MS	500
#define MIRROR_RETRY_MAX_MS	5000
#define MIRROR_NO_PROGRESS_MS	100
#define MIRROR_PEER_SWEEP_MS	3000
#define MIRROR_PEER_DAMAGE_MS	30000
/* WHEN TO RUN.  Applying costs NAS b as much again as journaling (read
 * the records, write the mirror), so while mutations stream in the keeper
 * lets a backlog build and applies in bulk: a run starts when the journal
 * has been quiet for MIRROR_QUIET_MS, when MIRROR_EAGER_BYTES wait, or
 * MIRROR_MAX_WAIT_MS after the last run, whichever comes first (measured:
 * applying alongside a 1 GiB sequential write halved its speed; see
 * docs/benchmarks.md).  At unmount it runs at once. */
#define MIRROR_QUIET_MS		1000
#define MIRROR_MAX_WAIT_MS	5000
#define MIRROR_EAGER_BYTES	(64u << 20)

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + ts.tv_nsec / 1000000u;
}

const char *mirror_state_name(int state)
{
	static const char *const names[] = {
		[MIRROR_IDLE] = "idle", [MIRROR_APPLYING] = "applying",
		[MIRROR_RETRYING] = "retrying", [MIRROR_DAMAGED] = "damaged",
		[MIRROR_STOPPED] = "stopped",
		[MIRROR_LEASE_LOST] = "lease-lost",
		[MIRROR_LIVE] = "live",
	};

	return state >= 0 && state <= MIRROR_LIVE ? names[state] : "?";
}

/* ---- the lease (replica/lease.c, rule L1) ---- */

struct mirror_lease {
	struct jstore js;	/* a connection of its own */
	bool open;
	bool lost;		/* another holder took it */
	uint64_t next_ms;
};

/* What one thread keeps between runs. */
struct mirror_run {
	struct mirror *m;
	struct apl a;
	struct mirror_lease ls;
	bool open;
	unsigned damaged_runs;
	uint64_t damaged_since_ms;	/* the first of those runs */
	unsigned failures;
	uint64_t retry_at_ms;
	uint64_t trimmed_below;	/* segments below this are gone */
	uint64_t noprogress_until_ms;	/* a run that moved nothing */
	uint64_t revalidated;	/* m->failbacks as of the last revalidation */
	char last_err[JSTORE_ERR_MAX];
};

/* Delete the segments below the checkpoint's (they are applied). */
static void mirror_trim(struct mirror *m, struct mirror_run *r)
{
	struct apl *a = &r->a;
	char err[JSTORE_ERR_MAX];
	char name[40];
	uint64_t *segnos = NULL;
	size_t n = 0;
	unsigned deleted = 0;
	int rc;

	if (!m->conf.trim || !a->have_ck || !a->have_jdir ||
	    a->ck.segno <= r->trimmed_below)
		return;
	rc = jstore_list(&a->js, &segnos, &n, err, sizeof(err));
	for (size_t i = 0; !rc && i < n && segnos[i] < a->ck.segno; i++) {
		snprintf(name, sizeof(name), "%016" PRIx64 ".seg", segnos[i]);
		rc = apl_rpc_remove(&a->rpc, &a->jdir, name, strlen(name));
		if (rc == -ENOENT)
			rc = 0;
		if (rc)
			snprintf(err, sizeof(err), "%s: remove %s/%s: %s",
				 a->js.url, a->js.dir, name, strerror(-rc));
		deleted += !rc;
	}
	free(segnos);
	if (rc) {
		syslog(LOG_WARNING, "mirror: trimming applied segments: %s "
		       "(tried again after the next run)", err);
		return;
	}
	r->trimmed_below = a->ck.segno;
	atomic_fetch_add(&m->trimmed, deleted);
}

static void mirror_close_run(struct mirror_run *r)
{
	if (r->open)
		apl_close(&r->a);
	r->open = false;
}

static void mirror_lease_renew(struct mirror *m, struct mirror_lease *ls)
{
	char err[JSTORE_ERR_MAX];
	struct lease me;
	int rc = 0;

	if (ls->lost || mono_ms() < ls->next_ms)
		return;		/* lost: never taken back silently (L3) */
	ls->next_ms = mono_ms() + LEASE_RENEW_S * 1000u;
	if (!ls->open) {
		rc = jstore_open(&ls->js, m->conf.url, m->conf.node,
				 m->conf.timeout_ms, err, sizeof(err));
		ls->open = !rc;
	}
	if (!rc) {
		lease_self(&me, m->conf.apply ? "ofsrep" : "ofsrep-noapply",
			   m->conf.mountpoint);
		rc = lease_take(&ls->js, &me, err, sizeof(err));
	}
	if (rc == -EBUSY) {
		syslog(LOG_CRIT, "journal lease of node %" PRIu32 " taken "
		       "over: %s; this mount stops applying and trimming "
		       "(ofsrep status: broken); unmount it", m->conf.node,
		       err);
		ls->lost = true;
		atomic_store(&m->lease_lost, true);
		atomic_store(&m->cancel, true);	/* end the run in progress */
		return;
	}
	if (rc) {
		syslog(LOG_WARNING, "journal lease of node %" PRIu32 ": %s; "
		       "retrying in 1 s", m->conf.node, err);
		if (ls->open)
			jstore_close(&ls->js);
		ls->open = false;
		ls->next_ms = mono_ms() + 1000;
		return;
	}
}

static void mirror_lease_drop(struct mirror *m, struct mirror_lease *ls)
{
	char err[JSTORE_ERR_MAX];

	if (ls->open && !ls->lost && lease_drop(&ls->js, err, sizeof(err)))
		syslog(LOG_WARNING, "journal lease of node %" PRIu32 ": %s "
		       "(it expires by itself)", m->conf.node, err);
	if (ls->open)
		jstore_close(&ls->js);
	ls->open = false;
}

static void mirror_publish_ck(struct mirror *m, const struct jnl_ckpt *ck)
{
	pthread_mutex_lock(&m->mu);
	m->pos = (struct mirror_pos){
		.seq = ck->seq, .segno = ck->segno,
		.offset = ck->offset, .time_ns = ck->time_ns,
	};
	m->have_pos = true;
	pthread_mutex_unlock(&m->mu);
}

static void mirror_publish(struct mirror *m, const struct apl *a)
{
	if (a->have_ck)
		mirror_publish_ck(m, &a->ck);
}

/* After every batch of a run: writers held at journal_max see progress
 * at once, and a long run does not let the lease expire. */
static void mirror_on_ckpt(void *arg, const struct jnl_ckpt *ck)
{
	struct mirror_run *r = arg;

	mirror_publish_ck(r->m, ck);
	mirror_lease_renew(r->m, &r->ls);
}

/* A run failed: decide between retrying and DAMAGED. */
static void mirror_failed(struct mirror *m, struct mirror_run *r, int rc)
{
	bool damage = rc == -EUCLEAN || rc == -EPROTO;
	unsigned pause;

	if (damage && !r->damaged_since_ms)
		r->damaged_since_ms = mono_ms();
	if (!damage)
		r->damaged_since_ms = 0;
	/* With other nodes writing the same tree, a name this journal binds
	 * may be made by a record of theirs not applied yet: give their
	 * keepers time before believing it. */
	if (damage && rc != -EPROTO && m->peers.seen &&
	    mono_ms() < r->damaged_since_ms + MIRROR_PEER_DAMAGE_MS)
		r->damaged_runs = 0;
	if (damage && (rc == -EPROTO ||
		       ++r->damaged_runs >= MIRROR_DAMAGE_RUNS)) {
		syslog(LOG_CRIT, "mirror: node %" PRIu32 ": applying stopped: "
		       "%s; acknowledged mutations stay in the journal; run "
		       "'ofsrep-journal check %s --node %" PRIu32 "'",
		       m->conf.node, r->a.err, m->conf.url, m->conf.node);
		atomic_store(&m->state, MIRROR_DAMAGED);
		mirror_close_run(r);
		return;
	}
	if (!damage)
		r->damaged_runs = 0;
	if (!r->failures++ || strcmp(r->last_err, r->a.err))
		syslog(LOG_ERR, "mirror: node %" PRIu32 ": %s; retrying",
		       m->conf.node, r->a.err[0] ? r->a.err : strerror(-rc));
	snprintf(r->last_err, sizeof(r->last_err), "%s", r->a.err);
	pause = MIRROR_RETRY_MIN_MS << (r->failures < 5 ? r->failures - 1 : 4);
	if (pause > MIRROR_RETRY_MAX_MS)
		pause = MIRROR_RETRY_MAX_MS;
	r->retry_at_ms = mono_ms() + pause;
	atomic_store(&m->state, MIRROR_RETRYING);
	mirror_close_run(r);	/* a broken jstore needs a new context */
}

/* One applier run; returns the applied seq (or 0 if none). */
static void mirror_run_once(struct mirror *m, struct mirror_run *r)
{
	struct apl_conf conf = {
		.url = m->conf.url, .node = m->conf.node,
		.timeout_ms = m->conf.timeout_ms, .cancel = &m->cancel,
		.on_ckpt = mirror_on_ckpt, .on_ckpt_arg = r,
	};
	int rc = 0;

	atomic_store(&m->state, MIRROR_APPLYING);
	if (!r->open) {
		rc = apl_open(&r->a, &conf);
		r->open = true;
	}
	if (!rc) {
		r->a.err[0] = 0;
		r->a.st.stopped = false;
		uint64_t gen;

		pthread_mutex_lock(&m->mu);
		gen = m->failbacks;
		pthread_mutex_unlock(&m->mu);
		r->a.revalidate = gen != r->revalidated;
		rc = apl_run(&r->a);
		if (!r->a.revalidate)
			r->revalidated = gen;
	}
	atomic_fetch_add(&m->runs, 1);
	if (rc) {
		mirror_failed(m, r, rc);
		return;
	}
	if (r->failures)
		syslog(LOG_NOTICE, "mirror: node %" PRIu32 ": applying again "
		       "after %u failed runs", m->conf.node, r->failures);
	r->failures = 0;
	r->damaged_runs = 0;
	r->damaged_since_ms = 0;
	r->last_err[0] = 0;
	mirror_publish(m, &r->a);
	mirror_trim(m, r);
	atomic_store(&m->state, MIRROR_IDLE);
}

/* Under m->mu: true when a run should start now; else *wait_ms. */
static bool mirror_due(struct mirror *m, struct mirror_run *r, bool first,
		       uint64_t last_seq, uint64_t *wait_ms, bool *leave)
{
	uint64_t now = mono_ms();
	bool behind = first || (m->target > (m->have_pos ? m->pos.seq : 0));
	int st = atomic_load(&m->state);

	*leave = false;
	*wait_ms = 1000;
	if (atomic_load(&m->lease_lost) && st != MIRROR_LEASE_LOST)
		atomic_store(&m->state, st = MIRROR_LEASE_LOST);
	if (m->ho_released && st != MIRROR_LIVE)
		atomic_store(&m->state, st = MIRROR_LIVE);
	if (st == MIRROR_DAMAGED || st == MIRROR_LEASE_LOST ||
	    st == MIRROR_LIVE || !m->conf.apply) {
		*leave = m->quit;
		return false;
	}
	if (m->ho_wanted && !atomic_load(&m->ho_ready) && !m->quit) {
		/* at once, but not in a spin while the journal cannot
		 * reach the target yet */
		uint64_t at = r->retry_at_ms > r->noprogress_until_ms ?
			      r->retry_at_ms : r->noprogress_until_ms;

		if (now >= at)
			return true;
		*wait_ms = at - now;
		return false;
	}
	if (m->quit && (!behind || now >= m->deadline_ms)) {
		*leave = true;
		return false;
	}
	if (!behind)
		return false;
	if (now < r->retry_at_ms) {
		*wait_ms = r->retry_at_ms - now;
		return false;
	}
	if (!first && !m->quit && m->backlog < MIRROR_EAGER_BYTES &&
	    now < m->target_ms + MIRROR_QUIET_MS &&
	    now < m->last_run_ms + MIRROR_MAX_WAIT_MS) {
		uint64_t quiet = m->target_ms + MIRROR_QUIET_MS - now;
		uint64_t cap = m->last_run_ms + MIRROR_MAX_WAIT_MS - now;

		*wait_ms = quiet < cap ? quiet : cap;
		return false;
	}
	/* The last run ended short of the target: the journal's listing
	 * lagged; do not spin on it. */
	if (!first && (m->have_pos ? m->pos.seq : 0) == last_seq &&
	    now < r->noprogress_until_ms) {
		*wait_ms = r->noprogress_until_ms - now;
		return false;
	}
	return true;
}

static void mirror_wait(struct mirror *m, uint64_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&m->cv, &m->mu, &ts);
}

/* Under m->mu: writes the handover's marker (the split-brain guard,
 * fs/split.c) durably, with the mutex dropped for the RPC.  True once it
 * is on the secondary. */
static bool mirror_write_ho_mark(struct mirror *m, struct mirror_run *r)
{
	char err[JSTORE_ERR_MAX];
	char *data = m->ho_mark;
	size_t len = m->ho_mark_len;
	int rc;

	if (m->ho_marked)
		return true;
	if (!data)
		return false;
	m->ho_mark = NULL;	/* ours while the mutex is dropped */
	pthread_mutex_unlock(&m->mu);
	rc = jstore_file_write(&r->a.js, JSTORE_STALE_NAME,
			       (const uint8_t *)data, len, err, sizeof(err));
	pthread_mutex_lock(&m->mu);
	if (m->ho_mark)
		free(data);	/* a newer request came meanwhile */
	else
		m->ho_mark = data;
	if (rc) {
		syslog(LOG_ERR, "mirror: node %" PRIu32 ": %s; the failover "
		       "waits for it", m->conf.node, err);
		r->retry_at_ms = mono_ms() + MIRROR_RETRY_MIN_MS;
		return false;
	}
	m->ho_marked = true;
	syslog(LOG_NOTICE, "mirror: node %" PRIu32 ": wrote %s (the primary "
	       "is stale once the mirror serves)", m->conf.node,
	       JSTORE_STALE_NAME);
	return true;
}

/* Under m->mu: a handover cancelled after its marker was written takes
 * the marker back (the primary was never left). */
static void mirror_unmark(struct mirror *m, struct mirror_run *r)
{
	char err[JSTORE_ERR_MAX];
	int rc;

	if (!m->ho_unmark || !r->open)
		return;
	pthread_mutex_unlock(&m->mu);
	rc = jstore_file_remove(&r->a.js, JSTORE_STALE_NAME, err,
				sizeof(err));
	pthread_mutex_lock(&m->mu);
	if (rc) {
		syslog(LOG_ERR, "mirror: node %" PRIu32 ": %s; retrying",
		       m->conf.node, err);
		return;
	}
	m->ho_unmark = false;
}

/* Under m->mu, after a successful run: the handover, if one is asked
 * for and the run reached it.  Its marker is durable first: from the
 * moment the loop may serve the mirror, no later mount may serve the
 * primary. */
static void mirror_handover_publish(struct mirror *m, struct mirror_run *r)
{
	struct mirror_handover *ho = &m->ho;
	const struct apl *a = &r->a;

	if (!m->ho_wanted || atomic_load(&m->ho_ready) || !r->open ||
	    (m->have_pos ? m->pos.seq : 0) < m->ho_target)
		return;
	if (!mirror_write_ho_mark(m, r) || !m->ho_wanted ||
	    atomic_load(&m->ho_ready))
		return;
	free(ho->fids);
	memset(ho, 0, sizeof(*ho));
	ho->fids = calloc(a->map.n ? a->map.n : 1, sizeof(*ho->fids));
	if (!ho->fids) {
		syslog(LOG_CRIT, "mirror: out of memory for the failover "
		       "handover; retrying");
		return;
	}
	for (uint32_t i = 0; i < a->map.n; i++) {
		ho->fids[i].fid = a->map.ents[i].fid;
		ho->fids[i].fh = a->map.ents[i].fh;
	}
	ho->n = a->map.n;
	ho->seq = m->pos.seq;
	ho->epoch = a->epoch;
	ho->root = a->mirror;
	atomic_store(&m->ho_ready, true);
}

/* Other nodes' journals whose keeper is gone (replica/peers.c): applied
 * before this node's own records, which may name their objects. */
static void mirror_sweep_peers(struct mirror *m)
{
	int st = atomic_load(&m->state);

	if (!m->conf.apply || st == MIRROR_LIVE || st == MIRROR_DAMAGED ||
	    st == MIRROR_LEASE_LOST || st == MIRROR_STOPPED)
		return;
	peers_sweep(&m->peers, false);
}

static void *mirror_thread(void *arg)
{
	struct mirror *m = arg;
	struct mirror_run *r = calloc(1, sizeof(*r));
	uint64_t last_seq = UINT64_MAX;
	uint64_t wait_ms;
	bool first = true;
	bool leave;

	if (!r) {
		syslog(LOG_CRIT, "mirror: out of memory; not applying");
		atomic_store(&m->state, MIRROR_STOPPED);
		return NULL;
	}
	r->m = m;
	pthread_mutex_lock(&m->mu);
	for (;;) {
		pthread_mutex_unlock(&m->mu);
		mirror_lease_renew(m, &r->ls);
		mirror_sweep_peers(m);
		pthread_mutex_lock(&m->mu);
		mirror_unmark(m, r);
		if (!mirror_due(m, r, first, last_seq, &wait_ms, &leave)) {
			if (leave)
				break;
			if (m->conf.apply && wait_ms > MIRROR_PEER_SWEEP_MS)
				wait_ms = MIRROR_PEER_SWEEP_MS;
			mirror_wait(m, wait_ms);
			continue;
		}
		last_seq = m->have_pos ? m->pos.seq : 0;
		pthread_mutex_unlock(&m->mu);
		mirror_run_once(m, r);
		pthread_mutex_lock(&m->mu);
		m->last_run_ms = mono_ms();
		if ((m->have_pos ? m->pos.seq : 0) == last_seq)
			r->noprogress_until_ms = m->last_run_ms +
						 MIRROR_NO_PROGRESS_MS;
		if (atomic_load(&m->state) == MIRROR_IDLE) {
			first = false;
			mirror_handover_publish(m, r);
		}
	}
	pthread_mutex_unlock(&m->mu);
	mirror_close_run(r);
	mirror_lease_drop(m, &r->ls);
	free(r);
	return NULL;
}

int mirror_start(struct mirror *m, const struct mirror_conf *conf)
{
	memset(m, 0, sizeof(*m));
	m->conf = *conf;
	snprintf(m->url, sizeof(m->url), "%s", conf->url);
	m->conf.url = m->url;
	snprintf(m->mountpoint, sizeof(m->mountpoint), "%s",
		 conf->mountpoint ? conf->mountpoint : "-");
	m->conf.mountpoint = m->mountpoint;
	peers_init(&m->peers, m->url, conf->node, conf->timeout_ms,
		   m->mountpoint);
	atomic_init(&m->state, MIRROR_IDLE);
	pthread_mutex_init(&m->mu, NULL);
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&m->thread, NULL, mirror_thread, m)) {
		atomic_store(&m->state, MIRROR_STOPPED);
		return -EAGAIN;
	}
	m->started = true;
	return 0;
}

void mirror_handover_request(struct mirror *m, uint64_t seq,
			     const char *mark, size_t mark_len)
{
	char *copy = malloc(mark_len);

	if (!m->started || !copy) {
		free(copy);
		return;		/* no handover: the failover stays frozen */
	}
	memcpy(copy, mark, mark_len);
	pthread_mutex_lock(&m->mu);
	if (seq > m->target)
		m->target = seq;
	m->ho_target = seq;
	m->ho_wanted = true;
	m->ho_unmark = false;
	if (!m->ho_marked) {
		free(m->ho_mark);
		m->ho_mark = copy;
		m->ho_mark_len = mark_len;
	} else {
		free(copy);	/* the marker says the primary is stale:
				 * that does not change with the seq */
	}
	atomic_store(&m->ho_ready, false);
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

const struct mirror_handover *mirror_handover_poll(struct mirror *m)
{
	return m->started && atomic_load(&m->ho_ready) ? &m->ho : NULL;
}

void mirror_handover_release(struct mirror *m)
{
	pthread_mutex_lock(&m->mu);
	m->ho_released = true;
	free(m->ho.fids);
	memset(&m->ho, 0, sizeof(m->ho));
	atomic_store(&m->state, MIRROR_LIVE);
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

void mirror_reset_target(struct mirror *m, uint64_t seq)
{
	if (!m->started)
		return;
	pthread_mutex_lock(&m->mu);
	m->target = seq;
	pthread_mutex_unlock(&m->mu);
}

void mirror_resume(struct mirror *m)
{
	if (!m->started)
		return;
	pthread_mutex_lock(&m->mu);
	m->ho_released = false;
	m->ho_wanted = false;
	m->ho_marked = false;	/* fs/failback.c removed it */
	m->ho_unmark = false;
	m->failbacks++;		/* the mount wrote the mirror directly */
	atomic_store(&m->ho_ready, false);
	if (atomic_load(&m->state) == MIRROR_LIVE)
		atomic_store(&m->state, MIRROR_IDLE);
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
	syslog(LOG_NOTICE, "mirror: node %" PRIu32 ": applying the journal "
	       "again (failback)", m->conf.node);
}

void mirror_handover_cancel(struct mirror *m)
{
	if (!m->started)
		return;
	pthread_mutex_lock(&m->mu);
	m->ho_wanted = false;
	atomic_store(&m->ho_ready, false);
	free(m->ho.fids);
	memset(&m->ho, 0, sizeof(m->ho));
	if (m->ho_marked)
		m->ho_unmark = true;
	m->ho_marked = false;
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
}

void mirror_kick(struct mirror *m, uint64_t durable_seq, uint64_t backlog)
{
	if (!m->started)
		return;
	pthread_mutex_lock(&m->mu);
	m->backlog = backlog;
	if (durable_seq > m->target) {
		m->target = durable_seq;
		m->target_ms = mono_ms();
		if (backlog >= MIRROR_EAGER_BYTES)
			pthread_cond_signal(&m->cv);
	}
	pthread_mutex_unlock(&m->mu);
}

/* The applied position, if the applier has one and is not DAMAGED. */
bool mirror_applied(struct mirror *m, struct mirror_pos *pos)
{
	bool ok;

	if (!m->started || atomic_load(&m->state) == MIRROR_DAMAGED)
		return false;
	pthread_mutex_lock(&m->mu);
	ok = m->have_pos;
	if (ok)
		*pos = m->pos;
	pthread_mutex_unlock(&m->mu);
	return ok;
}

void mirror_stop(struct mirror *m, uint64_t durable_seq, int max_ms)
{
	struct mirror_pos pos = { 0 };
	struct timespec ts;
	bool have;

	if (!m->started)
		return;
	pthread_mutex_lock(&m->mu);
	if (durable_seq > m->target)
		m->target = durable_seq;
	m->quit = true;
	m->deadline_ms = mono_ms() + (uint64_t)max_ms;
	pthread_cond_signal(&m->cv);
	pthread_mutex_unlock(&m->mu);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += max_ms / 1000 + 1;
	if (pthread_timedjoin_np(m->thread, NULL, &ts)) {
		/* A run still going past the deadline: stop it at its next
		 * batch (the checkpoint keeps what it did). */
		atomic_store(&m->cancel, true);
		pthread_join(m->thread, NULL);
	}
	m->started = false;
	pthread_mutex_lock(&m->mu);
	have = m->have_pos;
	pos = m->pos;
	pthread_mutex_unlock(&m->mu);
	if (!m->conf.apply)
		;	/* noapply: nothing to report */
	else if (have && pos.seq >= m->target)
		syslog(LOG_NOTICE, "mirror: node %" PRIu32 ": applied up to "
		       "seq %" PRIu64 " (all)", m->conf.node, pos.seq);
	else
		syslog(LOG_WARNING, "mirror: node %" PRIu32 ": applied up to "
		       "seq %" PRIu64 " of %" PRIu64 " at unmount; the rest "
		       "is applied at the next mount (or by ofsrep-journal "
		       "apply)", m->conf.node, have ? pos.seq : 0, m->target);
	atomic_store(&m->state, MIRROR_STOPPED);
	free(m->ho_mark);
	free(m->ho.fids);
	pthread_cond_destroy(&m->cv);
	pthread_mutex_destroy(&m->mu);
}
