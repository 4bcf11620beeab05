// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ckpt.c — the ckpt command: writes a checkpoint "applied up to seq S"
 * into the other slot of applied.ckpt than the newest, as the applier
 * does (for tests and operators).  S must be a valid record of the
 * journal; the checkpoint is the reader's position right after it.
 */
#include <inttypes.h>
#include <stdio.h>

#include "tools/journal/tool.h"

int cmd_ckpt(const struct opts *o)
{
	struct journal j;
	struct jnl_reader rd;
	struct tally t = { 0 };
	struct jnl_ckpt ck;
	struct jnl_ckpt old;
	unsigned slot = 1;
	int rc = journal_open(&j, o, false);

	if (rc) {
		rc = op_error("ckpt", j.err);
		goto out;
	}
	jnl_rd_init(&rd, o->node);
	rc = journal_walk(&j, &rd, 0, &t, false, o->seq);
	if (rc != 1 || jnl_rd_ckpt(&rd, &ck)) {
		fprintf(stderr, PROG " ckpt: node %" PRIu32 ": no valid record "
			"with seq %" PRIu64 " (the journal has %" PRIu64
			"..%" PRIu64 ")\n", o->node, o->seq, t.first_seq,
			t.last_seq);
		rc = EX_ERROR;
		goto out;
	}
	rc = jstore_ckpt_load(&j.js, &old, &slot, j.err, sizeof(j.err));
	slot = rc ? 0 : slot ^ 1;	/* the other slot than the newest */
	rc = jstore_ckpt_store(&j.js, slot, &ck, j.err, sizeof(j.err));
	if (rc) {
		rc = op_error("ckpt", j.err);
		goto out;
	}
	printf("node %" PRIu32 ": checkpoint slot %u: seq %" PRIu64
	       ", segment %016" PRIx64 " offset %" PRIu64 "\n", o->node, slot,
	       ck.seq, ck.segno, ck.offset);
	rc = EX_OK;
out:
	journal_close(&j);
	return rc;
}
