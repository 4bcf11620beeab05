/*
 * reattach.c — the mirror brought back online after a spool overflow.
 *
 * While the secondary was lost, journal groups went to the local spool
 * (replica/jw_io.c); past spool_max the journal DETACHED: records since
 * then exist nowhere but in their effect on the primary.  The journal on
 * the secondary stops where the last drained group left it, the mirror
 * keeper applies up to there and has nothing more to apply.  When the
 * secondary answers again, this brings the mirror up to date from the
 * primary's tree, online, and journals again.
 *
 * It is fs/failback.c run the other way (fb->to_mirror; the same thread,
 * passes, dirty set of written primary files, freeze and final pass, its
 * state machine in failback.c's header), with these differences:
 *
 *   OFF --(serving the primary, the journal DETACHED, the secondary and
 *          the primary UP, the keeper neither damaged nor without its
 *          lease)--> COPYING: the thread reads where the journal ends
 *          and waits until the keeper has applied it all (so that no
 *          record lands in the mirror behind a pass), then passes from
 *          the primary's root into <secondary>/.ofsrep/mirror
 *   IN_SYNC --(at once: there is no choice to make)--> the freeze (new
 *          requests held, those begun before finish on the primary),
 *          the final pass, which pairs each inode's primary handle with
 *          its mirror object
 *   FINAL_DONE --(loop, fs_reattach_switch)--> the spool is emptied and
 *          its OVERFLOWED flag cleared, durably; the journal continues
 *          after its last record in a new epoch (jw_reattach); every
 *          inode is introduced again with a BINDFH record of its mirror
 *          handle (a new epoch forgets all fids); held requests go on,
 *          and are journaled: full redundancy.
 *
 * Crash safety: until the flag is cleared a restart finds the spool
 * overflowed and resyncs again; once it is, the mirror equals the primary
 * as of the frozen final pass and nothing was acknowledged since, so a
 * restart continues the journal from its end like any other mount.
 */
#include "fs/fs.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

const char *fs_reattach_blocked(struct fs_ctx *fs)
{
	int ms = atomic_load(&fs->mirror.state);

	if (!fs->journaling || fs->opts.no_apply || !fs->mirror.started)
		return "the mirror is not applied here (noapply)";
	if (atomic_load(&fs->jw.route) != JW_ROUTE_DETACHED)
		return "the journal is attached";
	if (fs->secondary_health.state != HEALTH_UP)
		return "the secondary does not answer";
	if (fs->primary_health.state != HEALTH_UP)
		return "the primary does not answer";
	if (ms == MIRROR_DAMAGED || ms == MIRROR_LEASE_LOST ||
	    ms == MIRROR_STOPPED)
		return "the mirror keeper is stopped";
	return NULL;
}

void fs_reattach_pump(struct fs_ctx *fs)
{
	struct failback *fb = &fs->fb;
	uint64_t now = ev_now_ms();
	int phase;

	if (atomic_load(&fs->jw.route) != JW_ROUTE_DETACHED ||
	    now < fb->retry_at_ms || fs_reattach_blocked(fs) ||
	    !fb_start_thread(fs))
		return;
	phase = fb_phase(fs);
	switch (phase) {
	case FB_OFF:
	case FB_FAILED:
		fb->retry_at_ms = now + FB_RETRY_MS;
		syslog(LOG_NOTICE, "resync of the mirror on %s from the primary "
		       "%s: started, online (the spool overflowed: the journal "
		       "misses records)", fs->secondary.url_text,
		       fs->primary.url_text);
		pthread_mutex_lock(&fb->mu);
		fb->to_mirror = true;
		fb->phase = FB_COPYING;
		pthread_mutex_unlock(&fb->mu);
		fb_command(fb, FB_CMD_SYNC);
		return;
	case FB_IN_SYNC:
		fb_freeze(fs);
		return;
	default:
		return;
	}
}

struct reattach_bind {
	struct fs_ctx *fs;
	const struct fb_pairs *pairs;
	unsigned bound;
	unsigned missing;
};

/* A new epoch: each inode is introduced again, by its mirror handle. */
static void bind_one(void *arg, struct ino *ino)
{
	struct reattach_bind *b = arg;
	const struct fb_pair *p;

	if (ino == &b->fs->inodes.root)
		return;
	ino->bound = false;
	p = fb_pairs_get(b->pairs, ino->fh, ino->fh_len);
	if (!p) {
		/* not in the primary's tree: the new epoch cannot name it,
		 * so requests on it get ESTALE (as after a failback) */
		b->missing += ino->fh_len != 0;
		ino->fh_len = 0;
		return;
	}
	fsj_bindfh(b->fs, ino, p->dst.data, p->dst.len);
	b->bound++;
}

void fs_reattach_switch(struct fs_ctx *fs)
{
	struct failback *fb = &fs->fb;
	struct reattach_bind b = { .fs = fs, .pairs = &fb->pairs };
	char err[512];
	int rc;

	rc = jw_reattach(&fs->jw, &fb->end, err, sizeof(err));
	if (rc) {
		/* nothing changed: stay detached, try again later */
		syslog(LOG_ERR, "re-attaching the mirror on %s: %s",
		       fs->secondary.url_text, err);
		pthread_mutex_lock(&fb->mu);
		fb->phase = FB_FAILED;
		snprintf(fb->err, sizeof(fb->err), "%.500s", err);
		pthread_mutex_unlock(&fb->mu);
		return;		/* fs_failback_pump unfreezes on FAILED */
	}
	mirror_reset_target(&fs->mirror, fb->end.conf.first_seq - 1);
	ino_table_each(&fs->inodes, bind_one, &b);
	free(fb->pairs.v);
	memset(&fb->pairs, 0, sizeof(fb->pairs));
	fb->last_freeze_ms = ev_now_ms() - fb->freeze_start_ms;
	fb->final_sent = false;
	fb->reattaches++;
	pthread_mutex_lock(&fb->mu);
	fb->phase = FB_OFF;
	fb->to_mirror = false;
	fb->in_sync_since_ms = 0;
	pthread_mutex_unlock(&fb->mu);
	fs->serve = SERVE_PRIMARY;
	syslog(LOG_CRIT, "mirror on %s resynced from the primary and the "
	       "journal attached again after a %.1f s freeze; %u inodes "
	       "introduced to the new epoch by handle (%u without a mirror "
	       "object): full redundancy restored", fs->secondary.url_text,
	       fb->last_freeze_ms / 1000.0, b.bound, b.missing);
	fs_resubmit_held(fs, &fs->primary);
	fs_failback_release_writes(fs);
}
