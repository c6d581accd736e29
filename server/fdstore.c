/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The service manager's file descriptor store
 *
 * The socket is connected to $NOTIFY_SOCKET, so that it polls writable only
 * when the manager's queue has room (an unconnected datagram socket always
 * polls writable).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fdstore.h"
#include "log.h"
#include "loop.h"
#include "parse.h"
#include "protocol.h"
#include "ring.h"
#include "systemd.h"

/* How long to wait before sending again after a transient failure. */
#define RETRY 0.05

struct request {
	int fd;          /* to store, or -1: remove */
	char name[FDSTORE_NAME_MAX];
};

struct fdstore {
	struct loop *loop;
	int sock;
	struct loop_io *io;
	struct loop_timer *retry;
	size_t max;      /* $FDSTORE */
	size_t count;    /* stored, or queued to be */
	struct request *queue;
	size_t head, len, cap; /* a ring; cap a power of two */
	bool broken;     /* the manager went away: nothing more is sent */
};

static void flush(struct fdstore *st);

void fdstore_peer_name(char *buf, size_t len, uint64_t join, int id,
		       int vector)
{
	if (vector < 0)
		snprintf(buf, len, FDSTORE_PREFIX "peer.%llu.%d.socket",
			 (unsigned long long)join, id);
	else
		snprintf(buf, len, FDSTORE_PREFIX "peer.%llu.%d.vector.%d",
			 (unsigned long long)join, id, vector);
}

int fdstore_parse_peer_name(const char *name, uint64_t *join, int *id,
			    int *vector)
{
	char again[FDSTORE_NAME_MAX];
	unsigned long long j;
	int i, v = -1, n = 0;

	/* parsed loosely, then printed back: only the exact form passes */
	if (sscanf(name, FDSTORE_PREFIX "peer.%llu.%d.vector.%d%n", &j, &i, &v,
		   &n) != 3 || name[n]) {
		v = -1;
		if (sscanf(name, FDSTORE_PREFIX "peer.%llu.%d.socket%n", &j, &i,
			   &n) != 2 || name[n])
			return -EINVAL;
	}
	if (j == 0 || i < 0 || v < -1)
		return -EINVAL;
	fdstore_peer_name(again, sizeof(again), j, i, v);
	if (strcmp(again, name) != 0)
		return -EINVAL;
	*join = j;
	*id = i;
	*vector = v;
	return 0;
}

static void on_writable(struct loop_io *io, int events, void *data)
{
	(void)io;
	(void)events;
	flush(data);
}

static void on_retry(void *data)
{
	flush(data);
}

int fdstore_new(struct fdstore **out, struct loop *loop)
{
	const char *env = getenv("FDSTORE");
	struct sockaddr_un addr;
	struct fdstore *st;
	socklen_t len;
	uint64_t max;
	int r;

	*out = NULL;
	if (!env || parse_uint(env, SIZE_MAX / 2, &max) < 0 || max == 0 ||
	    systemd_notify_address(&addr, &len) < 0)
		return 0;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->loop = loop;
	st->max = (size_t)max;
	st->sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
			  0);
	if (st->sock < 0 ||
	    connect(st->sock, (struct sockaddr *)&addr, len) < 0) {
		r = -errno;
		goto fail;
	}
	st->io = loop_io_new(loop, st->sock, 0, on_writable, st);
	st->retry = loop_timer_new(loop, on_retry, st);
	if (!st->io || !st->retry) {
		r = -ENOMEM;
		goto fail;
	}
	*out = st;
	return 0;

fail:
	fdstore_free(st);
	return r;
}

static void drop_queue(struct fdstore *st)
{
	for (; st->len; st->len--, st->head = (st->head + 1) & (st->cap - 1))
		if (st->queue[st->head].fd >= 0)
			close(st->queue[st->head].fd);
}

void fdstore_free(struct fdstore *st)
{
	if (!st)
		return;
	drop_queue(st);
	free(st->queue);
	loop_io_free(st->io);
	loop_timer_free(st->retry);
	if (st->sock >= 0)
		close(st->sock);
	free(st);
}

bool fdstore_has_room(const struct fdstore *st, size_t n)
{
	return !st->broken && st->count + n <= st->max;
}

size_t fdstore_count(const struct fdstore *st)
{
	return st->count;
}

void fdstore_set_count(struct fdstore *st, size_t n)
{
	st->count = n;
}

static int send_request(int sock, const struct request *rq)
{
	char text[300];
	int len = snprintf(text, sizeof(text), "%s\nFDNAME=%s",
			   rq->fd >= 0 ? "FDSTORE=1" : "FDSTOREREMOVE=1",
			   rq->name);
	long n = proto_send_fd(sock, text, (size_t)len, rq->fd);

	return n < 0 ? (int)n : 0;
}

/* Sends from the head of the queue: 0 once it is empty, or why it stopped. */
static int send_queue(struct fdstore *st)
{
	while (st->len && !st->broken) {
		struct request *rq = &st->queue[st->head];
		int r = send_request(st->sock, rq);

		if (r == -EAGAIN || r == -ETOOMANYREFS || r == -ENOBUFS ||
		    r == -ENOMEM)
			return r;
		if (r < 0) {
			log_error("the service manager's fd store stopped "
				  "taking fds (%s): peers that join from now on "
				  "will not survive a crash", strerror(-r));
			st->broken = true;
			drop_queue(st);
			return r;
		}
		if (rq->fd >= 0)
			close(rq->fd);
		st->head = (st->head + 1) & (st->cap - 1);
		st->len--;
	}
	return 0;
}

static void flush(struct fdstore *st)
{
	int r = send_queue(st);

	loop_io_set(st->io, r == -EAGAIN ? LOOP_WRITE : 0);
	if (r == -EAGAIN || r == 0 || st->broken)
		return;
	/* too many fds in flight, or memory: nothing to poll for */
	loop_timer_start(st->retry, RETRY);
}

static int enqueue(struct fdstore *st, int fd, const char *name)
{
	struct request *rq;

	if (st->len == st->cap) {
		struct request *q = ring_grow(st->queue, &st->head, st->len,
					      &st->cap, sizeof(*q), 64);

		if (!q)
			return -ENOMEM;
		st->queue = q;
	}
	rq = &st->queue[(st->head + st->len) & (st->cap - 1)];
	rq->fd = fd;
	snprintf(rq->name, sizeof(rq->name), "%s", name);
	st->len++;
	/* only the first waits for the loop; the rest follow it */
	if (st->len == 1)
		flush(st);
	return 0;
}

int fdstore_add(struct fdstore *st, int fd, const char *name)
{
	int dup, r;

	if (st->broken)
		return -EPIPE;
	dup = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (dup < 0)
		return -errno;
	r = enqueue(st, dup, name);
	if (r < 0) {
		close(dup);
		return r;
	}
	st->count++;
	return 0;
}

void fdstore_remove(struct fdstore *st, const char *name)
{
	if (st->broken)
		return;
	if (enqueue(st, -1, name) < 0) {
		log_error("out of memory: the fd store keeps %s", name);
		return;
	}
	if (st->count)
		st->count--;
}

void fdstore_remove_peer(struct fdstore *st, uint64_t join, int id,
			 unsigned int nvec, unsigned int count)
{
	char name[FDSTORE_NAME_MAX];

	for (unsigned int i = 0; i < count && i <= nvec; i++) {
		fdstore_peer_name(name, sizeof(name), join, id,
				  i < nvec ? (int)i : -1);
		fdstore_remove(st, name);
	}
}

int fdstore_sync(struct fdstore *st, int timeout_ms)
{
	double deadline = loop_clock_ms() + timeout_ms;
	int r;

	while ((r = send_queue(st)) < 0 && !st->broken) {
		struct pollfd pfd = { .fd = st->sock, .events = POLLOUT };
		double left = deadline - loop_clock_ms();

		if (left <= 0) {
			flush(st); /* the loop takes over again */
			return -ETIMEDOUT;
		}
		/* polling sees a full queue; the rest needs time */
		if (r != -EAGAIN && left > 10)
			left = 10;
		poll(&pfd, 1, (int)left + 1);
	}
	loop_io_set(st->io, 0);
	loop_timer_stop(st->retry);
	return st->broken ? -EPIPE : 0;
}
