#!/bin/sh
# SPDX-License-Identifier: LGPL-3.0-or-later
#
# The server's join benchmark: join latency (p50, p99) and joins per second
# for 100, 1000 and 4096 peers x 1 vector and 256 peers x 64 vectors, with
# the server's memory and fds per peer, against a baseline measured in the
# same run: a minimal blocking server in the benchmark process, which does
# nothing but the sendmsg() calls a join needs.
#
#   bench/server-join.sh [BUILD_DIR [PEERSxVECTORS...]]
#
# BUILD_DIR defaults to build; the full matrix takes about 4 minutes, e.g.
# bench/server-join.sh build 100x1 runs one configuration.
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
[ $# -gt 0 ] && shift
configs=${*:-100x1 1000x1 4096x1 256x64}
[ -d "$build" ] || meson setup "$build" >/dev/null
ninja -C "$build" >/dev/null
server=$build/server/ivshmem-server
swarm=$build/tests/swarm
dir=$(mktemp -d)
pid=
cleanup() {
	[ -z "$pid" ] || kill "$pid" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }

printf '%-16s %10s %10s %10s   %10s %10s   %-6s %s\n' "peers x vectors" \
	"joins/s" "p50 us" "p99 us" "floor p50" "floor j/s" "ratio" \
	"server per peer"
for cfg in $configs; do
	set -- $(echo "$cfg" | tr x ' ')
	"$server" -F -S "$dir/s" --memfd -n "$2" 2>"$dir/log" &
	pid=$!
	while ! grep -q listening "$dir/log"; do sleep 0.05; done
	ours=$("$swarm" --socket "$dir/s" --peers "$1" --vectors "$2" \
		--server-pid $pid)
	kill $pid
	wait $pid || true
	pid=
	floor=$("$swarm" --floor --peers "$1" --vectors "$2")
	line=$(echo "$ours" | grep '^server peers')
	p50=$(echo "$line" | field p50_us)
	fp50=$(echo "$floor" | field p50_us)
	per=$(echo "$ours" | sed -n 's/^server: \(.*\) per peer.*/\1/p')
	printf '%-16s %10s %10s %10s   %10s %10s   %-6s %s\n' "$1 x $2" \
		"$(echo "$line" | field joins_per_s)" "$p50" \
		"$(echo "$line" | field p99_us)" "$fp50" \
		"$(echo "$floor" | field joins_per_s)" \
		"$(awk "BEGIN { printf \"%.2f\", $p50 / $fp50 }")" "$per"
done
echo "ratio: our p50 / the floor's p50 (1.00: as fast as a bare sendmsg loop)"
