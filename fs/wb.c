/*
 * wb.c — writes, their retention, and COMMIT.
 *
 * Writes go to the primary as NFS UNSTABLE WRITEs: the server may keep the
 * data in memory until a COMMIT.  An NFS server that restarts loses such
 * data and says so by returning a new write verifier.  So ofsrep keeps a
 * copy of every write (a wb_chunk), in the order the writes were answered,
 * until a COMMIT covers it.  The kernel serialises writes to one inode
 * (inode lock, no writeback cache), so that order is issue order.
 *
 * RE-SEND RULE.  A COMMIT round covers the chunks retained when it starts.
 * If some chunk's verifier differs from the COMMIT's (or the chunk was
 * split across replies with different verifiers), the server lost data
 * from that chunk on.  Then that chunk and EVERY later one — the rest of
 * the round and all chunks retained since — are re-sent as FILE_SYNC
 * writes in their original order, so a re-sent old write can never land
 * after a newer write of the same bytes.  FILE_SYNC answers are retained
 * like unstable ones for the same reason.  While a re-send runs, new
 * WRITEs to the inode wait (write_waiters).
 *
 * When COMMIT runs:
 *   - fsync(2): synchronously, the reply waits for it;
 *   - before a truncate (so a re-send can never undo it);
 *   - when a file's retained bytes pass wb_max (back-pressure: the write
 *     that crossed the line is answered only after the COMMIT);
 *   - at release (last close), in the background: close(2) does not wait,
 *     but the data stays retained until committed;
 *   - at unmount, for every inode still holding chunks (wb_drain_all);
 *   - at once, in the background, when a WRITE reply shows a verifier
 *     other than the oldest retained chunk's (the server restarted).
 *
 * Journal modes: a WRITE's journal record goes out when the request
 * arrives, alongside the primary WRITE, and the reply waits for both
 * (fs/wb_journal.c, which also repairs the journal when the primary
 * refuses the write).  Mode full sends FILE_SYNC WRITEs and retains
 * nothing: there is nothing a server restart could lose.
 *
 * Failures: a lost connection is not a failure (the call is re-sent).  An
 * NFS error on COMMIT or on a re-send is reported to the waiters (fsync
 * gets it); the chunks stay retained for the next round, except on ESTALE
 * (the file is gone from the server: nothing can ever be committed).
 *
 * Lifetime: a COMMIT round pins its inode (ino->pins) until its waiters
 * have run, so a FORGET or the last release during the round cannot free
 * it underneath.
 */
#include "fs/fs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#define OP_OF(r) ((struct fs_op *)(r))
#define COMMIT_TIMEOUT_MS 60000	/* a COMMIT may flush wb_max MiB to disk */

struct wb_chunk {
	struct wb_chunk *next;
	uint64_t off;
	uint32_t len;
	bool mixed;		/* parts got different verifiers */
	char verf[NFS3_WRITEVERFSIZE];
	char *data;		/* the bytes */
	char *base;		/* their allocation (owned) */
};

static void wb_start_commit(struct fs_ctx *fs, struct ino *ino);
static void commit_abort(struct fs_op *op, int err);
static bool chunk_lost(const struct wb_chunk *c, const char *verf);
static void write_sent(struct fs_op *op);

static void chunk_free_list(struct wb_chunk *c, struct ino *ino)
{
	while (c) {
		struct wb_chunk *next = c->next;

		if (ino)
			ino->wb_bytes -= c->len;
		free(c->base);
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

/* One WRITE of op's bytes [done, done + n), at most wtmax of them. */
static int write_range_send(struct fs_op *op, size_t done, size_t n,
			    struct rpc_context *rpc, rpc_cb cb,
			    struct rep_req *r)
{
	WRITE3args a;

	if (n > op->fs->active->wtmax)
		n = op->fs->active->wtmax;
	a.file = ino_fh3(op->ino);
	a.offset = op->off + done;
	a.count = n;
	fs_failback_dirty(op->fs, op->ino);
	/* Mode full: acknowledged means on the primary's disk too. */
	a.stable = op->fs->mode == FS_MODE_FULL ? FILE_SYNC : UNSTABLE;
	a.data.data_len = n;
	a.data.data_val = op->data + done;
	return rpc_nfs3_write_async(rpc, cb, &a, r);
}

static int write_send(struct rep_req *r, struct rpc_context *rpc, rpc_cb cb)
{
	struct fs_op *op = OP_OF(r);

	return write_range_send(op, op->step, op->size - op->step, rpc, cb, r);
}

static void write_reply(struct fs_op *op)
{
	fs_failback_dirty(op->fs, op->ino);
	fuse_reply_write(op->req, op->size);
	op_free(op);
}

/* Turns the op's payload into a retained chunk (takes ownership). */
static int write_retain(struct fs_op *op)
{
	struct wb_chunk *c = calloc(1, sizeof(*c));
	struct ino *ino = op->ino;

	if (!c)
		return -ENOMEM;
	c->off = op->off;
	c->len = op->size;
	c->data = op->data;
	c->base = op->data_base ? op->data_base : op->data;
	c->mixed = op->flags;
	op->data = NULL;
	op->data_base = NULL;
	memcpy(c->verf, op->verf, sizeof(c->verf));
	if (ino->wb_tail)
		ino->wb_tail->next = c;
	else
		ino->wb_head = c;
	ino->wb_tail = c;
	ino->wb_bytes += c->len;
	return 0;
}

/* The primary refused the write: with a record out, wb_journal.c repairs
 * the journal before the error goes back. */
static void write_failed(struct fs_op *op, int err)
{
	if (op->wj & WJ_SENT)
		wbj_primary_done(op, err);
	else
		op_reply_err(op, err);
}

static void write_done(struct rep_req *r, void *data)
{
	struct fs_op *op = OP_OF(r);
	WRITE3res *res = data;
	WRITE3resok *ok = &res->WRITE3res_u.resok;
	struct ino *ino = op->ino;

	if (res->status != NFS3_OK || ok->count == 0) {
		ino->wb_inflight--;
		write_failed(op, res->status != NFS3_OK ?
			     fs_nfs_errno(res->status) : EIO);
		return;
	}
	/* The chunk's verifier is its first part's; a later part with
	 * another verifier (a restart in between) marks it for re-send. */
	if (op->step == 0)
		memcpy(op->verf, ok->verf, sizeof(op->verf));
	else if (memcmp(op->verf, ok->verf, sizeof(op->verf)))
		op->flags = 1;
	op->step += ok->count;
	if ((size_t)op->step < op->size) {	/* short write: go on */
		op_chain(op, write_send, write_done);
		return;
	}
	write_sent(op);
}

/* ---- parts (fs/parts.c) ----
 *
 * A large write goes out as parallel WRITEs.  The chunk retained for
 * re-sending is the whole request, with the verifier of the first part
 * answered; a part with another verifier marks it mixed (re-sent whole at
 * the next COMMIT round, as a chunk split across replies is).  A refused
 * part fails the request once the others have ended (they point into its
 * buffer), as a refused second WRITE of a short write did; the journal's
 * repair (fs/wb_journal.c) reads the whole range back, so which parts
 * landed needs no bookkeeping. */

static int part_send(struct rep_req *r, struct rpc_context *rpc, rpc_cb cb)
{
	size_t off, n;
	struct fs_op *op = op_part_op(r, &off, &n);

	return write_range_send(op, off, n, rpc, cb, r);
}

static void part_done(struct rep_req *r, void *data)
{
	size_t off, n;
	struct fs_op *op = op_part_op(r, &off, &n);
	WRITE3res *res = data;
	WRITE3resok *ok = &res->WRITE3res_u.resok;

	if (res->status != NFS3_OK || ok->count == 0) {
		op_part_end(r, res->status != NFS3_OK ?
			    fs_nfs_errno(res->status) : EIO);
		return;
	}
	if (op->parts_answered++ == 0)
		memcpy(op->verf, ok->verf, sizeof(op->verf));
	else if (memcmp(op->verf, ok->verf, sizeof(op->verf)))
		op->flags = 1;
	op_part_more(r, ok->count, false);
}

static void parts_end(struct fs_op *op)
{
	if (op->parts_err) {
		op->ino->wb_inflight--;
		write_failed(op, op->parts_err);
		return;
	}
	write_sent(op);
}

/* The write is on the primary (and, in journal mode, in the journal):
 * retain it for re-sending, apply back-pressure, reply. */
void wb_write_acked(struct fs_op *op)
{
	struct ino *ino = op->ino;

	ino->mtime_dirty = fs_recording(op->fs);
	/* FILE_SYNC only (mode full): nothing to re-send, ever. */
	if (op->fs->mode == FS_MODE_FULL) {
		write_reply(op);
		return;
	}
	if (write_retain(op)) {
		op_reply_err(op, ENOMEM);
		return;
	}
	/* The oldest retained write got another verifier: the server
	 * restarted since and may have lost it.  Re-send now rather than at
	 * the next fsync or close, so readers see the data meanwhile. */
	if (!ino->commit_running && chunk_lost(ino->wb_head, op->verf))
		wb_start_commit(op->fs, ino);
	if (ino->wb_bytes > op->fs->wb_max)
		wb_commit_then(op, write_reply);
	else
		write_reply(op);
}

/* Every byte of op is on the primary: on to the record or the reply. */
static void write_sent(struct fs_op *op)
{
	op->ino->wb_inflight--;
	if (op->wj & WJ_SENT)	/* the reply also waits for the record */
		wbj_primary_done(op, 0);
	else
		wb_write_acked(op);
}

static void write_fail(struct rep_req *r, int err)
{
	struct fs_op *op = OP_OF(r);

	op->ino->wb_inflight--;
	write_failed(op, err);
}

void wb_write(struct fs_op *op)
{
	struct ino *ino = op->ino;

	/* Whether the record goes out is decided here: a write that comes
	 * during a failback's freeze decides after it (fs/failback.c). */
	if (fs_failback_holds(op->fs, op)) {
		fs_failback_defer_write(op->fs, op);
		return;
	}

	op->step = 0;
	op->flags = 0;
	op->rr.send = write_send;
	op->rr.done = write_done;
	op->rr.fail = write_fail;
	/* Journal modes: the record goes out now, alongside the WRITE
	 * (wb_journal.c); a write held for a re-send keeps its record. */
	if (fs_recording(op->fs) && !(op->wj & WJ_SENT))
		wbj_submit(op);
	if (ino->resending) {
		op->next = ino->write_waiters;
		ino->write_waiters = op;
		return;
	}
	ino->wb_inflight++;
	if (!op_parts_send(op, part_send, part_done, parts_end))
		op_submit(op);
}

/* ---- COMMIT and re-send ----
 *
 * The internal op that runs one round: op->victim is the inode,
 * op->chunks the chunks it covers, op->cursor the re-send position and
 * op->step the bytes of the cursor chunk already re-sent. */

static int commit_send(struct rep_req *r, struct rpc_context *rpc, rpc_cb cb)
{
	struct fs_op *op = OP_OF(r);
	int old = rpc_get_timeout(rpc);
	COMMIT3args a;
	int rc;

	a.file = ino_fh3(op->victim);
	a.offset = 0;
	a.count = 0;	/* 0 = to the end of the file */
	/* libnfs stamps the deadline when the call is queued: a COMMIT may
	 * legitimately take long (it flushes the file on the NAS). */
	rpc_set_timeout(rpc, COMMIT_TIMEOUT_MS);
	rc = rpc_nfs3_commit_async(rpc, cb, &a, r);
	rpc_set_timeout(rpc, old);
	return rc;
}

/* Runs the waiters once nothing more is to be done for them. */
static void commit_finish(struct fs_op *op, int err)
{
	struct ino *ino = op->victim;
	struct fs_ctx *fs = op->fs;
	struct fs_op *w, *held;

	chunk_free_list(op->chunks, ino);
	op->chunks = NULL;
	op_free(op);
	ino->commit_running = false;
	ino->resending = false;
	held = ino->write_waiters;
	ino->write_waiters = NULL;
	for (; held; held = w) {	/* writes held during the re-send */
		w = held->next;
		wb_write(held);
	}
	if (!err && ino->wb_head) {
		/* Writes answered during this round: one more round. */
		wb_start_commit(fs, ino);
		ino->pins--;		/* the new round holds its own */
		return;
	}
	w = ino->commit_waiters;
	ino->commit_waiters = NULL;
	while (w) {
		struct fs_op *next = w->next;

		if (err)
			op_reply_err(w, err);
		else
			w->resume(w);
		w = next;
	}
	ino->pins--;
	ino_maybe_free(&fs->inodes, ino);
}

static int resend_send(struct rep_req *r, struct rpc_context *rpc,
		       rpc_cb cb)
{
	struct fs_op *op = OP_OF(r);
	struct wb_chunk *c = op->cursor;
	size_t n = c->len - op->step;
	WRITE3args a;

	if (n > op->fs->active->wtmax)
		n = op->fs->active->wtmax;
	a.file = ino_fh3(op->victim);
	a.offset = c->off + op->step;
	a.count = n;
	fs_failback_dirty(op->fs, op->victim);
	a.stable = FILE_SYNC;
	a.data.data_len = n;
	a.data.data_val = c->data + op->step;
	return rpc_nfs3_write_async(rpc, cb, &a, r);
}

static void resend_done(struct rep_req *r, void *data)
{
	struct fs_op *op = OP_OF(r);
	WRITE3res *res = data;

	if (res->status != NFS3_OK || res->WRITE3res_u.resok.count == 0) {
		commit_abort(op, res->status != NFS3_OK ?
			     fs_nfs_errno(res->status) : EIO);
		return;
	}
	op->step += res->WRITE3res_u.resok.count;
	if ((size_t)op->step < op->cursor->len) {	/* short: the rest */
		op_chain(op, resend_send, resend_done);
		return;
	}
	op->step = 0;
	op->cursor = op->cursor->next;
	if (!op->cursor) {
		commit_finish(op, 0);	/* all FILE_SYNC now */
		return;
	}
	op_chain(op, resend_send, resend_done);
}

/* Appends the chunks retained since the round began to the round, so the
 * re-send covers every write after the first lost one. */
static void round_take_newer(struct fs_op *op)
{
	struct ino *ino = op->victim;
	struct wb_chunk **tail = &op->chunks;

	while (*tail)
		tail = &(*tail)->next;
	*tail = ino->wb_head;
	ino->wb_head = ino->wb_tail = NULL;
}

static bool chunk_lost(const struct wb_chunk *c, const char *verf)
{
	return c->mixed || memcmp(c->verf, verf, NFS3_WRITEVERFSIZE);
}

/* A round that failed keeps its chunks: back in front of newer ones. */
static void commit_abort(struct fs_op *op, int err)
{
	struct wb_chunk *c = op->chunks;
	struct ino *ino = op->victim;

	if (err == ESTALE) {
		syslog(LOG_WARNING, "primary: file %llu is gone from the "
		       "server; dropping its uncommitted data",
		       (unsigned long long)ino->fileid);
		commit_finish(op, err);
		return;
	}
	syslog(LOG_ERR, "primary: COMMIT of file %llu failed: %s; its data "
	       "stays retained", (unsigned long long)ino->fileid,
	       strerror(err));
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
	const char *verf = res->COMMIT3res_u.resok.verf;
	struct wb_chunk *c;

	if (res->status != NFS3_OK) {
		commit_abort(op, fs_nfs_errno(res->status));
		return;
	}
	for (c = op->chunks; c && !chunk_lost(c, verf); c = c->next)
		;
	if (!c) {
		commit_finish(op, 0);
		return;
	}
	syslog(LOG_WARNING, "primary: write verifier changed (server "
	       "restarted): re-sending uncommitted data of file %llu",
	       (unsigned long long)op->victim->fileid);
	/* Free what is safely committed; re-send from the first lost
	 * chunk through the newest. */
	while (op->chunks != c) {
		struct wb_chunk *done = op->chunks;

		op->chunks = done->next;
		done->next = NULL;
		chunk_free_list(done, op->victim);
	}
	op->victim->resending = true;
	round_take_newer(op);
	op->cursor = op->chunks;
	op->step = 0;
	op_chain(op, resend_send, resend_done);
}

static void wb_start_commit(struct fs_ctx *fs, struct ino *ino)
{
	struct fs_op *op = calloc(1, sizeof(*op));

	if (op) {
		/* a round may re-send data: not to the mirror behind a
		 * failback's final pass */
		op->fs = fs;
		op->commit_round = true;
		op_count(op);
	}
	if (!op) {
		struct fs_op *w = ino->commit_waiters;

		ino->commit_waiters = NULL;
		while (w) {
			struct fs_op *next = w->next;

			op_reply_err(w, ENOMEM);
			w = next;
		}
		return;
	}
	op->fs = fs;
	op->victim = ino;
	op->chunks = ino->wb_head;
	ino->wb_head = ino->wb_tail = NULL;
	ino->commit_running = true;
	ino->pins++;
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

/* ---- unmount ---- */

static void drain_done(struct fs_op *op)
{
	op->fs->draining--;
	op_free(op);
}

unsigned wb_drain_all(struct fs_ctx *fs)
{
	struct ino_table *t = &fs->inodes;

	for (size_t b = 0; b < t->nbuckets; b++) {
		for (struct ino *ino = t->buckets[b]; ino; ino = ino->hnext) {
			struct fs_op *op;

			if (!ino->wb_head && !ino->commit_running)
				continue;
			op = calloc(1, sizeof(*op));
			if (!op)
				continue;
			op->fs = fs;
			op->ino = ino;
			fs->draining++;
			wb_commit_then(op, drain_done);
		}
	}
	return fs->draining;
}
