/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * replica/apl_internal.h: what the files of the mirror applier share.
 * Private to them: the API is replica/applier.h, and the top of
 * replica/applier.c gives the overview, the spec and the list of files.
 *
 * Everything takes the run's struct apl.  Functions returning int return
 * 0 or -errno (record handlers also APL_AGAIN or APL_SKIP) and, on
 * failure, have written a->err (replica/apl_msg.c).  a->rec is the record
 * being applied, for messages and fid log entries.
 */
#ifndef OFSREP_APL_INTERNAL_H
#define OFSREP_APL_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal/format.h"
#include "replica/applier.h"

/* A struct jnl_str for "%.*s". */
#define APL_NAME(s)	(int)(s)->len, (s)->ptr

/* What a record handler returns besides 0 and -errno. */
#define APL_AGAIN	1	/* found applied before (a replay) */
#define APL_SKIP	2	/* not applied */

/* ---- messages (apl_msg.c) ---- */

uint64_t apl_seq(const struct apl *a);
__attribute__((format(printf, 3, 4)))
int apl_fail(struct apl *a, int err, const char *fmt, ...);
__attribute__((format(printf, 4, 5)))
int apl_damage(struct apl *a, int err, const char *why, const char *fmt,
	       ...);
__attribute__((format(printf, 6, 7)))
int apl_fail_at(struct apl *a, uint64_t seq, unsigned type, int err,
		const char *tail, const char *fmt, ...);
__attribute__((format(printf, 2, 3)))
void apl_trace(struct apl *a, const char *fmt, ...);
__attribute__((format(printf, 4, 5)))
int apl_mismatch(struct apl *a, int err, const char *why, const char *fmt,
		 ...);

/* ---- the export (applier.c) ---- */

int apl_lookup(struct apl *a, const struct apl_fh *dir, const char *name,
	       size_t len, struct apl_fh *fh, struct apl_attr *attr);

/* ---- the fid log, fids, the replay region (apl_flog.c) ---- */

int apl_epoch(struct apl *a, uint32_t epoch, uint64_t ckpt_seq);
int apl_flog_add(struct apl *a, enum apl_flog_kind kind, uint64_t seq,
		 uint64_t fid, const struct apl_fh *fh);
int apl_flog_flush(struct apl *a);
int apl_revalidate(struct apl *a);
int apl_intent(struct apl *a, uint64_t seq);
void apl_region_reset(struct apl_region *r);
unsigned apl_keys(const struct jnl_op *op, uint64_t keys[2]);
int apl_region_enter(struct apl *a, const uint64_t *keys, unsigned n);
int apl_fh_of(struct apl *a, uint64_t fid, struct apl_fh *fh);
int apl_introduce(struct apl *a, uint64_t fid);
int apl_map(struct apl *a, uint64_t fid, const struct apl_fh *fh);
int apl_mark_unlinked(struct apl *a, uint64_t fid);
int apl_drop_logs(struct apl *a);

/* ---- namespace records and orphans (apl_names.c) ---- */

int apl_bind(struct apl *a, const struct jnl_op_link *l);
int apl_bindfh(struct apl *a, const struct jnl_op_handle *h);
int apl_make(struct apl *a, const struct jnl_op_entry *en);
int apl_link(struct apl *a, const struct jnl_op_link *l);
int apl_unlink(struct apl *a, const struct jnl_op_link *l);
int apl_rmdir(struct apl *a, const struct jnl_op_link *l);
int apl_rename(struct apl *a, const struct jnl_op_rename *rn);
int apl_reap(struct apl *a);

/* ---- data records (apl_data.c) ---- */

int apl_wdone(void *arg, struct apl_call *c);
int apl_write(struct apl *a, const struct jnl_op_write *w);
int apl_barrier(struct apl *a);
int apl_commit(struct apl *a, uint64_t seq);
int apl_setattr(struct apl *a, const struct jnl_op_setattr *s);
int apl_xattr(struct apl *a, const struct jnl_op_xattr *x, bool remove);
int apl_xattrs(struct apl *a, const struct jnl_op_xattrs *x);

#endif /* OFSREP_APL_INTERNAL_H */
