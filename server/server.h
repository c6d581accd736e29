/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The server: peers, their ids, eventfds and outbound queues
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct loop;
struct server;

struct server_config {
	unsigned int vectors;  /* eventfds per peer, 0..PROTO_VECTORS_MAX */
	size_t max_queue;      /* messages waiting for one peer, at most */
	uint32_t id_count;     /* ids are 0..id_count-1; PROTO_ID_COUNT */
};

struct server_stats {
	size_t peers;
	uint64_t joins;
	uint64_t departures;
	uint64_t refused;      /* clients turned away: no id, no eventfd */
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

void server_get_stats(const struct server *s, struct server_stats *st);
