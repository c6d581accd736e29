/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The ivshmem server protocol, version 0
 *
 * The one place that knows the wire format, shared by ivshmem-server and
 * libivshmem. A server talks to its clients over an AF_UNIX stream socket,
 * in one direction only. Every message is a little-endian int64 with at most
 * one file descriptor attached (SCM_RIGHTS):
 *
 *   to a new client:   0 (version); its own id; -1 with the shared memory;
 *                      each existing peer's id once per vector, each time
 *                      with that peer's eventfd for the vector; its own id
 *                      once per vector with its own eventfds.
 *   to existing peers: the new id once per vector with the new eventfds.
 *   later:             an id without fd means that peer has left.
 *
 * A message is read with one recvmsg() of at most 8 bytes, so that an fd is
 * never merged into the wrong message.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define PROTO_VERSION 0
#define PROTO_MSG_SIZE 8
#define PROTO_SHM_ID (-1)   /* the value that carries the shared-memory fd */
#define PROTO_ID_MAX 65535  /* peer ids are 0..PROTO_ID_MAX */
#define PROTO_ID_COUNT (PROTO_ID_MAX + 1)
#define PROTO_VECTORS_MAX 2048 /* what QEMU's ivshmem-doorbell accepts */

/*
 * Sends one message, with @fd attached unless it is negative. The socket
 * may be non-blocking. Returns 0, or a negative errno: -EAGAIN when the
 * socket buffer is full and nothing was sent.
 */
int proto_send(int sock, int64_t value, int fd);

/*
 * Sends @len bytes with @fd attached (SCM_RIGHTS) unless it is negative,
 * without blocking and without SIGPIPE, on a stream or datagram socket:
 * the number of bytes sent, or a negative errno.
 */
long proto_send_fd(int sock, const void *buf, size_t len, int fd);

struct proto_msg {
	int64_t value; /* PROTO_SHM_ID or a peer id; or the version, first */
	int fd;        /* owned by the receiver; -1 when none came */
};

/*
 * A streaming decoder: it assembles messages from reads of any length,
 * keeps an fd that arrived with the first part of a message, and rejects
 * what the protocol never sends. Embed it and call proto_decoder_init().
 */
struct proto_decoder {
	uint8_t buf[PROTO_MSG_SIZE];
	unsigned int have; /* bytes of the current message in buf */
	int fd;            /* fd received for the current message, or -1 */
	char error[96];    /* why the last call returned -EPROTO */
};

void proto_decoder_init(struct proto_decoder *d);
/* Closes an fd held for an unfinished message; safe to call twice. */
void proto_decoder_deinit(struct proto_decoder *d);

/*
 * Reads at most the rest of one message from @sock.
 * Returns 1 with a complete message in *msg (the caller owns msg->fd),
 * 0 at end of stream on a message boundary, -EAGAIN or -EINTR when the
 * message is not complete yet, -EPROTO for data the protocol never sends
 * (the reason is in d->error; the stream cannot be trusted afterwards), or
 * another negative errno from recvmsg().
 */
int proto_recv(struct proto_decoder *d, int sock, struct proto_msg *msg);
