/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * Unit tests of what an upgrade hands over and what survives a crash: the
 * state blob (round trip, and every damaged blob refused), the checks
 * server_restore() makes, and the ledger
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
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
#include <unistd.h>

#include <cmocka.h>

#include "handover.h"
#include "ledger.h"
#include "loop.h"
#include "outq.h"
#include "protocol.h"
#include "server.h"

#define VECTORS 2
#define IDS 8

struct fixture {
	struct handover h;
	struct ledger ledger;
	int peer_ends[2];        /* the clients' ends of the sockets */
	struct server_peer peers[2];
	int vectors[2][VECTORS];
	struct server_msg queue[3];
};

static int count_open_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

static int listening_socket(void)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	/* abstract, unique to this process */
	snprintf(sun.sun_path + 1, sizeof(sun.sun_path) - 1,
		 "ivshmem-test-handover-%d", (int)getpid());
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	assert_int_equal(listen(fd, 4), 0);
	return fd;
}

static void make(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	assert_int_equal(ledger_create(&f->ledger, VECTORS, IDS), 0);
	f->h = (struct handover){
		.vectors = VECTORS, .id_count = IDS,
		.listen_fd = listening_socket(),
		.socket_path = "/run/test.sock", .listen_dev = 7,
		.listen_ino = 8,
		.shm_fd = memfd_create("test-shm", MFD_CLOEXEC),
		.shm_size = 4096, .shm_name = "test-shm",
		.ledger_fd = f->ledger.fd, .stored = 11,
		.server = { .next_id = 5, .stats = { .joins = 5,
						     .messages = 42 },
			    .peer_count = 2, .peers = f->peers },
	};
	assert_int_equal(ftruncate(f->h.shm_fd, 4096), 0);
	for (int i = 0; i < 2; i++) {
		int sv[2];

		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC,
					    0, sv), 0);
		f->peer_ends[i] = sv[1];
		for (int v = 0; v < VECTORS; v++)
			f->vectors[i][v] = eventfd(0, EFD_CLOEXEC);
		f->peers[i] = (struct server_peer){
			.id = 3 + i, .sock = sv[0], .pid = 100 + i,
			.uid = 1000, .gid = 1000,
			.join = ledger_join(&f->ledger, 3 + i),
			.slack = 9, .stored = true, .vectors = f->vectors[i],
		};
	}
	/* 4 has not had all of its join yet, nor 3's eventfds */
	f->queue[0] = (struct server_msg){ PROTO_SHM_ID, SERVER_SHM_FD, 2, 2 };
	f->queue[1] = (struct server_msg){ 3, f->vectors[0][0], 2, 3 };
	f->queue[2] = (struct server_msg){ 3, f->vectors[0][1], 2, 4 };
	f->peers[1].queue = f->queue;
	f->peers[1].queue_len = 3;
}

static void close_all(struct fixture *f)
{
	close(f->h.listen_fd);
	close(f->h.shm_fd);
	for (int i = 0; i < 2; i++) {
		close(f->peers[i].sock);
		close(f->peer_ends[i]);
		for (int v = 0; v < VECTORS; v++)
			close(f->vectors[i][v]);
	}
	ledger_close(&f->ledger);
}

/* A copy of the blob in @fd, with @len bytes of it and byte @flip (if not
 * negative) inverted. */
static int damaged(int fd, size_t len, long flip)
{
	uint8_t *buf = malloc(len + 1);
	int copy = memfd_create("damaged", MFD_CLOEXEC);

	assert_int_equal(pread(fd, buf, len, 0), (ssize_t)len);
	if (flip >= 0)
		buf[flip] ^= 0xff;
	assert_int_equal(write(copy, buf, len), (ssize_t)len);
	free(buf);
	return copy;
}

static void test_round_trip(void **state)
{
	struct fixture f;
	struct handover h;
	char err[256];
	int blob;

	make(&f);
	blob = handover_write(&f.h, HANDOVER_VERSION);
	assert_true(blob >= 0);
	assert_int_equal(handover_read(&h, blob, err, sizeof(err)), 0);
	assert_int_equal(h.vectors, VECTORS);
	assert_int_equal(h.id_count, IDS);
	assert_int_equal(h.listen_fd, f.h.listen_fd);
	assert_false(h.listen_inherited);
	assert_int_equal(h.listen_ino, 8);
	assert_string_equal(h.socket_path, "/run/test.sock");
	assert_int_equal(h.shm_fd, f.h.shm_fd);
	assert_string_equal(h.shm_name, "test-shm");
	assert_int_equal(h.ledger_fd, f.ledger.fd);
	assert_int_equal(h.stored, 11);
	assert_int_equal(h.server.next_id, 5);
	assert_int_equal(h.server.stats.messages, 42);
	assert_int_equal(h.server.peer_count, 2);
	for (int i = 0; i < 2; i++) {
		const struct server_peer *p = &h.server.peers[i];

		assert_int_equal(p->id, 3 + i);
		assert_int_equal(p->sock, f.peers[i].sock);
		assert_int_equal(p->pid, 100 + i);
		assert_int_equal(p->join, f.peers[i].join);
		assert_int_equal(p->slack, 9);
		assert_true(p->stored);
		assert_memory_equal(p->vectors, f.vectors[i],
				    sizeof(f.vectors[i]));
	}
	assert_int_equal(h.server.peers[0].queue_len, 0);
	assert_int_equal(h.server.peers[1].queue_len, 3);
	assert_memory_equal(h.server.peers[1].queue, f.queue, sizeof(f.queue));
	handover_deinit(&h);
	close(blob);
	close_all(&f);
}

/* A socket from systemd has no path to remove, --memfd no name. */
static void test_round_trip_without_names(void **state)
{
	struct fixture f;
	struct handover h;
	char err[256];
	int blob;

	make(&f);
	f.h.socket_path = NULL;
	f.h.shm_name = NULL;
	f.h.listen_inherited = true;
	blob = handover_write(&f.h, HANDOVER_VERSION);
	assert_true(blob >= 0);
	assert_int_equal(handover_read(&h, blob, err, sizeof(err)), 0);
	assert_null(h.socket_path);
	assert_null(h.shm_name);
	assert_true(h.listen_inherited);
	handover_deinit(&h);
	close(blob);
	close_all(&f);
}

/* Every prefix, every damaged byte, another version: refused with a
 * reason, never half read. */
static void test_damaged_blobs_are_refused(void **state)
{
	struct fixture f;
	struct handover h;
	char err[256];
	off_t size;
	int blob;

	make(&f);
	blob = handover_write(&f.h, HANDOVER_VERSION);
	size = lseek(blob, 0, SEEK_END);
	assert_true(size > 100);
	for (off_t len = 0; len < size; len++) {
		int copy = damaged(blob, (size_t)len, -1);

		err[0] = '\0';
		assert_int_equal(handover_read(&h, copy, err, sizeof(err)),
				 -EINVAL);
		assert_non_null(strstr(err, len < 32 ? "truncated" : "state"));
		handover_deinit(&h);
		close(copy);
	}
	for (off_t at = 0; at < size; at++) {
		int copy = damaged(blob, (size_t)size, (long)at);

		assert_int_equal(handover_read(&h, copy, err, sizeof(err)),
				 -EINVAL);
		handover_deinit(&h);
		close(copy);
	}
	close(blob);

	blob = handover_write(&f.h, HANDOVER_VERSION + 1);
	assert_int_equal(handover_read(&h, blob, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "state version 2, this server reads version 1");
	handover_deinit(&h);
	close(blob);
	close_all(&f);
}

static void test_fds_must_be_what_the_blob_says(void **state)
{
	struct fixture f;
	struct handover h;
	char err[256];
	int blob, ledger;

	make(&f);
	/* the ledger's number names a socket now */
	ledger = f.h.ledger_fd;
	f.h.ledger_fd = f.peer_ends[0];
	blob = handover_write(&f.h, HANDOVER_VERSION);
	assert_int_equal(handover_read(&h, blob, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "is not the ledger"));
	handover_deinit(&h);
	close(blob);
	f.h.ledger_fd = ledger;
	/* a connection where the listening socket should be */
	close(f.h.listen_fd);
	f.h.listen_fd = dup(f.peers[0].sock);
	blob = handover_write(&f.h, HANDOVER_VERSION);
	assert_int_equal(handover_read(&h, blob, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not a listening stream socket"));
	handover_deinit(&h);
	close(blob);
	close_all(&f);
}

static struct server_config config(struct fixture *f)
{
	return (struct server_config){
		.vectors = VECTORS, .id_count = IDS, .max_queue = 100,
		.max_peers = IDS, .ledger = &f->ledger,
	};
}

/* A restored server saves the same state; its fds are its own. */
static void test_restore_then_save(void **state)
{
	struct server_config cfg;
	struct server_state st;
	struct fixture f;
	struct server *s;
	struct loop *loop;
	char err[256];

	make(&f);
	cfg = config(&f);
	assert_int_equal(loop_new(&loop), 0);
	assert_int_equal(server_restore(&s, loop, f.h.listen_fd, f.h.shm_fd,
					&cfg, &f.h.server, err, sizeof(err)),
			 0);
	assert_int_equal(server_save(s, &st), 0);
	assert_int_equal(st.next_id, 5);
	assert_int_equal(st.peer_count, 2);
	assert_int_equal(st.peers[1].queue_len, 3);
	assert_memory_equal(st.peers[1].queue, f.queue, sizeof(f.queue));
	assert_int_equal(st.peers[0].sock, f.peers[0].sock);
	server_state_deinit(&st);
	server_free(s); /* closes the peers' fds */
	loop_free(loop);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(fcntl(f.peers[i].sock, F_GETFD), -1);
		close(f.peer_ends[i]);
	}
	close(f.h.listen_fd);
	close(f.h.shm_fd);
	ledger_close(&f.ledger);
}

/* Anything wrong: refused with a reason, and every fd of the state is
 * closed (and only those). */
static void check_refused(struct fixture *f, const char *why)
{
	struct server_config cfg = config(f);
	struct server *s = (struct server *)1;
	struct loop *loop;
	char err[256];
	int before;

	assert_int_equal(loop_new(&loop), 0);
	before = count_open_fds();
	assert_int_equal(server_restore(&s, loop, f->h.listen_fd, f->h.shm_fd,
					&cfg, &f->h.server, err, sizeof(err)),
			 -EINVAL);
	assert_null(s);
	assert_non_null(strstr(err, why));
	assert_int_equal(count_open_fds(), before - 2 - 2 * VECTORS);
	assert_true(fcntl(f->h.listen_fd, F_GETFD) >= 0);
	assert_true(fcntl(f->h.shm_fd, F_GETFD) >= 0);
	loop_free(loop);
	close(f->h.listen_fd);
	close(f->h.shm_fd);
	close(f->peer_ends[0]);
	close(f->peer_ends[1]);
	ledger_close(&f->ledger);
}

static void test_restore_refuses_what_does_not_add_up(void **state)
{
	struct fixture f;
	int fd;

	make(&f);
	fd = f.vectors[1][1]; /* a socket where an eventfd should be */
	f.vectors[1][1] = f.peer_ends[1];
	f.peer_ends[1] = fd;
	check_refused(&f, "is not an eventfd of its own");

	make(&f);
	f.peers[1].id = 3;
	check_refused(&f, "peer id 3 twice");

	make(&f);
	f.peers[0].join = 77;
	check_refused(&f, "its join is not in the ledger");

	make(&f);
	f.queue[1].fd = f.peers[0].sock;
	check_refused(&f, "queued message 1 is not one this server sends");

	make(&f);
	f.queue[0].fd = -1; /* the memory without the memory */
	check_refused(&f, "queued message 0");

	make(&f);
	f.h.server.next_id = IDS;
	check_refused(&f, "id counter 8 out of range");
}

static void test_ledger_ring_keeps_the_newest_departures(void **state)
{
	struct ledger l;
	uint64_t last = 0;

	assert_int_equal(ledger_create(&l, 1, 4), 0);
	for (int i = 0; i < LEDGER_RING + 10; i++) {
		uint64_t join = ledger_join(&l, i % 4);

		last = ledger_leave(&l, i % 4);
		assert_int_equal(last, join + 1);
	}
	assert_int_equal(ledger_departure_count(&l), LEDGER_RING - 1);
	assert_int_equal(ledger_departure(&l, LEDGER_RING - 2)->leave, last);
	/* the oldest trusted departure came right after the newest
	 * forgotten one */
	assert_int_equal(ledger_departure(&l, 0)->leave,
			 l.hdr->forgotten + 2);
	assert_int_equal(l.hdr->events, last);
	for (int id = 0; id < 4; id++)
		assert_int_equal(l.slots[id].join, 0);
	/* a new group forgets everything */
	ledger_reset(&l);
	assert_int_equal(l.hdr->events, 0);
	assert_int_equal(ledger_departure_count(&l), 0);
	ledger_close(&l);
}

/* A process killed between the two stores of a mark: the reader still
 * gets the exact position. */
static void test_mark_survives_a_kill_between_its_stores(void **state)
{
	struct outq_mark m = { 0 };
	uint64_t event;
	uint32_t next;

	outq_mark_set(&m, 41, 7);
	outq_mark_read(&m, &event, &next);
	assert_int_equal(event, 41);
	assert_int_equal(next, 7);
	/* the new tag written, not the event */
	m.tag = (uint64_t)45 << 32 | 1;
	outq_mark_read(&m, &event, &next);
	assert_int_equal(event, 45);
	assert_int_equal(next, 1);
	/* across a 2^32 boundary of the low bits */
	outq_mark_set(&m, 0xffffffffull, 3);
	m.tag = (uint64_t)2 << 32 | 1;
	outq_mark_read(&m, &event, &next);
	assert_int_equal(event, 0x100000002ull);
	assert_int_equal(next, 1);
}

static void test_ledger_refuses_what_is_not_one(void **state)
{
	struct ledger l, other;
	char err[128];
	int fd;

	assert_int_equal(ledger_create(&l, 3, 16), 0);
	fd = dup(l.fd);
	assert_int_equal(ledger_open(&other, fd, err, sizeof(err)), 0);
	assert_int_equal(other.hdr->vectors, 3);
	ledger_close(&other);
	l.hdr->version = 9;
	assert_int_equal(ledger_open(&other, dup(l.fd), err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "ledger version 9, this server reads version 2");
	l.hdr->version = LEDGER_VERSION;
	l.hdr->next_id = 16;
	assert_int_equal(ledger_open(&other, dup(l.fd), err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "corrupt ledger header");
	fd = memfd_create("empty", MFD_CLOEXEC);
	assert_int_equal(ledger_open(&other, fd, err, sizeof(err)), -EINVAL);
	ledger_close(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_round_trip_without_names),
		cmocka_unit_test(test_damaged_blobs_are_refused),
		cmocka_unit_test(test_fds_must_be_what_the_blob_says),
		cmocka_unit_test(test_restore_then_save),
		cmocka_unit_test(test_restore_refuses_what_does_not_add_up),
		cmocka_unit_test(test_ledger_ring_keeps_the_newest_departures),
		cmocka_unit_test(test_mark_survives_a_kill_between_its_stores),
		cmocka_unit_test(test_ledger_refuses_what_is_not_one),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
