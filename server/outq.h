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

/*
 * Every message belongs to an event (a join or a departure, numbered by the
 * server) and has an index within what that event sends this peer.
 */
struct outmsg {
	int64_t value;
	struct fdref *fd; /* NULL: no fd */
	uint64_t event;
	uint32_t index;
};

/*
 * Where a queue's peer is in its stream: the event of the last message
 * sent, and that message's index + 1. It lives in memory that outlives the
 * process (see ledger.h), so it is written with single aligned stores in an
 * order that a process killed between any two of them leaves readable:
 * outq_mark_read() then returns the exact position.
 */
struct outq_mark {
	uint64_t event;
	uint64_t tag; /* low 32 bits of the event << 32 | index + 1 */
};

/*
 * @sending names the message being sent (its index, not index + 1),
 * written before sendmsg(); @sent moves past it after. A process killed
 * in sendmsg() dies as the call returns, after the message went, and
 * before it moves @sent: outq_track_read() takes such a message as
 * delivered (see resume.h for why, and for the one case where that is
 * wrong).
 */
struct outq_track {
	struct outq_mark sending;
	struct outq_mark sent;
};

/* In track->sending's index: sendmsg() failed, the message did not go.
 * Real indices stay below 2^31 (3 + 2048 vectors x 65536 peers). */
#define OUTQ_NOT_SENT 0x80000000u

struct outq {
	struct outmsg *ring;
	size_t head; /* index of the oldest message */
	size_t len;
	size_t cap;  /* a power of two, or 0 */
	struct outq_track *track; /* updated as messages go out; may be NULL */
};

void outq_init(struct outq *q);
/* Discards what is left, dropping its references; safe to call twice.
 * The mark stays. */
void outq_deinit(struct outq *q);
/* Message @i from the head, @i < q->len. */
const struct outmsg *outq_at(const struct outq *q, size_t i);
/* Appends a message; takes a new reference on @fd. 0 or -ENOMEM. */
int outq_push(struct outq *q, int64_t value, struct fdref *fd, uint64_t event,
	      uint32_t index);
/*
 * Sends from the head until the queue is empty (0), the socket is full
 * (-EAGAIN) or sending fails (another negative errno, e.g. -EPIPE, or
 * -ETOOMANYREFS when the kernel's limit of fds in flight is reached).
 * Names each message in track->sending before it goes, and moves
 * track->sent past it after.
 */
int outq_flush(struct outq *q, int sock);

/* Sets @m to: @next messages of @event sent (0: none of it yet). */
void outq_mark_set(struct outq_mark *m, uint64_t event, uint32_t next);
/* Reads @m, also one written by a process that was killed mid-update. */
void outq_mark_read(const struct outq_mark *m, uint64_t *event,
		    uint32_t *next);
/* Where @t's peer is in its stream, as outq_mark_read() puts it: past the
 * message it was being sent when the process died, if any. */
void outq_track_read(const struct outq_track *t, uint64_t *event,
		     uint32_t *next);
/* The same, and moves @sent there, so that a later failed send, which
 * rewrites @sending, does not make the message delivered owed again. */
void outq_track_settle(struct outq_track *t, uint64_t *event,
		       uint32_t *next);
