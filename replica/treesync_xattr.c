/*
 * treesync_xattr.c — extended attributes in a tree comparison (see
 * treesync_xattr.h).  Listing both stores first means a pair where
 * neither object has a blob, the common case, costs no call at all.
 *
 * The listing also finds the blobs nobody needs any more.  A blob is
 * named by its object's file handle, and nothing removes it when the
 * object's last name goes (the data path does not know, at unlink, that
 * the name was the last one).  So a walk that pairs every object of both
 * trees marks the keys it meets; a key listed but never met belongs to an
 * object that no longer exists, and its blob can go (tsx_reclaim).  A
 * handle is never reused for another object (journal/xattr_set.c, B7),
 * so a blob found orphaned this way stays orphaned.
 */
#include "replica/treesync_xattr.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tsx_open(struct tsx *x, struct apl_rpc *src, const struct apl_fh *sroot,
	     struct apl_rpc *dst, const struct apl_fh *droot,
	     const char **side)
{
	int rc;

	memset(x, 0, sizeof(*x));
	xstore_init(&x->src, src, sroot);
	xstore_init(&x->dst, dst, droot);
	*side = "source";
	rc = xstore_keys(&x->src, &x->skeys, &x->ns);
	if (rc)
		return rc;
	*side = "destination";
	rc = xstore_keys(&x->dst, &x->dkeys, &x->nd);
	if (rc)
		return rc;
	x->sseen = calloc(x->ns + 1, sizeof(*x->sseen));
	x->dseen = calloc(x->nd + 1, sizeof(*x->dseen));
	return x->sseen && x->dseen ? 0 : -ENOMEM;
}

static void mark(const uint64_t *keys, size_t n, bool *seen, uint64_t key)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (keys[mid] == key) {
			seen[mid] = true;
			return;
		}
		if (keys[mid] < key)
			lo = mid + 1;
		else
			hi = mid;
	}
}

void tsx_mark(struct tsx *x, const struct apl_fh *sfh,
	      const struct apl_fh *dfh)
{
	mark(x->skeys, x->ns, x->sseen, xblob_key(sfh->data, sfh->len));
	mark(x->dkeys, x->nd, x->dseen, xblob_key(dfh->data, dfh->len));
}

static int reclaim_side(struct xstore *xs, const uint64_t *keys, size_t n,
			const bool *seen, bool remove, uint64_t *found,
			uint64_t *removed)
{
	for (size_t i = 0; i < n; i++) {
		int rc;

		if (seen[i])
			continue;
		(*found)++;
		if (!remove)
			continue;
		rc = xstore_remove(xs, keys[i]);
		if (rc)
			return rc;
		(*removed)++;
	}
	return 0;
}

int tsx_reclaim(struct tsx *x, bool remove, struct tsx_orphans *o,
		const char **side)
{
	int rc;

	memset(o, 0, sizeof(*o));
	*side = "source";
	rc = reclaim_side(&x->src, x->skeys, x->ns, x->sseen, remove,
			  &o->src, &o->src_removed);
	if (rc)
		return rc;
	*side = "destination";
	return reclaim_side(&x->dst, x->dkeys, x->nd, x->dseen, remove,
			    &o->dst, &o->dst_removed);
}

void tsx_close(struct tsx *x)
{
	xstore_fini(&x->src);
	xstore_fini(&x->dst);
	xset_free(&x->sset);
	xset_free(&x->dset);
	free(x->skeys);
	free(x->dkeys);
	free(x->sseen);
	free(x->dseen);
	x->skeys = x->dkeys = NULL;
	x->sseen = x->dseen = NULL;
}

int tsx_pair(struct tsx *x, const struct apl_fh *sfh,
	     const struct apl_fh *dfh, bool reread, bool repair, char *what,
	     size_t whatlen, bool *fixed, const char **side)
{
	uint64_t sk = xblob_key(sfh->data, sfh->len);
	uint64_t dk = xblob_key(dfh->data, dfh->len);
	bool sh = xstore_has(x->skeys, x->ns, sk);
	bool dh = xstore_has(x->dkeys, x->nd, dk);
	enum xblob_status why;
	int rc;

	what[0] = 0;
	*fixed = false;
	tsx_mark(x, sfh, dfh);
	if (!sh && !dh)
		return 0;
	if (sh && dh && !reread)
		return 0;
	x->compared++;
	*side = "source";
	rc = xstore_load(&x->src, sk, &x->sset, &why);
	if (rc == -EIO && why != XBLOB_OK) {
		snprintf(what, whatlen, "xattr blob damaged in the source "
			 "(%s): not copied", xblob_status_name(why));
		return 0;
	}
	if (rc)
		return rc;
	*side = "destination";
	rc = xstore_load(&x->dst, dk, &x->dset, &why);
	if (rc == -EIO && why != XBLOB_OK) {
		snprintf(what, whatlen, "xattr blob damaged in the "
			 "destination (%s)", xblob_status_name(why));
		xset_free(&x->dset);
		x->dset.count = UINT32_MAX;	/* differs from any set */
	} else if (rc) {
		return rc;
	}
	if (xset_equal(&x->sset, &x->dset))
		return 0;
	if (!what[0])
		snprintf(what, whatlen, "xattrs: %u / %u attributes, %zu / "
			 "%zu bytes", x->sset.count,
			 x->dset.count == UINT32_MAX ? 0 : x->dset.count,
			 x->sset.len, x->dset.len);
	x->dset.count = 0;
	if (!repair)
		return 0;
	rc = xstore_save(&x->dst, dk, &x->sset);
	if (rc)
		return rc;
	*fixed = true;
	return 0;
}
