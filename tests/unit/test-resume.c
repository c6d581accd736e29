/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * Unit tests of the crash-resume planner, against a model of the server
 *
 * The model plays random histories of joins and departures and writes down
 * every message the server queues for every peer, as the protocol says.
 * Each peer that is still there is cut at a random point of its stream (a
 * crash while its queue was not empty), where the next message was not
 * being sent yet, was refused by a full socket, or went out without its
 * mark moving (a process killed in sendmsg() dies as the call returns);
 * its ledger slot is written as outq_flush() writes it. It is sent its
 * plan, maybe cut again by a second crash. A receiver that numbers
 * eventfds as they come and frees them at a departure, as QEMU does, must
 * end up knowing exactly the peers that are there with exactly their
 * eventfds in order, and never be told of a departure of a peer it does
 * not know.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "outq.h"
#include "protocol.h"
#include "resume.h"

#define MAX_PEERS 64
#define MAX_MSGS 4096
#define ID_COUNT 8
#define STAND_IN 99 /* the eventfd that stands in for a gone peer's */

/* How often the cases that matter came up, so that the random histories
 * are known to cover them. */
static struct {
	size_t owed, mid_burst, eventfd_unmarked, departure_unmarked,
	       second_crashes, stand_ins;
} seen;

struct mpeer {
	int id;
	uint64_t join, leave;     /* leave 0: still there */
	int vectors[4];
	struct server_msg stream[MAX_MSGS];
	size_t len;
	size_t cut;               /* messages it received */
	struct outq_track track;  /* its slot in the ledger at the cut */
};

struct model {
	unsigned int nvec;
	uint64_t events;
	struct mpeer peers[MAX_PEERS]; /* in join order */
	size_t count;
	uint32_t next_id;
	uint64_t rng;
};

static uint64_t rnd(struct model *m, uint64_t n)
{
	m->rng ^= m->rng << 13;
	m->rng ^= m->rng >> 7;
	m->rng ^= m->rng << 17;
	return m->rng % n;
}

static void push(struct mpeer *p, int64_t value, int fd, uint64_t event,
		 uint32_t index)
{
	assert_true(p->len < MAX_MSGS);
	p->stream[p->len++] = (struct server_msg){ value, fd, event, index };
}

static bool id_used(const struct model *m, int id)
{
	for (size_t i = 0; i < m->count; i++)
		if (!m->peers[i].leave && m->peers[i].id == id)
			return true;
	return false;
}

static bool join(struct model *m)
{
	struct mpeer *p;
	uint64_t e;
	uint32_t index = 3;
	int id = -1;

	for (int k = 0; k < ID_COUNT && id < 0; k++) {
		int c = (int)((m->next_id + k) % ID_COUNT);

		if (!id_used(m, c))
			id = c;
	}
	if (id < 0 || m->count == MAX_PEERS)
		return false;
	m->next_id = (uint32_t)(id + 1) % ID_COUNT;
	e = ++m->events;
	p = &m->peers[m->count];
	memset(p, 0, sizeof(*p));
	p->id = id;
	p->join = e;
	for (unsigned int v = 0; v < m->nvec; v++)
		p->vectors[v] = 100 + (int)m->count * 4 + (int)v;
	push(p, PROTO_VERSION, -1, e, 0);
	push(p, id, -1, e, 1);
	push(p, PROTO_SHM_ID, SERVER_SHM_FD, e, 2);
	for (size_t i = 0; i < m->count; i++) {
		struct mpeer *o = &m->peers[i];

		if (o->leave)
			continue;
		for (unsigned int v = 0; v < m->nvec; v++) {
			push(o, id, p->vectors[v], e, v);
			push(p, o->id, o->vectors[v], e, index++);
		}
	}
	for (unsigned int v = 0; v < m->nvec; v++)
		push(p, id, p->vectors[v], e, index++);
	m->count++;
	return true;
}

static void leave(struct model *m, size_t who)
{
	struct mpeer *g = &m->peers[who];
	uint64_t e = ++m->events;

	g->leave = e;
	for (size_t i = 0; i < m->count; i++)
		if (!m->peers[i].leave)
			push(&m->peers[i], g->id, -1, e, 0);
}

/* What a receiver (QEMU's device, libivshmem) makes of what it gets: a
 * peer's eventfds numbered in the order they come, its departure clearing
 * them, its own eventfds apart. As strict as QEMU 7.2, which frees a
 * peer's eventfds at its departure, whatever it knew of it: a departure
 * of a peer it does not know (any more) would free them twice. */
struct receiver {
	unsigned int nvec;
	unsigned int handshake;
	int own[4];
	unsigned int own_count;
	int fds[ID_COUNT][8];
	unsigned int count[ID_COUNT];
};

static void receive(struct receiver *r, const struct mpeer *p,
		    const struct server_msg *msg)
{
	if (msg->fd == SERVER_SHM_FD ||
	    (msg->event == p->join && msg->index < 3)) {
		assert_true(r->handshake++ < 3);
		return;
	}
	assert_true(msg->value >= 0 && msg->value < ID_COUNT);
	if (msg->fd < 0) {
		assert_int_not_equal(msg->value, p->id); /* never told it left */
		if (r->nvec)
			assert_true(r->count[msg->value] > 0);
		r->count[msg->value] = 0;
	} else if (msg->value == p->id) {
		assert_true(r->own_count < 4);
		r->own[r->own_count++] = msg->fd;
	} else {
		assert_true(r->count[msg->value] < 8);
		r->fds[msg->value][r->count[msg->value]++] = msg->fd;
	}
}

/* After all that, it must know exactly the peers that are there, each with
 * exactly its eventfds in order, and have its own. */
static void assert_whole(struct model *m, const struct mpeer *p,
			 const struct receiver *r)
{
	assert_int_equal(r->handshake, 3);
	assert_int_equal(r->own_count, m->nvec);
	for (unsigned int v = 0; v < m->nvec; v++)
		assert_int_equal(r->own[v], p->vectors[v]);
	for (int id = 0; id < ID_COUNT; id++) {
		const struct mpeer *q = NULL;

		for (size_t i = 0; i < m->count; i++)
			if (!m->peers[i].leave && m->peers[i].id == id &&
			    &m->peers[i] != p)
				q = &m->peers[i];
		if (!q || m->nvec == 0) {
			assert_int_equal(r->count[id], 0);
			continue;
		}
		assert_int_equal(r->count[id], m->nvec);
		for (unsigned int v = 0; v < m->nvec; v++)
			assert_int_equal(r->fds[id][v], q->vectors[v]);
	}
}

/*
 * Where a crash leaves the next message: not being sent yet, refused by a
 * full socket, or sent, sendmsg() having returned but the mark not moved
 * yet: where a kill in sendmsg() lands. (A kill in the few instructions
 * between naming the message and the call leaves the same ledger as
 * SENT_UNMARKED without the message: the peer is one message short, as
 * resume.h says. No plan can tell the two apart.)
 */
enum { NOT_SENDING, REFUSED, SENT_UNMARKED, STATES };

/* What outq_flush() writes for @msg, up to @state. */
static void flush(struct outq_track *t, const struct server_msg *msg,
		  int state)
{
	if (state == NOT_SENDING)
		return;
	outq_mark_set(&t->sending, msg->event, msg->index);
	if (state == REFUSED)
		outq_mark_set(&t->sending, msg->event,
			      msg->index | OUTQ_NOT_SENT);
}

static void flushed(struct outq_track *t, const struct server_msg *msg)
{
	flush(t, msg, SENT_UNMARKED);
	outq_mark_set(&t->sent, msg->event, msg->index + 1);
}

/*
 * Peer @k, which received @p->cut messages of its stream, the next one
 * being in @state, is sent its plan; the server dies again after @cut2 of
 * them, the next one in @state2, and it is sent the new plan. It must end
 * up whole.
 */
static void resume_once_or_twice(struct model *m, struct resume_world *w,
				 struct resume_live *me, size_t k,
				 struct mpeer *p, int state, size_t cut2,
				 int state2)
{
	struct receiver r = { .nvec = m->nvec };
	struct server_msg *plan = NULL, *plan2 = NULL;
	size_t len = 0, cap = 0, len2 = 0, cap2 = 0;
	struct outq_track t = p->track;

	for (size_t i = 0; i < p->cut; i++)
		receive(&r, p, &p->stream[i]);
	if (p->cut < p->len) {
		const struct server_msg *next = &p->stream[p->cut];

		flush(&t, next, state);
		if (state == SENT_UNMARKED) {
			receive(&r, p, next);
			seen.eventfd_unmarked += next->fd >= 0 &&
						 next->value != p->id;
			seen.departure_unmarked += next->fd < 0 &&
						   next->event != p->join;
		}
	}
	outq_track_settle(&t, &me->sent_event, &me->sent_next); /* resume */
	seen.owed++;
	assert_int_equal(resume_plan(w, k, &plan, &len, &cap), 0);
	for (size_t i = 0; i < len; i++)
		seen.stand_ins += plan[i].fd == STAND_IN;
	if (cut2 >= len) {
		for (size_t i = 0; i < len; i++)
			receive(&r, p, &plan[i]);
		assert_whole(m, p, &r);
		goto out;
	}
	/* a second crash */
	for (size_t i = 0; i < cut2; i++) {
		receive(&r, p, &plan[i]);
		flushed(&t, &plan[i]);
	}
	flush(&t, &plan[cut2], state2);
	if (state2 == SENT_UNMARKED)
		receive(&r, p, &plan[cut2]);
	outq_track_settle(&t, &me->sent_event, &me->sent_next);
	seen.second_crashes++;
	assert_int_equal(resume_plan(w, k, &plan2, &len2, &cap2), 0);
	for (size_t i = 0; i < len2; i++)
		receive(&r, p, &plan2[i]);
	assert_whole(m, p, &r);
out:
	outq_track_read(&p->track, &me->sent_event, &me->sent_next);
	free(plan);
	free(plan2);
}

static void check(struct model *m)
{
	struct resume_live live[MAX_PEERS];
	struct resume_gone gone[MAX_PEERS];
	struct mpeer *owner[MAX_PEERS];
	struct resume_world w = { .vectors = m->nvec, .stand_in = STAND_IN };
	size_t nl = 0, ng = 0;

	for (size_t i = 0; i < m->count; i++) {
		struct mpeer *p = &m->peers[i];

		if (p->leave)
			continue;
		p->cut = (size_t)rnd(m, p->len + 1);
		memset(&p->track, 0, sizeof(p->track));
		outq_mark_set(&p->track.sent, p->join, 0); /* ledger_join() */
		for (size_t c = 0; c < p->cut; c++)
			flushed(&p->track, &p->stream[c]);
		live[nl] = (struct resume_live){
			.id = p->id, .join = p->join, .vectors = p->vectors,
		};
		outq_track_read(&p->track, &live[nl].sent_event,
				&live[nl].sent_next);
		if (live[nl].sent_event == p->join && p->cut < p->len &&
		    p->stream[p->cut].event == p->join)
			seen.mid_burst++;
		owner[nl++] = p;
	}
	/* departures in the order they happened */
	for (uint64_t e = 1; e <= m->events; e++)
		for (size_t i = 0; i < m->count; i++)
			if (m->peers[i].leave == e)
				gone[ng++] = (struct resume_gone){
					.id = m->peers[i].id,
					.join = m->peers[i].join,
					.leave = e,
				};
	w.live = live;
	w.live_count = nl;
	w.gone = gone;
	w.gone_count = ng;
	assert_int_equal(resume_world_prepare(&w), 0);
	for (size_t k = 0; k < nl; k++) {
		struct mpeer *p = owner[k];
		size_t cut2 = (size_t)rnd(m, 2 * p->len + 2);
		int state2 = (int)rnd(m, STATES);

		for (int state = 0; state < STATES; state++)
			resume_once_or_twice(m, &w, &live[k], k, p, state,
					     cut2, state2);
	}
	resume_world_deinit(&w);
}

static void random_histories(unsigned int nvec, int rounds)
{
	static struct model m;

	memset(&seen, 0, sizeof(seen));
	for (int round = 0; round < rounds; round++) {
		int steps;

		memset(&m, 0, sizeof(m));
		m.nvec = nvec;
		m.rng = 0x9e3779b97f4a7c15ull + (uint64_t)round * 7919;
		steps = 1 + (int)rnd(&m, 40);
		for (int s = 0; s < steps; s++) {
			size_t live = 0, pick;

			for (size_t i = 0; i < m.count; i++)
				live += !m.peers[i].leave;
			if (live == 0 || rnd(&m, 3) != 0) {
				if (join(&m))
					continue;
			}
			if (live == 0)
				continue;
			pick = (size_t)rnd(&m, live);
			for (size_t i = 0; i < m.count; i++)
				if (!m.peers[i].leave && pick-- == 0) {
					leave(&m, i);
					break;
				}
		}
		check(&m);
	}
	assert_true(seen.owed > 1000);
	assert_true(seen.mid_burst > 100);
	assert_true(seen.second_crashes > 1000);
	assert_true(seen.eventfd_unmarked > 100 || nvec == 0);
	assert_true(seen.departure_unmarked > 100);
	assert_true(seen.stand_ins > 100 || nvec == 0);
}

static void test_random_histories_two_vectors(void **state)
{
	random_histories(2, 3000);
}

static void test_random_histories_one_vector(void **state)
{
	random_histories(1, 3000);
}

/* Without vectors there are no eventfds to miss: every departure after
 * its join is owed. */
static void test_random_histories_no_vectors(void **state)
{
	random_histories(0, 3000);
}

/* By hand: 2 joins and leaves while 0 lags, then a new peer takes id 2:
 * 0 must hear that 2 left before it hears of the new 2. */
static void test_reused_id_is_announced_gone_first(void **state)
{
	static struct model m;
	struct resume_live live[3];
	struct resume_gone gone[1];
	struct resume_world w = { .vectors = 1 };
	struct server_msg *got = NULL;
	size_t len = 0, cap = 0;

	memset(&m, 0, sizeof(m));
	m.nvec = 1;
	join(&m);                 /* event 1: id 0 */
	join(&m);                 /* event 2: id 1 */
	join(&m);                 /* event 3: id 2 */
	leave(&m, 2);             /* event 4 */
	m.next_id = 2;
	join(&m);                 /* event 5: id 2 again */
	assert_int_equal(m.peers[3].id, 2);
	/* 0 got 2's eventfd (event 3), then nothing */
	live[0] = (struct resume_live){ .id = 0, .join = 1,
					.vectors = m.peers[0].vectors,
					.sent_event = 3, .sent_next = 1 };
	live[1] = (struct resume_live){ .id = 1, .join = 2,
					.vectors = m.peers[1].vectors,
					.sent_event = 5, .sent_next = 1 };
	live[2] = (struct resume_live){ .id = 2, .join = 5,
					.vectors = m.peers[3].vectors,
					.sent_event = 5, .sent_next = 0 };
	gone[0] = (struct resume_gone){ .id = 2, .join = 3, .leave = 4 };
	w.live = live;
	w.live_count = 3;
	w.gone = gone;
	w.gone_count = 1;
	assert_int_equal(resume_world_prepare(&w), 0);
	assert_int_equal(resume_plan(&w, 0, &got, &len, &cap), 0);
	assert_int_equal(len, 2);
	assert_int_equal(got[0].value, 2);
	assert_int_equal(got[0].fd, -1);
	assert_int_equal(got[0].event, 4);
	assert_int_equal(got[1].value, 2);
	assert_int_equal(got[1].fd, m.peers[3].vectors[0]);
	assert_int_equal(got[1].event, 5);
	/* the new 2 gets its whole join: it never knew the old one */
	len = 0;
	assert_int_equal(resume_plan(&w, 2, &got, &len, &cap), 0);
	assert_int_equal(len, 3 + 2 + 1);
	for (size_t i = 0; i < len; i++)
		assert_int_equal(got[i].event, 5);
	/* 1 is up to date */
	len = 0;
	assert_int_equal(resume_plan(&w, 1, &got, &len, &cap), 0);
	assert_int_equal(len, 0);
	free(got);
	resume_world_deinit(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_histories_two_vectors),
		cmocka_unit_test(test_random_histories_one_vector),
		cmocka_unit_test(test_random_histories_no_vectors),
		cmocka_unit_test(test_reused_id_is_announced_gone_first),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
