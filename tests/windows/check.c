/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * A minimal test harness, for the tests that also run under wine
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

static jmp_buf failed_case;

void check_failed(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	printf("  %s:%d: ", file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	longjmp(failed_case, 1);
}

static bool wanted(const char *name, int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], name))
			return true;
	return argc < 2;
}

/* Runs one case: true when it passed. */
static bool run(const struct check_case *c)
{
	printf("%s\n", c->name);
	if (setjmp(failed_case)) {
		printf("FAILED %s\n", c->name);
		return false;
	}
	c->run();
	printf("ok %s\n", c->name);
	return true;
}

int check_main(const struct check_case *cases, size_t n, int argc,
	       char **argv)
{
	int passed = 0, failed = 0;

	setvbuf(stdout, NULL, _IONBF, 0);
	for (size_t i = 0; i < n; i++) {
		if (!wanted(cases[i].name, argc, argv))
			continue;
		if (run(&cases[i]))
			passed++;
		else
			failed++;
	}
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
