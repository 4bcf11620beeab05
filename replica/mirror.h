/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * replica/mirror.h: the mirror keeper, the daemon's own thread that runs
 * the mirror applier (replica/applier.h) on this node's journal, trims
 * the segments it has applied, publishes how far it got so that the
 * journal writer can bound the journal (replica/jwriter.h), and keeps the
 * journal's lease (replica/lease.h).  See mirror.c for the state
 * machine.
 *
 * Use (fs/main.c):
 *
 *	mirror_start(&m, &conf);            after daemonizing
 *	mirror_kick(&m, durable_seq, bytes); from the loop, cheap
 *	mirror_applied(&m, &pos);           any thread
 *	mirror_stop(&m, durable_seq, ms);   at unmount: apply up to
 *	                                    durable_seq, at most ms long
 */
#ifndef OFSREP_MIRROR_H
#define OFSREP_MIRROR_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "replica/apl_rpc.h"
#include "replica/peers.h"

enum mirror_state {
	MIRROR_IDLE,		/* caught up with the durable journal */
	MIRROR_APPLYING,	/* a run is going */
	MIRROR_RETRYING,	/* the last run failed; next one after a pause */
	MIRROR_DAMAGED,		/* the journal or mirror needs ofsrep-fsck */
	MIRROR_STOPPED,		/* not running */
	MIRROR_LEASE_LOST,	/* another process took the journal's lease */
	MIRROR_LIVE,		/* handed over: the mirror is served */
};

/* FAILOVER HANDOVER (fs/failover.c).  The loop asks the keeper to apply
 * up to a seq and then describe the mirror: its root handle and, for
 * every fid of the epoch, its mirror object's handle.  After the loop
 * releases it, the keeper applies nothing more (the mirror is served
 * directly) and only keeps the lease. */
struct mirror_fid {
	uint64_t fid;
	struct apl_fh fh;
};

struct mirror_handover {
	uint64_t seq;		/* applied up to */
	uint32_t epoch;		/* the fids' epoch */
	struct apl_fh root;	/* .ofsrep/mirror */
	struct mirror_fid *fids;
	size_t n;
};

/* The applied position: the checkpoint in effect. */
struct mirror_pos {
	uint64_t seq;		/* last applied record */
	uint64_t segno;		/* segment of the next record */
	uint64_t offset;	/* its offset there */
	uint64_t time_ns;	/* time_ns of record seq (lag) */
};

struct mirror_conf {
	const char *url;	/* the secondary export */
	uint32_t node;
	int timeout_ms;
	bool trim;		/* delete applied segments */
	bool apply;		/* false (noapply): keep the lease only */
	const char *mountpoint;	/* for the lease */
};

struct mirror {
	struct mirror_conf conf;
	char url[1024];
	char mountpoint[1024];
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool started;
	/* under mu */
	bool quit;
	uint64_t target;	/* durable seq to apply up to */
	uint64_t backlog;	/* bytes not applied, as the writer sees it */
	uint64_t last_run_ms;	/* when the last run ended */
	uint64_t target_ms;	/* when target last moved */
	uint64_t deadline_ms;	/* with quit: stop trying after this */
	struct mirror_pos pos;
	bool have_pos;
	/* written by the thread, read anywhere */
	_Atomic int state;	/* enum mirror_state */
	_Atomic uint64_t runs;
	_Atomic uint64_t trimmed;	/* segments deleted */
	atomic_bool cancel;	/* stop the run in progress (deadline) */
	atomic_bool lease_lost;	/* another process took the lease */
	struct peers peers;	/* other nodes' journals (thread only) */
	/* handover: target and released under mu; ho valid once ready */
	uint64_t ho_target;	/* apply up to this seq first */
	bool ho_wanted;
	bool ho_released;
	atomic_bool ho_ready;
	struct mirror_handover ho;
	/* the split-brain guard's marker, written before ho_ready */
	char *ho_mark;
	size_t ho_mark_len;
	bool ho_marked;		/* durable on the secondary */
	bool ho_unmark;		/* cancelled after it was: remove it */
	uint64_t failbacks;	/* under mu: mirror_resume calls; a run
				 * after a new one first flags the fids the
				 * mount removed meanwhile */
};

int mirror_start(struct mirror *m, const struct mirror_conf *conf);
void mirror_kick(struct mirror *m, uint64_t durable_seq, uint64_t backlog);
bool mirror_applied(struct mirror *m, struct mirror_pos *pos);
void mirror_stop(struct mirror *m, uint64_t durable_seq, int max_ms);
const char *mirror_state_name(int state);

/* @mark (the split-brain guard's marker, fs/split.c) is written to the
 * journal directory, durably, before the handover is ready. */
void mirror_handover_request(struct mirror *m, uint64_t seq,
			     const char *mark, size_t mark_len);
/* The handover, once the keeper applied up to the requested seq. */
const struct mirror_handover *mirror_handover_poll(struct mirror *m);
void mirror_handover_release(struct mirror *m);
/* The journal was attached again at a lower seq than the writer had
 * counted while detached (jw_reattach): the target follows. */
void mirror_reset_target(struct mirror *m, uint64_t seq);
/* Failback: LIVE back to applying, from where the handover stopped. */
void mirror_resume(struct mirror *m);
void mirror_handover_cancel(struct mirror *m);


#endif /* OFSREP_MIRROR_H */
