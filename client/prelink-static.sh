#!/bin/sh
# SPDX-License-Identifier: LGPL-3.0-or-later
#
# prelink-static.sh OUT.a IN.a
#
# Makes libivshmem.a one relocatable object in which only ivshmem_* symbols
# stay global, so that the library's internals (log_msg, proto_send, ...)
# cannot clash with a program's own symbols when it links statically: what
# the version script does for the shared library. IN.a may be thin.
set -eu
out=$(realpath -m "$1")
in=$(realpath "$2")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ "$(head -c 7 "$in")" = '!<thin>' ]; then
	# members are paths, relative to the archive
	objects=$(cd "$(dirname "$in")" && ar t "$in" | while read -r m; do
		realpath "$m"; done)
else
	(cd "$tmp" && ar x "$in")
	objects=$(ar t "$in" | sed "s|^|$tmp/|")
fi
if [ "$(echo "$objects" | xargs -n1 basename | sort | uniq -d)" ]; then
	echo "prelink-static.sh: two members of $in have one name" >&2
	exit 1
fi
# shellcheck disable=SC2086
${LD:-ld} -r -o "$tmp/libivshmem.o" $objects
# (32-bit Windows puts an underscore before C names)
${OBJCOPY:-objcopy} --wildcard --keep-global-symbol='ivshmem_*' \
	--keep-global-symbol='_ivshmem_*' "$tmp/libivshmem.o"
rm -f "$out"
${AR:-ar} rcs "$out" "$tmp/libivshmem.o"
