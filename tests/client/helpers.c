/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * Helpers of the library's tests: a real server, fd counts, event records
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

static void die(const char *what)
{
	fprintf(stderr, "test helper: %s: %s\n", what, strerror(errno));
	abort();
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void server_init(struct server *s, int vectors)
{
	memset(s, 0, sizeof(*s));
	s->pid = -1;
	s->vectors = vectors;
	snprintf(s->dir, sizeof(s->dir), "/tmp/ivshmem-ctest-XXXXXX");
	if (!mkdtemp(s->dir))
		die("mkdtemp");
	snprintf(s->socket, sizeof(s->socket), "%s/sock", s->dir);
}

/* Reads the server's output until it says it listens. */
static void wait_listening(struct server *s, int fd)
{
	char buf[4096];
	size_t len = 0;
	uint64_t deadline = now_ms() + 10000;

	while (!memmem(buf, len, "listening on", 12)) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (now_ms() > deadline || len == sizeof(buf))
			die("server start");
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n <= 0)
			die("server exited");
		len += (size_t)n;
	}
}

void server_start(struct server *s)
{
	char vectors[16];
	int out[2];

	snprintf(vectors, sizeof(vectors), "%d", s->vectors);
	if (pipe2(out, O_CLOEXEC) < 0)
		die("pipe");
	s->pid = fork();
	if (s->pid < 0)
		die("fork");
	if (s->pid == 0) {
		dup2(out[1], STDOUT_FILENO);
		dup2(out[1], STDERR_FILENO);
		if (s->shm_name[0])
			execl(IVSHMEM_SERVER, "ivshmem-server", "-F", "-S",
			      s->socket, "-n", vectors, "-M", s->shm_name,
			      (char *)NULL);
		else
			execl(IVSHMEM_SERVER, "ivshmem-server", "-F", "-S",
			      s->socket, "-n", vectors, "--memfd",
			      (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	wait_listening(s, out[0]);
	close(out[0]); /* the server ignores SIGPIPE */
}

void server_stop(struct server *s, int sig)
{
	if (s->pid <= 0)
		return;
	kill(s->pid, sig);
	waitpid(s->pid, NULL, 0);
	s->pid = -1;
}

void server_cleanup(struct server *s)
{
	char path[200];

	server_stop(s, SIGKILL);
	unlink(s->socket);
	if (s->shm_name[0]) {
		snprintf(path, sizeof(path), "/dev/shm/%s", s->shm_name);
		unlink(path);
	}
	rmdir(s->dir);
}

int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		die("opendir");
	while (readdir(d))
		n++;
	closedir(d);
	return n - 3; /* ., .. and the DIR's own fd */
}

static void on_interrupt(struct ivshmem *h, int vector, uint64_t count,
			 void *data)
{
	struct record *r = data;

	r->interrupts[vector] += count;
	r->interrupt_calls++;
	r->last_vector = vector;
}

static void on_peer(struct ivshmem *h, int peer, enum ivshmem_peer_event e,
		    void *data)
{
	struct record *r = data;

	if (e == IVSHMEM_PEER_JOINED && r->joined_count < RECORD_MAX)
		r->joined[r->joined_count++] = peer;
	if (e == IVSHMEM_PEER_LEFT && r->left_count < RECORD_MAX)
		r->left[r->left_count++] = peer;
}

static void on_server(struct ivshmem *h, enum ivshmem_server_event e,
		      void *data)
{
	struct record *r = data;

	if (r->server_count < 16)
		r->server[r->server_count++] = (int)e;
}

void record_on(struct ivshmem *h, struct record *r)
{
	memset(r, 0, sizeof(*r));
	r->last_vector = -1;
	ivshmem_on_interrupt(h, IVSHMEM_ALL_VECTORS, on_interrupt, r);
	ivshmem_on_peer(h, on_peer, r);
	ivshmem_on_server(h, on_server, r);
}

bool record_has_server(const struct record *r, enum ivshmem_server_event e)
{
	for (int i = 0; i < r->server_count; i++)
		if (r->server[i] == (int)e)
			return true;
	return false;
}

static bool in(const int *list, int n, int v)
{
	for (int i = 0; i < n; i++)
		if (list[i] == v)
			return true;
	return false;
}

bool record_joined(const struct record *r, int peer)
{
	return in(r->joined, r->joined_count, peer);
}

bool record_left(const struct record *r, int peer)
{
	return in(r->left, r->left_count, peer);
}

bool dispatch_until(struct ivshmem *h, bool (*done)(struct ivshmem *, void *),
		    void *arg, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;

	while (!done(h, arg)) {
		uint64_t now = now_ms();

		if (now >= deadline)
			return false;
		if (ivshmem_dispatch(h, (int)(deadline - now)) < 0)
			return false;
	}
	return true;
}

bool dispatch_all_until(struct ivshmem **hs, int n, bool (*done)(void *),
			void *arg, int timeout_ms)
{
	uint64_t deadline = now_ms() + (uint64_t)timeout_ms;

	while (!done(arg)) {
		if (now_ms() >= deadline)
			return false;
		for (int i = 0; i < n; i++)
			if (hs[i] && ivshmem_dispatch(hs[i], 1) < 0)
				return false;
	}
	return true;
}

static bool synced(struct ivshmem *h, void *arg)
{
	return record_has_server(arg, IVSHMEM_SERVER_SYNCED);
}

bool wait_synced(struct ivshmem *h, struct record *r)
{
	return dispatch_until(h, synced, r, 5000);
}
