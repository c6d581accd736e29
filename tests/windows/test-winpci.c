/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The Windows guest backend against a fake driver: listing, the open,
 * map, register and close sequence for each kind of process, every error
 * of the driver, interrupts through the front, and memory access on such
 * a handle. Natively on Linux, and under wine in the cross build.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
#endif

#include "check.h"
#include "fake-winpci.h"
#include "ivshmem.h"
#include "winpci.h"

#define MIB (1u << 20)

/* ---- helpers ---------------------------------------------------------- */

static char last_error[256];

static void on_log(enum ivshmem_log_level level, const char *msg,
		   void *data)
{
	if (level == IVSHMEM_LOG_ERROR)
		snprintf(last_error, sizeof(last_error), "%s", msg);
}

/* The last error message contains @text. */
static void check_said(const char *text)
{
	if (!strstr(last_error, text))
		check_failed(__FILE__, __LINE__, "message \"%s\" lacks \"%s\"",
			     last_error, text);
}

static struct fake_driver driver;
static struct winpci_sys sys;

/* A driver as a process of kind @abi sees it, with one device. */
static struct fake_device *setup(enum winpci_abi abi, uint16_t vectors)
{
	struct fake_device *d;

	fake_init(&driver, abi);
	sys = fake_sys(&driver, abi);
	d = fake_add(&driver, 0, 3, 0, MIB, vectors, 7);
	CHECK(d);
	last_error[0] = 0;
	ivshmem_set_log_handler(on_log, IVSHMEM_LOG_DEBUG, NULL);
	return d;
}

static void teardown(void)
{
	CHECK_INT(driver.open_files, 0);
	fake_fini(&driver);
}

struct seen {
	int calls;
	int vector;
	uint64_t count;
	uint64_t per_vector[64];
};

static void on_interrupt(struct ivshmem *h, int vector, uint64_t count,
			 void *data)
{
	struct seen *s = data;

	s->calls++;
	s->vector = vector;
	s->count = count;
	if (vector < 64)
		s->per_vector[vector] += count;
}

/* ---- listing ---------------------------------------------------------- */

static void test_list(void)
{
	struct ivshmem_pci_device dev[4];
	struct fake_device *late;

	setup(WINPCI_ABI_64, 1); /* 0000:00:03.0 */
	/* found in any order; listed by bus, then address */
	fake_add(&driver, 1, 2, 0, 2 * MIB, 1, 1);
	fake_add(&driver, 0, 3, 1, 4 * MIB, 0, 0);
	late = fake_add(&driver, 0, 0x1f, 7, 8 * MIB, 0, -1);
	CHECK_INT(winpci_list(&sys, dev, 4), 4);
	CHECK(!strcmp(dev[0].address, "0000:00:03.0"));
	CHECK(!strcmp(dev[1].address, "0000:00:03.1"));
	CHECK(!strcmp(dev[2].address, "0000:00:1f.7"));
	CHECK(!strcmp(dev[3].address, "0000:01:02.0"));
	CHECK_INT(dev[0].size, MIB);
	CHECK_INT(dev[1].size, 4 * MIB);
	CHECK_INT(dev[2].size, 0); /* not ready: no size yet */
	CHECK_INT(dev[3].size, 2 * MIB);
	for (int i = 0; i < 4; i++) {
		CHECK_INT(dev[i].doorbell, -1);
		CHECK(!strcmp(dev[i].driver, "ivshmem"));
	}
	/* the size without mapping, and no handle left open */
	CHECK_INT(fake_calls(&driver, WINPCI_REQUEST_SIZE), 4);
	CHECK_INT(fake_calls(&driver, WINPCI_REQUEST_MMAP), 0);
	CHECK_INT(driver.open_files, 0);
	/* once QEMU has the memory */
	late->provision = 3;
	CHECK_INT(winpci_list(&sys, dev, 4), 4);
	CHECK_INT(dev[2].size, 8 * MIB);

	/* more devices than room: the count of all */
	memset(dev, 0, sizeof(dev));
	CHECK_INT(winpci_list(&sys, dev, 1), 4);
	CHECK(!strcmp(dev[0].address, "0000:00:03.0"));
	CHECK(!dev[1].address[0]);
	CHECK_INT(winpci_list(&sys, NULL, 0), 4);

	/* a device that cannot be opened is still listed, without a size */
	driver.open_error = WINPCI_ERROR_ACCESS_DENIED;
	CHECK_INT(winpci_list(&sys, dev, 4), 4);
	CHECK_INT(dev[0].size, 0);
	driver.open_error = 0;

	driver.enumerate_error = WINPCI_ERROR_NOT_ENOUGH_MEMORY;
	CHECK_INT(winpci_list(&sys, dev, 4), -ENOMEM);
	teardown();

	fake_init(&driver, WINPCI_ABI_64);
	CHECK_INT(winpci_list(&sys, dev, 4), 0);
	teardown();
}

/* ---- the sequence, for each kind of process --------------------------- */

static void open_map_ring_close(enum winpci_abi abi)
{
	struct fake_device *d = setup(abi, 4);
	struct ivshmem *h = NULL;
	uint8_t byte = 0;

	CHECK_INT(winpci_open(&sys, &h, NULL, 0), 0);
	CHECK(h);
	/* REQUEST_MMAP, then one event per vector, in vector order */
	CHECK_INT(driver.ncalls, 5);
	CHECK_INT(driver.calls[0], WINPCI_REQUEST_MMAP);
	for (int v = 0; v < 4; v++) {
		CHECK_INT(driver.calls[1 + v], WINPCI_REGISTER_EVENT);
		CHECK_INT(d->events[v].vector, v);
		CHECK(!d->events[v].single_shot);
	}
	CHECK(d->owner);
	CHECK_INT(d->cache_mode, WINPCI_CACHE_WRITECOMBINED);
	CHECK_INT(d->events_used, 4);

	/* what the mapping's reply said, at the right offsets */
	CHECK_INT(ivshmem_own_id(h), 7);
	CHECK_INT(ivshmem_size(h), MIB);
	CHECK(ivshmem_memory(h) == d->mem);
	CHECK_INT(ivshmem_vectors(h, 7), 4);
	CHECK_INT(ivshmem_write(h, MIB - 1, "x", 1), 0);
	CHECK_INT(((uint8_t *)d->mem)[MIB - 1], 'x');
	((uint8_t *)d->mem)[0] = 42;
	CHECK_INT(ivshmem_read(h, 0, &byte, 1), 0);
	CHECK_INT(byte, 42);

	/* the doorbell: peer << 16 | vector */
	CHECK_INT(ivshmem_notify(h, 2, 3), 0);
	CHECK_INT(d->doorbell, 2u << 16 | 3);
	CHECK_INT(ivshmem_notify(h, 65535, 255), 0);
	CHECK_INT(d->doorbell, 0xffffu << 16 | 255);
	CHECK_INT(d->rings, 2);

	/* the driver signals the event we registered, at its offset */
	fake_interrupt(d, 3);
	CHECK_INT(ivshmem_wait(h, 3, 5000), 1);

	/* RELEASE_MMAP, and closing the handle frees our events */
	ivshmem_close(h);
	CHECK_INT(fake_calls(&driver, WINPCI_RELEASE_MMAP), 1);
	CHECK_INT(driver.calls[driver.ncalls - 1], WINPCI_RELEASE_MMAP);
	CHECK(!d->owner);
	CHECK_INT(d->events_used, 0);
	teardown();
}

static void test_sequence_64(void)
{
	open_map_ring_close(WINPCI_ABI_64);
}

static void test_sequence_32(void)
{
	open_map_ring_close(WINPCI_ABI_32);
}

static void test_sequence_wow64(void)
{
	open_map_ring_close(WINPCI_ABI_WOW64);
}

/* The driver checks lengths for equality: a process that gets its own
 * kind wrong is refused, and nothing stays mapped. */
static void test_wrong_process_kind(void)
{
	static const enum winpci_abi wrong[][2] = {
		/* the driver sees, the library believes */
		{ WINPCI_ABI_64, WINPCI_ABI_WOW64 },
		{ WINPCI_ABI_WOW64, WINPCI_ABI_64 },
		{ WINPCI_ABI_32, WINPCI_ABI_64 },
	};
	struct ivshmem *h;

	for (size_t i = 0; i < sizeof(wrong) / sizeof(*wrong); i++) {
		struct fake_device *d = setup(wrong[i][0], 1);

		sys = fake_sys(&driver, wrong[i][1]);
		CHECK_INT(winpci_open(&sys, &h, NULL, 0), -EPROTO);
		CHECK(!d->owner);
		check_said("refused the buffer sizes");
		teardown();
	}

	/* WOW64 maps as 32 bits but registers events as 64 */
	{
		struct fake_device *d = setup(WINPCI_ABI_WOW64, 1);

		sys = fake_sys(&driver, WINPCI_ABI_32);
		CHECK_INT(winpci_open(&sys, &h, NULL, 0), -EPROTO);
		CHECK_INT(fake_calls(&driver, WINPCI_REGISTER_EVENT), 1);
		check_said("vector 0");
		CHECK(!d->owner);
		teardown();
	}
}

static void test_cache_modes(void)
{
	static const struct {
		unsigned flags;
		int mode;
	} modes[] = {
		{ 0, WINPCI_CACHE_WRITECOMBINED },
		{ IVSHMEM_UNCACHED, WINPCI_CACHE_NONCACHED },
		{ IVSHMEM_CACHED, WINPCI_CACHE_CACHED },
	};
	struct fake_device *d = setup(WINPCI_ABI_64, 1);
	struct ivshmem *h;

	for (size_t i = 0; i < sizeof(modes) / sizeof(*modes); i++) {
		CHECK_INT(winpci_open(&sys, &h, NULL, modes[i].flags), 0);
		CHECK_INT(d->cache_mode, modes[i].mode);
		ivshmem_close(h);
	}
	/* a driver without the mode */
	d->no_cached = true;
	CHECK_INT(winpci_open(&sys, &h, NULL, IVSHMEM_CACHED), -ENOTSUP);
	check_said("cache mode");
	CHECK(!d->owner);
	teardown();
}

/* ---- the driver's errors ---------------------------------------------- */

static void test_select_device(void)
{
	struct ivshmem *h;

	setup(WINPCI_ABI_64, 1);
	fake_add(&driver, 0, 4, 0, 2 * MIB, 1, 9);
	CHECK_INT(winpci_open(&sys, &h, "0000:00:04.0", 0), 0);
	CHECK_INT(ivshmem_own_id(h), 9);
	ivshmem_close(h);
	CHECK_INT(winpci_open(&sys, &h, "0000:00:03.0", 0), 0);
	CHECK_INT(ivshmem_own_id(h), 7);
	ivshmem_close(h);
	CHECK_INT(winpci_open(&sys, &h, "0000:00:05.0", 0), -ENODEV);
	check_said("0000:00:05.0: no such device");
	teardown();

	fake_init(&driver, WINPCI_ABI_64);
	CHECK_INT(winpci_open(&sys, &h, NULL, 0), -ENODEV);
	check_said("is the virtio-win IVSHMEM driver installed");
	teardown();
}

static void test_not_ready(void)
{
	struct fake_device *d = setup(WINPCI_ABI_64, 1);
	struct ivshmem *h;

	d->provision = -1;
	CHECK_INT(winpci_open(&sys, &h, NULL, 0), -EAGAIN);
	check_said("QEMU has not received it");
	CHECK(!d->owner);
	/* once QEMU has the memory */
	d->provision = 0;
	CHECK_INT(winpci_open(&sys, &h, NULL, 0), 0);
	CHECK_INT(ivshmem_own_id(h), 0);
	ivshmem_close(h);
	teardown();
}

static void test_one_mapping(void)
{
	struct fake_device *d = setup(WINPCI_ABI_64, 2);
	struct ivshmem *h, *second;

	CHECK_INT(winpci_open(&sys, &h, NULL, 0), 0);
	CHECK_INT(winpci_open(&sys, &second, NULL, 0), -EBUSY);
	check_said("one handle at a time");
	CHECK_INT(driver.open_files, 1);
	CHECK_INT(d->events_used, 2);
	ivshmem_close(h);
	CHECK_INT(winpci_open(&sys, &second, NULL, 0), 0);
	ivshmem_close(second);
	teardown();
}

static void test_open_errors(void)
{
	struct fake_device *d = setup(WINPCI_ABI_64, 1);
	struct ivshmem *h;

	driver.open_error = WINPCI_ERROR_ACCESS_DENIED;
	CHECK_INT(winpci_open(&sys, &h, NULL, 0), -EACCES);
	check_said("opening the device");
	driver.open_error = WINPCI_ERROR_FILE_NOT_FOUND;
	CHECK_INT(winpci_open(&sys, &h, NULL, 0), -ENODEV);
	check_said("gone");
	driver.open_error = 0;

	d->map_fails = true;
	CHECK_INT(winpci_open(&sys, &h, NULL, 0), -EIO);
	check_said("could not map");
	CHECK_INT(driver.open_files, 0);
	d->map_fails = false;

	/* a driver from before events */
	d->no_events = true;
	CHECK_INT(winpci_open(&sys, &h, NULL, 0), -ENOTSUP);
	check_said("does not know this request");
	CHECK(!d->owner);
	d->no_events = false;

	/* a mapping without memory */
	d->size = 0;
	CHECK_INT(winpci_open(&sys, &h, NULL, 0), -EPROTO);
	check_said("makes no sense");
	CHECK(!d->owner);
	d->size = MIB;

	driver.enumerate_error = WINPCI_ERROR_ACCESS_DENIED;
	CHECK_INT(winpci_open(&sys, &h, NULL, 0), -EACCES);
	check_said("enumerating");
	teardown();
}

/* The device was disabled and enabled again under an open handle: the
 * driver forgot the mapping. */
static void test_mapping_lost(void)
{
	struct fake_device *d = setup(WINPCI_ABI_64, 1);
	struct ivshmem *h;

	CHECK_INT(winpci_open(&sys, &h, NULL, 0), 0);
	d->owner = NULL;
	CHECK_INT(ivshmem_notify(h, 1, 0), -EBADF);
	check_said("ringing the doorbell: the driver refused the handle");
	ivshmem_close(h); /* RELEASE_MMAP fails, the rest is freed */
	check_said("releasing the memory");
	CHECK_INT(driver.open_files, 0);
	teardown();
}

/* The driver has 32 event slots per device, for all handles. */
static void test_event_slots(void)
{
	struct fake_device *d = setup(WINPCI_ABI_64, 4);
	struct fake_file *other = fake_hog(&driver, d, 30);
	struct ivshmem *h;

	CHECK_INT(winpci_open(&sys, &h, NULL, 0), -ENOSPC);
	check_said("32 event slots");
	/* ours are gone with our handle, the mapping too */
	CHECK_INT(d->events_used, 30);
	CHECK(!d->owner);
	fake_close(other);
	CHECK_INT(d->events_used, 0);

	/* reopening many times leaks no slot */
	for (int i = 0; i < 40; i++) {
		CHECK_INT(winpci_open(&sys, &h, NULL, 0), 0);
		ivshmem_close(h);
	}
	CHECK_INT(d->events_used, 0);
	teardown();
}

/* More vectors than events: the first 32 are received. */
static void test_many_vectors(void)
{
	struct fake_device *d = setup(WINPCI_ABI_64, 40);
	struct seen seen = { 0 };
	struct ivshmem *h;

	CHECK_INT(winpci_open(&sys, &h, NULL, 0), 0);
	CHECK_INT(d->events_used, 32);
	CHECK_INT(ivshmem_vectors(h, 7), 32);
	CHECK_INT(ivshmem_on_interrupt(h, IVSHMEM_ALL_VECTORS, on_interrupt,
				       &seen), 0);
	fake_interrupt(d, 31);
	CHECK_INT(ivshmem_wait(h, 31, 5000), 1);
	CHECK_INT(seen.vector, 31);
	CHECK_INT(ivshmem_wait(h, 32, 0), -EINVAL);
	/* vectors above QEMU's 8-bit field are refused, not wrapped */
	CHECK_INT(ivshmem_notify(h, 1, 256), -EINVAL);
	check_said("0..255");
	CHECK_INT(d->rings, 0);
	ivshmem_close(h);
	teardown();
}

/* ivshmem-plain: the memory only */
static void test_plain(void)
{
	struct fake_device *d = setup(WINPCI_ABI_64, 0);
	struct ivshmem *h;

	CHECK_INT(winpci_open(&sys, &h, NULL, IVSHMEM_UNCACHED), 0);
	CHECK_INT(fake_calls(&driver, WINPCI_REGISTER_EVENT), 0);
	CHECK_INT(ivshmem_own_id(h), -ENOTSUP);
	CHECK_INT(ivshmem_notify(h, 0, 0), -ENOTSUP);
	CHECK_INT(ivshmem_wait(h, 0, 0), -ENOTSUP);
	CHECK_INT(ivshmem_peers(h, NULL, 0), -ENOTSUP);
	CHECK_INT(ivshmem_store32(h, 8, 0xfeedf00d), 0);
	CHECK_INT(((uint32_t *)d->mem)[2], 0xfeedf00d);
	ivshmem_close(h);
	teardown();
}

/* ---- interrupts ------------------------------------------------------- */

static void test_interrupts(void)
{
	struct fake_device *d = setup(WINPCI_ABI_64, 4);
	struct seen seen = { 0 }, seen2 = { 0 };
	struct ivshmem *h;

	CHECK_INT(winpci_open(&sys, &h, NULL, 0), 0);
	CHECK_INT(ivshmem_on_interrupt(h, IVSHMEM_ALL_VECTORS, on_interrupt,
				       &seen), 0);
	CHECK_INT(ivshmem_on_interrupt(h, 2, on_interrupt, &seen2), 0);
	CHECK_INT(ivshmem_dispatch(h, 0), 0);

	/* the right vector, to the right handler */
	fake_interrupt(d, 1);
	CHECK_INT(ivshmem_dispatch(h, 5000), 1);
	CHECK_INT(seen.calls, 1);
	CHECK_INT(seen.vector, 1);
	CHECK_INT(seen.count, 1);
	fake_interrupt(d, 2);
	CHECK_INT(ivshmem_dispatch(h, 5000), 1);
	CHECK_INT(seen2.calls, 1);
	CHECK_INT(seen2.vector, 2);

	/* coalesced: one call for two interrupts before dispatching (an
	 * eventfd counts them, an event does not) */
	fake_interrupt(d, 3);
	fake_interrupt(d, 3);
	CHECK_INT(ivshmem_dispatch(h, 5000), 1);
	CHECK_INT(seen.calls, 2);
	CHECK_INT(seen.vector, 3);
	CHECK(seen.count >= 1 && seen.count <= 2);
	CHECK_INT(ivshmem_dispatch(h, 0), 0);

	/* several vectors ready: all in one round, none starved */
	fake_interrupt(d, 3);
	fake_interrupt(d, 0);
	CHECK_INT(ivshmem_dispatch(h, 5000), 2);
	CHECK_INT(seen.per_vector[0], 1);

	/* waiting, and our own vectors raised locally */
	CHECK_INT(ivshmem_wait(h, 0, 0), -ETIMEDOUT);
	CHECK_INT(ivshmem_notify(h, 7, 0), 0);
	CHECK_INT(d->rings, 0);
	CHECK_INT(ivshmem_wait(h, 0, 5000), 1);
	CHECK_INT(ivshmem_wait(h, 4, 0), -EINVAL);
	ivshmem_close(h);
	teardown();
}

/* What a caller's own event loop waits on */
static void test_caller_loop(void)
{
	struct fake_device *d = setup(WINPCI_ABI_64, 3);
	struct seen seen = { 0 };
	struct ivshmem *h;
	void *handles[64];

	CHECK_INT(winpci_open(&sys, &h, NULL, 0), 0);
	ivshmem_on_interrupt(h, IVSHMEM_ALL_VECTORS, on_interrupt, &seen);
#ifdef _WIN32
	CHECK_INT(ivshmem_get_fd(h), -ENOTSUP);
	CHECK_INT(ivshmem_get_handles(h, handles, 64), 3);
	CHECK_INT(ivshmem_get_handles(h, NULL, 0), 3);
	CHECK_INT(WaitForMultipleObjects(3, handles, FALSE, 0), WAIT_TIMEOUT);
	fake_interrupt(d, 2);
	CHECK_INT(WaitForMultipleObjects(3, handles, FALSE, 5000),
		  WAIT_OBJECT_0 + 2);
	/* the caller's wait took nothing away */
	CHECK_INT(ivshmem_dispatch(h, 0), 1);
	CHECK_INT(seen.vector, 2);
	CHECK_INT(WaitForMultipleObjects(3, handles, FALSE, 0), WAIT_TIMEOUT);
#else
	CHECK(ivshmem_get_fd(h) >= 0);
	CHECK_INT(ivshmem_get_handles(h, handles, 64), -ENOTSUP);
	fake_interrupt(d, 2);
	CHECK_INT(ivshmem_dispatch(h, 5000), 1);
	CHECK_INT(seen.vector, 2);
#endif
	CHECK_INT(ivshmem_get_handles(h, NULL, 1), -EINVAL);
	ivshmem_close(h);
	teardown();
}

static void close_from_handler(struct ivshmem *h, int vector,
			       uint64_t count, void *data)
{
	ivshmem_close(h);
}

static void test_close_in_handler(void)
{
	struct fake_device *d = setup(WINPCI_ABI_64, 2);
	struct ivshmem *h;

	CHECK_INT(winpci_open(&sys, &h, NULL, 0), 0);
	ivshmem_on_interrupt(h, 1, close_from_handler, NULL);
	fake_interrupt(d, 1);
	CHECK_INT(ivshmem_wait(h, 0, 5000), -ECANCELED);
	CHECK(!d->owner);
	teardown();
}

/* ---- memory access on such a handle ------------------------------------ */

static void test_memory(void)
{
	struct ivshmem *h;
	uint64_t v64, pair[2] = { 0, 0 }, next[2] = { 1, 2 };
	uint32_t v32;
	uint16_t v16;
	uint8_t v8, buf[16];
	int r;

	setup(WINPCI_ABI_64, 1);
	CHECK_INT(winpci_open(&sys, &h, NULL, 0), 0);
	CHECK_INT(ivshmem_fill(h, 0, 0xab, 64), 0);
	CHECK_INT(ivshmem_read(h, 60, buf, 4), 0);
	CHECK_INT(buf[3], 0xab);
	CHECK_INT(ivshmem_read(h, MIB - 3, buf, 4), -ERANGE);
	CHECK_INT(ivshmem_write(h, UINT64_MAX, buf, 2), -ERANGE);
	CHECK_INT(ivshmem_store8(h, 1, 0x11), 0);
	CHECK_INT(ivshmem_store16(h, 2, 0x2222), 0);
	CHECK_INT(ivshmem_store64(h, 8, 0x8888888888888888ull), 0);
	CHECK_INT(ivshmem_load8(h, 1, &v8), 0);
	CHECK_INT(v8, 0x11);
	CHECK_INT(ivshmem_load16(h, 2, &v16), 0);
	CHECK_INT(v16, 0x2222);
	CHECK_INT(ivshmem_load16(h, 3, &v16), -EINVAL);
	CHECK_INT(ivshmem_load64(h, 8, &v64), 0);
	CHECK(v64 == 0x8888888888888888ull);
	CHECK_INT(ivshmem_store32(h, 16, 5), 0);
	v32 = 5;
	CHECK_INT(ivshmem_cas32(h, 16, &v32, 6), 1);
	CHECK_INT(ivshmem_cas32(h, 16, &v32, 7), 0);
	CHECK_INT(v32, 6);
	CHECK_INT(ivshmem_store64(h, 24, 0), 0);
	CHECK_INT(ivshmem_fetch_add64(h, 24, 3, &v64), 0);
	CHECK_INT(v64, 0);
	CHECK_INT(ivshmem_exchange64(h, 24, 9, &v64), 0);
	CHECK_INT(v64, 3);
	CHECK_INT(ivshmem_fill(h, 32, 0, 16), 0);
	r = ivshmem_cas128(h, 32, pair, next);
	CHECK(r == 1 || r == -ENOTSUP);
	if (r == 1) {
		CHECK_INT(ivshmem_load64(h, 40, &v64), 0);
		CHECK_INT(v64, 2);
	}
	CHECK_INT(ivshmem_spin_wait64(h, 24, 9, 0), 0);
	CHECK_INT(ivshmem_spin_wait32(h, 16, 1, 20), -ETIMEDOUT);
	ivshmem_close(h);
	teardown();
}

int main(int argc, char **argv)
{
	static const struct check_case cases[] = {
		{ "list", test_list },
		{ "sequence-64", test_sequence_64 },
		{ "sequence-32", test_sequence_32 },
		{ "sequence-wow64", test_sequence_wow64 },
		{ "wrong-process-kind", test_wrong_process_kind },
		{ "cache-modes", test_cache_modes },
		{ "select-device", test_select_device },
		{ "not-ready", test_not_ready },
		{ "one-mapping", test_one_mapping },
		{ "open-errors", test_open_errors },
		{ "mapping-lost", test_mapping_lost },
		{ "event-slots", test_event_slots },
		{ "many-vectors", test_many_vectors },
		{ "plain", test_plain },
		{ "interrupts", test_interrupts },
		{ "caller-loop", test_caller_loop },
		{ "close-in-handler", test_close_in_handler },
		{ "memory", test_memory },
	};

	return check_main(cases, sizeof(cases) / sizeof(*cases), argc, argv);
}
