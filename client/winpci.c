/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The Windows guest backend over the virtio-win IVSHMEM driver's protocol
 *
 * Platform-neutral: it builds the driver's buffers byte by byte, for the
 * kind of process it runs in, and reaches Windows only through the seam
 * (winpci.h). The driver (ivshmem/Queue.c in virtio-win) checks every
 * buffer's length for equality, lets one handle at a time map the memory,
 * lets only that handle ring and register events, and keeps at most 32
 * events per device until the handles that registered them are closed.
 *
 * A handle maps the memory with REQUEST_MMAP, whose reply has our id, the
 * size, the address and the number of vectors, and registers one
 * manual-reset event per vector (32 at most) that the front waits on.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "backend.h"
#include "log.h"
#include "winpci.h"

/* The backend's state of one handle */
struct winpci {
	struct winpci_sys sys;
	void *dev;
	char address[16];
	uint16_t peer;
	bool mapped;
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

static const char *abi_name(enum winpci_abi abi)
{
	switch (abi) {
	case WINPCI_ABI_64:
		return "a 64-bit process";
	case WINPCI_ABI_32:
		return "a 32-bit process on 32-bit Windows";
	case WINPCI_ABI_WOW64:
		return "a 32-bit process on 64-bit Windows";
	}
	return "?";
}

/* ---- errors ----------------------------------------------------------- */

/*
 * Turns what Windows said about @request on the device at @address into
 * a message and an errno. The driver's NTSTATUS codes reach us as Win32
 * errors: see winpci.h.
 */
static int driver_error(const char *address, const char *request, uint32_t err)
{
	const char *why;
	int r;

	switch (err) {
	case WINPCI_ERROR_NOT_READY:
		r = -EAGAIN;
		why = "the device has no shared memory yet: QEMU has not "
		      "received it from the ivshmem-server; try again later";
		break;
	case WINPCI_ERROR_DEVICE_ALREADY_ATTACHED:
		r = -EBUSY;
		why = "the memory is mapped through another handle, maybe in "
		      "another process: the driver maps it for one handle at "
		      "a time";
		break;
	case WINPCI_ERROR_INVALID_USER_BUFFER:
		r = -EPROTO;
		why = "the driver refused the buffer sizes: it is a version "
		      "this library does not know (it needs virtio-win's "
		      "IVSHMEM driver with cache modes)";
		break;
	case WINPCI_ERROR_INVALID_HANDLE:
		r = -EBADF;
		why = "the driver refused the handle: only the handle that "
		      "mapped the memory may ring and register events (was "
		      "the device disabled meanwhile?)";
		break;
	case WINPCI_ERROR_NO_SYSTEM_RESOURCES:
		r = -ENOSPC;
		why = "the driver's 32 event slots are taken: other handles of "
		      "this device keep theirs until they are closed";
		break;
	case WINPCI_ERROR_INVALID_PARAMETER:
		r = -ENOTSUP;
		why = "the driver does not have this cache mode";
		break;
	case WINPCI_ERROR_INVALID_FUNCTION:
		r = -ENOTSUP;
		why = "the driver does not know this request (a driver older "
		      "than the one with cache modes, or nothing is mapped)";
		break;
	case WINPCI_ERROR_IO_DEVICE:
		r = -EIO;
		why = "the driver could not map the memory";
		break;
	case WINPCI_ERROR_FILE_NOT_FOUND:
	case WINPCI_ERROR_PATH_NOT_FOUND:
	case WINPCI_ERROR_NO_SUCH_DEVICE:
	case WINPCI_ERROR_DEVICE_NOT_CONNECTED:
		r = -ENODEV;
		why = "the device is gone";
		break;
	case WINPCI_ERROR_ACCESS_DENIED:
		r = -EACCES;
		why = "access denied";
		break;
	case WINPCI_ERROR_NOT_ENOUGH_MEMORY:
	case WINPCI_ERROR_OUTOFMEMORY:
		r = -ENOMEM;
		why = "out of memory";
		break;
	default:
		r = -EIO;
		why = "unexpected error";
		break;
	}
	log_error("ivshmem %s: %s: %s (Windows error %lu)", address, request,
		  why, (unsigned long)err);
	return r;
}

/* ---- finding devices -------------------------------------------------- */

static void ifaces_free(struct winpci_iface *ifaces, size_t count)
{
	for (size_t i = 0; ifaces && i < count; i++)
		free(ifaces[i].path);
	free(ifaces);
}

static int by_location(const void *a, const void *b)
{
	const struct winpci_iface *x = a, *y = b;

	if (x->bus != y->bus)
		return x->bus < y->bus ? -1 : 1;
	if (x->address != y->address)
		return x->address < y->address ? -1 : 1;
	return 0;
}

/* "0000:BB:DD.F", as on Linux; Windows does not tell the PCI domain. */
static void format_address(char *buf, size_t len,
			   const struct winpci_iface *i)
{
	snprintf(buf, len, "0000:%02x:%02x.%x", (unsigned)(i->bus & 0xff),
		 (unsigned)((i->address >> 16) & 0x1f),
		 (unsigned)(i->address & 0x7));
}

/* The driver's devices, ordered by bus number and address. */
static int find_all(const struct winpci_sys *sys,
		    struct winpci_iface **out, size_t *count)
{
	uint32_t err;

	*out = NULL;
	*count = 0;
	err = sys->enumerate(sys, out, count);
	if (err)
		return driver_error("devices", "enumerating the IVSHMEM driver's "
			    "devices", err);
	qsort(*out, *count, sizeof(**out), by_location);
	return 0;
}

/* Reads the size without mapping: 0 when the driver does not tell. */
static uint64_t device_size(const struct winpci_sys *sys, const char *path,
			    const char *address)
{
	uint8_t buf[8];
	uint32_t got = 0, err;
	void *dev;

	err = sys->open(sys, path, &dev);
	if (err) {
		log_debug("ivshmem %s: cannot open it (Windows error %lu)",
			  address, (unsigned long)err);
		return 0;
	}
	err = sys->ioctl(dev, WINPCI_REQUEST_SIZE, NULL, 0, buf, sizeof(buf),
			 &got);
	sys->close(dev);
	if (err || got != sizeof(buf)) {
		log_debug("ivshmem %s: no size (Windows error %lu)", address,
			  (unsigned long)err);
		return 0;
	}
	return get64(buf);
}

int winpci_list(const struct winpci_sys *sys,
		struct ivshmem_pci_device *devices, size_t max)
{
	struct winpci_iface *ifaces;
	size_t count;
	int r = find_all(sys, &ifaces, &count);

	if (r < 0)
		return r;
	for (size_t i = 0; i < count && i < max; i++) {
		struct ivshmem_pci_device *d = &devices[i];

		memset(d, 0, sizeof(*d));
		format_address(d->address, sizeof(d->address), &ifaces[i]);
		d->size = device_size(sys, ifaces[i].path, d->address);
		d->doorbell = -1; /* known once mapped */
		snprintf(d->driver, sizeof(d->driver), "ivshmem");
	}
	ifaces_free(ifaces, count);
	return count > INT32_MAX ? INT32_MAX : (int)count;
}

/* ---- the driver's requests -------------------------------------------- */

struct mapping {
	uint16_t peer;
	uint64_t size;
	uint64_t ptr;
	uint16_t vectors;
};

/*
 * REQUEST_MMAP: in, IVSHMEM_MMAP_CONFIG (the cache mode, one byte); out,
 * IVSHMEM_MMAP {u16 peerID; u64 size; void *ptr; u16 vectors} in our
 * process's layout: 32 bytes (ptr at 16, vectors at 24) for a 64-bit
 * process, 24 (ptr at 16 on 32 bits, vectors at 20) for a 32-bit one.
 */
static int request_mmap(struct winpci *w, uint8_t cache_mode,
			struct mapping *m)
{
	uint32_t len = w->sys.abi == WINPCI_ABI_64 ? 32 : 24;
	uint8_t reply[32] = { 0 };
	uint32_t got = 0, err;

	err = w->sys.ioctl(w->dev, WINPCI_REQUEST_MMAP, &cache_mode, 1, reply,
			   len, &got);
	if (err)
		return driver_error(w->address, "mapping the memory", err);
	w->mapped = true;
	m->peer = get16(reply);
	m->size = get64(reply + 8);
	if (len == 32) {
		m->ptr = get64(reply + 16);
		m->vectors = get16(reply + 24);
	} else {
		m->ptr = get32(reply + 16);
		m->vectors = get16(reply + 20);
	}
	if (got != len || !m->ptr || !m->size || m->ptr > UINTPTR_MAX ||
	    m->size > SIZE_MAX) {
		log_error("ivshmem %s: the driver's mapping makes no sense for "
			  "%s (%lu of %lu bytes, address 0x%llx, size %llu)",
			  w->address, abi_name(w->sys.abi), (unsigned long)got,
			  (unsigned long)len, (unsigned long long)m->ptr,
			  (unsigned long long)m->size);
		return -EPROTO;
	}
	return 0;
}

static int release_mmap(struct winpci *w)
{
	uint32_t got = 0, err;

	if (!w->mapped)
		return 0;
	w->mapped = false;
	err = w->sys.ioctl(w->dev, WINPCI_RELEASE_MMAP, NULL, 0, NULL, 0, &got);
	return err ? driver_error(w->address, "releasing the memory", err) : 0;
}

/* The value the driver reads as the event's HANDLE: a 32-bit handle is
 * sign-extended, as Windows widens handles (Handle32ToHandle). */
static uint64_t handle_value(os_source src)
{
	return (uint64_t)(int64_t)(intptr_t)src;
}

/*
 * REGISTER_EVENT: IVSHMEM_EVENT {u16 vector; HANDLE event; BOOLEAN
 * singleShot} in the driver's own layout, which it does not convert for
 * 32-bit processes: 24 bytes on 64-bit Windows (handle at 8, singleShot
 * at 16), 12 on 32-bit Windows (handle at 4, singleShot at 8).
 */
static int register_event(struct winpci *w, uint16_t vector, os_source ev)
{
	uint8_t in[24] = { 0 };
	uint32_t len, got = 0, err;
	char what[48];

	if (w->sys.abi == WINPCI_ABI_32) {
		len = 12;
		put16(in, vector);
		put32(in + 4, (uint32_t)handle_value(ev));
		in[8] = 0; /* not single-shot: it fires on every interrupt */
	} else {
		len = 24;
		put16(in, vector);
		put64(in + 8, handle_value(ev));
		in[16] = 0;
	}
	err = w->sys.ioctl(w->dev, WINPCI_REGISTER_EVENT, in, len, NULL, 0,
			   &got);
	if (!err)
		return 0;
	snprintf(what, sizeof(what), "registering the event of vector %u",
		 (unsigned)vector);
	return driver_error(w->address, what, err);
}

/* ---- the backend ------------------------------------------------------ */

static void winpci_close(struct ivshmem *h)
{
	struct winpci *w = h->backend;

	release_mmap(w);
	w->sys.close(w->dev); /* the driver forgets our events */
	free(w);
}

static int winpci_own_id(struct ivshmem *h)
{
	struct winpci *w = h->backend;

	return w->peer;
}

/* A guest knows no other peer, and so none of their vectors. */
static int winpci_vectors(struct ivshmem *h, int peer)
{
	return -ENOTSUP;
}

/* RING_DOORBELL: IVSHMEM_RING {u16 peerID; u16 vector}, 4 bytes. */
static int winpci_notify(struct ivshmem *h, int peer, int vector)
{
	struct winpci *w = h->backend;
	uint32_t got = 0, err;
	uint8_t in[4];

	if (vector > 255) {
		log_error("ivshmem %s: vector %d: QEMU's doorbell register "
			  "carries vectors 0..255", w->address, vector);
		return -EINVAL;
	}
	put16(in, (uint16_t)peer);
	put16(in + 2, (uint16_t)vector);
	err = w->sys.ioctl(w->dev, WINPCI_RING_DOORBELL, in, sizeof(in), NULL,
			   0, &got);
	return err ? driver_error(w->address, "ringing the doorbell", err) : 0;
}

/* ivshmem-doorbell: an id, vectors, a doorbell */
static const struct backend_ops doorbell_ops = {
	.close = winpci_close,
	.own_id = winpci_own_id,
	.vectors = winpci_vectors,
	.notify = winpci_notify,
};

/* ivshmem-plain (no vectors): the memory only */
static const struct backend_ops plain_ops = {
	.close = winpci_close,
};

/* Finds the device at @address (NULL: the first one) and opens it. */
static int open_device(struct winpci *w, const char *address)
{
	struct winpci_iface *ifaces;
	size_t count, i;
	uint32_t err = 0;
	int r = find_all(&w->sys, &ifaces, &count);

	if (r < 0)
		return r;
	for (i = 0; i < count; i++) {
		format_address(w->address, sizeof(w->address), &ifaces[i]);
		if (!address || !strcasecmp(address, w->address))
			break;
	}
	if (i < count)
		err = w->sys.open(&w->sys, ifaces[i].path, &w->dev);
	ifaces_free(ifaces, count);
	if (i == count) {
		if (address)
			log_error("ivshmem %s: no such device of the IVSHMEM "
				  "driver (see ivshmem_list_pci())", address);
		else
			log_error("no ivshmem device: is the virtio-win IVSHMEM "
				  "driver installed for the \"PCI standard RAM "
				  "Controller\"?");
		return -ENODEV;
	}
	return err ? driver_error(w->address, "opening the device", err) : 0;
}

static uint8_t cache_mode(unsigned flags, const char **name)
{
	if (flags & IVSHMEM_UNCACHED) {
		*name = "uncached";
		return WINPCI_CACHE_NONCACHED;
	}
	if (flags & IVSHMEM_CACHED) {
		*name = "cached";
		return WINPCI_CACHE_CACHED;
	}
	*name = "write-combined";
	return WINPCI_CACHE_WRITECOMBINED;
}

/* One event per vector, up to the driver's limit, handed to the front. */
static int add_vectors(struct ivshmem *h, struct winpci *w, int vectors)
{
	int n = vectors < WINPCI_MAX_EVENTS ? vectors : WINPCI_MAX_EVENTS;

	if (vectors > n)
		log_info("ivshmem %s: the device has %d vectors, the driver "
			 "signals %d at most: vectors %d to %d are not "
			 "received", w->address, vectors, n, n, vectors - 1);
	for (int v = 0; v < n; v++) {
		os_source ev;
		int r = os_source_new(&ev);

		if (r < 0)
			return r;
		r = register_event(w, (uint16_t)v, ev);
		if (r < 0) {
			os_source_close(ev);
			return r;
		}
		r = front_vector_add(h, ev); /* it owns ev, even on failure */
		if (r < 0)
			return r;
	}
	h->has_interrupts = n > 0;
	return 0;
}

int winpci_open(const struct winpci_sys *sys, struct ivshmem **out,
		const char *address, unsigned flags)
{
	struct winpci *w = calloc(1, sizeof(*w));
	struct ivshmem *h = NULL;
	struct mapping m = { 0 };
	const char *mode = "";
	int r;

	if (!w)
		return -ENOMEM;
	w->sys = *sys;
	r = open_device(w, address);
	if (r == 0)
		r = request_mmap(w, cache_mode(flags, &mode), &m);
	if (r == 0)
		r = front_new(&h, m.vectors ? &doorbell_ops : &plain_ops, w);
	if (r < 0) {
		release_mmap(w);
		if (w->dev)
			w->sys.close(w->dev);
		free(w);
		return r;
	}
	/* from here on, ivshmem_close() undoes it all */
	w->peer = m.peer;
	h->mem = (uint8_t *)(uintptr_t)m.ptr;
	h->size = m.size;
	r = add_vectors(h, w, m.vectors);
	if (r < 0) {
		ivshmem_close(h);
		return r;
	}
	h->vectors_final = true;
	log_debug("ivshmem %s: %llu bytes mapped %s, id %u, %u vectors "
		  "(%s)", w->address, (unsigned long long)m.size, mode,
		  (unsigned)m.peer, (unsigned)m.vectors, abi_name(sys->abi));
	*out = h;
	return 0;
}
