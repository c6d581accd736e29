/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The server's settings: QEMU's ivshmem-server flags plus long ones, and a
 * config file with one key per option (inih)
 *
 * One table lists every setting once: its key in the config file, which is
 * also its long option, its short option, and whether a running server can
 * take a new value on SIGHUP. Both sources go through set(), so that a
 * value means the same and is refused with the same words in either.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include <ini.h>

#include "config.h"
#include "options.h"
#include "parse.h"
#include "protocol.h"

/* The largest config file we read: far more than any real one. */
#define CONFIG_MAX (1024 * 1024)

enum setting {
	S_VERBOSE,
	S_FOREGROUND,
	S_LOG_LEVEL,
	S_PIDFILE,
	S_SOCKET,
	S_SOCKET_MODE,
	S_SOCKET_USER,
	S_SOCKET_GROUP,
	S_SHM_NAME,
	S_SHM_DIR,
	S_MEMFD,
	S_SHM_MODE,
	S_SHM_USER,
	S_SHM_GROUP,
	S_SIZE,
	S_RESIZE,
	S_VECTORS,
	S_MAX_QUEUE,
	S_MAX_PEERS,
	S_MAX_ID,
	S_ALLOW_USERS,
	S_ALLOW_GROUPS,
	S_COUNT,
};

static const struct {
	const char *key;
	char short_opt;
	bool flag;  /* no argument on the command line; yes/no in the file */
	bool live;  /* SIGHUP applies a new value */
} settings[S_COUNT] = {
	[S_VERBOSE] = { "verbose", 'v', true, true },
	[S_FOREGROUND] = { "foreground", 'F', true, false },
	[S_LOG_LEVEL] = { "log-level", 0, false, true },
	[S_PIDFILE] = { "pidfile", 'p', false, false },
	[S_SOCKET] = { "socket", 'S', false, false },
	[S_SOCKET_MODE] = { "socket-mode", 0, false, false },
	[S_SOCKET_USER] = { "socket-user", 0, false, false },
	[S_SOCKET_GROUP] = { "socket-group", 0, false, false },
	[S_SHM_NAME] = { "shm-name", 'M', false, false },
	[S_SHM_DIR] = { "shm-dir", 'm', false, false },
	[S_MEMFD] = { "memfd", 0, true, false },
	[S_SHM_MODE] = { "shm-mode", 0, false, false },
	[S_SHM_USER] = { "shm-user", 0, false, false },
	[S_SHM_GROUP] = { "shm-group", 0, false, false },
	[S_SIZE] = { "size", 'l', false, false },
	[S_RESIZE] = { "resize", 0, true, false },
	[S_VECTORS] = { "vectors", 'n', false, false },
	[S_MAX_QUEUE] = { "max-queue", 0, false, true },
	[S_MAX_PEERS] = { "max-peers", 0, false, true },
	[S_MAX_ID] = { "max-id", 0, false, false },
	[S_ALLOW_USERS] = { "allow-users", 0, false, true },
	[S_ALLOW_GROUPS] = { "allow-groups", 0, false, true },
};

/* getopt values of what is not a setting, and of long-only settings */
enum {
	OPT_HELP = 'h',
	OPT_CONFIG = 'c',
	OPT_VERSION = 0x100,
	OPT_SETTING = 0x200, /* + enum setting */
};

static const char *const level_names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
	[LOG_ERR] = "error", [LOG_WARNING] = "warning",
	[LOG_NOTICE] = "notice", [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

/* Where values come from, and where the first error goes. */
struct source {
	const char *file;  /* NULL: the command line */
	int line;
	int err_line;      /* the line of the error in err, 0 if none */
	char *err;
	size_t errlen;
	bool lists_set[2]; /* allow-users, allow-groups set by this source */
	const char *text;  /* config: what is left to read */
};

__attribute__((format(printf, 2, 3)))
static int fail(struct source *src, const char *fmt, ...)
{
	size_t n = 0;
	va_list ap;

	if (src->err_line)
		return -1; /* keep the first error */
	if (src->file)
		n = (size_t)snprintf(src->err, src->errlen, "%s:%d: ",
				     src->file, src->line);
	if (n < src->errlen) {
		va_start(ap, fmt);
		vsnprintf(src->err + n, src->errlen - n, fmt, ap);
		va_end(ap);
	}
	src->err_line = src->file ? src->line : 1;
	return -1;
}

const char *log_level_name(int level)
{
	return level >= LOG_EMERG && level <= LOG_DEBUG ? level_names[level]
							: "?";
}

int options_init(struct options *o)
{
	*o = (struct options){
		.log_level = LOG_INFO,
		.pid_file = strdup(DEFAULT_PID_FILE),
		.socket_path = strdup(DEFAULT_SOCKET_PATH),
		.socket_perms = { (mode_t)-1, (uid_t)-1, (gid_t)-1 },
		.shm_kind = SHM_POSIX,
		.shm_path = strdup(DEFAULT_SHM_NAME),
		.shm_perms = { (mode_t)-1, (uid_t)-1, (gid_t)-1 },
		.size = DEFAULT_SIZE,
		.vectors = DEFAULT_VECTORS,
		.max_queue = DEFAULT_MAX_QUEUE,
		.max_peers = PROTO_ID_COUNT,
		.max_id = PROTO_ID_MAX,
	};
	if (!o->pid_file || !o->socket_path || !o->shm_path) {
		options_deinit(o);
		return -ENOMEM;
	}
	return 0;
}

void options_deinit(struct options *o)
{
	free(o->config_file);
	free(o->pid_file);
	free(o->socket_path);
	free(o->shm_path);
	o->config_file = o->pid_file = o->socket_path = o->shm_path = NULL;
	idlist_clear(&o->access.users);
	idlist_clear(&o->access.groups);
}

static int set_string(struct source *src, char **field, const char *value)
{
	char *copy = strdup(value);

	if (!copy)
		return fail(src, "out of memory");
	free(*field);
	*field = copy;
	return 0;
}

static int parse_bool(struct source *src, const char *key, const char *value,
		      bool *out)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(value, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(value, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return fail(src, "invalid value '%s' for %s: expected yes or no",
		    value, key);
}

static int parse_level(struct source *src, const char *value, int *out)
{
	uint64_t v;

	if (parse_uint(value, LOG_DEBUG, &v) == 0) {
		*out = (int)v;
		return 0;
	}
	for (int l = LOG_EMERG; l <= LOG_DEBUG; l++) {
		if (strcasecmp(value, level_names[l]) == 0 ||
		    (l == LOG_ERR && strcasecmp(value, "err") == 0) ||
		    (l == LOG_WARNING && strcasecmp(value, "warn") == 0)) {
			*out = l;
			return 0;
		}
	}
	return fail(src, "invalid log level '%s': expected error, warning, "
		    "notice, info or debug", value);
}

static int parse_mode(struct source *src, const char *value, mode_t *out)
{
	size_t len = strlen(value);
	mode_t mode = 0;

	if (len == 0) {
		*out = (mode_t)-1;
		return 0;
	}
	for (size_t i = 0; i < len; i++) {
		if (value[i] < '0' || value[i] > '7' || len > 4) {
			mode = (mode_t)-1;
			break;
		}
		mode = mode * 8 + (mode_t)(value[i] - '0');
	}
	if (mode > 0777)
		return fail(src, "invalid mode '%s': expected octal permissions "
			    "such as 0660", value);
	*out = mode;
	return 0;
}

/* A name, or a number that names none. */
static int lookup_id(const char *value, bool group, uint32_t *out)
{
	uint64_t v;

	if (group) {
		struct group *g = getgrnam(value);

		if (g) {
			*out = g->gr_gid;
			return 0;
		}
	} else {
		struct passwd *p = getpwnam(value);

		if (p) {
			*out = p->pw_uid;
			return 0;
		}
	}
	if (parse_uint(value, UINT32_MAX - 1, &v) == 0 &&
	    strspn(value, "0123456789") == strlen(value)) {
		*out = (uint32_t)v;
		return 0;
	}
	return -ENOENT;
}

static int parse_owner(struct source *src, const char *value, bool group,
		       uint32_t *out)
{
	if (!value[0]) {
		*out = UINT32_MAX;
		return 0;
	}
	if (lookup_id(value, group, out) < 0)
		return fail(src, "unknown %s '%s'", group ? "group" : "user",
			    value);
	return 0;
}

/* The mode (@which 0), user (1) or group (2) of a file. */
static int parse_perm(struct source *src, int which, const char *value,
		      struct file_perms *perms)
{
	if (which == 0)
		return parse_mode(src, value, &perms->mode);
	return parse_owner(src, value, which == 2,
			   which == 1 ? &perms->uid : &perms->gid);
}

/* "alice, bob 1001": names or numbers, split by commas or blanks. */
static int parse_list(struct source *src, const char *value, bool group,
		      struct idlist *list)
{
	const char *p = value;

	while (*p) {
		size_t len = strcspn(p, ", \t");
		char name[256];
		uint32_t id;

		if (len == 0) {
			p++;
			continue;
		}
		if (len >= sizeof(name))
			return fail(src, "%s name too long: '%.*s'",
				    group ? "group" : "user", (int)len, p);
		memcpy(name, p, len);
		name[len] = '\0';
		if (lookup_id(name, group, &id) < 0)
			return fail(src, "unknown %s '%s'",
				    group ? "group" : "user", name);
		if (idlist_add(list, id) < 0)
			return fail(src, "out of memory");
		p += len;
	}
	return 0;
}

static int parse_count(struct source *src, const char *key, const char *value,
		       uint64_t min, uint64_t max, uint64_t *out)
{
	const char *dashes = src->file ? "" : "--";

	if (parse_uint(value, max, out) == 0 && *out >= min)
		return 0;
	if (max >= UINT32_MAX)
		return fail(src, "invalid %s%s '%s': expected a whole number, "
			    "at least %llu", dashes, key, value,
			    (unsigned long long)min);
	return fail(src, "invalid %s%s '%s': expected %llu..%llu", dashes, key,
		    value, (unsigned long long)min, (unsigned long long)max);
}

static int parse_size_value(struct source *src, const char *value,
			    uint64_t *out)
{
	char a[32];
	int r = parse_size(value, out);

	if (r == -EINVAL)
		return fail(src, "invalid size '%s': expected a number of bytes "
			    "with an optional suffix K, M, G, T, P or E", value);
	if (r < 0 || *out > MAX_SIZE)
		return fail(src, "size '%s' is too large: at most %s", value,
			    format_size(a, sizeof(a), MAX_SIZE));
	if (*out == 0)
		return fail(src, "size '%s' is too small: at least 1 byte",
			    value);
	return 0;
}

/* Applies one setting from either source. */
static int set(struct options *o, enum setting s, const char *value,
	       struct source *src)
{
	const char *key = settings[s].key;
	uint64_t v;
	bool b = false;
	int r;

	if (settings[s].flag && parse_bool(src, key, value, &b) < 0)
		return -1;
	switch (s) {
	case S_VERBOSE:
		/* "no" leaves the level as it is: it may come from log-level */
		o->verbose = b;
		if (b)
			o->log_level = LOG_DEBUG;
		return 0;
	case S_FOREGROUND:
		o->foreground = b;
		return 0;
	case S_LOG_LEVEL:
		return parse_level(src, value, &o->log_level);
	case S_PIDFILE:
		return set_string(src, &o->pid_file, value);
	case S_SOCKET:
		return set_string(src, &o->socket_path, value);
	case S_SOCKET_MODE:
	case S_SOCKET_USER:
	case S_SOCKET_GROUP:
		return parse_perm(src, s - S_SOCKET_MODE, value,
				  &o->socket_perms);
	case S_SHM_NAME:
	case S_SHM_DIR:
		o->shm_kind = s == S_SHM_NAME ? SHM_POSIX : SHM_DIR;
		return set_string(src, &o->shm_path, value);
	case S_MEMFD:
		if (b)
			o->shm_kind = SHM_MEMFD;
		else if (o->shm_kind == SHM_MEMFD) {
			o->shm_kind = SHM_POSIX;
			return set_string(src, &o->shm_path, DEFAULT_SHM_NAME);
		}
		return 0;
	case S_SHM_MODE:
	case S_SHM_USER:
	case S_SHM_GROUP:
		return parse_perm(src, s - S_SHM_MODE, value, &o->shm_perms);
	case S_SIZE:
		return parse_size_value(src, value, &o->size);
	case S_RESIZE:
		o->resize = b;
		return 0;
	case S_VECTORS:
		if (parse_uint(value, PROTO_VECTORS_MAX, &v) < 0)
			return fail(src, "invalid number of vectors '%s': "
				    "expected 0..%d", value, PROTO_VECTORS_MAX);
		o->vectors = (unsigned int)v;
		return 0;
	case S_MAX_QUEUE:
		r = parse_count(src, key, value, 1, SIZE_MAX / 2, &v);
		o->max_queue = r < 0 ? o->max_queue : (size_t)v;
		return r;
	case S_MAX_PEERS:
		r = parse_count(src, key, value, 1, PROTO_ID_COUNT, &v);
		o->max_peers = r < 0 ? o->max_peers : (uint32_t)v;
		return r;
	case S_MAX_ID:
		r = parse_count(src, key, value, 0, PROTO_ID_MAX, &v);
		o->max_id = r < 0 ? o->max_id : (uint32_t)v;
		return r;
	case S_ALLOW_USERS:
	case S_ALLOW_GROUPS: {
		bool group = s == S_ALLOW_GROUPS;
		struct idlist *list = group ? &o->access.groups
					    : &o->access.users;

		/* Repeated in one source, a list grows; a later source
		 * replaces it. */
		if (!src->lists_set[group])
			idlist_clear(list);
		src->lists_set[group] = true;
		return parse_list(src, value, group, list);
	}
	case S_COUNT:
		break;
	}
	return fail(src, "unknown setting");
}

/* inih reads lines through this, so that we know the line of each key. */
static char *read_line(char *buf, int size, void *data)
{
	struct source *src = data;
	size_t len;

	if (!*src->text)
		return NULL;
	src->line++;
	len = strcspn(src->text, "\n");
	if (len + 2 > (size_t)size) {
		fail(src, "line too long: at most %d characters", size - 2);
		buf[0] = '\0';
	} else {
		memcpy(buf, src->text, len);
		buf[len] = '\0';
	}
	src->text += len + (src->text[len] == '\n');
	return buf;
}

struct config_ctx {
	struct options *o;
	struct source *src;
};

static int on_key(void *data, const char *section, const char *key,
		  const char *value)
{
	struct config_ctx *c = data;

	if (section[0]) {
		fail(c->src, "unexpected section [%s]: this file has no "
		     "sections", section);
		return 0;
	}
	for (int s = 0; s < S_COUNT; s++)
		if (strcmp(key, settings[s].key) == 0)
			return set(c->o, (enum setting)s, value, c->src) == 0;
	fail(c->src, "unknown key '%s'", key);
	return 0;
}

int options_load_config(struct options *o, const char *text,
			const char *name, char *err, size_t errlen)
{
	struct source src = { .file = name, .err = err, .errlen = errlen,
			      .text = text };
	struct config_ctx c = { .o = o, .src = &src };
	int r;

	/* A value never goes on over the next line: an indented line is an
	 * error rather than a silent continuation. */
	ini_allow_multiline = false;
	r = ini_parse_stream(read_line, &src, on_key, &c);
	if (r > 0 && (!src.err_line || r < src.err_line)) {
		src.err_line = 0;
		src.line = r;
		fail(&src, "syntax error: expected 'key = value'");
	}
	if (r < 0 && !src.err_line)
		fail(&src, "out of memory");
	return src.err_line ? -1 : 0;
}

static int load_config_file(struct options *o, const char *path, char *err,
			    size_t errlen)
{
	FILE *f = fopen(path, "re");
	char *text = NULL;
	size_t len;
	int r = -1;

	if (!f) {
		snprintf(err, errlen, "cannot read config file %s: %s", path,
			 strerror(errno));
		return -1;
	}
	text = malloc(CONFIG_MAX + 1);
	if (!text) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	len = fread(text, 1, CONFIG_MAX + 1, f);
	if (ferror(f)) {
		snprintf(err, errlen, "cannot read config file %s: %s", path,
			 strerror(errno));
		goto out;
	}
	if (len > CONFIG_MAX || memchr(text, '\0', len)) {
		snprintf(err, errlen, "%s: not a config file (%s)", path,
			 len > CONFIG_MAX ? "larger than 1 MiB" : "binary");
		goto out;
	}
	text[len] = '\0';
	r = options_load_config(o, text, path, err, errlen);
out:
	free(text);
	fclose(f);
	return r;
}

static void usage(FILE *out, const char *prog)
{
	fprintf(out,
"Usage: %s [OPTION]...\n"
"Serve ivshmem peers (QEMU's ivshmem-doorbell devices and host programs)\n"
"on a UNIX socket: each gets the shared memory, an id and eventfds.\n"
"\n"
"  -h, --help             show this help\n"
"      --version          show the version\n"
"  -c, --config FILE      read settings from FILE (ivshmem-server.conf(5));\n"
"                         options on the command line take precedence\n"
"  -v, --verbose          verbose mode (needs -F): log level debug\n"
"  -F, --foreground       foreground mode (default is to daemonize)\n"
"      --log-level LEVEL  error, warning, notice, info or debug; default info\n"
"  -p, --pidfile FILE     path to the PID file (used in daemon mode only)\n"
"                         default " DEFAULT_PID_FILE "\n"
"  -S, --socket PATH      path to the unix socket to listen to\n"
"                         default " DEFAULT_SOCKET_PATH "\n"
"      --socket-mode MODE   permissions of the socket, e.g. 0660\n"
"      --socket-user USER   owner of the socket\n"
"      --socket-group GROUP group of the socket\n"
"  -M, --shm-name NAME    POSIX shared memory object to use (reused if it\n"
"                         exists, unlinked at exit if this server created it)\n"
"                         default " DEFAULT_SHM_NAME "\n"
"  -m, --shm-dir DIR      where to create shared memory: a file in DIR,\n"
"                         unlinked at once (hugetlbfs works)\n"
"      --memfd            anonymous shared memory, on no filesystem\n"
"      --shm-mode MODE    permissions of the shared memory; default 0600\n"
"      --shm-user USER    owner of the shared memory\n"
"      --shm-group GROUP  group of the shared memory\n"
"  -l, --size SIZE        size of shared memory in bytes, rounded up to a\n"
"                         power of two; suffixes K, M, G, T, P and E can be\n"
"                         used, e.g. 1K means 1024; default 4M\n"
"      --resize           let -M change the size of an existing object\n"
"  -n, --vectors N        number of vectors per peer, 0..%d; default %d\n"
"      --allow-users LIST   only these users may connect (names or uids,\n"
"                           comma-separated); default: anyone\n"
"      --allow-groups LIST  only members of these groups may connect\n"
"      --max-peers N      peers at once, 1..%d; default %d\n"
"      --max-id N         highest peer id, 0..%d; default %d\n"
"      --max-queue N      messages that may wait for one peer before it is\n"
"                         disconnected as not reading; default %d\n",
		prog, PROTO_VECTORS_MAX, DEFAULT_VECTORS, PROTO_ID_COUNT,
		PROTO_ID_COUNT, PROTO_ID_MAX, PROTO_ID_MAX, DEFAULT_MAX_QUEUE);
}

/* The getopt tables, made from the settings table. */
static void make_getopt(char *shorts, struct option *longs)
{
	size_t n = 0, k = 0;

	shorts[k++] = ':';
	shorts[k++] = 'h';
	shorts[k++] = 'c';
	shorts[k++] = ':';
	longs[n++] = (struct option){ "help", no_argument, NULL, OPT_HELP };
	longs[n++] = (struct option){ "version", no_argument, NULL,
				      OPT_VERSION };
	longs[n++] = (struct option){ "config", required_argument, NULL,
				      OPT_CONFIG };
	for (int s = 0; s < S_COUNT; s++) {
		int val = settings[s].short_opt ? settings[s].short_opt
						: OPT_SETTING + s;

		if (settings[s].short_opt) {
			shorts[k++] = settings[s].short_opt;
			if (!settings[s].flag)
				shorts[k++] = ':';
		}
		longs[n++] = (struct option){
			settings[s].key,
			settings[s].flag ? no_argument : required_argument,
			NULL, val,
		};
	}
	shorts[k] = '\0';
	longs[n] = (struct option){ NULL, 0, NULL, 0 };
}

static int setting_of(int c)
{
	if (c >= OPT_SETTING && c < OPT_SETTING + S_COUNT)
		return c - OPT_SETTING;
	for (int s = 0; s < S_COUNT; s++)
		if (settings[s].short_opt && settings[s].short_opt == c)
			return s;
	return -1;
}

/*
 * Defaults, then the config file, then the command line. Returns 0, 1 for
 * help or version (printed only if @interactive), -1 for an error on the
 * command line, -2 for one in the config file.
 */
static int load(struct options *o, int argc, char **argv, bool interactive,
		char *err, size_t errlen)
{
	struct source cli = { .err = err, .errlen = errlen };
	char shorts[4 + 2 * S_COUNT + 1];
	struct option longs[3 + S_COUNT + 1];
	const char *config = NULL;
	int c;

	if (options_init(o) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	make_getopt(shorts, longs);
	opterr = 0;
	/* First -h, --version and -c: the file comes before the rest. */
	optind = 0;
	while ((c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
		if (c == OPT_HELP && interactive) {
			usage(stdout, "ivshmem-server");
			return 1;
		}
		if (c == OPT_VERSION && interactive) {
			printf("ivshmem-server %s\n", IVSHMEM_VERSION);
			return 1;
		}
		if (c == OPT_CONFIG)
			config = optarg;
	}
	if (config) {
		if (set_string(&cli, &o->config_file, config) < 0)
			return -1;
		if (load_config_file(o, config, err, errlen) < 0)
			return -2;
	}
	optind = 0;
	while ((c = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
		int s = setting_of(c);

		if (s >= 0) {
			if (set(o, (enum setting)s, optarg ? optarg : "yes",
				&cli) < 0)
				return -1;
			continue;
		}
		switch (c) {
		case OPT_HELP:
		case OPT_VERSION:
		case OPT_CONFIG:
			break;
		case ':':
			return fail(&cli, "option '%s' needs an argument",
				    argv[optind - 1]);
		default:
			if (optopt && optopt < 0x100)
				return fail(&cli, "invalid option -- '%c'",
					    optopt);
			return fail(&cli, "unrecognized option '%s'",
				    argv[optind - 1]);
		}
	}
	if (optind < argc)
		return fail(&cli, "unexpected argument '%s'", argv[optind]);
	if (o->verbose && !o->foreground)
		return fail(&cli, "cannot use verbose in daemon mode (add -F)");
	if (o->shm_kind != SHM_MEMFD && !o->shm_path[0])
		return fail(&cli, "empty shared memory %s",
			    o->shm_kind == SHM_POSIX ? "name" : "directory");
	if (!o->socket_path[0])
		return fail(&cli, "empty socket path");
	return 0;
}

int options_parse(struct options *o, int argc, char **argv)
{
	char err[512];
	int r = load(o, argc, argv, true, err, sizeof(err));

	if (r == 0)
		return 0;
	if (r == 1) {
		options_deinit(o);
		return 1;
	}
	fprintf(stderr, "ivshmem-server: %s%s\n", err,
		r == -1 ? " (see ivshmem-server -h)" : "");
	options_deinit(o);
	return -1;
}

int options_reload(struct options *o, int argc, char **argv, char *err,
		   size_t errlen)
{
	int r = load(o, argc, argv, false, err, errlen);

	if (r < 0) {
		options_deinit(o);
		options_init(o);
		return -1;
	}
	return 0;
}

/* The path of a shared-memory kind, NULL when @o uses another kind. */
static const char *shm_path_of(const struct options *o, enum shm_kind kind)
{
	return o->shm_kind == kind ? o->shm_path : NULL;
}

static bool same_string(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

/* The mode (@which 0), user (1) or group (2), as parse_perm() counts. */
static bool same_perm(int which, const struct file_perms *a,
		      const struct file_perms *b)
{
	if (which == 0)
		return a->mode == b->mode;
	return which == 1 ? a->uid == b->uid : a->gid == b->gid;
}

static bool same(enum setting s, const struct options *a,
		 const struct options *b)
{
	switch (s) {
	case S_FOREGROUND:
		return a->foreground == b->foreground;
	case S_PIDFILE:
		return same_string(a->pid_file, b->pid_file);
	case S_SOCKET:
		return same_string(a->socket_path, b->socket_path);
	case S_SOCKET_MODE:
	case S_SOCKET_USER:
	case S_SOCKET_GROUP:
		return same_perm(s - S_SOCKET_MODE, &a->socket_perms,
				 &b->socket_perms);
	case S_SHM_NAME:
		return same_string(shm_path_of(a, SHM_POSIX),
				   shm_path_of(b, SHM_POSIX));
	case S_SHM_DIR:
		return same_string(shm_path_of(a, SHM_DIR),
				   shm_path_of(b, SHM_DIR));
	case S_MEMFD:
		return (a->shm_kind == SHM_MEMFD) == (b->shm_kind == SHM_MEMFD);
	case S_SHM_MODE:
	case S_SHM_USER:
	case S_SHM_GROUP:
		return same_perm(s - S_SHM_MODE, &a->shm_perms, &b->shm_perms);
	case S_SIZE:
		return a->size == b->size;
	case S_RESIZE:
		return a->resize == b->resize;
	case S_VECTORS:
		return a->vectors == b->vectors;
	case S_MAX_ID:
		return a->max_id == b->max_id;
	default:
		return true; /* live settings */
	}
}

size_t options_fixed_changes(const struct options *a, const struct options *b,
			     const char **keys, size_t max)
{
	size_t n = 0;

	for (int s = 0; s < S_COUNT && n < max; s++)
		if (!settings[s].live && !same((enum setting)s, a, b))
			keys[n++] = settings[s].key;
	return n;
}

void options_take_live(struct options *to, struct options *from)
{
	struct access_policy old = to->access;

	to->verbose = from->verbose;
	to->log_level = from->log_level;
	to->max_queue = from->max_queue;
	to->max_peers = from->max_peers;
	to->access = from->access;
	from->access = old;
}
