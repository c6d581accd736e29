/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * Read and write throughput of ivshmem_read()/ivshmem_write() against
 * memcpy() on the same mapping
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "ivshmem.h"

#define SIZE (64u << 20)
#define PASSES 20

enum op { MEMCPY_IN, MEMCPY_OUT, LIB_WRITE, LIB_READ };

static double gib_per_s(struct ivshmem *h, uint8_t *buf, size_t block,
			enum op op)
{
	uint8_t *mem = ivshmem_memory(h);
	uint64_t start = now_ns(), ns;

	for (int p = 0; p < PASSES; p++) {
		for (size_t off = 0; off < SIZE; off += block) {
			switch (op) {
			case MEMCPY_IN:
				memcpy(mem + off, buf + off, block);
				break;
			case MEMCPY_OUT:
				memcpy(buf + off, mem + off, block);
				break;
			case LIB_WRITE:
				ivshmem_write(h, off, buf + off, block);
				break;
			case LIB_READ:
				ivshmem_read(h, off, buf + off, block);
				break;
			}
		}
		__asm__ __volatile__("" ::: "memory");
	}
	ns = now_ns() - start;
	return (double)SIZE * PASSES / (double)ns * 1e9 / (1 << 30);
}

int main(void)
{
	char path[64];
	struct ivshmem *h;
	uint8_t *buf = malloc(SIZE);
	static const size_t blocks[] = { 64, 4096, 1 << 20 };

	snprintf(path, sizeof(path), "/dev/shm/ivshmem-bench-%d",
		 (int)getpid());
	if (!buf || ivshmem_open_plain(&h, path, SIZE, IVSHMEM_CREATE) < 0)
		return 1;
	unlink(path);
	memset(buf, 0x5a, SIZE);
	ivshmem_fill(h, 0, 0, SIZE); /* fault the pages in */
	for (size_t i = 0; i < sizeof(blocks) / sizeof(*blocks); i++) {
		char what[64];
		/* baseline first, then ours, then the baseline again and
		 * the best of each: the first pass warms the caches */
		double in = gib_per_s(h, buf, blocks[i], MEMCPY_IN);
		double w = gib_per_s(h, buf, blocks[i], LIB_WRITE);
		double out = gib_per_s(h, buf, blocks[i], MEMCPY_OUT);
		double r = gib_per_s(h, buf, blocks[i], LIB_READ);
		double in2 = gib_per_s(h, buf, blocks[i], MEMCPY_IN);
		double out2 = gib_per_s(h, buf, blocks[i], MEMCPY_OUT);

		snprintf(what, sizeof(what), "write, %zu-byte blocks",
			 blocks[i]);
		/* a ratio of time: ours / memcpy's */
		report(what, "memcpy", 1.0 / (in > in2 ? in : in2) * 1e3,
		       1.0 / w * 1e3, "ms/GiB");
		snprintf(what, sizeof(what), "read, %zu-byte blocks",
			 blocks[i]);
		report(what, "memcpy", 1.0 / (out > out2 ? out : out2) * 1e3,
		       1.0 / r * 1e3, "ms/GiB");
	}
	ivshmem_close(h);
	free(buf);
	return 0;
}
