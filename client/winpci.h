/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The Windows guest backend: the virtio-win IVSHMEM driver's protocol
 *
 * winpci.c speaks the driver's protocol (its IOCTLs, their exact buffer
 * layouts for each kind of process, its errors) and implements the
 * backend on top of it. It knows nothing of Win32: it reaches the system
 * through struct winpci_sys, the seam. pci-windows.c fills it with
 * SetupAPI, CreateFile and DeviceIoControl; the tests fill it with a fake
 * driver that checks what the real one checks, on Linux too.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "ivshmem.h"

/*
 * The kinds of process the driver tells apart. It lays out the mapping it
 * returns for a 32-bit process on 64-bit Windows (IoIs32bitProcess) as on
 * 32-bit Windows, but reads an event registration in its own layout.
 */
enum winpci_abi {
	WINPCI_ABI_64,    /* a 64-bit process */
	WINPCI_ABI_32,    /* a 32-bit process on 32-bit Windows */
	WINPCI_ABI_WOW64, /* a 32-bit process on 64-bit Windows */
};

/* The driver's IOCTLs: CTL_CODE(FILE_DEVICE_UNKNOWN, fn, METHOD_BUFFERED,
 * FILE_ANY_ACCESS) */
#define WINPCI_IOCTL(fn) ((0x22u << 16) | ((uint32_t)(fn) << 2))
#define WINPCI_REQUEST_PEERID WINPCI_IOCTL(0x800)
#define WINPCI_REQUEST_SIZE WINPCI_IOCTL(0x801)
#define WINPCI_REQUEST_MMAP WINPCI_IOCTL(0x802)
#define WINPCI_RELEASE_MMAP WINPCI_IOCTL(0x803)
#define WINPCI_RING_DOORBELL WINPCI_IOCTL(0x804)
#define WINPCI_REGISTER_EVENT WINPCI_IOCTL(0x805)

/* IVSHMEM_MMAP_CONFIG.cacheMode */
#define WINPCI_CACHE_NONCACHED 0
#define WINPCI_CACHE_CACHED 1
#define WINPCI_CACHE_WRITECOMBINED 2

/* The driver's limit of registered events, per device, all handles
 * together (MAX_EVENTS) */
#define WINPCI_MAX_EVENTS 32

/* Win32 error codes, as GetLastError() returns the driver's NTSTATUS */
#define WINPCI_ERROR_INVALID_FUNCTION 1        /* INVALID_DEVICE_REQUEST */
#define WINPCI_ERROR_FILE_NOT_FOUND 2
#define WINPCI_ERROR_PATH_NOT_FOUND 3
#define WINPCI_ERROR_ACCESS_DENIED 5
#define WINPCI_ERROR_INVALID_HANDLE 6          /* INVALID_HANDLE */
#define WINPCI_ERROR_NOT_ENOUGH_MEMORY 8
#define WINPCI_ERROR_OUTOFMEMORY 14
#define WINPCI_ERROR_NOT_READY 21              /* DEVICE_NOT_READY */
#define WINPCI_ERROR_INVALID_PARAMETER 87      /* INVALID_PARAMETER */
#define WINPCI_ERROR_DEVICE_ALREADY_ATTACHED 548 /* the same name */
#define WINPCI_ERROR_IO_DEVICE 1117            /* DRIVER_INTERNAL_ERROR */
#define WINPCI_ERROR_NO_SUCH_DEVICE 433
#define WINPCI_ERROR_DEVICE_NOT_CONNECTED 1167
#define WINPCI_ERROR_NO_SYSTEM_RESOURCES 1450  /* INSUFFICIENT_RESOURCES */
#define WINPCI_ERROR_INVALID_USER_BUFFER 1784  /* INVALID_BUFFER_SIZE */

/* A device interface of the driver, as enumeration finds it */
struct winpci_iface {
	char *path;       /* for open(); freed with free() */
	uint32_t bus;     /* SPDRP_BUSNUMBER */
	uint32_t address; /* SPDRP_ADDRESS: (device << 16) | function */
};

/*
 * The seam. Every function returns 0 or a Win32 error code, which
 * winpci.c turns into a message and an errno.
 */
struct winpci_sys {
	enum winpci_abi abi;
	void *data; /* the fake's */
	/* The driver's device interfaces, in any order: an array of @count
	 * that the caller frees (paths included). */
	uint32_t (*enumerate)(const struct winpci_sys *sys,
			      struct winpci_iface **out, size_t *count);
	uint32_t (*open)(const struct winpci_sys *sys, const char *path,
			 void **dev);
	/* DeviceIoControl(), synchronous */
	uint32_t (*ioctl)(void *dev, uint32_t code, const void *in,
			  uint32_t in_len, void *out, uint32_t out_len,
			  uint32_t *returned);
	/* The driver then forgets the events this handle registered. */
	void (*close)(void *dev);
};

/* What pci_list() and pci_open() are, over a seam (see backend.h). */
int winpci_list(const struct winpci_sys *sys,
		struct ivshmem_pci_device *devices, size_t max);
int winpci_open(const struct winpci_sys *sys, struct ivshmem **out,
		const char *address, unsigned flags);
