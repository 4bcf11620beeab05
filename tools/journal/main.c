// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ofsrep-journal: write and check a node's journal on an export.
 *
 *   ofsrep-journal append URL --node N --count C [--group G]
 *                  [--payload BYTES] [--seg-limit BYTES] [--timeout-ms MS]
 *                  [--json]
 *   ofsrep-journal check URL --node N [--json] [-v] [--timeout-ms MS]
 *   ofsrep-journal append URL --node N --script FILE [--group G] [...]
 *   ofsrep-journal ckpt URL --node N --seq S [--timeout-ms MS]
 *   ofsrep-journal apply URL --node N [--batch B] [--to SEQ] [--json]
 *                  [--timeout-ms MS]
 *
 * append  reads the node's journal to its end (journal/reader.h), takes a
 *         new epoch (W2) and continues the journal (W3): C synthetic but
 *         well-formed records, G per group, each group one durable write
 *         (replica/jstore.h).  The records depend only on their seq (see
 *         syn_op()), so runs that differ only in --group write the same
 *         records.  With --script the records are FILE's instead, one per
 *         line (script_next(): create, mkdir, write, rename, link, ...),
 *         checked whole before anything is written.  A failed write ends
 *         the run with one line saying how far the journal is durable;
 *         the next run resumes after it.
 * check   reads every segment, walks them with the reader and reports the
 *         records, segments, epochs, last seq and how the journal ends
 *         (jnl_end_describe()), then checks the applier's checkpoint, if
 *         any, by reading the journal from it as the applier would.  This
 *         is the seed of ofsrep-fsck: it reads, it never repairs.
 * ckpt    writes a checkpoint "applied up to seq S" into the other slot
 *         of applied.ckpt, as the applier will (for tests and operators).
 * apply   runs the mirror applier (replica/applier.h): applies every
 *         record after the checkpoint to EXPORT/.ofsrep/mirror, B per
 *         batch, storing the checkpoint after each batch, and prints the
 *         records applied and skipped, the new checkpoint and the time.
 *         --to SEQ stops after record SEQ (tests, and operators who want
 *         the mirror as of a point of the journal).  Debugging:
 *         OFSREP_APPLY_TRACE=FILE appends a line per record and per
 *         replay decision to FILE.
 *
 * URL is nfs://HOST/EXPORT_PATH?nfsport=N&mountport=M; the journal is
 * EXPORT/.ofsrep/journal/<node>/ (replica/jstore.h).
 *
 * Exit status, e2fsck style (/work/shared/notes/style.md, fsck contract):
 *   0  clean, or a torn tail / empty last segment (end of log, no error)
 *   4  the journal is damaged or refused (newer version); append refuses
 *      to write after damage; check also returns 4 for a checkpoint that
 *      does not fit the journal; apply returns 4 when the journal is
 *      damaged or the mirror does not fit it (nothing after is applied)
 *   8  operational error (unreachable export, timeout, I/O error)
 *  16  usage error (one line on stderr), or a bad --script line
 *
 * Files (tools/journal/, sharing tool.h):
 *   main.c    this: usage, usage errors, the command dispatch
 *   args.c    options, their ranges, which command takes which
 *   walk.c    the journal as read: segment files, reader walk, tallies
 *   print.c   shared output: operational errors, end of log, JSON strings
 *   syn.c     append's synthetic record stream (--count)
 *   script.c  append's script record stream (--script)
 *   append.c, check.c, ckpt.c, apply.c   the four commands
 *
 * Build: make (build/ofsrep-journal).  Test:
 *   /usr/bin/python3 -m pytest tests/integration/test_journal_store.py \
 *       tests/integration/test_applier.py
 */
#include <stdio.h>
#include <string.h>

#include "replica/applier.h"
#include "tools/journal/tool.h"

#define DEF_TIMEOUT_MS		5000
#define DEF_GROUP		16
#define DEF_PAYLOAD		64

void usage(FILE *f)
{
	fprintf(f,
"usage: " PROG " append URL --node N --count C [--group G] [--payload BYTES]\n"
"                      [--seg-limit BYTES] [--timeout-ms MS] [--json]\n"
"       " PROG " append URL --node N --script FILE [--group G] [...]\n"
"       " PROG " check URL --node N [--json] [-v] [--timeout-ms MS]\n"
"       " PROG " ckpt URL --node N --seq S [--timeout-ms MS]\n"
"       " PROG " apply URL --node N [--batch B] [--to SEQ] [--json]\n"
"                      [--timeout-ms MS]\n"
"  URL    nfs://HOST/EXPORT_PATH?nfsport=N&mountport=M (journal in\n"
"         EXPORT/.ofsrep/journal/N/)\n"
"  --group G        records per group write (default %d)\n"
"  --payload BYTES  data bytes per WRITE record (default %d; k, m suffixes)\n"
"  --seg-limit BYTES  roll to a new segment beyond this (default 64m)\n"
"  --script FILE    append the records FILE lists, one per line (see\n"
"                   docs/journal-format.md)\n"
"  --batch B        apply: records per batch and checkpoint (default %u)\n"
"  --to SEQ         apply: stop after record SEQ\n"
"  --timeout-ms MS  per-RPC and connect timeout (default %d)\n"
"  exit: 0 clean or torn tail, 4 damaged/refused, 8 error, 16 usage\n",
		DEF_GROUP, DEF_PAYLOAD, APL_BATCH_DEFAULT, DEF_TIMEOUT_MS);
}

int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, PROG ": ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (" PROG " --help for usage)\n");
	return EX_USAGE;
}

int main(int argc, char **argv)
{
	struct opts o = {
		.group = DEF_GROUP, .payload = DEF_PAYLOAD,
		.timeout_ms = DEF_TIMEOUT_MS,
	};
	int rc;

	if (argc < 2)
		return usage_error("missing command%s (append, check, ckpt, "
				   "apply)", "");
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return EX_OK;
	}
	o.cmd = argv[1];
	if (!cmd_allows(o.cmd))
		return usage_error("unknown command '%s' (append, check, ckpt, "
				   "apply)", o.cmd);
	rc = parse_args(argc - 1, argv + 1, &o);
	if (!rc)
		rc = validate(&o);
	if (rc)
		return rc;
	if (!strcmp(o.cmd, "append"))
		return cmd_append(&o);
	if (!strcmp(o.cmd, "check"))
		return cmd_check(&o);
	if (!strcmp(o.cmd, "apply"))
		return cmd_apply(&o);
	return cmd_ckpt(&o);
}
