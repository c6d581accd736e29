# SPDX-License-Identifier: LGPL-3.0-or-later
"""The server's command line: QEMU's flags and defaults, errors, daemon
mode, sockets and shared memory."""

import fcntl
import os
import signal
import socket
import subprocess
import time
import unittest

from ivshmem_test import (TestCase, Peer, eventfd_kick, eventfd_read,
                          run_server, shm_unlink, unique_name, wait_until)

F_GET_SEALS = 1034
F_SEAL_SHRINK, F_SEAL_GROW = 0x2, 0x4


class Options(TestCase):
    def test_help(self):
        for flag in ("-h", "--help"):
            code, out, err = run_server(flag)
            self.assertEqual(code, 0)
            self.assertEqual(err, "")
            for opt in ("-v", "-F", "-p", "-S", "-M", "-m", "-l", "-n",
                        "--memfd", "--resize", "--max-queue",
                        "/tmp/ivshmem_socket", "/var/run/ivshmem-server.pid"):
                self.assertIn(opt, out)

    def test_version(self):
        code, out, err = run_server("--version")
        self.assertEqual(code, 0)
        self.assertRegex(out, r"^ivshmem-server \d+\.\d+\.\d+\n$")

    def assert_refused(self, args, message):
        code, out, err = run_server(*args)
        self.assertEqual(code, 1, f"{args}: {err}")
        self.assertIn(message, err)
        # one line, with where to look
        self.assertRegex(err, r"^ivshmem-server: [^\n]+ \(see ivshmem-server "
                         r"-h\)\n$")
        self.assertEqual(out, "")

    def test_bad_options(self):
        self.assert_refused(["-x"], "invalid option -- 'x'")
        self.assert_refused(["--bogus"], "unrecognized option '--bogus'")
        self.assert_refused(["-F", "-S"], "option '-S' needs an argument")
        self.assert_refused(["-F", "--socket"], "needs an argument")
        self.assert_refused(["-F", "extra"], "unexpected argument 'extra'")
        self.assert_refused(["-F", "-S", ""], "empty socket path")
        self.assert_refused(["-F", "-M", ""], "empty shared memory name")

    def test_verbose_needs_foreground(self):
        # as QEMU's server
        self.assert_refused(["-v"], "cannot use verbose in daemon mode")

    def test_bad_sizes(self):
        for size, message in (("abc", "invalid size 'abc'"),
                              ("1X", "invalid size '1X'"),
                              ("-1", "invalid size '-1'"),
                              ("", "invalid size ''"),
                              ("0", "too small"),
                              ("5E", "too large: at most 4 EiB"),
                              ("99999999999999999999", "too large")):
            self.assert_refused(["-F", "-l", size], message)

    def test_bad_vectors(self):
        for n in ("2049", "-1", "x", "1.5", ""):
            self.assert_refused(["-F", "-n", n],
                                f"invalid number of vectors '{n}'")

    def test_bad_max_queue(self):
        for n in ("0", "x", "-3"):
            self.assert_refused(["-F", "--max-queue", n], "--max-queue")

    def test_no_side_effects_on_bad_options(self):
        name = unique_name()
        sock = os.path.join(self.tmpdir, "s")
        run_server("-F", "-S", sock, "-M", name, "-l", "bad")
        self.assertFalse(os.path.exists(sock))
        self.assertFalse(os.path.exists(f"/dev/shm/{name}"))


class SharedMemory(TestCase):
    def test_size_rounded_up_to_power_of_two(self):
        srv = self.server("-l", "3M")
        self.assertEqual(self.peer(srv).shm_size(), 4 << 20)
        srv.wait_log(r"size 3 MiB rounded up to 4 MiB")

    def test_size_suffixes(self):
        for arg, size in (("1K", 1024), ("1048576", 1 << 20), ("2m", 2 << 20),
                          ("1.5K", 2048)):
            srv = self.server("-l", arg)
            self.assertEqual(self.peer(srv).shm_size(), size, arg)
            srv.stop()

    def test_above_4_gib(self):
        # QEMU's server caps at 1 GiB and wraps sizes to 32 bits
        srv = self.server("-l", "8G", "--memfd")
        self.assertEqual(self.peer(srv).shm_size(), 8 << 30)
        srv.stop()
        srv = self.server("-l", "5G")
        self.assertEqual(self.peer(srv).shm_size(), 8 << 30)
        self.assertEqual(os.stat(f"/dev/shm/{srv.shm_name}").st_size, 8 << 30)

    def test_posix_object_created_and_unlinked(self):
        srv = self.server()
        path = f"/dev/shm/{srv.shm_name}"
        self.assertEqual(os.stat(path).st_size, 4 << 20)
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        self.assertEqual(srv.stop(), 0)
        self.assertFalse(os.path.exists(path))

    def test_existing_object_reused_and_kept(self):
        name = unique_name()
        path = f"/dev/shm/{name}"
        self.later(shm_unlink, name)
        with open(path, "wb") as f:
            f.truncate(4 << 20)
            f.write(b"precious")
        srv = self.server(shm_name=name)
        peer = self.peer(srv)
        self.assertEqual(os.pread(peer.shm_fd, 8, 0), b"precious")
        self.assertEqual(srv.stop(), 0)
        # it did not create it, so it does not destroy it
        with open(path, "rb") as f:
            self.assertEqual(f.read(8), b"precious")

    def test_existing_object_of_another_size(self):
        name = unique_name()
        path = f"/dev/shm/{name}"
        self.later(shm_unlink, name)
        with open(path, "wb") as f:
            f.truncate(1 << 20)
            f.write(b"precious")
        code, out, err = run_server("-F", "-S", os.path.join(self.tmpdir, "s"),
                                    "-M", name, "-l", "4M")
        self.assertEqual(code, 1)
        self.assertIn(f"shared memory object {name} exists with size 1 MiB, "
                      "not 4 MiB: pass --resize", err)
        self.assertEqual(os.stat(path).st_size, 1 << 20)
        self.assertFalse(os.path.exists(os.path.join(self.tmpdir, "s")))
        srv = self.server("--resize", "-l", "4M", shm_name=name)
        self.assertEqual(self.peer(srv).shm_size(), 4 << 20)
        srv.wait_log("resizing shared memory object")
        with open(path, "rb") as f:
            self.assertEqual(f.read(8), b"precious")

    def test_directory(self):
        d = os.path.join(self.tmpdir, "shm")
        os.mkdir(d)
        srv = self.server("-m", d, "-l", "1M")
        peer = self.peer(srv)
        self.assertEqual(peer.shm_size(), 1 << 20)
        # the file is unlinked at once: nothing in the directory
        self.assertEqual(os.listdir(d), [])
        self.assertEqual(os.fstat(peer.shm_fd).st_nlink, 0)

    def test_directory_missing(self):
        code, _, err = run_server("-F", "-S", os.path.join(self.tmpdir, "s"),
                                  "-m", "/nonexistent/dir")
        self.assertEqual(code, 1)
        self.assertIn("cannot create shared memory in /nonexistent/dir", err)

    def test_memfd_is_sealed(self):
        srv = self.server("--memfd", "-l", "2M")
        peer = self.peer(srv)
        self.assertEqual(peer.shm_size(), 2 << 20)
        seals = fcntl.fcntl(peer.shm_fd, F_GET_SEALS)
        self.assertTrue(seals & F_SEAL_SHRINK and seals & F_SEAL_GROW)
        # a peer cannot shrink it under the others
        with self.assertRaises(PermissionError):
            os.ftruncate(peer.shm_fd, 4096)

    def test_last_shm_option_wins(self):
        name = unique_name()
        self.later(shm_unlink, name)
        srv = self.server("-m", self.tmpdir, "-M", name, shm_name=None)
        self.peer(srv)
        self.assertTrue(os.path.exists(f"/dev/shm/{name}"))


class Sockets(TestCase):
    def test_stale_socket_is_replaced(self):
        path = os.path.join(self.tmpdir, "stale.sock")
        s = socket.socket(socket.AF_UNIX)
        s.bind(path)
        s.close()  # the file stays, nobody listens
        srv = self.server(socket_path=path)
        srv.wait_log("replacing the stale socket")
        self.assertEqual(self.peer(srv).id, 0)

    def test_live_socket_is_refused_without_disturbing_it(self):
        srv = self.server()
        a = self.peer(srv)
        name = unique_name()
        code, _, err = run_server("-F", "-S", srv.socket, "-M", name)
        self.assertEqual(code, 1)
        self.assertIn(f"another server is listening on {srv.socket}", err)
        self.assertFalse(os.path.exists(f"/dev/shm/{name}"))
        # the live server noticed nothing: no phantom peer joined
        a.pump(0.2)
        self.assertEqual(a.events, [])
        self.assertEqual(self.peer(srv).id, 1)

    def test_live_foreign_socket_is_refused(self):
        path = os.path.join(self.tmpdir, "other.sock")
        s = socket.socket(socket.AF_UNIX)
        s.bind(path)
        s.listen()
        self.later(s.close)
        code, _, err = run_server("-F", "-S", path, "-M", unique_name())
        self.assertEqual(code, 1)
        self.assertIn("another server is listening", err)

    def test_regular_file_is_not_replaced(self):
        path = os.path.join(self.tmpdir, "file")
        with open(path, "w") as f:
            f.write("keep me")
        code, _, err = run_server("-F", "-S", path, "-M", unique_name())
        self.assertEqual(code, 1)
        self.assertIn("exists and is not a socket", err)
        with open(path) as f:
            self.assertEqual(f.read(), "keep me")

    def test_path_too_long(self):
        path = "/tmp/" + "x" * 120
        code, _, err = run_server("-F", "-S", path, "-M", unique_name())
        self.assertEqual(code, 1)
        self.assertIn("is too long", err)

    def test_unwritable_directory(self):
        code, _, err = run_server("-F", "-S", "/nonexistent/dir/sock",
                                  "-M", unique_name())
        self.assertEqual(code, 1)
        self.assertIn("cannot bind to /nonexistent/dir/sock", err)

    def test_socket_replaced_while_running_is_left_alone(self):
        srv = self.server()
        os.unlink(srv.socket)
        with open(srv.socket, "w") as f:
            f.write("not ours")
        self.assertEqual(srv.stop(), 0)
        self.assertTrue(os.path.exists(srv.socket))


class Daemon(TestCase):
    def test_daemon_mode_and_pid_file(self):
        sock, pidfile, name = self.daemon()
        # the parent returned only once the daemon listens
        peer = Peer(sock, vectors=1)
        self.later(peer.close)
        with open(pidfile) as f:
            pid = int(f.read())
        self.assertNotEqual(pid, os.getpid())
        with open(f"/proc/{pid}/stat") as f:
            ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        # detached: not our child, in a session of its own
        self.assertNotEqual(ppid, os.getpid())
        self.assertNotEqual(os.getsid(pid), os.getsid(0))
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not os.path.exists(f"/proc/{pid}"),
                   what="daemon exit")
        self.assertFalse(os.path.exists(pidfile))
        self.assertFalse(os.path.exists(sock))
        self.assertFalse(os.path.exists(f"/dev/shm/{name}"))

    def test_daemon_reports_pid_file_error(self):
        # cannot open it; can open it but not write it (the error comes
        # when the stream is flushed, at fclose)
        for pidfile, why in (("/nonexistent/x.pid", "No such file"),
                             ("/dev/full", "No space left")):
            sock = os.path.join(self.tmpdir, "d.sock")
            name = unique_name()
            self.later(shm_unlink, name)
            code, out, err = run_server("-S", sock, "-p", pidfile, "-M", name)
            self.assertEqual(code, 1, err)
            self.assertIn(f"cannot write pid file {pidfile}: {why}", err)
            self.assertNotIn("double free", err)
            # the daemon cleaned up after itself
            wait_until(lambda: not os.path.exists(sock),
                       what="socket removed")
            self.assertFalse(os.path.exists(f"/dev/shm/{name}"))

    def test_daemon_start_error_goes_to_terminal(self):
        code, out, err = run_server("-S", "/nonexistent/s", "-M", unique_name())
        self.assertEqual(code, 1)
        self.assertIn("cannot bind", err)


class Limits(TestCase):
    def test_fd_limit_raised_to_hard_limit(self):
        import resource
        soft, hard = 256, 4096

        def lower():
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        srv = self.server(start=False)
        srv.start(preexec_fn=lower)
        with open(f"/proc/{srv.proc.pid}/limits") as f:
            line = next(l for l in f if l.startswith("Max open files"))
        self.assertEqual(line.split()[3:5], [str(hard), str(hard)])

    def test_out_of_fds_clients_wait_and_peers_keep_working(self):
        import resource
        import select

        def lower():
            resource.setrlimit(resource.RLIMIT_NOFILE, (24, 24))
        srv = self.server(start=False, vectors=1)
        srv.start(preexec_fn=lower)
        clients = [Peer(srv.socket) for _ in range(10)]
        for c in clients:
            self.later(c.close)
        srv.wait_log(r"cannot accept clients: .*retrying")
        time.sleep(0.3)
        # those that fit were served; the others wait in the backlog
        served, _, _ = select.select([c.sock for c in clients], [], [], 0)
        joined = [c.handshake(1) for c in clients if c.sock in served]
        waiting = [c for c in clients if c.sock not in served]
        self.assertGreaterEqual(len(joined), 3)
        self.assertGreater(len(waiting), 0)
        # the joined peers work: they ring each other
        a, b = joined[0], joined[1]
        a.wait_join(b.id, 1)
        eventfd_kick(a.peers[b.id][0])
        self.assertEqual(eventfd_read(b.own[0]), 1)
        # fds free up: waiting clients join, and see the peers that stayed
        for c in joined[2:]:
            c.close()
        for c in waiting[:len(joined) - 2]:
            c.handshake(1)
            self.assertIn(a.id, c.order)
            self.assertIn(b.id, c.order)
        # nobody was accepted only to be turned away
        self.assertNotIn("refusing", srv.log())
        # the shortage is logged once, not at every retry, and its end
        self.assertEqual(srv.log().count("cannot accept clients"), 1)
        srv.wait_log(r"accepting clients again, after \d+ retries")

if __name__ == "__main__":
    unittest.main()
