/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * replica/apl_rpc.h: raw NFSv3 calls for the mirror applier, synchronous
 * to the caller, over a jstore's connection (replica/jstore.h).
 *
 * Two kinds of call:
 *   - synchronous: apl_rpc_lookup() ... apl_rpc_readdir() queue one
 *     rpc_nfs3_*_async() call in the reserved slot 0 and drive the
 *     connection with jstore_drive() until it is answered;
 *   - windowed: apl_rpc_write_start() and apl_rpc_commit_start() queue a
 *     WRITE or COMMIT in one of up to APL_RPC_WINDOW slots and return at
 *     once (waiting only for a free slot); apl_rpc_drain() waits for all.
 *     A completed windowed call is handed to the caller's done function
 *     from normal context (never from a libnfs callback, so it may queue
 *     new calls).  A short WRITE is re-sent for its remainder here, and
 *     every WRITE and COMMIT verifier is compared with the first one seen
 *     since apl_rpc_verf_reset(): a change means the server restarted and
 *     may have lost UNSTABLE data (apl_rpc_verf_changed()).
 *
 * Every libnfs callback only copies the reply into its slot (READ data,
 * READLINK text and READDIR names included: they point into libnfs's
 * receive buffer).  Slots live until apl_rpc_fini(), which the caller
 * runs after jstore_close(): closing cancels calls still in flight and
 * runs their callbacks.
 *
 * Errors: 0 or -errno.  NFS errors map to errno (NFS3ERR_NOENT ->
 * -ENOENT, NFS3ERR_STALE -> -ESTALE, ...; the nfsstat3 is kept in
 * apl_rpc.last_nfs).  A lost connection, an RPC error or a timeout marks
 * the jstore broken (a timed-out request may have left half a message in
 * the TCP stream) and returns -ECONNRESET, -EIO or -ETIMEDOUT; every
 * later call fails with -ENOTCONN.  apl_rpc.msg holds libnfs's text for
 * the last RPC-level failure.
 *
 * Not thread-safe: one struct apl_rpc per jstore, one thread.
 */
#ifndef OFSREP_APL_RPC_H
#define OFSREP_APL_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "replica/jstore.h"

#define APL_FH_MAX	64	/* NFS3_FHSIZE */
#define APL_RPC_WINDOW	8	/* windowed calls in flight */
#define APL_VERF_SIZE	8	/* NFS3_WRITEVERFSIZE */
/* libnfs 4.0 encodes a SYMLINK call into a fixed 4 KiB buffer (handle,
 * name, credentials and target together; fs/ops_entry.c measured it): a
 * longer target could not even be queued, so it is refused before. */
#define APL_SYMLINK_MAX	3584

/* An NFSv3 file handle, by value. */
struct apl_fh {
	uint32_t len;
	uint8_t data[APL_FH_MAX];
};

/* NFSv3 object types (ftype3) */
enum apl_ftype {
	APL_NF3REG = 1,
	APL_NF3DIR = 2,
	APL_NF3BLK = 3,
	APL_NF3CHR = 4,
	APL_NF3LNK = 5,
	APL_NF3SOCK = 6,
	APL_NF3FIFO = 7,
};

/* The fattr3 fields the applier uses. */
struct apl_attr {
	bool valid;		/* the server sent attributes */
	uint32_t type;		/* enum apl_ftype */
	uint32_t mode;		/* permission bits, 07777 */
	uint32_t nlink;
	uint32_t uid;
	uint32_t gid;
	uint64_t size;		/* bytes */
	uint32_t rdev_major;	/* specdata1 */
	uint32_t rdev_minor;	/* specdata2 */
	uint64_t fileid;
	uint32_t mtime_sec;
	uint32_t mtime_nsec;
};

/* What SETATTR (and a create's attributes) sets: one flag per field. */
struct apl_sattr {
	bool set_mode;
	bool set_uid;
	bool set_gid;
	bool set_size;
	bool set_atime;
	bool set_mtime;
	uint32_t mode;		/* 07777 */
	uint32_t uid;
	uint32_t gid;
	uint64_t size;
	uint32_t atime_sec;	/* NFSv3 times are unsigned 32-bit seconds */
	uint32_t atime_nsec;
	uint32_t mtime_sec;
	uint32_t mtime_nsec;
};

enum apl_rpc_op {
	APL_RPC_NONE = 0,
	APL_RPC_LOOKUP,
	APL_RPC_GETATTR,
	APL_RPC_CREATE,
	APL_RPC_MKDIR,
	APL_RPC_MKNOD,
	APL_RPC_SYMLINK,
	APL_RPC_LINK,
	APL_RPC_REMOVE,
	APL_RPC_RMDIR,
	APL_RPC_RENAME,
	APL_RPC_SETATTR,
	APL_RPC_READLINK,
	APL_RPC_READ,
	APL_RPC_WRITE,
	APL_RPC_COMMIT,
	APL_RPC_READDIR,
	APL_RPC_READDIRPLUS,
};

/* Names read by apl_rpc_readdir(), "." and ".." left out. */
struct apl_names {
	char **v;		/* malloc'd strings */
	size_t n;
	size_t cap;
};

/* Entries read by apl_rpc_readdirplus(), "." and ".." left out; the
 * server may leave out an entry's handle or attributes. */
struct apl_dirent {
	char *name;		/* malloc'd */
	bool has_fh;
	struct apl_fh fh;
	struct apl_attr attr;	/* attr.valid: present */
};

struct apl_dirents {
	struct apl_dirent *v;
	size_t n;
	size_t cap;
};

struct apl_rpc;

/* One call in flight (or done).  Owned by struct apl_rpc. */
struct apl_call {
	struct apl_rpc *r;
	bool busy;		/* queued, or done and not yet handed back */
	bool done;		/* the callback ran */
	bool failed;		/* RPC-level failure (status not SUCCESS) */
	enum apl_rpc_op op;
	int nfs_status;		/* nfsstat3 when !failed */
	bool has_fh;		/* the reply carried the object's handle */
	struct apl_fh fh;
	struct apl_attr attr;	/* object attributes from the reply */
	/* WRITE / COMMIT */
	uint32_t count;		/* bytes the server wrote */
	uint8_t verf[APL_VERF_SIZE];
	/* READ / READLINK: bytes into buf[cap], got of them */
	uint8_t *buf;
	size_t cap;
	size_t got;
	bool eof;
	/* READDIR, READDIRPLUS */
	struct apl_names *names;
	struct apl_dirents *ents;
	uint64_t cookie;	/* the last entry's, to continue from */
	uint8_t cookieverf[8];
	bool nomem;		/* a copy failed: -ENOMEM */
	/* windowed calls: what was asked, for re-sending and the caller */
	struct apl_fh wfh;
	uint64_t offset;
	const uint8_t *data;	/* WRITE payload (caller's or own) */
	size_t len;		/* bytes still to write from data */
	uint8_t *own;		/* slot-owned payload buffer, or NULL */
	size_t own_cap;
	uint64_t tag;		/* the caller's (the applier: fid) */
	uint64_t tag2;		/* the caller's (the applier: seq) */
	char msg[160];		/* libnfs's text on failure */
};

/* Called for each completed windowed call; 0 or -errno (stops). */
typedef int apl_rpc_done_fn(void *arg, struct apl_call *c);

struct apl_rpc {
	struct jstore *js;		/* not owned */
	struct rpc_context *rpc;	/* js's raw context */
	struct apl_call slots[1 + APL_RPC_WINDOW];	/* 0: synchronous */
	unsigned inflight;		/* windowed calls busy */
	apl_rpc_done_fn *done_fn;
	void *done_arg;
	size_t wtmax;			/* largest WRITE, bytes */
	size_t rtmax;			/* largest READ, bytes */
	bool have_verf;
	bool verf_changed;
	uint8_t verf[APL_VERF_SIZE];
	int last_nfs;			/* nfsstat3 of the last failed call */
	char msg[160];			/* libnfs's text, last RPC failure */
	/* counters */
	uint64_t nwrites;		/* WRITE RPCs sent */
	uint64_t ncommits;		/* COMMIT RPCs sent */
	uint64_t nsync;			/* synchronous calls */
};

int apl_rpc_init(struct apl_rpc *r, struct jstore *js, apl_rpc_done_fn *fn,
		 void *arg);
void apl_rpc_fini(struct apl_rpc *r);
int apl_nfs_errno(int nfs_status);

int apl_rpc_lookup(struct apl_rpc *r, const struct apl_fh *dir,
		   const char *name, size_t namelen, struct apl_fh *out,
		   struct apl_attr *attr);
int apl_rpc_getattr(struct apl_rpc *r, const struct apl_fh *fh,
		    struct apl_attr *attr);
int apl_rpc_create(struct apl_rpc *r, const struct apl_fh *dir,
		   const char *name, size_t namelen,
		   const struct apl_sattr *sa, struct apl_fh *out,
		   struct apl_attr *attr);
int apl_rpc_mkdir(struct apl_rpc *r, const struct apl_fh *dir,
		  const char *name, size_t namelen,
		  const struct apl_sattr *sa, struct apl_fh *out,
		  struct apl_attr *attr);
int apl_rpc_mknod(struct apl_rpc *r, const struct apl_fh *dir,
		  const char *name, size_t namelen, uint32_t type,
		  uint32_t major, uint32_t minor, const struct apl_sattr *sa,
		  struct apl_fh *out, struct apl_attr *attr);
int apl_rpc_symlink(struct apl_rpc *r, const struct apl_fh *dir,
		    const char *name, size_t namelen, const char *target,
		    size_t targetlen, const struct apl_sattr *sa,
		    struct apl_fh *out, struct apl_attr *attr);
int apl_rpc_link(struct apl_rpc *r, const struct apl_fh *fh,
		 const struct apl_fh *dir, const char *name, size_t namelen);
int apl_rpc_remove(struct apl_rpc *r, const struct apl_fh *dir,
		   const char *name, size_t namelen);
int apl_rpc_rmdir(struct apl_rpc *r, const struct apl_fh *dir,
		  const char *name, size_t namelen);
int apl_rpc_rename(struct apl_rpc *r, const struct apl_fh *dir,
		   const char *name, size_t namelen, const struct apl_fh *todir,
		   const char *toname, size_t tonamelen);
int apl_rpc_setattr(struct apl_rpc *r, const struct apl_fh *fh,
		    const struct apl_sattr *sa);
int apl_rpc_readlink(struct apl_rpc *r, const struct apl_fh *fh, char *buf,
		     size_t cap, size_t *len);
int apl_rpc_read(struct apl_rpc *r, const struct apl_fh *fh, uint64_t offset,
		 uint8_t *buf, size_t len, size_t *got, bool *eof);
int apl_rpc_write_wait(struct apl_rpc *r, const struct apl_fh *fh,
		       uint64_t offset, const uint8_t *data, size_t len,
		       bool file_sync);
/* Every entry of @dir with its handle and attributes (READDIRPLUS); free
 * with apl_dirents_free. */
int apl_rpc_readdirplus(struct apl_rpc *r, const struct apl_fh *dir,
			struct apl_dirents *ents);
void apl_dirents_free(struct apl_dirents *ents);
int apl_rpc_readdir(struct apl_rpc *r, const struct apl_fh *dir,
		    struct apl_names *names);
void apl_names_free(struct apl_names *names);

struct apl_call *apl_rpc_slot(struct apl_rpc *r, int *rc);
int apl_rpc_write_start(struct apl_rpc *r, struct apl_call *c,
			const struct apl_fh *fh, uint64_t offset,
			const uint8_t *data, size_t len);
int apl_rpc_commit_start(struct apl_rpc *r, struct apl_call *c,
			 const struct apl_fh *fh);
int apl_rpc_drain(struct apl_rpc *r);
bool apl_rpc_inflight_overlaps(const struct apl_rpc *r, uint64_t tag,
			       uint64_t offset, size_t len);
void apl_rpc_verf_reset(struct apl_rpc *r);
bool apl_rpc_verf_changed(const struct apl_rpc *r);

static inline bool apl_fh_eq(const struct apl_fh *a, const struct apl_fh *b)
{
	return a->len == b->len && !__builtin_memcmp(a->data, b->data, a->len);
}

#endif /* OFSREP_APL_RPC_H */
