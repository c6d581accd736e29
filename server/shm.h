/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The shared memory the server hands to every peer
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "options.h"

struct shm {
	int fd;
	uint64_t size;  /* what the object has: a power of two */
	char *name;     /* SHM_POSIX: the name to unlink, if we created it */
};

/*
 * Opens or creates the memory that @o describes, with its size rounded up
 * to a power of two (and to the huge page size on hugetlbfs). Logs why it
 * failed and returns a negative errno.
 */
int shm_setup(struct shm *shm, const struct options *o);
/* Closes the fd; unlinks a POSIX object only if shm_setup() created it. */
void shm_teardown(struct shm *shm);
