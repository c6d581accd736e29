/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The ivshmem server protocol: encoding, fd passing and the decoder
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "protocol.h"

/* Room for a few fds, so that a sender that attaches too many is reported
 * as such instead of as truncated control data. */
#define CMSG_FDS_MAX 8

static void encode(uint8_t out[PROTO_MSG_SIZE], int64_t value)
{
	uint64_t v = (uint64_t)value;

	for (int i = 0; i < PROTO_MSG_SIZE; i++)
		out[i] = (uint8_t)(v >> (8 * i));
}

static int64_t decode(const uint8_t in[PROTO_MSG_SIZE])
{
	uint64_t v = 0;

	for (int i = 0; i < PROTO_MSG_SIZE; i++)
		v |= (uint64_t)in[i] << (8 * i);
	return (int64_t)v;
}

long proto_send_fd(int sock, const void *buf, size_t len, int fd)
{
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (fd >= 0) {
		struct cmsghdr *cmsg;

		memset(&control, 0, sizeof(control));
		msg.msg_control = control.buf;
		msg.msg_controllen = sizeof(control.buf);
		cmsg = CMSG_FIRSTHDR(&msg);
		cmsg->cmsg_level = SOL_SOCKET;
		cmsg->cmsg_type = SCM_RIGHTS;
		cmsg->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	}
	do
		n = sendmsg(sock, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : (long)n;
}

int proto_send(int sock, int64_t value, int fd)
{
	uint8_t bytes[PROTO_MSG_SIZE];
	long n;

	encode(bytes, value);
	n = proto_send_fd(sock, bytes, sizeof(bytes), fd);
	if (n < 0)
		return (int)n;
	/* An 8-byte send on a stream socket is all or nothing: the kernel
	 * either finds buffer space for it or returns EAGAIN. A short count
	 * would leave the stream misaligned, so it is an error. */
	if (n != PROTO_MSG_SIZE)
		return -EIO;
	return 0;
}

void proto_decoder_init(struct proto_decoder *d)
{
	memset(d, 0, sizeof(*d));
	d->fd = -1;
}

void proto_decoder_deinit(struct proto_decoder *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
	d->have = 0;
}

__attribute__((format(printf, 2, 3)))
static int fail(struct proto_decoder *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->error, sizeof(d->error), fmt, ap);
	va_end(ap);
	proto_decoder_deinit(d);
	return -EPROTO;
}

/* Takes the fds out of the control data: keeps one in d->fd, closes the
 * rest. Returns how many fds came, or -1 if the data is unreadable. */
static int take_fds(struct proto_decoder *d, struct msghdr *msg)
{
	int count = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
		size_t n;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (d->fd < 0)
				d->fd = fd;
			else
				close(fd);
			count++;
		}
	}
	return count;
}

int proto_recv(struct proto_decoder *d, int sock, struct proto_msg *out)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(CMSG_FDS_MAX * sizeof(int))];
	} control;
	struct iovec iov = {
		.iov_base = d->buf + d->have,
		.iov_len = PROTO_MSG_SIZE - d->have,
	};
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.buf,
		.msg_controllen = sizeof(control.buf),
	};
	int had_fd = d->fd >= 0;
	ssize_t n;
	int fds;
	int64_t value;

	n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -errno;
	fds = take_fds(d, &msg);
	if (msg.msg_flags & MSG_CTRUNC)
		return fail(d, "control data truncated: more than %lld fds "
			    "attached to one message", (long long)CMSG_FDS_MAX);
	if (fds > 1 || (fds == 1 && had_fd))
		return fail(d, "%lld fds attached to one message",
			    (long long)(fds + had_fd));
	if (n == 0) {
		if (d->have == 0 && d->fd < 0)
			return 0;
		return fail(d, "connection closed after %lld bytes of a "
			    "message", (long long)d->have);
	}
	d->have += (unsigned int)n;
	if (d->have < PROTO_MSG_SIZE)
		return -EAGAIN;

	value = decode(d->buf);
	if (value < PROTO_SHM_ID || value > PROTO_ID_MAX)
		return fail(d, "value %lld out of range", (long long)value);
	if (value == PROTO_SHM_ID && d->fd < 0)
		return fail(d, "shared-memory message (%lld) without an fd",
			    (long long)value);
	out->value = value;
	out->fd = d->fd;
	d->fd = -1;
	d->have = 0;
	return 1;
}
