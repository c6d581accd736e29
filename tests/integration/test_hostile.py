# SPDX-License-Identifier: LGPL-3.0-or-later
"""Hostile and broken clients: thousands of connect/disconnect cycles,
bursts of simultaneous connections, QEMUs killed or stopped in the middle
of their handshake. In every case the well-behaved peers keep working and
lose no message.

Also in other files: a client that sends data, one that never reads, and
clients that close before the server accepts them (test_protocol.py); the
fd limit reached (test_cli.py); the id space exhausted and the peer limit
(test_access.py)."""

import os
import signal
import socket
import subprocess
import threading
import time
import unittest

from ivshmem_test import (TestCase, Peer, QEMU, eventfd_kick, eventfd_read,
                          open_fds, ring)



def rss_kib(pid, kinds=("RssAnon", "RssFile")):
    """The process's resident memory of @kinds, in KiB. By default its
    private memory: the ledger's shared pages (RssShmem) fill up to a fixed
    size as ids and departures are used."""
    total, found = 0, set()
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key = line.split(":")[0]
            if key in kinds:
                total += int(line.split()[1])
                found.add(key)
    if found != set(kinds):
        raise AssertionError(f"no {set(kinds) - found} in /proc/{pid}/status")
    return total


def asan(pid):
    with open(f"/proc/{pid}/maps") as f:
        return "libasan" in f.read()


class Cycles(TestCase):
    def cycles(self, srv, keep, n, start_id, readers=()):
        """n clients that come and go: every other one takes its whole
        handshake, the rest close at once. @keep and @readers read as
        they go (what waits for a peer holds fds in the server)."""
        for i in range(n):
            p = Peer(srv.socket, keep_fds=False)
            if i % 2 == 0:
                p.handshake(1)
            p.close()
            if i % 200 == 199:
                for p in (keep,) + tuple(readers):
                    p.pump()
        # every one joined once, in order, and left once after it joined
        # (one that closed early may leave after the next one joined)
        deadline = time.monotonic() + 60
        while len(keep.events) < 2 * n:
            keep.handle(keep.recv(max(0.01, deadline - time.monotonic())))
        joins = [i for e, i in keep.events if e == "join"]
        self.assertEqual(joins, list(range(start_id, start_id + n)))
        seen = set()
        for e, i in keep.events:
            if e == "join":
                seen.add(i)
            else:
                self.assertIn(i, seen)
                seen.remove(i)
        self.assertEqual(seen, set())
        keep.pump(0.05)
        self.assertEqual(len(keep.events), 2 * n)
        keep.events.clear()
        keep.order.clear()

    def test_10000_connect_disconnect_cycles_leave_fds_and_memory_flat(self):
        # without ASan's quarantine, freed memory is reused as it would be
        srv = self.server("--memfd", vectors=1, extra_env={
            "ASAN_OPTIONS": "detect_leaks=1:quarantine_size_mb=0"})
        keep = self.peer(srv, keep_fds=False)
        a, b = self.peer(srv), self.peer(srv)
        keep.wait_join(b.id, 1)
        keep.events.clear()
        keep.order.clear()
        self.cycles(srv, keep, 1000, 3, (a, b))  # warm-up
        a.pump(0.1)
        b.pump(0.1)
        fds, rss = open_fds(srv.proc.pid), rss_kib(srv.proc.pid)
        t = time.monotonic()
        self.cycles(srv, keep, 10000, 1003, (a, b))
        a.pump(0.1)
        b.pump(0.1)
        elapsed = time.monotonic() - t
        fds_after, rss_after = open_fds(srv.proc.pid), rss_kib(srv.proc.pid)
        print(f"\n10000 cycles in {elapsed:.1f} s: server fds {fds} -> "
              f"{fds_after}, RSS {rss} KiB -> {rss_after} KiB")
        self.assertEqual(fds_after, fds)
        # ASan's allocator keeps metadata of its own; its leak checker at
        # exit (below) is the stricter test there
        limit = 2048 if asan(srv.proc.pid) else 256
        self.assertLess(rss_after - rss, limit,
                        f"RSS grew by more than {limit} KiB")
        # the ledger: 24 bytes per id and per departure kept, 3 MiB at most
        self.assertLess(rss_kib(srv.proc.pid, ("RssShmem",)), 3200)
        # the well-behaved peers heard every join and leave, and still work
        for p in (a, b):
            joins = [e for e in p.events if e[0] == "join"]
            leaves = [e for e in p.events if e[0] == "leave"]
            self.assertEqual(len(leaves), 11000)
            self.assertEqual(len(joins), 11000 + 2)  # + the other two
        ring(a, b)
        self.assertEqual(self.peer(srv).id, 11003)
        self.assertEqual(srv.stop(), 0)  # and under ASan, without a leak


class Bursts(TestCase):
    def test_hundreds_of_simultaneous_connections(self):
        n, threads = 400, 8
        srv = self.server(vectors=1)
        a, b = self.peer(srv), self.peer(srv)
        a.wait_join(b.id, 1)
        clients = [None] * n
        go = threading.Barrier(threads)

        def connect(k):
            go.wait()
            for i in range(k, n, threads):
                clients[i] = Peer(srv.socket, keep_fds=False)
        workers = [threading.Thread(target=connect, args=(k,))
                   for k in range(threads)]
        for w in workers:
            w.start()
        # the well-behaved peers ring each other while the burst comes in
        ring(a, b)
        for w in workers:
            w.join()
        for c in clients:
            self.later(c.close)
        ring(a, b)
        for c in clients:
            c.handshake(1)
        ids = sorted(c.id for c in clients)
        self.assertEqual(ids, list(range(2, n + 2)))
        # everyone knows everyone, with one eventfd each
        everyone = set(ids) | {0, 1}
        for c in clients:
            c.pump(0.0)
            while set(c.peers) | {c.id} != everyone:
                c.handle(c.recv())
            self.assertEqual(set(c.peers.values()), {1})
        for p in (a, b):
            for i in ids:
                p.wait_join(i, 1)
            self.assertEqual([i for e, i in p.events if e == "leave"], [])
        ring(a, b)
        self.assertEqual(srv.proc.poll(), None)


class KilledQemu(TestCase):
    """QEMUs that die or stop while the server hands them their setup."""

    VECTORS = 64

    def setUp(self):
        super().setUp()
        if not QEMU:
            self.skipTest("qemu-system-x86_64 not found")

    def spawn_qemu(self, srv):
        """A QEMU that joins @srv: no qtest, nobody waits for it."""
        log = open(os.path.join(self.tmpdir, "qemu.log"), "a")
        self.later(log.close)
        q = subprocess.Popen(
            [QEMU, "-M", "q35", "-m", "128M", "-display", "none", "-S",
             "-nodefaults", "-chardev", f"socket,path={srv.socket},id=ivsh",
             "-device", f"ivshmem-doorbell,chardev=ivsh,"
                        f"vectors={self.VECTORS}"],
            stdout=log, stderr=subprocess.STDOUT)
        self.later(lambda: q.poll() is None and (q.kill(), q.wait()))
        return q

    def stopped_qemu(self, srv):
        """A QEMU stopped (SIGSTOP) as soon as the server took it in:
        (process, its peer id)."""
        q = self.spawn_qemu(srv)
        m = srv.wait_log(rf"peer (\d+) joined \(pid {q.pid},")
        q.send_signal(signal.SIGSTOP)
        return q, int(m.group(1))

    def hosts(self, srv, n):
        peers = [self.peer(srv, self.VECTORS, keep_fds=False)]
        for _ in range(n - 1):
            peers.append(self.peer(srv, self.VECTORS, keep_fds=False))
            for p in peers:
                p.pump(0)
        for p in peers:
            for q in peers:
                if q is not p:
                    p.wait_join(q.id, self.VECTORS)
        return peers

    def check_hosts(self, srv, hosts, qemu_ids):
        """Every host heard each QEMU join and leave, and the hosts still
        ring each other on every vector."""
        for p in hosts:
            for i in qemu_ids:
                p.wait_leave(i)
                self.assertIn(("join", i), p.events)
            self.assertEqual(set(p.peers), {h.id for h in hosts} - {p.id})
        a = Peer(srv.socket)
        a.handshake(self.VECTORS)
        self.later(a.close)
        b = hosts[0]
        b.wait_join(a.id, self.VECTORS)
        # host peers did not keep fds: ring with the newcomer's
        for v in (0, self.VECTORS - 1):
            eventfd_kick(a.peers[b.id][v])
            self.assertEqual(eventfd_read(b.own[v]), 1)

    def test_killed_right_after_connecting(self):
        srv = self.server(vectors=self.VECTORS)
        hosts = self.hosts(srv, 12)
        qemu_ids = []
        for _ in range(5):
            q = self.spawn_qemu(srv)
            # the moment the server has taken it in, before it has read
            # the 12 x 64 eventfds of its setup
            m = srv.wait_log(rf"peer (\d+) joined \(pid {q.pid},")
            q.kill()
            q.wait()
            qemu_ids.append(int(m.group(1)))
            for p in hosts:
                p.pump(0)
        self.check_hosts(srv, hosts, qemu_ids)
        self.assertNotIn("error", srv.log())

    def test_stopped_then_killed_while_others_come_and_go(self):
        srv = self.server(vectors=self.VECTORS)
        hosts = self.hosts(srv, 4)
        q, qid = self.stopped_qemu(srv)
        # while it is stopped, peers join, leave and ring
        for _ in range(10):
            extra = self.peer(srv, self.VECTORS, keep_fds=False)
            for p in hosts:
                p.wait_join(extra.id, self.VECTORS)
            extra.close()
            for p in hosts:
                p.wait_leave(extra.id)
        q.kill()
        q.wait()
        self.check_hosts(srv, hosts, [qid])

    def test_stopped_past_max_queue_is_dropped(self):
        srv = self.server("--max-queue", "200", vectors=self.VECTORS)
        hosts = self.hosts(srv, 4)
        q, qid = self.stopped_qemu(srv)
        # its socket fills, then its queue: it is dropped, nobody waits
        for _ in range(20):
            extra = self.peer(srv, self.VECTORS, keep_fds=False)
            extra.close()
            for p in hosts:
                p.wait_leave(extra.id)
            if "not reading" in srv.log():
                break
        srv.wait_log(rf"warning: peer {qid} not reading")
        for p in hosts:
            p.wait_leave(qid)
        q.kill()
        q.wait()
        self.check_hosts(srv, hosts, [qid])


if __name__ == "__main__":
    unittest.main()
