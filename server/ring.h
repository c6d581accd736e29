/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The growth of a ring buffer: items at (head + i) & (cap - 1), cap a power
 * of two (or 0), as the outbound queues (outq.c) and the fd store's queue
 * (fdstore.c) keep them.
 */
#pragma once

#include <stddef.h>

/*
 * Doubles the ring @items of @size-byte items (to @first when empty),
 * unrolled so that the oldest of the @len items is at index 0: returns the
 * new ring, freeing the old one, and sets *@head to 0 and *@cap; or NULL,
 * with the ring as it was.
 */
void *ring_grow(void *items, size_t *head, size_t len, size_t *cap,
		size_t size, size_t first);
