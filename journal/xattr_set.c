// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * journal/xattr_set.c: the encoded xattr set and the xattr blob.
 *
 * This comment is the specification of both; the journal's XATTRS record
 * (journal/format.h) carries a set in exactly this encoding, and the
 * xattr store (replica/xstore.c) keeps one blob per object.  Pure code:
 * no I/O.  Tests: tests/unit/test_xattr_set.c.
 *
 * THE SET
 *
 *   An object's extended attributes, all of them, as entries one after
 *   the other, no padding, little-endian:
 *
 *     off size field
 *       0   2  namelen    1 .. XSET_NAME_MAX
 *       2   4  valuelen   0 .. XSET_VALUE_MAX
 *       6   -  name[namelen], then value[valuelen]
 *
 *   The name is the full name with its namespace prefix ("user.x",
 *   "security.NTACL"), as the kernel passes it, without NUL.
 *
 *   A set of count entries in len bytes is well-formed only if
 *     (X1) len <= XSET_MAX,
 *     (X2) the entries fill exactly len bytes and are exactly count,
 *     (X3) every name is 1 .. XSET_NAME_MAX bytes with no NUL and every
 *          value at most XSET_VALUE_MAX bytes,
 *     (X4) the names are in strictly increasing order (memcmp of the
 *          common length, then the shorter first): no duplicates, and one
 *          set of attributes has exactly one encoding, so two sets are
 *          equal iff their bytes are.
 *   The empty set (len 0, count 0) is well-formed.
 *
 * THE BLOB (one per object with a non-empty set, in its export's store)
 *
 *     off size field
 *       0   8  cksum      XXH3_64bits_withSeed(&b[8], 32 + setlen,
 *                         XBLOB_SEED), XBLOB_SEED = "OFSRPXAT" as le64
 *       8   4  magic      XBLOB_MAGIC, the bytes "OFSX"
 *      12   4  version    XBLOB_VERSION (1)
 *      16   8  key        xblob_key() of the object's NFS file handle on
 *                         this export: XXH3_64bits(fh, fh_len)
 *      24   4  count      entries in the set
 *      28   4  setlen     bytes of the set
 *      32   8  time_ns    CLOCK_REALTIME when written (information)
 *      40   -  set[setlen]
 *
 *   The file is named by the key: <store>/<hh>/<16 hex digits>, hh the
 *   key's top byte in hex, so 256 directories share the load.  The file
 *   may be longer than the blob (it once held a longer set and is
 *   rewritten in place); bytes after 40 + setlen mean nothing.
 *
 *   A blob is valid only if
 *     (B1) the file holds at least the 40-byte header,
 *     (B2) magic is XBLOB_MAGIC,
 *     (B3) version is XBLOB_VERSION,
 *     (B4) the file holds 40 + setlen bytes and setlen <= XSET_MAX,
 *     (B5) cksum matches,
 *     (B6) the set is well-formed (X1-X4) for count,
 *     (B7) key is the key of the object it is read for.
 *   B7 guards against a name collision of two handles' 64-bit hashes; the
 *   handle names the object for its whole life (ganesha's VFS handles
 *   carry the inode generation), so a reused inode number never inherits
 *   a removed object's attributes.
 *
 *   A blob may outlive its object: the data path cannot tell at unlink
 *   whether the name was the last one.  It removes the blobs it knows
 *   of once the object is gone (fs/xattr_drop.c: an XATTRS record with
 *   the empty set for an unlinked fid then removes the mirror's); the
 *   rest stay.  The handle is never reused (B7), so such a blob is dead
 *   weight, never wrong; ofsrep-fsck --verify counts them and with -p/-y
 *   removes them (replica/treesync_xattr.c, tsx_reclaim).
 *
 *   A missing blob is the empty set.  An invalid blob is damage: the
 *   store reports it (EIO, logged with the key) and never treats it as
 *   empty, so a torn or flipped blob cannot silently drop an ACL.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "journal/format.h"
#include "journal/xattr_set.h"

enum {
	XE_NAMELEN = 0, XE_VALUELEN = 2, XE_FIXED = 6,
	XB_CKSUM = 0, XB_MAGIC = 8, XB_VERSION = 12, XB_KEY = 16,
	XB_COUNT = 24, XB_SETLEN = 28, XB_TIME = 32, XB_HDR = 40,
};

_Static_assert(XE_FIXED == XSET_ENTRY_FIXED && XB_HDR == XBLOB_HDR_SIZE,
	       "set and blob tables and sizes disagree");
_Static_assert(XBLOB_MAGIC == ('O' | 'F' << 8 | 'S' << 16 |
			       (uint32_t)'X' << 24), "blob magic is \"OFSX\"");
_Static_assert(XBLOB_SEED == ((uint64_t)('O' | 'F' << 8 | 'S' << 16 |
				       (uint32_t)'R' << 24) |
			      (uint64_t)('P' | 'X' << 8 | 'A' << 16 |
					 (uint32_t)'T' << 24) << 32),
	       "blob seed is \"OFSRPXAT\"");

/* memcmp order, the shorter first on a common prefix (rule X4). */
static int xset_name_cmp(const char *a, size_t alen, const char *b,
			 size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/* Reads the entry at *pos without trusting the bytes; false if it does
 * not fit or breaks X3. */
static bool xset_entry_at(const uint8_t *p, size_t len, size_t pos,
			  struct xset_entry *e)
{
	size_t nl;
	size_t vl;

	if (len - pos < XE_FIXED)
		return false;
	nl = jnl_get_le16(p + pos + XE_NAMELEN);
	vl = jnl_get_le32(p + pos + XE_VALUELEN);
	if (nl < 1 || nl > XSET_NAME_MAX || vl > XSET_VALUE_MAX ||
	    len - pos - XE_FIXED < nl + vl)
		return false;
	e->name = (const char *)p + pos + XE_FIXED;
	e->name_len = nl;
	e->value = p + pos + XE_FIXED + nl;
	e->value_len = vl;
	return !memchr(e->name, '\0', nl);
}

bool xset_valid(const uint8_t *p, size_t len, uint32_t count)
{
	struct xset_entry prev = { 0 };
	struct xset_entry e;
	size_t pos = 0;
	uint32_t n = 0;

	/* A set is well-formed only if (X1) it fits the bound */
	if (len > XSET_MAX)
		return false;
	while (pos < len) {
		/* ... (X3) each entry is sound */
		if (!xset_entry_at(p, len, pos, &e))
			return false;
		/* ... (X4) and the names strictly increase */
		if (n && xset_name_cmp(prev.name, prev.name_len, e.name,
				       e.name_len) >= 0)
			return false;
		prev = e;
		pos += XE_FIXED + e.name_len + e.value_len;
		n++;
	}
	/* ... (X2) the entries are exactly count */
	return n == count;
}

bool xset_next(const uint8_t *p, size_t len, size_t *pos,
	       struct xset_entry *e)
{
	if (*pos >= len || !xset_entry_at(p, len, *pos, e))
		return false;
	*pos += XE_FIXED + e->name_len + e->value_len;
	return true;
}

/* The offset where @name is (*found) or would be inserted. */
static size_t xset_find(const struct xset *s, const char *name,
			size_t name_len, bool *found, struct xset_entry *out)
{
	struct xset_entry e;
	size_t pos = 0;
	size_t at;
	int c;

	*found = false;
	for (at = 0; xset_next(s->buf, s->len, &pos, &e); at = pos) {
		c = xset_name_cmp(e.name, e.name_len, name, name_len);
		if (c == 0) {
			*found = true;
			if (out)
				*out = e;
		}
		if (c >= 0)
			return at;
	}
	return at;
}

int xset_get(const struct xset *s, const char *name, struct xset_entry *e)
{
	bool found;

	xset_find(s, name, strlen(name), &found, e);
	return found ? 0 : -ENODATA;
}

static int xset_reserve(struct xset *s, size_t need)
{
	uint8_t *nb;
	size_t cap;

	if (need <= s->cap)
		return 0;
	cap = s->cap ? s->cap : 256;
	while (cap < need)
		cap *= 2;
	nb = realloc(s->buf, cap);
	if (!nb)
		return -ENOMEM;
	s->buf = nb;
	s->cap = cap;
	return 0;
}

/* Replaces @old bytes at @at with @add bytes from @src (NULL: leave for
 * the caller to fill).  The caller checked the bound. */
static int xset_splice(struct xset *s, size_t at, size_t old, size_t add)
{
	size_t tail = s->len - at - old;
	int rc = xset_reserve(s, s->len - old + add);

	if (rc)
		return rc;
	memmove(s->buf + at + add, s->buf + at + old, tail);
	s->len = s->len - old + add;
	return 0;
}

int xset_set(struct xset *s, const char *name, const void *value,
	     size_t value_len, int flags)
{
	size_t nl = strlen(name);
	struct xset_entry old = { 0 };
	size_t old_len;
	bool found;
	size_t at;
	int rc;

	if (nl < 1 || nl > XSET_NAME_MAX || (flags & ~(XSET_CREATE |
	    XSET_REPLACE)) || flags == (XSET_CREATE | XSET_REPLACE))
		return -EINVAL;
	if (value_len > XSET_VALUE_MAX)
		return -E2BIG;
	at = xset_find(s, name, nl, &found, &old);
	if (found && (flags & XSET_CREATE))
		return -EEXIST;
	if (!found && (flags & XSET_REPLACE))
		return -ENODATA;
	old_len = found ? XE_FIXED + old.name_len + old.value_len : 0;
	if (s->len - old_len + XE_FIXED + nl + value_len > XSET_MAX)
		return -ENOSPC;
	rc = xset_splice(s, at, old_len, XE_FIXED + nl + value_len);
	if (rc)
		return rc;
	jnl_put_le16(s->buf + at + XE_NAMELEN, (uint16_t)nl);
	jnl_put_le32(s->buf + at + XE_VALUELEN, (uint32_t)value_len);
	memcpy(s->buf + at + XE_FIXED, name, nl);
	if (value_len)
		memcpy(s->buf + at + XE_FIXED + nl, value, value_len);
	if (!found)
		s->count++;
	return 0;
}

int xset_remove(struct xset *s, const char *name)
{
	struct xset_entry e;
	bool found;
	size_t at = xset_find(s, name, strlen(name), &found, &e);

	if (!found)
		return -ENODATA;
	xset_splice(s, at, XE_FIXED + e.name_len + e.value_len, 0);
	s->count--;
	return 0;
}

size_t xset_list(const struct xset *s, char *buf, size_t cap)
{
	struct xset_entry e;
	size_t need = 0;
	size_t pos = 0;

	while (xset_next(s->buf, s->len, &pos, &e))
		need += e.name_len + 1;
	if (!buf || cap < need)
		return need;
	for (pos = 0; xset_next(s->buf, s->len, &pos, &e); ) {
		memcpy(buf, e.name, e.name_len);
		buf[e.name_len] = '\0';
		buf += e.name_len + 1;
	}
	return need;
}

int xset_assign(struct xset *dst, const uint8_t *p, size_t len,
		uint32_t count)
{
	int rc;

	if (!xset_valid(p, len, count))
		return -EINVAL;
	rc = xset_reserve(dst, len);
	if (rc)
		return rc;
	if (len)
		memcpy(dst->buf, p, len);
	dst->len = len;
	dst->count = count;
	return 0;
}

bool xset_equal(const struct xset *a, const struct xset *b)
{
	/* X4: one encoding per set */
	return a->len == b->len && a->count == b->count &&
	       (!a->len || !memcmp(a->buf, b->buf, a->len));
}

void xset_free(struct xset *s)
{
	free(s->buf);
	*s = (struct xset){ 0 };
}

/* ---- the blob ---- */

uint64_t xblob_key(const void *fh, size_t fh_len)
{
	return XXH3_64bits(fh, fh_len);
}

void xblob_names(uint64_t key, char dir[3], char file[17])
{
	snprintf(dir, 3, "%02x", (unsigned)(key >> 56));
	snprintf(file, 17, "%016llx", (unsigned long long)key);
}

size_t xblob_encode(const struct xset *s, uint64_t key, uint64_t time_ns,
		    uint8_t *buf)
{
	jnl_put_le32(buf + XB_MAGIC, XBLOB_MAGIC);
	jnl_put_le32(buf + XB_VERSION, XBLOB_VERSION);
	jnl_put_le64(buf + XB_KEY, key);
	jnl_put_le32(buf + XB_COUNT, s->count);
	jnl_put_le32(buf + XB_SETLEN, (uint32_t)s->len);
	jnl_put_le64(buf + XB_TIME, time_ns);
	if (s->len)
		memcpy(buf + XB_HDR, s->buf, s->len);
	jnl_put_le64(buf + XB_CKSUM,
		     XXH3_64bits_withSeed(buf + XB_MAGIC,
					  XB_HDR - XB_MAGIC + s->len,
					  XBLOB_SEED));
	return XB_HDR + s->len;
}

enum xblob_status xblob_decode(const uint8_t *buf, size_t len, uint64_t key,
			       struct xset *out)
{
	uint32_t count;
	size_t setlen;

	/* A blob is valid only if (B1) the header is there */
	if (len < XB_HDR)
		return XBLOB_SHORT;
	/* ... (B2) with its magic */
	if (jnl_get_le32(buf + XB_MAGIC) != XBLOB_MAGIC)
		return XBLOB_BAD_MAGIC;
	/* ... (B3) of this version */
	if (jnl_get_le32(buf + XB_VERSION) != XBLOB_VERSION)
		return XBLOB_BAD_VERSION;
	/* ... (B4) the set it declares is there and within the bound */
	setlen = jnl_get_le32(buf + XB_SETLEN);
	if (setlen > XSET_MAX || len - XB_HDR < setlen)
		return XBLOB_BAD_LENGTH;
	/* ... (B5) the checksum matches */
	if (jnl_get_le64(buf + XB_CKSUM) !=
	    XXH3_64bits_withSeed(buf + XB_MAGIC, XB_HDR - XB_MAGIC + setlen,
				 XBLOB_SEED))
		return XBLOB_BAD_CKSUM;
	/* ... (B6) the set is well-formed */
	count = jnl_get_le32(buf + XB_COUNT);
	if (!xset_valid(buf + XB_HDR, setlen, count))
		return XBLOB_BAD_SET;
	/* ... (B7) and it is this object's */
	if (jnl_get_le64(buf + XB_KEY) != key)
		return XBLOB_OTHER_OBJECT;
	if (xset_assign(out, buf + XB_HDR, setlen, count)) {
		errno = ENOMEM;
		return XBLOB_BAD_SET;
	}
	return XBLOB_OK;
}

const char *xblob_status_name(enum xblob_status st)
{
	switch (st) {
	case XBLOB_OK:			return "ok";
	case XBLOB_SHORT:		return "shorter than its header";
	case XBLOB_BAD_MAGIC:		return "bad magic";
	case XBLOB_BAD_VERSION:		return "unknown version";
	case XBLOB_BAD_LENGTH:		return "set length past the end";
	case XBLOB_BAD_CKSUM:		return "checksum mismatch";
	case XBLOB_BAD_SET:		return "malformed set";
	case XBLOB_OTHER_OBJECT:	return "belongs to another object";
	}
	return "?";
}
