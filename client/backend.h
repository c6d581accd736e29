/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The interface between the library's front (ivshmem.c) and its backends
 *
 * A backend is one way to reach an ivshmem memory: host plain (plain.c, a
 * file), host doorbell (doorbell.c, an ivshmem-server), a Linux guest
 * (pci-linux.c: sysfs and VFIO) and a Windows guest (pci-windows.c over
 * winpci.c: the virtio-win driver). Each lives in its own file, exports
 * its open function, and fills in a struct backend_ops.
 *
 * The front owns what is the same everywhere:
 * - the mapping's address and size (h->mem, h->size), which the backend
 *   sets at open and may change in remap;
 * - the sources of our own interrupt vectors: the backend hands each one
 *   over with front_vector_add(), in vector order; the front waits on them
 *   (os.h), consumes them, and calls the handlers with the vector and
 *   the coalesced count. On Linux a source is an eventfd (host doorbell:
 *   from the server; Linux guest: one per MSI-X vector, given to VFIO); on
 *   Windows an event HANDLE registered with the driver;
 * - "control" sources of the backend itself (a socket, a timer): when one
 *   is ready the front calls ops->process() with the token it was added
 *   with;
 * - the handlers: the backend reports peers and connection changes with
 *   front_peer_event() and front_server_event().
 *
 * Operations a backend does not support are NULL; the front then returns
 * -ENOTSUP. Arguments are validated by the front as far as it can (handle,
 * id and vector ranges); the backend checks what only it knows.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "ivshmem.h"
#include "os.h"

struct backend_ops {
	/* Releases everything the backend has, h->mem included. */
	void (*close)(struct ivshmem *h);
	int (*own_id)(struct ivshmem *h);
	/* NULL: no peer list (guests). */
	int (*peers)(struct ivshmem *h, uint16_t *ids, size_t max);
	int (*vectors)(struct ivshmem *h, int peer);
	/* The eventfd of another peer's vector (own ones are the front's). */
	int (*peer_eventfd)(struct ivshmem *h, int peer, int vector);
	int (*notify)(struct ivshmem *h, int peer, int vector);
	/* A control source added with @token is ready: 1 when it did
	 * something, 0 when not, or a negative errno that dispatch returns. */
	int (*process)(struct ivshmem *h, uint32_t token);
	/* 0 while connected or reconnecting; -ENOTCONN once lost for good.
	 * NULL: always usable (guests). */
	int (*status)(struct ivshmem *h);
	int (*remap)(struct ivshmem *h);
	/* ivshmem_wait() on a handle without interrupts: logs why (NULL:
	 * nothing to say). */
	void (*no_interrupts)(struct ivshmem *h);
};

struct vector_slot {
	os_source src;      /* OS_NONE when absent */
	ivshmem_interrupt_fn *fn;
	void *data;
};

struct ivshmem {
	const struct backend_ops *ops;
	void *backend;
	uint8_t *mem;
	uint64_t size;
	struct os_poller poller;
	/* Set by the backend at open: we receive interrupts, on sources
	 * of the front. Without, ivshmem_wait() fails, and the vectors of
	 * our own id (ivshmem_vectors(), ivshmem_notify()) are the
	 * backend's. */
	bool has_interrupts;

	/* our own vectors: sources 0..vector_count-1; handlers up to
	 * slot_count (a handler may come before its vector) */
	struct vector_slot *slots;
	int slot_count;
	int vector_count;
	/* the number of vectors is final (the server's setup is over) */
	bool vectors_final;
	ivshmem_interrupt_fn *all_fn;
	void *all_data;

	ivshmem_peer_fn *peer_fn;
	void *peer_data;
	ivshmem_server_fn *server_fn;
	void *server_data;

	int dispatching;      /* inside dispatch: handlers run */
	bool close_pending;   /* ivshmem_close() called from a handler */
	int wait_vector;      /* ivshmem_wait(): the vector, or -1 */
	uint64_t wait_count;
};

/* For the backends' open functions: a handle with its poller. Once the
 * backend has set it up, ivshmem_close() undoes it all. */
int front_new(struct ivshmem **out, const struct backend_ops *ops,
	      void *backend);

/* Adds our next vector; the front owns @src from here on, even on
 * failure. */
int front_vector_add(struct ivshmem *h, os_source src);
/* Removes (and closes) every vector source: the connection is gone. */
void front_vectors_clear(struct ivshmem *h);
/* Watches a source of the backend's own; the backend keeps owning it and
 * must remove it before closing it. */
int front_control_add(struct ivshmem *h, os_source src, uint32_t token);
void front_control_del(struct ivshmem *h, os_source src);

void front_peer_event(struct ivshmem *h, int peer,
		      enum ivshmem_peer_event event);
/* SYNCED also marks our number of vectors final (ivshmem_wait's -EINVAL). */
void front_server_event(struct ivshmem *h, enum ivshmem_server_event event);

/* Backends' open functions; pci_* are the guest backend of the platform
 * (pci-linux.c, pci-windows.c) */
int plain_open(struct ivshmem **out, const char *path, uint64_t size,
	       unsigned flags);
int doorbell_open(struct ivshmem **out, const char *socket_path,
		  unsigned flags);
int pci_list(struct ivshmem_pci_device *devices, size_t max);
int pci_open(struct ivshmem **out, const char *address, unsigned flags);
int pci_bind_vfio(const char *address);
/* For tests: where pci-linux.c finds sysfs (NULL: /sys). */
void pci_set_sysfs_root(const char *root);
