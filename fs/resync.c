/*
 * resync.c — the resync thread: makes one tree equal to the other while
 * applications keep writing the source, for a failback (fs/failback.c:
 * the primary from the mirror) and after a spool overflow
 * (fs/reattach.c: the mirror from the primary).
 *
 * A thread of its own (libnfs contexts are not thread-safe) runs the tree
 * comparison of replica/treesync.c, repairing: every difference of type,
 * bytes, size, mode, owner, mtime, links and names is made good on the
 * destination, written FILE_SYNC.  The first pass reads every byte on
 * both sides (the destination's state after an outage proves nothing).
 * Later passes are quick: a file whose size and mtime match is read
 * again only if it is in the DIRTY SET, the handles the loop saw a WRITE
 * or truncate go to (marked when sent and when answered) since that pass
 * began.  Passes repeat until one finds nothing to fix (at most
 * FB_CONVERGE_PASSES); then the destination is IN SYNC and kept so by a
 * quick pass every FB_REFRESH_MS (4 times a pass's length if longer).
 * The FINAL pass runs while the loop holds I/O, and pairs every handle
 * the inode table holds with the destination's object.
 *
 * The phases (fb->phase) and what the loop does with them are specified
 * in fs/failback.c.  Locking: fb->mu guards every field the loop reads;
 * the thread drops it for each pass and RPC.
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
#define FB_KEEPER_WAIT_MS	60000
#define FB_MIRROR_PATH		"/.ofsrep/mirror"

const char *fb_target(const struct failback *fb)
{
	return fb->to_mirror ? "mirror" : "primary";
}

uint64_t fb_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- handle sets and maps ---- */

uint64_t fb_fh_key(const void *fh, uint32_t len)
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

void fb_set_add(struct fb_set *s, uint64_t k)
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
			fb_set_add(into, from->v[i]);
}

void fb_set_free(struct fb_set *s)
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
	uint64_t k = fb_fh_key(src->data, src->len);
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
	slot = pair_slot(p, fb_fh_key(fh, len));
	return slot->key && slot->src.len == len &&
	       !memcmp(slot->src.data, fh, len) ? slot : NULL;
}

/* ---- the resync thread ---- */

struct fb_pass {
	struct failback *fb;
	struct fb_set force;	/* this pass's must_read set */
	bool final;
	uint64_t start_ms;
	uint64_t logged_ms;	/* last progress line in syslog */
};

#define FB_PROGRESS_LOG_MS	10000

static bool pass_must_read(void *arg, const struct apl_fh *src)
{
	struct fb_pass *p = arg;

	return set_has(&p->force, fb_fh_key(src->data, src->len));
}

static void pass_pair(void *arg, const struct apl_fh *src,
		      const struct apl_fh *dst)
{
	struct fb_pass *p = arg;

	/* FINAL only, and only the loop's handles: the loop is frozen and
	 * reads nothing of fb meanwhile */
	if (p->final && set_has(&p->fb->wanted, fb_fh_key(src->data, src->len)))
		pairs_put(&p->fb->pairs, src, dst);
}

static void pass_progress(void *arg, const struct ts_stats *st)
{
	struct fb_pass *p = arg;

	uint64_t now = fb_mono_ms();

	pthread_mutex_lock(&p->fb->mu);
	p->fb->cur = *st;
	pthread_mutex_unlock(&p->fb->mu);
	/* a long pass shows in the log too, not only in ofsrep status */
	if (now >= (p->logged_ms ? p->logged_ms : p->start_ms) +
		   FB_PROGRESS_LOG_MS) {
		p->logged_ms = now;
		syslog(LOG_INFO, "resync of the %s: pass %u running for %.0f s: "
		       "%" PRIu64 " objects, %.1f MiB compared, %" PRIu64
		       " fixed, %.1f MiB copied so far", fb_target(p->fb),
		       p->fb->passes + 1, (now - p->start_ms) / 1000.0,
		       st->entries, st->bytes / 1048576.0, st->fixed,
		       st->copied / 1048576.0);
	}
}

/* Under fb->mu (dropped while the pass runs).  0 or -errno (fb->err). */
static int run_pass(struct failback *fb, bool quick, bool final,
		    struct ts_stats *st)
{
	struct fb_pass p = { .fb = fb, .force = fb->dirty, .final = final,
			     .start_ms = fb_mono_ms() };
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
		/* frozen for the final pass: a vanishing object is an error */
		.live_source = !final,
	};
	char err[512];
	uint64_t t0 = fb_mono_ms();
	int rc;

	memset(&fb->dirty, 0, sizeof(fb->dirty));
	memset(&fb->cur, 0, sizeof(fb->cur));
	fb->pass_running = true;
	pthread_mutex_unlock(&fb->mu);
	rc = ts_run(&conf, st, err, sizeof(err));
	pthread_mutex_lock(&fb->mu);
	fb->pass_running = false;
	fb->passes++;
	fb->last_pass_ms = fb_mono_ms() - t0;
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
		       st->fixed, st->copied, (fb_mono_ms() - t0) / 1000.0);
	}
	fb_set_free(&p.force);
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
	deadline = fb_mono_ms() + FB_KEEPER_WAIT_MS;
	/* a journal without records has nothing to apply */
	while (!rc && fb->end.conf.first_seq > 1 &&
	       !(mirror_applied(fb->mirror, &pos) &&
		 pos.seq + 1 >= fb->end.conf.first_seq)) {
		if (fb_mono_ms() > deadline || fb->cancel) {
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

/* Under fb->mu (dropped for the RPCs).  Before the primary is made
 * equal to the mirror: its generation (fs/split.c) must still be the one
 * the failover recorded, or it was written on its own since (split
 * brain): then nothing is overwritten. */
static int check_primary_gen(struct failback *fb)
{
	char err[JSTORE_ERR_MAX];
	struct jstore js;
	uint64_t gen = 0;
	int rc;

	if (fb->to_mirror || !fb->expected_gen)
		return 0;
	pthread_mutex_unlock(&fb->mu);
	rc = jstore_open(&js, fb->dst_url, fb->node, fb->timeout_ms, err,
			 sizeof(err));
	if (!rc) {
		rc = jstore_gen_read(&js, &gen, err, sizeof(err));
		jstore_close(&js);
	}
	pthread_mutex_lock(&fb->mu);
	if (rc == -ENOENT)
		return 0;	/* none: nothing wrote it through ofsrep */
	if (rc) {
		snprintf(fb->err, sizeof(fb->err), "%.500s", err);
		return rc;
	}
	if (gen == fb->expected_gen)
		return 0;
	fb->split_brain = true;
	snprintf(fb->err, sizeof(fb->err), "split brain: the primary was "
		 "written without a journal since the failover (generation "
		 "%016llx, %016llx at the failover); nothing is merged or "
		 "overwritten, the mirror keeps serving; unmount, then choose: "
		 "ofsrep-fsck -y --keep=secondary (or --keep=primary)",
		 (unsigned long long)gen,
		 (unsigned long long)fb->expected_gen);
	return -EEXIST;
}

/* COPYING: a full pass, then quick ones until nothing is left to fix. */
static void converge(struct failback *fb)
{
	struct ts_stats st;
	int rc;

	fb->phase = FB_COPYING;
	fb->passes = 0;
	fb->in_sync_since_ms = 0;
	fb->resync_start_ms = fb_mono_ms();
	fb->end_known = false;
	rc = fb->to_mirror ? prepare_mirror(fb) : probe_primary(fb);
	if (!rc)
		rc = check_primary_gen(fb);
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
	fb->in_sync_since_ms = fb->last_refresh_ms = fb_mono_ms();
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
		uint64_t now = fb_mono_ms();
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
				fb->last_refresh_ms = fb_mono_ms();
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

bool fb_start_thread(struct fs_ctx *fs)
{
	struct failback *fb = &fs->fb;
	pthread_condattr_t ca;

	if (fb->started)
		return true;

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
		return false;
	}
	fb->started = true;
	return true;
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
