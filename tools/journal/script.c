// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * script.c — the script record stream of `append --script FILE`: parses
 * FILE into records, one a line, and checks them (jnl_op_check()) so a
 * bad line is a usage error (exit 16) before anything is written.
 * struct script (tool.h) holds the file and the line being parsed.
 *
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
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "tools/journal/tool.h"

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

int script_open(struct script *sc, const char *path)
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

void script_close(struct script *sc)
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
int script_next(struct script *sc, struct jnl_op *op)
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
int script_check(const char *path, uint64_t *count)
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
