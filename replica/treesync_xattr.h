/*
 * treesync_xattr.h — the extended-attribute part of a tree comparison
 * (replica/treesync.c): the set of each pair of objects, read from each
 * export's xattr store (replica/xstore.h), compared, and with repair the
 * source's written over the destination's.
 */
#ifndef OFSREP_TREESYNC_XATTR_H
#define OFSREP_TREESYNC_XATTR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "replica/xstore.h"

struct tsx {
	struct xstore src, dst;
	uint64_t *skeys, *dkeys;	/* keys with a blob, sorted */
	size_t ns, nd;
	bool *sseen, *dseen;		/* [i]: key i's object was paired */
	struct xset sset, dset;		/* scratch */
	uint64_t compared;		/* pairs whose sets were read */
};

/* Lists both stores (one READDIR per <hh> directory); @sroot, @droot are
 * the export roots.  0 or -errno (*side: "source" or "destination"). */
int tsx_open(struct tsx *x, struct apl_rpc *src, const struct apl_fh *sroot,
	     struct apl_rpc *dst, const struct apl_fh *droot,
	     const char **side);
void tsx_close(struct tsx *x);

/* Compares the sets of source object @sfh and destination object @dfh.
 * @reread false: sets whose blobs both exist are taken as equal (a quick
 * pass, nothing changed them since).  On a difference, *what describes it
 * and, with @repair, the destination is given the source's set (*fixed);
 * a damaged source blob is reported and not copied.  0 or -errno (*side
 * says where). */
int tsx_pair(struct tsx *x, const struct apl_fh *sfh,
	     const struct apl_fh *dfh, bool reread, bool repair, char *what,
	     size_t whatlen, bool *fixed, const char **side);

/* Marks the blobs of source object @sfh and destination object @dfh as
 * belonging to a live object (tsx_pair does it for every pair it is
 * given; a further name of a hard link must say so too: its handle may
 * differ on servers whose handles name the parent). */
void tsx_mark(struct tsx *x, const struct apl_fh *sfh,
	      const struct apl_fh *dfh);

/* Blobs of removed objects (tsx_reclaim): the keys listed at tsx_open
 * whose object no pair named.  Only meaningful after a walk that paired
 * every object of both trees, with neither tree changing meanwhile. */
struct tsx_orphans {
	uint64_t src, dst;		/* found */
	uint64_t src_removed, dst_removed;
};

/* Counts the orphans of each store into @o and, if @remove, removes
 * their blob files.  0 or -errno (*side says where). */
int tsx_reclaim(struct tsx *x, bool remove, struct tsx_orphans *o,
		const char **side);

#endif
