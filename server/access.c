/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * Who may connect: allow-lists of users and groups
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "access.h"

int idlist_add(struct idlist *l, uint32_t id)
{
	uint32_t *ids;

	if (idlist_has(l, id))
		return 0;
	ids = realloc(l->ids, (l->count + 1) * sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	ids[l->count++] = id;
	l->ids = ids;
	return 0;
}

bool idlist_has(const struct idlist *l, uint32_t id)
{
	for (size_t i = 0; i < l->count; i++)
		if (l->ids[i] == id)
			return true;
	return false;
}

bool idlist_equal(const struct idlist *a, const struct idlist *b)
{
	if (a->count != b->count)
		return false;
	for (size_t i = 0; i < a->count; i++)
		if (!idlist_has(b, a->ids[i]))
			return false;
	return true;
}

int idlist_copy(struct idlist *dst, const struct idlist *src)
{
	uint32_t *ids = NULL;

	if (src->count) {
		ids = malloc(src->count * sizeof(*ids));
		if (!ids)
			return -ENOMEM;
		memcpy(ids, src->ids, src->count * sizeof(*ids));
	}
	free(dst->ids);
	dst->ids = ids;
	dst->count = src->count;
	return 0;
}

void idlist_clear(struct idlist *l)
{
	free(l->ids);
	l->ids = NULL;
	l->count = 0;
}

bool access_open(const struct access_policy *p)
{
	return !p->users.count && !p->groups.count;
}

bool access_allowed(const struct access_policy *p, uid_t uid, gid_t gid,
		    const gid_t *groups, size_t ngroups)
{
	if (access_open(p))
		return true;
	if (idlist_has(&p->users, uid) || idlist_has(&p->groups, gid))
		return true;
	for (size_t i = 0; i < ngroups; i++)
		if (idlist_has(&p->groups, groups[i]))
			return true;
	return false;
}

int peer_cred_get(struct peer_cred *c, int sock, bool with_groups)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	*c = (struct peer_cred){ .pid = 0, .uid = (uid_t)-1, .gid = (gid_t)-1 };
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	c->pid = cred.pid;
	c->uid = cred.uid;
	c->gid = cred.gid;
	if (!with_groups)
		return 0;
	/* The kernel says how much room it needs when there is too little. */
	len = 16 * sizeof(gid_t);
	for (;;) {
		gid_t *groups = realloc(c->groups, len ? len : sizeof(gid_t));

		if (!groups) {
			peer_cred_deinit(c);
			return -ENOMEM;
		}
		c->groups = groups;
		if (getsockopt(sock, SOL_SOCKET, SO_PEERGROUPS, groups,
			       &len) == 0)
			break;
		if (errno != ERANGE) {
			int r = -errno;

			peer_cred_deinit(c);
			return r;
		}
	}
	c->ngroups = len / sizeof(gid_t);
	return 0;
}

void peer_cred_deinit(struct peer_cred *c)
{
	free(c->groups);
	c->groups = NULL;
	c->ngroups = 0;
}
