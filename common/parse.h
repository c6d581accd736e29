/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * Parsing of the numbers users type: sizes and counts
 */
#pragma once

#include <stdint.h>

/*
 * Parses a size as QEMU does: a number, optionally with a decimal fraction,
 * and an optional suffix B, K, M, G, T, P or E (any case; 1K = 1024).
 * A fraction needs a suffix and is truncated to whole bytes.
 * Returns 0, -EINVAL for text that is not a size, -ERANGE at 2^64 or more.
 */
int parse_size(const char *text, uint64_t *out);

/*
 * Parses a whole number in decimal, 0x-hex or 0-octal (as strtoul() with
 * base 0, which QEMU's options use), with nothing after it, in 0..max.
 * Returns 0, -EINVAL or -ERANGE.
 */
int parse_uint(const char *text, uint64_t max, uint64_t *out);
/* The same in decimal or 0x-hex only: a leading 0 is no octal. */
int parse_number(const char *text, uint64_t max, uint64_t *out);

/* The smallest power of two >= v, for 1 <= v <= 2^63. */
uint64_t pow2_ceil(uint64_t v);

/* Writes v as "4 MiB", "1.5 GiB" or "1000 bytes"; returns buf. */
char *format_size(char *buf, unsigned long len, uint64_t v);
