/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * replica/lease.c: the lease of a node's journal, the file
 * .ofsrep/journal/<node>/lease on the secondary export.  It says which
 * process may change that journal (append, apply, cut, quarantine) now,
 * so that ofsrep-fsck never repairs under a live mount and two daemons
 * given the same node id never write one journal.
 *
 * FORMAT.  LEASE_SIZE (256) bytes of ASCII: one line, padded with spaces
 * before its final '\n', always written whole with one FILE_SYNC WRITE at
 * offset 0 (so a reader sees the old or the new version of a 256-byte
 * block; a torn one fails to parse and counts as held, see below):
 *
 *   OFSLEASE 1 holder=NAME host=HOST pid=PID expires=SECONDS mount=PATH
 *
 * NAME is "ofsrep" (a mount) or "ofsrep-fsck"; HOST the holder's host
 * name; SECONDS Unix time in the holder's clock; PATH the mount point
 * ("-" for the tool), without spaces (a space is written as '?').
 *
 * RULES.
 *   (L1) A mount takes its node's lease before it writes the journal,
 *        renews it every LEASE_RENEW_S to now + LEASE_TTL_S (the mirror
 *        keeper's thread does, replica/mirror.c), and removes it at a
 *        clean unmount.  ofsrep-fsck takes it before changing anything
 *        and removes it when done; with -n it only reads it.
 *   (L2) A lease is live while now <= expires + LEASE_SKEW_S (the clocks
 *        of two file servers may differ by that much) — except that a
 *        lease of this host whose pid is gone (or a zombie) is dead at
 *        once, so a daemon killed with SIGKILL does not lock its own
 *        restart out.
 *   (L3) Taking a live lease of another holder fails with -EBUSY and a
 *        line naming it; the operator stops that holder, or waits for the
 *        expiry (TTL + skew, 40 s, after a holder on another host died).
 *   (L4) A lease file that does not parse (torn, foreign) counts as
 *        held: a mount refuses to start, and ofsrep-fsck replaces it only
 *        when told to (--break-lease).
 *
 * NFSv3 has no compare-and-swap: two takers at the same instant could
 * both see no lease and both write.  The window is one round trip; the
 * daemon's start-up is serialised by the administrator (one mount per
 * node), and ofsrep-fsck re-reads the lease after writing it and backs
 * off if another holder won.
 */
#include "replica/lease.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void lease_self(struct lease *l, const char *holder, const char *mount)
{
	memset(l, 0, sizeof(*l));
	snprintf(l->holder, sizeof(l->holder), "%s", holder);
	if (gethostname(l->host, sizeof(l->host) - 1))
		snprintf(l->host, sizeof(l->host), "unknown");
	l->pid = (int)getpid();
	l->expires = (uint64_t)time(NULL) + LEASE_TTL_S;
	/* information only: a long path keeps its last 80 bytes */
	if (mount && strlen(mount) > 80)
		mount += strlen(mount) - 80;
	snprintf(l->mount, sizeof(l->mount), "%s", mount ? mount : "-");
	for (char *p = l->mount; *p; p++)
		if (*p == ' ' || *p == '\n')
			*p = '?';
}

int lease_format(const struct lease *l, char *buf, size_t size)
{
	int n;

	if (size < LEASE_SIZE)
		return -ENOBUFS;
	n = snprintf(buf, LEASE_SIZE, "OFSLEASE 1 holder=%s host=%s pid=%d "
		     "expires=%" PRIu64 " mount=%s", l->holder, l->host,
		     l->pid, l->expires, l->mount);
	if (n < 0 || n >= (int)LEASE_SIZE - 1)
		return -ENAMETOOLONG;
	memset(buf + n, ' ', LEASE_SIZE - 1 - (size_t)n);
	buf[LEASE_SIZE - 1] = '\n';
	return 0;
}

int lease_parse(const char *buf, size_t len, struct lease *l)
{
	char line[LEASE_SIZE + 1];
	unsigned long long exp;
	int version;

	if (len != LEASE_SIZE || buf[LEASE_SIZE - 1] != '\n')
		return -EUCLEAN;
	memcpy(line, buf, LEASE_SIZE);
	line[LEASE_SIZE] = 0;
	memset(l, 0, sizeof(*l));
	if (sscanf(line, "OFSLEASE %d holder=%15s host=%63s pid=%d "
		   "expires=%llu mount=%127s", &version, l->holder, l->host,
		   &l->pid, &exp, l->mount) != 6 || version != 1)
		return -EUCLEAN;
	l->expires = exp;
	return 0;
}

int lease_read(struct jstore *js, struct lease *l, char *err, size_t errlen)
{
	char buf[LEASE_SIZE];
	size_t len;
	int rc = jstore_file_read(js, LEASE_NAME, (uint8_t *)buf,
				  sizeof(buf), &len, err, errlen);

	if (rc)
		return rc;
	if (lease_parse(buf, len, l)) {
		snprintf(err, errlen, "%s: %s/%s: not a lease this version of "
			 "ofsrep can read (torn or foreign)", js->url, js->dir,
			 LEASE_NAME);
		return -EUCLEAN;
	}
	return 0;
}

static bool same_host(const struct lease *l)
{
	char host[64] = "";

	gethostname(host, sizeof(host) - 1);
	return !strcmp(host, l->host);
}

bool lease_mine(const struct lease *l)
{
	return same_host(l) && l->pid == (int)getpid();
}

/* Is pid a running process of this host?  A zombie (killed, not yet
 * reaped: `kill -9` of a daemon whose parent has not waited) is not. */
static bool pid_running(int pid)
{
	char path[64], buf[512];
	char *rp;
	FILE *f;
	size_t n;

	if (pid <= 0 || (kill(pid, 0) && errno == ESRCH))
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return true;		/* no /proc: believe kill() */
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	rp = strrchr(buf, ')');	/* "pid (comm) S ..." */
	return !rp || rp[1] != ' ' || (rp[2] != 'Z' && rp[2] != 'X');
}

bool lease_live(const struct lease *l)
{
	if (same_host(l) && !pid_running(l->pid))
		return false;		/* L2: its process is gone */
	return (uint64_t)time(NULL) <= l->expires + LEASE_SKEW_S;
}

void lease_describe(const struct lease *l, char *buf, size_t size)
{
	long long left = (long long)l->expires - (long long)time(NULL);

	snprintf(buf, size, "%s pid %d on host %s (mount %s), lease %s %lld "
		 "s", l->holder, l->pid, l->host, l->mount,
		 left >= 0 ? "valid for" : "expired", left >= 0 ? left : -left);
}

int lease_take(struct jstore *js, struct lease *mine, char *err,
	       size_t errlen)
{
	struct lease cur;
	char buf[LEASE_SIZE];
	char who[320];
	int rc = lease_read(js, &cur, err, errlen);

	if (rc && rc != -ENOENT)
		return rc;	/* L4: unreadable, or the export failed */
	if (!rc && !lease_mine(&cur) && lease_live(&cur)) {
		lease_describe(&cur, who, sizeof(who));
		snprintf(err, errlen, "%s: the journal of node %" PRIu32
			 " is in use by %s", js->url, js->node, who);
		return -EBUSY;
	}
	mine->expires = (uint64_t)time(NULL) + LEASE_TTL_S;
	rc = lease_format(mine, buf, sizeof(buf));
	if (rc) {
		snprintf(err, errlen, "lease: host or mount name too long");
		return rc;
	}
	err[0] = 0;	/* a missing lease is no error */
	return jstore_file_write(js, LEASE_NAME, (const uint8_t *)buf,
				 sizeof(buf), err, errlen);
}

int lease_drop(struct jstore *js, char *err, size_t errlen)
{
	return jstore_file_remove(js, LEASE_NAME, err, errlen);
}
