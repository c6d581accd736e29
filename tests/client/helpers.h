/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * Helpers of the library's tests: a real server, fd counts, event records
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "ivshmem.h"

struct server {
	pid_t pid;
	char dir[64];
	char socket[100];
	char shm_name[64]; /* -M NAME, or "" for --memfd */
	int vectors;
};

/* A temporary directory for a test's files; removed by server_cleanup(). */
void server_init(struct server *s, int vectors);
/* Starts the built ivshmem-server and waits until it listens. */
void server_start(struct server *s);
/* Stops it with @sig and reaps it. */
void server_stop(struct server *s, int sig);
/* Stops it if running and removes its files. */
void server_cleanup(struct server *s);

int count_fds(void);

/* What the handlers saw */
#define RECORD_MAX 4096
struct record {
	int joined[RECORD_MAX], joined_count;
	int left[RECORD_MAX], left_count;
	uint64_t interrupts[IVSHMEM_VECTORS_MAX]; /* counts per vector */
	int interrupt_calls;
	int last_vector;
	int server[16], server_count;
	int want; /* a server event to wait for */
};

/* Installs handlers that record into @r. */
void record_on(struct ivshmem *h, struct record *r);
bool record_has_server(const struct record *r, enum ivshmem_server_event e);
bool record_joined(const struct record *r, int peer);
bool record_left(const struct record *r, int peer);

/* Dispatches until @done(h, arg) or @timeout_ms pass; returns done. */
bool dispatch_until(struct ivshmem *h, bool (*done)(struct ivshmem *, void *),
		    void *arg, int timeout_ms);
/* Dispatches every handle in turn until @done(arg) or the timeout. */
bool dispatch_all_until(struct ivshmem **hs, int n, bool (*done)(void *),
			void *arg, int timeout_ms);
/* Until the handle reported SYNCED. */
bool wait_synced(struct ivshmem *h, struct record *r);
