/*
 * opts.h — mount options (see opts.c for the table and defaults).
 */
#ifndef OFSREP_OPTS_H
#define OFSREP_OPTS_H

#include <fuse_lowlevel.h>

struct fs_opts {
	char *primary;		/* first positional argument */
	char *mountpoint;	/* second positional argument */
	char *secondary;	/* -o secondary=URL */
	double attr_timeout;	/* seconds the kernel caches attributes */
	double entry_timeout;	/* seconds the kernel caches names */
	double negative_timeout; /* seconds a miss is cached */
	int conns;		/* NFS connections to the primary */
	int timeout_ms;		/* per-RPC timeout before reconnecting */
	int probe_timeout_ms;	/* mount-time reachability bound */
	int wb_max_mb;		/* unstable bytes per file before COMMIT */
	int readahead_kb;	/* kernel readahead window for the mount */
	int foreground;
	int debug;
	int show_help;
	int show_version;
	int no_secondary;	/* -o primary_only: benchmark/debug switch */
	int journal;		/* -o journal: the old name of mode=journal */
	char *mode_name;	/* -o mode=journal|full|async */
	int mode;		/* enum fs_mode, from mode_name */
	int node;		/* -o node=N: this writer's journal id */
	int no_apply;		/* -o noapply: leave the mirror to a tool */
	int journal_max_mb;	/* unapplied journal before writers wait */
	char *spool_dir;	/* -o spool=DIR: local spool directory */
	int spool_max_mb;	/* -o spool_max=MIB; 0 = no spool */
	int failover_timeout_ms; /* an export silent this long is lost */
	char *failover_name;	/* -o failover=auto|off */
	int failover_off;	/* from failover_name */
	char *failback_name;	/* -o failback=auto|manual */
	int failback_manual;	/* from failback_name */
	int failback_settle_s;	/* -o failback_settle=SEC */
};

/* When an application's mutation is acknowledged (design-brief promises):
 *   FS_MODE_NONE     primary only (-o primary_only): no replication;
 *   FS_MODE_JOURNAL  the primary replied and the record is durable in the
 *                    secondary's journal (default);
 *   FS_MODE_FULL     as journal, and the primary has the data on stable
 *                    storage too (WRITEs are FILE_SYNC);
 *   FS_MODE_ASYNC    the primary replied; the record is in the writer's
 *                    group buffer and reaches the secondary behind (lag
 *                    bounded by the two group buffers, 8 MiB). */
enum fs_mode { FS_MODE_NONE, FS_MODE_JOURNAL, FS_MODE_FULL, FS_MODE_ASYNC };

const char *fs_mode_name(int mode);

/* Parses argv into @opts and leaves in @args what libfuse should see.
 * Returns 0, 1 when it printed help/version and the caller should exit 0,
 * or -1 after printing one error line. */
int fs_opts_parse(struct fuse_args *args, struct fs_opts *opts);
void fs_opts_free(struct fs_opts *opts);

#endif
