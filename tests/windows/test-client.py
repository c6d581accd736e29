#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-3.0-or-later
"""ivshmem-client.exe on Windows (under wine in the cross build, where no
IVSHMEM device exists): what works without a device, and what Windows
does not have, said plainly."""
import os
import shlex
import subprocess
import tempfile
import unittest

CLIENT = os.environ["IVSHMEM_CLIENT"]
WINE = shlex.split(os.environ["WINE"])
# where wine finds libivshmem-0.dll
ENV = dict(os.environ, WINEPATH="Z:" + os.environ["IVSHMEM_DLL_DIR"])


def run(*args):
    # Files, not pipes: wine's helper processes would inherit a pipe and
    # keep it open for seconds after the program ends.
    with tempfile.TemporaryFile("w+") as out, \
         tempfile.TemporaryFile("w+") as err:
        p = subprocess.run(WINE + [CLIENT, *args], stdout=out, stderr=err,
                           timeout=60, env=ENV)
        out.seek(0)
        err.seek(0)
        return p.returncode, out.read(), err.read()


class ClientOnWindows(unittest.TestCase):
    def test_list_without_devices(self):
        self.assertEqual(run("list"), (0, "", ""))

    def test_absent_device(self):
        code, out, err = run("--pci", "0000:00:03.0", "info")
        self.assertEqual(code, 4)
        # the library's own message, shown without -v on Windows
        self.assertIn("0000:00:03.0: no such device of the IVSHMEM driver",
                      err)
        self.assertIn("cannot open the ivshmem device 0000:00:03.0", err)

    def test_no_server_no_plain(self):
        for args in (["--socket", "/tmp/s", "info"],
                     ["--plain", "/dev/shm/x", "read", "0", "1"]):
            code, _, err = run(*args)
            self.assertEqual(code, 1)
            self.assertIn("--socket and --plain are not available on "
                          "Windows", err)

    def test_pci_is_needed(self):
        code, _, err = run("wait", "0")
        self.assertEqual(code, 1)
        self.assertIn("on Windows, give --pci ADDRESS", err)

    def test_no_peers(self):
        code, _, err = run("--pci", "0000:00:03.0", "peers")
        self.assertEqual(code, 1)
        self.assertIn("peers needs an ivshmem-server, which is not "
                      "available on Windows", err)

    def test_no_interactive_mode(self):
        code, _, err = run()
        self.assertEqual(code, 1)
        self.assertIn("interactive mode", err)
        self.assertIn("not available on Windows", err)

    def test_no_vfio(self):
        code, _, err = run("bind-vfio", "0000:00:03.0")
        self.assertEqual(code, 7)
        self.assertIn("Operation not supported", err)


if __name__ == "__main__":
    unittest.main()
