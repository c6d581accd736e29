/* SPDX-License-Identifier: LGPL-3.0-or-later */
/*
 * Unit tests of the settings: config file, command line, precedence,
 * reload, allow-lists
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include "access.h"
#include "options.h"

static char err[512];

static void config_ok(struct options *o, const char *text)
{
	if (options_load_config(o, text, "test.conf", err, sizeof(err)) != 0)
		fail_msg("refused: %s", err);
}

static void config_refused(const char *text, const char *message)
{
	struct options o;

	assert_int_equal(options_init(&o), 0);
	err[0] = '\0';
	assert_int_equal(options_load_config(&o, text, "test.conf", err,
					     sizeof(err)), -1);
	if (!strstr(err, message))
		fail_msg("error '%s' does not say '%s'", err, message);
	options_deinit(&o);
}

static void test_defaults(void **state)
{
	struct options o;

	(void)state;
	assert_int_equal(options_init(&o), 0);
	assert_string_equal(o.socket_path, DEFAULT_SOCKET_PATH);
	assert_string_equal(o.shm_path, DEFAULT_SHM_NAME);
	assert_int_equal(o.shm_kind, SHM_POSIX);
	assert_int_equal(o.size, DEFAULT_SIZE);
	assert_int_equal(o.vectors, 1);
	assert_int_equal(o.max_peers, 65536);
	assert_int_equal(o.max_id, 65535);
	assert_int_equal(o.log_level, LOG_INFO);
	assert_int_equal(o.socket_perms.mode, (mode_t)-1);
	assert_true(access_open(&o.access));
	options_deinit(&o);
	options_deinit(&o); /* twice is fine */
}

static void test_every_key(void **state)
{
	struct options o;

	(void)state;
	assert_int_equal(options_init(&o), 0);
	config_ok(&o,
		  "# a comment\n"
		  "; another\n"
		  "\n"
		  "verbose = no\n"
		  "foreground = yes\n"
		  "log-level = warning\n"
		  "pidfile = /run/x.pid\n"
		  "socket = /run/x.sock\n"
		  "socket-mode = 0660\n"
		  "socket-user = root\n"
		  "socket-group = 0\n"
		  "shm-name = vm\n"
		  "shm-mode = 640\n"
		  "shm-user = 65534\n"
		  "shm-group = root\n"
		  "size = 64M\n"
		  "resize = true\n"
		  "vectors = 8   ; inline comment\n"
		  "max-queue = 100\n"
		  "max-peers = 10\n"
		  "max-id = 99\n"
		  "allow-users = root, 1000\n"
		  "allow-users = 1001\n"
		  "allow-groups = root 2000\n");
	assert_true(o.foreground);
	assert_int_equal(o.log_level, LOG_WARNING);
	assert_string_equal(o.pid_file, "/run/x.pid");
	assert_string_equal(o.socket_path, "/run/x.sock");
	assert_int_equal(o.socket_perms.mode, 0660);
	assert_int_equal(o.socket_perms.uid, 0);
	assert_int_equal(o.socket_perms.gid, 0);
	assert_int_equal(o.shm_kind, SHM_POSIX);
	assert_string_equal(o.shm_path, "vm");
	assert_int_equal(o.shm_perms.mode, 0640);
	assert_int_equal(o.shm_perms.uid, 65534);
	assert_int_equal(o.size, 64 << 20);
	assert_true(o.resize);
	assert_int_equal(o.vectors, 8);
	assert_int_equal(o.max_queue, 100);
	assert_int_equal(o.max_peers, 10);
	assert_int_equal(o.max_id, 99);
	/* repeated in one file, a list grows */
	assert_int_equal(o.access.users.count, 3);
	assert_true(idlist_has(&o.access.users, 0));
	assert_true(idlist_has(&o.access.users, 1000));
	assert_true(idlist_has(&o.access.users, 1001));
	assert_int_equal(o.access.groups.count, 2);
	config_ok(&o, "memfd = yes\n");
	assert_int_equal(o.shm_kind, SHM_MEMFD);
	config_ok(&o, "shm-dir = /dev/hugepages\n");
	assert_int_equal(o.shm_kind, SHM_DIR);
	options_deinit(&o);
}

static void test_errors_name_file_and_line(void **state)
{
	(void)state;
	config_refused("vectors = 2\n\nbogus = 1\n",
		       "test.conf:3: unknown key 'bogus'");
	config_refused("vectors = 2049\n",
		       "test.conf:1: invalid number of vectors '2049'");
	config_refused("size = 12Q\n", "test.conf:1: invalid size '12Q'");
	config_refused("size = 0\n", "too small");
	config_refused("\n\nno equals sign\n",
		       "test.conf:3: syntax error: expected 'key = value'");
	config_refused("[server]\nvectors = 1\n",
		       "test.conf:2: unexpected section [server]");
	config_refused("socket-mode = 0999\n", "test.conf:1: invalid mode '0999'");
	config_refused("socket-mode = 07777\n", "invalid mode '07777'");
	config_refused("socket-mode = rw\n", "invalid mode 'rw'");
	config_refused("socket-user = no-such-user-here\n",
		       "test.conf:1: unknown user 'no-such-user-here'");
	config_refused("socket-group = no-such-group-here\n",
		       "unknown group 'no-such-group-here'");
	config_refused("allow-users = root, no-such-user-here\n",
		       "unknown user 'no-such-user-here'");
	config_refused("foreground = maybe\n",
		       "invalid value 'maybe' for foreground: expected yes or no");
	config_refused("log-level = loud\n", "invalid log level 'loud'");
	config_refused("max-peers = 0\n", "invalid max-peers '0': expected "
		       "1..65536");
	config_refused("max-id = 65536\n", "invalid max-id '65536'");
	config_refused("max-queue = -1\n", "invalid max-queue '-1'");
	/* the first error is the one reported */
	config_refused("vectors = x\nbogus = 1\n", "test.conf:1:");
	config_refused("x\nbogus = 1\n", "test.conf:1: syntax");
	config_refused("vectors = 1\n  continued\n", "test.conf:2:");
}

static void test_long_line(void **state)
{
	char text[400];

	(void)state;
	memset(text, 'a', sizeof(text));
	memcpy(text, "socket = /", 10);
	strcpy(text + sizeof(text) - 2, "\n");
	config_refused(text, "test.conf:1: line too long");
}

static int parse(struct options *o, const char *config, ...)
{
	char *argv[32] = { "ivshmem-server" };
	char path[] = "/tmp/test-options-XXXXXX";
	int argc = 1, fd = -1, r;
	va_list ap;

	if (config) {
		fd = mkstemp(path);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, config, strlen(config)),
				 (ssize_t)strlen(config));
		close(fd);
		argv[argc++] = "-c";
		argv[argc++] = path;
	}
	va_start(ap, config);
	for (char *a; (a = va_arg(ap, char *));)
		argv[argc++] = a;
	va_end(ap);
	r = options_parse(o, argc, argv);
	if (config)
		unlink(path);
	return r;
}

static void test_command_line_wins(void **state)
{
	struct options o;

	(void)state;
	assert_int_equal(parse(&o, "vectors = 4\nsize = 1M\n"
			       "allow-users = root\n",
			       "-n", "2", "--allow-users", "1000,1001", NULL), 0);
	assert_int_equal(o.vectors, 2);       /* command line */
	assert_int_equal(o.size, 1 << 20);    /* file */
	assert_int_equal(o.max_queue, DEFAULT_MAX_QUEUE); /* default */
	/* a list from the command line replaces the file's */
	assert_int_equal(o.access.users.count, 2);
	assert_false(idlist_has(&o.access.users, 0));
	assert_non_null(strstr(o.config_file, "/tmp/test-options-"));
	options_deinit(&o);

	/* -v after the file's level; the file's level after -v's default */
	assert_int_equal(parse(&o, "log-level = warning\n", "-F", "-v", NULL),
			 0);
	assert_int_equal(o.log_level, LOG_DEBUG);
	options_deinit(&o);
	assert_int_equal(parse(&o, "foreground = yes\nverbose = yes\n",
			       "--log-level", "notice", NULL), 0);
	assert_int_equal(o.log_level, LOG_NOTICE);
	options_deinit(&o);
	/* verbose = no does not undo a level set before it */
	assert_int_equal(parse(&o, "log-level = warning\nverbose = no\n",
			       NULL), 0);
	assert_int_equal(o.log_level, LOG_WARNING);
	options_deinit(&o);
}

static void test_command_line_errors(void **state)
{
	struct options o;

	(void)state;
	assert_int_equal(parse(&o, NULL, "-F", "--bogus", NULL), -1);
	assert_int_equal(parse(&o, "bogus = 1\n", "-F", NULL), -1);
	assert_int_equal(parse(&o, NULL, "-F", "-c", "/nonexistent", NULL), -1);
	assert_int_equal(parse(&o, "verbose = yes\n", NULL), -1);
}

static void test_fixed_and_live_changes(void **state)
{
	struct options a, b;
	const char *keys[32];
	size_t n;

	(void)state;
	assert_int_equal(options_init(&a), 0);
	assert_int_equal(options_init(&b), 0);
	assert_int_equal(options_fixed_changes(&a, &b, keys, 32), 0);
	config_ok(&b, "size = 8M\nvectors = 3\nsocket = /x\nlog-level = debug\n"
		  "max-peers = 5\nmax-queue = 7\nallow-groups = root\n");
	n = options_fixed_changes(&a, &b, keys, 32);
	assert_int_equal(n, 3);
	assert_string_equal(keys[0], "socket");
	assert_string_equal(keys[1], "size");
	assert_string_equal(keys[2], "vectors");
	options_take_live(&a, &b);
	assert_int_equal(a.log_level, LOG_DEBUG);
	assert_int_equal(a.max_peers, 5);
	assert_int_equal(a.max_queue, 7);
	assert_int_equal(a.access.groups.count, 1);
	assert_int_equal(a.size, DEFAULT_SIZE);
	assert_int_equal(a.vectors, 1);
	assert_string_equal(a.socket_path, DEFAULT_SOCKET_PATH);
	options_deinit(&a);
	options_deinit(&b);
}

static void test_access(void **state)
{
	struct access_policy p = { 0 };
	gid_t groups[] = { 5, 6 };

	(void)state;
	assert_true(access_allowed(&p, 1000, 1000, NULL, 0));
	assert_int_equal(idlist_add(&p.users, 1000), 0);
	assert_int_equal(idlist_add(&p.users, 1000), 0);
	assert_int_equal(p.users.count, 1);
	assert_true(access_allowed(&p, 1000, 1, NULL, 0));
	assert_false(access_allowed(&p, 1001, 1, groups, 2));
	assert_int_equal(idlist_add(&p.groups, 6), 0);
	assert_true(access_allowed(&p, 1001, 1, groups, 2)); /* supplementary */
	assert_true(access_allowed(&p, 1001, 6, NULL, 0));   /* primary */
	assert_false(access_allowed(&p, 0, 0, NULL, 0));     /* root too */
	idlist_clear(&p.users);
	idlist_clear(&p.groups);
	idlist_clear(&p.groups);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_every_key),
		cmocka_unit_test(test_errors_name_file_and_line),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_command_line_wins),
		cmocka_unit_test(test_command_line_errors),
		cmocka_unit_test(test_fixed_and_live_changes),
		cmocka_unit_test(test_access),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
