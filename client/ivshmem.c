/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The library's front: handles, argument checks, handlers and dispatching
 *
 * What is the same for every backend lives here (see backend.h): our own
 * interrupt vectors and their handlers, the wait on the platform's poller,
 * and the checks of ids and vectors.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>

#include "backend.h"
#include "log.h"

/* A poller token: what kind of source, and its vector or backend token. */
#define TOKEN_VECTOR ((uint64_t)1 << 32)
#define TOKEN_CONTROL ((uint64_t)2 << 32)
#define TOKEN_KIND(t) ((t) & ~(uint64_t)UINT32_MAX)
#define TOKEN_INDEX(t) ((uint32_t)(t))

static bool valid_peer(int peer)
{
	return peer >= 0 && peer <= IVSHMEM_PEER_MAX;
}

static bool valid_vector(int vector)
{
	return vector >= 0 && vector < IVSHMEM_VECTORS_MAX;
}

int front_new(struct ivshmem **out, const struct backend_ops *ops,
	      void *backend)
{
	struct ivshmem *h = calloc(1, sizeof(*h));
	int r;

	if (!h)
		return -ENOMEM;
	r = os_poller_init(&h->poller);
	if (r < 0) {
		free(h);
		return r;
	}
	h->ops = ops;
	h->backend = backend;
	h->wait_vector = -1;
	*out = h;
	return 0;
}

static void front_free(struct ivshmem *h)
{
	if (!h)
		return;
	front_vectors_clear(h);
	os_poller_deinit(&h->poller);
	free(h->slots);
	free(h);
}

static int slots_reserve(struct ivshmem *h, int count)
{
	struct vector_slot *slots;

	if (count <= h->slot_count)
		return 0;
	slots = realloc(h->slots, (size_t)count * sizeof(*slots));
	if (!slots)
		return -ENOMEM;
	for (int i = h->slot_count; i < count; i++)
		slots[i] = (struct vector_slot){ .src = OS_NONE };
	h->slots = slots;
	h->slot_count = count;
	return 0;
}

int front_vector_add(struct ivshmem *h, os_source src)
{
	int v = h->vector_count;
	int r;

	r = v < IVSHMEM_VECTORS_MAX ? slots_reserve(h, v + 1) : -E2BIG;
	if (r == 0)
		r = os_poller_add(&h->poller, src, TOKEN_VECTOR | (uint64_t)v);
	if (r < 0) {
		os_source_close(src);
		return r;
	}
	h->slots[v].src = src;
	h->vector_count++;
	return 0;
}

void front_vectors_clear(struct ivshmem *h)
{
	for (int v = 0; v < h->vector_count; v++) {
		os_poller_del(&h->poller, h->slots[v].src);
		os_source_close(h->slots[v].src);
		h->slots[v].src = OS_NONE;
	}
	h->vector_count = 0;
	h->vectors_final = false;
}

int front_control_add(struct ivshmem *h, os_source src, uint32_t token)
{
	return os_poller_add(&h->poller, src, TOKEN_CONTROL | token);
}

void front_control_del(struct ivshmem *h, os_source src)
{
	os_poller_del(&h->poller, src);
}

void front_peer_event(struct ivshmem *h, int peer,
		      enum ivshmem_peer_event event)
{
	log_debug("peer %d %s", peer,
		  event == IVSHMEM_PEER_JOINED ? "joined" : "left");
	if (h->peer_fn)
		h->peer_fn(h, peer, event, h->peer_data);
}

void front_server_event(struct ivshmem *h, enum ivshmem_server_event event)
{
	if (event == IVSHMEM_SERVER_SYNCED)
		h->vectors_final = true;
	if (h->server_fn)
		h->server_fn(h, event, h->server_data);
}

/* ---- opening and closing ---------------------------------------------- */

int ivshmem_open_plain(struct ivshmem **out, const char *path, uint64_t size,
		       unsigned flags)
{
	if (out)
		*out = NULL;
	if (!out || !path || (flags & ~(IVSHMEM_CREATE | IVSHMEM_GROW)))
		return -EINVAL;
	return plain_open(out, path, size, flags);
}

int ivshmem_open_doorbell(struct ivshmem **out, const char *socket_path,
			  unsigned flags)
{
	if (out)
		*out = NULL;
	if (!out || !socket_path || (flags & ~IVSHMEM_RECONNECT))
		return -EINVAL;
	return doorbell_open(out, socket_path, flags);
}

int ivshmem_list_pci(struct ivshmem_pci_device *devices, size_t max)
{
	if (!devices && max)
		return -EINVAL;
	return pci_list(devices, max);
}

int ivshmem_open_pci(struct ivshmem **out, const char *address,
		     unsigned flags)
{
	const unsigned cache = IVSHMEM_UNCACHED | IVSHMEM_CACHED;

	if (out)
		*out = NULL;
	if (!out || (flags & ~cache) || (flags & cache) == cache)
		return -EINVAL;
	return pci_open(out, address, flags);
}

int ivshmem_bind_vfio(const char *address)
{
	if (!address)
		return -EINVAL;
	return pci_bind_vfio(address);
}

void ivshmem_close(struct ivshmem *h)
{
	if (!h)
		return;
	if (h->dispatching) {
		h->close_pending = true;
		return;
	}
	front_vectors_clear(h);
	h->ops->close(h);
	front_free(h);
}

/* ---- what the handle has ---------------------------------------------- */

void *ivshmem_memory(struct ivshmem *h)
{
	return h ? h->mem : NULL;
}

uint64_t ivshmem_size(struct ivshmem *h)
{
	return h ? h->size : 0;
}

int ivshmem_own_id(struct ivshmem *h)
{
	if (!h)
		return -EINVAL;
	return h->ops->own_id ? h->ops->own_id(h) : -ENOTSUP;
}

int ivshmem_peers(struct ivshmem *h, uint16_t *ids, size_t max)
{
	if (!h || (!ids && max))
		return -EINVAL;
	return h->ops->peers ? h->ops->peers(h, ids, max) : -ENOTSUP;
}

static bool is_self(struct ivshmem *h, int peer)
{
	return h->ops->own_id && h->ops->own_id(h) == peer;
}

int ivshmem_vectors(struct ivshmem *h, int peer)
{
	if (!h || !valid_peer(peer))
		return -EINVAL;
	if (!h->ops->vectors)
		return -ENOTSUP;
	if (h->has_interrupts && is_self(h, peer))
		return h->vector_count;
	return h->ops->vectors(h, peer);
}

/*
 * The checks of a call on (peer, vector): 1 when @peer is us (and @vector
 * one of our sources), 0 for the backend, or a negative errno.
 */
static int target(struct ivshmem *h, int peer, int vector)
{
	if (!h || !valid_peer(peer) || !valid_vector(vector))
		return -EINVAL;
	if (!h->ops->vectors)
		return -ENOTSUP;
	if (!h->has_interrupts || !is_self(h, peer))
		return 0;
	return vector < h->vector_count ? 1 : -EINVAL;
}

int ivshmem_eventfd(struct ivshmem *h, int peer, int vector)
{
	int r = target(h, peer, vector);

	if (r == 1)
		return os_source_fd(h->slots[vector].src);
	if (r == 0 && !h->ops->peer_eventfd)
		r = -ENOTSUP;
	return r < 0 ? r : h->ops->peer_eventfd(h, peer, vector);
}

/* ---- interrupts ------------------------------------------------------- */

int ivshmem_notify(struct ivshmem *h, int peer, int vector)
{
	int r = target(h, peer, vector);

	if (r >= 0 && !h->ops->notify)
		r = -ENOTSUP;
	/* Our own vectors are ours whatever the backend: raise them here. */
	if (r == 1)
		return os_source_signal(h->slots[vector].src);
	return r < 0 ? r : h->ops->notify(h, peer, vector);
}

int ivshmem_get_fd(struct ivshmem *h)
{
	if (!h)
		return -EINVAL;
	return os_poller_fd(&h->poller);
}

int ivshmem_get_handles(struct ivshmem *h, void **handles, size_t max)
{
	if (!h || (!handles && max))
		return -EINVAL;
	return os_poller_sources(&h->poller, handles,
				 max > INT_MAX ? INT_MAX : (int)max);
}

static int deliver_interrupt(struct ivshmem *h, int vector)
{
	ivshmem_interrupt_fn *fn;
	void *data;
	uint64_t count;
	int r;

	if (vector >= h->vector_count)
		return 0; /* removed by an earlier event of this round */
	r = os_source_consume(h->slots[vector].src, &count);
	if (r < 0 || count == 0)
		return r;
	if (vector == h->wait_vector)
		h->wait_count += count;
	fn = h->slots[vector].fn;
	data = h->slots[vector].data;
	if (!fn) {
		fn = h->all_fn;
		data = h->all_data;
	}
	if (fn)
		fn(h, vector, count, data);
	return 1;
}

/* One wait on the poller, and what it found. */
static int dispatch_once(struct ivshmem *h, int timeout_ms)
{
	uint64_t tokens[32];
	int n, handled = 0;

	n = os_poller_wait(&h->poller, timeout_ms, tokens, 32);
	for (int i = 0; i < n && !h->close_pending; i++) {
		uint32_t index = TOKEN_INDEX(tokens[i]);
		int r;

		if (TOKEN_KIND(tokens[i]) == TOKEN_VECTOR)
			r = deliver_interrupt(h, (int)index);
		else
			r = h->ops->process(h, index);
		if (r < 0)
			return r;
		handled += r > 0;
	}
	return n < 0 ? n : handled;
}

/* Dispatching runs handlers, which may close the handle: see
 * ivshmem_close(). */
static int enter(struct ivshmem *h)
{
	if (!h)
		return -EINVAL;
	if (h->dispatching)
		return -EBUSY;
	h->dispatching = 1;
	return 0;
}

static int leave(struct ivshmem *h, int r)
{
	h->dispatching = 0;
	if (h->close_pending) {
		h->close_pending = false;
		ivshmem_close(h);
	}
	return r;
}

int ivshmem_dispatch(struct ivshmem *h, int timeout_ms)
{
	int r = enter(h);

	return r < 0 ? r : leave(h, dispatch_once(h, timeout_ms));
}

int ivshmem_on_interrupt(struct ivshmem *h, int vector,
			 ivshmem_interrupt_fn *fn, void *data)
{
	int r;

	if (!h || (vector != IVSHMEM_ALL_VECTORS && !valid_vector(vector)))
		return -EINVAL;
	if (vector == IVSHMEM_ALL_VECTORS) {
		h->all_fn = fn;
		h->all_data = data;
		return 0;
	}
	r = slots_reserve(h, vector + 1);
	if (r < 0)
		return r;
	h->slots[vector].fn = fn;
	h->slots[vector].data = data;
	return 0;
}

static int wait_for(struct ivshmem *h, int vector, uint64_t deadline)
{
	uint64_t count = 0;
	int r = 0;

	h->wait_vector = vector;
	h->wait_count = 0;
	while (!h->close_pending) {
		if (h->vectors_final && vector >= h->vector_count) {
			r = -EINVAL;
			break;
		}
		r = h->ops->status ? h->ops->status(h) : 0;
		if (r < 0)
			break;
		r = dispatch_once(h, os_remaining_ms(deadline));
		if (h->wait_count || r < 0)
			break;
		if (os_remaining_ms(deadline) == 0) {
			r = -ETIMEDOUT;
			break;
		}
	}
	count = h->wait_count;
	h->wait_vector = -1;
	if (count)
		return count > INT32_MAX ? INT32_MAX : (int)count;
	return r < 0 ? r : -ECANCELED;
}

int ivshmem_wait(struct ivshmem *h, int vector, int timeout_ms)
{
	int r;

	if (!h || !valid_vector(vector))
		return -EINVAL;
	if (!h->has_interrupts) {
		if (h->ops->no_interrupts)
			h->ops->no_interrupts(h);
		return -ENOTSUP;
	}
	r = enter(h);
	return r < 0 ? r : leave(h, wait_for(h, vector, os_deadline(timeout_ms)));
}

int ivshmem_on_peer(struct ivshmem *h, ivshmem_peer_fn *fn, void *data)
{
	if (!h)
		return -EINVAL;
	h->peer_fn = fn;
	h->peer_data = data;
	return 0;
}

int ivshmem_on_server(struct ivshmem *h, ivshmem_server_fn *fn, void *data)
{
	if (!h)
		return -EINVAL;
	h->server_fn = fn;
	h->server_data = data;
	return 0;
}

int ivshmem_remap(struct ivshmem *h)
{
	if (!h)
		return -EINVAL;
	return h->ops->remap ? h->ops->remap(h) : -EALREADY;
}
