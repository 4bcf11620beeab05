// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * syn.c — the synthetic record stream of `append --count C`.  Record seq
 * s is a function of s alone (and of --payload), so runs that differ only
 * in --group write the same records: cycles of SYN_CYCLE records per file
 * f<c>, c the first seq of the cycle, fid 1 + c (never the root): a
 * CREATE, WRITEs of --payload bytes (byte i of seq s's data is
 * (s * 31 + i) mod 256) at consecutive offsets, a SETATTR (mode 0640,
 * mtime s) and a SETXATTR user.ofsrep.seq = s.  A run that starts inside
 * a cycle first BINDs the cycle's file, as writer rule W6 requires of a
 * new epoch.  struct syn (tool.h) holds the buffers of one op.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "tools/journal/tool.h"

#define SYN_CYCLE		16	/* records per synthetic file */

static void syn_write(struct syn *y, struct jnl_op *op, uint64_t seq,
		      uint64_t fid, uint64_t k)
{
	for (size_t i = 0; i < y->payload; i++)
		y->data[i] = (uint8_t)(seq * 31 + i);
	op->type = JNL_OP_WRITE;
	op->u.write = (struct jnl_op_write){
		.fid = fid, .offset = (k - 1) * y->payload, .data = y->data,
		.len = y->payload,
	};
}

void syn_op(struct syn *y, struct jnl_op *op, uint64_t seq, bool run_start)
{
	uint64_t k = (seq - 1) % SYN_CYCLE;
	uint64_t c = seq - k;
	uint64_t fid = 1 + c;
	struct jnl_str name = { .ptr = y->name };

	name.len = (size_t)snprintf(y->name, sizeof(y->name), "f%" PRIu64, c);
	memset(op, 0, sizeof(*op));
	if (k == 0) {
		op->type = JNL_OP_CREATE;
		op->u.entry = (struct jnl_op_entry){
			.parent = JNL_FID_ROOT, .fid = fid,
			.mode = JNL_S_IFREG | 0644, .name = name,
		};
	} else if (run_start) {
		op->type = JNL_OP_BIND;
		op->u.link = (struct jnl_op_link){
			.parent = JNL_FID_ROOT, .fid = fid, .name = name,
		};
	} else if (k == SYN_CYCLE - 2) {
		op->type = JNL_OP_SETATTR;
		op->u.setattr = (struct jnl_op_setattr){
			.fid = fid, .mask = JNL_SA_MODE | JNL_SA_MTIME,
			.mode = 0640, .mtime_sec = (int64_t)seq,
		};
	} else if (k == SYN_CYCLE - 1) {
		op->type = JNL_OP_SETXATTR;
		op->u.xattr = (struct jnl_op_xattr){
			.fid = fid, .name = { "user.ofsrep.seq", 15 },
			.value = (const uint8_t *)y->value,
			.value_len = (size_t)snprintf(y->value,
						      sizeof(y->value),
						      "%" PRIu64, seq),
		};
	} else {
		syn_write(y, op, seq, fid, k);
	}
}
