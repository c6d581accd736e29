# SPDX-License-Identifier: LGPL-3.0-or-later
"""libivshmem's Linux guest backend in booted guests, checked from both sides.

Two guests boot at once (init-ivshmem.sh is their /init):
- "full": q35 + intel-iommu, an ivshmem-plain device and an ivshmem-doorbell
  with 4 vectors connected to our server. On the host: an echo peer
  written from the protocol spec (it answers each interrupt on the same
  vector), an ivshmem-client monitor (our library) and ivshmem-client
  notify when the guest asks for an interrupt. In the guest: the static
  ivshmem-client through sysfs, then through VFIO, then guest-test.
- "noiommu": no IOMMU, an ivshmem-plain device: binding to vfio-pci says
  what is missing.

Everything runs in setUpClass; each test checks one part of what both
sides saw. Environment: IVSHMEM_SERVER, IVSHMEM_CLIENT (host),
IVSHMEM_CLIENT_STATIC, GUEST_TEST and EXAMPLE_GUEST (guest, static),
IVSHMEM_GUEST_CACHE (where fetch-kernel.sh keeps the kernel, default
/var/tmp/ivshmem-guest, shared by the build directories).
"""

import mmap
import os
import queue
import re
import secrets
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)

import guest  # noqa: E402
from ivshmem_test import (Server, eventfd_kick, shm_unlink,  # noqa: E402
                          unique_name, TIMEOUT)

CLIENT = os.environ.get("IVSHMEM_CLIENT", "")
CLIENT_STATIC = os.environ.get("IVSHMEM_CLIENT_STATIC", "")
GUEST_TEST = os.environ.get("GUEST_TEST", "")
EXAMPLE_GUEST = os.environ.get("EXAMPLE_GUEST", "")
CACHE = os.environ.get("IVSHMEM_GUEST_CACHE", "/var/tmp/ivshmem-guest")

MIB = 1 << 20
VECTORS = 4
ROUNDS = 20
GUEST_TIMEOUT = 120
PLAIN = "0000:00:03.0"
DOORBELL = "0000:00:04.0"


def host_tool(*args):
    p = subprocess.run([CLIENT] + list(args), capture_output=True,
                       timeout=TIMEOUT)
    if p.returncode != 0:
        raise AssertionError(f"ivshmem-client {' '.join(args)}: exit "
                             f"{p.returncode}: {p.stderr.decode()}")
    return p.stdout


class Echo(threading.Thread):
    """A host peer that answers every interrupt of the guest on the same
    vector, and counts them."""

    def __init__(self, peer):
        super().__init__(daemon=True)
        self.peer = peer
        self.guest = None        # the guest's id, once it says it
        self.received = [0] * VECTORS
        self.vectors = {}        # id -> the vectors a peer had
        self.stop = threading.Event()
        self.error = None

    def run(self):
        try:
            own = {fd: v for v, fd in enumerate(self.peer.own)}
            while not self.stop.is_set():
                r, _, _ = select.select([self.peer.sock] + list(own), [],
                                        [], 0.05)
                for fd in r:
                    if fd is self.peer.sock:
                        self.peer.handle(self.peer.recv())
                        self.vectors.update((i, len(fds)) for i, fds in
                                            self.peer.peers.items())
                        continue
                    v = own[fd]
                    self.received[v] += int.from_bytes(os.read(fd, 8),
                                                       sys.byteorder)
                    if self.guest in self.peer.peers:
                        eventfd_kick(self.peer.peers[self.guest][v])
        except Exception as e:  # reported by the tests
            self.error = e


class GuestTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for name, path in (("IVSHMEM_CLIENT", CLIENT),
                           ("IVSHMEM_CLIENT_STATIC", CLIENT_STATIC),
                           ("GUEST_TEST", GUEST_TEST),
                           ("EXAMPLE_GUEST", EXAMPLE_GUEST)):
            if not path or not os.access(path, os.X_OK):
                raise RuntimeError(f"{name} must name the built program")
        cls.tmpdir = tempfile.mkdtemp(prefix="ivshmem-guest-")
        cls.cleanups = [lambda: shutil.rmtree(cls.tmpdir,
                                              ignore_errors=True)]
        try:
            cls.run_guests()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        while cls.cleanups:
            try:
                cls.cleanups.pop()()
            except Exception as e:
                print(f"cleanup: {e!r}", file=sys.stderr)

    @classmethod
    def initramfs(cls, kdir):
        """The static ivshmem-client (named so), guest-test and the
        README's example-guest."""
        client = os.path.join(cls.tmpdir, "ivshmem-client")
        os.symlink(CLIENT_STATIC, client)
        return guest.build_initramfs(
            kdir, os.path.join(cls.tmpdir, "ivshmem.cpio"),
            os.path.join(HERE, "init-ivshmem.sh"),
            [client, GUEST_TEST, EXAMPLE_GUEST])

    @classmethod
    def plain_file(cls, tag):
        path = "/dev/shm/" + unique_name(f"ivshmem-guest-{tag}")
        cls.cleanups.append(lambda: os.path.exists(path) and os.unlink(path))
        return path

    @classmethod
    def run_guests(cls):
        t0 = time.monotonic()
        kdir = guest.fetch_kernel(CACHE)
        initrd = cls.initramfs(kdir)
        cls.token = secrets.token_hex(8)

        # the noiommu guest, meanwhile, from a thread that outlives it
        noiommu_plain = cls.plain_file("noiommu")
        host_tool("--plain", noiommu_plain, "--size", "1M", "info")
        cls.noiommu = None

        def noiommu():
            try:
                cls.noiommu = guest.run_guest(
                    kdir, initrd, append=["ivtest.mode=noiommu"],
                    qemu_args=guest.ivshmem_plain_args(
                        "p0", noiommu_plain, MIB, addr="03.0"))
            except Exception as e:
                cls.noiommu = e
        other = threading.Thread(target=noiommu)
        other.start()
        cls.cleanups.append(other.join)

        # the host's side of the full guest
        cls.plain = cls.plain_file("plain")
        host_tool("--plain", cls.plain, "--size", "1M", "write", "0",
                  "host:" + cls.token)
        server = Server(cls.tmpdir, "-l", "1M", vectors=VECTORS,
                        shm_name=unique_name("ivshmem-guest"))
        cls.cleanups.append(lambda: shm_unlink(server.shm_name))
        server.start()
        cls.cleanups.append(server.stop)
        cls.server = server
        cls.echo_peer = server.peer(VECTORS)
        cls.cleanups.append(cls.echo_peer.close)
        with mmap.mmap(cls.echo_peer.shm_fd, MIB) as m:
            m[0:len(cls.token) + 7] = b"server:" + cls.token.encode()
        echo = Echo(cls.echo_peer)
        cls.echo = echo

        monitor = subprocess.Popen([CLIENT, "-S", server.socket, "monitor"],
                                   stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE)
        cls.cleanups.append(lambda: monitor.poll() is None and
                            monitor.kill())
        r, _, _ = select.select([monitor.stdout], [], [], TIMEOUT)
        first = monitor.stdout.readline().decode() if r else ""
        m = re.fullmatch(r"id (\d+)\n", first)
        if not m:
            raise AssertionError(f"monitor printed {first!r}")
        cls.monitor_id = int(m.group(1))

        # the guest says its id, and asks for interrupts ("ring=V")
        asks = queue.Queue()

        def on_line(line):
            m = re.search(r"GUEST-RESULT: id=(\d+)", line)
            if m:
                echo.guest = int(m.group(1))
            m = re.search(r"GUEST-RESULT: ring=(\d+)", line)
            if m:
                asks.put(int(m.group(1)))
        g = guest.Guest(kdir, initrd, iommu=True, timeout=GUEST_TIMEOUT,
                        on_line=on_line, append=[
                            "ivtest.mode=full", "ivtest.token=" + cls.token,
                            f"ivtest.echo={cls.echo_peer.id}",
                            f"ivtest.monitor={cls.monitor_id}",
                            f"ivtest.rounds={ROUNDS}"],
                        qemu_args=guest.ivshmem_plain_args(
                            "p0", cls.plain, MIB, addr="03.0") +
                        guest.ivshmem_doorbell_args(
                            "d0", server.socket, VECTORS, addr="04.0"))
        cls.cleanups.append(g.kill)
        g.start()
        echo.start()
        cls.cleanups.append(echo.join)
        cls.cleanups.append(echo.stop.set)
        cls.rung = []
        deadline = time.monotonic() + GUEST_TIMEOUT
        while g.proc.poll() is None and time.monotonic() < deadline:
            try:
                vector = asks.get(timeout=0.05)
            except queue.Empty:
                continue
            host_tool("-S", server.socket, "notify", str(echo.guest),
                      str(vector))
            cls.rung.append(vector)
        cls.result = g.wait()
        echo.stop.set()
        echo.join()

        # what the host saw: QEMU joined right after the monitor, before
        # the guest asked for anything
        joins = [i for e, i in cls.echo_peer.events if e == "join"]
        cls.qemu_id = joins[joins.index(cls.monitor_id) + 1]
        cls.qemu_vectors = echo.vectors.get(cls.qemu_id)
        cls.echo_peer.wait_leave(cls.qemu_id)
        monitor.terminate()
        out, _ = monitor.communicate(timeout=TIMEOUT)
        cls.monitor_lines = out.decode().splitlines()
        cls.plain_after = [
            host_tool("--plain", cls.plain, "read", str(off),
                      str(9 + len(cls.token)), "--raw").decode()
            for off in (4096, 8192)]
        with mmap.mmap(cls.echo_peer.shm_fd, MIB) as m:
            cls.doorbell_after = m[4096:4096 + 9 + len(cls.token)].decode()
        other.join()
        if not isinstance(cls.noiommu, guest.GuestResult):
            raise AssertionError(f"noiommu guest: {cls.noiommu!r}")
        cls.total_time = time.monotonic() - t0
        print(f"\nguests: full {cls.result.wall_time:.1f} s, noiommu "
              f"{cls.noiommu.wall_time:.1f} s, all {cls.total_time:.1f} s; "
              f"round trip {cls.result.results.get('rtt_median_us')} us "
              f"median, {cls.result.results.get('rtt_min_us')} us min",
              file=sys.stderr)

    # -- helpers ---------------------------------------------------------

    def output(self, name, stream="OUT", result=None):
        """The lines a command printed in the guest (init-ivshmem.sh)."""
        result = result or self.result
        prefix = f"{stream} {name}: "
        return [line[len(prefix):] for line in result.console.splitlines()
                if line.startswith(prefix)]

    def assertPassed(self, *names, result=None):
        result = result or self.result
        for name in names:
            failed = [f for f in result.failed if f.split()[0] == name]
            self.assertEqual(failed, [], f"guest: {name}")
            self.assertIn(name, [p.split()[0] for p in result.passed],
                          f"guest: {name} did not run")

    # -- the tests -------------------------------------------------------

    def test_guests_ran_clean(self):
        """Both guests ended with status 0 and no failure, in time."""
        self.result.check()
        self.noiommu.check()
        self.assertIsNone(self.echo.error)
        self.assertLess(self.total_time, 120)

    def test_list(self):
        self.assertPassed("list", "vfio-list")
        self.assertEqual(self.output("list"), [
            f"{PLAIN} plain {MIB} -", f"{DOORBELL} doorbell {MIB} -"])
        self.assertEqual(self.output("vfio-list"), [
            f"{PLAIN} plain {MIB} -", f"{DOORBELL} doorbell {MIB} vfio-pci"])

    def test_plain_both_ways(self):
        """The host's write is read in the guest (write-combined and
        uncached); the guest's writes through both reach the host."""
        self.assertPassed("plain-info", "plain-read", "plain-read-uncached",
                          "plain-wc-to-uc", "plain-uc-to-wc")
        self.assertEqual(self.output("plain-read"), ["host:" + self.token])
        self.assertEqual(self.output("plain-read-uncached"),
                         ["host:" + self.token])
        self.assertEqual(self.plain_after, ["guest-wc:" + self.token,
                                            "guest-uc:" + self.token])

    def test_plain_errors(self):
        self.assertPassed("plain-cached", "plain-wait")
        self.assertEqual(self.output("plain-wait", "ERR"), [
            f"ivshmem-client: {PLAIN} is an ivshmem-plain device: it has "
            "no interrupts",
            "ivshmem-client: wait: Operation not supported"])

    def test_doorbell_id(self):
        """The guest's IVPosition is the id the server gave its QEMU."""
        self.assertPassed("db-info", "vfio-info")
        self.assertEqual(self.result.results["id"], str(self.qemu_id))
        self.assertEqual(self.qemu_vectors, VECTORS)
        self.assertEqual(self.output("db-info"), [
            "backend: pci", f"size: {MIB}", f"id: {self.qemu_id}",
            f"vectors: {VECTORS}"])

    def test_doorbell_memory(self):
        self.assertPassed("db-read", "vfio-read-uncached", "vfio-write")
        self.assertEqual(self.output("db-read"), ["server:" + self.token])
        self.assertEqual(self.doorbell_after, "guest-db:" + self.token)

    def test_no_vfio(self):
        """Without VFIO: notify works, waiting says what to do."""
        self.assertPassed("db-wait", "db-monitor", "db-notify",
                          "db-bind-no-modules")
        self.assertIn(f"ivshmem-client bind-vfio {DOORBELL}",
                      self.output("db-wait", "ERR")[0])

    def test_guest_to_host(self):
        """The guest's notify reaches the host's ivshmem-client, through
        sysfs (vector 3) and through VFIO (vector 2)."""
        self.assertPassed("db-notify", "vfio-notify")
        got = [l for l in self.monitor_lines if l.startswith("interrupt")]
        self.assertEqual(got, ["interrupt 3 1", "interrupt 2 1"])
        self.assertIn(f"joined {self.qemu_id}", self.monitor_lines)

    def test_host_to_guest_tool(self):
        """The host's ivshmem-client rings the guest's wait and monitor."""
        self.assertPassed("bind", "bind-again", "bind-none", "vfio-wait",
                          "vfio-monitor")
        self.assertEqual(self.rung, [1, 3])
        self.assertIn("interrupt 3 1", self.output("vfio-monitor"))

    def test_vectors_round_trip(self):
        """Each vector arrives as itself, both ways, through ivshmem_wait
        and through get_fd + dispatch; the echo peer counts them."""
        self.assertPassed("vfio-open", "vfio-own-id", "vfio-vectors",
                          "vfio-get-fd", "vfio-eventfds",
                          f"vfio-no-vector-{VECTORS}", "vfio-no-peer-list",
                          "vfio-wait-each-vector",
                          "vfio-dispatch-each-vector")
        # and once more on vector 0 for the README's example
        self.assertEqual(self.echo.received,
                         [2 * ROUNDS + 1] + [2 * ROUNDS] * (VECTORS - 1))
        results = self.result.results
        self.assertEqual(int(results["round_trips"]),
                         2 * ROUNDS * VECTORS)
        self.assertGreater(float(results["rtt_median_us"]), 0)

    def test_readme_example(self):
        self.assertPassed("example")
        self.assertEqual(self.output("example"), [
            f"our id is {self.qemu_id}, with {VECTORS} vectors",
            "interrupt on vector 0"])

    def test_no_iommu(self):
        self.assertPassed("noiommu-list", "noiommu-bind",
                          result=self.noiommu)
        self.assertEqual(self.output("noiommu-list", result=self.noiommu),
                         [f"{PLAIN} plain {MIB} -"])


if __name__ == "__main__":
    unittest.main()
