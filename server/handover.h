/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The state a server hands over to its successor in an upgrade
 *
 * A versioned blob in a memfd: a header (magic, version, length, checksum)
 * then the settings that must match, the listening socket, the shared
 * memory, the ledger, the fd store's count and the server (server.h): the
 * id counter, the counters, and every peer in connect order with its
 * socket, eventfds and outbound queue. Fds are passed by number: the new
 * process inherits them at the same numbers.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server.h"

#define HANDOVER_VERSION 1

struct handover {
	uint32_t vectors;
	uint32_t id_count;
	/* the listening socket; the path and file are those to unlink at
	 * exit, unless it came from systemd */
	int listen_fd;
	bool listen_inherited;
	uint64_t listen_dev, listen_ino;
	char *socket_path;
	/* the shared memory; a POSIX object this server created and unlinks
	 * at exit, or NULL */
	int shm_fd;
	uint64_t shm_size;
	char *shm_name;
	int ledger_fd;
	uint64_t stored; /* fds in the service manager's store */
	struct server_state server;
};

/*
 * Writes @h into a new memfd, returned (or a negative errno). @version is
 * HANDOVER_VERSION but for tests.
 */
int handover_write(const struct handover *h, uint32_t version);
/*
 * Reads the blob in @fd and checks it: the structure, and that the
 * listening socket, the memory and the ledger are what it says (the peers'
 * fds are checked by server_restore()). Returns 0, or -EINVAL with the
 * reason in @err. Free with handover_deinit(), which closes no fd.
 */
int handover_read(struct handover *h, int fd, char *err, size_t errlen);
void handover_deinit(struct handover *h);

/* Every fd the blob names, for the new process to inherit: an array of
 * *count fds, to free(); NULL when out of memory. */
int *handover_fds(const struct handover *h, size_t *count);
