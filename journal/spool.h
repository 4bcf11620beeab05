/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * journal/spool.h: the local spool, where journal groups wait on the file
 * server's own disk while the secondary export is lost (see spool.c for
 * the file format and its rules).
 *
 * Use (replica/jw_io.c, the journal's I/O thread; not thread-safe):
 *
 *	jnl_spool_open(&sp, path, node, max_bytes, err, errlen);
 *	jnl_spool_append(&sp, &w, err, errlen);   a group the secondary could
 *	                                          not take; durable on return
 *	jnl_spool_peek(&sp, &e, err, errlen);     the oldest group not yet in
 *	                                          the journal
 *	write e.data at e.offset of segment e.segno on the secondary
 *	jnl_spool_advance(&sp, &e, err, errlen);  it is there now
 *	jnl_spool_reset(&sp, err, errlen);        when everything is drained
 */
#ifndef OFSREP_JOURNAL_SPOOL_H
#define OFSREP_JOURNAL_SPOOL_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal/appender.h"

#define JNL_SPOOL_DIR_DEFAULT	"/var/lib/ofsrep/spool"
#define JNL_SPOOL_HDR_SIZE	64u
#define JNL_SPOOL_ENT_SIZE	56u		/* entry header; data follows */
#define JNL_SPOOL_MAGIC		"OFSRSPL1"
#define JNL_SPOOL_ENT_MAGIC	0x45505346u	/* "FSPE" */
#define JNL_SPOOL_SEED		0x4c4f4f5053525346ULL	/* "FSRSPOOL" */
#define JNL_SPOOL_VERSION	1u

/* header flags */
#define JNL_SPOOL_OVERFLOWED	1u	/* a group was neither spooled nor
					 * journaled: the mirror misses it */

struct jnl_spool_entry {
	uint64_t at;		/* file offset of the entry */
	uint64_t next;		/* file offset after it */
	uint64_t segno;
	uint64_t offset;
	uint64_t first_seq;
	uint64_t last_seq;
	bool new_segment;
	uint8_t *data;		/* malloc'd by peek; the caller frees */
	size_t len;
};

struct jnl_spool {
	int fd;
	uint32_t node;
	uint64_t max_bytes;	/* entries may use this much; 0 = no bound */
	uint64_t end;		/* offset of the next append */
	uint64_t drained;	/* offset of the oldest entry not journaled */
	uint32_t flags;		/* JNL_SPOOL_* */
	uint64_t lost_seq;	/* OVERFLOWED: first seq of the lost group */
	uint64_t entries;	/* appended since open, for messages */
	bool need_hdr;		/* a reset's header write failed */
	struct io_uring ring;
	bool ring_ok;
	char path[4096];
};

/* The spool of a node's journal on a secondary: one file per (node,
 * secondary URL as given), so two mounts never share one and a remount
 * (or ofsrep-fsck) finds what the last one left. */
void jnl_spool_path(char *buf, size_t size, const char *dir, uint32_t node,
		    const char *secondary_url);

/* Opens (creating it and its directory, mode 0700/0600) the spool at
 * @path for @node.  An existing spool is validated: a bad header is an
 * error (-EUCLEAN; the file is left alone), a torn last entry is cut
 * off.  Returns 0 or -errno with one line in @err. */
int jnl_spool_open(struct jnl_spool *sp, const char *path, uint32_t node,
		   uint64_t max_bytes, char *err, size_t errlen);
void jnl_spool_close(struct jnl_spool *sp);

/* Appends the group @w and makes it durable (write + fdatasync through
 * io_uring).  -EFBIG when it would take the spool past max_bytes (the
 * file is unchanged); -ENOSPC and others come from the local disk. */
int jnl_spool_append(struct jnl_spool *sp, const struct jnl_app_write *w,
		     char *err, size_t errlen);

/* True while some entry is not yet in the journal. */
static inline bool jnl_spool_pending(const struct jnl_spool *sp)
{
	return sp->drained < sp->end;
}

/* Bytes of entries not yet in the journal. */
static inline uint64_t jnl_spool_bytes(const struct jnl_spool *sp)
{
	return sp->end - sp->drained;
}

/* Reads the oldest entry not yet journaled into @e.  -ENODATA when none;
 * -EUCLEAN if it fails its checksum (the disk changed it after it was
 * written durably). */
int jnl_spool_peek(struct jnl_spool *sp, struct jnl_spool_entry *e,
		   char *err, size_t errlen);
/* @e (from peek) is in the journal: moves the drained mark past it,
 * durably, so a restart does not write it again. */
int jnl_spool_advance(struct jnl_spool *sp, const struct jnl_spool_entry *e,
		      char *err, size_t errlen);
/* Everything is drained: empties the file (the flags stay). */
int jnl_spool_reset(struct jnl_spool *sp, char *err, size_t errlen);
/* The mirror was resynced from the primary (fs/failback.c): every entry
 * is dropped, then the OVERFLOWED flag, durably. */
int jnl_spool_clear_overflow(struct jnl_spool *sp, char *err, size_t errlen);
/* Records that the group starting at @first_seq was lost (overflow). */
int jnl_spool_mark_overflow(struct jnl_spool *sp, uint64_t first_seq,
			    char *err, size_t errlen);

#endif /* OFSREP_JOURNAL_SPOOL_H */
