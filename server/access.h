/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * Who may connect: allow-lists of users and groups, checked with the
 * credentials the kernel gives for a client socket (SO_PEERCRED)
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A set of user or group ids, in the order they were added. */
struct idlist {
	uint32_t *ids;
	size_t count;
};

/* 0 or -ENOMEM; adding an id that is there already does nothing. */
int idlist_add(struct idlist *l, uint32_t id);
bool idlist_has(const struct idlist *l, uint32_t id);
bool idlist_equal(const struct idlist *a, const struct idlist *b);
/* Replaces @dst with a copy of @src: 0 or -ENOMEM (then @dst is intact). */
int idlist_copy(struct idlist *dst, const struct idlist *src);
/* Empties the list; safe to call twice. */
void idlist_clear(struct idlist *l);

struct access_policy {
	struct idlist users;  /* allowed uids */
	struct idlist groups; /* allowed gids: primary or supplementary */
};

/* With both lists empty, everyone is allowed. */
bool access_open(const struct access_policy *p);
bool access_allowed(const struct access_policy *p, uid_t uid, gid_t gid,
		    const gid_t *groups, size_t ngroups);

struct peer_cred {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	gid_t *groups; /* supplementary groups; NULL if not asked or unknown */
	size_t ngroups;
};

/*
 * Reads the credentials of the client on @sock; its supplementary groups
 * (SO_PEERGROUPS) only if @with_groups. Returns 0 or a negative errno.
 * Free with peer_cred_deinit().
 */
int peer_cred_get(struct peer_cred *c, int sock, bool with_groups);
void peer_cred_deinit(struct peer_cred *c);
