/*
 * opts.c — command line and mount options.
 *
 *     ofsrep [-f] [-d] PRIMARY_URL MOUNTPOINT -o secondary=URL[,opt...]
 *
 * The same syntax serves `mount -t fuse.ofsrep PRIMARY_URL MOUNTPOINT -o ...`
 * (mount.fuse3 execs `ofsrep` with exactly these arguments) and fstab.
 * Options are a fuse_opt table; anything it does not know is passed to
 * libfuse, which rejects what it does not know either, so a misspelt option
 * fails the mount with one line instead of being ignored.  fstab-only
 * words (_netdev, nofail, x-systemd.*, auto/noauto, user/nouser) are
 * dropped here because they mean something to mount(8), not to us.
 *
 * Defaults and why:
 *   attr_timeout=1, entry_timeout=1  Two file servers share the export; a
 *       node may see another node's change up to this late.  1 s is the
 *       NFS client's acregmin order of magnitude; 0 is exact but costs a
 *       GETATTR per stat().
 *   negative_timeout=0  A name created on the other node is seen at once.
 *   conns=4             Parallel TCP connections to the primary.
 *   rpc_timeout=5000    A request unanswered this long marks the connection
 *       dead; it is re-sent on a fresh one (requests never fail for this).
 *   wb_max=64           MiB of unstable (uncommitted) data per file kept in
 *       memory for re-sending after a server restart; reaching it forces a
 *       COMMIT before further writes are answered.
 *   mode=journal        An acknowledged mutation is on the primary and
 *       durable in the secondary's journal: either NAS may die at once
 *       and nothing acknowledged is lost (opts.h: enum fs_mode).
 *   journal_max=1024    MiB of journal not yet applied to the mirror before
 *       new mutations wait for the applier (bounded journal, never dropped
 *       records).
 *   spool=/var/lib/ofsrep/spool, spool_max=512  Where journal groups
 *       wait while the secondary is lost (journal/spool.c), on the file
 *       server's own disk, and how many MiB before the spool gives up and
 *       the mirror needs a full resync.  512 MiB covers minutes of a busy
 *       file server's mutations and stays below journal_max, so the
 *       drained spool never holds writers at the journal bound.
 *   failover=auto       A lost primary is replaced by the mirror
 *       (fs/failover.c); off makes a lost primary freeze I/O until it is
 *       back, as an NFS hard mount does.
 *   failback=auto, failback_settle=60  After a failover the primary,
 *       once it answers again, is brought up to date from the mirror
 *       online (fs/failback.c); auto fails back once it has answered and
 *       been in sync for failback_settle seconds (a NAS that flaps never
 *       gets there), manual waits for `ofsrep failback MOUNTPOINT`.
 *       A minute keeps a NAS that is rebooting or flapping from taking
 *       the service back before it is stable.
 *   failover_timeout=3000  A secondary that leaves a journal write
 *       unanswered this long is lost (spooling starts); with the
 *       heartbeat this bounds the freeze a hung or cut NAS causes.  A
 *       refused or reset connection is lost at once.
 *   readahead=4096      KiB of kernel readahead.  The kernel gives a FUSE
 *       mount 128 KiB, which leaves one NFS READ in flight at a time;
 *       4 MiB keeps several 1 MiB READs going (measured: sequential read
 *       191 MB/s at 128 KiB, 1.3 GB/s at 4 MiB, docs/benchmarks.md).
 */
#include "fs/opts.h"
#include "journal/spool.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum {
	KEY_HELP,
	KEY_VERSION,
	KEY_FOREGROUND,
	KEY_DEBUG,
	KEY_DISCARD,
};

#define OPT(t, p) { t, offsetof(struct fs_opts, p), 1 }
#define OPTV(t, p, v) { t, offsetof(struct fs_opts, p), v }

static const struct fuse_opt fs_opt_table[] = {
	OPT("secondary=%s", secondary),
	OPT("spool=%s", spool_dir),
	OPT("spool_max=%d", spool_max_mb),
	OPT("failover_timeout=%d", failover_timeout_ms),
	OPT("failover=%s", failover_name),
	OPT("failback=%s", failback_name),
	OPT("failback_settle=%d", failback_settle_s),
	OPT("attr_timeout=%lf", attr_timeout),
	OPT("entry_timeout=%lf", entry_timeout),
	OPT("negative_timeout=%lf", negative_timeout),
	OPT("conns=%d", conns),
	OPT("rpc_timeout=%d", timeout_ms),
	OPT("probe_timeout=%d", probe_timeout_ms),
	OPT("wb_max=%d", wb_max_mb),
	OPT("readahead=%d", readahead_kb),
	OPTV("primary_only", no_secondary, 1),
	OPTV("journal", journal, 1),
	OPT("mode=%s", mode_name),
	OPT("node=%d", node),
	OPTV("noapply", no_apply, 1),
	OPT("journal_max=%d", journal_max_mb),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_KEY("-f", KEY_FOREGROUND),
	FUSE_OPT_KEY("-d", KEY_DEBUG),
	FUSE_OPT_KEY("debug", KEY_DEBUG),
	FUSE_OPT_KEY("_netdev", KEY_DISCARD),
	FUSE_OPT_KEY("nofail", KEY_DISCARD),
	FUSE_OPT_KEY("auto", KEY_DISCARD),
	FUSE_OPT_KEY("noauto", KEY_DISCARD),
	FUSE_OPT_KEY("user", KEY_DISCARD),
	FUSE_OPT_KEY("nouser", KEY_DISCARD),
	FUSE_OPT_KEY("users", KEY_DISCARD),
	FUSE_OPT_KEY("defaults", KEY_DISCARD),
	FUSE_OPT_END
};

static void fs_opts_usage(const char *prog)
{
	printf("usage: %s [-f] [-d] PRIMARY_URL MOUNTPOINT "
	       "-o secondary=SECONDARY_URL[,options]\n"
	       "       %s status [MOUNTPOINT] [--json]\n\n"
	       "URLs: nfs://HOST/EXPORT?nfsport=N&mountport=M (NFSv3, TCP)\n\n"
	       "ofsrep options:\n"
	       "    -o secondary=URL        the second export (required unless "
	       "primary_only)\n"
	       "    -o primary_only         no secondary (benchmarks, tests)\n"
	       "    -o mode=MODE            when a mutation is acknowledged: "
	       "journal (default),\n"
	       "                            full or async (see ofsrep(8))\n"
	       "    -o node=N               this node's journal id (1)\n"
	       "    -o journal_max=MIB      unapplied journal before writers "
	       "wait (1024)\n"
	       "    -o noapply              do not apply the journal to the "
	       "mirror here\n"
	       "    -o spool=DIR            local spool while the secondary is "
	       "lost\n"
	       "                            (" JNL_SPOOL_DIR_DEFAULT ")\n"
	       "    -o spool_max=MIB        spool bound, 0 = no spool (512)\n"
	       "    -o failover_timeout=MS  silence before an export is lost "
	       "(3000)\n"
	       "    -o failover=auto|off    serve from the mirror when the "
	       "primary is lost (auto)\n"
	       "    -o failback=auto|manual back to the primary once in sync "
	       "(auto)\n"
	       "    -o failback_settle=SEC  auto: healthy and in sync this "
	       "long first (60)\n"
	       "    -o attr_timeout=SEC     attribute cache time (1)\n"
	       "    -o entry_timeout=SEC    name cache time (1)\n"
	       "    -o negative_timeout=SEC cache time of misses (0)\n"
	       "    -o conns=N              connections to the primary, 1-8 (4)\n"
	       "    -o rpc_timeout=MS       request timeout before reconnect "
	       "(5000)\n"
	       "    -o probe_timeout=MS     mount-time reachability bound "
	       "(5000)\n"
	       "    -o wb_max=MIB           unstable MiB per file before COMMIT "
	       "(64)\n"
	       "    -o readahead=KIB        kernel readahead window (4096)\n"
	       "    -f                      stay in the foreground\n"
	       "    -d, -o debug            foreground with FUSE debug output\n"
	       "    -V, --version           print the version\n\n"
	       "FUSE options (allow_other, ro, ...) are passed to libfuse; "
	       "default_permissions is always on.\n", prog, prog);
}

static int fs_opts_proc(void *data, const char *arg, int key,
			struct fuse_args *outargs)
{
	struct fs_opts *o = data;

	switch (key) {
	case KEY_HELP:
		o->show_help = 1;
		return 0;
	case KEY_VERSION:
		o->show_version = 1;
		return 0;
	case KEY_FOREGROUND:
		o->foreground = 1;
		return 0;
	case KEY_DEBUG:
		o->debug = o->foreground = 1;
		return 1;	/* libfuse prints its request trace */
	case KEY_DISCARD:
		return 0;
	case FUSE_OPT_KEY_NONOPT:
		if (!o->primary)
			return (o->primary = strdup(arg)) ? 0 : -1;
		if (!o->mountpoint)
			return (o->mountpoint = strdup(arg)) ? 0 : -1;
		fprintf(stderr, "ofsrep: unexpected argument '%s' (give "
			"PRIMARY_URL MOUNTPOINT once; see --help)\n", arg);
		return -1;
	case FUSE_OPT_KEY_OPT:
		return strncmp(arg, "x-", 2) ? 1 : 0;	/* x-systemd.* etc. */
	default:
		return 1;
	}
}

static int fs_opts_bad(const char *what)
{
	fprintf(stderr, "ofsrep: %s\n", what);
	return -1;
}

const char *fs_mode_name(int mode)
{
	static const char *const names[] = {
		[FS_MODE_NONE] = "none", [FS_MODE_JOURNAL] = "journal",
		[FS_MODE_FULL] = "full", [FS_MODE_ASYNC] = "async",
	};

	return mode >= 0 && mode <= FS_MODE_ASYNC ? names[mode] : "?";
}

/* mode= (and the older -o journal) against primary_only. */
static int fs_opts_mode(struct fs_opts *o)
{
	if (o->no_secondary) {
		if (o->journal || o->mode_name)
			return fs_opts_bad("-o mode= and -o journal need a "
					   "secondary: drop -o primary_only");
		o->mode = FS_MODE_NONE;
		return 0;
	}
	o->mode = FS_MODE_JOURNAL;
	if (!o->mode_name)
		return 0;
	for (int m = FS_MODE_JOURNAL; m <= FS_MODE_ASYNC; m++)
		if (!strcmp(o->mode_name, fs_mode_name(m))) {
			o->mode = m;
			if (o->journal && m != FS_MODE_JOURNAL)
				return fs_opts_bad("-o journal means "
						   "mode=journal; give one");
			return 0;
		}
	fprintf(stderr, "ofsrep: -o mode=%s: unknown mode (use journal, "
		"full or async)\n", o->mode_name);
	return -1;
}

static int fs_opts_validate(struct fs_opts *o)
{
	struct stat st;
	char *real;

	if (!o->primary || !o->mountpoint)
		return fs_opts_bad("need PRIMARY_URL and MOUNTPOINT "
				   "(see ofsrep --help)");
	if (!o->secondary && !o->no_secondary)
		return fs_opts_bad("missing -o secondary=URL (the second "
				   "export; or -o primary_only to run "
				   "without replication)");
	if (o->secondary && o->no_secondary)
		return fs_opts_bad("-o secondary= and -o primary_only "
				   "exclude each other");
	if (fs_opts_mode(o))
		return -1;
	if (o->journal_max_mb < 64 || o->journal_max_mb > 1048576)
		return fs_opts_bad("-o journal_max= must be from 64 to 1048576 "
				   "MiB");
	if (o->spool_max_mb < 0 || o->spool_max_mb > 1048576)
		return fs_opts_bad("-o spool_max= must be from 0 (no spool) to "
				   "1048576 MiB");
	if (o->failover_timeout_ms < 100 || o->failover_timeout_ms > 600000)
		return fs_opts_bad("-o failover_timeout= must be from 100 to "
				   "600000 ms");
	if (o->failover_name && strcmp(o->failover_name, "auto") &&
	    strcmp(o->failover_name, "off")) {
		fprintf(stderr, "ofsrep: -o failover=%s: unknown (use auto, "
			"the default, or off)\n", o->failover_name);
		return -1;
	}
	o->failover_off = o->failover_name &&
			  !strcmp(o->failover_name, "off");
	if (o->failback_name && strcmp(o->failback_name, "auto") &&
	    strcmp(o->failback_name, "manual")) {
		fprintf(stderr, "ofsrep: -o failback=%s: unknown (use auto, "
			"the default, or manual)\n", o->failback_name);
		return -1;
	}
	o->failback_manual = o->failback_name &&
			     !strcmp(o->failback_name, "manual");
	if (o->failback_settle_s < 0 || o->failback_settle_s > 86400)
		return fs_opts_bad("-o failback_settle= must be from 0 to "
				   "86400 seconds");
	if (o->spool_dir && o->spool_dir[0] != '/')
		return fs_opts_bad("-o spool= must be an absolute path (a "
				   "local directory)");
	if (o->node < 1)
		return fs_opts_bad("-o node= must be a positive number");
	if (o->conns < 1 || o->conns > 8)
		return fs_opts_bad("-o conns= must be from 1 to 8");
	if (o->timeout_ms < 100 || o->probe_timeout_ms < 100)
		return fs_opts_bad("-o rpc_timeout= and -o probe_timeout= are "
				   "milliseconds, at least 100");
	if (o->attr_timeout < 0 || o->entry_timeout < 0 ||
	    o->negative_timeout < 0)
		return fs_opts_bad("cache timeouts must be >= 0 seconds");
	if (o->wb_max_mb < 1 || o->wb_max_mb > 4096)
		return fs_opts_bad("-o wb_max= must be from 1 to 4096 MiB");
	if (o->readahead_kb < 0 || o->readahead_kb > 65536)
		return fs_opts_bad("-o readahead= must be from 0 to 65536 KiB");
	/* Kept absolute: the daemon chdir()s to / when it daemonizes, and
	 * unmounting on SIGTERM/SIGINT goes by this path (libfuse's own
	 * command line parser does the same). */
	real = realpath(o->mountpoint, NULL);
	if (!real || stat(real, &st)) {
		fprintf(stderr, "ofsrep: mount point %s: %s\n", o->mountpoint,
			strerror(errno));
		free(real);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "ofsrep: mount point %s: not a directory\n",
			o->mountpoint);
		free(real);
		return -1;
	}
	free(o->mountpoint);
	o->mountpoint = real;
	return 0;
}

int fs_opts_parse(struct fuse_args *args, struct fs_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->attr_timeout = 1.0;
	o->entry_timeout = 1.0;
	o->conns = 4;
	o->timeout_ms = 5000;
	o->probe_timeout_ms = 5000;
	o->wb_max_mb = 64;
	o->readahead_kb = 4096;
	o->node = 1;
	o->journal_max_mb = 1024;
	o->spool_max_mb = 512;
	o->failover_timeout_ms = 3000;
	o->failback_settle_s = 60;
	if (fuse_opt_parse(args, o, fs_opt_table, fs_opts_proc) == -1)
		return -1;
	if (o->show_help) {
		fs_opts_usage(args->argv[0]);
		return 1;
	}
	if (o->show_version) {
		printf("ofsrep %s (libfuse %s)\n", OFSREP_VERSION,
		       fuse_pkgversion());
		return 1;
	}
	if (fs_opts_validate(o))
		return -1;
	if (fuse_opt_add_arg(args, "-odefault_permissions") ||
	    fuse_opt_add_arg(args, "-osubtype=ofsrep"))
		return fs_opts_bad("out of memory");
	return 0;
}

void fs_opts_free(struct fs_opts *o)
{
	free(o->primary);
	free(o->mountpoint);
	free(o->secondary);
	free(o->mode_name);
	free(o->spool_dir);
	free(o->failover_name);
	free(o->failback_name);
}
