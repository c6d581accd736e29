/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * Unit tests of the protocol module, over real socket pairs
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "protocol.h"
#include "send-fds.h"

struct pair {
	int tx, rx;
	struct proto_decoder d;
};

static int setup(void **state)
{
	static struct pair p;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
		return -1;
	p.tx = sv[0];
	p.rx = sv[1];
	proto_decoder_init(&p.d);
	*state = &p;
	return 0;
}

static int teardown(void **state)
{
	struct pair *p = *state;

	proto_decoder_deinit(&p->d);
	close(p->tx);
	close(p->rx);
	return 0;
}

/* Sends raw bytes with @nfds copies of @fd attached. */
static void send_raw(int sock, const void *bytes, size_t len, int fd, int nfds)
{
	int fds[SEND_FDS_MAX] = { 0 };

	for (int i = 0; i < nfds; i++)
		fds[i] = fd;
	assert_int_equal(send_fds(sock, bytes, len, fds, nfds), (ssize_t)len);
}

static void le64(uint8_t out[8], int64_t v)
{
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)((uint64_t)v >> (8 * i));
}

static int open_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

static void test_roundtrip(void **state)
{
	struct pair *p = *state;
	struct proto_msg m;
	int efd = eventfd(0, EFD_CLOEXEC);
	static const int64_t values[] = { 0, 7, PROTO_ID_MAX, PROTO_SHM_ID };

	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
		assert_int_equal(proto_send(p->tx, values[i], efd), 0);
	assert_int_equal(proto_send(p->tx, 42, -1), 0);
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		struct stat a, b;

		assert_int_equal(proto_recv(&p->d, p->rx, &m), 1);
		assert_int_equal(m.value, values[i]);
		assert_true(m.fd >= 0);
		/* the same object arrives */
		assert_int_equal(fstat(m.fd, &a), 0);
		assert_int_equal(fstat(efd, &b), 0);
		assert_int_equal(a.st_ino, b.st_ino);
		/* close-on-exec, as the library promises */
		assert_true(fcntl(m.fd, F_GETFD) & FD_CLOEXEC);
		close(m.fd);
	}
	assert_int_equal(proto_recv(&p->d, p->rx, &m), 1);
	assert_int_equal(m.value, 42);
	assert_int_equal(m.fd, -1);
	assert_int_equal(proto_recv(&p->d, p->rx, &m), -EAGAIN);
	close(efd);
}

static void test_little_endian(void **state)
{
	struct pair *p = *state;
	uint8_t buf[8];

	assert_int_equal(proto_send(p->tx, 0x0102, -1), 0);
	assert_int_equal(recv(p->rx, buf, 8, 0), 8);
	assert_int_equal(buf[0], 0x02);
	assert_int_equal(buf[1], 0x01);
	for (int i = 2; i < 8; i++)
		assert_int_equal(buf[i], 0);
	assert_int_equal(proto_send(p->tx, -1, 0), 0);
	assert_int_equal(recv(p->rx, buf, 8, 0), 8);
	for (int i = 0; i < 8; i++)
		assert_int_equal(buf[i], 0xff);
}

/* A message that arrives a byte at a time, with its fd on the first byte. */
static void test_short_reads(void **state)
{
	struct pair *p = *state;
	struct proto_msg m;
	uint8_t bytes[8];
	int efd = eventfd(0, EFD_CLOEXEC);

	le64(bytes, 513);
	send_raw(p->tx, bytes, 1, efd, 1);
	assert_int_equal(proto_recv(&p->d, p->rx, &m), -EAGAIN);
	for (int i = 1; i < 7; i++) {
		send_raw(p->tx, bytes + i, 1, -1, 0);
		assert_int_equal(proto_recv(&p->d, p->rx, &m), -EAGAIN);
	}
	send_raw(p->tx, bytes + 7, 1, -1, 0);
	assert_int_equal(proto_recv(&p->d, p->rx, &m), 1);
	assert_int_equal(m.value, 513);
	assert_true(m.fd >= 0);
	close(m.fd);
	close(efd);
}

/* Two messages sent in one write, each read on its own. */
static void test_never_merges(void **state)
{
	struct pair *p = *state;
	struct proto_msg m;
	uint8_t bytes[16];

	le64(bytes, 3);
	le64(bytes + 8, 4);
	send_raw(p->tx, bytes, 16, -1, 0);
	assert_int_equal(proto_recv(&p->d, p->rx, &m), 1);
	assert_int_equal(m.value, 3);
	assert_int_equal(proto_recv(&p->d, p->rx, &m), 1);
	assert_int_equal(m.value, 4);
}

static void expect_error(struct pair *p, const char *what)
{
	struct proto_msg m;

	assert_int_equal(proto_recv(&p->d, p->rx, &m), -EPROTO);
	assert_non_null(strstr(p->d.error, what));
}

static void test_two_fds(void **state)
{
	struct pair *p = *state;
	uint8_t bytes[8];
	int before = open_fds();
	int efd = eventfd(0, EFD_CLOEXEC);

	le64(bytes, 1);
	send_raw(p->tx, bytes, 8, efd, 2);
	expect_error(p, "2 fds attached to one message");
	close(efd);
	/* both received fds were closed */
	assert_int_equal(open_fds(), before);
}

static void test_second_fd_on_later_part(void **state)
{
	struct pair *p = *state;
	struct proto_msg m;
	uint8_t bytes[8];
	int before = open_fds();
	int efd = eventfd(0, EFD_CLOEXEC);

	le64(bytes, 1);
	send_raw(p->tx, bytes, 4, efd, 1);
	assert_int_equal(proto_recv(&p->d, p->rx, &m), -EAGAIN);
	send_raw(p->tx, bytes + 4, 4, efd, 1);
	expect_error(p, "2 fds attached to one message");
	close(efd);
	assert_int_equal(open_fds(), before);
}

static void test_truncated_control(void **state)
{
	struct pair *p = *state;
	uint8_t bytes[8];
	int before = open_fds();
	int efd = eventfd(0, EFD_CLOEXEC);

	le64(bytes, 1);
	send_raw(p->tx, bytes, 8, efd, 12);
	expect_error(p, "control data truncated");
	close(efd);
	assert_int_equal(open_fds(), before);
}

static void test_out_of_range(void **state)
{
	struct pair *p = *state;
	uint8_t bytes[8];

	le64(bytes, PROTO_ID_MAX + 1);
	send_raw(p->tx, bytes, 8, -1, 0);
	expect_error(p, "value 65536 out of range");
	le64(bytes, -2);
	send_raw(p->tx, bytes, 8, -1, 0);
	expect_error(p, "value -2 out of range");
}

static void test_shm_without_fd(void **state)
{
	struct pair *p = *state;

	assert_int_equal(proto_send(p->tx, PROTO_SHM_ID, -1), 0);
	expect_error(p, "without an fd");
}

static void test_eof(void **state)
{
	struct pair *p = *state;
	struct proto_msg m;

	shutdown(p->tx, SHUT_WR);
	assert_int_equal(proto_recv(&p->d, p->rx, &m), 0);
}

static void test_eof_mid_message(void **state)
{
	struct pair *p = *state;
	struct proto_msg m;
	uint8_t bytes[8] = { 0 };
	int before = open_fds();
	int efd = eventfd(0, EFD_CLOEXEC);

	send_raw(p->tx, bytes, 3, efd, 1);
	close(efd);
	shutdown(p->tx, SHUT_WR);
	assert_int_equal(proto_recv(&p->d, p->rx, &m), -EAGAIN);
	expect_error(p, "connection closed after 3 bytes");
	assert_int_equal(open_fds(), before);
}

static void test_send_full_socket(void **state)
{
	struct pair *p = *state;
	int r, sent = 0;

	while ((r = proto_send(p->tx, 1, -1)) == 0)
		sent++;
	assert_int_equal(r, -EAGAIN);
	assert_true(sent > 0);
}

static void test_send_closed(void **state)
{
	struct pair *p = *state;

	close(p->rx);
	p->rx = open("/dev/null", O_RDONLY);
	assert_int_equal(proto_send(p->tx, 1, -1), -EPIPE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_roundtrip),
		T(test_little_endian),
		T(test_short_reads),
		T(test_never_merges),
		T(test_two_fds),
		T(test_second_fd_on_later_part),
		T(test_truncated_control),
		T(test_out_of_range),
		T(test_shm_without_fd),
		T(test_eof),
		T(test_eof_mid_message),
		T(test_send_full_socket),
		T(test_send_closed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
