// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ofsrep-journal: write and check a node's journal on an export.
 *
 *   ofsrep-journal append URL --node N --count C [--group G]
 *                  [--payload BYTES] [--seg-limit BYTES] [--timeout-ms MS]
 *                  [--json]
 *   ofsrep-journal check URL --node N [--json] [-v] [--timeout-ms MS]
 *   ofsrep-journal append URL --node N --script FILE [--group G] [...]
 *   ofsrep-journal ckpt URL --node N --seq S [--timeout-ms MS]
 *   ofsrep-journal apply URL --node N [--batch B] [--to SEQ] [--json]
 *                  [--timeout-ms MS]
 *
 * append  reads the node's journal to its end (journal/reader.h), takes a
 *         new epoch (W2) and continues the journal (W3): C synthetic but
 *         well-formed records, G per group, each group one durable write
 *         (replica/jstore.h).  The records depend only on their seq (see
 *         syn_op()), so runs that differ only in --group write the same
 *         records.  With --script the records are FILE's instead, one per
 *         line (script_next(): create, mkdir, write, rename, link, ...),
 *         checked whole before anything is written.  A failed write ends
 *         the run with one line saying how far the journal is durable;
 *         the next run resumes after it.
 * check   reads every segment, walks them with the reader and reports the
 *         records, segments, epochs, last seq and how the journal ends
 *         (jnl_end_describe()), then checks the applier's checkpoint, if
 *         any, by reading the journal from it as the applier would.  This
 *         is the seed of ofsrep-fsck: it reads, it never repairs.
 * ckpt    writes a checkpoint "applied up to seq S" into the other slot
 *         of applied.ckpt, as the applier will (for tests and operators).
 * apply   runs the mirror applier (replica/applier.h): applies every
 *         record after the checkpoint to EXPORT/.ofsrep/mirror, B per
 *         batch, storing the checkpoint after each batch, and prints the
 *         records applied and skipped, the new checkpoint and the time.
 *         --to SEQ stops after record SEQ (tests, and operators who want
 *         the mirror as of a point of the journal).  Debugging:
 *         OFSREP_APPLY_TRACE=FILE appends a line per record and per
 *         replay decision to FILE.
 *
 * URL is nfs://HOST/EXPORT_PATH?nfsport=N&mountport=M; the journal is
 * EXPORT/.ofsrep/journal/<node>/ (replica/jstore.h).
 *
 * Exit status, e2fsck style (/work/shared/notes/style.md, fsck contract):
 *   0  clean, or a torn tail / empty last segment (end of log, no error)
 *   4  the journal is damaged or refused (newer version); append refuses
 *      to write after damage; check also returns 4 for a checkpoint that
 *      does not fit the journal; apply returns 4 when the journal is
 *      damaged or the mirror does not fit it (nothing after is applied)
 *   8  operational error (unreachable export, timeout, I/O error)
 *  16  usage error (one line on stderr), or a bad --script line
 *
 * Build: make (build/ofsrep-journal).  Test:
 *   /usr/bin/python3 -m pytest tests/integration/test_journal_store.py \
 *       tests/integration/test_applier.py
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <time.h>

#include <xxhash.h>

#include "journal/appender.h"
#include "journal/reader.h"
#include "replica/applier.h"
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
	OPT_SCRIPT = 1u << 9,
	OPT_BATCH = 1u << 10,
	OPT_TO = 1u << 11,
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
	uint64_t batch;		/* apply: records per batch */
	uint64_t to;		/* apply: stop after this seq */
	const char *script;	/* append --script FILE */
	int timeout_ms;
	bool json;
	bool verbose;
};

static int parse_u64(const char *s, uint64_t min, uint64_t max,
		     uint64_t *out);

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


/* ---- the script record stream (append --script) ---- */

/*
 * One record per line, fields separated by blanks; blank lines and lines
 * starting with '#' are skipped.  Fids, offsets and sizes are decimal
 * (offsets and sizes may end in k, m or g), modes octal.  In names,
 * targets, data and values, \s is a blank, \\ a backslash and \xHH the
 * byte HH.
 *
 *   bind PARENT FID NAME
 *   create PARENT FID NAME MODE [uid=U] [gid=G]
 *   mkdir PARENT FID NAME MODE [uid=U] [gid=G]
 *   mknod PARENT FID NAME fifo|sock|chr|blk MODE [rdev=MAJ:MIN] [uid=U]
 *         [gid=G]
 *   symlink PARENT FID NAME TARGET [uid=U] [gid=G]
 *   link FID PARENT NAME
 *   unlink PARENT NAME [FID]
 *   rmdir PARENT NAME [FID]
 *   rename PARENT NAME NEWPARENT NEWNAME [FID] [noreplace|exchange]
 *   write FID OFFSET DATA            DATA: text, or @LEN[:SEED]: LEN bytes,
 *                                    byte i = (SEED * 31 + i) mod 256
 *   setattr FID [mode=M] [uid=U] [gid=G] [size=S] [atime=S[.NS]]
 *           [mtime=S[.NS]]
 *   setxattr FID NAME VALUE [create|replace]
 *   removexattr FID NAME
 *
 * The records go to the journal as they are: the writer rules about fids
 * (W6) are the applier's to check, so a script can also make a journal
 * the applier must refuse.
 */
#define SCRIPT_MAX_TOK	12

struct script {
	FILE *f;
	const char *path;
	unsigned line;
	char *buf;			/* the line, unescaped in place */
	size_t cap;
	int ntok;
	char *tok[SCRIPT_MAX_TOK];
	size_t len[SCRIPT_MAX_TOK];	/* bytes, after unescaping */
	uint8_t *data;			/* JNL_MAX_WRITE bytes */
	char err[512];
};

__attribute__((format(printf, 2, 3)))
static int script_err(struct script *sc, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(sc->err, sizeof(sc->err), "%s:%u: %s", sc->path, sc->line,
		 msg);
	return -EINVAL;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Undo the escapes of token t in place; its length in *len. */
static int script_unescape(char *t, size_t *len)
{
	char *o = t;

	for (char *p = t; *p; p++) {
		if (*p != '\\') {
			*o++ = *p;
			continue;
		}
		if (p[1] == 's' || p[1] == '\\') {
			*o++ = p[1] == 's' ? ' ' : '\\';
			p++;
		} else if (p[1] == 'x' && hexval(p[2]) >= 0 &&
			   hexval(p[3]) >= 0) {
			*o++ = (char)(hexval(p[2]) << 4 | hexval(p[3]));
			p += 3;
		} else {
			return -EINVAL;
		}
	}
	*len = (size_t)(o - t);
	return 0;
}

/* Split the line into tokens; 0 tokens for a blank or comment line. */
static int script_split(struct script *sc)
{
	char *save = NULL;
	char *t;

	sc->ntok = 0;
	for (t = strtok_r(sc->buf, " \t\r\n", &save); t;
	     t = strtok_r(NULL, " \t\r\n", &save)) {
		if (sc->ntok == 0 && t[0] == '#')
			return 0;
		if (sc->ntok == SCRIPT_MAX_TOK)
			return script_err(sc, "too many fields");
		if (script_unescape(t, &sc->len[sc->ntok]))
			return script_err(sc, "bad escape in '%s'", t);
		sc->tok[sc->ntok++] = t;
	}
	return 0;
}

static struct jnl_str script_str(const struct script *sc, int i)
{
	return (struct jnl_str){ .ptr = sc->tok[i], .len = sc->len[i] };
}

static int script_u64(struct script *sc, const char *what, const char *t,
		      uint64_t max, uint64_t *v)
{
	if (parse_u64(t, 0, max, v))
		return script_err(sc, "%s: expected a number, got '%s'", what,
				  t);
	return 0;
}

static int script_u32(struct script *sc, const char *what, const char *t,
		      uint32_t *v)
{
	uint64_t x;
	int rc = script_u64(sc, what, t, UINT32_MAX, &x);

	*v = (uint32_t)x;
	return rc;
}

static int script_mode(struct script *sc, const char *t, uint32_t *mode)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(t, &end, 8);
	if (errno || end == t || *end || v > 07777)
		return script_err(sc, "mode: expected octal 0-7777, got '%s'",
				  t);
	*mode = (uint32_t)v;
	return 0;
}

/* SEC[.NSEC], SEC possibly negative */
static int script_time(struct script *sc, const char *t, int64_t *sec,
		       uint32_t *nsec)
{
	long long v;
	unsigned long ns = 0;
	char *end;

	errno = 0;
	v = strtoll(t, &end, 10);
	if (!errno && end != t && *end == '.') {
		t = end + 1;
		ns = strtoul(t, &end, 10);
	}
	if (errno || end == t || *end || ns >= 1000000000ul)
		return script_err(sc, "time: expected SEC[.NSEC], got '%s'", t);
	*sec = v;
	*nsec = (uint32_t)ns;
	return 0;
}

/* Is token i "key=..."?  Then *val points after the '='. */
static bool script_key(const struct script *sc, int i, const char *key,
		       const char **val)
{
	size_t n = strlen(key);

	if (strncmp(sc->tok[i], key, n) || sc->tok[i][n] != '=')
		return false;
	*val = sc->tok[i] + n + 1;
	return true;
}

static int script_want(struct script *sc, int min, int max)
{
	if (sc->ntok - 1 < min || sc->ntok - 1 > max)
		return script_err(sc, "%s takes %d to %d fields, not %d",
				  sc->tok[0], min, max, sc->ntok - 1);
	return 0;
}

/* [uid=U] [gid=G] [rdev=MAJ:MIN] from token i on. */
static int script_owner(struct script *sc, int i, struct jnl_op_entry *e)
{
	unsigned maj, min;
	const char *v;
	int used;
	int rc = 0;

	for (; !rc && i < sc->ntok; i++) {
		if (script_key(sc, i, "uid", &v))
			rc = script_u32(sc, "uid", v, &e->uid);
		else if (script_key(sc, i, "gid", &v))
			rc = script_u32(sc, "gid", v, &e->gid);
		else if (script_key(sc, i, "rdev", &v) &&
			 sscanf(v, "%u:%u%n", &maj, &min, &used) == 2 &&
			 !v[used])
			e->rdev = makedev(maj, min);
		else
			rc = script_err(sc, "unexpected '%s'", sc->tok[i]);
	}
	return rc;
}

static int script_mknod_type(struct script *sc, const char *t,
			     uint32_t *type)
{
	static const struct {
		const char *name;
		uint32_t type;
	} types[] = {
		{ "fifo", JNL_S_IFIFO }, { "sock", JNL_S_IFSOCK },
		{ "chr", JNL_S_IFCHR }, { "blk", JNL_S_IFBLK },
	};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(t, types[i].name)) {
			*type = types[i].type;
			return 0;
		}
	return script_err(sc, "mknod type: fifo, sock, chr or blk, not '%s'",
			  t);
}

/* create, mkdir, mknod, symlink */
static int script_entry(struct script *sc, struct jnl_op *op, unsigned type)
{
	struct jnl_op_entry *e = &op->u.entry;
	uint32_t ftype = type == JNL_OP_CREATE ? JNL_S_IFREG :
			 type == JNL_OP_MKDIR ? JNL_S_IFDIR : JNL_S_IFLNK;
	int at = 4;
	int rc = script_want(sc, 4, 8);

	op->type = type;
	if (!rc)
		rc = script_u64(sc, "parent", sc->tok[1], UINT64_MAX, &e->parent);
	if (!rc)
		rc = script_u64(sc, "fid", sc->tok[2], UINT64_MAX, &e->fid);
	e->name = script_str(sc, 3);
	if (!rc && type == JNL_OP_MKNOD) {
		rc = script_mknod_type(sc, sc->tok[at++], &ftype);
		if (!rc && at >= sc->ntok)
			rc = script_err(sc, "mknod needs a mode");
	}
	if (!rc && type == JNL_OP_SYMLINK) {
		e->target = script_str(sc, at++);
		e->mode = JNL_S_IFLNK | 0777;
	} else if (!rc) {
		rc = script_mode(sc, sc->tok[at++], &e->mode);
		e->mode |= ftype;
	}
	return rc ? rc : script_owner(sc, at, e);
}

/* bind, link, unlink, rmdir */
static int script_link(struct script *sc, struct jnl_op *op, unsigned type)
{
	struct jnl_op_link *l = &op->u.link;
	bool fid_first = type == JNL_OP_BIND || type == JNL_OP_LINK;
	int rc = fid_first ? script_want(sc, 3, 3) : script_want(sc, 2, 3);

	op->type = type;
	if (rc)
		return rc;
	if (type == JNL_OP_BIND) {	/* bind PARENT FID NAME */
		rc = script_u64(sc, "parent", sc->tok[1], UINT64_MAX,
				&l->parent);
		if (!rc)
			rc = script_u64(sc, "fid", sc->tok[2], UINT64_MAX,
					&l->fid);
		l->name = script_str(sc, 3);
	} else if (type == JNL_OP_LINK) {	/* link FID PARENT NAME */
		rc = script_u64(sc, "fid", sc->tok[1], UINT64_MAX, &l->fid);
		if (!rc)
			rc = script_u64(sc, "parent", sc->tok[2], UINT64_MAX,
					&l->parent);
		l->name = script_str(sc, 3);
	} else {			/* unlink|rmdir PARENT NAME [FID] */
		rc = script_u64(sc, "parent", sc->tok[1], UINT64_MAX,
				&l->parent);
		l->name = script_str(sc, 2);
		if (!rc && sc->ntok == 4)
			rc = script_u64(sc, "fid", sc->tok[3], UINT64_MAX,
					&l->fid);
	}
	return rc;
}

/* rename PARENT NAME NEWPARENT NEWNAME [FID] [noreplace|exchange] */
static int script_rename(struct script *sc, struct jnl_op *op)
{
	struct jnl_op_rename *r = &op->u.rename;
	int rc = script_want(sc, 4, 6);

	op->type = JNL_OP_RENAME;
	if (!rc)
		rc = script_u64(sc, "parent", sc->tok[1], UINT64_MAX, &r->parent);
	if (!rc)
		rc = script_u64(sc, "newparent", sc->tok[3], UINT64_MAX,
				&r->newparent);
	r->name = script_str(sc, 2);
	r->newname = script_str(sc, 4);
	for (int i = 5; !rc && i < sc->ntok; i++) {
		if (!strcmp(sc->tok[i], "noreplace"))
			r->flags |= JNL_RENAME_NOREPLACE;
		else if (!strcmp(sc->tok[i], "exchange"))
			r->flags |= JNL_RENAME_EXCHANGE;
		else
			rc = script_u64(sc, "fid", sc->tok[i], UINT64_MAX,
					&r->fid);
	}
	return rc;
}

/* write FID OFFSET DATA */
static int script_write(struct script *sc, struct jnl_op *op)
{
	struct jnl_op_write *w = &op->u.write;
	uint64_t len;
	uint64_t seed = 0;
	char *colon;
	int rc = script_want(sc, 3, 3);

	op->type = JNL_OP_WRITE;
	if (!rc)
		rc = script_u64(sc, "fid", sc->tok[1], UINT64_MAX, &w->fid);
	if (!rc)
		rc = script_u64(sc, "offset", sc->tok[2], JNL_MAX_FILE_SIZE,
				&w->offset);
	if (rc || sc->tok[3][0] != '@') {
		w->data = (const uint8_t *)sc->tok[3];
		w->len = sc->len[3];
		return rc;
	}
	colon = strchr(sc->tok[3], ':');
	if (colon)
		*colon = 0;
	rc = script_u64(sc, "length", sc->tok[3] + 1, JNL_MAX_WRITE, &len);
	if (!rc && colon)
		rc = script_u64(sc, "seed", colon + 1, UINT64_MAX, &seed);
	for (uint64_t i = 0; !rc && i < len; i++)
		sc->data[i] = (uint8_t)(seed * 31 + i);
	w->data = sc->data;
	w->len = (size_t)len;
	return rc;
}

static int script_setattr_one(struct script *sc, int i,
			      struct jnl_op_setattr *s)
{
	const char *v;

	if (script_key(sc, i, "mode", &v)) {
		s->mask |= JNL_SA_MODE;
		return script_mode(sc, v, &s->mode);
	}
	if (script_key(sc, i, "uid", &v)) {
		s->mask |= JNL_SA_UID;
		return script_u32(sc, "uid", v, &s->uid);
	}
	if (script_key(sc, i, "gid", &v)) {
		s->mask |= JNL_SA_GID;
		return script_u32(sc, "gid", v, &s->gid);
	}
	if (script_key(sc, i, "size", &v)) {
		s->mask |= JNL_SA_SIZE;
		return script_u64(sc, "size", v, JNL_MAX_FILE_SIZE, &s->size);
	}
	if (script_key(sc, i, "atime", &v)) {
		s->mask |= JNL_SA_ATIME;
		return script_time(sc, v, &s->atime_sec, &s->atime_nsec);
	}
	if (script_key(sc, i, "mtime", &v)) {
		s->mask |= JNL_SA_MTIME;
		return script_time(sc, v, &s->mtime_sec, &s->mtime_nsec);
	}
	return script_err(sc, "unexpected '%s'", sc->tok[i]);
}

static int script_setattr(struct script *sc, struct jnl_op *op)
{
	struct jnl_op_setattr *s = &op->u.setattr;
	int rc = script_want(sc, 2, 7);

	op->type = JNL_OP_SETATTR;
	if (!rc)
		rc = script_u64(sc, "fid", sc->tok[1], UINT64_MAX, &s->fid);
	for (int i = 2; !rc && i < sc->ntok; i++)
		rc = script_setattr_one(sc, i, s);
	return rc;
}

/* setxattr FID NAME VALUE [create|replace], removexattr FID NAME */
static int script_xattr(struct script *sc, struct jnl_op *op, unsigned type)
{
	struct jnl_op_xattr *x = &op->u.xattr;
	int rc = type == JNL_OP_SETXATTR ? script_want(sc, 3, 4) :
		 script_want(sc, 2, 2);

	op->type = type;
	if (!rc)
		rc = script_u64(sc, "fid", sc->tok[1], UINT64_MAX, &x->fid);
	x->name = script_str(sc, 2);
	if (!rc && type == JNL_OP_SETXATTR) {
		x->value = (const uint8_t *)sc->tok[3];
		x->value_len = sc->len[3];
	}
	if (!rc && sc->ntok == 5) {
		if (!strcmp(sc->tok[4], "create"))
			x->flags = JNL_XATTR_CREATE;
		else if (!strcmp(sc->tok[4], "replace"))
			x->flags = JNL_XATTR_REPLACE;
		else
			rc = script_err(sc, "create or replace, not '%s'",
					sc->tok[4]);
	}
	return rc;
}

/* The op of the line in sc (ntok > 0). */
static int script_op(struct script *sc, struct jnl_op *op)
{
	const char *cmd = sc->tok[0];

	memset(op, 0, sizeof(*op));
	if (!strcmp(cmd, "bind"))
		return script_link(sc, op, JNL_OP_BIND);
	if (!strcmp(cmd, "create"))
		return script_entry(sc, op, JNL_OP_CREATE);
	if (!strcmp(cmd, "mkdir"))
		return script_entry(sc, op, JNL_OP_MKDIR);
	if (!strcmp(cmd, "mknod"))
		return script_entry(sc, op, JNL_OP_MKNOD);
	if (!strcmp(cmd, "symlink"))
		return script_entry(sc, op, JNL_OP_SYMLINK);
	if (!strcmp(cmd, "link"))
		return script_link(sc, op, JNL_OP_LINK);
	if (!strcmp(cmd, "unlink"))
		return script_link(sc, op, JNL_OP_UNLINK);
	if (!strcmp(cmd, "rmdir"))
		return script_link(sc, op, JNL_OP_RMDIR);
	if (!strcmp(cmd, "rename"))
		return script_rename(sc, op);
	if (!strcmp(cmd, "write"))
		return script_write(sc, op);
	if (!strcmp(cmd, "setattr"))
		return script_setattr(sc, op);
	if (!strcmp(cmd, "setxattr"))
		return script_xattr(sc, op, JNL_OP_SETXATTR);
	if (!strcmp(cmd, "removexattr"))
		return script_xattr(sc, op, JNL_OP_REMOVEXATTR);
	return script_err(sc, "unknown record '%s'", cmd);
}

static int script_open(struct script *sc, const char *path)
{
	memset(sc, 0, sizeof(*sc));
	sc->path = path;
	sc->f = fopen(path, "r");
	sc->data = malloc(JNL_MAX_WRITE);
	if (!sc->f || !sc->data) {
		snprintf(sc->err, sizeof(sc->err), "%s: %s", path,
			 strerror(sc->f ? ENOMEM : errno));
		return -EINVAL;
	}
	return 0;
}

static void script_close(struct script *sc)
{
	if (sc->f)
		fclose(sc->f);
	free(sc->buf);
	free(sc->data);
	sc->f = NULL;
	sc->buf = NULL;
	sc->data = NULL;
}

/* The next record: 1, 0 at the end, -EINVAL (sc->err says why). */
static int script_next(struct script *sc, struct jnl_op *op)
{
	enum jnl_op_status st;
	int rc;

	for (;;) {
		if (getline(&sc->buf, &sc->cap, sc->f) < 0)
			return ferror(sc->f) ? script_err(sc, "read error") : 0;
		sc->line++;
		rc = script_split(sc);
		if (rc)
			return rc;
		if (sc->ntok)
			break;
	}
	rc = script_op(sc, op);
	if (rc)
		return rc;
	st = jnl_op_check(op);
	if (st != JNL_OPST_OK)
		return script_err(sc, "invalid %s record: %s", sc->tok[0],
				  jnl_op_status_name(st));
	return 1;
}

/* Check the whole script before anything is written: the count. */
static int script_check(const char *path, uint64_t *count)
{
	struct script sc;
	struct jnl_op op;
	int rc = script_open(&sc, path);

	*count = 0;
	if (!rc)
		while ((rc = script_next(&sc, &op)) == 1)
			(*count)++;
	if (rc < 0)
		fprintf(stderr, PROG " append: %s\n", sc.err);
	script_close(&sc);
	return rc < 0 ? EX_USAGE : 0;
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
	uint64_t records;	/* appended by this run */
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

/* The next op to append: synthetic or from the script.  1, 0, -errno */
static int run_next(struct run *r, const struct opts *o, struct syn *y,
		    struct script *sc, struct jnl_op *op)
{
	int rc;

	if (!sc) {
		if (r->records == o->count)
			return 0;
		syn_op(y, op, r->a.next_seq, r->records == 0);
		return 1;
	}
	rc = script_next(sc, op);
	if (rc < 0)
		snprintf(r->j->err, sizeof(r->j->err), "%s", sc->err);
	return rc;
}

/* Append o->count synthetic records, or the script's, o->group per group. */
static int run_records(struct run *r, const struct opts *o, struct syn *y,
		       struct script *sc)
{
	struct jnl_op op;
	uint64_t in_group = 0;
	uint64_t seq;
	int rc;

	while ((rc = run_next(r, o, y, sc, &op)) == 1) {
		r->records++;
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
	return rc ? rc : run_flush(r);
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
	double rate = secs > 0 ? (double)r->records / secs : 0;

	if (o->json) {
		printf("{\"node\":%" PRIu32 ",\"epoch\":%" PRIu32
		       ",\"records\":%" PRIu64 ",\"first_seq\":%" PRIu64
		       ",\"last_seq\":%" PRIu64 ",\"groups\":%" PRIu64
		       ",\"group\":%" PRIu64 ",\"bytes\":%" PRIu64
		       ",\"segments_created\":%" PRIu64
		       ",\"seconds\":%.6f,\"records_s\":%.1f}\n",
		       o->node, r->a.epoch, r->records, first,
		       jnl_app_durable(&r->a), r->groups, o->group, r->bytes,
		       r->segments, secs, rate);
		return;
	}
	printf("node %" PRIu32 " epoch %" PRIu32 ": appended %" PRIu64
	       " records (seq %" PRIu64 "..%" PRIu64 ") in %" PRIu64
	       " groups, %" PRIu64 " bytes, segments %016" PRIx64 "..%016"
	       PRIx64 ", %.3f s, %.0f records/s\n", o->node, r->a.epoch,
	       r->records, first, jnl_app_durable(&r->a), r->groups, r->bytes,
	       r->first_segno, r->last_segno, secs, rate);
}

/* The failed run's one line: what failed and how far it is durable. */
static int run_failed(const struct run *r, int rc)
{
	const char *what = r->j->err[0] ? r->j->err :
			   rc == -EINVAL ? "invalid record" :
			   rc == -ENOMEM ? "out of memory" : strerror(-rc);

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
	struct script sc;
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
	j->err[0] = 0;
	y.data = malloc(o->payload);
	if (!y.data || (o->script && script_open(&sc, o->script))) {
		free(y.data);
		jnl_app_fini(&r.a);
		return op_error("append", y.data ? sc.err : "out of memory");
	}
	first = r.a.next_seq;
	t0 = mono_s();
	rc = run_records(&r, o, &y, o->script ? &sc : NULL);
	if (rc)
		rc = run_failed(&r, rc);
	else
		run_report(&r, o, first, mono_s() - t0);
	if (o->script)
		script_close(&sc);
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
	uint64_t n;
	int rc;

	if (o->script && script_check(o->script, &n))
		return EX_USAGE;	/* nothing written */
	rc = journal_open(&j, o, true);
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

/* ---- apply ---- */

static void apply_json(const struct opts *o, const struct apl *a, int ex,
		       double secs)
{
	const struct apl_stats *st = &a->st;
	char line[512];

	printf("{\"node\":%" PRIu32 ",\"exit\":%d,\"records\":%" PRIu64
	       ",\"applied\":%" PRIu64 ",\"skipped\":%" PRIu64
	       ",\"skipped_xattr\":%" PRIu64 ",\"stale\":%" PRIu64
	       ",\"first_seq\":%" PRIu64 ",\"last_seq\":%" PRIu64
	       ",\"start_seq\":%" PRIu64, o->node, ex, st->records,
	       st->applied, st->skipped, st->skipped_xattr, st->stale,
	       st->first_seq, st->last_seq, st->start_seq);
	if (st->have_ckpt)
		printf(",\"checkpoint\":{\"seq\":%" PRIu64 ",\"epoch\":%" PRIu32
		       ",\"segno\":%" PRIu64 ",\"offset\":%" PRIu64 "}",
		       st->ckpt.seq, st->ckpt.epoch, st->ckpt.segno,
		       st->ckpt.offset);
	else
		printf(",\"checkpoint\":null");
	printf(",\"batches\":%" PRIu64 ",\"dones\":%" PRIu64 ",\"existing\":%"
	       PRIu64 ",\"replayed\":%" PRIu64 ",\"orphaned\":%" PRIu64
	       ",\"reaped\":%" PRIu64 ",\"coalesced\":%" PRIu64
	       ",\"write_rpcs\":%" PRIu64 ",\"commits\":%" PRIu64
	       ",\"bytes\":%" PRIu64 ",\"flog_writes\":%" PRIu64
	       ",\"seconds\":%.6f,\"records_s\":%.1f", st->batches,
	       st->dones, st->existing, st->replayed, st->orphaned,
	       st->reaped, st->coalesced, st->write_rpcs, st->commits,
	       st->bytes, st->flog_writes, secs,
	       secs > 0 ? (double)st->records / secs : 0);
	describe_end(&st->end, line, sizeof(line));
	printf(",\"stopped\":%s,\"end\":", st->stopped ? "true" : "false");
	json_str(st->no_journal ? "no journal" : line);
	printf(",\"error\":");
	if (ex)
		json_str(a->err);
	else
		printf("null");
	printf("}\n");
}

static void apply_text(const struct opts *o, const struct apl *a,
		       double secs)
{
	const struct apl_stats *st = &a->st;
	char line[512];

	if (st->no_journal) {
		printf("node %" PRIu32 ": no journal, nothing to apply\n",
		       o->node);
		return;
	}
	printf("node %" PRIu32 ": applied %" PRIu64 " records, skipped %"
	       PRIu64 " (setxattr/removexattr: NFSv3 has no xattrs, not "
	       "stored yet)", o->node, st->applied, st->skipped);
	if (st->records)
		printf(", seq %" PRIu64 "..%" PRIu64, st->first_seq,
		       st->last_seq);
	if (st->have_ckpt)
		printf("; checkpoint seq %" PRIu64 " (segment %016" PRIx64
		       " offset %" PRIu64 ")", st->ckpt.seq, st->ckpt.segno,
		       st->ckpt.offset);
	printf("; %" PRIu64 " batches, %.3f s, %.0f records/s\n",
	       st->batches, secs, secs > 0 ? (double)st->records / secs : 0);
	printf("details: %" PRIu64 " WRITE RPCs (%" PRIu64 " records "
	       "coalesced), %" PRIu64 " COMMITs, %" PRIu64 " bytes; %" PRIu64
	       " found existing, %" PRIu64 " found applied before; %" PRIu64
	       " orphaned, %" PRIu64 " orphans removed, %" PRIu64 " stale; %"
	       PRIu64 " fid log writes (%" PRIu64 " DONE marks)\n",
	       st->write_rpcs, st->coalesced, st->commits, st->bytes,
	       st->existing, st->replayed, st->orphaned, st->reaped,
	       st->stale, st->flog_writes, st->dones);
	describe_end(&st->end, line, sizeof(line));
	printf("end: %s\n", line);
}

static int cmd_apply(const struct opts *o)
{
	struct apl_conf conf = {
		.url = o->url, .node = o->node, .batch = (uint32_t)o->batch,
		.upto = o->to, .timeout_ms = o->timeout_ms,
	};
	struct apl *a = calloc(1, sizeof(*a));
	double t0 = mono_s();
	int rc;
	int ex;

	if (!a)
		return op_error("apply", "out of memory");
	/* debugging the applier: OFSREP_APPLY_TRACE=FILE appends a line per
	 * record and per replay decision */
	if (getenv("OFSREP_APPLY_TRACE"))
		conf.trace = fopen(getenv("OFSREP_APPLY_TRACE"), "a");
	rc = apl_open(a, &conf);
	if (!rc)
		rc = apl_run(a);
	ex = !rc ? EX_OK : rc == -EUCLEAN || rc == -EPROTO ? EX_UNCORRECTED :
	     EX_ERROR;
	if (o->json)
		apply_json(o, a, ex, mono_s() - t0);
	else if (!rc)
		apply_text(o, a, mono_s() - t0);
	if (rc)
		fprintf(stderr, PROG " apply: %s\n", a->err);
	apl_close(a);
	free(a);
	if (conf.trace)
		fclose(conf.trace);
	return ex;
}

/* ---- arguments ---- */

static void usage(FILE *f)
{
	fprintf(f,
"usage: " PROG " append URL --node N --count C [--group G] [--payload BYTES]\n"
"                      [--seg-limit BYTES] [--timeout-ms MS] [--json]\n"
"       " PROG " append URL --node N --script FILE [--group G] [...]\n"
"       " PROG " check URL --node N [--json] [-v] [--timeout-ms MS]\n"
"       " PROG " ckpt URL --node N --seq S [--timeout-ms MS]\n"
"       " PROG " apply URL --node N [--batch B] [--to SEQ] [--json]\n"
"                      [--timeout-ms MS]\n"
"  URL    nfs://HOST/EXPORT_PATH?nfsport=N&mountport=M (journal in\n"
"         EXPORT/.ofsrep/journal/N/)\n"
"  --group G        records per group write (default %d)\n"
"  --payload BYTES  data bytes per WRITE record (default %d; k, m suffixes)\n"
"  --seg-limit BYTES  roll to a new segment beyond this (default 64m)\n"
"  --script FILE    append the records FILE lists, one per line (see\n"
"                   docs/journal-format.md)\n"
"  --batch B        apply: records per batch and checkpoint (default %u)\n"
"  --to SEQ         apply: stop after record SEQ\n"
"  --timeout-ms MS  per-RPC and connect timeout (default %d)\n"
"  exit: 0 clean or torn tail, 4 damaged/refused, 8 error, 16 usage\n",
		DEF_GROUP, DEF_PAYLOAD, APL_BATCH_DEFAULT, DEF_TIMEOUT_MS);
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
	{ "script", required_argument, NULL, 'S' },
	{ "batch", required_argument, NULL, 'b' },
	{ "to", required_argument, NULL, 'T' },
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
	case 'S':
		o->script = arg;
		break;
	case 'b':
		rc = parse_u64(arg, 1, APL_BATCH_MAX, &o->batch);
		break;
	case 'T':
		rc = parse_u64(arg, 1, UINT64_MAX - 1, &o->to);
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
	{ 'S', OPT_SCRIPT, "--script", "" },
	{ 'b', OPT_BATCH, "--batch", "a batch size from 1 to 1000000" },
	{ 'T', OPT_TO, "--to", "a seq from 1" },
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
		       OPT_SEGLIMIT | OPT_TIMEOUT | OPT_JSON | OPT_SCRIPT;
	if (!strcmp(cmd, "check"))
		return OPT_NODE | OPT_TIMEOUT | OPT_JSON | OPT_VERBOSE;
	if (!strcmp(cmd, "ckpt"))
		return OPT_NODE | OPT_SEQ | OPT_TIMEOUT;
	if (!strcmp(cmd, "apply"))
		return OPT_NODE | OPT_BATCH | OPT_TO | OPT_TIMEOUT | OPT_JSON;
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
	if (!strcmp(o->cmd, "append") && !(o->given & (OPT_COUNT | OPT_SCRIPT)))
		return usage_error("%s: --count C or --script FILE is required",
				   o->cmd);
	if ((o->given & OPT_SCRIPT) && (o->given & (OPT_COUNT | OPT_PAYLOAD)))
		return usage_error("%s: --script takes neither --count nor "
				   "--payload", o->cmd);
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
		return usage_error("missing command%s (append, check, ckpt, "
				   "apply)", "");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return EX_OK;
	}
	o.cmd = argv[1];
	if (!cmd_allows(o.cmd))
		return usage_error("unknown command '%s' (append, check, ckpt, "
				   "apply)", o.cmd);
	rc = parse_args(argc - 1, argv + 1, &o);
	if (!rc)
		rc = validate(&o);
	if (rc)
		return rc;
	if (!strcmp(o.cmd, "append"))
		return cmd_append(&o);
	if (!strcmp(o.cmd, "check"))
		return cmd_check(&o);
	if (!strcmp(o.cmd, "apply"))
		return cmd_apply(&o);
	return cmd_ckpt(&o);
}
