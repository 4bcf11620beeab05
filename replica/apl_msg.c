// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * replica/apl_msg.c: how the mirror applier says what went wrong.  A run
 * keeps one line in a->err, the first failure's:
 *
 *	<url>: seq S <type>: <what>: <errno text>[ (<rpc text>)]<tail>
 *
 * apl_fail() reports an operational failure of the record being applied
 * and apl_fail_at() one of a windowed call's record (both return the
 * -errno); apl_damage() says the mirror or journal does not fit (tail
 * " (damage: <why>)", returns -EUCLEAN); apl_mismatch() takes a stale
 * handle, which in the replay zone (IDEMPOTENCY in replica/applier.c) is
 * a record applied before (APL_AGAIN) and elsewhere damage.  apl_trace()
 * writes a line per record and decision to conf.trace (debugging).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "replica/apl_internal.h"

/* Is err one that comes with libnfs's text in a->rpc.msg? */
static bool apl_rpc_err(int err)
{
	return err == -ETIMEDOUT || err == -ECONNRESET || err == -ENOTCONN ||
	       err == -EIO || err == -EBADMSG;
}

/* The one-line message (the format above), first error only. */
static void apl_vmsg(struct apl *a, uint64_t seq, unsigned type, int err,
		     const char *tail, const char *fmt, va_list ap)
{
	const char *rpc = apl_rpc_err(err) ? a->rpc.msg : "";
	char what[640];
	char where[80] = "";

	if (a->err[0])
		return;
	vsnprintf(what, sizeof(what), fmt, ap);
	if (seq)
		snprintf(where, sizeof(where), "seq %" PRIu64 " %s: ", seq,
			 jnl_type_name(type));
	/* a message longer than a->err is cut: the result is checked only
	 * to say so to the compiler */
	if (snprintf(a->err, sizeof(a->err), "%s: %s%s: %s%s%s%s%s",
		     a->js.url, where, what, strerror(-err), *rpc ? " (" : "",
		     rpc, *rpc ? ")" : "", tail) >= (int)sizeof(a->err))
		a->err[sizeof(a->err) - 2] = '.';
}

uint64_t apl_seq(const struct apl *a)
{
	return a->rec ? a->rec->hdr.seq : 0;
}

static unsigned apl_type(const struct apl *a)
{
	return a->rec ? a->rec->hdr.type : 0;
}

/* An operational failure of the record being applied: returns err. */
__attribute__((format(printf, 3, 4)))
int apl_fail(struct apl *a, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	apl_vmsg(a, apl_seq(a), apl_type(a), err, "", fmt, ap);
	va_end(ap);
	return err;
}

/* The mirror or journal does not fit: returns -EUCLEAN. */
__attribute__((format(printf, 4, 5)))
int apl_damage(struct apl *a, int err, const char *why,
	       const char *fmt, ...)
{
	char tail[256];
	va_list ap;

	snprintf(tail, sizeof(tail), " (damage: %s)", why);
	va_start(ap, fmt);
	apl_vmsg(a, apl_seq(a), apl_type(a), err, tail, fmt, ap);
	va_end(ap);
	return -EUCLEAN;
}

/* A failure of record seq (a windowed call's): returns err. */
__attribute__((format(printf, 6, 7)))
int apl_fail_at(struct apl *a, uint64_t seq, unsigned type, int err,
		const char *tail, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	apl_vmsg(a, seq, type, err, tail, fmt, ap);
	va_end(ap);
	return err;
}

/* Debug trace (conf.trace): what happened to the record being applied. */
__attribute__((format(printf, 2, 3)))
void apl_trace(struct apl *a, const char *fmt, ...)
{
	va_list ap;

	if (!a->conf.trace)
		return;
	fprintf(a->conf.trace, "seq %" PRIu64 " %s: ", apl_seq(a),
		jnl_type_name(apl_type(a)));
	va_start(ap, fmt);
	vfprintf(a->conf.trace, fmt, ap);
	va_end(ap);
	fputc('\n', a->conf.trace);
}

/* Is the record being applied in the replay zone? */
static bool apl_zone(const struct apl *a)
{
	return a->rec && a->rec->hdr.seq <= a->replay_to;
}

/* A stale handle (the object or directory is gone): in the replay zone a
 * record applied before, whose object a later record removed (skip it:
 * APL_AGAIN); elsewhere damage. */
__attribute__((format(printf, 4, 5)))
int apl_mismatch(struct apl *a, int err, const char *why,
		 const char *fmt, ...)
{
	char tail[256];
	va_list ap;

	if (apl_zone(a)) {
		a->st.replayed++;
		apl_trace(a, "zone: skipped: %s", why);
		return APL_AGAIN;
	}
	snprintf(tail, sizeof(tail), " (damage: %s)", why);
	va_start(ap, fmt);
	apl_vmsg(a, apl_seq(a), apl_type(a), err, tail, fmt, ap);
	va_end(ap);
	return -EUCLEAN;
}
