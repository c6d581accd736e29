/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * libivshmem: shared memory and interrupts between QEMU guests and host
 * programs, through an ivshmem-server (ivshmem-doorbell) or a plain file
 * (ivshmem-plain).
 *
 * Conventions
 * - Every function that can fail returns a negative errno. Where a function
 *   takes a handle, a NULL handle is -EINVAL. Each function lists the other
 *   errors a caller must handle; others come from the system unchanged.
 * - The library installs no signal handler, owns no thread and no global
 *   loop, and prints nothing: install a log handler to see its messages.
 * - Every file descriptor it opens is close-on-exec.
 * - A handle is not thread-safe, with one exception: the memory-access
 *   functions (ivshmem_read() to ivshmem_spin_wait64()) may run in any
 *   number of threads at once, as long as no thread closes the handle or
 *   calls ivshmem_remap() meanwhile.
 *
 * Events
 *   Interrupts, peer joins and departures and changes of the connection
 *   are delivered by ivshmem_dispatch() (or ivshmem_wait()) to the handlers
 *   installed with ivshmem_on_interrupt(), ivshmem_on_peer() and
 *   ivshmem_on_server(). ivshmem_get_fd() is readable whenever dispatching
 *   has work, so the caller can use its own event loop.
 *
 *   ivshmem_open_doorbell() returns as soon as the server has sent the id
 *   and the shared memory. The server then sends the peers that already
 *   exist and our own interrupt vectors: they are processed by dispatching,
 *   like every later change. Every peer is reported exactly once as joined,
 *   once all its vectors have arrived, and once as left. ivshmem_peers()
 *   lists the peers reported as joined so far.
 *
 *   Interrupts coalesce: several notifications of one vector that arrive
 *   before the receiver dispatches are delivered as one call with their
 *   count. Never count on one call per notification.
 *
 * Memory ordering
 *   All offsets are in bytes from the start of the shared memory; every
 *   access is bounds-checked (-ERANGE, also when offset + length
 *   overflows). Values are in the CPU's byte order: host and guests run on
 *   the same machine.
 *   - ivshmem_read(), ivshmem_write() and ivshmem_fill() copy bytes with no
 *     atomicity and no ordering of their own.
 *   - ivshmem_load*() are acquire loads and ivshmem_store*() release
 *     stores, single-copy atomic; they need natural alignment (-EINVAL).
 *     So: write a message with ivshmem_write(), then publish it with an
 *     ivshmem_store32() of a flag; a reader that sees the flag with
 *     ivshmem_load32() then reads the whole message.
 *   - The read-modify-write atomics (compare-and-swap, fetch-add, exchange)
 *     are sequentially consistent and need natural alignment (-EINVAL).
 *   - ivshmem_fence() is a full (sequentially consistent) fence.
 *   - ivshmem_notify() is a release: what was written before it is visible
 *     to a peer that reads after its interrupt handler was called.
 *   These hold between processes on the host and between host and guests,
 *   which share the memory through the same cache-coherent hardware.
 */
#ifndef IVSHMEM_H
#define IVSHMEM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ivshmem;

/* Peer ids are 0..IVSHMEM_PEER_MAX, vectors 0..IVSHMEM_VECTORS_MAX - 1. */
#define IVSHMEM_PEER_MAX 65535
#define IVSHMEM_VECTORS_MAX 2048

/* For ivshmem_on_interrupt(): every vector without a handler of its own. */
#define IVSHMEM_ALL_VECTORS (-1)

/* ---- opening and closing --------------------------------------------- */

/* Flags of ivshmem_open_plain() */
#define IVSHMEM_CREATE 0x1u /* create the file if it does not exist */
#define IVSHMEM_GROW 0x2u   /* extend a file shorter than @size */

/*
 * Maps the file @path (on /dev/shm, on hugetlbfs, or any file that can be
 * mapped shared), as QEMU's ivshmem-plain with memory-backend-file does.
 * @size 0 maps the whole file. A file longer than @size is mapped up to
 * @size. A plain handle has no id, no peers and no interrupts.
 * Errors: -EINVAL for unknown flags or an empty file with @size 0;
 * -ENOENT when the file does not exist and IVSHMEM_CREATE is not given;
 * -EFBIG when the file is shorter than @size and IVSHMEM_GROW is not given
 * (a file created here always grows); errors of open(), ftruncate(), mmap().
 */
int ivshmem_open_plain(struct ivshmem **out, const char *path, uint64_t size,
		       unsigned flags);

/* Flags of ivshmem_open_doorbell() */
#define IVSHMEM_RECONNECT 0x1u /* reconnect when the server is lost */

/*
 * Connects to the ivshmem-server (this project's or QEMU's) listening on
 * the UNIX socket @socket_path. Returns as soon as the server has sent our
 * id and the shared memory; see "Events" above.
 * With IVSHMEM_RECONNECT, a lost server is reconnected to with backoff
 * (10 ms doubling up to 1 s); see ivshmem_on_server().
 * Errors: -EINVAL for unknown flags; -ENAMETOOLONG; errors of connect()
 * (-ENOENT, -ECONNREFUSED, -EACCES); -EPROTO when the server does not speak
 * the protocol; -ECONNRESET when it closes the connection during the
 * handshake; -ETIMEDOUT when it sends nothing for 5 s.
 */
int ivshmem_open_doorbell(struct ivshmem **out, const char *socket_path,
			  unsigned flags);

/* ---- inside a guest: the ivshmem PCI devices --------------------------- */

/* An ivshmem PCI device (1af4:1110) as a guest sees it. */
struct ivshmem_pci_device {
	char address[16]; /* "0000:00:03.0": domain:bus:device.function */
	uint64_t size;    /* of the shared memory (BAR2), in bytes; 0: unknown */
	int doorbell;     /* 1: ivshmem-doorbell, 0: ivshmem-plain, -1: unknown */
	char driver[32];  /* the driver bound to it, e.g. "vfio-pci"; "": none */
};

/*
 * Lists the ivshmem devices of this machine, ordered by PCI address: up to
 * @max of them in @devices. Returns how many there are, which may be more
 * than @max (0 on a host, or a guest without one), or a negative errno.
 * Linux: from sysfs. Windows: the devices of the virtio-win IVSHMEM driver,
 * ordered by bus number and address; there the type is known only once a
 * device is open (-1).
 */
int ivshmem_list_pci(struct ivshmem_pci_device *devices, size_t max);

/* Flags of ivshmem_open_pci(): how the shared memory is mapped. The
 * default is write-combined. */
#define IVSHMEM_UNCACHED 0x10u /* uncached */
#define IVSHMEM_CACHED 0x20u   /* cached (Windows only) */

/*
 * Opens the ivshmem device at PCI @address ("0000:00:03.0", or on Linux
 * "00:03.0" as lspci prints it; NULL: the first one) from inside a guest,
 * and maps its shared memory. On a doorbell device, ivshmem_own_id() is
 * our id (IVPosition) and ivshmem_notify() rings the doorbell; there is no
 * peer list (ivshmem_peers(): -ENOTSUP). Interrupts arrive through the
 * same handlers and ivshmem_wait(); those rung before the open returns
 * are lost.
 * - Linux: the memory is sysfs's resource2_wc, or resource2 with
 *   IVSHMEM_UNCACHED. When the device is bound to vfio-pci
 *   (ivshmem_bind_vfio()), the registers and the interrupts are VFIO's,
 *   one eventfd per MSI-X vector; the guest needs an IOMMU. Without VFIO,
 *   memory and doorbell work and waiting returns -ENOTSUP (and logs how
 *   to bind). One process at a time has a device through VFIO (-EBUSY);
 *   close what was opened before binding before opening it again (the
 *   old handle's registers are revoked then: SIGBUS).
 * - Windows: through the virtio-win IVSHMEM driver's events, at most 32
 *   vectors (an event does not count: the count is 1); the driver maps one
 *   handle at a time (-EBUSY). There is no fd: see ivshmem_get_handles().
 * Errors: -EINVAL for unknown or contradictory flags, or an address that
 * is not one; -ENODEV when there is no such device; -EACCES without the
 * rights (root on Linux); -EBUSY; -ENOTSUP for IVSHMEM_CACHED on Linux,
 * and for a device bound to vfio-pci that VFIO cannot open (no IOMMU
 * group, vfio_iommu_type1 not loaded): the log says what is missing.
 * Windows: -EAGAIN while QEMU has not received the memory from its
 * server; -ENOSPC when the driver's 32 event slots are taken by other
 * handles; -EPROTO or -ENOTSUP for a driver version that refuses our
 * requests.
 */
int ivshmem_open_pci(struct ivshmem **out, const char *address,
		     unsigned flags);

/*
 * Linux guests: binds the device at PCI @address to vfio-pci, so that
 * ivshmem_open_pci() receives its interrupts (root). Its driver, if any,
 * is unbound first; driver_override keeps it for vfio-pci. Bound already:
 * 0. The library loads no module: vfio-pci and vfio_iommu_type1 must be.
 * Errors: -EINVAL for an address that is not one; -ENODEV for no such
 * device; -ENOTSUP where there is no IOMMU group (the guest needs an
 * IOMMU: QEMU's -M q35 -device intel-iommu,intremap=on and the kernel's
 * intel_iommu=on) or those modules are not loaded, and on Windows; -EIO
 * when vfio-pci did not take the device; errors of writing sysfs.
 */
int ivshmem_bind_vfio(const char *address);

/*
 * Unmaps the memory and closes every fd of the handle. NULL is ignored.
 * It may be called from a handler: the handle is then freed when the
 * dispatch that called the handler returns.
 */
void ivshmem_close(struct ivshmem *h);

/* ---- what the handle has --------------------------------------------- */

/* The shared memory, or NULL for a NULL handle. */
void *ivshmem_memory(struct ivshmem *h);
/* Its size in bytes, or 0 for a NULL handle. */
uint64_t ivshmem_size(struct ivshmem *h);

/*
 * Our peer id. Errors: -ENOTSUP (plain), -ENOTCONN (the server was lost and
 * not reconnected yet).
 */
int ivshmem_own_id(struct ivshmem *h);

/*
 * Writes up to @max peer ids, ascending, to @ids (not counting ourselves)
 * and returns how many peers there are, which may be more than @max.
 * @ids may be NULL when @max is 0. Errors: -ENOTSUP (no peer list on this
 * kind of handle).
 */
int ivshmem_peers(struct ivshmem *h, uint16_t *ids, size_t max);

/*
 * The number of interrupt vectors of @peer (our own id included: the
 * vectors we receive on). Errors: -EINVAL for an id out of 0..65535;
 * -ENOENT for an unknown peer; -ENOTSUP (plain; in a guest, another peer,
 * or our own when the device's MSI-X capability cannot be read).
 */
int ivshmem_vectors(struct ivshmem *h, int peer);

/*
 * The eventfd behind a vector: for our own id, the one that becomes
 * readable on an interrupt (the library reads it when dispatching); for
 * another peer, the one ivshmem_notify() writes. It stays owned by the
 * library and valid until that peer leaves or the server is lost.
 * Errors: as ivshmem_vectors(), and -EINVAL for a vector out of range,
 * -ENOTSUP where vectors are not eventfds.
 */
int ivshmem_eventfd(struct ivshmem *h, int peer, int vector);

/* ---- interrupts ------------------------------------------------------- */

/*
 * Interrupts @peer (which may be our own id) on @vector.
 * Errors: -EINVAL for an id or vector out of range (a vector the peer does
 * not have included); -ENOENT for an unknown peer; -ENOTCONN; -ENOTSUP
 * (plain). In a guest, where peers are unknown, the doorbell takes any id
 * and vectors 0..255: QEMU drops what no peer has.
 */
int ivshmem_notify(struct ivshmem *h, int peer, int vector);

/*
 * An fd that is readable whenever ivshmem_dispatch() has work. Do not read
 * it or close it. Errors: -ENOTSUP where the platform has no such fd
 * (Windows: see ivshmem_get_handles(), or call ivshmem_dispatch() or
 * ivshmem_wait()).
 */
int ivshmem_get_fd(struct ivshmem *h);

/*
 * Windows: what ivshmem_get_fd() is elsewhere. Writes up to @max event
 * HANDLEs (as void *) to @handles and returns how many there are (at most
 * 64): one of them is signaled whenever ivshmem_dispatch() has work. Wait
 * on them with WaitForMultipleObjects() or MsgWaitForMultipleObjects(),
 * then call ivshmem_dispatch(h, 0). Waiting does not reset them (they are
 * manual-reset events; dispatching resets them). Do not reset, signal or
 * close them; they stay valid until the handle is closed. @handles may be
 * NULL when @max is 0. Errors: -ENOTSUP on other platforms.
 */
int ivshmem_get_handles(struct ivshmem *h, void **handles, size_t max);

/*
 * Waits up to @timeout_ms (-1: forever; 0: do not wait) for work, then
 * handles what is there, calling the handlers. Returns the number of
 * events handled (0 on timeout). Errors: -EINTR when a signal arrived;
 * -EBUSY when called from a handler.
 */
int ivshmem_dispatch(struct ivshmem *h, int timeout_ms);

/*
 * @count is how many notifications of @vector were coalesced into this
 * call (at least 1).
 */
typedef void ivshmem_interrupt_fn(struct ivshmem *h, int vector,
				  uint64_t count, void *data);

/*
 * Calls @fn for interrupts on @vector, or with IVSHMEM_ALL_VECTORS for
 * every vector that has no handler of its own. @fn NULL removes the
 * handler. Errors: -EINVAL for a vector out of range.
 */
int ivshmem_on_interrupt(struct ivshmem *h, int vector,
			 ivshmem_interrupt_fn *fn, void *data);

/*
 * Dispatches until an interrupt arrives on @vector, for at most
 * @timeout_ms (-1: forever), calling the handlers of everything else that
 * arrives meanwhile (and of this vector, too). Returns the coalesced count
 * (at least 1). Errors: -ETIMEDOUT; -EINVAL for a vector out of range
 * (known once the server has sent our vectors); -ENOTCONN when the server
 * is lost without IVSHMEM_RECONNECT; -ENOTSUP (plain, or a guest's device
 * without interrupts: the log says why); -EINTR; -EBUSY when called from
 * a handler; -ECANCELED when a handler closed the handle.
 */
int ivshmem_wait(struct ivshmem *h, int vector, int timeout_ms);

enum ivshmem_peer_event {
	IVSHMEM_PEER_JOINED, /* all its vectors have arrived */
	IVSHMEM_PEER_LEFT,
};

typedef void ivshmem_peer_fn(struct ivshmem *h, int peer,
			     enum ivshmem_peer_event event, void *data);

/* Calls @fn when a peer joins or leaves; @fn NULL removes the handler. */
int ivshmem_on_peer(struct ivshmem *h, ivshmem_peer_fn *fn, void *data);

enum ivshmem_server_event {
	/*
	 * The peers that existed when we connected, and our own vectors, have
	 * arrived (after every connection). A server with 0 vectors never
	 * sends anything after the shared memory, so there it never comes.
	 */
	IVSHMEM_SERVER_SYNCED,
	/*
	 * The connection to the server is lost (or it broke the protocol).
	 * Every peer was reported as left before this. Without
	 * IVSHMEM_RECONNECT the handle stays disconnected: the memory stays
	 * mapped, ivshmem_notify() and ivshmem_own_id() return -ENOTCONN.
	 */
	IVSHMEM_SERVER_LOST,
	/*
	 * Reconnected (IVSHMEM_RECONNECT) with the same shared memory; the
	 * id may have changed: see ivshmem_own_id(). Peers follow as joins.
	 */
	IVSHMEM_SERVER_RECONNECTED,
	/*
	 * Reconnected, but the server handed out another shared-memory object
	 * (another file, or another size). The handle keeps the old mapping
	 * (no longer shared with the peers) until the caller adopts the new
	 * one with ivshmem_remap(), or closes the handle.
	 */
	IVSHMEM_SERVER_MEMORY_CHANGED,
};

typedef void ivshmem_server_fn(struct ivshmem *h,
			       enum ivshmem_server_event event, void *data);

/* Calls @fn on changes of the connection; @fn NULL removes the handler. */
int ivshmem_on_server(struct ivshmem *h, ivshmem_server_fn *fn, void *data);

/*
 * After IVSHMEM_SERVER_MEMORY_CHANGED: unmaps the old memory and maps the
 * new one. Pointers from ivshmem_memory() become invalid.
 * Errors: -EALREADY when no change is pending; errors of mmap() (the old
 * mapping then stays).
 */
int ivshmem_remap(struct ivshmem *h);

/* ---- memory access ---------------------------------------------------- */

/*
 * Copies between the shared memory and a buffer, or fills a range with
 * @byte. Errors: -ERANGE when offset + length goes past the end; -EINVAL
 * for a NULL buffer with a length.
 */
int ivshmem_read(struct ivshmem *h, uint64_t offset, void *buf, size_t len);
int ivshmem_write(struct ivshmem *h, uint64_t offset, const void *buf,
		  size_t len);
int ivshmem_fill(struct ivshmem *h, uint64_t offset, uint8_t byte,
		 size_t len);

/*
 * Acquire loads and release stores of 8 to 64 bits.
 * Errors: -ERANGE; -EINVAL for a misaligned offset or a NULL @out.
 */
int ivshmem_load8(struct ivshmem *h, uint64_t offset, uint8_t *out);
int ivshmem_load16(struct ivshmem *h, uint64_t offset, uint16_t *out);
int ivshmem_load32(struct ivshmem *h, uint64_t offset, uint32_t *out);
int ivshmem_load64(struct ivshmem *h, uint64_t offset, uint64_t *out);
int ivshmem_store8(struct ivshmem *h, uint64_t offset, uint8_t value);
int ivshmem_store16(struct ivshmem *h, uint64_t offset, uint16_t value);
int ivshmem_store32(struct ivshmem *h, uint64_t offset, uint32_t value);
int ivshmem_store64(struct ivshmem *h, uint64_t offset, uint64_t value);

/*
 * Compare-and-swap: if the value at @offset equals *@expected, stores
 * @desired and returns 1; otherwise writes the current value to *@expected
 * and returns 0. Errors: -ERANGE; -EINVAL (misaligned, NULL @expected).
 */
int ivshmem_cas32(struct ivshmem *h, uint64_t offset, uint32_t *expected,
		  uint32_t desired);
int ivshmem_cas64(struct ivshmem *h, uint64_t offset, uint64_t *expected,
		  uint64_t desired);

/*
 * The same for 16 bytes at a 16-byte aligned offset, as two 64-bit words
 * in memory order ([0] at @offset, [1] at @offset + 8). Errors: as above,
 * and -ENOTSUP where the CPU has no 16-byte compare-and-swap (on x86_64:
 * cmpxchg16b, detected at run time; other architectures: always).
 */
int ivshmem_cas128(struct ivshmem *h, uint64_t offset, uint64_t expected[2],
		   const uint64_t desired[2]);

/*
 * Adds @value (wrapping) or stores @value, and writes the previous value
 * to *@old unless @old is NULL. Errors: -ERANGE; -EINVAL (misaligned).
 */
int ivshmem_fetch_add32(struct ivshmem *h, uint64_t offset, uint32_t value,
			uint32_t *old);
int ivshmem_fetch_add64(struct ivshmem *h, uint64_t offset, uint64_t value,
			uint64_t *old);
int ivshmem_exchange32(struct ivshmem *h, uint64_t offset, uint32_t value,
		       uint32_t *old);
int ivshmem_exchange64(struct ivshmem *h, uint64_t offset, uint64_t value,
		       uint64_t *old);

/* A full, sequentially consistent memory fence. */
void ivshmem_fence(void);

/*
 * Spins (acquire loads, with a CPU pause between them) until the value at
 * @offset equals @value, for at most @timeout_ms (-1: forever). This
 * burns a CPU: for long waits, use interrupts. Errors: -ETIMEDOUT;
 * -ERANGE; -EINVAL (misaligned).
 */
int ivshmem_spin_wait32(struct ivshmem *h, uint64_t offset, uint32_t value,
			int timeout_ms);
int ivshmem_spin_wait64(struct ivshmem *h, uint64_t offset, uint64_t value,
			int timeout_ms);

/* ---- logging ---------------------------------------------------------- */

enum ivshmem_log_level {
	IVSHMEM_LOG_ERROR = 1,
	IVSHMEM_LOG_INFO = 2,
	IVSHMEM_LOG_DEBUG = 3,
};

/* @message is one line without a newline. */
typedef void ivshmem_log_fn(enum ivshmem_log_level level, const char *message,
			    void *data);

/*
 * Sends the library's messages up to @max_level to @fn (NULL: silence,
 * the default). Process-wide: call it before opening handles, not while
 * other threads use the library.
 */
void ivshmem_set_log_handler(ivshmem_log_fn *fn,
			     enum ivshmem_log_level max_level, void *data);

#ifdef __cplusplus
}
#endif

#endif /* IVSHMEM_H */
