/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * Fuzzes the protocol decoder (proto_recv) with what a hostile or broken
 * server could send: bytes in pieces of any size, and fds attached
 * anywhere, one or several at a time.
 *
 * The input is a list of chunks, each a header byte then data: the low
 * four bits of the header are the data length, bit 4 attaches one fd to
 * the chunk, bit 5 attaches two.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "protocol.h"
#include "send-fds.h"

static void send_chunk(int sock, const uint8_t *data, size_t len, int nfds)
{
	int fds[2] = { -1, -1 };

	for (int i = 0; i < nfds; i++)
		fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	/* a few KiB always fit in the socket buffer */
	if (len && send_fds(sock, data, len, fds, nfds) < 0)
		abort();
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
}

/* Reads what is there; returns 0 to go on, -1 once the stream is bad. */
static int drain(struct proto_decoder *d, int sock)
{
	for (;;) {
		struct proto_msg m = { .fd = -2 };
		int r = proto_recv(d, sock, &m);

		if (r == 1) {
			/* a message is whole, its fd valid or -1 */
			if (m.fd < -1 || (m.fd >= 0 && fcntl(m.fd, F_GETFD) < 0))
				abort();
			if (m.fd >= 0)
				close(m.fd);
			continue;
		}
		if (r == -EAGAIN || r == -EINTR || r == 0)
			return 0;
		if (r == -EPROTO && !d->error[0])
			abort(); /* a protocol error always says why */
		return -1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_decoder d;
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	proto_decoder_init(&d);
	while (size > 0) {
		size_t len = data[0] & 0x0f;
		int nfds = data[0] & 0x20 ? 2 : data[0] & 0x10 ? 1 : 0;

		data++;
		size--;
		if (len > size)
			len = size;
		send_chunk(sv[0], data, len, nfds);
		data += len;
		size -= len;
		if (drain(&d, sv[1]) < 0)
			goto out;
	}
	shutdown(sv[0], SHUT_WR);
	drain(&d, sv[1]);
out:
	proto_decoder_deinit(&d);
	proto_decoder_deinit(&d);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
