/*
 * wb.c — unstable writes, their retention, and COMMIT.
 *
 * Writes go to the primary as NFS UNSTABLE WRITEs: the server may keep the
 * data in memory until a COMMIT.  An NFS server that restarts loses such
 * data and says so by returning a new write verifier.  So ofsrep keeps a
 * copy of every unstable write (a wb_chunk) until a COMMIT answered with
 * the same verifier that chunk's WRITE got; chunks whose verifier differs
 * are re-sent as FILE_SYNC writes, in their original order, before the
 * COMMIT is reported done.  The kernel serialises writes to one inode
 * (inode lock, no writeback cache), so completion order is issue order.
 *
 * When COMMIT runs:
 *   - fsync(2): synchronously, the reply waits for it;
 *   - before a truncate (so a re-send can never undo it);
 *   - when a file's retained bytes pass wb_max (back-pressure: the write
 *     that crossed the line is answered only after the COMMIT);
 *   - at release (last close), in the background: close(2) does not wait,
 *     but the data stays retained until committed.
 *
 * A COMMIT covers the chunks retained when it is sent; writes answered
 * during it start another round for the waiters.  Failure of the COMMIT
 * call itself (an NFS error, not a lost connection, which is retried)
 * is reported to the fsync waiter as EIO and the chunks stay retained.
 */
#include "fs/fs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#define OP_OF(r) ((struct fs_op *)(r))

struct wb_chunk {
	struct wb_chunk *next;
	uint64_t off;
	uint32_t len;
	char verf[NFS3_WRITEVERFSIZE];
	char *data;		/* owned */
};

static void wb_start_commit(struct fs_ctx *fs, struct ino *ino);
static void commit_abort(struct fs_op *op, int err);

static void chunk_free_list(struct wb_chunk *c, struct ino *ino)
{
	while (c) {
		struct wb_chunk *next = c->next;

		if (ino)
			ino->wb_bytes -= c->len;
		free(c->data);
		free(c);
		c = next;
	}
}

void wb_drop(struct fs_ctx *fs, struct ino *ino)
{
	chunk_free_list(ino->wb_head, ino);
	ino->wb_head = ino->wb_tail = NULL;
}

/* ---- WRITE ---- */

static int write_send(struct rep_req *r, struct rpc_context *rpc, rpc_cb cb)
{
	struct fs_op *op = OP_OF(r);
	size_t done = op->step;
	size_t n = op->size - done;
	WRITE3args a;

	if (n > op->fs->primary.wtmax)
		n = op->fs->primary.wtmax;
	a.file = ino_fh3(op->ino);
	a.offset = op->off + done;
	a.count = n;
	a.stable = UNSTABLE;
	a.data.data_len = n;
	a.data.data_val = op->data + done;
	return rpc_nfs3_write_async(rpc, cb, &a, r);
}

static void write_reply(struct fs_op *op)
{
	fuse_reply_write(op->req, op->size);
	op_free(op);
}

/* Turns the op's payload into a retained chunk (takes ownership). */
static int write_retain(struct fs_op *op, const char *verf)
{
	struct wb_chunk *c = calloc(1, sizeof(*c));
	struct ino *ino = op->ino;

	if (!c)
		return -ENOMEM;
	c->off = op->off;
	c->len = op->size;
	c->data = op->data;
	op->data = NULL;
	memcpy(c->verf, verf, sizeof(c->verf));
	if (ino->wb_tail)
		ino->wb_tail->next = c;
	else
		ino->wb_head = c;
	ino->wb_tail = c;
	ino->wb_bytes += c->len;
	return 0;
}

static void write_done(struct rep_req *r, void *data)
{
	struct fs_op *op = OP_OF(r);
	WRITE3res *res = data;
	WRITE3resok *ok = &res->WRITE3res_u.resok;
	struct ino *ino = op->ino;

	if (res->status != NFS3_OK) {
		ino->wb_inflight--;
		op_reply_err(op, fs_nfs_errno(res->status));
		return;
	}
	op->step += ok->count;
	if (ok->count == 0) {
		ino->wb_inflight--;
		op_reply_err(op, EIO);
		return;
	}
	if ((size_t)op->step < op->size) {	/* short write: go on */
		op_chain(op, write_send, write_done);
		return;
	}
	ino->wb_inflight--;
	/* A split write may have mixed stabilities; retain unless the
	 * single WRITE was already FILE_SYNC. */
	if (!(op->size <= op->fs->primary.wtmax && ok->committed != UNSTABLE)
	    && write_retain(op, ok->verf)) {
		op_reply_err(op, ENOMEM);
		return;
	}
	if (ino->wb_bytes > op->fs->wb_max)
		wb_commit_then(op, write_reply);
	else
		write_reply(op);
}

static void write_fail(struct rep_req *r, int err)
{
	struct fs_op *op = OP_OF(r);

	op->ino->wb_inflight--;
	op_reply_err(op, err);
}

void wb_write(struct fs_op *op)
{
	op->ino->wb_inflight++;
	op->step = 0;
	op->rr.send = write_send;
	op->rr.done = write_done;
	op->rr.fail = write_fail;
	op_submit(op);
}

/* ---- COMMIT and re-send ---- */

/* The internal op that runs one COMMIT round: op->victim is the inode,
 * op->chunks the chunks the round covers, op->cursor the re-send walk. */
static struct wb_chunk **round_chunks(struct fs_op *op)
{
	return &op->chunks;
}

static int commit_send(struct rep_req *r, struct rpc_context *rpc, rpc_cb cb)
{
	struct fs_op *op = OP_OF(r);
	COMMIT3args a;

	a.file = ino_fh3(op->victim);
	a.offset = 0;
	a.count = 0;	/* 0 = to the end of the file */
	return rpc_nfs3_commit_async(rpc, cb, &a, r);
}

static void commit_finish(struct fs_op *op, int err)
{
	struct ino *ino = op->victim;
	struct fs_ctx *fs = op->fs;
	struct fs_op *w = ino->commit_waiters;

	chunk_free_list(*round_chunks(op), ino);
	*round_chunks(op) = NULL;
	ino->commit_running = false;
	op_free(op);
	if (!err && ino->wb_head) {
		/* Writes answered during this round: one more round. */
		wb_start_commit(fs, ino);
		return;
	}
	ino->commit_waiters = NULL;
	while (w) {
		struct fs_op *next = w->next;

		if (err)
			op_reply_err(w, err);
		else
			w->resume(w);
		w = next;
	}
	ino_maybe_free(&fs->inodes, ino);
}

/* Re-sends the first chunk of the round as FILE_SYNC; done when empty. */
static int resend_send(struct rep_req *r, struct rpc_context *rpc,
		       rpc_cb cb)
{
	struct fs_op *op = OP_OF(r);
	struct wb_chunk *c = op->cursor;
	WRITE3args a;

	a.file = ino_fh3(op->victim);
	a.offset = c->off;
	a.count = c->len;
	a.stable = FILE_SYNC;
	a.data.data_len = c->len;
	a.data.data_val = c->data;
	return rpc_nfs3_write_async(rpc, cb, &a, r);
}

static void resend_next(struct fs_op *op);

static void resend_done(struct rep_req *r, void *data)
{
	struct fs_op *op = OP_OF(r);
	WRITE3res *res = data;

	if (res->status != NFS3_OK ||
	    res->WRITE3res_u.resok.count < op->cursor->len) {
		commit_abort(op, EIO);
		return;
	}
	op->cursor = op->cursor->next;
	resend_next(op);
}

/* Walks the chunks the round covers whose verifier differs. */
static void resend_next(struct fs_op *op)
{
	struct wb_chunk *c = op->cursor;

	while (c && !memcmp(c->verf, op->verf, NFS3_WRITEVERFSIZE))
		c = c->next;
	op->cursor = c;
	if (!c) {
		commit_finish(op, 0);
		return;
	}
	op_chain(op, resend_send, resend_done);
}

/* A round that failed keeps its chunks: back in front of newer ones. */
static void commit_abort(struct fs_op *op, int err)
{
	struct wb_chunk *c = op->chunks;
	struct ino *ino = op->victim;

	syslog(LOG_ERR, "primary: COMMIT failed: %s; %llu bytes stay "
	       "retained", strerror(err), (unsigned long long)ino->wb_bytes);
	if (c) {
		struct wb_chunk *last = c;

		while (last->next)
			last = last->next;
		last->next = ino->wb_head;
		if (!ino->wb_head)
			ino->wb_tail = last;
		ino->wb_head = c;
		op->chunks = NULL;
	}
	commit_finish(op, err);
}

static void commit_fail(struct rep_req *r, int err)
{
	commit_abort(OP_OF(r), err);
}

static void commit_done(struct rep_req *r, void *data)
{
	struct fs_op *op = OP_OF(r);
	COMMIT3res *res = data;

	if (res->status != NFS3_OK) {
		commit_abort(op, fs_nfs_errno(res->status));
		return;
	}
	/* Stash the verifier; chunks that differ were lost by a restart. */
	memcpy(op->verf, res->COMMIT3res_u.resok.verf, NFS3_WRITEVERFSIZE);
	op->cursor = op->chunks;
	if (op->cursor && memcmp(op->cursor->verf, op->verf,
				 NFS3_WRITEVERFSIZE))
		syslog(LOG_WARNING, "primary: write verifier changed (server "
		       "restarted): re-sending uncommitted data");
	resend_next(op);
}

static void wb_start_commit(struct fs_ctx *fs, struct ino *ino)
{
	struct fs_op *op = calloc(1, sizeof(*op));

	if (!op) {
		struct fs_op *w = ino->commit_waiters;

		ino->commit_waiters = NULL;
		for (; w; w = w->next)
			op_reply_err(w, ENOMEM);
		return;
	}
	op->fs = fs;
	op->victim = ino;
	*round_chunks(op) = ino->wb_head;
	ino->wb_head = ino->wb_tail = NULL;
	ino->commit_running = true;
	op->rr.send = commit_send;
	op->rr.done = commit_done;
	op->rr.fail = commit_fail;
	op_submit(op);
}

void wb_commit_then(struct fs_op *op, void (*resume)(struct fs_op *))
{
	struct ino *ino = op->ino;

	if (!ino->wb_head && !ino->wb_inflight && !ino->commit_running) {
		resume(op);
		return;
	}
	op->resume = resume;
	op->next = ino->commit_waiters;
	ino->commit_waiters = op;
	if (!ino->commit_running)
		wb_start_commit(op->fs, ino);
}
