/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * journal/spool.c: the local spool.
 *
 * WHY.  In journal mode an operation is acknowledged once its record is
 * durable on the secondary.  When the secondary is lost (dead, hung, cut
 * off) the journal's I/O thread (replica/jw_io.c) writes the group it
 * could not deliver, and every later one, here, on the file server's own
 * disk, and acknowledges from here: service goes on with the primary,
 * and each acknowledged mutation is still on two disks (the primary and
 * this one).  When the secondary answers again the groups are written to
 * the journal, oldest first, at exactly the segment and offset they would
 * have had, so the journal ends up byte for byte what it would have been
 * without the outage and the mirror applier needs to know nothing of it.
 *
 * FILE.  One spool per journal (node and secondary URL; the daemon names
 * it, fs/main.c).  A 64-byte header, then entries, appended.
 *
 * HEADER (64 bytes, little-endian)
 *
 *   off size field     meaning
 *     0   8  magic     JNL_SPOOL_MAGIC, the bytes "OFSRSPL1"
 *     8   4  version   JNL_SPOOL_VERSION
 *    12   4  node      the journal's node
 *    16   8  drained   file offset of the oldest entry not yet in the
 *                      journal (64 when none was drained)
 *    24   4  flags     JNL_SPOOL_OVERFLOWED: a group was lost (below)
 *    28   4  zero
 *    32   8  lost_seq  OVERFLOWED: first seq of the first lost group
 *    40  16  zero
 *    56   8  cksum     XXH3_64bits_withSeed(&hdr[0], 56, JNL_SPOOL_SEED)
 *
 *   The header is rewritten in place (drained, flags) by one 64-byte
 *   write followed by fdatasync; a header that fails its checksum makes
 *   the spool unusable (-EUCLEAN at open: the operator moves it aside
 *   and runs a resync), because guessing "drained" could write stale
 *   groups over newer journal bytes.
 *
 * ENTRY (56-byte header, then len bytes of group, no padding)
 *
 *   off size field     meaning
 *     0   8  cksum     XXH3_64bits_withSeed over bytes 8..55 and the
 *                      data, JNL_SPOOL_SEED
 *     8   4  magic     JNL_SPOOL_ENT_MAGIC
 *    12   4  flags     1: the group opens its segment (create it)
 *    16   8  segno     journal segment
 *    24   8  offset    byte offset in it
 *    32   8  first_seq records in the group
 *    40   8  last_seq
 *    48   4  len       bytes of group (1 .. JNL_SPOOL_ENT_MAX)
 *    52   4  zero
 *
 * RULES
 *   (P1) An entry is appended with one write and made durable with
 *        fdatasync (both through io_uring) before any record in it is
 *        acknowledged.  So only the last entry can be torn, and a torn
 *        entry acknowledged nothing: open cuts it off.  Torn means: the
 *        entry's header or bytes are incomplete, or its checksum fails
 *        and it ends exactly at the end of the file.  An invalid entry
 *        with bytes of another entry after it is damage (-EUCLEAN; if
 *        its header cannot say where it ends: more than one largest
 *        entry's worth of bytes after it).  A read error is -EIO, never
 *        a reason to cut.
 *   (P2) Entries are drained in file order, each written whole to the
 *        journal (a segment-opening one creates or replaces its segment,
 *        which holds at most the group a failed direct write left: an
 *        EMPTY segment, journal/format.h W5), and "drained" moves past it
 *        only afterwards.  A restart writes at most one entry again, to
 *        the same place with the same bytes.
 *   (P3) While entries are pending, every new group is spooled too, even
 *        if the secondary is back: the journal is written in order.
 *   (P4) A group that would take the bytes not yet drained past the
 *        bound (spool_max) is not
 *        written anywhere: the header gets OVERFLOWED and lost_seq, which
 *        it keeps until an operator resyncs the mirror (ofsrep-fsck).
 *        From then on the journal is not continued (its next group would
 *        leave a gap): the mount runs without replication, and says so.
 */
#include "journal/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <xxhash.h>

#include "journal/format.h"

/* Largest group the appender hands out, with a segment header: anything
 * larger in an entry's len is damage, not a group. */
#define JNL_SPOOL_ENT_MAX	(JNL_APP_GROUP_LIMIT_DEFAULT + (1u << 20))

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* After a failed submission or wait the ring may still hold our SQEs
 * (pointing at a dead stack frame) or an unreaped CQE: start afresh. */
static int ring_reset(struct jnl_spool *sp, int rc)
{
	io_uring_queue_exit(&sp->ring);
	sp->ring_ok = io_uring_queue_init(4, &sp->ring, 0) == 0;
	return rc;
}

/* Writes @iov at @off and fdatasyncs, linked in one io_uring submission
 * (rule P1).  0 or -errno. */
static int ring_write_sync(struct jnl_spool *sp, const struct iovec *iov,
			   int iovcnt, uint64_t off)
{
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	size_t want = 0;
	int rc = 0;

	if (!sp->ring_ok)
		return -EIO;
	for (int i = 0; i < iovcnt; i++)
		want += iov[i].iov_len;
	sqe = io_uring_get_sqe(&sp->ring);
	io_uring_prep_writev(sqe, sp->fd, iov, iovcnt, off);
	sqe->flags |= IOSQE_IO_LINK;
	sqe->user_data = 1;
	sqe = io_uring_get_sqe(&sp->ring);
	io_uring_prep_fsync(sqe, sp->fd, IORING_FSYNC_DATASYNC);
	sqe->user_data = 2;
	if (io_uring_submit(&sp->ring) < 0)
		return ring_reset(sp, -EIO);
	for (int n = 0; n < 2; n++) {
		int res;

		while ((res = io_uring_wait_cqe(&sp->ring, &cqe)) == -EINTR)
			;
		if (res < 0)
			return ring_reset(sp, res);
		res = cqe->res;
		if (cqe->user_data == 1 && res >= 0 && (size_t)res != want)
			res = -EIO;	/* short write: the link broke */
		if (res < 0 && !rc)
			rc = res == -ECANCELED ? -EIO : res;
		io_uring_cqe_seen(&sp->ring, cqe);
	}
	return rc;
}

static void hdr_encode(const struct jnl_spool *sp, uint8_t *h)
{
	memset(h, 0, JNL_SPOOL_HDR_SIZE);
	memcpy(h, JNL_SPOOL_MAGIC, 8);
	put32(h + 8, JNL_SPOOL_VERSION);
	put32(h + 12, sp->node);
	put64(h + 16, sp->drained);
	put32(h + 24, sp->flags);
	put64(h + 32, sp->lost_seq);
	put64(h + 56, XXH3_64bits_withSeed(h, 56, JNL_SPOOL_SEED));
}

static int hdr_store(struct jnl_spool *sp, char *err, size_t errlen)
{
	uint8_t h[JNL_SPOOL_HDR_SIZE];
	struct iovec iov = { h, sizeof(h) };
	int rc;

	hdr_encode(sp, h);
	rc = ring_write_sync(sp, &iov, 1, 0);
	if (rc)
		snprintf(err, errlen, "spool %s: writing its header: %s",
			 sp->path, strerror(-rc));
	return rc;
}

/* Reads and checks the entry at @at (its data too, into e->data). */
static int ent_read(struct jnl_spool *sp, uint64_t at, uint64_t file_end,
		    struct jnl_spool_entry *e)
{
	uint8_t h[JNL_SPOOL_ENT_SIZE];
	XXH3_state_t *st;
	uint64_t sum;

	memset(e, 0, sizeof(*e));
	if (file_end < at + JNL_SPOOL_ENT_SIZE)
		return -ENODATA;
	if (pread(sp->fd, h, sizeof(h), (off_t)at) != (ssize_t)sizeof(h))
		return -EIO;
	e->len = get32(h + 48);
	if (get32(h + 8) != JNL_SPOOL_ENT_MAGIC || get32(h + 52) ||
	    get32(h + 12) > 1 || !e->len || e->len > JNL_SPOOL_ENT_MAX)
		return -EBADMSG;
	/* A sane header: where the entry ends (scan tells a torn last
	 * entry from damage with it). */
	e->next = at + sizeof(h) + e->len;
	if (file_end < e->next)
		return -ENODATA;
	e->data = malloc(e->len);
	if (!e->data)
		return -ENOMEM;
	if (pread(sp->fd, e->data, e->len, (off_t)(at + sizeof(h))) !=
	    (ssize_t)e->len) {
		free(e->data);
		e->data = NULL;
		return -EIO;
	}
	st = XXH3_createState();
	if (!st) {
		free(e->data);
		e->data = NULL;
		return -ENOMEM;
	}
	XXH3_64bits_reset_withSeed(st, JNL_SPOOL_SEED);
	XXH3_64bits_update(st, h + 8, sizeof(h) - 8);
	XXH3_64bits_update(st, e->data, e->len);
	sum = XXH3_64bits_digest(st);
	XXH3_freeState(st);
	if (sum != get64(h))
		goto bad;
	e->at = at;
	e->new_segment = get32(h + 12) & 1;
	e->segno = get64(h + 16);
	e->offset = get64(h + 24);
	e->first_seq = get64(h + 32);
	e->last_seq = get64(h + 40);
	return 0;
bad:
	free(e->data);
	e->data = NULL;
	return -EBADMSG;
}

/* Finds the end of the entries (P1): cuts a torn last entry. */

static int scan(struct jnl_spool *sp, uint64_t file_end, char *err,
		size_t errlen)
{
	uint64_t at = sp->drained;
	struct jnl_spool_entry e;
	int rc;

	if (at >= file_end) {
		/* Emptied, header not yet rewritten (jnl_spool_reset):
		 * rewrite it now, or entries appended later would sit
		 * below a stale "drained" and be skipped. */
		sp->drained = sp->end = JNL_SPOOL_HDR_SIZE;
		return hdr_store(sp, err, errlen);
	}

	while ((rc = ent_read(sp, at, file_end, &e)) == 0) {
		free(e.data);
		at = e.next;
	}
	if (rc == -ENOMEM)
		return rc;
	if (rc == -EIO) {
		snprintf(err, errlen, "spool %s: reading the entry at offset "
			 "%llu: I/O error", sp->path, (unsigned long long)at);
		return rc;
	}
	/* Torn (P1): the entry is incomplete, or it is the last one; a bad
	 * entry with entries after it is damage.  A header too broken to
	 * say where its entry ends is torn only if no complete largest
	 * entry fits behind it. */
	if (rc == -EBADMSG && (e.next ? e.next < file_end :
			       file_end - at > JNL_SPOOL_ENT_SIZE +
					       JNL_SPOOL_ENT_MAX)) {
		snprintf(err, errlen, "spool %s: the entry at offset %llu is "
			 "damaged and %llu bytes follow it (not a torn "
			 "append); move the file aside and resync the mirror "
			 "with ofsrep-fsck", sp->path, (unsigned long long)at,
			 (unsigned long long)(file_end - at));
		return -EUCLEAN;
	}
	if (at < file_end && ftruncate(sp->fd, (off_t)at)) {
		rc = -errno;
		snprintf(err, errlen, "spool %s: cutting its torn last entry: "
			 "%s", sp->path, strerror(errno));
		return rc;
	}
	sp->end = at;
	return 0;
}

static int hdr_load(struct jnl_spool *sp, char *err, size_t errlen)
{
	uint8_t h[JNL_SPOOL_HDR_SIZE];
	static const uint8_t zero[16];

	if (pread(sp->fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    memcmp(h, JNL_SPOOL_MAGIC, 8) ||
	    get64(h + 56) != XXH3_64bits_withSeed(h, 56, JNL_SPOOL_SEED) ||
	    get32(h + 28) || memcmp(h + 40, zero, 16)) {
		snprintf(err, errlen, "spool %s: its header is damaged; move "
			 "the file aside and resync the mirror with "
			 "ofsrep-fsck", sp->path);
		return -EUCLEAN;
	}
	if (get32(h + 8) != JNL_SPOOL_VERSION) {
		snprintf(err, errlen, "spool %s: version %u is not %u (written "
			 "by another ofsrep version)", sp->path, get32(h + 8),
			 JNL_SPOOL_VERSION);
		return -EPROTO;
	}
	if (get32(h + 12) != sp->node) {
		snprintf(err, errlen, "spool %s belongs to node %u, not %u",
			 sp->path, get32(h + 12), sp->node);
		return -EUCLEAN;
	}
	sp->drained = get64(h + 16);
	sp->flags = get32(h + 24);
	sp->lost_seq = get64(h + 32);
	if (sp->drained < JNL_SPOOL_HDR_SIZE) {
		snprintf(err, errlen, "spool %s: its header is damaged "
			 "(drained offset %llu)", sp->path,
			 (unsigned long long)sp->drained);
		return -EUCLEAN;
	}
	return 0;
}

/* mkdir -p for the spool's directory, mode 0700. */
static int make_dirs(const char *path)
{
	char buf[4096];
	char *dir;

	snprintf(buf, sizeof(buf), "%s", path);
	dir = dirname(buf);
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(dir, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

static void sync_dir_of(const char *path)
{
	char buf[4096];
	int fd;

	snprintf(buf, sizeof(buf), "%s", path);
	fd = open(dirname(buf), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

void jnl_spool_path(char *buf, size_t size, const char *dir, uint32_t node,
		    const char *secondary_url)
{
	snprintf(buf, size, "%s/node%u-%016llx.spool", dir, node,
		 (unsigned long long)XXH3_64bits(secondary_url,
						 strlen(secondary_url)));
}

int jnl_spool_open(struct jnl_spool *sp, const char *path, uint32_t node,
		   uint64_t max_bytes, char *err, size_t errlen)
{
	struct stat st;
	int rc;

	memset(sp, 0, sizeof(*sp));
	sp->fd = -1;
	sp->node = node;
	sp->max_bytes = max_bytes;
	if (snprintf(sp->path, sizeof(sp->path), "%s", path) >=
	    (int)sizeof(sp->path)) {
		snprintf(err, errlen, "spool path too long: %s", path);
		return -ENAMETOOLONG;
	}
	rc = make_dirs(path);
	if (!rc) {
		sp->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (sp->fd < 0)
			rc = -errno;
	}
	if (rc) {
		snprintf(err, errlen, "spool %s: cannot create it: %s (set "
			 "-o spool=DIR to a local directory root can write)",
			 path, strerror(-rc));
		return rc;
	}
	rc = io_uring_queue_init(4, &sp->ring, 0);
	if (rc) {
		snprintf(err, errlen, "spool %s: io_uring: %s", path,
			 strerror(-rc));
		jnl_spool_close(sp);
		return rc;
	}
	sp->ring_ok = true;
	if (fstat(sp->fd, &st)) {
		rc = -errno;
	} else if ((uint64_t)st.st_size < JNL_SPOOL_HDR_SIZE) {
		/* New, or its creation was torn: no entry can exist. */
		sp->drained = sp->end = JNL_SPOOL_HDR_SIZE;
		if (ftruncate(sp->fd, JNL_SPOOL_HDR_SIZE))
			rc = -errno;
		if (!rc)
			rc = hdr_store(sp, err, errlen);
		if (!rc)
			sync_dir_of(path);
	} else {
		rc = hdr_load(sp, err, errlen);
		if (!rc)
			rc = scan(sp, (uint64_t)st.st_size, err, errlen);
	}
	if (rc) {
		if (!err[0])
			snprintf(err, errlen, "spool %s: %s", path,
				 strerror(-rc));
		jnl_spool_close(sp);
	}
	return rc;
}

void jnl_spool_close(struct jnl_spool *sp)
{
	if (sp->ring_ok)
		io_uring_queue_exit(&sp->ring);
	sp->ring_ok = false;
	if (sp->fd >= 0)
		close(sp->fd);
	sp->fd = -1;
}

int jnl_spool_append(struct jnl_spool *sp, const struct jnl_app_write *w,
		     char *err, size_t errlen)
{
	uint8_t h[JNL_SPOOL_ENT_SIZE];
	struct iovec iov[2] = { { h, sizeof(h) },
				{ (void *)w->data, w->len } };
	XXH3_state_t *st;
	int rc;

	if (!w->len || w->len > JNL_SPOOL_ENT_MAX) {
		snprintf(err, errlen, "spool %s: group of %zu bytes", sp->path,
			 w->len);
		return -EINVAL;
	}
	if (sp->need_hdr && (rc = hdr_store(sp, err, errlen)))
		return rc;
	sp->need_hdr = false;
	/* The bound is on what waits for the journal, not on the file (it
	 * keeps drained entries until it is emptied). */
	if (sp->max_bytes &&
	    jnl_spool_bytes(sp) + sizeof(h) + w->len > sp->max_bytes) {
		snprintf(err, errlen, "spool %s: full (%llu MiB, spool_max)",
			 sp->path, (unsigned long long)(sp->max_bytes >> 20));
		return -EFBIG;
	}
	memset(h, 0, sizeof(h));
	put32(h + 8, JNL_SPOOL_ENT_MAGIC);
	put32(h + 12, w->new_segment ? 1 : 0);
	put64(h + 16, w->segno);
	put64(h + 24, w->offset);
	put64(h + 32, w->first_seq);
	put64(h + 40, w->last_seq);
	put32(h + 48, (uint32_t)w->len);
	st = XXH3_createState();
	if (!st)
		return -ENOMEM;
	XXH3_64bits_reset_withSeed(st, JNL_SPOOL_SEED);
	XXH3_64bits_update(st, h + 8, sizeof(h) - 8);
	XXH3_64bits_update(st, w->data, w->len);
	put64(h, XXH3_64bits_digest(st));
	XXH3_freeState(st);
	rc = ring_write_sync(sp, iov, 2, sp->end);
	if (rc) {
		snprintf(err, errlen, "spool %s: writing %zu bytes at %llu: "
			 "%s", sp->path, w->len, (unsigned long long)sp->end,
			 strerror(-rc));
		/* Whatever landed is a torn entry: remove it now so the
		 * next append is not behind it. */
		if (ftruncate(sp->fd, (off_t)sp->end))
			rc = -errno;
		return rc;
	}
	sp->end += sizeof(h) + w->len;
	sp->entries++;
	return 0;
}

int jnl_spool_peek(struct jnl_spool *sp, struct jnl_spool_entry *e,
		   char *err, size_t errlen)
{
	int rc;

	if (!jnl_spool_pending(sp))
		return -ENODATA;
	rc = ent_read(sp, sp->drained, sp->end, e);
	if (rc == -EBADMSG || rc == -ENODATA) {
		snprintf(err, errlen, "spool %s: the entry at offset %llu "
			 "no longer matches its checksum (local disk damage)",
			 sp->path, (unsigned long long)sp->drained);
		return -EUCLEAN;
	}
	if (rc)
		snprintf(err, errlen, "spool %s: %s", sp->path, strerror(-rc));
	return rc;
}

int jnl_spool_advance(struct jnl_spool *sp, const struct jnl_spool_entry *e,
		      char *err, size_t errlen)
{
	uint64_t old = sp->drained;
	int rc;

	sp->drained = e->next;
	rc = hdr_store(sp, err, errlen);
	if (rc)
		sp->drained = old;
	return rc;
}

int jnl_spool_reset(struct jnl_spool *sp, char *err, size_t errlen)
{
	/* Entries go first, the header after: a crash in between leaves a
	 * "drained" beyond the file's end, which open reads as empty.  The
	 * other order could drain old groups again, and a segment-opening
	 * one would replace a segment that newer groups continued. */
	int rc;

	if (ftruncate(sp->fd, JNL_SPOOL_HDR_SIZE) || fdatasync(sp->fd)) {
		rc = -errno;

		snprintf(err, errlen, "spool %s: emptying it: %s", sp->path,
			 strerror(-rc));
		return rc;
	}
	sp->drained = sp->end = JNL_SPOOL_HDR_SIZE;
	rc = hdr_store(sp, err, errlen);
	/* Until the header is right, nothing may be appended behind it. */
	sp->need_hdr = rc != 0;
	return rc;
}

int jnl_spool_clear_overflow(struct jnl_spool *sp, char *err, size_t errlen)
{
	/* The entries first (jnl_spool_reset): with the flag gone, an old
	 * entry left behind would be drained into the new epoch's places. */
	int rc = jnl_spool_reset(sp, err, errlen);

	if (rc)
		return rc;
	sp->flags &= ~JNL_SPOOL_OVERFLOWED;
	sp->lost_seq = 0;
	return hdr_store(sp, err, errlen);
}

int jnl_spool_mark_overflow(struct jnl_spool *sp, uint64_t first_seq,
			    char *err, size_t errlen)
{
	if (sp->flags & JNL_SPOOL_OVERFLOWED)
		return 0;
	sp->flags |= JNL_SPOOL_OVERFLOWED;
	sp->lost_seq = first_seq;
	return hdr_store(sp, err, errlen);
}
