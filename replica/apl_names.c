// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * replica/apl_names.c: the mirror applier's namespace records: BIND,
 * CREATE, MKDIR, MKNOD, SYMLINK, LINK, UNLINK, RMDIR, RENAME (and
 * RENAME_EXCHANGE), and the orphans UNLINK and RENAME leave.  What each
 * record does, and when a name that does not fit is damage, is RECORDS
 * at the top of replica/applier.c; why a record applied a second time
 * finds its own effect is IDEMPOTENCY there.  Names are looked up and
 * changed with synchronous RPCs (replica/apl_rpc.h); fids become handles,
 * and the map changes, through replica/apl_flog.c, which logs them.
 *
 * ORPHANS.  An object whose last name an UNLINK removes (nlink 1), and
 *   that is some fid's, is not removed: it is renamed to
 *   .ofsrep/mirror-orphans/<node>-<epoch>-<fid>, so WRITEs to the fid
 *   (an unlinked file still open on the writer) still land.  The same
 *   happens to such an object replaced by a RENAME.  Other UNLINKs
 *   REMOVE.  The rule that removes orphans ("reaping"): at the end of
 *   every run that ends without error, an orphan of this node is removed
 *   if its epoch is older than the current one (the writer restarted, so
 *   nothing holds it open), or if its fid got no WRITE or SETATTR after
 *   it was unlinked during this run.  A later WRITE or SETATTR to a
 *   reaped orphan gets NFS3ERR_STALE; for a fid the journal unlinked
 *   that is expected and ignored (counted in stale): the object has no
 *   name, so the tree does not change.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>

#include "replica/apl_internal.h"

/* ---- looking names up ---- */

/* What a name in a directory holds. */
struct apl_found {
	bool found;
	struct apl_fh fh;
	struct apl_attr attr;
};

static int apl_look(struct apl *a, const struct apl_fh *dir, uint64_t dfid,
		    const struct jnl_str *name, struct apl_found *f)
{
	int rc = apl_lookup(a, dir, name->ptr, name->len, &f->fh, &f->attr);

	f->found = rc == 0;
	if (rc == -ENOENT)
		return 0;
	if (rc == -ESTALE || rc == -ENOTDIR)	/* removed by a later record? */
		return apl_mismatch(a, rc, "the directory is gone from the "
				    "mirror or is none", "name '%.*s' in fid %"
				    PRIu64, APL_NAME(name), dfid);
	if (rc)
		return apl_fail(a, rc, "look up name '%.*s' in fid %" PRIu64,
				APL_NAME(name), dfid);
	return 0;
}

/* The object an UNLINK, RMDIR or RENAME names: its fid's, or (fid 0,
 * RENAME_EXCHANGE only) the one an ACTED entry logged.  *known is false
 * if neither says. */
static int apl_subject(struct apl *a, uint64_t fid, struct apl_fh *fh,
		       bool *known)
{
	const struct apl_fh *p;
	int rc;

	*known = false;
	if (fid) {
		rc = apl_fh_of(a, fid, fh);
		*known = !rc;
		return rc;
	}
	p = apl_fid_acted_get(&a->map, apl_seq(a));
	if (p) {
		*fh = *p;
		*known = true;
	}
	return 0;
}

/* Move (dir, name) to mirror-orphans/<node>-<epoch>-<fid>. */
static int apl_orphan(struct apl *a, const struct apl_fh *dir,
		      const struct jnl_str *name, uint64_t fid)
{
	char oname[64];
	int rc;

	snprintf(oname, sizeof(oname), "%" PRIu32 "-%" PRIu32 "-%" PRIu64,
		 a->conf.node, a->epoch, fid);
	rc = apl_rpc_rename(&a->rpc, dir, name->ptr, name->len, &a->orphans,
			    oname, strlen(oname));
	if (rc)
		return apl_fail(a, rc, "move name '%.*s' (fid %" PRIu64 ") to "
				".ofsrep/" APL_ORPHANS "/%s", APL_NAME(name),
				fid, oname);
	a->st.orphaned++;
	return apl_mark_unlinked(a, fid);
}

/* ---- names ---- */

static uint32_t apl_ftype(uint32_t mode)
{
	switch (mode & JNL_S_IFMT) {
	case JNL_S_IFREG:	return APL_NF3REG;
	case JNL_S_IFDIR:	return APL_NF3DIR;
	case JNL_S_IFLNK:	return APL_NF3LNK;
	case JNL_S_IFCHR:	return APL_NF3CHR;
	case JNL_S_IFBLK:	return APL_NF3BLK;
	case JNL_S_IFIFO:	return APL_NF3FIFO;
	default:		return APL_NF3SOCK;
	}
}

int apl_bind(struct apl *a, const struct jnl_op_link *l)
{
	struct apl_found f;
	struct apl_fh dir;
	int rc = apl_fh_of(a, l->parent, &dir);

	if (!rc)
		rc = apl_introduce(a, l->fid);
	if (!rc)
		rc = apl_look(a, &dir, l->parent, &l->name, &f);
	if (rc)
		return rc;
	if (!f.found)
		return apl_damage(a, -ENOENT, "the mirror lacks the object a "
				  "BIND names", "name '%.*s' in fid %" PRIu64,
				  APL_NAME(&l->name), l->parent);
	return apl_map(a, l->fid, &f.fh);
}

/*
 * BINDFH: the fid is the object with this handle (fs/failback.c).  Not a
 * namespace record, so after a crash it may come again: the same mapping
 * again is no damage.
 */
int apl_bindfh(struct apl *a, const struct jnl_op_handle *h)
{
	struct apl_fid_ent *e = apl_fid_get(&a->map, h->fid);
	struct apl_attr attr = { 0 };
	struct apl_fh fh = { .len = (uint32_t)h->fh_len };
	int rc;

	memcpy(fh.data, h->fh, h->fh_len);
	if (e && apl_fh_eq(&e->fh, &fh))
		return 0;
	if (e)
		return apl_damage(a, -EEXIST, "a fid introduced twice in one "
				  "epoch (writer rule W6)", "fid %" PRIu64,
				  h->fid);
	rc = apl_rpc_getattr(&a->rpc, &fh, &attr);
	if (rc == -ESTALE)
		return apl_damage(a, -ENOENT, "the mirror lacks the object a "
				  "BINDFH names", "fid %" PRIu64, h->fid);
	if (rc)
		return apl_fail(a, rc, "get attributes of fid %" PRIu64
				" (BINDFH)", h->fid);
	return apl_map(a, h->fid, &fh);
}

/* Is the object found under the name of the kind en makes?  1, 0, -errno */
static int apl_same_kind(struct apl *a, const struct jnl_op_entry *en,
			 const struct apl_found *f)
{
	uint32_t type = apl_ftype(en->mode);
	char target[JNL_TARGET_MAX];
	size_t len;
	int rc;

	if (f->attr.type != type)
		return 0;
	if (type == APL_NF3CHR || type == APL_NF3BLK)
		return f->attr.rdev_major == major(en->rdev) &&
		       f->attr.rdev_minor == minor(en->rdev);
	if (type != APL_NF3LNK)
		return 1;
	rc = apl_rpc_readlink(&a->rpc, &f->fh, target, sizeof(target), &len);
	if (rc)
		return apl_fail(a, rc, "read symlink '%.*s'",
				APL_NAME(&en->name));
	return len == en->target.len && !memcmp(target, en->target.ptr, len);
}

/*
 * Give the object the record's mode and owner (and, for CREATE, size 0)
 * where attr (if valid) differs.  Symlinks have no mode of their own.
 */
static int apl_reset(struct apl *a, const struct jnl_op_entry *en,
		     const struct apl_fh *fh, const struct apl_attr *attr)
{
	bool lnk = apl_ftype(en->mode) == APL_NF3LNK;
	struct apl_sattr sa = {
		.set_mode = !lnk && (!attr->valid ||
				     attr->mode != (en->mode & 07777)),
		.mode = en->mode & 07777,
		.set_uid = !attr->valid || attr->uid != en->uid,
		.uid = en->uid,
		.set_gid = !attr->valid || attr->gid != en->gid,
		.gid = en->gid,
		.set_size = apl_ftype(en->mode) == APL_NF3REG &&
			    (!attr->valid || attr->size),
	};
	int rc = 0;

	if (!sa.set_mode && !sa.set_uid && !sa.set_gid && !sa.set_size)
		return 0;
	if (sa.set_size)
		rc = apl_barrier(a);
	if (!rc)
		rc = apl_rpc_setattr(&a->rpc, fh, &sa);
	if (rc)
		return apl_fail(a, rc, "set the attributes of '%.*s'",
				APL_NAME(&en->name));
	return 0;
}

/*
 * A name that exists already: the same kind is the object (mapped).  An
 * object another fid names cannot be this record's (one object, one fid
 * per epoch, and a replay would have logged this fid: REPLAY ZONE).
 */
static int apl_reuse(struct apl *a, const struct jnl_op_entry *en,
		     const struct apl_found *f)
{
	struct apl_fid_ent *o = apl_fid_by_fh(&a->map, &f->fh);
	int rc = apl_same_kind(a, en, f);

	if (rc < 0)
		return rc;
	if (!rc)
		return apl_damage(a, -EEXIST, "the name holds another kind of "
				  "object", "name '%.*s' in fid %" PRIu64,
				  APL_NAME(&en->name), en->parent);
	if (o && o->fid != en->fid)
		return apl_damage(a, -EEXIST, "the name holds another fid's "
				  "object", "name '%.*s' in fid %" PRIu64
				  " (fid %" PRIu64 ")", APL_NAME(&en->name),
				  en->parent, o->fid);
	rc = apl_reset(a, en, &f->fh, &f->attr);
	if (rc)
		return rc;
	a->st.existing++;
	return apl_map(a, en->fid, &f->fh);
}

/* CREATE / MKDIR / MKNOD / SYMLINK the record's object. */
static int apl_create(struct apl *a, const struct apl_fh *dir,
		      const struct jnl_op_entry *en, struct apl_fh *fh)
{
	struct apl_sattr sa = {
		.set_mode = true, .mode = en->mode & 07777,
		.set_uid = true, .uid = en->uid,
		.set_gid = true, .gid = en->gid,
	};
	uint32_t type = apl_ftype(en->mode);
	const char *n = en->name.ptr;
	size_t nl = en->name.len;
	struct apl_attr attr = { 0 };
	int rc;

	if (type == APL_NF3REG)
		rc = apl_rpc_create(&a->rpc, dir, n, nl, &sa, fh, &attr);
	else if (type == APL_NF3DIR)
		rc = apl_rpc_mkdir(&a->rpc, dir, n, nl, &sa, fh, &attr);
	else if (type == APL_NF3LNK)
		rc = apl_rpc_symlink(&a->rpc, dir, n, nl, en->target.ptr,
				     en->target.len, &sa, fh, &attr);
	else
		rc = apl_rpc_mknod(&a->rpc, dir, n, nl, type,
				   major(en->rdev), minor(en->rdev), &sa, fh,
				   &attr);
	if (rc == -EBADMSG)	/* made, but the reply had no handle */
		rc = apl_lookup(a, dir, n, nl, fh, &attr);
	if (rc)
		return apl_fail(a, rc, "name '%.*s' in fid %" PRIu64,
				APL_NAME(&en->name), en->parent);
	/* the server may not honour every attribute at creation */
	return apl_reset(a, en, fh, &attr);
}

int apl_make(struct apl *a, const struct jnl_op_entry *en)
{
	struct apl_found f;
	struct apl_fh dir;
	struct apl_fh fh;
	int rc = apl_fh_of(a, en->parent, &dir);

	if (!rc)
		rc = apl_introduce(a, en->fid);
	if (!rc)
		rc = apl_look(a, &dir, en->parent, &en->name, &f);
	if (rc)
		return rc;
	if (f.found)
		return apl_reuse(a, en, &f);
	rc = apl_create(a, &dir, en, &fh);
	return rc ? rc : apl_map(a, en->fid, &fh);
}

int apl_link(struct apl *a, const struct jnl_op_link *l)
{
	struct apl_found f;
	struct apl_fh obj;
	struct apl_fh dir;
	int rc = apl_fh_of(a, l->fid, &obj);

	if (!rc)
		rc = apl_fh_of(a, l->parent, &dir);
	if (!rc)
		rc = apl_look(a, &dir, l->parent, &l->name, &f);
	if (rc)
		return rc;
	if (f.found && apl_fh_eq(&f.fh, &obj)) {
		a->st.replayed++;	/* linked before */
		return 0;
	}
	if (f.found)
		return apl_damage(a, -EEXIST, "the name holds another object",
				  "name '%.*s' in fid %" PRIu64,
				  APL_NAME(&l->name), l->parent);
	rc = apl_rpc_link(&a->rpc, &obj, &dir, l->name.ptr, l->name.len);
	if (rc == -ESTALE)
		return apl_mismatch(a, rc, "the object is gone from the mirror",
				    "fid %" PRIu64, l->fid);
	if (rc)
		return apl_fail(a, rc, "fid %" PRIu64 " as name '%.*s' in fid %"
				PRIu64, l->fid, APL_NAME(&l->name), l->parent);
	return 0;
}

/* REMOVE, or (last link of some fid's object) move to the orphans. */
static int apl_unlink_found(struct apl *a, const struct jnl_op_link *l,
			    const struct apl_fh *dir,
			    const struct apl_found *f)
{
	struct apl_fid_ent *owner;
	uint64_t fid;
	int rc;

	owner = l->fid ? apl_fid_get(&a->map, l->fid) :
			 apl_fid_by_fh(&a->map, &f->fh);
	fid = owner ? owner->fid : 0;
	if (fid && f->attr.nlink <= 1)
		return apl_orphan(a, dir, &l->name, fid);
	rc = apl_rpc_remove(&a->rpc, dir, l->name.ptr, l->name.len);
	if (rc)
		return apl_fail(a, rc, "name '%.*s' in fid %" PRIu64,
				APL_NAME(&l->name), l->parent);
	/* the record may name no fid (0): the map still knows the object */
	return fid ? apl_mark_unlinked(a, fid) : 0;
}

/* UNLINK and RMDIR: the directory, the record's object if the map knows
 * it (*known), and what the name holds now. */
static int apl_removal(struct apl *a, const struct jnl_op_link *l,
		       struct apl_fh *dir, struct apl_fh *x, bool *known,
		       struct apl_found *f)
{
	int rc = apl_fh_of(a, l->parent, dir);

	if (!rc)
		rc = apl_subject(a, l->fid, x, known);
	if (!rc)
		rc = apl_look(a, dir, l->parent, &l->name, f);
	return rc;
}

int apl_unlink(struct apl *a, const struct jnl_op_link *l)
{
	struct apl_found f;
	struct apl_fh dir;
	struct apl_fh x;
	bool known;
	int rc = apl_removal(a, l, &dir, &x, &known, &f);

	if (rc)
		return rc;
	if (!f.found) {		/* removed before */
		a->st.replayed++;
		apl_trace(a, "name missing");
		return l->fid ? apl_mark_unlinked(a, l->fid) : 0;
	}
	if (f.attr.type == APL_NF3DIR)
		return apl_damage(a, -EISDIR, "UNLINK of a directory",
				  "name '%.*s' in fid %" PRIu64,
				  APL_NAME(&l->name), l->parent);
	if (known && !apl_fh_eq(&f.fh, &x))
		return apl_damage(a, -ENOENT, "the name holds another object "
				  "than the record's", "fid %" PRIu64 " as "
				  "name '%.*s' in fid %" PRIu64, l->fid,
				  APL_NAME(&l->name), l->parent);
	return apl_unlink_found(a, l, &dir, &f);
}

int apl_rmdir(struct apl *a, const struct jnl_op_link *l)
{
	struct apl_found f;
	struct apl_fh dir;
	struct apl_fh x;
	bool known;
	int rc = apl_removal(a, l, &dir, &x, &known, &f);

	if (rc || !f.found) {	/* removed before */
		a->st.replayed += !rc;
		return rc;
	}
	if (f.attr.type != APL_NF3DIR || (known && !apl_fh_eq(&f.fh, &x)))
		return apl_damage(a, f.attr.type != APL_NF3DIR ? -ENOTDIR :
				  -ENOENT, "the name holds another object than "
				  "the record's", "name '%.*s' in fid %" PRIu64,
				  APL_NAME(&l->name), l->parent);
	rc = apl_rpc_rmdir(&a->rpc, &dir, l->name.ptr, l->name.len);
	if (rc == -ENOTEMPTY)
		return apl_damage(a, rc, "the directory is not empty in the "
				  "mirror", "name '%.*s' in fid %" PRIu64,
				  APL_NAME(&l->name), l->parent);
	if (rc)
		return apl_fail(a, rc, "name '%.*s' in fid %" PRIu64,
				APL_NAME(&l->name), l->parent);
	/* an open directory may still get a SETATTR: tolerate it stale
	 * (the record may name no fid: the map may still know the object) */
	if (!l->fid) {
		struct apl_fid_ent *owner = apl_fid_by_fh(&a->map, &f.fh);

		return owner ? apl_mark_unlinked(a, owner->fid) : 0;
	}
	return apl_mark_unlinked(a, l->fid);
}

/* What a RENAME's names hold, and the object it moves if known. */
struct apl_rn {
	struct apl_fh dir;
	struct apl_fh ndir;
	struct apl_fh x;
	bool known;
	struct apl_found s;
	struct apl_found d;
};

static int apl_rename_look(struct apl *a, const struct jnl_op_rename *rn,
			   struct apl_rn *r)
{
	int rc = apl_fh_of(a, rn->parent, &r->dir);

	if (!rc)
		rc = apl_fh_of(a, rn->newparent, &r->ndir);
	if (!rc)
		rc = apl_subject(a, rn->fid, &r->x, &r->known);
	if (!rc)
		rc = apl_look(a, &r->dir, rn->parent, &rn->name, &r->s);
	if (!rc)
		rc = apl_look(a, &r->ndir, rn->newparent, &rn->newname, &r->d);
	return rc;
}

/* A RENAME the mirror refused: the names do not fit the journal. */
static int apl_rename_err(struct apl *a, const struct jnl_op_rename *rn,
			  int rc)
{
	if (rc == -ENOTEMPTY || rc == -EEXIST || rc == -ENOTDIR ||
	    rc == -EISDIR || rc == -EINVAL)
		return apl_damage(a, rc, "the mirror refuses the rename",
				  "name '%.*s' in fid %" PRIu64 " to '%.*s' in "
				  "fid %" PRIu64, APL_NAME(&rn->name),
				  rn->parent, APL_NAME(&rn->newname),
				  rn->newparent);
	return apl_fail(a, rc, "name '%.*s' in fid %" PRIu64 " to '%.*s' in "
			"fid %" PRIu64, APL_NAME(&rn->name), rn->parent,
			APL_NAME(&rn->newname), rn->newparent);
}

static int apl_rename_do(struct apl *a, const struct jnl_op_rename *rn,
			 const struct apl_rn *r)
{
	struct apl_fid_ent *o = NULL;
	int rc = 0;

	if (r->d.found && r->d.attr.type != APL_NF3DIR && r->d.attr.nlink <= 1)
		o = apl_fid_by_fh(&a->map, &r->d.fh);
	if (o)	/* the replaced object may still be written */
		rc = apl_orphan(a, &r->ndir, &rn->newname, o->fid);
	if (rc)
		return rc;
	rc = apl_rpc_rename(&a->rpc, &r->dir, rn->name.ptr, rn->name.len,
			    &r->ndir, rn->newname.ptr, rn->newname.len);
	if (rc)
		return apl_rename_err(a, rn, rc);
	/* a replaced directory (or a name of a linked file) is gone too:
	 * flag its fid, as RMDIR and UNLINK do (tools/fsck/fids.c relies on
	 * it) */
	if (!o && r->d.found && !(r->s.found && apl_fh_eq(&r->s.fh, &r->d.fh)))
		o = apl_fid_by_fh(&a->map, &r->d.fh);
	return o ? apl_mark_unlinked(a, o->fid) : 0;
}

/* The second half of an exchange: target to source (unless done), the
 * temporary name to target. */
static int apl_exchange_finish(struct apl *a, const struct jnl_op_rename *rn,
			       const struct apl_rn *r, const char *tmp)
{
	struct apl_found s;
	int rc = apl_look(a, &r->dir, rn->parent, &rn->name, &s);

	if (rc)
		return rc;
	if (!s.found)
		rc = apl_rpc_rename(&a->rpc, &r->ndir, rn->newname.ptr,
				    rn->newname.len, &r->dir, rn->name.ptr,
				    rn->name.len);
	if (!rc)
		rc = apl_rpc_rename(&a->rpc, &a->orphans, tmp, strlen(tmp),
				    &r->ndir, rn->newname.ptr,
				    rn->newname.len);
	return rc ? apl_rename_err(a, rn, rc) : 0;
}

/* RENAME_EXCHANGE: NFSv3 has none; three RENAMEs through a temporary
 * name, which tells a later run where a stopped one was. */
static int apl_exchange(struct apl *a, const struct jnl_op_rename *rn,
			const struct apl_rn *r)
{
	char tmp[64];
	struct jnl_str t = { .ptr = tmp };
	struct apl_found tf;
	int rc;

	t.len = (size_t)snprintf(tmp, sizeof(tmp), "%" PRIu32 "-%" PRIu32
				 "-x%" PRIu64, a->conf.node, a->epoch,
				 apl_seq(a));
	rc = apl_look(a, &a->orphans, 0, &t, &tf);
	if (rc || tf.found)	/* a stopped run got half-way */
		return rc ? rc : apl_exchange_finish(a, rn, r, tmp);
	if (!r->s.found || !r->d.found || (r->known &&
					   !apl_fh_eq(&r->s.fh, &r->x))) {
		if (r->known && r->d.found && apl_fh_eq(&r->d.fh, &r->x)) {
			a->st.replayed++;	/* exchanged before */
			return 0;
		}
		return apl_damage(a, -ENOENT, "RENAME_EXCHANGE of a name that "
				  "is missing or holds another object",
				  "name '%.*s' in fid %" PRIu64 " and '%.*s' in "
				  "fid %" PRIu64, APL_NAME(&rn->name),
				  rn->parent, APL_NAME(&rn->newname),
				  rn->newparent);
	}
	if (!r->known) {	/* which way round: ACTED, before swapping */
		rc = apl_flog_add(a, APL_FLOG_ACTED, apl_seq(a), 0, &r->s.fh);
		if (!rc)
			rc = apl_flog_flush(a);
		if (rc)
			return rc;
	}
	rc = apl_rpc_rename(&a->rpc, &r->dir, rn->name.ptr, rn->name.len,
			    &a->orphans, tmp, strlen(tmp));
	if (rc)
		return apl_rename_err(a, rn, rc);
	return apl_exchange_finish(a, rn, r, tmp);
}

int apl_rename(struct apl *a, const struct jnl_op_rename *rn)
{
	struct apl_rn r;
	int rc = apl_rename_look(a, rn, &r);

	if (rc)
		return rc;
	if (rn->flags & JNL_RENAME_EXCHANGE)
		return apl_exchange(a, rn, &r);
	if (!r.s.found || (r.known && !apl_fh_eq(&r.s.fh, &r.x))) {
		/* source gone and target present: applied before */
		if (r.d.found && (r.known ? apl_fh_eq(&r.d.fh, &r.x) :
				  !r.s.found)) {
			a->st.replayed++;
			apl_trace(a, "source gone, target there (known %d)",
				  r.known);
			return 0;
		}
		return apl_damage(a, -ENOENT, r.s.found ? "the source name "
				  "holds another object than the record's" :
				  "the source name is missing", "name '%.*s' "
				  "in fid %" PRIu64, APL_NAME(&rn->name),
				  rn->parent);
	}
	if (r.d.found && apl_fh_eq(&r.d.fh, &r.s.fh))
		return 0;	/* two links of one object: a no-op */
	if (r.d.found && (rn->flags & JNL_RENAME_NOREPLACE))
		return apl_damage(a, -EEXIST, "RENAME_NOREPLACE onto an "
				  "existing name", "name '%.*s' in fid %" PRIu64,
				  APL_NAME(&rn->newname), rn->newparent);
	return apl_rename_do(a, rn, &r);
}

/* ---- reaping orphans, at the end of a run ---- */

/* "<node>-<epoch>-<fid>", all decimal. */
static bool apl_orphan_name(const char *s, uint32_t *node, uint32_t *epoch,
			    uint64_t *fid)
{
	unsigned long long v[3];
	char *end;

	for (int i = 0; i < 3; i++) {
		if (*s < '0' || *s > '9')
			return false;
		errno = 0;
		v[i] = strtoull(s, &end, 10);
		if (errno || *end != (i < 2 ? '-' : 0))
			return false;
		s = end + 1;
	}
	if (v[0] > UINT32_MAX || v[1] > UINT32_MAX)
		return false;
	*node = (uint32_t)v[0];
	*epoch = (uint32_t)v[1];
	*fid = v[2];
	return true;
}

/* Remove this node's orphans that the ORPHANS rule lets go. */
int apl_reap(struct apl *a)
{
	uint32_t cur = a->epoch ? a->epoch : a->ck.epoch;
	struct apl_names nm;
	struct apl_fid_ent *e;
	uint32_t node;
	uint32_t epoch;
	uint64_t fid;
	int rc = apl_rpc_readdir(&a->rpc, &a->orphans, &nm);

	for (size_t i = 0; !rc && i < nm.n; i++) {
		if (!apl_orphan_name(nm.v[i], &node, &epoch, &fid) ||
		    node != a->conf.node || epoch > cur)
			continue;
		e = epoch == cur ? apl_fid_get(&a->map, fid) : NULL;
		if (e && (e->flags & APL_FID_USED))
			continue;
		rc = apl_rpc_remove(&a->rpc, &a->orphans, nm.v[i],
				    strlen(nm.v[i]));
		a->st.reaped += !rc;
		rc = rc == -ENOENT ? 0 : rc;
	}
	apl_names_free(&nm);
	return rc ? apl_fail(a, rc, "reap .ofsrep/" APL_ORPHANS) : 0;
}
