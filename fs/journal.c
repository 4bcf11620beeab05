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

/* A record nobody waits for: its storage lives until it is encoded. */
struct fsj_note {
	struct jw_wait w;
	struct jnl_op op;
	char name[256];
	char name2[256];
};

static void note_ack(struct jw_wait *w)
{
	free(w);
}

void fsj_note(struct fs_ctx *fs, const struct jnl_op *op)
{
	struct fsj_note *n = calloc(1, sizeof(*n));

	if (!n) {
		syslog(LOG_CRIT, "journal: out of memory for a %s record",
		       jnl_type_name(op->type));
		return;
	}
	n->op = *op;
	/* Copy the names: the caller's may not outlive the encoding. */
	if (op->type == JNL_OP_SETATTR) {
		/* no names */
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
	struct fs_op *op = (struct fs_op *)((char *)w -
					    offsetof(struct fs_op, jw));

	op->ack(op);
}

void fsj_commit(struct fs_op *op, void (*ack)(struct fs_op *op))
{
	if (!fs_recording(op->fs)) {
		ack(op);
		return;
	}
	op->ack = ack;
	op->jw.op = &op->jop;
	op->jw.ack = commit_ack;
	op->jw.early = op->fs->mode == FS_MODE_ASYNC;
	jw_submit(&op->fs->jw, &op->jw);
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
