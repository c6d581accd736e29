/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * Resuming after a crash: the peers rebuilt from the fds the service
 * manager kept for us (fdstore.h) and from the ledger (ledger.h)
 *
 * A peer is resumed when the store holds its socket and every eventfd and
 * the ledger says it had not left. Its id stays, and the id counter goes
 * on from where it was. It then gets, in order and with the events they
 * belong to, the messages it had not received, as the ledger works them
 * out from the order of events, with one difference: the eventfds of a
 * peer that has left are gone, so such a peer's join comes with a
 * stand-in, an eventfd nobody reads, before its departure. Every peer so
 * hears of every join and departure, in order, as without the crash:
 * QEMU frees a peer's eventfds at its departure, and a departure of a peer
 * it did not know would free them twice.
 *
 * A peer whose fds are not all there (it left while the server was down,
 * or the server died before storing them) has left: the others hear it
 * now. So does a peer that was more than LEDGER_RING departures behind,
 * which cannot be brought up to date.
 *
 * The ledger names the message each peer was being sent (outq.h), and a
 * process killed in sendmsg() dies as the call returns, after the message
 * went: the message the server was sending when it died is taken as
 * delivered, not sent again. Sending it again would be worse than rare:
 * QEMU 7.2 frees a peer's eventfds at its departure and writes into the
 * freed memory if eventfds for that id come again, and frees them twice
 * on a second departure; an eventfd twice shifts the receiver's vectors
 * (it numbers them as they come). It is wrong only when the kill lands in
 * the few instructions between naming the message and the call: the peer
 * is then one message short.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server.h"

struct fdstore;
struct ledger;
struct systemd_fds;

/* -- what the store passed back ----------------------------------------- */

struct resume_group; /* the fds of one stored peer */

struct resume {
	unsigned int vectors;
	struct fdstore *store;   /* to remove what is not used; may be NULL */
	int ledger;              /* FDSTORE_LEDGER, or -1 */
	int shm;                 /* FDSTORE_SHM, or -1 */
	int socket;              /* FDSTORE_SOCKET, or -1 */
	size_t group_count;
	struct resume_group *groups; /* sorted by join */
	size_t stored;           /* fds the store still holds for us */
};

/*
 * Takes the fds named FDSTORE_PREFIX... out of @fds (their entries become
 * -1), for a server with @vectors vectors; names it does not know are
 * closed and removed from @store.
 */
int resume_collect(struct resume *res, struct systemd_fds *fds,
		   unsigned int vectors, struct fdstore *store);
/*
 * Opens the stored ledger into @l: 1 when there is one to resume from, 0
 * when not (none, unreadable, for other settings, or from a server that
 * stopped in order: logged), in which case the stored peers and memory are
 * discarded, and the ledger too unless it can be reset for a new group
 * (then @l is open). The socket is left to the caller.
 */
int resume_ledger(struct resume *res, struct ledger *l, uint32_t id_count);
/*
 * The server's state from what was stored and the ledger, which it brings
 * up to date (departures of the peers that are gone). The state takes the
 * peers' fds; @res keeps the rest. 0 or -ENOMEM.
 */
int resume_peers(struct resume *res, struct ledger *l,
		 struct server_state *st);
/* Closes what is left and removes it from the store. */
void resume_discard(struct resume *res);
/* Frees what @res holds; closes nothing. */
void resume_deinit(struct resume *res);

/* -- the planner ---------------------------------------------------------- */

struct resume_live {
	int id;
	uint64_t join;
	const int *vectors;
	uint64_t sent_event;     /* its mark in the ledger */
	uint32_t sent_next;
};

struct resume_gone {
	int id;
	uint64_t join;
	uint64_t leave;
};

struct resume_world {
	unsigned int vectors;
	int stand_in;                   /* an eventfd for gone peers' eventfds */
	size_t live_count;
	const struct resume_live *live; /* by join */
	size_t gone_count;
	const struct resume_gone *gone; /* by leave */
	/* the same by join, from resume_world_prepare() */
	struct resume_gone *gone_by_join;
};

int resume_world_prepare(struct resume_world *w);
void resume_world_deinit(struct resume_world *w);
/*
 * The messages w->live[@p] is owed (see the top of this file), appended to
 * *@msgs (*@len of them, *@cap allocated). 0 or -ENOMEM.
 */
int resume_plan(const struct resume_world *w, size_t p,
		struct server_msg **msgs, size_t *len, size_t *cap);
