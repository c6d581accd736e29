/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * Server logging
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

static enum log_target target = LOG_TO_STDERR;
static int max_level = LOG_INFO;

void log_setup(enum log_target t, int level)
{
	if (t == LOG_TO_SYSLOG && target != LOG_TO_SYSLOG)
		openlog("ivshmem-server", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	target = t;
	max_level = level;
}

void log_set_level(int level)
{
	max_level = level;
}

bool log_stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	return env && sscanf(env, "%llu:%llu", &dev, &ino) == 2 &&
	       fstat(STDERR_FILENO, &st) == 0 &&
	       (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

bool log_enabled(int level)
{
	return level <= max_level;
}

void log_msg(int level, const char *fmt, ...)
{
	static const char *const prefix[] = {
		[LOG_EMERG] = "error: ", [LOG_ALERT] = "error: ",
		[LOG_CRIT] = "error: ", [LOG_ERR] = "error: ",
		[LOG_WARNING] = "warning: ", [LOG_NOTICE] = "",
		[LOG_INFO] = "", [LOG_DEBUG] = "debug: ",
	};
	int saved = errno;
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	if (target == LOG_TO_SYSLOG) {
		vsyslog(level, fmt, ap);
	} else if (target == LOG_TO_JOURNAL) {
		fprintf(stderr, "<%d>", level);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	} else {
		fprintf(stderr, "ivshmem-server: %s", prefix[level]);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
	}
	va_end(ap);
	errno = saved;
}

int einval(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}
