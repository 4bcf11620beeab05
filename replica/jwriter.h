/*
 * jwriter.h — this node's journal writer on the secondary export
 * (see jwriter.c).
 */
#ifndef OFSREP_JWRITER_H
#define OFSREP_JWRITER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "journal/appender.h"
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
};

/* One group write, handed to the I/O thread. */
struct jw_job {
	struct jnl_app_write w;
	bool replace;			/* the segment file may exist */
	int rc;
	char err[JSTORE_ERR_MAX];
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
};

/* Opens the node's journal on @url (creating .ofsrep/journal/<node>),
 * reads it to the end, takes a new epoch and prepares to continue it.
 * Synchronous; run before mounting.  Returns 0 or -errno with one line in
 * @err. */
int jw_open(struct jwriter *jw, const char *url, uint32_t node,
	    int timeout_ms, struct ev_loop *loop, char *err, size_t errlen);
/* Starts the I/O thread (after daemonizing). */
int jw_start(struct jwriter *jw);
/* Appends @w->op and parks @w until it is durable. */
void jw_submit(struct jwriter *jw, struct jw_wait *w);
/* Appends a record nobody waits for (BIND).  0 or -errno. */
int jw_note(struct jwriter *jw, const struct jnl_op *op);
/* Flushes a group when none is in flight; from the loop's after_batch. */
void jw_pump(struct jwriter *jw);
/* True when nothing is appended and not yet durable. */
bool jw_idle(const struct jwriter *jw);
void jw_close(struct jwriter *jw);

#endif
