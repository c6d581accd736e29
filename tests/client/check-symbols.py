#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-3.0-or-later
"""The shared and the static library both export exactly the functions of
ivshmem.h: nothing of the library's internals can clash with a program's
own symbols, however it links. A Windows DLL's exports are read with
objdump; $NM and $OBJDUMP name the cross tools."""
import os
import re
import subprocess
import sys

NM = os.environ.get("NM", "nm")
OBJDUMP = os.environ.get("OBJDUMP", "objdump")


def dll_exports(library):
    out = subprocess.run([OBJDUMP, "-p", library], capture_output=True,
                         text=True, check=True).stdout
    table = out.split("[Ordinal/Name Pointer] Table\n", 1)[-1]
    table = table.split("\n\n", 1)[0]
    return set(re.findall(r"^\s+\[\s*\d+\] (\S+)$", table, re.M))


header, libraries = sys.argv[1], sys.argv[2:]
text = open(header).read()
declared = {name for name in re.findall(r"\b(ivshmem_\w+)\s*\(", text)
            if not name.endswith("_fn")}
ok = True
for library in libraries:
    if library.endswith(".dll"):
        exported = dll_exports(library)
    else:
        dynamic = library.endswith(".so") or ".so." in library
        out = subprocess.run([NM, "-g", "--defined-only"] +
                             (["-D"] if dynamic else []) + [library],
                             capture_output=True, text=True,
                             check=True).stdout
        exported = set()
        for line in out.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[1] != "A":  # A: the version node
                # 32-bit Windows puts an underscore before C names
                name = parts[2].split("@")[0]
                if name.startswith("_ivshmem_"):
                    name = name[1:]
                exported.add(name)
    for name in sorted(exported - declared):
        print(f"{library}: exported but not in the header: {name}")
        ok = False
    for name in sorted(declared - exported):
        print(f"{library}: declared but not exported: {name}")
        ok = False
    print(f"{library}: {len(exported)} symbols exported, "
          f"{len(declared)} declared")
sys.exit(0 if ok else 1)
