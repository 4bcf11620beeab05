/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * replica/jstore.h: synchronous access to one node's journal directory
 * on an export, over libnfs's high-level API (each call is a libnfs async
 * call driven to completion under a deadline; jstore.c says why not
 * libnfs's own synchronous functions).  jstore.c: the calls, segments,
 * listing; jstore_files.c: the checkpoint and other small files;
 * jstore_admin.c: ofsrep-fsck's repairs.
 *
 * Where the journal lives (the <journal dir> of journal/format.h):
 *
 *	<export>/.ofsrep/journal/<node>/<segno>.seg	segments
 *	<export>/.ofsrep/journal/<node>/applied.ckpt	the applier's checkpoint
 *
 * <node> in decimal, <segno> as 16 lowercase hex digits.  Directories are
 * created mode 0700 and files 0600: records carry file data.
 *
 * What it is for: start-up, recovery and tools (ofsrep-journal, later
 * ofsrep-fsck): list the segments, read them whole, create a segment,
 * write a group at an offset, read and write the checkpoint.  Every call
 * blocks until the server answered or the timeout expired: timeout_ms is
 * libnfs's per-RPC timeout and, plus 0.5 s, a deadline on each whole
 * call (a group write of several RPCs included), the mount's TCP connect
 * included.
 *
 * Raw RPCs: jstore_rpc() hands out the connection's libnfs raw context
 * and jstore_drive() runs the same deadline-bounded poll loop for them,
 * so the mirror applier (replica/apl_rpc.h) shares one connection, one
 * timeout and one "broken" state with the journal calls.
 *
 * What it does not do: the FUSE data path (that is replica/loop.c's
 * asynchronous world), validation (journal/reader.h), deciding what to
 * write (journal/appender.h), or retrying.  Auto-reconnect is off: a lost
 * connection or a timeout fails the call in progress, and every later
 * call fails at once with -ENOTCONN; close and open again.
 *
 * DURABILITY.  Segments and the checkpoint are opened O_SYNC, so libnfs
 * sends every WRITE as FILE_SYNC (checked in the lab with gdb on
 * rpc_nfs3_write_async(): stable is 2 for a created segment and for the
 * checkpoint, created or reopened).  A write is durable when its
 * reply arrives; there is no UNSTABLE WRITE + COMMIT.  Why not COMMIT:
 * with UNSTABLE writes the client must compare the write verifier of each
 * WRITE reply with the COMMIT's and re-send on a change (a server reboot
 * in between lost the data), and libnfs's high-level API returns neither
 * verifier (nfs_pwrite() gives a count, nfs_fsync() a status).  FILE_SYNC
 * needs no verifier, costs one round trip instead of two per group, and
 * makes "reply = durable" true for each WRITE on its own, which is what
 * writer rule W4 needs.  CREATE and MKDIR are synchronous
 * on the server by NFSv3's rules (RFC 1813 sec. 3.3.8), so a segment
 * that exists stays.  libnfs splits a write larger than the server's
 * wtmax into several WRITEs that may land in any order; journal/format.h
 * expects exactly that of a group.
 *
 * Errors: every call returns 0 or -errno and, on error, writes one line
 * naming the export URL, the operation, the path and the errno (plus
 * libnfs's own text) into the caller's err[errlen].  libnfs 4.0 reports
 * an RPC timeout as -EINTR ("Command timed out"); jstore returns it as
 * -ETIMEDOUT, since nothing here can be interrupted otherwise.
 *
 * libnfs 4.0 sends with MSG_NOSIGNAL: a server that dies mid-WRITE fails
 * the call, it raises no SIGPIPE.
 *
 * Not thread-safe: one struct jstore per thread.
 * Tests: tests/integration/test_journal_store.py (through
 * tools/ofsrep-journal, against real ganesha in the lab).
 */
#ifndef OFSREP_JSTORE_H
#define OFSREP_JSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal/format.h"

#define JSTORE_ROOT		"/.ofsrep"
#define JSTORE_JOURNAL		"/.ofsrep/journal"
#define JSTORE_CKPT_NAME	"applied.ckpt"
/* The split-brain guard's marker (fs/split.c) and its fixed size. */
#define JSTORE_STALE_NAME	"primary-stale"
#define JSTORE_STALE_SIZE	512
#define JSTORE_GEN_NAME		"primary-gen"	/* on the primary: fs/split.c */
#define JSTORE_GEN_SIZE		64
#define JSTORE_CKPT_FILE_SIZE	(JNL_CKPT_SLOTS * JNL_CKPT_SIZE)
#define JSTORE_DIR_MAX		32	/* "/.ofsrep/journal/4294967295" */
#define JSTORE_PATH_MAX		64	/* longest path jstore builds */
#define JSTORE_URL_MAX		1400
#define JSTORE_ERR_MAX		2048	/* an err buffer that always fits */

/* jstore_seg_create() flags */
#define JSTORE_REPLACE		1u	/* the segment may exist: truncate it
					 * (W5: only an EMPTY segment) */

struct nfs_context;
struct nfsfh;
struct rpc_context;
struct jstore_call;

struct jstore {
	struct nfs_context *nfs;	/* owned; NULL when closed */
	struct jstore_call *call;	/* owned; the call in progress (see
					 * jstore.c: outlives the context) */
	struct nfsfh *wfh;		/* segment open for writing, or NULL */
	uint64_t wsegno;		/* its segno */
	bool broken;			/* a timeout or lost connection: every
					 * later call fails with -ENOTCONN */
	uint32_t node;
	int timeout_ms;			/* per RPC and per call, mount
					 * included */
	char url[JSTORE_URL_MAX];	/* as given, for messages */
	char dir[JSTORE_DIR_MAX];	/* "/.ofsrep/journal/<node>" */
};

int jstore_open(struct jstore *js, const char *url, uint32_t node,
		int timeout_ms, char *err, size_t errlen);
void jstore_close(struct jstore *js);
/* Names the store without reaching it (no context: the first use that
 * needs one finds it unusable and reopens it, replica/jw_io.c). */
void jstore_init_offline(struct jstore *js, const char *url, uint32_t node,
			 int timeout_ms);
/* Changes the per-RPC and per-call timeout of an open store. */
void jstore_set_timeout(struct jstore *js, int timeout_ms);
int jstore_mkdir(struct jstore *js, char *err, size_t errlen);
int jstore_list(struct jstore *js, uint64_t **segnos, size_t *n,
		char *err, size_t errlen);
int jstore_seg_read(struct jstore *js, uint64_t segno, uint8_t **buf,
		    size_t *len, char *err, size_t errlen);
int jstore_seg_read_from(struct jstore *js, uint64_t segno, uint8_t **buf,
			 size_t *len, char *err, size_t errlen);
int jstore_seg_create(struct jstore *js, uint64_t segno, unsigned flags,
		      char *err, size_t errlen);
int jstore_seg_write(struct jstore *js, uint64_t segno, uint64_t offset,
		     const uint8_t *data, size_t len, char *err,
		     size_t errlen);
int jstore_ckpt_read(struct jstore *js, uint8_t *buf, size_t *len,
		     char *err, size_t errlen);
int jstore_ckpt_load(struct jstore *js, struct jnl_ckpt *ck,
		     unsigned *slot, char *err, size_t errlen);
int jstore_ckpt_store(struct jstore *js, unsigned slot, struct jnl_ckpt *ck,
		      char *err, size_t errlen);
int jstore_file_read(struct jstore *js, const char *name, uint8_t *buf,
		     size_t cap, size_t *len, char *err, size_t errlen);
int jstore_file_write(struct jstore *js, const char *name,
		      const uint8_t *data, size_t len, char *err,
		      size_t errlen);
int jstore_file_remove(struct jstore *js, const char *name, char *err,
		       size_t errlen);
/* The primary generation the marker recorded (fs/split.c): 1 and
 * @gen, 0 when there is no marker or it names none, or -errno. */
int jstore_stale_gen(struct jstore *js, uint64_t *gen, char *err,
		     size_t errlen);
/* The primary's generation file (fs/split.c), on a store opened on the
 * primary export.  read: 0, -ENOENT when there is none, or -errno. */
int jstore_gen_read(struct jstore *js, uint64_t *gen, char *err,
		    size_t errlen);
int jstore_gen_write(struct jstore *js, uint64_t gen, char *err,
		     size_t errlen);
/* The split-brain guard's marker (fs/split.c): 1 and its since= time
 * when present, 0 when absent, or -errno with one line in @err. */
int jstore_stale_read(struct jstore *js, long long *since, char *err,
		      size_t errlen);
/* Repairs (replica/jstore_admin.c, for ofsrep-fsck) */
int jstore_seg_truncate(struct jstore *js, uint64_t segno, uint64_t len,
			char *err, size_t errlen);
int jstore_quarantine_dir(struct jstore *js, const char *name, char *out,
			  size_t outlen, char *err, size_t errlen);
int jstore_seg_move(struct jstore *js, uint64_t segno, const char *dir,
		    char *err, size_t errlen);
int jstore_put(struct jstore *js, const char *path, const uint8_t *data,
	       size_t len, char *err, size_t errlen);
int jstore_list_nodes(struct jstore *js, uint32_t **nodes, size_t *n,
		      char *err, size_t errlen);
void jstore_seg_path(const struct jstore *js, uint64_t segno, char *buf,
		     size_t size);

/* Raw NFSv3 RPCs on the same connection (the mirror applier) */
int jstore_drive(struct jstore *js, bool (*ready)(void *arg), void *arg);
struct rpc_context *jstore_rpc(struct jstore *js);
int jstore_root_fh(struct jstore *js, uint8_t *buf, size_t cap, size_t *len);
void jstore_break(struct jstore *js);

#endif /* OFSREP_JSTORE_H */
