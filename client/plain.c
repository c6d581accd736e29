/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The host plain backend: a file mapped shared, as ivshmem-plain's
 * memory-backend-file (on /dev/shm or hugetlbfs)
 *
 * No id, no peers, no interrupts: every such operation is -ENOTSUP.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend.h"
#include "log.h"

static void plain_close(struct ivshmem *h)
{
	os_unmap(h->mem, h->size);
}

static const struct backend_ops plain_ops = {
	.close = plain_close,
};

/* Opens @path, creating it when allowed; *created tells. */
static int open_file(const char *path, unsigned flags, bool *created)
{
	for (;;) {
		int fd = open(path, O_RDWR | O_CLOEXEC);

		*created = false;
		if (fd >= 0 || errno != ENOENT || !(flags & IVSHMEM_CREATE))
			return fd >= 0 ? fd : -errno;
		fd = open(path, O_RDWR | O_CLOEXEC | O_CREAT | O_EXCL, 0600);
		if (fd >= 0) {
			*created = true;
			return fd;
		}
		if (errno != EEXIST) /* else: created meanwhile, open it */
			return -errno;
	}
}

/* Makes the file at least @size long, or takes its size when 0. */
static int settle_size(int fd, uint64_t *size, unsigned flags, bool created)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (*size == 0) {
		*size = (uint64_t)st.st_size;
		return *size ? 0 : -EINVAL;
	}
	if ((uint64_t)st.st_size >= *size)
		return 0;
	if (!created && !(flags & IVSHMEM_GROW))
		return -EFBIG;
	if (*size > INT64_MAX)
		return -EFBIG;
	return ftruncate(fd, (off_t)*size) < 0 ? -errno : 0;
}

int plain_open(struct ivshmem **out, const char *path, uint64_t size,
	       unsigned flags)
{
	struct ivshmem *h = NULL;
	void *mem = NULL;
	bool created;
	int fd, r;

	fd = open_file(path, flags, &created);
	if (fd < 0) {
		log_error("cannot open %s: %s", path, strerror(-fd));
		return fd;
	}
	r = settle_size(fd, &size, flags, created);
	if (r == 0)
		r = os_map(fd, size, &mem);
	if (r == 0)
		r = front_new(&h, &plain_ops, NULL);
	close(fd);
	if (r < 0) {
		log_error("cannot map %s: %s", path, strerror(-r));
		os_unmap(mem, size);
		if (created)
			unlink(path);
		return r;
	}
	h->mem = mem;
	h->size = size;
	log_debug("mapped %s, %llu bytes", path, (unsigned long long)size);
	*out = h;
	return 0;
}
