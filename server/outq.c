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
#include "ring.h"

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

static void release(struct outq *q)
{
	free(q->ring);
	q->ring = NULL;
	q->head = q->len = q->cap = 0;
}

void outq_deinit(struct outq *q)
{
	for (size_t i = 0; i < q->len; i++)
		fdref_put(q->ring[(q->head + i) & (q->cap - 1)].fd);
	release(q);
}

const struct outmsg *outq_at(const struct outq *q, size_t i)
{
	return &q->ring[(q->head + i) & (q->cap - 1)];
}

int outq_push(struct outq *q, int64_t value, struct fdref *fd, uint64_t event,
	      uint32_t index)
{
	struct outmsg *m;

	if (q->len == q->cap) {
		struct outmsg *ring = ring_grow(q->ring, &q->head, q->len,
						&q->cap, sizeof(*ring), 16);

		if (!ring)
			return -ENOMEM;
		q->ring = ring;
	}
	m = &q->ring[(q->head + q->len) & (q->cap - 1)];
	m->value = value;
	m->fd = fdref_get(fd);
	m->event = event;
	m->index = index;
	q->len++;
	return 0;
}

int outq_flush(struct outq *q, int sock)
{
	while (q->len) {
		struct outmsg *m = &q->ring[q->head];
		int r;

		if (q->track)
			outq_mark_set(&q->track->sending, m->event, m->index);
		r = proto_send(sock, m->value, m->fd ? m->fd->fd : -1);
		if (r < 0) {
			if (q->track)
				outq_mark_set(&q->track->sending, m->event,
					      m->index | OUTQ_NOT_SENT);
			return r;
		}
		if (q->track)
			outq_mark_set(&q->track->sent, m->event, m->index + 1);
		fdref_put(m->fd);
		q->head = (q->head + 1) & (q->cap - 1);
		q->len--;
	}
	/* an idle peer should not keep the memory of its join burst */
	if (q->cap > 64)
		release(q);
	return 0;
}

/*
 * The tag goes first: a process killed before the event is written leaves
 * a tag whose event bits are ahead of the event, and the reader takes the
 * event forward to the next number with those low bits (events are never
 * 2^32 apart between two messages to one peer).
 */
void outq_mark_set(struct outq_mark *m, uint64_t event, uint32_t next)
{
	uint64_t tag = (event & 0xffffffffu) << 32 | next;

	__atomic_store_n(&m->tag, tag, __ATOMIC_RELEASE);
	if (m->event != event)
		__atomic_store_n(&m->event, event, __ATOMIC_RELEASE);
}

void outq_mark_read(const struct outq_mark *m, uint64_t *event,
		    uint32_t *next)
{
	uint64_t e = __atomic_load_n(&m->event, __ATOMIC_ACQUIRE);
	uint64_t tag = __atomic_load_n(&m->tag, __ATOMIC_ACQUIRE);

	*event = e + (uint32_t)((uint32_t)(tag >> 32) - (uint32_t)e);
	*next = (uint32_t)tag;
}

void outq_track_read(const struct outq_track *t, uint64_t *event,
		     uint32_t *next)
{
	uint64_t e;
	uint32_t i;

	outq_mark_read(&t->sent, event, next);
	outq_mark_read(&t->sending, &e, &i);
	if (!(i & OUTQ_NOT_SENT) &&
	    (e > *event || (e == *event && i >= *next))) {
		*event = e;
		*next = i + 1;
	}
}

void outq_track_settle(struct outq_track *t, uint64_t *event,
		       uint32_t *next)
{
	uint64_t e;
	uint32_t n;

	outq_mark_read(&t->sent, &e, &n);
	outq_track_read(t, event, next);
	if (*event != e || *next != n)
		outq_mark_set(&t->sent, *event, *next);
}
