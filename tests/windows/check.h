/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * A minimal test harness, for the tests that also run under wine, where
 * there is no cmocka
 *
 * A failed check ends its test case and the run goes on with the next.
 * The last line is "N passed, N failed".
 */
#pragma once

#include <stddef.h>

struct check_case {
	const char *name;
	void (*run)(void);
};

__attribute__((format(printf, 3, 4), noreturn))
void check_failed(const char *file, int line, const char *fmt, ...);

#define CHECK(cond)							\
	((cond) ? (void)0 : check_failed(__FILE__, __LINE__, "%s", #cond))

#define CHECK_INT(actual, expected)					\
	do {								\
		long long a_ = (long long)(actual);			\
		long long e_ = (long long)(expected);			\
									\
		if (a_ != e_)						\
			check_failed(__FILE__, __LINE__,		\
				     "%s is %lld, not %lld", #actual,	\
				     a_, e_);				\
	} while (0)

/* Runs the cases (all, or those named on the command line). */
int check_main(const struct check_case *cases, size_t n, int argc,
	       char **argv);
