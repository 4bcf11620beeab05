/*
 * main.c — the ofsrep daemon: options, probing the exports, mounting, and
 * the event loop that serves the mount.
 *
 * Order (after libfuse's passthrough_ll): parse options → validate the
 * URLs → probe both exports (MOUNT + FSINFO, bounded by probe_timeout) so
 * that a wrong URL or a dead NAS fails the mount with one line before
 * anything is mounted → create the FUSE session (rejects unknown options)
 * → mount → daemonize unless -f → loop → unmount.  Teardown runs in reverse
 * through labels named for what they release.
 *
 * Exit codes: 0 clean unmount, 1 bad usage or option, 2 an export could
 * not be reached or mounted, 3 FUSE mount failed, 4 runtime failure.
 */
#include "fs/fs.h"
#include "replica/lease.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#define LOOP_ENTRIES	256
#define LOOP_TICK_MS	100
#define FUSE_BATCH	32	/* requests read per wake-up, for fairness */
#define FS_DRAIN_MS	30000	/* unmount waits this long for COMMITs */
#define FS_MIRROR_DRAIN_MS 20000 /* ... and this long for the applier */

const struct fuse_lowlevel_ops fs_ops = {
	.lookup		= fs_op_lookup,
	.forget		= fs_op_forget,
	.forget_multi	= fs_op_forget_multi,
	.getattr	= fs_op_getattr,
	.setattr	= fs_op_setattr,
	.readlink	= fs_op_readlink,
	.mknod		= fs_op_mknod,
	.mkdir		= fs_op_mkdir,
	.unlink		= fs_op_unlink,
	.rmdir		= fs_op_rmdir,
	.symlink	= fs_op_symlink,
	.rename		= fs_op_rename,
	.link		= fs_op_link,
	.open		= fs_op_open,
	.read		= fs_op_read,
	.write		= fs_op_write,
	.flush		= fs_op_flush,
	.release	= fs_op_release,
	.fsync		= fs_op_fsync,
	.opendir	= fs_op_opendir,
	.readdir	= fs_op_readdir,
	.readdirplus	= fs_op_readdirplus,
	.releasedir	= fs_op_releasedir,
	.fsyncdir	= fs_op_fsyncdir,
	.statfs		= fs_op_statfs,
	.access		= fs_op_access,
	.create		= fs_op_create,
	.setxattr	= fs_op_setxattr,
	.getxattr	= fs_op_getxattr,
	.listxattr	= fs_op_listxattr,
	.removexattr	= fs_op_removexattr,
	.init		= NULL,
};

static void fs_init_conn(void *userdata, struct fuse_conn_info *conn)
{
	/* 1 MiB per request: one FUSE write becomes one NFS WRITE. */
	conn->max_write = 1 << 20;
	conn->max_readahead = 1 << 20;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;	/* acks must be real */
	/* O_TRUNC then arrives as a setattr, which commits pending unstable
	 * writes before truncating (fs_op_setattr). */
	conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
	/* The NAS sees root (CAP_FSETID) and would keep set-uid/set-gid bits
	 * on a write by another user: let the kernel clear them. */
	conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
}

/* ---- the FUSE channel on the loop ---- */

static void fuse_poll_cb(struct ev_token *tok, int res);

static void fuse_arm(struct fs_ctx *fs)
{
	if (!fs->fuse_tok && !fuse_session_exited(fs->se))
		fs->fuse_tok = ev_poll_arm(&fs->loop, fuse_session_fd(fs->se),
					   POLLIN, fuse_poll_cb, fs, 0);
}

static void fuse_poll_cb(struct ev_token *tok, int res)
{
	struct fs_ctx *fs = tok->ctx;

	fs->fuse_tok = NULL;
	for (int i = 0; i < FUSE_BATCH; i++) {
		int n = fuse_session_receive_buf(fs->se, &fs->fbuf);

		if (!fs->fbuf_cap && fs->fbuf.mem)
			fs->fbuf_cap = malloc_usable_size(fs->fbuf.mem);

		if (n == -EAGAIN || n == -EINTR)
			break;
		if (n <= 0) {	/* 0 or -ENODEV: unmounted */
			fuse_session_exit(fs->se);
			break;
		}
		fuse_session_process_buf(fs->se, &fs->fbuf);
	}
}

/* Unmount: a spool is written to the journal first if the secondary
 * answers (else the next mount does it).  Down but connected again may
 * mean it is coming back (its next heartbeat answer makes it UP, the
 * writer's probe then starts the drain), or that a hung server's kernel
 * still accepts connections: so that is waited for only as long as the
 * health window, the longest a live server goes without an answer. */
static bool fs_spool_settled(struct fs_ctx *fs)
{
	int route = atomic_load(&fs->jw.route);
	uint64_t waited = ev_now_ms() + FS_DRAIN_MS - fs->drain_deadline_ms;

	if (route == JW_ROUTE_DIRECT || route == JW_ROUTE_DETACHED)
		return true;
	if (fs->secondary_health.state != HEALTH_DOWN)
		return false;
	return !fs->secondary.up || waited >= fs->secondary_health.window_ms;
}

/* The exports' queues and health, then the journal writer. */
static void fs_pump(struct fs_ctx *fs)
{
	rep_export_pump(&fs->primary);
	if (!fs->journaling)
		return;
	rep_export_pump(&fs->secondary);
	health_update(&fs->secondary_health);
	jw_peer_state(&fs->jw, fs->secondary_health.state == HEALTH_DOWN);
	jw_pump(&fs->jw);
}

static void fs_after_batch(void *ctx)
{
	struct fs_ctx *fs = ctx;

	if (fuse_session_exited(fs->se)) {
		/* Unmounted: commit what the NAS may still hold only in
		 * memory before the retained copies are thrown away. */
		if (!fs->drain_started) {
			fs->drain_started = true;
			fs->drain_deadline_ms = ev_now_ms() + FS_DRAIN_MS;
			if (wb_drain_all(fs))
				syslog(LOG_NOTICE, "unmount: committing %u "
				       "files", fs->draining);
		}
		if ((!fs->draining && !fs->mtime_pending &&
		     !fs->drops_pending &&
		     (!fs->journaling || (jw_idle(&fs->jw) &&
					  fs_spool_settled(fs)))) ||
		    ev_now_ms() > fs->drain_deadline_ms) {
			if (fs->draining)
				syslog(LOG_ERR, "unmount: %u files not "
				       "committed within %d s", fs->draining,
				       FS_DRAIN_MS / 1000);
			fs->loop.stop = true;
			return;
		}
		fs_pump(fs);
		return;
	}
	fs_pump(fs);
	fs_failover_pump(fs);
	/* Detached, the writer's seqs run past a journal that stopped:
	 * nothing for the keeper to reach (fs/reattach.c). */
	if (fs_recording(fs) &&
	    atomic_load(&fs->jw.route) != JW_ROUTE_DETACHED) {
		mirror_kick(&fs->mirror, jnl_app_durable(&fs->jw.app),
			    jw_backlog(&fs->jw));
	}
	fs_ctl_pump(fs);
	fuse_arm(fs);
}

static int fs_applied(void *arg, uint64_t *segno, uint64_t *offset)
{
	struct mirror *m = arg;
	struct mirror_pos pos;

	if (atomic_load(&m->state) == MIRROR_DAMAGED)
		return -1;
	if (!mirror_applied(m, &pos))
		return 0;
	*segno = pos.segno;
	*offset = pos.offset;
	return 1;
}

/* The journal writer's I/O thread, and the mirror keeper unless the
 * mirror is left to `ofsrep-journal apply` (noapply). */
static int fs_start_threads(struct fs_ctx *fs)
{
	struct mirror_conf mc = {
		.url = fs->opts.secondary, .node = (uint32_t)fs->opts.node,
		.timeout_ms = fs->opts.timeout_ms, .trim = true,
		.apply = !fs->opts.no_apply,
		.mountpoint = fs->opts.mountpoint,
	};

	if (!fs->journaling)
		return 0;
	if (jw_start(&fs->jw)) {
		syslog(LOG_ERR, "journal writer thread: cannot start");
		return -1;
	}
	/* With noapply the thread keeps the journal's lease only. */
	if (mirror_start(&fs->mirror, &mc)) {
		syslog(LOG_ERR, "mirror applier thread: cannot start");
		return -1;
	}
	if (fs->opts.no_apply)
		return 0;
	jw_bound(&fs->jw, (uint64_t)fs->opts.journal_max_mb << 20,
		 fs_applied, &fs->mirror);
	return 0;
}

/* ---- set-up and teardown ---- */

/* Raises the mount's readahead window (see opts.c for why).  The device
 * number comes from mountinfo: stat() on our own mount would wait for the
 * loop that is not running yet. */
static void fs_set_readahead(const char *mountpoint, int kb)
{
	char real[PATH_MAX], line[4096], path[128];
	unsigned maj, min;
	FILE *f;

	if (!realpath(mountpoint, real) ||
	    !(f = fopen("/proc/self/mountinfo", "r")))
		return;
	while (fgets(line, sizeof(line), f)) {
		char mnt[PATH_MAX];

		if (sscanf(line, "%*d %*d %u:%u %*s %4095s", &maj, &min,
			   mnt) == 3 && !strcmp(mnt, real)) {
			snprintf(path, sizeof(path),
				 "/sys/class/bdi/%u:%u/read_ahead_kb", maj, min);
			FILE *ra = fopen(path, "w");

			if (ra) {
				fprintf(ra, "%d\n", kb);
				fclose(ra);
			}
		}
	}
	fclose(f);
}

/* Before mounting: the journal is this mount's to write (lease.c L1,
 * L3); the daemon's mirror keeper renews the lease from then on. */
static int fs_take_lease(struct fs_ctx *fs, char *err, size_t errlen)
{
	struct lease me;
	int rc;

	lease_self(&me, fs->opts.no_apply ? "ofsrep-noapply" : "ofsrep",
		   fs->opts.mountpoint);
	rc = lease_take(&fs->jw.js, &me, err, errlen);
	if (rc == -EBUSY) {
		size_t n = strlen(err);

		snprintf(err + n, errlen - n, "; stop it first (or, if it is "
			 "dead on another host, wait %d s for the lease to "
			 "expire); is node=%d given to two mounts?",
			 LEASE_TTL_S + LEASE_SKEW_S, fs->opts.node);
	}
	if (rc)
		jw_close(&fs->jw);
	return rc;
}

/* A primary that cannot be reached at mount may be replaced by the
 * mirror from the start (docs/failover.md, restart while degraded), as a
 * failover would: only in a journal mode with failover on. */
static bool fs_may_start_on_mirror(const struct fs_ctx *fs)
{
	return fs->opts.secondary && fs->opts.mode != FS_MODE_NONE &&
	       !fs->opts.no_apply && !fs->opts.failover_off;
}

/* The journal is open: start frozen, the failover machine switches to
 * the mirror once the keeper has applied the journal (fs/failover.c). */
static int fs_start_on_mirror(struct fs_ctx *fs, const char *why)
{
	if (fs->jw.app.next_seq <= 1) {
		/* No journal yet: no mirror either; a typo in the URL must
		 * not look like a degraded start. */
		fprintf(stderr, "ofsrep: %s (and %s holds no journal of node "
			"%d yet, so there is no mirror to start on)\n", why,
			fs->secondary.url_text, fs->opts.node);
		jw_close(&fs->jw);
		return -1;
	}
	if (atomic_load(&fs->jw.route) != JW_ROUTE_DIRECT) {
		/* jw_io_recover found an overflowed spool: the mirror lacks
		 * acknowledged records, NAS a is the only copy of them. */
		fprintf(stderr, "ofsrep: %s (and the mirror on %s misses "
			"records an earlier mount could not journal: wait for "
			"the primary, then run ofsrep-fsck -y --resync=mirror)"
			"\n", why, fs->secondary.url_text);
		jw_close(&fs->jw);
		return -1;
	}
	fprintf(stderr, "ofsrep: %s; starting degraded, on the mirror of "
		"%s\n", why, fs->secondary.url_text);
	syslog(LOG_ERR, "%s; starting degraded, on the mirror of %s", why,
	       fs->secondary.url_text);
	snprintf(fs->primary_health.why, sizeof(fs->primary_health.why),
		 "%s", fs->primary_stale ? "stale at mount" :
		 "unreachable at mount");
	fs->serve = SERVE_FREEZING;
	fs->freeze_start_ms = ev_now_ms();
	return 0;
}

static int fs_probe(struct fs_ctx *fs)
{
	char primary_err[2048];
	char err[2048];
	char secondary_err[2048] = "";
	bool secondary_down = false;
	int rc;

	rc = rep_export_init(&fs->primary, "primary", fs->opts.primary,
			     fs->opts.conns, fs->opts.timeout_ms, &fs->loop,
			     err, sizeof(err));
	if (!rc && fs->opts.secondary)
		/* One connection for the heartbeat; the failover gives it
		 * the primary's number (fs/failover.c). */
		rc = rep_export_init(&fs->secondary, "secondary",
				     fs->opts.secondary, 1,
				     fs->opts.failover_timeout_ms, &fs->loop,
				     err, sizeof(err));
	if (rc) {
		fprintf(stderr, "ofsrep: %s\n", err);
		return 1;
	}
	rc = rep_export_probe(&fs->primary, fs->opts.probe_timeout_ms, err,
			      sizeof(err));
	if (rc == -EHOSTUNREACH && fs_may_start_on_mirror(fs)) {
		/* Decided once the journal is read: a pair with a history
		 * has a mirror to start on (fs_start_on_mirror). */
		snprintf(primary_err, sizeof(primary_err), "%s", err);
		fs->primary_unprobed = true;
		rc = 0;
	}
	if (!rc && fs->opts.secondary)
		rc = rep_export_probe(&fs->secondary,
				      fs->opts.probe_timeout_ms, err,
				      sizeof(err));
	if (rc == -EHOSTUNREACH && fs->opts.mode != FS_MODE_NONE &&
	    !fs->primary_unprobed) {
		/* NAS b down: the journal may continue from the local tail
		 * record, into the spool (jw_open, journal/tail.c). */
		syslog(LOG_WARNING, "%s", err);
		snprintf(secondary_err, sizeof(secondary_err), "%s", err);
		secondary_down = true;
		rc = 0;
	}
	if (rc) {
		fprintf(stderr, "ofsrep: %s\n", err);
		return 2;
	}
	fs->mode = fs->opts.mode;
	fs->active = &fs->primary;
	if (fs->mode == FS_MODE_NONE) {
		/* writes without a journal: a new generation first, so a
		 * resync from a mirror notices them (fs/split.c) */
		char gerr[1024];

		if (fs_primary_gen_at(fs->opts.primary, (uint32_t)fs->opts.node,
				      fs->opts.probe_timeout_ms, true,
				      &fs->primary_gen, gerr, sizeof(gerr)))
			syslog(LOG_WARNING, "primary generation: %s", gerr);
	}
	health_init(&fs->primary_health, &fs->primary,
		    fs->opts.failover_timeout_ms);
	if (fs->mode != FS_MODE_NONE) {
		char spool[4096];
		struct jw_spool_conf sc = {
			.path = spool,
			.max = (uint64_t)fs->opts.spool_max_mb << 20,
			.failover_timeout_ms = fs->opts.failover_timeout_ms,
			.secondary_down = secondary_down,
		};

		jnl_spool_path(spool, sizeof(spool), fs->opts.spool_dir ?
			       fs->opts.spool_dir : JNL_SPOOL_DIR_DEFAULT,
			       (uint32_t)fs->opts.node, fs->secondary.url_text);
		rc = jw_open(&fs->jw, fs->opts.secondary, fs->opts.node,
			     fs->opts.probe_timeout_ms, &sc, &fs->loop, err,
			     sizeof(err));
		if (!rc)
			snprintf(fs->jw.mountpoint, sizeof(fs->jw.mountpoint),
				 "%s", fs->opts.mountpoint);
		if (!rc && fs->jw.primary_stale_since &&
		    !fs_may_start_on_mirror(fs)) {
			snprintf(err, sizeof(err), "split-brain guard: node %d "
				 "failed over to the mirror on %s at %lld (unix "
				 "time) and wrote it since; the primary is "
				 "stale and this mount may not resync it "
				 "(failover=off or noapply): run ofsrep-fsck -y "
				 "--resync=primary SECONDARY_URL PRIMARY_URL, "
				 "or mount without those options "
				 "(ofsrep-fsck(8), SPLIT BRAIN)", fs->opts.node,
				 fs->secondary.url_text,
				 fs->jw.primary_stale_since);
			jw_close(&fs->jw);
			rc = -ESTALE;
		} else if (!rc && fs->jw.primary_stale_since) {
			snprintf(primary_err, sizeof(primary_err), "the "
				 "primary %s is stale (failed over from at %lld, "
				 "unix time; it is brought up to date online "
				 "once this mount serves)", fs->primary.url_text,
				 fs->jw.primary_stale_since);
			fs->primary_stale = true;
		}
		if (!rc && !fs->primary_unprobed && !fs->jw.from_tail) {
			/* the primary's generation (fs/split.c), kept */
			char gerr[1024];

			if (fs_primary_gen_at(fs->opts.primary,
					      (uint32_t)fs->opts.node,
					      fs->opts.probe_timeout_ms, false,
					      &fs->primary_gen, gerr,
					      sizeof(gerr)))
				syslog(LOG_WARNING, "primary generation: %s; "
				       "a split brain would go unnoticed", gerr);
		}
		if (!rc && fs->jw.primary_stale_since && !fs->jw.from_tail)
			rc = fs_split_check(fs, err, sizeof(err));
		if (rc == -EEXIST)
			jw_close(&fs->jw);
		if (!rc && fs_primary_fenced(fs) &&
		    fs_start_on_mirror(fs, primary_err))
			return 2;
		/* Without NAS b the keeper takes the lease once it answers
		 * (replica/mirror.c). */
		if (!rc && !fs->jw.from_tail)
			rc = fs_take_lease(fs, err, sizeof(err));
		if (rc && secondary_down) {
			/* one line: why NAS b is needed, and what it said */
			fprintf(stderr, "ofsrep: %s; %s\n", secondary_err, err);
			return 2;
		}
		if (rc) {
			fprintf(stderr, "ofsrep: %s\n", err);
			return 2;
		}
		fs->journaling = true;
		health_init(&fs->secondary_health, &fs->secondary,
			    fs->opts.failover_timeout_ms);
	}
	return 0;
}

static int fs_serve(struct fs_ctx *fs)
{
	int fd = fuse_session_fd(fs->se);
	int rc;

	/* Non-blocking so one wake-up can drain several requests. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	fs->loop.after_batch = fs_after_batch;
	fs->loop.ctx = fs;
	rc = ev_loop_run(&fs->loop);
	if (rc < 0)
		syslog(LOG_ERR, "event loop failed: %s", strerror(-rc));
	return rc < 0 ? 4 : 0;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_lowlevel_ops ops = fs_ops;
	struct fs_ctx fs;
	bool loop_up = false;
	int rc;

	memset(&fs, 0, sizeof(fs));
	fs.ctl_fd = -1;
	/* libnfs writes to sockets without MSG_NOSIGNAL. */
	signal(SIGPIPE, SIG_IGN);
	if (argc > 1 && !strcmp(argv[1], "status"))
		return fs_status_main(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "failback"))
		return fs_failback_main(argc - 1, argv + 1);
	rc = fs_opts_parse(&args, &fs.opts);
	if (rc) {
		rc = rc > 0 ? 0 : 1;
		goto out_free_args;
	}
	fs.wb_max = (uint64_t)fs.opts.wb_max_mb << 20;
	/* libfuse rejects unknown options here: before probing, so that a
	 * misspelt option is reported at once and as such, not after (or as)
	 * a NAS that does not answer. */
	ops.init = fs_init_conn;
	fs.se = fuse_session_new(&args, &ops, sizeof(ops), &fs);
	if (!fs.se) {
		rc = 1;		/* libfuse printed which option it rejected */
		goto out_free_args;
	}
	openlog("ofsrep", LOG_PID | (fs.opts.foreground ? LOG_PERROR : 0),
		LOG_DAEMON);
	rc = ev_loop_init(&fs.loop, LOOP_ENTRIES, LOOP_TICK_MS);
	if (rc) {
		fprintf(stderr, "ofsrep: io_uring set-up failed: %s\n",
			strerror(-rc));
		rc = 4;
		goto out_destroy_session;
	}
	loop_up = true;
	rc = fs_probe(&fs);
	if (rc)
		goto out_exit_loop;
	if (ino_table_init(&fs.inodes, fs.primary.root_buf,
			   fs.primary.root.data.data_len)) {
		rc = 4;
		goto out_exit_loop;
	}
	if (fuse_set_signal_handlers(fs.se)) {
		rc = 4;
		goto out_free_inodes;
	}
	if (fuse_session_mount(fs.se, fs.opts.mountpoint)) {
		rc = 3;
		goto out_remove_handlers;
	}
	fs_set_readahead(fs.opts.mountpoint, fs.opts.readahead_kb);
	syslog(LOG_NOTICE, "mounted %s on %s (secondary %s, mode %s)",
	       fs.primary.url_text, fs.opts.mountpoint,
	       fs.opts.secondary ? fs.secondary.url_text : "none",
	       fs_mode_name(fs.mode));
	if (fuse_daemonize(fs.opts.foreground)) {
		rc = 4;
		goto out_unmount;
	}
	if (!fs.opts.foreground) {
		/* The ring is IORING_SETUP_SINGLE_ISSUER: only the task that
		 * created it may submit (io_uring_enter fails with EEXIST),
		 * and daemonizing just forked away from that task.  Nothing
		 * is queued on it yet, so give the daemon a ring of its own.
		 * (The first ring still checked io_uring before mounting.) */
		ev_loop_exit(&fs.loop);
		rc = ev_loop_init(&fs.loop, LOOP_ENTRIES, LOOP_TICK_MS);
		if (rc) {
			loop_up = false;
			syslog(LOG_ERR, "io_uring set-up failed: %s",
			       strerror(-rc));
			rc = 4;
			goto out_unmount;
		}
	}
	if (fs_start_threads(&fs)) {
		rc = 4;
		goto out_unmount;
	}
	fs_ctl_start(&fs);
	rc = fs_serve(&fs);
	fs_ctl_stop(&fs);
	fs_failback_stop(&fs);
out_unmount:
	syslog(LOG_NOTICE, "unmounting %s", fs.opts.mountpoint);
	fuse_session_unmount(fs.se);
out_remove_handlers:
	fuse_remove_signal_handlers(fs.se);
out_free_inodes:
	if (fs.fuse_tok)
		ev_poll_cancel(&fs.loop, fs.fuse_tok);
	rep_export_close(&fs.primary);
	if (fs.opts.secondary)
		rep_export_close(&fs.secondary);
	if (fs.journaling) {
		/* A clean unmount leaves the mirror caught up, if the
		 * secondary lets it within the bound. */
		uint64_t durable = jnl_app_durable(&fs.jw.app);
		/* With the secondary lost there is nothing to wait for. */
		bool direct = atomic_load(&fs.jw.route) == JW_ROUTE_DIRECT;

		/* the journal's end, for a mount while NAS b is down */
		jw_save_tail(&fs.jw, fs.serve != SERVE_PRIMARY ||
			     fs.primary_stale);
		/* the writer first: the lease goes last (mirror_stop) */
		jw_close(&fs.jw);
		mirror_stop(&fs.mirror, durable,
			    direct ? FS_MIRROR_DRAIN_MS : 0);
	}
	ino_table_free(&fs.inodes);
	fs_xattr_free(&fs);
out_exit_loop:
	if (loop_up)
		ev_loop_exit(&fs.loop);
	free(fs.fbuf.mem);
out_destroy_session:
	fuse_session_destroy(fs.se);
out_free_args:
	fs_opts_free(&fs.opts);
	fuse_opt_free_args(&args);
	return rc;
}
