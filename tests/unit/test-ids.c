/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * Unit tests of the peer id allocator and the outbound queue
 */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "ids.h"
#include "outq.h"
#include "protocol.h"

static int owner[PROTO_ID_COUNT];

static void test_sequence(void **state)
{
	struct ids ids;

	assert_int_equal(ids_init(&ids, PROTO_ID_COUNT), 0);
	/* 0, 1, 2 as clients come */
	for (int i = 0; i < 3; i++)
		assert_int_equal(ids_alloc(&ids, &owner[i]), i);
	/* round-robin, not lowest-free: 1 leaves, the next is 3 */
	ids_free(&ids, 1);
	assert_int_equal(ids_alloc(&ids, &owner[3]), 3);
	assert_ptr_equal(ids_owner(&ids, 3), &owner[3]);
	assert_null(ids_owner(&ids, 1));
	assert_null(ids_owner(&ids, -1));
	assert_null(ids_owner(&ids, PROTO_ID_COUNT));
	ids_deinit(&ids);
}

static bool odd(int id, void *data)
{
	(void)data;
	return id % 2;
}

/* The next fit free id, round-robin; none fit: -ENOSPC, nothing taken. */
static void test_only_fit_ids(void **state)
{
	struct ids ids;

	assert_int_equal(ids_init(&ids, 8), 0);
	assert_int_equal(ids_alloc_where(&ids, &owner[0], odd, NULL), 1);
	assert_int_equal(ids_alloc_where(&ids, &owner[1], odd, NULL), 3);
	assert_int_equal(ids_alloc(&ids, &owner[2]), 4);
	assert_int_equal(ids_alloc_where(&ids, &owner[3], odd, NULL), 5);
	assert_int_equal(ids_alloc_where(&ids, &owner[4], odd, NULL), 7);
	/* wrapped: 1 is free again, 0 is free but unfit */
	ids_free(&ids, 1);
	assert_int_equal(ids_alloc_where(&ids, &owner[5], odd, NULL), 1);
	assert_int_equal(ids_alloc_where(&ids, &owner[6], odd, NULL), -ENOSPC);
	assert_int_equal(ids.used, 5);
	assert_int_equal(ids_alloc(&ids, &owner[6]), 2);
	ids_deinit(&ids);
}

static void test_wraps_and_skips_live_ids(void **state)
{
	struct ids ids;

	assert_int_equal(ids_init(&ids, 8), 0);
	for (int i = 0; i < 8; i++)
		assert_int_equal(ids_alloc(&ids, &owner[i]), i);
	assert_int_equal(ids_alloc(&ids, &owner[8]), -ENOSPC);
	ids_free(&ids, 5);
	ids_free(&ids, 2);
	/* the counter wrapped to 0: 0 and 1 are live, 2 is free */
	assert_int_equal(ids_alloc(&ids, &owner[9]), 2);
	assert_int_equal(ids_alloc(&ids, &owner[10]), 5);
	assert_int_equal(ids_alloc(&ids, &owner[11]), -ENOSPC);
	/* freeing an unknown or free id changes nothing */
	ids_free(&ids, -1);
	ids_free(&ids, 100);
	assert_int_equal(ids.used, 8);
	ids_deinit(&ids);
}

static void test_full_range(void **state)
{
	struct ids ids;

	/* every one of the 65536 ids can be live at once */
	assert_int_equal(ids_init(&ids, PROTO_ID_COUNT), 0);
	for (int i = 0; i < PROTO_ID_COUNT; i++)
		assert_int_equal(ids_alloc(&ids, &owner[i]), i);
	assert_int_equal(ids_alloc(&ids, &owner[0]), -ENOSPC);
	ids_free(&ids, PROTO_ID_MAX);
	assert_int_equal(ids_alloc(&ids, &owner[0]), PROTO_ID_MAX);
	ids_deinit(&ids);
}

static int count_open_fds(void)
{
	int n = 0;

	for (int fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) >= 0;
	return n;
}

/* The queue keeps order and fds across a full socket, and closes an fd
 * only after its last message is gone. */
static void test_outq(void **state)
{
	struct outq q;
	struct fdref *ref;
	int sv[2], before = count_open_fds();
	int sent = 0, received = 0;
	uint8_t buf[8];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
				    sv), 0);
	ref = fdref_new(eventfd(0, EFD_CLOEXEC));
	outq_init(&q);
	for (int i = 0; i < 5000; i++)
		assert_int_equal(outq_push(&q, i % 100, i % 2 ? ref : NULL, 1, (uint32_t)i), 0);
	fdref_put(ref); /* the queue holds the fd open now */
	assert_int_equal(count_open_fds(), before + 3);

	while (q.len) {
		int r = outq_flush(&q, sv[0]);
		ssize_t n;

		assert_true(r == 0 || r == -EAGAIN);
		sent = 5000 - (int)q.len;
		while (received < sent) {
			char control[CMSG_SPACE(sizeof(int))];
			struct iovec iov = { buf, 8 };
			struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
					    .msg_control = control,
					    .msg_controllen = sizeof(control) };
			struct cmsghdr *c;

			n = recvmsg(sv[1], &m, 0);
			assert_int_equal(n, 8);
			assert_int_equal(buf[0], received % 100);
			c = CMSG_FIRSTHDR(&m);
			if (received % 2) {
				int fd;

				assert_non_null(c);
				memcpy(&fd, CMSG_DATA(c), sizeof(fd));
				close(fd);
			} else {
				assert_null(c);
			}
			received++;
		}
	}
	assert_int_equal(received, 5000);
	/* the last message went, and with it the last reference */
	assert_int_equal(count_open_fds(), before + 2);
	outq_deinit(&q);
	outq_deinit(&q);
	close(sv[0]);
	close(sv[1]);
}

static void test_outq_deinit_drops_refs(void **state)
{
	struct outq q;
	int before = count_open_fds();
	struct fdref *ref = fdref_new(eventfd(0, EFD_CLOEXEC));

	outq_init(&q);
	assert_int_equal(outq_push(&q, 1, ref, 1, 0), 0);
	assert_int_equal(outq_push(&q, 2, ref, 1, 1), 0);
	fdref_put(ref);
	assert_int_equal(count_open_fds(), before + 1);
	outq_deinit(&q);
	assert_int_equal(count_open_fds(), before);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sequence),
		cmocka_unit_test(test_wraps_and_skips_live_ids),
		cmocka_unit_test(test_only_fit_ids),
		cmocka_unit_test(test_full_range),
		cmocka_unit_test(test_outq),
		cmocka_unit_test(test_outq_deinit_drops_refs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
