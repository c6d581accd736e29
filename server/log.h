/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * Server logging: levels are syslog priorities (LOG_ERR .. LOG_DEBUG)
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <syslog.h>

enum log_target {
	LOG_TO_STDERR,  /* "ivshmem-server: warning: text" */
	LOG_TO_JOURNAL, /* "<4>text": stderr read by systemd-journald */
	LOG_TO_SYSLOG,
};

/* Whether stderr is the journal stream systemd set up ($JOURNAL_STREAM). */
bool log_stderr_is_journal(void);

void log_setup(enum log_target target, int max_level);
void log_set_level(int max_level);
bool log_enabled(int level);

__attribute__((format(printf, 2, 3)))
void log_msg(int level, const char *fmt, ...);

/* For a function that tells its caller why something will not do: writes
 * the reason into @err, and returns -EINVAL. */
__attribute__((format(printf, 3, 4)))
int einval(char *err, size_t errlen, const char *fmt, ...);

#define log_error(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_WARNING, __VA_ARGS__)
#define log_notice(...) log_msg(LOG_NOTICE, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
