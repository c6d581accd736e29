# SPDX-License-Identifier: LGPL-3.0-or-later
"""Running under systemd, with stand-ins since systemd is not PID 1 here:
socket activation (LISTEN_FDS, LISTEN_PID, fd 3), sd_notify through a
NOTIFY_SOCKET receiver, <N> priority prefixes for the journal, and the
unit files checked with systemd-analyze."""

import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import unittest

from ivshmem_test import (TestCase, Peer, SERVER, activation_command,
                          listening_socket, ring,
                          shm_unlink, unique_name, wait_until)

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_CONF = os.path.join(HERE, "..", "..", "conf")
BUILD_CONF = os.environ.get("IVSHMEM_BUILD_CONF", "")


class SocketActivation(TestCase):
    def test_inherited_socket_is_served_and_left_alone(self):
        path = os.path.join(self.tmpdir, "activated.sock")
        ls = listening_socket(path, 0o640)
        self.later(ls.close)
        os.chown(path, 0, 65534)
        before = os.stat(path)
        srv = self.server("--socket-mode", "0600", "--socket-group", "root",
                          socket_path=path, listen_socket=ls)
        srv.wait_log(rf"listening on {re.escape(path)} \(from systemd\)")
        srv.wait_log(r"warning: socket-mode, socket-user and socket-group do "
                     r"not apply to the socket systemd passed")
        a, b = self.peer(srv), self.peer(srv)
        ring(a, b)
        self.assertEqual(srv.stop(), 0)
        # never chmod, chown or unlink an inherited socket
        after = os.stat(path)
        self.assertEqual((after.st_mode, after.st_uid, after.st_gid,
                          after.st_ino),
                         (before.st_mode, before.st_uid, before.st_gid,
                          before.st_ino))
        # and the socket still works for the next server systemd starts
        srv2 = self.server(socket_path=path, listen_socket=ls)
        c = self.peer(srv2)
        self.assertEqual(c.id, 0)

    def test_systemd_socket_activate(self):
        tool = shutil.which("systemd-socket-activate")
        if not tool:
            self.skipTest("systemd-socket-activate not installed")
        path = os.path.join(self.tmpdir, "ssa.sock")
        name = unique_name()
        self.later(shm_unlink, name)
        log = open(os.path.join(self.tmpdir, "ssa.log"), "w+")
        self.later(log.close)
        proc = subprocess.Popen([tool, "-l", path, SERVER, "-F", "-M", name],
                                stdout=log, stderr=subprocess.STDOUT)
        self.later(lambda: proc.poll() is None and proc.kill())
        wait_until(lambda: os.path.exists(path), what="socket")
        # systemd-socket-activate starts the server on the first connection
        a = Peer(path, vectors=1)
        self.later(a.close)
        b = Peer(path, vectors=1)
        self.later(b.close)
        ring(a, b)
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(10), 0)
        log.seek(0)
        self.assertIn(f"listening on {path} (from systemd)", log.read())
        self.assertTrue(stat.S_ISSOCK(os.stat(path).st_mode))

    def test_not_for_this_process(self):
        # LISTEN_PID names another process: the server binds its own
        srv = self.server(extra_env={"LISTEN_PID": "1", "LISTEN_FDS": "1"})
        srv.wait_log(rf"listening on {re.escape(srv.socket)}: ")
        self.peer(srv)

    def test_more_than_one_socket_is_an_error(self):
        path = os.path.join(self.tmpdir, "two.sock")
        ls = listening_socket(path)
        self.later(ls.close)
        other = os.dup(ls.fileno())
        self.later(os.close, other)
        p = subprocess.run(
            activation_command([SERVER, "-F", "-M", unique_name()],
                               [ls.fileno(), other]),
            pass_fds=(ls.fileno(), other),
            capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 1)
        self.assertIn("passed more than one socket", p.stderr)

    def test_passed_fd_that_is_not_a_listening_socket(self):
        a, b = socket.socketpair()
        self.later(a.close)
        self.later(b.close)
        srv = self.server(listen_socket=a, start=False)
        srv.start(wait=False)
        self.assertEqual(srv.proc.wait(10), 1)
        self.assertIn("is not a listening AF_UNIX stream socket", srv.log())


class Notify(TestCase):
    def receiver(self):
        path = os.path.join(self.tmpdir, "notify.sock")
        r = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        r.bind(path)
        r.settimeout(10)
        self.later(r.close)
        return r, path

    @staticmethod
    def expect(r, *wanted):
        """Reads notifications until one holds every line in @wanted."""
        while True:
            msg = r.recv(4096).decode().split("\n")
            if all(w in msg for w in wanted):
                return msg

    def test_ready_status_reloading_stopping(self):
        r, path = self.receiver()
        srv = self.server(config="max-peers = 5\n",
                          extra_env={"NOTIFY_SOCKET": path})
        msg = self.expect(r, "READY=1")
        self.assertIn("STATUS=0 peers", msg)
        self.assertIn(f"MAINPID={srv.proc.pid}", msg)
        a = self.peer(srv)
        self.expect(r, "STATUS=1 peers")
        b = self.peer(srv)
        self.expect(r, "STATUS=2 peers")
        srv.send_signal(signal.SIGHUP)
        msg = self.expect(r, "RELOADING=1")
        usec = [int(m[15:]) for m in msg if m.startswith("MONOTONIC_USEC=")]
        self.assertEqual(len(usec), 1)
        self.assertLess(abs(usec[0] - time.monotonic_ns() // 1000), 10**7)
        self.expect(r, "READY=1", "STATUS=2 peers")
        b.close()
        self.expect(r, "STATUS=1 peers")
        ring(a, self.peer(srv))
        srv.send_signal(signal.SIGTERM)
        self.expect(r, "STOPPING=1")
        self.assertEqual(srv.proc.wait(10), 0)

    def test_abstract_notify_socket(self):
        name = f"ivshmem-test-notify-{os.getpid()}"
        r = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        r.bind("\0" + name)
        r.settimeout(10)
        self.later(r.close)
        self.server(extra_env={"NOTIFY_SOCKET": "@" + name})
        self.expect(r, "READY=1")


class Journal(TestCase):
    def test_priority_prefixes_when_stderr_is_the_journal(self):
        srv = self.server(start=False)
        # the stand-in journal is the log file: JOURNAL_STREAM names it
        open(srv.logpath, "w").close()
        st = os.stat(srv.logpath)
        srv.env["JOURNAL_STREAM"] = f"{st.st_dev}:{st.st_ino}"
        srv.start()
        a = self.peer(srv)
        a.sock.send(b"x")  # a warning
        a.wait_closed()
        srv.stop()
        lines = srv.log().splitlines()
        self.assertIn("<5>listening on", "\n".join(lines))
        self.assertRegex(srv.log(), r"(?m)^<6>peer 0 joined \(pid")
        self.assertRegex(srv.log(), r"(?m)^<4>peer 0 sent data")
        for line in lines:
            self.assertRegex(line, r"^<[0-7]>[^<]")

    def test_no_prefixes_on_another_stderr(self):
        srv = self.server(extra_env={"JOURNAL_STREAM": "1:1"})
        self.peer(srv)
        srv.stop()
        self.assertRegex(srv.log(), r"(?m)^ivshmem-server: peer 0 joined")


class Units(unittest.TestCase):
    def setUp(self):
        if not shutil.which("systemd-analyze"):
            self.skipTest("systemd-analyze not installed")
        if not BUILD_CONF:
            self.skipTest("IVSHMEM_BUILD_CONF must name the built units")
        self.dir = tempfile.mkdtemp(prefix="ivshmem-units-")
        self.addCleanup(shutil.rmtree, self.dir)
        # the units as installed, but with the server just built
        for src in (os.path.join(BUILD_CONF, "ivshmem-server.service"),
                    os.path.join(BUILD_CONF, "ivshmem-server@.service"),
                    os.path.join(SOURCE_CONF, "ivshmem-server.socket"),
                    os.path.join(SOURCE_CONF, "ivshmem-server@.socket")):
            with open(src) as f:
                text = f.read()
            text = re.sub(r"ExecStart=\S+/ivshmem-server",
                          f"ExecStart={SERVER}", text)
            with open(os.path.join(self.dir, os.path.basename(src)),
                      "w") as f:
                f.write(text)
        for kind in ("service", "socket"):
            os.symlink(f"ivshmem-server@.{kind}",
                       os.path.join(self.dir, f"ivshmem-server@vm1.{kind}"))

    def analyze(self, *args):
        return subprocess.run(["systemd-analyze", *args], cwd=self.dir,
                              capture_output=True, text=True, timeout=60)

    def test_units_verify_cleanly(self):
        for units in (["./ivshmem-server.socket", "./ivshmem-server.service"],
                      ["./ivshmem-server@vm1.socket",
                       "./ivshmem-server@vm1.service"]):
            p = self.analyze("verify", "--man=no", *units)
            self.assertEqual((p.returncode, p.stderr, p.stdout),
                             (0, "", ""), units)

    def test_service_is_sandboxed(self):
        for unit in ("./ivshmem-server.service",
                     "./ivshmem-server@vm1.service"):
            p = self.analyze("security", "--offline=yes", unit)
            m = re.search(r"Overall exposure level for \S+: ([\d.]+)",
                          p.stdout)
            self.assertIsNotNone(m, p.stdout + p.stderr)
            self.assertLessEqual(float(m.group(1)), 2.0, p.stdout)

    def test_units_reload_by_upgrade_and_size_the_store_alike(self):
        for unit in ("ivshmem-server.service", "ivshmem-server@.service"):
            with open(os.path.join(self.dir, unit)) as f:
                text = f.read()
            self.assertIn("ExecReload=/bin/kill -USR2 $MAINPID", text)
            store = re.search(r"^FileDescriptorStoreMax=(\d+)$", text, re.M)
            env = re.search(r"^Environment=FDSTORE=(\d+)$", text, re.M)
            nofile = re.search(r"^LimitNOFILE=(\d+)$", text, re.M)
            # the server counts on FDSTORE= being what systemd keeps
            self.assertEqual(store.group(1), env.group(1), unit)
            self.assertEqual(store.group(1), nofile.group(1), unit)

    def test_units_name_the_config_and_notify(self):
        with open(os.path.join(self.dir, "ivshmem-server@.service")) as f:
            text = f.read()
        self.assertIn("Type=notify", text)
        self.assertRegex(text, r"ExecStart=\S+ --foreground --shm-name %i "
                               r"--config /\S+/ivshmem/%i\.conf")
        with open(os.path.join(self.dir, "ivshmem-server@.socket")) as f:
            self.assertIn("ListenStream=/run/ivshmem/%i.sock", f.read())


if __name__ == "__main__":
    unittest.main()
