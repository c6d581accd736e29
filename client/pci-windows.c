/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The Windows guest backend's Win32 side: SetupAPI, CreateFile,
 * DeviceIoControl
 *
 * Fills the seam of winpci.c (winpci.h), which speaks the driver's
 * protocol, with the calls that reach the virtio-win IVSHMEM driver.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <windows.h>
#include <setupapi.h>

#include "backend.h"
#include "log.h"
#include "winpci.h"

/* GUID_DEVINTERFACE_IVSHMEM {df576976-569d-4672-95a0-f57e4ea0b210} */
static const GUID ivshmem_interface = {
	0xdf576976, 0x569d, 0x4672,
	{ 0x95, 0xa0, 0xf5, 0x7e, 0x4e, 0xa0, 0xb2, 0x10 },
};

/* The interface's path, its bus number and address, or a Win32 error. */
static DWORD describe(HDEVINFO set, SP_DEVICE_INTERFACE_DATA *iface,
		      struct winpci_iface *out)
{
	SP_DEVICE_INTERFACE_DETAIL_DATA_A *detail;
	SP_DEVINFO_DATA info = { .cbSize = sizeof(info) };
	DWORD need = 0, bus = 0, address = 0;

	SetupDiGetDeviceInterfaceDetailA(set, iface, NULL, 0, &need, NULL);
	if (need < sizeof(*detail))
		return GetLastError();
	detail = malloc(need);
	if (!detail)
		return ERROR_NOT_ENOUGH_MEMORY;
	detail->cbSize = sizeof(*detail);
	if (!SetupDiGetDeviceInterfaceDetailA(set, iface, detail, need, NULL,
					      &info) ||
	    !SetupDiGetDeviceRegistryPropertyA(set, &info, SPDRP_BUSNUMBER,
					       NULL, (BYTE *)&bus, sizeof(bus),
					       NULL) ||
	    !SetupDiGetDeviceRegistryPropertyA(set, &info, SPDRP_ADDRESS,
					       NULL, (BYTE *)&address,
					       sizeof(address), NULL)) {
		DWORD err = GetLastError();

		free(detail);
		return err;
	}
	/* the path is a NUL-terminated string inside the detail */
	memmove(detail, detail->DevicePath, strlen(detail->DevicePath) + 1);
	out->path = (char *)detail;
	out->bus = bus;
	out->address = address;
	return 0;
}

static uint32_t win_enumerate(const struct winpci_sys *sys,
			      struct winpci_iface **out, size_t *count)
{
	HDEVINFO set;
	struct winpci_iface *all = NULL;
	DWORD err = 0;
	size_t n = 0;

	set = SetupDiGetClassDevsA(&ivshmem_interface, NULL, NULL,
				   DIGCF_PRESENT | DIGCF_DEVICEINTERFACE);
	if (set == INVALID_HANDLE_VALUE)
		return GetLastError();
	for (DWORD i = 0; !err; i++) {
		SP_DEVICE_INTERFACE_DATA iface = { .cbSize = sizeof(iface) };
		struct winpci_iface *more;

		if (!SetupDiEnumDeviceInterfaces(set, NULL, &ivshmem_interface,
						 i, &iface)) {
			err = GetLastError();
			break;
		}
		more = realloc(all, (n + 1) * sizeof(*all));
		if (!more) {
			err = ERROR_NOT_ENOUGH_MEMORY;
			break;
		}
		all = more;
		err = describe(set, &iface, &all[n]);
		if (!err) {
			n++;
		} else if (err != ERROR_NOT_ENOUGH_MEMORY) {
			log_debug("IVSHMEM device interface %lu: skipped "
				  "(Windows error %lu)", (unsigned long)i,
				  (unsigned long)err);
			err = 0;
		}
	}
	SetupDiDestroyDeviceInfoList(set);
	if (err != ERROR_NO_MORE_ITEMS) {
		for (size_t i = 0; i < n; i++)
			free(all[i].path);
		free(all);
		return err;
	}
	*out = all;
	*count = n;
	return 0;
}

/* No access rights: the driver's IOCTLs are FILE_ANY_ACCESS. Shared, so
 * that a list does not disturb the process that has the memory mapped. */
static uint32_t win_open(const struct winpci_sys *sys, const char *path,
			 void **dev)
{
	HANDLE f = CreateFileA(path, 0, FILE_SHARE_READ | FILE_SHARE_WRITE,
			       NULL, OPEN_EXISTING, 0, NULL);

	if (f == INVALID_HANDLE_VALUE)
		return GetLastError();
	*dev = f;
	return 0;
}

static uint32_t win_ioctl(void *dev, uint32_t code, const void *in,
			  uint32_t in_len, void *out, uint32_t out_len,
			  uint32_t *returned)
{
	DWORD got = 0;

	if (!DeviceIoControl(dev, code, (void *)in, in_len, out, out_len, &got,
			     NULL))
		return GetLastError();
	*returned = got;
	return 0;
}

static void win_close(void *dev)
{
	CloseHandle(dev);
}

/* Which layouts the driver expects from this process (winpci.h) */
static enum winpci_abi process_abi(void)
{
#ifdef _WIN64
	return WINPCI_ABI_64;
#else
	BOOL wow64 = FALSE;

	if (IsWow64Process(GetCurrentProcess(), &wow64) && wow64)
		return WINPCI_ABI_WOW64;
	return WINPCI_ABI_32;
#endif
}

static struct winpci_sys win32_sys(void)
{
	return (struct winpci_sys){
		.abi = process_abi(),
		.enumerate = win_enumerate,
		.open = win_open,
		.ioctl = win_ioctl,
		.close = win_close,
	};
}

int pci_list(struct ivshmem_pci_device *devices, size_t max)
{
	struct winpci_sys sys = win32_sys();

	return winpci_list(&sys, devices, max);
}

int pci_open(struct ivshmem **out, const char *address, unsigned flags)
{
	struct winpci_sys sys = win32_sys();

	return winpci_open(&sys, out, address, flags);
}

int pci_bind_vfio(const char *address)
{
	log_error("ivshmem_bind_vfio: VFIO is Linux's; on Windows the "
		  "virtio-win IVSHMEM driver delivers the interrupts");
	return -ENOTSUP;
}
