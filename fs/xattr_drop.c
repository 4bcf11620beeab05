/*
 * xattr_drop.c — the blob of an object that is gone goes with it.
 *
 * An object's extended attributes live in a blob of the export's xattr
 * store (fs/xattr.c), named after the object's handle.  NFS tells nobody
 * when an object's last name goes, so the blob would outlive the object
 * until ofsrep-fsck --verify reclaims it offline; on a Samba share, where
 * every file gets DOS attributes, that is one orphan blob per deleted
 * file.  So when the kernel forgets an inode (FORGET down to no lookups:
 * it was evicted, which an unlinked inode is at once) whose blob this
 * mount knows to exist on the served export, the daemon asks that export
 * for the object:
 *
 *   GETATTR object -> alive: nothing to do (the kernel only evicted it)
 *                  -> ESTALE: gone.  DROP (fs/xattr_io.c): LOOKUP the
 *                     store's levels -> REMOVE the blob's name; then, in
 *                     journal mode, an XATTRS record with the empty set,
 *                     on which the mirror keeper removes the mirror's blob
 *                     (replica/apl_data.c apl_xattrs).
 *
 * A file unlinked while open is checked once its hidden name is removed
 * at the last close (ops_remove.c).  The inode is pinned until the check
 * ends, so its handle and fid stay known.  Failures are logged and leave
 * the blob to the offline reclaim; no application waits for this (an
 * unmount does, within its drain bound).  The kernel sends no FORGET
 * while it unmounts (SB_ACTIVE is off), so an unmount costs no checks.
 *
 * Only blobs this mount knows of are dropped: an object removed without
 * its attributes having been read through this mount (by another node,
 * before the mount, or by a client that never asked) keeps its blob until
 * `ofsrep-fsck --verify -p`.  Samba reads an object's DOS attributes when
 * it opens it, and deletes by open + delete-on-close, so the files it
 * deletes are known.
 */
#include "fs/xattr.h"

#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#define OP_OF(r) XA_OP(r)

/* This mount knows @ino has a blob on the served export. */
static bool blob_known(struct fs_ctx *fs, struct ino *ino)
{
	struct ino_xattr *x = ino->xattr;

	return ino != &fs->inodes.root && x && !x->busy && !x->wait_head &&
	       x->exp == fs->active &&
	       (x->have_blob || (x->loaded && x->set.count));
}

void xa_drop_end(struct fs_op *op, int err)
{
	struct fs_ctx *fs = op->fs;
	struct ino *ino = op->ino;
	struct xa_job *j = xa_job_of(op);

	if (j && !err && fs_recording(fs) && ino->bound) {
		struct jnl_op rec = { .type = JNL_OP_XATTRS };

		rec.u.xattrs.fid = fsj_fid(fs, ino);
		fsj_note(fs, &rec);
	} else if (j && err) {
		syslog(LOG_WARNING, "xattr: %s export: the blob %s/%s of a "
		       "removed object stays (%s); ofsrep-fsck --verify -p "
		       "reclaims it", j->exp ? j->exp->name : "served",
		       j->hh, j->file, strerror(err));
	}
	if (j) {
		free(j->buf);
		xset_free(&j->next);
		free(j);
		op->dir = NULL;
	}
	ino->pins--;
	fs->drops_pending--;
	op_free(op);
	ino_maybe_free(&fs->inodes, ino);
}

static void drop_fail(struct rep_req *r, int err)
{
	xa_drop_end(OP_OF(r), err);
}

static void drop_getattr_done(struct rep_req *r, void *data)
{
	struct fs_op *op = OP_OF(r);
	GETATTR3res *res = data;
	struct xa_job *j;

	if (res->status != NFS3ERR_STALE) {
		xa_drop_end(op, 0);	/* alive (or unknown): keep it */
		return;
	}
	j = calloc(1, sizeof(*j));
	if (!j) {
		xa_drop_end(op, 0);
		return;
	}
	j->kind = XA_DROP;
	op->dir = j;
	xa_continue(op);
}

/* Checks whether @ino (no lookups left, pinned by the caller's rules:
 * see fs_forget) is gone, and drops its blob if so. */
static void drop_check(struct fs_ctx *fs, struct ino *ino)
{
	struct fs_op *op = calloc(1, sizeof(*op));

	if (!op) {
		ino_maybe_free(&fs->inodes, ino);	/* no check, no leak */
		return;
	}
	op->fs = fs;
	op->ino = ino;
	op_count(op);
	ino->pins++;
	fs->drops_pending++;	/* an unmount waits for it (fs/main.c) */
	op->rr.send = fs_getattr_send;
	op->rr.done = drop_getattr_done;
	op->rr.fail = drop_fail;
	op_submit(op);
}

void fs_forget(struct fs_ctx *fs, struct ino *ino, uint64_t n)
{
	/* a hidden file is checked when its hidden name is gone */
	if (n && n == ino->nlookup && !ino->open_count && !ino->silly &&
	    blob_known(fs, ino)) {
		ino->nlookup = 0;
		drop_check(fs, ino);
		return;
	}
	ino_forget(&fs->inodes, ino, n);
}

void fs_xattr_drop_if_gone(struct fs_ctx *fs, struct ino *ino)
{
	if (!ino->nlookup && !ino->open_count && blob_known(fs, ino))
		drop_check(fs, ino);
}
