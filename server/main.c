/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * ivshmem-server: start-up, daemon mode, signals and clean exit
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "listener.h"
#include "log.h"
#include "loop.h"
#include "options.h"
#include "parse.h"
#include "protocol.h"
#include "server.h"
#include "shm.h"

/* Every peer costs a socket and its eventfds: take all the fds we may. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		log_warning("cannot raise the open file limit: %s",
			    strerror(errno));
}

/*
 * Forks into the background. The parent waits until the daemon reports
 * through a pipe, then exits: 0 once the daemon serves, 1 with its error
 * message if it failed. Returns the write end of the pipe in the daemon.
 */
static int daemonize(void)
{
	int pipefd[2];
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		log_error("cannot daemonize: %s", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		log_error("cannot daemonize: %s", strerror(errno));
		return -1;
	}
	if (pid > 0) {
		char msg[512];
		size_t len = 0;
		ssize_t n;

		close(pipefd[1]);
		while (len < sizeof(msg) - 1 &&
		       (n = read(pipefd[0], msg + len,
				 sizeof(msg) - 1 - len)) != 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				break;
			len += (size_t)n;
		}
		msg[len] = '\0';
		waitpid(pid, NULL, 0);
		if (strcmp(msg, "ready") == 0)
			_exit(0);
		fprintf(stderr, "ivshmem-server: %s\n",
			len ? msg : "error: the daemon exited during start-up");
		_exit(1);
	}
	close(pipefd[0]);
	if (setsid() < 0 || (pid = fork()) < 0) {
		dprintf(pipefd[1], "error: cannot daemonize: %s",
			strerror(errno));
		_exit(1);
	}
	if (pid > 0)
		_exit(0);
	return pipefd[1];
}

/* Tells the waiting parent how start-up ended and detaches from it. */
static void report_to_parent(int fd, const char *msg)
{
	int null;

	if (fd < 0)
		return;
	if (write(fd, msg, strlen(msg)) < 0) {
		/* the parent is gone; nobody to tell */
	}
	close(fd);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
}

static int write_pid_file(const char *path)
{
	FILE *f = fopen(path, "we");

	if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0) {
		int r = -errno;

		if (f)
			fclose(f);
		return r ? r : -EIO;
	}
	return 0;
}

/* Removes the pid file if it still names this process. */
static void remove_pid_file(const char *path)
{
	FILE *f = fopen(path, "re");
	int pid = 0;

	if (!f)
		return;
	if (fscanf(f, "%d", &pid) == 1 && pid == (int)getpid())
		unlink(path);
	fclose(f);
}

static void on_stop_signal(void *data)
{
	server_shutdown(data);
}

static const char *shm_description(const struct options *o, char *buf,
				   size_t len)
{
	switch (o->shm_kind) {
	case SHM_POSIX:
		snprintf(buf, len, "POSIX object %s", o->shm_path);
		break;
	case SHM_DIR:
		snprintf(buf, len, "a file in %s", o->shm_path);
		break;
	case SHM_MEMFD:
		snprintf(buf, len, "a memfd");
		break;
	}
	return buf;
}

int main(int argc, char **argv)
{
	struct options opt;
	struct shm shm = { .fd = -1 };
	struct listener listener = { .fd = -1 };
	struct loop *loop = NULL;
	struct server *server = NULL;
	struct loop_signal *sigterm = NULL, *sigint = NULL;
	struct server_config cfg;
	int parent = -1, status = 1, r;
	bool pid_written = false;
	char what[160], size[32];

	options_init(&opt);
	r = options_parse(&opt, argc, argv);
	if (r != 0)
		return r > 0 ? 0 : 1;
	/* a daemon's terminal gets only what went wrong; the rest goes to syslog
	 * once it runs */
	log_setup(LOG_TO_STDERR, opt.verbose ? LOG_DEBUG :
		  opt.foreground ? LOG_INFO : LOG_WARNING);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();

	/* the socket first: a live server there is the error that matters */
	if (listener_open(&listener, opt.socket_path) < 0)
		goto out;
	if (shm_setup(&shm, &opt) < 0)
		goto out;
	if (!opt.foreground) {
		parent = daemonize();
		if (parent < 0)
			goto out;
		log_setup(LOG_TO_SYSLOG, LOG_INFO);
		r = write_pid_file(opt.pid_file);
		if (r < 0) {
			dprintf(parent, "error: cannot write pid file %s: %s",
				opt.pid_file, strerror(-r));
			goto out;
		}
		pid_written = true;
	}

	cfg = (struct server_config){
		.vectors = opt.vectors,
		.max_queue = opt.max_queue,
		.id_count = PROTO_ID_COUNT,
	};
	if (loop_new(&loop) < 0 ||
	    server_new(&server, loop, listener.fd, shm.fd, &cfg) < 0 ||
	    !(sigterm = loop_signal_new(loop, SIGTERM, on_stop_signal, server)) ||
	    !(sigint = loop_signal_new(loop, SIGINT, on_stop_signal, server))) {
		log_error("out of memory");
		if (parent >= 0)
			dprintf(parent, "error: out of memory");
		goto out;
	}

	log_notice("listening on %s: shared memory %s, %s, %u vectors per "
		   "peer", opt.socket_path,
		   shm_description(&opt, what, sizeof(what)),
		   format_size(size, sizeof(size), shm.size), opt.vectors);
	report_to_parent(parent, "ready");
	parent = -1;
	loop_run(loop);
	status = 0;
	log_notice("stopped");

out:
	if (parent >= 0)
		close(parent);
	loop_signal_free(sigterm);
	loop_signal_free(sigint);
	server_free(server);
	loop_free(loop);
	listener_close(&listener, opt.socket_path);
	shm_teardown(&shm);
	if (pid_written)
		remove_pid_file(opt.pid_file);
	return status;
}
