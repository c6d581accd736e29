/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * Peer ids
 */
#include <errno.h>
#include <stdlib.h>

#include "ids.h"

int ids_init(struct ids *ids, uint32_t count)
{
	ids->owner = calloc(count, sizeof(*ids->owner));
	if (!ids->owner)
		return -ENOMEM;
	ids->count = count;
	ids->next = 0;
	ids->used = 0;
	return 0;
}

void ids_deinit(struct ids *ids)
{
	free(ids->owner);
	ids->owner = NULL;
	ids->count = ids->used = ids->next = 0;
}

int ids_alloc_where(struct ids *ids, void *owner,
		    bool (*fit)(int id, void *data), void *data)
{
	uint32_t id = ids->next;

	if (ids->used == ids->count)
		return -ENOSPC;
	for (uint32_t n = 0; n < ids->count; n++, id = (id + 1) % ids->count)
		if (!ids->owner[id] && (!fit || fit((int)id, data))) {
			ids->owner[id] = owner;
			ids->used++;
			ids->next = (id + 1) % ids->count;
			return (int)id;
		}
	return -ENOSPC;
}

int ids_alloc(struct ids *ids, void *owner)
{
	return ids_alloc_where(ids, owner, NULL, NULL);
}

void ids_free(struct ids *ids, int id)
{
	if (id < 0 || (uint32_t)id >= ids->count || !ids->owner[id])
		return;
	ids->owner[id] = NULL;
	ids->used--;
}

void *ids_owner(const struct ids *ids, int id)
{
	if (id < 0 || (uint32_t)id >= ids->count)
		return NULL;
	return ids->owner[id];
}

int ids_claim(struct ids *ids, int id, void *owner)
{
	if (id < 0 || (uint32_t)id >= ids->count || ids->owner[id] || !owner)
		return -EINVAL;
	ids->owner[id] = owner;
	ids->used++;
	return 0;
}
