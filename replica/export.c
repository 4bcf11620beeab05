/*
 * export.c — one NFS export, reached over several libnfs raw contexts.
 *
 * Each connection is one rpc_context (TCP to the export's NFS port).  Every
 * context lives on the loop thread; requests are spread round-robin over
 * the connections that are UP, which lets ganesha work on several at once.
 *
 * CONNECTION STATE MACHINE
 *
 *     DOWN --(retry_at reached: rpc_connect_port_async)--> CONNECTING
 *     CONNECTING --(connect callback SUCCESS)------------> UP
 *     CONNECTING --(callback ERROR, or deadline passed)--> FAILED
 *     UP --(rpc_service < 0: POLLHUP/ERR, reset)---------> FAILED
 *     UP --(any request TIMEOUT or ERROR status)---------> FAILED
 *     FAILED --(pump: cancel polls, destroy context)-----> DOWN
 *
 * HEARTBEAT.  A connection UP with nothing in flight for HEARTBEAT_MS
 * sends an NFS NULL; its timeout (the RPC timeout) or error fails the
 * connection like a request's would.  So a hung server (SIGSTOP, network
 * cut) is noticed within HEARTBEAT_MS + rpc_timeout even when idle, and
 * exp->last_ok_ms (every successful answer) tells `ofsrep status` whether
 * the export answers, not only whether a TCP connection exists (the
 * kernel of a stopped server still completes handshakes).
 *
 * Why a timeout fails the whole connection: after a timeout of a partly
 * sent request the TCP stream is unusable (lab-facts), so the context is
 * dropped and a fresh one made.  Contexts are destroyed only from the pump,
 * never inside a libnfs callback, and no request is queued to libnfs from
 * an ERROR or CANCEL callback (libnfs asserts): the callback only puts the
 * request back on the export's wait queue.  Destroying the context calls
 * every in-flight callback with CANCEL, which re-queues them all; they are
 * sent again when a connection is UP.  libnfs's own auto-reconnect is off;
 * reconnects back off from 100 ms to 1 s.
 *
 * What this file does not do: decide what a lost export means for the
 * filesystem.  In the primary-only data path requests simply wait for the
 * export to come back (an NFS "hard" mount); failover is a later layer.
 */
#include "replica/export.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#define CONNECT_TIMEOUT_MS	3000
#define BACKOFF_MIN_MS		100
#define BACKOFF_MAX_MS		1000
#define JUKEBOX_DELAY_MS	100	/* server said "busy, try later" */
#define HEARTBEAT_MS		1000

static void conn_arm(struct rep_conn *c);

int rep_export_init(struct rep_export *exp, const char *name,
		    const char *url, int nconns, int timeout_ms,
		    struct ev_loop *loop, char *err, size_t errlen)
{
	int rc;

	memset(exp, 0, sizeof(*exp));
	rc = rep_url_parse(url, &exp->url, err, errlen);
	if (rc)
		return rc;
	exp->name = name;
	snprintf(exp->url_text, sizeof(exp->url_text), "%s", url);
	exp->nconns = nconns < 1 ? 1 : nconns > REP_MAX_CONNS ?
		      REP_MAX_CONNS : nconns;
	exp->timeout_ms = timeout_ms;
	exp->loop = loop;
	exp->root.data.data_val = exp->root_buf;
	exp->rtmax = exp->wtmax = 1 << 20;
	/* All of them, so that nconns may grow later (failover). */
	for (int i = 0; i < REP_MAX_CONNS; i++) {
		exp->conns[i].exp = exp;
		exp->conns[i].index = i;
		exp->conns[i].state = REP_CONN_DOWN;
	}
	return 0;
}

/* ---- synchronous probe, used once before mounting ---- */

struct probe_wait {
	bool done;
	bool answered_no;	/* the server answered, with an error */
	int status;
	char error[160];
	void *res_copy;		/* filled by the result handler */
	struct rep_export *exp;
};

static void probe_connect_cb(struct rpc_context *rpc, int status, void *data,
			     void *priv)
{
	struct probe_wait *w = priv;

	w->done = true;
	w->status = status;
	if (status != RPC_STATUS_SUCCESS)
		snprintf(w->error, sizeof(w->error), "%s",
			 data ? (char *)data : "connection failed");
}

/* Runs @rpc with poll(2) until @w->done or @timeout_ms passes. */
static int probe_wait_for(struct rpc_context *rpc, struct probe_wait *w,
			  int timeout_ms)
{
	uint64_t deadline = ev_now_ms() + timeout_ms;

	while (!w->done) {
		struct pollfd pfd = {
			.fd = rpc_get_fd(rpc),
			.events = rpc_which_events(rpc),
		};
		uint64_t now = ev_now_ms();

		if (now >= deadline) {
			snprintf(w->error, sizeof(w->error),
				 "no answer within %d ms", timeout_ms);
			return -ETIMEDOUT;
		}
		if (poll(&pfd, 1, 100) < 0 && errno != EINTR)
			return -errno;
		if (rpc_service(rpc, pfd.revents) < 0 && !w->done) {
			snprintf(w->error, sizeof(w->error), "%s",
				 rpc_get_error(rpc));
			return -ECONNREFUSED;
		}
	}
	return w->status == RPC_STATUS_SUCCESS ? 0 : -ECONNREFUSED;
}

static struct rpc_context *probe_connect(struct rep_export *exp, int port,
					 int prog, int vers, int timeout_ms,
					 struct probe_wait *w)
{
	struct rpc_context *rpc = rpc_init_context();

	if (!rpc) {
		snprintf(w->error, sizeof(w->error), "out of memory");
		return NULL;
	}
	rpc_set_timeout(rpc, timeout_ms);
	rpc_set_autoreconnect(rpc, 0);
	memset(w, 0, sizeof(*w));
	w->exp = exp;
	if (rpc_connect_port_async(rpc, exp->url.host, port, prog, vers,
				   probe_connect_cb, w) ||
	    probe_wait_for(rpc, w, timeout_ms)) {
		if (!w->error[0])
			snprintf(w->error, sizeof(w->error), "%s",
				 rpc_get_error(rpc));
		rpc_destroy_context(rpc);
		return NULL;
	}
	return rpc;
}

static void probe_mnt_cb(struct rpc_context *rpc, int status, void *data,
			 void *priv)
{
	struct probe_wait *w = priv;
	mountres3 *res = data;

	w->done = true;
	w->status = status;
	if (status != RPC_STATUS_SUCCESS) {
		snprintf(w->error, sizeof(w->error), "MOUNT failed: %s",
			 data ? (char *)data : "no answer");
		return;
	}
	if (res->fhs_status != MNT3_OK) {
		w->status = RPC_STATUS_ERROR;
		w->answered_no = true;
		snprintf(w->error, sizeof(w->error),
			 "MOUNT refused (mountstat3 %d): is the path exported?",
			 res->fhs_status);
		return;
	}
	fhandle3 *fh = &res->mountres3_u.mountinfo.fhandle;
	if (fh->fhandle3_len > REP_FH_MAX) {
		w->status = RPC_STATUS_ERROR;
		w->answered_no = true;
		snprintf(w->error, sizeof(w->error), "root handle too long");
		return;
	}
	memcpy(w->exp->root_buf, fh->fhandle3_val, fh->fhandle3_len);
	w->exp->root.data.data_len = fh->fhandle3_len;
}

static void probe_fsinfo_cb(struct rpc_context *rpc, int status, void *data,
			    void *priv)
{
	struct probe_wait *w = priv;
	FSINFO3res *res = data;

	w->done = true;
	w->status = status;
	if (status != RPC_STATUS_SUCCESS) {
		snprintf(w->error, sizeof(w->error), "FSINFO failed: %s",
			 data ? (char *)data : "no answer");
		return;
	}
	if (res->status != NFS3_OK) {
		w->status = RPC_STATUS_ERROR;
		w->answered_no = true;
		snprintf(w->error, sizeof(w->error),
			 "FSINFO on the root handle failed (nfsstat3 %d)",
			 res->status);
		return;
	}
	FSINFO3resok *ok = &res->FSINFO3res_u.resok;
	w->exp->rtmax = ok->rtmax;
	w->exp->wtmax = ok->wtmax;
}

/* -EACCES when the server answered no (not exported, not NFSv3): a
 * configuration error; -EHOSTUNREACH when it could not be reached or did
 * not answer in time (rep_export_unreachable). */
static int probe_fail(struct rep_export *exp, struct rpc_context *rpc,
		      const char *what, struct probe_wait *w, char *err,
		      size_t errlen)
{
	snprintf(err, errlen, "%s export %s: %s: %s", exp->name,
		 exp->url_text, what, w->error);
	if (rpc)
		rpc_destroy_context(rpc);
	return w->answered_no ? -EACCES : -EHOSTUNREACH;
}

int rep_export_probe(struct rep_export *exp, int timeout_ms, char *err,
		     size_t errlen)
{
	struct probe_wait w;
	struct rpc_context *rpc;
	FSINFO3args fa;

	memset(&w, 0, sizeof(w));
	rpc = probe_connect(exp, exp->url.mountport, MOUNT_PROGRAM, MOUNT_V3,
			    timeout_ms, &w);
	if (!rpc)
		return probe_fail(exp, NULL, "cannot reach mount service", &w,
				  err, errlen);
	memset(&w, 0, sizeof(w));
	w.exp = exp;
	if (rpc_mount3_mnt_async(rpc, probe_mnt_cb, exp->url.path, &w) ||
	    probe_wait_for(rpc, &w, timeout_ms))
		return probe_fail(exp, rpc, "mount", &w, err, errlen);
	rpc_destroy_context(rpc);

	rpc = probe_connect(exp, exp->url.nfsport, NFS_PROGRAM, NFS_V3,
			    timeout_ms, &w);
	if (!rpc)
		return probe_fail(exp, NULL, "cannot reach NFS service", &w,
				  err, errlen);
	memset(&w, 0, sizeof(w));
	w.exp = exp;
	fa.fsroot = exp->root;
	if (rpc_nfs3_fsinfo_async(rpc, probe_fsinfo_cb, &fa, &w) ||
	    probe_wait_for(rpc, &w, timeout_ms))
		return probe_fail(exp, rpc, "NFSv3", &w, err, errlen);
	rpc_destroy_context(rpc);
	exp->last_ok_ms = ev_now_ms();	/* it answered just now */
	return 0;
}

/* ---- the asynchronous data path ---- */

static void export_note_health(struct rep_export *exp)
{
	bool up = false;

	for (int i = 0; i < exp->nconns; i++)
		up |= exp->conns[i].state == REP_CONN_UP;
	if (up == exp->up)
		return;
	exp->up = up;
	if (up && !exp->down_since_ms) {
		syslog(LOG_INFO, "%s export %s: connected", exp->name,
		       exp->url_text);
	} else if (!up) {
		exp->down_since_ms = ev_now_ms();
		syslog(LOG_WARNING, "%s export %s: no connection left (%s); "
		       "I/O to it waits", exp->name, exp->url_text,
		       exp->conns[0].last_error);
	} else {
		syslog(LOG_NOTICE, "%s export %s: reachable again after "
		       "%llu ms", exp->name, exp->url_text,
		       (unsigned long long)(ev_now_ms() - exp->down_since_ms));
	}
}

static void conn_fail(struct rep_conn *c, const char *why)
{
	if (c->state == REP_CONN_FAILED || c->state == REP_CONN_DOWN)
		return;
	snprintf(c->last_error, sizeof(c->last_error), "%s",
		 why && *why ? why : "connection error");
	c->state = REP_CONN_FAILED;
}

static void waitq_push(struct rep_export *exp, struct rep_req *req)
{
	req->next = NULL;
	req->conn = NULL;
	if (exp->waitq_tail)
		exp->waitq_tail->next = req;
	else
		exp->waitq_head = req;
	exp->waitq_tail = req;
	exp->waiting++;
}

/* The one libnfs callback for every data-path request. */
static void req_rpc_cb(struct rpc_context *rpc, int status, void *data,
		       void *priv)
{
	struct rep_req *req = priv;
	struct rep_conn *c = req->conn;

	if (c) {
		c->inflight--;
		c->idle_since_ms = ev_now_ms();
		if (status == RPC_STATUS_SUCCESS)
			c->exp->last_ok_ms = c->idle_since_ms;
	}
	/* Every NFSv3 result starts with its nfsstat3.  JUKEBOX means the
	 * server is temporarily unable (e.g. recalling a file from tape, or
	 * ganesha's FSAL saying "delay"): re-send after a pause, as the NFS
	 * client does, instead of failing the application. */
	if (status == RPC_STATUS_SUCCESS && c &&
	    *(const nfsstat3 *)data == NFS3ERR_JUKEBOX) {
		req->conn = NULL;
		req->not_before_ms = ev_now_ms() + JUKEBOX_DELAY_MS;
		req->next = c->exp->delayed;
		c->exp->delayed = req;
		return;
	}
	if (status == RPC_STATUS_SUCCESS) {
		req->conn = NULL;
		req->done(req, data);
		return;
	}
	if (c && status != RPC_STATUS_CANCEL)
		conn_fail(c, status == RPC_STATUS_TIMEOUT ? "request timed out"
			  : data ? (char *)data : "RPC error");
	waitq_push(c ? c->exp : NULL, req);
}

static struct rep_conn *export_pick(struct rep_export *exp)
{
	for (int n = 0; n < exp->nconns; n++) {
		struct rep_conn *c = &exp->conns[exp->next_rr];

		exp->next_rr = (exp->next_rr + 1) % exp->nconns;
		if (c->state == REP_CONN_UP)
			return c;
	}
	return NULL;
}

static void req_send(struct rep_export *exp, struct rep_req *req)
{
	struct rep_conn *c = export_pick(exp);

	if (!c) {
		waitq_push(exp, req);
		return;
	}
	req->conn = c;
	req->attempts++;
	c->inflight++;
	if (req->send(req, c->rpc, req_rpc_cb)) {
		/* libnfs queues without touching the socket, so a refusal
		 * is about the call itself (it could not be encoded), not
		 * the connection: re-sending would fail forever. */
		c->inflight--;
		syslog(LOG_ERR, "%s export %s: cannot send request: %s",
		       exp->name, exp->url_text, rpc_get_error(c->rpc));
		req->conn = NULL;
		req->fail(req, EIO);
	}
}

void rep_export_submit(struct rep_export *exp, struct rep_req *req)
{
	req_send(exp, req);
}

static void conn_poll_cb(struct ev_token *tok, int res)
{
	struct rep_conn *c = tok->ctx;

	if (tok->gen != c->gen)
		return;		/* armed on a context since destroyed */
	if (tok == c->in_tok)
		c->in_tok = NULL;
	else if (tok == c->out_tok)
		c->out_tok = NULL;
	if (res == -ECANCELED)
		return;
	if (res < 0) {
		conn_fail(c, "poll failed");
		return;
	}
	if (c->state != REP_CONN_UP && c->state != REP_CONN_CONNECTING)
		return;
	if (rpc_service(c->rpc, res) < 0) {
		const char *why = rpc_get_error(c->rpc);

		conn_fail(c, why && *why ? why : (res & POLLHUP) ?
			  "connection closed by the server" :
			  "connection error");
	}
}

static void conn_connect_cb(struct rpc_context *rpc, int status, void *data,
			    void *priv)
{
	struct rep_conn *c = priv;

	if (status == RPC_STATUS_SUCCESS) {
		c->state = REP_CONN_UP;
		c->backoff_ms = 0;
		c->idle_since_ms = ev_now_ms();
		c->ping_out = false;
		return;
	}
	conn_fail(c, data ? (char *)data : "connect failed");
}

static void conn_teardown(struct rep_conn *c)
{
	struct ev_loop *loop = c->exp->loop;

	if (c->in_tok)
		ev_poll_cancel(loop, c->in_tok);
	if (c->out_tok)
		ev_poll_cancel(loop, c->out_tok);
	c->in_tok = c->out_tok = NULL;
	c->gen++;
	if (c->rpc) {
		struct rpc_context *rpc = c->rpc;

		c->rpc = NULL;
		/* Calls every in-flight callback with CANCEL: they re-queue. */
		rpc_destroy_context(rpc);
	}
	c->inflight = 0;
	c->state = REP_CONN_DOWN;
	c->backoff_ms = c->backoff_ms ? c->backoff_ms * 2 : BACKOFF_MIN_MS;
	if (c->backoff_ms > BACKOFF_MAX_MS)
		c->backoff_ms = BACKOFF_MAX_MS;
	c->retry_at_ms = ev_now_ms() + c->backoff_ms;
}

static void conn_start(struct rep_conn *c)
{
	struct rep_export *exp = c->exp;

	c->rpc = rpc_init_context();
	if (!c->rpc) {
		c->retry_at_ms = ev_now_ms() + BACKOFF_MAX_MS;
		return;
	}
	rpc_set_timeout(c->rpc, exp->timeout_ms);
	rpc_set_autoreconnect(c->rpc, 0);
	c->state = REP_CONN_CONNECTING;
	c->deadline_ms = ev_now_ms() + CONNECT_TIMEOUT_MS;
	if (rpc_connect_port_async(c->rpc, exp->url.host, exp->url.nfsport,
				   NFS_PROGRAM, NFS_V3, conn_connect_cb, c))
		conn_fail(c, rpc_get_error(c->rpc));
}

/* Keeps a POLLIN poll armed, and a POLLOUT one while libnfs wants it. */
static void conn_arm(struct rep_conn *c)
{
	struct ev_loop *loop = c->exp->loop;
	int fd = rpc_get_fd(c->rpc);
	int want = rpc_which_events(c->rpc);

	if (fd < 0)
		return;
	if (!c->in_tok)
		c->in_tok = ev_poll_arm(loop, fd, POLLIN, conn_poll_cb, c,
					c->gen);
	if ((want & POLLOUT) && !c->out_tok)
		c->out_tok = ev_poll_arm(loop, fd, POLLOUT, conn_poll_cb, c,
					 c->gen);
}

static void export_flush_waitq(struct rep_export *exp)
{
	struct rep_req *list = exp->waitq_head;

	if (!list || !export_pick(exp))
		return;
	exp->waitq_head = exp->waitq_tail = NULL;
	exp->waiting = 0;
	while (list) {
		struct rep_req *next = list->next;

		req_send(exp, list);
		list = next;
	}
}

static void conn_pump(struct rep_conn *c, uint64_t now)
{
	if (c->state == REP_CONN_CONNECTING && now >= c->deadline_ms)
		conn_fail(c, "connect timed out");
	if (c->state == REP_CONN_FAILED)
		conn_teardown(c);
	if (c->state == REP_CONN_DOWN && now >= c->retry_at_ms)
		conn_start(c);
	if (c->state == REP_CONN_UP) {
		/* Drives libnfs's timeouts and pushes out what was queued
		 * since the last poll, saving a loop round trip. */
		int want = rpc_which_events(c->rpc);

		if (rpc_service(c->rpc, want & POLLOUT) < 0)
			conn_fail(c, rpc_get_error(c->rpc));
	}
	if (c->state == REP_CONN_FAILED)
		conn_teardown(c);
	if (c->state == REP_CONN_UP || c->state == REP_CONN_CONNECTING)
		conn_arm(c);
}

/* Moves delayed requests whose pause is over to the wait queue. */
static void export_wake_delayed(struct rep_export *exp, uint64_t now)
{
	struct rep_req **pp = &exp->delayed;

	while (*pp) {
		struct rep_req *req = *pp;

		if (req->not_before_ms <= now) {
			*pp = req->next;
			waitq_push(exp, req);
		} else {
			pp = &req->next;
		}
	}
}

static void ping_cb(struct rpc_context *rpc, int status, void *data,
		    void *priv)
{
	struct rep_conn *c = priv;

	c->ping_out = false;
	c->idle_since_ms = ev_now_ms();
	if (status == RPC_STATUS_SUCCESS)
		c->exp->last_ok_ms = c->idle_since_ms;
	else if (status != RPC_STATUS_CANCEL)
		conn_fail(c, status == RPC_STATUS_TIMEOUT ?
			  "heartbeat (NFS NULL) timed out" :
			  data ? (char *)data : "heartbeat failed");
}

/* HEARTBEAT (top of file). */
static void conn_heartbeat(struct rep_conn *c, uint64_t now)
{
	if (c->inflight || c->ping_out ||
	    now < c->idle_since_ms + HEARTBEAT_MS)
		return;
	c->idle_since_ms = now;
	if (rpc_nfs3_null_async(c->rpc, ping_cb, c) == 0)
		c->ping_out = true;
}

void rep_export_pump(struct rep_export *exp)
{
	uint64_t now = ev_now_ms();

	export_wake_delayed(exp, now);
	for (int i = 0; i < exp->nconns; i++)
		conn_pump(&exp->conns[i], now);
	export_flush_waitq(exp);
	for (int i = 0; i < exp->nconns; i++) {
		struct rep_conn *c = &exp->conns[i];

		if (c->state == REP_CONN_UP) {
			conn_heartbeat(c, now);
			if (rpc_service(c->rpc, rpc_which_events(c->rpc) &
					POLLOUT) < 0)
				conn_fail(c, rpc_get_error(c->rpc));
			else
				conn_arm(c);
		}
	}
	export_note_health(exp);
}

struct rep_req *rep_export_steal(struct rep_export *exp)
{
	struct rep_req *list;

	rep_export_close(exp);
	export_wake_delayed(exp, UINT64_MAX);
	list = exp->waitq_head;
	exp->waitq_head = exp->waitq_tail = NULL;
	exp->waiting = 0;
	return list;
}

void rep_export_close(struct rep_export *exp)
{
	for (int i = 0; i < exp->nconns; i++) {
		struct rep_conn *c = &exp->conns[i];

		if (c->state != REP_CONN_DOWN)
			conn_teardown(c);
	}
}
