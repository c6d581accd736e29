/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The doorbell backend against the real ivshmem-server: handshake, peers,
 * every vector, departures, server loss and reconnection, fd hygiene
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"

#define MANY 40

static int setup(void **state)
{
	static struct server s;

	server_init(&s, 1);
	*state = &s;
	return 0;
}

static int teardown(void **state)
{
	server_cleanup(*state);
	return 0;
}

static struct ivshmem *open_synced(struct server *s, struct record *r,
				   unsigned flags)
{
	struct ivshmem *h;

	assert_int_equal(ivshmem_open_doorbell(&h, s->socket, flags), 0);
	record_on(h, r);
	assert_true(wait_synced(h, r));
	return h;
}

static void test_open_errors(void **state)
{
	struct server *s = *state;
	struct ivshmem *h = (struct ivshmem *)&h;
	char path[200];
	int fds = count_fds();
	int listener, r;
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	pid_t pid;

	assert_int_equal(ivshmem_open_doorbell(&h, s->socket, 0), -ENOENT);
	assert_null(h);
	assert_int_equal(ivshmem_open_doorbell(NULL, s->socket, 0), -EINVAL);
	assert_int_equal(ivshmem_open_doorbell(&h, NULL, 0), -EINVAL);
	assert_int_equal(ivshmem_open_doorbell(&h, s->socket, 0x80), -EINVAL);
	memset(path, 'x', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	assert_int_equal(ivshmem_open_doorbell(&h, path, 0), -ENAMETOOLONG);

	/* something listens, but closes the connection without a word */
	listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", s->socket);
	assert_int_equal(bind(listener, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(listener, 4), 0);
	pid = fork();
	if (pid == 0) {
		int c = accept(listener, NULL, NULL);

		close(c);
		_exit(0);
	}
	r = ivshmem_open_doorbell(&h, s->socket, 0);
	assert_int_equal(r, -ECONNRESET);
	waitpid(pid, NULL, 0);
	close(listener);
	unlink(s->socket);
	assert_int_equal(count_fds(), fds);
}

static void test_handshake_and_sync(void **state)
{
	struct server *s = *state;
	struct record ra, rb;
	struct ivshmem *a, *b;
	uint16_t ids[4];
	int fds = count_fds();

	s->vectors = 3;
	server_start(s);
	a = open_synced(s, &ra, 0);
	assert_int_equal(ivshmem_own_id(a), 0);
	assert_int_equal(ivshmem_size(a), 4 << 20);
	assert_non_null(ivshmem_memory(a));
	assert_int_equal(ivshmem_vectors(a, 0), 3);
	assert_int_equal(ivshmem_peers(a, ids, 4), 0);

	b = open_synced(s, &rb, 0);
	assert_int_equal(ivshmem_own_id(b), 1);
	assert_int_equal(rb.joined_count, 1);
	assert_int_equal(rb.joined[0], 0);
	assert_int_equal(ivshmem_peers(b, ids, 4), 1);
	assert_int_equal(ids[0], 0);
	assert_int_equal(ivshmem_vectors(b, 0), 3);
	assert_int_equal(ivshmem_vectors(b, 7), -ENOENT);
	assert_int_equal(ivshmem_vectors(b, 70000), -EINVAL);
	assert_true(ivshmem_eventfd(b, 0, 2) >= 0);
	assert_int_equal(ivshmem_eventfd(b, 0, 3), -EINVAL);

	/* a hears of b once, with all of its vectors */
	while (ra.joined_count == 0)
		assert_true(ivshmem_dispatch(a, 5000) > 0);
	assert_int_equal(ra.joined[0], 1);
	assert_int_equal(ivshmem_vectors(a, 1), 3);

	/* the memory is shared */
	assert_int_equal(ivshmem_write(a, 100, "shared", 6), 0);
	assert_memory_equal((char *)ivshmem_memory(b) + 100, "shared", 6);

	ivshmem_close(a);
	ivshmem_close(b);
	server_stop(s, SIGTERM);
	assert_int_equal(count_fds(), fds);
}

struct all_args {
	struct record *records;
	int n;
	uint64_t want;
	int vectors;
};

static bool all_interrupted(void *arg)
{
	struct all_args *a = arg;

	for (int i = 0; i < a->n; i++)
		for (int v = 0; v < a->vectors; v++)
			if (a->records[i].interrupts[v] < a->want)
				return false;
	return true;
}

static bool all_joined(void *arg)
{
	struct all_args *a = arg;

	for (int i = 0; i < a->n; i++)
		if (a->records[i].joined_count < a->n - 1)
			return false;
	return true;
}

/* Every peer interrupts every other on every vector, and each interrupt
 * arrives on the right vector, with counts that add up. */
static void test_every_vector(void **state)
{
	struct server *s = *state;
	static struct record r[8];
	struct ivshmem *h[8];
	struct all_args args = { r, 8, 7, 4 };
	int fds = count_fds();

	s->vectors = 4;
	server_start(s);
	for (int i = 0; i < 8; i++)
		h[i] = open_synced(s, &r[i], 0);
	assert_true(dispatch_all_until(h, 8, all_joined, &args, 5000));
	for (int i = 0; i < 8; i++)
		for (int j = 0; j < 8; j++)
			for (int v = 0; v < 4 && i != j; v++)
				assert_int_equal(ivshmem_notify(h[i], j, v), 0);
	assert_true(dispatch_all_until(h, 8, all_interrupted, &args, 5000));
	for (int i = 0; i < 8; i++)
		for (int v = 0; v < 4; v++)
			assert_int_equal(r[i].interrupts[v], 7);
	for (int i = 0; i < 8; i++)
		ivshmem_close(h[i]);
	server_stop(s, SIGTERM);
	assert_int_equal(count_fds(), fds);
}

static void only_vector_2(struct ivshmem *h, int vector, uint64_t count,
			  void *data)
{
	assert_int_equal(vector, 2);
	*(uint64_t *)data += count;
}

static bool got_two(struct ivshmem *h, void *arg)
{
	struct record *r = arg;

	return r->interrupts[1] >= 3 && r->interrupts[3] >= 1;
}

/* A handler of one vector, the catch-all for the others, coalescing,
 * notifying ourselves, and ivshmem_wait(). */
static void test_handlers_and_wait(void **state)
{
	struct server *s = *state;
	struct record r;
	struct ivshmem *h;
	uint64_t two = 0;
	struct pollfd pfd;
	int self;

	s->vectors = 4;
	server_start(s);
	h = open_synced(s, &r, 0);
	self = ivshmem_own_id(h);
	assert_int_equal(ivshmem_on_interrupt(h, 2, only_vector_2, &two), 0);
	assert_int_equal(ivshmem_on_interrupt(h, 4096, only_vector_2, &two),
			 -EINVAL);
	assert_int_equal(ivshmem_on_interrupt(h, -2, only_vector_2, &two),
			 -EINVAL);

	/* kicks before a dispatch coalesce into one call with their count */
	for (int i = 0; i < 3; i++)
		assert_int_equal(ivshmem_notify(h, self, 1), 0);
	assert_int_equal(ivshmem_notify(h, self, 2), 0);
	assert_int_equal(ivshmem_notify(h, self, 3), 0);
	pfd = (struct pollfd){ .fd = ivshmem_get_fd(h), .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, 5000), 1);
	assert_true(dispatch_until(h, got_two, &r, 5000));
	assert_int_equal(r.interrupts[1], 3);
	assert_int_equal(r.interrupts[3], 1);
	assert_int_equal(r.interrupts[2], 0); /* went to its own handler */
	assert_int_equal(two, 1);
	assert_int_equal(ivshmem_notify(h, self, 4), -EINVAL);
	assert_int_equal(ivshmem_notify(h, 1234, 0), -ENOENT);
	assert_int_equal(ivshmem_notify(h, self, -1), -EINVAL);
	assert_int_equal(ivshmem_notify(h, 65536, 0), -EINVAL);

	/* wait: counts, timeouts, vectors we do not have */
	assert_int_equal(ivshmem_wait(h, 0, 30), -ETIMEDOUT);
	assert_int_equal(ivshmem_notify(h, self, 0), 0);
	assert_int_equal(ivshmem_notify(h, self, 0), 0);
	assert_int_equal(ivshmem_wait(h, 0, 5000), 2);
	assert_int_equal(ivshmem_wait(h, 4, 5000), -EINVAL);
	assert_int_equal(ivshmem_wait(h, IVSHMEM_VECTORS_MAX, 0), -EINVAL);
	assert_int_equal(ivshmem_wait(NULL, 0, 0), -EINVAL);
	assert_int_equal(ivshmem_dispatch(NULL, 0), -EINVAL);
	assert_int_equal(ivshmem_dispatch(h, 0), 0);
	ivshmem_close(h);
	server_stop(s, SIGTERM);
}

static bool joined_many(void *arg)
{
	struct record *r = arg;

	for (int i = 0; i < MANY; i++)
		if (r[i].joined_count < MANY - 1)
			return false;
	return true;
}

static bool left_one(void *arg)
{
	struct record *r = arg;

	for (int i = 1; i < MANY; i++)
		if (r[i].left_count < 1)
			return false;
	return true;
}

/* Many peers join; one leaves and everyone hears exactly that. */
static void test_many_peers_and_departures(void **state)
{
	struct server *s = *state;
	static struct record r[MANY];
	struct ivshmem *h[MANY];
	uint16_t ids[MANY];
	int fds = count_fds();

	s->vectors = 1;
	server_start(s);
	for (int i = 0; i < MANY; i++)
		h[i] = open_synced(s, &r[i], 0);
	assert_true(dispatch_all_until(h, MANY, joined_many, r, 10000));
	for (int i = 0; i < MANY; i++) {
		assert_int_equal(ivshmem_peers(h[i], ids, MANY), MANY - 1);
		assert_int_equal(r[i].joined_count, MANY - 1);
		assert_false(record_joined(&r[i], i));
	}
	assert_int_equal(ivshmem_peers(h[1], ids, 2), MANY - 1);
	assert_int_equal(ivshmem_peers(h[1], NULL, 0), MANY - 1);
	assert_int_equal(ivshmem_peers(h[1], NULL, 1), -EINVAL);

	ivshmem_close(h[0]);
	h[0] = NULL;
	assert_true(dispatch_all_until(h, MANY, left_one, r, 10000));
	for (int i = 1; i < MANY; i++) {
		assert_int_equal(r[i].left_count, 1);
		assert_int_equal(r[i].left[0], 0);
		assert_int_equal(ivshmem_peers(h[i], ids, MANY), MANY - 2);
		assert_int_equal(ivshmem_notify(h[i], 0, 0), -ENOENT);
	}
	for (int i = 1; i < MANY; i++)
		ivshmem_close(h[i]);
	server_stop(s, SIGTERM);
	assert_int_equal(count_fds(), fds);
}

static bool got_event(struct ivshmem *h, void *arg)
{
	struct record *r = arg;

	return record_has_server(r, (enum ivshmem_server_event)r->want);
}

static void wait_server_event(struct ivshmem *h, struct record *r,
			      enum ivshmem_server_event e)
{
	r->want = (int)e;
	assert_true(dispatch_until(h, got_event, r, 10000));
}

/* The server goes: every peer leaves, and the caller is told. Without
 * IVSHMEM_RECONNECT that is final; with it, a restarted server (another
 * memfd) is reconnected to and the memory change reported. */
static void test_server_loss_and_reconnect(void **state)
{
	struct server *s = *state;
	struct record ra, rb;
	struct ivshmem *a, *b;
	uint16_t ids[4];
	void *old;
	int fds = count_fds();

	s->vectors = 2;
	server_start(s);
	a = open_synced(s, &ra, IVSHMEM_RECONNECT);
	b = open_synced(s, &rb, 0);
	wait_server_event(a, &ra, IVSHMEM_SERVER_SYNCED);
	while (ra.joined_count == 0)
		assert_true(ivshmem_dispatch(a, 5000) > 0);

	server_stop(s, SIGKILL);
	wait_server_event(b, &rb, IVSHMEM_SERVER_LOST);
	assert_true(record_left(&rb, 0));
	assert_int_equal(ivshmem_own_id(b), -ENOTCONN);
	assert_int_equal(ivshmem_notify(b, 0, 0), -ENOTCONN);
	assert_int_equal(ivshmem_wait(b, 0, 1000), -ENOTCONN);
	assert_int_equal(ivshmem_peers(b, ids, 4), 0);
	assert_int_equal(ivshmem_write(b, 0, "still", 5), 0); /* mapped */
	ivshmem_close(b);

	wait_server_event(a, &ra, IVSHMEM_SERVER_LOST);
	assert_true(record_left(&ra, 1));
	assert_int_equal(ivshmem_peers(a, ids, 4), 0);
	assert_int_equal(ivshmem_remap(a), -EALREADY);

	old = ivshmem_memory(a);
	server_start(s);
	wait_server_event(a, &ra, IVSHMEM_SERVER_MEMORY_CHANGED);
	assert_false(record_has_server(&ra, IVSHMEM_SERVER_RECONNECTED));
	assert_int_equal(ivshmem_own_id(a), 0);
	assert_ptr_equal(ivshmem_memory(a), old);
	assert_int_equal(ivshmem_remap(a), 0);
	assert_int_equal(ivshmem_remap(a), -EALREADY);
	assert_int_equal(ivshmem_size(a), 4 << 20);
	ra.server_count = 0;
	wait_server_event(a, &ra, IVSHMEM_SERVER_SYNCED);
	assert_int_equal(ivshmem_vectors(a, 0), 2);

	/* and it works again: a new peer sees the same memory */
	b = open_synced(s, &rb, 0);
	assert_int_equal(ivshmem_store32(a, 64, 0xfeed), 0);
	assert_int_equal(*(uint32_t *)((char *)ivshmem_memory(b) + 64), 0xfeed);
	assert_int_equal(ivshmem_notify(b, 0, 1), 0);
	assert_int_equal(ivshmem_wait(a, 1, 5000), 1);
	ivshmem_close(b);
	ivshmem_close(a);
	server_stop(s, SIGTERM);
	assert_int_equal(count_fds(), fds);
}

/* A server on a POSIX object it did not create keeps it across restarts:
 * the reconnection reports the same memory. */
static void test_reconnect_same_memory(void **state)
{
	struct server *s = *state;
	struct record r;
	struct ivshmem *plain, *h;
	char path[128];
	int fds = count_fds();

	snprintf(s->shm_name, sizeof(s->shm_name), "ivshmem-ctest-%d",
		 (int)getpid());
	snprintf(path, sizeof(path), "/dev/shm/%s", s->shm_name);
	assert_int_equal(ivshmem_open_plain(&plain, path, 4 << 20,
					    IVSHMEM_CREATE), 0);
	assert_int_equal(ivshmem_write(plain, 0, "marker", 6), 0);
	s->vectors = 1;
	server_start(s);
	h = open_synced(s, &r, IVSHMEM_RECONNECT);
	assert_memory_equal(ivshmem_memory(h), "marker", 6);
	server_stop(s, SIGTERM);
	wait_server_event(h, &r, IVSHMEM_SERVER_LOST);
	server_start(s);
	wait_server_event(h, &r, IVSHMEM_SERVER_RECONNECTED);
	assert_false(record_has_server(&r, IVSHMEM_SERVER_MEMORY_CHANGED));
	assert_int_equal(ivshmem_remap(h), -EALREADY);
	assert_int_equal(ivshmem_write(plain, 0, "again!", 6), 0);
	assert_memory_equal(ivshmem_memory(h), "again!", 6);
	ivshmem_close(h);
	ivshmem_close(plain);
	server_stop(s, SIGTERM);
	s->shm_name[0] = '\0';
	unlink(path);
	assert_int_equal(count_fds(), fds);
}

static void close_from_handler(struct ivshmem *h, int vector, uint64_t count,
			       void *data)
{
	*(int *)data = ivshmem_wait(h, 0, 0); /* not from a handler */
	ivshmem_close(h);
}

static void test_close_from_handler(void **state)
{
	struct server *s = *state;
	struct ivshmem *h;
	int fds = count_fds(), nested = 0;

	s->vectors = 1;
	server_start(s);
	assert_int_equal(ivshmem_open_doorbell(&h, s->socket, 0), 0);
	ivshmem_on_interrupt(h, 0, close_from_handler, &nested);
	while (ivshmem_vectors(h, ivshmem_own_id(h)) < 1)
		assert_true(ivshmem_dispatch(h, 5000) >= 0);
	assert_int_equal(ivshmem_notify(h, ivshmem_own_id(h), 0), 0);
	assert_int_equal(ivshmem_dispatch(h, 5000), 1); /* and h is gone */
	assert_int_equal(nested, -EBUSY);
	server_stop(s, SIGTERM);
	assert_int_equal(count_fds(), fds);
}

#define ROUNDS 200000

/* Two processes increment shared counters; none of it is lost. */
static void test_atomics_two_processes(void **state)
{
	struct server *s = *state;
	struct ivshmem *h;
	pid_t pid[2];
	uint32_t v32;
	uint64_t v64, pair[2];
	int status;

	s->vectors = 1;
	server_start(s);
	assert_int_equal(ivshmem_open_doorbell(&h, s->socket, 0), 0);
	for (int i = 0; i < 2; i++) {
		pid[i] = fork();
		assert_true(pid[i] >= 0);
		if (pid[i] == 0) {
			struct ivshmem *c;
			uint64_t expect = 0, old[2] = { 0, 0 }, next[2];

			if (ivshmem_open_doorbell(&c, s->socket, 0) < 0)
				_exit(1);
			for (int n = 0; n < ROUNDS; n++) {
				ivshmem_fetch_add32(c, 0, 1, NULL);
				expect = 0;
				ivshmem_load64(c, 8, &expect);
				while (ivshmem_cas64(c, 8, &expect, expect + 1)
				       == 0)
					;
				do {
					next[0] = old[0] + 1;
					next[1] = old[1] + 2;
				} while (ivshmem_cas128(c, 16, old, next) == 0);
			}
			ivshmem_close(c);
			_exit(0);
		}
	}
	for (int i = 0; i < 2; i++) {
		assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	assert_int_equal(ivshmem_load32(h, 0, &v32), 0);
	assert_int_equal(v32, 2 * ROUNDS);
	assert_int_equal(ivshmem_load64(h, 8, &v64), 0);
	assert_int_equal(v64, 2 * ROUNDS);
	assert_int_equal(ivshmem_read(h, 16, pair, 16), 0);
	assert_int_equal(pair[0], 2 * ROUNDS);
	assert_int_equal(pair[1], 4 * ROUNDS);
	ivshmem_close(h);
	server_stop(s, SIGTERM);
}

int main(void)
{
	struct rlimit rl;
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_handshake_and_sync, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_every_vector, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_handlers_and_wait, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_many_peers_and_departures,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_loss_and_reconnect,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnect_same_memory,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_from_handler, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_atomics_two_processes,
						setup, teardown),
	};

	/* MANY peers hold MANY eventfds each */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
