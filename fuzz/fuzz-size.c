/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * Fuzzes the parsers of sizes and numbers users type, and checks what
 * they return: a size that parses prints and parses back the same.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "parse.h"

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
		format_size(buf, sizeof(buf), v);
		snprintf(buf, sizeof(buf), "%" PRIu64, v);
		if (parse_size(buf, &w) != 0 || w != v)
			abort();
		if (v >= 1 && v <= (UINT64_C(1) << 63)) {
			uint64_t p = pow2_ceil(v);

			if (p < v || (p & (p - 1)) || (p > 1 && p / 2 >= v))
				abort();
		}
	}
	r = parse_uint(text, UINT64_MAX, &v);
	if (r == 0) {
		r = parse_uint(text, v, &w);
		if (r != 0 || w != v || (v && parse_uint(text, v - 1, &w) !=
					 -ERANGE))
			abort();
	} else if (r != -EINVAL && r != -ERANGE) {
		abort();
	}
	return 0;
}
