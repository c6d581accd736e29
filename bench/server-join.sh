#!/bin/sh
# SPDX-License-Identifier: LGPL-3.0-or-later
#
# The server's join benchmark: join latency (p50, p99) and joins per second
# for 100, 1000 and 4096 peers x 1 vector and 256 peers x 64 vectors, with
# the server's memory and fds per peer, against a baseline measured in the
# same run: a minimal blocking server in the benchmark process, which does
# nothing but the sendmsg() calls a join needs.
#
#   bench/server-join.sh [BUILD_DIR]      (default: build; takes ~5 minutes)
set -eu
cd "$(dirname "$0")/.."
build=${1:-build}
[ -d "$build" ] || meson setup "$build" >/dev/null
ninja -C "$build" >/dev/null
server=$build/server/ivshmem-server
swarm=$build/tests/swarm
dir=$(mktemp -d)
trap 'kill $pid 2>/dev/null; rm -rf "$dir"' EXIT

field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }

printf '%-16s %10s %10s %10s   %10s %10s   %-6s %s\n' "peers x vectors" \
	"joins/s" "p50 us" "p99 us" "floor p50" "floor j/s" "ratio" \
	"server per peer"
for cfg in "100 1" "1000 1" "4096 1" "256 64"; do
	set -- $cfg
	"$server" -F -S "$dir/s" --memfd -n "$2" 2>"$dir/log" &
	pid=$!
	while ! grep -q listening "$dir/log"; do sleep 0.05; done
	ours=$("$swarm" --socket "$dir/s" --peers "$1" --vectors "$2" \
		--server-pid $pid)
	kill $pid; wait $pid || true
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
