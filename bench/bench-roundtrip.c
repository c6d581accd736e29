/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * Interrupt round trip between two processes: ivshmem_notify() and
 * ivshmem_wait() (or get_fd + dispatch), against a raw eventfd ping-pong
 */
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "helpers.h"

#define ROUNDS 5000
#define WARMUP 500
/* Each method runs this many times, in turns; the best run counts, so
 * that a busy machine disturbs the comparison less. */
#define RUNS 7

/* Where the child runs: the parent's CPU, or another one (-1: anywhere).
 * A round trip on one CPU is two context switches; across CPUs it also
 * takes inter-processor wake-ups, slow and variable in a VM: the two are
 * measured apart, each method under the same placement. */
static int child_cpu = -1;

static void pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void check(int r, const char *what)
{
	if (r < 0) {
		fprintf(stderr, "bench-roundtrip: %s failed: %d\n", what, r);
		exit(1);
	}
}

/* Waits for an eventfd: blocking read, or epoll_wait then read. */
static void await(int fd, int epfd)
{
	struct epoll_event ev;
	uint64_t v;

	if (epfd >= 0)
		while (epoll_wait(epfd, &ev, 1, -1) != 1)
			;
	if (read(fd, &v, 8) != 8)
		exit(1);
}

static int epoll_on(int fd)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int epfd = epoll_create1(EPOLL_CLOEXEC);

	epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
	return epfd;
}

static double raw_eventfd(bool with_epoll)
{
	int ping = eventfd(0, EFD_CLOEXEC), pong = eventfd(0, EFD_CLOEXEC);
	uint64_t v = 1, start = 0;
	pid_t pid = fork();

	if (pid == 0) {
		int epfd = with_epoll ? epoll_on(ping) : -1;

		pin(child_cpu);
		for (int i = 0; i < ROUNDS + WARMUP; i++) {
			await(ping, epfd);
			if (write(pong, &v, 8) != 8)
				_exit(1);
		}
		_exit(0);
	}
	int epfd = with_epoll ? epoll_on(pong) : -1;

	for (int i = 0; i < ROUNDS + WARMUP; i++) {
		if (i == WARMUP)
			start = now_ns();
		v = 1;
		if (write(ping, &v, 8) != 8)
			exit(1);
		await(pong, epfd);
	}
	if (epfd >= 0)
		close(epfd);
	v = now_ns() - start;
	waitpid(pid, NULL, 0);
	close(ping);
	close(pong);
	return (double)v / ROUNDS / 1000.0;
}

static bool knows_a_peer(struct ivshmem *h, void *arg)
{
	uint16_t id;

	if (ivshmem_peers(h, &id, 1) < 1 ||
	    ivshmem_vectors(h, ivshmem_own_id(h)) < 1)
		return false;
	*(int *)arg = id;
	return true;
}

/* Opens a handle and waits until it knows one other peer: returns its id */
static struct ivshmem *open_pair(struct server *s, int *peer)
{
	struct ivshmem *h;

	check(ivshmem_open_doorbell(&h, s->socket, 0), "open");
	if (!dispatch_until(h, knows_a_peer, peer, 5000))
		check(-1, "meeting the peer");
	return h;
}

static void on_interrupt(struct ivshmem *h, int vector, uint64_t count,
			 void *data)
{
	*(uint64_t *)data += count;
}

/* Waits for vector 0, one way or the other. */
static void wait0(struct ivshmem *h, bool dispatch, uint64_t *got)
{
	struct pollfd pfd = { .fd = ivshmem_get_fd(h), .events = POLLIN };

	if (!dispatch) {
		check(ivshmem_wait(h, 0, -1), "wait");
		return;
	}
	*got = 0;
	while (!*got) {
		poll(&pfd, 1, -1);
		check(ivshmem_dispatch(h, 0), "dispatch");
	}
}

static double library(struct server *s, bool dispatch)
{
	struct ivshmem *h;
	uint64_t start = 0, got, elapsed;
	int peer;
	pid_t pid = fork();

	if (pid == 0) {
		pin(child_cpu);
		h = open_pair(s, &peer);
		ivshmem_on_interrupt(h, 0, on_interrupt, &got);
		for (int i = 0; i < ROUNDS + WARMUP; i++) {
			wait0(h, dispatch, &got);
			check(ivshmem_notify(h, peer, 0), "notify");
		}
		ivshmem_close(h);
		_exit(0);
	}
	h = open_pair(s, &peer);
	ivshmem_on_interrupt(h, 0, on_interrupt, &got);
	for (int i = 0; i < ROUNDS + WARMUP; i++) {
		if (i == WARMUP)
			start = now_ns();
		check(ivshmem_notify(h, peer, 0), "notify");
		wait0(h, dispatch, &got);
	}
	elapsed = now_ns() - start;
	waitpid(pid, NULL, 0);
	ivshmem_close(h);
	return (double)elapsed / ROUNDS / 1000.0;
}

static void measure(struct server *s, const char *where)
{
	double raw = 1e9, raw_epoll = 1e9, wait = 1e9, dispatch = 1e9;
	char what[64];

	for (int i = 0; i < RUNS; i++) {
		double r = raw_eventfd(false), e = raw_eventfd(true),
		       w = library(s, false), d = library(s, true);

		raw = r < raw ? r : raw;
		raw_epoll = e < raw_epoll ? e : raw_epoll;
		wait = w < wait ? w : wait;
		dispatch = d < dispatch ? d : dispatch;
	}
	snprintf(what, sizeof(what), "round trip, wait, %s", where);
	report(what, "raw eventfd", raw, wait, "us");
	report(what, "raw eventfd + epoll", raw_epoll, wait, "us");
	snprintf(what, sizeof(what), "round trip, dispatch, %s", where);
	report(what, "raw eventfd", raw, dispatch, "us");
}

int main(void)
{
	struct server s;

	signal(SIGPIPE, SIG_IGN);
	server_init(&s, 1);
	server_start(&s);
	pin(0);
	child_cpu = 0;
	measure(&s, "1 CPU");
	if (sysconf(_SC_NPROCESSORS_ONLN) > 1) {
		child_cpu = 1;
		measure(&s, "2 CPUs");
	}
	server_cleanup(&s);
	return 0;
}
