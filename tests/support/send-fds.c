/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * For tests that play a server: raw bytes with fds attached
 */
#include <string.h>
#include <sys/socket.h>

#include "send-fds.h"

ssize_t send_fds(int sock, const void *bytes, size_t len, const int *fds,
		 int nfds)
{
	struct iovec iov = { .iov_base = (void *)bytes, .iov_len = len };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(SEND_FDS_MAX * sizeof(int))];
	} control;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds > 0 && nfds <= SEND_FDS_MAX) {
		struct cmsghdr *c;

		memset(&control, 0, sizeof(control));
		msg.msg_control = control.buf;
		msg.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, (size_t)nfds * sizeof(int));
	}
	return sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
}
