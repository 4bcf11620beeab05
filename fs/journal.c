/*
 * journal.c — journal mode: every mutation the primary confirmed becomes a
 * record in this node's journal on the secondary (replica/jwriter.c), and
 * the application's reply waits until that record is durable.  This is
 * the "journal" mode of the brief: acknowledged = durable in the
 * secondary's journal and done on the primary.
 *
 * File ids (journal/format.h FILE IDENTITY).  A fid is the inode's
 * generation + 1: the inode table never reuses a generation within a run,
 * and each run is a new journal epoch (W2).  The root is fid 1.  Objects
 * the kernel learns without creating them here (lookup, readdirplus) get
 * a BIND record when first seen in the run, so the applier can map the fid
 * from (parent fid, name) at that point of the stream; creating records
 * introduce their fids themselves.
 *
 * Order.  Records are appended when the primary answers, in the order the
 * answers arrive on the loop thread; the kernel serialises conflicting
 * operations (directory and inode locks), so this order is one the live
 * tree went through.
 *
 * Directory mtimes.  A directory's mtime on the primary moves with every
 * name made or removed in it, at the server's clock, and the applier's
 * own calls would move the mirror's at its clock.  So each op that
 * changes a directory other than the root keeps the directory's mtime
 * from the primary's reply (fsj_dir_changed), and fsj_commit journals it
 * as a SETATTR (mask JNL_SA_MTIME) right after the op's own record; the
 * reply to the application waits for that one too, so a crash cannot
 * keep the change and lose the time.  The kernel holds a directory's
 * lock across each op that changes it, so those records come in the
 * order of the primary's times.  The root is left out: the export's
 * root also holds ".ofsrep" and the hidden names, which differ between
 * the two exports by design (and tools/fsck compares no root times).
 *
 * Modes (fs/opts.h enum fs_mode).  journal and full: the reply waits for
 * the record to be durable.  async: the reply waits only until the record
 * is encoded into the writer's group buffer (jw_wait.early), so the lag
 * is at most the two group buffers; a record that finds both full waits
 * like in journal mode.  full differs from journal in the primary path
 * only (fs/wb.c: FILE_SYNC writes).
 */
#include "fs/fs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

uint64_t fsj_fid(struct fs_ctx *fs, struct ino *ino)
{
	return ino == &fs->inodes.root ? JNL_FID_ROOT : ino->generation + 1;
}

static struct jnl_str str_of(const char *s)
{
	return (struct jnl_str){ .ptr = s, .len = s ? strlen(s) : 0 };
}

/* A record nobody waits for (or, with @waiter, an op's reply: see
 * fsj_commit): its storage lives until it is encoded. */
struct fsj_note {
	struct jw_wait w;
	struct jnl_op op;
	struct fs_op *waiter;
	char name[256];
	char name2[256];
};

static void fsj_acked(struct fs_op *op)
{
	if (--op->jw_pending == 0)
		op->ack(op);
}

static void note_ack(struct jw_wait *w)
{
	struct fsj_note *n = (struct fsj_note *)w;
	struct fs_op *waiter = n->waiter;

	free(n);
	if (waiter)
		fsj_acked(waiter);
}

static struct fsj_note *note_new(const struct jnl_op *op)
{
	struct fsj_note *n = calloc(1, sizeof(*n));

	if (!n)
		syslog(LOG_CRIT, "journal: out of memory for a %s record",
		       jnl_type_name(op->type));
	return n;
}

void fsj_note(struct fs_ctx *fs, const struct jnl_op *op)
{
	struct fsj_note *n = note_new(op);

	if (!n)
		return;
	n->op = *op;
	/* Copy the names: the caller's may not outlive the encoding. */
	if (op->type == JNL_OP_SETATTR ||
	    (op->type == JNL_OP_XATTRS && !op->u.xattrs.set_len)) {
		/* no names (an XATTRS note is a dropped blob's empty set) */
	} else if (op->type == JNL_OP_BINDFH) {
		memcpy(n->name, op->u.handle.fh, op->u.handle.fh_len);
		n->op.u.handle.fh = (const uint8_t *)n->name;
	} else if (op->type == JNL_OP_RENAME) {
		memcpy(n->name, op->u.rename.name.ptr, op->u.rename.name.len);
		memcpy(n->name2, op->u.rename.newname.ptr,
		       op->u.rename.newname.len);
		n->op.u.rename.name.ptr = n->name;
		n->op.u.rename.newname.ptr = n->name2;
	} else {
		memcpy(n->name, op->u.link.name.ptr, op->u.link.name.len);
		n->op.u.link.name.ptr = n->name;
	}
	n->w.op = &n->op;
	n->w.ack = note_ack;
	jw_submit(&fs->jw, &n->w);
}

void fsj_bind(struct fs_ctx *fs, struct ino *dir, const char *name,
	      struct ino *ino)
{
	struct jnl_op op = { .type = JNL_OP_BIND };

	if (!fs_recording(fs) || ino->bound || ino == &fs->inodes.root ||
	    !name || !strcmp(name, ".") || !strcmp(name, ".."))
		return;
	op.u.link.parent = fsj_fid(fs, dir);
	op.u.link.fid = fsj_fid(fs, ino);
	op.u.link.name = str_of(name);
	ino->bound = true;
	fsj_note(fs, &op);
}

/* Failback (fs/failback.c): @ino, learned while the mirror was served
 * directly, is introduced by its mirror handle @fh. */
void fsj_bindfh(struct fs_ctx *fs, struct ino *ino, const void *fh,
		uint32_t fh_len)
{
	struct jnl_op op = { .type = JNL_OP_BINDFH };

	op.u.handle.fid = fsj_fid(fs, ino);
	op.u.handle.fh = fh;
	op.u.handle.fh_len = fh_len;
	ino->bound = true;
	fsj_note(fs, &op);
}

static void commit_ack(struct jw_wait *w)
{
	fsj_acked((struct fs_op *)((char *)w - offsetof(struct fs_op, jw)));
}

void fsj_dir_changed(struct fs_op *op, struct ino *dir,
		     const struct post_op_attr *after)
{
	const struct fattr3 *fa = &after->post_op_attr_u.attributes;
	unsigned i = 0;

	if (!fs_recording(op->fs) || dir == &op->fs->inodes.root ||
	    !after->attributes_follow || fa->type != NF3DIR)
		return;
	while (i < op->ndirt && op->dirt[i].dir != dir)
		i++;
	if (i == sizeof(op->dirt) / sizeof(op->dirt[0]))
		return;
	op->ndirt += i == op->ndirt;
	op->dirt[i] = (struct fsj_dirtime){ .dir = dir,
		.sec = fa->mtime.seconds, .nsec = fa->mtime.nseconds };
}

void fsj_commit(struct fs_op *op, void (*ack)(struct fs_op *op))
{
	struct fsj_note *dirs[2];
	unsigned n = 0;
	bool early = op->fs->mode == FS_MODE_ASYNC;
	struct jwriter *jw = &op->fs->jw;	/* op may be gone after submit */

	if (!fs_recording(op->fs)) {
		op->ndirt = 0;
		ack(op);
		return;
	}
	/* Built before anything is submitted: an early ack may free op. */
	for (unsigned i = 0; i < op->ndirt; i++) {
		struct jnl_op sa = { .type = JNL_OP_SETATTR };

		sa.u.setattr.fid = fsj_fid(op->fs, op->dirt[i].dir);
		sa.u.setattr.mask = JNL_SA_MTIME;
		sa.u.setattr.mtime_sec = op->dirt[i].sec;
		sa.u.setattr.mtime_nsec = op->dirt[i].nsec;
		dirs[n] = note_new(&sa);
		if (!dirs[n])
			continue;
		dirs[n]->op = sa;
		dirs[n]->w.op = &dirs[n]->op;
		dirs[n]->w.ack = note_ack;
		n++;
	}
	op->ndirt = 0;
	op->ack = ack;
	op->jw.op = &op->jop;
	op->jw.ack = commit_ack;
	op->jw.early = early;
	/* The reply waits for the last directory time as well (unless
	 * async, whose reply waits for nothing durable). */
	op->jw_pending = 1 + (n && !early);
	if (n && !early)
		dirs[n - 1]->waiter = op;
	jw_submit(jw, &op->jw);
	for (unsigned i = 0; i < n; i++)
		jw_submit(jw, &dirs[i]->w);
}

/* The record of a creating op (CREATE, MKDIR, MKNOD, SYMLINK) for its new
 * inode @ino, in op->jop. */
void fsj_entry_record(struct fs_op *op, struct ino *ino, unsigned type)
{
	struct jnl_op_entry *e = &op->jop.u.entry;
	static const mode_t type_bits[] = {
		[JNL_OP_CREATE] = S_IFREG, [JNL_OP_MKDIR] = S_IFDIR,
		[JNL_OP_SYMLINK] = S_IFLNK, [JNL_OP_MKNOD] = 0,
	};

	memset(&op->jop, 0, sizeof(op->jop));
	op->jop.type = type;
	e->parent = fsj_fid(op->fs, op->ino);
	e->fid = fsj_fid(op->fs, ino);
	e->mode = (type == JNL_OP_MKNOD ? (op->mode & S_IFMT) :
		   type_bits[type]) | (op->mode & 07777);
	if (type == JNL_OP_SYMLINK)
		e->mode = S_IFLNK | 0777;
	if (type == JNL_OP_MKNOD && (S_ISCHR(op->mode) || S_ISBLK(op->mode)))
		e->rdev = op->rdev;
	e->uid = op->uid;
	e->gid = op->gid;
	e->name = str_of(op->name);
	if (type == JNL_OP_SYMLINK)
		e->target = str_of(op->data);
	/* Made on the served mirror, it was journaled by nobody: a failback
	 * introduces it by handle (fsj_bindfh). */
	ino->bound = fs_recording(op->fs);
}

/* UNLINK, RMDIR (dir/name) and RENAME (dir/name -> newdir/newname). */
void fsj_names(struct fs_op *op, unsigned type, struct ino *dir,
	       const char *name, struct ino *newdir, const char *newname)
{
	memset(&op->jop, 0, sizeof(op->jop));
	op->jop.type = type;
	if (type == JNL_OP_RENAME) {
		op->jop.u.rename.parent = fsj_fid(op->fs, dir);
		op->jop.u.rename.newparent = fsj_fid(op->fs, newdir);
		op->jop.u.rename.name = str_of(name);
		op->jop.u.rename.newname = str_of(newname);
		return;
	}
	op->jop.u.link.parent = fsj_fid(op->fs, dir);
	op->jop.u.link.name = str_of(name);
}
