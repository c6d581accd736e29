/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The server: peers, their ids, eventfds and outbound queues
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "access.h"

struct fdstore;
struct ledger;
struct loop;
struct server;

struct server_config {
	/* fixed for the life of the server */
	unsigned int vectors;  /* eventfds per peer, 0..PROTO_VECTORS_MAX */
	uint32_t id_count;     /* ids are 0..id_count-1; PROTO_ID_COUNT */
	/* server_reconfigure() can change these */
	size_t max_queue;      /* messages waiting for one peer, at most */
	uint32_t max_peers;    /* peers at once */
	struct access_policy access; /* copied */
	/* called after events that changed the number of peers */
	void (*peers_changed)(void *data, size_t peers);
	void *data;
	/* not owned: where joins, departures and what each peer was sent are
	 * recorded (required), and where peers' fds are kept (or NULL) */
	struct ledger *ledger;
	struct fdstore *store;
};

struct server_stats {
	size_t peers;
	uint64_t joins;
	uint64_t departures;
	uint64_t refused;      /* clients turned away: max-peers, no id, or
				* out of memory */
	uint64_t denied;       /* clients not in the allow-lists */
	uint64_t dropped;      /* peers disconnected for misbehaving */
	uint64_t messages;     /* messages queued */
};

/*
 * Serves clients that connect to @listen_fd (the caller keeps it), handing
 * each a duplicate of @shm_fd (the caller keeps @shm_fd too).
 */
int server_new(struct server **out, struct loop *loop, int listen_fd,
	       int shm_fd, const struct server_config *cfg);
void server_free(struct server *s);

/*
 * What a server hands over to its successor, or what a restart rebuilds:
 * fds by number, messages with the event they belong to (outq.h).
 */
#define SERVER_SHM_FD (-2) /* in a message: the shared memory */

struct server_msg {
	int64_t value;
	int fd;          /* -1: none */
	uint64_t event;
	uint32_t index;
};

struct server_peer {
	int id;
	int sock;
	int pid;
	uint32_t uid, gid;
	uint64_t join;   /* the event of its join */
	uint64_t slack;  /* see server.c */
	bool stored;     /* its fds are in the fd store */
	int *vectors;    /* its eventfds: server_config.vectors of them */
	size_t queue_len;
	struct server_msg *queue;
};

struct server_state {
	uint32_t next_id;
	struct server_stats stats;
	size_t peer_count;
	struct server_peer *peers; /* in the order they joined */
};

/*
 * Describes @s in @st, which borrows its fds. Call between events (from a
 * signal callback). 0 or -ENOMEM.
 */
int server_save(const struct server *s, struct server_state *st);
/* Frees what @st holds; closes no fd. */
void server_state_deinit(struct server_state *st);
/*
 * As server_new(), with the peers of @st, which must be in @cfg's ledger.
 * Takes every fd in @st (closing each on failure); checks that each is
 * what @st says it is. Sends nothing before the loop runs. Returns 0,
 * -ENOMEM, or -EINVAL with the reason in @err.
 */
int server_restore(struct server **out, struct loop *loop, int listen_fd,
		   int shm_fd, const struct server_config *cfg,
		   const struct server_state *st, char *err, size_t errlen);
/*
 * Frees @s without a word to its peers and without touching their sockets,
 * the fd store or the ledger: for the process that handed them over.
 */
void server_abandon(struct server *s);

/*
 * Stops accepting, tells every peer that every other peer has left, and
 * quits the loop once that is sent, or after a short grace time. A second
 * call quits the loop at once.
 */
void server_shutdown(struct server *s);

/*
 * Takes the new limits and allow-lists of @cfg (not its vectors or ids).
 * Peers already there stay, even those the new settings would refuse.
 * Returns 0, or -ENOMEM with nothing changed.
 */
int server_reconfigure(struct server *s, const struct server_config *cfg);

void server_get_stats(const struct server *s, struct server_stats *st);

/* Logs the state: counters, then every peer with its queue. */
void server_log_state(const struct server *s);
