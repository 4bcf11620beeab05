/*
 * treesync.c — compare a source tree with a destination tree, both on
 * NFS exports, and (repair) make the destination equal to the source.
 *
 * EQUAL means, for every name below the two roots (the export root's own
 * ".ofsrep" is left out on both sides): the same type; for regular files
 * the same size and bytes (compared chunk by chunk; a difference is
 * reported with both files' XXH3 and the first differing byte), the same
 * mtime, and hard links to the same object where the source has them;
 * for directories the same mtime (fs/journal.c journals it after every
 * change in a directory); for symlinks the same target; for devices the
 * same numbers; and the same mode, owner and group; and for every object,
 * the same extended attributes (each export's xattr store,
 * replica/treesync_xattr.c).  The roots' own times are not compared: an
 * export's root holds ofsrep's own ".ofsrep" and hidden names, so its
 * mtime differs between the exports by design.  Names only in the
 * destination are differences too.
 *
 * Repair, per difference: a missing object is created (a regular file
 * that is a further link of an object already synced is linked instead),
 * an object of another type or an extra name is removed (recursively),
 * differing bytes are rewritten FILE_SYNC from the first difference on
 * and the size cut, attributes set; mtime last, after the bytes, and a
 * directory's after its entries (which move it when they are repaired).
 *
 * Both sides are read through their own libnfs connection (jstore plus
 * the applier's synchronous raw RPCs, replica/apl_rpc.h), one call at a
 * time: this is a tool for an unmounted pair, not a data path.  Trees
 * being written meanwhile give a report of a moving target.
 */
#include "replica/treesync_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int noop_done(void *arg, struct apl_call *c)
{
	return 0;
}

int ts_fail(struct ts *t, struct ts_side *s, const char *op, int rc)
{
	snprintf(t->err, t->errlen, "%s: %s %s: %s", s->url, op,
		 t->plen ? t->path : "/", strerror(-rc));
	return rc;
}

void ts_differ(struct ts *t, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (!t->counted) {
		t->st->differences++;	/* objects, not lines */
		if (t->c->repair && !t->fix_this)
			t->st->declined++;
	}
	t->counted = true;
	if (t->c->report)
		t->c->report(t->c->arg, t->plen ? t->path : "/", what);
}

void ts_progress(struct ts *t, bool last)
{
	uint64_t now = mono_ms();

	if (!t->c->progress || (!last && now < t->last_progress_ms + 1000))
		return;
	t->last_progress_ms = now;
	t->c->progress(t->c->arg, t->st);
}

/* ---- path and link bookkeeping ---- */

static size_t path_push(struct ts *t, const char *name)
{
	size_t old = t->plen;
	int n = snprintf(t->path + t->plen, sizeof(t->path) - t->plen,
			 "%s%s", t->plen ? "/" : "", name);

	if (n > 0 && (size_t)n < sizeof(t->path) - t->plen)
		t->plen += (size_t)n;
	return old;
}

static void path_pop(struct ts *t, size_t old)
{
	t->plen = old;
	t->path[old] = 0;
}

static struct ts_link *map_slot(const struct ts_map *m, uint64_t key)
{
	size_t mask = m->cap - 1;
	size_t i = XXH3_64bits(&key, sizeof(key)) & mask;

	while (m->v[i].fileid && m->v[i].fileid != key)
		i = (i + 1) & mask;
	return &m->v[i];
}

static const struct ts_link *map_get(const struct ts_map *m, uint64_t key)
{
	const struct ts_link *l;

	if (!m->cap)
		return NULL;
	l = map_slot(m, key);
	return l->fileid ? l : NULL;
}

static int map_put(struct ts_map *m, uint64_t key, const struct apl_fh *fh,
		   uint64_t other)
{
	struct ts_link *l;

	if (2 * (m->n + 1) > m->cap) {
		struct ts_map old = *m;

		m->cap = old.cap ? 2 * old.cap : 256;
		m->v = calloc(m->cap, sizeof(*m->v));
		if (!m->v) {
			*m = old;
			return -ENOMEM;
		}
		for (size_t i = 0; i < old.cap; i++)
			if (old.v[i].fileid)
				*map_slot(m, old.v[i].fileid) = old.v[i];
		free(old.v);
	}
	l = map_slot(m, key);
	if (!l->fileid)
		m->n++;
	l->fileid = key;
	if (fh)
		l->fh = *fh;
	l->other = other;
	return 0;
}

/* ---- the two sides ---- */

static int side_open(struct ts *t, struct ts_side *s, const char *url,
		     const char *path)
{
	char comp[256];
	size_t len;
	int rc;

	s->url = url;
	rc = jstore_open(&s->js, url, 1, t->c->timeout_ms, t->err, t->errlen);
	if (rc)
		return rc;
	s->open = true;
	rc = apl_rpc_init(&s->rpc, &s->js, noop_done, NULL);
	if (!rc) {
		s->rpc_ok = true;
		rc = jstore_root_fh(&s->js, s->root.data, APL_FH_MAX, &len);
		s->root.len = (uint32_t)len;
		s->eroot = s->root;
	}
	if (rc)
		return ts_fail(t, s, "mount", rc);
	while (*path) {
		size_t n;

		while (*path == '/')
			path++;
		n = strcspn(path, "/");
		if (!n)
			break;
		if (n >= sizeof(comp)) {
			snprintf(t->err, t->errlen, "%s: path too long", url);
			return -ENAMETOOLONG;
		}
		memcpy(comp, path, n);
		comp[n] = 0;
		rc = apl_rpc_lookup(&s->rpc, &s->root, comp, n, &s->root,
				    NULL);
		if (rc) {
			snprintf(t->err, t->errlen, "%s: look up %s: %s", url,
				 comp, strerror(-rc));
			return rc;
		}
		path += n;
	}
	return 0;
}

static void side_close(struct ts_side *s)
{
	if (s->open)
		jstore_close(&s->js);
	if (s->rpc_ok)
		apl_rpc_fini(&s->rpc);
	s->open = s->rpc_ok = false;
}

/* ---- one object ---- */

static int sync_dir(struct ts *t, const struct apl_fh *sdir,
		    const struct apl_fh *ddir, bool top);

static int remove_tree(struct ts *t, const struct apl_fh *dir,
		       const char *name)
{
	struct apl_fh fh;
	struct apl_attr a = { 0 };
	struct apl_names names;
	int rc = apl_rpc_lookup(&t->dst.rpc, dir, name, strlen(name), &fh,
				&a);

	if (rc)
		return rc == -ENOENT ? 0 : ts_fail(t, &t->dst, "look up", rc);
	if (a.type != APL_NF3DIR) {
		rc = apl_rpc_remove(&t->dst.rpc, dir, name, strlen(name));
		return rc ? ts_fail(t, &t->dst, "remove", rc) : 0;
	}
	rc = apl_rpc_readdir(&t->dst.rpc, &fh, &names);
	if (rc)
		return ts_fail(t, &t->dst, "read directory", rc);
	for (size_t i = 0; !rc && i < names.n; i++)
		rc = remove_tree(t, &fh, names.v[i]);
	apl_names_free(&names);
	if (!rc && (rc = apl_rpc_rmdir(&t->dst.rpc, dir, name, strlen(name))))
		rc = ts_fail(t, &t->dst, "remove directory", rc);
	return rc;
}

static void paired(struct ts *t, const struct apl_fh *src,
		   const struct apl_fh *dst)
{
	if (t->c->pair)
		t->c->pair(t->c->arg, src, dst);
}

/* mode, owner, group; mtime of regular files (after their bytes) and of
 * directories (after their entries: @inside says a repair changed some,
 * which moved the destination's mtime since @da was read). */
static int sync_attrs(struct ts *t, const struct apl_fh *dfh,
		      const struct apl_attr *sa, const struct apl_attr *da,
		      bool fresh, bool inside, bool *fixed)
{
	struct apl_sattr set = { 0 };

	if (sa->mode != da->mode) {
		if (!fresh)
			ts_differ(t, "mode %04o / %04o", sa->mode, da->mode);
		set.set_mode = true;
	}
	/* rewritten bytes may have cleared set-id bits on the server */
	if (sa->type == APL_NF3REG && *fixed)
		set.set_mode = true;
	set.mode = sa->mode;
	if (sa->uid != da->uid || sa->gid != da->gid) {
		if (!fresh)
			ts_differ(t, "owner %u:%u / %u:%u", sa->uid, sa->gid,
			       da->uid, da->gid);
		set.set_uid = set.set_gid = true;
		set.uid = sa->uid;
		set.gid = sa->gid;
	}
	/* Rewritten bytes moved the destination's mtime: set it back. */
	if (sa->type == APL_NF3REG && (*fixed ||
				       sa->mtime_sec != da->mtime_sec ||
				       sa->mtime_nsec != da->mtime_nsec)) {
		if (!fresh && !*fixed)
			ts_differ(t, "mtime %u.%09u / %u.%09u", sa->mtime_sec,
			       sa->mtime_nsec, da->mtime_sec, da->mtime_nsec);
		set.set_mtime = true;
		set.mtime_sec = sa->mtime_sec;
		set.mtime_nsec = sa->mtime_nsec;
	}
	/* set back after repaired entries moved it: no difference of its own */
	bool restore = false;

	if (sa->type == APL_NF3DIR && (fresh || inside ||
				       sa->mtime_sec != da->mtime_sec ||
				       sa->mtime_nsec != da->mtime_nsec)) {
		restore = sa->mtime_sec == da->mtime_sec &&
			  sa->mtime_nsec == da->mtime_nsec;
		if (!fresh && !restore)
			ts_differ(t, "directory mtime %u.%09u / %u.%09u",
			       sa->mtime_sec, sa->mtime_nsec, da->mtime_sec,
			       da->mtime_nsec);
		set.set_mtime = true;
		set.mtime_sec = sa->mtime_sec;
		set.mtime_nsec = sa->mtime_nsec;
	}
	if (!ts_fixing(t) || !(set.set_mode || set.set_uid || set.set_mtime))
		return 0;
	if (!restore || set.set_mode || set.set_uid)
		*fixed = true;
	if (sa->type == APL_NF3LNK)
		return 0;	/* NFSv3 SETATTR follows no symlink; skip */
	int rc = apl_rpc_setattr(&t->dst.rpc, dfh, &set);

	return rc ? ts_fail(t, &t->dst, "set attributes", rc) : 0;
}

/* The two objects' extended attributes (replica/treesync_xattr.c). */
static int sync_xattrs(struct ts *t, const struct apl_fh *sfh,
		       const struct apl_fh *dfh, bool fresh, bool *fixed)
{
	bool reread = !t->c->quick || fresh ||
		      (t->c->must_read && t->c->must_read(t->c->arg, sfh));
	const char *side = "source";
	bool xfixed = false;
	char what[160];
	int rc = tsx_pair(&t->x, sfh, dfh, reread, ts_fixing(t), what,
			  sizeof(what), &xfixed, &side);

	if (rc)
		return ts_fail(t, strcmp(side, "source") ? &t->dst : &t->src,
			    "xattrs of", rc);
	if (what[0] && !fresh)
		ts_differ(t, "%s", what);
	if (xfixed)
		*fixed = true;
	return 0;
}

/* Creates @name in @ddir like the source object; *dfh, *da describe it. */
static int create_like(struct ts *t, const struct apl_fh *ddir,
		       const char *name, const struct apl_fh *sfh,
		       const struct apl_attr *sa, struct apl_fh *dfh,
		       struct apl_attr *da)
{
	struct apl_sattr own = { .set_mode = true, .mode = sa->mode,
				 .set_uid = true, .uid = sa->uid,
				 .set_gid = true, .gid = sa->gid };
	size_t nl = strlen(name);
	char target[4096];
	size_t tl = 0;
	int rc;

	switch (sa->type) {
	case APL_NF3REG:
		rc = apl_rpc_create(&t->dst.rpc, ddir, name, nl, &own, dfh, da);
		break;
	case APL_NF3DIR:
		rc = apl_rpc_mkdir(&t->dst.rpc, ddir, name, nl, &own, dfh, da);
		break;
	case APL_NF3LNK:
		rc = apl_rpc_readlink(&t->src.rpc, sfh, target,
				      sizeof(target) - 1, &tl);
		if (rc)
			return ts_fail(t, &t->src, "read link", rc);
		rc = apl_rpc_symlink(&t->dst.rpc, ddir, name, nl, target, tl,
				     &own, dfh, da);
		break;
	default:
		rc = apl_rpc_mknod(&t->dst.rpc, ddir, name, nl, sa->type,
				   sa->rdev_major, sa->rdev_minor, &own, dfh,
				   da);
	}
	if (rc)
		return ts_fail(t, &t->dst, "create", rc);
	if (!da->valid)
		rc = apl_rpc_getattr(&t->dst.rpc, dfh, da);
	return rc ? ts_fail(t, &t->dst, "get attributes", rc) : 0;
}

static int sync_symlink(struct ts *t, const struct apl_fh *ddir,
			const char *name, const struct apl_fh *sfh,
			const struct apl_fh *dfh, bool *differs)
{
	char st[4096], dt[4096];
	size_t sl = 0, dl = 0;
	int rc = apl_rpc_readlink(&t->src.rpc, sfh, st, sizeof(st), &sl);

	if (rc)
		return ts_fail(t, &t->src, "read link", rc);
	rc = apl_rpc_readlink(&t->dst.rpc, dfh, dt, sizeof(dt), &dl);
	if (rc)
		return ts_fail(t, &t->dst, "read link", rc);
	*differs = sl != dl || memcmp(st, dt, sl);
	if (*differs)
		ts_differ(t, "symlink target '%.*s' / '%.*s'", (int)sl, st,
		       (int)dl, dt);
	return 0;
}

/* The entry's handle and attributes: from the listing (READDIRPLUS)
 * when the server gave them, else looked up.  -ENOENT: gone. */
static int entry_object(struct ts *t, struct ts_side *s,
			const struct apl_fh *dir, const struct apl_dirent *e,
			struct apl_fh *fh, struct apl_attr *a)
{
	int rc = 0;

	if (e->has_fh && e->attr.valid) {
		*fh = e->fh;
		*a = e->attr;
		return 0;
	}
	rc = apl_rpc_lookup(&s->rpc, dir, e->name, strlen(e->name), fh, a);
	if (!rc && !a->valid)
		rc = apl_rpc_getattr(&s->rpc, fh, a);
	return rc;
}

/* @se: the source entry; @de: the destination's entry of that name, or
 * NULL when the destination has none. */
static int compare_entry(struct ts *t, const struct apl_fh *sdir,
			 const struct apl_fh *ddir,
			 const struct apl_dirent *se,
			 const struct apl_dirent *de)
{
	const char *name = se->name;
	struct apl_fh sfh, dfh;
	struct apl_attr sa = { 0 }, da = { 0 };
	const struct ts_link *l, *c;
	const struct apl_fh *linked;
	bool present = false, fixed = false, fresh = false, redo = false;
	bool inside = false;
	int rc;

	t->counted = false;
	if (t->c->cancel && *t->c->cancel)
		return -ECANCELED;
	rc = entry_object(t, &t->src, sdir, se, &sfh, &sa);
	if (rc == -ENOENT)
		return 0;	/* gone since the listing */
	if (rc)
		return ts_fail(t, &t->src, "look up", rc);
	t->st->entries++;
	if (de) {
		rc = entry_object(t, &t->dst, ddir, de, &dfh, &da);
		if (rc && rc != -ENOENT)
			return ts_fail(t, &t->dst, "look up", rc);
		present = !rc;
	}
	rc = 0;
	l = sa.type == APL_NF3REG && sa.nlink > 1 ?
	    map_get(&t->links, sa.fileid) : NULL;
	linked = l ? &l->fh : NULL;
	/* A destination object with several names belongs to the first
	 * source object synced into it; another source object's name on it
	 * must not rewrite it (the other names would change too). */
	c = present && sa.type == APL_NF3REG && da.type == APL_NF3REG &&
	    da.nlink > 1 ? map_get(&t->claims, da.fileid) : NULL;
	if (present && sa.type != da.type) {
		ts_differ(t, "type %u / %u", sa.type, da.type);
		redo = true;
	} else if (present && linked && !apl_fh_eq(linked, &dfh)) {
		ts_differ(t, "not a hard link of the object it is linked to in "
		       "the source");
		redo = true;
	} else if (present && c && c->other != sa.fileid) {
		ts_differ(t, "a hard link of another object in the destination");
		redo = true;
	} else if (present && sa.type == APL_NF3LNK) {
		rc = sync_symlink(t, ddir, name, &sfh, &dfh, &redo);
	} else if (present && (sa.type == APL_NF3CHR ||
			       sa.type == APL_NF3BLK) &&
		   (sa.rdev_major != da.rdev_major ||
		    sa.rdev_minor != da.rdev_minor)) {
		ts_differ(t, "device %u,%u / %u,%u", sa.rdev_major,
		       sa.rdev_minor, da.rdev_major, da.rdev_minor);
		redo = true;
	} else if (!present) {
		/* one answer covers a directory's whole tree: say so */
		ts_differ(t, "missing in the destination%s",
			  sa.type == APL_NF3DIR ? ", with everything in it" :
			  "");
	}
	if (rc)
		return rc;
	if (redo && ts_fixing(t)) {
		rc = remove_tree(t, ddir, name);
		if (rc)
			return rc;
		present = false;
	}
	if (redo && !ts_fixing(t))
		return 0;
	if (linked && present) {
		tsx_mark(&t->x, &sfh, &dfh);
		paired(t, &sfh, &dfh);
		return 0;		/* the same object, synced already */
	}
	if (!present) {
		if (!ts_fixing(t))
			return 0;
		t->st->fixed++;
		if (linked) {
			rc = apl_rpc_link(&t->dst.rpc, linked, ddir, name,
					  strlen(name));
			if (rc)
				return ts_fail(t, &t->dst, "link", rc);
			tsx_mark(&t->x, &sfh, linked);
			paired(t, &sfh, linked);
			return 0;
		}
		rc = create_like(t, ddir, name, &sfh, &sa, &dfh, &da);
		if (rc)
			return rc;
		fresh = fixed = true;
	}
	if (sa.type == APL_NF3REG && sa.nlink > 1 &&
	    (rc = map_put(&t->links, sa.fileid, &dfh, 0)))
		return rc;
	if (sa.type == APL_NF3REG && da.fileid &&
	    (rc = map_put(&t->claims, da.fileid, NULL, sa.fileid)))
		return rc;
	if (sa.type == APL_NF3REG && !ts_unchanged(t, &sfh, &sa, &da, fresh))
		rc = ts_sync_bytes(t, &sfh, &sa, &dfh, &da, fresh, &fixed);
	else if (sa.type == APL_NF3DIR) {
		bool counted = t->counted, mine = t->fix_this;
		uint64_t fixed_before = t->st->fixed;

		rc = sync_dir(t, &sfh, &dfh, false);
		t->counted = counted;	/* the entries were counted apart */
		t->fix_this = mine;
		inside = t->st->fixed != fixed_before;
	}
	if (!rc)
		rc = sync_attrs(t, &dfh, &sa, &da, fresh, inside, &fixed);
	if (!rc)
		rc = sync_xattrs(t, &sfh, &dfh, fresh, &fixed);
	if (!rc && fixed && !fresh)
		t->st->fixed++;
	if (!rc)
		paired(t, &sfh, &dfh);
	return rc;
}

/* The caller's word on the object at t->path (ts_conf.want). */
static bool wanted(struct ts *t)
{
	return !t->c->repair || !t->c->want ||
	       t->c->want(t->c->arg, t->plen ? t->path : "/");
}

/* One source name: compared, and repaired if wanted; a directory's own
 * answer holds again for its attributes after its entries had theirs. */
static int sync_entry(struct ts *t, const struct apl_fh *sdir,
		      const struct apl_fh *ddir, const struct apl_dirent *se,
		      const struct apl_dirent *de)
{
	bool outer = t->fix_this;
	int rc;

	t->fix_this = outer && wanted(t);
	rc = compare_entry(t, sdir, ddir, se, de);
	t->fix_this = outer;
	return rc;
}

static int ent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct apl_dirent *)a)->name,
		      ((const struct apl_dirent *)b)->name);
}

static const struct apl_dirent *find_ent(const struct apl_dirents *d,
					 const char *name)
{
	struct apl_dirent key = { .name = (char *)name };

	return d->n ? bsearch(&key, d->v, d->n, sizeof(*d->v), ent_cmp) :
	       NULL;
}

/* ".ofsrep" at an export's root is ofsrep's own, on either side. */
static bool skipped(bool top, const char *name)
{
	return top && !strcmp(name, ".ofsrep");
}

/* The source is a live tree in an online resync: an object that went
 * away (ESTALE) while it was being compared is left to the next pass. */
static bool vanished(struct ts *t, const struct apl_fh *sdir,
		     const struct apl_dirent *se)
{
	struct apl_fh fh;
	struct apl_attr a = { 0 };
	int rc = apl_rpc_lookup(&t->src.rpc, sdir, se->name, strlen(se->name),
				&fh, &a);

	return rc == -ENOENT || (!rc && se->has_fh && !apl_fh_eq(&fh,
								 &se->fh));
}

static int sync_dir(struct ts *t, const struct apl_fh *sdir,
		    const struct apl_fh *ddir, bool top)
{
	struct apl_dirents sn, dn;
	int rc = apl_rpc_readdirplus(&t->src.rpc, sdir, &sn);

	if (rc)
		return ts_fail(t, &t->src, "read directory", rc);
	rc = apl_rpc_readdirplus(&t->dst.rpc, ddir, &dn);
	if (rc) {
		apl_dirents_free(&sn);
		return ts_fail(t, &t->dst, "read directory", rc);
	}
	if (sn.n)
		qsort(sn.v, sn.n, sizeof(*sn.v), ent_cmp);
	if (dn.n)
		qsort(dn.v, dn.n, sizeof(*dn.v), ent_cmp);
	/* Extra names first: a name the source has under another type may
	 * need the space (and a link its target) before it is made. */
	bool outer = t->fix_this;

	for (size_t i = 0; !rc && i < dn.n; i++) {
		size_t mark;

		if (skipped(top, dn.v[i].name) || find_ent(&sn, dn.v[i].name))
			continue;
		mark = path_push(t, dn.v[i].name);
		t->st->entries++;
		t->counted = false;
		t->fix_this = outer && wanted(t);
		ts_differ(t, "only in the destination%s",
			  dn.v[i].attr.valid && dn.v[i].attr.type ==
			  APL_NF3DIR ? ", with everything in it" : "");
		if (ts_fixing(t)) {
			rc = remove_tree(t, ddir, dn.v[i].name);
			t->st->fixed += !rc;
		}
		t->fix_this = outer;
		path_pop(t, mark);
	}
	for (size_t i = 0; !rc && i < sn.n; i++) {
		size_t mark;

		if (skipped(top, sn.v[i].name))
			continue;
		mark = path_push(t, sn.v[i].name);
		rc = sync_entry(t, sdir, ddir, &sn.v[i],
				find_ent(&dn, sn.v[i].name));
		if (rc == -ESTALE && t->c->live_source &&
		    vanished(t, sdir, &sn.v[i])) {
			t->err[0] = 0;
			t->st->fixed++;	/* not equal: another pass is due */
			rc = 0;
		}
		path_pop(t, mark);
	}
	apl_dirents_free(&sn);
	apl_dirents_free(&dn);
	return rc;
}

/* The blobs of removed objects (ts_conf.reclaim). */
static int reclaim(struct ts *t)
{
	struct tsx_orphans o;
	const char *side = "source";
	int rc;

	if (!t->c->reclaim || t->c->live_source || t->c->quick ||
	    (t->st->differences && (!t->c->repair || t->st->declined)))
		return 0;
	rc = tsx_reclaim(&t->x, false, &o, &side);
	t->st->xattr_orphans = o.src + o.dst;
	if (!rc && t->st->xattr_orphans &&
	    t->c->reclaim(t->c->arg, t->st->xattr_orphans)) {
		rc = tsx_reclaim(&t->x, true, &o, &side);
		t->st->xattr_reclaimed = o.src_removed + o.dst_removed;
	}
	t->plen = 0;
	return rc ? ts_fail(t, strcmp(side, "source") ? &t->dst : &t->src,
			 "remove a blob of a removed object from the xattr "
			 "store at", rc) : 0;
}

int ts_run(const struct ts_conf *conf, struct ts_stats *st, char *err,
	   size_t errlen)
{
	struct ts t = { .c = conf, .st = st, .err = err, .errlen = errlen,
			.fix_this = true };
	int rc;

	memset(st, 0, sizeof(*st));
	err[0] = 0;
	t.sbuf = malloc(TS_CHUNK);
	t.dbuf = malloc(TS_CHUNK);
	rc = t.sbuf && t.dbuf ? 0 : -ENOMEM;
	if (!rc)
		rc = side_open(&t, &t.src, conf->src_url, conf->src_path);
	if (!rc)
		rc = side_open(&t, &t.dst, conf->dst_url, conf->dst_path);
	if (!rc) {
		const char *side = "source";

		rc = tsx_open(&t.x, &t.src.rpc, &t.src.eroot, &t.dst.rpc,
			      &t.dst.eroot, &side);
		t.x_open = true;
		if (rc)
			ts_fail(&t, strcmp(side, "source") ? &t.dst : &t.src,
			     "list the xattr store at", rc);
	}
	if (!rc) {
		bool fixed = false;

		t.counted = false;
		t.fix_this = wanted(&t);	/* the roots' own attributes */
		rc = sync_xattrs(&t, &t.src.root, &t.dst.root, false, &fixed);
		t.st->fixed += fixed;
		t.fix_this = true;
	}
	if (!rc)
		paired(&t, &t.src.root, &t.dst.root);
	if (!rc)
		rc = sync_dir(&t, &t.src.root, &t.dst.root,
			      !strcmp(conf->src_path, "/") ||
			      !strcmp(conf->dst_path, "/"));
	if (!rc)
		rc = reclaim(&t);
	if (rc == -ECANCELED)
		snprintf(err, errlen, "interrupted at %s", t.plen ? t.path :
			 "/");
	else if (rc && !err[0])
		snprintf(err, errlen, "%s -> %s: at %s: %s", conf->src_url,
			 conf->dst_url, t.plen ? t.path : "/", strerror(-rc));
	ts_progress(&t, true);
	if (t.x_open)
		tsx_close(&t.x);
	side_close(&t.src);
	side_close(&t.dst);
	free(t.links.v);
	free(t.claims.v);
	free(t.sbuf);
	free(t.dbuf);
	if (rc && !err[0])
		snprintf(err, errlen, "%s", strerror(-rc));
	return rc;
}
