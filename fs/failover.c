/*
 * failover.c — when the primary is lost, serve from the mirror.
 *
 * The mirror on the secondary is the primary's tree as of the last
 * applied journal record, and the journal holds every acknowledged
 * mutation.  So once the mirror keeper (replica/mirror.c) has applied
 * the whole journal, the mirror is a tree that contains everything any
 * application was told is done, and the keeper's fid map names, for
 * every inode this mount handed to the kernel (each was BIND'ed or
 * created in the journal, fs/journal.c), its object in the mirror.  The
 * switch replaces each inode's primary handle by that object's handle in
 * place, so FUSE nodeids, open files and the kernel's caches stay valid,
 * and the requests the primary never answered are sent again, to the
 * secondary.
 *
 * STATE MACHINE (fs->serve; the loop calls fs_failover_pump after each
 * batch; every change is logged)
 *
 *   PRIMARY --(primary health DOWN (replica/health.c) and failover is
 *              possible: journal mode, the journal written directly to a
 *              secondary that answers, the mirror keeper applying)-->
 *            FREEZING: requests are held (op_submit), the primary's
 *            queued and in-flight ones are taken back and held too;
 *            records of operations the primary did are still journaled
 *   FREEZING --(every appended record is durable)--> CATCHUP: the keeper
 *            is asked to apply up to the durable seq and hand over
 *   CATCHUP --(more records became durable meanwhile)--> CATCHUP with
 *            the new target
 *   FREEZING, CATCHUP --(the primary answers again first)--> PRIMARY:
 *            held requests go back to it (a blip, not a failover)
 *   CATCHUP --(handover ready)--> MIRROR: handles replaced, held
 *            requests re-sent to the secondary, the keeper stops applying
 *            (the mirror is written directly now) and nothing more is
 *            journaled
 *   (mount) --(the primary cannot be reached, the journal has records:
 *              fs/main.c)--> FREEZING, and the primary is never waited
 *              for: it has no root handle in this mount
 *   MIRROR: the primary is stale from the failover on; a marker on the
 *            secondary says so, so no later mount serves the stale
 *            primary (split brain, fs/split.c).  Once the primary answers
 *            again it is brought up to date online and served again:
 *            fs/failback.c, whose states follow MIRROR.
 *   (mount) --(the split-brain marker is there: an earlier mount failed
 *              over and the primary was not brought back)--> FREEZING as
 *              well, whether the primary answers or not
 *
 *   Failover is not possible (I/O then waits for the primary, as an NFS
 *   hard mount does, and status says why): no journal (primary_only),
 *   noapply, the mirror keeper stopped on damage or without its lease,
 *   or the journal is in the local spool (the secondary is lost too).
 *
 * What it does not do: serve a request whose inode has no mirror object (it
 * gets ESTALE; only an object the applier could not bind lacks one).
 * A multi-step operation whose first step the primary did (a CREATE
 * followed by its SETATTR) but whose record was not yet journaled when
 * the primary died re-sends its later step only, which the mirror does
 * not know: it can fail.  Directory reads in progress restart their
 * cookies on the mirror.
 */
#include "fs/fs.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

const char *fs_serve_name(int serve)
{
	static const char *const names[] = {
		[SERVE_PRIMARY] = "primary", [SERVE_FREEZING] = "freezing",
		[SERVE_CATCHUP] = "catching-up", [SERVE_MIRROR] = "mirror",
		[SERVE_FAILBACK] = "failing-back",
	};

	return serve >= 0 && serve <= SERVE_FAILBACK ? names[serve] : "?";
}

void fs_hold(struct fs_ctx *fs, struct rep_req *r)
{
	r->next = NULL;
	r->conn = NULL;
	if (fs->held_tail)
		fs->held_tail->next = r;
	else
		fs->held_head = r;
	fs->held_tail = r;
	fs->held++;
}

void fs_resubmit_held(struct fs_ctx *fs, struct rep_export *to)
{
	struct rep_req *r = fs->held_head;

	fs->held_head = fs->held_tail = NULL;
	fs->held = 0;
	while (r) {
		struct rep_req *next = r->next;

		/* On another export a call is new: its retry rules (an
		 * EEXIST after a re-sent CREATE is ours) must not apply. */
		if (to != &fs->primary)
			r->attempts = 0;
		rep_export_submit(to, r);
		r = next;
	}
}

/* Why failover cannot happen now, or NULL. */
static const char *failover_blocked(struct fs_ctx *fs)
{
	int ms;

	if (!fs->journaling)
		return "no secondary journal (primary_only)";
	if (fs->opts.failover_off)
		return "failover=off";
	if (fs->opts.no_apply || !fs->mirror.started)
		return "the mirror is not applied here (noapply)";
	ms = atomic_load(&fs->mirror.state);
	if (ms == MIRROR_DAMAGED)
		return "the mirror keeper stopped on a damaged journal";
	if (ms == MIRROR_LEASE_LOST)
		return "the journal's lease was taken over";
	if (atomic_load(&fs->jw.route) != JW_ROUTE_DIRECT)
		return "the journal is not complete on the secondary (it is "
		       "lost too, or its spool is being written)";
	if (fs->secondary_health.state != HEALTH_UP)
		return "the secondary does not answer either";
	return NULL;
}

static void freeze(struct fs_ctx *fs)
{
	struct rep_req *r = rep_export_steal(&fs->primary);
	unsigned taken = 0;

	fs->serve = SERVE_FREEZING;
	fs->freeze_start_ms = ev_now_ms();
	while (r) {
		struct rep_req *next = r->next;

		fs_hold(fs, r);
		taken++;
		r = next;
	}
	syslog(LOG_ERR, "primary %s lost (%s): failing over to the mirror "
	       "on %s; I/O is held (%u requests taken back) until the "
	       "mirror has every journaled mutation", fs->primary.url_text,
	       fs->primary_health.why, fs->secondary.url_text, taken);
}

static void unfreeze(struct fs_ctx *fs, const char *why)
{
	syslog(LOG_NOTICE, "primary %s: failover abandoned after %.1f s: %s; "
	       "staying on the primary (%u held requests go back to it)",
	       fs->primary.url_text,
	       (double)(ev_now_ms() - fs->freeze_start_ms) / 1000.0, why,
	       fs->held);
	if (fs->serve == SERVE_CATCHUP)
		mirror_handover_cancel(&fs->mirror);
	fs->serve = SERVE_PRIMARY;
	fs_resubmit_held(fs, &fs->primary);
}

struct remap {
	struct fs_ctx *fs;
	const struct mirror_handover *ho;
	struct mirror_fid *sorted;
	size_t n;
	char old_root[INO_FH_MAX];
	uint32_t old_root_len;
	unsigned mapped;
	unsigned missing;
};

static int fid_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct mirror_fid *)a)->fid;
	uint64_t y = ((const struct mirror_fid *)b)->fid;

	return x < y ? -1 : x > y;
}

static void set_fh(struct ino *ino, const struct apl_fh *fh)
{
	memcpy(ino->fh, fh->data, fh->len);
	ino->fh_len = fh->len;
}

static void remap_one(void *arg, struct ino *ino)
{
	struct remap *m = arg;
	struct mirror_fid key = { .fid = fsj_fid(m->fs, ino) };
	struct mirror_fid *hit;

	if (ino->silly && ino->silly_dir_len == m->old_root_len &&
	    !memcmp(ino->silly_dir_fh, m->old_root, m->old_root_len)) {
		memcpy(ino->silly_dir_fh, m->ho->root.data, m->ho->root.len);
		ino->silly_dir_len = m->ho->root.len;
	}
	if (ino == &m->fs->inodes.root) {
		set_fh(ino, &m->ho->root);
		m->mapped++;
		return;
	}
	hit = m->n ? bsearch(&key, m->sorted, m->n, sizeof(key), fid_cmp) :
	      NULL;
	if (hit) {
		set_fh(ino, &hit->fh);
		m->mapped++;
		return;
	}
	/* No mirror object: requests on it get ESTALE from the server. */
	ino->fh_len = 0;
	m->missing++;
}

static void switch_to_mirror(struct fs_ctx *fs,
			     const struct mirror_handover *ho)
{
	struct remap m = { .fs = fs, .ho = ho };
	unsigned held = fs->held;

	memcpy(m.old_root, fs->inodes.root.fh, fs->inodes.root.fh_len);
	m.old_root_len = fs->inodes.root.fh_len;
	/* Fids of another epoch mean nothing to this mount's inodes (an
	 * epoch with no record yet: only the root is known). */
	if (ho->epoch == fs->jw.app.epoch && ho->n) {
		m.sorted = malloc(ho->n * sizeof(*m.sorted));
		if (m.sorted) {
			memcpy(m.sorted, ho->fids, ho->n * sizeof(*m.sorted));
			qsort(m.sorted, ho->n, sizeof(*m.sorted), fid_cmp);
			m.n = ho->n;
		}
	}
	ino_table_rekey(&fs->inodes, remap_one, &m);
	fs->inodes.fileid_flip = 1ull << 63;
	free(m.sorted);
	fs->serve = SERVE_MIRROR;
	fs->active = &fs->secondary;
	fs->secondary.nconns = fs->primary.nconns;	/* the rest connect
							 * at the next pump */
	fs->failovers++;
	fs->last_failover = time(NULL);
	fs->last_freeze_ms = ev_now_ms() - fs->freeze_start_ms;
	syslog(LOG_CRIT, "failover: serving from the mirror on %s after a "
	       "%.1f s freeze; mirror applied to seq %" PRIu64 ", %u inodes "
	       "moved over (%u without a mirror object), %u held requests "
	       "re-sent; the primary %s is stale from now on and needs a "
	       "resync before it serves again", fs->secondary.url_text,
	       fs->last_freeze_ms / 1000.0, ho->seq, m.mapped, m.missing,
	       held, fs->primary.url_text);
	mirror_handover_release(&fs->mirror);
	fs_resubmit_held(fs, &fs->secondary);
}

/* The keeper applies up to @seq, makes the split-brain guard's marker
 * durable, then hands over. */
static void request_handover(struct fs_ctx *fs, uint64_t seq)
{
	char mark[JSTORE_STALE_SIZE];

	fs->ho_target = seq;
	fs_stale_marker(fs, seq, mark);
	mirror_handover_request(&fs->mirror, seq, mark, sizeof(mark));
}

void fs_failover_pump(struct fs_ctx *fs)
{
	const struct mirror_handover *ho;
	const char *blocked;
	bool primary_up;
	uint64_t durable;

	health_update(&fs->primary_health);
	primary_up = fs->primary_health.state == HEALTH_UP;
	switch (fs->serve) {
	case SERVE_MIRROR:
	case SERVE_FAILBACK:
		fs_failback_pump(fs);
		return;
	case SERVE_PRIMARY:
		if (fs->primary_health.state != HEALTH_DOWN) {
			fs->failover_blocked_logged = false;
			fs_failback_pump(fs);	/* a mirror to re-attach */
			return;
		}
		blocked = failover_blocked(fs);
		if (!blocked) {
			freeze(fs);
		} else if (!fs->failover_blocked_logged) {
			fs->failover_blocked_logged = true;
			syslog(LOG_ERR, "primary %s lost and no failover: %s; "
			       "I/O waits for the primary",
			       fs->primary.url_text, blocked);
		}
		return;
	case SERVE_FREEZING:
	case SERVE_CATCHUP:
		if (primary_up && !fs_primary_fenced(fs)) {
			unfreeze(fs, "it answers again");
			return;
		}
		/* Whatever made failover possible must still hold (the
		 * secondary may be lost too, the keeper may stop). */
		blocked = failover_blocked(fs);
		if (blocked && !fs_primary_fenced(fs)) {
			unfreeze(fs, blocked);
			return;
		}
		if (blocked) {
			if (!fs->failover_blocked_logged)
				syslog(LOG_CRIT, "starting on the mirror is "
				       "held: %s", blocked);
			fs->failover_blocked_logged = true;
			return;
		}
		break;
	default:
		return;
	}
	switch (fs->serve) {
	case SERVE_FREEZING:
		if (!jw_idle(&fs->jw))
			return;
		request_handover(fs, jnl_app_durable(&fs->jw.app));
		fs->serve = SERVE_CATCHUP;
		return;
	case SERVE_CATCHUP:
		durable = jnl_app_durable(&fs->jw.app);
		if (!jw_idle(&fs->jw))
			return;
		if (durable > fs->ho_target) {
			request_handover(fs, durable);
			return;
		}
		ho = mirror_handover_poll(&fs->mirror);
		if (ho)
			switch_to_mirror(fs, ho);
		return;
	default:
		return;
	}
}
