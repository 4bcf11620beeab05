// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * replica/jstore.c: a node's journal directory on an export, over libnfs's
 * high-level API.  The contract (layout, durability, errors) is in
 * replica/jstore.h.
 *
 * Synchronous to its caller, asynchronous inside: every call queues one
 * libnfs high-level async call and drives it with jstore_wait(), a poll
 * loop with a deadline.  Why not libnfs's own synchronous functions
 * (libnfs 4.0, as ofsrep-rawnfs uses them):
 *   - nfs_mount() does not bound the TCP connect: a cut network hangs it;
 *   - when the connection dies, the sync call returns while its RPC stays
 *     queued with a callback pointing into the returned call's stack
 *     frame; nfs_destroy_context() later runs that callback (seen as a
 *     SEGV under ASan in the lab);
 *   - a timed-out call takes about twice the timeout to return.
 * Here the callback's state (struct jstore_call) is on the heap and lives
 * until after nfs_destroy_context(), and after any failed wait the store
 * is marked broken, so no RPC is ever started on a dead context again.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nfsc/libnfs.h>

#include "replica/jstore.h"
#include "replica/jstore_internal.h"
#include "replica/nfsx.h"
#include "replica/url.h"

#define JSTORE_IO_CHUNK		(1u << 20)	/* bytes per read call */
#define JSTORE_POLL_MS		100
#define JSTORE_SLACK_MS		500	/* our deadline after libnfs's */

/* ---- running one call ---- */

void jstore_cb(int status, struct nfs_context *nfs, void *data,
		      void *private_data)
{
	struct jstore_call *c = private_data;

	c->done = true;
	c->status = status;
	if (status < 0) {
		snprintf(c->msg, sizeof(c->msg), "%s",
			 data ? (const char *)data : "");
		return;
	}
	if (c->buf && data)
		memcpy(c->buf, data, (size_t)status < c->cap ?
		       (size_t)status : c->cap);
	else if (c->stat && data)
		c->st = *(struct nfs_stat_64 *)data;
	else
		c->data = data;
}

/* Arm js->call for a new call; buf/cap: where a read's bytes go. */
struct jstore_call *jstore_call(struct jstore *js, void *buf,
				       size_t cap)
{
	const char *e = nfs_get_error(js->nfs);

	*js->call = (struct jstore_call){ .buf = buf, .cap = cap };
	snprintf(js->call->before, sizeof(js->call->before), "%s", e ? e : "");
	return js->call;
}

/*
 * libnfs's last error, if this call set it: nfs_get_error() keeps the
 * previous call's text when a failure (a dead socket) sets none.
 */
static void jstore_call_error(struct jstore *js)
{
	struct jstore_call *c = js->call;
	const char *e = nfs_get_error(js->nfs);

	if (e && strcmp(e, c->before))
		snprintf(c->msg, sizeof(c->msg), "%s", e);
}

static int64_t jstore_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* jstore_drive() predicate for the armed high-level call. */
static bool jstore_call_done(void *arg)
{
	return ((const struct jstore_call *)arg)->done;
}

/*
 * Drive libnfs (high-level calls and raw RPCs alike: they share the
 * context's socket) until ready(arg) is true or timeout_ms plus
 * JSTORE_SLACK_MS have passed.  Returns 0, -ETIMEDOUT, -ECONNRESET (the
 * connection failed) or poll's -errno; any failure marks the store
 * broken.  Callbacks run inside; they must only record their results.
 */
int jstore_drive(struct jstore *js, bool (*ready)(void *arg), void *arg)
{
	int64_t deadline = jstore_now_ms() + js->timeout_ms + JSTORE_SLACK_MS;
	struct pollfd pfd;
	int64_t left;
	int n;

	while (!ready(arg)) {
		left = deadline - jstore_now_ms();
		if (left <= 0) {
			js->broken = true;
			return -ETIMEDOUT;
		}
		pfd = (struct pollfd){ .fd = nfs_get_fd(js->nfs),
				       .events = nfs_which_events(js->nfs) };
		n = poll(&pfd, 1, left < JSTORE_POLL_MS ? (int)left :
			 JSTORE_POLL_MS);
		if (n < 0 && errno != EINTR) {
			js->broken = true;
			return -errno;
		}
		if (nfs_service(js->nfs, n > 0 ? pfd.revents : 0) < 0) {
			if (js->call)
				jstore_call_error(js);
			js->broken = true;
			return -ECONNRESET;
		}
	}
	return 0;
}

/*
 * Drive libnfs until the armed call is done or the deadline passed.
 * queued is what the async function returned (nonzero: not queued).
 * Returns the call's status (>= 0) or -errno; any failure other than the
 * server's answer marks the store broken.
 */
int jstore_wait(struct jstore *js, int queued)
{
	struct jstore_call *c = js->call;
	int rc;

	if (queued) {
		jstore_call_error(js);
		js->broken = true;
		return -EIO;
	}
	rc = jstore_drive(js, jstore_call_done, c);
	if (rc)
		return rc;
	/* libnfs 4.0 reports its RPC timeout as -EINTR ("Command timed
	 * out"); nothing else here can be interrupted */
	if (c->status == -EINTR) {
		js->broken = true;
		return -ETIMEDOUT;
	}
	return c->status;
}

/* ---- errors ---- */

/* Write the one-line message for rc (< 0) and return it. */
int jstore_fail(const struct jstore *js, int rc, const char *what,
		       const char *path, char *err, size_t errlen)
{
	const char *detail = js->call ? js->call->msg : "";

	snprintf(err, errlen, "%s: %s %s: %s%s%s%s", js->url, what, path,
		 strerror(-rc), *detail ? " (" : "", detail,
		 *detail ? ")" : "");
	return rc;
}

/* Fail fast (-ENOTCONN) once a call failed on the connection. */
int jstore_usable(const struct jstore *js, const char *what,
			 const char *path, char *err, size_t errlen)
{
	if (!js->broken)
		return 0;
	snprintf(err, errlen, "%s: %s %s: %s (the connection failed earlier;"
		 " open the export again)", js->url, what, path,
		 strerror(ENOTCONN));
	return -ENOTCONN;
}

/* ---- open and close ---- */

/* nfs_mount() with a deadline on the whole of it, connect included. */
static int jstore_mount(struct jstore *js, char *err, size_t errlen)
{
	struct nfs_url *u;
	int rc;

	u = nfs_parse_url_dir(js->nfs, js->url);
	if (!u) {
		jstore_call(js, NULL, 0);
		snprintf(js->call->msg, sizeof(js->call->msg), "%s",
			 nfs_get_error(js->nfs));
		return jstore_fail(js, -EINVAL, "parse URL", "", err, errlen);
	}
	/* after parsing: the URL's own autoreconnect= must not win */
	nfs_set_autoreconnect(js->nfs, 0);
	nfs_set_timeout(js->nfs, js->timeout_ms);
	rc = jstore_wait(js, nfs_mount_async(js->nfs, u->server, u->path,
					     jstore_cb,
					     jstore_call(js, NULL, 0)));
	if (rc < 0)
		rc = jstore_fail(js, rc, "mount", u->path, err, errlen);
	nfs_destroy_url(u);
	return rc < 0 ? rc : 0;
}

void jstore_set_timeout(struct jstore *js, int timeout_ms)
{
	js->timeout_ms = timeout_ms;
	if (js->nfs)
		nfs_set_timeout(js->nfs, timeout_ms);
}

/*
 * Connect to the export at url (nfs://HOST/PATH?nfsport=N&mountport=M)
 * for node's journal.  timeout_ms bounds the mount and each later call.
 * Creates nothing (see jstore_mkdir()).
 * Returns 0; -EINVAL for a bad URL or node 0; -ETIMEDOUT, -ECONNRESET,
 * -ENOMEM or libnfs's -errno.  On error *js is closed.
 */
int jstore_open(struct jstore *js, const char *url, uint32_t node,
		int timeout_ms, char *err, size_t errlen)
{
	struct rep_url parsed;
	int rc;

	memset(js, 0, sizeof(*js));
	rc = rep_url_parse(url, &parsed, err, errlen);
	if (rc)
		return rc;
	if (!node || timeout_ms <= 0 || strlen(url) >= sizeof(js->url)) {
		snprintf(err, errlen, "%s: node must be nonzero, the timeout "
			 "positive and the URL shorter than %zu bytes", url,
			 sizeof(js->url));
		return -EINVAL;
	}
	strcpy(js->url, url);
	js->node = node;
	js->timeout_ms = timeout_ms;
	snprintf(js->dir, sizeof(js->dir), JSTORE_JOURNAL "/%" PRIu32, node);
	js->call = calloc(1, sizeof(*js->call));
	js->nfs = js->call ? nfs_init_context() : NULL;
	if (!js->nfs) {
		snprintf(err, errlen, "%s: out of memory", url);
		jstore_close(js);
		return -ENOMEM;
	}
	rc = jstore_mount(js, err, errlen);
	if (rc)
		jstore_close(js);
	return rc;
}

/* Close fh; on a broken connection only queue it (see jstore_close()). */
void jstore_fh_close(struct jstore *js, struct nfsfh *fh)
{
	int queued;

	if (!fh)
		return;
	queued = nfs_close_async(js->nfs, fh, jstore_cb,
				 jstore_call(js, NULL, 0));
	if (!js->broken)
		jstore_wait(js, queued);
}

/*
 * Release everything; safe on a closed or failed jstore.  On a broken
 * connection nothing is waited for: libnfs 4.0's close sends a COMMIT
 * (even after FILE_SYNC writes) that would only time out;
 * nfs_destroy_context() fails it and frees the handle.
 */
void jstore_init_offline(struct jstore *js, const char *url, uint32_t node,
			 int timeout_ms)
{
	memset(js, 0, sizeof(*js));
	snprintf(js->url, sizeof(js->url), "%s", url);
	js->node = node;
	js->timeout_ms = timeout_ms;
	snprintf(js->dir, sizeof(js->dir), JSTORE_JOURNAL "/%" PRIu32, node);
}

void jstore_close(struct jstore *js)
{
	if (js->nfs) {
		jstore_fh_close(js, js->wfh);
		nfs_destroy_context(js->nfs);
	}
	js->wfh = NULL;
	js->nfs = NULL;
	free(js->call);		/* after the context: see struct jstore_call */
	js->call = NULL;
}

void jstore_seg_path(const struct jstore *js, uint64_t segno, char *buf,
		     size_t size)
{
	snprintf(buf, size, "%s/%016" PRIx64 ".seg", js->dir, segno);
}

/* ---- directories ---- */

/* mkdir path unless a directory is there already. */
int jstore_mkdir_one(struct jstore *js, const char *path, char *err,
			    size_t errlen)
{
	struct jstore_call *c = jstore_call(js, NULL, 0);
	int rc;

	rc = jstore_wait(js, nfs_mkdir2_async(js->nfs, path, 0700, jstore_cb,
					      c));
	if (rc != -EEXIST)
		return rc < 0 ? jstore_fail(js, rc, "mkdir", path, err,
					    errlen) : 0;
	c = jstore_call(js, NULL, 0);
	c->stat = true;
	rc = jstore_wait(js, nfs_stat64_async(js->nfs, path, jstore_cb, c));
	if (rc < 0)
		return jstore_fail(js, rc, "stat", path, err, errlen);
	if ((c->st.nfs_mode & S_IFMT) != S_IFDIR)
		return jstore_fail(js, -ENOTDIR, "mkdir", path, err, errlen);
	return 0;
}

/* Create .ofsrep/journal/<node>/ and its parents if missing. */
int jstore_mkdir(struct jstore *js, char *err, size_t errlen)
{
	int rc = jstore_usable(js, "mkdir", js->dir, err, errlen);

	if (!rc)
		rc = jstore_mkdir_one(js, JSTORE_ROOT, err, errlen);
	if (!rc)
		rc = jstore_mkdir_one(js, JSTORE_JOURNAL, err, errlen);
	if (!rc)
		rc = jstore_mkdir_one(js, js->dir, err, errlen);
	return rc;
}

/* Is name a segment file name ("%016" PRIx64 ".seg")?  Sets *segno. */
static bool jstore_seg_name(const char *name, uint64_t *segno)
{
	uint64_t v = 0;
	int i;

	if (strlen(name) != 20 || strcmp(name + 16, ".seg"))
		return false;
	for (i = 0; i < 16; i++) {
		char c = name[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return false;
	}
	*segno = v;
	return true;
}

static int jstore_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a;
	uint64_t y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Append v to the growing array *arr of *n (capacity *cap). */
static int jstore_push(uint64_t **arr, size_t *n, size_t *cap, uint64_t v)
{
	uint64_t *p;

	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		p = realloc(*arr, *cap * sizeof(**arr));
		if (!p)
			return -ENOMEM;
		*arr = p;
	}
	(*arr)[(*n)++] = v;
	return 0;
}

/* The segment numbers among dir's entries (read already: no RPC). */
static int jstore_collect(struct jstore *js, struct nfsdir *dir,
			  uint64_t **segnos, size_t *n)
{
	struct nfsdirent *de;
	size_t cap = 0;
	uint64_t segno;

	while ((de = nfs_readdir(js->nfs, dir)) != NULL) {
		if (jstore_seg_name(de->name, &segno) &&
		    jstore_push(segnos, n, &cap, segno))
			return -ENOMEM;
	}
	if (*n > 1)	/* qsort(NULL, 0, ...) is undefined */
		qsort(*segnos, *n, sizeof(**segnos), jstore_cmp_u64);
	return 0;
}

/*
 * The segment numbers in the node's directory, ascending, in a malloc'd
 * *segnos (NULL if none) of *n.  Names that are not "%016x.seg" (lowercase
 * hex) are ignored.  -ENOENT if the directory does not exist.
 */
int jstore_list(struct jstore *js, uint64_t **segnos, size_t *n, char *err,
		size_t errlen)
{
	struct jstore_call *c = jstore_call(js, NULL, 0);
	struct nfsdir *dir;
	int rc;

	*segnos = NULL;
	*n = 0;
	rc = jstore_usable(js, "opendir", js->dir, err, errlen);
	if (rc)
		return rc;
	rc = jstore_wait(js, nfs_opendir_async(js->nfs, js->dir, jstore_cb,
					       c));
	if (rc < 0)
		return jstore_fail(js, rc, "opendir", js->dir, err, errlen);
	dir = c->data;
	rc = jstore_collect(js, dir, segnos, n);
	nfs_closedir(js->nfs, dir);
	if (rc) {
		free(*segnos);
		*segnos = NULL;
		*n = 0;
		return jstore_fail(js, rc, "readdir", js->dir, err, errlen);
	}
	return 0;
}

/* ---- files ---- */

/* Open (or with O_CREAT create, mode 0600) path: 0 or -errno. */
int jstore_fh_open(struct jstore *js, const char *path, int flags,
			  struct nfsfh **fh)
{
	struct jstore_call *c = jstore_call(js, NULL, 0);
	int rc;

	if (flags & O_CREAT)
		rc = nfs_create_async(js->nfs, path, flags & ~O_CREAT, 0600,
				      jstore_cb, c);
	else
		rc = nfs_open_async(js->nfs, path, flags, jstore_cb, c);
	rc = jstore_wait(js, rc);
	*fh = rc < 0 ? NULL : c->data;
	return rc < 0 ? rc : 0;
}

/* Read up to len bytes at offset: bytes read (0 at EOF) or -errno. */
int jstore_fh_pread(struct jstore *js, struct nfsfh *fh,
			   uint64_t offset, uint8_t *buf, size_t len)
{
	struct jstore_call *c = jstore_call(js, buf, len);

	return jstore_wait(js, nfs_pread_async(js->nfs, fh, offset, len,
					       jstore_cb, c));
}

/* Read fh from offset 0 to EOF into a malloc'd *buf of *len. */
/* Read to the end of the file after the *len bytes *buf already holds
 * (none: *buf NULL, *len 0). */
static int jstore_read_all(struct jstore *js, struct nfsfh *fh,
			   uint8_t **buf, size_t *len)
{
	size_t cap = *len;
	uint8_t *p;
	int n;

	for (;;) {
		if (*len + JSTORE_IO_CHUNK > cap) {
			cap = cap * 2 > *len + JSTORE_IO_CHUNK ? cap * 2 :
			      *len + JSTORE_IO_CHUNK;
			p = realloc(*buf, cap);
			if (!p)
				return -ENOMEM;
			*buf = p;
		}
		n = jstore_fh_pread(js, fh, *len, *buf + *len,
				    JSTORE_IO_CHUNK);
		if (n <= 0)
			return n;
		*len += (size_t)n;
	}
}

/*
 * Read segment segno whole, as it is now, into a malloc'd *buf of *len
 * (free it).  -ENOENT if it does not exist.
 */
int jstore_seg_read(struct jstore *js, uint64_t segno, uint8_t **buf,
		    size_t *len, char *err, size_t errlen)
{
	*buf = NULL;
	*len = 0;
	return jstore_seg_read_from(js, segno, buf, len, err, errlen);
}

/*
 * Read segment segno from byte *len on, after the *len bytes *buf holds
 * already (a malloc'd buffer, grown as needed; on error it is freed and
 * *buf is NULL).  For readers that keep the valid prefix of a segment
 * between reads: a segment only grows, and bytes of records that were
 * valid once never change (journal/format.h WRITER RULES).
 */
int jstore_seg_read_from(struct jstore *js, uint64_t segno, uint8_t **buf,
			 size_t *len, char *err, size_t errlen)
{
	char path[JSTORE_PATH_MAX];
	struct nfsfh *fh;
	int rc;

	jstore_seg_path(js, segno, path, sizeof(path));
	rc = jstore_usable(js, "open", path, err, errlen);
	if (!rc) {
		rc = jstore_fh_open(js, path, O_RDONLY, &fh);
		if (rc)
			rc = jstore_fail(js, rc, "open", path, err, errlen);
	}
	if (rc) {
		free(*buf);
		*buf = NULL;
		*len = 0;
		return rc;
	}
	rc = jstore_read_all(js, fh, buf, len);
	jstore_fh_close(js, fh);
	/* Removed after the open: the daemon's mirror keeper trims applied
	 * segments (libnfs 4.0 turns the READ's NFS3ERR_STALE into EFAULT,
	 * measured on ganesha).  Callers re-list on ENOENT. */
	if (rc == -EFAULT || rc == -ESTALE)
		rc = -ENOENT;
	if (rc) {
		free(*buf);
		*buf = NULL;
		*len = 0;
		return jstore_fail(js, rc, "read", path, err, errlen);
	}
	return 0;
}

/*
 * Create segment segno, exclusively (W5), and keep it open for
 * jstore_seg_write().  With JSTORE_REPLACE an existing file is truncated
 * instead: only for a segment the reader found EMPTY (W3, W5).
 * Returns 0; -EEXIST if it exists (without JSTORE_REPLACE); -errno.
 */
int jstore_seg_create(struct jstore *js, uint64_t segno, unsigned flags,
		      char *err, size_t errlen)
{
	char path[JSTORE_PATH_MAX];
	int oflags = O_CREAT | O_WRONLY | O_SYNC;
	int rc;

	jstore_seg_path(js, segno, path, sizeof(path));
	rc = jstore_usable(js, "create", path, err, errlen);
	if (rc)
		return rc;
	jstore_fh_close(js, js->wfh);
	js->wfh = NULL;
	oflags |= flags & JSTORE_REPLACE ? O_TRUNC : O_EXCL;
	rc = jstore_fh_open(js, path, oflags, &js->wfh);
	if (rc == -EEXIST) {
		snprintf(err, errlen, "%s: create %s: segment %016" PRIx64
			 " exists already (segments are created exclusively)",
			 js->url, path, segno);
		return rc;
	}
	if (rc)
		return jstore_fail(js, rc, "create", path, err, errlen);
	js->wsegno = segno;
	return 0;
}

/* Write all of data at offset through the O_SYNC handle fh. */
int jstore_pwrite_all(struct jstore *js, struct nfsfh *fh,
			     const char *path, uint64_t offset,
			     const uint8_t *data, size_t len, char *err,
			     size_t errlen)
{
	char what[80];
	int n;

	while (len > 0) {
		n = jstore_wait(js, nfs_pwrite_async(js->nfs, fh, offset, len,
						     data, jstore_cb,
						     jstore_call(js, NULL, 0)));
		if (n <= 0) {
			snprintf(what, sizeof(what), "write %zu bytes at "
				 "offset %" PRIu64 " of", len, offset);
			return jstore_fail(js, n ? n : -EIO, what, path, err,
					   errlen);
		}
		offset += (uint64_t)n;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Write data[0, len) at offset of segment segno, durably (FILE_SYNC, see
 * the header).  Reuses the handle of the segment last created or written,
 * else opens segno (it must exist).  On a server error the caller may
 * retry the same bytes (the appender keeps them, journal/appender.h);
 * after a timeout or a lost connection, only on a new jstore.
 */
int jstore_seg_write(struct jstore *js, uint64_t segno, uint64_t offset,
		     const uint8_t *data, size_t len, char *err,
		     size_t errlen)
{
	char path[JSTORE_PATH_MAX];
	int rc;

	jstore_seg_path(js, segno, path, sizeof(path));
	rc = jstore_usable(js, "write", path, err, errlen);
	if (rc)
		return rc;
	if (!js->wfh || js->wsegno != segno) {
		jstore_fh_close(js, js->wfh);
		rc = jstore_fh_open(js, path, O_WRONLY | O_SYNC, &js->wfh);
		if (rc)
			return jstore_fail(js, rc, "open", path, err, errlen);
		js->wsegno = segno;
	}
	return jstore_pwrite_all(js, js->wfh, path, offset, data, len, err,
				 errlen);
}

/* ---- raw RPCs on the same connection ---- */

/*
 * The libnfs raw context of the mounted export, for rpc_nfs3_*_async()
 * calls driven with jstore_drive() (replica/apl_rpc.c).  NULL when
 * closed.  The callbacks' private data must outlive jstore_close(),
 * which cancels what is still in flight.
 */
struct rpc_context *jstore_rpc(struct jstore *js)
{
	return js->nfs ? nfs_get_rpc_context(js->nfs) : NULL;
}

/*
 * The export's root file handle (from the MOUNT reply), copied into
 * buf[cap]; its length in *len.  -ENOTCONN when closed, -EOVERFLOW if it
 * does not fit.  Uses libnfs 4.0's private nfs_get_rootfh() (nfsx.h).
 */
int jstore_root_fh(struct jstore *js, uint8_t *buf, size_t cap, size_t *len)
{
	const struct nfs_fh *fh;

	if (!js->nfs)
		return -ENOTCONN;
	fh = nfs_get_rootfh(js->nfs);
	if (!fh || fh->len <= 0 || (size_t)fh->len > cap)
		return -EOVERFLOW;
	memcpy(buf, fh->val, (size_t)fh->len);
	*len = (size_t)fh->len;
	return 0;
}

/*
 * Mark the connection failed: a raw RPC timed out (its TCP stream may
 * hold half a request) or failed.  Every later call fails with -ENOTCONN.
 */
void jstore_break(struct jstore *js)
{
	js->broken = true;
}
