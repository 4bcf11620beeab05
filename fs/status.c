/*
 * status.c — the mount's state as `ofsrep status` shows it, built on the
 * loop thread from what the data path (replica/export.c), the journal
 * writer (replica/jwriter.c) and the mirror keeper (replica/mirror.c)
 * already keep.  fs/ctl.c serves it over the control socket;
 * fs/status_cli.c prints it.
 *
 * HEALTH (the client's exit code in brackets):
 *   healthy  [0]  every export answers, the journal is written to the
 *                 secondary, the mirror keeper applies (or is off by
 *                 noapply);
 *   degraded [1]  service goes on with less protection: no secondary
 *                 (primary_only); the secondary lost (journal in the local
 *                 spool), being caught up, or stale after a spool
 *                 overflow; failed over (the mirror serves, the primary is
 *                 stale); the mirror keeper retrying or stopped on damage;
 *                 writers held at journal_max;
 *   broken   [2]  this mount cannot serve everything now: the primary has
 *                 no connection or does not answer and there is no
 *                 failover (yet, or possible); a failover in progress (I/O
 *                 held); mutations waiting because neither the journal nor
 *                 the spool can be written; the journal's lease taken
 *                 over.  Also the client's answer when no daemon answers
 *                 for the mount point.
 *
 * JSON, version 1 (fields are only ever added; absent facts are null):
 *
 *   {"version":1, "mountpoint":STR, "pid":N, "node":N,
 *    "mode":"journal"|"full"|"async"|"none",
 *    "health":"healthy"|"degraded"|"broken", "problems":[STR...],
 *    "serving":"primary"|"freezing"|"catching-up"|"mirror"|"failing-back",
 *    "failback":null | {"policy":"auto"|"manual", "settle_s":N,
 *       "state":"off"|"copying"|"in-sync"|"freezing"|"final-pass"|
 *       "switching"|"failed" (fs/failback.c), "passes":N, "objects":N,
 *       "bytes_compared":N, "fixed":N, "bytes_copied":N (the pass
 *       running, or the last one), "in_sync_for_s":F|null,
 *       "due_in_s":F|null (auto), "error":STR|null, "count":N,
 *       "last_unix_time":N|null, "last_freeze_s":F|null},
 *    "last_failover":null | {"unix_time":N, "freeze_s":F, "count":N},
 *    "resync":null | {"target":"secondary", "source":"spool",
 *       "bytes_total":N, "bytes_left":N} | {"target":"secondary",
 *       "source":"tree" (after a spool overflow, fs/reattach.c),
 *       "state":STR (as failback's), "passes":N, "objects":N,
 *       "bytes_compared":N, "fixed":N, "bytes_copied":N},
 *    "exports":[
 *      {"role":"primary", "url":STR,
 *       "state":"up"|"unresponsive"|"down"|"failing-over"|"stale"|
 *       "resync"|"in-sync"|"failing-back"|"split-brain",
 *       "health":"up"|"suspect"|"down" (replica/health.c),
 *       "connections":N, "connections_up":N, "down_for_s":F|null,
 *       "last_error":STR|null},
 *      {"role":"secondary", "url":STR|null,
 *       "state":"up"|"lost"|"resync"|"stale"|"failing"|"unused",
 *       "health":"up"|"suspect"|"down"|null,
 *       "failed_writes":N, "outages":N, "lost_for_s":F|null,
 *       "lost_because":STR|null,
 *       "spool":null | {"path":STR, "bytes":N, "max_bytes":N,
 *          "groups_spooled":N, "overflowed":BOOL},
 *       "last_error":STR|null, "last_error_age_s":F|null}],
 *    "journal":null | {"route":"direct"|"spooling"|"draining"|
 *       "detached" (replica/jw_io.c), "appended":N, "groups":N,
 *       "durable_seq":N,
 *       "waiting_records":N, "throttled":BOOL, "backlog_bytes":N,
 *       "journal_max_bytes":N},
 *    "mirror":null | {"state":"idle"|"applying"|"retrying"|"damaged"|
 *       "stopped"|"lease-lost"|"live"|"off", "applied_seq":N|null,
 *       "lag_records":N, "lag_bytes":N, "lag_s":F, "runs":N,
 *       "trimmed_segments":N}}
 *
 * failback is null without a journal (primary_only); resync describes
 * the spool being written to a returning secondary.
 * lag_s is the age of the last applied record while records wait (an
 * upper bound of the oldest unapplied record's age), 0 when caught up.
 * The JSON is flat and made in this one place, so strings are escaped by
 * hand (json_str) rather than through a JSON library.
 */
#include "fs/fs.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROBLEMS 8

struct report {
	const char *health;
	int code;
	const char *problems[MAX_PROBLEMS];
	unsigned nproblems;
	int conns_up;
	bool answering;
	const char *primary_err;
	const char *primary_state;
	const char *secondary_state;
	int route;			/* enum jw_route */
	const char *mirror_state;
	bool have_applied;
	struct mirror_pos applied;
	uint64_t durable;
	uint64_t waiting;
	double lag_s;
	struct fb_view fb;
};

static void problem(struct report *r, int code, const char *what)
{
	if (r->nproblems < MAX_PROBLEMS)
		r->problems[r->nproblems++] = what;
	if (code > r->code)
		r->code = code;
}

/* The secondary's state is where journal groups go (replica/jw_io.c). */
static void secondary_assess(struct fs_ctx *fs, struct report *r)
{
	int route = atomic_load(&fs->jw.route);

	r->route = route;
	if (!fs->journaling) {
		r->secondary_state = "unused";
		return;
	}
	if (fs->jw.failures) {
		r->secondary_state = "failing";
		problem(r, 2, route == JW_ROUTE_DIRECT ?
			"secondary: journal writes fail and there is no spool "
			"(spool_max=0); mutations wait for it" :
			"spool: writing the local spool fails; mutations "
			"wait (is the local disk full?)");
		return;
	}
	switch (route) {
	case JW_ROUTE_SPOOLING:
		r->secondary_state = "lost";
		problem(r, 1, "secondary lost: mutations are kept in the "
			"local spool until it answers again");
		break;
	case JW_ROUTE_DRAINING:
		r->secondary_state = "resync";
		problem(r, 1, "secondary back: the spool is being written to "
			"its journal");
		break;
	case JW_ROUTE_DETACHED:
		if (r->fb.to_mirror && r->fb.phase != FB_OFF &&
		    r->fb.phase != FB_FAILED) {
			r->secondary_state = "resync";
			problem(r, 1, "secondary back after a spool overflow: "
				"its mirror is being resynced from the primary "
				"(online)");
			break;
		}
		r->secondary_state = "stale";
		problem(r, 1, "secondary stale: the spool overflowed, nothing "
			"is replicated; the mirror is resynced from the primary "
			"once the secondary answers");
		break;
	default:
		r->secondary_state = "up";
	}
}

static void assess(struct fs_ctx *fs, struct report *r)
{
	struct rep_export *p = &fs->primary;
	int ms;

	memset(r, 0, sizeof(*r));
	for (int i = 0; i < p->nconns; i++) {
		r->conns_up += p->conns[i].state == REP_CONN_UP;
		if (p->conns[i].last_error[0] && !r->primary_err)
			r->primary_err = p->conns[i].last_error;
	}
	/* Answering: a successful reply within the health window
	 * (replica/health.c); a TCP connection alone proves nothing (a
	 * stopped server's kernel still accepts). */
	r->answering = r->conns_up && ev_now_ms() < p->last_ok_ms +
		       fs->primary_health.window_ms;
	r->primary_state = r->answering ? "up" : r->conns_up ?
			   "unresponsive" : "down";
	fs_failback_view(fs, &r->fb);
	switch (fs->serve) {
	case SERVE_MIRROR:
		if (r->fb.split_brain) {
			r->primary_state = "split-brain";
			problem(r, 1, "split brain: the primary was written "
				"without a journal since the failover; the "
				"mirror keeps serving and nothing is merged: "
				"unmount, then ofsrep-fsck -y "
				"--keep=secondary|primary");
			break;
		}
		r->primary_state = r->fb.phase == FB_COPYING ? "resync" :
				   r->fb.phase == FB_IN_SYNC ? "in-sync" :
				   "stale";
		problem(r, 1, r->fb.phase == FB_IN_SYNC ?
			(fs->opts.failback_manual ?
			 "failed over: the primary is in sync again and waits "
			 "for `ofsrep failback` (failback=manual)" :
			 "failed over: the primary is in sync again; failback "
			 "once it has been so for failback_settle") :
			r->fb.phase == FB_COPYING ?
			"failed over: the mirror serves; the primary is being "
			"brought up to date from it (resync)" :
			"failed over: the mirror on the secondary serves "
			"everything; the primary is stale until it answers "
			"again and is brought up to date (resync)");
		break;
	case SERVE_FAILBACK:
		if (r->fb.to_mirror) {
			problem(r, 2, "re-attaching the mirror: I/O is held "
				"for the final resync pass");
			break;
		}
		r->primary_state = "failing-back";
		problem(r, 2, "failing back to the primary: I/O is held for "
			"the final resync pass");
		break;
	case SERVE_FREEZING:
	case SERVE_CATCHUP:
		r->primary_state = "failing-over";
		problem(r, 2, "primary lost: failing over to the mirror; I/O "
			"is held until the mirror has every journaled mutation");
		break;
	default:
		if (!r->conns_up)
			problem(r, 2, "primary: no connection; I/O waits for "
				"it, or for a failover");
		else if (!r->answering)
			problem(r, 2, "primary: does not answer (hung or cut "
				"off); I/O waits for it, or for a failover");
	}
	secondary_assess(fs, r);
	if (!fs->opts.secondary)
		problem(r, 1, "no secondary: nothing is replicated "
			"(primary_only)");
	r->mirror_state = "off";
	if (!fs->journaling)
		return;
	r->durable = jnl_app_durable(&fs->jw.app);
	/* appended (encoded) but not yet durable */
	r->waiting = fs->jw.app.next_seq - 1 > r->durable ?
		     fs->jw.app.next_seq - 1 - r->durable : 0;
	if (fs->jw.throttled)
		problem(r, 1, "journal: journal_max reached; writers wait "
			"for the mirror applier");
	if (atomic_load(&fs->mirror.lease_lost))
		problem(r, 2, "journal lease taken over by another process: "
			"two writers for one node? unmount this mount");
	if (!fs->mirror.started || fs->opts.no_apply)
		return;
	ms = atomic_load(&fs->mirror.state);
	r->mirror_state = mirror_state_name(ms);
	r->have_applied = mirror_applied(&fs->mirror, &r->applied);
	if (ms == MIRROR_RETRYING)
		problem(r, 1, "mirror: applying fails; retrying");
	if (ms == MIRROR_DAMAGED)
		problem(r, 1, "mirror: applying stopped on a damaged journal; "
			"run ofsrep-journal check");
	if (r->have_applied && r->durable > r->applied.seq &&
	    r->applied.time_ns) {
		struct timespec now;

		clock_gettime(CLOCK_REALTIME, &now);
		r->lag_s = (double)now.tv_sec - r->applied.time_ns / 1e9 +
			   now.tv_nsec / 1e9;
		if (r->lag_s < 0)
			r->lag_s = 0;
	}
}

/* ---- output ---- */

struct out {
	char *buf;
	size_t cap;
	size_t len;
};

static void put(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		o->len += (size_t)n < o->cap - o->len ? (size_t)n :
			  o->cap - o->len - 1;
}

static void json_str(struct out *o, const char *s)
{
	if (!s) {
		put(o, "null");
		return;
	}
	put(o, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			put(o, "\\%c", c);
		else if (c < 0x20)
			put(o, "\\u%04x", c);
		else
			put(o, "%c", c);
	}
	put(o, "\"");
}

static const char *health_name(int code)
{
	return code == 0 ? "healthy" : code == 1 ? "degraded" : "broken";
}

static uint64_t lag_records(const struct report *r)
{
	if (!r->have_applied)
		return r->durable;
	return r->durable > r->applied.seq ? r->durable - r->applied.seq : 0;
}

static void failback_json(struct fs_ctx *fs, const struct report *r,
			  struct out *o)
{
	const struct fb_view *v = &r->fb;

	if (!fs->journaling) {
		put(o, "null");
		return;
	}
	put(o, "{\"policy\":\"%s\",\"settle_s\":%d,\"state\":\"%s\","
	    "\"passes\":%u,\"objects\":%" PRIu64 ",\"bytes_compared\":%"
	    PRIu64 ",\"fixed\":%" PRIu64 ",\"bytes_copied\":%" PRIu64
	    ",\"in_sync_for_s\":", fs->opts.failback_manual ? "manual" :
	    "auto", fs->opts.failback_settle_s,
	    v->to_mirror ? "off" :
	    fs->serve == SERVE_FAILBACK && v->phase == FB_IN_SYNC ?
	    "freezing" : fs_failback_phase_name(v->phase), v->passes,
	    v->pass.entries, v->pass.bytes, v->pass.fixed, v->pass.copied);
	if (v->in_sync_for_s >= 0)
		put(o, "%.1f", v->in_sync_for_s);
	else
		put(o, "null");
	put(o, ",\"due_in_s\":");
	if (v->due_in_s >= 0)
		put(o, "%.1f", v->due_in_s);
	else
		put(o, "null");
	put(o, ",\"error\":");
	json_str(o, v->err[0] ? v->err : NULL);
	put(o, ",\"count\":%" PRIu64 ",\"last_unix_time\":", fs->fb.failbacks);
	if (fs->fb.last_failback)
		put(o, "%lld,\"last_freeze_s\":%.1f}",
		    (long long)fs->fb.last_failback,
		    fs->fb.last_freeze_ms / 1000.0);
	else
		put(o, "null,\"last_freeze_s\":null}");
}

static void status_json(struct fs_ctx *fs, const struct report *r,
			struct out *o)
{
	struct rep_export *p = &fs->primary;

	put(o, "{\"version\":1,\"mountpoint\":");
	json_str(o, fs->opts.mountpoint);
	put(o, ",\"pid\":%d,\"node\":%d,\"mode\":\"%s\",\"health\":\"%s\","
	    "\"problems\":[", (int)getpid(), fs->opts.node,
	    fs_mode_name(fs->mode), health_name(r->code));
	for (unsigned i = 0; i < r->nproblems; i++) {
		put(o, i ? "," : "");
		json_str(o, r->problems[i]);
	}
	put(o, "],\"serving\":\"%s\",\"failback\":",
	    fs->serve == SERVE_FAILBACK && r->fb.to_mirror ? "primary" :
	    fs_serve_name(fs->serve));
	failback_json(fs, r, o);
	put(o, ",\"last_failover\":");
	if (fs->last_failover)
		put(o, "{\"unix_time\":%lld,\"freeze_s\":%.1f,\"count\":%" PRIu64
		    "}", (long long)fs->last_failover,
		    fs->last_freeze_ms / 1000.0, fs->failovers);
	else
		put(o, "null");
	put(o, ",\"resync\":");
	if (r->fb.to_mirror && r->fb.phase != FB_OFF)
		put(o, "{\"target\":\"secondary\",\"source\":\"tree\","
		    "\"state\":\"%s\",\"passes\":%u,\"objects\":%" PRIu64
		    ",\"bytes_compared\":%" PRIu64 ",\"fixed\":%" PRIu64
		    ",\"bytes_copied\":%" PRIu64 "}",
		    fs_failback_phase_name(r->fb.phase), r->fb.passes,
		    r->fb.pass.entries, r->fb.pass.bytes, r->fb.pass.fixed,
		    r->fb.pass.copied);
	else if (r->route == JW_ROUTE_DRAINING)
		put(o, "{\"target\":\"secondary\",\"source\":\"spool\","
		    "\"bytes_total\":%" PRIu64 ",\"bytes_left\":%" PRIu64 "}",
		    atomic_load(&fs->jw.drain_total),
		    atomic_load(&fs->jw.spool_bytes));
	else
		put(o, "null");
	put(o, ",\"exports\":[{\"role\":\"primary\",\"url\":");
	json_str(o, p->url_text);
	put(o, ",\"state\":\"%s\",\"health\":\"%s\",\"connections\":%d,"
	    "\"connections_up\":%d,\"down_for_s\":", r->primary_state,
	    health_state_name(fs->primary_health.state), p->nconns,
	    r->conns_up);
	if (r->conns_up || !p->down_since_ms)
		put(o, "null");
	else
		put(o, "%.1f", (ev_now_ms() - p->down_since_ms) / 1000.0);
	put(o, ",\"last_error\":");
	json_str(o, r->primary_err);
	put(o, "},{\"role\":\"secondary\",\"url\":");
	json_str(o, fs->opts.secondary ? fs->secondary.url_text : NULL);
	put(o, ",\"state\":\"%s\",\"health\":", r->secondary_state);
	if (fs->journaling)
		put(o, "\"%s\"",
		    health_state_name(fs->secondary_health.state));
	else
		put(o, "null");
	put(o, ",\"failed_writes\":%" PRIu64 ",\"outages\":%" PRIu64
	    ",\"lost_for_s\":", fs->jw.failed_groups,
	    atomic_load(&fs->jw.outages));
	if (r->route == JW_ROUTE_SPOOLING || r->route == JW_ROUTE_DRAINING)
		put(o, "%.1f", (ev_now_ms() - atomic_load(&fs->jw.lost_at_ms)) /
		    1000.0);
	else
		put(o, "null");
	put(o, ",\"lost_because\":");
	if (r->route != JW_ROUTE_DIRECT && fs->jw.started) {
		pthread_mutex_lock(&fs->jw.mu);
		json_str(o, fs->jw.route_err);
		pthread_mutex_unlock(&fs->jw.mu);
	} else {
		put(o, "null");
	}
	put(o, ",\"spool\":");
	if (fs->jw.spool_on)
		put(o, "{\"path\":\"%s\",\"bytes\":%" PRIu64 ",\"max_bytes\":%"
		    PRIu64 ",\"groups_spooled\":%" PRIu64 ",\"overflowed\":%s}",
		    fs->jw.spool.path, atomic_load(&fs->jw.spool_bytes),
		    fs->jw.spool.max_bytes,
		    atomic_load(&fs->jw.spooled_groups),
		    r->route == JW_ROUTE_DETACHED ? "true" : "false");
	else
		put(o, "null");
	put(o, ",\"last_error\":");
	json_str(o, fs->jw.last_err[0] ? fs->jw.last_err : NULL);
	put(o, ",\"last_error_age_s\":");
	if (fs->jw.last_failure_ms)
		put(o, "%.1f", (ev_now_ms() - fs->jw.last_failure_ms) /
		    1000.0);
	else
		put(o, "null");
	put(o, "}],\"journal\":");
	if (!fs->journaling) {
		put(o, "null,\"mirror\":null}\n");
		return;
	}
	put(o, "{\"route\":\"%s\",\"appended\":%" PRIu64 ",\"groups\":%"
	    PRIu64
	    ",\"durable_seq\":%" PRIu64 ",\"waiting_records\":%" PRIu64
	    ",\"throttled\":%s,\"backlog_bytes\":%" PRIu64
	    ",\"journal_max_bytes\":%" PRIu64 "},\"mirror\":",
	    jw_route_name(r->route), fs->jw.records, fs->jw.groups, r->durable, r->waiting,
	    fs->jw.throttled ? "true" : "false", jw_backlog(&fs->jw),
	    fs->jw.backlog_max);
	if (fs->opts.no_apply) {
		put(o, "{\"state\":\"off\"}}\n");
		return;
	}
	put(o, "{\"state\":\"%s\",\"applied_seq\":", r->mirror_state);
	if (r->have_applied)
		put(o, "%" PRIu64, r->applied.seq);
	else
		put(o, "null");
	put(o, ",\"lag_records\":%" PRIu64 ",\"lag_bytes\":%" PRIu64
	    ",\"lag_s\":%.1f,\"runs\":%" PRIu64 ",\"trimmed_segments\":%"
	    PRIu64 "}}\n", lag_records(r), jw_backlog(&fs->jw), r->lag_s,
	    atomic_load(&fs->mirror.runs), atomic_load(&fs->mirror.trimmed));
}

/* A table in the manner of `ctdb status`. */
static void status_text(struct fs_ctx *fs, const struct report *r,
			struct out *o)
{
	struct rep_export *p = &fs->primary;

	put(o, "ofsrep on %s (pid %d, node %d, mode %s): %s\n",
	    fs->opts.mountpoint, (int)getpid(), fs->opts.node,
	    fs_mode_name(fs->mode), health_name(r->code));
	for (unsigned i = 0; i < r->nproblems; i++)
		put(o, "  ! %s\n", r->problems[i]);
	if (fs->last_failover && fs->serve != SERVE_PRIMARY) {
		char when[64];
		struct tm tm;

		localtime_r(&fs->last_failover, &tm);
		strftime(when, sizeof(when), "%F %T", &tm);
		put(o, "serving    %s since a failover at %s (I/O froze %.1f "
		    "s)\n", fs_serve_name(fs->serve), when,
		    fs->last_freeze_ms / 1000.0);
	}
	if (fs->serve == SERVE_MIRROR || fs->serve == SERVE_FAILBACK ||
	    fs->fb.failbacks) {
		const struct fb_view *v = &r->fb;

		put(o, "failback   %s (settle %d s): resync %s, %u passes; %s "
		    "%" PRIu64 " objects, %.1f MiB compared, %" PRIu64
		    " fixed, %.1f MiB copied", fs->opts.failback_manual ?
		    "manual" : "auto", fs->opts.failback_settle_s,
		    fs_failback_phase_name(v->phase), v->passes,
		    v->pass_running ? "this pass" : "last pass",
		    v->pass.entries, v->pass.bytes / 1048576.0, v->pass.fixed,
		    v->pass.copied / 1048576.0);
		if (v->in_sync_for_s >= 0)
			put(o, "; in sync for %.0f s", v->in_sync_for_s);
		if (v->due_in_s >= 0)
			put(o, "; failback in %.0f s", v->due_in_s);
		if (fs->fb.failbacks)
			put(o, "; %" PRIu64 " failbacks (last froze %.1f s)",
			    fs->fb.failbacks, fs->fb.last_freeze_ms / 1000.0);
		put(o, "%s%s\n", v->err[0] ? "; failed: " : "", v->err);
	}
	put(o, "%-10s %-8s %s\n", "ROLE", "STATE", "EXPORT / DETAIL");
	put(o, "%-10s %-8s %s\n", "primary", r->primary_state, p->url_text);
	put(o, "%-10s %-8s %d of %d connections up%s%s\n", "", "",
	    r->conns_up, p->nconns, r->primary_err ? "; last error: " : "",
	    r->primary_err ? r->primary_err : "");
	put(o, "%-10s %-8s %s\n", "secondary", r->secondary_state,
	    fs->opts.secondary ? fs->secondary.url_text : "(none)");
	if (fs->jw.spool_on && (r->route != JW_ROUTE_DIRECT ||
				atomic_load(&fs->jw.outages)))
		put(o, "%-10s %-8s spool %s: %.1f MiB of %" PRIu64 " MiB, %"
		    PRIu64 " groups spooled, %" PRIu64 " outages this mount\n",
		    "", "", fs->jw.spool.path,
		    atomic_load(&fs->jw.spool_bytes) / 1048576.0,
		    fs->jw.spool.max_bytes >> 20,
		    atomic_load(&fs->jw.spooled_groups),
		    atomic_load(&fs->jw.outages));
	if (fs->jw.last_err[0])
		put(o, "%-10s %-8s last journal write error (%.0f s ago): "
		    "%s\n", "", "", (ev_now_ms() - fs->jw.last_failure_ms) /
		    1000.0, fs->jw.last_err);
	if (!fs->journaling)
		return;
	put(o, "journal    %" PRIu64 " records in %" PRIu64 " groups this "
	    "mount, durable to seq %" PRIu64 ", %" PRIu64 " waiting%s\n",
	    fs->jw.records, fs->jw.groups, r->durable, r->waiting,
	    fs->jw.throttled ? ", HELD at journal_max" : "");
	if (fs->opts.no_apply) {
		put(o, "mirror     off (noapply)\n");
		return;
	}
	put(o, "mirror     %s; lag %" PRIu64 " records, %.1f MiB, %.1f s "
	    "(journal_max %" PRIu64 " MiB); %" PRIu64 " segments trimmed\n",
	    r->mirror_state, lag_records(r), jw_backlog(&fs->jw) /
	    1048576.0, r->lag_s, fs->jw.backlog_max >> 20,
	    atomic_load(&fs->mirror.trimmed));
}

/* Writes the report into buf (NUL-terminated, truncated to fit) and
 * returns the health code (0 healthy, 1 degraded, 2 broken). */
int fs_status(struct fs_ctx *fs, bool json, char *buf, size_t size)
{
	struct report r;
	struct out o = { .buf = buf, .cap = size, .len = 0 };

	buf[0] = 0;
	assess(fs, &r);
	if (json)
		status_json(fs, &r, &o);
	else
		status_text(fs, &r, &o);
	return r.code;
}
