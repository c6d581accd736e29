/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * Live upgrade: fork, exec, and the status socket between the two processes
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loop.h"
#include "parse.h"
#include "upgrade.h"

#define DELETED " (deleted)"

char *upgrade_own_binary(void)
{
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
	size_t len;

	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	len = (size_t)n;
	if (len > strlen(DELETED) &&
	    strcmp(buf + len - strlen(DELETED), DELETED) == 0)
		buf[len - strlen(DELETED)] = '\0';
	return strdup(buf);
}

/* In the child, after fork: becomes the new server, or says why not. */
__attribute__((noreturn))
static void child(const char *exe, char **argv, int state, int status,
		  const int *fds, size_t count, const sigset_t *mask)
{
	char env[64];

	for (size_t i = 0; i < count; i++)
		fcntl(fds[i], F_SETFD, 0);
	fcntl(state, F_SETFD, 0);
	fcntl(status, F_SETFD, 0);
	snprintf(env, sizeof(env), "%d:%d", state, status);
	setenv(UPGRADE_ENV, env, 1);
	/* the new process unblocks its signals once it handles them: one
	 * that came meanwhile waits rather than kills it */
	sigprocmask(SIG_SETMASK, mask, NULL);
	execv(exe, argv);
	dprintf(status, "error: cannot execute %s: %s\n", exe, strerror(errno));
	_exit(127);
}

/*
 * Reads the child's report: 1 for "ready", 0 with its message or exit in
 * @err for anything else.
 */
static int wait_report(int sock, pid_t pid, char *err, size_t errlen)
{
	double deadline = loop_clock_ms() + UPGRADE_TIMEOUT_MS;
	char msg[512];
	size_t len = 0;
	int wstatus;

	for (;;) {
		struct pollfd pfd = { .fd = sock, .events = POLLIN };
		double left = deadline - loop_clock_ms();
		ssize_t n;

		if (left <= 0) {
			snprintf(err, errlen, "the new process did not report "
				 "within %d s: killed it",
				 UPGRADE_TIMEOUT_MS / 1000);
			kill(pid, SIGKILL);
			return 0;
		}
		if (poll(&pfd, 1, (int)left + 1) <= 0)
			continue;
		n = read(sock, msg + len, sizeof(msg) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0) {
			len += (size_t)n;
			msg[len] = '\0';
			if (strcmp(msg, "ready\n") == 0)
				return 1;
			if (!memchr(msg, '\n', len) && len < sizeof(msg) - 1)
				continue;
		}
		break;
	}
	/* an error, or the end: the child is exiting or gone */
	msg[strcspn(msg, "\n")] = '\0';
	kill(pid, SIGKILL);
	if (len) {
		snprintf(err, errlen, "the new process: %s",
			 strncmp(msg, "error: ", 7) == 0 ? msg + 7 : msg);
		return 0;
	}
	while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(wstatus))
		snprintf(err, errlen, "the new process exited with status %d "
			 "before it was ready", WEXITSTATUS(wstatus));
	else
		snprintf(err, errlen, "the new process was killed by signal "
			 "%d before it was ready", WTERMSIG(wstatus));
	return -1; /* reaped already */
}

void upgrade_block_signals(sigset_t *old)
{
	sigset_t all;

	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, old);
}

void upgrade_forward_signals(pid_t pid)
{
	sigset_t pending;

	sigpending(&pending);
	for (int sig = 1; sig < NSIG; sig++)
		if (sig != SIGCHLD && sigismember(&pending, sig) == 1)
			kill(pid, sig);
}

pid_t upgrade_exec(const char *exe, char **argv, int state, const int *fds,
		   size_t count, char *err, size_t errlen)
{
	sigset_t all;
	int sv[2], r;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot create a socket pair: %s",
			 strerror(errno));
		return r;
	}
	sigfillset(&all);
	pid = fork();
	if (pid == 0)
		child(exe, argv, state, sv[1], fds, count, &all);
	close(sv[1]);
	if (pid < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot fork: %s", strerror(errno));
	} else {
		r = wait_report(sv[0], pid, err, errlen);
		if (r == 0)
			while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
				;
		r = r == 1 ? 0 : -ECHILD;
	}
	/* on success, sv[0] closes when we exit: the new process starts then */
	if (r == 0)
		return pid;
	close(sv[0]);
	return r;
}

int upgrade_takeover(int *state, int *status)
{
	const char *env = getenv(UPGRADE_ENV);
	uint64_t a, b;
	char buf[64], *colon;

	if (!env)
		return 0;
	snprintf(buf, sizeof(buf), "%s", env);
	unsetenv(UPGRADE_ENV);
	colon = strchr(buf, ':');
	if (!colon)
		return -EINVAL;
	*colon = '\0';
	if (parse_uint(buf, INT32_MAX, &a) < 0 ||
	    parse_uint(colon + 1, INT32_MAX, &b) < 0 || a < 3 || b < 3 ||
	    a == b)
		return -EINVAL;
	*state = (int)a;
	*status = (int)b;
	fcntl(*state, F_SETFD, FD_CLOEXEC);
	fcntl(*status, F_SETFD, FD_CLOEXEC);
	return 1;
}

void upgrade_ready(int status)
{
	char byte;

	if (write(status, "ready\n", 6) != 6)
		return; /* the old process is gone: nothing to wait for */
	/* the end of the stream: the old process has exited */
	for (;;) {
		ssize_t n = read(status, &byte, 1);

		if (n == 0 || (n < 0 && errno != EINTR))
			break;
	}
	close(status);
}

void upgrade_failed(int status, const char *fmt, ...)
{
	char msg[480];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	dprintf(status, "error: %s\n", msg);
	close(status);
}
