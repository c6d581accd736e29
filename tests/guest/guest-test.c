/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * guest-test: the interrupts of an ivshmem-doorbell device through VFIO,
 * from inside a Linux guest, with a host peer that echoes
 *
 * usage: guest-test ADDRESS ECHO-PEER OWN-ID VECTORS ROUNDS
 *
 * Opens the device at ADDRESS (bound to vfio-pci) and checks what the
 * handle says: our id OWN-ID, VECTORS vectors. Then, ROUNDS times on
 * each vector v, rings ECHO-PEER's vector v, which answers on ours: the
 * answer must come on vector v and on no other. First with
 * ivshmem_wait(), then with ivshmem_get_fd(), poll(), ivshmem_dispatch()
 * and a handler per vector. Prints GUEST-PASS / GUEST-FAIL lines (see
 * guest-lib.sh) and the round trips: GUEST-RESULT: rtt_min_us=...
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ivshmem.h>

#define TIMEOUT_MS 2000

struct seen {
	int calls;
	int vector;
	uint64_t count;
};

static int failures;

__attribute__((format(printf, 2, 3)))
static void check(int ok, const char *fmt, ...)
{
	char name[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(name, sizeof(name), fmt, ap);
	va_end(ap);
	if (ok) {
		printf("GUEST-PASS: %s\n", name);
	} else {
		printf("GUEST-FAIL: %s\n", name);
		failures++;
	}
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000 + (uint64_t)ts.tv_nsec;
}

static void on_interrupt(struct ivshmem *h, int vector, uint64_t count,
			 void *data)
{
	struct seen *s = data;

	s->calls++;
	s->vector = vector;
	s->count += count;
}

/* One round trip on @vector with ivshmem_wait(); @all (a handler of
 * every vector) sees every interrupt. */
static int round_wait(struct ivshmem *h, int peer, int vector,
		      struct seen *all, int vectors)
{
	int r;

	*all = (struct seen){ .vector = -1 };
	r = ivshmem_notify(h, peer, vector);
	if (r == 0)
		r = ivshmem_wait(h, vector, TIMEOUT_MS);
	if (r < 0) {
		printf("vector %d: %s\n", vector, strerror(-r));
		return r;
	}
	if (all->calls != 1 || all->vector != vector || all->count != 1) {
		printf("vector %d: %d calls, last on vector %d, count %llu\n",
		       vector, all->calls, all->vector,
		       (unsigned long long)all->count);
		return -EPROTO;
	}
	return 0;
}

/* The same with poll() and ivshmem_dispatch(); seen[v] is vector v's. */
static int round_dispatch(struct ivshmem *h, int peer, int vector,
			  struct seen *seen, int vectors)
{
	struct pollfd pfd = { .fd = ivshmem_get_fd(h), .events = POLLIN };
	int r;

	for (int v = 0; v < vectors; v++)
		seen[v] = (struct seen){ .vector = -1 };
	r = ivshmem_notify(h, peer, vector);
	while (r == 0 && !seen[vector].calls) {
		r = poll(&pfd, 1, TIMEOUT_MS);
		r = r < 0 ? -errno : r == 0 ? -ETIMEDOUT :
		    ivshmem_dispatch(h, 0);
		r = r < 0 ? r : 0;
	}
	if (r < 0) {
		printf("vector %d: %s\n", vector, strerror(-r));
		return r;
	}
	for (int v = 0; v < vectors; v++) {
		int want = v == vector;

		if (seen[v].calls != want || seen[v].count != (uint64_t)want ||
		    (want && seen[v].vector != v)) {
			printf("vector %d: vector %d had %d calls, "
			       "count %llu\n", vector, v, seen[v].calls,
			       (unsigned long long)seen[v].count);
			return -EPROTO;
		}
	}
	return 0;
}

typedef int round_fn(struct ivshmem *h, int peer, int vector,
		     struct seen *seen, int vectors);

/* @rounds round trips on each vector with @fn; their times go to
 * rtt[*n] on. */
static int round_trips(round_fn *fn, struct ivshmem *h, int peer,
		       int vectors, int rounds, struct seen *seen,
		       uint64_t *rtt, int *n)
{
	for (int i = 0; i < rounds; i++) {
		for (int v = 0; v < vectors; v++) {
			uint64_t t0 = now_ns();
			int r = fn(h, peer, v, seen, vectors);

			if (r < 0)
				return r;
			rtt[(*n)++] = now_ns() - t0;
		}
	}
	return 0;
}

static int by_value(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void report(uint64_t *rtt, int n)
{
	uint64_t sum = 0;

	if (n == 0)
		return;
	qsort(rtt, (size_t)n, sizeof(*rtt), by_value);
	for (int i = 0; i < n; i++)
		sum += rtt[i];
	printf("GUEST-RESULT: round_trips=%d rtt_min_us=%.1f "
	       "rtt_median_us=%.1f rtt_mean_us=%.1f rtt_max_us=%.1f\n", n,
	       rtt[0] / 1e3, rtt[n / 2] / 1e3, (double)sum / n / 1e3,
	       rtt[n - 1] / 1e3);
}

int main(int argc, char **argv)
{
	struct seen seen[IVSHMEM_VECTORS_MAX];
	uint64_t *rtt;
	struct ivshmem *h;
	int peer, own, vectors, rounds, n = 0, r;

	if (argc != 6) {
		fprintf(stderr, "usage: guest-test ADDRESS ECHO-PEER OWN-ID "
			"VECTORS ROUNDS\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	peer = atoi(argv[2]);
	own = atoi(argv[3]);
	vectors = atoi(argv[4]);
	rounds = atoi(argv[5]);
	rtt = calloc((size_t)(2 * rounds * vectors), sizeof(*rtt));
	if (!rtt)
		return 1;
	r = ivshmem_open_pci(&h, argv[1], 0);
	check(r == 0, "vfio-open %s%s%s", argv[1], r ? ": " : "",
	      r ? strerror(-r) : "");
	if (r < 0)
		return 1;

	check(ivshmem_own_id(h) == own, "vfio-own-id %d (IVPosition %d)", own,
	      ivshmem_own_id(h));
	check(ivshmem_vectors(h, own) == vectors, "vfio-vectors %d (%d)",
	      vectors, ivshmem_vectors(h, own));
	check(ivshmem_get_fd(h) >= 0, "vfio-get-fd");
	r = 0;
	for (int v = 0; v < vectors; v++)
		r |= ivshmem_eventfd(h, own, v) < 0;
	check(!r, "vfio-eventfds");
	check(ivshmem_wait(h, vectors, 0) == -EINVAL,
	      "vfio-no-vector-%d", vectors);
	check(ivshmem_peers(h, NULL, 0) == -ENOTSUP, "vfio-no-peer-list");

	ivshmem_on_interrupt(h, IVSHMEM_ALL_VECTORS, on_interrupt, &seen[0]);
	r = round_trips(round_wait, h, peer, vectors, rounds, seen, rtt, &n);
	check(r == 0, "vfio-wait-each-vector (%d rounds x %d vectors)",
	      rounds, vectors);

	ivshmem_on_interrupt(h, IVSHMEM_ALL_VECTORS, NULL, NULL);
	for (int v = 0; v < vectors; v++)
		ivshmem_on_interrupt(h, v, on_interrupt, &seen[v]);
	r = round_trips(round_dispatch, h, peer, vectors, rounds, seen, rtt,
			&n);
	check(r == 0, "vfio-dispatch-each-vector (%d rounds x %d vectors)",
	      rounds, vectors);
	if (!failures)
		report(rtt, n);
	ivshmem_close(h);
	free(rtt);
	return failures ? 1 : 0;
}
