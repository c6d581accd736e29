# SPDX-License-Identifier: LGPL-3.0-or-later
"""Crash survival: the server keeps its fds in the service manager's fd
store (FdStore stands in for systemd), and a server killed with SIGKILL and
started again with what the store passes back keeps every peer, QEMU
included: no departure, the same ids, the next peer connected to every one.
What it had queued and not sent is worked out from the ledger and sent.
Departures are announced once, those while it was down included."""

import os
import random
import re
import signal
import struct
import time
import unittest

from ivshmem_test import (TestCase, FdStore, Peer, become_subreaper,
                          eventfd_pending, eventfd_read, listening_socket,
                          ring, wait_until)

VECTORS = 2

# server/ledger.c: a header page, then a slot per id: its join, its last
# departure, then the marks 'sending' and 'sent' (outq.h), each an event
# and a tag
LEDGER_SLOTS = 4096
LEDGER_SLOT = 48

# an upgraded server becomes our child when its parent exits
become_subreaper()


def server_names(join_id_pairs, vectors):
    names = []
    for join, pid in join_id_pairs:
        names += [f"ivshmem.peer.{join}.{pid}.vector.{v}"
                  for v in range(vectors)]
        names.append(f"ivshmem.peer.{join}.{pid}.socket")
    return names


class Crash(TestCase):
    def setUp(self):
        super().setUp()
        self.store = FdStore(self.tmpdir)
        self.later(self.store.close)

    def start(self, *args, store=None, **kw):
        """A server under the stand-in, given what its store passes back."""
        store = store or self.store
        passed = store.passed()
        try:
            return self.server(*args, extra_env=store.env(), passed=passed,
                               **kw)
        finally:
            for _, fd in passed:
                os.close(fd)

    def stored(self, n):
        self.store.wait(lambda st: len(st.stored) == n, f"{n} fds stored")

    def crash(self, srv):
        srv.send_signal(signal.SIGKILL)
        self.assertEqual(srv.wait_exit(srv.pid), -signal.SIGKILL)

    def quiesce(self, srv):
        """Returns once the server is between events: every message it
        sent is in the ledger, and none is being sent."""
        n = srv.log().count("state: joins")
        srv.send_signal(signal.SIGUSR1)
        wait_until(lambda: srv.log().count("state: joins") > n,
                   what="the state")

    def assert_whole(self, vectors, *peers):
        """Each peer has every eventfd of each other and its own, exactly
        once."""
        for p in peers:
            p.pump(0.05)
            counts = [len(fds) for fds in p.peers.values()] + [len(p.own)]
            self.assertEqual(counts, [vectors] * len(counts),
                             f"peer {p.id}")

    def stage_kill_in_sendmsg(self, peer_id, sent, sending):
        """Sets peer @peer_id's marks in the stored ledger as a kill in
        sendmsg() leaves them: @sent (event, next) recorded, and @sending
        (event, index), the message that was on its way."""
        def mark(event, n):
            return struct.pack("<QQ", event, (event & 0xffffffff) << 32 | n)
        passed = self.store.passed()
        try:
            fd = dict(passed)["ivshmem.ledger"]
            os.pwrite(fd, mark(*sending) + mark(*sent),
                      LEDGER_SLOTS + peer_id * LEDGER_SLOT + 16)
        finally:
            for _, fd in passed:
                os.close(fd)

    def test_the_message_being_sent_is_taken_as_delivered(self):
        # Staged exactly: y joins while x reads nothing, the server dies,
        # the ledger is set as a kill in sendmsg() leaves it as it sent x
        # y's eventfd 2, and x is given what such a kill lets through:
        # eventfds 0, 1 and 2, not 3. Sent again from 2, x would hold 2
        # twice, and its vector 3 would ring y's 2.
        srv = self.start(vectors=4)
        x, y = self.peer(srv, 4), self.peer(srv, 4)  # y's join: event 2
        self.stored(3 + 2 * 5)
        self.quiesce(srv)
        self.crash(srv)
        self.stage_kill_in_sendmsg(x.id, sent=(2, 2), sending=(2, 2))
        for _ in range(3):
            x.handle(x.recv())
        value, fd = x.recv()
        self.assertEqual(value, y.id)
        os.close(fd)  # never went
        srv = self.start(vectors=4, shm_name=srv.shm_name)
        srv.wait_log(r"resumed 2 peers from the fd store; 1 of them are "
                     r"owed 1 messages")
        self.assertEqual(x.wait_join(y.id, 4), 4)
        ring(x, y, 4)
        self.assert_whole(4, x, y)
        self.assert_no_departures(x, y)
        # the ledger moved past it: another crash owes nothing
        self.quiesce(srv)
        self.crash(srv)
        srv = self.start(vectors=4, shm_name=srv.shm_name)
        srv.wait_log(r"resumed 2 peers from the fd store; 0 of them are "
                     r"owed 0 messages")
        ring(x, y, 4)
        self.assertEqual(srv.stop(), 0)

    def test_qemu_is_never_told_of_a_departure_twice(self):
        # QEMU 7.2 frees a peer's eventfds at its departure: a second
        # departure would free them twice and crash it. Staged: the kill
        # lands as the server sends QEMU y's departure.
        srv = self.start(vectors=2)
        q = self.qemu(srv, 2)
        y = self.peer(srv, 2)  # its join: event 2
        self.assertEqual((q.iv_position(), y.id), (0, 1))
        y.close()  # event 3
        srv.wait_log(r"peer 1 left")
        self.stored(3 + 1 * 3)
        self.quiesce(srv)
        self.crash(srv)
        self.stage_kill_in_sendmsg(0, sent=(3, 0), sending=(3, 0))
        srv = self.start(vectors=2, shm_name=srv.shm_name)
        srv.wait_log(r"resumed 1 peers")
        # QEMU is well, and rings the next peer
        z = self.peer(srv, 2)
        self.assertEqual(z.id, 2)
        self.assertEqual(z.order, [0])
        for v in (0, 1):
            wait_until(lambda: q.ring(z.id, v) or eventfd_pending(z.own[v]),
                       what=f"QEMU ringing vector {v}")
            self.assertEqual(eventfd_read(z.own[v]), 1)
        self.assertEqual(q.iv_position(), 0)
        self.assertEqual(srv.stop(), 0)

    def test_a_client_in_its_handshake_finishes_it_after_the_crash(self):
        # y had its version and its id when the server died (the id as
        # the server sent it): the next server sends it the rest
        srv = self.start()
        x = self.peer(srv)
        y = Peer(srv.socket, keep_fds=False)
        self.later(y.close)
        self.stored(3 + 2 * 2)
        self.quiesce(srv)
        self.crash(srv)
        self.stage_kill_in_sendmsg(1, sent=(2, 1), sending=(2, 1))
        self.assertEqual(y.recv(), (0, None))  # the version
        y.id = y.recv()[0]
        for _ in range(3):  # the memory, x's eventfd, its own: never went
            os.close(y.recv()[1])
        srv = self.start(shm_name=srv.shm_name)
        srv.wait_log(r"resumed 2 peers from the fd store; 1 of them are "
                     r"owed 3 messages")
        value, y.shm_fd = y.recv()
        self.assertEqual(value, -1)
        self.assertEqual(y.wait_join(x.id, 1), 1)
        wait_until(lambda: y.pump(0.01) or len(y.own) == 1,
                   what="its own eventfd")
        self.assertEqual(self.peer(srv).order, [x.id, y.id])

    def test_kill_9_keeps_every_peer_and_qemu(self):
        srv = self.start(vectors=VECTORS)
        a, b, q, c = self.group_with_qemu(srv, VECTORS)
        self.stored(3 + 4 * (1 + VECTORS))
        self.quiesce(srv)
        self.assertEqual(sorted(self.store.names()), sorted(
            ["ivshmem.ledger", "ivshmem.shm", "ivshmem.socket"] +
            server_names([(1, 0), (2, 1), (3, 2), (4, 3)], VECTORS)))

        self.crash(srv)
        srv = self.start(vectors=VECTORS, shm_name=srv.shm_name)
        srv.wait_log(r"resumed 4 peers from the fd store; 0 of them are "
                     r"owed 0 messages")
        d = self.assert_nobody_noticed(srv, (a, b, q, c), VECTORS)
        self.assert_whole(VECTORS, a, b, c, d)
        # the new peer is in the store too
        self.stored(3 + 5 * (1 + VECTORS))

        # it cleans up at exit as the first server would have
        self.assertEqual(srv.stop(), 0)
        self.assertFalse(os.path.exists(srv.socket))
        self.assertFalse(os.path.exists(f"/dev/shm/{srv.shm_name}"))

    def test_departures_before_and_while_down(self):
        srv = self.start()
        a, b, c, d = (self.peer(srv) for _ in range(4))
        a.wait_join(3, 1)
        c.close()  # before the crash: announced then, never again
        for p in (a, b, d):
            p.wait_leave(2)
        self.store.wait(lambda st: not [n for n in st.names()
                                        if n.startswith("ivshmem.peer.3.")],
                        "the store to forget peer 2")
        self.stored(3 + 3 * 2)
        self.quiesce(srv)
        self.crash(srv)
        d.close()  # while the server is down
        srv = self.start(shm_name=srv.shm_name)
        srv.wait_log(r"peer 3 left while the server was down: announcing "
                     r"its departure")
        for p in (a, b):
            p.wait_leave(3)
            p.pump(0.1)
            self.assertEqual([e for e in p.events if e[0] == "leave"],
                             [("leave", 2), ("leave", 3)])
        e = self.peer(srv)
        self.assertEqual(e.id, 4)  # the counter goes on
        e.pump(0.05)
        self.assertEqual(e.order, [0, 1])
        ring(a, e)
        ring(b, e)
        self.assert_whole(1, a, b, e)
        self.stored(3 + 3 * 2)
        self.assertEqual(srv.stop(), 0)

    def test_what_was_queued_is_sent_after_the_crash(self):
        # a peer that reads nothing while 64-vector peers come and go: what
        # its socket does not take waits in its queue, and dies with the
        # server; the ledger says what it was
        srv = self.start(vectors=64)
        slow, others = self.peer_with_a_queue(srv, 5, 64)
        others[1].close()
        others[4].close()
        others[0].wait_leave(2)
        others[0].wait_leave(5)
        self.stored(3 + 4 * 65)
        self.quiesce(srv)

        self.crash(srv)
        srv = self.start(vectors=64, shm_name=srv.shm_name)
        m = srv.wait_log(r"resumed 4 peers from the fd store; 1 of them are "
                         r"owed (\d+) messages")
        self.assertGreater(int(m.group(1)), 0)
        # and again, before it read anything: nothing was sent meanwhile,
        # so the same is owed
        self.crash(srv)
        srv = self.start(vectors=64, shm_name=srv.shm_name)
        srv.wait_log(rf"resumed 4 peers from the fd store; 1 of them are "
                     rf"owed {m.group(1)} messages")

        slow.handshake(64)
        # everything, in order, as without the crash: 2 and 5, which left
        # while it was not reading, join (their eventfds gone, a stand-in
        # comes instead) and leave
        wait_until(lambda: slow.pump(0.01) or
                   slow.events.count(("leave", 5)), what="5's departure")
        self.assertEqual(slow.peers, {1: 64, 3: 64, 4: 64})
        self.assertEqual(slow.events, [
            ("join", 1), ("join", 2), ("join", 3), ("join", 4),
            ("join", 5), ("leave", 2), ("leave", 5)])
        for p in (others[0], others[2], others[3]):
            p.pump(0.05)
            self.assertEqual(sorted(i for kind, i in p.events
                                    if kind == "leave"), [2, 5])
        late = self.peer(srv, 64, keep_fds=False)
        self.assertEqual(late.id, 6)
        self.assertEqual(late.order, [0, 1, 3, 4])
        self.assertEqual(slow.wait_join(6, 64), 64)
        self.assertEqual(srv.stop(), 0)

    def test_upgrade_then_crash(self):
        srv = self.start(vectors=VECTORS)
        a, b = self.peer(srv, VECTORS), self.peer(srv, VECTORS)
        self.stored(3 + 2 * 3)
        self.assertEqual(srv.upgrade(), 0)
        c = self.peer(srv, VECTORS)  # stored by the new server
        self.stored(3 + 3 * 3)
        # (a kill in the middle of sends: test_killed_at_any_moment_of_a_join)
        self.quiesce(srv)
        self.crash(srv)
        srv = self.start(vectors=VECTORS, shm_name=srv.shm_name)
        srv.wait_log(r"resumed 3 peers")
        self.assert_no_departures(a, b, c)
        ring(a, c, VECTORS)
        ring(b, c, VECTORS)
        self.assert_whole(VECTORS, a, b, c)
        self.assertEqual(self.peer(srv, VECTORS).order, [0, 1, 2])
        self.assertEqual(srv.stop(), 0)

    def test_killed_at_any_moment_of_a_join(self):
        # The server dies at a random moment after a client connects:
        # before it accepts it, as it sends the client's join to the others
        # or the client its burst, stores its fds, or idles. The peers
        # resumed are whole; the client is resumed or joins the next
        # server, and is whole, or is disconnected, never half there.
        rnd = random.Random(7)
        for round in range(12):
            with self.subTest(round=round):
                store = FdStore(self.tmpdir)
                self.later(store.close)
                srv = self.start(store=store, vectors=32)
                kept = [self.peer(srv, 32, keep_fds=False)
                        for _ in range(6)]
                store.wait(lambda st: len(st.stored) >= 3 + 6 * 33,
                           "the peers stored")
                late = Peer(srv.socket, keep_fds=False)
                self.later(late.close)
                time.sleep(rnd.uniform(0, 0.004))
                self.crash(srv)
                srv = self.start(store=store, vectors=32,
                                 shm_name=srv.shm_name)
                n = int(srv.wait_log(r"resumed (\d+) peers").group(1))
                # killed before it accepted the client, the server leaves
                # it waiting on the stored socket, for the next to accept
                self.quiesce(srv)
                fresh = re.search(r"peer \d+ joined", srv.log())
                if n == len(kept) + 1 or fresh:
                    late.handshake(32)
                    everyone = kept + [late]
                else:
                    # what it was sent before the crash may still be in
                    # its socket, then the end
                    self.assertEqual(n, len(kept), srv.log())
                    try:
                        while (msg := late.recv()) is not None:
                            if msg[1] is not None:
                                os.close(msg[1])
                    except TimeoutError:
                        self.fail("the client was neither resumed nor "
                                  "closed:\n" + srv.log())
                    everyone = kept
                for p in everyone:
                    want = {q.id: 32 for q in everyone if q is not p}
                    wait_until(lambda: p.pump(0.01) or p.peers == want,
                               what=f"peer {p.id} knowing {want}")
                    self.assertEqual(len(p.own), 32)
                    # of a client not resumed, its join then its departure
                    self.assertEqual([e for e in p.events
                                      if e[0] == "leave"],
                                     [] if late in everyone else
                                     [("leave", 6)] * (("join", 6) in
                                                       p.events))
                new = self.peer(srv, 32, keep_fds=False)
                self.assertEqual(new.order, [p.id for p in everyone])
                for p in kept + [late, new]:
                    p.close()
                srv.stop(signal.SIGKILL)
                store.close()  # with it, the last of the old socket

    def test_orderly_stop_is_not_resumed(self):
        srv = self.start()
        a, b = self.peer(srv), self.peer(srv)
        self.stored(3 + 2 * 2)
        self.assertEqual(srv.stop(), 0)
        for p in (a, b):
            p.wait_leave(1 - p.id)
        # systemd drops the store when a service stops; were it kept (a
        # restart job), the peers were told everyone left: not resumed
        srv = self.start(shm_name=srv.shm_name)
        srv.wait_log(r"the previous server stopped in order and told its "
                     r"peers: not resuming them")
        for p in (a, b):
            p.wait_closed()
        self.assertEqual(self.peer(srv).id, 0)
        self.stored(3 + 1 * 2)

    def test_socket_activation_with_the_store(self):
        path = os.path.join(self.tmpdir, "activated.sock")
        ls = listening_socket(path)
        self.later(ls.close)
        srv = self.start(socket_path=path, listen_socket=ls)
        a, b = self.peer(srv), self.peer(srv)
        self.stored(2 + 2 * 2)  # systemd's socket is not ours to store
        self.assertNotIn("ivshmem.socket", self.store.names())
        self.quiesce(srv)
        self.crash(srv)
        srv = self.start(socket_path=path, listen_socket=ls,
                         shm_name=srv.shm_name)
        srv.wait_log(r"resumed 2 peers")
        srv.wait_log(rf"listening on {re.escape(path)} \(from systemd\)")
        ring(a, b)
        self.assertEqual(self.peer(srv).order, [0, 1])

    def test_a_full_store_costs_only_the_peers_it_cannot_hold(self):
        store = FdStore(self.tmpdir, max=3 + 2)  # the server and one peer
        self.later(store.close)
        srv = self.start(store=store)
        a, b = self.peer(srv), self.peer(srv)
        srv.wait_log(r"warning: peer 1 will not survive a crash of the "
                     r"server: the fd store is full or gone \(5 fds stored")
        store.wait(lambda st: len(st.stored) == 5)
        self.quiesce(srv)  # a was sent b's join: it knows b
        self.crash(srv)
        b.wait_closed()  # nobody held its socket
        srv = self.start(store=store, shm_name=srv.shm_name)
        srv.wait_log(r"peer 1 was not in the fd store")
        a.wait_leave(1)
        self.assertEqual(self.store.refused + store.refused, 0)
        self.assertEqual(self.peer(srv).order, [0])

    def test_other_settings_after_a_crash_start_afresh(self):
        srv = self.start(vectors=1)
        a = self.peer(srv)
        self.stored(3 + 2)
        self.crash(srv)
        srv = self.start(vectors=2, shm_name=srv.shm_name)
        srv.wait_log(r"cannot resume the peers in the fd store: they have 1 "
                     r"vectors and ids 0..65535, the configuration says 2 "
                     r"and 0..65535")
        a.wait_closed()
        self.assertEqual(self.peer(srv, 2).id, 0)
        self.stored(3 + 3)


if __name__ == "__main__":
    unittest.main()
