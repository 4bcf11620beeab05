// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ofsrep-journal: write and check a node's journal on an export.
 *
 *   ofsrep-journal append URL --node N --count C [--group G]
 *                  [--payload BYTES] [--seg-limit BYTES] [--timeout-ms MS]
 *                  [--json]
 *   ofsrep-journal check URL --node N [--json] [-v] [--timeout-ms MS]
 *   ofsrep-journal ckpt URL --node N --seq S [--timeout-ms MS]
 *
 * append  reads the node's journal to its end (journal/reader.h), takes a
 *         new epoch (W2) and continues the journal (W3): C synthetic but
 *         well-formed records, G per group, each group one durable write
 *         (replica/jstore.h).  The records depend only on their seq (see
 *         syn_op()), so runs that differ only in --group write the same
 *         records.  A failed write ends the run with one line saying how
 *         far the journal is durable; the next run resumes after it.
 * check   reads every segment, walks them with the reader and reports the
 *         records, segments, epochs, last seq and how the journal ends
 *         (jnl_end_describe()), then checks the applier's checkpoint, if
 *         any, by reading the journal from it as the applier would.  This
 *         is the seed of ofsrep-fsck: it reads, it never repairs.
 * ckpt    writes a checkpoint "applied up to seq S" into the other slot
 *         of applied.ckpt, as the applier will (for tests and operators).
 *
 * URL is nfs://HOST/EXPORT_PATH?nfsport=N&mountport=M; the journal is
 * EXPORT/.ofsrep/journal/<node>/ (replica/jstore.h).
 *
 * Exit status, e2fsck style (/work/shared/notes/style.md, fsck contract):
 *   0  clean, or a torn tail / empty last segment (end of log, no error)
 *   4  the journal is damaged or refused (newer version); append refuses
 *      to write after damage; check also returns 4 for a checkpoint that
 *      does not fit the journal
 *   8  operational error (unreachable export, timeout, I/O error)
 *  16  usage error (one line on stderr)
 *
 * Build: make (build/ofsrep-journal).  Test:
 *   /usr/bin/python3 -m pytest tests/integration/test_journal_store.py
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <xxhash.h>

#include "journal/appender.h"
#include "journal/reader.h"
#include "replica/jstore.h"
#include "replica/url.h"

enum {
	EX_OK = 0,
	EX_UNCORRECTED = 4,
	EX_ERROR = 8,
	EX_USAGE = 16,
};

#define PROG			"ofsrep-journal"
#define DEF_TIMEOUT_MS		5000
#define DEF_GROUP		16
#define DEF_PAYLOAD		64
#define SYN_CYCLE		16	/* records per synthetic file */
#define MAX_COUNT		100000000ull
#define MAX_GROUP		1000000ull

/* Which option was given, for "does not apply to" errors. */
enum {
	OPT_NODE = 1u << 0,
	OPT_COUNT = 1u << 1,
	OPT_GROUP = 1u << 2,
	OPT_PAYLOAD = 1u << 3,
	OPT_SEGLIMIT = 1u << 4,
	OPT_TIMEOUT = 1u << 5,
	OPT_JSON = 1u << 6,
	OPT_VERBOSE = 1u << 7,
	OPT_SEQ = 1u << 8,
};

struct opts {
	const char *cmd;
	const char *url;
	unsigned given;		/* OPT_* */
	uint32_t node;
	uint64_t count;
	uint64_t group;
	uint64_t payload;	/* WRITE data bytes */
	uint64_t seg_limit;	/* bytes; 0 = the appender's default */
	uint64_t seq;
	int timeout_ms;
	bool json;
	bool verbose;
};

/* ---- the journal as read: files, reader, tallies ---- */

/* One segment file and what the reader made of it. */
struct seg_info {
	uint64_t segno;		/* from the file name */
	size_t len;		/* bytes read */
	bool hdr_ok;		/* its header decoded */
	struct jnl_seg_hdr hdr;
	enum jnl_end_kind end;	/* how the reader left it (NONE: not read) */
	uint64_t nrecs;
	uint64_t first_seq;	/* of its records returned, 0 if none */
	uint64_t last_seq;
	size_t ignored;		/* SEALED: bytes after the seal */
};

/* What a walk returned. */
struct tally {
	uint64_t nrecs;
	uint64_t first_seq;
	uint64_t last_seq;
	uint32_t last_epoch;
	unsigned nepochs;	/* distinct epochs, in order */
	uint64_t types[JNL_OP_TYPE_MAX + 1];
	XXH3_state_t *xxh;	/* digest of (type, paylen, payload), or NULL */
};

struct journal {
	struct jstore js;
	size_t n;			/* segment files */
	struct jnl_seg_buf *segs;	/* their bytes, segno order */
	struct seg_info *info;
	char err[JSTORE_ERR_MAX];
};

static void journal_free(struct journal *j)
{
	for (size_t i = 0; i < j->n; i++)
		free((void *)j->segs[i].data);
	free(j->segs);
	free(j->info);
	j->segs = NULL;
	j->info = NULL;
	j->n = 0;
}

static void journal_close(struct journal *j)
{
	journal_free(j);
	jstore_close(&j->js);
}

/* List and read every segment of the node (none if there is none). */
static int journal_read(struct journal *j)
{
	uint64_t *segnos;
	uint8_t *buf;
	size_t n;
	int rc = jstore_list(&j->js, &segnos, &n, j->err, sizeof(j->err));

	if (rc)
		return rc;
	j->segs = calloc(n ? n : 1, sizeof(*j->segs));
	j->info = calloc(n ? n : 1, sizeof(*j->info));
	if (!j->segs || !j->info) {
		free(segnos);
		snprintf(j->err, sizeof(j->err), "out of memory");
		return -ENOMEM;
	}
	for (j->n = 0; j->n < n; j->n++) {
		struct seg_info *si = &j->info[j->n];

		rc = jstore_seg_read(&j->js, segnos[j->n], &buf, &si->len,
				     j->err, sizeof(j->err));
		if (rc)
			break;
		si->segno = segnos[j->n];
		si->hdr_ok = jnl_seg_decode(buf, si->len, &si->hdr) ==
			     JNL_SEG_OK;
		j->segs[j->n] = (struct jnl_seg_buf){ .data = buf,
						       .len = si->len };
	}
	free(segnos);
	return rc;
}

static void tally_record(struct tally *t, const struct jnl_rec *rec,
			 const uint8_t *seg)
{
	uint8_t head[6];

	if (!t->nrecs)
		t->first_seq = rec->hdr.seq;
	if (!t->nrecs || rec->hdr.epoch != t->last_epoch)
		t->nepochs++;
	t->nrecs++;
	t->last_seq = rec->hdr.seq;
	t->last_epoch = rec->hdr.epoch;
	if (rec->hdr.type <= JNL_OP_TYPE_MAX)
		t->types[rec->hdr.type]++;
	if (!t->xxh)
		return;
	jnl_put_le16(head, rec->hdr.type);
	jnl_put_le32(head + 2, rec->hdr.paylen);
	XXH3_64bits_update(t->xxh, head, sizeof(head));
	XXH3_64bits_update(t->xxh, seg + rec->offset + JNL_REC_HDR_SIZE,
			   rec->hdr.paylen);
}

/* Read the records of the segment the reader just opened (index i). */
static int walk_segment(struct journal *j, struct jnl_reader *rd, size_t i,
			struct tally *t, struct seg_info *si, uint64_t stop)
{
	struct jnl_rec rec;
	int rc;

	while ((rc = jnl_rd_next(rd, &rec)) == 1) {
		tally_record(t, &rec, j->segs[i].data);
		if (si) {
			si->first_seq = si->nrecs ? si->first_seq :
				rec.hdr.seq;
			si->last_seq = rec.hdr.seq;
			si->nrecs++;
		}
		if (rec.hdr.seq == stop)
			return 1;
	}
	if (si) {
		si->end = rd->end.kind;
		if (rd->end.kind == JNL_END_SEALED)
			si->ignored = rd->len - rd->off;
	}
	return rc;
}

/*
 * jnl_rd_walk() over segments [from, n), each sealed by the next, keeping
 * per-segment facts in j->info when info is set.  Stops after record
 * stop (1), at the end (0), or on damage (-EUCLEAN, -EPROTO).
 */
static int journal_walk(struct journal *j, struct jnl_reader *rd,
			size_t from, struct tally *t, bool info,
			uint64_t stop)
{
	const struct jnl_seg_buf *nx;
	int rc;

	for (size_t i = from; i < j->n; i++) {
		nx = i + 1 < j->n ? &j->segs[i + 1] : NULL;
		rc = jnl_rd_open(rd, j->segs[i].data, j->segs[i].len,
				 nx ? nx->data : NULL, nx ? nx->len : 0);
		if (info)
			j->info[i].end = rd->end.kind;
		if (rc)
			return rc;
		if (rd->end.kind == JNL_END_EMPTY)
			continue;
		rc = walk_segment(j, rd, i, t, info ? &j->info[i] : NULL,
				  stop);
		if (rc)
			return rc;
	}
	return 0;
}

static int journal_open(struct journal *j, const struct opts *o, bool mkdir)
{
	int rc;

	memset(j, 0, sizeof(*j));
	rc = jstore_open(&j->js, o->url, o->node, o->timeout_ms, j->err,
			 sizeof(j->err));
	if (!rc && mkdir)
		rc = jstore_mkdir(&j->js, j->err, sizeof(j->err));
	if (!rc)
		rc = journal_read(j);
	return rc;
}

/* ---- messages ---- */

static int op_error(const char *cmd, const char *msg)
{
	fprintf(stderr, PROG " %s: %s\n", cmd, msg);
	return EX_ERROR;
}

static void describe_end(const struct jnl_end *e, char *buf, size_t size)
{
	if (e->kind == JNL_END_NONE)
		snprintf(buf, size, "no segments");
	else
		jnl_end_describe(e, buf, size);
}

/* Print s as a JSON string (quotes included). */
static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* ---- the synthetic record stream ---- */

/*
 * Buffers for one synthetic op.  Record seq s is a function of s alone
 * (and of --payload): cycles of SYN_CYCLE records per file f<c>, c the
 * first seq of the cycle, fid 1 + c (never the root): a CREATE, WRITEs of
 * --payload bytes (byte i of seq s's data is (s * 31 + i) mod 256) at
 * consecutive offsets, a SETATTR (mode 0640, mtime s) and a SETXATTR
 * user.ofsrep.seq = s.  A run that starts inside a cycle first BINDs the
 * cycle's file, as writer rule W6 requires of a new epoch.
 */
struct syn {
	char name[32];
	char value[24];
	uint8_t *data;		/* payload bytes */
	size_t payload;
};

static void syn_write(struct syn *y, struct jnl_op *op, uint64_t seq,
		      uint64_t fid, uint64_t k)
{
	for (size_t i = 0; i < y->payload; i++)
		y->data[i] = (uint8_t)(seq * 31 + i);
	op->type = JNL_OP_WRITE;
	op->u.write = (struct jnl_op_write){
		.fid = fid, .offset = (k - 1) * y->payload, .data = y->data,
		.len = y->payload,
	};
}

static void syn_op(struct syn *y, struct jnl_op *op, uint64_t seq,
		   bool run_start)
{
	uint64_t k = (seq - 1) % SYN_CYCLE;
	uint64_t c = seq - k;
	uint64_t fid = 1 + c;
	struct jnl_str name = { .ptr = y->name };

	name.len = (size_t)snprintf(y->name, sizeof(y->name), "f%" PRIu64, c);
	memset(op, 0, sizeof(*op));
	if (k == 0) {
		op->type = JNL_OP_CREATE;
		op->u.entry = (struct jnl_op_entry){
			.parent = JNL_FID_ROOT, .fid = fid,
			.mode = JNL_S_IFREG | 0644, .name = name,
		};
	} else if (run_start) {
		op->type = JNL_OP_BIND;
		op->u.link = (struct jnl_op_link){
			.parent = JNL_FID_ROOT, .fid = fid, .name = name,
		};
	} else if (k == SYN_CYCLE - 2) {
		op->type = JNL_OP_SETATTR;
		op->u.setattr = (struct jnl_op_setattr){
			.fid = fid, .mask = JNL_SA_MODE | JNL_SA_MTIME,
			.mode = 0640, .mtime_sec = (int64_t)seq,
		};
	} else if (k == SYN_CYCLE - 1) {
		op->type = JNL_OP_SETXATTR;
		op->u.xattr = (struct jnl_op_xattr){
			.fid = fid, .name = { "user.ofsrep.seq", 15 },
			.value = (const uint8_t *)y->value,
			.value_len = (size_t)snprintf(y->value,
						      sizeof(y->value),
						      "%" PRIu64, seq),
		};
	} else {
		syn_write(y, op, seq, fid, k);
	}
}

/* ---- append ---- */

struct run {
	struct journal *j;
	struct jnl_appender a;
	uint64_t stale_from;	/* segments >= this exist and are EMPTY */
	bool stale;		/* ... if any exist at all */
	uint64_t groups;
	uint64_t bytes;
	uint64_t segments;	/* created by this run */
	uint64_t first_segno;
	uint64_t last_segno;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Write the filling group, if any: create its segment, write, done. */
static int run_flush(struct run *r)
{
	struct journal *j = r->j;
	struct jnl_app_write w;
	unsigned flags;
	int rc = jnl_app_flush(&r->a, &w);

	if (rc == -ENODATA)
		return 0;
	if (rc)
		return rc;
	if (w.new_segment) {
		/* W5: only a segment the reader found EMPTY is rewritten */
		flags = r->stale && w.segno >= r->stale_from ?
			JSTORE_REPLACE : 0;
		rc = jstore_seg_create(&j->js, w.segno, flags, j->err,
				       sizeof(j->err));
		if (rc)
			return rc;
		r->first_segno = r->segments++ ? r->first_segno : w.segno;
		r->last_segno = w.segno;
	}
	rc = jstore_seg_write(&j->js, w.segno, w.offset, w.data, w.len,
			      j->err, sizeof(j->err));
	if (rc)
		return rc;
	r->groups++;
	r->bytes += w.len;
	return jnl_app_done(&r->a);
}

/* Append o->count synthetic records, o->group per group. */
static int run_records(struct run *r, const struct opts *o, struct syn *y)
{
	struct jnl_op op;
	uint64_t in_group = 0;
	uint64_t seq;
	int rc;

	for (uint64_t i = 0; i < o->count; i++) {
		syn_op(y, &op, r->a.next_seq, i == 0);
		rc = jnl_app_append(&r->a, &op, now_ns(), &seq);
		if (rc == -ENOBUFS) {	/* group_limit reached before G */
			in_group = 0;
			rc = run_flush(r);
			if (!rc)
				rc = jnl_app_append(&r->a, &op, now_ns(),
						    &seq);
		}
		if (rc)
			return rc;
		if (++in_group == o->group) {
			in_group = 0;
			rc = run_flush(r);
			if (rc)
				return rc;
		}
	}
	return run_flush(r);
}

/* W2: greater than the journal's last epoch, Unix time if that is more. */
static int new_epoch(const struct jnl_reader *rd, uint32_t *epoch)
{
	uint64_t e = (uint64_t)time(NULL);

	if (rd->phase == JNL_RD_SEG && e <= rd->epoch)
		e = (uint64_t)rd->epoch + 1;
	if (e > UINT32_MAX)
		return -EOVERFLOW;
	*epoch = (uint32_t)e;
	return 0;
}

/* The configuration that continues what rd read (W3), or a new journal. */
static int run_conf(struct run *r, const struct opts *o,
		    const struct jnl_reader *rd, struct jnl_app_conf *c)
{
	uint32_t epoch;
	int rc = new_epoch(rd, &epoch);

	if (rc)
		return rc;
	/* no segment at all leaves the reader at END_NONE, which
	 * jnl_app_conf_resume() takes for "not read to the end" (-EINVAL) */
	rc = rd->phase == JNL_RD_SEG ? jnl_app_conf_resume(c, rd, epoch) :
				       -ENODATA;
	if (rc == -ENODATA)
		rc = jnl_app_conf_genesis(c, o->node, epoch);
	if (rc)
		return rc;
	c->seg_limit = o->seg_limit;
	/* files at or above the first new segment hold no valid record
	 * (jnl_app_conf_resume), so those may be replaced */
	r->stale = r->j->n && r->j->info[r->j->n - 1].segno >= c->segno;
	r->stale_from = c->segno;
	return 0;
}

static void run_report(const struct run *r, const struct opts *o,
		       uint64_t first, double secs)
{
	double rate = secs > 0 ? (double)o->count / secs : 0;

	if (o->json) {
		printf("{\"node\":%" PRIu32 ",\"epoch\":%" PRIu32
		       ",\"records\":%" PRIu64 ",\"first_seq\":%" PRIu64
		       ",\"last_seq\":%" PRIu64 ",\"groups\":%" PRIu64
		       ",\"group\":%" PRIu64 ",\"bytes\":%" PRIu64
		       ",\"segments_created\":%" PRIu64
		       ",\"seconds\":%.6f,\"records_s\":%.1f}\n",
		       o->node, r->a.epoch, o->count, first,
		       jnl_app_durable(&r->a), r->groups, o->group, r->bytes,
		       r->segments, secs, rate);
		return;
	}
	printf("node %" PRIu32 " epoch %" PRIu32 ": appended %" PRIu64
	       " records (seq %" PRIu64 "..%" PRIu64 ") in %" PRIu64
	       " groups, %" PRIu64 " bytes, segments %016" PRIx64 "..%016"
	       PRIx64 ", %.3f s, %.0f records/s\n", o->node, r->a.epoch,
	       o->count, first, jnl_app_durable(&r->a), r->groups, r->bytes,
	       r->first_segno, r->last_segno, secs, rate);
}

/* The failed run's one line: what failed and how far it is durable. */
static int run_failed(const struct run *r, int rc)
{
	const char *what = rc == -EINVAL ? "invalid record" :
			   rc == -ENOMEM ? "out of memory" : r->j->err;

	fprintf(stderr, PROG " append: %s; journal durable up to seq %"
		PRIu64 ", epoch %" PRIu32 "\n", what,
		jnl_app_durable(&r->a), r->a.epoch);
	return EX_ERROR;
}

static int run_append(struct journal *j, const struct opts *o,
		      const struct jnl_reader *rd)
{
	struct run r = { .j = j };
	struct jnl_app_conf c;
	struct syn y = { .payload = o->payload };
	uint64_t first;
	double t0;
	int rc = run_conf(&r, o, rd, &c);

	if (!rc)
		rc = jnl_app_init(&r.a, &c);
	if (rc) {
		fprintf(stderr, PROG " append: node %" PRIu32 ": cannot "
			"continue the journal: %s\n", o->node, strerror(-rc));
		return EX_ERROR;
	}
	journal_free(j);	/* the reader is done with the bytes */
	y.data = malloc(o->payload);
	if (!y.data)
		return op_error("append", "out of memory");
	first = r.a.next_seq;
	t0 = mono_s();
	rc = run_records(&r, o, &y);
	if (rc)
		rc = run_failed(&r, rc);
	else
		run_report(&r, o, first, mono_s() - t0);
	free(y.data);
	jnl_app_fini(&r.a);
	return rc;
}

static int cmd_append(const struct opts *o)
{
	struct journal j;
	struct jnl_reader rd;
	struct tally t = { 0 };
	char line[512];
	int rc = journal_open(&j, o, true);

	if (rc) {
		rc = op_error("append", j.err);
		goto out;
	}
	jnl_rd_init(&rd, o->node);
	rc = journal_walk(&j, &rd, 0, &t, true, 0);
	if (rc) {
		describe_end(&rd.end, line, sizeof(line));
		fprintf(stderr, PROG " append: node %" PRIu32 ": the journal "
			"cannot be continued: %s; run " PROG " check\n",
			o->node, line);
		rc = EX_UNCORRECTED;
		goto out;
	}
	rc = run_append(&j, o, &rd);
out:
	journal_close(&j);
	return rc;
}

/* ---- check ---- */

struct ckpt_check {
	bool present;
	bool consistent;
	unsigned slot;
	struct jnl_ckpt ck;
	uint64_t pending;	/* records after it */
	char line[JSTORE_ERR_MAX];	/* the reader's verdict from it */
};

/*
 * Read the journal from the checkpoint, as the applier will: it must be
 * able to reach the journal's end from there (jnl_rd_init_ckpt()).
 * Returns 0 (see *cc), or EX_ERROR with the message in j->err.
 */
static int check_ckpt(struct journal *j, const struct opts *o,
		      struct ckpt_check *cc)
{
	struct jnl_reader rd;
	struct tally t = { 0 };
	size_t from = 0;
	int rc = jstore_ckpt_load(&j->js, &cc->ck, &cc->slot, j->err,
				  sizeof(j->err));

	if (rc == -ENOENT)
		return 0;	/* none yet: nothing applied */
	if (rc == -EPROTO) {	/* a newer applier's: not ours to judge */
		cc->present = true;
		snprintf(cc->line, sizeof(cc->line), "%s", j->err);
		return 0;
	}
	if (rc)
		return EX_ERROR;
	cc->present = true;
	while (from < j->n && j->info[from].segno < cc->ck.segno)
		from++;
	if (cc->ck.node != o->node || jnl_rd_init_ckpt(&rd, &cc->ck)) {
		snprintf(cc->line, sizeof(cc->line), "checkpoint of node %"
			 PRIu32 " at offset %" PRIu64 " is not usable",
			 cc->ck.node, cc->ck.offset);
		return 0;
	}
	rc = journal_walk(j, &rd, from, &t, false, 0);
	if (!rc && from == j->n)
		snprintf(cc->line, sizeof(cc->line), "segment %" PRIu64
			 " of the checkpoint is missing", cc->ck.segno);
	else
		describe_end(&rd.end, cc->line, sizeof(cc->line));
	cc->consistent = !rc && from < j->n;
	cc->pending = t.nrecs;
	return 0;
}

static const char *status_word(enum jnl_end_kind k)
{
	switch (k) {
	case JNL_END_NONE:	/* no segments at all */
	case JNL_END_CLEAN:
	case JNL_END_SEALED:
		return "clean";
	case JNL_END_TORN:
		return "torn";
	case JNL_END_EMPTY:
		return "empty";
	case JNL_END_DAMAGED:
		return "damaged";
	case JNL_END_REFUSED:
		return "refused";
	}
	return "?";
}

static const char *status_text(enum jnl_end_kind k)
{
	switch (k) {
	case JNL_END_TORN:
		return "torn tail (end of log, not an error)";
	case JNL_END_EMPTY:
		return "empty last segment (end of log, not an error)";
	case JNL_END_DAMAGED:
		return "DAMAGED";
	case JNL_END_REFUSED:
		return "REFUSED (written by a newer ofsrep)";
	default:
		return "clean";
	}
}

struct report {
	const struct journal *j;
	const struct opts *o;
	const struct jnl_reader *rd;
	const struct tally *t;
	const struct ckpt_check *cc;
	uint64_t digest;
	size_t ignored;		/* bytes after seals, all segments */
	int exit;
};

static void json_types(const struct tally *t)
{
	bool first = true;

	printf(",\"types\":{");
	for (unsigned i = 1; i <= JNL_OP_TYPE_MAX; i++) {
		if (!t->types[i])
			continue;
		printf("%s\"%s\":%" PRIu64, first ? "" : ",",
		       jnl_type_name(i), t->types[i]);
		first = false;
	}
	putchar('}');
}

static void json_segs(const struct journal *j)
{
	printf(",\"segs\":[");
	for (size_t i = 0; i < j->n; i++) {
		const struct seg_info *si = &j->info[i];

		printf("%s{\"segno\":%" PRIu64 ",\"bytes\":%zu,\"epoch\":%"
		       PRIu32 ",\"first_seq\":%" PRIu64 ",\"records\":%"
		       PRIu64 ",\"end\":\"%s\",\"ignored\":%zu}",
		       i ? "," : "", si->segno, si->len,
		       si->hdr_ok ? si->hdr.epoch : 0,
		       si->hdr_ok ? si->hdr.first_seq : 0, si->nrecs,
		       jnl_end_name(si->end), si->ignored);
	}
	putchar(']');
}

static void json_end(const struct jnl_end *e)
{
	char line[512];

	describe_end(e, line, sizeof(line));
	printf(",\"end\":{\"kind\":\"%s\",\"why\":\"%s\",\"rec\":\"%s\","
	       "\"segno\":%lld,\"offset\":%" PRIu64 ",\"seq\":%" PRIu64
	       ",\"found_seq\":%" PRIu64 ",\"found_off\":%" PRIu64
	       ",\"describe\":", jnl_end_name(e->kind), jnl_why_name(e->why),
	       jnl_rec_status_name(e->rec),
	       e->segno == JNL_SEGNO_UNKNOWN ? -1LL : (long long)e->segno,
	       e->offset, e->seq, e->found_seq, e->found_off);
	json_str(line);
	putchar('}');
}

static void json_ckpt(const struct ckpt_check *cc)
{
	if (!cc->present) {
		printf(",\"checkpoint\":null");
		return;
	}
	printf(",\"checkpoint\":{\"slot\":%u,\"epoch\":%" PRIu32 ",\"seq\":%"
	       PRIu64 ",\"segno\":%" PRIu64 ",\"offset\":%" PRIu64
	       ",\"consistent\":%s,\"pending\":%" PRIu64 ",\"describe\":",
	       cc->slot, cc->ck.epoch, cc->ck.seq, cc->ck.segno,
	       cc->ck.offset, cc->consistent ? "true" : "false", cc->pending);
	json_str(cc->line);
	putchar('}');
}

static void report_json(const struct report *p)
{
	const struct journal *j = p->j;
	const struct tally *t = p->t;

	printf("{\"node\":%" PRIu32 ",\"url\":", p->o->node);
	json_str(p->o->url);
	printf(",\"status\":\"%s\",\"exit\":%d,\"segments\":%zu,"
	       "\"records\":%" PRIu64 ",\"first_seq\":%" PRIu64
	       ",\"last_seq\":%" PRIu64 ",\"epochs\":%u,\"last_epoch\":%"
	       PRIu32 ",\"ignored\":%zu,\"ops_digest\":\"%016" PRIx64 "\"",
	       status_word(p->rd->end.kind), p->exit, j->n, t->nrecs,
	       t->first_seq, t->last_seq, t->nepochs, t->last_epoch,
	       p->ignored, p->digest);
	json_types(t);
	json_end(&p->rd->end);
	json_ckpt(p->cc);
	json_segs(j);
	printf("}\n");
}

static void report_segs(const struct journal *j)
{
	for (size_t i = 0; i < j->n; i++) {
		const struct seg_info *si = &j->info[i];

		printf("  segment %016" PRIx64 ": %zu bytes, ", si->segno,
		       si->len);
		if (si->hdr_ok)
			printf("epoch %" PRIu32 ", ", si->hdr.epoch);
		printf("%" PRIu64 " records", si->nrecs);
		if (si->nrecs)
			printf(" (seq %" PRIu64 "..%" PRIu64 ")", si->first_seq,
			       si->last_seq);
		printf(", %s\n", si->end ? jnl_end_name(si->end) : "not read");
	}
}

static void report_text(const struct report *p)
{
	const struct tally *t = p->t;
	const struct ckpt_check *cc = p->cc;
	char line[512];

	printf("node %" PRIu32 ": %s: %" PRIu64 " records", p->o->node,
	       status_text(p->rd->end.kind), t->nrecs);
	if (t->nrecs)
		printf(" (seq %" PRIu64 "..%" PRIu64 ")", t->first_seq,
		       t->last_seq);
	printf(" in %zu segment%s, %u epoch%s", p->j->n,
	       p->j->n == 1 ? "" : "s", t->nepochs,
	       t->nepochs == 1 ? "" : "s");
	if (t->nrecs)
		printf(" (last %" PRIu32 ")", t->last_epoch);
	printf("\n");
	if (p->o->verbose)
		report_segs(p->j);
	for (size_t i = 0; i < p->j->n; i++)
		if (p->j->info[i].ignored)
			printf("sealed: segment %016" PRIx64 ": %zu bytes after"
			       " seq %" PRIu64 " ignored (torn group or fenced "
			       "writer)\n", p->j->info[i].segno,
			       p->j->info[i].ignored, p->j->info[i].last_seq);
	describe_end(&p->rd->end, line, sizeof(line));
	printf("end: %s\n", line);
	if (cc->present)
		printf("checkpoint: slot %u, seq %" PRIu64 ", segment %016"
		       PRIx64 " offset %" PRIu64 ": %s%s (%" PRIu64
		       " records not yet applied)\n", cc->slot, cc->ck.seq,
		       cc->ck.segno, cc->ck.offset,
		       cc->consistent ? "" : "INCONSISTENT: ", cc->line,
		       cc->pending);
}

static int check_exit(const struct jnl_reader *rd,
		      const struct ckpt_check *cc)
{
	if (rd->end.kind == JNL_END_DAMAGED ||
	    rd->end.kind == JNL_END_REFUSED)
		return EX_UNCORRECTED;
	return cc->present && !cc->consistent ? EX_UNCORRECTED : EX_OK;
}

static int cmd_check(const struct opts *o)
{
	struct journal j;
	struct jnl_reader rd;
	struct tally t = { 0 };
	struct ckpt_check cc = { 0 };
	struct report p = { .j = &j, .o = o, .rd = &rd, .t = &t, .cc = &cc };
	int rc = journal_open(&j, o, false);

	if (!rc) {
		t.xxh = XXH3_createState();
		rc = t.xxh ? 0 : -ENOMEM;
		if (t.xxh)
			XXH3_64bits_reset(t.xxh);
	}
	if (rc) {
		rc = op_error("check", rc == -ENOMEM ? "out of memory" : j.err);
		goto out;
	}
	jnl_rd_init(&rd, o->node);
	journal_walk(&j, &rd, 0, &t, true, 0);
	if (check_ckpt(&j, o, &cc)) {
		rc = op_error("check", j.err);
		goto out;
	}
	p.digest = XXH3_64bits_digest(t.xxh);
	for (size_t i = 0; i < j.n; i++)
		p.ignored += j.info[i].ignored;
	p.exit = rc = check_exit(&rd, &cc);
	if (o->json)
		report_json(&p);
	else
		report_text(&p);
out:
	XXH3_freeState(t.xxh);
	journal_close(&j);
	return rc;
}

/* ---- ckpt ---- */

static int cmd_ckpt(const struct opts *o)
{
	struct journal j;
	struct jnl_reader rd;
	struct tally t = { 0 };
	struct jnl_ckpt ck;
	struct jnl_ckpt old;
	unsigned slot = 1;
	int rc = journal_open(&j, o, false);

	if (rc) {
		rc = op_error("ckpt", j.err);
		goto out;
	}
	jnl_rd_init(&rd, o->node);
	rc = journal_walk(&j, &rd, 0, &t, false, o->seq);
	if (rc != 1 || jnl_rd_ckpt(&rd, &ck)) {
		fprintf(stderr, PROG " ckpt: node %" PRIu32 ": no valid record "
			"with seq %" PRIu64 " (the journal has %" PRIu64
			"..%" PRIu64 ")\n", o->node, o->seq, t.first_seq,
			t.last_seq);
		rc = EX_ERROR;
		goto out;
	}
	rc = jstore_ckpt_load(&j.js, &old, &slot, j.err, sizeof(j.err));
	slot = rc ? 0 : slot ^ 1;	/* the other slot than the newest */
	rc = jstore_ckpt_store(&j.js, slot, &ck, j.err, sizeof(j.err));
	if (rc) {
		rc = op_error("ckpt", j.err);
		goto out;
	}
	printf("node %" PRIu32 ": checkpoint slot %u: seq %" PRIu64
	       ", segment %016" PRIx64 " offset %" PRIu64 "\n", o->node, slot,
	       ck.seq, ck.segno, ck.offset);
	rc = EX_OK;
out:
	journal_close(&j);
	return rc;
}

/* ---- arguments ---- */

static void usage(FILE *f)
{
	fprintf(f,
"usage: " PROG " append URL --node N --count C [--group G] [--payload BYTES]\n"
"                      [--seg-limit BYTES] [--timeout-ms MS] [--json]\n"
"       " PROG " check URL --node N [--json] [-v] [--timeout-ms MS]\n"
"       " PROG " ckpt URL --node N --seq S [--timeout-ms MS]\n"
"  URL    nfs://HOST/EXPORT_PATH?nfsport=N&mountport=M (journal in\n"
"         EXPORT/.ofsrep/journal/N/)\n"
"  --group G        records per group write (default %d)\n"
"  --payload BYTES  data bytes per WRITE record (default %d; k, m suffixes)\n"
"  --seg-limit BYTES  roll to a new segment beyond this (default 64m)\n"
"  --timeout-ms MS  per-RPC and connect timeout (default %d)\n"
"  exit: 0 clean or torn tail, 4 damaged/refused, 8 error, 16 usage\n",
		DEF_GROUP, DEF_PAYLOAD, DEF_TIMEOUT_MS);
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, PROG ": ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (" PROG " --help for usage)\n");
	return EX_USAGE;
}

/* A decimal number, optionally with a binary suffix k, m or g. */
static int parse_u64(const char *s, uint64_t min, uint64_t max,
		     uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	if (*end == 'k' || *end == 'K')
		shift = 10;
	else if (*end == 'm' || *end == 'M')
		shift = 20;
	else if (*end == 'g' || *end == 'G')
		shift = 30;
	if ((shift && end[1]) || (!shift && *end) || v > (max >> shift) ||
	    (v << shift) < min)
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

static const struct option long_opts[] = {
	{ "node", required_argument, NULL, 'n' },
	{ "count", required_argument, NULL, 'c' },
	{ "group", required_argument, NULL, 'g' },
	{ "payload", required_argument, NULL, 'p' },
	{ "seg-limit", required_argument, NULL, 'l' },
	{ "timeout-ms", required_argument, NULL, 't' },
	{ "seq", required_argument, NULL, 's' },
	{ "json", no_argument, NULL, 'j' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* One option's value into *o: 0 or -EINVAL. */
static int parse_opt(struct opts *o, int c, const char *arg)
{
	uint64_t v = 0;
	int rc = 0;

	switch (c) {
	case 'n':
		rc = parse_u64(arg, 1, UINT32_MAX, &v);
		o->node = (uint32_t)v;
		break;
	case 'c':
		rc = parse_u64(arg, 1, MAX_COUNT, &o->count);
		break;
	case 'g':
		rc = parse_u64(arg, 1, MAX_GROUP, &o->group);
		break;
	case 'p':
		rc = parse_u64(arg, 1, JNL_MAX_WRITE, &o->payload);
		break;
	case 'l':
		rc = parse_u64(arg, 4096, 1ull << 40, &o->seg_limit);
		break;
	case 't':
		rc = parse_u64(arg, 1000, 3600000, &v);
		o->timeout_ms = (int)v;
		break;
	case 's':
		rc = parse_u64(arg, 1, UINT64_MAX - 1, &o->seq);
		break;
	case 'j':
		o->json = true;
		break;
	case 'v':
		o->verbose = true;
		break;
	}
	return rc;
}

/* The OPT_* bit, long name and accepted range of each option. */
static const struct {
	int c;
	unsigned bit;
	const char *name;
	const char *range;
} opt_table[] = {
	{ 'n', OPT_NODE, "--node", "a node id from 1 to 4294967295" },
	{ 'c', OPT_COUNT, "--count", "a count from 1 to 100000000" },
	{ 'g', OPT_GROUP, "--group", "a group size from 1 to 1000000" },
	{ 'p', OPT_PAYLOAD, "--payload", "a size from 1 to 1m bytes" },
	{ 'l', OPT_SEGLIMIT, "--seg-limit", "a size from 4k to 1024g bytes" },
	{ 't', OPT_TIMEOUT, "--timeout-ms", "1000 to 3600000 ms" },
	{ 's', OPT_SEQ, "--seq", "a seq from 1" },
	{ 'j', OPT_JSON, "--json", "" },
	{ 'v', OPT_VERBOSE, "-v", "" },
};

#define OPT_TABLE_N	(sizeof(opt_table) / sizeof(opt_table[0]))

/* opt_table's entry for getopt's c (one of long_opts' values). */
static unsigned opt_index(int c)
{
	unsigned i;

	for (i = 0; i + 1 < OPT_TABLE_N; i++)
		if (opt_table[i].c == c)
			break;
	return i;
}

/* Options each command takes; the rest are errors. */
static unsigned cmd_allows(const char *cmd)
{
	if (!strcmp(cmd, "append"))
		return OPT_NODE | OPT_COUNT | OPT_GROUP | OPT_PAYLOAD |
		       OPT_SEGLIMIT | OPT_TIMEOUT | OPT_JSON;
	if (!strcmp(cmd, "check"))
		return OPT_NODE | OPT_TIMEOUT | OPT_JSON | OPT_VERBOSE;
	if (!strcmp(cmd, "ckpt"))
		return OPT_NODE | OPT_SEQ | OPT_TIMEOUT;
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	char msg[128];
	unsigned i;
	int c;

	opterr = 0;	/* our own one-line errors */
	while ((c = getopt_long(argc, argv, ":vh", long_opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			exit(EX_OK);
		}
		if (c == '?' || c == ':')
			return usage_error(c == ':' ? "missing value after "
					   "'%s'" : "unknown option '%s'",
					   argv[optind - 1]);
		i = opt_index(c);
		if (parse_opt(o, c, optarg)) {
			snprintf(msg, sizeof(msg), "%%s: expected %s, got '%s'",
				 opt_table[i].range, optarg);
			return usage_error(msg, opt_table[i].name);
		}
		o->given |= opt_table[i].bit;
	}
	if (optind >= argc)
		return usage_error("%s: missing URL", o->cmd);
	o->url = argv[optind];
	if (optind + 1 < argc)
		return usage_error("unexpected argument '%s'", argv[optind + 1]);
	return 0;
}

static int validate(const struct opts *o)
{
	unsigned extra = o->given & ~cmd_allows(o->cmd);
	struct rep_url url;
	char msg[JSTORE_ERR_MAX];

	for (unsigned i = 0; extra && i < OPT_TABLE_N; i++) {
		if (!(extra & opt_table[i].bit))
			continue;
		snprintf(msg, sizeof(msg), "%s does not take %%s", o->cmd);
		return usage_error(msg, opt_table[i].name);
	}
	if (!(o->given & OPT_NODE))
		return usage_error("%s: --node N is required", o->cmd);
	if (!strcmp(o->cmd, "append") && !(o->given & OPT_COUNT))
		return usage_error("%s: --count C is required", o->cmd);
	if (!strcmp(o->cmd, "ckpt") && !(o->given & OPT_SEQ))
		return usage_error("%s: --seq S is required", o->cmd);
	if (rep_url_parse(o->url, &url, msg, sizeof(msg)))
		return usage_error("%s", msg);
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o = {
		.group = DEF_GROUP, .payload = DEF_PAYLOAD,
		.timeout_ms = DEF_TIMEOUT_MS,
	};
	int rc;

	if (argc < 2)
		return usage_error("missing command%s (append, check, ckpt)",
				   "");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return EX_OK;
	}
	o.cmd = argv[1];
	if (!cmd_allows(o.cmd))
		return usage_error("unknown command '%s' (append, check, ckpt)",
				   o.cmd);
	rc = parse_args(argc - 1, argv + 1, &o);
	if (!rc)
		rc = validate(&o);
	if (rc)
		return rc;
	if (!strcmp(o.cmd, "append"))
		return cmd_append(&o);
	if (!strcmp(o.cmd, "check"))
		return cmd_check(&o);
	return cmd_ckpt(&o);
}
