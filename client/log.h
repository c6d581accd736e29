/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The library's messages: silent unless the caller installed a handler
 */
#pragma once

#include "ivshmem.h"

__attribute__((format(printf, 2, 3)))
void log_msg(enum ivshmem_log_level level, const char *fmt, ...);

#define log_error(...) log_msg(IVSHMEM_LOG_ERROR, __VA_ARGS__)
#define log_info(...) log_msg(IVSHMEM_LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(IVSHMEM_LOG_DEBUG, __VA_ARGS__)
