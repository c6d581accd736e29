#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-3.0-or-later
"""Writes the C examples of a Markdown file to files, so that the build
compiles (and the tests run) exactly what the documentation shows.

A fenced ```c block whose first line is "/* NAME.c: ..." becomes NAME.c.
"""
import os
import re
import sys

source, outdir, *wanted = sys.argv[1:]
text = open(source).read()
found = {}
for block in re.findall(r"^```c\n(.*?)^```", text, re.S | re.M):
    m = re.match(r"/\* ([\w-]+\.c):", block)
    if m:
        found[m.group(1)] = block
for name in wanted:
    if name not in found:
        sys.exit(f"{source}: no example {name}")
    with open(os.path.join(outdir, name), "w") as f:
        f.write(found[name])
