/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The server's settings: defaults, then the config file, then the command
 * line
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "access.h"

enum shm_kind {
	SHM_POSIX, /* -M NAME: shm_open(), reused if it exists */
	SHM_DIR,   /* -m DIR: a file in DIR, unlinked at once */
	SHM_MEMFD, /* --memfd: memfd_create(), sealed against resizing */
};

/* Who owns a file the server makes, and its mode; -1 leaves it alone. */
struct file_perms {
	mode_t mode;
	uid_t uid;
	gid_t gid;
};

struct options {
	char *config_file;    /* -c, or NULL */
	bool verbose;
	bool foreground;
	int log_level;        /* LOG_ERR .. LOG_DEBUG */
	char *pid_file;
	char *socket_path;
	struct file_perms socket_perms;
	enum shm_kind shm_kind;
	char *shm_path;       /* name for SHM_POSIX, directory for SHM_DIR */
	struct file_perms shm_perms;
	uint64_t size;        /* as given; the server rounds it up */
	bool resize;
	unsigned int vectors;
	size_t max_queue;
	uint32_t max_peers;
	uint32_t max_id;
	struct access_policy access;
};

#define DEFAULT_PID_FILE "/var/run/ivshmem-server.pid"
#define DEFAULT_SOCKET_PATH "/tmp/ivshmem_socket"
#define DEFAULT_SHM_NAME "ivshmem"
#define DEFAULT_SIZE (4 * 1024 * 1024)
#define DEFAULT_VECTORS 1
#define DEFAULT_MAX_QUEUE (1024 * 1024)
#define MAX_SIZE ((uint64_t)1 << 62) /* the largest power of two in off_t */

/* Fills @o with the defaults. */
int options_init(struct options *o);
/* Frees what @o holds; safe to call twice. */
void options_deinit(struct options *o);

/*
 * Sets @o from the defaults, the config file named by -c, then the command
 * line. Returns 0 to run, 1 when the program should exit with status 0
 * (help or version printed), -1 when it should exit with status 1 (the
 * error has been printed on stderr). @o needs options_deinit() only after
 * 0.
 */
int options_parse(struct options *o, int argc, char **argv);

/*
 * As options_parse(), for SIGHUP: reads the config file again and applies
 * the same command line over it. Prints nothing: on failure returns -1
 * with a one-line reason in @err. @o is initialized either way.
 */
int options_reload(struct options *o, int argc, char **argv, char *err,
		   size_t errlen);

/*
 * Applies the config file @text (named @name in errors) over @o. Returns 0,
 * or -1 with "NAME:LINE: reason" in @err.
 */
int options_load_config(struct options *o, const char *text,
			const char *name, char *err, size_t errlen);

/*
 * Fills @keys with the names of the settings that differ between @a and
 * @b and that only a restart can change; returns how many (at most @max).
 */
size_t options_fixed_changes(const struct options *a, const struct options *b,
			     const char **keys, size_t max);

/*
 * Moves the settings that can change while the server runs (log level,
 * allow-lists, peer and queue limits) from @from into @to.
 */
void options_take_live(struct options *to, struct options *from);

/* The name of a log level, "info" for LOG_INFO. */
const char *log_level_name(int level);
