/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The platform layer: waiting on interrupt and control sources, the clock
 *
 * The only place, with the backends, that knows the operating system.
 * Linux (os-linux.c): a source is an fd, waited on with epoll; interrupt
 * sources are eventfds. Windows (os-windows.c): a source is an event
 * HANDLE, waited on with WaitForMultipleObjects (at most 64), and there is
 * no fd for ivshmem_get_fd(). Interrupt sources there are manual-reset
 * events: a wait only looks, as epoll does, and consuming resets the event,
 * so that a caller's own wait on them (ivshmem_get_handles()) takes
 * nothing away from dispatching.
 */
#pragma once

#include <limits.h>
#include <stdint.h>

#ifdef _WIN32
typedef void *os_source;
#define OS_NONE ((os_source)0)
struct os_poller {
	os_source sources[64];
	uint64_t tokens[64];
	int count;
};
#else
typedef int os_source;
#define OS_NONE (-1)
struct os_poller {
	int epfd;
};
#endif

int os_poller_init(struct os_poller *p);
/* Safe to call twice. */
void os_poller_deinit(struct os_poller *p);
/* An fd readable when a source is ready; -ENOTSUP where there is none. */
int os_poller_fd(struct os_poller *p);
/* Windows: writes up to @max of the sources and returns how many there
 * are; -ENOTSUP elsewhere. */
int os_poller_sources(struct os_poller *p, void **out, int max);
int os_poller_add(struct os_poller *p, os_source src, uint64_t token);
void os_poller_del(struct os_poller *p, os_source src);
/*
 * Waits up to @timeout_ms (-1: forever) for ready sources and writes the
 * tokens of up to @max of them. Returns how many, 0 on timeout, or a
 * negative errno (-EINTR).
 */
int os_poller_wait(struct os_poller *p, int timeout_ms, uint64_t *tokens,
		   int max);

/* A new interrupt source, not raised: an eventfd, or an event. */
int os_source_new(os_source *out);
/* Takes the pending count of an interrupt source: 0 when none was. On
 * Windows an event does not count: 1 however often it was raised. */
int os_source_consume(os_source src, uint64_t *count);
/* Raises an interrupt source. */
int os_source_signal(os_source src);
/* The fd behind a source, or -ENOTSUP. */
int os_source_fd(os_source src);
void os_source_close(os_source src);

#ifndef _WIN32
/* Maps @size bytes of @fd shared, read-write. */
int os_map(int fd, uint64_t size, void **out);
void os_unmap(void *mem, uint64_t size);
#endif

/* A monotonic clock, in milliseconds. */
uint64_t os_now_ms(void);

/* The deadline @timeout_ms from now (-1: UINT64_MAX). */
static inline uint64_t os_deadline(int timeout_ms)
{
	return timeout_ms < 0 ? UINT64_MAX : os_now_ms() + (uint64_t)timeout_ms;
}

/* The milliseconds left until @deadline (UINT64_MAX: -1, forever). */
static inline int os_remaining_ms(uint64_t deadline)
{
	uint64_t now;

	if (deadline == UINT64_MAX)
		return -1;
	now = os_now_ms();
	if (now >= deadline)
		return 0;
	return deadline - now > INT_MAX ? INT_MAX : (int)(deadline - now);
}
