# SPDX-License-Identifier: LGPL-3.0-or-later
"""Load, for correctness: many peers and many vectors, nothing lost.

QEMU's server loses the setup messages of the 276th peer with 1 vector and
of the 5th with 64 vectors. The swarm tool checks that every peer hears of
every other with exactly N eventfds, and of every departure, exactly once.
"""

import os
import subprocess
import unittest

from ivshmem_test import TestCase

SWARM = os.environ.get("SWARM", "")


class Load(TestCase):
    def swarm(self, peers, vectors):
        srv = self.server("--memfd", vectors=vectors)
        p = subprocess.run([SWARM, "--socket", srv.socket, "--peers",
                            str(peers), "--vectors", str(vectors), "--leave",
                            "--server-pid", str(srv.proc.pid)],
                           capture_output=True, text=True, timeout=240)
        print(p.stdout, p.stderr, end="")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(f"server peers={peers} vectors={vectors}", p.stdout)
        # the server is intact afterwards: ids go on, and it exits cleanly
        # (under ASan: without a leak)
        self.assertEqual(self.peer(srv, vectors, keep_fds=False).id, peers)
        self.assertEqual(srv.stop(), 0)

    def test_1000_peers_1_vector(self):
        self.swarm(1000, 1)

    def test_64_peers_64_vectors(self):
        self.swarm(64, 64)

    def test_swarm_detects_loss(self):
        # the checker can fail: a server that drops one message, as QEMU's
        # does when a socket buffer is full, is caught, wherever the message
        for drop in (3, 60, 500, 2000):
            p = subprocess.run([SWARM, "--floor", "--floor-drop", str(drop),
                                "--peers", "40", "--vectors", "2",
                                "--timeout", "2"], capture_output=True,
                               text=True, timeout=60)
            self.assertEqual(p.returncode, 1, f"drop {drop}: {p.stdout}")
            self.assertRegex(p.stderr, r"expected|no join", f"drop {drop}")
        p = subprocess.run([SWARM, "--floor", "--peers", "40", "--vectors",
                            "2", "--timeout", "2"], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)


if __name__ == "__main__":
    unittest.main()
