/*
 * failback.c — after a failover (fs/failover.c), bring the primary up to
 * date from the mirror while the mirror keeps serving, then serve from
 * the primary again, with the journal running as before the failover.
 *
 * RESYNC.  The resync thread (fs/resync.c) makes the primary equal to
 * the mirror (<secondary>/.ofsrep/mirror) in passes, online, with a
 * dirty set of written files; fs/reattach.c runs it the other way.
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
 *          mirror until none is left, then every write the mirror
 *          answered UNSTABLE is committed there (fb_drained) (FB_DRAIN_MS
 *          at most, else the freeze is called off and tried again
 *          later) --> FINAL
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
 * Costs: the final pass walks the whole tree (one READDIRPLUS listing per
 * directory and side) while I/O is frozen, so the freeze grows with the
 * number of objects (docs/failover.md: 0.1 s for 20,000 files).
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

#define FB_DRAIN_MS		5000

const char *fs_failback_phase_name(int phase)
{
	static const char *const names[] = {
		[FB_OFF] = "off", [FB_COPYING] = "copying",
		[FB_IN_SYNC] = "in-sync", [FB_FINAL] = "final-pass",
		[FB_FINAL_DONE] = "switching", [FB_FAILED] = "failed",
	};

	return phase >= 0 && phase <= FB_FAILED ? names[phase] : "?";
}

/* ---- the loop's side ---- */

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
	fb_set_add(&fb->dirty, fb_fh_key(fh, len));
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
	 * internal calls, which are not counted, and COMMIT rounds until the
	 * final pass is asked for (fb_drained): after it, a round's re-send
	 * would reach the mirror behind the pass. */
	if (op->commit_round && !fs->fb.final_sent && !fs->fb.to_mirror)
		return false;
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
	fb->commits_swept = false;
	syslog(LOG_NOTICE, "%s: freezing I/O for the final pass (%s)",
	       fb->to_mirror ? "re-attaching the mirror" :
	       "failback to the primary", fb->to_mirror ? "in sync" :
	       fb->requested ? "asked for" : "failback=auto, settled");
}

/*
 * Drained: nothing of the operations begun before the freeze is left,
 * and (failback) nothing the mirror answered UNSTABLE is still retained.
 * Such a write is retained with the mirror's verifier (fs/wb.c); left for
 * after the switch, its COMMIT would meet the primary's verifier and
 * re-send it there unjournaled: the same bytes, but the primary's mtime
 * moves on while the mirror's stays.  So once the old operations are
 * done (no write can add a chunk after that: new ones are deferred),
 * every retained write is committed on the mirror, which also makes it
 * durable there, and the drain waits for those rounds too.
 */
static bool fb_drained(struct fs_ctx *fs)
{
	struct rep_export *s = fs->active;
	unsigned inflight = s->waiting;

	for (int i = 0; i < s->nconns; i++)
		inflight += s->conns[i].inflight;
	if (inflight || s->delayed || fs->ops_live != fs->ops_live_cur)
		return false;
	if (!fs->fb.to_mirror && !fs->fb.commits_swept) {
		fs->fb.commits_swept = true;
		if (wb_drain_all(fs))
			return false;
	}
	return !fs->draining;
}

static void want_one(void *arg, struct ino *ino)
{
	struct fb_set *s = arg;

	if (ino->fh_len)
		fb_set_add(s, fb_fh_key(ino->fh, ino->fh_len));
	if (ino->silly && ino->silly_dir_len)
		fb_set_add(s, fb_fh_key(ino->silly_dir_fh, ino->silly_dir_len));
}

static void fb_send_final(struct fs_ctx *fs)
{
	struct failback *fb = &fs->fb;

	pthread_mutex_lock(&fb->mu);
	fb_set_free(&fb->wanted);
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
	fb_set_free(&fb->wanted);
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
	if (!fb->started && (now < fb->retry_at_ms || fb_blocked(fs) ||
			     !fb_start_thread(fs)))
		return;
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
		if (fb->split_brain) {
			pthread_mutex_unlock(&fb->mu);
			fb->retry_at_ms = UINT64_MAX;	/* the operator's */
			syslog(LOG_CRIT, "%s", fb->err);
			return;
		}
		fb->phase = FB_COPYING;
		fb->to_mirror = false;
		fb->expected_gen = fs->primary_gen ? fs->primary_gen :
				   fs->marker_gen;
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
				      fb_mono_ms() >= since +
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
	uint64_t now = fb_mono_ms();
	uint64_t since;

	memset(v, 0, sizeof(*v));
	v->in_sync_for_s = v->due_in_s = -1;
	if (!fb->started)
		return;
	pthread_mutex_lock(&fb->mu);
	v->to_mirror = fb->to_mirror;
	v->split_brain = fb->split_brain;
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
	fb_set_free(&fb->dirty);
	fb_set_free(&fb->wanted);
	free(fb->pairs.v);
	pthread_cond_destroy(&fb->cv);
	pthread_mutex_destroy(&fb->mu);
}
