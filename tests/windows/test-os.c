/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The platform layer (os.h): sources, the poller, the clock. The same
 * test for Linux (eventfds, epoll) and Windows (events,
 * WaitForMultipleObjects, under wine in the cross build).
 */
#include <errno.h>
#include <stdint.h>

#include "check.h"
#include "os.h"

#ifdef _WIN32
#define COUNTS 0 /* an event does not count */
#else
#define COUNTS 1
#endif

static void test_source(void)
{
	os_source s;
	uint64_t count;

	CHECK_INT(os_source_new(&s), 0);
	CHECK_INT(os_source_consume(s, &count), 0);
	CHECK_INT(count, 0);
	CHECK_INT(os_source_signal(s), 0);
	CHECK_INT(os_source_signal(s), 0);
	CHECK_INT(os_source_consume(s, &count), 0);
	CHECK_INT(count, COUNTS ? 2 : 1);
	CHECK_INT(os_source_consume(s, &count), 0);
	CHECK_INT(count, 0);
	CHECK_INT(os_source_fd(s) >= 0, COUNTS);
	os_source_close(s);
}

static void test_poller(void)
{
	struct os_poller p;
	os_source s[3];
	uint64_t tokens[8], count, start;
	void *sources[8];

	CHECK_INT(os_poller_init(&p), 0);
	for (int i = 0; i < 3; i++) {
		CHECK_INT(os_source_new(&s[i]), 0);
		CHECK_INT(os_poller_add(&p, s[i], 100 + (uint64_t)i), 0);
	}
	CHECK_INT(os_poller_wait(&p, 0, tokens, 8), 0);

	/* the token of what is ready; looking does not consume */
	os_source_signal(s[2]);
	CHECK_INT(os_poller_wait(&p, 5000, tokens, 8), 1);
	CHECK_INT(tokens[0], 102);
	CHECK_INT(os_poller_wait(&p, 0, tokens, 8), 1);
	CHECK_INT(os_source_consume(s[2], &count), 0);
	CHECK_INT(count, 1);
	CHECK_INT(os_poller_wait(&p, 0, tokens, 8), 0);

	/* all that are ready, whatever their order; at most @max */
	os_source_signal(s[2]);
	os_source_signal(s[0]);
	CHECK_INT(os_poller_wait(&p, 5000, tokens, 8), 2);
	CHECK(tokens[0] + tokens[1] == 202);
	CHECK_INT(os_poller_wait(&p, 0, tokens, 1), 1);

	/* removed: no longer waited on */
	os_poller_del(&p, s[0]);
	os_poller_del(&p, s[2]);
	CHECK_INT(os_poller_wait(&p, 0, tokens, 8), 0);
	os_source_signal(s[1]);
	CHECK_INT(os_poller_wait(&p, 0, tokens, 8), 1);
	CHECK_INT(tokens[0], 101);

	/* a timeout waits */
	os_source_consume(s[1], &count);
	start = os_now_ms();
	CHECK_INT(os_poller_wait(&p, 50, tokens, 8), 0);
	CHECK(os_now_ms() - start >= 40);
	CHECK_INT(os_remaining_ms(os_deadline(-1)), -1);
	CHECK_INT(os_remaining_ms(os_deadline(0)), 0);

#ifdef _WIN32
	CHECK_INT(os_poller_fd(&p), -ENOTSUP);
	CHECK_INT(os_poller_sources(&p, sources, 8), 1);
	CHECK(sources[0] == s[1]);
#else
	CHECK(os_poller_fd(&p) >= 0);
	CHECK_INT(os_poller_sources(&p, sources, 8), -ENOTSUP);
#endif
	os_poller_deinit(&p);
	os_poller_deinit(&p);
	for (int i = 0; i < 3; i++)
		os_source_close(s[i]);
}

#ifdef _WIN32
/* WaitForMultipleObjects() takes 64 handles at most. */
static void test_poller_limit(void)
{
	struct os_poller p;
	os_source s[65];
	uint64_t token;
	int i;

	CHECK_INT(os_poller_init(&p), 0);
	for (i = 0; i < 65; i++)
		CHECK_INT(os_source_new(&s[i]), 0);
	for (i = 0; i < 64; i++)
		CHECK_INT(os_poller_add(&p, s[i], (uint64_t)i), 0);
	CHECK_INT(os_poller_add(&p, s[64], 64), -ENOSPC);
	os_source_signal(s[63]);
	CHECK_INT(os_poller_wait(&p, 5000, &token, 1), 1);
	CHECK_INT(token, 63);
	os_poller_deinit(&p);
	for (i = 0; i < 65; i++)
		os_source_close(s[i]);
}
#endif

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		{ "source", test_source },
		{ "poller", test_poller },
#ifdef _WIN32
		{ "poller-limit", test_poller_limit },
#endif
	};

	return check_main(cases, sizeof(cases) / sizeof(*cases), argc, argv);
}
