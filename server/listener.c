/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The listening UNIX socket, and how a stale one is told from a live one
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>

#include "fdcheck.h"
#include "listener.h"
#include "log.h"

#define TCP_LISTEN_STATE 10

/*
 * Asks the kernel (sock_diag) whether a socket bound to the file
 * (@dev, @ino) is listening, and if @sock_ino is not 0, whether it is the
 * socket with that inode. Unlike connect(), this does not make a live
 * ivshmem server announce a peer that joins and leaves at once.
 * Returns 1 if one is, 0 if none is in this network namespace, or a
 * negative errno if the kernel cannot tell.
 */
static int diag_listening(dev_t dev, ino_t ino, ino_t sock_ino)
{
	struct {
		struct nlmsghdr nlh;
		struct unix_diag_req req;
	} rq = {
		.nlh = {
			.nlmsg_len = sizeof(rq),
			.nlmsg_type = SOCK_DIAG_BY_FAMILY,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
		},
		.req = {
			.sdiag_family = AF_UNIX,
			.udiag_states = 1 << TCP_LISTEN_STATE,
			.udiag_show = UDIAG_SHOW_VFS,
		},
	};
	union {
		struct nlmsghdr align;
		char buf[16384];
	} reply;
	int nl, found = 0, r = -EIO;

	nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0)
		return -errno;
	if (send(nl, &rq, sizeof(rq), 0) < 0) {
		r = -errno;
		goto out;
	}
	for (;;) {
		ssize_t n = recv(nl, reply.buf, sizeof(reply.buf), 0);
		struct nlmsghdr *h = &reply.align;

		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			goto out;
		}
		for (; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			struct unix_diag_msg *m = NLMSG_DATA(h);
			struct rtattr *a = (struct rtattr *)(m + 1);
			int len = (int)h->nlmsg_len - NLMSG_LENGTH(sizeof(*m));

			if (h->nlmsg_type == NLMSG_DONE) {
				r = found;
				goto out;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);

				r = e->error ? e->error : -EIO;
				goto out;
			}
			for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
				struct unix_diag_vfs vfs;

				if (a->rta_type != UNIX_DIAG_VFS ||
				    RTA_PAYLOAD(a) < sizeof(vfs))
					continue;
				memcpy(&vfs, RTA_DATA(a), sizeof(vfs));
				/* the kernel reports its internal dev_t:
				 * major << 20 | minor */
				if (vfs.udiag_vfs_ino == (uint32_t)ino &&
				    vfs.udiag_vfs_dev >> 20 == major(dev) &&
				    (vfs.udiag_vfs_dev & 0xfffff) == minor(dev) &&
				    (!sock_ino || m->udiag_ino == (uint32_t)sock_ino))
					found = 1;
			}
		}
	}
out:
	close(nl);
	return r;
}

/* 1: a server is listening at @path; 0: nothing is; <0: cannot tell. */
static int server_alive(const struct sockaddr_un *sun, const struct stat *st)
{
	int fd, r;

	r = diag_listening(st->st_dev, st->st_ino, 0);
	if (r == 1)
		return 1;
	/* Not listening in this network namespace, or no sock_diag: only a
	 * connection attempt can tell for sure. */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	r = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	r = r == 0 ? 1 : errno == ECONNREFUSED ? 0 : -errno;
	close(fd);
	return r;
}

/* Sets the owner and mode of the socket file before it listens. */
static int set_perms(const char *path, const struct file_perms *perms)
{
	if ((perms->uid != (uid_t)-1 || perms->gid != (gid_t)-1) &&
	    chown(path, perms->uid, perms->gid) < 0) {
		log_error("cannot set the owner of %s: %s", path,
			  strerror(errno));
		return -errno;
	}
	if (perms->mode != (mode_t)-1 && chmod(path, perms->mode) < 0) {
		log_error("cannot set the mode of %s: %s", path,
			  strerror(errno));
		return -errno;
	}
	return 0;
}

int listener_open(struct listener *l, const char *path,
		  const struct file_perms *perms)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, r;

	*l = (struct listener){ .fd = -1 };
	if (strlen(path) >= sizeof(sun.sun_path)) {
		log_error("socket path %s is too long: at most %zu bytes", path,
			  sizeof(sun.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(sun.sun_path, path);

	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			log_error("%s exists and is not a socket: refusing to "
				  "replace it", path);
			return -EEXIST;
		}
		r = server_alive(&sun, &st);
		if (r == 1) {
			log_error("another server is listening on %s", path);
			return -EADDRINUSE;
		}
		if (r < 0) {
			log_error("cannot tell whether a server is listening on "
				  "%s: %s", path, strerror(-r));
			return r;
		}
		log_notice("replacing the stale socket %s", path);
		if (unlink(path) < 0 && errno != ENOENT) {
			r = -errno;
			log_error("cannot remove the stale socket %s: %s", path,
				  strerror(errno));
			return r;
		}
	} else if (errno != ENOENT) {
		r = -errno;
		log_error("cannot use socket path %s: %s", path, strerror(errno));
		return r;
	}

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		log_error("cannot create a socket: %s", strerror(errno));
		return r;
	}
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		r = -errno;
		log_error("cannot bind to %s: %s", path, strerror(errno));
		close(fd);
		return r;
	}
	/* Nobody can connect before listen(): the permissions hold from the
	 * first client on. */
	r = set_perms(path, perms);
	if (r < 0) {
		close(fd);
		unlink(path);
		return r;
	}
	if (listen(fd, SOMAXCONN) < 0 || stat(sun.sun_path, &st) < 0) {
		r = -errno;
		log_error("cannot listen on %s: %s", sun.sun_path,
			  strerror(errno));
		close(fd);
		unlink(sun.sun_path);
		return r;
	}
	l->fd = fd;
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	snprintf(l->name, sizeof(l->name), "%s", path);
	return 0;
}

int listener_adopt(struct listener *l, int fd)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	socklen_t len = sizeof(sun);

	*l = (struct listener){ .fd = -1, .inherited = true };
	if (!fd_is_unix_stream(fd, true)) {
		log_error("the socket passed by the service manager (fd %d) is "
			  "not a listening AF_UNIX stream socket: use "
			  "ListenStream= with a path", fd);
		return -EINVAL;
	}
	if (getsockname(fd, (struct sockaddr *)&sun, &len) == 0 &&
	    len > offsetof(struct sockaddr_un, sun_path)) {
		size_t n = len - offsetof(struct sockaddr_un, sun_path);

		if (sun.sun_path[0] == '\0')
			sun.sun_path[0] = '@';
		snprintf(l->name, sizeof(l->name), "%.*s", (int)n,
			 sun.sun_path);
	} else {
		snprintf(l->name, sizeof(l->name), "fd %d", fd);
	}
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		log_error("cannot set up the passed socket: %s",
			  strerror(errno));
		return -errno;
	}
	l->fd = fd;
	return 0;
}

int listener_adopt_own(struct listener *l, int fd, const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	socklen_t len = sizeof(sun);
	struct stat file, sock;

	*l = (struct listener){ .fd = -1 };
	/* bound to @path, and (if the kernel can tell: no netlink in a
	 * sandbox) still the socket there */
	if (!fd_is_unix_stream(fd, true) || fstat(fd, &sock) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sun, &len) < 0 ||
	    len <= offsetof(struct sockaddr_un, sun_path) ||
	    strncmp(sun.sun_path, path, sizeof(sun.sun_path)) != 0 ||
	    stat(path, &file) < 0 || !S_ISSOCK(file.st_mode) ||
	    diag_listening(file.st_dev, file.st_ino, sock.st_ino) == 0)
		return -ESTALE;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 ||
	    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		return -errno;
	l->fd = fd;
	l->dev = file.st_dev;
	l->ino = file.st_ino;
	snprintf(l->name, sizeof(l->name), "%s", path);
	return 0;
}

void listener_close(struct listener *l, const char *path)
{
	struct stat st;

	if (l->fd < 0)
		return;
	close(l->fd);
	l->fd = -1;
	if (!l->inherited && stat(path, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino)
		unlink(path);
}
