/*
 * loop.c — the single-issuer io_uring event loop that drives ofsrep.
 *
 * One thread owns everything: the FUSE channel, every libnfs rpc_context
 * and the inode table.  libnfs 4.0 has no locking at all, so this is not a
 * simplification but the only safe shape (lab-facts).  The loop knows
 * nothing about NFS or FUSE; owners arm oneshot polls with a token and get
 * their callback, and an `after_batch` hook runs after each batch of
 * completions so owners can flush what the handlers queued.
 *
 * Why oneshot polls: libnfs may dup2() a new socket onto an old fd number,
 * and a multishot poll would keep watching the dead file (lab-facts).
 *
 * Loop shape (liburing's examples): submit_and_wait(1), retry on -EINTR,
 * drain with for_each_cqe, one cq_advance.  A periodic timeout SQE (tick)
 * guarantees after_batch runs at least every tick_ms, which is what drives
 * libnfs's request timeouts and reconnect back-off.
 *
 * user_data: a struct ev_token pointer, or 0 for the tick and for cancel
 * requests (their completions need no handler beyond re-arming the tick).
 */
#include "replica/loop.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EV_TICK_TAG ((uint64_t)1)	/* user_data of the tick timeout */

uint64_t ev_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Returns an SQE, flushing the SQ ring once if it is full. */
static struct io_uring_sqe *ev_get_sqe(struct ev_loop *loop)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&loop->ring);

	if (!sqe) {
		io_uring_submit(&loop->ring);
		sqe = io_uring_get_sqe(&loop->ring);
	}
	return sqe;
}

int ev_loop_init(struct ev_loop *loop, unsigned entries, unsigned tick_ms)
{
	struct io_uring_params p;
	int rc;

	memset(loop, 0, sizeof(*loop));
	memset(&p, 0, sizeof(p));
	/* Only this thread submits; completions are reaped in the same
	 * thread, so the kernel can skip cross-thread wake-ups. */
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN;
	rc = io_uring_queue_init_params(entries, &loop->ring, &p);
	if (rc == -EINVAL) {
		memset(&p, 0, sizeof(p));
		rc = io_uring_queue_init_params(entries, &loop->ring, &p);
	}
	if (rc < 0)
		return rc;
	loop->tick_ms = tick_ms;
	loop->tick_ts.tv_sec = tick_ms / 1000;
	loop->tick_ts.tv_nsec = (long long)(tick_ms % 1000) * 1000000;
	return 0;
}

/* Frees the tokens of polls that were cancelled at shutdown: their
 * completions arrive after the loop stopped.  Handlers are not called any
 * more; the owners are being torn down. */
void ev_loop_exit(struct ev_loop *loop)
{
	struct __kernel_timespec ts = { .tv_nsec = 50 * 1000000 };
	struct io_uring_cqe *cqe;

	io_uring_submit(&loop->ring);
	while (!io_uring_wait_cqe_timeout(&loop->ring, &cqe, &ts)) {
		uint64_t ud = io_uring_cqe_get_data64(cqe);

		if (ud && ud != EV_TICK_TAG)
			free((struct ev_token *)(uintptr_t)ud);
		io_uring_cqe_seen(&loop->ring, cqe);
	}
	io_uring_queue_exit(&loop->ring);
}

struct ev_token *ev_poll_arm(struct ev_loop *loop, int fd, unsigned mask,
			     void (*fn)(struct ev_token *, int), void *ctx,
			     unsigned gen)
{
	struct ev_token *tok = malloc(sizeof(*tok));
	struct io_uring_sqe *sqe;

	if (!tok)
		return NULL;
	tok->fn = fn;
	tok->ctx = ctx;
	tok->gen = gen;
	sqe = ev_get_sqe(loop);
	if (!sqe) {
		free(tok);
		return NULL;
	}
	io_uring_prep_poll_add(sqe, fd, mask);
	io_uring_sqe_set_data(sqe, tok);
	return tok;
}

void ev_poll_cancel(struct ev_loop *loop, struct ev_token *tok)
{
	struct io_uring_sqe *sqe = ev_get_sqe(loop);

	if (!sqe)
		return;
	io_uring_prep_poll_remove(sqe, (uint64_t)(uintptr_t)tok);
	io_uring_sqe_set_data64(sqe, 0);
}

static void ev_arm_tick(struct ev_loop *loop)
{
	struct io_uring_sqe *sqe = ev_get_sqe(loop);

	if (!sqe)
		return;
	io_uring_prep_timeout(sqe, &loop->tick_ts, 0, 0);
	io_uring_sqe_set_data64(sqe, EV_TICK_TAG);
}

/* Handles one batch of completions.  Returns how many were seen. */
static unsigned ev_drain(struct ev_loop *loop)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;

	io_uring_for_each_cqe(&loop->ring, head, cqe) {
		uint64_t ud = io_uring_cqe_get_data64(cqe);

		seen++;
		if (ud == EV_TICK_TAG) {
			ev_arm_tick(loop);
		} else if (ud) {
			struct ev_token *tok = (struct ev_token *)(uintptr_t)ud;

			tok->fn(tok, cqe->res);
			free(tok);
		}
	}
	io_uring_cq_advance(&loop->ring, seen);
	return seen;
}

int ev_loop_run(struct ev_loop *loop)
{
	ev_arm_tick(loop);
	while (!loop->stop) {
		int rc;

		if (loop->after_batch)
			loop->after_batch(loop->ctx);
		if (loop->stop)
			break;
		rc = io_uring_submit_and_wait(&loop->ring, 1);
		if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
			return rc;
		ev_drain(loop);
	}
	return 0;
}
