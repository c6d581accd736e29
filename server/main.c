/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * ivshmem-server: start-up, daemon mode, signals and clean exit
 *
 * A server starts afresh, resumes the peers the service manager kept for
 * it after a crash (resume.h), or takes over from the server it replaces
 * in an upgrade (upgrade.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdcheck.h"
#include "fdstore.h"
#include "handover.h"
#include "ledger.h"
#include "listener.h"
#include "log.h"
#include "loop.h"
#include "options.h"
#include "parse.h"
#include "protocol.h"
#include "resume.h"
#include "server.h"
#include "shm.h"
#include "systemd.h"
#include "upgrade.h"

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
	int r = 0;

	if (!f)
		return -errno;
	if (fprintf(f, "%d\n", (int)getpid()) < 0)
		r = errno ? -errno : -EIO;
	/* fclose() frees the stream even when it fails: once, whatever */
	if (fclose(f) != 0 && r == 0)
		r = errno ? -errno : -EIO;
	return r;
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
	char *exe;            /* our binary, which an upgrade executes */
	struct loop *loop;
	struct server *server;
	struct listener listener;
	struct shm shm;
	struct ledger ledger;
	struct fdstore *store;
	bool stopping;
	bool handed_over;     /* a new process serves: exit without a word */
	pid_t successor;
};

/* After a handover, a signal is for the server that serves now. */
static bool forwarded(struct app *app, int sig)
{
	if (!app->handed_over)
		return false;
	kill(app->successor, sig);
	return true;
}

static void on_peers_changed(void *data, size_t peers)
{
	(void)data;
	systemd_notify("STATUS=%zu peers", peers);
}

static void on_stop_signal(void *data)
{
	struct app *app = data;

	if (forwarded(app, SIGTERM))
		return;
	app->stopping = true;
	/* the peers are being told that everyone left: from now on, a server
	 * that starts after this one must not resume them */
	ledger_set_flags(&app->ledger, LEDGER_CLEAN, true);
	systemd_notify("STOPPING=1");
	server_shutdown(app->server);
}

static struct server_config server_config(struct app *app,
					  const struct options *o)
{
	return (struct server_config){
		.vectors = o->vectors,
		.id_count = o->max_id + 1,
		.max_queue = o->max_queue,
		.max_peers = o->max_peers,
		.access = o->access,
		.peers_changed = on_peers_changed,
		.ledger = &app->ledger,
		.store = app->store,
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

	if (forwarded(app, SIGHUP))
		return;
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
	cfg = server_config(app, &fresh);
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

/* Everything the new process needs, in @h (which borrows the fds). */
static int describe(const struct app *app, struct handover *h)
{
	*h = (struct handover){
		.vectors = app->opt.vectors,
		.id_count = app->opt.max_id + 1,
		.listen_fd = app->listener.fd,
		.listen_inherited = app->listener.inherited,
		.listen_dev = app->listener.dev,
		.listen_ino = app->listener.ino,
		.socket_path = app->listener.inherited ? NULL :
			       app->opt.socket_path,
		.shm_fd = app->shm.fd,
		.shm_size = app->shm.size,
		.shm_name = app->shm.name,
		.ledger_fd = app->ledger.fd,
		.stored = app->store ? fdstore_count(app->store) : 0,
	};
	return server_save(app->server, &h->server);
}

/* Hands everything to a new process running our binary: its pid, or a
 * negative errno with the reason in @err. */
static pid_t upgrade(struct app *app, char *err, size_t errlen)
{
	/* a test hook: an old server writing a state its successor cannot
	 * read */
	const char *version = getenv("IVSHMEM_TEST_STATE_VERSION");
	struct handover h;
	size_t count;
	int state, *fds;
	pid_t pid;

	if (!app->exe) {
		snprintf(err, errlen, "cannot tell where this server's binary "
			 "is (/proc/self/exe)");
		return -ENOENT;
	}
	if (app->store && fdstore_sync(app->store, UPGRADE_TIMEOUT_MS) < 0) {
		snprintf(err, errlen, "the service manager does not take the "
			 "fds to store");
		return -ETIMEDOUT;
	}
	if (describe(app, &h) < 0) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	state = handover_write(&h, version ? (uint32_t)atoi(version) :
				   HANDOVER_VERSION);
	fds = handover_fds(&h, &count);
	if (state < 0 || !fds) {
		snprintf(err, errlen, "cannot write the state: %s",
			 strerror(state < 0 ? -state : ENOMEM));
		pid = state < 0 ? state : -ENOMEM;
	} else {
		pid = upgrade_exec(app->exe, app->argv, state, fds, count, err,
				   errlen);
	}
	if (state >= 0)
		close(state);
	free(fds);
	server_state_deinit(&h.server);
	return pid;
}

/*
 * SIGUSR2: executes our binary again (the file now at its path: a newer
 * version, after a package upgrade) and hands everything over. If that
 * fails, nothing has changed and the server goes on.
 */
static void on_upgrade_signal(void *data)
{
	struct app *app = data;
	struct server_stats st;
	double start = loop_clock_ms();
	sigset_t mask;
	char err[512];
	pid_t pid;

	if (forwarded(app, SIGUSR2))
		return;
	if (app->stopping) {
		log_warning("not upgrading: shutting down");
		return;
	}
	/* from here, signals wait for whichever server serves afterwards */
	upgrade_block_signals(&mask);
	server_get_stats(app->server, &st);
	log_notice("upgrading: executing %s, handing over %zu peers",
		   app->exe ? app->exe : "?", st.peers);
	systemd_notify_reloading();
	pid = upgrade(app, err, sizeof(err));
	if (pid < 0) {
		log_error("upgrade failed, this server goes on serving: %s",
			  err);
		/* the new process may have got as far as the pid file */
		if (!app->opt.foreground && write_pid_file(app->opt.pid_file) < 0)
			log_warning("cannot write pid file %s again: %s",
				    app->opt.pid_file, strerror(errno));
		systemd_notify("READY=1\nSTATUS=%zu peers (upgrade failed)",
			       st.peers);
		sigprocmask(SIG_SETMASK, &mask, NULL);
		return;
	}
	log_notice("upgraded: pid %d serves the %zu peers now; this server "
		   "paused for %.1f ms and exits", (int)pid, st.peers,
		   loop_clock_ms() - start);
	/* as the main process, which the new one is not yet */
	systemd_notify("MAINPID=%d", (int)pid);
	app->handed_over = true;
	app->successor = pid;
	upgrade_forward_signals(pid);
	loop_quit(app->loop);
}

static void on_dump_signal(void *data)
{
	struct app *app = data;

	if (!forwarded(app, SIGUSR1))
		server_log_state(app->server);
}

/*
 * The socket of socket activation, else the one we stored before a crash
 * (@stored, or -1) if it is still the one at our path (then returns 1),
 * else a new one. Logs why it failed.
 */
static int open_listener(struct app *app, struct systemd_fds *passed,
			 int stored)
{
	const struct options *o = &app->opt;
	struct listener *l = &app->listener;
	int fd = -1;

	for (size_t i = 0; i < passed->count; i++) {
		if (passed->fds[i] < 0)
			continue;
		if (fd >= 0) {
			log_error("the service manager passed more than one "
				  "socket: give the .socket unit one "
				  "ListenStream=");
			return -EINVAL;
		}
		fd = passed->fds[i];
	}
	if (stored >= 0 &&
	    (fd >= 0 || listener_adopt_own(l, stored, o->socket_path) < 0)) {
		/* socket activation now, or it is not at our path any more */
		close(stored);
		if (app->store)
			fdstore_remove(app->store, FDSTORE_SOCKET);
		stored = -1;
	}
	if (stored >= 0)
		return 1;
	if (fd < 0)
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

/* The memory we stored before a crash (@stored, or -1), else new memory. */
static int open_shm(struct app *app, int stored)
{
	const struct options *o = &app->opt;
	const struct ledger_header *h = app->ledger.hdr;
	uint64_t size, want = pow2_ceil(o->size);
	char a[32], b[32];

	if (stored >= 0 && !fd_is_file(stored, &size)) {
		log_error("the stored shared memory is not a file: opening it "
			  "anew");
		close(stored);
		if (app->store)
			fdstore_remove(app->store, FDSTORE_SHM);
		stored = -1;
	}
	if (stored < 0)
		return shm_setup(&app->shm, o);
	if (size != want)
		log_warning("the peers' shared memory has %s, the configuration "
			    "says %s: keeping theirs",
			    format_size(a, sizeof(a), size),
			    format_size(b, sizeof(b), want));
	app->shm = (struct shm){ .fd = stored, .size = size };
	/* ours to unlink at exit if the crashed server created it */
	if ((h->flags & LEDGER_SHM_CREATED) && h->shm_name[0]) {
		app->shm.name = strdup(h->shm_name);
		if (!app->shm.name)
			return -ENOMEM;
	}
	return 0;
}

/* Puts in the fd store what a new server has that is not there yet. */
static void store_server(struct app *app, bool ledger, bool shm, bool socket)
{
	struct ledger *l = &app->ledger;

	ledger_set_shm_created(l, app->shm.name);
	if (!app->store)
		return;
	if ((ledger && fdstore_add(app->store, l->fd, FDSTORE_LEDGER) < 0) ||
	    (shm && fdstore_add(app->store, app->shm.fd, FDSTORE_SHM) < 0) ||
	    (socket && !app->listener.inherited &&
	     fdstore_add(app->store, app->listener.fd, FDSTORE_SOCKET) < 0))
		log_warning("cannot store the server's fds: peers will not "
			    "survive a crash");
}

/* Start-up failed after the daemon or the upgrade began: tell whoever
 * waits for us. */
__attribute__((format(printf, 3, 4)))
static void report_failure(int *parent, int *status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_error("%s", msg);
	if (*status >= 0)
		upgrade_failed(*status, "%s", msg);
	else if (*parent >= 0)
		dprintf(*parent, "error: %s", msg);
	*status = -1;
}

/* Removes from the fd store what it holds of the peers in @st. */
static void unstore_peers(struct fdstore *store, const struct server_state *st,
			  unsigned int vectors)
{
	for (size_t i = 0; store && i < st->peer_count; i++)
		fdstore_remove_peer(store, st->peers[i].join, st->peers[i].id,
				    vectors, vectors + 1);
}

/* With the peers the service manager kept for us, or none if that fails. */
static int make_server(struct app *app, struct resume *res, bool resuming)
{
	struct server_config cfg = server_config(app, &app->opt);
	struct server_state st = { 0 };
	char err[400];
	int r;

	if (resuming) {
		r = resume_peers(res, &app->ledger, &st);
		if (r == 0)
			r = server_restore(&app->server, app->loop,
					   app->listener.fd, app->shm.fd, &cfg,
					   &st, err, sizeof(err));
		if (r == -EINVAL) {
			log_error("cannot resume the peers, starting without "
				  "them: %s", err);
			unstore_peers(app->store, &st, app->opt.vectors);
			ledger_reset(&app->ledger);
		}
		server_state_deinit(&st);
		if (r != -EINVAL)
			return r;
	}
	return server_new(&app->server, app->loop, app->listener.fd,
			  app->shm.fd, &cfg);
}

/*
 * A server that starts: afresh, or with the peers the service manager kept
 * after a crash. What goes wrong is logged, and reported to @parent in
 * daemon mode.
 */
static int start(struct app *app, int *parent)
{
	struct options *opt = &app->opt;
	struct systemd_fds passed;
	struct resume res = { .ledger = -1, .shm = -1, .socket = -1 };
	bool resuming = false, new_ledger = false, stored_shm, stored_socket;
	int status = -1, r;

	r = systemd_listen_fds(&passed);
	if (r == 0)
		r = resume_collect(&res, &passed, opt->vectors, app->store);
	if (r == 0) {
		resuming = resume_ledger(&res, &app->ledger,
					 opt->max_id + 1) == 1;
		new_ledger = app->ledger.fd < 0;
		if (new_ledger)
			r = ledger_create(&app->ledger, opt->vectors,
					  opt->max_id + 1);
	}
	if (r < 0) {
		log_error("cannot start: %s", strerror(-r));
		goto out;
	}
	if (app->store)
		fdstore_set_count(app->store, res.stored);
	/* the socket first: a live server there is the error that matters */
	r = open_listener(app, &passed, res.socket);
	res.socket = -1;
	if (r < 0)
		goto out;
	stored_socket = r == 1;
	stored_shm = res.shm >= 0;
	r = open_shm(app, res.shm);
	res.shm = -1;
	if (r < 0)
		goto out;
	if (!opt->foreground) {
		*parent = daemonize();
		if (*parent < 0) {
			r = -1;
			goto out;
		}
		loop_fork(app->loop);
		log_setup(LOG_TO_SYSLOG, opt->log_level);
	}
	store_server(app, new_ledger, !stored_shm, !stored_socket);
	r = make_server(app, &res, resuming);
	if (r < 0)
		report_failure(parent, &status, "out of memory");
out:
	resume_discard(&res);
	resume_deinit(&res);
	systemd_fds_deinit(&passed);
	return r;
}

/*
 * A server started by an upgrade: takes over from the one it replaces,
 * with the state in @state. Errors go to the old server, which serves on.
 */
static int take_over(struct app *app, int state, int status)
{
	struct options *opt = &app->opt;
	struct server_config cfg;
	struct handover h;
	char err[400];
	int r;

	r = handover_read(&h, state, err, sizeof(err));
	close(state);
	if (r < 0) {
		upgrade_failed(status, "cannot read the state: %s", err);
		goto out;
	}
	r = -EINVAL;
	if (h.vectors != opt->vectors || h.id_count != opt->max_id + 1) {
		upgrade_failed(status, "the configuration has %u vectors and "
			       "ids 0..%u, the running server %u and 0..%u: "
			       "only a restart can change them", opt->vectors,
			       opt->max_id, h.vectors, h.id_count - 1);
		goto out;
	}
	app->listener = (struct listener){
		.fd = h.listen_fd, .inherited = h.listen_inherited,
		.dev = (dev_t)h.listen_dev, .ino = (ino_t)h.listen_ino,
	};
	snprintf(app->listener.name, sizeof(app->listener.name), "%s",
		 h.socket_path ? h.socket_path : "the socket from systemd");
	if (h.socket_path && strcmp(h.socket_path, opt->socket_path) != 0) {
		log_warning("socket changed, but only a restart can change it: "
			    "keeping %s", h.socket_path);
		free(opt->socket_path);
		opt->socket_path = h.socket_path;
		h.socket_path = NULL;
	}
	if (pow2_ceil(opt->size) != h.shm_size) {
		char size[32];

		log_warning("size changed, but only a restart can change it: "
			    "keeping %s", format_size(size, sizeof(size),
						      h.shm_size));
	}
	app->shm = (struct shm){ .fd = h.shm_fd, .size = h.shm_size,
				 .name = h.shm_name };
	h.shm_name = NULL;
	r = ledger_open(&app->ledger, h.ledger_fd, err, sizeof(err));
	if (r == 0 && (app->ledger.hdr->vectors != h.vectors ||
		       app->ledger.hdr->id_count != h.id_count)) {
		snprintf(err, sizeof(err), "the ledger is for other settings");
		r = -EINVAL;
	}
	if (r < 0) {
		upgrade_failed(status, "cannot use the ledger: %s", err);
		goto out;
	}
	r = fdstore_new(&app->store, app->loop);
	if (r < 0) {
		upgrade_failed(status, "cannot reach the fd store: %s",
			       strerror(-r));
		goto out;
	}
	if (app->store)
		fdstore_set_count(app->store, h.stored);
	cfg = server_config(app, opt);
	r = server_restore(&app->server, app->loop, app->listener.fd,
			   app->shm.fd, &cfg, &h.server, err, sizeof(err));
	if (r < 0)
		upgrade_failed(status, "cannot take over the peers: %s", err);
out:
	handover_deinit(&h);
	return r;
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

/* Lets the signals in, once the loop handles them; an upgrade starts us
 * with them blocked. */
static void unblock_signals(void)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/*
 * When another process owns the peers, the socket and the memory (we
 * handed them over, or failed to take them over): let go without touching
 * them.
 */
static void let_go(struct app *app)
{
	server_abandon(app->server);
	app->server = NULL;
	app->listener.inherited = true; /* not ours to remove */
	free(app->shm.name);
	app->shm.name = NULL;
}

int main(int argc, char **argv)
{
	struct app app = { .argc = argc, .argv = argv,
			   .listener = { .fd = -1 }, .shm = { .fd = -1 },
			   .ledger = { .fd = -1 } };
	struct options *opt = &app.opt;
	struct loop_signal *sig[5] = { NULL };
	int parent = -1, state = -1, status = -1, exit_status = 1, r;
	bool pid_written = false, upgraded, owner;
	struct server_stats st;
	char what[160], size[32], err[512];

	r = upgrade_takeover(&state, &status);
	if (r < 0) {
		fprintf(stderr, "ivshmem-server: malformed %s\n", UPGRADE_ENV);
		return 1;
	}
	upgraded = r == 1;
	/* the files are ours once we serve, unless we take over */
	owner = !upgraded;
	if (upgraded) {
		/* the same command line and config file; errors go to the
		 * server we replace */
		if (options_reload(opt, argc, argv, err, sizeof(err)) < 0) {
			upgrade_failed(status, "%s", err);
			close(state);
			options_deinit(opt);
			return 1;
		}
	} else {
		r = options_parse(opt, argc, argv);
		if (r != 0)
			return r > 0 ? 0 : 1;
	}
	/* a daemon's terminal gets only what went wrong; the rest goes to syslog
	 * once it runs */
	if (upgraded && !opt->foreground)
		log_setup(LOG_TO_SYSLOG, opt->log_level);
	else
		log_setup(opt->foreground && log_stderr_is_journal() ?
			  LOG_TO_JOURNAL : LOG_TO_STDERR,
			  opt->foreground || opt->log_level < LOG_WARNING ?
			  opt->log_level : LOG_WARNING);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();
	if (systemd_notify_init() < 0)
		log_warning("cannot reach the service manager at $NOTIFY_SOCKET");
	app.exe = upgrade_own_binary();
	if (loop_new(&app.loop) < 0) {
		report_failure(&parent, &status, "out of memory");
		goto out;
	}

	if (upgraded) {
		r = take_over(&app, state, status);
		if (r < 0)
			status = -1; /* take_over() told the old server */
	} else {
		r = fdstore_new(&app.store, app.loop);
		if (r < 0)
			log_warning("cannot reach the fd store: %s: peers will "
				    "not survive a crash", strerror(-r));
		r = start(&app, &parent);
	}
	if (r < 0)
		goto out;
	if (!opt->foreground) {
		r = write_pid_file(opt->pid_file);
		if (r < 0) {
			report_failure(&parent, &status, "cannot write pid file "
				       "%s: %s", opt->pid_file, strerror(-r));
			goto out;
		}
		pid_written = true;
	}

	if (!(sig[0] = loop_signal_new(app.loop, SIGTERM, on_stop_signal, &app)) ||
	    !(sig[1] = loop_signal_new(app.loop, SIGINT, on_stop_signal, &app)) ||
	    !(sig[2] = loop_signal_new(app.loop, SIGHUP, on_reload_signal,
				       &app)) ||
	    !(sig[3] = loop_signal_new(app.loop, SIGUSR1, on_dump_signal,
				       &app)) ||
	    !(sig[4] = loop_signal_new(app.loop, SIGUSR2, on_upgrade_signal,
				       &app))) {
		report_failure(&parent, &status, "out of memory");
		goto out;
	}
	server_get_stats(app.server, &st);
	if (upgraded) {
		int old = (int)getppid();

		upgrade_ready(status);
		status = -1;
		owner = true;
		log_notice("took over from pid %d: %zu peers on %s, shared "
			   "memory of %s, %u vector%s per peer", old, st.peers,
			   app.listener.name,
			   format_size(size, sizeof(size), app.shm.size),
			   opt->vectors, opt->vectors == 1 ? "" : "s");
	} else {
		log_notice("listening on %s%s: shared memory %s, %s, %u vector%s "
			   "per peer", app.listener.name,
			   app.listener.inherited ? " (from systemd)" : "",
			   shm_description(opt, what, sizeof(what)),
			   format_size(size, sizeof(size), app.shm.size),
			   opt->vectors, opt->vectors == 1 ? "" : "s");
	}
	unblock_signals();
	report_to_parent(parent, "ready");
	parent = -1;
	systemd_notify("READY=1\nMAINPID=%d\nSTATUS=%zu peers", (int)getpid(),
		       st.peers);
	loop_run(app.loop);
	exit_status = 0;
	if (app.handed_over) {
		owner = false;
		let_go(&app);
		fdstore_free(app.store);
		app.store = NULL;
		/* signals caught before the handover are forwarded; nothing
		 * else is left in the loop to run */
		loop_run_once(app.loop);
	} else {
		log_notice("stopped");
	}

out:
	if (parent >= 0)
		close(parent);
	if (status >= 0)
		close(status);
	if (!owner)
		let_go(&app);
	for (size_t i = 0; i < sizeof(sig) / sizeof(sig[0]); i++)
		loop_signal_free(sig[i]);
	server_free(app.server);
	fdstore_free(app.store);
	loop_free(app.loop);
	listener_close(&app.listener, opt->socket_path);
	shm_teardown(&app.shm);
	ledger_close(&app.ledger);
	if (pid_written)
		remove_pid_file(opt->pid_file);
	systemd_notify_deinit();
	options_deinit(opt);
	free(app.exe);
	return exit_status;
}
