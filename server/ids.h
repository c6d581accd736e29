/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * Peer ids: a round-robin counter that skips ids in use
 *
 * As QEMU's server: the first id is 0, each new peer gets the next id after
 * the last one given, wrapping at the end of the range, and ids still in use
 * are skipped. Unlike QEMU's, every id of the range can be in use at once,
 * and the caller can have ids skipped that are free but unfit
 * (ids_alloc_where()).
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

struct ids {
	void **owner;   /* owner[id], NULL when free */
	uint32_t count; /* ids are 0..count-1 */
	uint32_t next;  /* where the next search starts */
	uint32_t used;
};

/* 0 or -ENOMEM; @count is 1..PROTO_ID_COUNT. */
int ids_init(struct ids *ids, uint32_t count);
void ids_deinit(struct ids *ids);
/* Returns the id now owned by @owner (not NULL), or -ENOSPC. */
int ids_alloc(struct ids *ids, void *owner);
/* The same, of the free ids for which @fit(id, @data) holds. */
int ids_alloc_where(struct ids *ids, void *owner,
		    bool (*fit)(int id, void *data), void *data);
void ids_free(struct ids *ids, int id);
void *ids_owner(const struct ids *ids, int id);
/* Gives @id (free, in range) to @owner: for a server that takes over
 * peers. 0, or -EINVAL. */
int ids_claim(struct ids *ids, int id, void *owner);
