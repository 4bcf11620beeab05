// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * print.c — output helpers the commands share: the one-line operational
 * error (exit 8), the end of a journal in words, JSON strings, and the
 * monotonic clock the append and apply reports time themselves with.
 */
#include <stdio.h>
#include <time.h>

#include "tools/journal/tool.h"

int op_error(const char *cmd, const char *msg)
{
	fprintf(stderr, PROG " %s: %s\n", cmd, msg);
	return EX_ERROR;
}

void describe_end(const struct jnl_end *e, char *buf, size_t size)
{
	if (e->kind == JNL_END_NONE)
		snprintf(buf, size, "no segments");
	else
		jnl_end_describe(e, buf, size);
}

/* Print s as a JSON string (quotes included). */
void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
