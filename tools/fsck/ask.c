/*
 * ask.c — how ofsrep-fsck asks, in e2fsck's manner: a question names the
 * object and the damage in plain words and ends in "? <y>"; -n answers
 * no, -y yes, -p (preen) yes to what is safe and stops the run on
 * anything else (the caller then exits 4, "run ofsrep-fsck manually");
 * without any of them the question is read from the terminal.  Also the
 * progress (-C fd) and the messages that --json keeps off stdout.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tools/fsck/fsck.h"

volatile sig_atomic_t fsck_interrupted;
bool fsck_preen_stopped;

/* Messages go to stdout, or to stderr when stdout carries --json. */
static FILE *out(const struct fsck_opts *o)
{
	return o->json ? stderr : stdout;
}

void fsck_say(const struct fsck_opts *o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(out(o), fmt, ap);
	va_end(ap);
	fflush(out(o));
}

bool fsck_ask(const struct fsck_opts *o, bool preen_safe, const char *fmt,
	      ...)
{
	FILE *f = out(o);
	char line[64];
	va_list ap;

	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	switch (o->mode) {
	case ASK_NO:
		fputs("? no\n\n", f);
		return false;
	case ASK_YES:
		fputs("? yes\n\n", f);
		return true;
	case ASK_PREEN:
		if (preen_safe) {
			fputs(": FIXED.\n", f);
			return true;
		}
		fputs(".\n\nUNEXPECTED INCONSISTENCY; RUN ofsrep-fsck "
		      "MANUALLY.\n\t(i.e., without -p or -y options)\n", f);
		fsck_preen_stopped = true;
		return false;
	case ASK_INTERACTIVE:
		break;
	}
	for (;;) {
		fputs("? <y> ", f);
		fflush(f);
		if (fsck_interrupted || !fgets(line, sizeof(line), stdin)) {
			fputs("\n(no answer: no)\n", f);
			return false;
		}
		if (line[0] == '\n' || line[0] == 'y' || line[0] == 'Y')
			return true;
		if (line[0] == 'n' || line[0] == 'N')
			return false;
	}
}

/*
 * -C fd: "node pass done total" lines on fd (as e2fsck -C for a
 * front end); -C 0: a bar redrawn on the terminal.
 */
void fsck_progress(const struct fsck_opts *o, uint32_t node, int pass,
		   uint64_t done, uint64_t total)
{
	char buf[128];
	int n;

	if (o->progress_fd < 0)
		return;
	if (o->progress_fd == 0) {
		unsigned width = 40;
		unsigned fill = total ? (unsigned)(done * width / total) :
			width;

		n = snprintf(buf, sizeof(buf), "\rnode %u pass %d: |", node,
			     pass);
		for (unsigned i = 0; i < width && n < (int)sizeof(buf) - 16;
		     i++)
			buf[n++] = i < fill ? '=' : ' ';
		n += snprintf(buf + n, sizeof(buf) - n, "| %5.1f%%%s",
			      total ? 100.0 * done / total : 100.0,
			      done >= total ? "\n" : "");
		if (write(STDOUT_FILENO, buf, (size_t)n) < 0)
			return;
		return;
	}
	n = snprintf(buf, sizeof(buf), "%u %d %llu %llu\n", node, pass,
		     (unsigned long long)done, (unsigned long long)total);
	if (write(o->progress_fd, buf, (size_t)n) < 0)
		return;
}
