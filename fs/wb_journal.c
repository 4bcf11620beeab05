/*
 * wb_journal.c — a WRITE's journal record, sent at the same time as the
 * WRITE to the primary, and the repair when the primary refuses the write.
 *
 * Why at the same time.  The kernel has one WRITE in flight per file (the
 * inode lock is held across a FUSE write without writeback cache), so a
 * sequential writer waits, per request, for the primary's reply and then
 * for the record's group write: the two latencies added up (measured:
 * journal mode wrote at half the primary-only speed).  Sent together, the
 * wait is the longer of the two.  The design brief's journal mode asks no
 * more: "durable in the secondary's journal and sent to the primary".
 *
 * Order.  The record is appended when the request arrives, the reply
 * waits for both the record (durable; encoded in mode async) and the
 * primary.  Every other mutation of the same inode is serialised with it
 * by the kernel (inode lock: setattr, rename, unlink, link), and a fid
 * names the inode, not a path, so the journal order is one the live tree
 * could have gone through: the record lies inside the request's
 * lifetime, like the effect on the primary does.
 *
 * REPAIR.  If the primary refuses the WRITE (ENOSPC, EDQUOT, EIO, ...),
 * the record is in the journal all the same and the mirror would get data
 * the application was told was not written.  So before the error is
 * returned, the op reads back what the primary holds — GETATTR for the
 * size S, READ of [off, min(off + len, S)) — and journals it: a WRITE of
 * those bytes and, if the failed write reached past S, a SETATTR of size
 * S.  The mirror then equals the primary again.  If the read-back fails
 * too, the error is logged (the range on the mirror may differ; a
 * verified resync finds it) and the application gets its error anyway.
 *
 * State (op->wj, bits): WJ_SENT the record was submitted; WJ_DURABLE it
 * is durable (or encoded, async); WJ_PRIMARY the primary answered, with
 * op->wj_err.  The op ends only once WJ_DURABLE is set: the record points
 * into op->data until it is encoded.
 */
#include "fs/fs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#define OP_OF(r) ((struct fs_op *)(r))

static void wbj_finish(struct fs_op *op);

static void wbj_durable(struct fs_op *op)
{
	op->wj |= WJ_DURABLE;
	if (op->wj & WJ_PRIMARY)
		wbj_finish(op);
}

/* op->jop := a WRITE of the first len bytes of op->data at op->off. */
static void write_record(struct fs_op *op, size_t len)
{
	memset(&op->jop, 0, sizeof(op->jop));
	op->jop.type = JNL_OP_WRITE;
	op->jop.u.write.fid = fsj_fid(op->fs, op->ino);
	op->jop.u.write.offset = op->off;
	op->jop.u.write.data = (const uint8_t *)op->data;
	op->jop.u.write.len = len;
}

void wbj_submit(struct fs_op *op)
{
	write_record(op, op->size);
	op->wj = WJ_SENT;
	fsj_commit(op, wbj_durable);
}

void wbj_primary_done(struct fs_op *op, int err)
{
	op->wj |= WJ_PRIMARY;
	op->wj_err = err;
	if (op->wj & WJ_DURABLE)
		wbj_finish(op);
}

/* ---- repair ---- */

static void repair_reply(struct fs_op *op)
{
	op_reply_err(op, op->wj_err);
}

static void repair_give_up(struct fs_op *op, const char *what, int err)
{
	syslog(LOG_ERR, "%s: a WRITE of %zu bytes at %lld was refused (%s) "
	       "after its journal record was written, and %s failed (%s): "
	       "the mirror may hold those bytes; a verified resync repairs "
	       "it", op->fs->primary.url_text, op->size, (long long)op->off,
	       strerror(op->wj_err), what, strerror(err));
	repair_reply(op);
}

/* Journal what the primary holds: bytes [off, off + op->step), then the
 * size if the failed write reached past it, and the mtime (the mirror's
 * moved with the refused bytes).  op->attr holds S and the mtime. */
static void repair_size(struct fs_op *op)
{
	struct jnl_op_setattr *sa = &op->jop.u.setattr;

	memset(&op->jop, 0, sizeof(op->jop));
	op->jop.type = JNL_OP_SETATTR;
	sa->fid = fsj_fid(op->fs, op->ino);
	sa->mask = JNL_SA_MTIME;
	sa->mtime_sec = op->attr.st_mtim.tv_sec;
	sa->mtime_nsec = op->attr.st_mtim.tv_nsec;
	if ((off_t)(op->off + op->size) > op->attr.st_size) {
		sa->mask |= JNL_SA_SIZE;
		sa->size = op->attr.st_size;
	}
	fsj_commit(op, repair_reply);
}

static void repair_journal(struct fs_op *op)
{
	if (!op->step) {
		repair_size(op);
		return;
	}
	write_record(op, op->step);
	fsj_commit(op, repair_size);
}

static size_t repair_want(const struct fs_op *op)
{
	off_t end = op->off + (off_t)op->size;

	if (end > op->attr.st_size)
		end = op->attr.st_size;
	return end > op->off ? (size_t)(end - op->off) : 0;
}

static int repair_read_send(struct rep_req *r, struct rpc_context *rpc,
			    rpc_cb cb)
{
	struct fs_op *op = OP_OF(r);
	size_t n = repair_want(op) - op->step;
	READ3args a = { .file = ino_fh3(op->ino) };

	if (n > op->fs->active->rtmax)
		n = op->fs->active->rtmax;
	a.offset = op->off + op->step;
	a.count = n;
	return rpc_nfs3_read_async(rpc, cb, &a, r);
}

static void repair_read_done(struct rep_req *r, void *data)
{
	struct fs_op *op = OP_OF(r);
	READ3res *res = data;
	READ3resok *ok = &res->READ3res_u.resok;
	size_t want = repair_want(op);

	if (res->status != NFS3_OK) {
		repair_give_up(op, "reading the range back",
			       fs_nfs_errno(res->status));
		return;
	}
	if (ok->data.data_len > want - op->step)
		ok->data.data_len = want - op->step;
	memcpy(op->data + op->step, ok->data.data_val, ok->data.data_len);
	op->step += ok->data.data_len;
	if ((size_t)op->step < want && !ok->eof && ok->data.data_len) {
		op_chain(op, repair_read_send, repair_read_done);
		return;
	}
	/* A short file (EOF early): what is there is what counts. */
	op->attr.st_size = op->off + op->step;
	repair_journal(op);
}

static void repair_getattr_done(struct rep_req *r, void *data)
{
	struct fs_op *op = OP_OF(r);
	GETATTR3res *res = data;

	if (res->status != NFS3_OK) {
		repair_give_up(op, "reading the size back",
			       fs_nfs_errno(res->status));
		return;
	}
	fs_fattr_to_stat(&res->GETATTR3res_u.resok.obj_attributes,
			 &op->attr);
	op->step = 0;
	if (!repair_want(op)) {
		repair_journal(op);
		return;
	}
	op_chain(op, repair_read_send, repair_read_done);
}

static void repair_fail(struct rep_req *r, int err)
{
	repair_give_up(OP_OF(r), "the read-back call", err);
}

static void wbj_finish(struct fs_op *op)
{
	if (!op->wj_err) {
		wb_write_acked(op);
		return;
	}
	if (!fs_recording(op->fs)) {
		/* Refused by the mirror after a failover: the record went
		 * to a journal nobody applies any more. */
		op_reply_err(op, op->wj_err);
		return;
	}
	syslog(LOG_NOTICE, "%s: WRITE refused (%s): journaling what the "
	       "primary holds in its place", op->fs->primary.url_text,
	       strerror(op->wj_err));
	op->rr.fail = repair_fail;
	op_chain(op, fs_getattr_send, repair_getattr_done);
}
