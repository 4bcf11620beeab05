/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * journal/tail.c: where the journal ends, remembered locally.
 *
 * WHY.  A mount continues its node's journal (journal/format.h W2, W3):
 * it needs the last record's seq and checksum (the chain) and a segment
 * number above the last one, and normally reads them from the journal on
 * the secondary.  With the secondary down that is impossible, yet the
 * primary could serve and the local spool (journal/spool.c) could keep
 * the records until the secondary is back.  So a clean unmount leaves
 * the journal's end here, next to the spool, and a mount that cannot
 * reach the secondary may continue from it, spooling.
 *
 * FILE.  "<spool path>.tail", 64 bytes, little-endian, rewritten whole
 * with one pwrite and fdatasync:
 *
 *   off size field     meaning
 *     0   8  magic     JNL_TAIL_MAGIC, the bytes "OFSRTAIL"
 *     8   4  version   JNL_TAIL_VERSION
 *    12   4  flags     JNL_TAIL_VALID | JNL_TAIL_PRIMARY_STALE
 *    16   4  node
 *    20   4  epoch     the epoch of the writer that unmounted
 *    24   8  next_seq  seq its next record would have had
 *    32   8  chain     cksum of its last record (the next one's prev)
 *    40   8  segno     the last segment it created or filled
 *    48   8  time      unix time of the unmount
 *    56   8  cksum     XXH3_64bits_withSeed(&tail[0], 56, JNL_TAIL_SEED)
 *
 * RULES
 *   (T1) VALID is written only at a clean unmount, once the writer is
 *        idle (every group durable in the journal or the spool) and not
 *        detached: the fields are then the journal's end as it will be
 *        when the spool is drained.
 *   (T2) Every mount clears VALID, durably, before it writes its first
 *        group, whichever way it starts.  So a VALID tail is never behind
 *        the journal: no mount wrote it since.  A crash leaves it
 *        invalid, and the next mount needs the secondary.
 *   (T3) A mount that cannot reach the secondary may start from a VALID
 *        tail: a new epoch max(epoch + 1, now), a new segment segno + 1
 *        with first_seq next_seq and chain_seed chain (as W3 would give),
 *        every group spooled until the secondary answers; the spool then
 *        drains into the journal at exactly those places.
 *   (T4) PRIMARY_STALE: the unmounting mount served the mirror (the
 *        split-brain marker is on the secondary); a mount that cannot
 *        read the secondary must not serve the primary, and refuses.
 */
#include "journal/tail.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "journal/format.h"

void jnl_tail_path(char *buf, size_t size, const char *spool_path)
{
	snprintf(buf, size, "%s.tail", spool_path);
}

static void tail_encode(const struct jnl_tail *t, uint8_t *b)
{
	memset(b, 0, JNL_TAIL_SIZE);
	memcpy(b, JNL_TAIL_MAGIC, 8);
	jnl_put_le32(b + 8, JNL_TAIL_VERSION);
	jnl_put_le32(b + 12, t->flags);
	jnl_put_le32(b + 16, t->node);
	jnl_put_le32(b + 20, t->epoch);
	jnl_put_le64(b + 24, t->next_seq);
	jnl_put_le64(b + 32, t->chain);
	jnl_put_le64(b + 40, t->segno);
	jnl_put_le64(b + 48, (uint64_t)t->time);
	jnl_put_le64(b + 56, XXH3_64bits_withSeed(b, 56, JNL_TAIL_SEED));
}

int jnl_tail_write(const char *path, const struct jnl_tail *t, char *err,
		   size_t errlen)
{
	uint8_t b[JNL_TAIL_SIZE];
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	int rc = 0;

	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		return rc;
	}
	tail_encode(t, b);
	if (pwrite(fd, b, sizeof(b), 0) != (ssize_t)sizeof(b) ||
	    fdatasync(fd))
		rc = errno ? -errno : -EIO;
	close(fd);
	if (rc)
		snprintf(err, errlen, "%s: write: %s", path, strerror(-rc));
	return rc;
}

int jnl_tail_read(const char *path, struct jnl_tail *t, char *err,
		  size_t errlen)
{
	uint8_t b[JNL_TAIL_SIZE + 1];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	memset(t, 0, sizeof(*t));
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	n = pread(fd, b, sizeof(b), 0);
	close(fd);
	if (n != JNL_TAIL_SIZE || memcmp(b, JNL_TAIL_MAGIC, 8) ||
	    jnl_get_le32(b + 8) != JNL_TAIL_VERSION ||
	    jnl_get_le64(b + 56) != XXH3_64bits_withSeed(b, 56,
							 JNL_TAIL_SEED)) {
		snprintf(err, errlen, "%s: not a journal tail record (size, "
			 "magic, version or checksum)", path);
		return -EUCLEAN;
	}
	t->flags = jnl_get_le32(b + 12);
	t->node = jnl_get_le32(b + 16);
	t->epoch = jnl_get_le32(b + 20);
	t->next_seq = jnl_get_le64(b + 24);
	t->chain = jnl_get_le64(b + 32);
	t->segno = jnl_get_le64(b + 40);
	t->time = (int64_t)jnl_get_le64(b + 48);
	return 0;
}

int jnl_tail_invalidate(const char *path, char *err, size_t errlen)
{
	struct jnl_tail t;
	int rc = jnl_tail_read(path, &t, err, errlen);

	if (rc == -ENOENT)
		return 0;
	if (!rc && !(t.flags & JNL_TAIL_VALID))
		return 0;
	/* a damaged one is rewritten invalid too */
	t.flags &= ~JNL_TAIL_VALID;
	return jnl_tail_write(path, &t, err, errlen);
}
