/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The plain backend and memory access: opening, every bounds and alignment
 * check, loads, stores, atomics, spinning
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"

#define SIZE 8192

struct fixture {
	char path[128];
	struct ivshmem *h;
};

static int setup(void **state)
{
	static struct fixture f;

	snprintf(f.path, sizeof(f.path), "/dev/shm/ivshmem-utest-%d",
		 (int)getpid());
	unlink(f.path);
	if (ivshmem_open_plain(&f.h, f.path, SIZE, IVSHMEM_CREATE) < 0)
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	ivshmem_close(f->h);
	unlink(f->path);
	return 0;
}

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) < 0 ? -1 : st.st_size;
}

static void test_open_plain(void **state)
{
	struct fixture *f = *state;
	struct ivshmem *h = (struct ivshmem *)f;
	char missing[160];
	int fds = count_fds();

	snprintf(missing, sizeof(missing), "%s-missing", f->path);
	assert_int_equal(ivshmem_open_plain(&h, missing, 4096, 0), -ENOENT);
	assert_null(h);
	assert_int_equal(ivshmem_open_plain(&h, f->path, 0, 0x10), -EINVAL);
	assert_int_equal(ivshmem_open_plain(NULL, f->path, 0, 0), -EINVAL);
	assert_int_equal(ivshmem_open_plain(&h, NULL, 0, 0), -EINVAL);
	/* creating needs a size, and leaves nothing behind when it fails */
	assert_int_equal(ivshmem_open_plain(&h, missing, 0, IVSHMEM_CREATE),
			 -EINVAL);
	assert_int_equal(access(missing, F_OK), -1);

	/* size 0: the whole file; smaller: a prefix; larger: only to grow */
	assert_int_equal(ivshmem_open_plain(&h, f->path, 0, 0), 0);
	assert_int_equal(ivshmem_size(h), SIZE);
	ivshmem_close(h);
	assert_int_equal(ivshmem_open_plain(&h, f->path, 100, 0), 0);
	assert_int_equal(ivshmem_size(h), 100);
	assert_int_equal(ivshmem_write(h, 100, "x", 1), -ERANGE);
	ivshmem_close(h);
	assert_int_equal(ivshmem_open_plain(&h, f->path, 2 * SIZE, 0), -EFBIG);
	assert_int_equal(file_size(f->path), SIZE);
	assert_int_equal(ivshmem_open_plain(&h, f->path, 2 * SIZE,
					    IVSHMEM_GROW), 0);
	assert_int_equal(file_size(f->path), 2 * SIZE);
	ivshmem_close(h);
	assert_int_equal(truncate(f->path, SIZE), 0);

	/* shared between handles */
	assert_int_equal(ivshmem_open_plain(&h, f->path, 0, 0), 0);
	assert_int_equal(ivshmem_write(f->h, 10, "abc", 3), 0);
	assert_memory_equal((char *)ivshmem_memory(h) + 10, "abc", 3);

	/* a plain handle has no id, peers or interrupts */
	assert_int_equal(ivshmem_own_id(h), -ENOTSUP);
	assert_int_equal(ivshmem_peers(h, NULL, 0), -ENOTSUP);
	assert_int_equal(ivshmem_vectors(h, 0), -ENOTSUP);
	assert_int_equal(ivshmem_eventfd(h, 0, 0), -ENOTSUP);
	assert_int_equal(ivshmem_notify(h, 0, 0), -ENOTSUP);
	assert_int_equal(ivshmem_wait(h, 0, 0), -ENOTSUP);
	assert_int_equal(ivshmem_remap(h), -EALREADY);
	assert_true(ivshmem_get_fd(h) >= 0);
	assert_int_equal(ivshmem_dispatch(h, 0), 0);
	ivshmem_close(h);
	assert_int_equal(count_fds(), fds);

	/* NULL handles */
	assert_null(ivshmem_memory(NULL));
	assert_int_equal(ivshmem_size(NULL), 0);
	assert_int_equal(ivshmem_own_id(NULL), -EINVAL);
	assert_int_equal(ivshmem_peers(NULL, NULL, 0), -EINVAL);
	assert_int_equal(ivshmem_vectors(NULL, 0), -EINVAL);
	assert_int_equal(ivshmem_eventfd(NULL, 0, 0), -EINVAL);
	assert_int_equal(ivshmem_notify(NULL, 0, 0), -EINVAL);
	assert_int_equal(ivshmem_get_fd(NULL), -EINVAL);
	assert_int_equal(ivshmem_on_peer(NULL, NULL, NULL), -EINVAL);
	assert_int_equal(ivshmem_on_server(NULL, NULL, NULL), -EINVAL);
	assert_int_equal(ivshmem_on_interrupt(NULL, 0, NULL, NULL), -EINVAL);
	assert_int_equal(ivshmem_remap(NULL), -EINVAL);
	ivshmem_close(NULL);
}

static void test_bounds(void **state)
{
	struct ivshmem *h = ((struct fixture *)*state)->h;
	uint8_t buf[16] = { 0 };
	uint64_t v64, pair[2] = { 0, 0 };
	uint32_t v32;
	uint16_t v16;
	uint8_t v8;

	/* the last byte is in, one more is out, and so is any overflow */
	assert_int_equal(ivshmem_write(h, SIZE - 1, buf, 1), 0);
	assert_int_equal(ivshmem_write(h, SIZE - 1, buf, 2), -ERANGE);
	assert_int_equal(ivshmem_write(h, SIZE, buf, 0), 0);
	assert_int_equal(ivshmem_write(h, SIZE + 1, buf, 0), -ERANGE);
	assert_int_equal(ivshmem_read(h, UINT64_MAX, buf, 2), -ERANGE);
	assert_int_equal(ivshmem_read(h, 8, buf, SIZE_MAX), -ERANGE);
	assert_int_equal(ivshmem_read(h, UINT64_MAX - 1, buf, 4), -ERANGE);
	assert_int_equal(ivshmem_fill(h, 1, 0xff, SIZE), -ERANGE);
	assert_int_equal(ivshmem_fill(h, 0, 0xff, SIZE), 0);
	assert_int_equal(ivshmem_read(h, 0, NULL, 1), -EINVAL);
	assert_int_equal(ivshmem_write(h, 0, NULL, 1), -EINVAL);
	assert_int_equal(ivshmem_read(NULL, 0, buf, 1), -EINVAL);

	assert_int_equal(ivshmem_load8(h, SIZE, &v8), -ERANGE);
	assert_int_equal(ivshmem_load16(h, SIZE - 2, &v16), 0);
	assert_int_equal(ivshmem_load16(h, SIZE - 1, &v16), -ERANGE);
	assert_int_equal(ivshmem_load32(h, SIZE - 2, &v32), -ERANGE);
	assert_int_equal(ivshmem_load64(h, UINT64_MAX - 3, &v64), -ERANGE);
	assert_int_equal(ivshmem_store64(h, SIZE - 8, 1), 0);
	assert_int_equal(ivshmem_store64(h, SIZE - 4, 1), -ERANGE);
	assert_int_equal(ivshmem_store32(h, SIZE, 1), -ERANGE);
	assert_int_equal(ivshmem_store16(h, SIZE, 1), -ERANGE);
	assert_int_equal(ivshmem_store8(h, SIZE, 1), -ERANGE);
	assert_int_equal(ivshmem_cas32(h, SIZE, &v32, 1), -ERANGE);
	assert_int_equal(ivshmem_cas64(h, SIZE, &v64, 1), -ERANGE);
	assert_int_equal(ivshmem_cas128(h, SIZE - 8, pair, pair), -ERANGE);
	assert_int_equal(ivshmem_fetch_add32(h, SIZE, 1, NULL), -ERANGE);
	assert_int_equal(ivshmem_fetch_add64(h, SIZE, 1, NULL), -ERANGE);
	assert_int_equal(ivshmem_exchange32(h, SIZE, 1, NULL), -ERANGE);
	assert_int_equal(ivshmem_exchange64(h, SIZE, 1, NULL), -ERANGE);
	assert_int_equal(ivshmem_spin_wait32(h, SIZE, 1, 0), -ERANGE);
	assert_int_equal(ivshmem_spin_wait64(h, SIZE, 1, 0), -ERANGE);

	/* misaligned */
	assert_int_equal(ivshmem_load16(h, 1, &v16), -EINVAL);
	assert_int_equal(ivshmem_load32(h, 2, &v32), -EINVAL);
	assert_int_equal(ivshmem_load64(h, 4, &v64), -EINVAL);
	assert_int_equal(ivshmem_store16(h, 3, 1), -EINVAL);
	assert_int_equal(ivshmem_store32(h, 6, 1), -EINVAL);
	assert_int_equal(ivshmem_store64(h, 12, 1), -EINVAL);
	assert_int_equal(ivshmem_cas32(h, 1, &v32, 1), -EINVAL);
	assert_int_equal(ivshmem_cas64(h, 4, &v64, 1), -EINVAL);
	assert_int_equal(ivshmem_cas128(h, 8, pair, pair), -EINVAL);
	assert_int_equal(ivshmem_fetch_add32(h, 2, 1, NULL), -EINVAL);
	assert_int_equal(ivshmem_fetch_add64(h, 4, 1, NULL), -EINVAL);
	assert_int_equal(ivshmem_exchange32(h, 1, 1, NULL), -EINVAL);
	assert_int_equal(ivshmem_exchange64(h, 2, 1, NULL), -EINVAL);
	assert_int_equal(ivshmem_spin_wait32(h, 1, 1, 0), -EINVAL);
	assert_int_equal(ivshmem_spin_wait64(h, 4, 1, 0), -EINVAL);
	assert_int_equal(ivshmem_load32(h, 0, NULL), -EINVAL);
	assert_int_equal(ivshmem_cas32(h, 0, NULL, 1), -EINVAL);
	assert_int_equal(ivshmem_cas128(h, 0, NULL, pair), -EINVAL);
	assert_int_equal(ivshmem_store8(NULL, 0, 1), -EINVAL);
}

static void test_access(void **state)
{
	struct ivshmem *h = ((struct fixture *)*state)->h;
	uint8_t *mem = ivshmem_memory(h);
	uint8_t buf[32];
	uint64_t v64, old64, exp128[2], new128[2];
	uint32_t v32, old32;
	uint16_t v16;
	uint8_t v8;

	assert_int_equal(ivshmem_fill(h, 0, 0xab, 64), 0);
	assert_int_equal(mem[0], 0xab);
	assert_int_equal(mem[63], 0xab);
	assert_int_equal(ivshmem_write(h, 100, "Hello World!", 12), 0);
	assert_int_equal(ivshmem_read(h, 100, buf, 12), 0);
	assert_memory_equal(buf, "Hello World!", 12);

	assert_int_equal(ivshmem_store8(h, 1, 0x12), 0);
	assert_int_equal(ivshmem_load8(h, 1, &v8), 0);
	assert_int_equal(v8, 0x12);
	assert_int_equal(ivshmem_store16(h, 2, 0x1234), 0);
	assert_int_equal(ivshmem_load16(h, 2, &v16), 0);
	assert_int_equal(v16, 0x1234);
	assert_int_equal(ivshmem_store32(h, 4, 0x12345678), 0);
	assert_int_equal(ivshmem_load32(h, 4, &v32), 0);
	assert_int_equal(v32, 0x12345678);
	assert_int_equal(ivshmem_store64(h, 8, 0x123456789abcdef0), 0);
	assert_int_equal(ivshmem_load64(h, 8, &v64), 0);
	assert_int_equal(v64, 0x123456789abcdef0);
	assert_memory_equal(mem + 8, &v64, 8); /* native order */

	/* compare-and-swap: success, and failure reporting the value */
	v32 = 0x12345678;
	assert_int_equal(ivshmem_cas32(h, 4, &v32, 7), 1);
	v32 = 5;
	assert_int_equal(ivshmem_cas32(h, 4, &v32, 9), 0);
	assert_int_equal(v32, 7);
	v64 = 0x123456789abcdef0;
	assert_int_equal(ivshmem_cas64(h, 8, &v64, 1), 1);
	v64 = 3;
	assert_int_equal(ivshmem_cas64(h, 8, &v64, 2), 0);
	assert_int_equal(v64, 1);

	assert_int_equal(ivshmem_fetch_add32(h, 4, 3, &old32), 0);
	assert_int_equal(old32, 7);
	assert_int_equal(ivshmem_fetch_add32(h, 4, UINT32_MAX, NULL), 0);
	assert_int_equal(ivshmem_load32(h, 4, &v32), 0);
	assert_int_equal(v32, 9); /* wrapped */
	assert_int_equal(ivshmem_fetch_add64(h, 8, 10, &old64), 0);
	assert_int_equal(old64, 1);
	assert_int_equal(ivshmem_exchange32(h, 4, 100, &old32), 0);
	assert_int_equal(old32, 9);
	assert_int_equal(ivshmem_exchange64(h, 8, 200, &old64), 0);
	assert_int_equal(old64, 11);
	assert_int_equal(ivshmem_exchange64(h, 8, 201, NULL), 0);
	assert_int_equal(ivshmem_load64(h, 8, &v64), 0);
	assert_int_equal(v64, 201);

	/* 128 bits, where the CPU has it */
	assert_int_equal(ivshmem_fill(h, 32, 0, 16), 0);
	exp128[0] = 0;
	exp128[1] = 0;
	new128[0] = 1;
	new128[1] = 2;
	assert_int_equal(ivshmem_cas128(h, 32, exp128, new128), 1);
	assert_int_equal(ivshmem_read(h, 32, buf, 16), 0);
	assert_memory_equal(buf, new128, 16);
	exp128[0] = 1;
	exp128[1] = 3;
	assert_int_equal(ivshmem_cas128(h, 32, exp128, new128), 0);
	assert_int_equal(exp128[0], 1);
	assert_int_equal(exp128[1], 2);
	ivshmem_fence();

	/* spinning: the value is there, or time runs out */
	assert_int_equal(ivshmem_spin_wait32(h, 4, 100, 0), 0);
	assert_int_equal(ivshmem_spin_wait64(h, 8, 201, -1), 0);
	assert_int_equal(ivshmem_spin_wait32(h, 4, 101, 20), -ETIMEDOUT);
	assert_int_equal(ivshmem_spin_wait64(h, 8, 0, 0), -ETIMEDOUT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_plain, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_access, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
