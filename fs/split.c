/*
 * split.c — the split-brain guard: once this mount has failed over, the
 * primary is stale, and no mount may serve it again until it is brought
 * up to date from the mirror.
 *
 * MARKER.  <secondary>/.ofsrep/journal/<node>/primary-stale, written by
 * the mirror keeper's thread (it owns a connection to the secondary) right
 * after the switch, with FILE_SYNC, 512 bytes of text padded with
 * newlines:
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

void fs_mark_primary_stale(struct fs_ctx *fs)
{
	char text[JSTORE_STALE_SIZE];
	int n;

	memset(text, '\n', sizeof(text));
	n = snprintf(text, sizeof(text), "ofsrep-primary-stale 1\nnode=%d\n"
		     "since=%lld\nseq=%" PRIu64 "\nprimary=%s\n",
		     fs->opts.node, (long long)fs->last_failover,
		     fs->ho_target, fs->primary.url_text);
	if (n < 0 || n >= (int)sizeof(text)) {
		syslog(LOG_CRIT, "failover: stale-primary marker too long");
		return;
	}
	text[n] = '\n';
	mirror_mark(&fs->mirror, JSTORE_STALE_NAME, text, sizeof(text));
}
