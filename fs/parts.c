/*
 * parts.c — one large READ or WRITE request sent as several NFS calls at
 * once, one per connection of the active export.
 *
 * Why.  The kernel sends a sequential reader's or writer's FUSE requests
 * one (a write) or two (a read with its readahead) at a time and waits for
 * each reply, so a sequential stream is a chain of request latencies.  One
 * 1 MiB NFS call keeps one server thread and one socket busy while the
 * rest idle (measured: both CPUs about half idle during a 1 MiB
 * sequential write).  Split, the server works on the first part while the
 * next are still on the wire.  Measured on the lab (docs/benchmarks.md,
 * "Parts"): sequential write +20 to 30 %; 128 KiB parts were slower than
 * 256 KiB ones, and more parts than connections gained nothing.
 *
 * Rules.  A request of at least 2 × PARTS_MIN bytes is split into at most
 * one part per connection that is up, each a multiple of 4 KiB but the
 * last.  The parts are disjoint ranges of one request, so their order does
 * not matter.  Each part is a struct rep_req of its own (held, re-sent and
 * failed over like any call, fs/failover.c); a short answer is continued by
 * the part itself (op_part_more).  The request ends when the last part
 * does: the caller's end hook then finds op->parts_err (the first part's
 * errno, 0 if none) and op->step (the bytes from the request's start up to
 * the first part that did not get all of its range: a read's contiguous
 * prefix before EOF).  The op is never freed while a part is out.
 */
#include "fs/fs.h"

#include <stdlib.h>

struct op_part {
	struct rep_req rr;	/* first: libnfs private_data */
	struct fs_op *op;
	size_t off;		/* in the request */
	size_t len;
	size_t done;
};

struct fs_op *op_part_op(struct rep_req *r, size_t *off, size_t *len)
{
	struct op_part *p = (struct op_part *)r;

	*off = p->off + p->done;
	*len = p->len - p->done;
	return p->op;
}

void op_part_end(struct rep_req *r, int err)
{
	struct op_part *p = (struct op_part *)r;
	struct fs_op *op = p->op;
	size_t prefix = 0;

	if (err && !op->parts_err)
		op->parts_err = err;
	if (--op->parts_left)
		return;
	for (unsigned i = 0; i < op->parts_n; i++) {
		prefix += op->parts[i].done;
		if (op->parts[i].done < op->parts[i].len)
			break;
	}
	op->step = prefix;
	free(op->parts);
	op->parts = NULL;
	op->parts_end(op);
}

void op_part_more(struct rep_req *r, size_t got, bool eof)
{
	struct op_part *p = (struct op_part *)r;

	p->done += got;
	if (p->done < p->len && got && !eof) {
		p->rr.attempts = 0;
		op_submit_req(p->op, &p->rr);
		return;
	}
	op_part_end(r, 0);
}

static void part_fail(struct rep_req *r, int err)
{
	op_part_end(r, err);
}

bool op_parts_send(struct fs_op *op,
		   int (*send)(struct rep_req *, struct rpc_context *, rpc_cb),
		   void (*done)(struct rep_req *, void *),
		   void (*end)(struct fs_op *))
{
	struct rep_export *e = op->fs->active;
	size_t n = op->size / PARTS_MIN, each;
	unsigned up = 0;

	for (int i = 0; i < e->nconns; i++)
		up += e->conns[i].state == REP_CONN_UP;
	if (n > up)
		n = up;
	if (n < 2)
		return false;
	each = (op->size / n + 4095) & ~(size_t)4095;
	n = (op->size + each - 1) / each;
	op->parts = calloc(n, sizeof(*op->parts));
	if (!op->parts)
		return false;
	op->parts_n = n;
	op->parts_left = n;
	op->parts_answered = 0;
	op->parts_err = 0;
	op->parts_end = end;
	for (size_t i = 0; i < n; i++) {
		struct op_part *p = &op->parts[i];

		p->op = op;
		p->off = i * each;
		p->len = i + 1 < n ? each : op->size - p->off;
		p->rr.send = send;
		p->rr.done = done;
		p->rr.fail = part_fail;
	}
	/* parts_left counts the parts not yet sent too, so a part that
	 * fails at once cannot end the request before the loop is done */
	for (size_t i = 0; i < n; i++)
		op_submit_req(op, &op->parts[i].rr);
	return true;
}
