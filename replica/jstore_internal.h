/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * replica/jstore_internal.h: the call machinery of replica/jstore.c, shared
 * with replica/jstore_admin.c (the repairs ofsrep-fsck makes).  Not for
 * other users: they go through replica/jstore.h.
 */
#ifndef OFSREP_JSTORE_INTERNAL_H
#define OFSREP_JSTORE_INTERNAL_H

#include <nfsc/libnfs.h>

#include "replica/jstore.h"

/*
 * One call in progress.  Owned by the jstore and freed only after
 * nfs_destroy_context(), which runs the callbacks of RPCs abandoned by a
 * failed wait (with an error status, so they copy nothing).
 */
struct jstore_call {
	bool done;
	int status;		/* libnfs: >= 0 (bytes for I/O) or -errno */
	void *data;		/* open/create: nfsfh; opendir: nfsdir */
	uint8_t *buf;		/* pread: where the bytes go */
	size_t cap;		/* its size */
	bool stat;		/* stat64: copy the result into st */
	struct nfs_stat_64 st;
	char msg[200];		/* libnfs's error string */
	char before[200];	/* nfs_get_error() when the call began */
};

void jstore_cb(int status, struct nfs_context *nfs, void *data,
	       void *private_data);
struct jstore_call *jstore_call(struct jstore *js, void *buf, size_t cap);
int jstore_wait(struct jstore *js, int queued);
int jstore_fail(const struct jstore *js, int rc, const char *what,
		const char *path, char *err, size_t errlen);
int jstore_usable(const struct jstore *js, const char *what,
		  const char *path, char *err, size_t errlen);
int jstore_mkdir_one(struct jstore *js, const char *path, char *err,
		     size_t errlen);
int jstore_fh_open(struct jstore *js, const char *path, int flags,
		   struct nfsfh **fh);
void jstore_fh_close(struct jstore *js, struct nfsfh *fh);
int jstore_fh_pread(struct jstore *js, struct nfsfh *fh, uint64_t offset,
		    uint8_t *buf, size_t len);
int jstore_pwrite_all(struct jstore *js, struct nfsfh *fh, const char *path,
		      uint64_t offset, const uint8_t *data, size_t len,
		      char *err, size_t errlen);

#endif /* OFSREP_JSTORE_INTERNAL_H */
