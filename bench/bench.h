/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * What the benchmarks share: a clock and a report line
 */
#pragma once

#include <stdint.h>
#include <stdio.h>
#include <time.h>

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One line: what, the baseline and ours in @unit, and ours/baseline. */
static inline void report(const char *what, const char *baseline_name,
			  double baseline, double ours, const char *unit)
{
	printf("%-34s %-22s %10.2f %s   ours %10.2f %s   ratio %.2fx\n", what,
	       baseline_name, baseline, unit, ours, unit, ours / baseline);
}
