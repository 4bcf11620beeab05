/*
 * treesync_bytes.c — the bytes of a regular file in a tree comparison
 * (replica/treesync.c says what "equal" means): both files read chunk by
 * chunk, hashed with XXH3 for the report, and with repair the destination
 * rewritten FILE_SYNC from the first differing chunk and cut to size.
 */
#include "replica/treesync_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

/* Reads up to TS_CHUNK bytes at @off, all of them unless the file ends. */
static int read_chunk(struct ts_side *s, const struct apl_fh *fh,
		      uint64_t off, uint8_t *buf, size_t *got)
{
	*got = 0;
	while (*got < TS_CHUNK) {
		size_t n = 0;
		bool eof = false;
		int rc = apl_rpc_read(&s->rpc, fh, off + *got, buf + *got,
				      TS_CHUNK - *got, &n, &eof);

		if (rc)
			return rc;
		*got += n;
		if (eof || !n)
			break;
	}
	return 0;
}

/* Quick mode: the same size and mtime, and not written since the last
 * pass (the caller's dirty set): the bytes are taken as equal. */
bool ts_unchanged(struct ts *t, const struct apl_fh *sfh,
		      const struct apl_attr *sa, const struct apl_attr *da,
		      bool fresh)
{
	return t->c->quick && !fresh && sa->size == da->size &&
	       sa->mtime_sec == da->mtime_sec &&
	       sa->mtime_nsec == da->mtime_nsec &&
	       !(t->c->must_read && t->c->must_read(t->c->arg, sfh));
}

/* Compares the bytes; with repair, rewrites from the first difference. */
int ts_sync_bytes(struct ts *t, const struct apl_fh *sfh,
		      const struct apl_attr *sa, const struct apl_fh *dfh,
		      const struct apl_attr *da, bool fresh, bool *fixed)
{
	uint64_t end = sa->size > da->size ? sa->size : da->size;
	uint64_t first = UINT64_MAX;
	XXH3_state_t *hs = XXH3_createState(), *hd = XXH3_createState();
	int rc = hs && hd ? 0 : -ENOMEM;

	if (!rc) {
		XXH3_64bits_reset(hs);
		XXH3_64bits_reset(hd);
	}
	for (uint64_t off = 0; !rc && off < end; off += TS_CHUNK) {
		size_t ns, nd;

		rc = read_chunk(&t->src, sfh, off, t->sbuf, &ns);
		if (rc) {
			rc = ts_fail(t, &t->src, "read", rc);
			break;
		}
		rc = read_chunk(&t->dst, dfh, off, t->dbuf, &nd);
		if (rc) {
			rc = ts_fail(t, &t->dst, "read", rc);
			break;
		}
		t->st->bytes += ns;
		XXH3_64bits_update(hs, t->sbuf, ns);
		XXH3_64bits_update(hd, t->dbuf, nd);
		if (first == UINT64_MAX && (ns != nd ||
					    memcmp(t->sbuf, t->dbuf, ns))) {
			size_t i = 0;

			while (i < ns && i < nd && t->sbuf[i] == t->dbuf[i])
				i++;
			first = off + i;
		}
		if (first != UINT64_MAX && ts_fixing(t) && ns) {
			rc = apl_rpc_write_wait(&t->dst.rpc, dfh, off, t->sbuf,
						ns, true);
			if (rc)
				rc = ts_fail(t, &t->dst, "write", rc);
			t->st->copied += ns;
		}
		ts_progress(t, false);
	}
	if (!rc && first != UINT64_MAX && !fresh) {
		ts_differ(t, "content differs from byte %" PRIu64 " (size %"
		       PRIu64 " / %" PRIu64 ", xxh3 %016llx / %016llx)", first,
		       sa->size, da->size,
		       (unsigned long long)XXH3_64bits_digest(hs),
		       (unsigned long long)XXH3_64bits_digest(hd));
		*fixed = ts_fixing(t);
	}
	XXH3_freeState(hs);
	XXH3_freeState(hd);
	if (!rc && ts_fixing(t) && da->size > sa->size) {
		struct apl_sattr cut = { .set_size = true, .size = sa->size };

		rc = apl_rpc_setattr(&t->dst.rpc, dfh, &cut);
		if (rc)
			rc = ts_fail(t, &t->dst, "truncate", rc);
	}
	return rc;
}
