/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The listening UNIX socket
 */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "options.h"

struct listener {
	int fd;
	dev_t dev; /* the socket file we bound, to unlink only that */
	ino_t ino;
	bool inherited; /* from systemd: never chmod, chown or unlink it */
	char name[108]; /* where it listens, for the log */
};

/*
 * Binds and listens on @path, with the owner and mode in @perms set before
 * anyone can connect. A socket file left by a dead server is replaced; a
 * live server at @path, or a file that is not a socket, is an error. Logs
 * why it failed and returns a negative errno.
 */
int listener_open(struct listener *l, const char *path,
		  const struct file_perms *perms);
/*
 * Takes @fd, a socket a service manager made and passed, after checking
 * that it is a listening AF_UNIX stream socket. Logs why it failed and
 * returns a negative errno (the caller keeps @fd then).
 */
int listener_adopt(struct listener *l, int fd);
/*
 * Takes @fd, the socket this server bound before a crash, if it is still
 * the one listening at @path (the kernel is asked; where it cannot answer,
 * being bound to @path is enough); then it is ours to remove at exit.
 * Returns 0, or -ESTALE when it is not (the caller keeps @fd then).
 */
int listener_adopt_own(struct listener *l, int fd, const char *path);
/* Closes the socket and unlinks @path if it is still the file we bound
 * (never an inherited one). */
void listener_close(struct listener *l, const char *path);
