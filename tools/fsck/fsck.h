/*
 * fsck.h — what the files of ofsrep-fsck (tools/fsck/) share.  main.c says
 * what the tool does; ask.c how it asks and reports progress; node.c the
 * passes over one node's journal and their repairs.
 */
#ifndef OFSREP_FSCK_H
#define OFSREP_FSCK_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* e2fsck's exit codes, combined by OR. */
enum {
	FX_OK = 0,
	FX_CORRECTED = 1,
	FX_REBOOT = 2,		/* not used: never changes a live mount */
	FX_UNCORRECTED = 4,
	FX_ERROR = 8,
	FX_USAGE = 16,
	FX_CANCELLED = 32,
};

enum fsck_answer_mode { ASK_INTERACTIVE, ASK_NO, ASK_YES, ASK_PREEN };

enum fsck_resync { FSCK_RESYNC_NONE, FSCK_RESYNC_MIRROR, FSCK_RESYNC_PRIMARY };

struct fsck_opts {
	const char *secondary;
	const char *primary;		/* optional; for pass 4 (trees.c) */
	enum fsck_answer_mode mode;
	bool force;			/* -f */
	bool verbose;			/* -v */
	bool json;
	bool break_lease;
	int progress_fd;		/* -C fd; -1 none */
	uint32_t node;			/* --node; 0 = every node */
	int timeout_ms;
	bool verify;			/* --verify */
	int resync;			/* --resync=: enum fsck_resync */
	bool keep;			/* --keep=: split brain resolved on
					 * purpose (may discard mirror-only
					 * changes) */
	const char *spool_dir;		/* --spool=DIR */
};

/* One problem found, for the report and --json. */
struct fsck_problem {
	const char *kind;		/* "torn_tail", "damage", ... */
	char what[512];
	bool fixed;
};

#define FSCK_MAX_PROBLEMS 8
#define FSCK_DIFF_LINES 200

struct fsck_node {
	uint32_t node;
	uint64_t records;
	uint64_t first_seq, last_seq;
	size_t segments;
	unsigned epochs;
	const char *end;		/* clean, torn, damaged, refused */
	char describe[512];
	bool have_ckpt;
	bool ckpt_damaged;		/* present, no slot valid */
	uint64_t ckpt_seq;
	uint32_t ckpt_epoch;
	bool live;			/* a live mount owns the journal */
	uint64_t pending;
	char quarantine[256];		/* where damaged bytes went, or "" */
	uint64_t fids_checked;		/* pass 3, fids.c */
	uint64_t fids_gone;
	uint64_t fids_first_gone, fids_first_seq;
	bool fids_obsolete;		/* the mirror was rebuilt or served
					 * directly: its fid map says nothing */
	uint64_t tree_entries;		/* pass 4 */
	uint64_t tree_differences;
	uint64_t xattr_orphans;		/* blobs of removed objects found */
	uint64_t xattr_reclaimed;	/* ... and removed */
	char **diff_lines;		/* "path: what", at most
					 * FSCK_DIFF_LINES, for --json */
	unsigned ndiff_lines;
	struct fsck_problem problems[FSCK_MAX_PROBLEMS];
	unsigned nproblems;
	int exit;
};

extern volatile sig_atomic_t fsck_interrupted;

/* ask.c */
bool fsck_ask(const struct fsck_opts *o, bool preen_safe, const char *fmt,
	      ...) __attribute__((format(printf, 3, 4)));
void fsck_progress(const struct fsck_opts *o, uint32_t node, int pass,
		   uint64_t done, uint64_t total);
void fsck_say(const struct fsck_opts *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Set in preen mode when a problem needs an answer preen may not give. */
extern bool fsck_preen_stopped;

/* trees.c: pass 4, with the journal's lease held (jstore @js) */
struct jstore;
struct ts_stats;
void fsck_trees(const struct fsck_opts *o, struct jstore *js, bool may,
		struct fsck_node *r);
/* One tree comparison, primary -> mirror (or back, @to_primary), with
 * repair or not; a failure is a problem of @r.  0 or -errno. */
int fsck_tree_run(const struct fsck_opts *o, struct fsck_node *r,
		  bool repair, bool may, bool to_primary, struct ts_stats *st);

/* fids.c: the mirror's objects against the journal's fid map (pass 3,
 * read-only; @journal_epoch is the epoch of the journal's last segment),
 * the verdict after pass 4, and dropping the map after a mirror resync */
void fsck_fids(const struct fsck_opts *o, struct jstore *js,
	       uint32_t journal_epoch, struct fsck_node *r);
void fsck_fids_verdict(const struct fsck_opts *o, struct jstore *js,
		       bool obsolete, struct fsck_node *r);
int fsck_fids_forget(struct jstore *js, uint32_t epoch, char *err,
		     size_t errlen);

/* others.c: every other node unmounted, without a split-brain marker
 * and, if @need_applied, with its journal fully applied; else false with
 * the reason in @why. */
bool fsck_others_quiet(const struct fsck_opts *o, uint32_t self,
		       bool need_applied, char *why, size_t whylen);
/* trees.c: the node's overflowed spool is obsolete (mirror = primary) */
void fsck_spool_aside(const struct fsck_opts *o, uint32_t node);

/* ckpt.c: pass 2's repair of a checkpoint that cannot be trusted */
struct journal;
struct ckpt_check;
void fsck_ckpt_repair(const struct fsck_opts *o, struct journal *j,
		      bool may, const struct ckpt_check *cc,
		      struct fsck_node *r);

/* node.c */
void fsck_problem(struct fsck_node *r, const char *kind, bool fixed,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));
int fsck_node(const struct fsck_opts *o, uint32_t node, struct fsck_node *r);
void fsck_report_json(const struct fsck_opts *o, int ex,
		      const struct fsck_node *r, size_t n);

#endif
