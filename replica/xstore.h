/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * replica/xstore.h: an export's xattr store, read and written with
 * synchronous raw NFSv3 calls (replica/apl_rpc.h): the mirror applier
 * keeps the mirror objects' blobs in the secondary's store, and the tree
 * comparison (replica/treesync.c) compares and copies blobs between two
 * stores.  The daemon's data path has its own asynchronous client of the
 * same layout (fs/xattr.c).  Layout, blob format and rules:
 * journal/xattr_set.c.
 *
 * A missing blob, and an empty one, are the empty set.  A damaged blob is
 * reported (-EIO, *why set) and never read as empty.
 */
#ifndef OFSREP_XSTORE_H
#define OFSREP_XSTORE_H

#include <stdbool.h>
#include <stdint.h>

#include "journal/xattr_set.h"
#include "replica/apl_rpc.h"

struct xstore {
	struct apl_rpc *rpc;		/* not owned */
	struct apl_fh root;		/* the export's root */
	bool have_own, have_top;
	struct apl_fh own;		/* .ofsrep */
	struct apl_fh top;		/* .ofsrep/xattr */
	bool have_sub[256];
	struct apl_fh sub[256];		/* .ofsrep/xattr/<hh> */
	uint8_t *buf;			/* XBLOB_MAX bytes, for one blob */
};

void xstore_init(struct xstore *xs, struct apl_rpc *rpc,
		 const struct apl_fh *root);
void xstore_fini(struct xstore *xs);

/* The set of the object whose handle hashes to @key, into @out.  0 (a
 * missing blob: the empty set), or -errno; -EIO with *why the broken
 * rule when the blob is damaged (why may be NULL). */
int xstore_load(struct xstore *xs, uint64_t key, struct xset *out,
		enum xblob_status *why);

/* Stores @set as @key's blob, written FILE_SYNC.  The empty set writes an
 * empty blob over an existing one and makes none otherwise. */
int xstore_save(struct xstore *xs, uint64_t key, const struct xset *set);

/* Removes @key's blob; a missing one is fine. */
int xstore_remove(struct xstore *xs, uint64_t key);

/* Every key with a blob file (sorted, malloc'ed into *keys).  A file not
 * named like a blob is ignored. */
int xstore_keys(struct xstore *xs, uint64_t **keys, size_t *n);

/* True if @key is in the sorted array. */
bool xstore_has(const uint64_t *keys, size_t n, uint64_t key);

#endif /* OFSREP_XSTORE_H */
