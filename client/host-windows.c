/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The host backends on Windows: there are none
 *
 * ivshmem-server and ivshmem-plain's files live on the Linux host; a
 * Windows program is a guest and opens its device with ivshmem_open_pci().
 */
#include <errno.h>

#include "backend.h"
#include "log.h"

int plain_open(struct ivshmem **out, const char *path, uint64_t size,
	       unsigned flags)
{
	log_error("ivshmem_open_plain: not available on Windows, where the "
		  "memory is a PCI device's: use ivshmem_open_pci()");
	return -ENOTSUP;
}

int doorbell_open(struct ivshmem **out, const char *socket_path,
		  unsigned flags)
{
	log_error("ivshmem_open_doorbell: not available on Windows, where "
		  "ivshmem-server cannot run: use ivshmem_open_pci()");
	return -ENOTSUP;
}
