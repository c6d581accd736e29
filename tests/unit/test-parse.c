/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * Unit tests of the size and number parsers
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "parse.h"

static void ok(const char *text, uint64_t want)
{
	uint64_t v = 0;

	if (parse_size(text, &v) != 0)
		fail_msg("'%s' was refused", text);
	if (v != want)
		fail_msg("'%s' = %llu, want %llu", text,
			 (unsigned long long)v, (unsigned long long)want);
}

static void refused(const char *text, int err)
{
	uint64_t v = 12345;

	if (parse_size(text, &v) != err)
		fail_msg("'%s' not refused with %d", text, err);
	assert_int_equal(v, 12345); /* untouched */
}

static void test_sizes(void **state)
{
	ok("0", 0);
	ok("4194304", 4194304);
	ok("1b", 1);
	ok("1B", 1);
	ok("1K", 1024);
	ok("1k", 1024);
	ok("4M", 4 << 20);
	ok("4m", 4 << 20);
	ok("1G", 1ULL << 30);
	ok("5G", 5ULL << 30);
	ok("1T", 1ULL << 40);
	ok("1P", 1ULL << 50);
	ok("1E", 1ULL << 60);
	ok("15E", 15ULL << 60);
	ok("1.5K", 1536);
	ok("1.5G", 3ULL << 29);
	ok("0.5M", 512 * 1024);
	ok("2.0", 2);
	ok("18446744073709551615", UINT64_MAX);
	ok("007", 7);
}

static void test_bad_sizes(void **state)
{
	refused("", -EINVAL);
	refused("K", -EINVAL);
	refused("-1", -EINVAL);
	refused("+1", -EINVAL);
	refused(" 1", -EINVAL);
	refused("1 ", -EINVAL);
	refused("1X", -EINVAL);
	refused("1KB", -EINVAL);
	refused("1.5", -EINVAL);   /* a fraction of a byte */
	refused("0x10", -EINVAL);
	refused("1e3", -EINVAL);
	refused("abc", -EINVAL);
	refused(".", -EINVAL);
	refused("18446744073709551616", -ERANGE);
	refused("16E", -ERANGE);
	refused("99999999999999999999999", -ERANGE);
	refused("17179869184G", -ERANGE);
}

static void test_uint(void **state)
{
	uint64_t v;

	assert_int_equal(parse_uint("0", 10, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(parse_uint("2048", 2048, &v), 0);
	assert_int_equal(v, 2048);
	assert_int_equal(parse_uint("0x10", 100, &v), 0);
	assert_int_equal(v, 16);
	assert_int_equal(parse_uint("2049", 2048, &v), -ERANGE);
	assert_int_equal(parse_uint("-1", 2048, &v), -EINVAL);
	assert_int_equal(parse_uint("", 2048, &v), -EINVAL);
	assert_int_equal(parse_uint("1x", 2048, &v), -EINVAL);
	assert_int_equal(parse_uint(" 1", 2048, &v), -EINVAL);
	assert_int_equal(parse_uint("99999999999999999999999", UINT64_MAX, &v),
			 -ERANGE);
}

/* The client's numbers: a leading 0 is decimal, not octal. */
static void test_number(void **state)
{
	uint64_t v;

	assert_int_equal(parse_number("010", 100, &v), 0);
	assert_int_equal(v, 10);
	assert_int_equal(parse_uint("010", 100, &v), 0);
	assert_int_equal(v, 8);
	assert_int_equal(parse_number("0x1F", 100, &v), 0);
	assert_int_equal(v, 31);
	assert_int_equal(parse_number("0XfF", 255, &v), 0);
	assert_int_equal(v, 255);
	assert_int_equal(parse_number("0", 0, &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(parse_number("0x100", 255, &v), -ERANGE);
	assert_int_equal(parse_number("0x", 255, &v), -EINVAL);
	assert_int_equal(parse_number("0x0x1", 255, &v), -EINVAL);
	assert_int_equal(parse_number("0x-1", 255, &v), -EINVAL);
	assert_int_equal(parse_number("0x 1", 255, &v), -EINVAL);
	assert_int_equal(parse_number("09", 255, &v), 0);
	assert_int_equal(v, 9);
	assert_int_equal(parse_number("1e3", 10000, &v), -EINVAL);
	assert_int_equal(parse_number("+1", 10, &v), -EINVAL);
}

static void test_pow2(void **state)
{
	assert_int_equal(pow2_ceil(1), 1);
	assert_int_equal(pow2_ceil(2), 2);
	assert_int_equal(pow2_ceil(3), 4);
	assert_int_equal(pow2_ceil(4194304), 4194304);
	assert_int_equal(pow2_ceil(4194305), 8388608);
	assert_true(pow2_ceil((1ULL << 62) - 1) == 1ULL << 62);
	assert_true(pow2_ceil(1ULL << 63) == 1ULL << 63);
}

static void test_format(void **state)
{
	char buf[32];

	assert_string_equal(format_size(buf, sizeof(buf), 1000), "1000 bytes");
	assert_string_equal(format_size(buf, sizeof(buf), 1024), "1 KiB");
	assert_string_equal(format_size(buf, sizeof(buf), 4 << 20), "4 MiB");
	assert_string_equal(format_size(buf, sizeof(buf), 3ULL << 29),
			    "1.5 GiB");
	assert_string_equal(format_size(buf, sizeof(buf), 1ULL << 62),
			    "4 EiB");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_bad_sizes),
		cmocka_unit_test(test_uint),
		cmocka_unit_test(test_number),
		cmocka_unit_test(test_pow2),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
