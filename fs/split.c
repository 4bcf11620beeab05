/*
 * split.c — the split-brain guard: once this mount has failed over, the
 * primary is stale, and no mount may serve it again until it is brought
 * up to date from the mirror.
 *
 * MARKER.  <secondary>/.ofsrep/journal/<node>/primary-stale, written by
 * the mirror keeper's thread (it owns a connection to the secondary)
 * before it hands the mirror over (replica/mirror.c), with FILE_SYNC, so
 * it is durable before the mirror takes its first write; taken back if
 * the failover is cancelled before the switch.  512 bytes of text padded
 * with newlines:
 *
 *	ofsrep-primary-stale 1
 *	node=<node>
 *	since=<unix time of the failover>
 *	seq=<last journal record the mirror had at the switch>
 *	primary=<the stale primary's URL>
 *	primary_gen=<the primary's generation then, 16 hex digits>
 *
 * (a DRBD-style generation mark: the mirror's generation moved on, the
 * primary's did not).  Every mount reads it first (jw_open): while it
 * exists no mount serves the primary; it starts on the mirror and brings
 * the primary up to date (fs/failback.c), or, with failover=off or
 * noapply, refuses with one line saying what happened and what to do.
 *
 * PRIMARY GENERATION.  The primary carries a generation of its own:
 * <primary>/.ofsrep/journal/<node>/primary-gen, 64 bytes of text
 * ("ofsrep-primary-gen 1", "gen=<16 hex digits>", newline padding),
 * written FILE_SYNC.  A journaled mount keeps it (creating it if absent):
 * its writes reach the mirror.  A mount that writes the primary without
 * a journal (primary_only) gives it a new random value first.  The
 * marker records the value at the failover.  So when the primary is to
 * be resynced from the mirror, at mount or when it answers again, a
 * different generation proves the primary was written on its own since:
 * both sides hold writes the other lacks (SPLIT BRAIN).  Nothing is then
 * merged or overwritten: a mount refuses with one line, a running mount
 * keeps serving the mirror and says so in ofsrep status, and the operator
 * chooses with ofsrep-fsck -y --keep=primary|secondary.  (Writes made to
 * NAS a by other NFS clients, not through ofsrep, change no generation.)
 */
#include "fs/fs.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <sys/random.h>
#include <errno.h>

/* The marker's text for a failover that serves the mirror from seq on
 * (JSTORE_STALE_SIZE bytes in @buf). */
void fs_stale_marker(struct fs_ctx *fs, uint64_t seq, char *buf)
{
	int n;

	memset(buf, '\n', JSTORE_STALE_SIZE);
	n = snprintf(buf, JSTORE_STALE_SIZE, "ofsrep-primary-stale 1\n"
		     "node=%d\nsince=%lld\nseq=%" PRIu64 "\nprimary=%.400s\n"
		     "primary_gen=%016" PRIx64 "\n", fs->opts.node,
		     (long long)time(NULL), seq, fs->primary.url_text,
		     fs->primary_gen);
	if (n > 0 && n < JSTORE_STALE_SIZE)
		buf[n] = '\n';
}

/* A random nonzero generation. */
static uint64_t new_gen(void)
{
	uint64_t g = 0;

	while (!g && getrandom(&g, sizeof(g), 0) != (ssize_t)sizeof(g))
		;
	return g ? g : 1;
}

int fs_primary_gen_at(const char *url, uint32_t node, int timeout_ms,
		      bool renew, uint64_t *gen, char *err, size_t errlen)
{
	struct jstore js;
	int rc = jstore_open(&js, url, node, timeout_ms, err, errlen);

	if (rc)
		return rc;
	rc = jstore_mkdir(&js, err, errlen);
	if (!rc && !renew)
		rc = jstore_gen_read(&js, gen, err, errlen);
	if (!rc && !renew) {
		jstore_close(&js);
		return 0;
	}
	if (!rc || rc == -ENOENT) {
		*gen = new_gen();
		rc = jstore_gen_write(&js, *gen, err, errlen);
	}
	jstore_close(&js);
	return rc;
}

int fs_split_check(struct fs_ctx *fs, char *err, size_t errlen)
{
	uint64_t then = 0;
	int rc = jstore_stale_gen(&fs->jw.js, &then, err, errlen);

	if (rc <= 0)
		return rc;
	fs->marker_gen = then;
	if (!fs->primary_gen || then == fs->primary_gen)
		return 0;
	snprintf(err, errlen, "split brain: node %d failed over to the mirror "
		 "on %s, and the primary %s was written without a journal "
		 "since (its generation went from %016llx to %016llx): both "
		 "sides hold writes the other lacks; nothing was merged or "
		 "overwritten. Choose one: ofsrep-fsck -y --keep=secondary (or "
		 "--keep=primary) SECONDARY_URL PRIMARY_URL (ofsrep-fsck(8), "
		 "SPLIT BRAIN)", fs->opts.node, fs->secondary.url_text,
		 fs->primary.url_text, (unsigned long long)then,
		 (unsigned long long)fs->primary_gen);
	return -EEXIST;
}
