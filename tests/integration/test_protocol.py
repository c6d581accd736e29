# SPDX-License-Identifier: LGPL-3.0-or-later
"""The server speaks the protocol exactly: order, ids, eventfds, departures."""

import os
import socket
import struct
import time
import unittest

from ivshmem_test import (TestCase, Peer, eventfd_kick, eventfd_read,
                          eventfd_pending, ring, wait_until, open_fds)


class Handshake(TestCase):
    def test_message_order_for_first_and_later_peers(self):
        srv = self.server(vectors=3)
        a = Peer(srv.socket)
        self.later(a.close)
        # exactly: version, id, shm, then its own id 3 times with fds
        self.assertEqual(a.recv(), (0, None))
        self.assertEqual(a.recv(), (0, None))
        value, shm = a.recv()
        self.assertEqual(value, -1)
        self.assertEqual(os.fstat(shm).st_size, 4 << 20)
        a.shm_fd, a.id = shm, 0
        for _ in range(3):
            value, fd = a.recv()
            self.assertEqual(value, 0)
            self.assertIsNotNone(fd)
            a.own.append(fd)
        a.pump(0.05)
        self.assertEqual(a.peers, {})

        b = Peer(srv.socket)
        self.later(b.close)
        self.assertEqual(b.recv(), (0, None))
        self.assertEqual(b.recv(), (1, None))
        value, fd = b.recv()
        self.assertEqual(value, -1)
        os.close(fd)
        # the existing peer 0 with its 3 vectors, then itself
        got = [b.recv() for _ in range(6)]
        self.assertEqual([v for v, _ in got], [0, 0, 0, 1, 1, 1])
        self.assertTrue(all(fd is not None for _, fd in got))
        for _, fd in got:
            os.close(fd)
        # peer 0 hears of peer 1, once per vector
        self.assertEqual(a.wait_join(1, 3), 3)

    def test_existing_peers_in_connect_order(self):
        srv = self.server(vectors=1)
        peers = [self.peer(srv) for _ in range(5)]
        peers[1].close()
        peers[3].close()
        peers[0].wait_leave(1)
        peers[0].wait_leave(3)
        late = self.peer(srv)
        self.assertEqual(late.order, [0, 2, 4])
        self.assertEqual(late.id, 5)

    def test_shared_memory_is_shared(self):
        srv = self.server(vectors=1)
        a, b = self.peer(srv), self.peer(srv)
        import mmap
        ma = mmap.mmap(a.shm_fd, a.shm_size())
        mb = mmap.mmap(b.shm_fd, b.shm_size())
        ma[100:105] = b"hello"
        self.assertEqual(mb[100:105], b"hello")
        ma.close()
        mb.close()

    def test_eventfds_interrupt(self):
        srv = self.server(vectors=4)
        a, b = self.peer(srv, 4), self.peer(srv, 4)
        a.wait_join(b.id, 4)
        for v in range(4):
            # a rings b's vector v: b's own eventfd v, and only it, fires
            eventfd_kick(a.peers[b.id][v])
            self.assertEqual(eventfd_read(b.own[v]), 1)
            for other in range(4):
                self.assertFalse(eventfd_pending(b.own[other]))
            eventfd_kick(b.peers[a.id][v], 2)
            self.assertEqual(eventfd_read(a.own[v]), 2)

    def test_eventfds_arrive_nonblocking(self):
        import fcntl
        srv = self.server(vectors=2)
        a = self.peer(srv, 2)
        for fd in a.own:
            self.assertTrue(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK)

    def test_zero_vectors(self):
        srv = self.server(vectors=0)
        a = self.peer(srv, 0)
        b = self.peer(srv, 0)
        self.assertEqual((a.id, b.id), (0, 1))
        b.close()
        # no eventfds, so no join message, but the departure is still
        # announced, as by QEMU's server
        a.peers[1] = []
        a.wait_leave(1)

    def test_many_vectors(self):
        srv = self.server(vectors=2048)
        a = self.peer(srv, 2048, keep_fds=False)
        b = self.peer(srv, 2048, keep_fds=False)
        self.assertEqual(len(a.own), 2048)
        self.assertEqual(b.peers, {0: 2048})
        self.assertEqual(a.wait_join(1, 2048), 2048)


class Departures(TestCase):
    def test_departure_is_announced(self):
        srv = self.server(vectors=2)
        a, b, c = (self.peer(srv, 2) for _ in range(3))
        a.wait_join(2, 2)
        b.close()
        a.wait_leave(1)
        c.wait_leave(1)
        self.assertEqual(a.events, [("join", 1), ("join", 2), ("leave", 1)])

    def test_client_that_sends_is_disconnected(self):
        srv = self.server(vectors=1)
        a, b = self.peer(srv), self.peer(srv)
        b.sock.send(b"x")
        b.wait_closed()
        self.assertTrue(b.closed)
        a.wait_leave(b.id)
        srv.wait_log(r"peer 1 sent data")
        # the server serves on
        c = self.peer(srv)
        self.assertEqual(c.id, 2)
        self.assertEqual(c.order, [0])
        ring(a, c)
        self.assertEqual(a.events, [("join", 1), ("leave", 1), ("join", 2)])

    def test_client_that_closes_before_reading(self):
        srv = self.server(vectors=1)
        a = self.peer(srv)
        for _ in range(20):
            s = socket.socket(socket.AF_UNIX)
            s.connect(srv.socket)
            s.close()
        b = self.peer(srv)
        a.wait_join(b.id, 1)
        a.pump(0.1)
        joined = [i for e, i in a.events if e == "join"]
        left = [i for e, i in a.events if e == "leave"]
        # every early closer joined and left; nobody else did
        self.assertEqual(set(joined) - set(left), {b.id})
        self.assertEqual(b.order, [0])
        self.assertEqual(srv.proc.poll(), None)
        ring(a, b)


class Ids(TestCase):
    def test_round_robin_across_disconnects(self):
        srv = self.server(vectors=1)
        p = [self.peer(srv) for _ in range(3)]
        self.assertEqual([x.id for x in p], [0, 1, 2])
        p[0].close()
        p[1].close()
        # not lowest-free: the counter goes on
        self.assertEqual(self.peer(srv).id, 3)
        self.assertEqual(self.peer(srv).id, 4)

    def test_ids_restart_at_zero_after_restart(self):
        srv = self.server(vectors=1)
        self.assertEqual(self.peer(srv).id, 0)
        self.assertEqual(self.peer(srv).id, 1)
        self.assertEqual(srv.stop(), 0)
        srv.start()
        self.assertEqual(self.peer(srv).id, 0)


class Backpressure(TestCase):
    """The QEMU server's worst defect: messages dropped on a full socket."""

    def test_nothing_lost_when_a_peer_reads_late(self):
        srv = self.server(vectors=64)
        peers = [self.peer(srv, 64, keep_fds=False)]
        # nobody reads while 20 peers join: thousands of messages wait
        for _ in range(19):
            p = Peer(srv.socket, keep_fds=False)
            self.later(p.close)
            peers.append(p)
        for p in peers[1:]:
            p.handshake(64)
        for p in peers:
            for q in peers:
                if q is not p:
                    self.assertEqual(p.wait_join(q.id, 64), 64)
            self.assertEqual(len(p.own), 64)

    def test_peer_that_never_reads_is_dropped_and_announced(self):
        srv = self.server("--max-queue", "100", vectors=64)
        first = self.peer(srv, 64, keep_fds=False)
        stalled = Peer(srv.socket)  # joins, never reads
        self.later(stalled.close)
        first.wait_join(1, 64)
        # each join sends it 64 messages: its socket fills, then its queue
        late = []
        for _ in range(12):
            late.append(self.peer(srv, 64, keep_fds=False))
            for p in [first] + late:  # the well-behaved keep reading
                p.pump(0.01)
        srv.wait_log(r"warning: peer 1 not reading: more than 100 messages")
        first.wait_leave(1)
        for p in late:
            p.pump(0.05)
        self.assertNotIn("warning: peer 0", srv.log())
        # everyone who knew it heard it left, and nobody was held up
        heard = [p for p in late if 1 in p.order]
        self.assertTrue(heard)
        for p in heard:
            p.wait_leave(1)
        newest = self.peer(srv, 64, keep_fds=False)
        self.assertNotIn(1, newest.order)
        self.assertEqual(len(newest.order), 13)


class Shutdown(TestCase):
    def test_sigterm_announces_departures_and_cleans_up(self):
        srv = self.server(vectors=1)
        a, b, c = (self.peer(srv) for _ in range(3))
        a.wait_join(2, 1)
        name = srv.shm_name
        self.assertTrue(os.path.exists(f"/dev/shm/{name}"))
        self.assertEqual(srv.stop(), 0)
        for p in (a, b, c):
            p.wait_closed()
            others = {0, 1, 2} - {p.id}
            self.assertEqual({i for e, i in p.events if e == "leave"}, others)
        self.assertFalse(os.path.exists(srv.socket))
        self.assertFalse(os.path.exists(f"/dev/shm/{name}"))

    def test_sigint_too(self):
        import signal
        srv = self.server(vectors=1)
        self.peer(srv)
        self.assertEqual(srv.stop(signal.SIGINT), 0)
        self.assertFalse(os.path.exists(srv.socket))

    def test_peer_that_never_reads_does_not_block_exit(self):
        srv = self.server(vectors=64)
        a = Peer(srv.socket)  # connects, never reads
        self.later(a.close)
        for _ in range(10):
            self.peer(srv, 64, keep_fds=False)
        t = time.monotonic()
        self.assertEqual(srv.stop(), 0)
        self.assertLess(time.monotonic() - t, 5)

    def test_no_fd_leak_across_clients(self):
        srv = self.server(vectors=8)
        keep = self.peer(srv, 8)
        before = open_fds(srv.proc.pid)
        for _ in range(50):
            p = srv.peer(8)
            p.close()
        keep.pump(0.1)
        wait_until(lambda: open_fds(srv.proc.pid) == before,
                   what="server fd count back to its level")


if __name__ == "__main__":
    unittest.main()
