/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * journal/tail.h: the journal's end, kept on the file server's own disk
 * at a clean unmount, so a mount can start while the secondary is down
 * (see tail.c for the format and its rules).
 */
#ifndef OFSREP_JOURNAL_TAIL_H
#define OFSREP_JOURNAL_TAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JNL_TAIL_SIZE		64u
#define JNL_TAIL_MAGIC		"OFSRTAIL"
#define JNL_TAIL_VERSION	1u
#define JNL_TAIL_SEED		0x4c4941545253464fULL	/* "OFSRTAIL" */

/* flags */
#define JNL_TAIL_VALID		1u	/* written at a clean unmount */
#define JNL_TAIL_PRIMARY_STALE	2u	/* that mount served the mirror */

struct jnl_tail {
	uint32_t flags;
	uint32_t node;
	uint32_t epoch;		/* the unmounting writer's */
	uint64_t next_seq;	/* seq of the next record */
	uint64_t chain;		/* cksum of the last record */
	uint64_t segno;		/* the writer's last segment */
	int64_t time;		/* unix time written */
};

/* "<spool path>.tail" */
void jnl_tail_path(char *buf, size_t size, const char *spool_path);
/* Writes @t whole and fdatasyncs.  0 or -errno with one line in @err. */
int jnl_tail_write(const char *path, const struct jnl_tail *t, char *err,
		   size_t errlen);
/* 0 with @t (flags may lack VALID); -ENOENT when there is none;
 * -EUCLEAN when it is not a tail (bad magic, size or checksum). */
int jnl_tail_read(const char *path, struct jnl_tail *t, char *err,
		  size_t errlen);
/* Rule T2: makes an existing tail invalid, durably (absent is fine). */
int jnl_tail_invalidate(const char *path, char *err, size_t errlen);

#endif /* OFSREP_JOURNAL_TAIL_H */
