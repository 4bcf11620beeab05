/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * replica/jstore_files.c: the small files in a node's journal directory,
 * on replica/jstore.c's calls: the applier's checkpoint (applied.ckpt, two
 * 64-byte slots, journal/format.h CHECKPOINT) and any other whole small
 * file (the lease, replica/lease.c).  Every write is FILE_SYNC.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nfsc/libnfs.h>

#include "replica/jstore.h"
#include "replica/jstore_internal.h"

/* ---- checkpoint ---- */

static void jstore_ckpt_path(const struct jstore *js, char *buf, size_t size)
{
	snprintf(buf, size, "%s/" JSTORE_CKPT_NAME, js->dir);
}

/*
 * The raw checkpoint file: up to JSTORE_CKPT_FILE_SIZE bytes into buf,
 * *len of them.  -ENOENT if there is none.
 */
int jstore_ckpt_read(struct jstore *js, uint8_t *buf, size_t *len,
		     char *err, size_t errlen)
{
	return jstore_file_read(js, JSTORE_CKPT_NAME, buf,
				JSTORE_CKPT_FILE_SIZE, len, err, errlen);
}

/* ---- small files in the journal directory (checkpoint, lease) ---- */

/* Open <dir>/name (its path in path[JSTORE_PATH_MAX]) to read, or to
 * write with O_SYNC, creating it (0600) if missing. */
static int jstore_file_open(struct jstore *js, const char *name, bool write,
			    char *path, struct nfsfh **fh, char *err,
			    size_t errlen)
{
	int rc;

	snprintf(path, JSTORE_PATH_MAX, "%s/%s", js->dir, name);
	rc = jstore_usable(js, "open", path, err, errlen);
	if (rc)
		return rc;
	rc = jstore_fh_open(js, path, write ? O_WRONLY | O_SYNC : O_RDONLY,
			    fh);
	if (rc == -ENOENT && write)
		rc = jstore_fh_open(js, path,
				    O_CREAT | O_EXCL | O_WRONLY | O_SYNC, fh);
	return rc ? jstore_fail(js, rc, "open", path, err, errlen) : 0;
}

/* Read up to cap bytes of <dir>/name into buf.  -ENOENT if missing. */
int jstore_file_read(struct jstore *js, const char *name, uint8_t *buf,
		     size_t cap, size_t *len, char *err, size_t errlen)
{
	char path[JSTORE_PATH_MAX];
	struct nfsfh *fh;
	int n;

	*len = 0;
	n = jstore_file_open(js, name, false, path, &fh, err, errlen);
	if (n)
		return n;
	do {
		n = jstore_fh_pread(js, fh, *len, buf + *len, cap - *len);
		*len += n > 0 ? (size_t)n : 0;
	} while (n > 0 && *len < cap);
	jstore_fh_close(js, fh);
	return n < 0 ? jstore_fail(js, n, "read", path, err, errlen) : 0;
}

/* Write data at offset of <dir>/name (created 0600 if missing), FILE_SYNC:
 * one WRITE for up to wtmax bytes. */
static int jstore_file_write_at(struct jstore *js, const char *name,
				uint64_t offset, const uint8_t *data,
				size_t len, char *err, size_t errlen)
{
	char path[JSTORE_PATH_MAX];
	struct nfsfh *fh;
	int rc = jstore_file_open(js, name, true, path, &fh, err, errlen);

	if (rc)
		return rc;
	rc = jstore_pwrite_all(js, fh, path, offset, data, len, err, errlen);
	jstore_fh_close(js, fh);
	return rc;
}

/* Write data at offset 0 of <dir>/name.  The caller keeps the length
 * fixed, so nothing is left over from a longer version. */
int jstore_file_write(struct jstore *js, const char *name,
		      const uint8_t *data, size_t len, char *err,
		      size_t errlen)
{
	return jstore_file_write_at(js, name, 0, data, len, err, errlen);
}

/* Remove <dir>/name; 0 if it was not there. */
int jstore_file_remove(struct jstore *js, const char *name, char *err,
		       size_t errlen)
{
	char path[JSTORE_PATH_MAX];
	struct jstore_call *c = jstore_call(js, NULL, 0);
	int rc;

	snprintf(path, sizeof(path), "%s/%s", js->dir, name);
	rc = jstore_usable(js, "remove", path, err, errlen);
	if (rc)
		return rc;
	rc = jstore_wait(js, nfs_unlink_async(js->nfs, path, jstore_cb, c));
	if (rc == -ENOENT)
		return 0;
	return rc < 0 ? jstore_fail(js, rc, "remove", path, err, errlen) : 0;
}

/*
 * The valid checkpoint slot with the larger (epoch, seq) (jnl_ckpt_pick),
 * in *ck, its slot in *slot.  -ENOENT if there is no file or no slot was
 * ever written; -EPROTO if a slot is of an unknown version and none is
 * valid; -EBADMSG if both slots are damaged (err says so).
 */
int jstore_ckpt_load(struct jstore *js, struct jnl_ckpt *ck, unsigned *slot,
		     char *err, size_t errlen)
{
	uint8_t buf[JSTORE_CKPT_FILE_SIZE];
	char path[JSTORE_PATH_MAX];
	size_t len;
	int rc = jstore_ckpt_read(js, buf, &len, err, errlen);

	if (rc)
		return rc;
	rc = jnl_ckpt_pick(buf, len, ck, slot);
	if (rc) {
		jstore_ckpt_path(js, path, sizeof(path));
		snprintf(err, errlen, "%s: %s: %s", js->url, path,
			 rc == -EPROTO ? "checkpoint of an unknown version "
			 "(written by a newer ofsrep)" :
			 rc == -EBADMSG ? "both checkpoint slots are damaged: "
			 "the mirror's place in the journal is unknown "
			 "(ofsrep-fsck -y SECONDARY_URL PRIMARY_URL rebuilds "
			 "it)" : "no valid checkpoint slot");
	}
	return rc;
}


/*
 * Encode *ck (which sets ck->cksum) and write it to slot (0 or 1) with
 * one 64-byte FILE_SYNC WRITE, so a torn write loses this slot only.
 * The caller alternates slots.  Returns 0, -EINVAL for a bad slot, -errno.
 */
int jstore_ckpt_store(struct jstore *js, unsigned slot, struct jnl_ckpt *ck,
		      char *err, size_t errlen)
{
	uint8_t buf[JNL_CKPT_SIZE];
	char path[JSTORE_PATH_MAX];

	if (slot >= JNL_CKPT_SLOTS) {
		jstore_ckpt_path(js, path, sizeof(path));
		snprintf(err, errlen, "%s: %s: no checkpoint slot %u",
			 js->url, path, slot);
		return -EINVAL;
	}
	jnl_ckpt_encode(ck, buf);
	return jstore_file_write_at(js, JSTORE_CKPT_NAME,
				    (uint64_t)slot * JNL_CKPT_SIZE, buf,
				    sizeof(buf), err, errlen);
}

/* The split-brain marker's text, NUL-terminated in @buf: 1, 0 when
 * there is none, or -errno with @err. */
static int stale_text(struct jstore *js, char buf[JSTORE_STALE_SIZE + 1],
		      char *err, size_t errlen)
{
	size_t len = 0;
	int rc = jstore_file_read(js, JSTORE_STALE_NAME, (uint8_t *)buf,
				  JSTORE_STALE_SIZE, &len, err, errlen);

	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	buf[len] = 0;
	return 1;
}

int jstore_stale_read(struct jstore *js, long long *since, char *err,
		      size_t errlen)
{
	char buf[JSTORE_STALE_SIZE + 1];
	int rc = stale_text(js, buf, err, errlen);
	const char *p;

	if (rc <= 0)
		return rc;
	p = strstr(buf, "since=");
	*since = p ? atoll(p + 6) : 0;
	return 1;
}

int jstore_stale_gen(struct jstore *js, uint64_t *gen, char *err,
		     size_t errlen)
{
	char buf[JSTORE_STALE_SIZE + 1];
	int rc = stale_text(js, buf, err, errlen);
	const char *p;

	*gen = 0;
	if (rc <= 0)
		return rc;
	p = strstr(buf, "primary_gen=");
	if (!p)
		return 0;	/* a marker from before generations */
	*gen = strtoull(p + 12, NULL, 16);
	return *gen ? 1 : 0;
}

int jstore_gen_read(struct jstore *js, uint64_t *gen, char *err,
		    size_t errlen)
{
	uint8_t buf[JSTORE_GEN_SIZE + 1];
	size_t len = 0;
	int rc = jstore_file_read(js, JSTORE_GEN_NAME, buf, JSTORE_GEN_SIZE,
				  &len, err, errlen);
	const char *p;

	*gen = 0;
	if (rc)
		return rc;
	buf[len] = 0;
	p = strstr((const char *)buf, "gen=");
	*gen = p ? strtoull(p + 4, NULL, 16) : 0;
	if (!*gen) {
		snprintf(err, errlen, "%s: %s/%s: no generation in it",
			 js->url, js->dir, JSTORE_GEN_NAME);
		return -EUCLEAN;
	}
	return 0;
}

int jstore_gen_write(struct jstore *js, uint64_t gen, char *err,
		     size_t errlen)
{
	char buf[JSTORE_GEN_SIZE];
	int n;

	memset(buf, '\n', sizeof(buf));
	n = snprintf(buf, sizeof(buf), "ofsrep-primary-gen 1\ngen=%016llx\n",
		     (unsigned long long)gen);
	if (n > 0 && (size_t)n < sizeof(buf))
		buf[n] = '\n';
	return jstore_file_write(js, JSTORE_GEN_NAME, (const uint8_t *)buf,
				 sizeof(buf), err, errlen);
}
