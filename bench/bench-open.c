/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * Open-to-ready time of ivshmem_open_doorbell() with 100 peers connected,
 * against a bare connect() to the same server
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "helpers.h"
#include "protocol.h"

#define PEERS 100
#define OPENS 300
/* Between opens: time for the server and the peers to take the last
 * departure, so that each open starts from a quiet system. */
#define SETTLE_US 2000

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp);
	return v[n / 2];
}

/* The 100 peers, in a child that keeps reading what the server sends. */
static pid_t run_peers(struct server *s, int ready)
{
	pid_t pid = fork();
	struct ivshmem *h[PEERS];
	struct pollfd pfd[PEERS];

	if (pid != 0)
		return pid;
	for (int i = 0; i < PEERS; i++) {
		if (ivshmem_open_doorbell(&h[i], s->socket, 0) < 0)
			_exit(1);
		pfd[i] = (struct pollfd){ .fd = ivshmem_get_fd(h[i]),
					  .events = POLLIN };
	}
	if (write(ready, "", 1) != 1)
		_exit(1);
	for (;;) {
		poll(pfd, PEERS, -1);
		for (int i = 0; i < PEERS; i++)
			if (pfd[i].revents)
				ivshmem_dispatch(h[i], 0);
	}
}

static double bare_connect(struct server *s)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	double t[OPENS];

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", s->socket);
	for (int i = 0; i < OPENS; i++) {
		uint64_t start = now_ns();
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
			exit(1);
		t[i] = (double)(now_ns() - start) / 1000.0;
		close(fd);
		usleep(SETTLE_US); /* let the peers take the departure */
	}
	return median(t, OPENS);
}

/* The least a client must do: connect and read up to the shared memory,
 * with the protocol module and blocking reads. Returns microseconds. */
static double raw_handshake(const struct sockaddr_un *a)
{
	uint64_t start = now_ns();
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct proto_decoder d;
	struct proto_msg m = { .value = 0, .fd = -1 };
	double t;

	if (connect(fd, (const struct sockaddr *)a, sizeof(*a)) < 0)
		exit(1);
	proto_decoder_init(&d);
	for (int n = 0; n < 3;) {
		int r = proto_recv(&d, fd, &m);

		if (r < 0 && r != -EINTR && r != -EAGAIN)
			exit(1);
		n += r == 1;
	}
	t = (double)(now_ns() - start) / 1000.0;
	close(m.fd);
	proto_decoder_deinit(&d);
	close(fd);
	return t;
}

static double library(const struct server *s)
{
	struct ivshmem *h;
	uint64_t start = now_ns();
	double t;

	if (ivshmem_open_doorbell(&h, s->socket, 0) < 0)
		exit(1);
	t = (double)(now_ns() - start) / 1000.0;
	ivshmem_close(h);
	return t;
}

/* Medians of the raw handshake and of ours, measured in turns so that
 * both see the same conditions; *p99 is ours. */
static void measure(const struct server *s, double *raw, double *ours,
		    double *p99)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	double r[OPENS], o[OPENS];

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", s->socket);
	for (int i = 0; i < OPENS; i++) {
		r[i] = raw_handshake(&a);
		usleep(SETTLE_US);
		o[i] = library(s);
		usleep(SETTLE_US);
	}
	*raw = median(r, OPENS);
	*ours = median(o, OPENS);
	*p99 = o[OPENS * 99 / 100];
}

int main(void)
{
	struct server s;
	struct rlimit rl;
	double bare, raw, ours, p99;
	int ready[2];
	char c;
	pid_t peers;

	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	server_init(&s, 1);
	server_start(&s);
	measure(&s, &raw, &ours, &p99);
	report("open with no peer (median)", "raw handshake", raw, ours, "us");
	if (pipe(ready) < 0)
		return 1;
	peers = run_peers(&s, ready[1]);
	if (read(ready[0], &c, 1) != 1) {
		fprintf(stderr, "bench-open: the %d peers did not start\n",
			PEERS);
		return 1;
	}
	bare = bare_connect(&s);
	measure(&s, &raw, &ours, &p99);
	report("open with 100 peers (median)", "bare connect()", bare, ours,
	       "us");
	report("open with 100 peers (median)", "raw handshake", raw, ours,
	       "us");
	printf("open with 100 peers: 99th percentile %.2f us (target: under "
	       "1000 us)\n", p99);
	kill(peers, SIGKILL);
	waitpid(peers, NULL, 0);
	server_cleanup(&s);
	return 0;
}
