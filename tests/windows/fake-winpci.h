/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * A fake virtio-win IVSHMEM driver behind the Windows backend's seam
 *
 * It checks what the real driver (ivshmem/Queue.c) checks, in the same
 * order and with the same outcome, as GetLastError() reports it: the
 * IOCTL codes, the exact buffer lengths for the kind of process the
 * driver sees, the owner of the mapping, one mapping at a time, 32 events
 * per device, a device whose memory QEMU has not provided yet, the cache
 * modes; and it decodes every buffer at the driver's own offsets. Its
 * interrupts signal the registered events as the driver's DPC does.
 * Portable: events are the platform layer's sources (eventfds on Linux,
 * events on Windows).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "os.h"
#include "winpci.h"

#define FAKE_DEVICES_MAX 4
#define FAKE_CALLS_MAX 256

struct fake_file;

struct fake_event {
	struct fake_file *owner; /* NULL: a free slot */
	os_source ev;            /* the driver's own reference */
	uint16_t vector;
	bool single_shot;
};

struct fake_device {
	char path[64];
	uint32_t bus;
	uint32_t address;          /* (device << 16) | function */
	int32_t provision;         /* IVPosition: our id; < 0: not ready */
	uint16_t vectors;          /* MSI-X messages: 0 on ivshmem-plain */
	uint64_t size;
	void *mem;
	struct fake_file *owner;   /* of the mapping; NULL: not mapped */
	int cache_mode;            /* of the last mapping; -1: none yet */
	struct fake_event events[WINPCI_MAX_EVENTS];
	int events_used;
	uint32_t doorbell;         /* the last value written to it */
	int rings;

	/* failures to play */
	bool map_fails;            /* MmMapLockedPagesSpecifyCache: NULL */
	bool no_events;            /* a driver before REGISTER_EVENT */
	bool no_cached;            /* a driver refusing the cached mode */
};

struct fake_driver {
	enum winpci_abi abi;       /* the process kind the driver sees */
	struct fake_device devices[FAKE_DEVICES_MAX];
	int count;
	int open_files;
	uint32_t open_error;       /* CreateFile fails with it */
	uint32_t enumerate_error;  /* SetupAPI fails with it */
	uint32_t calls[FAKE_CALLS_MAX]; /* the IOCTLs, in order */
	int ncalls;
};

void fake_init(struct fake_driver *f, enum winpci_abi abi);
/* Frees the devices' memory; every file must be closed. */
void fake_fini(struct fake_driver *f);

/* A device at bus:device.function, with memory allocated where a process
 * of the driver's kind can address it. */
struct fake_device *fake_add(struct fake_driver *f, uint32_t bus,
			     uint32_t device, uint32_t function,
			     uint64_t size, uint16_t vectors,
			     int32_t provision);

/* The seam, for a process that believes it is of kind @abi. */
struct winpci_sys fake_sys(struct fake_driver *f, enum winpci_abi abi);

/* A device interrupt on @vector: the driver's ISR and DPC. */
void fake_interrupt(struct fake_device *d, int vector);

/* Another process's handle registers @n events and keeps them. */
struct fake_file *fake_hog(struct fake_driver *f, struct fake_device *d,
			   int n);
void fake_close(void *file);

/* How many times @code was called. */
int fake_calls(const struct fake_driver *f, uint32_t code);
