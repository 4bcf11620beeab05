/*
 * failback.c — after a failover (fs/failover.c), bring the primary up to
 * date from the mirror while the mirror keeps serving, then serve from
 * the primary again, with the journal running as before the failover.
 *
 * RESYNC.  A thread of its own (libnfs contexts are not thread-safe)
 * runs the tree comparison of replica/treesync.c from the mirror
 * (<secondary>/.ofsrep/mirror) to the primary's root, repairing: every
 * difference of type, bytes, size, mode, owner, mtime, links and names is
 * made good on the primary, written FILE_SYNC.  The first pass reads
 * every byte on both sides (the primary's state after an outage proves
 * nothing).  Applications keep writing the mirror meanwhile, so later
 * passes are quick: a file whose size and mtime match is read again only
 * if it is in the DIRTY SET, the mirror handles the loop saw a WRITE go
 * to (marked when sent and when answered) since that pass began.  Passes
 * repeat until one finds nothing to fix (at most FB_CONVERGE_PASSES),
 * then the primary is IN SYNC and is kept so by a quick pass every
 * FB_REFRESH_MS (longer for a tree whose pass takes long).
 *
 * STATE MACHINE (fb->phase, written by the thread under fb->mu; the loop
 * drives it from fs_failback_pump; every change is logged)
 *
 *   OFF --(serving the mirror, primary health UP, the journal can be
 *          written: route DIRECT, keeper LIVE)--> COPYING
 *   COPYING --(a pass found nothing to fix, or FB_CONVERGE_PASSES)-->
 *          IN_SYNC (in_sync_since set)
 *   COPYING, IN_SYNC --(a pass fails: the primary lost again, an RPC
 *          error)--> FAILED --(the loop logs it; FB_RETRY_MS later and
 *          the primary UP)--> COPYING, a full pass again
 *   IN_SYNC --(failback=auto: the primary UP and in sync for
 *          failback_settle; failback=manual: `ofsrep failback`)-->
 *          the loop freezes (fs->serve = SERVE_FAILBACK): new requests
 *          are held; requests of operations begun before go on to the
 *          mirror until none is left (FB_DRAIN_MS at most, else the
 *          freeze is called off and tried again later) --> FINAL
 *   FINAL: one quick pass over the frozen mirror, which also pairs each
 *          handle the inode table holds with its primary object; then
 *          the split-brain marker (fs/split.c) is removed: the primary
 *          equals the mirror now.  --> FINAL_DONE, or FAILED (the marker
 *          is written back if its removal may have happened)
 *   FINAL_DONE --(loop)--> OFF: each inode learned while the mirror
 *          served gets a BINDFH record (journal/format.h) with its mirror
 *          handle, every inode's handle becomes its primary one (nodeids,
 *          open files and st_ino stay), the keeper applies again
 *          (mirror_resume), fs->serve = SERVE_PRIMARY, held requests go to
 *          the primary, and mutations are journaled again: full
 *          redundancy.
 *
 * Why the final pass is enough: while frozen nothing writes the mirror,
 * every WRITE since the last pass began is in the dirty set, and any
 * other change shows in the metadata every pass compares.  Why the marker
 * goes before the switch: from the moment the primary serves, a crash
 * must not leave a mount that refuses the primary; and while the marker
 * is there, nothing but this code writes the primary.  A crash between
 * the two leaves a primary equal to the mirror and a journal that ends
 * where the failover left it: the next mount serves the primary.
 *
 * Costs: the final pass walks the whole tree (two LOOKUPs per object per
 * side) while I/O is frozen, so the freeze grows with the number of
 * objects (docs/failover.md gives figures).
 */
#include "fs/fs.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <xxhash.h>

#define FB_CONVERGE_PASSES	5
#define FB_REFRESH_MS		5000
#define FB_DRAIN_MS		5000
#define FB_KEEPER_WAIT_MS	60000
#define FB_MIRROR_PATH		"/.ofsrep/mirror"


const char *fs_failback_phase_name(int phase)
{
	static const char *const names[] = {
		[FB_OFF] = "off", [FB_COPYING] = "copying",
		[FB_IN_SYNC] = "in-sync", [FB_FINAL] = "final-pass",
		[FB_FINAL_DONE] = "switching", [FB_FAILED] = "failed",
	};

	return phase >= 0 && phase <= FB_FAILED ? names[phase] : "?";
}

static const char *fb_target(const struct failback *fb)
{
	return fb->to_mirror ? "mirror" : "primary";
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- handle sets and maps ---- */

static uint64_t fh_key(const void *fh, uint32_t len)
{
	uint64_t k = XXH3_64bits(fh, len);

	return k ? k : 1;
}

static int set_grow(struct fb_set *s)
{
	struct fb_set old = *s;

	s->cap = old.cap ? 2 * old.cap : 1024;
	s->v = calloc(s->cap, sizeof(*s->v));
	if (!s->v) {
		*s = old;
		return -ENOMEM;
	}
	s->n = 0;
	for (size_t i = 0; i < old.cap; i++) {
		size_t j;

		if (!old.v[i])
			continue;
		for (j = old.v[i] & (s->cap - 1); s->v[j];
		     j = (j + 1) & (s->cap - 1))
			;
		s->v[j] = old.v[i];
		s->n++;
	}
	free(old.v);
	return 0;
}

static void set_add(struct fb_set *s, uint64_t k)
{
	size_t i;

	if (2 * (s->n + 1) > s->cap && set_grow(s))
		return;	/* without memory the file is compared by metadata */
	for (i = k & (s->cap - 1); s->v[i] && s->v[i] != k;
	     i = (i + 1) & (s->cap - 1))
		;
	if (!s->v[i])
		s->n++;
	s->v[i] = k;
}

static bool set_has(const struct fb_set *s, uint64_t k)
{
	if (!s->cap)
		return false;
	for (size_t i = k & (s->cap - 1); s->v[i];
	     i = (i + 1) & (s->cap - 1))
		if (s->v[i] == k)
			return true;
	return false;
}

static void set_merge(struct fb_set *into, const struct fb_set *from)
{
	for (size_t i = 0; i < from->cap; i++)
		if (from->v[i])
			set_add(into, from->v[i]);
}

static void set_free(struct fb_set *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

static struct fb_pair *pair_slot(const struct fb_pairs *p, uint64_t k)
{
	size_t i = k & (p->cap - 1);

	while (p->v[i].key && p->v[i].key != k)
		i = (i + 1) & (p->cap - 1);
	return &p->v[i];
}

static void pairs_put(struct fb_pairs *p, const struct apl_fh *src,
		      const struct apl_fh *dst)
{
	uint64_t k = fh_key(src->data, src->len);
	struct fb_pair *slot;

	if (2 * (p->n + 1) > p->cap) {
		struct fb_pairs old = *p;

		p->cap = old.cap ? 2 * old.cap : 1024;
		p->v = calloc(p->cap, sizeof(*p->v));
		if (!p->v) {
			*p = old;
			return;	/* the inode gets ESTALE; logged by count */
		}
		p->n = 0;
		for (size_t i = 0; i < old.cap; i++)
			if (old.v[i].key) {
				*pair_slot(p, old.v[i].key) = old.v[i];
				p->n++;
			}
		free(old.v);
	}
	slot = pair_slot(p, k);
	if (!slot->key)
		p->n++;
	slot->key = k;
	slot->src = *src;
	slot->dst = *dst;
}

const struct fb_pair *fb_pairs_get(const struct fb_pairs *p,
				       const void *fh, uint32_t len)
{
	const struct fb_pair *slot;

	if (!p->cap || !len)
		return NULL;
	slot = pair_slot(p, fh_key(fh, len));
	return slot->key && slot->src.len == len &&
	       !memcmp(slot->src.data, fh, len) ? slot : NULL;
}

/* ---- the resync thread ---- */

struct fb_pass {
	struct failback *fb;
	struct fb_set force;	/* this pass's must_read set */
	bool final;
};

static bool pass_must_read(void *arg, const struct apl_fh *src)
{
	struct fb_pass *p = arg;

	return set_has(&p->force, fh_key(src->data, src->len));
}

static void pass_pair(void *arg, const struct apl_fh *src,
		      const struct apl_fh *dst)
{
	struct fb_pass *p = arg;

	/* FINAL only, and only the loop's handles: the loop is frozen and
	 * reads nothing of fb meanwhile */
	if (p->final && set_has(&p->fb->wanted, fh_key(src->data, src->len)))
		pairs_put(&p->fb->pairs, src, dst);
}

static void pass_progress(void *arg, const struct ts_stats *st)
{
	struct fb_pass *p = arg;

	pthread_mutex_lock(&p->fb->mu);
	p->fb->cur = *st;
	pthread_mutex_unlock(&p->fb->mu);
}

/* Under fb->mu (dropped while the pass runs).  0 or -errno (fb->err). */
static int run_pass(struct failback *fb, bool quick, bool final,
		    struct ts_stats *st)
{
	struct fb_pass p = { .fb = fb, .force = fb->dirty, .final = final };
	/* src_url is the mirror's export, dst_url the primary's */
	struct ts_conf conf = {
		.src_url = fb->to_mirror ? fb->dst_url : fb->src_url,
		.src_path = fb->to_mirror ? "/" : FB_MIRROR_PATH,
		.dst_url = fb->to_mirror ? fb->src_url : fb->dst_url,
		.dst_path = fb->to_mirror ? FB_MIRROR_PATH : "/",
		.timeout_ms = fb->timeout_ms, .repair = true,
		.progress = pass_progress, .arg = &p,
		.cancel = &fb->cancel, .quick = quick,
		.must_read = pass_must_read, .pair = pass_pair,
	};
	char err[512];
	uint64_t t0 = mono_ms();
	int rc;

	memset(&fb->dirty, 0, sizeof(fb->dirty));
	memset(&fb->cur, 0, sizeof(fb->cur));
	fb->pass_running = true;
	pthread_mutex_unlock(&fb->mu);
	rc = ts_run(&conf, st, err, sizeof(err));
	pthread_mutex_lock(&fb->mu);
	fb->pass_running = false;
	fb->passes++;
	fb->last_pass_ms = mono_ms() - t0;
	if (rc) {
		/* what was to be read still is */
		set_merge(&fb->dirty, &p.force);
		snprintf(fb->err, sizeof(fb->err), "%s", err);
	} else {
		fb->last = *st;
		syslog(LOG_INFO, "resync of the %s %s: pass %u%s: %" PRIu64
		       " objects, %" PRIu64 " bytes compared, %" PRIu64
		       " fixed, %" PRIu64 " bytes copied, %.1f s",
		       fb_target(fb), conf.dst_url,
		       fb->passes, final ? " (final, frozen)" : quick ?
		       " (quick)" : " (full)", st->entries, st->bytes,
		       st->fixed, st->copied, (mono_ms() - t0) / 1000.0);
	}
	set_free(&p.force);
	return rc;
}

/* Under fb->mu (dropped for the RPCs): a primary that was down at
 * mount has never been probed; its transfer sizes are learned here, off
 * the loop thread, on an export of our own, and applied at the switch. */
static int probe_primary(struct failback *fb)
{
	struct rep_export tmp;
	char err[1024];
	int rc;

	if (!fb->need_probe)
		return 0;
	pthread_mutex_unlock(&fb->mu);
	rc = rep_export_init(&tmp, "primary", fb->dst_url, 1, fb->timeout_ms,
			     NULL, err, sizeof(err));
	if (!rc)
		rc = rep_export_probe(&tmp, fb->timeout_ms, err, sizeof(err));
	pthread_mutex_lock(&fb->mu);
	if (rc) {
		snprintf(fb->err, sizeof(fb->err), "%.500s", err);
		return rc;
	}
	fb->need_probe = false;
	fb->probed = true;
	fb->probed_rtmax = tmp.rtmax;
	fb->probed_wtmax = tmp.wtmax;
	return 0;
}

/* Under fb->mu (dropped for the RPCs).  Resyncing the mirror after a
 * spool overflow (fs/reattach.c): the journal on the secondary is where
 * it stopped and grows no more (DETACHED); read where it ends, and wait
 * for the keeper to have applied it all, so that it writes nothing into
 * the mirror while the passes do. */
static int prepare_mirror(struct failback *fb)
{
	char err[JSTORE_ERR_MAX];
	struct jstore js;
	struct mirror_pos pos;
	uint64_t deadline;
	int rc;

	if (!fb->to_mirror)
		return 0;
	pthread_mutex_unlock(&fb->mu);
	rc = jstore_open(&js, fb->src_url, fb->node, fb->timeout_ms, err,
			 sizeof(err));
	if (!rc) {
		rc = jw_read_end(&js, &fb->end, err, sizeof(err));
		jstore_close(&js);
	}
	deadline = mono_ms() + FB_KEEPER_WAIT_MS;
	/* a journal without records has nothing to apply */
	while (!rc && fb->end.conf.first_seq > 1 &&
	       !(mirror_applied(fb->mirror, &pos) &&
		 pos.seq + 1 >= fb->end.conf.first_seq)) {
		if (mono_ms() > deadline || fb->cancel) {
			snprintf(err, sizeof(err), "the mirror keeper has not "
				 "applied the journal to its end (seq %llu)",
				 (unsigned long long)
				 (fb->end.conf.first_seq - 1));
			rc = -ETIMEDOUT;
			break;
		}
		usleep(200 * 1000);
	}
	pthread_mutex_lock(&fb->mu);
	if (rc)
		snprintf(fb->err, sizeof(fb->err), "%.500s", err);
	fb->end_known = !rc;
	return rc;
}

/* COPYING: a full pass, then quick ones until nothing is left to fix. */
static void converge(struct failback *fb)
{
	struct ts_stats st;
	int rc;

	fb->phase = FB_COPYING;
	fb->passes = 0;
	fb->in_sync_since_ms = 0;
	fb->resync_start_ms = mono_ms();
	fb->end_known = false;
	rc = fb->to_mirror ? prepare_mirror(fb) : probe_primary(fb);
	if (!rc)
		rc = run_pass(fb, false, false, &st);
	for (unsigned i = 1; !rc && st.fixed && i < FB_CONVERGE_PASSES &&
	     fb->cmd == FB_CMD_NONE; i++)
		rc = run_pass(fb, true, false, &st);
	if (rc) {
		fb->phase = FB_FAILED;
		return;
	}
	fb->phase = FB_IN_SYNC;
	fb->in_sync_since_ms = fb->last_refresh_ms = mono_ms();
	syslog(LOG_NOTICE, "resync of the %s: in sync with the %s after %u "
	       "passes, %.1f s", fb_target(fb), fb->to_mirror ? "primary" :
	       "mirror", fb->passes,
	       (fb->in_sync_since_ms - fb->resync_start_ms) / 1000.0);
}

/* Under fb->mu (dropped for the RPCs): removes the split-brain marker,
 * or, when a removal that may have happened failed, puts it back before
 * anything else (the loop stays frozen meanwhile).  0 or -errno. */
static int unmark(struct failback *fb)
{
	char err[JSTORE_ERR_MAX];
	struct jstore js;
	bool sent = false;
	int rc;

	pthread_mutex_unlock(&fb->mu);
	rc = jstore_open(&js, fb->src_url, fb->node, fb->timeout_ms, err,
			 sizeof(err));
	if (!rc) {
		sent = true;
		rc = jstore_file_remove(&js, JSTORE_STALE_NAME, err,
					sizeof(err));
		rc = rc == -ENOENT ? 0 : rc;
		jstore_close(&js);
	}
	pthread_mutex_lock(&fb->mu);
	if (!rc)
		return 0;
	snprintf(fb->err, sizeof(fb->err),
		 "removing the split-brain marker: %.400s",
		 err);
	while (sent && fb->cmd != FB_CMD_QUIT) {
		int wrc;

		pthread_mutex_unlock(&fb->mu);
		wrc = jstore_open(&js, fb->src_url, fb->node, fb->timeout_ms,
				  err, sizeof(err));
		if (!wrc) {
			wrc = jstore_file_write(&js, JSTORE_STALE_NAME,
						(const uint8_t *)fb->mark,
						sizeof(fb->mark), err,
						sizeof(err));
			jstore_close(&js);
		}
		if (wrc) {
			syslog(LOG_CRIT, "failback: cannot put the split-brain "
			       "marker back: %s; retrying", err);
			sleep(1);
		}
		pthread_mutex_lock(&fb->mu);
		if (!wrc)
			break;
	}
	return rc;
}

/* FINAL: the last pass over the frozen mirror, then the marker goes. */
static void final_pass(struct failback *fb)
{
	struct ts_stats st;

	fb->phase = FB_FINAL;
	/* the mirror carries the marker; its own resync has none to lift */
	if (run_pass(fb, true, true, &st) || (!fb->to_mirror && unmark(fb)))
		fb->phase = FB_FAILED;
	else
		fb->phase = FB_FINAL_DONE;
}

static void *fb_thread(void *arg)
{
	struct failback *fb = arg;

	pthread_mutex_lock(&fb->mu);
	while (fb->cmd != FB_CMD_QUIT) {
		uint64_t now = mono_ms();
		uint64_t every = FB_REFRESH_MS;
		struct ts_stats st;

		if (fb->cmd == FB_CMD_SYNC) {
			fb->cmd = FB_CMD_NONE;
			converge(fb);
			continue;
		}
		if (fb->cmd == FB_CMD_FINAL) {
			fb->cmd = FB_CMD_NONE;
			/* a quick pass proves nothing after a failed one */
			if (fb->phase == FB_IN_SYNC)
				final_pass(fb);
			else {
				snprintf(fb->err, sizeof(fb->err), "the last "
					 "pass failed before the final one");
				fb->phase = FB_FAILED;
			}
			continue;
		}
		/* IN_SYNC: keep it so; a long pass makes the refresh rarer */
		if (fb->phase == FB_IN_SYNC) {
			if (every < 4 * fb->last_pass_ms)
				every = 4 * fb->last_pass_ms;
			if (now >= fb->last_refresh_ms + every) {
				if (run_pass(fb, true, false, &st))
					fb->phase = FB_FAILED;
				fb->last_refresh_ms = mono_ms();
				continue;
			}
		}
		{
			struct timespec ts;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&fb->cv, &fb->mu, &ts);
		}
	}
	pthread_mutex_unlock(&fb->mu);
	return NULL;
}

/* ---- the loop's side ---- */

void fb_start_thread(struct fs_ctx *fs)
{
	struct failback *fb = &fs->fb;
	pthread_condattr_t ca;

	snprintf(fb->src_url, sizeof(fb->src_url), "%s", fs->opts.secondary);
	snprintf(fb->dst_url, sizeof(fb->dst_url), "%s", fs->opts.primary);
	fb->node = (uint32_t)fs->opts.node;
	fb->timeout_ms = fs->opts.failover_timeout_ms;
	fb->mirror = &fs->mirror;
	pthread_mutex_init(&fb->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&fb->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&fb->thread, NULL, fb_thread, fb)) {
		syslog(LOG_CRIT, "failback: cannot start the resync thread; "
		       "the mirror keeps serving");
		pthread_cond_destroy(&fb->cv);
		pthread_mutex_destroy(&fb->mu);
		fb->retry_at_ms = UINT64_MAX;
		return;
	}
	fb->started = true;
}

void fb_command(struct failback *fb, int cmd)
{
	pthread_mutex_lock(&fb->mu);
	fb->cmd = cmd;
	fb->cancel = 0;
	pthread_cond_signal(&fb->cv);
	pthread_mutex_unlock(&fb->mu);
}

/* Why the primary cannot be resynced and served again now, or NULL. */
static const char *fb_blocked(struct fs_ctx *fs)
{
	if (fs->primary_health.state != HEALTH_UP)
		return "the primary does not answer";
	if (atomic_load(&fs->mirror.state) != MIRROR_LIVE)
		return "the mirror keeper is not live";
	if (atomic_load(&fs->jw.route) != JW_ROUTE_DIRECT ||
	    fs->secondary_health.state != HEALTH_UP)
		return "the journal cannot be written on the secondary";
	return NULL;
}

void fs_failback_dirty_fh(struct fs_ctx *fs, const void *fh, uint32_t len)
{
	struct failback *fb = &fs->fb;

	if (!fb->started || !len ||
	    (fs->serve == SERVE_PRIMARY && !fb->to_mirror))
		return;
	pthread_mutex_lock(&fb->mu);
	set_add(&fb->dirty, fh_key(fh, len));
	pthread_mutex_unlock(&fb->mu);
}

void fs_failback_dirty(struct fs_ctx *fs, const struct ino *ino)
{
	fs_failback_dirty_fh(fs, ino->fh, ino->fh_len);
}

void fs_failback_defer_write(struct fs_ctx *fs, struct fs_op *op)
{
	struct failback *fb = &fs->fb;

	op->next = NULL;
	if (fb->deferred_tail)
		fb->deferred_tail->next = op;
	else
		fb->deferred_head = op;
	fb->deferred_tail = op;
}

/* After the switch (or the freeze called off): the deferred writes
 * decide about their record now, and go where the service is. */
void fs_failback_release_writes(struct fs_ctx *fs)
{
	struct fs_op *op = fs->fb.deferred_head;

	fs->fb.deferred_head = fs->fb.deferred_tail = NULL;
	while (op) {
		struct fs_op *next = op->next;

		op->next = NULL;
		wb_write(op);
		op = next;
	}
}

bool fs_failback_holds(const struct fs_ctx *fs, const struct fs_op *op)
{
	/* Operations begun before the freeze finish on the mirror; so do
	 * internal calls (COMMIT rounds), which are not counted. */
	return fs->serve == SERVE_FAILBACK && op->era_counted &&
	       op->era == fs->era;
}

static void fb_unfreeze(struct fs_ctx *fs, const char *why)
{
	struct failback *fb = &fs->fb;

	syslog(LOG_ERR, "%s called off after %.1f s frozen: %s; the %s keeps "
	       "serving (%u held requests go back to it); trying again in "
	       "%d s", fb->to_mirror ? "re-attaching the mirror" :
	       "failback to the primary", (ev_now_ms() - fb->freeze_start_ms) /
	       1000.0, why, fb->to_mirror ? "primary" : "mirror", fs->held,
	       FB_RETRY_MS / 1000);
	fs->serve = fb->to_mirror ? SERVE_PRIMARY : SERVE_MIRROR;
	fb->final_sent = false;
	fb->requested = false;
	fb->retry_at_ms = ev_now_ms() + FB_RETRY_MS;
	fs_resubmit_held(fs, fs->active);
	fs_failback_release_writes(fs);
}

void fb_freeze(struct fs_ctx *fs)
{
	struct failback *fb = &fs->fb;

	fs->serve = SERVE_FAILBACK;
	fs->era++;
	fs->ops_live_cur = 0;
	fb->freeze_start_ms = ev_now_ms();
	fb->drain_deadline_ms = fb->freeze_start_ms + FB_DRAIN_MS;
	fb->final_sent = false;
	syslog(LOG_NOTICE, "%s: freezing I/O for the final pass (%s)",
	       fb->to_mirror ? "re-attaching the mirror" :
	       "failback to the primary", fb->to_mirror ? "in sync" :
	       fb->requested ? "asked for" : "failback=auto, settled");
}

static bool fb_drained(struct fs_ctx *fs)
{
	struct rep_export *s = fs->active;
	unsigned inflight = s->waiting;

	for (int i = 0; i < s->nconns; i++)
		inflight += s->conns[i].inflight;
	return !inflight && !s->delayed &&
	       fs->ops_live == fs->ops_live_cur;
}

static void want_one(void *arg, struct ino *ino)
{
	struct fb_set *s = arg;

	if (ino->fh_len)
		set_add(s, fh_key(ino->fh, ino->fh_len));
	if (ino->silly && ino->silly_dir_len)
		set_add(s, fh_key(ino->silly_dir_fh, ino->silly_dir_len));
}

static void fb_send_final(struct fs_ctx *fs)
{
	struct failback *fb = &fs->fb;

	pthread_mutex_lock(&fb->mu);
	set_free(&fb->wanted);
	ino_table_each(&fs->inodes, want_one, &fb->wanted);
	free(fb->pairs.v);
	memset(&fb->pairs, 0, sizeof(fb->pairs));
	fs_stale_marker(fs, jnl_app_durable(&fs->jw.app), fb->mark);
	fb->cmd = FB_CMD_FINAL;
	fb->cancel = 0;
	pthread_cond_signal(&fb->cv);
	pthread_mutex_unlock(&fb->mu);
	fb->final_sent = true;
}

struct fb_remap {
	struct fs_ctx *fs;
	const struct fb_pairs *pairs;
	unsigned moved;
	unsigned bound;
	unsigned missing;
};

static void remap_back(void *arg, struct ino *ino)
{
	struct fb_remap *m = arg;
	const struct fb_pair *p = fb_pairs_get(m->pairs, ino->fh, ino->fh_len);
	const struct fb_pair *sd;

	if (ino->silly && ino->silly_dir_len &&
	    (sd = fb_pairs_get(m->pairs, ino->silly_dir_fh,
			    ino->silly_dir_len))) {
		memcpy(ino->silly_dir_fh, sd->dst.data, sd->dst.len);
		ino->silly_dir_len = sd->dst.len;
	}
	if (!p) {
		/* gone from the mirror (or never had an object there):
		 * requests on it get ESTALE */
		m->missing += ino->fh_len != 0;
		ino->fh_len = 0;
		return;
	}
	if (ino != &m->fs->inodes.root && !ino->bound) {
		fsj_bindfh(m->fs, ino, ino->fh, ino->fh_len);
		m->bound++;
	}
	memcpy(ino->fh, p->dst.data, p->dst.len);
	ino->fh_len = p->dst.len;
	m->moved++;
}

static void fb_switch(struct fs_ctx *fs)
{
	struct failback *fb = &fs->fb;
	struct fb_remap m = { .fs = fs, .pairs = &fb->pairs };
	unsigned held = fs->held;

	/* The thread is idle (FINAL_DONE): fb's fields are the loop's. */
	ino_table_rekey(&fs->inodes, remap_back, &m);
	free(fb->pairs.v);
	memset(&fb->pairs, 0, sizeof(fb->pairs));
	set_free(&fb->wanted);
	/* New inodes are primary objects again: their fileids cannot meet
	 * the st_ino of one first seen on the mirror (flipped). */
	fs->inodes.fileid_flip = 0;
	if (fb->probed) {
		fs->primary.rtmax = fb->probed_rtmax;
		fs->primary.wtmax = fb->probed_wtmax;
		fs->primary_unprobed = false;
	}
	if (fs->primary_unprobed)
		syslog(LOG_WARNING, "failback: the primary %s was never probed; "
		       "using 1 MiB transfers", fs->primary.url_text);
	fs->primary_unprobed = false;
	mirror_resume(&fs->mirror);
	fs->serve = SERVE_PRIMARY;
	fs->active = &fs->primary;
	fs->primary_stale = false;
	fb->failbacks++;
	fb->last_failback = time(NULL);
	fb->last_freeze_ms = ev_now_ms() - fb->freeze_start_ms;
	fb->requested = false;
	fb->final_sent = false;
	pthread_mutex_lock(&fb->mu);
	fb->phase = FB_OFF;
	fb->in_sync_since_ms = 0;
	pthread_mutex_unlock(&fb->mu);
	syslog(LOG_CRIT, "failback: serving from the primary %s again after "
	       "a %.1f s freeze; %u inodes moved back (%u introduced to the "
	       "journal by handle, %u without an object); journaling to %s "
	       "resumed: full redundancy restored", fs->primary.url_text,
	       fb->last_freeze_ms / 1000.0, m.moved, m.bound, m.missing,
	       fs->secondary.url_text);
	fs_resubmit_held(fs, &fs->primary);
	fs_failback_release_writes(fs);
	(void)held;
}

/* The loop's view of the thread's phase; logs a failure once. */
int fb_phase(struct fs_ctx *fs)
{
	struct failback *fb = &fs->fb;
	int phase;

	pthread_mutex_lock(&fb->mu);
	phase = fb->phase;
	if (phase == FB_FAILED && !fb->failed_logged) {
		fb->failed_logged = true;
		syslog(LOG_ERR, "resync of the %s failed: %s; trying again "
		       "once it answers", fb_target(fb), fb->err);
	}
	pthread_mutex_unlock(&fb->mu);
	return phase;
}

static void fb_mirror_pump(struct fs_ctx *fs)
{
	struct failback *fb = &fs->fb;
	uint64_t now = ev_now_ms();
	uint64_t since;
	int phase;

	if (fs->primary_health.state == HEALTH_UP) {
		if (!fb->primary_up_since_ms)
			fb->primary_up_since_ms = now;
	} else {
		fb->primary_up_since_ms = 0;
	}
	if (!fb->started) {
		if (now < fb->retry_at_ms || fb_blocked(fs))
			return;
		fb_start_thread(fs);
		if (!fb->started)
			return;
	}
	phase = fb_phase(fs);
	switch (phase) {
	case FB_OFF:
	case FB_FAILED:
		if (now < fb->retry_at_ms || fb_blocked(fs))
			return;
		fb->failed_logged = false;
		fb->retry_at_ms = now + FB_RETRY_MS;
		syslog(LOG_NOTICE, "resync of the primary %s from the mirror "
		       "on %s: started, online (failback=%s)",
		       fs->primary.url_text, fs->secondary.url_text,
		       fs->opts.failback_manual ? "manual" : "auto");
		pthread_mutex_lock(&fb->mu);
		fb->phase = FB_COPYING;
		fb->to_mirror = false;
		fb->need_probe = fs->primary_unprobed;
		pthread_mutex_unlock(&fb->mu);
		fb_command(fb, FB_CMD_SYNC);
		return;
	case FB_COPYING:
	case FB_IN_SYNC:
		if (fs->primary_health.state == HEALTH_DOWN)
			fb->cancel = 1;	/* the pass fails fast */
		if (phase != FB_IN_SYNC || fb_blocked(fs) ||
		    now < fb->retry_at_ms)
			return;
		pthread_mutex_lock(&fb->mu);
		since = fb->in_sync_since_ms;
		pthread_mutex_unlock(&fb->mu);
		/* "healthy and in sync for the settle time": both clocks */
		if (fb->primary_up_since_ms > since)
			since = fb->primary_up_since_ms;
		if (fb->requested || (!fs->opts.failback_manual &&
				      mono_ms() >= since +
				      (uint64_t)fs->opts.failback_settle_s *
				      1000))
			fb_freeze(fs);
		return;
	default:
		return;
	}
}

void fs_failback_pump(struct fs_ctx *fs)
{
	struct failback *fb = &fs->fb;
	int phase;

	if (fs->serve == SERVE_MIRROR) {
		fb_mirror_pump(fs);
		return;
	}
	if (fs->serve == SERVE_PRIMARY) {
		fs_reattach_pump(fs);
		return;
	}
	if (fs->serve != SERVE_FAILBACK)
		return;
	if (!fb->final_sent) {
		const char *blocked = fb->to_mirror ? fs_reattach_blocked(fs) :
				      fb_blocked(fs);

		if (blocked || fb_phase(fs) != FB_IN_SYNC)
			fb_unfreeze(fs, blocked ? blocked :
				    "the resync fell out of sync");
		else if (fb_drained(fs))
			fb_send_final(fs);
		else if (ev_now_ms() > fb->drain_deadline_ms)
			fb_unfreeze(fs, "operations begun before the freeze "
				    "did not finish");
		return;
	}
	phase = fb_phase(fs);
	if (phase == FB_FINAL_DONE && fb->to_mirror)
		fs_reattach_switch(fs);
	else if (phase == FB_FINAL_DONE)
		fb_switch(fs);
	else if (phase == FB_FAILED)
		fb_unfreeze(fs, fb->err);
	else if (fs->primary_health.state == HEALTH_DOWN ||
		 fs->secondary_health.state == HEALTH_DOWN)
		fb->cancel = 1;
}

int fs_failback_request(struct fs_ctx *fs, char *msg, size_t len)
{
	struct failback *fb = &fs->fb;
	int phase = fb->started ? fb_phase(fs) : FB_OFF;
	const char *blocked;

	if (fs->serve == SERVE_PRIMARY || fs->serve == SERVE_FAILBACK) {
		snprintf(msg, len, "%s", fs->serve == SERVE_PRIMARY ?
			 "the primary serves already: nothing to fail back" :
			 "failing back already");
		return fs->serve == SERVE_PRIMARY ? -EALREADY : 0;
	}
	if (fs->serve != SERVE_MIRROR) {
		snprintf(msg, len, "a failover is in progress; ask again once "
			 "the mirror serves");
		return -EBUSY;
	}
	blocked = fb_blocked(fs);
	if (blocked || phase != FB_IN_SYNC) {
		snprintf(msg, len, "the primary is not in sync yet (resync %s"
			 "%s%s); see ofsrep status", fs_failback_phase_name(phase),
			 blocked ? ": " : "", blocked ? blocked : "");
		return -EAGAIN;
	}
	fb->requested = true;
	snprintf(msg, len, "failing back to the primary %s: I/O freezes for "
		 "the final pass", fs->primary.url_text);
	return 0;
}

void fs_failback_view(struct fs_ctx *fs, struct fb_view *v)
{
	struct failback *fb = &fs->fb;
	uint64_t now = mono_ms();
	uint64_t since;

	memset(v, 0, sizeof(*v));
	v->in_sync_for_s = v->due_in_s = -1;
	if (!fb->started)
		return;
	pthread_mutex_lock(&fb->mu);
	v->to_mirror = fb->to_mirror;
	v->phase = fb->phase;
	v->passes = fb->passes;
	v->pass_running = fb->pass_running;
	v->pass = fb->pass_running ? fb->cur : fb->last;
	since = fb->in_sync_since_ms;
	if (fb->phase == FB_FAILED)
		snprintf(v->err, sizeof(v->err), "%s", fb->err);
	pthread_mutex_unlock(&fb->mu);
	if (v->phase != FB_IN_SYNC || !since)
		return;
	v->in_sync_for_s = (now - since) / 1000.0;
	if (fb->primary_up_since_ms > since)
		since = fb->primary_up_since_ms;
	if (!fs->opts.failback_manual) {
		uint64_t due = since + (uint64_t)fs->opts.failback_settle_s *
			       1000;

		v->due_in_s = due > now ? (due - now) / 1000.0 : 0;
	}
}

void fs_failback_stop(struct fs_ctx *fs)
{
	struct failback *fb = &fs->fb;

	if (!fb->started)
		return;
	fb->cancel = 1;
	fb_command(fb, FB_CMD_QUIT);
	fb->cancel = 1;
	pthread_join(fb->thread, NULL);
	fb->started = false;
	set_free(&fb->dirty);
	set_free(&fb->wanted);
	free(fb->pairs.v);
	pthread_cond_destroy(&fb->cv);
	pthread_mutex_destroy(&fb->mu);
}
