/*
 * ofsrep-fsck — check and repair the journals on an ofsrep secondary
 * export, with e2fsck's manners (docs/ofsrep-fsck.8).
 *
 *   ofsrep-fsck [-n|-y|-p] [-f] [-v] [-C FD] [--json] [--node N]
 *               [--break-lease] [--timeout-ms MS] [--verify]
 *               [--resync=mirror|primary] [--keep=primary|secondary]
 *               [--spool=DIR]
 *               SECONDARY_URL [PRIMARY_URL]
 *   ofsrep-fsck [options] MOUNTPOINT       (the URLs from its fstab line)
 *
 * For each node's journal (every node found, or --node N) it runs the
 * passes of node.c: the lease, segments and records (cut a torn tail,
 * quarantine damage), the checkpoint, and the replay of what the mirror
 * has not applied; then pass 4 (trees.c): the split-brain guard, and with
 * --verify or --resync the primary's tree against the mirror.  It never
 * changes a journal a live mount owns (the lease, replica/lease.c); -n
 * only reads.
 *
 * Exit codes, OR'd as e2fsck's: 0 no errors, 1 errors corrected, 2 (not
 * used: no live mount is ever changed), 4 errors left uncorrected,
 * 8 operational error, 16 usage error, 32 cancelled (SIGINT).
 *
 * Files: main.c (this: options, fstab, nodes, summary), ask.c (questions,
 * progress, messages), node.c (the passes and repairs), trees.c (pass 4); the journal is
 * read with tools/journal/walk.c, repaired through replica/jstore_admin.c.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "journal/spool.h"
#include "replica/jstore.h"
#include "tools/fsck/fsck.h"

#define PROG "ofsrep-fsck"

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG " [-n|-y|-p] [-f] [-v] [-C FD] [--json] "
		"[--node N] [--break-lease]\n"
		"                   [--timeout-ms MS] [--verify] "
		"[--resync=mirror|primary]\n"
		"                   [--spool=DIR] SECONDARY_URL "
		"[PRIMARY_URL]\n"
		"       " PROG " [options] MOUNTPOINT   (URLs from its "
		"fuse.ofsrep fstab line)\n"
		"  -n  check only, answer no     -y  answer yes\n"
		"  -p  preen: fix what is safe, stop (exit 4) otherwise\n"
		"  -f  check even if clean (the journal is always read "
		"whole)\n"
		"  -v  verbose     -C FD  progress on FD (0: a bar)\n"
		"  --json  a JSON report on stdout (needs -n, -y or -p)\n"
		"  --verify  compare the primary with the mirror (needs "
		"PRIMARY_URL)\n"
		"  --resync=mirror   make the mirror equal to the primary\n"
		"  --resync=primary  make the primary equal to the mirror "
		"(after a failover)\n"
		"  --keep=primary|secondary  split brain: keep that side's "
		"tree, overwrite the other\n"
		"  --spool=DIR  the mount's spool directory (default "
		JNL_SPOOL_DIR_DEFAULT ")\n"
		"exit: 0 clean, 1 corrected, 4 left uncorrected, 8 error, "
		"16 usage, 32 cancelled\n");
}

static int usage_error(const char *msg, const char *arg)
{
	fprintf(stderr, PROG ": %s%s%s (see " PROG " --help)\n", msg,
		arg ? ": " : "", arg ? arg : "");
	return FX_USAGE;
}

static void on_sigint(int sig)
{
	(void)sig;
	fsck_interrupted = 1;
}

/* MOUNTPOINT: the fuse.ofsrep line of $OFSREP_FSTAB or /etc/fstab. */
static int from_fstab(const char *mnt, char **primary, char **secondary,
		      uint32_t *node)
{
	const char *path = getenv("OFSREP_FSTAB") ? getenv("OFSREP_FSTAB") :
			   "/etc/fstab";
	char line[4096], spec[2048], where[PATH_MAX], type[64], opts[2048];
	char want[PATH_MAX];
	FILE *f = fopen(path, "r");

	if (!realpath(mnt, want))
		snprintf(want, sizeof(want), "%s", mnt);
	if (!f) {
		fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
		return FX_ERROR;
	}
	while (fgets(line, sizeof(line), f)) {
		char real[PATH_MAX];
		char *o, *save = NULL;

		if (sscanf(line, " %2047s %4095s %63s %2047s", spec, where,
			   type, opts) != 4 || spec[0] == '#' ||
		    strcmp(type, "fuse.ofsrep"))
			continue;
		if (strcmp(where, want) && (!realpath(where, real) ||
					    strcmp(real, want)))
			continue;
		fclose(f);
		*primary = strdup(spec);
		for (o = strtok_r(opts, ",", &save); o;
		     o = strtok_r(NULL, ",", &save)) {
			if (!strncmp(o, "secondary=", 10))
				*secondary = strdup(o + 10);
			else if (!strncmp(o, "node=", 5) && !*node)
				*node = (uint32_t)strtoul(o + 5, NULL, 10);
		}
		if (!*secondary) {
			fprintf(stderr, PROG ": %s: the line for %s has no "
				"secondary=\n", path, want);
			return FX_ERROR;
		}
		return 0;
	}
	fclose(f);
	fprintf(stderr, PROG ": %s is not a URL and %s has no fuse.ofsrep "
		"line for it\n", mnt, path);
	return FX_USAGE;
}

static int parse(int argc, char **argv, struct fsck_opts *o, char **own1,
		 char **own2)
{
	static const struct option longs[] = {
		{ "json", no_argument, NULL, 'J' },
		{ "node", required_argument, NULL, 'N' },
		{ "break-lease", no_argument, NULL, 'B' },
		{ "timeout-ms", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ "verify", no_argument, NULL, 'V' },
		{ "resync", required_argument, NULL, 'R' },
		{ "keep", required_argument, NULL, 'K' },
		{ "spool", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	int modes = 0;
	int c;
	char *end;
	unsigned long v;

	opterr = 0;	/* one line of our own instead of getopt's */
	while ((c = getopt_long(argc, argv, "nypafvC:h", longs, NULL)) != -1) {
		switch (c) {
		case 'n':
			o->mode = ASK_NO;
			modes++;
			break;
		case 'y':
			o->mode = ASK_YES;
			modes++;
			break;
		case 'p':
		case 'a':
			o->mode = ASK_PREEN;
			modes++;
			break;
		case 'f':
			o->force = true;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'C':
			v = strtoul(optarg, &end, 10);
			if (*end || !*optarg || v > INT_MAX)
				return usage_error("-C wants a file descriptor",
						   optarg);
			o->progress_fd = (int)v;
			break;
		case 'J':
			o->json = true;
			break;
		case 'N':
			v = strtoul(optarg, &end, 10);
			if (*end || !v || v > UINT32_MAX)
				return usage_error("--node wants a node id "
						   "from 1", optarg);
			o->node = (uint32_t)v;
			break;
		case 'B':
			o->break_lease = true;
			break;
		case 'T':
			v = strtoul(optarg, &end, 10);
			if (*end || v < 100 || v > 600000)
				return usage_error("--timeout-ms wants 100 to "
						   "600000", optarg);
			o->timeout_ms = (int)v;
			break;
		case 'V':
			o->verify = true;
			break;
		case 'R':
			if (!strcmp(optarg, "mirror"))
				o->resync = FSCK_RESYNC_MIRROR;
			else if (!strcmp(optarg, "primary"))
				o->resync = FSCK_RESYNC_PRIMARY;
			else
				return usage_error("--resync wants mirror (the "
						   "mirror made equal to the "
						   "primary) or primary",
						   optarg);
			break;
		case 'K':
			/* Split brain: which side's tree wins, on purpose. */
			if (!strcmp(optarg, "primary")) {
				o->resync = FSCK_RESYNC_MIRROR;
				o->keep = true;
			} else if (!strcmp(optarg, "secondary")) {
				o->resync = FSCK_RESYNC_PRIMARY;
				o->keep = true;
			} else {
				return usage_error("--keep wants primary or "
						   "secondary (the side whose "
						   "tree is kept)", optarg);
			}
			break;
		case 'S':
			if (optarg[0] != '/')
				return usage_error("--spool wants an absolute "
						   "directory", optarg);
			o->spool_dir = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return usage_error(c == ':' || (optopt && strchr(
					   "C", optopt)) ? "option needs a "
					   "value" : "unknown option",
					   argv[optind - 1]);
		}
	}
	if (modes > 1)
		return usage_error("give only one of -n, -y and -p", NULL);
	if (o->resync && o->mode == ASK_NO)
		return usage_error("--resync and --keep change a tree; -n "
				   "only reads", NULL);
	if (o->resync && o->mode == ASK_PREEN)
		return usage_error("--resync and --keep are not safe repairs: "
				   "use -y or answer the question", NULL);
	if (o->json && o->progress_fd == 0)
		return usage_error("-C 0 draws on stdout, which --json uses: "
				   "give -C another fd", NULL);
	if (o->json && o->mode == ASK_INTERACTIVE)
		return usage_error("--json asks nobody: add -n, -y or -p",
				   NULL);
	if (optind == argc || argc - optind > 2)
		return usage_error("give SECONDARY_URL [PRIMARY_URL] or a "
				   "MOUNTPOINT", NULL);
	if (strncmp(argv[optind], "nfs://", 6)) {
		if (argc - optind != 1)
			return usage_error("a MOUNTPOINT comes alone",
					   argv[optind + 1]);
		c = from_fstab(argv[optind], own1, own2, &o->node);
		if (!o->node)
			o->node = 1;	/* the mount's default node id */
		o->primary = *own1;
		o->secondary = *own2;
		return c;
	}
	o->secondary = argv[optind];
	o->primary = argc - optind == 2 ? argv[optind + 1] : NULL;
	if ((o->verify || o->resync) && !o->primary)
		return usage_error("--verify, --resync and --keep compare two "
				   "trees: "
				   "give PRIMARY_URL after SECONDARY_URL",
				   NULL);
	return 0;
}

static int list_nodes(const struct fsck_opts *o, uint32_t **nodes,
		      size_t *n)
{
	struct jstore js;
	char err[JSTORE_ERR_MAX];
	int rc;

	if (o->node) {
		*nodes = malloc(sizeof(**nodes));
		if (!*nodes)
			return -ENOMEM;
		**nodes = o->node;
		*n = 1;
		return 0;
	}
	rc = jstore_open(&js, o->secondary, 1, o->timeout_ms, err,
			 sizeof(err));
	if (!rc)
		rc = jstore_list_nodes(&js, nodes, n, err, sizeof(err));
	if (rc)
		fprintf(stderr, PROG ": %s\n", err);
	jstore_close(&js);
	return rc;
}

int main(int argc, char **argv)
{
	struct fsck_opts o = { .progress_fd = -1, .timeout_ms = 5000 };
	struct fsck_node *r = NULL;
	uint32_t *nodes = NULL;
	char *own1 = NULL, *own2 = NULL;
	size_t n = 0;
	int ex;

	ex = parse(argc, argv, &o, &own1, &own2);
	if (ex)
		goto out;
	signal(SIGPIPE, SIG_IGN);
	/* no SA_RESTART: Ctrl-C at a question ends the wait for an answer */
	sigaction(SIGINT, &(struct sigaction){ .sa_handler = on_sigint },
		  NULL);
	if (list_nodes(&o, &nodes, &n)) {
		ex = FX_ERROR;
		goto out;
	}
	r = calloc(n ? n : 1, sizeof(*r));
	if (!r) {
		ex = FX_ERROR;
		goto out;
	}
	if (!n)
		fsck_say(&o, PROG ": no journal on %s: nothing to check\n",
			 o.secondary);
	for (size_t i = 0; i < n && !fsck_interrupted; i++) {
		ex |= fsck_node(&o, nodes[i], &r[i]);
		for (unsigned k = 0; k < r[i].nproblems; k++)
			if (!r[i].problems[k].fixed)
				fsck_say(&o, "Node %" PRIu32 ": %s: %s\n",
					 nodes[i], r[i].problems[k].kind,
					 r[i].problems[k].what);
		fsck_say(&o, "Node %" PRIu32 ": %" PRIu64 " records in %zu "
			 "segments, %u epochs, %s; %" PRIu64 " not yet "
			 "applied\n", nodes[i], r[i].records, r[i].segments,
			 r[i].epochs, r[i].end, r[i].pending);
		if (fsck_preen_stopped)
			break;
	}
	if (fsck_interrupted) {
		ex |= FX_CANCELLED;
		fsck_say(&o, PROG ": interrupted; run it again to finish\n");
	}
	if (o.json)
		fsck_report_json(&o, ex, r, n);
out:
	for (size_t i = 0; r && i < n; i++) {
		for (unsigned k = 0; k < r[i].ndiff_lines; k++)
			free(r[i].diff_lines[k]);
		free(r[i].diff_lines);
	}
	free(r);
	free(nodes);
	free(own1);
	free(own2);
	return ex;
}
