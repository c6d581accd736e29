/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The ledger, in a memfd
 *
 * The layout: a header page, one slot per id, then the ring of departures.
 * The memfd is sparse: only the slots and departures in use take memory.
 *
 * Departure k (counting from 0) is in ring[k % ring_size]. A reader trusts
 * the last ring_size - 1 of them: the next one is written in the spare
 * entry and counted afterwards, so that a process killed while writing it
 * leaves nothing half-written in what a reader trusts.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ledger.h"
#include "log.h"
#include "protocol.h"

#define MAGIC "IVSHLDGR"
#define HEADER_SPACE 4096

#define SET(field, value) __atomic_store_n(&(field), (value), __ATOMIC_RELEASE)

static size_t slots_offset(void)
{
	return HEADER_SPACE;
}

static size_t ring_offset(uint32_t id_count)
{
	return slots_offset() + (size_t)id_count * sizeof(struct ledger_slot);
}

static size_t total_size(uint32_t id_count, uint32_t ring_size)
{
	return ring_offset(id_count) +
	       (size_t)ring_size * sizeof(struct ledger_departure);
}

static void init_header(struct ledger_header *h, unsigned int vectors,
			uint32_t id_count)
{
	memset(h, 0, sizeof(*h));
	memcpy(h->magic, MAGIC, sizeof(h->magic));
	h->version = LEDGER_VERSION;
	h->header_size = sizeof(*h);
	h->vectors = vectors;
	h->id_count = id_count;
	h->ring_size = LEDGER_RING;
}

static int map(struct ledger *l, int fd, size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	if (p == MAP_FAILED)
		return -errno;
	l->fd = fd;
	l->size = size;
	l->hdr = p;
	l->slots = (struct ledger_slot *)((char *)p + slots_offset());
	l->ring = (struct ledger_departure *)((char *)p +
					      ring_offset(l->hdr->id_count));
	return 0;
}

int ledger_create(struct ledger *l, unsigned int vectors, uint32_t id_count)
{
	size_t size = total_size(id_count, LEDGER_RING);
	struct ledger_header h;
	int fd, r;

	*l = (struct ledger){ .fd = -1 };
	fd = memfd_create("ivshmem-ledger", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	init_header(&h, vectors, id_count);
	if (ftruncate(fd, (off_t)size) < 0 ||
	    pwrite(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
		r = errno ? -errno : -EIO;
		close(fd);
		return r;
	}
	r = map(l, fd, size);
	if (r < 0)
		close(fd);
	return r;
}

static int check_header(const struct ledger_header *h, size_t size,
			char *err, size_t errlen)
{
	if (memcmp(h->magic, MAGIC, sizeof(h->magic)) != 0)
		return einval(err, errlen, "not a ledger");
	if (h->version != LEDGER_VERSION)
		return einval(err, errlen, "ledger version %u, this server "
			       "reads version %u", h->version, LEDGER_VERSION);
	if (h->header_size != sizeof(*h) || h->vectors > PROTO_VECTORS_MAX ||
	    h->id_count == 0 || h->id_count > PROTO_ID_COUNT ||
	    h->ring_size != LEDGER_RING ||
	    size != total_size(h->id_count, h->ring_size) ||
	    h->departures > h->events || h->forgotten > h->events ||
	    h->next_id >= h->id_count ||
	    !memchr(h->shm_name, '\0', sizeof(h->shm_name)))
		return einval(err, errlen, "corrupt ledger header");
	return 0;
}

int ledger_open(struct ledger *l, int fd, char *err, size_t errlen)
{
	struct ledger_header h;
	struct stat st;
	int r;

	*l = (struct ledger){ .fd = -1 };
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size < HEADER_SPACE ||
	    pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
		close(fd);
		return einval(err, errlen, "not a ledger (not a file of at "
			       "least %d bytes)", HEADER_SPACE);
	}
	r = check_header(&h, (size_t)st.st_size, err, errlen);
	if (r == 0) {
		r = map(l, fd, (size_t)st.st_size);
		if (r < 0)
			snprintf(err, errlen, "cannot map the ledger: %s",
				 strerror(-r));
	}
	if (r < 0)
		close(fd);
	return r;
}

void ledger_close(struct ledger *l)
{
	if (l->hdr)
		munmap(l->hdr, l->size);
	if (l->fd >= 0)
		close(l->fd);
	*l = (struct ledger){ .fd = -1 };
}

void ledger_reset(struct ledger *l)
{
	struct ledger_header *h = l->hdr;
	unsigned int vectors = h->vectors;
	uint32_t id_count = h->id_count;

	/* a hole zeroes and gives the memory back; the size stays, so that
	 * the mapping stays valid even if that fails */
	if (fallocate(l->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
		      (off_t)l->size) < 0)
		memset(l->hdr, 0, l->size);
	init_header(h, vectors, id_count);
}

uint64_t ledger_join(struct ledger *l, int id)
{
	struct ledger_slot *slot = &l->slots[id];
	uint64_t e = l->hdr->events + 1;

	SET(l->hdr->events, e);
	outq_mark_set(&slot->track.sent, e, 0);
	SET(slot->join, e);
	return e;
}

uint64_t ledger_leave(struct ledger *l, int id)
{
	struct ledger_header *h = l->hdr;
	struct ledger_slot *slot = &l->slots[id];
	uint64_t k = h->departures, e = h->events + 1;
	struct ledger_departure *d = &l->ring[k % h->ring_size];

	SET(h->events, e);
	/* the spare entry, which no reader trusts until it is counted */
	SET(d->id, (uint32_t)id);
	SET(d->join, slot->join);
	SET(d->leave, e);
	/* counting it pushes departure k + 1 - ring_size out of what readers
	 * trust (and the next one will overwrite it) */
	if (k + 1 >= h->ring_size)
		SET(h->forgotten, l->ring[(k + 1) % h->ring_size].leave);
	SET(h->departures, k + 1);
	SET(slot->left, e);
	SET(slot->join, 0);
	return e;
}

struct outq_track *ledger_track(struct ledger *l, int id)
{
	return &l->slots[id].track;
}

uint64_t ledger_left(const struct ledger *l, int id)
{
	return l->slots[id].left;
}

void ledger_set_next_id(struct ledger *l, uint32_t next)
{
	SET(l->hdr->next_id, next);
}

void ledger_set_flags(struct ledger *l, uint32_t flags, bool on)
{
	SET(l->hdr->flags, on ? l->hdr->flags | flags : l->hdr->flags & ~flags);
}

void ledger_set_shm_created(struct ledger *l, const char *name)
{
	struct ledger_header *h = l->hdr;

	if (name && strlen(name) >= sizeof(h->shm_name))
		name = NULL; /* too long to record: left behind after a crash */
	ledger_set_flags(l, LEDGER_SHM_CREATED, false);
	snprintf(h->shm_name, sizeof(h->shm_name), "%s", name ? name : "");
	ledger_set_flags(l, LEDGER_SHM_CREATED, name != NULL);
}

size_t ledger_departure_count(const struct ledger *l)
{
	uint64_t d = l->hdr->departures;

	return d < l->hdr->ring_size - 1 ? (size_t)d : l->hdr->ring_size - 1;
}

const struct ledger_departure *ledger_departure(const struct ledger *l,
						size_t i)
{
	uint64_t first = l->hdr->departures - ledger_departure_count(l);

	return &l->ring[(first + i) % l->hdr->ring_size];
}
