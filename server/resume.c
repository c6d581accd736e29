/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * Resuming after a crash
 *
 * What a peer P was sent follows from the order of events (server.c):
 * event J, its join, sent it the version, its id and the memory, then each
 * peer there at J (those that joined before and had not left), in join
 * order, once per vector with its eventfds, then itself once per vector;
 * each later join sent it the newcomer's id once per vector with its
 * eventfds, each later departure the id alone. Its mark (event, next
 * index) says how far it got (outq_track_read(): past the message it was
 * being sent when the server died). The planner walks that stream from
 * the mark on and emits what a peer that is still there can still be sent.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "access.h"
#include "fdcheck.h"
#include "fdstore.h"
#include "ledger.h"
#include "log.h"
#include "protocol.h"
#include "resume.h"
#include "systemd.h"

struct resume_group {
	uint64_t join;
	int id;
	int sock;        /* -1 when not stored */
	int *vectors;    /* -1 where not stored */
};

/* -- the planner ---------------------------------------------------------- */

static int by_join(const void *a, const void *b)
{
	uint64_t x = ((const struct resume_gone *)a)->join;
	uint64_t y = ((const struct resume_gone *)b)->join;

	return x < y ? -1 : x > y;
}

int resume_world_prepare(struct resume_world *w)
{
	w->gone_by_join = calloc(w->gone_count + 1, sizeof(*w->gone_by_join));
	if (!w->gone_by_join)
		return -ENOMEM;
	memcpy(w->gone_by_join, w->gone, w->gone_count * sizeof(*w->gone));
	qsort(w->gone_by_join, w->gone_count, sizeof(*w->gone), by_join);
	return 0;
}

void resume_world_deinit(struct resume_world *w)
{
	free(w->gone_by_join);
	w->gone_by_join = NULL;
}

struct plan {
	struct server_msg **msgs;
	size_t *len, *cap;
	bool failed;
	uint64_t event;   /* the mark: what was received */
	uint32_t next;
};

/* Whether message @index of @event is past the mark. */
static bool owed(const struct plan *pl, uint64_t event, uint32_t index)
{
	return event > pl->event || (event == pl->event && index >= pl->next);
}

static void emit(struct plan *pl, int64_t value, int fd, uint64_t event,
		 uint32_t index)
{
	if (pl->failed || !owed(pl, event, index))
		return;
	if (*pl->len == *pl->cap) {
		size_t cap = *pl->cap ? *pl->cap * 2 : 16;
		struct server_msg *m = realloc(*pl->msgs, cap * sizeof(*m));

		if (!m) {
			pl->failed = true;
			return;
		}
		*pl->msgs = m;
		*pl->cap = cap;
	}
	(*pl->msgs)[(*pl->len)++] = (struct server_msg){
		.value = value, .fd = fd, .event = event, .index = index,
	};
}

/* The first of @n items of @size bytes, sorted by the uint64_t at @offset
 * in each, whose key is at least @event. */
static size_t first_from(const void *items, size_t n, size_t size,
			 size_t offset, uint64_t event)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint64_t key;

		memcpy(&key, (const char *)items + mid * size + offset,
		       sizeof(key));
		if (key < event)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The first gone peer whose departure is at or after @event. */
static size_t first_leave(const struct resume_world *w, uint64_t event)
{
	return first_from(w->gone, w->gone_count, sizeof(*w->gone),
			  offsetof(struct resume_gone, leave), event);
}

/* The first live peer that joined at or after @event. */
static size_t first_join(const struct resume_world *w, uint64_t event)
{
	return first_from(w->live, w->live_count, sizeof(*w->live),
			  offsetof(struct resume_live, join), event);
}

/* The first gone peer, by join, that joined at or after @event. */
static size_t first_gone_join(const struct resume_world *w, uint64_t event)
{
	return first_from(w->gone_by_join, w->gone_count, sizeof(*w->gone),
			  offsetof(struct resume_gone, join), event);
}

/* Peer @id's eventfds (@vectors, or the stand-in when it is gone), as
 * messages @first.. of @event. */
static void emit_block(struct plan *pl, const struct resume_world *w, int id,
		       const int *vectors, uint64_t event, uint32_t first)
{
	for (unsigned int v = 0; v < w->vectors; v++)
		emit(pl, id, vectors ? vectors[v] : w->stand_in, event,
		     first + v);
}

/* Event J: the header, the peers there at J, then its own eventfds. */
static void plan_burst(const struct resume_world *w, size_t p, struct plan *pl)
{
	const struct resume_live *me = &w->live[p];
	uint64_t j = me->join;
	size_t li = 0, gi = 0;
	uint32_t index = 3;

	emit(pl, PROTO_VERSION, -1, j, 0);
	emit(pl, me->id, -1, j, 1);
	emit(pl, PROTO_SHM_ID, SERVER_SHM_FD, j, 2);
	/* live[0..p) joined before; of the gone, those there at J */
	for (;;) {
		const struct resume_gone *g = NULL;

		while (gi < w->gone_count && w->gone_by_join[gi].join < j &&
		       w->gone_by_join[gi].leave < j)
			gi++; /* had left before J */
		if (gi < w->gone_count && w->gone_by_join[gi].join < j)
			g = &w->gone_by_join[gi];
		if (li < p && (!g || w->live[li].join < g->join)) {
			const struct resume_live *q = &w->live[li++];

			emit_block(pl, w, q->id, q->vectors, j, index);
		} else if (g) {
			emit_block(pl, w, g->id, NULL, j, index);
			gi++;
		} else {
			break;
		}
		index += w->vectors;
	}
	emit_block(pl, w, me->id, me->vectors, j, index);
}

int resume_plan(const struct resume_world *w, size_t p,
		struct server_msg **msgs, size_t *len, size_t *cap)
{
	const struct resume_live *me = &w->live[p];
	struct plan pl = { .msgs = msgs, .len = len, .cap = cap,
			   .event = me->sent_event, .next = me->sent_next };
	/* the later events from the one at the mark, in order: joins, of
	 * live peers or gone ones, and departures */
	uint64_t from = pl.event > me->join ? pl.event : me->join + 1;
	size_t li = first_join(w, from), gj = first_gone_join(w, from);
	size_t gl = first_leave(w, from);

	if (pl.event == me->join)
		plan_burst(w, p, &pl);
	for (;;) {
		uint64_t live = li < w->live_count ? w->live[li].join : UINT64_MAX;
		uint64_t gone_join = gj < w->gone_count ?
			w->gone_by_join[gj].join : UINT64_MAX;
		uint64_t gone_leave = gl < w->gone_count ?
			w->gone[gl].leave : UINT64_MAX;

		if (live < gone_join && live < gone_leave) {
			const struct resume_live *q = &w->live[li++];

			emit_block(&pl, w, q->id, q->vectors, q->join, 0);
		} else if (gone_join < gone_leave) {
			const struct resume_gone *g = &w->gone_by_join[gj++];

			emit_block(&pl, w, g->id, NULL, g->join, 0);
		} else if (gone_leave != UINT64_MAX) {
			const struct resume_gone *g = &w->gone[gl++];

			emit(&pl, g->id, -1, g->leave, 0);
		} else {
			break;
		}
	}
	return pl.failed ? -ENOMEM : 0;
}

/* -- what the store passed back ------------------------------------------ */

struct entry {
	uint64_t join;
	int id;
	int vector;
	int fd;
};

static int by_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->join != y->join)
		return x->join < y->join ? -1 : 1;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return (x->vector > y->vector) - (x->vector < y->vector);
}

static void forget(struct resume *res, int fd, const char *name)
{
	if (fd >= 0)
		close(fd);
	if (res->store)
		fdstore_remove(res->store, name);
	if (res->stored)
		res->stored--;
}

/* Takes a named single fd (the ledger, the memory, the socket). */
static void take_single(struct resume *res, int *slot, int fd)
{
	res->stored++;
	if (*slot >= 0) {
		close(fd); /* the same name twice: keep the first */
		return;
	}
	*slot = fd;
}

static int make_groups(struct resume *res, struct entry *e, size_t n)
{
	qsort(e, n, sizeof(*e), by_entry);
	res->groups = calloc(n + 1, sizeof(*res->groups));
	if (!res->groups)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct resume_group *g = res->group_count ?
			&res->groups[res->group_count - 1] : NULL;
		int *slot;

		if (!g || g->join != e[i].join || g->id != e[i].id) {
			g = &res->groups[res->group_count++];
			g->join = e[i].join;
			g->id = e[i].id;
			g->sock = -1;
			g->vectors = malloc((res->vectors + 1) * sizeof(int));
			if (!g->vectors)
				return -ENOMEM;
			for (unsigned int v = 0; v < res->vectors; v++)
				g->vectors[v] = -1;
		}
		slot = e[i].vector < 0 ? &g->sock : &g->vectors[e[i].vector];
		res->stored++;
		if (*slot >= 0) {
			close(e[i].fd); /* stored twice: keep the first */
			continue;
		}
		*slot = e[i].fd;
	}
	return 0;
}

int resume_collect(struct resume *res, struct systemd_fds *fds,
		   unsigned int vectors, struct fdstore *store)
{
	struct entry *e = calloc(fds->count + 1, sizeof(*e));
	size_t n = 0;
	int r;

	*res = (struct resume){ .vectors = vectors, .store = store,
				.ledger = -1, .shm = -1, .socket = -1 };
	if (!e)
		return -ENOMEM;
	for (size_t i = 0; i < fds->count; i++) {
		const char *name = fds->names[i];
		int fd = fds->fds[i];

		if (fd < 0 || strncmp(name, FDSTORE_PREFIX,
				      strlen(FDSTORE_PREFIX)) != 0)
			continue;
		fds->fds[i] = -1;
		fcntl(fd, F_SETFD, FD_CLOEXEC); /* passed without */
		if (strcmp(name, FDSTORE_LEDGER) == 0)
			take_single(res, &res->ledger, fd);
		else if (strcmp(name, FDSTORE_SHM) == 0)
			take_single(res, &res->shm, fd);
		else if (strcmp(name, FDSTORE_SOCKET) == 0)
			take_single(res, &res->socket, fd);
		else if (fdstore_parse_peer_name(name, &e[n].join, &e[n].id,
						 &e[n].vector) == 0 &&
			 e[n].vector < (int)vectors)
			e[n++].fd = fd;
		else {
			log_warning("the fd store holds %s, which this server "
				    "does not use: removing it", name);
			res->stored++;
			forget(res, fd, name);
		}
	}
	r = make_groups(res, e, n);
	free(e);
	return r;
}

static void forget_group(struct resume *res, struct resume_group *g)
{
	char name[FDSTORE_NAME_MAX];

	for (unsigned int v = 0; v < res->vectors; v++) {
		if (g->vectors[v] < 0)
			continue;
		fdstore_peer_name(name, sizeof(name), g->join, g->id, (int)v);
		forget(res, g->vectors[v], name);
		g->vectors[v] = -1;
	}
	if (g->sock >= 0) {
		fdstore_peer_name(name, sizeof(name), g->join, g->id, -1);
		shutdown(g->sock, SHUT_RDWR);
		forget(res, g->sock, name);
		g->sock = -1;
	}
}

/* What is of no use without a ledger to resume from: all but the socket,
 * which serves on if it is still ours (listener_adopt_own()). */
static void discard_state(struct resume *res)
{
	if (res->ledger >= 0)
		forget(res, res->ledger, FDSTORE_LEDGER);
	if (res->shm >= 0)
		forget(res, res->shm, FDSTORE_SHM);
	res->ledger = res->shm = -1;
	for (size_t i = 0; i < res->group_count; i++)
		if (res->groups[i].vectors)
			forget_group(res, &res->groups[i]);
}

void resume_discard(struct resume *res)
{
	discard_state(res);
	if (res->socket >= 0)
		forget(res, res->socket, FDSTORE_SOCKET);
	res->socket = -1;
}

void resume_deinit(struct resume *res)
{
	for (size_t i = 0; i < res->group_count; i++)
		free(res->groups[i].vectors);
	free(res->groups);
	res->groups = NULL;
	res->group_count = 0;
}

int resume_ledger(struct resume *res, struct ledger *l, uint32_t id_count)
{
	char err[160];
	int fd = res->ledger;

	*l = (struct ledger){ .fd = -1 };
	if (fd < 0) {
		if (res->group_count || res->shm >= 0)
			log_warning("the fd store holds peers but no ledger: "
				    "they cannot be resumed");
		discard_state(res);
		return 0;
	}
	res->ledger = -1;
	if (ledger_open(l, fd, err, sizeof(err)) < 0) {
		log_error("cannot resume the peers in the fd store: %s", err);
		forget(res, -1, FDSTORE_LEDGER);
		discard_state(res);
		return 0;
	}
	if (l->hdr->vectors != res->vectors || l->hdr->id_count != id_count) {
		log_error("cannot resume the peers in the fd store: they have "
			  "%u vectors and ids 0..%u, the configuration says %u "
			  "and 0..%u", l->hdr->vectors, l->hdr->id_count - 1,
			  res->vectors, id_count - 1);
		ledger_close(l);
		forget(res, -1, FDSTORE_LEDGER);
		discard_state(res);
		return 0;
	}
	if (l->hdr->flags & LEDGER_CLEAN) {
		if (res->group_count)
			log_notice("the previous server stopped in order and "
				   "told its peers: not resuming them");
		ledger_reset(l);
		/* it removed its socket too: what is stored listens nowhere */
		resume_discard(res);
		return 0;
	}
	return 1;
}

/* The departures in the ledger's ring that make sense, oldest first. */
static struct resume_gone *read_gone(const struct ledger *l, size_t *count)
{
	size_t n = ledger_departure_count(l), k = 0;
	struct resume_gone *gone = calloc(n + 1, sizeof(*gone));

	for (size_t i = 0; gone && i < n; i++) {
		const struct ledger_departure *d = ledger_departure(l, i);

		if (d->join == 0 || d->join >= d->leave ||
		    d->leave > l->hdr->events || d->id >= l->hdr->id_count ||
		    (k && d->leave <= gone[k - 1].leave))
			continue;
		gone[k++] = (struct resume_gone){ .id = (int)d->id,
						  .join = d->join,
						  .leave = d->leave };
	}
	*count = k;
	return gone;
}

static int by_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Whether the peer that joined at @join has left (joins are unique). */
static bool has_left(const uint64_t *joins, size_t n, uint64_t join)
{
	return bsearch(&join, joins, n, sizeof(*joins), by_u64) != NULL;
}

/* Why a stored peer cannot be resumed, or NULL; "" when the ledger does
 * not have it as there (it left, or its id went to another). */
static const char *unusable(const struct resume *res, const struct ledger *l,
			    const struct resume_group *g)
{
	uint64_t event;
	uint32_t next;

	if ((uint32_t)g->id >= l->hdr->id_count ||
	    l->slots[g->id].join != g->join)
		return "";
	if (g->sock < 0)
		return "left while the server was down";
	if (!fd_is_unix_stream(g->sock, false))
		return "is gone: its stored socket is not a connection";
	for (unsigned int v = 0; v < res->vectors; v++)
		if (g->vectors[v] < 0 || !fd_is_eventfd(g->vectors[v]))
			return "is gone: its eventfds are not all in the fd "
			       "store";
	outq_track_read(&l->slots[g->id].track, &event, &next);
	if (event < g->join || event > l->hdr->events)
		return "is gone: its ledger entry is corrupt";
	return NULL;
}

/* Records the departure of @id in the ledger and drops what was stored. */
static void depart(struct resume *res, struct ledger *l,
		   struct resume_group *g, int id, const char *why)
{
	log_info("peer %d %s: announcing its departure", id, why);
	ledger_leave(l, id);
	if (g)
		forget_group(res, g);
}

/*
 * Decides who is resumed: usable[i] for groups[i]. Whoever else the ledger
 * has as there is recorded as gone.
 */
static int sort_out(struct resume *res, struct ledger *l, bool *usable)
{
	uint32_t ids = l->hdr->id_count;
	bool *grouped = calloc(ids, sizeof(*grouped));
	struct resume_gone *gone;
	uint64_t *joins = NULL;
	size_t ngone = 0;
	bool changed;

	gone = read_gone(l, &ngone);
	if (gone)
		joins = calloc(ngone + 1, sizeof(*joins));
	if (!grouped || !gone || !joins) {
		free(grouped);
		free(gone);
		free(joins);
		return -ENOMEM;
	}
	for (size_t i = 0; i < ngone; i++)
		joins[i] = gone[i].join;
	qsort(joins, ngone, sizeof(*joins), by_u64);
	for (size_t i = 0; i < res->group_count; i++) {
		struct resume_group *g = &res->groups[i];
		const char *why = unusable(res, l, g);

		if (!why && has_left(joins, ngone, g->join))
			why = "";
		usable[i] = !why;
		if (why && why[0]) {
			grouped[g->id] = true;
			depart(res, l, g, g->id, why);
		} else if (why) {
			forget_group(res, g); /* left before the crash */
		} else {
			grouped[g->id] = true;
		}
	}
	/* in the ledger but not in the store: gone (unless recorded) */
	for (uint32_t id = 0; id < ids; id++) {
		uint64_t join = l->slots[id].join;

		if (join && !grouped[id] && !has_left(joins, ngone, join))
			depart(res, l, NULL, (int)id,
			       "was not in the fd store (it left while the "
			       "server was down, or before it was stored)");
	}
	/* each departure may push an old one out of the ring: whoever had
	 * not heard of that one can no longer be told */
	do {
		changed = false;
		for (size_t i = 0; i < res->group_count; i++) {
			struct resume_group *g = &res->groups[i];
			uint64_t event;
			uint32_t next;

			if (!usable[i])
				continue;
			outq_track_read(&l->slots[g->id].track, &event, &next);
			if (l->hdr->forgotten <= event)
				continue;
			log_warning("peer %d was more than %d departures behind: "
				    "it cannot be brought up to date",
				    g->id, LEDGER_RING - 1);
			depart(res, l, g, g->id, "is dropped");
			usable[i] = false;
			changed = true;
		}
	} while (changed);
	free(grouped);
	free(gone);
	free(joins);
	return 0;
}

/* Whether a message queued in @st carries @fd. */
static bool queued(const struct server_state *st, int fd)
{
	for (size_t k = 0; k < st->peer_count; k++)
		for (size_t i = 0; i < st->peers[k].queue_len; i++)
			if (st->peers[k].queue[i].fd == fd)
				return true;
	return false;
}

/* The state's peers take their fds from @res only once every plan is
 * made: on failure, @res still has them all. The stand-in for gone
 * peers' eventfds is the state's if a message carries it. */
static int build_state(struct resume *res, struct ledger *l,
		       const bool *usable, struct server_state *st)
{
	struct resume_world w = { .vectors = res->vectors, .stand_in = -1 };
	struct resume_live *live;
	struct resume_gone *gone;
	size_t *group;
	size_t n = 0, owed = 0, behind = 0;
	int r = -ENOMEM;

	live = calloc(res->group_count + 1, sizeof(*live));
	group = calloc(res->group_count + 1, sizeof(*group));
	st->peers = calloc(res->group_count + 1, sizeof(*st->peers));
	gone = read_gone(l, &w.gone_count);
	if (!live || !group || !st->peers || !gone)
		goto out;
	w.stand_in = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w.stand_in < 0) {
		r = -errno;
		goto out;
	}
	for (size_t i = 0; i < res->group_count; i++) {
		struct resume_group *g = &res->groups[i];
		struct resume_live *q = &live[n];

		if (!usable[i])
			continue;
		q->id = g->id;
		q->join = g->join;
		q->vectors = g->vectors;
		outq_track_settle(&l->slots[g->id].track, &q->sent_event,
				  &q->sent_next);
		group[n++] = i;
	}
	w.live = live;
	w.live_count = n;
	w.gone = gone;
	if (resume_world_prepare(&w) < 0)
		goto out;
	for (size_t k = 0; k < n; k++) {
		size_t cap = 0;

		st->peer_count = k + 1;
		if (resume_plan(&w, k, &st->peers[k].queue,
				&st->peers[k].queue_len, &cap) < 0)
			goto out;
	}
	for (size_t k = 0; k < n; k++) {
		struct server_peer *sp = &st->peers[k];
		struct resume_group *g = &res->groups[group[k]];
		struct peer_cred cred = { 0 };

		peer_cred_get(&cred, g->sock, false);
		peer_cred_deinit(&cred);
		sp->id = g->id;
		sp->sock = g->sock;
		sp->pid = (int)cred.pid;
		sp->uid = cred.uid;
		sp->gid = cred.gid;
		sp->join = g->join;
		sp->slack = sp->queue_len;
		sp->stored = true;
		sp->vectors = g->vectors;
		g->vectors = NULL;
		g->sock = -1;
		owed += sp->queue_len;
		behind += sp->queue_len > 0;
	}
	st->next_id = l->hdr->next_id;
	log_notice("resumed %zu peers from the fd store; %zu of them are owed "
		   "%zu messages", n, behind, owed);
	r = 0;
out:
	if (w.stand_in >= 0 && (r < 0 || !queued(st, w.stand_in)))
		close(w.stand_in);
	resume_world_deinit(&w);
	free(live);
	free(group);
	free(gone);
	return r;
}

int resume_peers(struct resume *res, struct ledger *l,
		 struct server_state *st)
{
	bool *usable = calloc(res->group_count + 1, sizeof(*usable));
	int r = -ENOMEM;

	*st = (struct server_state){ 0 };
	if (usable && sort_out(res, l, usable) == 0)
		r = build_state(res, l, usable, st);
	if (r < 0) {
		server_state_deinit(st);
		resume_discard(res);
	}
	free(usable);
	return r;
}
