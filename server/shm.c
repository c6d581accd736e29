/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The shared memory: a POSIX object, a file in a directory, or a memfd
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "log.h"
#include "parse.h"
#include "shm.h"

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC 0x958458f6
#endif

#define SHM_MODE 0600

/* On hugetlbfs a size must be a multiple of the huge page size. */
static uint64_t fit_filesystem(int fd, uint64_t size)
{
	struct statfs fs;

	if (fstatfs(fd, &fs) == 0 && (unsigned long)fs.f_type == HUGETLBFS_MAGIC &&
	    size < (uint64_t)fs.f_bsize) {
		char a[32];

		log_notice("size rounded up to the huge page size, %s",
			   format_size(a, sizeof(a), (uint64_t)fs.f_bsize));
		return (uint64_t)fs.f_bsize;
	}
	return size;
}

static void warn_if_larger_than_free(int fd, uint64_t size, const char *where)
{
	struct statfs fs;
	char a[32], b[32];
	uint64_t avail;

	if (fstatfs(fd, &fs) < 0 || (unsigned long)fs.f_type == HUGETLBFS_MAGIC)
		return;
	avail = (uint64_t)fs.f_bavail * (uint64_t)fs.f_bsize;
	if (fs.f_blocks && size > avail)
		log_warning("%s is larger than the %s free on %s: peers get "
			    "SIGBUS once it fills", format_size(a, sizeof(a), size),
			    format_size(b, sizeof(b), avail), where);
}

static int set_size(int fd, uint64_t size, const char *what)
{
	char a[32];

	if (ftruncate(fd, (off_t)size) == 0)
		return 0;
	log_error("cannot set the size of %s to %s: %s", what,
		  format_size(a, sizeof(a), size), strerror(errno));
	return -errno;
}

static int open_posix(struct shm *shm, const char *name, uint64_t size,
		      bool resize)
{
	char a[32], b[32];
	struct stat st;
	int fd, r;

	fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, SHM_MODE);
	if (fd >= 0) {
		shm->name = strdup(name);
		if (!shm->name) {
			r = -ENOMEM;
			log_error("out of memory");
			goto fail;
		}
		warn_if_larger_than_free(fd, size, "/dev/shm");
		r = set_size(fd, size, name);
		if (r < 0)
			goto fail;
		shm->fd = fd;
		shm->size = size;
		log_info("created shared memory object %s", name);
		return 0;
	}
	if (errno != EEXIST) {
		r = -errno;
		log_error("cannot create shared memory object %s: %s", name,
			  strerror(errno));
		return r;
	}
	fd = shm_open(name, O_RDWR | O_CLOEXEC, 0);
	if (fd < 0 || fstat(fd, &st) < 0) {
		r = -errno;
		log_error("cannot open shared memory object %s: %s", name,
			  strerror(errno));
		goto fail;
	}
	if ((uint64_t)st.st_size != size) {
		if (st.st_size && !resize) {
			log_error("shared memory object %s exists with size %s, "
				  "not %s: pass --resize to change it, or "
				  "choose another name with -M", name,
				  format_size(a, sizeof(a), (uint64_t)st.st_size),
				  format_size(b, sizeof(b), size));
			r = -EEXIST;
			goto fail;
		}
		if (st.st_size)
			log_warning("resizing shared memory object %s from %s "
				    "to %s", name,
				    format_size(a, sizeof(a), (uint64_t)st.st_size),
				    format_size(b, sizeof(b), size));
		r = set_size(fd, size, name);
		if (r < 0)
			goto fail;
	}
	log_info("using the existing shared memory object %s (it is kept at "
		 "exit)", name);
	shm->fd = fd;
	shm->size = size;
	return 0;

fail:
	if (shm->name) {
		shm_unlink(shm->name);
		free(shm->name);
		shm->name = NULL;
	}
	if (fd >= 0)
		close(fd);
	return r;
}

static int open_dir(struct shm *shm, const char *dir, uint64_t size)
{
	char *path = NULL;
	int fd, r;

	if (asprintf(&path, "%s/ivshmem.XXXXXX", dir) < 0) {
		log_error("out of memory");
		return -ENOMEM;
	}
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		log_error("cannot create shared memory in %s: %s", dir,
			  strerror(errno));
		free(path);
		return r;
	}
	unlink(path);
	free(path);
	size = fit_filesystem(fd, size);
	warn_if_larger_than_free(fd, size, dir);
	r = set_size(fd, size, dir);
	if (r < 0) {
		close(fd);
		return r;
	}
	shm->fd = fd;
	shm->size = size;
	return 0;
}

static int open_memfd(struct shm *shm, uint64_t size)
{
	int fd = memfd_create("ivshmem", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	int r;

	if (fd < 0) {
		r = -errno;
		log_error("cannot create a memfd: %s", strerror(errno));
		return r;
	}
	r = set_size(fd, size, "the memfd");
	/* No peer may shrink it under the others (they would get SIGBUS). */
	if (r == 0 && fcntl(fd, F_ADD_SEALS,
			    F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		r = -errno;
		log_error("cannot seal the memfd: %s", strerror(errno));
	}
	if (r < 0) {
		close(fd);
		return r;
	}
	shm->fd = fd;
	shm->size = size;
	return 0;
}

/* The owner and mode asked for, on whatever kind of memory it is. */
static int set_perms(struct shm *shm, const struct file_perms *perms,
		     const char *what)
{
	const char *step = "owner";

	if ((perms->uid != (uid_t)-1 || perms->gid != (gid_t)-1) &&
	    fchown(shm->fd, perms->uid, perms->gid) < 0)
		goto fail;
	step = "mode";
	if (perms->mode != (mode_t)-1 && fchmod(shm->fd, perms->mode) < 0)
		goto fail;
	return 0;
fail:
	log_error("cannot set the %s of %s: %s", step, what, strerror(errno));
	shm_teardown(shm);
	return -EPERM;
}

int shm_setup(struct shm *shm, const struct options *o)
{
	uint64_t size = pow2_ceil(o->size);
	int r = -EINVAL;

	shm->fd = -1;
	shm->name = NULL;
	if (size != o->size) {
		char a[32], b[32];

		log_notice("size %s rounded up to %s: QEMU needs a power of two",
			   format_size(a, sizeof(a), o->size),
			   format_size(b, sizeof(b), size));
	}
	switch (o->shm_kind) {
	case SHM_POSIX:
		r = open_posix(shm, o->shm_path, size, o->resize);
		break;
	case SHM_DIR:
		r = open_dir(shm, o->shm_path, size);
		break;
	case SHM_MEMFD:
		r = open_memfd(shm, size);
		break;
	}
	if (r < 0)
		return r;
	return set_perms(shm, &o->shm_perms, o->shm_kind == SHM_POSIX ?
			 o->shm_path : "the shared memory");
}

void shm_teardown(struct shm *shm)
{
	if (shm->fd >= 0)
		close(shm->fd);
	shm->fd = -1;
	if (shm->name) {
		shm_unlink(shm->name);
		free(shm->name);
		shm->name = NULL;
	}
}
