/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * ivshmem-client: what its two modes share
 */
#pragma once

#include <stdbool.h>

#include "ivshmem.h"

/* Exit codes, as documented in ivshmem-client(1) and --help. */
enum exit_code {
	EXIT_OK = 0,
	EXIT_USAGE = 1,   /* bad option, argument or command */
	EXIT_NUMBER = 2,  /* not a number */
	EXIT_RANGE = 3,   /* out of range: offset, length, peer, vector */
	EXIT_CONNECT = 4, /* cannot connect to the server or open the file */
	EXIT_TIMEOUT = 5,
	EXIT_LOST = 6,    /* the server went away */
	EXIT_ERROR = 7,   /* anything else */
};

#define DEFAULT_SOCKET_PATH "/tmp/ivshmem_socket"

__attribute__((format(printf, 2, 3)))
int fail(int code, const char *fmt, ...);

/* Sends the library's messages up to @max_level to stderr. */
void log_to_stderr(enum ivshmem_log_level max_level);

/* QEMU's interactive ivshmem-client; returns the exit code. */
int interactive(const char *socket_path, bool verbose);
