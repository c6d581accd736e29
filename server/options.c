/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * The server's command line: QEMU's ivshmem-server flags, plus long ones
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "options.h"
#include "parse.h"
#include "protocol.h"

enum {
	OPT_MEMFD = 0x100,
	OPT_RESIZE,
	OPT_MAX_QUEUE,
	OPT_VERSION,
};

static const char short_options[] = ":hvFp:S:m:M:l:n:";

static const struct option long_options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "foreground", no_argument, NULL, 'F' },
	{ "pidfile", required_argument, NULL, 'p' },
	{ "socket", required_argument, NULL, 'S' },
	{ "shm-name", required_argument, NULL, 'M' },
	{ "shm-dir", required_argument, NULL, 'm' },
	{ "memfd", no_argument, NULL, OPT_MEMFD },
	{ "size", required_argument, NULL, 'l' },
	{ "resize", no_argument, NULL, OPT_RESIZE },
	{ "vectors", required_argument, NULL, 'n' },
	{ "max-queue", required_argument, NULL, OPT_MAX_QUEUE },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

void options_init(struct options *o)
{
	*o = (struct options){
		.pid_file = DEFAULT_PID_FILE,
		.socket_path = DEFAULT_SOCKET_PATH,
		.shm_kind = SHM_POSIX,
		.shm_path = DEFAULT_SHM_NAME,
		.size = DEFAULT_SIZE,
		.vectors = DEFAULT_VECTORS,
		.max_queue = DEFAULT_MAX_QUEUE,
	};
}

static void usage(FILE *out, const char *prog)
{
	fprintf(out,
"Usage: %s [OPTION]...\n"
"Serve ivshmem peers (QEMU's ivshmem-doorbell devices and host programs)\n"
"on a UNIX socket: each gets the shared memory, an id and eventfds.\n"
"\n"
"  -h, --help             show this help\n"
"  -v, --verbose          verbose mode (needs -F)\n"
"  -F, --foreground       foreground mode (default is to daemonize)\n"
"  -p, --pidfile FILE     path to the PID file (used in daemon mode only)\n"
"                         default " DEFAULT_PID_FILE "\n"
"  -S, --socket PATH      path to the unix socket to listen to\n"
"                         default " DEFAULT_SOCKET_PATH "\n"
"  -M, --shm-name NAME    POSIX shared memory object to use (reused if it\n"
"                         exists, unlinked at exit if this server created it)\n"
"                         default " DEFAULT_SHM_NAME "\n"
"  -m, --shm-dir DIR      where to create shared memory: a file in DIR,\n"
"                         unlinked at once (hugetlbfs works)\n"
"      --memfd            anonymous shared memory, on no filesystem\n"
"  -l, --size SIZE        size of shared memory in bytes, rounded up to a\n"
"                         power of two; suffixes K, M, G, T, P and E can be\n"
"                         used, e.g. 1K means 1024; default 4M\n"
"      --resize           let -M change the size of an existing object\n"
"  -n, --vectors N        number of vectors per peer, 0..%d; default %d\n"
"      --max-queue N      messages that may wait for one peer before it is\n"
"                         disconnected as not reading; default %d\n"
"      --version          show the version\n",
		prog, PROTO_VECTORS_MAX, DEFAULT_VECTORS, DEFAULT_MAX_QUEUE);
}

__attribute__((format(printf, 2, 3)))
static int bad(const char *prog, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s -h' for more information.\n", prog);
	return -1;
}

static int parse_size_option(const char *prog, const char *arg, uint64_t *out)
{
	char a[32];
	int r = parse_size(arg, out);

	if (r == -EINVAL)
		return bad(prog, "invalid size '%s': expected a number of bytes "
			   "with an optional suffix K, M, G, T, P or E", arg);
	if (r < 0 || *out > MAX_SIZE)
		return bad(prog, "size '%s' is too large: at most %s", arg,
			   format_size(a, sizeof(a), MAX_SIZE));
	if (*out == 0)
		return bad(prog, "size '%s' is too small: at least 1 byte", arg);
	return 0;
}

int options_parse(struct options *o, int argc, char **argv)
{
	const char *prog = "ivshmem-server";
	uint64_t v;
	int c;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, short_options, long_options,
				NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout, prog);
			return 1;
		case OPT_VERSION:
			printf("ivshmem-server %s\n", IVSHMEM_VERSION);
			return 1;
		case 'v':
			o->verbose = true;
			break;
		case 'F':
			o->foreground = true;
			break;
		case 'p':
			o->pid_file = optarg;
			break;
		case 'S':
			o->socket_path = optarg;
			break;
		case 'M':
		case 'm':
			o->shm_kind = c == 'M' ? SHM_POSIX : SHM_DIR;
			o->shm_path = optarg;
			break;
		case OPT_MEMFD:
			o->shm_kind = SHM_MEMFD;
			break;
		case 'l':
			if (parse_size_option(prog, optarg, &o->size) < 0)
				return -1;
			break;
		case OPT_RESIZE:
			o->resize = true;
			break;
		case 'n':
			if (parse_uint(optarg, PROTO_VECTORS_MAX, &v) < 0)
				return bad(prog, "invalid number of vectors "
					   "'%s': expected 0..%d", optarg,
					   PROTO_VECTORS_MAX);
			o->vectors = (unsigned int)v;
			break;
		case OPT_MAX_QUEUE:
			if (parse_uint(optarg, SIZE_MAX / 2, &v) < 0 || v < 1)
				return bad(prog, "invalid --max-queue '%s': "
					   "expected a number of messages, at "
					   "least 1", optarg);
			o->max_queue = (size_t)v;
			break;
		case ':':
			return bad(prog, "option '%s' needs an argument",
				   argv[optind - 1]);
		default:
			if (optopt && optopt < 0x100)
				return bad(prog, "invalid option -- '%c'",
					   optopt);
			return bad(prog, "unrecognized option '%s'",
				   argv[optind - 1]);
		}
	}
	if (optind < argc)
		return bad(prog, "unexpected argument '%s'", argv[optind]);
	if (o->verbose && !o->foreground)
		return bad(prog, "cannot use verbose in daemon mode (add -F)");
	if ((o->shm_kind != SHM_MEMFD) && !o->shm_path[0])
		return bad(prog, "empty shared memory %s",
			   o->shm_kind == SHM_POSIX ? "name" : "directory");
	if (!o->socket_path[0])
		return bad(prog, "empty socket path");
	return 0;
}
