/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * Interrupt round trip between two processes: ivshmem_notify() and
 * ivshmem_wait() (or get_fd + dispatch), against a raw eventfd ping-pong
 */
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "helpers.h"

#define ROUNDS 20000
#define WARMUP 1000

static void check(int r, const char *what)
{
	if (r < 0) {
		fprintf(stderr, "bench-roundtrip: %s failed: %d\n", what, r);
		exit(1);
	}
}

static double raw_eventfd(void)
{
	int ping = eventfd(0, EFD_CLOEXEC), pong = eventfd(0, EFD_CLOEXEC);
	uint64_t v = 1, start = 0;
	pid_t pid = fork();

	if (pid == 0) {
		for (int i = 0; i < ROUNDS + WARMUP; i++) {
			if (read(ping, &v, 8) != 8 || write(pong, &v, 8) != 8)
				_exit(1);
		}
		_exit(0);
	}
	for (int i = 0; i < ROUNDS + WARMUP; i++) {
		if (i == WARMUP)
			start = now_ns();
		v = 1;
		if (write(ping, &v, 8) != 8 || read(pong, &v, 8) != 8)
			exit(1);
	}
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

int main(void)
{
	struct server s;
	double raw, wait, dispatch;

	signal(SIGPIPE, SIG_IGN);
	server_init(&s, 1);
	server_start(&s);
	raw = raw_eventfd();
	wait = library(&s, false);
	dispatch = library(&s, true);
	report("interrupt round trip", "raw eventfd", raw, wait, "us");
	report("round trip, get_fd + dispatch", "raw eventfd", raw, dispatch,
	       "us");
	server_cleanup(&s);
	return 0;
}
