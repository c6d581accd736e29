/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * swarm: many peers against one server, for the load test and benchmark
 *
 *   swarm [--floor [--floor-drop K] | --socket PATH] --peers N --vectors V
 *         [--upgrade] [--leave] [--server-pid PID] [--timeout SECONDS]
 *
 * Connects N peers one after the other to a fresh server, each counted as
 * joined once it holds its id, the shared memory and its own V eventfds,
 * while every other peer's messages are read as they come. Then checks that
 * every peer heard of every other with exactly V eventfds. With --upgrade,
 * sends the server (--server-pid) SIGUSR2 and waits for it to exit, its
 * successor serving the same peers. With --leave, closes every other peer
 * and checks that the rest heard each departure once. Prints one line of
 * figures; exits 1 if anything was lost or wrong.
 *
 * --floor measures the baseline instead: a minimal server in a thread of
 * this process, sending the same messages with blocking sendmsg() and no
 * bookkeeping at all, which is about the least a join can cost. With
 * --floor-drop K it skips its K-th message, as QEMU's server does when a
 * socket is full: the test that this tool catches a loss.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "protocol.h"

#define LEFT UINT16_MAX

struct peer {
	int sock;
	int id;
	bool joined;
	bool shm;
	bool closed;
	unsigned int own;
	struct proto_decoder d;
};

static struct peer *peers;
static uint16_t *counts; /* counts[i * n + j]: eventfds peer i has of j */
static int n, vectors, epfd, timeout_s = 30;
static unsigned long errors;

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

__attribute__((format(printf, 1, 2)))
static void error(const char *fmt, ...)
{
	va_list ap;

	if (errors++ < 20) {
		va_start(ap, fmt);
		fprintf(stderr, "swarm: ");
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
}

static void handle(struct peer *p, int self, const struct proto_msg *m)
{
	uint16_t *c;

	if (m->fd >= 0)
		close(m->fd);
	if (p->id == -1) {
		if (m->value != PROTO_VERSION || m->fd >= 0)
			error("peer %d: bad version message", self);
		p->id = -2;
		return;
	}
	if (p->id == -2) {
		if (m->value != self || m->fd >= 0)
			error("peer %d: got id %lld, expected its index", self,
			      (long long)m->value);
		p->id = (int)m->value;
		return;
	}
	if (!p->shm) {
		if (m->value != PROTO_SHM_ID || m->fd < 0)
			error("peer %d: expected the shared memory", self);
		p->shm = true;
		p->joined = vectors == 0;
		return;
	}
	if (m->value == p->id) {
		if (m->fd < 0 || p->own >= (unsigned int)vectors)
			error("peer %d: bad own message", self);
		p->joined = ++p->own == (unsigned int)vectors;
		return;
	}
	if (m->value < 0 || m->value >= n) {
		error("peer %d: unknown peer %lld", self, (long long)m->value);
		return;
	}
	c = &counts[(size_t)self * (size_t)n + (size_t)m->value];
	if (m->fd < 0) {
		if (*c == LEFT)
			error("peer %d: told twice that %lld left", self,
			      (long long)m->value);
		*c = LEFT;
	} else if (*c == LEFT || ++*c > vectors) {
		error("peer %d: too many eventfds of %lld", self,
		      (long long)m->value);
	}
}

static void read_peer(struct peer *p, int self)
{
	struct proto_msg m;
	int r;

	while ((r = proto_recv(&p->d, p->sock, &m)) == 1)
		handle(p, self, &m);
	if (r == 0 || (r < 0 && r != -EAGAIN)) {
		if (r == -EPROTO)
			error("peer %d: %s", self, p->d.error);
		else if (!p->closed)
			error("peer %d: connection closed (%s)", self,
			      r ? strerror(-r) : "end of stream");
		epoll_ctl(epfd, EPOLL_CTL_DEL, p->sock, NULL);
		p->closed = true;
	}
}

/* Reads whatever arrives for up to @timeout_ms; returns events handled. */
static int pump(int timeout_ms)
{
	struct epoll_event ev[256];
	int k = epoll_wait(epfd, ev, 256, timeout_ms);

	for (int i = 0; i < k; i++)
		read_peer(&peers[ev[i].data.u32], (int)ev[i].data.u32);
	return k;
}

static bool all_done(bool leaving)
{
	for (int i = 0; i < n; i++) {
		if (peers[i].closed)
			continue;
		for (int j = 0; j < n; j++) {
			uint16_t want = leaving && (j % 2) ? LEFT : (uint16_t)vectors;

			if (j != i && counts[(size_t)i * (size_t)n + (size_t)j] != want)
				return false;
		}
	}
	return true;
}

static void report_missing(bool leaving)
{
	for (int i = 0; i < n; i++) {
		if (peers[i].closed)
			continue;
		for (int j = 0; j < n; j++) {
			uint16_t c = counts[(size_t)i * (size_t)n + (size_t)j];
			uint16_t want = leaving && (j % 2) ? LEFT : (uint16_t)vectors;

			if (j != i && c != want)
				error("peer %d has %s of peer %d, expected %s",
				      i, c == LEFT ? "a departure" : "eventfds",
				      j, want == LEFT ? "a departure" : "eventfds");
		}
	}
}

static bool settle(bool leaving)
{
	double deadline = now_us() + timeout_s * 1e6;

	while (!all_done(leaving)) {
		if (errors || now_us() > deadline) {
			report_missing(leaving);
			return false;
		}
		pump(100);
	}
	return true;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		perror("swarm: connect");
		exit(2);
	}
	return fd;
}

/* The baseline: the least work a server can do for a join. */
struct floor {
	long drop;  /* the message to skip, counting from 1; 0: none */
	long sent;
	int listen_fd;
	int shm;
	int *socks;
	int *efds;
};

static void floor_send(struct floor *f, int sock, int64_t value, int fd)
{
	int r;

	if (++f->sent == f->drop)
		return;
	/* blocking: the main thread reads concurrently */
	while ((r = proto_send(sock, value, fd)) == -EAGAIN) {
		struct pollfd pfd = { .fd = sock, .events = POLLOUT };

		poll(&pfd, 1, -1);
	}
}

static void *floor_thread(void *data)
{
	struct floor *f = data;

	for (int id = 0; id < n; id++) {
		int s = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);

		f->socks[id] = s;
		for (int v = 0; v < vectors; v++)
			f->efds[id * vectors + v] = eventfd(0, EFD_CLOEXEC |
								EFD_NONBLOCK);
		floor_send(f, s, 0, -1);
		floor_send(f, s, id, -1);
		floor_send(f, s, -1, f->shm);
		for (int o = 0; o < id; o++)
			for (int v = 0; v < vectors; v++)
				floor_send(f, f->socks[o], id,
					   f->efds[id * vectors + v]);
		for (int o = 0; o < id; o++)
			for (int v = 0; v < vectors; v++)
				floor_send(f, s, o, f->efds[o * vectors + v]);
		for (int v = 0; v < vectors; v++)
			floor_send(f, s, id, f->efds[id * vectors + v]);
	}
	return NULL;
}

static const char *floor_start(struct floor *f, pthread_t *t)
{
	static char path[64];
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	snprintf(path, sizeof(path), "/tmp/swarm-floor-%d.sock", (int)getpid());
	unlink(path);
	strcpy(sun.sun_path, path);
	f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	f->shm = memfd_create("floor", MFD_CLOEXEC);
	f->socks = calloc((size_t)n, sizeof(int));
	f->efds = calloc((size_t)n * (size_t)vectors + 1, sizeof(int));
	if (f->listen_fd < 0 || f->shm < 0 || !f->socks || !f->efds ||
	    ftruncate(f->shm, 4 << 20) < 0 ||
	    bind(f->listen_fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(f->listen_fd, SOMAXCONN) < 0 ||
	    pthread_create(t, NULL, floor_thread, f) != 0) {
		perror("swarm: floor server");
		exit(2);
	}
	return path;
}

static long proc_status_kib(int pid, const char *key)
{
	char path[64], line[256];
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)))
			v = strtol(line + strlen(key), NULL, 10);
	fclose(f);
	return v;
}

static long count_fds(int pid)
{
	char cmd[64];
	long k = -1;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "ls /proc/%d/fd | wc -l", pid);
	f = popen(cmd, "r");
	if (f) {
		if (fscanf(f, "%ld", &k) != 1)
			k = -1;
		pclose(f);
	}
	return k;
}

/* Whether @pid is gone or a zombie: it exited. */
static bool exited(int pid)
{
	char path[64], stat[256];
	const char *state;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return true;
	if (!fgets(stat, sizeof(stat), f))
		stat[0] = '\0';
	fclose(f);
	state = strrchr(stat, ')');
	return state && state[1] == ' ' && state[2] == 'Z';
}

/* Has the server executed itself again; the peers are read meanwhile, and
 * none may hear anything. */
static bool upgrade(int pid)
{
	double t0 = now_us(), deadline = t0 + timeout_s * 1e6;

	if (kill(pid, SIGUSR2) < 0) {
		perror("swarm: kill");
		return false;
	}
	while (!exited(pid)) {
		if (now_us() > deadline) {
			error("the server did not hand over in %d s", timeout_s);
			return false;
		}
		pump(1);
	}
	printf("upgrade: the old server exited %.1f ms after SIGUSR2\n",
	       (now_us() - t0) / 1e3);
	while (pump(100) > 0)
		;
	return all_done(false);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "floor", no_argument, NULL, 'f' },
		{ "peers", required_argument, NULL, 'n' },
		{ "vectors", required_argument, NULL, 'v' },
		{ "leave", no_argument, NULL, 'l' },
		{ "upgrade", no_argument, NULL, 'u' },
		{ "server-pid", required_argument, NULL, 'p' },
		{ "floor-drop", required_argument, NULL, 'd' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL;
	bool use_floor = false, leave = false, upgrading = false;
	int server_pid = 0, c;
	long rss_before = -1, fds_before = -1;
	struct floor fl = { 0 };
	pthread_t floor_tid;
	struct rlimit rl;
	double *lat, t_start, t_end, busy = 0;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 's': path = optarg; break;
		case 'f': use_floor = true; break;
		case 'n': n = atoi(optarg); break;
		case 'v': vectors = atoi(optarg); break;
		case 'l': leave = true; break;
		case 'u': upgrading = true; break;
		case 'p': server_pid = atoi(optarg); break;
		case 'd': fl.drop = atol(optarg); break;
		case 't': timeout_s = atoi(optarg); break;
		default: return 2;
		}
	}
	if ((!path && !use_floor) || (use_floor && (leave || upgrading)) ||
	    (upgrading && !server_pid) || n < 1 || n > PROTO_ID_COUNT ||
	    vectors < 0 || vectors > PROTO_VECTORS_MAX) {
		fprintf(stderr, "usage: swarm [--floor | --socket PATH] "
			"--peers N --vectors V [--upgrade] [--leave] "
			"[--server-pid PID]\n"
			"(the floor server does not do departures or upgrades; "
			"--upgrade needs --server-pid)\n");
		return 2;
	}
	getrlimit(RLIMIT_NOFILE, &rl);
	rl.rlim_cur = rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);

	peers = calloc((size_t)n, sizeof(*peers));
	counts = calloc((size_t)n * (size_t)n, sizeof(*counts));
	lat = calloc((size_t)n, sizeof(*lat));
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!peers || !counts || !lat || epfd < 0) {
		perror("swarm");
		return 2;
	}
	if (use_floor)
		path = floor_start(&fl, &floor_tid);
	if (server_pid) {
		rss_before = proc_status_kib(server_pid, "VmRSS:");
		fds_before = count_fds(server_pid);
	}

	/* Each join is timed as its peer sees it: from connect() until it
	 * holds its own eventfds, reading only its own socket, as it would in
	 * a process of its own. The others' news is read between joins. */
	t_start = now_us();
	for (int i = 0; i < n; i++) {
		struct peer *p = &peers[i];
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = (uint32_t)i };
		struct pollfd pfd = { .events = POLLIN };
		double t0 = now_us();

		p->id = -1;
		proto_decoder_init(&p->d);
		p->sock = pfd.fd = connect_to(path);
		while (!p->joined && !p->closed) {
			if (poll(&pfd, 1, timeout_s * 1000) == 0) {
				error("peer %d: no join in %d s", i, timeout_s);
				goto out;
			}
			read_peer(p, i);
		}
		lat[i] = now_us() - t0;
		busy += lat[i];
		epoll_ctl(epfd, EPOLL_CTL_ADD, p->sock, &ev);
		while (pump(0) > 0)
			;
	}
	t_end = now_us();

	if (!settle(false))
		goto out;
	if (server_pid) {
		long rss = proc_status_kib(server_pid, "VmRSS:");
		long fds = count_fds(server_pid);

		printf("server: %.1f KiB and %.2f fds per peer (RSS %ld KiB, "
		       "%ld fds)\n", (double)(rss - rss_before) / n,
		       (double)(fds - fds_before) / n, rss, fds);
	}
	if (upgrading) {
		if (!upgrade(server_pid)) {
			report_missing(false);
			goto out;
		}
	}
	if (leave) {
		for (int i = 1; i < n; i += 2) {
			epoll_ctl(epfd, EPOLL_CTL_DEL, peers[i].sock, NULL);
			close(peers[i].sock);
			peers[i].closed = true;
		}
		if (!settle(true))
			goto out;
	}

	qsort(lat, (size_t)n, sizeof(*lat), cmp_double);
	/* joins_per_s: back-to-back joins, the harness's reading of the
	 * others' news left out; wall_s: the whole join phase */
	printf("%s peers=%d vectors=%d joins_per_s=%.0f p50_us=%.0f "
	       "p99_us=%.0f max_us=%.0f wall_s=%.2f\n",
	       use_floor ? "floor" : "server", n, vectors, n / (busy / 1e6),
	       lat[n / 2], lat[(size_t)n * 99 / 100], lat[n - 1],
	       (t_end - t_start) / 1e6);
out:
	if (use_floor && !errors) {
		pthread_join(floor_tid, NULL);
		unlink(path);
	}
	free(peers);
	free(counts);
	free(lat);
	free(fl.socks);
	free(fl.efds);
	if (errors) {
		fprintf(stderr, "swarm: %lu errors\n", errors);
		if (use_floor)
			unlink(path);
		return 1;
	}
	return 0;
}
