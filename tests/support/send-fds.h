/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * For tests that play a server: raw bytes with fds attached
 */
#pragma once

#include <stddef.h>
#include <sys/types.h>

#define SEND_FDS_MAX 16

/*
 * Sends @len bytes with the @nfds (at most SEND_FDS_MAX) fds of @fds
 * attached in one SCM_RIGHTS message, without blocking. Returns what
 * sendmsg() returned.
 */
ssize_t send_fds(int sock, const void *bytes, size_t len, const int *fds,
		 int nfds);
