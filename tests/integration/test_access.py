# SPDX-License-Identifier: LGPL-3.0-or-later
"""Access control: socket and shared-memory permissions, allow-lists of
users and groups (SO_PEERCRED), the peer limit and the id space; with
host peers and with real QEMUs run as unprivileged users."""

import grp
import os
import pwd
import signal
import subprocess
import sys
import time
import unittest

from ivshmem_test import (TestCase, Peer, Qemu, QemuFailed, eventfd_kick,
                          eventfd_read, ring)

USER, GROUP = "ivshmem-test-u", "ivshmem-test-g"
NOBODY = 65534
# one that other users may run
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") \
    else sys.executable

# Run as another user: connect, read until the server closes, print how
# many bytes came before that and the id if one came.
CLIENT = r"""
import socket, struct, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
except PermissionError:
    print("EACCES"); sys.exit(0)
s.settimeout(5)
data = b""
try:
    while len(data) < 16:
        chunk = s.recv(16 - len(data))
        if not chunk:
            break
        data += chunk
except socket.timeout:
    pass
print(len(data), struct.unpack("<q", data[8:16])[0] if len(data) == 16 else "")
"""



class Users:
    """A test user and group, made once for the module."""
    uid = gid = None

    @classmethod
    def setup(cls):
        subprocess.run(["groupadd", "-f", GROUP], check=True)
        try:
            pwd.getpwnam(USER)
        except KeyError:
            subprocess.run(["useradd", "-M", "-N", "-r", "-g", GROUP,
                            "-s", "/usr/sbin/nologin", USER], check=True)
        cls.uid = pwd.getpwnam(USER).pw_uid
        cls.gid = grp.getgrnam(GROUP).gr_gid

    @classmethod
    def teardown(cls):
        subprocess.run(["userdel", USER], check=False)
        subprocess.run(["groupdel", GROUP], check=False)


def setUpModule():
    Users.setup()


def tearDownModule():
    Users.teardown()


class AccessTest(TestCase):
    def setUp(self):
        super().setUp()
        os.chmod(self.tmpdir, 0o755)  # others may reach the socket

    def client(self, srv, uid, gid, groups=()):
        """Connects as @uid: returns (bytes received, id), or 'EACCES'."""
        p = subprocess.run([PYTHON, "-c", CLIENT, srv.socket],
                           user=uid, group=gid, extra_groups=list(groups),
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout.strip()


class Permissions(AccessTest):
    def test_socket_mode_and_owner(self):
        srv = self.server("--socket-mode", "0660", "--socket-user", "root",
                          "--socket-group", GROUP)
        st = os.stat(srv.socket)
        self.assertEqual((st.st_mode & 0o777, st.st_uid, st.st_gid),
                         (0o660, 0, Users.gid))
        # the group may connect, others may not
        self.assertEqual(self.client(srv, Users.uid, Users.gid), "16 0")
        self.assertEqual(self.client(srv, NOBODY, NOBODY), "EACCES")

    def test_shm_mode_and_owner(self):
        srv = self.server("--shm-mode", "0640", "--shm-user", USER,
                          "--shm-group", GROUP)
        st = os.stat(f"/dev/shm/{srv.shm_name}")
        self.assertEqual((st.st_mode & 0o777, st.st_uid, st.st_gid),
                         (0o640, Users.uid, Users.gid))
        self.assertEqual(self.peer(srv).shm_size(), 4 << 20)

    def test_bad_names_and_modes(self):
        from ivshmem_test import run_server
        for args, message in (
                (["--socket-user", "no-such-user-x"],
                 "unknown user 'no-such-user-x'"),
                (["--shm-group", "no-such-group-x"],
                 "unknown group 'no-such-group-x'"),
                (["--allow-groups", f"{GROUP},no-such-group-x"],
                 "unknown group 'no-such-group-x'"),
                (["--socket-mode", "0888"], "invalid mode '0888'"),
                (["--shm-mode", "u+rw"], "invalid mode 'u+rw'"),
                (["--max-peers", "0"], "invalid --max-peers '0'"),
                (["--max-id", "70000"], "invalid --max-id '70000'")):
            code, out, err = run_server("-F", *args)
            self.assertEqual(code, 1, args)
            self.assertIn(message, err)


class AllowLists(AccessTest):
    def test_denied_user_gets_nothing_and_is_logged(self):
        srv = self.server("--socket-mode", "0666", "--allow-users",
                          f"root,{USER}")
        a, b = self.peer(srv), self.peer(srv)
        self.assertEqual(self.client(srv, Users.uid, Users.gid), "16 2")
        self.assertEqual(self.client(srv, NOBODY, NOBODY), "0")
        srv.wait_log(rf"warning: refused a client \(pid \d+, uid {NOBODY}, "
                     rf"gid {NOBODY}\): not in allow-users or allow-groups")
        # the others heard only of the allowed one, and work on
        c = self.peer(srv)
        self.assertEqual(c.id, 3)
        a.wait_leave(2)
        a.wait_join(3, 1)
        self.assertEqual(a.events, [("join", 1), ("join", 2), ("leave", 2),
                                    ("join", 3)])
        ring(a, b)
        ring(b, c)

    def test_supplementary_groups(self):
        srv = self.server("--socket-mode", "0666", "--allow-groups", GROUP)
        self.assertEqual(self.client(srv, NOBODY, NOBODY, [Users.gid]),
                         "16 0")
        self.assertEqual(self.client(srv, NOBODY, NOBODY), "0")
        self.assertEqual(self.client(srv, NOBODY, Users.gid), "16 1")
        # root is not special
        root = Peer(srv.socket)
        self.later(root.close)
        self.assertIsNone(root.recv())


class Limits(AccessTest):
    def test_max_peers(self):
        srv = self.server("--max-peers", "2")
        a, b = self.peer(srv), self.peer(srv)
        for _ in range(3):
            c = Peer(srv.socket)
            self.assertIsNone(c.recv())  # closed before anything
            c.close()
        srv.wait_log(r"refused a client \(pid \d+, uid 0, gid 0\): 2 peers "
                     r"already \(max-peers\)")
        b.close()
        a.wait_leave(1)
        c = self.peer(srv)
        self.assertEqual(c.id, 2)
        ring(a, c)
        self.assertEqual(a.events, [("join", 1), ("leave", 1), ("join", 2)])

    def test_refusals_are_logged_at_most_10_in_5_seconds(self):
        srv = self.server("--max-peers", "1")
        a = self.peer(srv)
        for _ in range(30):
            x = Peer(srv.socket)
            self.assertIsNone(x.recv())
            x.close()
        srv.send_signal(signal.SIGUSR1)
        srv.wait_log(r"refused 30, denied 0")
        self.assertEqual(srv.log().count("refused a client"), 10)
        time.sleep(5.1)
        x = Peer(srv.socket)
        self.assertIsNone(x.recv())
        x.close()
        srv.wait_log(r"warning: 20 more clients refused in 5 s")
        self.assertEqual(srv.log().count("refused a client"), 11)
        self.assertEqual(a.events, [])

    def test_id_space_exhausted(self):
        srv = self.server("--max-id", "3")
        peers = [self.peer(srv) for _ in range(4)]
        self.assertEqual([p.id for p in peers], [0, 1, 2, 3])
        for _ in range(5):
            x = Peer(srv.socket)
            self.assertIsNone(x.recv())
            x.close()
        srv.wait_log(r"refused a client .*: no free peer id \(all 4 in use\)")
        # a freed id is given again: round robin from where it was
        peers[1].close()
        peers[0].wait_leave(1)
        again = self.peer(srv)
        self.assertEqual(again.id, 1)
        # the others saw 1 leave, which a QEMU would not survive: said
        srv.wait_log(r"warning: peer id 1 is given again while peers that "
                     r"saw it leave are connected")
        self.assertEqual(again.order, [0, 2, 3])
        peers[2].close()
        peers[0].wait_leave(2)
        self.assertEqual(self.peer(srv).id, 2)
        peers[3].wait_leave(1)
        peers[3].wait_join(1, 1)
        # nothing was lost: peer 0 heard every join and leave, in order
        peers[0].wait_join(2, 1)
        self.assertEqual(peers[0].events,
                         [("join", 1), ("join", 2), ("join", 3),
                          ("leave", 1), ("join", 1), ("leave", 2),
                          ("join", 2)])
        ring(peers[0], again)
        ring(peers[3], again)


class UnprivilegedQemu(AccessTest):
    def qemu(self, srv, user):
        q = Qemu(self.tmpdir, [
            "-chardev", f"socket,path={srv.socket},id=ivsh",
            "-device", "ivshmem-doorbell,chardev=ivsh,vectors=1,addr=03.0"],
            user=user)
        self.later(q.quit)
        q.map_bars()
        return q

    def no_qemu(self, srv, user):
        """A QEMU run as @user that must not get in: it exits, or (QEMU
        waits for ever on a server that closes during the handshake) it
        never comes up. Returns its log."""
        try:
            q = Qemu(self.tmpdir, [
                "-chardev", f"socket,path={srv.socket},id=ivsh",
                "-device", "ivshmem-doorbell,chardev=ivsh,vectors=1,"
                           "addr=03.0"], user=user)
        except QemuFailed as e:
            return str(e)
        self.later(q.quit)
        q.sock.settimeout(2)
        with self.assertRaises((AssertionError, TimeoutError)):
            q.map_bars()
        q.quit()
        return q.log()

    def test_group_socket_lets_qemu_in_and_keeps_others_out(self):
        srv = self.server("--socket-mode", "0660", "--socket-group", GROUP)
        host = self.peer(srv)
        q = self.qemu(srv, (Users.uid, Users.gid))
        self.assertEqual(q.iv_position(), 1)
        host.wait_join(1, 1)
        q.ring(host.id, 0)
        self.assertEqual(eventfd_read(host.own[0]), 1)
        self.assertIn("Permission denied", self.no_qemu(srv, (NOBODY, NOBODY)))
        host.pump(0.1)
        self.assertEqual(host.events, [("join", 1)])

    def test_allow_list_keeps_a_qemu_out(self):
        srv = self.server("--socket-mode", "0666", "--allow-users",
                          f"root,{USER}")
        host = self.peer(srv)
        self.no_qemu(srv, (NOBODY, NOBODY))
        srv.wait_log(rf"refused a client \(pid \d+, uid {NOBODY}, "
                     rf"gid {NOBODY}\): not in allow-users")
        q = self.qemu(srv, (Users.uid, Users.gid))
        self.assertEqual(q.iv_position(), 1)
        q.enable_msix(1)
        host.wait_join(1, 1)
        eventfd_kick(host.peers[1][0])
        q.wait_msix(0)
        self.assertEqual(host.events, [("join", 1)])


if __name__ == "__main__":
    unittest.main()
