/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * What systemd gives a service and asks of it, without libsystemd: the
 * socket of socket activation (sd_listen_fds(3)) and readiness
 * notification (sd_notify(3))
 */
#pragma once

/*
 * The listening socket systemd passed (LISTEN_PID, LISTEN_FDS, fd 3), or 0
 * when none was passed to this process, or -EINVAL when more than one was.
 * Removes the LISTEN_* variables from the environment either way.
 */
int systemd_listen_fd(void);

/* Opens the socket named by $NOTIFY_SOCKET, if any; 0 or a negative errno. */
int systemd_notify_init(void);
void systemd_notify_deinit(void);
/* RELOADING=1, with the time systemd 253 and later want with it. */
void systemd_notify_reloading(void);
/* Sends one notification, e.g. "READY=1\nSTATUS=..."; does nothing when
 * systemd is not listening, and never blocks. */
__attribute__((format(printf, 1, 2)))
void systemd_notify(const char *fmt, ...);
