# SPDX-License-Identifier: LGPL-3.0-or-later
"""libivshmem (through ivshmem-client) and a real QEMU ivshmem-doorbell as
peers of the built server: interrupts both ways on the right vectors, and
the same shared memory."""

import os
import subprocess
import unittest

from ivshmem_test import TestCase, Qemu, BAR2, QEMU, TIMEOUT, wait_until
from test_client_tool import CLIENT, OK, Tool

VECTORS = 4


class WithQemu(TestCase):
    def setUp(self):
        super().setUp()
        if not QEMU:
            raise unittest.SkipTest("no qemu-system-x86_64")
        self.srv = self.server(vectors=VECTORS)
        self.qemu = Qemu(self.tmpdir, [
            "-chardev", f"socket,path={self.srv.socket},id=ivs",
            "-device", f"ivshmem-doorbell,chardev=ivs,vectors={VECTORS},"
                       "addr=03.0"])
        self.later(self.qemu.quit)
        self.qemu.map_bars()
        self.qemu.enable_msix(VECTORS)
        self.qemu_id = self.qemu.iv_position()

    def tool(self, *args):
        t = Tool(["-S", self.srv.socket] + list(args))
        self.later(t.kill)
        return t

    def run_tool(self, *args, input=None):
        p = subprocess.run([CLIENT, "-S", self.srv.socket] + list(args),
                           capture_output=True, input=input, timeout=TIMEOUT)
        return p.returncode, p.stdout, p.stderr.decode()

    def test_library_rings_qemu(self):
        rc, out, _ = self.run_tool("peers")
        self.assertEqual((rc, out), (OK, f"{self.qemu_id}\n".encode()))
        for vector in (2, 0, 3, 1):
            rc, _, err = self.run_tool("notify", str(self.qemu_id),
                                       str(vector))
            self.assertEqual(rc, OK, err)
            self.qemu.wait_msix(vector)
            for other in range(VECTORS):
                self.assertEqual(self.qemu.msix_count(other), 0,
                                 f"vector {other} after ringing {vector}")

    def ring_until(self, peer, vector, arrived):
        """Rings @peer from QEMU until @arrived(): QEMU may not have heard
        of the peer yet, and then drops the doorbell write."""
        def rung():
            self.qemu.ring(peer, vector)
            return arrived()
        wait_until(rung, interval=0.05, what=f"vector {vector} of {peer}")

    def test_qemu_rings_library(self):
        mon = self.tool("monitor")
        me = int(mon.expect(r"id (\d+)\n").group(1))
        mon.expect(f"joined {self.qemu_id}\nsynced\n")
        for vector in (3, 1, 0, 2):
            def arrived():
                try:
                    mon.expect(f"interrupt {vector} \\d+\n", timeout=0.05)
                    return True
                except AssertionError:
                    return False
            self.ring_until(me, vector, arrived)
            # and on no other vector
            self.assertNotRegex(mon.out.decode(),
                                f"interrupt [^{vector}] ")
            mon.out = b""
        # QEMU leaving is a departure
        self.qemu.quit()
        mon.expect(f"left {self.qemu_id}\n")

    def test_wait_for_qemu(self):
        waiter = self.tool("wait", "2", "--timeout", "10000")
        self.ring_until(self.qemu_id + 1, 2,
                        lambda: waiter.proc.poll() is not None)
        rc, err = waiter.finish()
        self.assertEqual(rc, OK, err)

    def test_same_memory(self):
        self.assertEqual(self.run_tool("write", "64", "ABCDEFGH")[0], OK)
        self.assertEqual(self.qemu.readq(BAR2 + 64),
                         int.from_bytes(b"ABCDEFGH", "little"))
        self.qemu.writeq(BAR2 + 4096, 0x1122334455667788)
        rc, out, _ = self.run_tool("read", "4096", "8", "--raw")
        self.assertEqual((rc, out),
                         (OK, (0x1122334455667788).to_bytes(8, "little")))


if __name__ == "__main__":
    unittest.main()
