/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The doorbell backend against a scripted server: what a real server
 * rarely does (broken handshakes, odd departures), and exactly when peers
 * count as joined
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"
#include "protocol.h"

enum { NO_FD, EVENTFD, SHM, END };

struct step {
	int64_t value;
	int fd;       /* NO_FD, EVENTFD, SHM; END closes the connection */
	int pause_ms; /* before sending */
};

struct fake {
	char dir[64];
	char path[100];
	int listener;
	pid_t pid;
};

static int setup(void **state)
{
	static struct fake f;
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	snprintf(f.dir, sizeof(f.dir), "/tmp/ivshmem-fake-XXXXXX");
	if (!mkdtemp(f.dir))
		return -1;
	snprintf(f.path, sizeof(f.path), "%s/sock", f.dir);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", f.path);
	f.listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (bind(f.listener, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(f.listener, 4) < 0)
		return -1;
	f.pid = -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;

	if (f->pid > 0) {
		kill(f->pid, SIGKILL);
		waitpid(f->pid, NULL, 0);
	}
	close(f->listener);
	unlink(f->path);
	rmdir(f->dir);
	return 0;
}

/* Serves one client with @steps, then waits for it to hang up. */
static void serve(struct fake *f, const struct step *steps)
{
	char byte;
	int c;

	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid > 0)
		return;
	c = accept(f->listener, NULL, NULL);

	for (const struct step *s = steps; s->fd != END || s->value; s++) {
		int fd = -1;

		if (s->fd == END)
			_exit(0);
		if (s->pause_ms)
			usleep((useconds_t)s->pause_ms * 1000);
		if (s->fd == EVENTFD)
			fd = eventfd(0, EFD_NONBLOCK);
		if (s->fd == SHM) {
			fd = memfd_create("fake", 0);
			if (ftruncate(fd, 4096) < 0)
				_exit(1);
		}
		if (proto_send(c, s->value, fd) < 0)
			_exit(1);
		if (fd >= 0)
			close(fd);
	}
	while (read(c, &byte, 1) > 0)
		;
	_exit(0);
}

static void reap(struct fake *f)
{
	waitpid(f->pid, NULL, 0);
	f->pid = -1;
}

static int open_with(struct fake *f, const struct step *steps,
		     struct ivshmem **h)
{
	int r;

	serve(f, steps);
	r = ivshmem_open_doorbell(h, f->path, 0);
	if (r < 0)
		reap(f);
	return r;
}

#define STEPS(...) ((const struct step[]){ __VA_ARGS__, { 0, END, 0 } })
#define CLOSE { 1, END, 0 }
#define HELLO(id) { 0, NO_FD, 0 }, { id, NO_FD, 0 }, { -1, SHM, 0 }

static void test_broken_handshakes(void **state)
{
	struct fake *f = *state;
	struct ivshmem *h;
	int fds = count_fds();

	assert_int_equal(open_with(f, STEPS({ 1, NO_FD, 0 }), &h), -EPROTO);
	assert_int_equal(open_with(f, STEPS({ 0, EVENTFD, 0 }), &h), -EPROTO);
	assert_int_equal(open_with(f, STEPS({ 0, NO_FD, 0 }, { 3, EVENTFD, 0 }),
				   &h), -EPROTO);
	/* the shared memory must come third */
	assert_int_equal(open_with(f, STEPS({ 0, NO_FD, 0 }, { 3, NO_FD, 0 },
					    { 1, EVENTFD, 0 }), &h), -EPROTO);
	assert_int_equal(open_with(f, STEPS({ 0, NO_FD, 0 }, { 3, NO_FD, 0 },
					    { -1, NO_FD, 0 }), &h), -EPROTO);
	/* closed half-way */
	assert_int_equal(open_with(f, STEPS({ 0, NO_FD, 0 }, { 3, NO_FD, 0 },
					    CLOSE), &h), -ECONNRESET);
	assert_int_equal(count_fds(), fds);
}

/* A server that goes silent before the shared memory: 5 s, not forever. */
static void test_silent_server(void **state)
{
	struct fake *f = *state;
	struct ivshmem *h;

	assert_int_equal(open_with(f, STEPS({ 0, NO_FD, 0 }, { 3, NO_FD, 0 }),
				   &h), -ETIMEDOUT);
}

static bool is_lost(struct ivshmem *h, void *arg)
{
	return record_has_server(arg, IVSHMEM_SERVER_LOST);
}

static bool joined_count(struct ivshmem *h, void *arg)
{
	struct record *r = arg;

	return r->joined_count >= r->want;
}

/* Peers join once all their vectors are there; a departure of an unknown
 * peer is ignored; one of a peer still arriving is not reported. */
static void test_join_rules(void **state)
{
	struct fake *f = *state;
	struct ivshmem *h;
	struct record r;
	uint16_t ids[8];

	assert_int_equal(open_with(f, STEPS(HELLO(2),
		{ 0, EVENTFD, 0 }, { 0, EVENTFD, 0 },
		{ 1, EVENTFD, 0 }, { 1, EVENTFD, 0 },
		{ 2, EVENTFD, 0 }, { 2, EVENTFD, 0 },
		/* later: a peer joins in two parts, another leaves early */
		{ 5, EVENTFD, 30 }, { 5, EVENTFD, 30 },
		{ 9, NO_FD, 0 },
		{ 6, EVENTFD, 0 }, { 6, NO_FD, 0 },
		{ 1, NO_FD, 0 },
		{ 7, EVENTFD, 0 }, { 7, EVENTFD, 0 }, { 7, EVENTFD, 0 },
		{ 8, EVENTFD, 0 }, { 8, EVENTFD, 0 }), &h), 0);
	record_on(h, &r);
	assert_int_equal(ivshmem_own_id(h), 2);
	assert_int_equal(ivshmem_size(h), 4096);
	assert_true(wait_synced(h, &r));
	assert_int_equal(r.joined_count, 2);
	assert_int_equal(r.joined[0], 0);
	assert_int_equal(r.joined[1], 1);
	assert_int_equal(ivshmem_vectors(h, 2), 2);
	assert_int_equal(ivshmem_vectors(h, 1), 2);

	/* peer 5: its first vector alone is not a join */
	r.want = 3;
	assert_true(dispatch_until(h, joined_count, &r, 5000));
	assert_int_equal(r.joined[2], 5);
	assert_int_equal(ivshmem_vectors(h, 5), 2);

	/* 9 is unknown, 6 never joined: 1 is the only departure */
	r.want = 5;
	assert_true(dispatch_until(h, joined_count, &r, 5000));
	assert_int_equal(r.left_count, 1);
	assert_int_equal(r.left[0], 1);
	assert_int_equal(r.joined[3], 7);
	assert_int_equal(r.joined[4], 8);
	/* 7 sent more vectors than a peer has: it keeps them */
	assert_int_equal(ivshmem_vectors(h, 7), 3);
	assert_int_equal(ivshmem_peers(h, ids, 8), 4);
	assert_int_equal(ids[0], 0);
	assert_int_equal(ids[1], 5);
	assert_int_equal(ids[2], 7);
	assert_int_equal(ids[3], 8);
	assert_int_equal(ivshmem_notify(h, 6, 0), -ENOENT);
	ivshmem_close(h);
	reap(f);
}

/* The server saying that we left, or sending a second shared memory,
 * ends the connection like its loss. */
static void test_violations_after_setup(void **state)
{
	struct fake *f = *state;
	struct ivshmem *h;
	struct record r;
	int fds = count_fds();

	assert_int_equal(open_with(f, STEPS(HELLO(4), { 4, EVENTFD, 0 },
					    { 4, NO_FD, 10 }), &h), 0);
	record_on(h, &r);
	assert_true(dispatch_until(h, is_lost, &r, 5000));
	assert_int_equal(ivshmem_own_id(h), -ENOTCONN);
	ivshmem_close(h);
	reap(f);

	assert_int_equal(open_with(f, STEPS(HELLO(4), { 0, EVENTFD, 0 },
					    { -1, SHM, 0 }), &h), 0);
	record_on(h, &r);
	assert_true(dispatch_until(h, is_lost, &r, 5000));
	assert_false(record_joined(&r, 0));
	ivshmem_close(h);
	reap(f);
	assert_int_equal(count_fds(), fds);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_broken_handshakes, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_silent_server, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_join_rules, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_violations_after_setup,
						setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
