/* SPDX-License-Identifier: LGPL-3.0-or-later */
#include <stdlib.h>
#include <string.h>

#include "ring.h"

void *ring_grow(void *items, size_t *head, size_t len, size_t *cap,
		size_t size, size_t first)
{
	size_t n = *cap ? *cap * 2 : first;
	char *ring = malloc(n * size);
	const char *old = items;

	if (!ring)
		return NULL;
	for (size_t i = 0; i < len; i++)
		memcpy(ring + i * size, old + ((*head + i) & (*cap - 1)) * size,
		       size);
	free(items);
	*cap = n;
	*head = 0;
	return ring;
}
