/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The Linux guest backend: ivshmem PCI devices through sysfs and VFIO
 *
 * A device is a directory under /sys/bus/pci/devices with vendor 0x1af4
 * and device 0x1110; resource1 (the MSI-X BAR) exists only on
 * ivshmem-doorbell. The shared memory (BAR2) is always mapped through
 * sysfs: resource2_wc (write-combined) or resource2 (uncached). The
 * registers (BAR0: our id at 0x08, the doorbell at 0x0c) are mapped
 * through sysfs resource0 or, when the device is bound to vfio-pci,
 * through the VFIO device, which also gives the interrupts: one eventfd
 * per MSI-X vector, handed to the front.
 *
 * The order matters. vfio-pci claims a BAR when it is first accessed
 * through the VFIO device, and the kernel (CONFIG_IO_STRICT_DEVMEM) then
 * revokes every sysfs mapping of that BAR: touching one raises SIGBUS.
 * So with VFIO, BAR0 is mapped only through VFIO and BAR2 never is (VFIO
 * would map it uncached anyway). vfio-pci also leaves Bus Master off,
 * and without it MSI-X messages are not delayed but lost: it is set
 * before the open returns. VFIO needs no DMA mapping: ivshmem does none.
 *
 * Everything is found under a sysfs root, "/sys" except in unit tests.
 */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include "backend.h"
#include "log.h"

#define IVSHMEM_VENDOR 0x1af4
#define IVSHMEM_DEVICE 0x1110
#define REG_IVPOSITION 0x08
#define REG_DOORBELL 0x0c
/* QEMU takes only the low 8 bits of the doorbell's vector. */
#define DOORBELL_VECTORS 256

#define HINT_IOMMU "the guest needs an IOMMU (QEMU: -M q35 " \
	"-device intel-iommu,intremap=on; kernel: intel_iommu=on)"
#define HINT_MODULES "load the modules vfio-pci and vfio_iommu_type1 " \
	"(modprobe -a vfio-pci vfio_iommu_type1)"

struct pci {
	char address[16];
	volatile uint32_t *regs; /* BAR0; NULL on ivshmem-plain */
	size_t regs_size;
	int own_id;
	int vectors;             /* MSI-X vectors; -1 when not known */
	int container, group, device; /* VFIO; -1 without */
};

static char sysfs_root[PATH_MAX / 2] = "/sys";

void pci_set_sysfs_root(const char *root)
{
	snprintf(sysfs_root, sizeof(sysfs_root), "%s", root ? root : "/sys");
}

/* ---- sysfs ------------------------------------------------------------ */

/* A path under the sysfs root; it always fits (the root is short, the
 * rest is ours). */
__attribute__((format(printf, 2, 3)))
static void sysfs_path(char path[PATH_MAX], const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(path, PATH_MAX, "%s/", sysfs_root);

	va_start(ap, fmt);
	vsnprintf(path + n, (size_t)(PATH_MAX - n), fmt, ap);
	va_end(ap);
}

static void device_path(char path[PATH_MAX], const char *address,
			const char *attr)
{
	sysfs_path(path, "bus/pci/devices/%s/%s", address, attr);
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* Reads the attribute @attr of a device: its first line. */
static int read_attr(const char *address, const char *attr, char *buf,
		     size_t size)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd, r;

	device_path(path, address, attr);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	r = n < 0 ? -errno : 0;
	close(fd);
	if (r < 0)
		return r;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static int write_file(const char *path, const char *text)
{
	size_t len = strlen(text);
	ssize_t n;
	int fd, r = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
	} else {
		n = write(fd, text, len);
		r = n < 0 ? -errno : (size_t)n == len ? 0 : -EIO;
		close(fd);
	}
	if (r < 0)
		log_error("cannot write '%s' to %s: %s", text, path,
			  strerror(-r));
	return r;
}

/* The last component of the symlink @attr of a device ("" when none),
 * cut to @size. */
static void link_name(const char *address, const char *attr, char *buf,
		      size_t size)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *name;
	ssize_t n;
	size_t len;

	device_path(path, address, attr);
	n = readlink(path, target, sizeof(target) - 1);
	target[n < 0 ? 0 : n] = '\0';
	name = strrchr(target, '/') ? strrchr(target, '/') + 1 : target;
	len = strnlen(name, size - 1);
	memcpy(buf, name, len);
	buf[len] = '\0';
}

/* ---- finding devices -------------------------------------------------- */

/*
 * Parses domain:bus:device.function (or bus:device.function, as lspci
 * prints it) into a key that orders addresses.
 */
static int parse_address(const char *text, uint64_t *key)
{
	unsigned domain = 0, bus, dev, fn;
	int end = 0;

	if (sscanf(text, "%x:%x:%x.%x%n", &domain, &bus, &dev, &fn, &end) != 4
	    || text[end]) {
		domain = 0;
		end = 0;
		if (sscanf(text, "%x:%x.%x%n", &bus, &dev, &fn, &end) != 3 ||
		    text[end])
			return -EINVAL;
	}
	if (domain > 0xffffff || bus > 0xff || dev > 0x1f || fn > 7)
		return -EINVAL;
	*key = (uint64_t)domain << 16 | bus << 8 | dev << 3 | fn;
	return 0;
}

/* The address as sysfs names it: 0000:00:03.0. */
static int canonical_address(const char *text, char out[16])
{
	uint64_t key;
	int r = parse_address(text, &key);

	if (r == 0)
		snprintf(out, 16, "%04x:%02x:%02x.%x", (unsigned)(key >> 16),
			 (unsigned)(key >> 8) & 0xff,
			 (unsigned)(key >> 3) & 0x1f, (unsigned)key & 7);
	return r;
}

static bool is_ivshmem(const char *address)
{
	char vendor[16], device[16];

	return read_attr(address, "vendor", vendor, sizeof(vendor)) == 0 &&
	       read_attr(address, "device", device, sizeof(device)) == 0 &&
	       strtoul(vendor, NULL, 16) == IVSHMEM_VENDOR &&
	       strtoul(device, NULL, 16) == IVSHMEM_DEVICE;
}

static void describe(const char *address, struct ivshmem_pci_device *dev)
{
	char path[PATH_MAX];
	struct stat st;

	memset(dev, 0, sizeof(*dev));
	snprintf(dev->address, sizeof(dev->address), "%s", address);
	device_path(path, address, "resource2");
	if (stat(path, &st) == 0)
		dev->size = (uint64_t)st.st_size;
	device_path(path, address, "resource1");
	dev->doorbell = exists(path);
	link_name(address, "driver", dev->driver, sizeof(dev->driver));
}

static int by_address(const void *a, const void *b)
{
	uint64_t ka = 0, kb = 0;

	parse_address(((const struct ivshmem_pci_device *)a)->address, &ka);
	parse_address(((const struct ivshmem_pci_device *)b)->address, &kb);
	return ka < kb ? -1 : ka > kb;
}

int pci_list(struct ivshmem_pci_device *devices, size_t max)
{
	struct ivshmem_pci_device *all = NULL;
	size_t n = 0, cap = 0;
	char path[PATH_MAX], address[16];
	struct dirent *e;
	DIR *dir;
	int r = 0;

	sysfs_path(path, "bus/pci/devices");
	dir = opendir(path);
	if (!dir)
		return errno == ENOENT ? 0 : -errno; /* no PCI at all */
	while ((e = readdir(dir))) {
		if (canonical_address(e->d_name, address) < 0 ||
		    strcmp(address, e->d_name) || !is_ivshmem(address))
			continue;
		if (n == cap) {
			size_t c = cap ? 2 * cap : 8;
			void *grown = realloc(all, c * sizeof(*all));

			if (!grown) {
				r = -ENOMEM;
				break;
			}
			all = grown;
			cap = c;
		}
		describe(address, &all[n++]);
	}
	closedir(dir);
	if (r == 0 && n) {
		qsort(all, n, sizeof(*all), by_address);
		if (max)
			memcpy(devices, all,
			       (n < max ? n : max) * sizeof(*all));
	}
	if (r == 0)
		r = n > INT_MAX ? INT_MAX : (int)n;
	free(all);
	return r;
}

/* The ivshmem device at @address, or the first one when NULL. */
static int find_device(const char *address, struct ivshmem_pci_device *dev)
{
	char canonical[16];
	int r;

	if (!address) {
		r = pci_list(dev, 1);
		if (r == 0)
			log_error("there is no ivshmem device");
		return r == 0 ? -ENODEV : r < 0 ? r : 0;
	}
	if (canonical_address(address, canonical) < 0) {
		log_error("invalid PCI address '%s'", address);
		return -EINVAL;
	}
	if (!is_ivshmem(canonical)) {
		log_error("no ivshmem device at %s", canonical);
		return -ENODEV;
	}
	describe(canonical, dev);
	return 0;
}

/*
 * The number of MSI-X vectors, from the configuration space (a reader
 * without CAP_SYS_ADMIN sees only its first 64 bytes: -ENOENT).
 */
static int msix_vectors(const char *address)
{
	char path[PATH_MAX];
	uint8_t cfg[256];
	ssize_t n;
	int fd, pos;

	device_path(path, address, "config");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = pread(fd, cfg, sizeof(cfg), 0);
	close(fd);
	if (n < PCI_STD_HEADER_SIZEOF ||
	    !(cfg[PCI_STATUS] & PCI_STATUS_CAP_LIST))
		return -ENOENT;
	pos = cfg[PCI_CAPABILITY_LIST] & ~3;
	/* at most 48 capabilities fit: a longer list is a loop */
	for (int i = 0; i < 48 && pos >= PCI_STD_HEADER_SIZEOF &&
	     pos + PCI_CAP_MSIX_SIZEOF <= n; i++) {
		if (cfg[pos] == PCI_CAP_ID_MSIX)
			return ((cfg[pos + PCI_MSIX_FLAGS] |
				 cfg[pos + PCI_MSIX_FLAGS + 1] << 8) &
				PCI_MSIX_FLAGS_QSIZE) + 1;
		pos = cfg[pos + PCI_CAP_LIST_NEXT] & ~3;
	}
	return -ENOENT;
}

/* ---- the operations --------------------------------------------------- */

static int pci_own_id(struct ivshmem *h)
{
	struct pci *p = h->backend;

	return p->own_id;
}

/* Only our own: a guest does not know the other peers. */
static int pci_vectors(struct ivshmem *h, int peer)
{
	struct pci *p = h->backend;

	return peer == p->own_id && p->vectors >= 0 ? p->vectors : -ENOTSUP;
}

static int pci_notify(struct ivshmem *h, int peer, int vector)
{
	struct pci *p = h->backend;

	if (vector >= DOORBELL_VECTORS ||
	    (peer == p->own_id && p->vectors >= 0 && vector >= p->vectors))
		return -EINVAL;
	/* A release: what was written before, to write-combined memory
	 * too, is visible before the peer hears the doorbell. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_sfence();
#endif
	p->regs[REG_DOORBELL / 4] = (uint32_t)peer << 16 | (uint32_t)vector;
	return 0;
}

static void pci_plain_no_interrupts(struct ivshmem *h)
{
	struct pci *p = h->backend;

	log_error("%s is an ivshmem-plain device: it has no interrupts",
		  p->address);
}

static void pci_doorbell_no_interrupts(struct ivshmem *h)
{
	struct pci *p = h->backend;

	log_error("%s has no interrupts without VFIO: bind it with "
		  "'ivshmem-client bind-vfio %s' (root; %s), then open it "
		  "again", p->address, p->address, HINT_IOMMU);
}

static void pci_close(struct ivshmem *h)
{
	struct pci *p = h->backend;

	os_unmap(h->mem, h->size);
	if (p->regs)
		munmap((void *)p->regs, p->regs_size);
	/* Closing the VFIO device disables its MSI-X and Bus Master. */
	if (p->device >= 0)
		close(p->device);
	if (p->group >= 0)
		close(p->group);
	if (p->container >= 0)
		close(p->container);
	free(p);
}

static const struct backend_ops pci_plain_ops = {
	.close = pci_close,
	.no_interrupts = pci_plain_no_interrupts,
};

static const struct backend_ops pci_doorbell_ops = {
	.close = pci_close,
	.own_id = pci_own_id,
	.vectors = pci_vectors,
	.notify = pci_notify,
	.no_interrupts = pci_doorbell_no_interrupts,
};

/* ---- opening ---------------------------------------------------------- */

/* Maps all of a sysfs resource file. */
static int map_resource(const char *address, const char *attr, void **mem,
			uint64_t *size)
{
	char path[PATH_MAX];
	struct stat st;
	int fd, r;

	device_path(path, address, attr);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
	} else {
		r = fstat(fd, &st) < 0 ? -errno :
		    os_map(fd, (uint64_t)st.st_size, mem);
		if (r == 0)
			*size = (uint64_t)st.st_size;
		close(fd);
	}
	if (r < 0)
		log_error("cannot map %s: %s%s", path, strerror(-r),
			  r == -EACCES ? " (root only, unless chowned)" : "");
	return r;
}

/* An ioctl that fails with -1: its negative errno, logged. */
static int vfio_ioctl(struct pci *p, int fd, unsigned long request,
		      void *arg, const char *name)
{
	int r = ioctl(fd, request, arg) < 0 ? -errno : 0;

	if (r < 0)
		log_error("%s: VFIO %s failed: %s", p->address, name,
			  strerror(-r));
	return r;
}

/* The VFIO container and group of the device, and the device. */
static int vfio_open_device(struct pci *p)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	char group[32], path[64];
	int r;

	link_name(p->address, "iommu_group", group, sizeof(group));
	if (!group[0]) {
		log_error("%s has no IOMMU group: %s", p->address, HINT_IOMMU);
		return -ENOTSUP;
	}
	p->container = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (p->container < 0) {
		r = -errno;
		log_error("cannot open /dev/vfio/vfio: %s", strerror(-r));
		return r;
	}
	if (ioctl(p->container, VFIO_GET_API_VERSION) != VFIO_API_VERSION ||
	    ioctl(p->container, VFIO_CHECK_EXTENSION,
		  VFIO_TYPE1v2_IOMMU) != 1) {
		log_error("VFIO has no type1 IOMMU: %s", HINT_MODULES);
		return -ENOTSUP;
	}
	snprintf(path, sizeof(path), "/dev/vfio/%s", group);
	p->group = open(path, O_RDWR | O_CLOEXEC);
	if (p->group < 0) {
		r = -errno;
		log_error("cannot open %s: %s%s", path, strerror(-r),
			  r == -EBUSY ? " (another process has the device)" :
			  "");
		return r;
	}
	r = vfio_ioctl(p, p->group, VFIO_GROUP_GET_STATUS, &status,
		       "GROUP_GET_STATUS");
	if (r == 0 && !(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		log_error("IOMMU group %s is not viable: bind all its devices "
			  "to vfio-pci", group);
		r = -EBUSY;
	}
	if (r == 0)
		r = vfio_ioctl(p, p->group, VFIO_GROUP_SET_CONTAINER,
			       &p->container, "GROUP_SET_CONTAINER");
	if (r == 0 && ioctl(p->container, VFIO_SET_IOMMU,
			    VFIO_TYPE1v2_IOMMU) < 0) {
		r = -errno;
		log_error("VFIO SET_IOMMU failed: %s (the IOMMU needs "
			  "interrupt remapping: intel-iommu,intremap=on)",
			  strerror(-r));
	}
	if (r < 0)
		return r;
	p->device = ioctl(p->group, VFIO_GROUP_GET_DEVICE_FD, p->address);
	if (p->device < 0) {
		r = -errno;
		log_error("%s: VFIO GROUP_GET_DEVICE_FD failed: %s",
			  p->address, strerror(-r));
	}
	return r;
}

/* One eventfd per MSI-X vector, all given to VFIO in one call. */
static int vfio_enable_msix(struct ivshmem *h, int count)
{
	struct pci *p = h->backend;
	size_t argsz = sizeof(struct vfio_irq_set) + (size_t)count * 4;
	struct vfio_irq_set *set = calloc(1, argsz);
	int32_t *fds;
	int r = 0;

	if (!set)
		return -ENOMEM;
	*set = (struct vfio_irq_set){
		.argsz = (uint32_t)argsz,
		.flags = VFIO_IRQ_SET_DATA_EVENTFD |
			 VFIO_IRQ_SET_ACTION_TRIGGER,
		.index = VFIO_PCI_MSIX_IRQ_INDEX,
		.count = (uint32_t)count,
	};
	fds = (int32_t *)set->data;
	for (int v = 0; v < count && r == 0; v++) {
		fds[v] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		r = fds[v] < 0 ? -errno : front_vector_add(h, fds[v]);
	}
	if (r == 0)
		r = vfio_ioctl(p, p->device, VFIO_DEVICE_SET_IRQS, set,
			       "SET_IRQS");
	free(set);
	return r;
}

/* Without Bus Master, the device's MSI-X messages are lost. */
static int vfio_set_bus_master(struct pci *p, uint64_t config)
{
	off_t at = (off_t)(config + PCI_COMMAND);
	uint16_t command;

	if (pread(p->device, &command, 2, at) == 2) {
		command = htole16(le16toh(command) | PCI_COMMAND_MASTER);
		if (pwrite(p->device, &command, 2, at) == 2)
			return 0;
	}
	log_error("%s: cannot set Bus Master through VFIO", p->address);
	return -EIO;
}

/* Registers and interrupts through VFIO (never BAR2: see the top). */
static int vfio_open(struct ivshmem *h)
{
	struct pci *p = h->backend;
	struct vfio_region_info bar0 = {
		.argsz = sizeof(bar0), .index = VFIO_PCI_BAR0_REGION_INDEX,
	};
	struct vfio_region_info config = {
		.argsz = sizeof(config), .index = VFIO_PCI_CONFIG_REGION_INDEX,
	};
	struct vfio_irq_info msix = {
		.argsz = sizeof(msix), .index = VFIO_PCI_MSIX_IRQ_INDEX,
	};
	void *regs;
	int r = vfio_open_device(p);

	if (r == 0)
		r = vfio_ioctl(p, p->device, VFIO_DEVICE_GET_REGION_INFO, &bar0,
			       "GET_REGION_INFO");
	if (r == 0)
		r = vfio_ioctl(p, p->device, VFIO_DEVICE_GET_REGION_INFO,
			       &config, "GET_REGION_INFO");
	if (r == 0)
		r = vfio_ioctl(p, p->device, VFIO_DEVICE_GET_IRQ_INFO, &msix,
			       "GET_IRQ_INFO");
	if (r < 0)
		return r;
	if (!(bar0.flags & VFIO_REGION_INFO_FLAG_MMAP) ||
	    bar0.size < REG_DOORBELL + 4 || msix.count == 0 ||
	    msix.count > IVSHMEM_VECTORS_MAX) {
		log_error("%s does not look like an ivshmem-doorbell through "
			  "VFIO", p->address);
		return -ENOTSUP;
	}
	regs = mmap(NULL, bar0.size, PROT_READ | PROT_WRITE, MAP_SHARED,
		    p->device, (off_t)bar0.offset);
	if (regs == MAP_FAILED) {
		r = -errno;
		log_error("cannot map BAR0 through VFIO: %s", strerror(-r));
		return r;
	}
	p->regs = regs;
	p->regs_size = bar0.size;
	r = vfio_enable_msix(h, (int)msix.count);
	if (r == 0)
		r = vfio_set_bus_master(p, config.offset);
	if (r < 0)
		return r;
	p->vectors = (int)msix.count;
	h->has_interrupts = true;
	h->vectors_final = true;
	return 0;
}

/* Registers through sysfs: no interrupts. */
static int sysfs_open(struct ivshmem *h)
{
	struct pci *p = h->backend;
	uint64_t size;
	void *regs;
	int r = map_resource(p->address, "resource0", &regs, &size);

	if (r < 0)
		return r;
	p->regs = regs;
	p->regs_size = (size_t)size;
	if (size < REG_DOORBELL + 4) {
		log_error("%s: BAR0 has only %llu bytes", p->address,
			  (unsigned long long)size);
		return -EIO;
	}
	p->vectors = msix_vectors(p->address);
	if (p->vectors < 0)
		p->vectors = -1;
	return 0;
}

int pci_open(struct ivshmem **out, const char *address, unsigned flags)
{
	struct ivshmem_pci_device dev;
	struct ivshmem *h = NULL;
	struct pci *p;
	void *mem;
	uint32_t id;
	int r;

	if (flags & IVSHMEM_CACHED) {
		log_error("cached mappings of ivshmem devices are Windows "
			  "only");
		return -ENOTSUP;
	}
	r = find_device(address, &dev);
	if (r < 0)
		return r;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	*p = (struct pci){
		.own_id = -ENOTSUP,
		.vectors = -1,
		.container = -1,
		.group = -1,
		.device = -1,
	};
	memcpy(p->address, dev.address, sizeof(p->address));
	r = front_new(&h, dev.doorbell ? &pci_doorbell_ops : &pci_plain_ops, p);
	if (r < 0) {
		free(p);
		return r;
	}
	r = map_resource(p->address, flags & IVSHMEM_UNCACHED ? "resource2" :
			 "resource2_wc", &mem, &h->size);
	if (r == 0) {
		h->mem = mem;
		if (dev.doorbell)
			r = strcmp(dev.driver, "vfio-pci") ? sysfs_open(h) :
			    vfio_open(h);
	}
	if (r == 0 && dev.doorbell) {
		id = p->regs[REG_IVPOSITION / 4];
		if (id > IVSHMEM_PEER_MAX) {
			log_error("%s: invalid IVPosition %#x", p->address, id);
			r = -EIO;
		}
		p->own_id = (int)id;
	}
	if (r < 0) {
		ivshmem_close(h);
		return r;
	}
	log_debug("opened %s: %s, %llu bytes, %s", p->address,
		  dev.doorbell ? "doorbell" : "plain",
		  (unsigned long long)h->size,
		  h->has_interrupts ? "interrupts through VFIO" :
		  "no interrupts");
	*out = h;
	return 0;
}

/* ---- binding to vfio-pci ---------------------------------------------- */

int pci_bind_vfio(const char *address)
{
	struct ivshmem_pci_device dev;
	char path[PATH_MAX], module[PATH_MAX], group[32];
	int r = find_device(address, &dev);

	if (r < 0)
		return r;
	if (!strcmp(dev.driver, "vfio-pci"))
		return 0;
	link_name(dev.address, "iommu_group", group, sizeof(group));
	if (!group[0]) {
		log_error("%s has no IOMMU group: %s", dev.address, HINT_IOMMU);
		return -ENOTSUP;
	}
	sysfs_path(path, "bus/pci/drivers/vfio-pci");
	sysfs_path(module, "module/vfio_iommu_type1");
	if (!exists(path) || !exists(module)) {
		log_error("VFIO is not ready: %s", HINT_MODULES);
		return -ENOTSUP;
	}
	/* driver_override, not new_id: new_id would take every ivshmem
	 * device, ivshmem-plain ones included */
	device_path(path, dev.address, "driver_override");
	r = write_file(path, "vfio-pci");
	if (r == 0 && dev.driver[0]) {
		device_path(path, dev.address, "driver/unbind");
		r = write_file(path, dev.address);
	}
	if (r == 0) {
		sysfs_path(path, "bus/pci/drivers_probe");
		r = write_file(path, dev.address);
	}
	if (r < 0)
		return r;
	link_name(dev.address, "driver", dev.driver, sizeof(dev.driver));
	if (strcmp(dev.driver, "vfio-pci")) {
		log_error("vfio-pci did not take %s: see the kernel's log",
			  dev.address);
		return -EIO;
	}
	log_debug("bound %s to vfio-pci", dev.address);
	return 0;
}
