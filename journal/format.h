/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * journal/format.h: the ofsrep journal on-disk format.
 *
 * This comment is the specification.  journal/record.c (segment header,
 * record header, checkpoint) and journal/op.c (record payloads) implement
 * exactly what it says; the _Static_asserts after this comment pin
 * its numbers, so a change that is not made here too fails the build.
 * docs/journal-format.md is the operator's overview and points here.
 *
 * The codec is a pure library: it encodes into and validates byte buffers.
 * It does no I/O.  journal/appender.h builds group-commit writes,
 * journal/reader.h walks a node's segments and classifies how they end.
 *
 * OVERVIEW
 *
 *   Every mutating operation a writer node acknowledges becomes one record,
 *   appended in acknowledgement order to that node's journal on the
 *   secondary export.  A mirror applier replays the records onto a mirror
 *   tree on the same export.  Records are packed into segment files:
 *
 *       <journal dir>/<node>/<segno>.seg     the journal's segments
 *       <journal dir>/<node>/applied.ckpt    the applier's checkpoint
 *
 *   <node> is the node id in decimal, <segno> 16 lowercase hex digits
 *   (printf "%016" PRIx64), so that ls lists segments in order.
 *
 *   Several writer nodes share the export; each owns its own <node>
 *   directory and is the only one writing in it.  The file names are a
 *   convenience: every segment header repeats node and segno, and the
 *   reader trusts the headers, not the names.
 *
 *   One record is one operation; there are no multi-record transactions,
 *   so every valid record is a commit point (house style rule 5, "only
 *   commit records advance the applied position", holds trivially).
 *
 * BYTE ORDER, ALIGNMENT AND CHECKSUMS
 *
 *   All integers are little-endian and unsigned unless marked "s" (two's
 *   complement).  They are read and written with the jnl_get_le*() and
 *   jnl_put_le*() helpers below, never by casting a struct onto a buffer.
 *   A segment is its 64-byte header followed by records, each starting at
 *   an offset that is a multiple of 8.
 *
 *   Every checksum is a single xxHash call, libxxhash >= 0.8:
 *
 *       segment header:  XXH3_64bits_withSeed(&seg[8], 56, JNL_SEED_SEG)
 *       record:          XXH3_64bits_withSeed(&rec[8], reclen - 8,
 *                                             JNL_SEED_REC)
 *       checkpoint:      XXH3_64bits_withSeed(&ck[8], 56, JNL_SEED_CKPT)
 *       chain genesis:   XXH3_64bits_withSeed(le32(node) || le32(epoch), 8,
 *                                             JNL_SEED_GENESIS)
 *
 *   and is stored in the first 8 bytes of what it covers.  The seeds are
 *   the ASCII strings "OFSRPSEG", "OFSRPREC", "OFSRPCKP" and "OFSRPGEN"
 *   read as le64, so a header can never validate as a record and so on.
 *
 * SEGMENT HEADER (64 bytes, at offset 0 of every segment)
 *
 *   off size field       meaning
 *     0   8  cksum       XXH3_64bits_withSeed(&seg[8], 56, JNL_SEED_SEG)
 *     8   4  magic       JNL_SEG_MAGIC, the bytes "OFSJ"
 *    12   4  version     JNL_VERSION (1)
 *    16   4  incompat    features a reader must know to read on; none in v1
 *    20   4  compat      features a reader may ignore; none in v1
 *    24   4  node        writer node id, nonzero, unique among the writers
 *                        sharing the export
 *    28   4  epoch       writer epoch (see WRITER RULES), nonzero
 *    32   8  segno       segment number, increasing within the node
 *    40   8  first_seq   seq of the first record in this segment
 *    48   8  chain_seed  the prev value of the first record in this segment:
 *                        the cksum of record first_seq - 1, or the chain
 *                        genesis of (node, epoch) when segno is 0
 *    56   8  created_ns  CLOCK_REALTIME of the first record (information)
 *
 *   Bytes [0,16) and the header checksum rule are the same in every
 *   version, so a reader checks the checksum first and the version second:
 *   a bit flip in the version field is damage, a real newer version is
 *   refused.
 *
 *   A segment header is valid only if
 *     (S1) the buffer holds at least 64 bytes,
 *     (S2) magic is JNL_SEG_MAGIC,
 *     (S3) cksum matches,
 *     (S4) version is JNL_VERSION                       (else -EPROTO),
 *     (S5) incompat has no bit outside JNL_INCOMPAT_KNOWN (else -EPROTO),
 *     (S6) node, epoch and first_seq are nonzero,
 *     (S7) if segno is 0, first_seq is 1 and chain_seed is the genesis of
 *          (node, epoch).
 *
 * RECORD (56-byte header, payload, zero padding to a multiple of 8)
 *
 *   off size field     meaning
 *     0   8  cksum     XXH3_64bits_withSeed(&rec[8], reclen - 8,
 *                      JNL_SEED_REC): covers the rest of the header, the
 *                      payload and the padding
 *     8   4  magic     JNL_REC_MAGIC, the bytes "OFSR"
 *    12   2  type      enum jnl_type
 *    14   2  flags     none defined in v1, 0
 *    16   4  paylen    payload bytes, <= JNL_MAX_PAYLOAD
 *    20   4  gidx      index of this record within its group (0 = first)
 *    24   4  node      as in the segment header
 *    28   4  epoch     as in the segment header
 *    32   8  seq       sequence number, >= 1
 *    40   8  prev      the chain: cksum of record seq - 1 (for the first
 *                      record of a segment, the header's chain_seed)
 *    48   8  time_ns   writer's CLOCK_REALTIME at journaling (information:
 *                      replication lag, fsck listings; never used to order)
 *    56   -  payload   paylen bytes, layout by type (below)
 *     -   -  padding   zero bytes up to reclen = 56 + round_up(paylen, 8)
 *
 *   THE CHAIN.  A record's cksum covers its prev field, which is the
 *   previous record's cksum, so each record vouches for every record
 *   before it in the node's journal, across segments and epochs, back to
 *   the genesis of the journal (compare SQLite's cumulative WAL checksum).
 *   The chain value after record n is simply cksum(n); a checkpoint stores
 *   it so the applier can resume in the middle of a segment.  Because prev
 *   is inside the covered bytes, each record can also be validated on its
 *   own (rules 1-6), which is what tells damage from a torn tail.
 *
 *   GROUPS.  A group is the run of records the writer sends in one WRITE
 *   (group commit).  gidx numbers the records of a group from 0, so the
 *   group of record n starts at seq n - gidx.  Groups never span
 *   segments, so the first record of a segment has gidx 0.
 *
 *   A record is valid only if
 *     (1)  the buffer holds its 56-byte header,
 *     (2)  magic is JNL_REC_MAGIC,
 *     (3)  paylen <= JNL_MAX_PAYLOAD,
 *     (4)  the buffer holds the whole record (reclen bytes),
 *     (5)  cksum matches,
 *     (6)  the padding bytes are zero,
 *     (7)  node is the segment's node                    (foreign node),
 *     (8)  epoch is the segment's epoch                  (old/new epoch),
 *     (9)  seq is one more than the previous record's, or the segment's
 *          first_seq for its first record                (gap/replay),
 *     (10) prev is the previous record's cksum, or the segment's
 *          chain_seed for its first record               (chain break),
 *     (11) gidx < seq, and gidx is 0 or one more than the previous
 *          record's gidx in the same segment             (group),
 *     (12) flags is 0                                    (else -EPROTO),
 *     (13) type is a type of this version                (else -EPROTO),
 *     (14) the payload is well-formed for its type, rules (P1)-(P11).
 *   Rules 1-6 are the record's own integrity; 7-11 tie it to its place.
 *
 * FILE IDENTITY
 *
 *   Records name objects by a 64-bit file id (fid).  A fid is allocated by
 *   the writer and is meaningful only within one (node, epoch): the
 *   applier keys its fid -> mirror handle map by (node, fid) and forgets
 *   all of a node's fids when that node's journal moves to a new epoch.
 *   Fid 0 (JNL_FID_NONE) is "no object"; fid 1 (JNL_FID_ROOT) is always
 *   the root of the export.  A writer never reuses a fid within an epoch;
 *   fs/ may use its own never-reused inode number.
 *
 *   A fid is introduced by the first record that names it: a creating
 *   record (CREATE, MKDIR, MKNOD, SYMLINK) gives the new object's fid with
 *   its (parent fid, name); a BIND record gives the fid of an object that
 *   already exists (created before this epoch, before ofsrep, or by
 *   another node) at (parent fid, name) at that point of the stream, and
 *   changes nothing on disk.  A writer emits BINDs lazily, from the root
 *   down, just before the first record of the epoch that uses the fid.
 *
 *   The fid names the object, not a path, so it stays correct when the
 *   object is renamed (RENAME moves the name, the fid follows the object),
 *   hard-linked (LINK adds a name to an existing fid; one object, one fid
 *   per epoch), or unlinked while open (writes to the fid still apply to
 *   the object; the applier drops the binding when the mirror object's
 *   last link goes).  UNLINK, RMDIR and RENAME carry the fid of the object
 *   named when the writer has bound it, so the applier can cross-check
 *   that the name resolves to it, or JNL_FID_NONE.
 *
 *   Per node the order of records is exact.  Across nodes this format
 *   defines no order; names are the truth both nodes share, and ordering
 *   concurrent mutations of one object from two nodes is the applier's
 *   policy, not the journal's.
 *
 * RECORD TYPES AND PAYLOADS
 *
 *   Strings carry a length and no NUL.  "name" is a directory entry name:
 *   1-255 bytes, no '/' or NUL, not "." or "..".
 *
 *   CREATE (2), MKDIR (3), MKNOD (4), SYMLINK (5): the "entry" layout
 *     off size field
 *       0   8  parent     fid of the directory
 *       8   8  fid        fid of the new object (introduced here)
 *      16   8  rdev       MKNOD of a character/block device: the device
 *                         number (Linux encoding of dev_t); otherwise 0
 *      24   4  mode       S_IFMT type bits | permission bits (07777)
 *      28   4  uid        owner (the caller's, as created on the primary)
 *      32   4  gid
 *      36   2  namelen
 *      38   2  targetlen  SYMLINK: length of the link text; otherwise 0
 *      40   -  name[namelen], then target[targetlen]
 *
 *   BIND (1), LINK (6), UNLINK (7), RMDIR (8): the "link" layout
 *     off size field
 *       0   8  parent     fid of the directory holding name
 *       8   8  fid        BIND: the fid introduced; LINK: the object given
 *                         the new name; UNLINK/RMDIR: the object removed,
 *                         or 0 if not bound
 *      16   2  namelen
 *      18   -  name[namelen]
 *
 *   RENAME (9)
 *     off size field
 *       0   8  parent     fid of the source directory
 *       8   8  newparent  fid of the target directory
 *      16   8  fid        the object moved, or 0 if not bound
 *      24   4  flags      JNL_RENAME_NOREPLACE | JNL_RENAME_EXCHANGE
 *      28   2  namelen
 *      30   2  newnamelen
 *      32   -  name[namelen], then newname[newnamelen]
 *
 *   WRITE (10)
 *     off size field
 *       0   8  fid
 *       8   8  offset     byte offset in the file (an O_APPEND write
 *                         carries the offset it landed at)
 *      16   -  data       the rest of the payload, 1 .. JNL_MAX_WRITE bytes
 *
 *   SETATTR (11): chmod, chown, truncate and utimens are one record, as
 *   FUSE delivers them in one setattr.  Fields not in mask are 0.  Times
 *   are concrete: the writer resolves UTIME_NOW before journaling, so the
 *   mirror gets the same time however late the applier runs.
 *     off size field
 *       0   8  fid
 *       8   4  mask       JNL_SA_* bits
 *      12   4  mode       permission bits only (07777)
 *      16   4  uid
 *      20   4  gid
 *      24   8  size       new length (truncate / extend)
 *      32   8s atime_sec
 *      40   8s mtime_sec
 *      48   4  atime_nsec < 10^9
 *      52   4  mtime_nsec < 10^9
 *
 *   SETXATTR (12), REMOVEXATTR (13): the "xattr" layout
 *     off size field
 *       0   8  fid
 *       8   4  flags      SETXATTR: JNL_XATTR_CREATE | JNL_XATTR_REPLACE;
 *                         REMOVEXATTR: 0
 *      12   4  valuelen   SETXATTR: <= JNL_XATTR_VALUE_MAX; REMOVEXATTR: 0
 *      16   2  namelen    1-255, no NUL
 *      18   -  name[namelen], then value[valuelen]
 *
 *   BINDFH (14): the "handle" layout.  Introduces a fid by the handle of
 *   its object in the mirror, where no (parent, name) can be given: after
 *   a failback (fs/failback.c) the objects the kernel learned while the
 *   mirror was served directly were never journaled.  The handle is one
 *   the applier's export gave out (an NFSv3 file handle of the secondary).
 *     off size field
 *       0   8  fid        the fid introduced
 *       8   2  fhlen      1 .. JNL_FH_MAX
 *      10   -  fh[fhlen]
 *
 *   XATTRS (15): the "xattrs" layout.  The object's complete set of
 *   extended attributes after a setxattr or removexattr, in the encoding
 *   of journal/xattr_set.c (THE SET), so applying it is idempotent and
 *   needs nothing the mirror held before.  count 0 is "no attributes".
 *   (SETXATTR and REMOVEXATTR, the per-name forms above, are kept for
 *   tools; ofsrep's writer journals XATTRS.)
 *     off size field
 *       0   8  fid
 *       8   4  count      entries in the set
 *      12   4  setlen     0 .. XSET_MAX
 *      16   -  set[setlen]
 *
 *   A payload is well-formed only if
 *     (P1) paylen is exactly its layout's fixed part plus the lengths the
 *          fixed part declares,
 *     (P2) every parent fid and every fid the layout requires is nonzero,
 *          no introduced or linked fid is JNL_FID_ROOT, and no removed or
 *          renamed fid is JNL_FID_ROOT,
 *     (P3) every name is a valid name,
 *     (P4) an entry's mode has the type its record needs (CREATE S_IFREG,
 *          MKDIR S_IFDIR, MKNOD S_IFCHR/S_IFBLK/S_IFIFO/S_IFSOCK, SYMLINK
 *          S_IFLNK) and no bit outside S_IFMT | 07777, and rdev is 0
 *          unless the type is S_IFCHR or S_IFBLK,
 *     (P5) a SYMLINK target is 1-4095 bytes with no NUL; other entries
 *          have no target,
 *     (P6) a WRITE carries 1 .. JNL_MAX_WRITE bytes and offset + length
 *          <= JNL_MAX_FILE_SIZE,
 *     (P7) a SETATTR mask is nonzero with no unknown bit, the fields it
 *          does not select are 0, mode has no bit outside 07777, size <=
 *          JNL_MAX_FILE_SIZE and both nsec fields are < 10^9,
 *     (P8) RENAME flags and SETXATTR flags have no unknown bit and not both
 *          of their two bits; REMOVEXATTR flags are 0,
 *     (P9) an xattr name is 1-255 bytes with no NUL, a SETXATTR value is
 *          at most JNL_XATTR_VALUE_MAX bytes, a REMOVEXATTR has no value,
 *     (P10) a BINDFH's fid is neither 0 nor JNL_FID_ROOT and its handle
 *          is 1 .. JNL_FH_MAX bytes,
 *     (P11) an XATTRS fid is nonzero (the root may have attributes) and
 *          its set is well-formed (xattr_set.c, rules X1-X4).
 *   The encoder refuses (-EINVAL) anything the decoder would reject.
 *
 * SEGMENT SEQUENCE
 *
 *   A node's segments, in segno order, continue each other: the header of
 *   segment k+1 has a larger segno, an epoch >= k's, and first_seq and
 *   chain_seed equal to the seq + 1 and cksum of the last record of k.
 *   The header of k+1 thereby SEALS k: k ends at record first_seq - 1 and
 *   whatever follows that record in k (a torn group, or records of a
 *   fenced-off older incarnation) is not part of the journal.
 *
 *   A segment whose header is invalid (S1-S3, S6, S7) is EMPTY if it
 *   holds intact records (rules 1-6) of at most one group: its header
 *   went out with that group (W4), which never completed.  EMPTY is
 *   skipped, and the next segment must still continue the chain, which
 *   proves nothing was lost.  Intact records of two groups prove the first
 *   group, and so the header, completed: DAMAGE.
 *
 * CHECKPOINT (64 bytes; the file holds two slots, at offsets 0 and 64)
 *
 *   off size field     meaning
 *     0   8  cksum     XXH3_64bits_withSeed(&ck[8], 56, JNL_SEED_CKPT)
 *     8   4  magic     JNL_CKPT_MAGIC, the bytes "OFSC"
 *    12   4  version   JNL_VERSION
 *    16   4  node      the journal applied
 *    20   4  epoch     epoch of segment segno
 *    24   8  seq       last applied record (0: none yet)
 *    32   8  chain     cksum of record seq: the prev of the next record
 *    40   8  segno     segment holding record seq + 1
 *    48   8  offset    byte offset of record seq + 1 in that segment (may
 *                      be the segment's end; the next segment follows)
 *    56   8  time_ns   time_ns of record seq (replication lag), or 0
 *
 *   The applier writes the two slots alternately, each with one 64-byte
 *   WRITE, so a torn checkpoint write loses one slot and never both.  The
 *   valid slot with the larger (epoch, seq) wins.
 *
 *   A checkpoint is valid only if
 *     (C1) the buffer holds at least 64 bytes,
 *     (C2) magic is JNL_CKPT_MAGIC,
 *     (C3) cksum matches,
 *     (C4) version is JNL_VERSION                       (else -EPROTO),
 *     (C5) node and epoch are nonzero,
 *     (C6) offset >= 64 and is a multiple of 8.
 *
 *   TRIMMING.  Every segment with segno below the checkpoint's segno has
 *   been applied and may be deleted (by the applier, once every mirror it
 *   feeds is past it).  The checkpoint's own segment is kept.
 *
 * WRITER RULES
 *
 *   (W1) seq is 1 in segment 0 and grows by one per record, across
 *        segments and epochs, for the life of the journal.
 *   (W2) Each time a writer opens its journal it takes a new epoch,
 *        greater than any epoch the node used before; max(last epoch + 1,
 *        Unix time in seconds) stays monotonic even if the journal
 *        directory was lost.  An epoch writes only segments it created.
 *   (W3) A new epoch reads its journal to the end (journal/reader.h),
 *        then starts a new segment whose first_seq and chain_seed continue
 *        from the last valid record, sealing the old tail.  If no journal
 *        exists it starts segment 0 at seq 1 with the genesis chain.
 *   (W4) Group writes are serial: a group is sent only after the WRITE
 *        (and COMMIT) of the group before it completed.  A segment's
 *        header goes out with its first group.  A record is acknowledged
 *        only when its group is durable.
 *   (W5) Segment files are created exclusively and never rewritten,
 *        except an EMPTY segment, which W3 may overwrite.
 *   (W6) A fid is introduced once per epoch (one creating record or one
 *        BIND) and used only after that record.  This needs the state of
 *        the whole epoch, so the applier checks it, not the reader.
 *
 * RECOVERY RULE (what journal/reader.c does)
 *
 *   Records are read in order and returned only when rules 1-14 hold.
 *   At the first record that does not:
 *   - rules 1-6 fail (garbage, truncation, checksum): if a record of a
 *     LATER group follows, valid on its own, the bytes were durable and are
 *     now damaged: DAMAGE, reported with the expected seq and where valid
 *     records resume.  Otherwise it is a torn tail: END OF LOG, not an
 *     error, since by W4 nothing in an unfinished group was acknowledged.
 *     A sealed segment cannot have a torn tail before its seal: DAMAGE.
 *   - rules 7-11 or 14 fail: DAMAGE (foreign node, old/new epoch, gap,
 *     replay, chain break, group, payload), with the seq.
 *   - rule 12 or 13 fails, or a header fails S4/S5: refuse with -EPROTO;
 *     a newer ofsrep wrote it.  Run ofsrep-fsck from that version.
 *   Nothing after a DAMAGE is returned; records before it are valid (the
 *   chain proves their history) and are returned.
 *
 * COMPATIBILITY
 *
 *   Any change to a layout or a rule bumps JNL_VERSION, or defines an
 *   incompat bit if old readers must stop, or a compat bit if they may
 *   ignore it.  Record flags and types have no compat space: a reader
 *   that meets an unknown one refuses.
 */
#ifndef OFSREP_JOURNAL_FORMAT_H
#define OFSREP_JOURNAL_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

/* ---- constants of the spec ---- */

#define JNL_VERSION		1u
#define JNL_SEG_MAGIC		0x4a53464fu	/* "OFSJ" */
#define JNL_REC_MAGIC		0x5253464fu	/* "OFSR" */
#define JNL_CKPT_MAGIC		0x4353464fu	/* "OFSC" */
#define JNL_SEED_SEG		0x474553505253464fULL	/* "OFSRPSEG" */
#define JNL_SEED_REC		0x434552505253464fULL	/* "OFSRPREC" */
#define JNL_SEED_CKPT		0x504b43505253464fULL	/* "OFSRPCKP" */
#define JNL_SEED_GENESIS	0x4e4547505253464fULL	/* "OFSRPGEN" */

#define JNL_INCOMPAT_KNOWN	0u
#define JNL_ALIGN		8u
#define JNL_SEG_HDR_SIZE	64u
#define JNL_REC_HDR_SIZE	56u
#define JNL_CKPT_SIZE		64u
#define JNL_CKPT_SLOTS		2u

#define JNL_MAX_WRITE		(1u << 20)		/* FUSE max_write */
#define JNL_MAX_PAYLOAD		(JNL_MAX_WRITE + 4096u)
#define JNL_REC_MAX		(JNL_REC_HDR_SIZE + JNL_MAX_PAYLOAD)
#define JNL_NAME_MAX		255u
#define JNL_TARGET_MAX		4095u
#define JNL_XATTR_NAME_MAX	255u
#define JNL_XATTR_VALUE_MAX	65536u
#define JNL_MAX_FILE_SIZE	((uint64_t)INT64_MAX)
#define JNL_FH_MAX		64u	/* NFSv3 file handle */

#define JNL_FID_NONE		0ull
#define JNL_FID_ROOT		1ull

/* Mode bits as stored (the Linux values; pinned below). */
#define JNL_S_IFMT		0170000u
#define JNL_S_IFSOCK		0140000u
#define JNL_S_IFLNK		0120000u
#define JNL_S_IFREG		0100000u
#define JNL_S_IFBLK		0060000u
#define JNL_S_IFDIR		0040000u
#define JNL_S_IFCHR		0020000u
#define JNL_S_IFIFO		0010000u
#define JNL_S_PERM		07777u

#define JNL_RENAME_NOREPLACE	1u
#define JNL_RENAME_EXCHANGE	2u
#define JNL_XATTR_CREATE	1u
#define JNL_XATTR_REPLACE	2u

#define JNL_SA_MODE		0x01u
#define JNL_SA_UID		0x02u
#define JNL_SA_GID		0x04u
#define JNL_SA_SIZE		0x08u
#define JNL_SA_ATIME		0x10u
#define JNL_SA_MTIME		0x20u
#define JNL_SA_KNOWN		0x3fu

enum jnl_type {
	JNL_OP_BIND = 1,
	JNL_OP_CREATE = 2,
	JNL_OP_MKDIR = 3,
	JNL_OP_MKNOD = 4,
	JNL_OP_SYMLINK = 5,
	JNL_OP_LINK = 6,
	JNL_OP_UNLINK = 7,
	JNL_OP_RMDIR = 8,
	JNL_OP_RENAME = 9,
	JNL_OP_WRITE = 10,
	JNL_OP_SETATTR = 11,
	JNL_OP_SETXATTR = 12,
	JNL_OP_REMOVEXATTR = 13,
	JNL_OP_BINDFH = 14,
	JNL_OP_XATTRS = 15,
	JNL_OP_TYPE_MAX = 15,
};

/* ---- byte offsets of the tables above ---- */

enum {
	JNL_SEG_OFF_CKSUM = 0,
	JNL_SEG_OFF_MAGIC = 8,
	JNL_SEG_OFF_VERSION = 12,
	JNL_SEG_OFF_INCOMPAT = 16,
	JNL_SEG_OFF_COMPAT = 20,
	JNL_SEG_OFF_NODE = 24,
	JNL_SEG_OFF_EPOCH = 28,
	JNL_SEG_OFF_SEGNO = 32,
	JNL_SEG_OFF_FIRST_SEQ = 40,
	JNL_SEG_OFF_CHAIN_SEED = 48,
	JNL_SEG_OFF_CREATED = 56,

	JNL_REC_OFF_CKSUM = 0,
	JNL_REC_OFF_MAGIC = 8,
	JNL_REC_OFF_TYPE = 12,
	JNL_REC_OFF_FLAGS = 14,
	JNL_REC_OFF_PAYLEN = 16,
	JNL_REC_OFF_GIDX = 20,
	JNL_REC_OFF_NODE = 24,
	JNL_REC_OFF_EPOCH = 28,
	JNL_REC_OFF_SEQ = 32,
	JNL_REC_OFF_PREV = 40,
	JNL_REC_OFF_TIME = 48,

	JNL_CKPT_OFF_CKSUM = 0,
	JNL_CKPT_OFF_MAGIC = 8,
	JNL_CKPT_OFF_VERSION = 12,
	JNL_CKPT_OFF_NODE = 16,
	JNL_CKPT_OFF_EPOCH = 20,
	JNL_CKPT_OFF_SEQ = 24,
	JNL_CKPT_OFF_CHAIN = 32,
	JNL_CKPT_OFF_SEGNO = 40,
	JNL_CKPT_OFF_OFFSET = 48,
	JNL_CKPT_OFF_TIME = 56,
};

/* Fixed parts of the payload layouts (field offsets live in op.c). */
#define JNL_ENTRY_FIXED		40u
#define JNL_LINK_FIXED		18u
#define JNL_RENAME_FIXED	32u
#define JNL_WRITE_FIXED		16u
#define JNL_SETATTR_SIZE	56u
#define JNL_XATTR_FIXED		18u
#define JNL_HANDLE_FIXED	10u
#define JNL_XATTRS_FIXED	16u

_Static_assert(JNL_SEG_OFF_CREATED + 8 == JNL_SEG_HDR_SIZE,
	       "segment header table and size disagree");
_Static_assert(JNL_REC_OFF_TIME + 8 == JNL_REC_HDR_SIZE,
	       "record header table and size disagree");
_Static_assert(JNL_CKPT_OFF_TIME + 8 == JNL_CKPT_SIZE,
	       "checkpoint table and size disagree");
_Static_assert(JNL_SEG_HDR_SIZE % JNL_ALIGN == 0 &&
	       JNL_REC_HDR_SIZE % JNL_ALIGN == 0 &&
	       JNL_REC_MAX % JNL_ALIGN == 0, "records must stay 8-aligned");
_Static_assert(JNL_MAX_PAYLOAD >= JNL_WRITE_FIXED + JNL_MAX_WRITE &&
	       JNL_MAX_PAYLOAD >= JNL_ENTRY_FIXED + JNL_NAME_MAX +
	       JNL_TARGET_MAX &&
	       JNL_MAX_PAYLOAD >= JNL_RENAME_FIXED + 2 * JNL_NAME_MAX &&
	       JNL_MAX_PAYLOAD >= JNL_XATTR_FIXED + JNL_XATTR_NAME_MAX +
	       JNL_XATTR_VALUE_MAX, "the largest payload must fit");
_Static_assert(JNL_SEG_MAGIC == ('O' | 'F' << 8 | 'S' << 16 |
				 (uint32_t)'J' << 24), "magic is \"OFSJ\"");
_Static_assert(JNL_REC_MAGIC == ('O' | 'F' << 8 | 'S' << 16 |
				 (uint32_t)'R' << 24), "magic is \"OFSR\"");
_Static_assert(JNL_CKPT_MAGIC == ('O' | 'F' << 8 | 'S' << 16 |
				  (uint32_t)'C' << 24), "magic is \"OFSC\"");
_Static_assert(JNL_S_IFMT == S_IFMT && JNL_S_IFREG == S_IFREG &&
	       JNL_S_IFDIR == S_IFDIR && JNL_S_IFLNK == S_IFLNK &&
	       JNL_S_IFCHR == S_IFCHR && JNL_S_IFBLK == S_IFBLK &&
	       JNL_S_IFIFO == S_IFIFO && JNL_S_IFSOCK == S_IFSOCK,
	       "stored mode bits are the host's: fs/ passes st_mode through");

/* ---- little-endian helpers ---- */

static inline void jnl_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void jnl_put_le32(uint8_t *p, uint32_t v)
{
	jnl_put_le16(p, (uint16_t)v);
	jnl_put_le16(p + 2, (uint16_t)(v >> 16));
}

static inline void jnl_put_le64(uint8_t *p, uint64_t v)
{
	jnl_put_le32(p, (uint32_t)v);
	jnl_put_le32(p + 4, (uint32_t)(v >> 32));
}

static inline uint16_t jnl_get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t jnl_get_le32(const uint8_t *p)
{
	return jnl_get_le16(p) | (uint32_t)jnl_get_le16(p + 2) << 16;
}

static inline uint64_t jnl_get_le64(const uint8_t *p)
{
	return jnl_get_le32(p) | (uint64_t)jnl_get_le32(p + 4) << 32;
}

static inline size_t jnl_pad8(size_t n)
{
	return (n + JNL_ALIGN - 1) & ~(size_t)(JNL_ALIGN - 1);
}

/* ---- segment header ---- */

struct jnl_seg_hdr {
	uint64_t cksum;		/* OUT of encode and decode */
	uint32_t version;
	uint32_t incompat;
	uint32_t compat;
	uint32_t node;
	uint32_t epoch;
	uint64_t segno;
	uint64_t first_seq;
	uint64_t chain_seed;
	uint64_t created_ns;
};

/* Why a segment header is not valid: one value per rule S1-S7. */
enum jnl_seg_status {
	JNL_SEG_OK = 0,
	JNL_SEG_SHORT,		/* S1 */
	JNL_SEG_BAD_MAGIC,	/* S2 */
	JNL_SEG_BAD_CKSUM,	/* S3 */
	JNL_SEG_BAD_VERSION,	/* S4, -EPROTO */
	JNL_SEG_BAD_FEATURE,	/* S5, -EPROTO */
	JNL_SEG_BAD_IDENT,	/* S6 */
	JNL_SEG_BAD_GENESIS,	/* S7 */
};

uint64_t jnl_chain_genesis(uint32_t node, uint32_t epoch);
void jnl_seg_encode(struct jnl_seg_hdr *h, uint8_t *buf);
enum jnl_seg_status jnl_seg_decode(const uint8_t *buf, size_t len,
				   struct jnl_seg_hdr *out);
bool jnl_seg_refused(enum jnl_seg_status st);
const char *jnl_seg_status_name(enum jnl_seg_status st);

/* ---- record payloads (journal/op.c) ---- */

/* A counted string.  After decode, ptr points into the payload: no NUL. */
struct jnl_str {
	const char *ptr;
	size_t len;
};

struct jnl_op_entry {		/* CREATE MKDIR MKNOD SYMLINK */
	uint64_t parent;
	uint64_t fid;		/* introduced */
	uint64_t rdev;		/* device number for S_IFCHR/S_IFBLK, else 0 */
	uint32_t mode;		/* type | permission bits */
	uint32_t uid;
	uint32_t gid;
	struct jnl_str name;
	struct jnl_str target;	/* SYMLINK only */
};

struct jnl_op_link {		/* BIND LINK UNLINK RMDIR */
	uint64_t parent;
	uint64_t fid;		/* UNLINK/RMDIR: JNL_FID_NONE if not bound */
	struct jnl_str name;
};

struct jnl_op_rename {
	uint64_t parent;
	uint64_t newparent;
	uint64_t fid;		/* JNL_FID_NONE if not bound */
	uint32_t flags;		/* JNL_RENAME_* */
	struct jnl_str name;
	struct jnl_str newname;
};

struct jnl_op_write {
	uint64_t fid;
	uint64_t offset;	/* bytes */
	const uint8_t *data;	/* after decode: points into the payload */
	size_t len;
};

struct jnl_op_setattr {
	uint64_t fid;
	uint32_t mask;		/* JNL_SA_*; unselected fields are 0 */
	uint32_t mode;		/* 07777 bits */
	uint32_t uid;
	uint32_t gid;
	uint64_t size;
	int64_t atime_sec;
	int64_t mtime_sec;
	uint32_t atime_nsec;
	uint32_t mtime_nsec;
};

struct jnl_op_handle {		/* BINDFH */
	uint64_t fid;		/* introduced */
	const uint8_t *fh;	/* after decode: points into the payload */
	size_t fh_len;
};

struct jnl_op_xattrs {		/* XATTRS */
	uint64_t fid;
	uint32_t count;
	const uint8_t *set;	/* after decode: points into the payload */
	size_t set_len;
};

struct jnl_op_xattr {		/* SETXATTR REMOVEXATTR */
	uint64_t fid;
	uint32_t flags;		/* JNL_XATTR_* */
	struct jnl_str name;
	const uint8_t *value;
	size_t value_len;
};

/* One operation: the decoded payload of one record. */
struct jnl_op {
	enum jnl_type type;
	union {
		struct jnl_op_entry entry;
		struct jnl_op_link link;
		struct jnl_op_rename rename;
		struct jnl_op_write write;
		struct jnl_op_setattr setattr;
		struct jnl_op_xattr xattr;
		struct jnl_op_handle handle;
		struct jnl_op_xattrs xattrs;
	} u;
};

/* Why a payload is not well-formed: one value per rule P1-P9. */
enum jnl_op_status {
	JNL_OPST_OK = 0,
	JNL_OPST_BAD_TYPE,	/* not a type of this version (rule 13) */
	JNL_OPST_BAD_LENGTH,	/* P1 */
	JNL_OPST_BAD_FID,	/* P2 */
	JNL_OPST_BAD_NAME,	/* P3 */
	JNL_OPST_BAD_MODE,	/* P4 */
	JNL_OPST_BAD_TARGET,	/* P5 */
	JNL_OPST_BAD_RANGE,	/* P6 */
	JNL_OPST_BAD_SETATTR,	/* P7 */
	JNL_OPST_BAD_FLAGS,	/* P8 */
	JNL_OPST_BAD_XATTR,	/* P9 */
	JNL_OPST_BAD_HANDLE,	/* P10 */
	JNL_OPST_BAD_XATTRS,	/* P11 */
};

bool jnl_type_known(unsigned type);
const char *jnl_type_name(unsigned type);
const char *jnl_op_status_name(enum jnl_op_status st);
enum jnl_op_status jnl_op_check(const struct jnl_op *op);
size_t jnl_op_size(const struct jnl_op *op);
int jnl_op_encode(const struct jnl_op *op, uint8_t *buf, size_t cap);
enum jnl_op_status jnl_op_decode(unsigned type, const uint8_t *p, size_t len,
				 struct jnl_op *out);

/* ---- records ---- */

struct jnl_rec_hdr {
	uint64_t cksum;		/* the chain value after this record */
	uint16_t type;
	uint16_t flags;
	uint32_t paylen;
	uint32_t gidx;
	uint32_t node;
	uint32_t epoch;
	uint64_t seq;
	uint64_t prev;
	uint64_t time_ns;
};

/* A decoded record: header, operation and its size on disk. */
struct jnl_rec {
	struct jnl_rec_hdr hdr;
	struct jnl_op op;
	enum jnl_op_status op_status;	/* detail when rule 14 fails */
	uint32_t reclen;		/* bytes on disk, padding included */
	uint64_t segno;			/* set by the reader */
	uint64_t offset;		/* set by the reader */
};

#define JNL_GIDX_ANY	UINT32_MAX

/* What the record at a position must carry (rules 7-11). */
struct jnl_expect {
	uint32_t node;
	uint32_t epoch;
	uint64_t seq;
	uint64_t prev;
	uint32_t gidx;		/* the continuing gidx, or JNL_GIDX_ANY */
};

/* Why a record is not valid: one value per rule 1-14. */
enum jnl_rec_status {
	JNL_REC_OK = 0,
	JNL_REC_TRUNC_HDR,	/* 1 */
	JNL_REC_BAD_MAGIC,	/* 2 */
	JNL_REC_BAD_LENGTH,	/* 3 */
	JNL_REC_TRUNC,		/* 4 */
	JNL_REC_BAD_CKSUM,	/* 5 */
	JNL_REC_BAD_PADDING,	/* 6 */
	JNL_REC_FOREIGN_NODE,	/* 7 */
	JNL_REC_OLD_EPOCH,	/* 8, epoch below the segment's */
	JNL_REC_NEW_EPOCH,	/* 8, epoch above the segment's */
	JNL_REC_GAP,		/* 9, seq above the expected */
	JNL_REC_REPLAY,		/* 9, seq below the expected */
	JNL_REC_BAD_CHAIN,	/* 10 */
	JNL_REC_BAD_GROUP,	/* 11 */
	JNL_REC_BAD_FLAGS,	/* 12, -EPROTO */
	JNL_REC_BAD_TYPE,	/* 13, -EPROTO */
	JNL_REC_BAD_PAYLOAD,	/* 14, detail in jnl_rec.op_status */
};

int jnl_rec_encode(struct jnl_rec_hdr *h, const struct jnl_op *op,
		   uint8_t *buf, size_t cap, size_t *reclen);
enum jnl_rec_status jnl_rec_decode(const uint8_t *buf, size_t len,
				   const struct jnl_expect *exp,
				   struct jnl_rec *out);
bool jnl_rec_intact(enum jnl_rec_status st);
bool jnl_rec_refused(enum jnl_rec_status st);
const char *jnl_rec_status_name(enum jnl_rec_status st);

/* ---- checkpoint ---- */

struct jnl_ckpt {
	uint64_t cksum;		/* OUT of encode and decode */
	uint32_t node;
	uint32_t epoch;		/* epoch of segment segno */
	uint64_t seq;		/* last applied, 0 = none */
	uint64_t chain;		/* cksum of record seq */
	uint64_t segno;		/* segment holding record seq + 1 */
	uint64_t offset;	/* its offset there */
	uint64_t time_ns;	/* time_ns of record seq */
};

/* Why a checkpoint slot is not valid: one value per rule C1-C6. */
enum jnl_ckpt_status {
	JNL_CKPT_OK = 0,
	JNL_CKPT_SHORT,		/* C1 */
	JNL_CKPT_BAD_MAGIC,	/* C2 */
	JNL_CKPT_BAD_CKSUM,	/* C3 */
	JNL_CKPT_BAD_VERSION,	/* C4, -EPROTO */
	JNL_CKPT_BAD_IDENT,	/* C5 */
	JNL_CKPT_BAD_OFFSET,	/* C6 */
};

void jnl_ckpt_encode(struct jnl_ckpt *ck, uint8_t *buf);
enum jnl_ckpt_status jnl_ckpt_decode(const uint8_t *buf, size_t len,
				     struct jnl_ckpt *out);
int jnl_ckpt_pick(const uint8_t *buf, size_t len, struct jnl_ckpt *out,
		  unsigned *slot);
const char *jnl_ckpt_status_name(enum jnl_ckpt_status st);

#endif /* OFSREP_JOURNAL_FORMAT_H */
