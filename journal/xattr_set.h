/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * journal/xattr_set.h: an object's extended attributes as one byte string
 * (the "set"), and the blob file that stores a set on an export.
 *
 * NFSv3 has no extended attributes, so ofsrep keeps them itself: each
 * export holds, per object that has any, one blob file in its xattr store
 * (.ofsrep/xattr/, replica/xstore.c), and the journal carries the whole set
 * after every change (record XATTRS, journal/format.h).  The formats are
 * specified in journal/xattr_set.c; this header is the API.
 *
 * The set is kept encoded: a struct xset is the encoded bytes plus a
 * count, and get/set/remove/list work on the bytes directly.  Sets are
 * small (a DOS attribute, an NT ACL), so the linear scans are cheap, and
 * the bytes in memory are the bytes of the record and of the blob.
 */
#ifndef OFSREP_XATTR_SET_H
#define OFSREP_XATTR_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define XSET_NAME_MAX		255u
#define XSET_VALUE_MAX		65536u		/* the kernel's XATTR_SIZE_MAX */
#define XSET_MAX		(256u * 1024)	/* encoded bytes of one set */
#define XSET_ENTRY_FIXED	6u
#define XSET_COUNT_MAX		(XSET_MAX / (XSET_ENTRY_FIXED + 1))

#define XBLOB_HDR_SIZE		40u
#define XBLOB_MAX		(XBLOB_HDR_SIZE + XSET_MAX)
#define XBLOB_MAGIC		0x5853464fu		/* "OFSX" */
#define XBLOB_VERSION		1u
#define XBLOB_SEED		0x544158505253464fULL	/* "OFSRPXAT" */

/* Where an export keeps its blobs: <export root>/.ofsrep/xattr/<hh>/<key>
 * (the export's root, not the mirror's: the secondary's store holds the
 * mirror objects' blobs, keyed by their handles on the secondary). */
#define XSTORE_OWN_DIR		".ofsrep"
#define XSTORE_DIR		"xattr"

/* setxattr flags, as the kernel's XATTR_CREATE / XATTR_REPLACE */
#define XSET_CREATE		1
#define XSET_REPLACE		2

/* An encoded set.  buf may be NULL when len is 0. */
struct xset {
	uint8_t *buf;		/* owned, malloc'ed */
	size_t len;		/* encoded bytes */
	size_t cap;
	uint32_t count;		/* entries */
};

/* One entry, pointing into a set's bytes (valid until the set changes). */
struct xset_entry {
	const char *name;	/* not NUL-terminated */
	size_t name_len;
	const uint8_t *value;
	size_t value_len;
};

/* Rules X1-X4 (xattr_set.c): @p[0, len) is a well-formed set of @count
 * entries. */
bool xset_valid(const uint8_t *p, size_t len, uint32_t count);

/* Iterates a well-formed set: returns true and fills @e with the entry at
 * *pos, advancing *pos; false at the end. */
bool xset_next(const uint8_t *p, size_t len, size_t *pos,
	       struct xset_entry *e);

/* 0 and *e, or -ENODATA. */
int xset_get(const struct xset *s, const char *name, struct xset_entry *e);

/* Sets @name to @value.  0, or -EEXIST (XSET_CREATE and present),
 * -ENODATA (XSET_REPLACE and absent), -EINVAL (bad name or flags),
 * -E2BIG (value over XSET_VALUE_MAX), -ENOSPC (the set would pass
 * XSET_MAX), -ENOMEM.  On error the set is unchanged. */
int xset_set(struct xset *s, const char *name, const void *value,
	     size_t value_len, int flags);

/* 0 or -ENODATA (or -ENOMEM); on error the set is unchanged. */
int xset_remove(struct xset *s, const char *name);

/* The names, each NUL-terminated, as listxattr(2) returns them.  Returns
 * the bytes needed; fills @buf only if @cap is at least that. */
size_t xset_list(const struct xset *s, char *buf, size_t cap);

/* Replaces @dst with a copy of the well-formed set @p[0, len).  0 or
 * -EINVAL (not well-formed) or -ENOMEM. */
int xset_assign(struct xset *dst, const uint8_t *p, size_t len,
		uint32_t count);

bool xset_equal(const struct xset *a, const struct xset *b);
void xset_free(struct xset *s);

/* ---- the blob: one set stored in a file of an export's xattr store ---- */

/* The key of the object with NFS file handle @fh on its export, which
 * names its blob: XXH3_64bits(fh, fh_len). */
uint64_t xblob_key(const void *fh, size_t fh_len);

/* The blob's directory ("00".."ff") and file name (16 hex digits). */
void xblob_names(uint64_t key, char dir[3], char file[17]);

/* Encodes the blob of set @s for @key into @buf, which holds at least
 * XBLOB_HDR_SIZE + s->len bytes; returns the blob's length. */
size_t xblob_encode(const struct xset *s, uint64_t key, uint64_t time_ns,
		    uint8_t *buf);

/* Why a blob is not valid: one value per rule B1-B6 (xattr_set.c). */
enum xblob_status {
	XBLOB_OK = 0,
	XBLOB_SHORT,		/* B1 */
	XBLOB_BAD_MAGIC,	/* B2 */
	XBLOB_BAD_VERSION,	/* B3 */
	XBLOB_BAD_LENGTH,	/* B4 */
	XBLOB_BAD_CKSUM,	/* B5 */
	XBLOB_BAD_SET,		/* B6 */
	XBLOB_OTHER_OBJECT,	/* B7: the key is another object's */
};

/* Validates the blob @buf[0, len) (len may exceed the blob: a file that
 * once held a longer set) for @key and, if valid, copies its set into
 * @out.  -ENOMEM is reported as XBLOB_BAD_SET with errno ENOMEM. */
enum xblob_status xblob_decode(const uint8_t *buf, size_t len, uint64_t key,
			       struct xset *out);
const char *xblob_status_name(enum xblob_status st);

#endif /* OFSREP_XATTR_SET_H */
