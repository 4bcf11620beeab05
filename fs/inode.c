/*
 * inode.c — the table between FUSE nodeids and primary NFS file handles.
 *
 * As in libfuse's passthrough_ll, a nodeid is the address of our struct
 * ino (FUSE_ROOT_ID maps to the embedded root), so the hot path needs no
 * lookup at all.  The table is a hash of the file handle so that a LOOKUP,
 * READDIRPLUS or CREATE that returns a handle we already know (another
 * name, a hard link) yields the same nodeid.
 *
 * Reference rules (fuse_lowlevel.h): each successful entry or create reply,
 * and each readdirplus entry other than . and .., adds one to nlookup;
 * forget(n) removes n; an inode is freed when nlookup is zero and no open
 * file or unstable write still needs it.  Underflow aborts.  Each inode
 * gets a fresh generation so a nodeid reused after free() is never
 * confused with its predecessor by the kernel.
 *
 * Thread: the loop thread only (no locks; see replica/loop.c).
 */
#include "fs/inode.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define INO_MIN_BUCKETS 4096

_Static_assert(sizeof(fuse_ino_t) >= sizeof(void *),
	       "nodeids are inode addresses");

static size_t fh_bucket(const struct ino_table *t, const void *fh,
			uint32_t len)
{
	return XXH3_64bits(fh, len) & (t->nbuckets - 1);
}

int ino_table_init(struct ino_table *t, const void *root_fh, uint32_t len)
{
	memset(t, 0, sizeof(*t));
	t->nbuckets = INO_MIN_BUCKETS;
	t->buckets = calloc(t->nbuckets, sizeof(*t->buckets));
	if (!t->buckets)
		return -1;
	memcpy(t->root.fh, root_fh, len);
	t->root.fh_len = len;
	t->root.nlookup = 2;	/* never reaches zero */
	t->root.is_dir = true;
	t->next_generation = 1;
	return 0;
}

void ino_table_free(struct ino_table *t)
{
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct ino *ino = t->buckets[i];

		while (ino) {
			struct ino *next = ino->hnext;

			ino_release(ino);
			free(ino);
			ino = next;
		}
	}
	ino_release(&t->root);
	free(t->buckets);
	t->buckets = NULL;
}

struct ino *ino_get(struct ino_table *t, fuse_ino_t nodeid)
{
	if (nodeid == FUSE_ROOT_ID)
		return &t->root;
	return (struct ino *)(uintptr_t)nodeid;
}

fuse_ino_t ino_nodeid(struct ino_table *t, struct ino *ino)
{
	return ino == &t->root ? FUSE_ROOT_ID : (fuse_ino_t)(uintptr_t)ino;
}

struct ino *ino_find_fh(struct ino_table *t, const void *fh, uint32_t len)
{
	if (len == t->root.fh_len && !memcmp(fh, t->root.fh, len))
		return &t->root;
	for (struct ino *ino = t->buckets[fh_bucket(t, fh, len)]; ino;
	     ino = ino->hnext)
		if (ino->fh_len == len && !memcmp(ino->fh, fh, len))
			return ino;
	return NULL;
}

/* Doubles the bucket array when the load passes 1. */
static void ino_grow(struct ino_table *t)
{
	size_t n = t->nbuckets * 2;
	struct ino **nb = calloc(n, sizeof(*nb));

	if (!nb)
		return;		/* longer chains, still correct */
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct ino *ino = t->buckets[i];

		while (ino) {
			struct ino *next = ino->hnext;
			size_t b = XXH3_64bits(ino->fh, ino->fh_len) & (n - 1);

			ino->hnext = nb[b];
			nb[b] = ino;
			ino = next;
		}
	}
	free(t->buckets);
	t->buckets = nb;
	t->nbuckets = n;
}

struct ino *ino_ref_fh(struct ino_table *t, const void *fh, uint32_t len,
		       uint64_t fileid)
{
	struct ino *ino = ino_find_fh(t, fh, len);
	size_t b;

	if (ino) {
		ino->nlookup++;
		return ino;
	}
	if (len > INO_FH_MAX)
		return NULL;
	ino = calloc(1, sizeof(*ino));
	if (!ino)
		return NULL;
	memcpy(ino->fh, fh, len);
	ino->fh_len = len;
	ino->fileid = fileid ^ t->fileid_flip;
	ino->nlookup = 1;
	ino->generation = t->next_generation++;
	if (t->count >= t->nbuckets)
		ino_grow(t);
	b = fh_bucket(t, fh, len);
	ino->hnext = t->buckets[b];
	t->buckets[b] = ino;
	t->count++;
	return ino;
}

void ino_table_rekey(struct ino_table *t,
		     void (*fn)(void *arg, struct ino *ino), void *arg)
{
	struct ino *all = NULL;

	fn(arg, &t->root);
	for (size_t i = 0; i < t->nbuckets; i++) {
		while (t->buckets[i]) {
			struct ino *ino = t->buckets[i];

			t->buckets[i] = ino->hnext;
			ino->hnext = all;
			all = ino;
		}
	}
	while (all) {
		struct ino *ino = all;
		size_t b;

		all = ino->hnext;
		fn(arg, ino);
		b = fh_bucket(t, ino->fh, ino->fh_len);
		ino->hnext = t->buckets[b];
		t->buckets[b] = ino;
	}
}

void ino_table_each(struct ino_table *t,
		    void (*fn)(void *arg, struct ino *ino), void *arg)
{
	fn(arg, &t->root);
	for (size_t i = 0; i < t->nbuckets; i++)
		for (struct ino *ino = t->buckets[i]; ino; ino = ino->hnext)
			fn(arg, ino);
}

void ino_maybe_free(struct ino_table *t, struct ino *ino)
{
	struct ino **pp;

	if (ino == &t->root || ino->nlookup || ino->open_count ||
	    ino->wb_head || ino->wb_inflight || ino->pins)
		return;
	pp = &t->buckets[fh_bucket(t, ino->fh, ino->fh_len)];
	while (*pp && *pp != ino)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = ino->hnext;
	t->count--;
	ino_release(ino);
	free(ino);
}

void ino_forget(struct ino_table *t, struct ino *ino, uint64_t n)
{
	if (ino == &t->root)
		return;
	if (n > ino->nlookup) {
		fprintf(stderr, "ofsrep: INTERNAL ERROR: forget %llu > "
			"nlookup %llu\n", (unsigned long long)n,
			(unsigned long long)ino->nlookup);
		abort();
	}
	ino->nlookup -= n;
	ino_maybe_free(t, ino);
}

void ino_release(struct ino *ino)
{
	free(ino->silly_name);
	ino->silly_name = NULL;
	if (ino->xattr) {
		xset_free(&ino->xattr->set);
		free(ino->xattr);
		ino->xattr = NULL;
	}
}

struct nfs_fh3 ino_fh3(struct ino *ino)
{
	struct nfs_fh3 fh;

	fh.data.data_len = ino->fh_len;
	fh.data.data_val = ino->fh;
	return fh;
}
