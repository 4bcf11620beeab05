/*
 * treesync_int.h — what the parts of a tree comparison share: the run's
 * state (struct ts) and its reporting helpers, defined in
 * replica/treesync.c; the bytes of regular files are compared in
 * replica/treesync_bytes.c, extended attributes in
 * replica/treesync_xattr.c.  Private to those files.
 */
#ifndef OFSREP_TREESYNC_INT_H
#define OFSREP_TREESYNC_INT_H

#include "replica/treesync.h"
#include "replica/treesync_xattr.h"

#define TS_CHUNK	(1u << 20)

struct ts_side {
	struct jstore js;
	struct apl_rpc rpc;
	struct apl_fh root;
	struct apl_fh eroot;	/* the export's root: its xattr store */
	bool open;
	bool rpc_ok;
	const char *url;
};

/* fileid -> (handle, fileid): open addressing, a power of two. */
struct ts_link {
	uint64_t fileid;	/* the key; 0: empty slot */
	struct apl_fh fh;
	uint64_t other;
};

struct ts_map {
	struct ts_link *v;
	size_t n;
	size_t cap;
};

struct ts {
	const struct ts_conf *c;
	struct ts_side src;
	struct ts_side dst;
	struct ts_stats *st;
	char path[4096];
	size_t plen;
	struct ts_map links;	/* source object -> its destination */
	struct ts_map claims;	/* destination object -> source object */
	uint8_t *sbuf;
	uint8_t *dbuf;
	struct tsx x;		/* extended attributes */
	bool x_open;
	uint64_t last_progress_ms;
	bool counted;		/* this object's difference is counted */
	bool fix_this;		/* repair may change this object (want) */
	char *err;
	size_t errlen;
};

/* Whether repair changes the object being compared. */
static inline bool ts_fixing(const struct ts *t)
{
	return t->c->repair && t->fix_this;
}

/* One line in t->err naming the export, @op and the path; returns @rc. */
int ts_fail(struct ts *t, struct ts_side *s, const char *op, int rc);
/* One difference of the object at t->path (counted once per object). */
void ts_differ(struct ts *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* The caller's progress callback, at most once a second (or @last). */
void ts_progress(struct ts *t, bool last);

/* treesync_bytes.c */
/* Quick mode: size and mtime equal and not written since: skip. */
bool ts_unchanged(struct ts *t, const struct apl_fh *sfh,
		  const struct apl_attr *sa, const struct apl_attr *da,
		  bool fresh);
/* Compares the bytes; with repair, rewrites from the first difference
 * (*fixed).  0 or -errno (t->err says). */
int ts_sync_bytes(struct ts *t, const struct apl_fh *sfh,
		  const struct apl_attr *sa, const struct apl_fh *dfh,
		  const struct apl_attr *da, bool fresh, bool *fixed);

#endif
