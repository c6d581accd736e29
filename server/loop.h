/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The server's event loop: the only file that knows libev
 */
#pragma once

struct loop;
struct loop_io;
struct loop_timer;
struct loop_signal;

enum { LOOP_READ = 1, LOOP_WRITE = 2 };

typedef void (*loop_io_cb)(struct loop_io *io, int events, void *data);
typedef void (*loop_cb)(void *data);

int loop_new(struct loop **out);
void loop_free(struct loop *loop);
void loop_run(struct loop *loop);
/* Handles what is pending, without waiting (signals caught, notably). */
void loop_run_once(struct loop *loop);
/* In the child, after fork(): the loop works there, not in the parent. */
void loop_fork(struct loop *loop);
/* Makes loop_run() return once the current callback is done. */
void loop_quit(struct loop *loop);
/* The time of the current event, in seconds. */
double loop_now(const struct loop *loop);
/* The monotonic clock now, in milliseconds: for waits outside the loop. */
double loop_clock_ms(void);

/* Watches @fd for @events (LOOP_READ | LOOP_WRITE, or 0 to pause). */
struct loop_io *loop_io_new(struct loop *loop, int fd, int events,
			    loop_io_cb cb, void *data);
void loop_io_set(struct loop_io *io, int events);
int loop_io_events(const struct loop_io *io);
void loop_io_free(struct loop_io *io);

/* A one-shot timer; starting a running timer restarts it. */
struct loop_timer *loop_timer_new(struct loop *loop, loop_cb cb, void *data);
void loop_timer_start(struct loop_timer *t, double seconds);
void loop_timer_stop(struct loop_timer *t);
void loop_timer_free(struct loop_timer *t);

/* Runs @cb from the loop when @signum arrives. */
struct loop_signal *loop_signal_new(struct loop *loop, int signum,
				    loop_cb cb, void *data);
void loop_signal_free(struct loop_signal *s);
