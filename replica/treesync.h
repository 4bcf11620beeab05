/*
 * treesync.h — compare two trees on NFS exports, and make the second
 * equal to the first (see treesync.c for what "equal" means).
 *
 * Used by ofsrep-fsck: --verify (primary against mirror, report only),
 * --resync=mirror (the mirror made equal to the primary) and
 * --resync=primary (the primary made equal to the mirror, after a
 * failover), and by the daemon's online resync before a failback
 * (fs/failback.c).
 */
#ifndef OFSREP_TREESYNC_H
#define OFSREP_TREESYNC_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "replica/apl_rpc.h"
#include "replica/jstore.h"

struct ts_stats {
	uint64_t entries;	/* objects compared */
	uint64_t bytes;		/* file bytes compared (read on both) */
	uint64_t differences;	/* objects that differed (one report line
				 * per way they differ) */
	uint64_t fixed;		/* of those, made equal (repair) */
	uint64_t copied;	/* bytes written to the destination */
	uint64_t declined;	/* differing objects conf->want kept as
				 * they were (repair) */
	uint64_t xattr_orphans;	/* blobs of removed objects found ... */
	uint64_t xattr_reclaimed; /* ... and removed (conf->reclaim) */
};

struct ts_conf {
	const char *src_url;	/* the tree that is right */
	const char *src_path;	/* inside its export: "/" or "/.ofsrep/mirror" */
	const char *dst_url;
	const char *dst_path;
	int timeout_ms;
	bool repair;		/* false: only report */
	/* Each difference, as "path: what" (path relative to the trees). */
	void (*report)(void *arg, const char *path, const char *what);
	/* Now and then, and once at the end. */
	void (*progress)(void *arg, const struct ts_stats *st);
	void *arg;
	/* Checked before each object: nonzero stops the run (-ECANCELED);
	 * running it again finishes the job (repair is idempotent). */
	volatile sig_atomic_t *cancel;
	/* Online resync (fs/failback.c).  quick: a regular file whose size
	 * and mtime match on both sides is not read, unless @must_read says
	 * the source was written since the last pass. */
	bool quick;
	bool (*must_read)(void *arg, const struct apl_fh *src);
	/* The source is being written meanwhile: an object that vanishes
	 * (ESTALE) while compared counts as fixed (the next pass sees the
	 * tree without it) instead of failing the run. */
	bool live_source;
	/* Called for every pair of objects the run leaves equal (the two
	 * roots first): how the caller learns the destination's handles. */
	void (*pair)(void *arg, const struct apl_fh *src,
		     const struct apl_fh *dst);
	/* Offline runs only (neither tree may change meanwhile): after a
	 * walk that paired every object (no difference left, or repair),
	 * the blobs of both xattr stores whose object is gone are counted
	 * (replica/treesync_xattr.c) and, if this returns true for that
	 * count, removed.  NULL: not looked for. */
	bool (*reclaim)(void *arg, uint64_t orphans);
	/* Repair only: asked before each object (path relative to the
	 * trees) whether it may be changed; false keeps it as it is (a
	 * directory: and everything below it) and counts it declined if it
	 * differs.  NULL: every object may. */
	bool (*want)(void *arg, const char *path);
};

/* 0 (compared; st says what differed), or -errno with one line in @err
 * naming the export, path and error. */
int ts_run(const struct ts_conf *conf, struct ts_stats *st, char *err,
	   size_t errlen);

#endif
