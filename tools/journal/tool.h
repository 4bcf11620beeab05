/*
 * tool.h — what the files of ofsrep-journal (tools/journal/) share: exit
 * codes, the parsed command line, the journal as read, the two record
 * streams append writes, and the helpers the commands have in common.
 * Private to the tool; main.c says what the tool does and lists the files.
 */
#ifndef OFSREP_JOURNAL_TOOL_H
#define OFSREP_JOURNAL_TOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <xxhash.h>

#include "journal/reader.h"
#include "replica/jstore.h"

enum {
	EX_OK = 0,
	EX_UNCORRECTED = 4,
	EX_ERROR = 8,
	EX_USAGE = 16,
};

#define PROG			"ofsrep-journal"

struct opts {
	const char *cmd;
	const char *url;
	unsigned given;		/* OPT_* (args.c) */
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

/* ---- the journal as read: files, reader, tallies (walk.c) ---- */

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

/* The applier's checkpoint, and whether the journal reads on from it. */
struct ckpt_check {
	bool present;
	bool consistent;
	bool damaged;		/* both slots invalid (consistent false) */
	bool refused;		/* a newer version's (consistent false) */
	unsigned slot;
	struct jnl_ckpt ck;
	uint64_t pending;	/* records after it */
	char line[JSTORE_ERR_MAX];	/* the reader's verdict from it */
};

int journal_open(struct journal *j, const struct opts *o, bool mkdir);
int journal_check_ckpt(struct journal *j, const struct opts *o,
		       struct ckpt_check *cc);
int journal_walk(struct journal *j, struct jnl_reader *rd, size_t from,
		 struct tally *t, bool info, uint64_t stop);
void journal_free(struct journal *j);
void journal_close(struct journal *j);

/* ---- messages (print.c) ---- */

int op_error(const char *cmd, const char *msg);
void describe_end(const struct jnl_end *e, char *buf, size_t size);
void json_str(const char *s);
double mono_s(void);

/* ---- the synthetic record stream (syn.c) ---- */

/* Buffers for one synthetic op; syn.c says what the records are. */
struct syn {
	char name[32];
	char value[24];
	uint8_t *data;		/* payload bytes */
	size_t payload;
};

void syn_op(struct syn *y, struct jnl_op *op, uint64_t seq, bool run_start);

/* ---- the script record stream, append --script (script.c) ---- */

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

int script_open(struct script *sc, const char *path);
int script_next(struct script *sc, struct jnl_op *op);
void script_close(struct script *sc);
int script_check(const char *path, uint64_t *count);

/* ---- the command line (main.c, args.c) ---- */

void usage(FILE *f);
int usage_error(const char *fmt, const char *arg);
int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
unsigned cmd_allows(const char *cmd);
int parse_args(int argc, char **argv, struct opts *o);
int validate(const struct opts *o);

/* ---- the commands (append.c, check.c, ckpt.c, apply.c) ---- */

int cmd_append(const struct opts *o);
int cmd_check(const struct opts *o);
int cmd_ckpt(const struct opts *o);
int cmd_apply(const struct opts *o);

#endif
