/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The platform layer on Linux: epoll, eventfds, the monotonic clock
 */
#include <errno.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "os.h"

int os_poller_init(struct os_poller *p)
{
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	return p->epfd < 0 ? -errno : 0;
}

void os_poller_deinit(struct os_poller *p)
{
	if (p->epfd >= 0)
		close(p->epfd);
	p->epfd = -1;
}

int os_poller_fd(struct os_poller *p)
{
	return p->epfd;
}

int os_poller_sources(struct os_poller *p, void **out, int max)
{
	return -ENOTSUP;
}

int os_poller_add(struct os_poller *p, os_source src, uint64_t token)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = token };

	return epoll_ctl(p->epfd, EPOLL_CTL_ADD, src, &ev) < 0 ? -errno : 0;
}

/* Explicitly: eventfds are shared with the server and other peers, so
 * closing ours would not end the registration. */
void os_poller_del(struct os_poller *p, os_source src)
{
	epoll_ctl(p->epfd, EPOLL_CTL_DEL, src, NULL);
}

int os_poller_wait(struct os_poller *p, int timeout_ms, uint64_t *tokens,
		   int max)
{
	struct epoll_event ev[32];
	int n;

	if (max > 32)
		max = 32;
	n = epoll_wait(p->epfd, ev, max, timeout_ms);
	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++)
		tokens[i] = ev[i].data.u64;
	return n;
}

int os_source_new(os_source *out)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	if (fd < 0)
		return -errno;
	*out = fd;
	return 0;
}

int os_source_consume(os_source src, uint64_t *count)
{
	ssize_t n = read(src, count, sizeof(*count));

	if (n == sizeof(*count))
		return 0;
	*count = 0;
	if (n < 0 && errno != EAGAIN && errno != EINTR)
		return -errno;
	return n < 0 ? 0 : -EIO;
}

int os_source_signal(os_source src)
{
	uint64_t one = 1;
	ssize_t n = write(src, &one, sizeof(one));

	if (n == sizeof(one))
		return 0;
	return n < 0 ? -errno : -EIO;
}

int os_source_fd(os_source src)
{
	return src;
}

void os_source_close(os_source src)
{
	if (src >= 0)
		close(src);
}

uint64_t os_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int os_map(int fd, uint64_t size, void **out)
{
	void *mem;

	if (size == 0)
		return -EINVAL;
	if (size > SIZE_MAX)
		return -EFBIG;
	mem = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		   0);
	if (mem == MAP_FAILED)
		return -errno;
	*out = mem;
	return 0;
}

void os_unmap(void *mem, uint64_t size)
{
	if (mem)
		munmap(mem, (size_t)size);
}
