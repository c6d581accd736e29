/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The server's settings and its command line
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum shm_kind {
	SHM_POSIX, /* -M NAME: shm_open(), reused if it exists */
	SHM_DIR,   /* -m DIR: a file in DIR, unlinked at once */
	SHM_MEMFD, /* --memfd: memfd_create(), sealed against resizing */
};

struct options {
	bool verbose;
	bool foreground;
	const char *pid_file;
	const char *socket_path;
	enum shm_kind shm_kind;
	const char *shm_path; /* name for SHM_POSIX, directory for SHM_DIR */
	uint64_t size;        /* as given; the server rounds it up */
	bool resize;
	unsigned int vectors;
	size_t max_queue;
};

#define DEFAULT_PID_FILE "/var/run/ivshmem-server.pid"
#define DEFAULT_SOCKET_PATH "/tmp/ivshmem_socket"
#define DEFAULT_SHM_NAME "ivshmem"
#define DEFAULT_SIZE (4 * 1024 * 1024)
#define DEFAULT_VECTORS 1
#define DEFAULT_MAX_QUEUE (1024 * 1024)
#define MAX_SIZE ((uint64_t)1 << 62) /* the largest power of two in off_t */

void options_init(struct options *o);

/*
 * Parses the command line into @o. Returns 0 to run, 1 when the program
 * should exit with status 0 (help or version printed), -1 when it should
 * exit with status 1 (the error has been printed).
 */
int options_parse(struct options *o, int argc, char **argv);
