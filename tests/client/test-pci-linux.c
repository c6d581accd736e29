/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The Linux guest backend against a fake sysfs tree: listing, opening
 * plain and doorbell devices through their resource files (regular files
 * here, so that the test sees what was mapped and what the doorbell
 * got), the errors, and binding to vfio-pci. VFIO itself needs a guest:
 * tests/guest.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "backend.h"

#define PLAIN "0000:00:03.0"    /* ivshmem-plain, 2 MiB, no driver */
#define DOORBELL "0000:00:04.0" /* ivshmem-doorbell, 1 MiB, id 7, 4 vectors */
#define BOUND "0000:00:10.0"    /* ivshmem-doorbell bound to vfio-pci */
#define OTHER "0000:00:02.0"    /* not an ivshmem device */
#define OWN_ID 7

static char root[64];
static char logged[4096];

static void on_log(enum ivshmem_log_level level, const char *msg, void *data)
{
	size_t n = strlen(logged);

	snprintf(logged + n, sizeof(logged) - n, "%s\n", msg);
}

__attribute__((format(printf, 1, 2)))
static const char *at(const char *fmt, ...)
{
	static char path[4][512];
	static int next;
	char *p = path[next++ % 4];
	va_list ap;
	int n = snprintf(p, 512, "%s/", root);

	va_start(ap, fmt);
	vsnprintf(p + n, (size_t)(512 - n), fmt, ap);
	va_end(ap);
	return p;
}

static void mkdirs(const char *path)
{
	char buf[512];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *s = strchr(buf + 1, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		mkdir(buf, 0755);
		*s = '/';
	}
	mkdir(buf, 0755);
}

/* A file of @size bytes starting with @len bytes of @data. */
static void put(const char *path, const void *data, size_t len, off_t size)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	if (size)
		assert_int_equal(ftruncate(fd, size), 0);
	close(fd);
}

static void put_text(const char *path, const char *text)
{
	put(path, text, strlen(text), 0);
}

static void get(const char *path, off_t offset, void *buf, size_t len)
{
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, offset), (ssize_t)len);
	close(fd);
}

static const char *get_text(const char *path)
{
	static char buf[256];
	ssize_t n;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	return buf;
}

/* The configuration space of a doorbell: a vendor capability, then
 * MSI-X with @vectors. */
static void put_config(const char *address, int vectors, size_t len)
{
	uint8_t cfg[256] = { 0xf4, 0x1a, 0x10, 0x11 };

	cfg[0x06] = 0x10;              /* status: capability list */
	cfg[0x34] = 0x40;
	cfg[0x40] = 0x09;              /* vendor-specific */
	cfg[0x41] = 0x50;
	cfg[0x50] = 0x11;              /* MSI-X */
	cfg[0x52] = (uint8_t)(vectors - 1);
	put(at("bus/pci/devices/%s/config", address), cfg, len, 0);
}

static void add_device(const char *address, const char *vendor,
		       bool doorbell, off_t size)
{
	uint32_t regs[64] = { [2] = OWN_ID };

	mkdirs(at("bus/pci/devices/%s", address));
	put_text(at("bus/pci/devices/%s/vendor", address), vendor);
	put_text(at("bus/pci/devices/%s/device", address), "0x1110\n");
	put_text(at("bus/pci/devices/%s/driver_override", address), "");
	/* distinct contents tell which file was mapped */
	put(at("bus/pci/devices/%s/resource2", address), "uncached", 9, size);
	put(at("bus/pci/devices/%s/resource2_wc", address), "combined", 9,
	    size);
	if (!doorbell)
		return;
	put(at("bus/pci/devices/%s/resource0", address), regs, sizeof(regs),
	    0);
	put_text(at("bus/pci/devices/%s/resource1", address), "");
	put_config(address, 4, 256);
}

static void bind_driver(const char *address, const char *driver)
{
	char target[128];

	mkdirs(at("bus/pci/drivers/%s", driver));
	put_text(at("bus/pci/drivers/%s/unbind", driver), "");
	snprintf(target, sizeof(target), "../../../../bus/pci/drivers/%s",
		 driver);
	unlink(at("bus/pci/devices/%s/driver", address));
	assert_int_equal(symlink(target, at("bus/pci/devices/%s/driver",
					    address)), 0);
}

static void add_iommu_group(const char *address)
{
	assert_int_equal(symlink("../../../../kernel/iommu_groups/5",
				 at("bus/pci/devices/%s/iommu_group", address)),
			 0);
}

static int setup(void **state)
{
	snprintf(root, sizeof(root), "/tmp/ivshmem-sysfs-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	add_device(PLAIN, "0x1af4\n", false, 2 << 20);
	add_device(DOORBELL, "0x1af4\n", true, 1 << 20);
	add_device(BOUND, "0x1af4\n", true, 1 << 20);
	bind_driver(BOUND, "vfio-pci");
	add_device(OTHER, "0x8086\n", false, 4096);
	mkdirs(at("bus/pci/devices/not-an-address"));
	put_text(at("bus/pci/drivers_probe"), "");
	pci_set_sysfs_root(root);
	logged[0] = '\0';
	ivshmem_set_log_handler(on_log, IVSHMEM_LOG_DEBUG, NULL);
	return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag,
		      struct FTW *ftw)
{
	return remove(path);
}

static int teardown(void **state)
{
	ivshmem_set_log_handler(NULL, 0, NULL);
	pci_set_sysfs_root(NULL);
	return nftw(root, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- listing ---------------------------------------------------------- */

static void test_list(void **state)
{
	struct ivshmem_pci_device dev[4];

	memset(dev, 0xaa, sizeof(dev));
	assert_int_equal(ivshmem_list_pci(dev, 4), 3);
	assert_string_equal(dev[0].address, PLAIN);
	assert_int_equal(dev[0].doorbell, 0);
	assert_int_equal(dev[0].size, 2 << 20);
	assert_string_equal(dev[0].driver, "");
	assert_string_equal(dev[1].address, DOORBELL);
	assert_int_equal(dev[1].doorbell, 1);
	assert_int_equal(dev[1].size, 1 << 20);
	assert_string_equal(dev[2].address, BOUND);
	assert_string_equal(dev[2].driver, "vfio-pci");
	assert_int_equal(dev[3].doorbell, (int)0xaaaaaaaa); /* untouched */
}

static void test_list_short(void **state)
{
	struct ivshmem_pci_device dev[2];

	memset(dev, 0xaa, sizeof(dev));
	assert_int_equal(ivshmem_list_pci(dev, 1), 3);
	assert_string_equal(dev[0].address, PLAIN);
	assert_int_equal(dev[1].doorbell, (int)0xaaaaaaaa);
	assert_int_equal(ivshmem_list_pci(NULL, 0), 3);
	assert_int_equal(ivshmem_list_pci(NULL, 1), -EINVAL);
}

static void test_list_no_pci(void **state)
{
	struct ivshmem_pci_device dev;

	pci_set_sysfs_root(at("nowhere"));
	assert_int_equal(ivshmem_list_pci(&dev, 1), 0);
	assert_int_equal(ivshmem_open_pci(&(struct ivshmem *){ NULL }, NULL,
					  0), -ENODEV);
}

/* ---- opening ---------------------------------------------------------- */

static void test_open_plain(void **state)
{
	struct ivshmem *h;
	char buf[9];

	assert_int_equal(ivshmem_open_pci(&h, PLAIN, 0), 0);
	assert_int_equal(ivshmem_size(h), 2 << 20);
	assert_string_equal(ivshmem_memory(h), "combined");
	assert_int_equal(ivshmem_write(h, 4096, "guest", 6), 0);
	assert_int_equal(ivshmem_own_id(h), -ENOTSUP);
	assert_int_equal(ivshmem_vectors(h, 0), -ENOTSUP);
	assert_int_equal(ivshmem_notify(h, 0, 0), -ENOTSUP);
	assert_int_equal(ivshmem_peers(h, NULL, 0), -ENOTSUP);
	assert_int_equal(ivshmem_wait(h, 0, 0), -ENOTSUP);
	assert_non_null(strstr(logged, PLAIN " is an ivshmem-plain device"));
	ivshmem_close(h);
	get(at("bus/pci/devices/" PLAIN "/resource2_wc"), 4096, buf, 6);
	assert_string_equal(buf, "guest");
}

static void test_open_uncached(void **state)
{
	struct ivshmem *h;

	assert_int_equal(ivshmem_open_pci(&h, PLAIN, IVSHMEM_UNCACHED), 0);
	assert_string_equal(ivshmem_memory(h), "uncached");
	ivshmem_close(h);
	h = (struct ivshmem *)1;
	assert_int_equal(ivshmem_open_pci(&h, PLAIN, IVSHMEM_CACHED),
			 -ENOTSUP);
	assert_null(h);
	assert_int_equal(ivshmem_open_pci(&h, PLAIN, IVSHMEM_CACHED |
					  IVSHMEM_UNCACHED), -EINVAL);
}

static void test_open_first(void **state)
{
	struct ivshmem *h;

	assert_int_equal(ivshmem_open_pci(&h, NULL, 0), 0);
	assert_int_equal(ivshmem_size(h), 2 << 20); /* PLAIN */
	ivshmem_close(h);
}

static uint32_t doorbell_register(void)
{
	uint32_t value;

	get(at("bus/pci/devices/" DOORBELL "/resource0"), 0x0c, &value, 4);
	return value;
}

static void test_open_doorbell(void **state)
{
	struct ivshmem *h;

	assert_int_equal(ivshmem_open_pci(&h, DOORBELL, 0), 0);
	assert_int_equal(ivshmem_size(h), 1 << 20);
	assert_int_equal(ivshmem_own_id(h), OWN_ID);
	assert_int_equal(ivshmem_vectors(h, OWN_ID), 4);
	assert_int_equal(ivshmem_vectors(h, 3), -ENOTSUP);
	assert_int_equal(ivshmem_peers(h, NULL, 0), -ENOTSUP);
	assert_int_equal(ivshmem_eventfd(h, OWN_ID, 0), -ENOTSUP);
	assert_int_equal(ivshmem_eventfd(h, 3, 0), -ENOTSUP);
	assert_true(ivshmem_get_fd(h) >= 0);

	assert_int_equal(ivshmem_notify(h, 3, 2), 0);
	assert_int_equal(doorbell_register(), 3 << 16 | 2);
	assert_int_equal(ivshmem_notify(h, 65535, 255), 0);
	assert_int_equal(doorbell_register(), 0xffff00ffu);
	assert_int_equal(ivshmem_notify(h, OWN_ID, 3), 0);
	assert_int_equal(doorbell_register(), OWN_ID << 16 | 3);
	/* 8 bits of vector on the doorbell; our own we know */
	assert_int_equal(ivshmem_notify(h, 3, 256), -EINVAL);
	assert_int_equal(ivshmem_notify(h, OWN_ID, 4), -EINVAL);
	assert_int_equal(doorbell_register(), OWN_ID << 16 | 3);

	assert_int_equal(ivshmem_wait(h, 0, 1000), -ENOTSUP);
	assert_non_null(strstr(logged, "'ivshmem-client bind-vfio " DOORBELL
			       "'"));
	assert_non_null(strstr(logged, "intel-iommu"));
	ivshmem_close(h);
}

/* Without CAP_SYS_ADMIN, sysfs gives only 64 bytes of configuration. */
static void test_open_vectors_unknown(void **state)
{
	struct ivshmem *h;

	put_config(DOORBELL, 4, 64);
	assert_int_equal(ivshmem_open_pci(&h, "00:04.0", 0), 0);
	assert_int_equal(ivshmem_own_id(h), OWN_ID);
	assert_int_equal(ivshmem_vectors(h, OWN_ID), -ENOTSUP);
	assert_int_equal(ivshmem_notify(h, OWN_ID, 9), 0);
	ivshmem_close(h);
}

static void test_open_errors(void **state)
{
	struct ivshmem *h;

	assert_int_equal(ivshmem_open_pci(&h, "0000:00:05.0", 0), -ENODEV);
	assert_non_null(strstr(logged, "no ivshmem device at 0000:00:05.0"));
	assert_int_equal(ivshmem_open_pci(&h, OTHER, 0), -ENODEV);
	assert_int_equal(ivshmem_open_pci(&h, "zz", 0), -EINVAL);
	assert_int_equal(ivshmem_open_pci(&h, "0000:00:20.0", 0), -EINVAL);
	assert_int_equal(ivshmem_open_pci(&h, "0000:00:04.0/..", 0), -EINVAL);
	assert_int_equal(ivshmem_open_pci(&h, "0000:00:04.0 ", 0), -EINVAL);

	unlink(at("bus/pci/devices/" DOORBELL "/resource0"));
	assert_int_equal(ivshmem_open_pci(&h, DOORBELL, 0), -ENOENT);
	assert_null(h);
	assert_non_null(strstr(logged, "resource0"));
}

/* Bound to vfio-pci, the registers are VFIO's: never sysfs, even when
 * VFIO cannot be used. */
static void test_open_vfio_without_group(void **state)
{
	struct ivshmem *h;

	assert_int_equal(ivshmem_open_pci(&h, BOUND, 0), -ENOTSUP);
	assert_non_null(strstr(logged, BOUND " has no IOMMU group"));
}

/* ---- binding ---------------------------------------------------------- */

static void test_bind_errors(void **state)
{
	assert_int_equal(ivshmem_bind_vfio("0000:00:05.0"), -ENODEV);
	assert_int_equal(ivshmem_bind_vfio(OTHER), -ENODEV);
	assert_int_equal(ivshmem_bind_vfio("x"), -EINVAL);
	assert_int_equal(ivshmem_bind_vfio(NULL), -EINVAL);

	assert_int_equal(ivshmem_bind_vfio(DOORBELL), -ENOTSUP);
	assert_non_null(strstr(logged, DOORBELL " has no IOMMU group"));
	add_iommu_group(DOORBELL);
	logged[0] = '\0';
	assert_int_equal(ivshmem_bind_vfio(DOORBELL), -ENOTSUP);
	assert_non_null(strstr(logged, "modprobe -a vfio-pci vfio_iommu_type1"));
	mkdirs(at("bus/pci/drivers/vfio-pci"));
	assert_int_equal(ivshmem_bind_vfio(DOORBELL), -ENOTSUP);
	/* nothing was touched */
	assert_string_equal(get_text(at("bus/pci/devices/" DOORBELL
					"/driver_override")), "");
	assert_string_equal(get_text(at("bus/pci/drivers_probe")), "");
}

static void test_bind(void **state)
{
	add_iommu_group(DOORBELL);
	mkdirs(at("bus/pci/drivers/vfio-pci"));
	mkdirs(at("module/vfio_iommu_type1"));
	bind_driver(DOORBELL, "uio_pci_generic");

	/* a fake sysfs does not bind: the result is checked */
	assert_int_equal(ivshmem_bind_vfio("00:04.0"), -EIO);
	assert_non_null(strstr(logged, "vfio-pci did not take " DOORBELL));
	assert_string_equal(get_text(at("bus/pci/devices/" DOORBELL
					"/driver_override")), "vfio-pci");
	assert_string_equal(get_text(at("bus/pci/drivers/uio_pci_generic"
					"/unbind")), DOORBELL);
	assert_string_equal(get_text(at("bus/pci/drivers_probe")), DOORBELL);

	/* already bound: nothing to do */
	put_text(at("bus/pci/drivers_probe"), "");
	assert_int_equal(ivshmem_bind_vfio(BOUND), 0);
	assert_string_equal(get_text(at("bus/pci/drivers_probe")), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_list),
		T(test_list_short),
		T(test_list_no_pci),
		T(test_open_plain),
		T(test_open_uncached),
		T(test_open_first),
		T(test_open_doorbell),
		T(test_open_vectors_unknown),
		T(test_open_errors),
		T(test_open_vfio_without_group),
		T(test_bind_errors),
		T(test_bind),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
