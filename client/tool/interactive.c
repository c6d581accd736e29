/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * ivshmem-client's interactive mode: QEMU's contrib/ivshmem-client
 *
 * The same commands and the same output lines, -v's included, so that
 * what drives QEMU's client drives this one; a lost server is retried
 * every second, as there. The differences are fixes: '?' prints the help
 * without "invalid command" after it, a command split across two reads is
 * put back together, a bad vector is reported (on stderr), and the end of
 * the input ends the program (QEMU's spins). -v does not print the shared
 * memory's fd: the library keeps only the mapping.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tool.h"

#define RETRY_MS 1000

struct session {
	struct ivshmem *h;
	const char *path;
	bool verbose;
	bool lost;     /* the server went away: reconnect */
	char line[4096];
	size_t len;
	bool eof;
};

/* QEMU's client prints its -v lines on stdout. */
__attribute__((format(printf, 2, 3)))
static void verbose(const struct session *s, const char *fmt, ...)
{
	va_list ap;

	if (!s->verbose)
		return;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

static void print_help(void)
{
	printf("dump: dump peers (including us)\n"
	       "int <peer> <vector>: notify one vector on a peer\n"
	       "int <peer> all: notify all vectors of a peer\n"
	       "int all: notify all vectors of all peers (excepting us)\n");
}

static void prompt(void)
{
	printf("cmd> ");
	fflush(stdout);
}

static void dump_vectors(struct ivshmem *h, int peer)
{
	int n = ivshmem_vectors(h, peer);

	for (int v = 0; v < n; v++)
		printf("  vector %d is enabled (fd=%d)\n", v,
		       ivshmem_eventfd(h, peer, v));
}

static void dump(struct ivshmem *h)
{
	uint16_t ids[IVSHMEM_PEER_MAX + 1];
	int own = ivshmem_own_id(h);
	int n = ivshmem_peers(h, ids, IVSHMEM_PEER_MAX + 1);

	printf("our_id = %d\n", own < 0 ? -1 : own);
	if (own >= 0)
		dump_vectors(h, own);
	for (int i = 0; i < n; i++) {
		printf("peer_id = %d\n", ids[i]);
		dump_vectors(h, ids[i]);
	}
}

static int notify(const struct session *s, int peer, int vector)
{
	int r = ivshmem_notify(s->h, peer, vector);

	if (r == 0)
		verbose(s, "notify peer %d on vector %d, fd %d\n", peer, vector,
			ivshmem_eventfd(s->h, peer, vector));
	return r;
}

/* Notifies every vector of @peer; false if there is no such peer. */
static bool notify_all_vectors(const struct session *s, int peer)
{
	int n = ivshmem_vectors(s->h, peer);

	if (n < 0)
		return false;
	for (int v = 0; v < n; v++)
		notify(s, peer, v);
	return true;
}

static void notify_everyone(const struct session *s)
{
	uint16_t ids[IVSHMEM_PEER_MAX + 1];
	int n = ivshmem_peers(s->h, ids, IVSHMEM_PEER_MAX + 1);

	for (int i = 0; i < n; i++)
		notify_all_vectors(s, ids[i]);
}

static void command(const struct session *s, const char *cmd)
{
	int peer, vector;

	if (!strcmp(cmd, "help") || !strcmp(cmd, "?")) {
		print_help();
	} else if (!strcmp(cmd, "dump")) {
		dump(s->h);
	} else if (!strcmp(cmd, "int all")) {
		notify_everyone(s);
	} else if (sscanf(cmd, "int %d %d", &peer, &vector) == 2) {
		if (ivshmem_vectors(s->h, peer) < 0) {
			printf("cannot find peer_id = %d\n", peer);
			return;
		}
		if (notify(s, peer, vector) < 0)
			fprintf(stderr, "invalid vector %d on peer %d\n",
				vector, peer);
	} else if (sscanf(cmd, "int %d all", &peer) == 1) {
		if (!notify_all_vectors(s, peer))
			printf("cannot find peer_id = %d\n", peer);
	} else {
		printf("invalid command, type help\n");
	}
}

/* Reads what stdin has and runs the complete commands, as QEMU's client
 * does: commands end at '\n', '\r' or ';', a prompt follows each read. */
static void read_commands(struct session *s)
{
	ssize_t n;
	size_t start = 0;

	n = read(STDIN_FILENO, s->line + s->len, sizeof(s->line) - 1 - s->len);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		s->eof = true;
		s->line[s->len++] = '\n'; /* run what is left */
	} else {
		s->len += (size_t)n;
	}
	for (size_t i = 0; i < s->len; i++) {
		if (!strchr("\n\r;", s->line[i]))
			continue;
		s->line[i] = '\0';
		if (s->line[start])
			command(s, s->line + start);
		start = i + 1;
	}
	if (start == 0 && s->len == sizeof(s->line) - 1) {
		printf("invalid command, type help\n"); /* too long */
		start = s->len;
	}
	memmove(s->line, s->line + start, s->len - start);
	s->len -= start;
	if (!s->eof)
		prompt();
}

static void on_interrupt(struct ivshmem *h, int vector, uint64_t count,
			 void *data)
{
	verbose(data, "received event on fd %d vector %d: %llu\n",
		ivshmem_eventfd(h, ivshmem_own_id(h), vector), vector,
		(unsigned long long)count);
	/* QEMU's client names the receiver (us) as the peer */
	printf("receive notification from peer_id=%d vector=%u\n",
	       ivshmem_own_id(h), (unsigned)vector);
	fflush(stdout);
}

static void print_new_vectors(const struct session *s, int peer)
{
	int n = ivshmem_vectors(s->h, peer);

	for (int v = 0; v < n; v++)
		verbose(s, "  new vector %d (fd=%d) for peer id %d\n", v,
			ivshmem_eventfd(s->h, peer, v), peer);
}

static void on_peer(struct ivshmem *h, int peer, enum ivshmem_peer_event event,
		    void *data)
{
	struct session *s = data;

	if (event == IVSHMEM_PEER_JOINED) {
		verbose(s, "new peer id = %d\n", peer);
		print_new_vectors(s, peer);
	} else {
		verbose(s, "delete peer id = %d\n", peer);
	}
	fflush(stdout);
}

static void on_server(struct ivshmem *h, enum ivshmem_server_event event,
		      void *data)
{
	struct session *s = data;

	switch (event) {
	case IVSHMEM_SERVER_LOST:
		printf("disconnected from server\n");
		s->lost = true;
		break;
	case IVSHMEM_SERVER_SYNCED:
		print_new_vectors(s, ivshmem_own_id(h));
		break;
	case IVSHMEM_SERVER_MEMORY_CHANGED:
	case IVSHMEM_SERVER_RECONNECTED:
		break; /* not asked for: the session reconnects itself */
	}
	fflush(stdout);
}

/* Waits up to @timeout_ms for stdin or the handle; handles what came. */
static int poll_once(struct session *s, int timeout_ms)
{
	struct pollfd pfd[2] = {
		{ .fd = STDIN_FILENO, .events = POLLIN },
		{ .fd = s->h ? ivshmem_get_fd(s->h) : -1, .events = POLLIN },
	};
	int r = poll(pfd, 2, timeout_ms);

	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	if (pfd[1].revents) { /* first: commands see what has come */
		r = ivshmem_dispatch(s->h, 0);
		if (r < 0 && r != -EINTR)
			return r;
	}
	if (pfd[0].revents)
		read_commands(s);
	return 0;
}

/* Connects, retrying every second as QEMU's client does, until connected
 * or the input ends. */
static void connect_server(struct session *s)
{
	while (!s->eof) {
		verbose(s, "connect to client %s\n", s->path);
		if (ivshmem_open_doorbell(&s->h, s->path, 0) == 0)
			break;
		s->h = NULL;
		fprintf(stderr, "cannot connect to server, retry in 1 second\n");
		for (int i = 0; i < RETRY_MS / 100 && !s->eof; i++)
			poll_once(s, 100);
	}
	if (!s->h)
		return;
	verbose(s, "our_id=%d\n", ivshmem_own_id(s->h));
	ivshmem_on_interrupt(s->h, IVSHMEM_ALL_VECTORS, on_interrupt, s);
	ivshmem_on_peer(s->h, on_peer, s);
	ivshmem_on_server(s->h, on_server, s);
	printf("listen on server socket %d\n", ivshmem_get_fd(s->h));
	fflush(stdout);
}

int interactive(const char *socket_path, bool verbose_mode)
{
	struct session s = { .path = socket_path, .verbose = verbose_mode };
	int r = 0;

	print_help();
	prompt();
	while (!s.eof && r == 0) {
		if (!s.h)
			connect_server(&s);
		r = poll_once(&s, -1);
		if (s.lost) {
			ivshmem_close(s.h);
			s.h = NULL;
			s.lost = false;
		}
	}
	ivshmem_close(s.h);
	if (r < 0)
		return fail(EXIT_ERROR, "%s", strerror(-r));
	return EXIT_OK;
}
