/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The listening UNIX socket
 */
#pragma once

#include <sys/types.h>

struct listener {
	int fd;
	dev_t dev; /* the socket file we bound, to unlink only that */
	ino_t ino;
};

/*
 * Binds and listens on @path. A socket file left by a dead server is
 * replaced; a live server at @path, or a file that is not a socket, is an
 * error. Logs why it failed and returns a negative errno.
 */
int listener_open(struct listener *l, const char *path);
/* Closes the socket and unlinks @path if it is still the file we bound. */
void listener_close(struct listener *l, const char *path);
