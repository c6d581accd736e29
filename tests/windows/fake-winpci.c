/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * A fake virtio-win IVSHMEM driver behind the Windows backend's seam
 *
 * The layouts here are written from the driver's structures (Public.h and
 * Queue.c), on purpose independently of winpci.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
#else
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "fake-winpci.h"

struct fake_file {
	struct fake_driver *driver;
	struct fake_device *dev;
};

/* ---- the platform's side: memory and event objects -------------------- */

#ifdef _WIN32
/* A 32-bit process's mapping lies below 4 GiB: find room there. */
static void *alloc_memory(uint64_t size, bool low)
{
	for (uintptr_t at = 0x10000000; low && at < 0xf0000000; at += 0x1000000) {
		void *p = VirtualAlloc((void *)at, (SIZE_T)size,
				       MEM_RESERVE | MEM_COMMIT, PAGE_READWRITE);

		if (p)
			return p;
	}
	return low ? NULL : VirtualAlloc(NULL, (SIZE_T)size,
					 MEM_RESERVE | MEM_COMMIT,
					 PAGE_READWRITE);
}

static void free_memory(void *mem, uint64_t size)
{
	VirtualFree(mem, 0, MEM_RELEASE);
}

/* ObReferenceObjectByHandle(): a reference of our own, or none. */
static bool reference(uint64_t value, os_source *out)
{
	HANDLE self = GetCurrentProcess();

	return DuplicateHandle(self, (HANDLE)(intptr_t)value, self, out,
			       SYNCHRONIZE | EVENT_MODIFY_STATE, FALSE, 0);
}
#else
static void *alloc_memory(uint64_t size, bool low)
{
	void *p = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | (low ? MAP_32BIT : 0),
		       -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void free_memory(void *mem, uint64_t size)
{
	munmap(mem, (size_t)size);
}

/* ObReferenceObjectByHandle() for an event: an eventfd of this process. */
static bool reference(uint64_t value, os_source *out)
{
	char link[64], target[64];
	ssize_t n;

	if (value > 0x7fffffff)
		return false;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", (int)value);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = 0;
	if (strcmp(target, "anon_inode:[eventfd]"))
		return false;
	*out = fcntl((int)value, F_DUPFD_CLOEXEC, 0);
	return *out >= 0;
}
#endif

/* ---- the driver -------------------------------------------------------- */

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2); /* x86: little-endian, as Windows */
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

void fake_init(struct fake_driver *f, enum winpci_abi abi)
{
	memset(f, 0, sizeof(*f));
	f->abi = abi;
}

void fake_fini(struct fake_driver *f)
{
	for (int i = 0; i < f->count; i++)
		free_memory(f->devices[i].mem, f->devices[i].size);
	f->count = 0;
}

struct fake_device *fake_add(struct fake_driver *f, uint32_t bus,
			     uint32_t device, uint32_t function,
			     uint64_t size, uint16_t vectors,
			     int32_t provision)
{
	struct fake_device *d = &f->devices[f->count];

	if (f->count == FAKE_DEVICES_MAX)
		return NULL;
	memset(d, 0, sizeof(*d));
	d->bus = bus;
	d->address = device << 16 | function;
	snprintf(d->path, sizeof(d->path),
		 "\\\\?\\pci#ven_1af4&dev_1110#%u_%u_%u#{ivshmem}",
		 (unsigned)bus, (unsigned)device, (unsigned)function);
	d->size = size;
	d->vectors = vectors;
	d->provision = provision;
	d->cache_mode = -1;
	if (size) {
		d->mem = alloc_memory(size, f->abi != WINPCI_ABI_64);
		if (!d->mem)
			return NULL;
	}
	f->count++;
	return d;
}

static uint32_t fake_enumerate(const struct winpci_sys *sys,
			       struct winpci_iface **out, size_t *count)
{
	struct fake_driver *f = sys->data;
	struct winpci_iface *all;

	if (f->enumerate_error)
		return f->enumerate_error;
	all = calloc((size_t)f->count + 1, sizeof(*all));
	if (!all)
		return WINPCI_ERROR_NOT_ENOUGH_MEMORY;
	for (int i = 0; i < f->count; i++) {
		all[i].path = strdup(f->devices[i].path);
		all[i].bus = f->devices[i].bus;
		all[i].address = f->devices[i].address;
	}
	*out = all;
	*count = (size_t)f->count;
	return 0;
}

static uint32_t fake_open(const struct winpci_sys *sys, const char *path,
			  void **dev)
{
	struct fake_driver *f = sys->data;
	struct fake_file *file;

	if (f->open_error)
		return f->open_error;
	for (int i = 0; i < f->count; i++) {
		if (strcmp(path, f->devices[i].path))
			continue;
		file = calloc(1, sizeof(*file));
		if (!file)
			return WINPCI_ERROR_NOT_ENOUGH_MEMORY;
		file->driver = f;
		file->dev = &f->devices[i];
		f->open_files++;
		*dev = file;
		return 0;
	}
	return WINPCI_ERROR_FILE_NOT_FOUND;
}

static void free_slot(struct fake_device *d, struct fake_event *e)
{
	os_source_close(e->ev);
	memset(e, 0, sizeof(*e));
	d->events_used--;
}

/* IVSHMEMEvtDeviceFileCleanup: the handle's events and mapping go. */
void fake_close(void *dev)
{
	struct fake_file *file = dev;
	struct fake_device *d = file->dev;

	for (int i = 0; i < WINPCI_MAX_EVENTS; i++)
		if (d->events[i].owner == file)
			free_slot(d, &d->events[i]);
	if (d->owner == file)
		d->owner = NULL;
	file->driver->open_files--;
	free(file);
}

/* IVSHMEM_MMAP: {u16 peerID; u64 size; PVOID ptr; u16 vectors}, or for
 * a 32-bit process IVSHMEM_MMAP32 {..., u32 ptr at 16; u16 vectors} */
static uint32_t request_mmap(struct fake_file *file, const uint8_t *in,
			     uint32_t in_len, uint8_t *out, uint32_t out_len,
			     uint32_t *returned)
{
	struct fake_device *d = file->dev;
	bool is32 = file->driver->abi != WINPCI_ABI_64;
	uint32_t len = is32 ? 24 : 32;
	uint32_t ptr32;

	if (d->owner)
		return WINPCI_ERROR_DEVICE_ALREADY_ATTACHED;
	if (in_len != 1 || !in)
		return WINPCI_ERROR_INVALID_USER_BUFFER;
	if (in[0] > 2 || (in[0] == 1 && d->no_cached))
		return WINPCI_ERROR_INVALID_PARAMETER;
	if (out_len != len || !out)
		return WINPCI_ERROR_INVALID_USER_BUFFER;
	if (d->map_fails)
		return WINPCI_ERROR_IO_DEVICE;
	d->owner = file;
	d->cache_mode = in[0];
	memset(out, 0xa5, len); /* the padding is not ours to read */
	put16(out, (uint16_t)d->provision);
	put64(out + 8, d->size);
	if (is32) {
		ptr32 = (uint32_t)(uintptr_t)d->mem;
		memcpy(out + 16, &ptr32, 4);
		put16(out + 20, d->vectors);
	} else {
		put64(out + 16, (uint64_t)(uintptr_t)d->mem);
		put16(out + 24, d->vectors);
	}
	*returned = len;
	return 0;
}

/* IVSHMEM_EVENT {u16 vector; HANDLE event; BOOLEAN singleShot} as the
 * driver is built: for 64-bit Windows (24 bytes, a WOW64 process's too)
 * or for 32-bit Windows (12 bytes). */
static uint32_t register_event(struct fake_file *file, const uint8_t *in,
			       uint32_t in_len)
{
	struct fake_device *d = file->dev;
	bool win32 = file->driver->abi == WINPCI_ABI_32;
	uint32_t len = win32 ? 12 : 24;
	struct fake_event *e = NULL;
	uint64_t handle = 0;
	uint16_t vector;
	uint64_t ignored;
	os_source ev;

	if (d->no_events)
		return WINPCI_ERROR_INVALID_FUNCTION;
	if (d->owner != file)
		return WINPCI_ERROR_INVALID_HANDLE;
	if (in_len != len || !in)
		return WINPCI_ERROR_INVALID_USER_BUFFER;
	if (d->events_used == WINPCI_MAX_EVENTS)
		return WINPCI_ERROR_NO_SYSTEM_RESOURCES;
	memcpy(&vector, in, 2);
	memcpy(&handle, in + (win32 ? 4 : 8), win32 ? 4 : 8);
	if (!reference(handle, &ev))
		return WINPCI_ERROR_INVALID_HANDLE;
	os_source_consume(ev, &ignored); /* KeClearEvent */
	for (int i = 0; !e; i++)
		if (!d->events[i].owner)
			e = &d->events[i];
	e->owner = file;
	e->ev = ev;
	e->vector = vector;
	e->single_shot = in[win32 ? 8 : 16] != 0;
	d->events_used++;
	return 0;
}

static uint32_t fake_ioctl(void *dev, uint32_t code, const void *in,
			   uint32_t in_len, void *out, uint32_t out_len,
			   uint32_t *returned)
{
	struct fake_file *file = dev;
	struct fake_driver *f = file->driver;
	struct fake_device *d = file->dev;
	const uint8_t *bytes = in;

	if (f->ncalls < FAKE_CALLS_MAX)
		f->calls[f->ncalls++] = code;
	if (d->provision < 0)
		return WINPCI_ERROR_NOT_READY;
	switch (code) {
	case WINPCI_REQUEST_PEERID:
		if (out_len != 2 || !out)
			return WINPCI_ERROR_INVALID_USER_BUFFER;
		put16(out, (uint16_t)d->provision);
		*returned = 2;
		return 0;
	case WINPCI_REQUEST_SIZE:
		if (out_len != 8 || !out)
			return WINPCI_ERROR_INVALID_USER_BUFFER;
		put64(out, d->size);
		*returned = 8;
		return 0;
	case WINPCI_REQUEST_MMAP:
		return request_mmap(file, in, in_len, out, out_len, returned);
	case WINPCI_RELEASE_MMAP:
		if (!d->owner)
			return WINPCI_ERROR_INVALID_FUNCTION;
		if (d->owner != file)
			return WINPCI_ERROR_INVALID_HANDLE;
		d->owner = NULL;
		*returned = 0;
		return 0;
	case WINPCI_RING_DOORBELL:
		if (d->owner != file)
			return WINPCI_ERROR_INVALID_HANDLE;
		if (in_len != 4 || !in)
			return WINPCI_ERROR_INVALID_USER_BUFFER;
		/* {u16 peerID; u16 vector}: vector | peerID << 16 */
		d->doorbell = (uint32_t)(bytes[2] | bytes[3] << 8) |
			      (uint32_t)(bytes[0] | bytes[1] << 8) << 16;
		d->rings++;
		*returned = 0;
		return 0;
	case WINPCI_REGISTER_EVENT:
		return register_event(file, in, in_len);
	}
	return WINPCI_ERROR_INVALID_FUNCTION;
}

struct winpci_sys fake_sys(struct fake_driver *f, enum winpci_abi abi)
{
	return (struct winpci_sys){
		.abi = abi,
		.data = f,
		.enumerate = fake_enumerate,
		.open = fake_open,
		.ioctl = fake_ioctl,
		.close = fake_close,
	};
}

void fake_interrupt(struct fake_device *d, int vector)
{
	for (int i = 0; i < WINPCI_MAX_EVENTS; i++) {
		struct fake_event *e = &d->events[i];

		if (!e->owner || e->vector != vector)
			continue;
		os_source_signal(e->ev);
		if (e->single_shot)
			free_slot(d, e);
	}
}

struct fake_file *fake_hog(struct fake_driver *f, struct fake_device *d,
			   int n)
{
	struct fake_file *file = calloc(1, sizeof(*file));

	file->driver = f;
	file->dev = d;
	f->open_files++;
	for (int i = 0; i < WINPCI_MAX_EVENTS && n > 0; i++) {
		if (d->events[i].owner)
			continue;
		os_source_new(&d->events[i].ev);
		d->events[i].owner = file;
		d->events_used++;
		n--;
	}
	return file;
}

int fake_calls(const struct fake_driver *f, uint32_t code)
{
	int n = 0;

	for (int i = 0; i < f->ncalls; i++)
		n += f->calls[i] == code;
	return n;
}
