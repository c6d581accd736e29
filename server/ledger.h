/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The ledger: what the server has sent each peer, in a memfd that outlives
 * the process
 *
 * The service manager keeps the memfd with the peers' fds (fdstore.h), so
 * that a server restarted after a crash knows exactly what every peer was
 * told and what it was not. Joins and departures are events, numbered from
 * 1. Every message a peer gets belongs to one event (outq.h); its slot,
 * indexed by peer id, says where in that stream it is. Departures also go
 * into a ring, so that a restarted server can still tell the peers that
 * had not heard of one. Everything is written with single aligned stores,
 * each in an order after which a process killed at any instruction leaves
 * a consistent ledger (see ledger.c).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "outq.h"

#define LEDGER_VERSION 2
/* Departures kept: a peer more than this many behind at a crash cannot be
 * brought up to date (resume.h). */
#define LEDGER_RING 65536

enum {
	LEDGER_CLEAN = 1,       /* the server stopped in order: peers were told */
	LEDGER_SHM_CREATED = 2, /* the POSIX object is ours to unlink at exit */
};

struct ledger_slot {
	uint64_t join;          /* the event of its join; 0: the id is free */
	uint64_t left;          /* the event of its last departure, or 0 */
	struct outq_track track; /* what was sent to it */
};

struct ledger_departure {
	uint64_t leave;         /* the event of the departure */
	uint64_t join;          /* the event of that peer's join */
	uint32_t id;
	uint32_t reserved;
};

struct ledger_header {
	char magic[8];
	uint32_t version;
	uint32_t header_size;
	uint32_t vectors;
	uint32_t id_count;
	uint32_t ring_size;
	uint32_t flags;         /* LEDGER_* */
	uint64_t events;        /* the last event numbered */
	uint64_t departures;    /* departures ever written to the ring */
	uint64_t forgotten;     /* the newest departure no longer in the ring */
	uint32_t next_id;       /* where the id counter is */
	uint32_t reserved;
	char shm_name[256];     /* with LEDGER_SHM_CREATED: the object */
};

struct ledger {
	int fd;
	size_t size;
	struct ledger_header *hdr;
	struct ledger_slot *slots;       /* hdr->id_count */
	struct ledger_departure *ring;   /* hdr->ring_size */
};

/* A new, empty ledger in a new memfd. 0 or a negative errno. */
int ledger_create(struct ledger *l, unsigned int vectors, uint32_t id_count);
/*
 * Maps the ledger in @fd (taken, also on failure) after checking it
 * throughout. Returns 0, or -EINVAL with the reason in @err.
 */
int ledger_open(struct ledger *l, int fd, char *err, size_t errlen);
/* Unmaps and closes; safe to call twice. */
void ledger_close(struct ledger *l);
/* Forgets every peer and event, for a new group of peers. */
void ledger_reset(struct ledger *l);

/* Numbers the join of the peer @id and makes its slot live. */
uint64_t ledger_join(struct ledger *l, int id);
/* Numbers the departure of @id, records it in the ring, frees the slot. */
uint64_t ledger_leave(struct ledger *l, int id);
struct outq_track *ledger_track(struct ledger *l, int id);
/* The event of the last departure of a peer with id @id, or 0. */
uint64_t ledger_left(const struct ledger *l, int id);
void ledger_set_next_id(struct ledger *l, uint32_t next);
void ledger_set_flags(struct ledger *l, uint32_t flags, bool on);
/* The POSIX object this server created (and unlinks at exit), or NULL. */
void ledger_set_shm_created(struct ledger *l, const char *name);

/* The departures still in the ring, oldest first: @i from 0 to the count
 * that ledger_departure_count() returns. */
size_t ledger_departure_count(const struct ledger *l);
const struct ledger_departure *ledger_departure(const struct ledger *l,
						size_t i);
