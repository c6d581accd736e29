#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-3.0-or-later
"""The shared and the static library both export exactly the functions of
ivshmem.h: nothing of the library's internals can clash with a program's
own symbols, however it links."""
import re
import subprocess
import sys

header, libraries = sys.argv[1], sys.argv[2:]
text = open(header).read()
declared = {name for name in re.findall(r"\b(ivshmem_\w+)\s*\(", text)
            if not name.endswith("_fn")}
ok = True
for library in libraries:
    dynamic = library.endswith(".so") or ".so." in library
    out = subprocess.run(["nm", "-g", "--defined-only"] +
                         (["-D"] if dynamic else []) + [library],
                         capture_output=True, text=True, check=True).stdout
    exported = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] != "A":  # A: the version node
            exported.add(parts[2].split("@")[0])
    for name in sorted(exported - declared):
        print(f"{library}: exported but not in the header: {name}")
        ok = False
    for name in sorted(declared - exported):
        print(f"{library}: declared but not exported: {name}")
        ok = False
    print(f"{library}: {len(exported)} symbols exported, "
          f"{len(declared)} declared")
sys.exit(0 if ok else 1)
