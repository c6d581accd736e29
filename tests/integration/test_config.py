# SPDX-License-Identifier: LGPL-3.0-or-later
"""The config file, its precedence under the command line, daemon mode with
a config file, SIGHUP reloads and the SIGUSR1 state dump."""

import os
import signal
import unittest

from ivshmem_test import (TestCase, Peer, ring, run_server, shm_unlink,
                          unique_name, wait_until)

HERE = os.path.dirname(os.path.abspath(__file__))
SAMPLE = os.path.join(HERE, "..", "..", "conf", "ivshmem-server.conf")



class ConfigFile(TestCase):
    def test_config_file_sets_the_server_up(self):
        name = unique_name()
        sock = os.path.join(self.tmpdir, "conf.sock")
        srv = self.server(vectors=None, shm_name=None, socket_path=sock,
                          config=f"# the test's server\n"
                                 f"socket = {sock}\n"
                                 f"shm-name = {name}\n"
                                 f"size = 1M\n"
                                 f"vectors = 3\n"
                                 f"log-level = notice\n")
        self.later(shm_unlink, name)
        a = self.peer(srv, 3)
        b = self.peer(srv, 3)
        self.assertEqual(a.shm_size(), 1 << 20)
        self.assertEqual(os.stat(f"/dev/shm/{name}").st_size, 1 << 20)
        a.wait_join(b.id, 3)
        ring(a, b)
        # notice: joins (info) are not logged
        self.assertNotIn("joined", srv.log())

    def test_command_line_takes_precedence(self):
        srv = self.server("-l", "2M", vectors=2,
                          config="vectors = 5\nsize = 1M\nmax-queue = 10\n")
        a = self.peer(srv, 2)
        self.assertEqual(len(a.own), 2)
        self.assertEqual(a.shm_size(), 2 << 20)
        srv.send_signal(signal.SIGUSR1)
        srv.wait_log(r"max-queue 10\b")  # the file's, not the default

    def test_errors_name_file_and_line(self):
        conf = os.path.join(self.tmpdir, "bad.conf")
        for text, message in (
                ("vectors = 2\nsocket-mode = 999\n",
                 f"{conf}:2: invalid mode '999'"),
                ("\nbogus-key = 1\n", f"{conf}:2: unknown key 'bogus-key'"),
                ("size = 1Z\n", f"{conf}:1: invalid size '1Z'"),
                ("allow-users = no-such-user-x\n",
                 f"{conf}:1: unknown user 'no-such-user-x'"),
                ("socket-group = no-such-group-x\n",
                 f"{conf}:1: unknown group 'no-such-group-x'"),
                ("log-level = chatty\n", f"{conf}:1: invalid log level"),
                ("oops\n", f"{conf}:1: syntax error")):
            with open(conf, "w") as f:
                f.write(text)
            sock = os.path.join(self.tmpdir, "s")
            code, out, err = run_server("-F", "-c", conf, "-S", sock)
            self.assertEqual(code, 1, text)
            self.assertEqual(err, f"ivshmem-server: {message}"
                             + err[len(f"ivshmem-server: {message}"):])
            self.assertEqual(err.count("\n"), 1, f"one line: {err!r}")
            self.assertFalse(os.path.exists(sock))
        code, _, err = run_server("-F", "-c", "/nonexistent.conf")
        self.assertEqual(code, 1)
        self.assertIn("cannot read config file /nonexistent.conf", err)

    def test_sample_config_is_valid_and_documents_every_key(self):
        with open(SAMPLE) as f:
            sample = f.read()
        code, out, _ = run_server("-h")
        # every long option that is a setting has a key in the sample
        import re
        options = set(re.findall(r"--([a-z-]+)", out))
        options -= {"help", "version", "config"}
        for opt in options:
            self.assertRegex(sample, rf"(?m)^[#;]?\s*{opt}\s*=", opt)
        # and the sample, as shipped, starts a server
        srv = self.server(config=sample)
        self.peer(srv)


class Daemon(TestCase):
    def test_daemon_with_config_file_reload_and_stop(self):
        sock = os.path.join(self.tmpdir, "d.sock")
        pidfile = os.path.join(self.tmpdir, "d.pid")
        conf = os.path.join(self.tmpdir, "d.conf")
        name = unique_name()
        self.later(shm_unlink, name)
        text = (f"socket = {sock}\npidfile = {pidfile}\nshm-name = {name}\n"
                f"vectors = 2\nsocket-mode = 0600\nmax-peers = 2\n")
        with open(conf, "w") as f:
            f.write(text)
        self.reap_daemon(pidfile)
        code, out, err = run_server("-c", conf)
        self.assertEqual((code, err), (0, ""))
        with open(pidfile) as f:
            pid = int(f.read())
        self.assertEqual(os.stat(sock).st_mode & 0o777, 0o600)
        a, b = Peer(sock, vectors=2), Peer(sock, vectors=2)
        self.later(a.close)
        self.later(b.close)
        a.wait_join(b.id, 2)
        ring(a, b)
        # the third is over max-peers: closed before it gets anything
        c = Peer(sock)
        self.later(c.close)
        self.assertIsNone(c.recv())
        # the daemon reloads its file: now three may join
        with open(conf, "w") as f:
            f.write(text.replace("max-peers = 2", "max-peers = 3"))
        os.kill(pid, signal.SIGHUP)
        d = wait_until(lambda: self._try_join(sock, 2), what="reload")
        self.later(d.close)
        a.wait_join(d.id, 2)
        ring(a, d)
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not os.path.exists(f"/proc/{pid}"),
                   what="daemon exit")
        for p in (a, b, d):
            p.wait_closed()
        self.assertFalse(os.path.exists(pidfile))
        self.assertFalse(os.path.exists(sock))
        self.assertFalse(os.path.exists(f"/dev/shm/{name}"))

    @staticmethod
    def _try_join(sock, vectors):
        p = Peer(sock)
        msg = p.recv()
        if msg is None:
            p.close()
            return None
        p.id = p.recv()[0]
        p.shm_fd = p.recv()[1]
        while len(p.own) < vectors:
            p.handle(p.recv())
        return p


class Reload(TestCase):
    def test_live_settings_change(self):
        srv = self.server(config="max-peers = 1\nlog-level = notice\n"
                                 "max-queue = 50\n")
        a = self.peer(srv)
        c = self.peer(srv, None)
        self.assertIsNone(c.recv())  # over the limit
        srv.wait_log(r"refused a client \(pid \d+, uid 0, gid 0\): 1 peers "
                     r"already \(max-peers\)")
        srv.write_config("max-peers = 2\nlog-level = debug\nmax-queue = 60\n"
                         "allow-users = root\n")
        srv.send_signal(signal.SIGHUP)
        srv.wait_log(r"reloaded .*: log level debug, max-peers 2, "
                     r"max-queue 60, allowed: the allow-lists")
        b = self.peer(srv)
        a.wait_join(b.id, 1)
        ring(a, b)
        srv.wait_log(r"peer 1 joined")  # info, shown at level debug
        self.assertNotIn("warning: reload", srv.log())

    def test_fixed_settings_are_refused_and_kept(self):
        srv = self.server(vectors=None, config="vectors = 2\nsize = 1M\n")
        a = self.peer(srv, 2)
        other = os.path.join(self.tmpdir, "other.sock")
        srv.write_config(f"vectors = 4\nsize = 2M\nsocket = {other}\n"
                         "max-peers = 9\n")
        srv.send_signal(signal.SIGHUP)
        srv.wait_log(r"reloaded")
        log = srv.log()
        for key in ("vectors", "size"):
            self.assertIn(f"warning: reload: {key} changed, but only a "
                          "restart can change it", log)
        # -S on the command line still wins over the file: no change
        self.assertNotIn("reload: socket changed", log)
        self.assertIn("max-peers 9", log)
        # the server keeps running as it was
        b = self.peer(srv, 2)
        self.assertEqual((len(b.own), b.shm_size()), (2, 1 << 20))
        a.wait_join(b.id, 2)
        ring(a, b)
        self.assertFalse(os.path.exists(other))
        self.assertIsNone(srv.proc.poll())

    def test_socket_change_is_refused(self):
        sock = os.path.join(self.tmpdir, "a.sock")
        srv = self.server(socket_path=sock, config=f"socket = {sock}\n",
                          start=False)
        # without -S the file's socket is the one in force
        srv.args.remove("-S")
        srv.args.remove(sock)
        srv.start()
        a = self.peer(srv)
        srv.write_config(f"socket = {sock}.new\n")
        srv.send_signal(signal.SIGHUP)
        srv.wait_log(r"warning: reload: socket changed, but only a restart")
        self.assertFalse(os.path.exists(sock + ".new"))
        b = self.peer(srv)
        a.wait_join(b.id, 1)
        ring(a, b)

    def test_bad_file_keeps_the_running_configuration(self):
        srv = self.server(config="max-peers = 5\n")
        a, b = self.peer(srv), self.peer(srv)
        srv.write_config("max-peers = 1\nbogus = 2\n")
        srv.send_signal(signal.SIGHUP)
        srv.wait_log(r"error: reload failed, the configuration is "
                     rf"unchanged: {srv.config}:2: unknown key 'bogus'")
        # max-peers = 1 was not applied
        c = self.peer(srv)
        a.wait_join(c.id, 1)
        ring(a, b)
        ring(c, a)
        os.unlink(srv.config)
        srv.send_signal(signal.SIGHUP)
        srv.wait_log(r"reload failed.*cannot read config file")
        self.assertIsNone(srv.proc.poll())


class StateDump(TestCase):
    def test_sigusr1_logs_peers_ids_queues_and_counters(self):
        srv = self.server("--max-peers", "7", vectors=2)
        a = self.peer(srv, 2)
        b = self.peer(srv, 2)
        silent = Peer(srv.socket)  # never reads: its messages wait
        self.later(silent.close)
        self.peer(srv, 2).close()
        a.wait_leave(3)
        srv.send_signal(signal.SIGUSR1)
        srv.wait_log(r"state: peer 2")
        log = srv.log()
        self.assertRegex(log, r"state: 3 peers \(max-peers 7\), ids 0\.\.65535 "
                              r"with 3 in use, next id 4, 2 vectors")
        self.assertRegex(log, r"state: joins 4, departures 1, dropped 0, "
                              r"refused 0, denied 0, messages \d+")
        self.assertRegex(log, rf"state: peer 0: pid {os.getpid()}, uid 0, "
                              r"gid 0, 0 messages queued")
        self.assertRegex(log, r"state: peer 2: pid \d+, uid 0, gid 0, "
                              r"\d+ messages queued")


class Logging(TestCase):
    def _connect(self, srv):
        try:
            return Peer(srv.socket)
        except (FileNotFoundError, ConnectionRefusedError):
            return None

    def test_levels(self):
        srv = self.server("--log-level", "warning", start=False)
        srv.start(wait=False)
        # nothing says it listens: wait for a connection to go through
        peer = wait_until(lambda: self._connect(srv), what="server start")
        self.later(peer.close)
        peer.handshake(1)
        self.assertEqual(srv.stop(), 0)
        self.assertEqual(srv.log(), "")
        srv = self.server("-v")
        self.peer(srv).close()
        srv.wait_log(r"peer 0 left")
        srv.stop()
        srv = self.server("--log-level", "debug")
        self.peer(srv)
        srv.wait_log(r"peer 0 joined")


if __name__ == "__main__":
    unittest.main()
