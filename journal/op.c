// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * journal/op.c: record payloads, the "RECORD TYPES AND PAYLOADS" part of
 * the spec in journal/format.h.
 *
 * Eight layouts serve the fifteen types (entry, link, rename, write,
 * setattr, xattr, handle, xattrs).  Each layout has a get/put mirror pair;
 * jnl_op_check() holds rules P2-P11 once, and both directions use it: the encoder refuses
 * (-EINVAL) what the decoder would reject, so a writer can never journal
 * a record its own reader will not read back.
 *
 * Decoded strings and data point into the caller's payload buffer (no
 * copies, no NUL); they live as long as that buffer.
 * Tests: tests/unit/test_journal_record.c.
 */
#include <errno.h>
#include <string.h>

#include "journal/format.h"
#include "journal/xattr_set.h"

/* Field offsets of the payload tables (format.h, RECORD TYPES ...). */
enum {
	ENT_PARENT = 0, ENT_FID = 8, ENT_RDEV = 16, ENT_MODE = 24,
	ENT_UID = 28, ENT_GID = 32, ENT_NAMELEN = 36, ENT_TARGETLEN = 38,
	ENT_FIXED = 40,

	LNK_PARENT = 0, LNK_FID = 8, LNK_NAMELEN = 16, LNK_FIXED = 18,

	REN_PARENT = 0, REN_NEWPARENT = 8, REN_FID = 16, REN_FLAGS = 24,
	REN_NAMELEN = 28, REN_NEWNAMELEN = 30, REN_FIXED = 32,

	WR_FID = 0, WR_OFFSET = 8, WR_FIXED = 16,

	SA_FID = 0, SA_MASK = 8, SA_MODE = 12, SA_UID = 16, SA_GID = 20,
	SA_SIZE = 24, SA_ATIME = 32, SA_MTIME = 40, SA_ATIME_NSEC = 48,
	SA_MTIME_NSEC = 52, SA_END = 56,

	XA_FID = 0, XA_FLAGS = 8, XA_VALUELEN = 12, XA_NAMELEN = 16,
	XA_FIXED = 18,

	FH_FID = 0, FH_LEN = 8, FH_FIXED = 10,

	XS_FID = 0, XS_COUNT = 8, XS_SETLEN = 12, XS_FIXED = 16,
};

_Static_assert(JNL_MAX_PAYLOAD >= XS_FIXED + XSET_MAX,
	       "the largest xattr set must fit a record");
_Static_assert(ENT_FIXED == JNL_ENTRY_FIXED && LNK_FIXED == JNL_LINK_FIXED &&
	       REN_FIXED == JNL_RENAME_FIXED && WR_FIXED == JNL_WRITE_FIXED &&
	       SA_END == JNL_SETATTR_SIZE && XA_FIXED == JNL_XATTR_FIXED &&
	       FH_FIXED == JNL_HANDLE_FIXED && XS_FIXED == JNL_XATTRS_FIXED,
	       "payload tables and fixed sizes disagree");

enum jnl_layout {
	JNL_LAYOUT_NONE,
	JNL_LAYOUT_ENTRY,
	JNL_LAYOUT_LINK,
	JNL_LAYOUT_RENAME,
	JNL_LAYOUT_WRITE,
	JNL_LAYOUT_SETATTR,
	JNL_LAYOUT_XATTR,
	JNL_LAYOUT_HANDLE,
	JNL_LAYOUT_XATTRS,
};

static enum jnl_layout jnl_layout_of(unsigned type)
{
	switch (type) {
	case JNL_OP_CREATE:
	case JNL_OP_MKDIR:
	case JNL_OP_MKNOD:
	case JNL_OP_SYMLINK:
		return JNL_LAYOUT_ENTRY;
	case JNL_OP_BIND:
	case JNL_OP_LINK:
	case JNL_OP_UNLINK:
	case JNL_OP_RMDIR:
		return JNL_LAYOUT_LINK;
	case JNL_OP_RENAME:
		return JNL_LAYOUT_RENAME;
	case JNL_OP_WRITE:
		return JNL_LAYOUT_WRITE;
	case JNL_OP_SETATTR:
		return JNL_LAYOUT_SETATTR;
	case JNL_OP_SETXATTR:
	case JNL_OP_REMOVEXATTR:
		return JNL_LAYOUT_XATTR;
	case JNL_OP_BINDFH:
		return JNL_LAYOUT_HANDLE;
	case JNL_OP_XATTRS:
		return JNL_LAYOUT_XATTRS;
	}
	return JNL_LAYOUT_NONE;
}

bool jnl_type_known(unsigned type)
{
	return jnl_layout_of(type) != JNL_LAYOUT_NONE;
}

const char *jnl_type_name(unsigned type)
{
	static const char *const names[] = {
		[JNL_OP_BIND] = "bind",		[JNL_OP_CREATE] = "create",
		[JNL_OP_MKDIR] = "mkdir",	[JNL_OP_MKNOD] = "mknod",
		[JNL_OP_SYMLINK] = "symlink",	[JNL_OP_LINK] = "link",
		[JNL_OP_UNLINK] = "unlink",	[JNL_OP_RMDIR] = "rmdir",
		[JNL_OP_RENAME] = "rename",	[JNL_OP_WRITE] = "write",
		[JNL_OP_SETATTR] = "setattr",	[JNL_OP_SETXATTR] = "setxattr",
		[JNL_OP_REMOVEXATTR] = "removexattr",
		[JNL_OP_BINDFH] = "bindfh",	[JNL_OP_XATTRS] = "xattrs",
	};

	return jnl_type_known(type) ? names[type] : "unknown";
}

const char *jnl_op_status_name(enum jnl_op_status st)
{
	switch (st) {
	case JNL_OPST_OK:		return "ok";
	case JNL_OPST_BAD_TYPE:		return "unknown type";
	case JNL_OPST_BAD_LENGTH:	return "payload length mismatch";
	case JNL_OPST_BAD_FID:		return "bad file id";
	case JNL_OPST_BAD_NAME:		return "bad name";
	case JNL_OPST_BAD_MODE:		return "bad mode or rdev";
	case JNL_OPST_BAD_TARGET:	return "bad symlink target";
	case JNL_OPST_BAD_RANGE:	return "write out of range";
	case JNL_OPST_BAD_SETATTR:	return "bad setattr";
	case JNL_OPST_BAD_FLAGS:	return "bad flags";
	case JNL_OPST_BAD_XATTR:	return "bad xattr";
	case JNL_OPST_BAD_HANDLE:	return "bad file handle";
	case JNL_OPST_BAD_XATTRS:	return "bad xattr set";
	}
	return "?";
}

/* ---- rules P2-P9 ---- */

/* A valid name: 1-255 bytes, no '/' or NUL, not "." or "..". */
static bool jnl_name_ok(const struct jnl_str *s)
{
	if (!s->ptr || s->len < 1 || s->len > JNL_NAME_MAX)
		return false;
	if (memchr(s->ptr, '/', s->len) || memchr(s->ptr, '\0', s->len))
		return false;
	if (s->ptr[0] == '.' && (s->len == 1 || (s->len == 2 &&
						 s->ptr[1] == '.')))
		return false;
	return true;
}

static bool jnl_bytes_ok(const struct jnl_str *s, size_t max)
{
	return s->ptr && s->len >= 1 && s->len <= max &&
	       !memchr(s->ptr, '\0', s->len);
}

static bool jnl_entry_type_ok(enum jnl_type type, uint32_t fmt)
{
	switch (type) {
	case JNL_OP_CREATE:
		return fmt == JNL_S_IFREG;
	case JNL_OP_MKDIR:
		return fmt == JNL_S_IFDIR;
	case JNL_OP_SYMLINK:
		return fmt == JNL_S_IFLNK;
	case JNL_OP_MKNOD:
		return fmt == JNL_S_IFCHR || fmt == JNL_S_IFBLK ||
		       fmt == JNL_S_IFIFO || fmt == JNL_S_IFSOCK;
	default:
		return false;
	}
}

static enum jnl_op_status jnl_entry_check(enum jnl_type type,
					  const struct jnl_op_entry *e)
{
	uint32_t fmt = e->mode & JNL_S_IFMT;

	/* A payload is well-formed only if (P2) the fids are nonzero ... */
	if (!e->parent || !e->fid || e->fid == JNL_FID_ROOT)
		return JNL_OPST_BAD_FID;
	/* ... (P3) the name is valid */
	if (!jnl_name_ok(&e->name))
		return JNL_OPST_BAD_NAME;
	/* ... (P4) the mode has the record's type, rdev only for devices */
	if ((e->mode & ~(JNL_S_IFMT | JNL_S_PERM)) ||
	    !jnl_entry_type_ok(type, fmt) ||
	    (e->rdev && fmt != JNL_S_IFCHR && fmt != JNL_S_IFBLK))
		return JNL_OPST_BAD_MODE;
	/* ... (P5) a symlink has a target, nothing else has one */
	if (type == JNL_OP_SYMLINK ? !jnl_bytes_ok(&e->target, JNL_TARGET_MAX)
				   : e->target.len != 0)
		return JNL_OPST_BAD_TARGET;
	return JNL_OPST_OK;
}

static enum jnl_op_status jnl_link_check(enum jnl_type type,
					 const struct jnl_op_link *l)
{
	bool removes = type == JNL_OP_UNLINK || type == JNL_OP_RMDIR;

	/* A payload is well-formed only if (P2) BIND and LINK name a fid
	 * other than the root; UNLINK and RMDIR may give none */
	if (!l->parent || l->fid == JNL_FID_ROOT || (!removes && !l->fid))
		return JNL_OPST_BAD_FID;
	/* ... (P3) the name is valid */
	if (!jnl_name_ok(&l->name))
		return JNL_OPST_BAD_NAME;
	return JNL_OPST_OK;
}

static bool jnl_two_flags_ok(uint32_t flags)
{
	return !(flags & ~3u) && flags != 3u;
}

static enum jnl_op_status jnl_rename_check(const struct jnl_op_rename *r)
{
	/* A payload is well-formed only if (P2) both parents are given */
	if (!r->parent || !r->newparent || r->fid == JNL_FID_ROOT)
		return JNL_OPST_BAD_FID;
	/* ... (P3) both names are valid */
	if (!jnl_name_ok(&r->name) || !jnl_name_ok(&r->newname))
		return JNL_OPST_BAD_NAME;
	/* ... (P8) NOREPLACE or EXCHANGE, not both */
	if (!jnl_two_flags_ok(r->flags))
		return JNL_OPST_BAD_FLAGS;
	return JNL_OPST_OK;
}

static enum jnl_op_status jnl_write_check(const struct jnl_op_write *w)
{
	/* A payload is well-formed only if (P2) the fid is given */
	if (!w->fid)
		return JNL_OPST_BAD_FID;
	/* ... (P6) 1 .. JNL_MAX_WRITE bytes, ending within the max size */
	if (!w->data || w->len < 1 || w->len > JNL_MAX_WRITE ||
	    w->offset > JNL_MAX_FILE_SIZE - w->len)
		return JNL_OPST_BAD_RANGE;
	return JNL_OPST_OK;
}

static bool jnl_setattr_unset_zero(const struct jnl_op_setattr *s)
{
	return ((s->mask & JNL_SA_MODE) || !s->mode) &&
	       ((s->mask & JNL_SA_UID) || !s->uid) &&
	       ((s->mask & JNL_SA_GID) || !s->gid) &&
	       ((s->mask & JNL_SA_SIZE) || !s->size) &&
	       ((s->mask & JNL_SA_ATIME) || (!s->atime_sec &&
					     !s->atime_nsec)) &&
	       ((s->mask & JNL_SA_MTIME) || (!s->mtime_sec &&
					     !s->mtime_nsec));
}

static enum jnl_op_status jnl_setattr_check(const struct jnl_op_setattr *s)
{
	/* A payload is well-formed only if (P2) the fid is given */
	if (!s->fid)
		return JNL_OPST_BAD_FID;
	/* ... (P7) a known, nonzero mask, unselected fields 0, values in
	 * range */
	if (!s->mask || (s->mask & ~JNL_SA_KNOWN) ||
	    !jnl_setattr_unset_zero(s) || (s->mode & ~JNL_S_PERM) ||
	    s->size > JNL_MAX_FILE_SIZE || s->atime_nsec >= 1000000000u ||
	    s->mtime_nsec >= 1000000000u)
		return JNL_OPST_BAD_SETATTR;
	return JNL_OPST_OK;
}

static enum jnl_op_status jnl_xattr_check(enum jnl_type type,
					  const struct jnl_op_xattr *x)
{
	bool set = type == JNL_OP_SETXATTR;

	/* A payload is well-formed only if (P2) the fid is given */
	if (!x->fid)
		return JNL_OPST_BAD_FID;
	/* ... (P8) CREATE or REPLACE (not both) on set, none on remove */
	if (set ? !jnl_two_flags_ok(x->flags) : x->flags != 0)
		return JNL_OPST_BAD_FLAGS;
	/* ... (P9) a valid attribute name, a value only on set */
	if (!jnl_bytes_ok(&x->name, JNL_XATTR_NAME_MAX) ||
	    (set ? x->value_len > JNL_XATTR_VALUE_MAX : x->value_len != 0) ||
	    (x->value_len && !x->value))
		return JNL_OPST_BAD_XATTR;
	return JNL_OPST_OK;
}

static enum jnl_op_status jnl_handle_check(const struct jnl_op_handle *h)
{
	/* A payload is well-formed only if (P10) a fid other than the root
	 * and a handle of 1 .. JNL_FH_MAX bytes */
	if (!h->fid || h->fid == JNL_FID_ROOT)
		return JNL_OPST_BAD_FID;
	if (!h->fh || h->fh_len < 1 || h->fh_len > JNL_FH_MAX)
		return JNL_OPST_BAD_HANDLE;
	return JNL_OPST_OK;
}

static enum jnl_op_status jnl_xattrs_check(const struct jnl_op_xattrs *x)
{
	/* A payload is well-formed only if (P2) the fid is given */
	if (!x->fid)
		return JNL_OPST_BAD_FID;
	/* ... (P11) and the set is well-formed */
	if ((x->set_len && !x->set) ||
	    !xset_valid(x->set, x->set_len, x->count))
		return JNL_OPST_BAD_XATTRS;
	return JNL_OPST_OK;
}

/* Rules P2-P11 for op (P1 is a property of the bytes: see the getters). */
enum jnl_op_status jnl_op_check(const struct jnl_op *op)
{
	switch (jnl_layout_of(op->type)) {
	case JNL_LAYOUT_ENTRY:
		return jnl_entry_check(op->type, &op->u.entry);
	case JNL_LAYOUT_LINK:
		return jnl_link_check(op->type, &op->u.link);
	case JNL_LAYOUT_RENAME:
		return jnl_rename_check(&op->u.rename);
	case JNL_LAYOUT_WRITE:
		return jnl_write_check(&op->u.write);
	case JNL_LAYOUT_SETATTR:
		return jnl_setattr_check(&op->u.setattr);
	case JNL_LAYOUT_XATTR:
		return jnl_xattr_check(op->type, &op->u.xattr);
	case JNL_LAYOUT_HANDLE:
		return jnl_handle_check(&op->u.handle);
	case JNL_LAYOUT_XATTRS:
		return jnl_xattrs_check(&op->u.xattrs);
	case JNL_LAYOUT_NONE:
		break;
	}
	return JNL_OPST_BAD_TYPE;
}

/* Payload bytes of op.  op must pass jnl_op_check() (lengths bounded). */
size_t jnl_op_size(const struct jnl_op *op)
{
	const struct jnl_op_entry *e = &op->u.entry;
	const struct jnl_op_rename *r = &op->u.rename;

	switch (jnl_layout_of(op->type)) {
	case JNL_LAYOUT_ENTRY:
		return ENT_FIXED + e->name.len + e->target.len;
	case JNL_LAYOUT_LINK:
		return LNK_FIXED + op->u.link.name.len;
	case JNL_LAYOUT_RENAME:
		return REN_FIXED + r->name.len + r->newname.len;
	case JNL_LAYOUT_WRITE:
		return WR_FIXED + op->u.write.len;
	case JNL_LAYOUT_SETATTR:
		return SA_END;
	case JNL_LAYOUT_XATTR:
		return XA_FIXED + op->u.xattr.name.len + op->u.xattr.value_len;
	case JNL_LAYOUT_HANDLE:
		return FH_FIXED + op->u.handle.fh_len;
	case JNL_LAYOUT_XATTRS:
		return XS_FIXED + op->u.xattrs.set_len;
	case JNL_LAYOUT_NONE:
		break;
	}
	return 0;
}

/* ---- put/get mirror pairs, one per layout ---- */

static uint8_t *jnl_put_bytes(uint8_t *p, const void *src, size_t n)
{
	if (n)
		memcpy(p, src, n);
	return p + n;
}

static struct jnl_str jnl_str_at(const uint8_t *p, size_t len)
{
	return (struct jnl_str){ .ptr = (const char *)p, .len = len };
}

static void jnl_entry_put(const struct jnl_op_entry *e, uint8_t *p)
{
	jnl_put_le64(p + ENT_PARENT, e->parent);
	jnl_put_le64(p + ENT_FID, e->fid);
	jnl_put_le64(p + ENT_RDEV, e->rdev);
	jnl_put_le32(p + ENT_MODE, e->mode);
	jnl_put_le32(p + ENT_UID, e->uid);
	jnl_put_le32(p + ENT_GID, e->gid);
	jnl_put_le16(p + ENT_NAMELEN, (uint16_t)e->name.len);
	jnl_put_le16(p + ENT_TARGETLEN, (uint16_t)e->target.len);
	p = jnl_put_bytes(p + ENT_FIXED, e->name.ptr, e->name.len);
	jnl_put_bytes(p, e->target.ptr, e->target.len);
}

static enum jnl_op_status jnl_entry_get(const uint8_t *p, size_t len,
					struct jnl_op_entry *e)
{
	size_t nl;
	size_t tl;

	/* (P1) the fixed part, then exactly the strings it declares */
	if (len < ENT_FIXED)
		return JNL_OPST_BAD_LENGTH;
	nl = jnl_get_le16(p + ENT_NAMELEN);
	tl = jnl_get_le16(p + ENT_TARGETLEN);
	if (len != ENT_FIXED + nl + tl)
		return JNL_OPST_BAD_LENGTH;
	e->parent = jnl_get_le64(p + ENT_PARENT);
	e->fid = jnl_get_le64(p + ENT_FID);
	e->rdev = jnl_get_le64(p + ENT_RDEV);
	e->mode = jnl_get_le32(p + ENT_MODE);
	e->uid = jnl_get_le32(p + ENT_UID);
	e->gid = jnl_get_le32(p + ENT_GID);
	e->name = jnl_str_at(p + ENT_FIXED, nl);
	e->target = jnl_str_at(p + ENT_FIXED + nl, tl);
	return JNL_OPST_OK;
}

static void jnl_link_put(const struct jnl_op_link *l, uint8_t *p)
{
	jnl_put_le64(p + LNK_PARENT, l->parent);
	jnl_put_le64(p + LNK_FID, l->fid);
	jnl_put_le16(p + LNK_NAMELEN, (uint16_t)l->name.len);
	jnl_put_bytes(p + LNK_FIXED, l->name.ptr, l->name.len);
}

static enum jnl_op_status jnl_link_get(const uint8_t *p, size_t len,
				       struct jnl_op_link *l)
{
	size_t nl;

	/* (P1) the fixed part, then exactly the name it declares */
	if (len < LNK_FIXED)
		return JNL_OPST_BAD_LENGTH;
	nl = jnl_get_le16(p + LNK_NAMELEN);
	if (len != LNK_FIXED + nl)
		return JNL_OPST_BAD_LENGTH;
	l->parent = jnl_get_le64(p + LNK_PARENT);
	l->fid = jnl_get_le64(p + LNK_FID);
	l->name = jnl_str_at(p + LNK_FIXED, nl);
	return JNL_OPST_OK;
}

static void jnl_rename_put(const struct jnl_op_rename *r, uint8_t *p)
{
	jnl_put_le64(p + REN_PARENT, r->parent);
	jnl_put_le64(p + REN_NEWPARENT, r->newparent);
	jnl_put_le64(p + REN_FID, r->fid);
	jnl_put_le32(p + REN_FLAGS, r->flags);
	jnl_put_le16(p + REN_NAMELEN, (uint16_t)r->name.len);
	jnl_put_le16(p + REN_NEWNAMELEN, (uint16_t)r->newname.len);
	p = jnl_put_bytes(p + REN_FIXED, r->name.ptr, r->name.len);
	jnl_put_bytes(p, r->newname.ptr, r->newname.len);
}

static enum jnl_op_status jnl_rename_get(const uint8_t *p, size_t len,
					 struct jnl_op_rename *r)
{
	size_t nl;
	size_t nnl;

	/* (P1) the fixed part, then exactly the two names it declares */
	if (len < REN_FIXED)
		return JNL_OPST_BAD_LENGTH;
	nl = jnl_get_le16(p + REN_NAMELEN);
	nnl = jnl_get_le16(p + REN_NEWNAMELEN);
	if (len != REN_FIXED + nl + nnl)
		return JNL_OPST_BAD_LENGTH;
	r->parent = jnl_get_le64(p + REN_PARENT);
	r->newparent = jnl_get_le64(p + REN_NEWPARENT);
	r->fid = jnl_get_le64(p + REN_FID);
	r->flags = jnl_get_le32(p + REN_FLAGS);
	r->name = jnl_str_at(p + REN_FIXED, nl);
	r->newname = jnl_str_at(p + REN_FIXED + nl, nnl);
	return JNL_OPST_OK;
}

static void jnl_write_put(const struct jnl_op_write *w, uint8_t *p)
{
	jnl_put_le64(p + WR_FID, w->fid);
	jnl_put_le64(p + WR_OFFSET, w->offset);
	jnl_put_bytes(p + WR_FIXED, w->data, w->len);
}

static enum jnl_op_status jnl_write_get(const uint8_t *p, size_t len,
					struct jnl_op_write *w)
{
	/* (P1) the fixed part; the data is the rest */
	if (len < WR_FIXED)
		return JNL_OPST_BAD_LENGTH;
	w->fid = jnl_get_le64(p + WR_FID);
	w->offset = jnl_get_le64(p + WR_OFFSET);
	w->data = p + WR_FIXED;
	w->len = len - WR_FIXED;
	return JNL_OPST_OK;
}

static void jnl_setattr_put(const struct jnl_op_setattr *s, uint8_t *p)
{
	jnl_put_le64(p + SA_FID, s->fid);
	jnl_put_le32(p + SA_MASK, s->mask);
	jnl_put_le32(p + SA_MODE, s->mode);
	jnl_put_le32(p + SA_UID, s->uid);
	jnl_put_le32(p + SA_GID, s->gid);
	jnl_put_le64(p + SA_SIZE, s->size);
	jnl_put_le64(p + SA_ATIME, (uint64_t)s->atime_sec);
	jnl_put_le64(p + SA_MTIME, (uint64_t)s->mtime_sec);
	jnl_put_le32(p + SA_ATIME_NSEC, s->atime_nsec);
	jnl_put_le32(p + SA_MTIME_NSEC, s->mtime_nsec);
}

static enum jnl_op_status jnl_setattr_get(const uint8_t *p, size_t len,
					  struct jnl_op_setattr *s)
{
	/* (P1) exactly the fixed layout */
	if (len != SA_END)
		return JNL_OPST_BAD_LENGTH;
	s->fid = jnl_get_le64(p + SA_FID);
	s->mask = jnl_get_le32(p + SA_MASK);
	s->mode = jnl_get_le32(p + SA_MODE);
	s->uid = jnl_get_le32(p + SA_UID);
	s->gid = jnl_get_le32(p + SA_GID);
	s->size = jnl_get_le64(p + SA_SIZE);
	s->atime_sec = (int64_t)jnl_get_le64(p + SA_ATIME);
	s->mtime_sec = (int64_t)jnl_get_le64(p + SA_MTIME);
	s->atime_nsec = jnl_get_le32(p + SA_ATIME_NSEC);
	s->mtime_nsec = jnl_get_le32(p + SA_MTIME_NSEC);
	return JNL_OPST_OK;
}

static void jnl_xattr_put(const struct jnl_op_xattr *x, uint8_t *p)
{
	jnl_put_le64(p + XA_FID, x->fid);
	jnl_put_le32(p + XA_FLAGS, x->flags);
	jnl_put_le32(p + XA_VALUELEN, (uint32_t)x->value_len);
	jnl_put_le16(p + XA_NAMELEN, (uint16_t)x->name.len);
	p = jnl_put_bytes(p + XA_FIXED, x->name.ptr, x->name.len);
	jnl_put_bytes(p, x->value, x->value_len);
}

static enum jnl_op_status jnl_xattr_get(const uint8_t *p, size_t len,
					struct jnl_op_xattr *x)
{
	size_t nl;
	size_t vl;

	/* (P1) the fixed part, then exactly the name and value declared */
	if (len < XA_FIXED)
		return JNL_OPST_BAD_LENGTH;
	nl = jnl_get_le16(p + XA_NAMELEN);
	vl = jnl_get_le32(p + XA_VALUELEN);
	if (vl > len || len != XA_FIXED + nl + vl)
		return JNL_OPST_BAD_LENGTH;
	x->fid = jnl_get_le64(p + XA_FID);
	x->flags = jnl_get_le32(p + XA_FLAGS);
	x->name = jnl_str_at(p + XA_FIXED, nl);
	x->value = p + XA_FIXED + nl;
	x->value_len = vl;
	return JNL_OPST_OK;
}

static void jnl_handle_put(const struct jnl_op_handle *h, uint8_t *p)
{
	jnl_put_le64(p + FH_FID, h->fid);
	jnl_put_le16(p + FH_LEN, (uint16_t)h->fh_len);
	jnl_put_bytes(p + FH_FIXED, h->fh, h->fh_len);
}

static enum jnl_op_status jnl_handle_get(const uint8_t *p, size_t len,
					 struct jnl_op_handle *h)
{
	/* (P1) the fixed part, then exactly the handle it declares */
	if (len < FH_FIXED ||
	    len != (size_t)FH_FIXED + jnl_get_le16(p + FH_LEN))
		return JNL_OPST_BAD_LENGTH;
	h->fid = jnl_get_le64(p + FH_FID);
	h->fh_len = jnl_get_le16(p + FH_LEN);
	h->fh = p + FH_FIXED;
	return JNL_OPST_OK;
}

static void jnl_xattrs_put(const struct jnl_op_xattrs *x, uint8_t *p)
{
	jnl_put_le64(p + XS_FID, x->fid);
	jnl_put_le32(p + XS_COUNT, x->count);
	jnl_put_le32(p + XS_SETLEN, (uint32_t)x->set_len);
	jnl_put_bytes(p + XS_FIXED, x->set, x->set_len);
}

static enum jnl_op_status jnl_xattrs_get(const uint8_t *p, size_t len,
					 struct jnl_op_xattrs *x)
{
	/* (P1) the fixed part, then exactly the set it declares */
	if (len < XS_FIXED ||
	    len - XS_FIXED != jnl_get_le32(p + XS_SETLEN))
		return JNL_OPST_BAD_LENGTH;
	x->fid = jnl_get_le64(p + XS_FID);
	x->count = jnl_get_le32(p + XS_COUNT);
	x->set_len = len - XS_FIXED;
	x->set = p + XS_FIXED;
	return JNL_OPST_OK;
}

/*
 * Encode op's payload into buf[0, cap).
 * Returns 0, -EINVAL if op breaks P2-P10, -ENOSPC if cap < jnl_op_size().
 */
int jnl_op_encode(const struct jnl_op *op, uint8_t *buf, size_t cap)
{
	if (jnl_op_check(op) != JNL_OPST_OK)
		return -EINVAL;
	if (jnl_op_size(op) > cap)
		return -ENOSPC;
	switch (jnl_layout_of(op->type)) {
	case JNL_LAYOUT_ENTRY:
		jnl_entry_put(&op->u.entry, buf);
		break;
	case JNL_LAYOUT_LINK:
		jnl_link_put(&op->u.link, buf);
		break;
	case JNL_LAYOUT_RENAME:
		jnl_rename_put(&op->u.rename, buf);
		break;
	case JNL_LAYOUT_WRITE:
		jnl_write_put(&op->u.write, buf);
		break;
	case JNL_LAYOUT_SETATTR:
		jnl_setattr_put(&op->u.setattr, buf);
		break;
	case JNL_LAYOUT_XATTR:
		jnl_xattr_put(&op->u.xattr, buf);
		break;
	case JNL_LAYOUT_HANDLE:
		jnl_handle_put(&op->u.handle, buf);
		break;
	case JNL_LAYOUT_XATTRS:
		jnl_xattrs_put(&op->u.xattrs, buf);
		break;
	case JNL_LAYOUT_NONE:
		return -EINVAL;
	}
	return 0;
}

static enum jnl_op_status jnl_op_get(enum jnl_layout layout, const uint8_t *p,
				     size_t len, struct jnl_op *out)
{
	switch (layout) {
	case JNL_LAYOUT_ENTRY:
		return jnl_entry_get(p, len, &out->u.entry);
	case JNL_LAYOUT_LINK:
		return jnl_link_get(p, len, &out->u.link);
	case JNL_LAYOUT_RENAME:
		return jnl_rename_get(p, len, &out->u.rename);
	case JNL_LAYOUT_WRITE:
		return jnl_write_get(p, len, &out->u.write);
	case JNL_LAYOUT_SETATTR:
		return jnl_setattr_get(p, len, &out->u.setattr);
	case JNL_LAYOUT_XATTR:
		return jnl_xattr_get(p, len, &out->u.xattr);
	case JNL_LAYOUT_HANDLE:
		return jnl_handle_get(p, len, &out->u.handle);
	case JNL_LAYOUT_XATTRS:
		return jnl_xattrs_get(p, len, &out->u.xattrs);
	case JNL_LAYOUT_NONE:
		break;
	}
	return JNL_OPST_BAD_TYPE;
}

/*
 * Decode the payload p[0, len) of a record of the given type into *out
 * and check rules P1-P10.  Returns JNL_OPST_OK or the first rule broken.
 */
enum jnl_op_status jnl_op_decode(unsigned type, const uint8_t *p, size_t len,
				 struct jnl_op *out)
{
	enum jnl_op_status st;

	memset(out, 0, sizeof(*out));
	out->type = (enum jnl_type)type;
	st = jnl_op_get(jnl_layout_of(type), p, len, out);
	if (st != JNL_OPST_OK)
		return st;
	return jnl_op_check(out);
}
