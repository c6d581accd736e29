# SPDX-License-Identifier: LGPL-3.0-or-later
"""ivshmem-client against the built server: every scriptable command, the
exit codes of every misuse, and QEMU's interactive mode."""

import mmap
import os
import re
import select
import signal
import subprocess
import time
import unittest

from ivshmem_test import (TestCase, eventfd_kick, eventfd_read,
                          eventfd_pending, wait_until, TIMEOUT)

CLIENT = os.environ.get("IVSHMEM_CLIENT", "")

OK, USAGE, NUMBER, RANGE, CONNECT, TIMEDOUT, LOST = 0, 1, 2, 3, 4, 5, 6


class Tool:
    """A running ivshmem-client whose stdout is read as it comes."""

    def __init__(self, args, stdin=None):
        self.proc = subprocess.Popen([CLIENT] + args, stdin=stdin,
                                     stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.out = b""

    def expect(self, pattern, timeout=TIMEOUT):
        """Reads stdout until @pattern matches what came so far."""
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(pattern.encode(), self.out)
            if m:
                return m
            left = deadline - time.monotonic()
            r, _, _ = select.select([self.proc.stdout], [], [], max(left, 0))
            if not r:
                raise AssertionError(f"no /{pattern}/ in {self.out!r}")
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                raise AssertionError(f"exited before /{pattern}/: {self.out!r}"
                                     f" {self.proc.stderr.read()!r}")
            self.out += chunk

    def send(self, text):
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def finish(self, timeout=TIMEOUT):
        """Ends its input, waits for it, returns (exit code, stderr)."""
        if self.proc.stdin and not self.proc.stdin.closed:
            self.proc.stdin.close()
        self.proc.wait(timeout)
        self.out += self.proc.stdout.read()
        return self.proc.returncode, self.proc.stderr.read().decode()

    def kill(self):
        if self.proc.returncode is None:
            self.proc.kill()
            self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if f and not f.closed:
                f.close()


class ToolTest(TestCase):
    def setUp(self):
        super().setUp()
        if not CLIENT:
            raise RuntimeError("IVSHMEM_CLIENT must name ivshmem-client")

    def run_tool(self, *args, input=None):
        p = subprocess.run([CLIENT] + list(args), capture_output=True,
                           input=input, timeout=TIMEOUT)
        return p.returncode, p.stdout, p.stderr.decode()

    def tool(self, args, **kw):
        t = Tool(args, **kw)
        self.later(t.kill)
        return t

    def assertFails(self, code, *args, match=None):
        rc, out, err = self.run_tool(*args)
        self.assertEqual(rc, code, f"{args}: {err}")
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertTrue(err.startswith("ivshmem-client: "), err)
        if match:
            self.assertRegex(err, match)
        return err


class Commands(ToolTest):
    def test_info_and_peers(self):
        srv = self.server(vectors=3)
        p = self.peer(srv, 3)
        rc, out, _ = self.run_tool("-S", srv.socket, "info")
        self.assertEqual(rc, OK)
        self.assertEqual(out.decode(), "backend: doorbell\nsize: 4194304\n"
                         "id: 1\nvectors: 3\npeers: 0\n")
        q = self.peer(srv, 3)
        rc, out, _ = self.run_tool("--socket", srv.socket, "peers")
        self.assertEqual((rc, out), (OK, f"{p.id}\n{q.id}\n".encode()))

    def test_read_and_write(self):
        srv = self.server(vectors=1)
        p = self.peer(srv)
        mem = mmap.mmap(p.shm_fd, p.shm_size())
        self.later(mem.close)
        s = ["-S", srv.socket]
        self.assertEqual(self.run_tool(*s, "write", "16", "Hello, world")[0],
                         OK)
        self.assertEqual(mem[16:28], b"Hello, world")
        mem[0:4] = b"\x00\x01\x7f\x80"
        rc, out, _ = self.run_tool(*s, "read", "0", "0x1c")
        self.assertEqual(rc, OK)
        self.assertEqual(out.decode(),
                         "00000000  00 01 7f 80 00 00 00 00  00 00 00 00 00 "
                         "00 00 00  |................|\n"
                         "00000010  48 65 6c 6c 6f 2c 20 77  6f 72 6c 64"
                         "              |Hello, world|\n")
        rc, out, _ = self.run_tool(*s, "read", "16", "12", "--raw")
        self.assertEqual((rc, out), (OK, b"Hello, world"))
        # a leading 0 is decimal, as the help says, not octal
        rc, out, _ = self.run_tool(*s, "read", "016", "012", "--raw")
        self.assertEqual((rc, out), (OK, b"Hello, world"))
        # from a file, from stdin, at a suffixed offset
        path = os.path.join(self.tmpdir, "data")
        with open(path, "wb") as f:
            f.write(bytes(range(256)) * 20)
        self.assertEqual(self.run_tool(*s, "write", "1K", "--file", path)[0],
                         OK)
        self.assertEqual(mem[1024:1024 + 5120], bytes(range(256)) * 20)
        rc, _, _ = self.run_tool(*s, "write", "4194300", "--file", "-",
                                 input=b"tail")
        self.assertEqual(rc, OK)
        self.assertEqual(mem[4194300:], b"tail")
        rc, out, _ = self.run_tool(*s, "read", "4194300", "4", "--raw")
        self.assertEqual((rc, out), (OK, b"tail"))

    def test_bounds_and_numbers(self):
        srv = self.server(vectors=1)
        s = ["-S", srv.socket]
        self.assertFails(RANGE, *s, "read", "4M", "1", match="outside")
        self.assertFails(RANGE, *s, "read", "0", "4194305")
        self.assertFails(RANGE, *s, "read", "18446744073709551615", "2")
        self.assertFails(RANGE, *s, "read", "99999999999999999999999", "1")
        self.assertFails(RANGE, *s, "write", "4194303", "ab")
        self.assertFails(RANGE, *s, "write", "4194305", "")
        self.assertFails(NUMBER, *s, "read", "zero", "1", match="number")
        self.assertFails(NUMBER, *s, "read", "0", "1.5")
        self.assertFails(NUMBER, *s, "notify", "x", "0")
        self.assertFails(NUMBER, *s, "wait", "0", "--timeout", "soon")
        self.assertFails(RANGE, *s, "notify", "65536", "0")
        self.assertFails(RANGE, *s, "notify", "0", "2048")
        big = os.path.join(self.tmpdir, "big")
        with open(big, "wb") as f:
            f.write(b"x" * 10)
        self.assertFails(RANGE, *s, "write", "4194300", "--file", big)

    def test_notify(self):
        srv = self.server(vectors=2)
        p = self.peer(srv, 2)
        s = ["-S", srv.socket]
        self.assertEqual(self.run_tool(*s, "notify", str(p.id), "1")[0], OK)
        self.assertEqual(eventfd_read(p.own[1]), 1)
        self.assertFalse(eventfd_pending(p.own[0]))
        self.assertFails(RANGE, *s, "notify", "7", "0", match="no peer 7")
        self.assertFails(RANGE, *s, "notify", str(p.id), "2",
                         match="no vector 2")

    def test_wait(self):
        srv = self.server(vectors=2)
        p = self.peer(srv, 2)
        t = self.tool(["-S", srv.socket, "wait", "1", "--timeout", "10000"])
        p.wait_join(1, 2)
        eventfd_kick(p.peers[1][0])   # another vector: still waiting
        time.sleep(0.1)
        self.assertIsNone(t.proc.poll())
        eventfd_kick(p.peers[1][1])
        self.assertEqual(t.finish()[0], OK)
        start = time.monotonic()
        self.assertFails(TIMEDOUT, "-S", srv.socket, "wait", "0",
                         "--timeout", "100", match="no interrupt")
        self.assertLess(time.monotonic() - start, 5)
        self.assertFails(RANGE, "-S", srv.socket, "wait", "2",
                         "--timeout", "5000", match="no vector 2")

    def test_monitor(self):
        srv = self.server(vectors=2)
        p = self.peer(srv, 2)
        t = self.tool(["-S", srv.socket, "monitor"])
        t.expect(r"id 1\n")
        t.expect(r"joined 0\nsynced\n")
        p.wait_join(1, 2)
        eventfd_kick(p.peers[1][1])
        t.expect(r"interrupt 1 1\n")
        eventfd_kick(p.peers[1][0], 3)  # one kick worth 3: coalesced
        t.expect(r"interrupt 0 3\n")
        q = self.peer(srv, 2)
        t.expect(r"joined 2\n")
        q.close()
        t.expect(r"left 2\n")
        srv.stop()
        t.expect(r"left 0\nlost\n")
        rc, err = t.finish()
        self.assertEqual(rc, LOST, err)
        self.assertIn("lost the server", err)

    def test_monitor_reconnects(self):
        srv = self.server("--memfd", vectors=1)
        t = self.tool(["-S", srv.socket, "monitor", "--reconnect"])
        t.expect(r"id 0\n")
        srv.stop()
        t.expect(r"lost\n")
        srv.start()
        t.expect(r"memory-changed 0\n")
        t.expect(r"synced\n")
        p = self.peer(srv)
        t.expect(r"joined 1\n")
        self.assertEqual(self.run_tool("-S", srv.socket, "notify", "0",
                                       "0")[0], OK)
        t.expect(r"interrupt 0 1\n")
        t.proc.send_signal(signal.SIGTERM)
        t.finish()
        p.close()

    def test_monitor_timeout(self):
        srv = self.server(vectors=1)
        rc, out, _ = self.run_tool("-S", srv.socket, "monitor", "--timeout",
                                   "200")
        self.assertEqual(rc, OK)
        self.assertTrue(out.startswith(b"id 0\n"))

    def test_plain(self):
        path = os.path.join(self.tmpdir, "plain")
        self.assertFails(CONNECT, "--plain", path, "info", match="cannot open")
        rc, out, _ = self.run_tool("--plain", path, "--size", "64K", "info")
        self.assertEqual((rc, out), (OK, b"backend: plain\nsize: 65536\n"))
        self.assertEqual(os.path.getsize(path), 65536)
        self.assertEqual(self.run_tool("--plain", path, "write", "8",
                                       "plain")[0], OK)
        rc, out, _ = self.run_tool("--plain", path, "read", "8", "5", "--raw")
        self.assertEqual((rc, out), (OK, b"plain"))
        self.assertFails(RANGE, "--plain", path, "read", "64K", "1")
        for cmd in (["peers"], ["notify", "0", "0"], ["wait", "0"],
                    ["monitor"]):
            self.assertFails(USAGE, "--plain", path, *cmd,
                             match="needs a server")

    def test_pci_on_a_host(self):
        """The guest commands on a host: list what sysfs has (no ivshmem
        device on a host), and clear errors: the library's reason, then
        the tool's line."""
        def read(path):
            with open(path) as f:
                return f.read().strip()
        sysfs = "/sys/bus/pci/devices"
        devices = [d for d in sorted(os.listdir(sysfs)
                                     if os.path.isdir(sysfs) else []) if
                   [read(f"{sysfs}/{d}/vendor"), read(f"{sysfs}/{d}/device")]
                   == ["0x1af4", "0x1110"]]
        rc, out, err = self.run_tool("list")
        self.assertEqual((rc, err), (OK, ""))
        self.assertEqual([line.split()[0] for line in
                          out.decode().splitlines()], devices)

        absent = "0000:00:1f.7"
        self.assertNotIn(absent, devices)
        for args, code, lines in [
            (["--pci", absent, "info"], CONNECT, [
                f"no ivshmem device at {absent}",
                f"cannot open the ivshmem device {absent}: No such device"]),
            (["--pci", "00:1f.7", "wait", "0"], CONNECT, [
                f"no ivshmem device at {absent}",
                "cannot open the ivshmem device 00:1f.7: No such device"]),
            (["--pci", "00:1f.7/..", "read", "0", "1"], USAGE, [
                "invalid PCI address '00:1f.7/..'",
                "cannot open the ivshmem device 00:1f.7/..: Invalid "
                "argument"]),
            (["--pci", absent, "--cached", "info"], CONNECT, [
                "cached mappings of ivshmem devices are Windows only",
                f"cannot open the ivshmem device {absent}: Operation not "
                "supported"]),
            (["bind-vfio", absent], CONNECT, [
                f"no ivshmem device at {absent}",
                f"bind-vfio {absent}: No such device"]),
            (["bind-vfio", "1f.7"], USAGE, [
                "invalid PCI address '1f.7'",
                "bind-vfio 1f.7: Invalid argument"]),
        ]:
            rc, out, err = self.run_tool(*args)
            self.assertEqual((rc, out), (code, b""), f"{args}: {err}")
            self.assertEqual(err.splitlines(),
                             ["ivshmem-client: " + l for l in lines], args)

        for args, match in [
            (["--pci", absent, "peers"], "peers needs a server"),
            (["--pci", absent, "--plain", "/dev/shm/x", "info"], "exclude"),
            (["--uncached", "info"], "need --pci"),
            (["--pci", absent, "--uncached", "--cached", "info"], "exclude"),
            (["--pci", absent, "list"], "list takes no"),
            (["--pci", absent], "need a command"),
            (["bind-vfio"], "usage: bind-vfio ADDRESS"),
        ]:
            self.assertFails(USAGE, *args, match=match)

    def test_misuse(self):
        srv = self.server(vectors=1)
        s = ["-S", srv.socket]
        self.assertFails(USAGE, "--bogus", match="unknown option")
        self.assertFails(USAGE, "-x")
        self.assertFails(USAGE, "-S", match="needs an argument")
        self.assertFails(USAGE, *s, "frobnicate", match="unknown command")
        self.assertFails(USAGE, *s, "read", "0", match="usage: read")
        self.assertFails(USAGE, *s, "read", "0", "1", "2")
        self.assertFails(USAGE, *s, "write", "0", "a", "--file", "x")
        self.assertFails(USAGE, *s, "write", "0")
        self.assertFails(USAGE, *s, "write", "0", "a", "--raw")
        self.assertFails(USAGE, *s, "info", "--timeout", "5")
        self.assertFails(USAGE, *s, "--plain", "/dev/shm/x", "info")
        self.assertFails(USAGE, "--size", "4K", "info")
        self.assertFails(USAGE, "--raw")
        self.assertFails(CONNECT, "-S", os.path.join(self.tmpdir, "none"),
                         "info", match="cannot connect")
        rc, out, _ = self.run_tool("--help")
        self.assertEqual(rc, OK)
        self.assertIn(b"Exit status", out)
        rc, out, _ = self.run_tool("--version")
        self.assertEqual(rc, OK)
        self.assertTrue(out.startswith(b"ivshmem-client "))


class Interactive(ToolTest):
    HELP = ("dump: dump peers (including us)\n"
            "int <peer> <vector>: notify one vector on a peer\n"
            "int <peer> all: notify all vectors of a peer\n"
            "int all: notify all vectors of all peers (excepting us)\n")

    def test_session(self):
        srv = self.server(vectors=2)
        p = self.peer(srv, 2)
        t = self.tool(["-S", srv.socket], stdin=subprocess.PIPE)
        t.expect(re.escape(self.HELP) + r"cmd> listen on server socket \d+\n")
        p.wait_join(1, 2)
        full = (r"our_id = 1\n  vector 0 is enabled \(fd=\d+\)\n"
                r"  vector 1 is enabled \(fd=\d+\)\npeer_id = 0\n"
                r"  vector 0 is enabled \(fd=\d+\)\n"
                r"  vector 1 is enabled \(fd=\d+\)\ncmd> ")

        def dumped():  # until the client has heard all of the server
            t.out = b""
            t.send("dump\n")
            t.expect(r"cmd> ")
            return re.search(full.encode(), t.out)
        wait_until(dumped, what="a full dump")
        t.out = b""
        t.send("int 0 1\n")
        t.expect(r"cmd> ")
        self.assertEqual(eventfd_read(p.own[1]), 1)
        self.assertFalse(eventfd_pending(p.own[0]))
        t.out = b""
        t.send("int 0 all;int all\n")
        t.expect(r"cmd> ")  # after both commands
        self.assertEqual(eventfd_read(p.own[0]), 2)
        self.assertEqual(eventfd_read(p.own[1]), 2)
        t.out = b""
        t.send("int 9 0\nint 9 all\nbogus\nhelp\n?\n")
        t.expect(r"cannot find peer_id = 9\ncannot find peer_id = 9\n"
                 r"invalid command, type help\n" + re.escape(self.HELP * 2))
        # an interrupt from the peer: QEMU's client names itself
        eventfd_kick(p.peers[1][1])
        t.expect(r"receive notification from peer_id=1 vector=1\n")
        # the server goes and comes back
        srv.stop()
        t.expect(r"disconnected from server\n")
        srv.start()
        t.expect(r"listen on server socket \d+\n(.|\n)*", timeout=10)
        t.proc.stdin.close()   # the end of input ends it
        rc, err = t.finish()
        self.assertEqual(rc, OK, err)

    def test_verbose_lines_are_qemus(self):
        # the lines QEMU 7.2's ivshmem-client prints with -v, on stdout
        srv = self.server(vectors=1)
        p = self.peer(srv, 1)
        t = self.tool(["-v", "-S", srv.socket], stdin=subprocess.PIPE)
        t.expect(re.escape(self.HELP) + r"cmd> connect to client " +
                 re.escape(srv.socket) + r"\nour_id=1\n"
                 r"listen on server socket \d+\n"
                 r"new peer id = 0\n"
                 r"  new vector 0 \(fd=\d+\) for peer id 0\n"
                 r"  new vector 0 \(fd=\d+\) for peer id 1\n")
        p.wait_join(1, 1)
        t.send("int 0 0\n")
        t.expect(r"notify peer 0 on vector 0, fd \d+\ncmd> ")
        self.assertEqual(eventfd_read(p.own[0]), 1)
        eventfd_kick(p.peers[1][0], 3)
        t.expect(r"received event on fd \d+ vector 0: 3\n"
                 r"receive notification from peer_id=1 vector=0\n")
        q = self.peer(srv, 1)
        t.expect(r"new peer id = 2\n  new vector 0 \(fd=\d+\) for peer "
                 r"id 2\n")
        q.close()
        t.expect(r"delete peer id = 2\n")
        srv.stop()
        t.expect(r"disconnected from server\nconnect to client ")
        t.proc.stdin.close()
        rc, err = t.finish()
        self.assertEqual(rc, OK, err)
        self.assertIn("cannot connect to server, retry in 1 second\n", err)

    def test_no_server(self):
        t = self.tool(["-S", os.path.join(self.tmpdir, "none")],
                      stdin=subprocess.PIPE)
        t.expect(re.escape(self.HELP) + "cmd> ")
        t.send("dump\n")
        t.expect(r"our_id = -1\ncmd> ")
        t.proc.stdin.close()
        rc, err = t.finish()
        self.assertEqual(rc, OK)
        self.assertIn("cannot connect to server, retry in 1 second\n", err)

    def test_bad_option(self):
        rc, out, err = self.run_tool("-q")
        self.assertEqual(rc, USAGE)
        rc, out, err = self.run_tool("-h")
        self.assertEqual(rc, OK)
        self.assertIn(b"-S, --socket PATH", out)


class Examples(ToolTest):
    """The examples of README.md, built from the document."""

    def test_doorbell(self):
        srv = self.server(vectors=2)
        p = self.peer(srv, 2)
        t = Tool.__new__(Tool)
        t.proc = subprocess.Popen([os.environ["EXAMPLE_DOORBELL"],
                                   srv.socket], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        t.out = b""
        self.later(t.kill)
        t.expect(r"our id is 1, the memory has 4194304 bytes\n")
        t.expect(r"peer 0 joined, with 2 vectors\n")
        self.assertEqual(eventfd_read(p.own[0]), 1)  # it rang us
        mem = mmap.mmap(p.shm_fd, p.shm_size())
        self.assertEqual(mem[:18], b"hello from peer 1\0")
        mem.close()
        p.wait_join(1, 2)
        eventfd_kick(p.peers[1][1])
        t.expect(r"interrupt on vector 1 \(1\)\n")
        self.assertEqual(t.finish()[0], OK)

    def test_plain(self):
        path = os.path.join(self.tmpdir, "plain")
        for visit in (1, 2):
            p = subprocess.run([os.environ["EXAMPLE_PLAIN"], path],
                               capture_output=True, timeout=TIMEOUT)
            self.assertEqual(p.returncode, 0)
            self.assertEqual(p.stdout.decode(),
                             f"{path}: 1048576 bytes, visit {visit}\n")


if __name__ == "__main__":
    unittest.main()
