/*
 * loop.h — the io_uring event loop (see loop.c).
 */
#ifndef OFSREP_LOOP_H
#define OFSREP_LOOP_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

struct ev_loop;

/* One armed operation.  Its address is the SQE's user_data; the loop frees
 * it after calling @fn with the CQE's result (revents, or -errno). */
struct ev_token {
	void (*fn)(struct ev_token *tok, int res);
	void *ctx;
	unsigned gen;		/* owner's generation when armed */
};

struct ev_loop {
	struct io_uring ring;
	bool stop;
	unsigned tick_ms;
	/* Called after every batch of completions and on every tick; this is
	 * where owners flush queues and re-arm polls.  Never from inside a
	 * completion handler. */
	void (*after_batch)(void *ctx);
	void *ctx;
	struct __kernel_timespec tick_ts;
};

int ev_loop_init(struct ev_loop *loop, unsigned entries, unsigned tick_ms);
void ev_loop_exit(struct ev_loop *loop);
int ev_loop_run(struct ev_loop *loop);

/* Arms a oneshot poll on @fd.  Returns the token, or NULL on ENOMEM. */
struct ev_token *ev_poll_arm(struct ev_loop *loop, int fd, unsigned mask,
			     void (*fn)(struct ev_token *, int), void *ctx,
			     unsigned gen);
/* Asks the kernel to drop an armed poll; its token then completes with
 * -ECANCELED (or its real result, if it raced). */
void ev_poll_cancel(struct ev_loop *loop, struct ev_token *tok);

uint64_t ev_now_ms(void);

#endif
