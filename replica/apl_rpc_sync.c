// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * replica/apl_rpc_sync.c: the synchronous calls of replica/apl_rpc.h, one
 * per NFSv3 procedure the applier uses (LOOKUP ... READDIR, and a WRITE
 * that waits).  Each turns its arguments into libnfs's XDR structs (a
 * counted name into a NUL-terminated copy, struct apl_sattr into sattr3),
 * takes the synchronous slot (apl_rpc_sync), queues the call and waits
 * for it (apl_rpc_wait), then hands back what the reply held.  How a call
 * runs is replica/apl_rpc.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "replica/apl_rpc_internal.h"

/* ---- argument helpers ---- */

/* A NUL-terminated copy of a counted name (at most 255 bytes + NUL). */
struct apl_name {
	char s[256];
};

static int apl_name(struct apl_name *n, const char *p, size_t len)
{
	if (len == 0 || len >= sizeof(n->s))
		return -ENAMETOOLONG;
	memcpy(n->s, p, len);
	n->s[len] = 0;
	return 0;
}

static void apl_sattr3(sattr3 *out, const struct apl_sattr *sa)
{
	memset(out, 0, sizeof(*out));
	out->mode.set_it = sa->set_mode;
	out->mode.set_mode3_u.mode = sa->mode & 07777;
	out->uid.set_it = sa->set_uid;
	out->uid.set_uid3_u.uid = sa->uid;
	out->gid.set_it = sa->set_gid;
	out->gid.set_gid3_u.gid = sa->gid;
	out->size.set_it = sa->set_size;
	out->size.set_size3_u.size = sa->size;
	out->atime.set_it = sa->set_atime ? SET_TO_CLIENT_TIME : DONT_CHANGE;
	out->atime.set_atime_u.atime = (nfstime3){ sa->atime_sec,
						   sa->atime_nsec };
	out->mtime.set_it = sa->set_mtime ? SET_TO_CLIENT_TIME : DONT_CHANGE;
	out->mtime.set_mtime_u.mtime = (nfstime3){ sa->mtime_sec,
						   sa->mtime_nsec };
}

/* Handle and attributes of a created or looked-up object. */
static int apl_rpc_obj(struct apl_call *c, int rc, struct apl_fh *out,
		       struct apl_attr *attr)
{
	if (attr)
		*attr = c->attr;
	if (rc)
		return rc;
	if (!c->has_fh)
		return -EBADMSG;	/* no handle in the reply */
	*out = c->fh;
	return 0;
}

/* ---- synchronous calls ---- */

/*
 * LOOKUP name in dir: its handle in *out and attributes in *attr (which
 * may be NULL; attr->valid says whether the server sent them).
 */
int apl_rpc_lookup(struct apl_rpc *r, const struct apl_fh *dir,
		   const char *name, size_t namelen, struct apl_fh *out,
		   struct apl_attr *attr)
{
	struct apl_name n;
	struct apl_call *c;
	LOOKUP3args a;
	int rc = apl_name(&n, name, namelen);

	if (rc)
		return rc;
	c = apl_rpc_sync(r, APL_RPC_LOOKUP, &rc);
	if (!c)
		return rc;
	a.what.dir = apl_fh3(dir);
	a.what.name = n.s;
	rc = apl_rpc_wait(r, c, rpc_nfs3_lookup_async(r->rpc, apl_rpc_cb, &a,
						      c));
	return apl_rpc_obj(c, rc, out, attr);
}

int apl_rpc_getattr(struct apl_rpc *r, const struct apl_fh *fh,
		    struct apl_attr *attr)
{
	struct apl_call *c;
	GETATTR3args a;
	int rc;

	c = apl_rpc_sync(r, APL_RPC_GETATTR, &rc);
	if (!c)
		return rc;
	a.object = apl_fh3(fh);
	rc = apl_rpc_wait(r, c, rpc_nfs3_getattr_async(r->rpc, apl_rpc_cb, &a,
						       c));
	*attr = c->attr;
	return rc;
}

/* CREATE GUARDED: -EEXIST if the name exists. */
int apl_rpc_create(struct apl_rpc *r, const struct apl_fh *dir,
		   const char *name, size_t namelen,
		   const struct apl_sattr *sa, struct apl_fh *out,
		   struct apl_attr *attr)
{
	struct apl_name n;
	struct apl_call *c;
	CREATE3args a;
	int rc = apl_name(&n, name, namelen);

	if (rc)
		return rc;
	c = apl_rpc_sync(r, APL_RPC_CREATE, &rc);
	if (!c)
		return rc;
	memset(&a, 0, sizeof(a));
	a.where.dir = apl_fh3(dir);
	a.where.name = n.s;
	a.how.mode = GUARDED;
	apl_sattr3(&a.how.createhow3_u.obj_attributes, sa);
	rc = apl_rpc_wait(r, c, rpc_nfs3_create_async(r->rpc, apl_rpc_cb, &a,
						      c));
	return apl_rpc_obj(c, rc, out, attr);
}

int apl_rpc_mkdir(struct apl_rpc *r, const struct apl_fh *dir,
		  const char *name, size_t namelen,
		  const struct apl_sattr *sa, struct apl_fh *out,
		  struct apl_attr *attr)
{
	struct apl_name n;
	struct apl_call *c;
	MKDIR3args a;
	int rc = apl_name(&n, name, namelen);

	if (rc)
		return rc;
	c = apl_rpc_sync(r, APL_RPC_MKDIR, &rc);
	if (!c)
		return rc;
	a.where.dir = apl_fh3(dir);
	a.where.name = n.s;
	apl_sattr3(&a.attributes, sa);
	rc = apl_rpc_wait(r, c, rpc_nfs3_mkdir_async(r->rpc, apl_rpc_cb, &a,
						     c));
	return apl_rpc_obj(c, rc, out, attr);
}

/* MKNOD of type APL_NF3CHR/BLK (with major, minor), SOCK or FIFO. */
int apl_rpc_mknod(struct apl_rpc *r, const struct apl_fh *dir,
		  const char *name, size_t namelen, uint32_t type,
		  uint32_t major, uint32_t minor, const struct apl_sattr *sa,
		  struct apl_fh *out, struct apl_attr *attr)
{
	struct apl_name n;
	struct apl_call *c;
	MKNOD3args a;
	sattr3 s;
	int rc = apl_name(&n, name, namelen);

	if (rc)
		return rc;
	c = apl_rpc_sync(r, APL_RPC_MKNOD, &rc);
	if (!c)
		return rc;
	memset(&a, 0, sizeof(a));
	a.where.dir = apl_fh3(dir);
	a.where.name = n.s;
	a.what.type = (ftype3)type;
	apl_sattr3(&s, sa);
	if (type == APL_NF3CHR || type == APL_NF3BLK) {
		a.what.mknoddata3_u.chr_device.dev_attributes = s;
		a.what.mknoddata3_u.chr_device.spec.specdata1 = major;
		a.what.mknoddata3_u.chr_device.spec.specdata2 = minor;
	} else {
		a.what.mknoddata3_u.pipe_attributes = s;
	}
	rc = apl_rpc_wait(r, c, rpc_nfs3_mknod_async(r->rpc, apl_rpc_cb, &a,
						     c));
	return apl_rpc_obj(c, rc, out, attr);
}

int apl_rpc_symlink(struct apl_rpc *r, const struct apl_fh *dir,
		    const char *name, size_t namelen, const char *target,
		    size_t targetlen, const struct apl_sattr *sa,
		    struct apl_fh *out, struct apl_attr *attr)
{
	struct apl_name n;
	struct apl_call *c;
	SYMLINK3args a;
	char *t;
	int rc = apl_name(&n, name, namelen);

	if (rc)
		return rc;
	if (targetlen > APL_SYMLINK_MAX)
		return -ENAMETOOLONG;	/* see APL_SYMLINK_MAX */
	t = strndup(target, targetlen);
	if (!t)
		return -ENOMEM;
	c = apl_rpc_sync(r, APL_RPC_SYMLINK, &rc);
	if (c) {
		a.where.dir = apl_fh3(dir);
		a.where.name = n.s;
		apl_sattr3(&a.symlink.symlink_attributes, sa);
		a.symlink.symlink_data = t;
		rc = apl_rpc_wait(r, c, rpc_nfs3_symlink_async(r->rpc,
					apl_rpc_cb, &a, c));
		rc = apl_rpc_obj(c, rc, out, attr);
	}
	free(t);
	return rc;
}

/* LINK fh as name in dir. */
int apl_rpc_link(struct apl_rpc *r, const struct apl_fh *fh,
		 const struct apl_fh *dir, const char *name, size_t namelen)
{
	struct apl_name n;
	struct apl_call *c;
	LINK3args a;
	int rc = apl_name(&n, name, namelen);

	if (rc)
		return rc;
	c = apl_rpc_sync(r, APL_RPC_LINK, &rc);
	if (!c)
		return rc;
	a.file = apl_fh3(fh);
	a.link.dir = apl_fh3(dir);
	a.link.name = n.s;
	return apl_rpc_wait(r, c, rpc_nfs3_link_async(r->rpc, apl_rpc_cb, &a,
						      c));
}

int apl_rpc_remove(struct apl_rpc *r, const struct apl_fh *dir,
		   const char *name, size_t namelen)
{
	struct apl_name n;
	struct apl_call *c;
	REMOVE3args a;
	int rc = apl_name(&n, name, namelen);

	if (rc)
		return rc;
	c = apl_rpc_sync(r, APL_RPC_REMOVE, &rc);
	if (!c)
		return rc;
	a.object.dir = apl_fh3(dir);
	a.object.name = n.s;
	return apl_rpc_wait(r, c, rpc_nfs3_remove_async(r->rpc, apl_rpc_cb,
							&a, c));
}

int apl_rpc_rmdir(struct apl_rpc *r, const struct apl_fh *dir,
		  const char *name, size_t namelen)
{
	struct apl_name n;
	struct apl_call *c;
	RMDIR3args a;
	int rc = apl_name(&n, name, namelen);

	if (rc)
		return rc;
	c = apl_rpc_sync(r, APL_RPC_RMDIR, &rc);
	if (!c)
		return rc;
	a.object.dir = apl_fh3(dir);
	a.object.name = n.s;
	return apl_rpc_wait(r, c, rpc_nfs3_rmdir_async(r->rpc, apl_rpc_cb, &a,
						       c));
}

int apl_rpc_rename(struct apl_rpc *r, const struct apl_fh *dir,
		   const char *name, size_t namelen, const struct apl_fh *todir,
		   const char *toname, size_t tonamelen)
{
	struct apl_name n;
	struct apl_name to;
	struct apl_call *c;
	RENAME3args a;
	int rc = apl_name(&n, name, namelen);

	if (!rc)
		rc = apl_name(&to, toname, tonamelen);
	if (rc)
		return rc;
	c = apl_rpc_sync(r, APL_RPC_RENAME, &rc);
	if (!c)
		return rc;
	a.from.dir = apl_fh3(dir);
	a.from.name = n.s;
	a.to.dir = apl_fh3(todir);
	a.to.name = to.s;
	return apl_rpc_wait(r, c, rpc_nfs3_rename_async(r->rpc, apl_rpc_cb,
							&a, c));
}

int apl_rpc_setattr(struct apl_rpc *r, const struct apl_fh *fh,
		    const struct apl_sattr *sa)
{
	struct apl_call *c;
	SETATTR3args a;
	int rc;

	c = apl_rpc_sync(r, APL_RPC_SETATTR, &rc);
	if (!c)
		return rc;
	memset(&a, 0, sizeof(a));
	a.object = apl_fh3(fh);
	apl_sattr3(&a.new_attributes, sa);
	return apl_rpc_wait(r, c, rpc_nfs3_setattr_async(r->rpc, apl_rpc_cb,
							 &a, c));
}

/* The link text into buf[cap] (not NUL-terminated), its length in *len. */
int apl_rpc_readlink(struct apl_rpc *r, const struct apl_fh *fh, char *buf,
		     size_t cap, size_t *len)
{
	struct apl_call *c;
	READLINK3args a;
	int rc;

	c = apl_rpc_sync(r, APL_RPC_READLINK, &rc);
	if (!c)
		return rc;
	c->buf = (uint8_t *)buf;
	c->cap = cap;
	a.symlink = apl_fh3(fh);
	rc = apl_rpc_wait(r, c, rpc_nfs3_readlink_async(r->rpc, apl_rpc_cb,
							&a, c));
	*len = c->got;
	return rc;
}

/* READ up to len (<= rtmax) bytes at offset into buf. */
int apl_rpc_read(struct apl_rpc *r, const struct apl_fh *fh, uint64_t offset,
		 uint8_t *buf, size_t len, size_t *got, bool *eof)
{
	struct apl_call *c;
	READ3args a;
	int rc;

	c = apl_rpc_sync(r, APL_RPC_READ, &rc);
	if (!c)
		return rc;
	c->buf = buf;
	c->cap = len;
	a.file = apl_fh3(fh);
	a.offset = offset;
	a.count = (count3)(len < r->rtmax ? len : r->rtmax);
	rc = apl_rpc_wait(r, c, rpc_nfs3_read_async(r->rpc, apl_rpc_cb, &a,
						    c));
	*got = c->got;
	*eof = c->eof;
	return rc;
}

/*
 * WRITE all of data at offset and wait (the applier's own files):
 * FILE_SYNC, or UNSTABLE with the verifier compared like the window's.
 */
int apl_rpc_write_wait(struct apl_rpc *r, const struct apl_fh *fh,
		       uint64_t offset, const uint8_t *data, size_t len,
		       bool file_sync)
{
	struct apl_call *c;
	WRITE3args a;
	size_t n;
	int rc;

	while (len > 0) {
		c = apl_rpc_sync(r, APL_RPC_WRITE, &rc);
		if (!c)
			return rc;
		n = len < r->wtmax ? len : r->wtmax;
		a = (WRITE3args){ .file = apl_fh3(fh), .offset = offset,
				  .count = (count3)n,
				  .stable = file_sync ? FILE_SYNC : UNSTABLE };
		a.data.data_len = (u_int)n;
		a.data.data_val = (char *)data;
		rc = apl_rpc_wait(r, c, rpc_nfs3_write_async(r->rpc,
					apl_rpc_cb, &a, c));
		if (rc)
			return rc;
		if (!c->count || c->count > n)
			return -EIO;
		if (!file_sync)
			apl_rpc_verf(r, c->verf);
		offset += c->count;
		data += c->count;
		len -= c->count;
	}
	return 0;
}

void apl_names_free(struct apl_names *nm)
{
	for (size_t i = 0; i < nm->n; i++)
		free(nm->v[i]);
	free(nm->v);
	memset(nm, 0, sizeof(*nm));
}

/* Every name in dir ("." and ".." left out) into *names (free them). */
void apl_dirents_free(struct apl_dirents *ents)
{
	for (size_t i = 0; i < ents->n; i++)
		free(ents->v[i].name);
	free(ents->v);
	memset(ents, 0, sizeof(*ents));
}

int apl_rpc_readdirplus(struct apl_rpc *r, const struct apl_fh *dir,
			struct apl_dirents *ents)
{
	uint8_t verf[8] = { 0 };
	uint64_t cookie = 0;
	struct apl_call *c;
	READDIRPLUS3args a;
	int rc;

	memset(ents, 0, sizeof(*ents));
	do {
		c = apl_rpc_sync(r, APL_RPC_READDIRPLUS, &rc);
		if (!c)
			break;
		c->ents = ents;
		c->cookie = cookie;
		a = (READDIRPLUS3args){ .dir = apl_fh3(dir), .cookie = cookie,
					.dircount = 65536, .maxcount = 262144 };
		memcpy(a.cookieverf, verf, sizeof(verf));
		rc = apl_rpc_wait(r, c, rpc_nfs3_readdirplus_async(r->rpc,
					apl_rpc_cb, &a, c));
		cookie = c->cookie;
		memcpy(verf, c->cookieverf, sizeof(verf));
	} while (!rc && !c->eof);
	if (rc)
		apl_dirents_free(ents);
	return rc;
}

int apl_rpc_readdir(struct apl_rpc *r, const struct apl_fh *dir,
		    struct apl_names *names)
{
	uint8_t verf[8] = { 0 };
	uint64_t cookie = 0;
	struct apl_call *c;
	READDIR3args a;
	int rc;

	memset(names, 0, sizeof(*names));
	do {
		c = apl_rpc_sync(r, APL_RPC_READDIR, &rc);
		if (!c)
			break;
		c->names = names;
		c->cookie = cookie;
		a = (READDIR3args){ .dir = apl_fh3(dir), .cookie = cookie,
				    .count = 65536 };
		memcpy(a.cookieverf, verf, sizeof(verf));
		rc = apl_rpc_wait(r, c, rpc_nfs3_readdir_async(r->rpc,
					apl_rpc_cb, &a, c));
		cookie = c->cookie;
		memcpy(verf, c->cookieverf, sizeof(verf));
	} while (!rc && !c->eof);
	if (rc)
		apl_names_free(names);
	return rc;
}
