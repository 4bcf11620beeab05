/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * replica/apl_fid.h: the mirror applier's fid -> file handle map for one
 * (node, epoch), and the fid log that makes it survive a restart.
 *
 * WHY A LOG.  Records name objects by fid (journal/format.h, FILE
 * IDENTITY), and a fid is introduced once per epoch (W6): a WRITE after
 * the checkpoint may name a fid whose CREATE or BIND was applied by an
 * earlier run.  The map is therefore written down, next to the
 * checkpoint, in
 *
 *	<journal dir>/<node>/applied-<epoch>.fids
 *
 * (<epoch> in decimal) as fixed-size entries appended in apply order.
 * A node's log is dropped once the checkpoint has moved to a later epoch
 * (fids of an old epoch mean nothing: FILE IDENTITY).
 *
 * ENTRY (104 bytes, little-endian, at offsets that are multiples of 104)
 *
 *   off size field   meaning
 *     0   8  cksum   XXH3_64bits_withSeed(&e[8], 96, APL_FLOG_SEED)
 *     8   4  magic   APL_FLOG_MAGIC, the bytes "OFSF"
 *    12   1  kind    APL_FLOG_MAP, _UNLINKED, _INTENT, _ACTED or _DONE
 *    13   1  fhlen   MAP, ACTED: 1..64; otherwise 0
 *    14   2  zero
 *    16   4  node    the journal's node
 *    20   4  epoch   the file's epoch
 *    24   8  seq     the record the entry is about (INTENT: a bound)
 *    32   8  fid     MAP, UNLINKED: the fid; otherwise 0
 *    40  64  fh      MAP, ACTED: a mirror object's handle, zero padded
 *
 *   MAP       record seq introduced fid (CREATE, MKDIR, MKNOD, SYMLINK,
 *             BIND) and the mirror object has handle fh.
 *   UNLINKED  record seq removed a name of fid's object (UNLINK, RMDIR,
 *             or a RENAME that replaced it, whether or not the record
 *             names the fid), or, after a failback, the mount removed the
 *             object while it served the mirror (seq: the checkpoint's;
 *             apl_revalidate): a stale handle for it later is the orphan
 *             rule at work, not damage.  Every other mapped fid's object
 *             is in the mirror once its records are applied
 *             (ofsrep-fsck checks it: tools/fsck/fids.c).
 *   INTENT    written before a batch's first change: records up to seq
 *             may have been applied when the checkpoint is older.  The
 *             records after the checkpoint up to the largest INTENT are
 *             the REPLAY ZONE.
 *   DONE      every namespace record up to seq has been applied (a
 *             replay skips them and applies only WRITE and SETATTR
 *             again).  Written, together with the MAP and UNLINKED
 *             entries before it, before a record that touches a name an
 *             earlier record after the last DONE touched, and at the end
 *             of each batch: so the records a replay applies again never
 *             touch a name twice (replica/applier.c, IDEMPOTENCY).
 *   ACTED     record seq, a RENAME_EXCHANGE of an object the writer had
 *             not bound (fid 0), is about to swap the object fh with
 *             another: written before it does, so a replay knows which
 *             way round the names are.
 *
 *   An entry is valid only if the buffer holds its 104 bytes, magic and
 *   cksum match, kind is known, fhlen fits its kind, node and epoch are
 *   the file's, and the zero and padding bytes are zero.  Loading stops
 *   at the first invalid entry (a torn append): the applier cuts the file
 *   there and writes its next entries at that offset.
 *
 *   LOADING (apl_fid_load): every valid MAP entry maps its fid (a later
 *   entry wins), every UNLINKED entry flags its fid, ACTED entries after
 *   the checkpoint are kept by seq, and the largest INTENT and DONE seqs
 *   are where the replay zone and the skipped records end.
 *
 * DURABILITY.  Entries go out with FILE_SYNC WRITEs (the log must be on
 *   disk before the namespace change that relies on it, and NFSv3 makes
 *   namespace changes durable when they are answered).
 *
 * Not thread-safe.  Tests: tests/unit/test_apl_fid.c.
 */
#ifndef OFSREP_APL_FID_H
#define OFSREP_APL_FID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "replica/apl_rpc.h"

#define APL_FLOG_SIZE		104u
#define APL_FLOG_MAGIC		0x4653464fu		/* "OFSF" */
#define APL_FLOG_SEED		0x444946505253464fULL	/* "OFSRPFID" */

enum apl_flog_kind {
	APL_FLOG_MAP = 1,
	APL_FLOG_UNLINKED = 2,
	APL_FLOG_INTENT = 3,
	APL_FLOG_ACTED = 4,
	APL_FLOG_DONE = 5,
};

enum {
	APL_FLOG_OFF_CKSUM = 0,
	APL_FLOG_OFF_MAGIC = 8,
	APL_FLOG_OFF_KIND = 12,
	APL_FLOG_OFF_FHLEN = 13,
	APL_FLOG_OFF_ZERO = 14,
	APL_FLOG_OFF_NODE = 16,
	APL_FLOG_OFF_EPOCH = 20,
	APL_FLOG_OFF_SEQ = 24,
	APL_FLOG_OFF_FID = 32,
	APL_FLOG_OFF_FH = 40,
};

_Static_assert(APL_FLOG_OFF_FH + APL_FH_MAX == APL_FLOG_SIZE,
	       "fid log entry table and size disagree");
_Static_assert(APL_FLOG_MAGIC == ('O' | 'F' << 8 | 'S' << 16 |
				  (uint32_t)'F' << 24), "magic is \"OFSF\"");

struct apl_flog_ent {
	uint8_t kind;		/* enum apl_flog_kind */
	uint32_t node;
	uint32_t epoch;
	uint64_t seq;
	uint64_t fid;
	struct apl_fh fh;	/* MAP only */
};

void apl_flog_encode(const struct apl_flog_ent *e, uint8_t *buf);
bool apl_flog_decode(const uint8_t *buf, size_t len, uint32_t node,
		     uint32_t epoch, struct apl_flog_ent *out);

/* ---- the map ---- */

#define APL_FID_UNLINKED	0x1u	/* a name was removed (logged) */
#define APL_FID_WRITTEN		0x4u	/* WRITE sent this batch: COMMIT */
#define APL_FID_USED		0x8u	/* written/setattr'd while
					 * unlinked, this run */

struct apl_fid_ent {
	uint64_t fid;
	uint64_t seq;		/* record that mapped it */
	struct apl_fh fh;
	uint32_t flags;		/* APL_FID_* */
	uint32_t next_fid;	/* hash chains: index + 1, 0 ends */
	uint32_t next_fh;
};

/* An ACTED entry: the object record seq acted on. */
struct apl_acted {
	uint64_t seq;
	struct apl_fh fh;
};

struct apl_fidmap {
	struct apl_acted *acted;	/* seq after the checkpoint */
	size_t nacted;
	size_t capacted;
	struct apl_fid_ent *ents;
	uint32_t n;
	uint32_t cap;
	uint32_t *fid_heads;	/* nb buckets each, index + 1 */
	uint32_t *fh_heads;
	uint32_t nb;		/* a power of two */
};

/* What apl_fid_load() found. */
struct apl_fid_loaded {
	size_t valid_len;	/* bytes of valid entries: append here */
	uint64_t entries;
	uint64_t replay_to;	/* largest INTENT seq, 0 if none */
	uint64_t done_to;	/* largest DONE seq, 0 if none */
};

void apl_fid_init(struct apl_fidmap *m);
void apl_fid_free(struct apl_fidmap *m);
void apl_fid_reset(struct apl_fidmap *m);
struct apl_fid_ent *apl_fid_get(const struct apl_fidmap *m, uint64_t fid);
struct apl_fid_ent *apl_fid_by_fh(const struct apl_fidmap *m,
				  const struct apl_fh *fh);
int apl_fid_set(struct apl_fidmap *m, uint64_t fid, const struct apl_fh *fh,
		uint64_t seq, struct apl_fid_ent **out);
int apl_fid_acted_put(struct apl_fidmap *m, uint64_t seq,
		      const struct apl_fh *fh);
const struct apl_fh *apl_fid_acted_get(const struct apl_fidmap *m,
				       uint64_t seq);
int apl_fid_load(struct apl_fidmap *m, const uint8_t *buf, size_t len,
		 uint32_t node, uint32_t epoch, uint64_t ckpt_seq,
		 struct apl_fid_loaded *out);

#endif /* OFSREP_APL_FID_H */
