# SPDX-License-Identifier: LGPL-3.0-or-later
"""Live upgrade: on SIGUSR2 the server executes its binary again and hands
everything over. No peer notices, QEMU included: no departure, the same
ids, and the next peer to join is connected to every one. An upgrade that
fails leaves the old server serving, and it says why."""

import os
import re
import shutil
import signal
import stat
import subprocess
import unittest

from ivshmem_test import (TestCase, FdStore, Peer, SERVER, TIMEOUT,
                          become_subreaper, listening_socket, open_fds, ring,
                          shm_unlink, unique_name, wait_pid, wait_until)

SWARM = os.environ.get("SWARM", "")
VECTORS = 2

# the servers an upgrade starts become our children when their parent
# exits, so that their exit can be waited for
become_subreaper()


class Upgrade(TestCase):
    def test_every_peer_and_qemu_stay(self):
        srv = self.server(vectors=VECTORS)
        a, b, q, c = self.group_with_qemu(srv, VECTORS)
        old, fds = srv.pid, open_fds(srv.pid)

        self.assertEqual(srv.upgrade(), 0)
        self.assertNotEqual(srv.pid, old)
        srv.wait_log(rf"took over from pid {old}: 4 peers")
        # the same fds, no more: nothing leaked into the new process
        self.assertEqual(open_fds(srv.pid), fds)
        d = self.assert_nobody_noticed(srv, (a, b, q, c), VECTORS)

        # the new server cleans up as the old one would have
        self.assertEqual(srv.stop(), 0)
        for p in (a, b, c, d):
            p.wait_closed()
            self.assertEqual({i for e, i in p.events if e == "leave"},
                             {0, 1, 2, 3, 4} - {p.id})
        self.assertFalse(os.path.exists(srv.socket))
        self.assertFalse(os.path.exists(f"/dev/shm/{srv.shm_name}"))

    def test_it_reads_the_config_file_again(self):
        srv = self.server(vectors=None, config="vectors = 2\nsize = 1M\n")
        a, b = self.peer(srv, VECTORS), self.peer(srv, VECTORS)
        srv.write_config("vectors = 2\nsize = 2M\nmax-peers = 3\n")
        self.assertEqual(srv.upgrade(), 0)
        srv.wait_log(r"warning: size changed, but only a restart can change "
                     r"it: keeping 1 MiB")
        self.assertEqual(a.shm_size(), 1 << 20)
        c = self.peer(srv, VECTORS)
        self.assertEqual(c.shm_size(), 1 << 20)
        ring(a, c)
        # max-peers took its new value: a fourth is turned away
        d = Peer(srv.socket)
        self.later(d.close)
        self.assertIsNone(d.recv())
        srv.wait_log(r"refused a client .*: 3 peers already \(max-peers\)")

    def test_queued_messages_survive_in_order(self):
        # a peer that reads nothing while 64-vector peers join: its socket
        # fills, and the rest waits in its queue, which the upgrades hand
        # over (twice)
        srv = self.server(vectors=64)
        slow, others = self.peer_with_a_queue(srv, 6, 64)
        self.assertEqual(srv.upgrade(), 0)
        others[2].close()  # a departure after the first upgrade
        others[0].wait_leave(3)
        self.assertEqual(srv.upgrade(), 0)
        slow.handshake(64)
        slow.pump(0.2)
        self.assertEqual(slow.order, [1, 2, 3, 4, 5, 6])
        self.assertEqual(slow.events, [("join", i) for i in range(1, 7)] +
                         [("leave", 3)])
        self.assertEqual(slow.peers, {i: 64 for i in (1, 2, 4, 5, 6)})
        late = self.peer(srv, 64, keep_fds=False)
        self.assertEqual(late.id, 7)
        self.assertEqual(slow.wait_join(7, 64), 64)


class FailedUpgrade(TestCase):
    """The server runs from a copy of the binary, which each test replaces
    with something that cannot take over."""

    def setUp(self):
        super().setUp()
        self.binary = os.path.join(self.tmpdir, "ivshmem-server")
        shutil.copy(SERVER, self.binary)

    def replace_binary(self, text=None, source=None):
        """Replaces the binary as a package manager does: a new file
        renamed over the old one (which the server keeps running)."""
        new = self.binary + ".new"
        if source:
            shutil.copy(source, new)
        else:
            with open(new, "w") as f:
                f.write(text)
            os.chmod(new, 0o755)
        os.rename(new, self.binary)

    def start(self, **kw):
        srv = self.srv = self.server(binary=self.binary, vectors=VECTORS,
                                     **kw)
        a, b = self.peer(srv, VECTORS), self.peer(srv, VECTORS)
        a.wait_join(b.id, VECTORS)
        return srv, a, b

    def assert_failed_and_serving(self, srv, why, *peers, timeout=TIMEOUT):
        pid = srv.pid
        n = srv.log().count("upgrade failed")
        srv.send_signal(signal.SIGUSR2)
        wait_until(lambda: srv.log().count("upgrade failed") > n, timeout,
                   what="upgrade failed")
        self.assertRegex(srv.log(), r"error: upgrade failed, this server goes "
                         r"on serving: " + why)
        self.assertEqual(srv.pid, pid)
        self.assertTrue(srv.running())
        # nothing happened to anyone, and it serves
        a, b = peers
        ring(a, b)
        c = self.peer(srv, VECTORS)
        self.assertEqual(c.order, [a.id, b.id])
        for p in (a, b):
            p.wait_join(c.id, VECTORS)
            self.assertEqual([e for e in p.events if e[0] == "leave"], [])
        ring(a, c)
        c.close()
        for p in (a, b):
            p.wait_leave(c.id)

    def tearDown(self):
        # what failed left nothing behind: under ASan, no leak at exit
        if self.srv.running():
            self.assertEqual(self.srv.stop(), 0)
        super().tearDown()

    def test_broken_binary_then_a_good_one(self):
        srv, a, b = self.start()
        self.replace_binary("#!/bin/sh\n"
                            "echo 'ivshmem-server 99: cannot start' >&2\n"
                            "exit 1\n")
        self.assert_failed_and_serving(
            srv, r"the new process exited with status 1 before it was ready",
            a, b)
        self.assertIn("ivshmem-server 99: cannot start", srv.log())
        # a newer binary at the same path: this one takes over
        self.replace_binary(source=SERVER)
        self.assertEqual(srv.upgrade(), 0)
        ring(a, b)
        self.assertEqual(self.peer(srv, VECTORS).id, 3)

    def test_missing_binary(self):
        srv, a, b = self.start()
        os.unlink(self.binary)
        self.assert_failed_and_serving(
            srv, rf"the new process: cannot execute {re.escape(self.binary)}: "
                 r"No such file or directory", a, b)

    def test_binary_that_never_answers_is_killed(self):
        srv, a, b = self.start()
        # a duration of its own, to tell its process from any other
        duration = f"60.{os.getpid()}"
        self.replace_binary(f"#!/bin/sh\nexec sleep {duration}\n")
        self.assert_failed_and_serving(
            srv, r"the new process did not report within 10 s: killed it",
            a, b, timeout=TIMEOUT + 5)
        # and it is gone: nothing of it is left
        self.assertEqual(subprocess.run(["pgrep", "-f", f"sleep {duration}"],
                                        capture_output=True).stdout, b"")

    def test_settings_that_only_a_restart_can_change(self):
        srv, a, b = self.start(config="max-peers = 10\n")
        srv.write_config("max-peers = 10\nmax-id = 100\n")
        self.assert_failed_and_serving(
            srv, r"the new process: the configuration has 2 vectors and ids "
                 r"0..100, the running server 2 and 0..65535: only a restart "
                 r"can change them", a, b)

    def test_state_the_new_binary_cannot_read(self):
        # an old server writing a state version its successor does not know
        srv, a, b = self.start(
            extra_env={"IVSHMEM_TEST_STATE_VERSION": "2"})
        self.assert_failed_and_serving(
            srv, r"the new process: cannot read the state: state version 2, "
                 r"this server reads version 1", a, b)

    def test_stop_signal_during_the_handover_goes_to_the_new_server(self):
        srv, a, b = self.start()
        # a successor that takes a second to start
        self.replace_binary(f'#!/bin/sh\nsleep 1\nexec {SERVER} "$@"\n')
        old = srv.pid
        srv.send_signal(signal.SIGUSR2)
        srv.wait_log(r"upgrading: executing")
        os.kill(old, signal.SIGTERM)  # as systemctl stop would
        new = int(srv.wait_log(r"upgraded: pid (\d+)").group(1))
        self.assertEqual(srv.wait_exit(old), 0)
        srv.pid = new
        self.assertEqual(srv.wait_exit(new), 0)
        self.assertRegex(srv.log(), r"took over from pid \d+: 2 peers"
                         r"(.|\n)*shutting down: telling 2 peers")
        for p in (a, b):
            p.wait_closed()
            self.assertEqual(p.events[-1], ("leave", 1 - p.id))
        self.assertFalse(os.path.exists(srv.socket))


class Supervised(TestCase):
    def test_daemon_mode_rewrites_the_pid_file(self):
        sock, pidfile, name = self.daemon("-n", str(VECTORS))
        a, b = Peer(sock, VECTORS), Peer(sock, VECTORS)
        self.later(a.close)
        self.later(b.close)
        with open(pidfile) as f:
            old = int(f.read())
        os.kill(old, signal.SIGUSR2)

        def new_pid():
            with open(pidfile) as f:
                pid = int(f.read() or 0)
            return pid if pid != old else None
        new = wait_until(new_pid, what="a new pid in the pid file")
        wait_pid(old)
        ring(a, b)
        c = Peer(sock, VECTORS)
        self.later(c.close)
        self.assertEqual(c.id, 2)
        os.kill(new, signal.SIGTERM)
        self.assertEqual(wait_pid(new), 0)
        self.assertFalse(os.path.exists(pidfile))
        self.assertFalse(os.path.exists(sock))
        self.assertFalse(os.path.exists(f"/dev/shm/{name}"))

    def test_a_failed_upgrade_leaves_the_daemons_pid_file(self):
        # the daemon runs from a copy, which becomes a "new binary" that
        # gets as far as the pid file (emptied) and then fails
        binary = os.path.join(self.tmpdir, "ivshmem-server")
        shutil.copy(SERVER, binary)
        sock = os.path.join(self.tmpdir, "d.sock")
        pidfile = os.path.join(self.tmpdir, "d.pid")
        ran = os.path.join(self.tmpdir, "ran")
        name = unique_name()
        self.later(shm_unlink, name)
        self.reap_daemon(pidfile)
        p = subprocess.run([binary, "-S", sock, "-p", pidfile, "-M", name,
                            "-n", str(VECTORS)], capture_output=True,
                           text=True, timeout=TIMEOUT)
        self.assertEqual((p.returncode, p.stderr), (0, ""))
        with open(pidfile) as f:
            old = int(f.read())
        a, b = Peer(sock, VECTORS), Peer(sock, VECTORS)
        self.later(a.close)
        self.later(b.close)
        with open(binary + ".new", "w") as f:
            f.write(f"#!/bin/sh\n: > {pidfile}\ntouch {ran}\nexit 1\n")
        os.chmod(binary + ".new", 0o755)
        os.rename(binary + ".new", binary)
        os.kill(old, signal.SIGUSR2)

        def restored():
            with open(pidfile) as f:
                return os.path.exists(ran) and f.read() == f"{old}\n"
        wait_until(restored, what="the old server's pid in its pid file")
        ring(a, b)
        os.kill(old, signal.SIGTERM)
        self.assertEqual(wait_pid(old), 0)
        self.assertFalse(os.path.exists(pidfile))

    def test_the_new_process_tells_the_service_manager(self):
        notify = FdStore(self.tmpdir)
        self.later(notify.close)
        srv = self.server(vectors=VECTORS,
                          extra_env={"NOTIFY_SOCKET": notify.path})
        old = srv.pid
        self.assertEqual(notify.wait_message("READY=1")[0], old)
        a, b = self.peer(srv, VECTORS), self.peer(srv, VECTORS)
        start = len(notify.messages)
        self.assertEqual(srv.upgrade(), 0)
        pid, lines = notify.wait_message("RELOADING=1", start)
        self.assertEqual(pid, old)
        # the old main process names its successor...
        pid, lines = notify.wait_message(f"MAINPID={srv.pid}", start)
        self.assertEqual(pid, old)
        # ... which reports ready itself, once the old one is gone
        pid, lines = notify.wait_message("READY=1", start)
        self.assertEqual(pid, srv.pid)
        self.assertIn(f"MAINPID={srv.pid}", lines)
        self.assertIn("STATUS=2 peers", lines)
        self.assertFalse([m for m in notify.messages[start:]
                          if "STOPPING=1" in m[1]])
        ring(a, b)

    def test_socket_from_systemd_stays_systemd_s(self):
        path = os.path.join(self.tmpdir, "activated.sock")
        ls = listening_socket(path)
        self.later(ls.close)
        srv = self.server(vectors=VECTORS, socket_path=path, listen_socket=ls)
        a, b = self.peer(srv, VECTORS), self.peer(srv, VECTORS)
        self.assertEqual(srv.upgrade(), 0)
        ring(a, b)
        self.assertEqual(self.peer(srv, VECTORS).id, 2)
        self.assertEqual(srv.stop(), 0)
        # never removed: the next server systemd starts gets it again
        self.assertTrue(stat.S_ISSOCK(os.stat(path).st_mode))


class Load(TestCase):
    def test_1000_peers(self):
        # every one stays, and hears every departure after the upgrade once
        if not SWARM:
            self.skipTest("SWARM must name the built swarm tool")
        srv = self.server("--memfd", vectors=1)
        p = subprocess.run([SWARM, "--socket", srv.socket, "--peers", "1000",
                            "--vectors", "1", "--upgrade", "--leave",
                            "--server-pid", str(srv.pid)],
                           capture_output=True, text=True, timeout=240)
        print(p.stdout, p.stderr, end="")
        self.assertEqual(p.returncode, 0, p.stderr)
        pause = float(srv.wait_log(r"this server paused for ([\d.]+) ms")
                      .group(1))
        print(f"1000 peers handed over; the old server paused {pause} ms")
        self.assertLess(pause, 2000)
        srv.pid = int(srv.wait_log(r"upgraded: pid (\d+)").group(1))
        srv.wait_exit(srv.proc.pid)
        self.assertEqual(self.peer(srv, 1, keep_fds=False).id, 1000)
        self.assertEqual(srv.stop(), 0)


if __name__ == "__main__":
    unittest.main()
