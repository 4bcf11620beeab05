/*
 * xattr.h — what fs/xattr.c (the four FUSE operations and what they do
 * with an inode's set) and fs/xattr_io.c (the handles of each export's
 * xattr store and the NFS calls that read and write a blob) share.
 * Private to those two files.
 */
#ifndef OFSREP_FS_XATTR_H
#define OFSREP_FS_XATTR_H

#include "fs/fs.h"

#define XA_OP(r) ((struct fs_op *)(r))

struct xa_fh {
	uint32_t len;
	char data[NFS3_FHSIZE];
};

/* The handles of one export's store, as far as they are known. */
struct fs_xstore {
	const struct rep_export *exp;
	bool have_own, have_top;
	struct xa_fh own;		/* .ofsrep */
	struct xa_fh top;		/* .ofsrep/xattr */
	bool have_sub[256];
	struct xa_fh sub[256];		/* .ofsrep/xattr/<hh> */
};

/* XA_DROP: the blob of an object that is gone (fs/xattr_drop.c). */
enum xa_kind { XA_GET, XA_LIST, XA_SET, XA_REMOVE, XA_DROP };

/* What the last call sent was (the reply is decoded by it). */
enum xa_call {
	XC_LOOKUP_OWN, XC_LOOKUP_TOP, XC_LOOKUP_SUB, XC_LOOKUP_BLOB,
	XC_MKDIR_OWN, XC_MKDIR_TOP, XC_MKDIR_SUB, XC_CREATE_BLOB,
	XC_READ, XC_WRITE, XC_REMOVE_BLOB,
};

struct xa_job {
	enum xa_kind kind;
	size_t size;			/* GET/LIST: the caller's buffer */
	int flags;			/* SET: XSET_CREATE / XSET_REPLACE */
	const struct rep_export *exp;	/* the export the steps are for */
	struct fs_xstore *st;
	uint64_t key;
	char hh[3], file[17];
	bool saving;			/* LOAD done: now writing */
	bool creating;			/* SAVE: the level missing is made */
	bool retried;			/* after an ESTALE */
	bool exclusive;			/* holds the inode's busy flag */
	enum xa_call call;
	uint8_t *buf;			/* READ: the blob; WRITE: encoded */
	size_t got;			/* READ: bytes so far */
	size_t blob_len;		/* WRITE: bytes of the blob */
	size_t written;
	struct xset next;		/* SET/REMOVE: the set being saved */
};

static inline struct xa_job *xa_job_of(struct fs_op *op)
{
	return op->dir;
}

/* xattr_io.c */
/* Points the job at the served export's store, from scratch if the
 * served export changed.  0 or -ENOMEM. */
int xa_job_target(struct fs_op *op);
int xa_send(struct rep_req *r, struct rpc_context *rpc, rpc_cb cb);
void xa_done(struct rep_req *r, void *data);
/* Sends the job's next call (chosen by xa_send). */
void xa_continue(struct fs_op *op);

/* xattr.c: where the calls end */
void xa_finish(struct fs_op *op, int err);
/* The inode's set is loaded (x->set). */
void xa_loaded(struct fs_op *op);
/* The job's new set (j->next) is on the served export's disk. */
void xa_saved(struct fs_op *op);

/* xattr_drop.c: the end of an XA_DROP job (@err 0: no blob left). */
void xa_drop_end(struct fs_op *op, int err);

#endif
