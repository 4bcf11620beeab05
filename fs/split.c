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
 *
 * (a DRBD-style generation mark: the mirror's generation moved on, the
 * primary's did not).  Every mount reads it first (jw_open): while it
 * exists the mount refuses to serve the pair read-write, with one line
 * saying what happened and what to do.
 */
#include "fs/fs.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

/* The marker's text for a failover that serves the mirror from seq on
 * (JSTORE_STALE_SIZE bytes in @buf). */
void fs_stale_marker(struct fs_ctx *fs, uint64_t seq, char *buf)
{
	int n;

	memset(buf, '\n', JSTORE_STALE_SIZE);
	n = snprintf(buf, JSTORE_STALE_SIZE, "ofsrep-primary-stale 1\n"
		     "node=%d\nsince=%lld\nseq=%" PRIu64 "\nprimary=%.400s\n",
		     fs->opts.node, (long long)time(NULL), seq,
		     fs->primary.url_text);
	if (n > 0 && n < JSTORE_STALE_SIZE)
		buf[n] = '\n';
}
