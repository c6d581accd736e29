/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The server's event loop, on libev
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include <ev.h>

#include "loop.h"

struct loop {
	struct ev_loop *ev;
};

struct loop_io {
	ev_io w; /* first: libev hands back &w */
	struct loop *loop;
	loop_io_cb cb;
	void *data;
	int events;
};

struct loop_timer {
	ev_timer w;
	struct loop *loop;
	loop_cb cb;
	void *data;
};

struct loop_signal {
	ev_signal w;
	struct loop *loop;
	loop_cb cb;
	void *data;
};

int loop_new(struct loop **out)
{
	struct loop *loop = calloc(1, sizeof(*loop));

	if (!loop)
		return -ENOMEM;
	/* The default loop, because only it may watch signals. */
	loop->ev = ev_default_loop(EVFLAG_AUTO);
	if (!loop->ev) {
		free(loop);
		return -ENOMEM;
	}
	*out = loop;
	return 0;
}

void loop_free(struct loop *loop)
{
	if (!loop)
		return;
	ev_loop_destroy(loop->ev);
	free(loop);
}

void loop_run(struct loop *loop)
{
	ev_run(loop->ev, 0);
}

void loop_run_once(struct loop *loop)
{
	ev_run(loop->ev, EVRUN_NOWAIT);
}

void loop_fork(struct loop *loop)
{
	ev_loop_fork(loop->ev);
}

void loop_quit(struct loop *loop)
{
	ev_break(loop->ev, EVBREAK_ALL);
}

double loop_now(const struct loop *loop)
{
	return ev_now(loop->ev);
}

double loop_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int to_ev(int events)
{
	return (events & LOOP_READ ? EV_READ : 0) |
	       (events & LOOP_WRITE ? EV_WRITE : 0);
}

static void on_io(struct ev_loop *ev, ev_io *w, int revents)
{
	struct loop_io *io = (struct loop_io *)w;

	(void)ev;
	io->cb(io, (revents & EV_READ ? LOOP_READ : 0) |
		   (revents & EV_WRITE ? LOOP_WRITE : 0), io->data);
}

struct loop_io *loop_io_new(struct loop *loop, int fd, int events,
			    loop_io_cb cb, void *data)
{
	struct loop_io *io = calloc(1, sizeof(*io));

	if (!io)
		return NULL;
	io->loop = loop;
	io->cb = cb;
	io->data = data;
	ev_io_init(&io->w, on_io, fd, EV_READ);
	loop_io_set(io, events);
	return io;
}

void loop_io_set(struct loop_io *io, int events)
{
	if (io->events == events && ev_is_active(&io->w) == !!events)
		return;
	ev_io_stop(io->loop->ev, &io->w);
	io->events = events;
	if (events) {
		ev_io_set(&io->w, io->w.fd, to_ev(events));
		ev_io_start(io->loop->ev, &io->w);
	}
}

int loop_io_events(const struct loop_io *io)
{
	return io->events;
}

void loop_io_free(struct loop_io *io)
{
	if (!io)
		return;
	ev_io_stop(io->loop->ev, &io->w);
	free(io);
}

static void on_timer(struct ev_loop *ev, ev_timer *w, int revents)
{
	struct loop_timer *t = (struct loop_timer *)w;

	(void)ev;
	(void)revents;
	t->cb(t->data);
}

struct loop_timer *loop_timer_new(struct loop *loop, loop_cb cb, void *data)
{
	struct loop_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->loop = loop;
	t->cb = cb;
	t->data = data;
	ev_timer_init(&t->w, on_timer, 0., 0.);
	return t;
}

void loop_timer_start(struct loop_timer *t, double seconds)
{
	ev_timer_stop(t->loop->ev, &t->w);
	ev_timer_set(&t->w, seconds, 0.);
	ev_timer_start(t->loop->ev, &t->w);
}

void loop_timer_stop(struct loop_timer *t)
{
	ev_timer_stop(t->loop->ev, &t->w);
}

void loop_timer_free(struct loop_timer *t)
{
	if (!t)
		return;
	ev_timer_stop(t->loop->ev, &t->w);
	free(t);
}

static void on_signal(struct ev_loop *ev, ev_signal *w, int revents)
{
	struct loop_signal *s = (struct loop_signal *)w;

	(void)ev;
	(void)revents;
	s->cb(s->data);
}

struct loop_signal *loop_signal_new(struct loop *loop, int signum,
				    loop_cb cb, void *data)
{
	struct loop_signal *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->loop = loop;
	s->cb = cb;
	s->data = data;
	ev_signal_init(&s->w, on_signal, signum);
	ev_signal_start(loop->ev, &s->w);
	return s;
}

void loop_signal_free(struct loop_signal *s)
{
	if (!s)
		return;
	ev_signal_stop(s->loop->ev, &s->w);
	free(s);
}
