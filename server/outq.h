/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * A peer's outbound queue, and the shared fds its messages carry
 *
 * The server never drops a message: what a socket does not take now waits
 * here, in order, and an fd stays open until every message that carries it
 * has been sent or discarded with its peer.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* A reference-counted fd: a peer's eventfd, or the shared memory. */
struct fdref {
	int fd;
	unsigned int refs;
};

/* Takes ownership of @fd; the result has one reference. */
struct fdref *fdref_new(int fd);
struct fdref *fdref_get(struct fdref *ref);
/* Drops a reference; the last one closes the fd. NULL is ignored. */
void fdref_put(struct fdref *ref);

struct outmsg {
	int64_t value;
	struct fdref *fd; /* NULL: no fd */
};

struct outq {
	struct outmsg *ring;
	size_t head; /* index of the oldest message */
	size_t len;
	size_t cap;  /* a power of two, or 0 */
};

void outq_init(struct outq *q);
/* Discards what is left, dropping its references; safe to call twice. */
void outq_deinit(struct outq *q);
/* Appends a message; takes a new reference on @fd. 0 or -ENOMEM. */
int outq_push(struct outq *q, int64_t value, struct fdref *fd);
/*
 * Sends from the head until the queue is empty (0), the socket is full
 * (-EAGAIN) or sending fails (another negative errno, e.g. -EPIPE, or
 * -ETOOMANYREFS when the kernel's limit of fds in flight is reached).
 */
int outq_flush(struct outq *q, int sock);
