/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The server: peers, their ids, eventfds and outbound queues
 *
 * Every message for a peer goes through its queue (peer_push); queues are
 * written out when the current event has been handled (settle), and again
 * whenever a socket becomes writable. Nothing is ever dropped: a peer that
 * does not read is disconnected once its queue passes the limit, and its
 * departure is announced like any other.
 *
 * Joins and departures are events, numbered in the ledger (ledger.h) before
 * anything is queued for them, and every message carries its event. An
 * event is whole: a peer that has to go while one is handled (it left,
 * misbehaved, its queue overflowed or memory ran out) is only marked, and
 * dropped in settle, after the event. So what each peer is sent follows
 * from the order of events alone, which is what lets a server restarted
 * after a crash work out what each peer missed (resume.h).
 *
 * A dropped peer gets no more messages and new peers are not told about
 * it; its departure is queued to every peer at once. It is freed at the
 * end of settle, so that no loop over the peers ever sees the list change
 * under it.
 *
 * A client is admitted before it is sent anything (admit): it must be in
 * the allow-lists, under max-peers, and find a free id. One that is not is
 * closed at once, and no peer hears of it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdcheck.h"
#include "fdstore.h"
#include "ids.h"
#include "ledger.h"
#include "log.h"
#include "loop.h"
#include "outq.h"
#include "protocol.h"
#include "server.h"

/* How long a shutdown waits for peers to take their departure notices. */
#define SHUTDOWN_GRACE 2.0
/* How long to wait before accepting again after running out of fds. */
#define ACCEPT_RETRY 0.1
/* How long to wait before sending again after ETOOMANYREFS. */
#define SEND_RETRY 0.05
/* Clients accepted per wake-up, so that one burst cannot starve the rest. */
#define ACCEPT_BATCH 64
/* At most this many refusals are logged in this many seconds; the rest
 * are counted, so that a client knocking in a loop cannot flood the log. */
#define REFUSALS_LOGGED 10
#define REFUSAL_WINDOW 5.0

struct peer {
	struct server *server;
	struct peer *prev, *next;  /* connect order, while linked */
	struct peer *next_dirty;   /* has messages to write */
	struct peer *next_dropped;
	int sock;
	int id;
	pid_t pid;
	uid_t uid;
	gid_t gid;
	uint64_t join;            /* the event of its join */
	struct loop_io *io;
	struct outq queue;
	size_t slack;             /* its join burst, not counted in the limit
				   * until its queue first drains */
	size_t farewell;          /* shutdown: next index in s->farewell_ids */
	bool farewell_done;
	bool linked;
	bool dirty;
	bool dropped;
	bool out_of_memory;       /* a message could not be queued */
	bool stored;              /* its fds are in the fd store */
	struct fdref *vectors[];  /* its eventfds, server->cfg.vectors */
};

struct server {
	struct loop *loop;
	struct server_config cfg;
	int listen_fd;
	struct loop_io *listen_io;
	struct loop_timer *accept_timer;
	unsigned long accept_retries; /* of the current shortage of fds */
	struct loop_timer *send_timer;
	struct loop_timer *shutdown_timer;
	struct fdref *shm;
	struct fdref **spare;      /* eventfds made ready for the next peer */
	bool spare_ready;
	struct ids ids;
	struct peer *first, *last;
	size_t peers;              /* linked and not dropped */
	size_t peers_notified;     /* what cfg.peers_changed last heard */
	double refusals_since;     /* start of the current refusal window */
	unsigned int refusals;     /* refusals logged in it */
	uint64_t refusals_quiet;   /* refusals not logged in it */
	struct peer *dirty, **dirty_tail;  /* in the order they got dirty */
	struct peer *dropped, **dropped_tail;
	bool closing;
	bool abandoned;            /* handed over: touch no peer */
	int *farewell_ids;
	size_t farewell_count;
	size_t farewells_pending;
	struct server_stats stats;
};

static void settle(struct server *s);

static void mark_dirty(struct peer *p)
{
	struct server *s = p->server;

	if (p->dirty)
		return;
	p->dirty = true;
	p->next_dirty = NULL;
	*s->dirty_tail = p;
	s->dirty_tail = &p->next_dirty;
}

__attribute__((format(printf, 3, 4)))
static void peer_drop(struct peer *p, int level, const char *fmt, ...);
static void farewell_done(struct peer *p);

/*
 * Queues message @index of @event for @p; see the top of the file. Never
 * drops a peer: settle does, after the event.
 */
static void peer_push(struct peer *p, int64_t value, struct fdref *fd,
		      uint64_t event, uint32_t index)
{
	if (p->dropped || p->out_of_memory)
		return;
	if (outq_push(&p->queue, value, fd, event, index) < 0) {
		p->out_of_memory = true;
		return;
	}
	p->server->stats.messages++;
	mark_dirty(p);
}

static void peer_drop(struct peer *p, int level, const char *fmt, ...)
{
	struct server *s = p->server;
	uint64_t event;
	char why[160];
	va_list ap;

	if (p->dropped)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_msg(level, "peer %d %s", p->id, why);

	p->dropped = true;
	if (p->linked)
		s->peers--;
	loop_io_set(p->io, 0);
	p->next_dropped = NULL;
	*s->dropped_tail = p;
	s->dropped_tail = &p->next_dropped;
	if (level <= LOG_WARNING)
		s->stats.dropped++;
	else
		s->stats.departures++;
	if (s->closing) {
		farewell_done(p);
		return;
	}
	event = ledger_leave(s->cfg.ledger, p->id);
	for (struct peer *o = s->first; o; o = o->next)
		peer_push(o, p->id, NULL, event, 0);
}

/* Puts a new peer's eventfds, then its socket, in the fd store: the socket
 * last, so that a stored socket means its eventfds are there too. All or
 * nothing, so that the store's count stays exact. */
static void store_peer(struct peer *p)
{
	struct server *s = p->server;
	struct fdstore *st = s->cfg.store;
	unsigned int nvec = s->cfg.vectors;
	char name[FDSTORE_NAME_MAX];
	unsigned int added = 0;
	int r = 0;

	if (!st)
		return;
	if (!fdstore_has_room(st, nvec + 1)) {
		log_warning("peer %d will not survive a crash of the server: "
			    "the fd store is full or gone (%zu fds stored; "
			    "raise FileDescriptorStoreMax= and FDSTORE=)",
			    p->id, fdstore_count(st));
		return;
	}
	for (unsigned int v = 0; v < nvec && r == 0; v++) {
		fdstore_peer_name(name, sizeof(name), p->join, p->id, (int)v);
		r = fdstore_add(st, p->vectors[v]->fd, name);
		added += r == 0;
	}
	if (r == 0) {
		fdstore_peer_name(name, sizeof(name), p->join, p->id, -1);
		r = fdstore_add(st, p->sock, name);
	}
	if (r < 0) {
		fdstore_remove_peer(st, p->join, p->id, nvec, added);
		log_warning("peer %d will not survive a crash of the server: "
			    "cannot store its fds: %s", p->id, strerror(-r));
		return;
	}
	p->stored = true;
}

static void unstore_peer(struct peer *p)
{
	struct server *s = p->server;

	if (!p->stored || !s->cfg.store)
		return;
	fdstore_remove_peer(s->cfg.store, p->join, p->id, s->cfg.vectors,
			    s->cfg.vectors + 1);
	p->stored = false;
}

/* Discards what a client sent, so that closing gives it a clean end of
 * stream rather than a reset; bounded, as the client may keep sending. */
static void discard_input(int sock)
{
	char buf[4096];

	for (int i = 0; i < 16; i++)
		if (recv(sock, buf, sizeof(buf), MSG_DONTWAIT) <= 0)
			break;
}

static void peer_free(struct peer *p)
{
	struct server *s = p->server;

	if (p->linked) {
		if (p->prev)
			p->prev->next = p->next;
		else
			s->first = p->next;
		if (p->next)
			p->next->prev = p->prev;
		else
			s->last = p->prev;
	}
	ids_free(&s->ids, p->id);
	loop_io_free(p->io);
	if (!s->abandoned) {
		discard_input(p->sock);
		/* the fd store may hold a copy: end the connection itself */
		shutdown(p->sock, SHUT_RDWR);
	}
	close(p->sock);
	outq_deinit(&p->queue);
	for (unsigned int v = 0; v < s->cfg.vectors; v++)
		fdref_put(p->vectors[v]);
	free(p);
}

/* Shutdown: once its queue is empty, a peer is told that all others left. */
static void farewell_done(struct peer *p)
{
	struct server *s = p->server;

	if (p->farewell_done)
		return;
	p->farewell_done = true;
	if (--s->farewells_pending == 0)
		loop_quit(s->loop);
}

static int send_farewells(struct peer *p)
{
	struct server *s = p->server;

	for (; p->farewell < s->farewell_count; p->farewell++) {
		int id = s->farewell_ids[p->farewell];
		int r;

		if (id == p->id)
			continue;
		r = proto_send(p->sock, id, -1);
		if (r < 0)
			return r;
	}
	return 0;
}

static void peer_flush(struct peer *p)
{
	struct server *s = p->server;
	int r;

	r = outq_flush(&p->queue, p->sock);
	if (r == 0 && s->closing)
		r = send_farewells(p);
	if (r == -EAGAIN) {
		loop_io_set(p->io, LOOP_READ | LOOP_WRITE);
		return;
	}
	if (r == -ETOOMANYREFS) {
		/* Too many fds in flight for this user: nothing to wait on
		 * but time, as peers read theirs. */
		log_debug("peer %d: too many fds in flight, retrying", p->id);
		loop_io_set(p->io, LOOP_READ);
		loop_timer_start(s->send_timer, SEND_RETRY);
		return;
	}
	if (r < 0) {
		peer_drop(p, LOG_INFO, "connection lost: %s", strerror(-r));
		return;
	}
	loop_io_set(p->io, LOOP_READ);
	p->slack = 0;
	if (s->closing)
		farewell_done(p);
}

static void on_peer(struct loop_io *io, int events, void *data)
{
	struct peer *p = data;
	char byte;
	ssize_t n;

	(void)io;
	if (events & LOOP_READ) {
		n = recv(p->sock, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
		if (n == 0)
			peer_drop(p, LOG_INFO, "left");
		else if (n > 0)
			peer_drop(p, LOG_WARNING, "sent data (clients must not "
				  "send anything): disconnected");
		else if (errno != EAGAIN && errno != EINTR)
			peer_drop(p, LOG_INFO, "connection lost: %s",
				  strerror(errno));
	}
	if ((events & LOOP_WRITE) && !p->dropped)
		peer_flush(p);
	settle(p->server);
}

/* Logs why a client was turned away, unless too many were just now. */
__attribute__((format(printf, 3, 4)))
static void refusal(struct server *s, const struct peer_cred *c,
		    const char *fmt, ...)
{
	double now = loop_now(s->loop);
	char why[160];
	va_list ap;

	if (now - s->refusals_since >= REFUSAL_WINDOW) {
		if (s->refusals_quiet)
			log_warning("%llu more clients refused in %g s",
				    (unsigned long long)s->refusals_quiet,
				    REFUSAL_WINDOW);
		s->refusals_since = now;
		s->refusals = 0;
		s->refusals_quiet = 0;
	}
	if (s->refusals >= REFUSALS_LOGGED) {
		s->refusals_quiet++;
		return;
	}
	s->refusals++;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	log_warning("refused a client (pid %d, uid %d, gid %d): %s",
		    (int)c->pid, (int)c->uid, (int)c->gid, why);
}

/* Whether a client may join: the allow-lists, then the peer limit. */
static bool admit(struct server *s, int sock, struct peer_cred *cred)
{
	const struct access_policy *a = &s->cfg.access;
	int r = peer_cred_get(cred, sock, a->groups.count > 0);

	if (r < 0 && !access_open(a)) {
		s->stats.denied++;
		refusal(s, cred, "cannot read its credentials: %s",
			strerror(-r));
		return false;
	}
	if (!access_allowed(a, cred->uid, cred->gid, cred->groups,
			    cred->ngroups)) {
		s->stats.denied++;
		refusal(s, cred, "not in allow-users or allow-groups");
		return false;
	}
	if (s->peers >= s->cfg.max_peers) {
		s->stats.refused++;
		refusal(s, cred, "%zu peers already (max-peers)", s->peers);
		return false;
	}
	if (s->ids.used >= s->ids.count) {
		s->stats.refused++;
		refusal(s, cred, "no free peer id (all %u in use)",
			s->cfg.id_count);
		return false;
	}
	return true;
}

static void link_peer(struct peer *p)
{
	struct server *s = p->server;

	p->linked = true;
	p->prev = s->last;
	if (s->last)
		s->last->next = p;
	else
		s->first = p;
	s->last = p;
	s->peers++;
}

/*
 * Whether no peer still connected saw a peer with @id leave. QEMU (7.2 at
 * least) frees a peer's eventfds at its departure and keeps the pointer:
 * eventfds for that id afterwards go into freed memory and crash it. The
 * oldest peer joined first: a departure before its join, none saw.
 */
static bool unseen_departure(int id, void *data)
{
	const struct server *s = data;

	return !s->first || ledger_left(s->cfg.ledger, id) < s->first->join;
}

static void peer_join(struct server *s, int sock)
{
	unsigned int nvec = s->cfg.vectors;
	struct peer_cred cred = { 0 };
	struct peer *p;
	uint64_t join;
	uint32_t index = 0;
	int id;

	/* A client that may not join gets nothing, not even the version. */
	if (!admit(s, sock, &cred)) {
		peer_cred_deinit(&cred);
		close(sock);
		return;
	}
	peer_cred_deinit(&cred);
	p = calloc(1, sizeof(*p) + nvec * sizeof(p->vectors[0]));
	if (!p) {
		log_error("out of memory: refusing a client");
		goto refuse;
	}
	p->server = s;
	p->sock = sock;
	p->pid = cred.pid;
	p->uid = cred.uid;
	p->gid = cred.gid;
	p->id = -1;
	outq_init(&p->queue);
	id = ids_alloc_where(&s->ids, p, unseen_departure, s);
	if (id < 0 && (id = ids_alloc(&s->ids, p)) >= 0)
		log_warning("peer id %d is given again while peers that saw it "
			    "leave are connected: a QEMU 7.2 among them would "
			    "crash (see --max-id)", id);
	if (id < 0) {
		log_error("no free peer id: refusing a client");
		goto refuse;
	}
	p->id = id;
	memcpy(p->vectors, s->spare, nvec * sizeof(p->vectors[0]));
	s->spare_ready = false;
	p->io = loop_io_new(s->loop, sock, LOOP_READ, on_peer, p);
	if (!p->io) {
		log_error("out of memory: refusing a client");
		goto refuse;
	}
	log_info("peer %d joined (pid %d, uid %d)", id, (int)p->pid,
		 (int)p->uid);
	s->stats.joins++;
	join = p->join = ledger_join(s->cfg.ledger, id);
	ledger_set_next_id(s->cfg.ledger, s->ids.next);
	p->queue.track = ledger_track(s->cfg.ledger, id);
	store_peer(p);

	/* The order of QEMU's server, which QEMU's device relies on. A
	 * newcomer cannot have read its burst yet: it does not count. */
	peer_push(p, PROTO_VERSION, NULL, join, index++);
	peer_push(p, id, NULL, join, index++);
	peer_push(p, PROTO_SHM_ID, s->shm, join, index++);
	for (struct peer *o = s->first; o; o = o->next)
		for (unsigned int v = 0; v < nvec; v++)
			peer_push(o, id, p->vectors[v], join, v);
	for (struct peer *o = s->first; o; o = o->next) {
		if (o->dropped)
			continue;
		for (unsigned int v = 0; v < nvec; v++)
			peer_push(p, o->id, o->vectors[v], join, index++);
	}
	for (unsigned int v = 0; v < nvec; v++)
		peer_push(p, id, p->vectors[v], join, index++);
	p->slack = p->queue.len;
	link_peer(p);
	return;

refuse:
	s->stats.refused++;
	if (p) {
		ids_free(&s->ids, p->id);
		for (unsigned int v = 0; v < nvec; v++)
			fdref_put(p->vectors[v]);
		loop_io_free(p->io);
		free(p);
	}
	close(sock);
}

/*
 * Makes the eventfds of the next peer before accepting it: when fds run out,
 * clients wait in the listen backlog rather than being accepted and turned
 * away one after another.
 */
static int make_spare(struct server *s)
{
	unsigned int v;
	int r = 0;

	if (s->spare_ready)
		return 0;
	for (v = 0; v < s->cfg.vectors; v++) {
		int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);

		if (fd < 0 || !(s->spare[v] = fdref_new(fd))) {
			r = fd < 0 ? -errno : -ENOMEM;
			if (fd >= 0)
				close(fd);
			break;
		}
	}
	if (r < 0) {
		while (v--)
			fdref_put(s->spare[v]);
		return r;
	}
	s->spare_ready = true;
	return 0;
}

/* Said once a shortage, not at every retry: a client that keeps the
 * server at its fd limit must not flood the log. */
static void pause_accepting(struct server *s, const char *why)
{
	if (s->accept_retries++ == 0)
		log_warning("cannot accept clients: %s; retrying every %g s",
			    why, ACCEPT_RETRY);
	loop_io_set(s->listen_io, 0);
	loop_timer_start(s->accept_timer, ACCEPT_RETRY);
}

static void accepting_again(struct server *s)
{
	if (!s->accept_retries)
		return;
	log_notice("accepting clients again, after %lu retries",
		   s->accept_retries);
	s->accept_retries = 0;
}

static void on_listen(struct loop_io *io, int events, void *data)
{
	struct server *s = data;

	(void)io;
	(void)events;
	for (int i = 0; i < ACCEPT_BATCH && !s->closing; i++) {
		int fd, r = make_spare(s);

		if (r < 0) {
			char why[96];

			snprintf(why, sizeof(why), "cannot create eventfds: %s",
				 strerror(-r));
			pause_accepting(s, why);
			break;
		}
		fd = accept4(s->listen_fd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EAGAIN) {
				accepting_again(s);
				break;
			}
			/* the client gave up before we got to it */
			if (errno == ECONNABORTED || errno == EINTR ||
			    errno == EPROTO || errno == EPERM)
				continue;
			/* EMFILE, ENFILE, ENOBUFS, ENOMEM, or worse */
			pause_accepting(s, strerror(errno));
			break;
		}
		accepting_again(s);
		peer_join(s, fd);
		/* ready for the next one before anyone hears of this one, so
		 * that the fds in use only change when peers come and go */
		make_spare(s);
		/* write out and reap before the next join, so that it sees
		 * exactly the peers that are really there */
		settle(s);
	}
}

static void on_accept_timer(void *data)
{
	struct server *s = data;

	if (!s->closing)
		loop_io_set(s->listen_io, LOOP_READ);
}

static void on_send_timer(void *data)
{
	struct server *s = data;

	for (struct peer *p = s->first; p; p = p->next)
		if (!(loop_io_events(p->io) & LOOP_WRITE))
			mark_dirty(p);
	settle(s);
}

static void on_shutdown_timer(void *data)
{
	struct server *s = data;

	log_warning("%zu peers did not take their departure notices in %g s",
		    s->farewells_pending, SHUTDOWN_GRACE);
	loop_quit(s->loop);
}

/* Writes out queues and frees dropped peers; the end of every event. */
static void settle(struct server *s)
{
	while (s->dirty) {
		struct peer *p = s->dirty;

		s->dirty = p->next_dirty;
		if (!s->dirty)
			s->dirty_tail = &s->dirty;
		p->dirty = false;
		if (p->dropped)
			continue;
		if (p->out_of_memory) {
			peer_drop(p, LOG_ERR, "out of memory for its queue");
			continue;
		}
		if (!(loop_io_events(p->io) & LOOP_WRITE))
			peer_flush(p);
		/* Only what the socket does not take counts. */
		if (!p->dropped &&
		    p->queue.len > s->cfg.max_queue + p->slack)
			peer_drop(p, LOG_WARNING, "not reading: more than %zu "
				  "messages waiting (--max-queue)",
				  s->cfg.max_queue);
	}
	while (s->dropped) {
		struct peer *p = s->dropped;

		s->dropped = p->next_dropped;
		unstore_peer(p);
		peer_free(p);
	}
	s->dropped_tail = &s->dropped;
	if (s->peers != s->peers_notified && s->cfg.peers_changed) {
		s->peers_notified = s->peers;
		s->cfg.peers_changed(s->cfg.data, s->peers);
	}
}

int server_new(struct server **out, struct loop *loop, int listen_fd,
	       int shm_fd, const struct server_config *cfg)
{
	struct server *s = calloc(1, sizeof(*s));
	int fd = -1;

	if (!s)
		return -ENOMEM;
	s->loop = loop;
	s->cfg = *cfg;
	s->cfg.access = (struct access_policy){ 0 };
	s->listen_fd = listen_fd;
	s->dropped_tail = &s->dropped;
	s->dirty_tail = &s->dirty;
	s->spare = calloc(cfg->vectors + 1, sizeof(*s->spare));
	if (!s->spare || ids_init(&s->ids, cfg->id_count) < 0 ||
	    server_reconfigure(s, cfg) < 0)
		goto fail;
	fd = fcntl(shm_fd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0 || !(s->shm = fdref_new(fd)))
		goto fail;
	s->accept_timer = loop_timer_new(loop, on_accept_timer, s);
	s->send_timer = loop_timer_new(loop, on_send_timer, s);
	s->shutdown_timer = loop_timer_new(loop, on_shutdown_timer, s);
	s->listen_io = loop_io_new(loop, listen_fd, LOOP_READ, on_listen, s);
	make_spare(s); /* or before the first accept */
	if (!s->accept_timer || !s->send_timer || !s->shutdown_timer ||
	    !s->listen_io)
		goto fail;
	*out = s;
	return 0;

fail:
	if (fd >= 0 && !s->shm)
		close(fd);
	server_free(s);
	return -ENOMEM;
}

void server_free(struct server *s)
{
	if (!s)
		return;
	s->dirty = NULL; /* nothing more is written */
	s->dirty_tail = &s->dirty;
	while (s->dropped) {
		struct peer *p = s->dropped;

		s->dropped = p->next_dropped;
		peer_free(p);
	}
	while (s->first)
		peer_free(s->first);
	loop_io_free(s->listen_io);
	loop_timer_free(s->accept_timer);
	loop_timer_free(s->send_timer);
	loop_timer_free(s->shutdown_timer);
	fdref_put(s->shm);
	if (s->spare_ready)
		for (unsigned int v = 0; v < s->cfg.vectors; v++)
			fdref_put(s->spare[v]);
	free(s->spare);
	ids_deinit(&s->ids);
	idlist_clear(&s->cfg.access.users);
	idlist_clear(&s->cfg.access.groups);
	free(s->farewell_ids);
	free(s);
}

void server_abandon(struct server *s)
{
	if (!s)
		return;
	s->abandoned = true;
	server_free(s);
}

void server_state_deinit(struct server_state *st)
{
	for (size_t i = 0; st->peers && i < st->peer_count; i++) {
		free(st->peers[i].vectors);
		free(st->peers[i].queue);
	}
	free(st->peers);
	*st = (struct server_state){ 0 };
}

int server_save(const struct server *s, struct server_state *st)
{
	unsigned int nvec = s->cfg.vectors;
	size_t n = 0;

	*st = (struct server_state){ .next_id = s->ids.next,
				     .stats = s->stats };
	st->stats.peers = s->peers;
	st->peers = calloc(s->peers + 1, sizeof(*st->peers));
	if (!st->peers)
		return -ENOMEM;
	for (const struct peer *p = s->first; p; p = p->next) {
		struct server_peer *sp = &st->peers[n];

		if (p->dropped)
			continue;
		*sp = (struct server_peer){
			.id = p->id, .sock = p->sock, .pid = (int)p->pid,
			.uid = p->uid, .gid = p->gid, .join = p->join,
			.slack = p->slack, .stored = p->stored,
			.queue_len = p->queue.len,
		};
		st->peer_count = ++n;
		sp->vectors = calloc(nvec + 1, sizeof(*sp->vectors));
		sp->queue = calloc(p->queue.len + 1, sizeof(*sp->queue));
		if (!sp->vectors || !sp->queue) {
			server_state_deinit(st);
			return -ENOMEM;
		}
		for (unsigned int v = 0; v < nvec; v++)
			sp->vectors[v] = p->vectors[v]->fd;
		for (size_t i = 0; i < p->queue.len; i++) {
			const struct outmsg *m = outq_at(&p->queue, i);

			sp->queue[i] = (struct server_msg){
				.value = m->value,
				.fd = !m->fd ? -1 : m->fd == s->shm ?
				      SERVER_SHM_FD : m->fd->fd,
				.event = m->event, .index = m->index,
			};
		}
	}
	return 0;
}

/* What each fd number of a state is, while server_restore() checks it. */
enum { FD_UNSEEN, FD_SEEN, FD_SOCKET, FD_EVENTFD, FD_VECTOR };

struct fdmap {
	int max;
	unsigned char *kind;
	struct fdref **refs; /* of the eventfds */
};

/* Each fd number that @st uses, once. */
static void each_fd(const struct server_state *st, unsigned int nvec,
		    void (*fn)(int fd, void *data), void *data)
{
	for (size_t i = 0; i < st->peer_count; i++) {
		const struct server_peer *sp = &st->peers[i];

		fn(sp->sock, data);
		for (unsigned int v = 0; v < nvec; v++)
			fn(sp->vectors[v], data);
		for (size_t k = 0; k < sp->queue_len; k++)
			fn(sp->queue[k].fd, data);
	}
}

static void find_max(int fd, void *data)
{
	int *max = data;

	if (fd > *max)
		*max = fd;
}

static void close_fd(int fd, void *data)
{
	(void)data;
	if (fd >= 0)
		close(fd);
}

static void mark_seen(int fd, void *data)
{
	struct fdmap *m = data;

	if (fd >= 0)
		m->kind[fd] = FD_SEEN;
}

/* The first use of @fd as an eventfd checks that it is one. */
static bool take_eventfd(struct fdmap *m, int fd)
{
	if (m->kind[fd] == FD_EVENTFD || m->kind[fd] == FD_VECTOR)
		return true;
	if (m->kind[fd] != FD_SEEN || !fd_is_eventfd(fd))
		return false;
	m->kind[fd] = FD_EVENTFD;
	return true;
}

static int check_peer(const struct server *s, struct fdmap *m,
		      const struct server_peer *sp, uint64_t prev_join,
		      char *err, size_t errlen)
{
	const struct ledger *l = s->cfg.ledger;
	uint64_t events = l->hdr->events;

	if (sp->id < 0 || (uint32_t)sp->id >= s->cfg.id_count)
		return einval(err, errlen, "peer id %d out of range", sp->id);
	if (ids_owner(&s->ids, sp->id))
		return einval(err, errlen, "peer id %d twice", sp->id);
	if (sp->join <= prev_join || sp->join > events ||
	    l->slots[sp->id].join != sp->join)
		return einval(err, errlen, "peer %d: its join is not in the "
			       "ledger", sp->id);
	if (sp->sock < 0 || m->kind[sp->sock] != FD_SEEN ||
	    !fd_is_unix_stream(sp->sock, false))
		return einval(err, errlen, "peer %d: fd %d is not a "
			       "connected stream socket", sp->id, sp->sock);
	m->kind[sp->sock] = FD_SOCKET;
	for (unsigned int v = 0; v < s->cfg.vectors; v++) {
		int fd = sp->vectors[v];

		if (fd < 0 || m->kind[fd] == FD_VECTOR || !take_eventfd(m, fd))
			return einval(err, errlen, "peer %d: fd %d (vector "
				       "%u) is not an eventfd of its own",
				       sp->id, fd, v);
		m->kind[fd] = FD_VECTOR;
	}
	for (size_t k = 0; k < sp->queue_len; k++) {
		const struct server_msg *msg = &sp->queue[k];
		bool shm = msg->value == PROTO_SHM_ID;

		if (msg->value < PROTO_SHM_ID || msg->value > PROTO_ID_MAX ||
		    shm != (msg->fd == SERVER_SHM_FD) ||
		    msg->event == 0 || msg->event > events ||
		    (msg->fd >= 0 && !take_eventfd(m, msg->fd)) ||
		    (msg->fd < 0 && msg->fd != -1 && !shm))
			return einval(err, errlen, "peer %d: queued message "
				       "%zu is not one this server sends",
				       sp->id, k);
	}
	return 0;
}

static void close_seen(struct fdmap *m)
{
	for (int fd = 0; fd <= m->max; fd++)
		if (m->kind[fd] != FD_UNSEEN && !m->refs[fd])
			close(fd);
}

static struct peer *restore_peer(struct server *s, struct fdmap *m,
				 const struct server_peer *sp)
{
	unsigned int nvec = s->cfg.vectors;
	struct peer *p = calloc(1, sizeof(*p) + nvec * sizeof(p->vectors[0]));

	if (!p)
		return NULL;
	*p = (struct peer){
		.server = s, .sock = sp->sock, .id = sp->id,
		.pid = (pid_t)sp->pid, .uid = (uid_t)sp->uid,
		.gid = (gid_t)sp->gid, .join = sp->join,
		.slack = sp->slack > SIZE_MAX / 2 ? SIZE_MAX / 2 :
			 (size_t)sp->slack,
		.stored = sp->stored && s->cfg.store,
	};
	outq_init(&p->queue);
	p->queue.track = ledger_track(s->cfg.ledger, p->id);
	ids_claim(&s->ids, p->id, p);
	link_peer(p);
	m->kind[sp->sock] = FD_UNSEEN; /* the peer has it now */
	for (unsigned int v = 0; v < nvec; v++)
		p->vectors[v] = fdref_get(m->refs[sp->vectors[v]]);
	p->io = loop_io_new(s->loop, p->sock, LOOP_READ, on_peer, p);
	if (!p->io)
		return NULL;
	for (size_t k = 0; k < sp->queue_len; k++) {
		const struct server_msg *msg = &sp->queue[k];
		struct fdref *fd = msg->fd == SERVER_SHM_FD ? s->shm :
				   msg->fd >= 0 ? m->refs[msg->fd] : NULL;

		if (outq_push(&p->queue, msg->value, fd, msg->event,
			      msg->index) < 0)
			return NULL;
	}
	return p;
}

int server_restore(struct server **out, struct loop *loop, int listen_fd,
		   int shm_fd, const struct server_config *cfg,
		   const struct server_state *st, char *err, size_t errlen)
{
	struct fdmap m = { .max = -1 };
	struct server *s = NULL;
	uint64_t prev_join = 0;
	int r;

	each_fd(st, cfg->vectors, find_max, &m.max);
	m.kind = calloc((size_t)m.max + 2, 1);
	m.refs = calloc((size_t)m.max + 2, sizeof(*m.refs));
	if (!m.kind || !m.refs) {
		free(m.kind);
		m.kind = NULL;
		each_fd(st, cfg->vectors, close_fd, NULL);
		r = -ENOMEM;
		goto fail;
	}
	each_fd(st, cfg->vectors, mark_seen, &m);
	/* the caller's own fds are no peer's */
	if (listen_fd <= m.max && listen_fd >= 0)
		m.kind[listen_fd] = FD_UNSEEN;
	if (shm_fd <= m.max && shm_fd >= 0)
		m.kind[shm_fd] = FD_UNSEEN;

	r = server_new(&s, loop, listen_fd, shm_fd, cfg);
	if (r < 0)
		goto fail;
	if (st->next_id >= cfg->id_count) {
		r = einval(err, errlen, "id counter %u out of range",
			    st->next_id);
		goto fail;
	}
	for (size_t i = 0; i < st->peer_count; i++) {
		r = check_peer(s, &m, &st->peers[i], prev_join, err, errlen);
		if (r < 0)
			goto fail;
		prev_join = st->peers[i].join;
		/* reserve the id, so that a second use is seen */
		ids_claim(&s->ids, st->peers[i].id, &m);
	}
	for (size_t i = 0; i < st->peer_count; i++)
		ids_free(&s->ids, st->peers[i].id);
	for (int fd = 0; fd <= m.max; fd++)
		if ((m.kind[fd] == FD_EVENTFD || m.kind[fd] == FD_VECTOR) &&
		    !(m.refs[fd] = fdref_new(fd))) {
			r = -ENOMEM;
			goto fail;
		}
	for (size_t i = 0; i < st->peer_count; i++)
		if (!restore_peer(s, &m, &st->peers[i])) {
			r = -ENOMEM;
			goto fail;
		}
	s->ids.next = st->next_id;
	ledger_set_next_id(cfg->ledger, st->next_id);
	s->stats = st->stats;
	/* the queues go out once the loop runs */
	loop_timer_start(s->send_timer, 0);
	r = 0;

fail:
	if (r < 0) {
		if (r == -ENOMEM)
			snprintf(err, errlen, "out of memory");
		server_abandon(s);
		s = NULL;
		if (m.kind)
			close_seen(&m);
	}
	for (int fd = 0; m.refs && fd <= m.max; fd++)
		fdref_put(m.refs[fd]);
	free(m.kind);
	free(m.refs);
	*out = s;
	return r;
}

void server_shutdown(struct server *s)
{
	size_t n = 0;

	if (s->closing) {
		log_notice("second signal: quitting now");
		loop_quit(s->loop);
		return;
	}
	s->closing = true;
	loop_io_set(s->listen_io, 0);
	loop_timer_stop(s->accept_timer);
	for (struct peer *p = s->first; p; p = p->next)
		n++;
	log_notice("shutting down: telling %zu peers", n);
	s->farewell_ids = calloc(n ? n : 1, sizeof(*s->farewell_ids));
	if (!s->farewell_ids) {
		loop_quit(s->loop);
		return;
	}
	for (struct peer *p = s->first; p; p = p->next) {
		if (p->dropped)
			continue;
		s->farewell_ids[s->farewell_count++] = p->id;
		s->farewells_pending++;
		mark_dirty(p);
	}
	if (!s->farewells_pending) {
		loop_quit(s->loop);
		return;
	}
	loop_timer_start(s->shutdown_timer, SHUTDOWN_GRACE);
	settle(s);
}

int server_reconfigure(struct server *s, const struct server_config *cfg)
{
	struct access_policy a = { 0 };

	if (idlist_copy(&a.users, &cfg->access.users) < 0 ||
	    idlist_copy(&a.groups, &cfg->access.groups) < 0) {
		idlist_clear(&a.users);
		return -ENOMEM;
	}
	idlist_clear(&s->cfg.access.users);
	idlist_clear(&s->cfg.access.groups);
	s->cfg.access = a;
	s->cfg.max_queue = cfg->max_queue;
	s->cfg.max_peers = cfg->max_peers;
	return 0;
}

void server_get_stats(const struct server *s, struct server_stats *st)
{
	*st = s->stats;
	st->peers = s->peers;
}

void server_log_state(const struct server *s)
{
	const struct server_stats *st = &s->stats;

	log_notice("state: %zu peers (max-peers %u), ids 0..%u with %u in use, "
		   "next id %u, %u vectors, max-queue %zu%s",
		   s->peers, s->cfg.max_peers, s->cfg.id_count - 1,
		   s->ids.used, s->ids.next, s->cfg.vectors, s->cfg.max_queue,
		   s->closing ? ", shutting down" : "");
	log_notice("state: joins %llu, departures %llu, dropped %llu, "
		   "refused %llu, denied %llu, messages %llu",
		   (unsigned long long)st->joins,
		   (unsigned long long)st->departures,
		   (unsigned long long)st->dropped,
		   (unsigned long long)st->refused,
		   (unsigned long long)st->denied,
		   (unsigned long long)st->messages);
	for (const struct peer *p = s->first; p; p = p->next)
		log_notice("state: peer %d: pid %d, uid %d, gid %d, %zu "
			   "messages queued%s", p->id, (int)p->pid, (int)p->uid,
			   (int)p->gid, p->queue.len,
			   loop_io_events(p->io) & LOOP_WRITE ?
			   ", waiting for it to read" : "");
}
