/*
 * treesync_xattr.c — extended attributes in a tree comparison (see
 * treesync_xattr.h).  Listing both stores first means a pair where
 * neither object has a blob, the common case, costs no call at all.
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
	return xstore_keys(&x->dst, &x->dkeys, &x->nd);
}

void tsx_close(struct tsx *x)
{
	xstore_fini(&x->src);
	xstore_fini(&x->dst);
	xset_free(&x->sset);
	xset_free(&x->dset);
	free(x->skeys);
	free(x->dkeys);
	x->skeys = x->dkeys = NULL;
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
