# SPDX-License-Identifier: LGPL-3.0-or-later
"""Helpers for the integration tests.

Peer is an implementation of the ivshmem protocol written from the spec,
independent of the C code under test. Server starts the built server.
Qemu runs qemu-system-x86_64 with an ivshmem device, driven over qtest.
"""

import fcntl
import itertools
import os
import re
import resource
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest

SERVER = os.environ.get("IVSHMEM_SERVER", "")
QEMU = os.environ.get("QEMU", "") or shutil.which("qemu-system-x86_64") or ""
TIMEOUT = 10.0

_names = itertools.count()

# tests hold thousands of eventfds
_soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (_hard, _hard))


def unique_name(prefix="ivshmem-test"):
    return f"{prefix}-{os.getpid()}-{next(_names)}"


def wait_until(predicate, timeout=TIMEOUT, interval=0.005, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def become_subreaper():
    """Makes this process the parent of its orphaned descendants, so that
    it can wait for a server that an upgrade started (prctl(2))."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
        raise OSError(ctypes.get_errno(), "PR_SET_CHILD_SUBREAPER")


def wait_pid(pid, timeout=TIMEOUT):
    """Waits for our child @pid: its exit status (negative: the signal)."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            raise AssertionError(f"pid {pid} did not exit in {timeout} s")
        time.sleep(0.005)


def eventfd_kick(fd, count=1):
    os.write(fd, struct.pack("=Q", count))


def eventfd_read(fd, timeout=TIMEOUT):
    """Waits for an eventfd and returns its counter."""
    r, _, _ = select.select([fd], [], [], timeout)
    if not r:
        raise AssertionError(f"eventfd {fd} was not signalled in {timeout} s")
    return struct.unpack("=Q", os.read(fd, 8))[0]


def ring(a, b, vectors=None):
    """a and b ring each other on every vector (all of b's own eventfds, or
    @vectors) and hear exactly that (they must keep their fds)."""
    if vectors is None:
        vectors = len(b.own)
    a.wait_join(b.id, vectors)
    b.wait_join(a.id, vectors)
    for v in range(vectors):
        eventfd_kick(a.peers[b.id][v])
        assert eventfd_read(b.own[v]) == 1, "a rang b"
        eventfd_kick(b.peers[a.id][v])
        assert eventfd_read(a.own[v]) == 1, "b rang a"


def eventfd_pending(fd):
    r, _, _ = select.select([fd], [], [], 0)
    return bool(r)


class ProtocolError(AssertionError):
    pass


class Peer:
    """A client of an ivshmem server, written from the protocol spec."""

    def __init__(self, path, vectors=None, keep_fds=True, connect=True):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.keep_fds = keep_fds
        self.id = None
        self.shm_fd = None
        self.own = []          # own eventfds, vector order
        self.peers = {}        # id -> eventfds (or a count without keep_fds)
        self.order = []        # ids in the order they were first heard of
        self.events = []       # ("join"|"leave", id) in arrival order
        self.closed = False    # the server closed the connection
        if connect:
            self.sock.connect(path)
            if vectors is not None:
                self.handshake(vectors)

    # -- the wire ---------------------------------------------------------
    def recv(self, timeout=TIMEOUT):
        """Reads one message: (value, fd or None); None at end of stream."""
        data = b""
        fd = None
        self.sock.settimeout(timeout)
        while len(data) < 8:
            msg, fds, flags, _ = socket.recv_fds(self.sock, 8 - len(data), 4)
            if flags & socket.MSG_CTRUNC:
                raise ProtocolError("control data truncated")
            if len(fds) > 1 or (fds and fd is not None):
                raise ProtocolError(f"{len(fds)} fds in one message")
            if fds:
                fd = fds[0]
            if not msg:
                if data or fd is not None:
                    raise ProtocolError("end of stream inside a message")
                self.closed = True
                return None
            data += msg
        return struct.unpack("<q", data)[0], fd

    def handshake(self, vectors):
        msg = self.recv()
        if msg != (0, None):
            raise ProtocolError(f"expected version 0 without fd, got {msg}")
        value, fd = self.recv()
        if fd is not None or not 0 <= value <= 65535:
            raise ProtocolError(f"expected an id without fd, got {value} {fd}")
        self.id = value
        value, fd = self.recv()
        if value != -1 or fd is None:
            raise ProtocolError(f"expected -1 with the shm fd, got {value}")
        self.shm_fd = fd
        while len(self.own) < vectors:
            self.handle(self.recv())
        return self

    def handle(self, msg):
        if msg is None:
            raise ProtocolError("server closed the connection")
        value, fd = msg
        if value == -1 or value > 65535:
            raise ProtocolError(f"unexpected value {value}")
        if value == self.id:
            if fd is None:
                raise ProtocolError("told that we left")
            self.own.append(fd)
            return
        if fd is None:
            if value not in self.peers:
                raise ProtocolError(f"departure of unknown peer {value}")
            fds = self.peers.pop(value)
            if self.keep_fds:
                for f in fds:
                    os.close(f)
            self.events.append(("leave", value))
            return
        if value not in self.peers:
            self.peers[value] = [] if self.keep_fds else 0
            self.order.append(value)
            self.events.append(("join", value))
        if self.keep_fds:
            self.peers[value].append(fd)
        else:
            os.close(fd)
            self.peers[value] += 1

    def pump(self, timeout=0.0):
        """Handles every message that arrives within @timeout seconds."""
        while True:
            r, _, _ = select.select([self.sock], [], [], timeout)
            if not r:
                return
            msg = self.recv()
            if msg is None:
                return
            self.handle(msg)

    def wait_join(self, peer_id, vectors, timeout=TIMEOUT):
        def known():
            have = self.peers.get(peer_id, [] if self.keep_fds else 0)
            return (len(have) if self.keep_fds else have) >= vectors
        deadline = time.monotonic() + timeout
        while not known():
            self.handle(self.recv(max(0.01, deadline - time.monotonic())))
        count = self.peers[peer_id]
        return len(count) if self.keep_fds else count

    def wait_leave(self, peer_id, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while ("leave", peer_id) not in self.events:
            self.handle(self.recv(max(0.01, deadline - time.monotonic())))

    def wait_closed(self, timeout=TIMEOUT):
        """Reads until the server closes the connection; returns the rest."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg = self.recv(max(0.01, deadline - time.monotonic()))
            except ConnectionResetError:
                self.closed = True
                return
            if msg is None:
                return
            self.handle(msg)

    def shm_size(self):
        return os.fstat(self.shm_fd).st_size

    def close(self):
        self.sock.close()
        for f in self.own + ([self.shm_fd] if self.shm_fd is not None else []):
            os.close(f)
        if self.keep_fds:
            for fds in self.peers.values():
                for f in fds:
                    os.close(f)
        self.own, self.peers, self.shm_fd = [], {}, None


def activation_command(cmd, fds, names=None):
    """@cmd run as systemd runs a socket-activated service: @fds become
    fds 3, 4, ..., with LISTEN_FDS, LISTEN_FDNAMES if @names are given, and
    LISTEN_PID (the pid of the shell, which exec keeps). Pass @fds to
    Popen's pass_fds. An fd of @fds must not be one of the targets 3.. of
    another (fds from passed_fds() never are)."""
    moves = []
    for i, fd in enumerate(fds):
        if fd != 3 + i:
            moves += [f"{3 + i}<&{fd}"]
    closes = [f"{fd}<&-" for fd in fds if fd >= 3 + len(fds)]
    env = f"LISTEN_PID=$$ LISTEN_FDS={len(fds)} "
    if names is not None:
        env += f"LISTEN_FDNAMES={':'.join(names)} "
    script = f'{env}exec "$0" "$@" ' + " ".join(moves + closes)
    # bash: dash takes only fds 0..9 in redirections
    return ["/bin/bash", "-c", script] + cmd


def listening_socket(path, mode=0o640):
    """A socket listening at @path, as systemd's socket units make them."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    os.chmod(path, mode)
    s.listen(64)
    return s


class FdStore:
    """A stand-in for systemd: a NOTIFY_SOCKET that records every
    notification with the sender's pid, and keeps the fds sent with
    FDSTORE=1 under their FDNAME until FDSTOREREMOVE=1, as systemd's fd
    store does (at most @max of them, one message may carry several).
    passed() gives them back as systemd passes them to the next start,
    without those that polled HUP or ERR (a peer that left)."""

    def __init__(self, tmpdir, max=4096):
        import threading
        self.path = os.path.join(tmpdir, f"notify-{next(_names)}.sock")
        self.max = max
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.lock = threading.Condition()
        self.stored = []      # (name, fd) in the order they came
        self.messages = []    # (pid, [lines])
        self.refused = 0      # fds over the limit
        self.reader, self.wake = socket.socketpair()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def env(self):
        return {"NOTIFY_SOCKET": self.path, "FDSTORE": str(self.max)}

    def _run(self):
        while True:
            r, _, _ = select.select([self.sock, self.reader], [], [])
            if self.reader in r:
                return
            with self.lock:
                self._receive()

    def _receive(self):
        """Takes the notifications waiting, under the lock."""
        ucred = struct.calcsize("3i")
        anc = socket.CMSG_SPACE(253 * 4) + socket.CMSG_SPACE(ucred)
        while True:
            try:
                data, cmsgs, _, _ = self.sock.recvmsg(4096, anc,
                                                      socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            fds, pid = [], None
            for level, kind, payload in cmsgs:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    n = len(payload) // 4
                    fds += list(struct.unpack(f"{n}i", payload[:4 * n]))
                elif (level == socket.SOL_SOCKET and
                      kind == socket.SCM_CREDENTIALS):
                    pid = struct.unpack("3i", payload[:ucred])[0]
            self._handle(pid, data.decode().split("\n"), fds)
            self.lock.notify_all()

    def _handle(self, pid, lines, fds):
        name = next((l[7:] for l in lines if l.startswith("FDNAME=")),
                    "stored")
        if "FDSTOREREMOVE=1" in lines:
            for n, fd in [e for e in self.stored if e[0] == name]:
                os.close(fd)
            self.stored = [e for e in self.stored if e[0] != name]
        elif "FDSTORE=1" in lines:
            for fd in fds:
                if len(self.stored) >= self.max:
                    self.refused += 1
                    os.close(fd)
                else:
                    self.stored.append((name, fd))
            fds = []
        for fd in fds:
            os.close(fd)
        self.messages.append((pid, lines))

    def names(self):
        with self.lock:
            return [n for n, _ in self.stored]

    def wait(self, predicate, what="fd store", timeout=TIMEOUT):
        """Waits until predicate(self) holds, under the lock."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out waiting for {what}")
                self.lock.wait(left)

    def wait_message(self, line, start=0):
        """The first (pid, lines) from message @start on holding @line."""
        found = []

        def has(st):
            found[:] = [m for m in st.messages[start:] if line in m[1]]
            return found
        self.wait(has, f"notification {line}")
        return found[0]

    def passed(self):
        """Duplicates of the stored fds that did not poll HUP or ERR, with
        their names, in the store's order (systemd 252's is newest first),
        at fd numbers above 4096 so that activation_command() can move
        them to 3.. Close them after the server started. As systemd
        does, it first takes what a server that died had sent."""
        with self.lock:
            self._receive()
            keep = []
            for name, fd in self.stored:
                p = select.poll()
                p.register(fd, 0)
                if p.poll(0):
                    os.close(fd)
                else:
                    keep.append((name, fd))
            self.stored = keep
            return [(n, fcntl.fcntl(fd, fcntl.F_DUPFD, 4096))
                    for n, fd in reversed(keep)]

    def close(self):
        if self.sock.fileno() < 0:
            return
        self.wake.send(b"x")
        self.thread.join()
        for s in (self.sock, self.reader, self.wake):
            s.close()
        with self.lock:
            for _, fd in self.stored:
                os.close(fd)
            self.stored = []


class Server:
    """The built ivshmem-server, in the foreground, in a test's directory."""

    def __init__(self, tmpdir, *args, vectors=1, shm_name=None, socket_path=None,
                 extra_env=None, config=None, listen_socket=None, passed=None,
                 binary=None):
        """@config: text of a config file passed with -c (self.config).
        @listen_socket: a listening socket passed as systemd does (fd 3,
        LISTEN_FDS, LISTEN_PID); the server gets no -S then.
        @passed: (name, fd) pairs passed as systemd passes a service its
        sockets and fd store (LISTEN_FDNAMES), after @listen_socket.
        @binary: the server to run, if not the one built."""
        self.tmpdir = tmpdir
        self.socket = socket_path or os.path.join(tmpdir, "ivshmem.sock")
        self.shm_name = shm_name
        self.listen_socket = listen_socket
        self.passed = passed
        self.binary = binary or SERVER
        self.args = ["-F"]
        if listen_socket is None:
            self.args += ["-S", self.socket]
        if vectors is not None:
            self.args += ["-n", str(vectors)]
        if shm_name:
            self.args += ["-M", shm_name]
        self.config = None
        if config is not None:
            self.config = os.path.join(tmpdir, f"server-{next(_names)}.conf")
            self.write_config(config)
            self.args += ["-c", self.config]
        self.args += list(args)
        self.logpath = os.path.join(tmpdir, f"server-{next(_names)}.log")
        self.env = dict(os.environ, **(extra_env or {}))
        self.proc = None
        self.pid = None  # the serving process: proc's, or its successor's
        self.exits = {}  # successors' exit statuses, by pid

    def write_config(self, text):
        with open(self.config, "w") as f:
            f.write(text)

    def start(self, wait=True, preexec_fn=None):
        self.logfile = open(self.logpath, "w")
        cmd = [self.binary] + self.args
        pass_fds, names = [], []
        if self.listen_socket is not None:
            pass_fds, names = [self.listen_socket.fileno()], ["listen"]
        for name, fd in self.passed or ():
            pass_fds.append(fd)
            names.append(name)
        if pass_fds:
            cmd = activation_command(cmd, pass_fds,
                                     names if self.passed else None)
        self.proc = subprocess.Popen(cmd, stdout=self.logfile,
                                     stderr=subprocess.STDOUT, env=self.env,
                                     preexec_fn=preexec_fn, pass_fds=pass_fds)
        self.pid = self.proc.pid
        if wait:
            wait_until(lambda: "listening on" in self.log() or
                       self.proc.poll() is not None, what="server start")
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited: {self.log()}")
        return self

    def log(self):
        with open(self.logpath) as f:
            return f.read()

    def wait_log(self, pattern, timeout=TIMEOUT):
        try:
            return wait_until(lambda: re.search(pattern, self.log()),
                              timeout, what=f"server log /{pattern}/")
        except AssertionError as e:
            tail = "".join(self.log().splitlines(True)[-20:])
            raise AssertionError(f"{e}; the log ends with:\n{tail}") from None

    def peer(self, vectors=1, **kw):
        return Peer(self.socket, vectors=vectors, **kw)

    def send_signal(self, sig):
        os.kill(self.pid, sig)

    def upgrade(self):
        """SIGUSR2, and waits for the successor to take over: returns the
        old server's exit status. The test process must be a subreaper."""
        old, n = self.pid, len(re.findall(r"upgraded: pid", self.log()))
        self.send_signal(signal.SIGUSR2)
        m = wait_until(lambda: re.findall(r"upgraded: pid (\d+) serves",
                                          self.log())[n:],
                       what="upgraded: pid ... serves")
        code = self.wait_exit(old)
        self.pid = int(m[0])
        wait_until(lambda: re.search(rf"took over from pid {old}\b",
                                     self.log()), what="took over")
        return code

    def wait_exit(self, pid, timeout=TIMEOUT):
        """The exit status of @pid, this server or one of its successors."""
        if pid == self.proc.pid:
            return self.proc.wait(timeout)
        if pid not in self.exits:
            self.exits[pid] = wait_pid(pid, timeout)
        return self.exits[pid]

    def running(self):
        if self.pid == self.proc.pid:
            return self.proc.poll() is None
        if self.pid in self.exits:
            return False
        done, status = os.waitpid(self.pid, os.WNOHANG)
        if done:
            self.exits[self.pid] = os.waitstatus_to_exitcode(status)
        return not done

    def stop(self, sig=signal.SIGTERM, timeout=TIMEOUT):
        if self.proc is None:
            return None
        try:
            if self.running():
                self.send_signal(sig)
            code = self.wait_exit(self.pid, timeout)
        finally:
            if self.running():
                self.send_signal(signal.SIGKILL)
                self.wait_exit(self.pid)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.logfile.close()
        return code


def run_server(*args, timeout=TIMEOUT, env=None):
    """Runs the server to completion: (exit code, stdout, stderr)."""
    p = subprocess.run([SERVER] + list(args), capture_output=True, text=True,
                       timeout=timeout, env=env)
    return p.returncode, p.stdout, p.stderr


def shm_unlink(name):
    try:
        os.unlink(os.path.join("/dev/shm", name))
    except FileNotFoundError:
        pass


class TestCase(unittest.TestCase):
    """Gives each test a directory, and stops what it started."""

    def setUp(self):
        if not SERVER or not os.access(SERVER, os.X_OK):
            raise RuntimeError("IVSHMEM_SERVER must name the built server")
        self.tmpdir = tempfile.mkdtemp(prefix="ivshmem-test-")
        self.addCleanup(shutil.rmtree, self.tmpdir, ignore_errors=True)

    def later(self, fn, *args):
        """Runs fn(*args) after the test, last registered first."""
        self.addCleanup(fn, *args)

    def reap_daemon(self, pidfile):
        """After the test, kills the daemon that @pidfile names, if it still
        runs: registered before the daemon starts, so that no failure in
        between leaves it behind."""
        def kill():
            try:
                with open(pidfile) as f:
                    pid = int(f.read())
                os.kill(pid, signal.SIGKILL)
            except (OSError, ValueError):
                pass
        self.later(kill)

    def daemon(self, *args):
        """Starts the server in daemon mode, with a socket, a pid file and a
        POSIX object of this test: returns (socket, pid file, shm name)
        once the daemon serves."""
        sock = os.path.join(self.tmpdir, "d.sock")
        pidfile = os.path.join(self.tmpdir, "d.pid")
        name = unique_name()
        self.later(shm_unlink, name)
        self.reap_daemon(pidfile)
        code, out, err = run_server("-S", sock, "-p", pidfile, "-M", name,
                                    *args)
        self.assertEqual((code, err), (0, ""))
        return sock, pidfile, name

    def server(self, *args, start=True, **kw):
        if "shm_name" not in kw and "-m" not in args and "--memfd" not in args:
            kw["shm_name"] = unique_name()
        s = Server(self.tmpdir, *args, **kw)
        self.later(lambda: (s.stop(signal.SIGKILL) if s.proc else None,
                            kw.get("shm_name") and shm_unlink(kw["shm_name"])))
        return s.start() if start else s

    def peer(self, server, vectors=1, **kw):
        p = server.peer(vectors, **kw)
        self.later(p.close)
        return p

    def assert_no_departures(self, *peers):
        for p in peers:
            p.pump(0.05)
            self.assertEqual([e for e in p.events if e[0] == "leave"], [])

    def group_with_qemu(self, srv, vectors):
        """Two host peers, a QEMU and another host peer, ids 0 to 3, each
        knowing all the others: (a, b, qemu, c)."""
        a, b = self.peer(srv, vectors), self.peer(srv, vectors)
        q = self.qemu(srv, vectors)
        c = self.peer(srv, vectors)
        for p in (a, b, c):
            for other in {0, 1, 2, 3} - {p.id}:
                p.wait_join(other, vectors)
        self.assertEqual((a.id, b.id, q.iv_position(), c.id), (0, 1, 2, 3))
        return a, b, q, c

    def assert_nobody_noticed(self, srv, group, vectors):
        """After an upgrade or a crash, the group of group_with_qemu() is
        whole: nobody heard of a departure, ids and QEMU's connection
        stayed, the next peer is connected to all and rings QEMU both
        ways, and everyone still rings everyone. Returns the new peer."""
        a, b, q, c = group
        self.assert_no_departures(a, b, c)
        self.assertEqual(q.iv_position(), 2)
        d = self.assert_next_peer_connected(srv, (a, b, c), q, 2, vectors)
        q.ring(0, 1)  # QEMU reaches the peers from before too
        self.assertEqual(eventfd_read(a.own[1]), 1)
        ring(a, b, vectors)
        ring(c, d, vectors)
        ring(a, d, vectors)
        self.assert_no_departures(a, b, c, d)
        return d

    def peer_with_a_queue(self, srv, joiners, vectors):
        """A peer (id 0) that reads nothing while @joiners peers join: what
        its socket does not take waits in the server's queue for it (which
        the server's state shows). Returns it (not handshaken yet) and the
        joiners, which read all they get."""
        slow = Peer(srv.socket, keep_fds=False)
        self.later(slow.close)
        others = [self.peer(srv, vectors, keep_fds=False)
                  for _ in range(joiners)]
        srv.send_signal(signal.SIGUSR1)
        m = srv.wait_log(r"peer 0: pid \d+, uid \d+, gid \d+, (\d+) "
                         r"messages queued")
        self.assertGreater(int(m.group(1)), 0)
        return slow, others

    def assert_next_peer_connected(self, srv, peers, qemu, qemu_id, vectors):
        """A new peer joins: it hears of @peers and of @qemu (with id
        @qemu_id), @vectors eventfds each, and they of it; it rings QEMU
        and QEMU rings it, on every vector. Returns it."""
        ids = sorted([p.id for p in peers] + [qemu_id])
        d = self.peer(srv, vectors)
        self.assertEqual(d.id, ids[-1] + 1)
        d.pump(0.05)
        self.assertEqual(d.order, ids)
        self.assertEqual({i: len(d.peers[i]) for i in d.order},
                         {i: vectors for i in ids})
        for p in peers:
            self.assertEqual(p.wait_join(d.id, vectors), vectors)
        qemu.enable_msix(vectors)
        for v in range(vectors):
            eventfd_kick(d.peers[qemu_id][v])
            qemu.wait_msix(v)
            qemu.ring(d.id, v)
            self.assertEqual(eventfd_read(d.own[v]), 1)
        return d

    def qemu(self, srv, vectors, extra=()):
        """A QEMU with an ivshmem-doorbell device connected to @srv, its
        BARs mapped."""
        q = Qemu(self.tmpdir, [
            "-chardev", f"socket,path={srv.socket},id=ivsh",
            "-device", f"ivshmem-doorbell,chardev=ivsh,vectors={vectors},"
                       "addr=03.0", *extra])
        self.later(q.quit)
        q.map_bars()
        return q


# -- QEMU ----------------------------------------------------------------

PCI_SLOT = 3
BAR0 = 0xC0000000   # registers
BAR1 = 0xC0001000   # MSI-X table and PBA
BAR2 = 0xD0000000   # shared memory, up to 256 MiB here
MSI_BASE = 0x100000  # guest RAM where MSI-X messages land, 4 bytes a vector
MSI_DATA = 0x5A000   # data of vector v: MSI_DATA + v


class QemuFailed(AssertionError):
    """QEMU exited, or did not start; the message is its log."""


def _has_name(uid):
    import pwd
    try:
        pwd.getpwuid(uid)
        return True
    except KeyError:
        return False


class Qemu:
    """qemu-system-x86_64 with one ivshmem device, no guest, over qtest."""

    def __init__(self, tmpdir, device, user=None):
        """@user: (uid, gid) to run QEMU as, with no supplementary groups
        but those of @user's name if it has one; the qtest socket is then
        made reachable for it."""
        if not QEMU:
            raise RuntimeError("qemu-system-x86_64 not found: run scripts/setup")
        self.qtest_path = os.path.join(tmpdir, f"qtest-{next(_names)}.sock")
        self.logpath = os.path.join(tmpdir, f"qemu-{next(_names)}.log")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.qtest_path)
        listener.listen(1)
        prefix = []
        if user is not None:
            os.chmod(self.qtest_path, 0o666)
            prefix = ["setpriv", f"--reuid={user[0]}", f"--regid={user[1]}",
                      "--init-groups" if _has_name(user[0]) else
                      "--clear-groups", "--"]
        self.logfile = open(self.logpath, "w")
        self.proc = subprocess.Popen(
            prefix +
            [QEMU, "-M", "q35", "-m", "128M", "-display", "none", "-S",
             "-nodefaults", "-qtest", f"unix:{self.qtest_path}"] + device,
            stdout=self.logfile, stderr=subprocess.STDOUT)
        listener.settimeout(0.05)
        deadline = time.monotonic() + TIMEOUT
        try:
            while True:
                try:
                    self.sock, _ = listener.accept()
                    break
                except socket.timeout:
                    if self.proc.poll() is not None or \
                            time.monotonic() > deadline:
                        self.proc.kill()
                        self.proc.wait()
                        self.logfile.close()
                        raise QemuFailed(self.log())
        finally:
            listener.close()
        self.sock.settimeout(TIMEOUT)
        self.buf = b""
        self.msix_vectors = 0

    def log(self):
        with open(self.logpath) as f:
            return f.read()

    def cmd(self, line):
        self.sock.sendall(line.encode() + b"\n")
        while True:
            while b"\n" not in self.buf:
                chunk = self.sock.recv(4096)
                if not chunk:
                    raise AssertionError(f"QEMU exited: {self.log()}")
                self.buf += chunk
            reply, self.buf = self.buf.split(b"\n", 1)
            reply = reply.decode()
            if reply.startswith("IRQ"):
                continue
            if not reply.startswith("OK"):
                raise AssertionError(f"qtest '{line}': {reply}")
            parts = reply.split()
            return int(parts[1], 16) if len(parts) > 1 else None

    # PCI configuration space of the device in slot PCI_SLOT
    def cfg_read(self, offset):
        self.cmd(f"outl 0xcf8 {0x80000000 | PCI_SLOT << 11 | offset:#x}")
        return self.cmd("inl 0xcfc")

    def cfg_write(self, offset, value):
        self.cmd(f"outl 0xcf8 {0x80000000 | PCI_SLOT << 11 | offset:#x}")
        self.cmd(f"outl 0xcfc {value:#x}")

    def map_bars(self, doorbell=True):
        """Maps BAR0 and BAR2 (and BAR1 on a doorbell) and enables memory
        decoding and bus mastering."""
        self.cfg_write(0x10, BAR0)
        if doorbell:
            self.cfg_write(0x14, BAR1)
        self.cfg_write(0x18, BAR2 | 0xC)  # 64-bit prefetchable
        self.cfg_write(0x1C, 0)
        self.cfg_write(0x04, 0x6)          # memory + bus master

    def readl(self, addr):
        return self.cmd(f"readl {addr:#x}")

    def writel(self, addr, value):
        self.cmd(f"writel {addr:#x} {value:#x}")

    def readq(self, addr):
        return self.cmd(f"readq {addr:#x}")

    def writeq(self, addr, value):
        self.cmd(f"writeq {addr:#x} {value:#x}")

    def iv_position(self):
        return self.readl(BAR0 + 8)

    def ring(self, peer, vector):
        self.writel(BAR0 + 12, (peer << 16) | vector)

    def enable_msix(self, vectors):
        """Points MSI-X vector v at guest RAM (MSI_BASE + 4 v, data
        MSI_DATA + v) and enables MSI-X, so that an interrupt QEMU receives
        becomes visible to readl()."""
        cap = self.cfg_read(0x34) & 0xFF
        while cap and self.cfg_read(cap) & 0xFF != 0x11:
            cap = (self.cfg_read(cap) >> 8) & 0xFF
        if not cap:
            raise AssertionError("no MSI-X capability")
        table = self.cfg_read(cap + 4)
        if table & 7 != 1:
            raise AssertionError(f"MSI-X table in BAR{table & 7}, not BAR1")
        base = BAR1 + (table & ~7)
        for v in range(vectors):
            self.writel(MSI_BASE + 4 * v, 0)
            self.writel(base + 16 * v, MSI_BASE + 4 * v)
            self.writel(base + 16 * v + 4, 0)
            self.writel(base + 16 * v + 8, MSI_DATA + v)
            self.writel(base + 16 * v + 12, 0)  # unmasked
        control = self.cfg_read(cap)
        self.cfg_write(cap, (control | 1 << 31) & ~(1 << 30))
        self.msix_vectors = vectors

    def msix_count(self, vector):
        """1 if an MSI-X message for @vector has landed since the last call."""
        if self.readl(MSI_BASE + 4 * vector) == MSI_DATA + vector:
            self.writel(MSI_BASE + 4 * vector, 0)
            return 1
        return 0

    def wait_msix(self, vector, timeout=TIMEOUT):
        wait_until(lambda: self.msix_count(vector), timeout,
                   what=f"MSI-X vector {vector} in QEMU")

    def quit(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.sock.close()
        self.logfile.close()
