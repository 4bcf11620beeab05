// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * replica/xstore.c: an export's xattr store over synchronous NFSv3 calls
 * (replica/xstore.h).  The directories are looked up once and kept; one
 * that went stale (removed behind our back) is forgotten and looked up
 * again, once per call.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "replica/xstore.h"

#define XS_DIR_MODE	0700
#define XS_BLOB_MODE	0600

void xstore_init(struct xstore *xs, struct apl_rpc *rpc,
		 const struct apl_fh *root)
{
	memset(xs, 0, sizeof(*xs));
	xs->rpc = rpc;
	xs->root = *root;
}

void xstore_fini(struct xstore *xs)
{
	free(xs->buf);
	xs->buf = NULL;
}

static void forget(struct xstore *xs)
{
	xs->have_own = xs->have_top = false;
	memset(xs->have_sub, 0, sizeof(xs->have_sub));
}

/* The directory @name in @dir, made if @make and missing.  -ENOENT if
 * missing and not made. */
static int level(struct xstore *xs, const struct apl_fh *dir,
		 const char *name, bool make, struct apl_fh *out)
{
	struct apl_sattr sa = { .set_mode = true, .mode = XS_DIR_MODE,
				.set_uid = true, .set_gid = true };
	struct apl_attr attr;
	int rc = apl_rpc_lookup(xs->rpc, dir, name, strlen(name), out, &attr);

	if (rc != -ENOENT || !make)
		return rc;
	rc = apl_rpc_mkdir(xs->rpc, dir, name, strlen(name), &sa, out, &attr);
	if (rc == -EEXIST)	/* made meanwhile, by the other side */
		rc = apl_rpc_lookup(xs->rpc, dir, name, strlen(name), out,
				    &attr);
	return rc;
}

/* The handle of @key's <hh> directory. */
static int sub_dir(struct xstore *xs, unsigned hh, bool make,
		   struct apl_fh **out)
{
	char name[3];
	int rc;

	if (!xs->have_own) {
		rc = level(xs, &xs->root, XSTORE_OWN_DIR, make, &xs->own);
		if (rc)
			return rc;
		xs->have_own = true;
	}
	if (!xs->have_top) {
		rc = level(xs, &xs->own, XSTORE_DIR, make, &xs->top);
		if (rc)
			return rc;
		xs->have_top = true;
	}
	if (!xs->have_sub[hh]) {
		snprintf(name, sizeof(name), "%02x", hh & 0xffu);
		rc = level(xs, &xs->top, name, make, &xs->sub[hh]);
		if (rc)
			return rc;
		xs->have_sub[hh] = true;
	}
	*out = &xs->sub[hh];
	return 0;
}

/* @key's blob file: its handle in *fh, or -ENOENT. */
static int blob_fh(struct xstore *xs, uint64_t key, bool make,
		   struct apl_fh *fh)
{
	char dir[3], file[17];
	struct apl_fh *sub;
	struct apl_attr attr;
	int rc;

	xblob_names(key, dir, file);
	for (int attempt = 0;; attempt++) {
		sub = NULL;
		rc = sub_dir(xs, (unsigned)(key >> 56), make, &sub);
		if (!rc)
			rc = apl_rpc_lookup(xs->rpc, sub, file, 16, fh, &attr);
		if (rc == -ENOENT && make && sub) {
			struct apl_sattr sa = { .set_mode = true,
						.mode = XS_BLOB_MODE,
						.set_uid = true,
						.set_gid = true };

			rc = apl_rpc_create(xs->rpc, sub, file, 16, &sa, fh,
					    &attr);
			if (rc == -EEXIST)
				rc = apl_rpc_lookup(xs->rpc, sub, file, 16, fh,
						    &attr);
		}
		if (rc != -ESTALE || attempt)
			return rc;
		forget(xs);
	}
}

int xstore_load(struct xstore *xs, uint64_t key, struct xset *out,
		enum xblob_status *why)
{
	struct apl_fh fh;
	size_t got = 0, n, need = XBLOB_HDR_SIZE;
	enum xblob_status st;
	bool eof = false;
	int rc = blob_fh(xs, key, false, &fh);

	if (why)
		*why = XBLOB_OK;
	if (rc == -ENOENT) {
		xset_free(out);
		return 0;
	}
	if (rc)
		return rc;
	if (!xs->buf && !(xs->buf = malloc(XBLOB_MAX)))
		return -ENOMEM;
	while (got < need && !eof) {
		rc = apl_rpc_read(xs->rpc, &fh, got, xs->buf + got,
				  XBLOB_MAX - got, &n, &eof);
		if (rc == -ESTALE) {	/* removed meanwhile: none */
			xset_free(out);
			return 0;
		}
		if (rc)
			return rc;
		got += n;
		if (got >= XBLOB_HDR_SIZE) {
			uint32_t setlen;

			memcpy(&setlen, xs->buf + 28, 4);
			setlen = le32toh(setlen);
			need = XBLOB_HDR_SIZE +
			       (setlen <= XSET_MAX ? setlen : XSET_MAX);
		}
		if (!n)
			break;
	}
	if (got == 0) {		/* made, never written: none */
		xset_free(out);
		return 0;
	}
	st = xblob_decode(xs->buf, got, key, out);
	if (why)
		*why = st;
	if (st == XBLOB_BAD_SET && errno == ENOMEM)
		return -ENOMEM;
	return st == XBLOB_OK ? 0 : -EIO;
}

int xstore_save(struct xstore *xs, uint64_t key, const struct xset *set)
{
	struct timespec now;
	struct apl_fh fh;
	size_t len;
	int rc = blob_fh(xs, key, set->len > 0, &fh);

	if (rc == -ENOENT && !set->len)
		return 0;
	if (rc)
		return rc;
	if (!xs->buf && !(xs->buf = malloc(XBLOB_MAX)))
		return -ENOMEM;
	clock_gettime(CLOCK_REALTIME, &now);
	len = xblob_encode(set, key, (uint64_t)now.tv_sec * 1000000000u +
			   now.tv_nsec, xs->buf);
	return apl_rpc_write_wait(xs->rpc, &fh, 0, xs->buf, len, true);
}

int xstore_remove(struct xstore *xs, uint64_t key)
{
	char dir[3], file[17];
	struct apl_fh *sub;
	int rc;

	xblob_names(key, dir, file);
	rc = sub_dir(xs, (unsigned)(key >> 56), false, &sub);
	if (!rc)
		rc = apl_rpc_remove(xs->rpc, sub, file, 16);
	if (rc == -ESTALE) {
		forget(xs);
		rc = sub_dir(xs, (unsigned)(key >> 56), false, &sub);
		if (!rc)
			rc = apl_rpc_remove(xs->rpc, sub, file, 16);
	}
	return rc == -ENOENT ? 0 : rc;
}

static int key_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

bool xstore_has(const uint64_t *keys, size_t n, uint64_t key)
{
	return n && bsearch(&key, keys, n, sizeof(*keys), key_cmp);
}

static bool parse_key(const char *name, unsigned hh, uint64_t *key)
{
	char *end;

	if (strlen(name) != 16)
		return false;
	for (int i = 0; i < 16; i++)
		if (!strchr("0123456789abcdef", name[i]))
			return false;
	*key = strtoull(name, &end, 16);
	return !*end && (unsigned)(*key >> 56) == hh;
}

int xstore_keys(struct xstore *xs, uint64_t **keys, size_t *n)
{
	uint64_t *v = NULL;
	size_t cap = 0;
	int rc = 0;

	*keys = NULL;
	*n = 0;
	for (unsigned hh = 0; hh < 256; hh++) {
		struct apl_names names = { 0 };
		struct apl_fh *sub;

		rc = sub_dir(xs, hh, false, &sub);
		if (rc == -ENOENT) {
			rc = 0;
			if (!xs->have_top)	/* no store at all */
				break;
			continue;
		}
		if (!rc)
			rc = apl_rpc_readdir(xs->rpc, sub, &names);
		for (size_t i = 0; !rc && i < names.n; i++) {
			uint64_t k;

			if (!parse_key(names.v[i], hh, &k))
				continue;
			if (*n == cap) {
				uint64_t *nv = realloc(v, (cap ? 2 * cap :
							   256) * sizeof(*v));

				if (!nv) {
					rc = -ENOMEM;
					break;
				}
				v = nv;
				cap = cap ? 2 * cap : 256;
			}
			v[(*n)++] = k;
		}
		apl_names_free(&names);
		if (rc)
			break;
	}
	if (rc) {
		free(v);
		*n = 0;
		return rc;
	}
	if (*n)
		qsort(v, *n, sizeof(*v), key_cmp);
	*keys = v;
	return 0;
}
