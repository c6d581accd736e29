# SPDX-License-Identifier: LGPL-3.0-or-later
"""What gets installed works as a user would use it: the header, the
pkg-config file, the shared and the static library, the man pages."""

import os
import shlex
import subprocess
import unittest

from ivshmem_test import TestCase, eventfd_kick, eventfd_read

BUILD = os.environ.get("IVSHMEM_BUILD", "")
CC = os.environ.get("CC", "cc")
# a sanitized build installs sanitized libraries: programs need the runtime
SANITIZE = os.environ.get("IVSHMEM_SANITIZE", "none")


def run(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode:
        raise AssertionError(f"{shlex.join(cmd)}: {p.stdout}{p.stderr}")
    return p.stdout


class Install(TestCase):
    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.root = tempfile.mkdtemp(prefix="ivshmem-install-")
        run(["meson", "install", "-C", BUILD, "--no-rebuild", "--quiet",
             "--destdir", cls.root])
        cls.files = [os.path.join(d, f) for d, _, fs in os.walk(cls.root)
                     for f in fs]
        pcs = [f for f in cls.files if f.endswith("/pkgconfig/ivshmem.pc")]
        if len(pcs) != 1:
            raise AssertionError(f"no single ivshmem.pc in {cls.files}")
        cls.pcdir = os.path.dirname(pcs[0])

    @classmethod
    def tearDownClass(cls):
        import shutil
        shutil.rmtree(cls.root, ignore_errors=True)

    def pkg_config(self, *args):
        # the file's prefix, moved under the DESTDIR it was installed to
        env = dict(os.environ, PKG_CONFIG_PATH=self.pcdir)
        prefix = run(["pkg-config", "--variable=prefix", "ivshmem"],
                     env=env).strip()
        return shlex.split(run(["pkg-config", "--define-variable=prefix=" +
                                self.root + prefix, *args, "ivshmem"],
                               env=env))

    def build_example(self, static):
        src = os.path.join(BUILD, "tests", "example-doorbell.c")
        exe = os.path.join(self.tmpdir, "example")
        flags = self.pkg_config("--cflags", "--libs",
                                *(["--static"] if static else []))
        if static:
            # the .a, not the .so: what a program linked statically gets
            flags = [f for f in flags if f != "-livshmem"] + [
                os.path.join(self.pcdir, "..", "libivshmem.a")]
        extra = [] if SANITIZE == "none" else [f"-fsanitize={SANITIZE}"]
        run([CC, "-std=c99", "-Wall", "-Werror", src, "-o", exe, *extra,
             *flags])
        return exe

    def check_runs(self, exe, **env):
        """The example joins, hears of us, rings us; we ring it back, and
        it ends at that interrupt."""
        srv = self.server(vectors=1)
        a = self.peer(srv, 1)
        p = subprocess.Popen([exe, srv.socket], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True,
                             env=dict(os.environ, **env))
        self.later(p.kill)
        a.wait_join(1, 1)
        self.assertEqual(eventfd_read(a.own[0]), 1)  # it rang us
        eventfd_kick(a.peers[1][0])
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, err)
        self.assertIn("our id is 1", out)
        self.assertIn("peer 0 joined, with 1 vectors", out)
        self.assertIn("interrupt on vector 0 (1)", out)

    def test_installed_files(self):
        names = {os.path.relpath(f, self.root) for f in self.files}
        for want in ("include/ivshmem.h", "sbin/ivshmem-server",
                     "bin/ivshmem-client", "man/man8/ivshmem-server.8",
                     "man/man5/ivshmem-server.conf.5",
                     "man/man3/libivshmem.3", "man/man1/ivshmem-client.1"):
            self.assertTrue(any(n.endswith(want) for n in names), want)
        self.assertTrue(any(n.endswith("libivshmem.so.0") for n in names))

    def test_pkg_config_shared(self):
        exe = self.build_example(static=False)
        libdir = os.path.join(self.pcdir, "..")
        out = run(["ldd", exe], env=dict(os.environ, LD_LIBRARY_PATH=libdir))
        self.assertIn(os.path.realpath(libdir), os.path.realpath(
            out.split("libivshmem.so.0 => ")[1].split()[0]))
        self.check_runs(exe, LD_LIBRARY_PATH=libdir)

    def test_static(self):
        exe = self.build_example(static=True)
        self.assertNotIn("libivshmem", run(["ldd", exe]))
        self.check_runs(exe)


if __name__ == "__main__":
    unittest.main()
