/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * Live upgrade: the server executes its binary again and hands everything
 * over to the new process
 *
 * The old process forks; the child clears FD_CLOEXEC on exactly the fds to
 * hand over and executes the binary with the same arguments and
 * IVSHMEM_UPGRADE=<state fd>:<status fd> in its environment. The status fd
 * is a socket pair: the new process writes "ready" once it has rebuilt the
 * server from the state, or "error: <why>" and exits. Meanwhile the old
 * process handles no event, so nothing changes under the state, and new
 * clients wait in the listen backlog. On "ready" it exits without a word
 * to anyone; the new process serves only once the old one is gone (its
 * end of the socket pair closes), so that never two processes serve. On
 * anything else, or after UPGRADE_TIMEOUT, the old process kills the child
 * and serves on as if nothing happened.
 */
#pragma once

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

#define UPGRADE_ENV "IVSHMEM_UPGRADE"
#define UPGRADE_TIMEOUT_MS 10000

/*
 * The path of our own binary (as /proc/self/exe names it, without a
 * " (deleted)" left by a package upgrade): what an upgrade executes.
 * NULL if unknown; free() it.
 */
char *upgrade_own_binary(void);

/*
 * Old process: runs @exe with @argv, handing over the @count fds in @fds
 * (among them @state, the state blob). Returns the new process's pid once
 * it is ready (the caller must then exit and touch nothing), or a negative
 * errno with the reason in @err (the caller keeps serving).
 *
 * Call it with every signal blocked (upgrade_block_signals()), from the
 * moment the server stops handling events: a signal that comes meanwhile
 * is for whichever process serves afterwards.
 */
pid_t upgrade_exec(const char *exe, char **argv, int state, const int *fds,
		   size_t count, char *err, size_t errlen);
void upgrade_block_signals(sigset_t *old);
/* After a handover: sends the signals that came meanwhile to @pid. */
void upgrade_forward_signals(pid_t pid);

/*
 * New process: the fds that UPGRADE_ENV names (removed from the
 * environment). 1 when this process was started by an upgrade, 0 when
 * not, -EINVAL when the variable is malformed.
 */
int upgrade_takeover(int *state, int *status);
/* Tells the old process "ready", then waits for it to be gone. */
void upgrade_ready(int status);
/* Tells the old process why this one gives up, and closes @status. */
__attribute__((format(printf, 2, 3)))
void upgrade_failed(int status, const char *fmt, ...);
