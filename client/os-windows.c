/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The platform layer on Windows: events, WaitForMultipleObjects, the tick
 * count
 *
 * Sources are manual-reset events. Waiting only looks at them, like epoll
 * on Linux; os_source_consume() resets one. An event raised again between
 * the look and the reset is not lost: it is delivered by the call that
 * follows the reset, which is what coalescing promises.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <windows.h>

#include "os.h"

#define POLLER_MAX ((int)(sizeof(((struct os_poller *)0)->sources) / \
			  sizeof(os_source)))

int os_poller_init(struct os_poller *p)
{
	p->count = 0;
	return 0;
}

void os_poller_deinit(struct os_poller *p)
{
	p->count = 0;
}

int os_poller_fd(struct os_poller *p)
{
	return -ENOTSUP;
}

int os_poller_sources(struct os_poller *p, void **out, int max)
{
	for (int i = 0; i < p->count && i < max; i++)
		out[i] = p->sources[i];
	return p->count;
}

int os_poller_add(struct os_poller *p, os_source src, uint64_t token)
{
	if (!src)
		return -EBADF;
	if (p->count == POLLER_MAX)
		return -ENOSPC; /* MAXIMUM_WAIT_OBJECTS */
	p->sources[p->count] = src;
	p->tokens[p->count] = token;
	p->count++;
	return 0;
}

void os_poller_del(struct os_poller *p, os_source src)
{
	for (int i = 0; i < p->count; i++) {
		if (p->sources[i] != src)
			continue;
		p->count--;
		memmove(&p->sources[i], &p->sources[i + 1],
			(size_t)(p->count - i) * sizeof(p->sources[0]));
		memmove(&p->tokens[i], &p->tokens[i + 1],
			(size_t)(p->count - i) * sizeof(p->tokens[0]));
		return;
	}
}

static bool is_set(os_source src)
{
	return WaitForSingleObject(src, 0) == WAIT_OBJECT_0;
}

/*
 * WaitForMultipleObjects names the first ready source only; the others
 * that are ready too are reported in the same round, so that a busy
 * vector cannot starve the ones after it.
 */
int os_poller_wait(struct os_poller *p, int timeout_ms, uint64_t *tokens,
		   int max)
{
	DWORD ms = timeout_ms < 0 ? INFINITE : (DWORD)timeout_ms;
	DWORD r, first;
	int n = 0;

	if (p->count == 0) {
		Sleep(ms); /* as epoll_wait() on an empty set */
		return 0;
	}
	r = WaitForMultipleObjects((DWORD)p->count, p->sources, FALSE, ms);
	if (r == WAIT_TIMEOUT)
		return 0;
	first = r - WAIT_OBJECT_0; /* WAIT_OBJECT_0 is 0 */
	if (first >= (DWORD)p->count)
		return -EIO; /* WAIT_FAILED: a source was closed under us */
	for (int i = (int)first; i < p->count && n < max; i++)
		if (i == (int)first || is_set(p->sources[i]))
			tokens[n++] = p->tokens[i];
	for (int i = 0; i < (int)first && n < max; i++)
		if (is_set(p->sources[i]))
			tokens[n++] = p->tokens[i];
	return n;
}

int os_source_new(os_source *out)
{
	HANDLE ev = CreateEventW(NULL, TRUE, FALSE, NULL);

	if (!ev)
		return GetLastError() == ERROR_NOT_ENOUGH_MEMORY ? -ENOMEM :
		       -EMFILE;
	*out = ev;
	return 0;
}

int os_source_consume(os_source src, uint64_t *count)
{
	DWORD r = WaitForSingleObject(src, 0);

	*count = 0;
	if (r == WAIT_TIMEOUT)
		return 0;
	if (r != WAIT_OBJECT_0 || !ResetEvent(src))
		return -EIO;
	*count = 1;
	return 0;
}

int os_source_signal(os_source src)
{
	return SetEvent(src) ? 0 : -EIO;
}

int os_source_fd(os_source src)
{
	return -ENOTSUP;
}

void os_source_close(os_source src)
{
	if (src)
		CloseHandle(src);
}

uint64_t os_now_ms(void)
{
	return GetTickCount64();
}
