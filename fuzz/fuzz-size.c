/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * Fuzzes the parsers of sizes and numbers users type, and checks what
 * they return: a size that parses prints in decimal and parses back the
 * same, and format_size() writes it as the size it is, in tenths of its
 * unit at most below; a number that parses is in range up to itself, and
 * the client's numbers read as the server's but for a leading 0.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "parse.h"

/* format_size()'s "1.5 GiB" or "1000 bytes", read back: "1.5G" parsed. */
static void check_format(uint64_t v)
{
	char buf[64], *unit;
	uint64_t w, step;

	format_size(buf, sizeof(buf), v);
	unit = strchr(buf, ' ');
	if (!unit)
		abort();
	if (strcmp(unit, " bytes") == 0) {
		*unit = '\0';
		if (parse_size(buf, &w) != 0 || w != v || v >= 1024)
			abort();
		return;
	}
	if (strlen(unit) != 4 || strcmp(unit + 2, "iB") != 0)
		abort();
	step = UINT64_C(1) << (10 * (strchr("KMGTPE", unit[1]) - "KMGTPE" + 1));
	unit[0] = unit[1];
	unit[1] = '\0';
	/* truncated to tenths: at most a tenth of the unit below */
	if (parse_size(buf, &w) != 0 || w > v || v - w > step / 10 + 1)
		abort();
}

/* A number that parses is in range exactly up to itself. */
static void check_number(int (*parse)(const char *, uint64_t, uint64_t *),
			 const char *text)
{
	uint64_t v = 0, w = 0;
	int r = parse(text, UINT64_MAX, &v);

	if (r == 0) {
		r = parse(text, v, &w);
		if (r != 0 || w != v || (v && parse(text, v - 1, &w) != -ERANGE))
			abort();
	} else if (r != -EINVAL && r != -ERANGE) {
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[64], buf[64];
	uint64_t v = 0, w = 0;
	int r;

	if (size >= sizeof(text))
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';

	r = parse_size(text, &v);
	if (r != 0 && r != -EINVAL && r != -ERANGE)
		abort();
	if (r == 0) {
		check_format(v);
		snprintf(buf, sizeof(buf), "%" PRIu64, v);
		if (parse_size(buf, &w) != 0 || w != v)
			abort();
		if (v >= 1 && v <= (UINT64_C(1) << 63)) {
			uint64_t p = pow2_ceil(v);

			if (p < v || (p & (p - 1)) || (p > 1 && p / 2 >= v))
				abort();
		}
	}
	check_number(parse_uint, text);
	check_number(parse_number, text);
	/* without a leading 0, the two read the same */
	if (text[0] >= '1' && text[0] <= '9') {
		int a = parse_uint(text, UINT64_MAX, &v);
		int b = parse_number(text, UINT64_MAX, &w);

		if (a != b || (a == 0 && v != w))
			abort();
	}
	return 0;
}
