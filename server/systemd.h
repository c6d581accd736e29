/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * What systemd gives a service and asks of it, without libsystemd: the
 * sockets of socket activation and the fds of the fd store
 * (sd_listen_fds(3)), and readiness notification (sd_notify(3)); the fd
 * store's messages are in fdstore.h
 */
#pragma once

#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

/* The fds passed to this process, from fd 3 on, and their names. */
struct systemd_fds {
	size_t count;
	int *fds;
	char **names; /* from LISTEN_FDNAMES; "unknown" where it gives none */
};

/*
 * The fds systemd passed (LISTEN_PID naming this process, LISTEN_FDS,
 * LISTEN_FDNAMES): sockets of socket activation and the fds of the fd
 * store. Removes the LISTEN_* variables from the environment either way.
 * 0, or -ENOMEM. Free with systemd_fds_deinit() (which closes nothing).
 */
int systemd_listen_fds(struct systemd_fds *out);
void systemd_fds_deinit(struct systemd_fds *fds);

/* The address in $NOTIFY_SOCKET: 0, -ENOENT when there is none, or
 * -ENAMETOOLONG. */
int systemd_notify_address(struct sockaddr_un *addr, socklen_t *len);
/* Opens the socket named by $NOTIFY_SOCKET, if any; 0 or a negative errno. */
int systemd_notify_init(void);
void systemd_notify_deinit(void);
/* RELOADING=1, with the time systemd 253 and later want with it. */
void systemd_notify_reloading(void);
/* Sends one notification, e.g. "READY=1\nSTATUS=..."; does nothing when
 * systemd is not listening, and never blocks. */
__attribute__((format(printf, 1, 2)))
void systemd_notify(const char *fmt, ...);
