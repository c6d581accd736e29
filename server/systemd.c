/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * Socket activation and readiness notification, as sd-daemon(3) describes
 * them: the protocol is a few environment variables and a datagram socket
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "parse.h"
#include "systemd.h"

#define LISTEN_FDS_START 3

static int notify_fd = -1;
static struct sockaddr_un notify_addr;
static socklen_t notify_len;

int systemd_listen_fd(void)
{
	const char *pid = getenv("LISTEN_PID");
	const char *fds = getenv("LISTEN_FDS");
	uint64_t p, n;
	int r = 0;

	if (pid && fds && parse_uint(pid, INT32_MAX, &p) == 0 &&
	    p == (uint64_t)getpid() && parse_uint(fds, INT32_MAX, &n) == 0 &&
	    n > 0)
		r = n == 1 ? LISTEN_FDS_START : -EINVAL;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return r;
}

int systemd_notify_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t len;

	if (!path || (path[0] != '/' && path[0] != '@'))
		return 0;
	len = strlen(path);
	if (len >= sizeof(notify_addr.sun_path))
		return -ENAMETOOLONG;
	notify_addr = (struct sockaddr_un){ .sun_family = AF_UNIX };
	memcpy(notify_addr.sun_path, path, len);
	if (path[0] == '@')
		notify_addr.sun_path[0] = '\0'; /* abstract namespace */
	notify_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len +
				 (path[0] == '/'));
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	return notify_fd < 0 ? -errno : 0;
}

void systemd_notify_deinit(void)
{
	if (notify_fd >= 0)
		close(notify_fd);
	notify_fd = -1;
}

void systemd_notify_reloading(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	systemd_notify("RELOADING=1\nMONOTONIC_USEC=%llu",
		       (unsigned long long)ts.tv_sec * 1000000ULL +
		       (unsigned long long)ts.tv_nsec / 1000ULL);
}

void systemd_notify(const char *fmt, ...)
{
	char msg[256];
	va_list ap;
	int n;

	if (notify_fd < 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	/* best effort: a busy manager must not stall the server */
	sendto(notify_fd, msg, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL,
	       (struct sockaddr *)&notify_addr, notify_len);
}
