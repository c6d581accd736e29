/* SPDX-License-Identifier: LGPL-3.0-or-later */
/* The public header compiles alone as C99 with -pedantic (see meson.build). */
#include <ivshmem.h>

int main(void)
{
	struct ivshmem *h = NULL;
	enum ivshmem_server_event e = IVSHMEM_SERVER_SYNCED;

	return ivshmem_own_id(h) == -22 && e == IVSHMEM_SERVER_SYNCED ? 0 : 1;
}
