/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * replica/jstore_admin.c: the changes ofsrep-fsck makes to a node's
 * journal directory, on the same synchronous, deadline-bounded calls as
 * replica/jstore.c: cut a segment, set damaged bytes aside in a
 * quarantine directory, move whole segments there.
 *
 *	<export>/.ofsrep/quarantine/<node>/<name>/	one repair's files
 *		<segno>.seg			a whole segment moved
 *		<segno>-from-<offset>.bin	a segment's tail, copied
 *
 * Nothing here decides what is damaged (journal/reader.h does) or asks
 * anyone (tools/fsck/).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "replica/jstore.h"
#include "replica/jstore_internal.h"

#define QUARANTINE_DIR "/.ofsrep/quarantine"

/* Truncate segment segno to len bytes. */
int jstore_seg_truncate(struct jstore *js, uint64_t segno, uint64_t len,
			char *err, size_t errlen)
{
	char path[JSTORE_PATH_MAX];
	struct jstore_call *c;
	int rc;

	jstore_seg_path(js, segno, path, sizeof(path));
	rc = jstore_usable(js, "truncate", path, err, errlen);
	if (rc)
		return rc;
	c = jstore_call(js, NULL, 0);
	rc = jstore_wait(js, nfs_truncate_async(js->nfs, path, len, jstore_cb,
						c));
	return rc < 0 ? jstore_fail(js, rc, "truncate", path, err, errlen) : 0;
}

/* Make .ofsrep/quarantine/<node>/<name>/ (and its parents); its path in
 * out. */
int jstore_quarantine_dir(struct jstore *js, const char *name, char *out,
			  size_t outlen, char *err, size_t errlen)
{
	char node[JSTORE_PATH_MAX];
	int rc = jstore_usable(js, "mkdir", QUARANTINE_DIR, err, errlen);

	snprintf(node, sizeof(node), QUARANTINE_DIR "/%" PRIu32, js->node);
	snprintf(out, outlen, "%s/%s", node, name);
	if (!rc)
		rc = jstore_mkdir_one(js, QUARANTINE_DIR, err, errlen);
	if (!rc)
		rc = jstore_mkdir_one(js, node, err, errlen);
	if (!rc)
		rc = jstore_mkdir_one(js, out, err, errlen);
	return rc;
}

/* Move segment segno into dir (a directory of the same export). */
int jstore_seg_move(struct jstore *js, uint64_t segno, const char *dir,
		    char *err, size_t errlen)
{
	char from[JSTORE_PATH_MAX], to[512];
	struct jstore_call *c;
	int rc;

	jstore_seg_path(js, segno, from, sizeof(from));
	snprintf(to, sizeof(to), "%s/%016" PRIx64 ".seg", dir, segno);
	rc = jstore_usable(js, "rename", from, err, errlen);
	if (rc)
		return rc;
	c = jstore_call(js, NULL, 0);
	rc = jstore_wait(js, nfs_rename_async(js->nfs, from, to, jstore_cb,
					      c));
	return rc < 0 ? jstore_fail(js, rc, "rename", from, err, errlen) : 0;
}

/* Create path (exclusively, 0600, FILE_SYNC) holding data. */
int jstore_put(struct jstore *js, const char *path, const uint8_t *data,
	       size_t len, char *err, size_t errlen)
{
	struct nfsfh *fh;
	int rc = jstore_usable(js, "create", path, err, errlen);

	if (rc)
		return rc;
	rc = jstore_fh_open(js, path, O_CREAT | O_EXCL | O_WRONLY | O_SYNC,
			    &fh);
	if (rc)
		return jstore_fail(js, rc, "create", path, err, errlen);
	rc = len ? jstore_pwrite_all(js, fh, path, 0, data, len, err, errlen)
		 : 0;
	jstore_fh_close(js, fh);
	return rc;
}

/* The node ids that have a journal directory on the export, ascending,
 * in a malloc'd *nodes (NULL if none) of *n. */
int jstore_list_nodes(struct jstore *js, uint32_t **nodes, size_t *n,
		      char *err, size_t errlen)
{
	static const char root[] = "/.ofsrep/journal";
	struct jstore_call *c;
	struct nfsdirent *de;
	struct nfsdir *dir;
	size_t cap = 0;
	int rc;

	*nodes = NULL;
	*n = 0;
	rc = jstore_usable(js, "opendir", root, err, errlen);
	if (rc)
		return rc;
	c = jstore_call(js, NULL, 0);
	rc = jstore_wait(js, nfs_opendir_async(js->nfs, root, jstore_cb, c));
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return jstore_fail(js, rc, "opendir", root, err, errlen);
	dir = c->data;
	while ((de = nfs_readdir(js->nfs, dir)) != NULL) {
		char *end;
		unsigned long v = strtoul(de->name, &end, 10);
		uint32_t *p;

		if (*end || de->name[0] < '1' || de->name[0] > '9' ||
		    v > UINT32_MAX)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 8;
			p = realloc(*nodes, cap * sizeof(*p));
			if (!p) {
				nfs_closedir(js->nfs, dir);
				return -ENOMEM;
			}
			*nodes = p;
		}
		(*nodes)[(*n)++] = (uint32_t)v;
	}
	nfs_closedir(js->nfs, dir);
	for (size_t i = 1; i < *n; i++)		/* few: insertion sort */
		for (size_t k = i; k && (*nodes)[k - 1] > (*nodes)[k]; k--) {
			uint32_t t = (*nodes)[k];

			(*nodes)[k] = (*nodes)[k - 1];
			(*nodes)[k - 1] = t;
		}
	return 0;
}
