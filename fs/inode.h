/*
 * inode.h — the FUSE inode table (see inode.c).
 */
#ifndef OFSREP_INODE_H
#define OFSREP_INODE_H

#include <fuse_lowlevel.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "journal/xattr_set.h"
#include "replica/nfsx.h"

#define INO_FH_MAX NFS3_FHSIZE

struct wb_chunk;
struct fs_op;

/* The inode's extended attributes as last read or written (fs/xattr.c):
 * malloc'ed on first use, freed with the inode. */
struct ino_xattr {
	struct xset set;
	bool loaded;
	const void *exp;		/* the export they came from */
	uint64_t expires_ms;		/* CLOCK_MONOTONIC; reload after */
	bool have_blob;			/* the blob file's handle is known */
	uint32_t blob_len;
	char blob_fh[INO_FH_MAX];
	bool busy;			/* a change is being written */
	struct fs_op *wait_head;	/* changes waiting for it, by ->next */
	struct fs_op *wait_tail;
};

struct ino {
	struct ino *hnext;		/* hash chain */
	uint64_t nlookup;		/* kernel's lookup count */
	uint64_t generation;		/* FUSE generation of this nodeid */
	uint64_t fileid;		/* NFS fileid on the primary */
	uint32_t fh_len;
	char fh[INO_FH_MAX];		/* primary NFS file handle */
	unsigned open_count;		/* open files (not dirs) */
	bool is_dir;
	struct stat last_attr;		/* last attributes the server gave */
	bool have_attr;
	/* Unstable writes not yet covered by a COMMIT, oldest first
	 * (fs/wb.c).  Kept so they can be re-sent if the server restarts. */
	struct wb_chunk *wb_head;
	struct wb_chunk *wb_tail;
	uint64_t wb_bytes;
	unsigned wb_inflight;		/* WRITEs sent, not yet answered */
	struct fs_op *commit_waiters;	/* ops waiting on a COMMIT */
	struct fs_op *write_waiters;	/* WRITEs held during a re-send */
	bool commit_running;
	bool resending;			/* re-sending after a restart */
	/* Internal operations in progress on this inode (COMMIT round,
	 * removal of its hidden name): it may not be freed meanwhile. */
	unsigned pins;
	bool bound;			/* its fid is known to the journal */
	bool mtime_dirty;		/* written since its mtime was last
					 * journaled (ops_file.c release) */
	/* Set when unlinked (or renamed over) while open: the file lives on
	 * under a hidden name in @silly_dir until the last close. */
	bool silly;
	uint32_t silly_dir_len;
	char silly_dir_fh[INO_FH_MAX];
	char *silly_name;
	struct ino_xattr *xattr;	/* NULL until asked for */
};

struct ino_table {
	struct ino **buckets;
	size_t nbuckets;
	size_t count;
	uint64_t next_generation;
	/* XORed into the fileid of inodes first seen after a failover, so
	 * they cannot take the st_ino of a primary object still known. */
	uint64_t fileid_flip;
	struct ino root;
};

int ino_table_init(struct ino_table *t, const void *root_fh, uint32_t len);
void ino_table_free(struct ino_table *t);

/* The inode for a FUSE nodeid (FUSE_ROOT_ID is the root). */
struct ino *ino_get(struct ino_table *t, fuse_ino_t nodeid);
fuse_ino_t ino_nodeid(struct ino_table *t, struct ino *ino);

/* Finds the inode for @fh or creates it, and takes one lookup reference.
 * Returns NULL on ENOMEM. */
struct ino *ino_ref_fh(struct ino_table *t, const void *fh, uint32_t len,
		       uint64_t fileid);
/* Finds without referencing; NULL if absent. */
struct ino *ino_find_fh(struct ino_table *t, const void *fh, uint32_t len);

/* Drops @n lookup references; frees the inode at zero unless it is still
 * open.  Aborts on underflow: that is a bug, not a runtime condition. */
void ino_forget(struct ino_table *t, struct ino *ino, uint64_t n);

/* Frees @ino if nothing (kernel reference, open file, pending write)
 * holds it any more. */
void ino_maybe_free(struct ino_table *t, struct ino *ino);

/* Failover: @fn may change the handle of the root and of every inode
 * (fh, fh_len); the hash is rebuilt for the new handles.  Nodeids,
 * generations and every other field stay. */
void ino_table_rekey(struct ino_table *t,
		     void (*fn)(void *arg, struct ino *ino), void *arg);

/* Calls @fn for the root and every inode; @fn must not change handles. */
void ino_table_each(struct ino_table *t,
		    void (*fn)(void *arg, struct ino *ino), void *arg);

/* Frees what the inode owns besides itself (names, caches). */
void ino_release(struct ino *ino);

/* An nfs_fh3 view of the inode's handle (valid while the inode lives). */
struct nfs_fh3 ino_fh3(struct ino *ino);

#endif
