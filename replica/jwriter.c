/*
 * jwriter.c — this node's journal writer: records in, durable group
 * writes to the secondary export out.
 *
 * Shape.  The loop thread encodes records into the appender
 * (journal/appender.h), which fills one group while the previous one is
 * being written.  Group writes go to a dedicated I/O thread that owns the
 * journal store (replica/jstore.c: its own libnfs context, FILE_SYNC
 * writes), so a slow or dead secondary never blocks the loop; the thread
 * reports each finished write through an eventfd that the loop polls with
 * io_uring.  Writes are serial (writer rule W4): the next group goes out
 * only after the previous one is durable, which is what makes a torn tail
 * distinguishable from damage.  Group commit falls out of this: whatever
 * accumulated while one group was in flight is the next group.
 *
 * Acknowledgement.  A caller parks a struct jw_wait with its record; once
 * the group holding it is durable, every waiter with seq <= the durable
 * seq is acknowledged, in seq order.  A record that does not fit the
 * filling group (it is full while the other is in flight) waits in the
 * blocked list, still in order, and is encoded when a buffer frees up.
 *
 * Failure.  Where a group goes when the secondary is lost (the local
 * spool) and how it comes back is replica/jw_io.c's business, in the I/O
 * thread.  A job that fails even so (no spool, or the spool's disk fails)
 * is retried with the same bytes after a pause, forever: acknowledgements
 * freeze meanwhile.  A segment created by a failed attempt is replaced on
 * the retry.
 *
 * Start-up (jw_open) follows writer rules W2/W3: read the node's journal
 * to the end, refuse to go on if it is damaged (the operator runs
 * `ofsrep-journal check`), take an epoch above every epoch seen, and start
 * a new segment that continues seq and chain, sealing any torn tail.
 */
#include "replica/jwriter.h"

#include "journal/tail.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define JW_RETRY_MS	500
/* Segment size.  Smaller than the appender's default because the mirror
 * keeper re-reads the segment holding its checkpoint on each run, and
 * trimming frees whole segments. */
#define JW_SEG_LIMIT	(16u << 20)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

/* ---- start-up: read to the end, continue (W2, W3) ---- */

struct jw_segs {
	struct jnl_seg_buf *segs;
	uint64_t *segnos;
	size_t n;
};

static void segs_free(struct jw_segs *s)
{
	for (size_t i = 0; i < s->n; i++)
		free((void *)s->segs[i].data);
	free(s->segs);
	free(s->segnos);
}

/* Reads the segments from segno @from on (the checkpoint's segment: those
 * below are applied and may be trimmed away any time). */
static int segs_read(struct jstore *js, uint64_t from, struct jw_segs *s,
		     char *err, size_t errlen)
{
	size_t n;
	size_t skip = 0;
	int rc = jstore_list(js, &s->segnos, &n, err, errlen);

	if (rc)
		return rc;
	while (skip < n && s->segnos[skip] < from)
		skip++;
	if (skip)
		memmove(s->segnos, s->segnos + skip,
			(n - skip) * sizeof(*s->segnos));
	n -= skip;
	s->segs = calloc(n ? n : 1, sizeof(*s->segs));
	if (!s->segs)
		return -ENOMEM;
	for (s->n = 0; s->n < n; s->n++) {
		uint8_t *buf;
		size_t len;

		rc = jstore_seg_read(js, s->segnos[s->n], &buf, &len, err,
				     errlen);
		if (rc)
			return rc;
		s->segs[s->n].data = buf;
		s->segs[s->n].len = len;
	}
	return 0;
}

static int count_rec(void *arg, const struct jnl_rec *rec)
{
	(*(uint64_t *)arg)++;
	return 0;
}

static int jw_conf(struct jnl_reader *rd, uint32_t node,
		   struct jnl_app_conf *c)
{
	uint64_t e = (uint64_t)time(NULL);
	int rc;

	if (rd->phase == JNL_RD_SEG && e <= rd->epoch)
		e = (uint64_t)rd->epoch + 1;
	if (e > UINT32_MAX)
		return -EOVERFLOW;
	rc = rd->phase == JNL_RD_SEG ?
	     jnl_app_conf_resume(c, rd, (uint32_t)e) : -ENODATA;
	if (rc == -ENODATA)
		rc = jnl_app_conf_genesis(c, node, (uint32_t)e);
	return rc;
}

/* Where reading starts: at the applier's checkpoint if there is one
 * (the segments before it are applied and may be trimmed), else at the
 * first segment. */
static int start_point(struct jstore *js, struct jnl_reader *rd,
		       uint64_t *from, char *err, size_t errlen)
{
	struct jnl_ckpt ck;
	unsigned slot;
	int rc = jstore_ckpt_load(js, &ck, &slot, err, errlen);

	*from = 0;
	jnl_rd_init(rd, js->node);
	if (rc == -ENOENT)
		return 0;
	if (rc == -EBADMSG)
		return -EUCLEAN;	/* damage, not worth retrying */
	if (rc)
		return rc;
	if (ck.node != js->node || jnl_rd_init_ckpt(rd, &ck)) {
		snprintf(err, errlen, "journal of node %u on %s: the "
			 "checkpoint is not usable (run: ofsrep-journal check "
			 "'%s' --node %u)", js->node, js->url,
			 js->url, js->node);
		return -EUCLEAN;
	}
	*from = ck.segno;
	return 0;
}

/* The split-brain guard (fs/split.c): a failover made the primary stale.
 * The caller decides (fs/main.c starts on the mirror). */
static int jw_read_stale(struct jwriter *jw, char *err, size_t errlen)
{
	long long since = 0;
	int rc = jstore_stale_read(&jw->js, &since, err, errlen);

	if (rc <= 0)
		return rc;
	jw->primary_stale_since = since ? since : 1;
	return 0;
}

int jw_read_end(struct jstore *js, struct jw_end *end, char *err,
		size_t errlen)
{
	struct jw_segs s = { 0 };
	struct jnl_reader rd;
	uint32_t node = js->node;
	const char *url = js->url;
	uint64_t from = 0;
	uint64_t rd_start_off;
	int rc;

	memset(end, 0, sizeof(*end));
	rc = start_point(js, &rd, &from, err, errlen);
	if (!rc)
		rc = segs_read(js, from, &s, err, errlen);
	if (rc)
		goto out;
	if (from && (!s.n || s.segnos[0] != from)) {
		snprintf(err, errlen, "journal of node %u on %s: the "
			 "checkpoint's segment %016llx is missing (run: "
			 "ofsrep-journal check '%s' --node %u)", node, url,
			 (unsigned long long)from, url, node);
		rc = -EUCLEAN;
		goto out;
	}
	rd_start_off = rd.start_off;
	rc = jnl_rd_walk(&rd, s.segs, s.n, count_rec, &end->nrecs);
	if (rc) {
		char why[256];

		jnl_end_describe(&rd.end, why, sizeof(why));
		snprintf(err, errlen, "journal of node %u on %s cannot be "
			 "continued: %s (run: ofsrep-journal check '%s' "
			 "--node %u)", node, url, why, url, node);
		goto out;
	}
	rc = jw_conf(&rd, node, &end->conf);
	if (rc) {
		snprintf(err, errlen, "journal of node %u on %s: cannot "
			 "continue it: %s", node, url, strerror(-rc));
		goto out;
	}
	end->conf.seg_limit = JW_SEG_LIMIT;
	/* Until the applier reports, the backlog counts from here: the
	 * checkpoint, or the oldest segment there is. */
	end->base_segno = from ? from : s.n ? s.segnos[0] : end->conf.segno;
	end->base_offset = from ? rd_start_off : JNL_SEG_HDR_SIZE;
	end->replace_from = s.n && s.segnos[s.n - 1] >= end->conf.segno ?
			    end->conf.segno : UINT64_MAX;
out:
	segs_free(&s);
	return rc;
}

/* journal/tail.c rule T2: before this mount writes any group. */
static int jw_tail_clear(struct jwriter *jw, const struct jw_spool_conf *sc,
			 char *err, size_t errlen)
{
	char path[4200];

	/* even with spool_max=0: a tail an earlier mount left must not
	 * outlive this one's records */
	if (!sc || !sc->path)
		return 0;
	jnl_tail_path(path, sizeof(path), sc->path);
	return jnl_tail_invalidate(path, err, errlen);
}

/* The secondary does not answer: continue from the tail a clean unmount
 * left (journal/tail.c rule T3), every group spooled until it does. */
static int jw_open_from_tail(struct jwriter *jw, const char *url,
			     uint32_t node, int timeout_ms,
			     const struct jw_spool_conf *sc, char *err,
			     size_t errlen)
{
	struct jnl_app_conf c = { 0 };
	struct jnl_tail t;
	char path[4200];
	char why[512];
	uint64_t e = (uint64_t)time(NULL);
	int rc;

	if (!sc || !sc->path || !sc->max) {
		snprintf(err, errlen, "without a spool (spool_max=0) "
			 "nothing could keep the journal meanwhile: start NAS b "
			 "first");
		return -EHOSTUNREACH;
	}
	jstore_init_offline(&jw->js, url, node, timeout_ms);
	jnl_tail_path(path, sizeof(path), sc->path);
	rc = jnl_tail_read(path, &t, why, sizeof(why));
	if (!rc && (!(t.flags & JNL_TAIL_VALID) || t.node != node))
		rc = -ESTALE;
	if (rc == -ENOENT) {
		snprintf(err, errlen, "no clean unmount of node %u on this "
			 "machine recorded where its journal ends (%s), so this "
			 "mount needs NAS b: start it", node, path);
		return -EHOSTUNREACH;
	}
	if (rc) {
		snprintf(err, errlen, "the journal's end is known only to NAS "
			 "b: the last mount of node %u did not unmount cleanly "
			 "(%s); start NAS b", node,
			 rc == -ESTALE ? "its tail record is not valid" : why);
		return -EHOSTUNREACH;
	}
	if (t.flags & JNL_TAIL_PRIMARY_STALE) {
		snprintf(err, errlen, "the last mount served the mirror: "
			 "the primary is stale (split-brain guard) and the "
			 "mirror cannot be reached; start NAS b");
		return -ESTALE;
	}
	rc = jnl_spool_open(&jw->spool, sc->path, node, sc->max, err,
			    errlen);
	if (rc)
		return rc;
	jw->spool_on = true;
	if (jw->spool.flags & JNL_SPOOL_OVERFLOWED) {
		snprintf(err, errlen, "its mirror misses records after a "
			 "spool overflow (%s) and is resynced once NAS b "
			 "answers: start NAS b", sc->path);
		jnl_spool_close(&jw->spool);
		return -EHOSTUNREACH;
	}
	if (e <= t.epoch)
		e = (uint64_t)t.epoch + 1;
	if (e > UINT32_MAX) {
		jnl_spool_close(&jw->spool);
		return -EOVERFLOW;
	}
	c.node = node;
	c.epoch = (uint32_t)e;
	c.segno = t.segno + 1;
	c.first_seq = t.next_seq;
	c.chain_seed = t.chain;
	c.seg_limit = JW_SEG_LIMIT;
	rc = jnl_tail_invalidate(path, err, errlen);
	if (!rc)
		rc = jnl_app_init(&jw->app, &c);
	if (rc) {
		if (!err[0])
			snprintf(err, errlen, "journal appender: %s",
				 strerror(-rc));
		jnl_spool_close(&jw->spool);
		return rc;
	}
	jw->from_tail = true;
	jw->tail_seq = c.first_seq;
	jw->tail_chain = c.chain_seed;
	jw->base_segno = c.segno;
	jw->base_offset = JNL_SEG_HDR_SIZE;
	jw->replace_from = UINT64_MAX;
	jw_io_start_lost(jw, "unreachable at mount");
	syslog(LOG_WARNING, "journal of node %u: %s does not answer; "
	       "continuing from the end a clean unmount left at %lld "
	       "(seq %llu, epoch %u), every group into the spool %s until it "
	       "answers", node, url, (long long)t.time,
	       (unsigned long long)t.next_seq, c.epoch, sc->path);
	return 0;
}

void jw_save_tail(struct jwriter *jw, bool primary_stale)
{
	struct jnl_tail t = { 0 };
	char path[4200];
	char err[512];
	int route = atomic_load(&jw->route);

	if (!jw->spool_on || route == JW_ROUTE_DETACHED ||
	    jnl_app_pending(&jw->app) || jw->app.in_flight ||
	    jnl_app_durable(&jw->app) + 1 != jw->app.next_seq)
		return;		/* T1: not clean; the tail stays invalid */
	t.flags = JNL_TAIL_VALID | (primary_stale ? JNL_TAIL_PRIMARY_STALE :
				    0);
	t.node = jw->app.node;
	t.epoch = jw->app.epoch;
	t.next_seq = jw->app.next_seq;
	t.chain = jw->app.chain;
	t.segno = jw->app.segno;
	t.time = time(NULL);
	jnl_tail_path(path, sizeof(path), jw->spool.path);
	if (jnl_tail_write(path, &t, err, sizeof(err)))
		syslog(LOG_WARNING, "journal: %s; a mount while the secondary "
		       "is down will need it up", err);
}

int jw_open(struct jwriter *jw, const char *url, uint32_t node,
	    int timeout_ms, const struct jw_spool_conf *sc,
	    struct ev_loop *loop, char *err, size_t errlen)
{
	struct jw_end end;
	struct jnl_app_conf c;
	uint64_t nrecs = 0;
	int rc;

	memset(jw, 0, sizeof(*jw));
	jw->loop = loop;
	jw->efd = -1;
	jw->spool.fd = -1;
	jw->io_timeout_ms = sc && sc->failover_timeout_ms ?
			    sc->failover_timeout_ms : timeout_ms;
	if (sc && sc->secondary_down)
		return jw_open_from_tail(jw, url, node, jw->io_timeout_ms, sc,
					 err, errlen);
	rc = jstore_open(&jw->js, url, node, timeout_ms, err, errlen);
	if (!rc)
		rc = jstore_mkdir(&jw->js, err, errlen);
	if (!rc)
		rc = jw_read_stale(jw, err, errlen);
	if (!rc && sc)
		rc = jw_io_recover(jw, sc->path, sc->max, err, errlen);
	if (!rc)
		rc = jw_read_end(&jw->js, &end, err, errlen);
	if (rc)
		goto out;
	c = end.conf;
	jw->base_segno = end.base_segno;
	jw->base_offset = end.base_offset;
	jw->replace_from = end.replace_from;
	nrecs = end.nrecs;
	rc = jw_tail_clear(jw, sc, err, errlen);
	if (rc)
		goto out;
	rc = jnl_app_init(&jw->app, &c);
	if (rc) {
		snprintf(err, errlen, "journal appender: %s", strerror(-rc));
		goto out;
	}
	/* Reading may take long (probe_timeout); from here on a group
	 * write that takes longer than failover_timeout is a lost export. */
	jstore_set_timeout(&jw->js, jw->io_timeout_ms);
	if (nrecs)
		syslog(LOG_NOTICE, "journal of node %u on %s: recovered %llu "
		       "records, continuing at seq %llu in epoch %u", node,
		       url, (unsigned long long)nrecs,
		       (unsigned long long)c.first_seq, c.epoch);
out:
	if (rc) {
		jnl_spool_close(&jw->spool);
		jstore_close(&jw->js);
	}
	return rc;
}

/* ---- the loop side ---- */

static void wait_push(struct jw_wait **head, struct jw_wait **tail,
		      struct jw_wait *w)
{
	w->next = NULL;
	if (*tail)
		(*tail)->next = w;
	else
		*head = w;
	*tail = w;
}

/* Encodes blocked records while the filling group has room.  Returns
 * false if the head of the list still does not fit. */
static bool encode_blocked(struct jwriter *jw)
{
	while (jw->blocked_head) {
		struct jw_wait *w = jw->blocked_head;
		int rc = jnl_app_append(&jw->app, w->op, now_ns(), &w->seq);

		if (rc == -ENOBUFS)
			return false;
		jw->blocked_head = w->next;
		if (!jw->blocked_head)
			jw->blocked_tail = NULL;
		if (rc) {
			/* The encoder refused the record: a bug in the
			 * caller, not the secondary.  Never ack it. */
			syslog(LOG_CRIT, "journal: record refused (%s); the "
			       "operation stays unacknowledged",
			       strerror(-rc));
			continue;
		}
		jw->records++;
		if (w->early)
			w->ack(w);	/* async: in memory is enough */
		else
			wait_push(&jw->waiting_head, &jw->waiting_tail, w);
	}
	return true;
}

void jw_submit(struct jwriter *jw, struct jw_wait *w)
{
	wait_push(&jw->blocked_head, &jw->blocked_tail, w);
	encode_blocked(jw);
}

int jw_note(struct jwriter *jw, const struct jnl_op *op)
{
	uint64_t seq;
	int rc;

	/* Order matters: a note may not overtake blocked records. */
	if (jw->blocked_head)
		return -ENOBUFS;
	rc = jnl_app_append(&jw->app, op, now_ns(), &seq);
	if (!rc)
		jw->records++;
	return rc;
}

static void acks_run(struct jwriter *jw)
{
	uint64_t durable = jnl_app_durable(&jw->app);

	while (jw->waiting_head && jw->waiting_head->seq <= durable) {
		struct jw_wait *w = jw->waiting_head;

		jw->waiting_head = w->next;
		if (!jw->waiting_head)
			jw->waiting_tail = NULL;
		w->ack(w);
	}
}

static void job_post(struct jwriter *jw)
{
	pthread_mutex_lock(&jw->mu);
	jw->job_posted = true;
	jw->job_finished = false;
	pthread_cond_signal(&jw->cv);
	pthread_mutex_unlock(&jw->mu);
}

static void job_finished(struct jwriter *jw)
{
	struct jw_job *job = &jw->job;

	if (job->rc) {
		jw->failed_groups++;
		jw->last_failure_ms = ev_now_ms();
		snprintf(jw->last_err, sizeof(jw->last_err), "%.*s",
			 (int)sizeof(jw->last_err) - 1, job->err);
		if (!jw->failures++)
			syslog(LOG_ERR, "journal: group write failed: %s; "
			       "acknowledgements wait, retrying", job->err);
		/* A retry may find the segment a failed attempt made. */
		job->replace = job->w.new_segment;
		jw->retry_at_ms = ev_now_ms() + JW_RETRY_MS;
		jw->retry_pending = true;
		return;
	}
	if (jw->failures)
		syslog(LOG_NOTICE, "journal: group writes work again after "
		       "%u failed attempts", jw->failures);
	jw->failures = 0;
	jw->groups++;
	jnl_app_done(&jw->app);
	acks_run(jw);
	encode_blocked(jw);
}

static void efd_cb(struct ev_token *tok, int res)
{
	struct jwriter *jw = tok->ctx;
	uint64_t n;
	bool finished;

	jw->tok = NULL;
	if (read(jw->efd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		syslog(LOG_ERR, "journal: eventfd read: %m");
	pthread_mutex_lock(&jw->mu);
	finished = jw->job_finished;
	jw->job_finished = false;
	pthread_mutex_unlock(&jw->mu);
	if (finished)
		job_finished(jw);
}

void jw_bound(struct jwriter *jw, uint64_t max, jw_applied_fn *fn,
	      void *arg)
{
	jw->backlog_max = max;
	jw->applied = fn;
	jw->applied_arg = arg;
}

uint64_t jw_backlog(const struct jwriter *jw)
{
	const struct jnl_appender *app = &jw->app;
	uint64_t segno, off;

	int known = jw->applied ? jw->applied(jw->applied_arg, &segno, &off)
				: -1;

	if (known < 0)
		return 0;
	if (!known) {
		segno = jw->base_segno;
		off = jw->base_offset;
	}
	if (segno > app->segno)
		return 0;
	if (segno == app->segno)
		return app->seg_len > off ? app->seg_len - off : 0;
	/* Whole segments in between count as full ones. */
	return (app->segno - segno - 1) * app->seg_limit +
	       (app->seg_limit > off ? app->seg_limit - off : 0) +
	       app->seg_len;
}

/* True while the journal is over its bound: the next group waits. */
static bool jw_throttle(struct jwriter *jw)
{
	/* Away from the journal the spool has its own bound: holding
	 * writers for an applier that cannot run would be a freeze. */
	uint64_t backlog = jw->backlog_max &&
			   atomic_load(&jw->route) == JW_ROUTE_DIRECT ?
			   jw_backlog(jw) : 0;
	bool over = backlog > jw->backlog_max && jw->backlog_max;

	if (over && !jw->throttled) {
		jw->throttled = true;
		jw->throttled_since_ms = ev_now_ms();
		jw->throttle_events++;
		syslog(LOG_WARNING, "journal: %llu MiB not yet applied to the "
		       "mirror (journal_max %llu MiB): new mutations wait for "
		       "the applier", (unsigned long long)(backlog >> 20),
		       (unsigned long long)(jw->backlog_max >> 20));
	} else if (!over && jw->throttled) {
		jw->throttled = false;
		syslog(LOG_NOTICE, "journal: below journal_max again after "
		       "%.1f s; mutations go on", (double)(ev_now_ms() -
		       jw->throttled_since_ms) / 1000.0);
	}
	return over;
}

void jw_pump(struct jwriter *jw)
{
	if (!jw->started)
		return;
	if (!jw->tok)
		jw->tok = ev_poll_arm(jw->loop, jw->efd, POLLIN, efd_cb, jw, 0);
	if (jw->app.in_flight) {
		/* A failed group waits for its retry time, then goes again
		 * with the same bytes. */
		if (jw->retry_pending && ev_now_ms() >= jw->retry_at_ms) {
			jw->retry_pending = false;
			job_post(jw);
		}
		return;
	}
	if (!jnl_app_pending(&jw->app) || jw_throttle(jw))
		return;
	if (jnl_app_flush(&jw->app, &jw->job.w))
		return;
	jw->job.replace = jw->job.w.new_segment &&
			  jw->job.w.segno >= jw->replace_from;
	jw->job.rc = 0;
	job_post(jw);
}

int jw_reattach(struct jwriter *jw, const struct jw_end *end, char *err,
		size_t errlen)
{
	struct jnl_appender fresh;
	int rc;

	if (atomic_load(&jw->route) != JW_ROUTE_DETACHED || !jw_idle(jw)) {
		snprintf(err, errlen, "the journal writer is busy");
		return -EBUSY;
	}
	/* The new appender first: once the flag is gone, the journal must
	 * go on at once. */
	rc = jnl_app_init(&fresh, &end->conf);
	if (rc) {
		snprintf(err, errlen, "journal appender: %s", strerror(-rc));
		return rc;
	}
	/* Idle and DETACHED: the I/O thread has no job and touches neither
	 * the spool nor the appender until the next one. */
	rc = jnl_spool_clear_overflow(&jw->spool, err, errlen);
	if (rc) {
		jnl_app_fini(&fresh);
		return rc;
	}
	jnl_app_fini(&jw->app);
	jw->app = fresh;
	jw->base_segno = end->base_segno;
	jw->base_offset = end->base_offset;
	jw->replace_from = end->replace_from;
	jw->from_tail = false;
	atomic_store(&jw->route, JW_ROUTE_DIRECT);
	syslog(LOG_NOTICE, "journal of node %u on %s: attached again, "
	       "continuing at seq %llu in epoch %u", jw->js.node, jw->js.url,
	       (unsigned long long)end->conf.first_seq, end->conf.epoch);
	return 0;
}

bool jw_idle(const struct jwriter *jw)
{
	return !jw->app.in_flight && !jnl_app_pending(&jw->app) &&
	       !jw->blocked_head;
}

void jw_close(struct jwriter *jw)
{
	if (jw->started) {
		pthread_mutex_lock(&jw->mu);
		jw->quit = true;
		pthread_cond_signal(&jw->cv);
		pthread_mutex_unlock(&jw->mu);
		pthread_join(jw->thread, NULL);
		if (jw->tok)
			ev_poll_cancel(jw->loop, jw->tok);
		close(jw->efd);
	}
	jnl_app_fini(&jw->app);
	jnl_spool_close(&jw->spool);
	jstore_close(&jw->js);
}
