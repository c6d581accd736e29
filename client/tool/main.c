/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * ivshmem-client: QEMU's interactive client, and scriptable commands
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _WIN32
#include <fcntl.h>
#include <io.h>
#include <windows.h>
#endif

#include "config.h"
#include "parse.h"
#include "tool.h"

/* How long info, peers and notify wait for the server's setup when it
 * does not end in SYNCED (a server with 0 vectors): quiet this long. */
#define SYNC_QUIET_MS 200

enum {
	OPT_PLAIN = 0x100,
	OPT_SIZE,
	OPT_RAW,
	OPT_FILE,
	OPT_TIMEOUT,
	OPT_RECONNECT,
	OPT_VERSION,
	OPT_PCI,
	OPT_UNCACHED,
	OPT_CACHED,
};

/* Which command may take which option */
#define USE_RAW 0x1u
#define USE_FILE 0x2u
#define USE_TIMEOUT 0x4u
#define USE_RECONNECT 0x8u

struct args {
	const char *socket_path;
	const char *plain_path;
	const char *pci_address;
	unsigned pci_flags;  /* IVSHMEM_UNCACHED, IVSHMEM_CACHED */
	const char *size;
	const char *file;
	const char *timeout;
	bool raw;
	bool reconnect;
	bool verbose;
	unsigned used; /* USE_* of the options given */
	char **argv;   /* the command's arguments */
	int argc;
};

/* What a command works on */
enum target {
	ANY_HANDLE,    /* a server, a plain file or a PCI device */
	SERVER,        /* a server: it has peers */
	INTERRUPTS,    /* a server or a PCI device */
	NO_HANDLE,     /* the machine's devices: run(NULL, ...) */
};

struct command {
	const char *name;
	const char *synopsis;
	int min_args, max_args;
	unsigned options;
	enum target target;
	int (*run)(struct ivshmem *h, struct args *a);
};

static const char *prog = "ivshmem-client";

int fail(int code, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

static void on_log(enum ivshmem_log_level level, const char *msg, void *data)
{
	fprintf(stderr, "%s: %s\n", prog, msg);
}

void log_to_stderr(enum ivshmem_log_level max_level)
{
	ivshmem_set_log_handler(on_log, max_level, NULL);
}

/* ---- what differs on Windows ------------------------------------------ */

#ifdef _WIN32
/* The driver's errors say more than an errno: always on stderr */
#define ALWAYS_LOG_ERRORS true
#define READ_MODE "rb"

/* Windows's C library names no error past ERANGE. */
static const char *error_text(int err)
{
	switch (err) {
	case ENOTSUP:
		return "Operation not supported";
	case EPROTO:
		return "Protocol error";
	}
	return strerror(err);
}

/* Not "\n" to "\r\n": the bytes as they are */
static void binary_mode(FILE *f)
{
	_setmode(_fileno(f), _O_BINARY);
}

static uint64_t now_ms(void)
{
	return GetTickCount64();
}

/* ivshmem-client runs in a Windows guest: no server, no plain file. */
static int windows_limits(const struct args *a, const struct command *cmd)
{
	if (a->socket_path || a->plain_path)
		return fail(EXIT_USAGE, "--socket and --plain are not available "
			    "on Windows, which can only be a guest: use --pci "
			    "ADDRESS (see 'list')");
	if (cmd->target == SERVER)
		return fail(EXIT_USAGE, "%s needs an ivshmem-server, which is not "
			    "available on Windows", cmd->name);
	if (cmd->target != NO_HANDLE && !a->pci_address)
		return fail(EXIT_USAGE, "%s: on Windows, give --pci ADDRESS (see "
			    "'list')", cmd->name);
	return -1;
}
#else
#define ALWAYS_LOG_ERRORS false
#define READ_MODE "rbe"

static const char *error_text(int err)
{
	return strerror(err);
}

static void binary_mode(FILE *f)
{
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int windows_limits(const struct args *a, const struct command *cmd)
{
	return -1;
}
#endif

/* A number as users type it: decimal, 0x hex, or with a K/M/G suffix. */
static int number(const char *text, uint64_t max, uint64_t *out,
		  const char *what)
{
	int r = parse_number(text, max, out);

	if (r == -EINVAL && parse_size(text, out) == 0)
		r = *out > max ? -ERANGE : 0;
	if (r == -EINVAL)
		return fail(EXIT_NUMBER, "invalid %s '%s': not a number", what,
			    text);
	if (r < 0)
		return fail(EXIT_RANGE, "%s %s is out of range (at most %llu)",
			    what, text, (unsigned long long)max);
	return 0;
}

/* Library errors of the commands, mapped to exit codes. */
static int failed(int r, const char *what)
{
	int code = EXIT_ERROR;

	switch (r) {
	case -ERANGE:
	case -ENOENT:
	case -EINVAL:
		code = EXIT_RANGE;
		break;
	case -ETIMEDOUT:
		code = EXIT_TIMEOUT;
		break;
	case -ENOTCONN:
		code = EXIT_LOST;
		break;
	}
	return fail(code, "%s: %s", what, error_text(-r));
}

/* ---- waiting for the server's setup ----------------------------------- */

static void on_synced(struct ivshmem *h, enum ivshmem_server_event event,
		      void *data)
{
	if (event == IVSHMEM_SERVER_SYNCED)
		*(bool *)data = true;
}

static int sync_setup(struct ivshmem *h, const struct args *a)
{
	bool synced = false;
	int r;

	if (a->plain_path || a->pci_address)
		return 0; /* nothing comes after the open */
	ivshmem_on_server(h, on_synced, &synced);
	do
		r = ivshmem_dispatch(h, SYNC_QUIET_MS);
	while (!synced && r > 0);
	ivshmem_on_server(h, NULL, NULL);
	return r < 0 ? failed(r, "waiting for the server") : 0;
}

/* ---- the commands ----------------------------------------------------- */

/* Prints the peers' ids, one a line or each after a space. */
static void print_ids(struct ivshmem *h, bool lines)
{
	uint16_t ids[IVSHMEM_PEER_MAX + 1];
	int n = ivshmem_peers(h, ids, IVSHMEM_PEER_MAX + 1);

	for (int i = 0; i < n; i++)
		printf(lines ? "%u\n" : " %u", ids[i]);
}

static int cmd_info(struct ivshmem *h, struct args *a)
{
	int id, r = sync_setup(h, a);

	if (r)
		return r;
	printf("backend: %s\n", a->pci_address ? "pci" :
	       a->plain_path ? "plain" : "doorbell");
	printf("size: %llu\n", (unsigned long long)ivshmem_size(h));
	id = ivshmem_own_id(h);
	if (id == -ENOTSUP)
		return EXIT_OK; /* plain */
	printf("id: %d\n", id);
	r = ivshmem_vectors(h, id);
	if (r >= 0)
		printf("vectors: %d\n", r);
	else
		printf("vectors: unknown\n"); /* a guest that cannot tell */
	if (a->pci_address)
		return EXIT_OK; /* a guest has no peer list */
	printf("peers:");
	print_ids(h, false);
	printf("\n");
	return EXIT_OK;
}

static int cmd_peers(struct ivshmem *h, struct args *a)
{
	int r = sync_setup(h, a);

	if (r)
		return r;
	print_ids(h, true);
	return EXIT_OK;
}

/* OFFSET and LENGTH within the memory */
static int range(struct ivshmem *h, const char *offset, const char *length,
		 uint64_t *off, uint64_t *len)
{
	uint64_t size = ivshmem_size(h);
	int r = number(offset, UINT64_MAX, off, "offset");

	if (r == 0 && length)
		r = number(length, UINT64_MAX, len, "length");
	if (r)
		return r;
	if (*off > size || *len > size - *off)
		return fail(EXIT_RANGE, "%llu bytes at offset %llu are outside "
			    "the shared memory (%llu bytes)",
			    (unsigned long long)*len,
			    (unsigned long long)*off,
			    (unsigned long long)size);
	return 0;
}

static void hexdump_line(uint64_t addr, const uint8_t *p, size_t n)
{
	printf("%08llx ", (unsigned long long)addr);
	for (size_t i = 0; i < 16; i++) {
		if (i == 8)
			printf(" ");
		if (i < n)
			printf(" %02x", p[i]);
		else
			printf("   ");
	}
	printf("  |");
	for (size_t i = 0; i < n; i++)
		putchar(p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '.');
	printf("|\n");
}

static int cmd_read(struct ivshmem *h, struct args *a)
{
	uint8_t buf[65536];
	uint64_t off, len;
	int r = range(h, a->argv[0], a->argv[1], &off, &len);

	if (a->raw)
		binary_mode(stdout);
	while (r == 0 && len) {
		size_t n = len < sizeof(buf) ? (size_t)len : sizeof(buf);

		r = ivshmem_read(h, off, buf, n);
		if (r < 0)
			return failed(r, "read");
		if (a->raw && fwrite(buf, 1, n, stdout) != n)
			return fail(EXIT_ERROR, "write error: %s",
				    strerror(errno));
		for (size_t i = 0; !a->raw && i < n; i += 16)
			hexdump_line(off + i, buf + i, n - i < 16 ? n - i : 16);
		off += n;
		len -= n;
	}
	return r;
}

/* Reads all of @path ("-": stdin), up to @max bytes. */
static int slurp(const char *path, uint64_t max, char **out, size_t *len)
{
	FILE *f = strcmp(path, "-") ? fopen(path, READ_MODE) : stdin;
	size_t cap = 0, n = 0;
	char *buf = NULL;
	int code = EXIT_OK;

	if (!f)
		return fail(EXIT_ERROR, "cannot open %s: %s", path,
			    strerror(errno));
	if (f == stdin)
		binary_mode(stdin);
	for (;;) {
		size_t got;

		if (n == cap) {
			char *b = cap < (1u << 30) ?
				  realloc(buf, cap ? 2 * cap : 4096) : NULL;

			if (!b) {
				code = fail(EXIT_ERROR, "%s is too large",
					    path);
				break;
			}
			buf = b;
			cap = cap ? 2 * cap : 4096;
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (n > max) {
			code = fail(EXIT_RANGE, "%s does not fit in the "
				    "shared memory at that offset", path);
			break;
		}
		if (got == 0) {
			if (ferror(f))
				code = fail(EXIT_ERROR, "cannot read %s",
					    path);
			break;
		}
	}
	if (f != stdin)
		fclose(f);
	if (code) {
		free(buf);
		return code;
	}
	*out = buf;
	*len = n;
	return EXIT_OK;
}

static int cmd_write(struct ivshmem *h, struct args *a)
{
	uint64_t off, len = 0;
	char *data = NULL;
	size_t n = 0;
	int r;

	if (!a->file == (a->argc == 1))
		return fail(EXIT_USAGE, "write needs DATA or --file, not both");
	r = range(h, a->argv[0], NULL, &off, &len);
	if (r)
		return r;
	if (a->file) {
		r = slurp(a->file, ivshmem_size(h) - off, &data, &n);
		if (r)
			return r;
	} else {
		n = strlen(a->argv[1]);
	}
	r = ivshmem_write(h, off, data ? data : a->argv[1], n);
	free(data);
	return r < 0 ? failed(r, "write") : EXIT_OK;
}

static int peer_and_vector(struct args *a, int *peer, int *vector)
{
	uint64_t p = 0, v = 0;
	int r = number(a->argv[0], IVSHMEM_PEER_MAX, &p, "peer");

	if (r == 0)
		r = number(a->argv[a->argc - 1], IVSHMEM_VECTORS_MAX - 1, &v,
			   "vector");
	*peer = (int)p;
	*vector = (int)v;
	return r;
}

static int cmd_notify(struct ivshmem *h, struct args *a)
{
	int peer, vector;
	int r = peer_and_vector(a, &peer, &vector);

	if (r == 0)
		r = sync_setup(h, a);
	if (r)
		return r;
	r = ivshmem_notify(h, peer, vector);
	if (r == -ENOENT)
		return fail(EXIT_RANGE, "no peer %d", peer);
	if (r == -EINVAL)
		return fail(EXIT_RANGE, "peer %d has no vector %d", peer,
			    vector);
	return r < 0 ? failed(r, "notify") : EXIT_OK;
}

static int timeout_ms(struct args *a, int *out)
{
	uint64_t ms;
	int r;

	*out = -1;
	if (!a->timeout)
		return 0;
	r = number(a->timeout, INT_MAX, &ms, "timeout");
	*out = (int)ms;
	return r;
}

static int cmd_wait(struct ivshmem *h, struct args *a)
{
	uint64_t vector;
	int timeout, r;

	r = number(a->argv[0], IVSHMEM_VECTORS_MAX - 1, &vector, "vector");
	if (r == 0)
		r = timeout_ms(a, &timeout);
	if (r)
		return r;
	r = ivshmem_wait(h, (int)vector, timeout);
	if (r == -ETIMEDOUT)
		return fail(EXIT_TIMEOUT, "no interrupt on vector %d in %d ms",
			    (int)vector, timeout);
	if (r == -EINVAL)
		return fail(EXIT_RANGE, "we have no vector %d", (int)vector);
	return r < 0 ? failed(r, "wait") : EXIT_OK;
}

struct monitor {
	bool lost;
};

static void monitor_interrupt(struct ivshmem *h, int vector, uint64_t count,
			      void *data)
{
	printf("interrupt %d %llu\n", vector, (unsigned long long)count);
}

static void monitor_peer(struct ivshmem *h, int peer,
			 enum ivshmem_peer_event event, void *data)
{
	printf("%s %d\n", event == IVSHMEM_PEER_JOINED ? "joined" : "left",
	       peer);
}

static void monitor_server(struct ivshmem *h, enum ivshmem_server_event event,
			   void *data)
{
	struct monitor *m = data;

	switch (event) {
	case IVSHMEM_SERVER_SYNCED:
		printf("synced\n");
		break;
	case IVSHMEM_SERVER_LOST:
		printf("lost\n");
		m->lost = true;
		break;
	case IVSHMEM_SERVER_RECONNECTED:
		printf("reconnected %d\n", ivshmem_own_id(h));
		break;
	case IVSHMEM_SERVER_MEMORY_CHANGED:
		printf("memory-changed %d\n", ivshmem_own_id(h));
		ivshmem_remap(h);
		break;
	}
}

static int cmd_monitor(struct ivshmem *h, struct args *a)
{
	struct monitor m = { 0 };
	uint64_t deadline;
	int timeout, r;

	r = timeout_ms(a, &timeout);
	if (r)
		return r;
	setvbuf(stdout, NULL, _IOLBF, 0);
	ivshmem_on_interrupt(h, IVSHMEM_ALL_VECTORS, monitor_interrupt, NULL);
	ivshmem_on_peer(h, monitor_peer, NULL);
	ivshmem_on_server(h, monitor_server, &m);
	printf("id %d\n", ivshmem_own_id(h));
	/* a guest's device may have no interrupts: say so rather than wait
	 * forever (the handlers print what this finds) */
	if (a->pci_address && ivshmem_wait(h, 0, 0) == -ENOTSUP)
		return failed(-ENOTSUP, "monitor");
	deadline = now_ms() + (uint64_t)timeout;
	for (;;) {
		uint64_t now = now_ms();

		if (timeout >= 0 && now >= deadline)
			return EXIT_OK;
		r = ivshmem_dispatch(h, timeout < 0 ? -1 :
					(int)(deadline - now));
		if (r < 0 && r != -EINTR)
			return failed(r, "monitor");
		if (m.lost && !a->reconnect)
			return fail(EXIT_LOST, "lost the server");
	}
}

static int cmd_list(struct ivshmem *h, struct args *a)
{
	struct ivshmem_pci_device dev[64];
	int n = ivshmem_list_pci(dev, 64);

	if (n < 0)
		return failed(n, "list");
	for (int i = 0; i < n && i < 64; i++)
		printf("%s %s %llu %s\n", dev[i].address,
		       dev[i].doorbell < 0 ? "unknown" :
		       dev[i].doorbell ? "doorbell" : "plain",
		       (unsigned long long)dev[i].size,
		       dev[i].driver[0] ? dev[i].driver : "-");
	return EXIT_OK;
}

static int cmd_bind_vfio(struct ivshmem *h, struct args *a)
{
	int r = ivshmem_bind_vfio(a->argv[0]);

	/* the library has said why, on stderr */
	if (r == -EINVAL || r == -ENODEV)
		return fail(r == -EINVAL ? EXIT_USAGE : EXIT_CONNECT,
			    "bind-vfio %s: %s", a->argv[0], error_text(-r));
	return r < 0 ? failed(r, "bind-vfio") : EXIT_OK;
}

static const struct command commands[] = {
	{ "info", "info", 0, 0, 0, ANY_HANDLE, cmd_info },
	{ "peers", "peers", 0, 0, 0, SERVER, cmd_peers },
	{ "read", "read OFFSET LENGTH [--raw]", 2, 2, USE_RAW, ANY_HANDLE,
	  cmd_read },
	{ "write", "write OFFSET DATA | write OFFSET --file FILE", 1, 2,
	  USE_FILE, ANY_HANDLE, cmd_write },
	{ "notify", "notify PEER VECTOR", 2, 2, 0, INTERRUPTS, cmd_notify },
	{ "wait", "wait VECTOR [--timeout MS]", 1, 1, USE_TIMEOUT, INTERRUPTS,
	  cmd_wait },
	{ "monitor", "monitor [--timeout MS] [--reconnect]", 0, 0,
	  USE_TIMEOUT | USE_RECONNECT, INTERRUPTS, cmd_monitor },
	{ "list", "list", 0, 0, 0, NO_HANDLE, cmd_list },
	{ "bind-vfio", "bind-vfio ADDRESS", 1, 1, 0, NO_HANDLE,
	  cmd_bind_vfio },
};

static void usage(FILE *out)
{
	fprintf(out,
"Usage: %s [-v] [-S PATH]\n"
"       %s [-v] [--socket PATH | --plain PATH [--size SIZE] |\n"
"              --pci ADDRESS [--uncached | --cached]] COMMAND\n"
"Use ivshmem shared memory and interrupts, on the host or in a guest.\n"
"\n"
"Without a command: QEMU's interactive ivshmem-client. Type help.\n"
"\n"
"  -h, --help             show this help\n"
"  -v, --verbose          with a command: all the library's messages, on\n"
"                         stderr (its errors are there anyway with --pci,\n"
"                         list and bind-vfio); without: QEMU's client's\n"
"                         -v lines\n"
"  -S, --socket PATH      the ivshmem-server's socket\n"
"                         default " DEFAULT_SOCKET_PATH "\n"
"      --plain PATH       a plain shared-memory file instead of a server\n"
"      --size SIZE        with --plain: create or grow the file to SIZE\n"
"                         (suffixes K, M, G...: 1K = 1024)\n"
"      --pci ADDRESS      in a guest: the ivshmem PCI device at ADDRESS\n"
"                         (0000:00:03.0; see list), mapped write-combined\n"
"      --uncached         with --pci: map the memory uncached\n"
"      --cached           with --pci: map it cached (Windows only)\n"
"      --version          show the version\n"
"\n"
"Commands:\n"
"  info                   size, our id, our vectors and the peers\n"
"  peers                  the peers' ids, one a line\n"
"  read OFFSET LENGTH     hex dump of the memory; --raw: the bytes\n"
"  write OFFSET DATA      write the bytes of DATA; or --file FILE (- is\n"
"                         stdin) instead of DATA\n"
"  notify PEER VECTOR     interrupt a peer\n"
"  wait VECTOR            wait for an interrupt; --timeout MS\n"
"  monitor                print one line per event: 'joined ID', 'left ID',\n"
"                         'interrupt VECTOR COUNT', 'synced', 'lost';\n"
"                         --timeout MS to stop; --reconnect to go on\n"
"                         after the server is lost ('reconnected ID',\n"
"                         'memory-changed ID')\n"
"  list                   in a guest: the ivshmem PCI devices, a line each:\n"
"                         ADDRESS doorbell|plain|unknown SIZE DRIVER|-\n"
"  bind-vfio ADDRESS      in a Linux guest: bind the device to vfio-pci, so\n"
"                         that wait and monitor get its interrupts (root,\n"
"                         an IOMMU, the modules vfio-pci, vfio_iommu_type1)\n"
"Numbers are decimal, 0x hex, or with a suffix K, M, G, T, P, E.\n"
"\n"
"Exit status: 0 success, 1 bad option, argument or command, 2 not a\n"
"number, 3 out of range (offset, length, peer, vector), 4 cannot connect\n"
"or open, 5 timeout, 6 server lost, 7 other errors.\n",
		prog, prog);
}

static const struct option long_options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "socket", required_argument, NULL, 'S' },
	{ "plain", required_argument, NULL, OPT_PLAIN },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "raw", no_argument, NULL, OPT_RAW },
	{ "file", required_argument, NULL, OPT_FILE },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "reconnect", no_argument, NULL, OPT_RECONNECT },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ "pci", required_argument, NULL, OPT_PCI },
	{ "uncached", no_argument, NULL, OPT_UNCACHED },
	{ "cached", no_argument, NULL, OPT_CACHED },
	{ NULL, 0, NULL, 0 },
};

__attribute__((format(printf, 1, 2)))
static int bad_usage(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see %s --help)\n", prog);
	return EXIT_USAGE;
}

/* Returns -1 to go on, else an exit code. */
static int parse_args(struct args *a, int argc, char **argv)
{
	int c;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hvS:", long_options,
				NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'v':
			a->verbose = true;
			break;
		case 'S':
			a->socket_path = optarg;
			break;
		case OPT_PLAIN:
			a->plain_path = optarg;
			break;
		case OPT_SIZE:
			a->size = optarg;
			break;
		case OPT_RAW:
			a->raw = true;
			a->used |= USE_RAW;
			break;
		case OPT_FILE:
			a->file = optarg;
			a->used |= USE_FILE;
			break;
		case OPT_TIMEOUT:
			a->timeout = optarg;
			a->used |= USE_TIMEOUT;
			break;
		case OPT_RECONNECT:
			a->reconnect = true;
			a->used |= USE_RECONNECT;
			break;
		case OPT_VERSION:
			printf("%s %s\n", prog, IVSHMEM_VERSION);
			return EXIT_OK;
		case OPT_PCI:
			a->pci_address = optarg;
			break;
		case OPT_UNCACHED:
			a->pci_flags |= IVSHMEM_UNCACHED;
			break;
		case OPT_CACHED:
			a->pci_flags |= IVSHMEM_CACHED;
			break;
		case ':':
			return bad_usage("option '%s' needs an argument",
					 argv[optind - 1]);
		default:
			return bad_usage("unknown option '%s'",
					 argv[optind - 1]);
		}
	}
	a->argv = argv + optind;
	a->argc = argc - optind;
	if (!!a->socket_path + !!a->plain_path + !!a->pci_address > 1)
		return bad_usage("%s", "--socket, --plain and --pci exclude each "
				 "other");
	if (a->pci_flags && !a->pci_address)
		return bad_usage("%s", "--uncached and --cached need --pci");
	if (a->pci_flags == (IVSHMEM_UNCACHED | IVSHMEM_CACHED))
		return bad_usage("%s", "--uncached and --cached exclude each "
				 "other");
	if (a->size && !a->plain_path)
		return bad_usage("%s", "--size needs --plain");
	return -1;
}

static int open_handle(const struct args *a, struct ivshmem **h)
{
	uint64_t size = 0;
	int r;

	if (a->pci_address) {
		r = ivshmem_open_pci(h, a->pci_address, a->pci_flags);
		if (r < 0)
			return fail(r == -EINVAL ? EXIT_USAGE : EXIT_CONNECT,
				    "cannot open the ivshmem device %s: %s",
				    a->pci_address, error_text(-r));
		return 0;
	}
	if (a->plain_path) {
		if (a->size) {
			r = number(a->size, UINT64_MAX, &size, "size");
			if (r)
				return r;
		}
		r = ivshmem_open_plain(h, a->plain_path, size,
				       size ? IVSHMEM_CREATE | IVSHMEM_GROW : 0);
		if (r < 0)
			return fail(EXIT_CONNECT, "cannot open %s: %s",
				    a->plain_path, strerror(-r));
		return 0;
	}
	r = ivshmem_open_doorbell(h, a->socket_path,
				  a->reconnect ? IVSHMEM_RECONNECT : 0);
	if (r < 0)
		return fail(EXIT_CONNECT, "cannot connect to %s: %s",
			    a->socket_path, strerror(-r));
	return 0;
}

int main(int argc, char **argv)
{
	struct args a = { 0 };
	const struct command *cmd = NULL;
	struct ivshmem *h;
	int r;

	r = parse_args(&a, argc, argv);
	if (r >= 0)
		return r;
	if (a.argc == 0) {
		if (a.plain_path || a.pci_address || a.used)
			return bad_usage("%s", "these options need a command");
		/* -v there prints QEMU's client's lines, not the library's */
		return interactive(a.socket_path ? a.socket_path :
				   DEFAULT_SOCKET_PATH, a.verbose);
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++)
		if (!strcmp(a.argv[0], commands[i].name))
			cmd = &commands[i];
	if (!cmd)
		return bad_usage("unknown command '%s'", a.argv[0]);
	if (a.verbose)
		log_to_stderr(IVSHMEM_LOG_DEBUG);
	else if (a.pci_address || cmd->target == NO_HANDLE ||
		 ALWAYS_LOG_ERRORS)
		/* in a guest, the library's errors say what to do */
		log_to_stderr(IVSHMEM_LOG_ERROR);
	a.argv++;
	a.argc--;
	if (a.argc < cmd->min_args || a.argc > cmd->max_args)
		return bad_usage("usage: %s", cmd->synopsis);
	if (a.used & ~cmd->options)
		return bad_usage("option not valid here: %s", cmd->synopsis);
	r = windows_limits(&a, cmd);
	if (r >= 0)
		return r;
	if (cmd->target == NO_HANDLE) {
		if (a.socket_path || a.plain_path || a.pci_address)
			return bad_usage("%s takes no --socket, --plain or "
					 "--pci", cmd->name);
		r = cmd->run(NULL, &a);
		fflush(stdout);
		return r;
	}
	if (cmd->target == SERVER && (a.plain_path || a.pci_address))
		return bad_usage("%s needs a server", cmd->name);
	if (cmd->target == INTERRUPTS && a.plain_path)
		return bad_usage("%s needs a server or --pci, not --plain",
				 cmd->name);
	if (!a.socket_path)
		a.socket_path = DEFAULT_SOCKET_PATH;
	r = open_handle(&a, &h);
	if (r)
		return r;
	r = cmd->run(h, &a);
	ivshmem_close(h);
	if (fflush(stdout) != 0 && r == EXIT_OK)
		r = fail(EXIT_ERROR, "write error: %s", strerror(errno));
	return r;
}
