/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The server: peers, their ids, eventfds and outbound queues
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "access.h"

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
