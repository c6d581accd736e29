/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The Linux guest backend: ivshmem PCI devices through sysfs and VFIO
 *
 * Not written yet: every call says so.
 */
#include <errno.h>

#include "backend.h"

int pci_list(struct ivshmem_pci_device *devices, size_t max)
{
	return -ENOTSUP;
}

int pci_open(struct ivshmem **out, const char *address, unsigned flags)
{
	return -ENOTSUP;
}

int pci_bind_vfio(const char *address)
{
	return -ENOTSUP;
}
