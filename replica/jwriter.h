/*
 * jwriter.h — this node's journal writer on the secondary export
 * (see jwriter.c).
 */
#ifndef OFSREP_JWRITER_H
#define OFSREP_JWRITER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "journal/appender.h"
#include "journal/spool.h"
#include "replica/jstore.h"
#include "replica/loop.h"

/* A caller waiting for its record to be durable.  Embedded in the
 * caller's op; @ack runs on the loop thread once the record (and every
 * record before it) is on the secondary's disk. */
struct jw_wait {
	struct jw_wait *next;
	uint64_t seq;
	const struct jnl_op *op;	/* to encode; caller keeps it valid */
	void (*ack)(struct jw_wait *w);
	bool early;		/* ack once encoded, not once durable
				 * (mode async) */
};

/* The applied position of this node's journal (the mirror keeper's), for
 * bounding the journal: 1 and the position; 0 when nothing was applied
 * yet in this mount (the position found at jw_open counts); -1 when
 * nobody applies any more (damage: no bound, see replica/mirror.c). */
typedef int jw_applied_fn(void *arg, uint64_t *segno, uint64_t *offset);

/* One group write, handed to the I/O thread. */
struct jw_job {
	struct jnl_app_write w;
	bool replace;			/* the segment file may exist */
	int rc;
	char err[JSTORE_ERR_MAX];
};

/* Where groups go (replica/jw_io.c has the state machine). */
enum jw_route {
	JW_ROUTE_DIRECT,	/* the secondary's journal */
	JW_ROUTE_SPOOLING,	/* secondary lost: the local spool */
	JW_ROUTE_DRAINING,	/* secondary back: spool -> journal */
	JW_ROUTE_DETACHED,	/* spool overflowed: not journaled */
};

struct jwriter {
	struct jstore js;		/* the I/O thread's once started */
	struct jnl_appender app;	/* loop thread */
	struct ev_loop *loop;
	int efd;			/* eventfd: I/O thread -> loop */
	struct ev_token *tok;		/* armed poll on efd */
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool job_posted;		/* under mu */
	bool job_finished;		/* under mu */
	bool quit;			/* under mu */
	bool started;
	struct jw_job job;
	uint64_t replace_from;		/* segments >= this may exist empty */
	uint64_t retry_at_ms;		/* after a failed group write */
	bool retry_pending;		/* the job failed: post it again */
	unsigned failures;		/* consecutive failed group writes */
	struct jw_wait *blocked_head;	/* not yet encoded: group full */
	struct jw_wait *blocked_tail;
	struct jw_wait *waiting_head;	/* encoded, not yet durable */
	struct jw_wait *waiting_tail;
	uint64_t records;		/* appended this run */
	uint64_t groups;		/* written this run */
	uint64_t failed_groups;		/* group writes that failed, ever */
	uint64_t last_failure_ms;	/* ev_now_ms() of the last one */
	char last_err[512];		/* its message (status report) */
	/* bounded journal (jw_bound) */
	uint64_t backlog_max;		/* bytes; 0 = unbounded */
	uint64_t base_segno;		/* applied position at jw_open */
	uint64_t base_offset;
	jw_applied_fn *applied;
	void *applied_arg;
	bool throttled;			/* groups wait for the applier */
	uint64_t throttled_since_ms;
	uint64_t throttle_events;	/* times throttling began */
	/* The local spool (replica/jw_io.c); the I/O thread's, except the
	 * atomics, which anyone may read. */
	struct jnl_spool spool;
	bool spool_on;			/* spool_max > 0 */
	int io_timeout_ms;		/* failover_timeout: a group write
					 * unanswered this long is lost */
	bool from_tail;			/* started without the secondary,
					 * from journal/tail.c; until its
					 * journal is checked (jw_io.c) */
	uint64_t tail_seq;		/* from_tail: the first seq and prev */
	uint64_t tail_chain;		/* the tail promised */
	char mountpoint[1024];		/* for the lease (from_tail) */
	long long primary_stale_since;	/* jw_open found the split-brain
					 * marker (fs/split.c): its since=
					 * time; 0: none */
	_Atomic int route;		/* enum jw_route */
	_Atomic uint64_t spool_bytes;	/* not yet journaled */
	_Atomic uint64_t spooled_groups;	/* ever, this mount */
	_Atomic uint64_t outages;	/* DIRECT -> SPOOLING, this mount */
	atomic_bool peer_down;		/* the loop's heartbeat: no answer
					 * (jw_peer_state) */
	_Atomic uint64_t lost_at_ms;	/* when the last outage began */
	_Atomic uint64_t drain_total;	/* spool bytes when draining began */
	uint64_t next_probe_ms;		/* I/O thread only, from here */
	uint64_t drain_start_ms;
	uint64_t drain_bytes;
	uint64_t drain_logged_ms;	/* last progress line */
	uint64_t drained_seq;		/* last seq of the last drained group */
	char route_err[512];		/* why the secondary was lost (mu) */
};

/* Spool settings for jw_open: @path NULL or @max 0 means no spool (a lost
 * secondary freezes acknowledgements). */
struct jw_spool_conf {
	const char *path;
	uint64_t max;			/* bytes */
	int failover_timeout_ms;
	/* The secondary did not answer the mount's probe: continue from
	 * the local tail record (journal/tail.c), spooling. */
	bool secondary_down;
};

/* Where the node's journal ends and how a new epoch continues it. */
struct jw_end {
	struct jnl_app_conf conf;	/* a new epoch, after the last record */
	uint64_t base_segno;		/* applied position (the checkpoint) */
	uint64_t base_offset;
	uint64_t replace_from;		/* an EMPTY last segment to rewrite */
	uint64_t nrecs;			/* records read */
};

/* Reads the journal of js->node on the open store to its end (W3). */
int jw_read_end(struct jstore *js, struct jw_end *end, char *err,
		size_t errlen);

/* DETACHED -> DIRECT after the mirror was resynced from the primary
 * (fs/failback.c): the spool is emptied and its overflow flag cleared,
 * and the journal continues at @end (a new epoch: every fid must be
 * introduced again).  Only while idle; 0 or -errno with @err. */
int jw_reattach(struct jwriter *jw, const struct jw_end *end, char *err,
		size_t errlen);

/* Opens the node's journal on @url (creating .ofsrep/journal/<node>),
 * reads it to the end, takes a new epoch and prepares to continue it.
 * Synchronous; run before mounting.  Returns 0 or -errno with one line in
 * @err. */
int jw_open(struct jwriter *jw, const char *url, uint32_t node,
	    int timeout_ms, const struct jw_spool_conf *sc,
	    struct ev_loop *loop, char *err, size_t errlen);
/* Starts the I/O thread (after daemonizing). */
int jw_start(struct jwriter *jw);
/* Appends @w->op and parks @w until it is durable. */
void jw_submit(struct jwriter *jw, struct jw_wait *w);
/* Appends a record nobody waits for (BIND).  0 or -errno. */
int jw_note(struct jwriter *jw, const struct jnl_op *op);
/* Bounds the journal: no new group is written while more than @max bytes
 * of it are not yet applied (per @fn).  Writers wait, records are never
 * dropped. */
void jw_bound(struct jwriter *jw, uint64_t max, jw_applied_fn *fn,
	      void *arg);
/* Bytes of journal written (or being written) beyond the applied
 * position; 0 when nobody applies. */
uint64_t jw_backlog(const struct jwriter *jw);
/* Flushes a group when none is in flight; from the loop's after_batch. */
void jw_pump(struct jwriter *jw);
/* True when nothing is appended and not yet durable. */
bool jw_idle(const struct jwriter *jw);
void jw_close(struct jwriter *jw);
/* At a clean unmount, before jw_close: records the journal's end next to
 * the spool (journal/tail.c rule T1), if the writer is idle and not
 * detached.  @primary_stale: this mount served the mirror. */
void jw_save_tail(struct jwriter *jw, bool primary_stale);

/* From the loop: whether the secondary answers its heartbeat (NFS NULL
 * on the secondary's own connection, replica/export.c).  A down peer
 * sends the writer to the spool without waiting for a group write to
 * time out; spooling probes the journal only once the peer answers. */
void jw_peer_state(struct jwriter *jw, bool down);

/* jw_io.c: the I/O thread. */
const char *jw_route_name(int route);
/* From jw_open: opens the spool and writes what an earlier mount spooled
 * to the journal, before the journal is read. */
/* From jw_open without the secondary: every group goes to the spool
 * until the secondary answers. */
void jw_io_start_lost(struct jwriter *jw, const char *why);
int jw_io_recover(struct jwriter *jw, const char *path, uint64_t max,
		  char *err, size_t errlen);

#endif
