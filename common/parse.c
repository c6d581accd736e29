/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * Parsing of the numbers users type: sizes and counts
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

static int suffix_shift(char c)
{
	static const char units[] = "BKMGTPE";
	const char *p = c ? strchr(units, toupper((unsigned char)c)) : NULL;

	return p ? (int)(p - units) * 10 : -1;
}

/*
 * floor(@num * 2^@shift / @den) for @num < @den < 2^63: long division, a
 * bit at a time, as 32-bit targets have no 128-bit integers.
 */
static uint64_t scale_fraction(uint64_t num, uint64_t den, int shift)
{
	uint64_t q = 0;

	for (int i = 0; i < shift; i++) {
		num <<= 1; /* < 2 * den: no overflow */
		q <<= 1;
		if (num >= den) {
			num -= den;
			q |= 1;
		}
	}
	return q;
}

int parse_size(const char *text, uint64_t *out)
{
	const char *p = text;
	uint64_t whole = 0, frac_num = 0, frac_den = 1;
	int shift = 0, digits = 0;

	for (; isdigit((unsigned char)*p); p++, digits++) {
		unsigned d = (unsigned)(*p - '0');

		if (whole > (UINT64_MAX - d) / 10)
			return -ERANGE;
		whole = whole * 10 + d;
	}
	if (*p == '.') {
		for (p++; isdigit((unsigned char)*p); p++, digits++) {
			/* beyond 18 decimals nothing can change a whole byte
			 * count below 2^64 by more than rounding */
			if (frac_den < 1000000000000000000ULL) {
				frac_num = frac_num * 10 + (unsigned)(*p - '0');
				frac_den *= 10;
			}
		}
	}
	if (digits == 0)
		return -EINVAL;
	if (*p) {
		shift = suffix_shift(*p);
		if (shift < 0 || p[1])
			return -EINVAL;
	} else if (frac_num) {
		return -EINVAL; /* a fraction of a byte */
	}
	if (shift && whole > UINT64_MAX >> shift)
		return -ERANGE;
	whole <<= shift;
	if (frac_num) {
		/* frac_num / frac_den < 1, so this is < 2^shift <= 2^60 */
		uint64_t extra = scale_fraction(frac_num, frac_den, shift);

		if (whole > UINT64_MAX - extra)
			return -ERANGE;
		whole += extra;
	}
	*out = whole;
	return 0;
}

static int parse_base(const char *text, int base, uint64_t max,
		      uint64_t *out)
{
	unsigned char first = (unsigned char)text[0];
	unsigned long long v;
	char *end;

	if (!(base == 16 ? isxdigit(first) : isdigit(first)))
		return -EINVAL;
	errno = 0;
	v = strtoull(text, &end, base);
	if (*end || (base == 16 && strpbrk(text, "xX")))
		return -EINVAL;
	if (errno == ERANGE || v > max)
		return -ERANGE;
	*out = v;
	return 0;
}

int parse_uint(const char *text, uint64_t max, uint64_t *out)
{
	return parse_base(text, 0, max, out);
}

int parse_number(const char *text, uint64_t max, uint64_t *out)
{
	if (text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
		return parse_base(text + 2, 16, max, out);
	return parse_base(text, 10, max, out);
}

uint64_t pow2_ceil(uint64_t v)
{
	if (v <= 1)
		return 1;
	return (uint64_t)1 << (64 - __builtin_clzll(v - 1));
}

char *format_size(char *buf, unsigned long len, uint64_t v)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB",
					     "PiB", "EiB" };
	int u = -1;
	uint64_t scaled = v;

	while (scaled >= 1024 && u < 5) {
		scaled /= 1024;
		u++;
	}
	if (u < 0) {
		snprintf(buf, len, "%llu bytes", (unsigned long long)v);
	} else {
		uint64_t unit = (uint64_t)1 << (10 * (u + 1));
		uint64_t tenths = (v % unit) * 10 / unit;

		if (tenths)
			snprintf(buf, len, "%llu.%llu %s",
				 (unsigned long long)scaled,
				 (unsigned long long)tenths, units[u]);
		else
			snprintf(buf, len, "%llu %s",
				 (unsigned long long)scaled, units[u]);
	}
	return buf;
}
