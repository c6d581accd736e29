/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The host doorbell backend: a client of an ivshmem-server
 *
 * The server sends our id and the shared memory, then each existing peer
 * (its id once per vector, with that vector's eventfd), then our own
 * eventfds, then changes (common/protocol.h). There is no end-of-setup
 * marker, and no vector count, so a peer's vectors are known complete when
 * a message about someone else follows them (a server sends one peer's
 * messages back to back), when the peer has as many vectors as the first
 * complete one had (every peer of a server has the same number), or, while
 * that number is still unknown (no peer came before our own vectors), when
 * the socket has stayed quiet for SETTLE_MS.
 * Only then is the peer reported as joined. Our own vectors come last in
 * the setup: once they are complete the setup is over (SYNCED).
 *
 * A lost server (end of stream, an error, or a protocol violation) turns
 * into departures of every peer and IVSHMEM_SERVER_LOST. With
 * IVSHMEM_RECONNECT a timerfd then drives reconnection with backoff; the
 * handshake runs asynchronously from dispatch, under a timeout. While
 * connected, the same timer measures the quiet of SETTLE_MS.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "backend.h"
#include "log.h"
#include "protocol.h"

#define HANDSHAKE_TIMEOUT_MS 5000
#define BACKOFF_MIN_MS 10
#define BACKOFF_MAX_MS 1000
/* How long the socket must stay quiet before vectors whose number is not
 * known yet are taken as complete. */
#define SETTLE_MS 20
/* Messages handled per dispatch, so that a flood cannot starve the rest. */
#define BATCH 1024

enum { TOKEN_SOCKET, TOKEN_TIMER };

enum state {
	ST_DOWN,    /* no connection */
	ST_VERSION, /* connected, waiting for the version */
	ST_ID,
	ST_SHM,
	ST_READY,
};

struct peer {
	uint16_t id;
	bool joined; /* reported; else its vectors are still arriving */
	int count;
	int cap;
	int *fds;
};

struct doorbell {
	struct sockaddr_un addr;
	unsigned flags;
	enum state state;
	int sock;
	struct proto_decoder decoder;
	int own_id;
	struct peer **peers; /* sorted by id */
	size_t peer_count, peer_cap;
	int filling;         /* whose vectors are arriving: an id, or -1 */
	int expected;        /* vectors per peer, 0 while unknown */
	bool was_ready;      /* LOST is owed when the connection goes */
	/* the mapped object, to recognise it after a reconnection */
	struct stat mapped;
	int pending_shm;     /* another object, until ivshmem_remap() */
	struct stat pending;
	int timer;           /* settling; reconnection, handshake timeout */
	int backoff_ms;
};

static struct doorbell *db(struct ivshmem *h)
{
	return h->backend;
}

/* ---- the peer table --------------------------------------------------- */

/* The index of @id in the table, or where it would go. */
static size_t peer_index(struct doorbell *d, int id)
{
	size_t lo = 0, hi = d->peer_count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (d->peers[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static struct peer *peer_find(struct doorbell *d, int id)
{
	size_t i = peer_index(d, id);

	return i < d->peer_count && d->peers[i]->id == id ? d->peers[i] : NULL;
}

/* A joined peer, as the public functions see them. */
static struct peer *peer_get(struct doorbell *d, int id)
{
	struct peer *p = peer_find(d, id);

	return p && p->joined ? p : NULL;
}

static int peer_new(struct doorbell *d, int id, struct peer **out)
{
	size_t i = peer_index(d, id);
	struct peer *p;

	if (d->peer_count == d->peer_cap) {
		size_t cap = d->peer_cap ? 2 * d->peer_cap : 16;
		struct peer **peers = realloc(d->peers, cap * sizeof(*peers));

		if (!peers)
			return -ENOMEM;
		d->peers = peers;
		d->peer_cap = cap;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->id = (uint16_t)id;
	memmove(d->peers + i + 1, d->peers + i,
		(d->peer_count - i) * sizeof(*d->peers));
	d->peers[i] = p;
	d->peer_count++;
	*out = p;
	return 0;
}

/* Takes @id out of the table; returns whether it had been reported. */
static bool peer_remove(struct doorbell *d, int id)
{
	size_t i = peer_index(d, id);
	struct peer *p;
	bool joined;

	if (i >= d->peer_count || d->peers[i]->id != id)
		return false;
	p = d->peers[i];
	memmove(d->peers + i, d->peers + i + 1,
		(d->peer_count - i - 1) * sizeof(*d->peers));
	d->peer_count--;
	joined = p->joined;
	for (int v = 0; v < p->count; v++)
		close(p->fds[v]);
	free(p->fds);
	free(p);
	return joined;
}

static int peer_add_fd(struct peer *p, int fd)
{
	if (p->count == p->cap) {
		int cap = p->cap ? 2 * p->cap : 4;
		int *fds = realloc(p->fds, (size_t)cap * sizeof(*fds));

		if (!fds)
			return -ENOMEM;
		p->fds = fds;
		p->cap = cap;
	}
	p->fds[p->count++] = fd;
	return 0;
}

static void timer_arm(struct ivshmem *h, int ms);

/* ---- the messages ----------------------------------------------------- */

static int filling_count(struct ivshmem *h)
{
	struct doorbell *d = db(h);
	struct peer *p;

	if (d->filling == d->own_id)
		return h->vector_count;
	p = peer_find(d, d->filling);
	return p ? p->count : 0;
}

/* The vectors of d->filling are all there: report it. */
static void complete_filling(struct ivshmem *h)
{
	struct doorbell *d = db(h);
	int id = d->filling;
	struct peer *p;

	if (id < 0)
		return;
	d->filling = -1;
	if (!d->expected)
		d->expected = id == d->own_id ? h->vector_count :
			      peer_find(d, id)->count;
	if (id == d->own_id) {
		if (!h->vectors_final) {
			log_debug("synced: %zu peers, %d vectors",
				  d->peer_count, h->vector_count);
			front_server_event(h, IVSHMEM_SERVER_SYNCED);
		}
		return;
	}
	p = peer_find(d, id);
	p->joined = true;
	front_peer_event(h, id, IVSHMEM_PEER_JOINED);
}

static int on_vector(struct ivshmem *h, int id, int fd)
{
	struct doorbell *d = db(h);
	struct peer *p;
	int r;

	if (d->filling != id)
		complete_filling(h);
	if (id == d->own_id) {
		r = front_vector_add(h, fd);
	} else {
		p = peer_find(d, id);
		r = p ? 0 : peer_new(d, id, &p);
		if (r == 0)
			r = peer_add_fd(p, fd);
		if (r < 0) {
			close(fd);
			return r;
		}
		if (p->joined)
			return 0; /* more vectors than expected: take them */
	}
	if (r < 0)
		return r;
	d->filling = id;
	if (d->expected && filling_count(h) >= d->expected)
		complete_filling(h);
	return 0;
}

static int on_departure(struct ivshmem *h, int id)
{
	struct doorbell *d = db(h);

	if (id == d->own_id) {
		log_error("the server says we left");
		return -ECONNRESET;
	}
	if (d->filling == id) {
		d->filling = -1; /* never reported, so no departure either */
		peer_remove(d, id);
		return 0;
	}
	complete_filling(h);
	if (peer_remove(d, id))
		front_peer_event(h, id, IVSHMEM_PEER_LEFT);
	else
		log_debug("departure of unknown peer %d", id);
	return 0;
}

static int shm_identify(int fd, struct stat *st)
{
	if (fstat(fd, st) < 0)
		return -errno;
	if (st->st_size <= 0) {
		log_error("the server's shared memory is empty");
		return -EPROTO;
	}
	return 0;
}

static bool same_object(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	       a->st_size == b->st_size;
}

static int on_shm(struct ivshmem *h, int fd)
{
	struct doorbell *d = db(h);
	struct stat st;
	void *mem;
	int r = shm_identify(fd, &st);

	if (r < 0)
		goto out;
	if (d->pending_shm >= 0) /* superseded by this one */
		close(d->pending_shm);
	d->pending_shm = -1;
	if (!h->mem) { /* the first connection */
		r = os_map(fd, (uint64_t)st.st_size, &mem);
		if (r < 0)
			goto out;
		h->mem = mem;
		h->size = (uint64_t)st.st_size;
		d->mapped = st;
	} else if (!same_object(&st, &d->mapped)) {
		log_info("the server has another shared memory");
		d->pending_shm = fd;
		d->pending = st;
		fd = -1;
	}
out:
	if (fd >= 0)
		close(fd);
	return r;
}

/* Handles one message; a negative errno ends the connection. */
static int on_message(struct ivshmem *h, const struct proto_msg *m)
{
	struct doorbell *d = db(h);

	switch (d->state) {
	case ST_VERSION:
		if (m->value != PROTO_VERSION || m->fd >= 0)
			break;
		d->state = ST_ID;
		return 0;
	case ST_ID:
		if (m->value < 0 || m->fd >= 0)
			break;
		d->own_id = (int)m->value;
		d->state = ST_SHM;
		return 0;
	case ST_SHM:
		if (m->value != PROTO_SHM_ID)
			break;
		d->state = ST_READY;
		return on_shm(h, m->fd);
	case ST_READY:
		if (m->value == PROTO_SHM_ID)
			break;
		if (m->fd >= 0)
			return on_vector(h, (int)m->value, m->fd);
		return on_departure(h, (int)m->value);
	case ST_DOWN:
		break;
	}
	log_error("unexpected message %lld%s from the server",
		  (long long)m->value, m->fd >= 0 ? " with an fd" : "");
	if (m->fd >= 0)
		close(m->fd);
	return -EPROTO;
}

/*
 * Reads and handles messages until the socket is drained (returns 1), or
 * BATCH messages or, with @until_ready, the end of the handshake (0).
 * A negative errno ends the connection: -ECONNRESET at end of stream.
 */
static int receive(struct ivshmem *h, bool until_ready)
{
	struct doorbell *d = db(h);

	for (int n = 0; n < BATCH; n++) {
		struct proto_msg m;
		int r = proto_recv(&d->decoder, d->sock, &m);

		if (r == -EINTR)
			continue;
		if (r == -EAGAIN) {
			if (d->filling >= 0 && !d->expected)
				timer_arm(h, SETTLE_MS);
			return 1;
		}
		if (r == 0)
			return -ECONNRESET;
		if (r == -EPROTO)
			log_error("protocol error: %s", d->decoder.error);
		if (r < 0)
			return r;
		r = on_message(h, &m);
		if (r < 0)
			return r;
		if (until_ready && d->state == ST_READY)
			return 0;
	}
	return 0;
}

/* ---- the connection --------------------------------------------------- */

static int connect_socket(struct doorbell *d, int extra_flags)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | extra_flags, 0);

	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&d->addr, sizeof(d->addr)) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

/* Arms the timer for @ms (0 disarms), creating it on first use. */
static void timer_arm(struct ivshmem *h, int ms)
{
	struct doorbell *d = db(h);
	struct itimerspec its = {
		.it_value.tv_sec = ms / 1000,
		.it_value.tv_nsec = (long)(ms % 1000) * 1000000,
	};
	int r = 0;

	if (d->timer < 0 && ms) {
		d->timer = timerfd_create(CLOCK_MONOTONIC,
					  TFD_CLOEXEC | TFD_NONBLOCK);
		r = d->timer < 0 ? -errno :
		    front_control_add(h, d->timer, TOKEN_TIMER);
	}
	if (r == 0 && d->timer >= 0)
		r = timerfd_settime(d->timer, 0, &its, NULL) < 0 ? -errno : 0;
	if (r < 0)
		log_error("cannot arm a timer: %s", strerror(-r));
}

static void reset_peers(struct ivshmem *h)
{
	struct doorbell *d = db(h);

	d->filling = -1;
	d->expected = 0;
	while (d->peer_count) {
		int id = d->peers[d->peer_count - 1]->id;

		if (peer_remove(d, id))
			front_peer_event(h, id, IVSHMEM_PEER_LEFT);
	}
	front_vectors_clear(h);
}

static void close_socket(struct ivshmem *h)
{
	struct doorbell *d = db(h);

	if (d->sock >= 0) {
		front_control_del(h, d->sock);
		close(d->sock);
	}
	d->sock = -1;
	proto_decoder_deinit(&d->decoder);
	d->state = ST_DOWN;
	d->own_id = -1;
}

/* The connection ended with @error: report, and maybe try again. */
static void lose(struct ivshmem *h, int error)
{
	struct doorbell *d = db(h);

	close_socket(h);
	reset_peers(h);
	if (d->was_ready) {
		log_info("lost the server: %s", strerror(-error));
		d->was_ready = false;
		d->backoff_ms = BACKOFF_MIN_MS;
		front_server_event(h, IVSHMEM_SERVER_LOST);
	} else {
		log_debug("reconnection failed: %s", strerror(-error));
		d->backoff_ms = d->backoff_ms * 2 > BACKOFF_MAX_MS ?
				BACKOFF_MAX_MS : d->backoff_ms * 2;
	}
	timer_arm(h, d->flags & IVSHMEM_RECONNECT ? d->backoff_ms : 0);
}

static void reconnect(struct ivshmem *h)
{
	struct doorbell *d = db(h);
	int r;

	if (d->state != ST_DOWN) { /* the handshake timed out */
		lose(h, -ETIMEDOUT);
		return;
	}
	r = connect_socket(d, SOCK_NONBLOCK);
	if (r >= 0) {
		d->sock = r;
		d->state = ST_VERSION;
		proto_decoder_init(&d->decoder);
		r = front_control_add(h, d->sock, TOKEN_SOCKET);
		if (r == 0) {
			timer_arm(h, HANDSHAKE_TIMEOUT_MS);
			return;
		}
	}
	lose(h, r);
}

/* The handshake just ended on a reconnection. */
static void reconnected(struct ivshmem *h)
{
	struct doorbell *d = db(h);

	timer_arm(h, 0);
	d->was_ready = true;
	log_info("reconnected as peer %d", d->own_id);
	front_server_event(h, d->pending_shm >= 0 ?
			   IVSHMEM_SERVER_MEMORY_CHANGED :
			   IVSHMEM_SERVER_RECONNECTED);
}

static int doorbell_process(struct ivshmem *h, uint32_t token)
{
	struct doorbell *d = db(h);
	uint64_t expirations;
	int r;

	if (token == TOKEN_TIMER) {
		if (read(d->timer, &expirations, sizeof(expirations)) < 0)
			return 0; /* disarmed meanwhile */
		if (d->state == ST_READY)
			complete_filling(h); /* quiet for SETTLE_MS */
		else if (d->flags & IVSHMEM_RECONNECT)
			reconnect(h);
		return 1;
	}
	if (d->sock < 0)
		return 0; /* closed by an earlier event of this round */
	if (d->state == ST_READY) {
		r = receive(h, false);
	} else {
		r = receive(h, true);
		if (r >= 0 && d->state == ST_READY)
			reconnected(h);
	}
	if (r < 0)
		lose(h, r);
	return 1;
}

/* ---- the operations --------------------------------------------------- */

static int doorbell_own_id(struct ivshmem *h)
{
	struct doorbell *d = db(h);

	return d->state == ST_READY ? d->own_id : -ENOTCONN;
}

static int doorbell_peers(struct ivshmem *h, uint16_t *ids, size_t max)
{
	struct doorbell *d = db(h);
	size_t n = 0;

	for (size_t i = 0; i < d->peer_count; i++) {
		if (!d->peers[i]->joined)
			continue;
		if (n < max)
			ids[n] = d->peers[i]->id;
		n++;
	}
	return (int)n;
}

static int doorbell_vectors(struct ivshmem *h, int peer)
{
	struct peer *p = peer_get(db(h), peer);

	return p ? p->count : -ENOENT;
}

static int doorbell_peer_eventfd(struct ivshmem *h, int peer, int vector)
{
	struct peer *p = peer_get(db(h), peer);

	if (!p)
		return -ENOENT;
	return vector < p->count ? p->fds[vector] : -EINVAL;
}

static int doorbell_notify(struct ivshmem *h, int peer, int vector)
{
	struct doorbell *d = db(h);
	struct peer *p;

	if (d->state != ST_READY)
		return -ENOTCONN;
	p = peer_get(d, peer);
	if (!p)
		return -ENOENT;
	if (vector >= p->count)
		return -EINVAL;
	return os_source_signal(p->fds[vector]);
}

static int doorbell_status(struct ivshmem *h)
{
	struct doorbell *d = db(h);

	if (d->state == ST_DOWN && !(d->flags & IVSHMEM_RECONNECT))
		return -ENOTCONN;
	return 0;
}

static int doorbell_remap(struct ivshmem *h)
{
	struct doorbell *d = db(h);
	void *mem;
	int r;

	if (d->pending_shm < 0)
		return -EALREADY;
	r = os_map(d->pending_shm, (uint64_t)d->pending.st_size, &mem);
	if (r < 0)
		return r;
	os_unmap(h->mem, h->size);
	h->mem = mem;
	h->size = (uint64_t)d->pending.st_size;
	d->mapped = d->pending;
	close(d->pending_shm);
	d->pending_shm = -1;
	return 0;
}

static void doorbell_close(struct ivshmem *h)
{
	struct doorbell *d = db(h);

	if (!d)
		return;
	close_socket(h);
	h->peer_fn = NULL; /* no departures for a closing handle */
	reset_peers(h);
	free(d->peers);
	if (d->timer >= 0) {
		front_control_del(h, d->timer);
		close(d->timer);
	}
	if (d->pending_shm >= 0)
		close(d->pending_shm);
	os_unmap(h->mem, h->size);
	h->mem = NULL;
	free(d);
	h->backend = NULL;
}

static const struct backend_ops doorbell_ops = {
	.close = doorbell_close,
	.own_id = doorbell_own_id,
	.peers = doorbell_peers,
	.vectors = doorbell_vectors,
	.peer_eventfd = doorbell_peer_eventfd,
	.notify = doorbell_notify,
	.process = doorbell_process,
	.status = doorbell_status,
	.remap = doorbell_remap,
};

/* ---- opening ---------------------------------------------------------- */

/* The first handshake, blocking: until the shared memory has come. */
static int handshake(struct ivshmem *h)
{
	struct doorbell *d = db(h);
	uint64_t deadline = os_deadline(HANDSHAKE_TIMEOUT_MS);

	while (d->state != ST_READY) {
		struct pollfd pfd = { .fd = d->sock, .events = POLLIN };
		int r = poll(&pfd, 1, os_remaining_ms(deadline));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		r = receive(h, true);
		if (r < 0)
			return r;
	}
	return 0;
}

int doorbell_open(struct ivshmem **out, const char *socket_path,
		  unsigned flags)
{
	struct ivshmem *h = NULL;
	struct doorbell *d;
	int r;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	*d = (struct doorbell){
		.addr.sun_family = AF_UNIX,
		.flags = flags,
		.sock = -1,
		.own_id = -1,
		.filling = -1,
		.pending_shm = -1,
		.timer = -1,
		.backoff_ms = BACKOFF_MIN_MS,
	};
	proto_decoder_init(&d->decoder);
	if (strlen(socket_path) >= sizeof(d->addr.sun_path)) {
		free(d);
		return -ENAMETOOLONG;
	}
	strcpy(d->addr.sun_path, socket_path);

	/* connect first: the server prepares our handshake meanwhile */
	r = connect_socket(d, 0);
	if (r < 0) {
		log_error("cannot connect to %s: %s", socket_path,
			  strerror(-r));
		free(d);
		return r;
	}
	d->sock = r;
	d->state = ST_VERSION;
	r = front_new(&h, &doorbell_ops, d);
	if (r < 0) {
		close(d->sock);
		free(d);
		return r;
	}
	h->has_interrupts = true;
	if (fcntl(d->sock, F_SETFL, O_NONBLOCK) < 0)
		r = -errno;
	if (r == 0)
		r = front_control_add(h, d->sock, TOKEN_SOCKET);
	if (r == 0)
		r = handshake(h);
	if (r < 0) {
		log_error("no handshake with the server at %s: %s",
			  socket_path, strerror(-r));
		ivshmem_close(h);
		return r;
	}
	d->was_ready = true;
	log_debug("connected to %s as peer %d", socket_path, d->own_id);
	*out = h;
	return 0;
}
