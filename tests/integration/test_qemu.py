# SPDX-License-Identifier: LGPL-3.0-or-later
"""A real QEMU (qemu-system-x86_64, ivshmem-doorbell and ivshmem-plain) as
a peer of our server, driven over qtest without a guest."""

import mmap
import os
import unittest

from ivshmem_test import (TestCase, Qemu, BAR0, BAR2, eventfd_kick,
                          eventfd_read, eventfd_pending, wait_until)


class QemuPeer(TestCase):
    def test_doorbell_qemu_joins_rings_and_is_rung(self):
        srv = self.server(vectors=4)
        host = self.peer(srv, 4)
        q = self.qemu(srv, 4)
        # QEMU joins with exactly 4 eventfds, under the id the server gave
        self.assertEqual(host.wait_join(1, 4), 4)
        self.assertEqual(q.iv_position(), 1)
        host.pump(0.1)
        self.assertEqual(host.peers.keys(), {1})

        # the guest's doorbell write reaches the host peer, on that vector
        for v in range(4):
            q.ring(host.id, v)
            self.assertEqual(eventfd_read(host.own[v]), 1)
            for other in set(range(4)) - {v}:
                self.assertFalse(eventfd_pending(host.own[other]))

        # the host rings QEMU: the device raises exactly that MSI-X vector
        q.enable_msix(4)
        for v in (2, 0, 3, 1):
            eventfd_kick(host.peers[1][v])
            q.wait_msix(v)
            for other in set(range(4)) - {v}:
                self.assertEqual(q.msix_count(other), 0, f"vector {other}")

    def test_memory_is_shared_with_qemu(self):
        srv = self.server(vectors=1)
        host = self.peer(srv)
        q = self.qemu(srv, 1)
        host.wait_join(1, 1)
        mem = mmap.mmap(host.shm_fd, host.shm_size())
        self.later(mem.close)
        mem[0x1000:0x1008] = (0x1122334455667788).to_bytes(8, "little")
        self.assertEqual(q.readq(BAR2 + 0x1000), 0x1122334455667788)
        q.writeq(BAR2 + 0x3ffff8, 0xCAFEF00DDEADBEEF)
        self.assertEqual(int.from_bytes(mem[0x3ffff8:0x400000], "little"),
                         0xCAFEF00DDEADBEEF)

    def test_qemu_quitting_is_announced(self):
        srv = self.server(vectors=2)
        host = self.peer(srv, 2)
        q = self.qemu(srv, 2)
        host.wait_join(1, 2)
        q.quit()
        host.wait_leave(1)
        srv.wait_log(r"peer 1 left")

    def test_an_id_qemu_saw_leave_is_not_given_again(self):
        # QEMU 7.2 frees a peer's eventfds at its departure and writes into
        # them when that id comes back: another free id is given instead
        srv = self.server("--max-id", "3")
        p0, p1 = self.peer(srv), self.peer(srv)
        p1.close()
        p0.wait_leave(1)  # before QEMU came: harmless to give again
        q = self.qemu(srv, 1)
        self.assertEqual(q.iv_position(), 2)
        p3 = self.peer(srv)
        p3.close()
        p0.wait_leave(3)
        p0.close()
        srv.wait_log(r"peer 0 left")
        # round robin would give 0, which QEMU saw leave
        new = self.peer(srv)
        self.assertEqual(new.id, 1)
        wait_until(lambda: q.ring(1, 0) or eventfd_pending(new.own[0]),
                   what="QEMU ringing the newcomer")
        self.assertEqual(eventfd_read(new.own[0]), 1)
        self.assertNotIn("given again", srv.log())

    def test_two_qemus_ring_each_other(self):
        srv = self.server(vectors=2)
        a = self.qemu(srv, 2)
        b = self.qemu(srv, 2)
        self.assertEqual((a.iv_position(), b.iv_position()), (0, 1))
        b.enable_msix(2)
        a.enable_msix(2)
        a.ring(1, 1)
        b.wait_msix(1)
        self.assertEqual(b.msix_count(0), 0)
        b.ring(0, 0)
        a.wait_msix(0)

    def test_many_vectors_many_qemus(self):
        # QEMU's own server loses the eventfds of the 5th peer with 64
        # vectors; here 6 QEMUs all get everything
        srv = self.server(vectors=64)
        host = self.peer(srv, 64, keep_fds=False)
        qemus = [self.qemu(srv, 64) for _ in range(6)]
        for i in range(1, 7):
            self.assertEqual(host.wait_join(i, 64), 64)
        last = qemus[-1]
        self.assertEqual(last.iv_position(), 6)
        last.enable_msix(64)
        # the first QEMU rings the last one's vector 63: the last QEMU got
        # all its own eventfds, the first got all of the last one's
        qemus[0].ring(6, 63)
        last.wait_msix(63)
        # and the last one can ring every other QEMU
        qemus[2].enable_msix(64)
        last.ring(3, 17)
        qemus[2].wait_msix(17)

    def test_more_vectors_in_server_than_in_qemu(self):
        # QEMU closes the extra eventfds and keeps working
        srv = self.server(vectors=4)
        host = self.peer(srv, 4)
        q = self.qemu(srv, 2)
        host.wait_join(1, 4)
        q.ring(host.id, 1)
        self.assertEqual(eventfd_read(host.own[1]), 1)

    def test_plain_qemu_shares_the_server_object(self):
        srv = self.server("-l", "1M", vectors=1)
        host = self.peer(srv)
        path = f"/dev/shm/{srv.shm_name}"
        q = Qemu(self.tmpdir, [
            "-object", f"memory-backend-file,id=m,share=on,mem-path={path},"
                       "size=1M",
            "-device", "ivshmem-plain,memdev=m,addr=03.0"])
        self.later(q.quit)
        q.map_bars(doorbell=False)
        self.assertEqual(q.iv_position(), 0)  # a plain device has no id
        mem = mmap.mmap(host.shm_fd, host.shm_size())
        self.later(mem.close)
        mem[8:16] = (0xA5A5A5A5_5A5A5A5A).to_bytes(8, "little")
        self.assertEqual(q.readq(BAR2 + 8), 0xA5A5A5A5_5A5A5A5A)
        q.writel(BAR2 + 0xFFFFC, 0x600DF00D)
        self.assertEqual(int.from_bytes(mem[0xFFFFC:0x100000], "little"),
                         0x600DF00D)
        # the plain QEMU is not a peer
        host.pump(0.1)
        self.assertEqual(host.peers, {})


if __name__ == "__main__":
    unittest.main()
