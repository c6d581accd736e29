/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The library's messages: silent unless the caller installed a handler
 */
#include <stdarg.h>
#include <stdio.h>

#include "log.h"

static ivshmem_log_fn *handler;
static enum ivshmem_log_level max_level;
static void *handler_data;

void ivshmem_set_log_handler(ivshmem_log_fn *fn,
			     enum ivshmem_log_level level, void *data)
{
	handler = fn;
	max_level = level;
	handler_data = data;
}

void log_msg(enum ivshmem_log_level level, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	if (!handler || level > max_level)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	handler(level, buf, handler_data);
}
