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

static char *next_name(const char **names)
{
	const char *p = *names;
	size_t len;

	if (!p)
		return strdup("unknown");
	len = strcspn(p, ":");
	*names = p[len] ? p + len + 1 : NULL;
	return len ? strndup(p, len) : strdup("unknown");
}

int systemd_listen_fds(struct systemd_fds *out)
{
	const char *pid = getenv("LISTEN_PID");
	const char *fds = getenv("LISTEN_FDS");
	const char *names = getenv("LISTEN_FDNAMES");
	uint64_t p, n = 0;
	int r = 0;

	*out = (struct systemd_fds){ 0 };
	if (!pid || !fds || parse_uint(pid, INT32_MAX, &p) < 0 ||
	    p != (uint64_t)getpid() || parse_uint(fds, INT32_MAX - 3, &n) < 0)
		n = 0;
	if (n) {
		out->fds = calloc(n, sizeof(*out->fds));
		out->names = calloc(n, sizeof(*out->names));
		if (!out->fds || !out->names)
			r = -ENOMEM;
		for (size_t i = 0; r == 0 && i < n; i++) {
			out->fds[i] = LISTEN_FDS_START + (int)i;
			out->names[i] = next_name(&names);
			out->count++;
			if (!out->names[i])
				r = -ENOMEM;
		}
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (r < 0)
		systemd_fds_deinit(out);
	return r;
}

void systemd_fds_deinit(struct systemd_fds *fds)
{
	for (size_t i = 0; fds->names && i < fds->count; i++)
		free(fds->names[i]);
	free(fds->names);
	free(fds->fds);
	*fds = (struct systemd_fds){ 0 };
}

int systemd_notify_address(struct sockaddr_un *addr, socklen_t *len)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t n;

	if (!path || (path[0] != '/' && path[0] != '@'))
		return -ENOENT;
	n = strlen(path);
	if (n >= sizeof(addr->sun_path))
		return -ENAMETOOLONG;
	*addr = (struct sockaddr_un){ .sun_family = AF_UNIX };
	memcpy(addr->sun_path, path, n);
	if (path[0] == '@')
		addr->sun_path[0] = '\0'; /* abstract namespace */
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n +
			   (path[0] == '/'));
	return 0;
}

int systemd_notify_init(void)
{
	int r = systemd_notify_address(&notify_addr, &notify_len);

	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return r;
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
