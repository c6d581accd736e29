#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-3.0-or-later
"""The shared library exports exactly the functions of ivshmem.h."""
import re
import subprocess
import sys

library, header = sys.argv[1], sys.argv[2]
out = subprocess.run(["nm", "-D", "--defined-only", library],
                     capture_output=True, text=True, check=True).stdout
exported = set()
for line in out.splitlines():
    parts = line.split()
    if len(parts) == 3 and parts[1] != "A":  # A: the version node
        exported.add(parts[2].split("@")[0])
text = open(header).read()
declared = {name for name in re.findall(r"\b(ivshmem_\w+)\s*\(", text)
            if not name.endswith("_fn")}
ok = True
for name in sorted(exported - declared):
    print(f"exported but not in the header: {name}")
    ok = False
for name in sorted(declared - exported):
    print(f"declared but not exported: {name}")
    ok = False
for name in sorted(exported):
    if not name.startswith("ivshmem_"):
        print(f"exported outside the ivshmem_ prefix: {name}")
        ok = False
print(f"{len(exported)} symbols exported, {len(declared)} declared")
sys.exit(0 if ok else 1)
