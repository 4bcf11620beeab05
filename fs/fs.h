/*
 * fs.h — the filesystem's shared state and the async op context.
 *
 * One struct fs_ctx per mount, reached from every FUSE handler through
 * fuse_req_userdata().  Every FUSE request that needs the server becomes a
 * struct fs_op: it is the libnfs private_data (through its embedded
 * rep_req) and carries everything needed to re-send the call after a
 * connection loss, so the FUSE request buffer may be reused at once.  Each
 * op ends in exactly one fuse_reply_* (op_reply_err or a success reply)
 * followed by op_free.
 */
#ifndef OFSREP_FS_H
#define OFSREP_FS_H

#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "fs/failback.h"
#include "fs/inode.h"
#include "fs/opts.h"
#include "journal/format.h"
#include "replica/export.h"
#include "replica/health.h"
#include "replica/jwriter.h"
#include "replica/mirror.h"
#include "replica/loop.h"

/* Which export serves the data path (fs/failover.c). */
enum fs_serve { SERVE_PRIMARY, SERVE_FREEZING, SERVE_CATCHUP, SERVE_MIRROR,
		SERVE_FAILBACK };

struct fs_ctx {
	struct fs_opts opts;
	struct fuse_session *se;
	struct ev_loop loop;
	struct rep_export primary;
	struct rep_export secondary;	/* the journal's export; carries
					 * only heartbeats (health) */
	struct health secondary_health;
	struct health primary_health;
	/* failover (fs/failover.c) */
	int serve;			/* enum fs_serve */
	struct rep_export *active;	/* primary, or secondary after a
					 * failover */
	struct rep_req *held_head;	/* requests held while freezing */
	struct rep_req *held_tail;
	unsigned held;
	uint64_t freeze_start_ms;
	uint64_t last_freeze_ms;	/* how long the last switch froze */
	uint64_t ho_target;		/* CATCHUP: seq asked of the keeper */
	uint64_t failovers;
	time_t last_failover;		/* 0: never, this mount */
	bool failover_blocked_logged;
	bool primary_unprobed;		/* unreachable at mount: no root
					 * handle; started on the mirror */
	bool primary_stale;		/* the split-brain marker was there
					 * at mount: started on the mirror */
	struct failback fb;		/* resync and failback */
	uint64_t primary_gen;		/* fs/split.c; 0: not read */
	uint64_t marker_gen;		/* the marker's, if one was found */
	/* Operations by era (fs/failback.c): a failback's freeze starts a
	 * new era and waits for the ops of the old one. */
	unsigned era;
	unsigned ops_live;		/* counted ops (op_new) alive */
	unsigned ops_live_cur;		/* of those, begun in this era */
	struct jwriter jw;		/* modes journal, full, async */
	struct mirror mirror;		/* applies jw's journal (not noapply) */
	bool journaling;		/* mode != FS_MODE_NONE */
	int mode;			/* enum fs_mode */
	struct ino_table inodes;
	struct fuse_buf fbuf;		/* FUSE receive buffer */
	size_t fbuf_cap;		/* its allocation size */
	struct ev_token *fuse_tok;	/* armed poll on /dev/fuse */
	uint64_t wb_max;		/* bytes, from opts.wb_max_mb */
	uint64_t silly_seq;		/* hidden-name counter */
	unsigned open_files;		/* open regular files, all inodes */
	unsigned draining;		/* unmount: COMMITs still running */
	unsigned mtime_pending;		/* release: mtime read-backs running */
	unsigned drops_pending;		/* xattr_drop.c: checks running */
	int ctl_fd;			/* control socket (fs/ctl.c), or -1 */
	struct ev_token *ctl_tok;	/* its armed accept poll */
	char ctl_path[108];
	bool drain_started;
	uint64_t drain_deadline_ms;
	/* fs/xattr.c: the handles of each export's xattr store, [0] the
	 * primary's, [1] the secondary's; malloc'ed on first use. */
	struct fs_xstore *xstores[2];
};

/* True while mutations become journal records: journal modes, until a
 * failover (after it the mirror is written directly). */
static inline bool fs_recording(const struct fs_ctx *fs)
{
	return fs->journaling && fs->serve != SERVE_MIRROR &&
	       fs->serve != SERVE_FAILBACK;
}

/* The primary is not to be served or waited for (fs/failover.c). */
static inline bool fs_primary_fenced(const struct fs_ctx *fs)
{
	return fs->primary_unprobed || fs->primary_stale;
}

/* Hidden names for files unlinked while open (NFS "silly rename"). */
#define FS_SILLY_PREFIX ".ofsrep-unlinked-"

/* ofsrep's own directory at an export's root: the mirror and journal on
 * the secondary, the primary's generation (fs/split.c) on the primary. */
#define FS_OWN_DIR ".ofsrep"

/* True for names in ofsrep's reserved namespace, which users may neither
 * see nor create: hidden names anywhere, FS_OWN_DIR in the root. */
static inline bool fs_reserved_name(const struct ino *dir,
				    const struct ino *root, const char *name)
{
	return !strncmp(name, FS_SILLY_PREFIX, sizeof(FS_SILLY_PREFIX) - 1) ||
	       (dir == root && !strcmp(name, FS_OWN_DIR));
}

enum fs_op_kind { OP_GENERIC, OP_WRITE, OP_COMMIT_WAIT };

struct fs_op {
	struct rep_req rr;		/* first: libnfs private_data */
	struct fs_ctx *fs;
	fuse_req_t req;			/* NULL for internal ops */
	struct ino *ino;		/* the object, or the parent dir */
	struct ino *ino2;		/* second dir (rename) or link target */
	struct ino *victim;		/* open file a remove/rename hides */
	char *name;			/* owned copies of the names */
	char *name2;
	mode_t mode;
	uid_t uid;
	gid_t gid;
	dev_t rdev;
	int flags;			/* open flags / rename flags */
	int to_set;			/* setattr mask */
	struct stat attr;		/* setattr values */
	off_t off;
	size_t size;
	char *data;			/* write payload / symlink / buffer */
	char *data_base;		/* if set, the allocation holding
					 * data (a stolen FUSE buffer) */
	struct fs_op *next;		/* commit-wait link */
	void (*resume)(struct fs_op *op);	/* after a COMMIT wait */
	struct fuse_file_info fi;
	bool has_fi;
	void *dir;			/* struct fs_dir for readdir */
	struct wb_chunk *chunks;	/* COMMIT round: chunks it covers */
	struct wb_chunk *cursor;	/* COMMIT round: next to re-send */
	char verf[NFS3_WRITEVERFSIZE];	/* COMMIT round: server verifier */
	/* Journal mode: the record of this op, and the reply that waits for
	 * it to be durable. */
	struct jw_wait jw;
	struct jnl_op jop;
	void (*ack)(struct fs_op *op);
	unsigned jw_pending;		/* records ack waits for (fsj_commit) */
	/* Directories this op changed, with their mtime after it as the
	 * primary's reply gave it (fsj_dir_changed). */
	struct fsj_dirtime {
		struct ino *dir;
		uint32_t sec, nsec;
	} dirt[2];
	unsigned ndirt;
	unsigned wj;			/* WRITE: WJ_* (wb_journal.c) */
	int wj_err;			/* WRITE: the primary's errno */
	/* Entry replies: the entry, the inode it names, and the hook that
	 * builds the record of a creating op once the new inode is known. */
	struct fuse_entry_param e;
	struct ino *entry_ino;
	bool entry_is_create;
	void (*journal_entry)(struct fs_op *op, struct ino *ino);
	int step;			/* multi-RPC ops: which call */
	unsigned era;			/* fs->era when begun (op_new) */
	bool era_counted;		/* in fs->ops_live */
	bool commit_round;		/* a COMMIT round (fs/wb.c) */
	/* A READ or WRITE sent as parts at once (fs/parts.c). */
	struct op_part *parts;
	unsigned parts_n;
	unsigned parts_left;		/* not yet ended */
	unsigned parts_answered;	/* WRITE: replies so far */
	int parts_err;			/* the first part's errno */
	void (*parts_end)(struct fs_op *op);
};

static inline struct fs_ctx *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* Counts @op (op->fs set) in its era: a failback's freeze holds it if
 * it begins during the freeze and waits for it otherwise (op_new does it;
 * internal ops that change the tree call it themselves). */
void op_count(struct fs_op *op);
struct fs_op *op_new(fuse_req_t req, struct ino *ino,
		     int (*send)(struct rep_req *, struct rpc_context *, rpc_cb),
		     void (*done)(struct rep_req *, void *));
void op_free(struct fs_op *op);
void op_submit(struct fs_op *op);
/* op_submit for a call of op's that is not op->rr (a part). */
void op_submit_req(struct fs_op *op, struct rep_req *rr);

/* fs/parts.c: a large READ or WRITE as parallel calls.  op_parts_send
 * splits [op->off, op->off + op->size) and sends the parts (false: not
 * worth it, send op whole); each part's send finds its range with
 * op_part_op, its done hook ends it with op_part_more (bytes answered,
 * EOF) or op_part_end (errno); @end runs once all have ended, with
 * op->parts_err and op->step set. */
#define PARTS_MIN (256 * 1024)
bool op_parts_send(struct fs_op *op,
		   int (*send)(struct rep_req *, struct rpc_context *, rpc_cb),
		   void (*done)(struct rep_req *, void *),
		   void (*end)(struct fs_op *));
struct fs_op *op_part_op(struct rep_req *r, size_t *off, size_t *len);
void op_part_more(struct rep_req *r, size_t got, bool eof);
void op_part_end(struct rep_req *r, int err);
/* Re-targets @op at another RPC and submits it. */
void op_chain(struct fs_op *op,
	      int (*send)(struct rep_req *, struct rpc_context *, rpc_cb),
	      void (*done)(struct rep_req *, void *));
void op_reply_err(struct fs_op *op, int err);

/* attr.c */
int fs_nfs_errno(int nfsstat);
void fs_fattr_to_stat(const struct fattr3 *fa, struct stat *st);
void fs_sattr_init(struct sattr3 *sa);
void fs_sattr_owner(struct sattr3 *sa, mode_t mode, uid_t uid, gid_t gid);
/* Replies with an entry for (fh, attrs) or, if the server left either
 * out, finishes with a LOOKUP of op->name in op->ino. */
void fs_reply_entry(struct fs_op *op, const struct post_op_fh3 *fh,
		    const struct post_op_attr *attr, bool is_create);
void fs_entry_fill(struct fs_ctx *fs, struct fuse_entry_param *e,
		   struct ino *ino, const struct fattr3 *fa);
/* Records what the inode's attributes say (mode, gid for set-gid
 * inheritance) and adjusts @st for a hidden unlinked file (nlink). */
void fs_ino_seen(struct ino *ino, struct stat *st);
/* Sets op->mode/uid/gid for a new object in op->ino: the caller's ids and
 * umask, except that a set-gid directory passes on its group (and, to new
 * directories, its set-gid bit), as a local filesystem does. */
void fs_new_owner(struct fs_op *op, mode_t mode);

/* ops_entry.c, ops_file.c, ops_dir.c */
extern const struct fuse_lowlevel_ops fs_ops;
void fs_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void fs_op_forget_multi(fuse_req_t req, size_t count,
			struct fuse_forget_data *forgets);
void fs_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		   int to_set, struct fuse_file_info *fi);
void fs_op_readlink(fuse_req_t req, fuse_ino_t ino);
void fs_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		 mode_t mode, dev_t rdev);
void fs_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		 mode_t mode);
void fs_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void fs_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		   const char *name);
void fs_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		  fuse_ino_t newparent, const char *newname,
		  unsigned int flags);
void fs_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		const char *newname);
void fs_op_statfs(fuse_req_t req, fuse_ino_t ino);
void fs_op_access(fuse_req_t req, fuse_ino_t ino, int mask);

void fs_op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		  mode_t mode, struct fuse_file_info *fi);
void fs_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		struct fuse_file_info *fi);
void fs_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
		 size_t size, off_t off, struct fuse_file_info *fi);
void fs_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_release(fuse_req_t req, fuse_ino_t ino,
		   struct fuse_file_info *fi);
void fs_op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		 struct fuse_file_info *fi);

void fs_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void fs_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		   struct fuse_file_info *fi);
void fs_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, struct fuse_file_info *fi);
void fs_op_releasedir(fuse_req_t req, fuse_ino_t ino,
		      struct fuse_file_info *fi);
void fs_op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		    struct fuse_file_info *fi);

/* xattr.c: extended attributes, kept in each export's xattr store */
void fs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    const char *value, size_t size, int flags);
void fs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		    size_t size);
void fs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void fs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);
void fs_xattr_free(struct fs_ctx *fs);
/* xattr_drop.c: FORGET, which drops the blob of an inode that is gone;
 * and the same check for an inode nobody references any more. */
void fs_forget(struct fs_ctx *fs, struct ino *ino, uint64_t n);
void fs_xattr_drop_if_gone(struct fs_ctx *fs, struct ino *ino);

/* journal.c: journal mode (see there) */
uint64_t fsj_fid(struct fs_ctx *fs, struct ino *ino);
void fsj_bind(struct fs_ctx *fs, struct ino *dir, const char *name,
	      struct ino *ino);
void fsj_commit(struct fs_op *op, void (*ack)(struct fs_op *op));
/* Notes that @op changed directory @dir, whose attributes after it the
 * primary's reply carries in @after (fsj_commit journals its mtime). */
void fsj_dir_changed(struct fs_op *op, struct ino *dir,
		     const struct post_op_attr *after);
int fs_getattr_send(struct rep_req *r, struct rpc_context *rpc, rpc_cb cb);

/* failover.c */
const char *fs_serve_name(int serve);
void fs_hold(struct fs_ctx *fs, struct rep_req *r);
void fs_resubmit_held(struct fs_ctx *fs, struct rep_export *to);
void fs_failover_pump(struct fs_ctx *fs);
/* split.c: the marker that makes a failed-over primary stale */
void fs_stale_marker(struct fs_ctx *fs, uint64_t seq, char *buf);

/* ctl.c, status.c, status_cli.c: `ofsrep status` */
#define FS_CTL_DIR "/run/ofsrep"
int fs_ctl_path(const char *mountpoint, char *buf, size_t size);
void fs_ctl_start(struct fs_ctx *fs);
void fs_ctl_stop(struct fs_ctx *fs);
void fs_ctl_pump(struct fs_ctx *fs);
int fs_status(struct fs_ctx *fs, bool json, char *buf, size_t size);
/* fs/split.c: the primary's generation on @url (@renew: a new one), and
 * the mount-time split-brain check (-EEXIST with one line in @err). */
int fs_primary_gen_at(const char *url, uint32_t node, int timeout_ms,
		      bool renew, uint64_t *gen, char *err, size_t errlen);
int fs_split_check(struct fs_ctx *fs, char *err, size_t errlen);
int fs_failback_main(int argc, char **argv);
int fs_status_main(int argc, char **argv);

/* wb_journal.c: a WRITE's record, sent alongside the primary WRITE */
#define WJ_SENT		1u
#define WJ_DURABLE	2u
#define WJ_PRIMARY	4u
void wbj_submit(struct fs_op *op);
void wbj_primary_done(struct fs_op *op, int err);
void wb_write_acked(struct fs_op *op);
void fsj_note(struct fs_ctx *fs, const struct jnl_op *op);
void fsj_bindfh(struct fs_ctx *fs, struct ino *ino, const void *fh,
		uint32_t fh_len);
void fsj_entry_record(struct fs_op *op, struct ino *ino, unsigned type);
void fsj_names(struct fs_op *op, unsigned type, struct ino *dir,
	       const char *name, struct ino *newdir, const char *newname);

/* ops_remove.c: removes a hidden (silly-renamed) file after last close */
void fs_silly_remove(struct fs_ctx *fs, struct ino *ino);

/* wb.c: unstable-write retention and COMMIT */
void wb_write(struct fs_op *op);
/* Runs op->resume(op) once every unstable write of op->ino is committed
 * (re-sending them first if the server's verifier changed). */
void wb_commit_then(struct fs_op *op, void (*resume)(struct fs_op *));
void wb_drop(struct fs_ctx *fs, struct ino *ino);
/* At unmount: starts a COMMIT for every inode holding data; returns how
 * many are running (fs->draining counts down as they finish). */
unsigned wb_drain_all(struct fs_ctx *fs);

#endif
