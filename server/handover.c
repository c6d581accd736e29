/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The upgrade blob: writing it, and reading it without trusting it
 *
 * Integers are in the host's byte order (the blob never leaves the host).
 * The header holds an FNV-1a checksum of the payload, so that a blob
 * damaged in any way is refused as such rather than half understood.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdcheck.h"
#include "handover.h"
#include "log.h"
#include "protocol.h"

#define MAGIC "IVSHUPGR"
#define HEADER_SIZE 32 /* magic, version, reserved, length, checksum */
#define STRING_MAX 4096
/* Sanity bounds, far above anything real: a corrupt count must not make
 * the reader allocate without end. */
#define QUEUE_MAX (UINT32_MAX / 2)

static uint64_t checksum(const uint8_t *p, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

/* -- writing ------------------------------------------------------------ */

struct writer {
	uint8_t *buf;
	size_t len, cap;
	bool failed;
};

static void put(struct writer *w, const void *p, size_t n)
{
	if (w->failed || n == 0)
		return;
	if (w->cap - w->len < n) {
		size_t cap = w->cap ? w->cap : 4096;
		uint8_t *buf;

		while (cap - w->len < n)
			cap *= 2;
		buf = realloc(w->buf, cap);
		if (!buf) {
			w->failed = true;
			return;
		}
		w->buf = buf;
		w->cap = cap;
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

/* An integer of @size bytes (1, 4 or 8), in the host's byte order. */
static void put_num(struct writer *w, uint64_t v, size_t size)
{
	uint8_t u8 = (uint8_t)v;
	uint32_t u32 = (uint32_t)v;

	put(w, size == 1 ? (void *)&u8 : size == 4 ? (void *)&u32 : (void *)&v,
	    size);
}

#define put_u8(w, v) put_num(w, (uint8_t)(v), 1)
#define put_u32(w, v) put_num(w, (uint32_t)(v), 4)
#define put_u64(w, v) put_num(w, (uint64_t)(v), 8)

static void put_str(struct writer *w, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	put_u8(w, s != NULL);
	put_u32(w, (uint32_t)n);
	put(w, s, n);
}

static void put_stats(struct writer *w, const struct server_stats *st)
{
	put_u64(w, st->joins);
	put_u64(w, st->departures);
	put_u64(w, st->refused);
	put_u64(w, st->denied);
	put_u64(w, st->dropped);
	put_u64(w, st->messages);
}

static void put_peer(struct writer *w, const struct server_peer *p,
		     uint32_t vectors)
{
	put_u32(w, p->id);
	put_u32(w, p->sock);
	put_u32(w, p->pid);
	put_u32(w, p->uid);
	put_u32(w, p->gid);
	put_u64(w, p->join);
	put_u64(w, p->slack);
	put_u8(w, p->stored);
	for (uint32_t v = 0; v < vectors; v++)
		put_u32(w, p->vectors[v]);
	put_u64(w, p->queue_len);
	for (size_t i = 0; i < p->queue_len; i++) {
		put_u64(w, p->queue[i].value);
		put_u32(w, p->queue[i].fd);
		put_u64(w, p->queue[i].event);
		put_u32(w, p->queue[i].index);
	}
}

int handover_write(const struct handover *h, uint32_t version)
{
	struct writer w = { 0 };
	uint64_t len, sum;
	int fd, r = 0;

	/* the header first, its length and checksum filled in at the end */
	put(&w, MAGIC, 8);
	put_u32(&w, version);
	put_u32(&w, 0);
	put_u64(&w, 0);
	put_u64(&w, 0);
	put_u32(&w, h->vectors);
	put_u32(&w, h->id_count);
	put_u32(&w, h->listen_fd);
	put_u8(&w, h->listen_inherited);
	put_u64(&w, h->listen_dev);
	put_u64(&w, h->listen_ino);
	put_str(&w, h->socket_path);
	put_u32(&w, h->shm_fd);
	put_u64(&w, h->shm_size);
	put_str(&w, h->shm_name);
	put_u32(&w, h->ledger_fd);
	put_u64(&w, h->stored);
	put_u32(&w, h->server.next_id);
	put_stats(&w, &h->server.stats);
	put_u64(&w, h->server.peer_count);
	for (size_t i = 0; i < h->server.peer_count; i++)
		put_peer(&w, &h->server.peers[i], h->vectors);
	if (w.failed) {
		free(w.buf);
		return -ENOMEM;
	}
	len = w.len - HEADER_SIZE;
	sum = checksum(w.buf + HEADER_SIZE, len);
	memcpy(w.buf + 16, &len, sizeof(len));
	memcpy(w.buf + 24, &sum, sizeof(sum));

	fd = memfd_create("ivshmem-upgrade", MFD_CLOEXEC);
	if (fd < 0) {
		r = -errno;
	} else {
		for (size_t off = 0; off < w.len && r == 0;) {
			ssize_t n = write(fd, w.buf + off, w.len - off);

			if (n < 0 && errno != EINTR)
				r = -errno;
			else if (n > 0)
				off += (size_t)n;
		}
		if (r < 0)
			close(fd);
	}
	free(w.buf);
	return r < 0 ? r : fd;
}

/* -- reading ------------------------------------------------------------ */

struct reader {
	const uint8_t *p;
	size_t len, off;
	bool short_read;
};

static bool get(struct reader *r, void *out, size_t n)
{
	if (r->short_read || r->len - r->off < n) {
		r->short_read = true;
		memset(out, 0, n);
		return false;
	}
	memcpy(out, r->p + r->off, n);
	r->off += n;
	return true;
}

static uint64_t get_num(struct reader *r, size_t size)
{
	uint8_t u8;
	uint32_t u32;
	uint64_t u64;

	get(r, size == 1 ? (void *)&u8 : size == 4 ? (void *)&u32 :
	    (void *)&u64, size);
	return size == 1 ? u8 : size == 4 ? u32 : u64;
}

#define get_u8(r) ((uint8_t)get_num(r, 1))
#define get_u32(r) ((uint32_t)get_num(r, 4))
#define get_i32(r) ((int32_t)get_num(r, 4))
#define get_u64(r) get_num(r, 8)
#define get_i64(r) ((int64_t)get_num(r, 8))

/* A string, or NULL; *ok turns false if it is malformed. */
static char *get_str(struct reader *r, bool *ok)
{
	bool present = get_u8(r);
	uint32_t n = get_u32(r);
	char *s;

	if (!present && n == 0)
		return NULL;
	if (!present || n > STRING_MAX || r->len - r->off < n ||
	    memchr(r->p + r->off, '\0', n)) {
		*ok = false;
		return NULL;
	}
	s = strndup((const char *)r->p + r->off, n);
	r->off += n;
	if (!s)
		*ok = false;
	return s;
}

static void get_stats(struct reader *r, struct server_stats *st)
{
	st->joins = get_u64(r);
	st->departures = get_u64(r);
	st->refused = get_u64(r);
	st->denied = get_u64(r);
	st->dropped = get_u64(r);
	st->messages = get_u64(r);
}

static int get_peer(struct reader *r, struct server_peer *p, uint32_t vectors)
{
	p->id = get_i32(r);
	p->sock = get_i32(r);
	p->pid = get_i32(r);
	p->uid = get_u32(r);
	p->gid = get_u32(r);
	p->join = get_u64(r);
	p->slack = get_u64(r);
	p->stored = get_u8(r);
	/* each count is checked against what is left before it is trusted */
	if (r->len - r->off < (size_t)vectors * 4)
		return -EINVAL;
	p->vectors = calloc(vectors + 1, sizeof(*p->vectors));
	if (!p->vectors)
		return -ENOMEM;
	for (uint32_t v = 0; v < vectors; v++)
		p->vectors[v] = get_i32(r);
	p->queue_len = get_u64(r);
	if (p->queue_len > QUEUE_MAX ||
	    (r->len - r->off) / 24 < p->queue_len)
		return -EINVAL;
	p->queue = calloc(p->queue_len + 1, sizeof(*p->queue));
	if (!p->queue)
		return -ENOMEM;
	for (size_t i = 0; i < p->queue_len; i++) {
		p->queue[i].value = get_i64(r);
		p->queue[i].fd = get_i32(r);
		p->queue[i].event = get_u64(r);
		p->queue[i].index = get_u32(r);
	}
	return r->short_read ? -EINVAL : 0;
}

static int check_fds(const struct handover *h, char *err, size_t errlen)
{
	uint64_t size;

	if (h->listen_fd < 0 || !fd_is_unix_stream(h->listen_fd, true))
		return einval(err, errlen, "fd %d is not a listening stream "
			       "socket", h->listen_fd);
	if (h->shm_fd < 0 || !fd_is_file(h->shm_fd, &size) ||
	    size != h->shm_size)
		return einval(err, errlen, "fd %d is not the shared memory of "
			       "%llu bytes", h->shm_fd,
			       (unsigned long long)h->shm_size);
	if (h->ledger_fd < 0 || !fd_is_file(h->ledger_fd, &size))
		return einval(err, errlen, "fd %d is not the ledger",
			       h->ledger_fd);
	return 0;
}

static int parse(struct handover *h, struct reader *r, char *err,
		 size_t errlen)
{
	struct server_state *st = &h->server;
	bool ok = true;
	uint64_t n;
	int ret;

	h->vectors = get_u32(r);
	h->id_count = get_u32(r);
	h->listen_fd = get_i32(r);
	h->listen_inherited = get_u8(r);
	h->listen_dev = get_u64(r);
	h->listen_ino = get_u64(r);
	h->socket_path = get_str(r, &ok);
	h->shm_fd = get_i32(r);
	h->shm_size = get_u64(r);
	h->shm_name = get_str(r, &ok);
	h->ledger_fd = get_i32(r);
	h->stored = get_u64(r);
	st->next_id = get_u32(r);
	get_stats(r, &st->stats);
	n = get_u64(r);
	if (!ok || r->short_read || h->vectors > PROTO_VECTORS_MAX ||
	    h->id_count == 0 || h->id_count > PROTO_ID_COUNT ||
	    n > h->id_count)
		return einval(err, errlen, "malformed state");
	st->peers = calloc(n + 1, sizeof(*st->peers));
	if (!st->peers)
		return einval(err, errlen, "out of memory");
	for (size_t i = 0; i < n; i++) {
		st->peer_count = i + 1;
		ret = get_peer(r, &st->peers[i], h->vectors);
		if (ret == -ENOMEM)
			return einval(err, errlen, "out of memory");
		if (ret < 0)
			return einval(err, errlen, "malformed state (peer %zu)",
				       i);
	}
	if (r->off != r->len)
		return einval(err, errlen, "malformed state (%zu bytes too "
			       "many)", r->len - r->off);
	return check_fds(h, err, errlen);
}

int handover_read(struct handover *h, int fd, char *err, size_t errlen)
{
	struct reader r = { 0 };
	uint32_t version, reserved;
	uint64_t len, sum;
	struct stat st;
	void *map;
	int ret;

	*h = (struct handover){ .listen_fd = -1, .shm_fd = -1,
				.ledger_fd = -1 };
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return einval(err, errlen, "fd %d is not a state file", fd);
	if (st.st_size < HEADER_SIZE)
		return einval(err, errlen, "truncated state (%lld bytes)",
			       (long long)st.st_size);
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		return einval(err, errlen, "cannot map the state: %s",
			       strerror(errno));
	r.p = map;
	r.len = (size_t)st.st_size;
	r.off = HEADER_SIZE;
	memcpy(&version, r.p + 8, sizeof(version));
	memcpy(&reserved, r.p + 12, sizeof(reserved));
	memcpy(&len, r.p + 16, sizeof(len));
	memcpy(&sum, r.p + 24, sizeof(sum));
	if (memcmp(r.p, MAGIC, 8) != 0)
		ret = einval(err, errlen, "not an ivshmem-server state");
	else if (version != HANDOVER_VERSION)
		ret = einval(err, errlen, "state version %u, this server "
			      "reads version %u", version, HANDOVER_VERSION);
	else if (reserved != 0)
		ret = einval(err, errlen, "malformed state header");
	else if (len != r.len - HEADER_SIZE)
		ret = einval(err, errlen, "truncated state (%zu of %llu "
			      "bytes)", r.len - HEADER_SIZE,
			      (unsigned long long)len);
	else if (checksum(r.p + HEADER_SIZE, (size_t)len) != sum)
		ret = einval(err, errlen, "corrupt state (bad checksum)");
	else
		ret = parse(h, &r, err, errlen);
	munmap(map, (size_t)st.st_size);
	return ret;
}

void handover_deinit(struct handover *h)
{
	free(h->socket_path);
	free(h->shm_name);
	server_state_deinit(&h->server);
	h->socket_path = h->shm_name = NULL;
}

int *handover_fds(const struct handover *h, size_t *count)
{
	const struct server_state *st = &h->server;
	size_t n = 3;
	int *fds;

	for (size_t i = 0; i < st->peer_count; i++)
		n += 1 + h->vectors + st->peers[i].queue_len;
	fds = malloc(n * sizeof(*fds));
	if (!fds)
		return NULL;
	n = 0;
	fds[n++] = h->listen_fd;
	fds[n++] = h->shm_fd;
	fds[n++] = h->ledger_fd;
	for (size_t i = 0; i < st->peer_count; i++) {
		const struct server_peer *p = &st->peers[i];

		fds[n++] = p->sock;
		for (uint32_t v = 0; v < h->vectors; v++)
			fds[n++] = p->vectors[v];
		for (size_t k = 0; k < p->queue_len; k++)
			if (p->queue[k].fd >= 0)
				fds[n++] = p->queue[k].fd;
	}
	*count = n;
	return fds;
}
