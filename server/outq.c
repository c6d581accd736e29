/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * A peer's outbound queue
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "outq.h"
#include "protocol.h"

struct fdref *fdref_new(int fd)
{
	struct fdref *ref = malloc(sizeof(*ref));

	if (!ref)
		return NULL;
	ref->fd = fd;
	ref->refs = 1;
	return ref;
}

struct fdref *fdref_get(struct fdref *ref)
{
	if (ref)
		ref->refs++;
	return ref;
}

void fdref_put(struct fdref *ref)
{
	if (!ref || --ref->refs)
		return;
	close(ref->fd);
	free(ref);
}

void outq_init(struct outq *q)
{
	memset(q, 0, sizeof(*q));
}

void outq_deinit(struct outq *q)
{
	for (size_t i = 0; i < q->len; i++)
		fdref_put(q->ring[(q->head + i) & (q->cap - 1)].fd);
	free(q->ring);
	outq_init(q);
}

static int grow(struct outq *q)
{
	size_t cap = q->cap ? q->cap * 2 : 16;
	struct outmsg *ring = malloc(cap * sizeof(*ring));

	if (!ring)
		return -ENOMEM;
	/* unroll the ring so that the oldest message is at index 0 */
	for (size_t i = 0; i < q->len; i++)
		ring[i] = q->ring[(q->head + i) & (q->cap - 1)];
	free(q->ring);
	q->ring = ring;
	q->cap = cap;
	q->head = 0;
	return 0;
}

int outq_push(struct outq *q, int64_t value, struct fdref *fd)
{
	struct outmsg *m;

	if (q->len == q->cap && grow(q) < 0)
		return -ENOMEM;
	m = &q->ring[(q->head + q->len) & (q->cap - 1)];
	m->value = value;
	m->fd = fdref_get(fd);
	q->len++;
	return 0;
}

int outq_flush(struct outq *q, int sock)
{
	while (q->len) {
		struct outmsg *m = &q->ring[q->head];
		int r = proto_send(sock, m->value, m->fd ? m->fd->fd : -1);

		if (r < 0)
			return r;
		fdref_put(m->fd);
		q->head = (q->head + 1) & (q->cap - 1);
		q->len--;
	}
	/* an idle peer should not keep the memory of its join burst */
	if (q->cap > 64) {
		free(q->ring);
		outq_init(q);
	}
	return 0;
}
