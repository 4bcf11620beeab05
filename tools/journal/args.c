// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * args.c — the command line of ofsrep-journal: the options (getopt_long),
 * their values and ranges, which command takes which, and the checks
 * after parsing.  Every error is one line on stderr and exit 16
 * (usage_error(), main.c).
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "replica/applier.h"
#include "replica/url.h"
#include "tools/journal/tool.h"

#define MAX_COUNT		100000000ull
#define MAX_GROUP		1000000ull

/* Which option was given, for "does not apply to" errors. */
enum {
	OPT_NODE = 1u << 0,
	OPT_COUNT = 1u << 1,
	OPT_GROUP = 1u << 2,
	OPT_PAYLOAD = 1u << 3,
	OPT_SEGLIMIT = 1u << 4,
	OPT_TIMEOUT = 1u << 5,
	OPT_JSON = 1u << 6,
	OPT_VERBOSE = 1u << 7,
	OPT_SEQ = 1u << 8,
	OPT_SCRIPT = 1u << 9,
	OPT_BATCH = 1u << 10,
	OPT_TO = 1u << 11,
};

int parse_u64(const char *s, uint64_t min, uint64_t max,
	      uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 0;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	if (*end == 'k' || *end == 'K')
		shift = 10;
	else if (*end == 'm' || *end == 'M')
		shift = 20;
	else if (*end == 'g' || *end == 'G')
		shift = 30;
	if ((shift && end[1]) || (!shift && *end) || v > (max >> shift) ||
	    (v << shift) < min)
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

static const struct option long_opts[] = {
	{ "node", required_argument, NULL, 'n' },
	{ "count", required_argument, NULL, 'c' },
	{ "group", required_argument, NULL, 'g' },
	{ "payload", required_argument, NULL, 'p' },
	{ "seg-limit", required_argument, NULL, 'l' },
	{ "timeout-ms", required_argument, NULL, 't' },
	{ "seq", required_argument, NULL, 's' },
	{ "script", required_argument, NULL, 'S' },
	{ "batch", required_argument, NULL, 'b' },
	{ "to", required_argument, NULL, 'T' },
	{ "json", no_argument, NULL, 'j' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* One option's value into *o: 0 or -EINVAL. */
static int parse_opt(struct opts *o, int c, const char *arg)
{
	uint64_t v = 0;
	int rc = 0;

	switch (c) {
	case 'n':
		rc = parse_u64(arg, 1, UINT32_MAX, &v);
		o->node = (uint32_t)v;
		break;
	case 'c':
		rc = parse_u64(arg, 1, MAX_COUNT, &o->count);
		break;
	case 'g':
		rc = parse_u64(arg, 1, MAX_GROUP, &o->group);
		break;
	case 'p':
		rc = parse_u64(arg, 1, JNL_MAX_WRITE, &o->payload);
		break;
	case 'l':
		rc = parse_u64(arg, 4096, 1ull << 40, &o->seg_limit);
		break;
	case 't':
		rc = parse_u64(arg, 1000, 3600000, &v);
		o->timeout_ms = (int)v;
		break;
	case 's':
		rc = parse_u64(arg, 1, UINT64_MAX - 1, &o->seq);
		break;
	case 'S':
		o->script = arg;
		break;
	case 'b':
		rc = parse_u64(arg, 1, APL_BATCH_MAX, &o->batch);
		break;
	case 'T':
		rc = parse_u64(arg, 1, UINT64_MAX - 1, &o->to);
		break;
	case 'j':
		o->json = true;
		break;
	case 'v':
		o->verbose = true;
		break;
	}
	return rc;
}

/* The OPT_* bit, long name and accepted range of each option. */
static const struct {
	int c;
	unsigned bit;
	const char *name;
	const char *range;
} opt_table[] = {
	{ 'n', OPT_NODE, "--node", "a node id from 1 to 4294967295" },
	{ 'c', OPT_COUNT, "--count", "a count from 1 to 100000000" },
	{ 'g', OPT_GROUP, "--group", "a group size from 1 to 1000000" },
	{ 'p', OPT_PAYLOAD, "--payload", "a size from 1 to 1m bytes" },
	{ 'l', OPT_SEGLIMIT, "--seg-limit", "a size from 4k to 1024g bytes" },
	{ 't', OPT_TIMEOUT, "--timeout-ms", "1000 to 3600000 ms" },
	{ 's', OPT_SEQ, "--seq", "a seq from 1" },
	{ 'S', OPT_SCRIPT, "--script", "" },
	{ 'b', OPT_BATCH, "--batch", "a batch size from 1 to 1000000" },
	{ 'T', OPT_TO, "--to", "a seq from 1" },
	{ 'j', OPT_JSON, "--json", "" },
	{ 'v', OPT_VERBOSE, "-v", "" },
};

#define OPT_TABLE_N	(sizeof(opt_table) / sizeof(opt_table[0]))

/* opt_table's entry for getopt's c (one of long_opts' values). */
static unsigned opt_index(int c)
{
	unsigned i;

	for (i = 0; i + 1 < OPT_TABLE_N; i++)
		if (opt_table[i].c == c)
			break;
	return i;
}

/* Options each command takes; the rest are errors. */
unsigned cmd_allows(const char *cmd)
{
	if (!strcmp(cmd, "append"))
		return OPT_NODE | OPT_COUNT | OPT_GROUP | OPT_PAYLOAD |
		       OPT_SEGLIMIT | OPT_TIMEOUT | OPT_JSON | OPT_SCRIPT;
	if (!strcmp(cmd, "check"))
		return OPT_NODE | OPT_TIMEOUT | OPT_JSON | OPT_VERBOSE;
	if (!strcmp(cmd, "ckpt"))
		return OPT_NODE | OPT_SEQ | OPT_TIMEOUT;
	if (!strcmp(cmd, "apply"))
		return OPT_NODE | OPT_BATCH | OPT_TO | OPT_TIMEOUT | OPT_JSON;
	return 0;
}

int parse_args(int argc, char **argv, struct opts *o)
{
	char msg[128];
	unsigned i;
	int c;

	opterr = 0;	/* our own one-line errors */
	while ((c = getopt_long(argc, argv, ":vh", long_opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			exit(EX_OK);
		}
		if (c == '?' || c == ':')
			return usage_error(c == ':' ? "missing value after "
					   "'%s'" : "unknown option '%s'",
					   argv[optind - 1]);
		i = opt_index(c);
		if (parse_opt(o, c, optarg)) {
			snprintf(msg, sizeof(msg), "%%s: expected %s, got '%s'",
				 opt_table[i].range, optarg);
			return usage_error(msg, opt_table[i].name);
		}
		o->given |= opt_table[i].bit;
	}
	if (optind >= argc)
		return usage_error("%s: missing URL", o->cmd);
	o->url = argv[optind];
	if (optind + 1 < argc)
		return usage_error("unexpected argument '%s'", argv[optind + 1]);
	return 0;
}

int validate(const struct opts *o)
{
	unsigned extra = o->given & ~cmd_allows(o->cmd);
	struct rep_url url;
	char msg[JSTORE_ERR_MAX];

	for (unsigned i = 0; extra && i < OPT_TABLE_N; i++) {
		if (!(extra & opt_table[i].bit))
			continue;
		snprintf(msg, sizeof(msg), "%s does not take %%s", o->cmd);
		return usage_error(msg, opt_table[i].name);
	}
	if (!(o->given & OPT_NODE))
		return usage_error("%s: --node N is required", o->cmd);
	if (!strcmp(o->cmd, "append") && !(o->given & (OPT_COUNT | OPT_SCRIPT)))
		return usage_error("%s: --count C or --script FILE is required",
				   o->cmd);
	if ((o->given & OPT_SCRIPT) && (o->given & (OPT_COUNT | OPT_PAYLOAD)))
		return usage_error("%s: --script takes neither --count nor "
				   "--payload", o->cmd);
	if (!strcmp(o->cmd, "ckpt") && !(o->given & OPT_SEQ))
		return usage_error("%s: --seq S is required", o->cmd);
	if (rep_url_parse(o->url, &url, msg, sizeof(msg)))
		return usage_error("%s", msg);
	return 0;
}
