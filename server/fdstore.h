/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The service manager's file descriptor store (sd_notify(3) FDSTORE=1,
 * without libsystemd)
 *
 * systemd keeps duplicates of the fds a service stores and passes them back
 * when it starts the service again after a crash, named as they were
 * stored (LISTEN_FDNAMES). Each fd is stored in a message of its own, so
 * that each has a name of its own: systemd 252 puts the fds of one message
 * in a set, which loses their order, and gives them all the same name.
 *
 * Messages wait in a queue, in order, for the manager to read its socket:
 * the server never blocks on it, except before an upgrade (fdstore_sync).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What this server stores, by name; "ivshmem." marks the names as ours. */
#define FDSTORE_PREFIX "ivshmem."
#define FDSTORE_LEDGER "ivshmem.ledger"
#define FDSTORE_SHM "ivshmem.shm"
#define FDSTORE_SOCKET "ivshmem.socket"
#define FDSTORE_NAME_MAX 96

/* A peer's socket (@vector -1) or eventfd: "ivshmem.peer.JOIN.ID.socket",
 * "ivshmem.peer.JOIN.ID.vector.V", JOIN being the event of its join. */
void fdstore_peer_name(char *buf, size_t len, uint64_t join, int id,
		       int vector);
/* The reverse: 0, or -EINVAL for a name that is not one. */
int fdstore_parse_peer_name(const char *name, uint64_t *join, int *id,
			    int *vector);

struct fdstore;
struct loop;

/*
 * Connects to the store when the service manager offers one: $NOTIFY_SOCKET
 * is set and $FDSTORE, the number of fds it keeps for the service
 * (FileDescriptorStoreMax=), is above 0. *out is NULL when there is none.
 * 0 or a negative errno.
 */
int fdstore_new(struct fdstore **out, struct loop *loop);
void fdstore_free(struct fdstore *st);

/* Whether @n more fds fit in the store. */
bool fdstore_has_room(const struct fdstore *st, size_t n);
/* How many fds the store holds for us, as far as we know. */
size_t fdstore_count(const struct fdstore *st);
/* After a restart or an upgrade: the store holds @n fds already. */
void fdstore_set_count(struct fdstore *st, size_t n);

/*
 * Queues @fd (duplicated: the caller keeps its own) to be stored as @name,
 * printable ASCII without ':'. 0, or a negative errno.
 */
int fdstore_add(struct fdstore *st, int fd, const char *name);
/* Queues the removal of the fds stored as @name. */
void fdstore_remove(struct fdstore *st, const char *name);
/* Takes the first @count of a peer's names out of the store, in the order
 * they go in: its vectors 0..@nvec-1, then its socket. */
void fdstore_remove_peer(struct fdstore *st, uint64_t join, int id,
			 unsigned int nvec, unsigned int count);

/* Sends what is queued, waiting at most @timeout_ms for the manager to
 * take it: 0, -ETIMEDOUT, or another negative errno. */
int fdstore_sync(struct fdstore *st, int timeout_ms);
