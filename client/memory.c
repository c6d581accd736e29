/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * Access to the shared memory: bounds-checked copies, loads, stores and
 * atomics
 *
 * Portable C11 with the compiler's __atomic builtins (GCC, clang, and
 * mingw-w64 for the Windows backend): no operating-system header here.
 * The mapping starts on a page boundary, so an aligned offset is an
 * aligned address. See "Memory ordering" in ivshmem.h.
 */
#include <errno.h>
#include <string.h>

#include "backend.h"
#include "os.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define cpu_relax() ((void)0)
#endif

/* How many spins between looks at the clock. */
#define SPINS_PER_CLOCK 1024

/*
 * Finds @len bytes at @offset, aligned to @align (a power of two).
 * -ERANGE comes before -EINVAL: a misaligned offset past the end is out
 * of range first.
 */
static int span(struct ivshmem *h, uint64_t offset, uint64_t len,
		uint64_t align, void **out)
{
	if (!h)
		return -EINVAL;
	if (offset > h->size || len > h->size - offset)
		return -ERANGE;
	if (offset & (align - 1))
		return -EINVAL;
	*out = h->mem + offset;
	return 0;
}

/* Copies @len bytes between @buf and the memory at @offset. */
static int copy(struct ivshmem *h, uint64_t offset, void *buf, size_t len,
		bool to_memory)
{
	void *p;
	int r = span(h, offset, len, 1, &p);

	if (r == 0 && !buf && len)
		r = -EINVAL;
	if (r < 0 || !len)
		return r;
	if (to_memory)
		memcpy(p, buf, len);
	else
		memcpy(buf, p, len);
	return 0;
}

int ivshmem_read(struct ivshmem *h, uint64_t offset, void *buf, size_t len)
{
	return copy(h, offset, buf, len, false);
}

int ivshmem_write(struct ivshmem *h, uint64_t offset, const void *buf,
		  size_t len)
{
	return copy(h, offset, (void *)buf, len, true);
}

int ivshmem_fill(struct ivshmem *h, uint64_t offset, uint8_t byte,
		 size_t len)
{
	void *p;
	int r = span(h, offset, len, 1, &p);

	if (r == 0 && len)
		memset(p, byte, len);
	return r;
}

/* Defines the accesses of one width. */
#define ACCESSORS(bits)							\
int ivshmem_load##bits(struct ivshmem *h, uint64_t offset,		\
		       uint##bits##_t *out)				\
{									\
	void *p;							\
	int r = span(h, offset, bits / 8, bits / 8, &p);		\
									\
	if (r == 0 && !out)						\
		r = -EINVAL;						\
	if (r == 0)							\
		*out = __atomic_load_n((uint##bits##_t *)p,		\
				       __ATOMIC_ACQUIRE);		\
	return r;							\
}									\
									\
int ivshmem_store##bits(struct ivshmem *h, uint64_t offset,		\
			uint##bits##_t value)				\
{									\
	void *p;							\
	int r = span(h, offset, bits / 8, bits / 8, &p);		\
									\
	if (r == 0)							\
		__atomic_store_n((uint##bits##_t *)p, value,		\
				 __ATOMIC_RELEASE);			\
	return r;							\
}

ACCESSORS(8)
ACCESSORS(16)
ACCESSORS(32)
ACCESSORS(64)

/* Defines ivshmem_NAME##bits() on @builtin, which returns the old value. */
#define RMW(bits, name, builtin)					\
int ivshmem_##name##bits(struct ivshmem *h, uint64_t offset,		\
			 uint##bits##_t value, uint##bits##_t *old)	\
{									\
	void *p;							\
	uint##bits##_t prev;						\
	int r = span(h, offset, bits / 8, bits / 8, &p);		\
									\
	if (r < 0)							\
		return r;						\
	prev = builtin((uint##bits##_t *)p, value, __ATOMIC_SEQ_CST);	\
	if (old)							\
		*old = prev;						\
	return 0;							\
}

/* Defines the atomics of one width. */
#define ATOMICS(bits)							\
int ivshmem_cas##bits(struct ivshmem *h, uint64_t offset,		\
		      uint##bits##_t *expected, uint##bits##_t desired)	\
{									\
	void *p;							\
	int r = span(h, offset, bits / 8, bits / 8, &p);		\
									\
	if (r == 0 && !expected)					\
		r = -EINVAL;						\
	if (r < 0)							\
		return r;						\
	return __atomic_compare_exchange_n((uint##bits##_t *)p,		\
					   expected, desired, false,	\
					   __ATOMIC_SEQ_CST,		\
					   __ATOMIC_SEQ_CST);		\
}									\
									\
RMW(bits, fetch_add, __atomic_fetch_add)					\
RMW(bits, exchange, __atomic_exchange_n)					\
									\
int ivshmem_spin_wait##bits(struct ivshmem *h, uint64_t offset,	\
			    uint##bits##_t value, int timeout_ms)	\
{									\
	void *p;							\
	uint64_t deadline;						\
	int r = span(h, offset, bits / 8, bits / 8, &p);		\
									\
	if (r < 0)							\
		return r;						\
	deadline = os_deadline(timeout_ms);				\
	for (unsigned spins = 0;; spins++) {				\
		if (__atomic_load_n((uint##bits##_t *)p,		\
				    __ATOMIC_ACQUIRE) == value)		\
			return 0;					\
		if (spins % SPINS_PER_CLOCK == 0 &&			\
		    os_remaining_ms(deadline) == 0)			\
			return -ETIMEDOUT;				\
		cpu_relax();						\
	}								\
}

ATOMICS(32)
ATOMICS(64)

#if defined(__x86_64__)
static bool have_cmpxchg16b(void)
{
	/* 0 unknown, 1 yes, -1 no; racing first calls agree */
	static int known;
	int k = __atomic_load_n(&known, __ATOMIC_RELAXED);
	unsigned int a, b, c, d;

	if (k == 0) {
		k = __get_cpuid(1, &a, &b, &c, &d) && (c & bit_CMPXCHG16B) ?
		    1 : -1;
		__atomic_store_n(&known, k, __ATOMIC_RELAXED);
	}
	return k > 0;
}

struct pair {
	uint64_t w[2];
};

static int cas16(void *p, uint64_t expected[2], const uint64_t desired[2])
{
	uint64_t lo = expected[0], hi = expected[1];
	bool ok;

	__asm__ __volatile__("lock cmpxchg16b %1"
			     : "=@ccz"(ok), "+m"(*(volatile struct pair *)p),
			       "+a"(lo), "+d"(hi)
			     : "b"(desired[0]), "c"(desired[1])
			     : "memory");
	expected[0] = lo;
	expected[1] = hi;
	return ok;
}
#else
static bool have_cmpxchg16b(void)
{
	return false;
}

static int cas16(void *p, uint64_t expected[2], const uint64_t desired[2])
{
	return -ENOTSUP;
}
#endif

int ivshmem_cas128(struct ivshmem *h, uint64_t offset, uint64_t expected[2],
		   const uint64_t desired[2])
{
	void *p;
	int r = span(h, offset, 16, 16, &p);

	if (r == 0 && (!expected || !desired))
		r = -EINVAL;
	if (r == 0 && !have_cmpxchg16b())
		r = -ENOTSUP;
	return r < 0 ? r : cas16(p, expected, desired);
}

void ivshmem_fence(void)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}
