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
#include "systemd.h"

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

/* What the signal handlers need. */
struct app {
	struct options opt;
	int argc;
	char **argv;
	struct loop *loop;
	struct server *server;
};

static void on_peers_changed(void *data, size_t peers)
{
	(void)data;
	systemd_notify("STATUS=%zu peers", peers);
}

static void on_stop_signal(void *data)
{
	struct app *app = data;

	systemd_notify("STOPPING=1");
	server_shutdown(app->server);
}

static struct server_config server_config(const struct options *o)
{
	return (struct server_config){
		.vectors = o->vectors,
		.id_count = o->max_id + 1,
		.max_queue = o->max_queue,
		.max_peers = o->max_peers,
		.access = o->access,
		.peers_changed = on_peers_changed,
	};
}

/*
 * SIGHUP: reads the config file again. Settings that can change live do;
 * a change to any other is refused with a warning and the running value
 * stays.
 */
static void on_reload_signal(void *data)
{
	struct app *app = data;
	struct options fresh;
	struct server_config cfg;
	struct server_stats st;
	const char *fixed[32];
	char err[512];
	size_t n;

	systemd_notify_reloading();
	if (options_reload(&fresh, app->argc, app->argv, err,
			   sizeof(err)) < 0) {
		log_error("reload failed, the configuration is unchanged: %s",
			  err);
		goto out;
	}
	n = options_fixed_changes(&app->opt, &fresh, fixed,
				  sizeof(fixed) / sizeof(fixed[0]));
	for (size_t i = 0; i < n; i++)
		log_warning("reload: %s changed, but only a restart can change "
			    "it: keeping the running value", fixed[i]);
	/* the server takes only the live settings from it */
	cfg = server_config(&fresh);
	if (server_reconfigure(app->server, &cfg) < 0) {
		log_error("reload failed: out of memory");
		goto out;
	}
	options_take_live(&app->opt, &fresh);
	log_set_level(app->opt.log_level);
	log_notice("reloaded%s%s: log level %s, max-peers %u, max-queue %zu, "
		   "allowed: %s", app->opt.config_file ? " " : "",
		   app->opt.config_file ? app->opt.config_file : "",
		   log_level_name(app->opt.log_level), app->opt.max_peers,
		   app->opt.max_queue,
		   access_open(&app->opt.access) ? "anyone" : "the allow-lists");
out:
	options_deinit(&fresh);
	server_get_stats(app->server, &st);
	systemd_notify("READY=1\nSTATUS=%zu peers", st.peers);
}

static void on_dump_signal(void *data)
{
	struct app *app = data;

	server_log_state(app->server);
}

/* The socket systemd passed, or ours. */
static int open_listener(struct listener *l, const struct options *o)
{
	int fd = systemd_listen_fd();

	if (fd < 0) {
		log_error("the service manager passed more than one socket: "
			  "give the .socket unit one ListenStream=");
		return fd;
	}
	if (fd == 0)
		return listener_open(l, o->socket_path, &o->socket_perms);
	if (o->socket_perms.mode != (mode_t)-1 ||
	    o->socket_perms.uid != (uid_t)-1 ||
	    o->socket_perms.gid != (gid_t)-1)
		log_warning("socket-mode, socket-user and socket-group do not "
			    "apply to the socket systemd passed: set "
			    "SocketMode=, SocketUser= and SocketGroup= in its "
			    ".socket unit");
	if (listener_adopt(l, fd) < 0) {
		close(fd);
		return -EINVAL;
	}
	return 0;
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
	struct app app = { .argc = argc, .argv = argv };
	struct options *opt = &app.opt;
	struct shm shm = { .fd = -1 };
	struct listener listener = { .fd = -1 };
	struct loop_signal *sig[4] = { NULL };
	struct server_config cfg;
	int parent = -1, status = 1, r;
	bool pid_written = false;
	char what[160], size[32];

	r = options_parse(opt, argc, argv);
	if (r != 0)
		return r > 0 ? 0 : 1;
	/* a daemon's terminal gets only what went wrong; the rest goes to syslog
	 * once it runs */
	log_setup(opt->foreground && log_stderr_is_journal() ? LOG_TO_JOURNAL
							     : LOG_TO_STDERR,
		  opt->foreground || opt->log_level < LOG_WARNING ?
		  opt->log_level : LOG_WARNING);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	if (systemd_notify_init() < 0)
		log_warning("cannot reach the service manager at $NOTIFY_SOCKET");

	/* the socket first: a live server there is the error that matters */
	if (open_listener(&listener, opt) < 0)
		goto out;
	if (shm_setup(&shm, opt) < 0)
		goto out;
	if (!opt->foreground) {
		parent = daemonize();
		if (parent < 0)
			goto out;
		log_setup(LOG_TO_SYSLOG, opt->log_level);
		r = write_pid_file(opt->pid_file);
		if (r < 0) {
			dprintf(parent, "error: cannot write pid file %s: %s",
				opt->pid_file, strerror(-r));
			goto out;
		}
		pid_written = true;
	}

	cfg = server_config(opt);
	if (loop_new(&app.loop) < 0 ||
	    server_new(&app.server, app.loop, listener.fd, shm.fd, &cfg) < 0 ||
	    !(sig[0] = loop_signal_new(app.loop, SIGTERM, on_stop_signal, &app)) ||
	    !(sig[1] = loop_signal_new(app.loop, SIGINT, on_stop_signal, &app)) ||
	    !(sig[2] = loop_signal_new(app.loop, SIGHUP, on_reload_signal,
				       &app)) ||
	    !(sig[3] = loop_signal_new(app.loop, SIGUSR1, on_dump_signal,
				       &app))) {
		log_error("out of memory");
		if (parent >= 0)
			dprintf(parent, "error: out of memory");
		goto out;
	}

	log_notice("listening on %s%s: shared memory %s, %s, %u vectors per "
		   "peer", listener.name,
		   listener.inherited ? " (from systemd)" : "",
		   shm_description(opt, what, sizeof(what)),
		   format_size(size, sizeof(size), shm.size), opt->vectors);
	report_to_parent(parent, "ready");
	parent = -1;
	systemd_notify("READY=1\nMAINPID=%d\nSTATUS=0 peers", (int)getpid());
	loop_run(app.loop);
	status = 0;
	log_notice("stopped");

out:
	if (parent >= 0)
		close(parent);
	for (size_t i = 0; i < sizeof(sig) / sizeof(sig[0]); i++)
		loop_signal_free(sig[i]);
	server_free(app.server);
	loop_free(app.loop);
	listener_close(&listener, opt->socket_path);
	shm_teardown(&shm);
	if (pid_written)
		remove_pid_file(opt->pid_file);
	systemd_notify_deinit();
	options_deinit(opt);
	return status;
}
