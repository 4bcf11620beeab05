/*
 * failback.h — after a failover, bring the primary up to date from the
 * mirror while the mirror serves, and switch back to it (fs/failback.c
 * has the state machine).
 */
#ifndef OFSREP_FAILBACK_H
#define OFSREP_FAILBACK_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "replica/apl_rpc.h"
#include "replica/jstore.h"
#include "replica/jwriter.h"
#include "replica/mirror.h"
#include "replica/treesync.h"

enum fb_phase {
	FB_OFF,		/* not failed over, or no resync started yet */
	FB_COPYING,	/* a pass (or the first passes) running */
	FB_IN_SYNC,	/* converged; refreshed now and then */
	FB_FINAL,	/* frozen: the last pass, then the marker goes */
	FB_FINAL_DONE,	/* the loop switches now */
	FB_FAILED,	/* the last pass failed (err); the loop retries */
};

/* Open addressing sets and maps keyed by a hash of a file handle. */
struct fb_set {
	uint64_t *v;		/* 0: empty */
	size_t n;
	size_t cap;
};

struct fb_pair {
	uint64_t key;		/* 0: empty */
	struct apl_fh src;	/* the mirror's object */
	struct apl_fh dst;	/* the primary's */
};

struct fb_pairs {
	struct fb_pair *v;
	size_t n;
	size_t cap;
};

struct failback {
	pthread_t thread;
	bool started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char src_url[1400];	/* the secondary (mirror) */
	char dst_url[1400];	/* the primary */
	uint32_t node;
	int timeout_ms;
	/* under mu */
	int cmd;		/* FB_CMD_* */
	int phase;		/* enum fb_phase */
	struct fb_set dirty;	/* mirror files written since the pass in
				 * progress began (its must_read set) */
	struct fb_set wanted;	/* FINAL: handles the loop needs paired */
	struct fb_pairs pairs;	/* FINAL: their primary handles */
	char mark[JSTORE_STALE_SIZE];	/* FINAL: the marker, to put back
					 * if its removal fails */
	struct ts_stats cur;	/* the pass in progress */
	struct ts_stats last;	/* the last pass that finished */
	unsigned passes;	/* this resync */
	bool pass_running;
	uint64_t in_sync_since_ms;	/* 0: not in sync */
	uint64_t last_refresh_ms;
	uint64_t last_pass_ms;		/* how long the last pass took */
	uint64_t resync_start_ms;
	char err[512];
	/* the direction: false, the primary from the mirror (failback);
	 * true, the mirror from the primary (fs/reattach.c) */
	bool to_mirror;
	struct mirror *mirror;	/* the keeper (thread-safe calls only) */
	struct jw_end end;	/* to_mirror: where the journal ends */
	bool end_known;
	uint64_t expected_gen;	/* the primary's generation at the
				 * failover (fs/split.c); 0: unknown */
	bool split_brain;	/* it differs: no resync, ever */
	bool need_probe;	/* the primary was down at mount */
	bool probed;		/* probe_primary: sizes below */
	uint32_t probed_rtmax;
	uint32_t probed_wtmax;
	volatile sig_atomic_t cancel;
	/* loop thread only */
	uint64_t retry_at_ms;
	uint64_t primary_up_since_ms;
	bool requested;		/* ofsrep failback */
	bool final_sent;
	bool commits_swept;		/* the freeze's COMMITs started */
	bool failed_logged;
	uint64_t freeze_start_ms;
	uint64_t drain_deadline_ms;
	uint64_t failbacks;
	uint64_t reattaches;	/* mirror resyncs after an overflow */
	time_t last_failback;
	uint64_t last_freeze_ms;
	struct fs_op *deferred_head;	/* WRITEs that came while frozen */
	struct fs_op *deferred_tail;
};

/* What ofsrep status shows (fs_failback_view). */
struct fb_view {
	bool split_brain;	/* see fs/split.c */
	bool to_mirror;		/* the mirror being resynced (reattach.c) */
	int phase;
	unsigned passes;
	bool pass_running;
	struct ts_stats pass;	/* the pass running, or the last one */
	double in_sync_for_s;	/* < 0: not in sync */
	double due_in_s;	/* auto: until the failback; < 0: none */
	char err[512];		/* FAILED: why */
};

struct fs_ctx;
struct fs_op;
struct ino;

/* fs/resync.c: the thread, and the handle sets it shares. */
uint64_t fb_fh_key(const void *fh, uint32_t len);
uint64_t fb_mono_ms(void);	/* CLOCK_MONOTONIC, ms */
const char *fb_target(const struct failback *fb);	/* "primary"... */
void fb_set_add(struct fb_set *s, uint64_t k);
void fb_set_free(struct fb_set *s);
/* Shared with fs/reattach.c (the other direction). */
/* Starts the resync thread once; true when it runs. */
bool fb_start_thread(struct fs_ctx *fs);
void fb_command(struct failback *fb, int cmd);
void fb_freeze(struct fs_ctx *fs);
int fb_phase(struct fs_ctx *fs);
const struct fb_pair *fb_pairs_get(const struct fb_pairs *p,
				   const void *fh, uint32_t len);
enum { FB_CMD_NONE, FB_CMD_SYNC, FB_CMD_FINAL, FB_CMD_QUIT };
#define FB_RETRY_MS		5000

/* fs/reattach.c: the mirror resynced online after a spool overflow. */
void fs_reattach_pump(struct fs_ctx *fs);
const char *fs_reattach_blocked(struct fs_ctx *fs);
void fs_reattach_switch(struct fs_ctx *fs);
void fs_failback_release_writes(struct fs_ctx *fs);

/* From fs_failover_pump while the mirror serves (or a failback freezes). */
void fs_failback_pump(struct fs_ctx *fs);
/* A WRITE to @ino went to the mirror: the next pass reads it. */
void fs_failback_dirty(struct fs_ctx *fs, const struct ino *ino);
void fs_failback_dirty_fh(struct fs_ctx *fs, const void *fh, uint32_t len);
/* wb_write during a failback's freeze: the write waits for its end. */
void fs_failback_defer_write(struct fs_ctx *fs, struct fs_op *op);
/* `ofsrep failback`: 0 and a message if it starts, else -errno and why. */
int fs_failback_request(struct fs_ctx *fs, char *msg, size_t len);
/* Unmount: stops the resync thread. */
void fs_failback_stop(struct fs_ctx *fs);
/* For ofsrep status. */
void fs_failback_view(struct fs_ctx *fs, struct fb_view *v);
const char *fs_failback_phase_name(int phase);
/* op_submit: true if the op must wait for the failback to finish. */
bool fs_failback_holds(const struct fs_ctx *fs, const struct fs_op *op);

#endif
