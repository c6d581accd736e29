/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * What an inherited fd is: a process that takes fds from another (an
 * upgrade, the service manager's store) checks each before trusting it
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* An AF_UNIX stream socket, listening or connected as @listening says. */
bool fd_is_unix_stream(int fd, bool listening);
bool fd_is_eventfd(int fd);
/* A regular file (a memfd, a POSIX shm object); its size in *size. */
bool fd_is_file(int fd, uint64_t *size);
