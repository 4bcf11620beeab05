/*
 * export.h — one NFS export reached over several libnfs connections
 * (see export.c for the connection state machine).
 */
#ifndef OFSREP_EXPORT_H
#define OFSREP_EXPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "replica/loop.h"
#include "replica/nfsx.h"
#include "replica/url.h"

#define REP_MAX_CONNS 8
#define REP_FH_MAX NFS3_FHSIZE

/* A request to an export.  Embedded first in the caller's op struct; its
 * address is libnfs's private_data.  @send issues the RPC with @cb as the
 * callback and returns 0 or -1 (libnfs could not queue it); @done gets the
 * decoded result of a call that completed (any NFS status).  A call lost to
 * a connection failure is re-sent on another connection, forever in the
 * primary-only data path: the caller sees a freeze, never an error. */
struct rep_req {
	struct rep_req *next;		/* wait-queue link */
	struct rep_conn *conn;		/* where it is in flight, or NULL */
	int (*send)(struct rep_req *req, struct rpc_context *rpc, rpc_cb cb);
	void (*done)(struct rep_req *req, void *res);
	/* The call cannot be made at all (libnfs refused to encode it while
	 * the connection was fine): @err is a positive errno. */
	void (*fail)(struct rep_req *req, int err);
	unsigned attempts;		/* sends so far; >1 means a retry */
	uint64_t not_before_ms;		/* delayed re-send (NFS3ERR_JUKEBOX) */
};

enum rep_conn_state {
	REP_CONN_DOWN,		/* no context; reconnect at retry_at_ms */
	REP_CONN_CONNECTING,	/* context connecting; deadline applies */
	REP_CONN_UP,		/* carries requests */
	REP_CONN_FAILED,	/* broken; torn down at the next pump */
};

struct rep_conn {
	struct rep_export *exp;
	struct rpc_context *rpc;	/* owned; NULL when DOWN */
	enum rep_conn_state state;
	unsigned gen;			/* bumped at teardown; stale polls
					 * compare their token's gen */
	unsigned inflight;		/* our own count: libnfs's is wrong
					 * after timeouts */
	struct ev_token *in_tok;	/* armed POLLIN, or NULL */
	struct ev_token *out_tok;	/* armed POLLOUT, or NULL */
	uint64_t retry_at_ms;		/* DOWN: next connect attempt */
	uint64_t deadline_ms;		/* CONNECTING: give up after */
	unsigned backoff_ms;
	int index;
	char last_error[160];
	uint64_t idle_since_ms;		/* last answer, or UP since */
	bool ping_out;			/* a heartbeat NULL is in flight */
};

struct rep_export {
	const char *name;		/* "primary" / "secondary" */
	struct rep_url url;
	char url_text[1400];
	struct nfs_fh3 root;		/* root file handle from MOUNT */
	char root_buf[REP_FH_MAX];
	struct rep_conn conns[REP_MAX_CONNS];
	int nconns;			/* may grow, up to REP_MAX_CONNS */
	int next_rr;			/* round-robin cursor */
	struct rep_req *waitq_head;	/* requests waiting for a connection */
	struct rep_req *waitq_tail;
	unsigned waiting;
	struct rep_req *delayed;	/* answered JUKEBOX: re-send later */
	int timeout_ms;			/* per-RPC timeout */
	struct ev_loop *loop;
	bool up;			/* any connection UP (for logging) */
	uint64_t last_ok_ms;		/* last successful answer of any call */
	uint64_t down_since_ms;
	uint32_t rtmax;			/* server's max READ size */
	uint32_t wtmax;			/* server's max WRITE size */
};

/* Parses the URL and fills in the fields; no I/O. */
int rep_export_init(struct rep_export *exp, const char *name,
		    const char *url, int nconns, int timeout_ms,
		    struct ev_loop *loop, char *err, size_t errlen);

/* Mounts the export synchronously (before the loop runs): MOUNT for the
 * root handle, then FSINFO on the NFS port to prove it serves NFSv3.
 * Returns 0, or with a one-line reason in @err: -EHOSTUNREACH (not
 * reached, or no answer in time: the server may be down) or -EACCES (it
 * answered no: not exported, not NFSv3). */
int rep_export_probe(struct rep_export *exp, int timeout_ms, char *err,
		     size_t errlen);

/* Queues @req; it is sent on an UP connection at the next pump. */
void rep_export_submit(struct rep_export *exp, struct rep_req *req);

/* Flushes queues, tears down failed connections, reconnects, re-arms polls.
 * Called from the loop's after_batch hook. */
void rep_export_pump(struct rep_export *exp);

/* Failover: drops every connection (in-flight calls come back) and
 * returns every request the export held, in order, as a list linked by
 * ->next.  The export keeps connecting and heartbeating. */
struct rep_req *rep_export_steal(struct rep_export *exp);

/* Destroys every context; in-flight requests get their callback with
 * RPC_STATUS_CANCEL and land back on the wait queue. */
void rep_export_close(struct rep_export *exp);

#endif
