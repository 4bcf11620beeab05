/*
 * trees.c — ofsrep-fsck's pass 4: the primary's tree against the mirror
 * (replica/treesync.c), and the split-brain guard (fs/split.c).
 *
 *   --verify          report every difference between the primary and
 *                     .ofsrep/mirror (read-only; left uncorrected: 4)
 *   --resync=mirror   make the mirror equal to the primary: after the
 *                     local spool overflowed, or to seed a mirror for a
 *                     tree that existed before ofsrep.  The journal must
 *                     be fully applied first (pass 3), so that no record
 *                     is applied again on top; the overflowed spool file
 *                     is set aside (renamed, never deleted).
 *   --resync=primary  make the primary equal to the mirror, after a
 *                     failover made it stale; then the guard's marker is
 *                     removed so the pair can be mounted again.
 *   --keep=secondary  the same as --resync=primary; --keep=primary is
 *                     --resync=mirror that may also resolve a split brain
 *                     the other way: what only the mirror got after the
 *                     failover is overwritten, on the operator's word.
 *
 * Runs while the tool holds the journal's lease (no mount is live), after
 * the journal passes.  A marker with neither option is reported: the
 * primary is stale and the exit code says uncorrected.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "journal/spool.h"
#include "replica/jstore.h"
#include "replica/treesync.h"
#include "tools/fsck/fsck.h"

/* One object a comparison found different, and the operator's answer. */
struct asked {
	char *path;
	char *what;			/* its first difference */
	int answer;			/* -1 not asked yet, 0 no, 1 yes */
};

struct trees_ctx {
	const struct fsck_opts *o;
	struct fsck_node *r;
	bool may;			/* may change the exports */
	bool to_primary;
	unsigned shown;
	bool collect;			/* keep each differing object */
	bool quiet;			/* the report was shown already */
	struct asked *v;		/* sorted by path once collected */
	size_t n, cap;
};

static void collect(struct trees_ctx *c, const char *path, const char *what)
{
	struct asked *a;

	if (c->n && !strcmp(c->v[c->n - 1].path, path))
		return;			/* a further line of the same object */
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 64;
		struct asked *v = realloc(c->v, cap * sizeof(*v));

		if (!v)
			return;		/* not asked: a yes, as with -y */
		c->v = v;
		c->cap = cap;
	}
	a = &c->v[c->n];
	a->path = strdup(path);
	a->what = strdup(what);
	a->answer = -1;
	if (a->path && a->what)
		c->n++;
	else {
		free(a->path);
		free(a->what);
	}
}

static int asked_cmp(const void *x, const void *y)
{
	return strcmp(((const struct asked *)x)->path,
		      ((const struct asked *)y)->path);
}

/* ts_conf.want, interactive resync: one question per differing object,
 * in the words the report used. */
static bool on_want(void *arg, const char *path)
{
	struct trees_ctx *c = arg;
	struct asked key = { .path = (char *)path };
	struct asked *a = c->n ? bsearch(&key, c->v, c->n, sizeof(*c->v),
					 asked_cmp) : NULL;

	if (!a)
		return true;		/* no difference: nothing changes */
	if (a->answer < 0)
		a->answer = fsck_ask(c->o, false, "Node %" PRIu32 ": %s: %s.  "
				     "Make it as in the %s", c->r->node,
				     path, a->what, c->to_primary ?
				     "mirror" : "primary");
	return a->answer;
}

static void asked_free(struct trees_ctx *c)
{
	for (size_t i = 0; i < c->n; i++) {
		free(c->v[i].path);
		free(c->v[i].what);
	}
	free(c->v);
	c->v = NULL;
	c->n = c->cap = 0;
}

#define TREES_SHOW_MAX FSCK_DIFF_LINES	/* differences printed one by one */

static void on_difference(void *arg, const char *path, const char *what)
{
	struct trees_ctx *c = arg;
	struct fsck_node *r = c->r;

	if (c->collect)
		collect(c, path, what);
	if (c->quiet)
		return;
	if (c->shown++ < TREES_SHOW_MAX || c->o->verbose)
		fsck_say(c->o, "Node %" PRIu32 ": %s: %s\n", r->node, path,
			 what);
	if (r->ndiff_lines < FSCK_DIFF_LINES) {
		char **v = r->diff_lines ? r->diff_lines :
			   calloc(FSCK_DIFF_LINES, sizeof(*v));
		char *line = NULL;

		if (v && asprintf(&line, "%s: %s", path, what) >= 0) {
			v[r->ndiff_lines++] = line;
		}
		r->diff_lines = v;
	}
}

/* Blobs of removed objects take space and nothing else: removing them is
 * safe to preen, and not an error when they stay (exit code unchanged). */
static bool on_reclaim(void *arg, uint64_t orphans)
{
	struct trees_ctx *c = arg;

	char why[JSTORE_ERR_MAX];

	fsck_say(c->o, "Node %" PRIu32 ": %" PRIu64 " xattr blobs belong to "
		 "objects that no longer exist\n", c->r->node, orphans);
	if (!c->may)
		return false;
	/* another node writing meanwhile could have moved an object the
	 * walk then never met: its blob is not an orphan */
	if (!fsck_others_quiet(c->o, c->r->node, false, why, sizeof(why))) {
		fsck_say(c->o, "Node %" PRIu32 ": not removed: %s\n",
			 c->r->node, why);
		return false;
	}
	return fsck_ask(c->o, true, "Node %" PRIu32 ": remove those %" PRIu64
			" blobs", c->r->node, orphans);
}

static void on_progress(void *arg, const struct ts_stats *st)
{
	struct trees_ctx *c = arg;

	/* machine progress only: the total is not known beforehand */
	if (c->o->progress_fd > 0)
		fsck_progress(c->o, c->r->node, 4, st->entries, 0);
}

/* The guard's marker: 1 present (its first line in @what), 0 absent. */
static int stale_marker(struct jstore *js, char *what, size_t size,
			struct fsck_node *r)
{
	char err[JSTORE_ERR_MAX];
	long long since = 0;
	int rc = jstore_stale_read(js, &since, err, sizeof(err));

	if (rc < 0) {
		fsck_problem(r, "error", false, "%s", err);
		r->exit |= FX_ERROR;
		return -1;
	}
	if (rc)
		snprintf(what, size, "a failover to the mirror at %lld (unix "
			 "time) made the primary stale", since);
	return rc;
}

/* The overflowed spool of this node and secondary, if on this host. */
void fsck_spool_aside(const struct fsck_opts *o, uint32_t node)
{
	char path[4096], aside[4200];

	jnl_spool_path(path, sizeof(path), o->spool_dir ? o->spool_dir :
		       JNL_SPOOL_DIR_DEFAULT, node, o->secondary);
	if (access(path, F_OK))
		return;
	snprintf(aside, sizeof(aside), "%s.resynced-%lld", path,
		 (long long)time(NULL));
	if (rename(path, aside))
		fsck_say(o, "Node %" PRIu32 ": could not set the spool %s "
			 "aside: %s\n", node, path, strerror(errno));
	else
		fsck_say(o, "Node %" PRIu32 ": the spool %s is obsolete now; "
			 "kept as %s\n", node, path, aside);
}

static int run_with(struct trees_ctx *c, bool repair, struct ts_stats *st)
{
	const struct fsck_opts *o = c->o;
	struct fsck_node *r = c->r;
	bool to_primary = c->to_primary;
	struct ts_conf conf = {
		.src_url = to_primary ? o->secondary : o->primary,
		.src_path = to_primary ? "/.ofsrep/mirror" : "/",
		.dst_url = to_primary ? o->primary : o->secondary,
		.dst_path = to_primary ? "/" : "/.ofsrep/mirror",
		.timeout_ms = o->timeout_ms, .repair = repair,
		.report = on_difference, .progress = on_progress, .arg = c,
		.cancel = &fsck_interrupted, .reclaim = on_reclaim,
		.want = repair && c->quiet ? on_want : NULL,
	};
	char err[JSTORE_ERR_MAX];
	int rc = ts_run(&conf, st, err, sizeof(err));

	if (rc == -ECANCELED) {
		r->exit |= FX_CANCELLED;
	} else if (rc) {
		fsck_problem(r, "error", false, "%s", err);
		r->exit |= FX_ERROR;
	}
	if (c->shown > TREES_SHOW_MAX && !o->verbose && !c->quiet)
		fsck_say(o, "Node %" PRIu32 ": ... %u more differences (-v "
			 "shows all)\n", r->node, c->shown - TREES_SHOW_MAX);
	return rc;
}

int fsck_tree_run(const struct fsck_opts *o, struct fsck_node *r,
		  bool repair, bool may, bool to_primary, struct ts_stats *st)
{
	struct trees_ctx c = { .o = o, .r = r, .may = may,
			       .to_primary = to_primary };

	return run_with(&c, repair, st);
}

/* Interactive resync, as e2fsck asks: the whole report first, then one
 * question per differing object, then only the objects answered yes are
 * changed.  0 or -errno (a problem of r already). */
static int resync_asking(const struct fsck_opts *o, struct fsck_node *r,
			 bool to_primary, struct ts_stats *st)
{
	struct trees_ctx c = { .o = o, .r = r, .may = true,
			       .to_primary = to_primary, .collect = true };
	int rc = run_with(&c, false, st);

	if (!rc && c.n) {
		qsort(c.v, c.n, sizeof(*c.v), asked_cmp);
		c.collect = false;
		c.quiet = true;
		rc = run_with(&c, true, st);
	}
	asked_free(&c);
	return rc;
}

void fsck_trees(const struct fsck_opts *o, struct jstore *js, bool may,
		struct fsck_node *r)
{
	struct ts_stats st;
	char stale[256], why[JSTORE_ERR_MAX];
	int marker = stale_marker(js, stale, sizeof(stale), r);
	bool to_primary = o->resync == FSCK_RESYNC_PRIMARY;

	if (marker < 0)
		return;
	if (marker && !(o->resync && (to_primary || o->keep))) {
		fsck_problem(r, "split_brain", false, "%s: what was written "
			     "since is only in the mirror; run again with "
			     "--resync=primary PRIMARY_URL", stale);
		r->exit |= FX_UNCORRECTED;
	}
	if (!o->verify && !o->resync)
		return;
	if (!o->primary) {
		fsck_problem(r, "error", false, "--verify and --resync need "
			     "PRIMARY_URL");
		r->exit |= FX_USAGE;
		return;
	}
	if (o->resync && r->pending) {
		fsck_problem(r, "resync", false, "records not yet applied: "
			     "replay them first (without -n)");
		r->exit |= FX_UNCORRECTED;
		return;
	}
	if (o->resync == FSCK_RESYNC_MIRROR && marker && !o->keep) {
		fsck_problem(r, "resync", false, "the primary is stale (a "
			     "failover): --resync=mirror would throw away what "
			     "only the mirror has; --keep=primary does it on "
			     "purpose");
		r->exit |= FX_UNCORRECTED;
		return;
	}
	if (o->resync && may &&
	    !fsck_others_quiet(o, r->node, true, why, sizeof(why))) {
		fsck_problem(r, "resync", false, "not done: %s", why);
		r->exit |= FX_UNCORRECTED;
		return;
	}
	if (o->resync && (!may || (o->mode != ASK_INTERACTIVE &&
				   !fsck_ask(o, false, "Node %" PRIu32 ": "
					     "make the %s equal to the %s",
					     r->node, to_primary ? "primary" :
					     "mirror", to_primary ? "mirror" :
					     "primary")))) {
		fsck_problem(r, "resync", false, "not done");
		r->exit |= FX_UNCORRECTED;
		return;
	}
	fsck_say(o, "Node %" PRIu32 ": pass 4: %s\n", r->node, o->resync ?
		 (to_primary ? "making the primary equal to the mirror" :
		  "making the mirror equal to the primary") :
		 "comparing the primary with the mirror");
	if (o->resync && o->mode == ASK_INTERACTIVE ?
	    resync_asking(o, r, to_primary, &st) :
	    fsck_tree_run(o, r, o->resync != 0, may, to_primary, &st))
		return;
	fsck_say(o, "Node %" PRIu32 ": %" PRIu64 " objects, %" PRIu64
		 " bytes compared; %" PRIu64 " differences, %" PRIu64
		 " made equal (%" PRIu64 " bytes written)\n", r->node,
		 st.entries, st.bytes, st.differences, st.fixed, st.copied);
	r->tree_entries = st.entries;
	r->tree_differences = st.differences;
	r->xattr_orphans = st.xattr_orphans;
	r->xattr_reclaimed = st.xattr_reclaimed;
	if (st.xattr_reclaimed)
		fsck_say(o, "Node %" PRIu32 ": %" PRIu64 " xattr blobs of "
			 "removed objects removed\n", r->node,
			 st.xattr_reclaimed);
	if (!o->resync) {
		if (st.differences) {
			fsck_problem(r, "verify", false, "%" PRIu64 " "
				     "differences between the primary and "
				     "the mirror", st.differences);
			r->exit |= FX_UNCORRECTED;
		}
		return;
	}
	if (st.declined) {
		fsck_problem(r, "resync", false, "%" PRIu64 " of %" PRIu64
			     " differing objects kept as they were (answered "
			     "no)%s", st.declined, st.differences, marker ?
			     "; the split-brain guard stays" : "");
		r->exit |= FX_UNCORRECTED;
		if (st.fixed)
			r->exit |= FX_CORRECTED;
		return;
	}
	if (st.differences)
		r->exit |= FX_CORRECTED;
	if (marker) {
		char err[JSTORE_ERR_MAX];

		if (jstore_file_remove(js, JSTORE_STALE_NAME, err,
				       sizeof(err))) {
			fsck_problem(r, "error", false, "%s", err);
			r->exit |= FX_ERROR;
			return;
		}
		fsck_problem(r, "split_brain", true, "%s; resolved: %s", stale,
			     to_primary ? "the mirror's tree kept" :
			     "the primary's tree kept, the mirror's changes "
			     "since the failover discarded");
		fsck_say(o, "Node %" PRIu32 ": the two sides are equal "
			 "again: the split-brain guard is lifted\n", r->node);
		r->fids_obsolete = true;	/* served directly till now */
		r->exit |= FX_CORRECTED;
	}
	if (!to_primary) {
		r->fids_obsolete = true;
		fsck_spool_aside(o, r->node);
	}
}
