#!/bin/sh
# /init of the ivshmem guest tests (test_guest.py): the static
# ivshmem-client, guest-test and the README's example-guest against an
# ivshmem-plain device at
# 00:03.0 and, in mode "full", an ivshmem-doorbell with 4 vectors at
# 00:04.0, connected to the host's server. Both have 1 MiB.
#
# Kernel command line: ivtest.mode=full|noiommu, ivtest.token=T (the host
# wrote "host:T" at 0 of the plain memory, "server:T" at 0 of the
# server's), ivtest.echo=ID (a host peer that answers every interrupt on
# the same vector), ivtest.monitor=ID (a host ivshmem-client monitor),
# ivtest.rounds=N (round trips per vector and API).
#
# Every check prints GUEST-PASS or GUEST-FAIL; each command's output also
# goes to the console as "OUT NAME: line" and "ERR NAME: line" for the
# host to check. "GUEST-RESULT: ring=V" asks the host to ring our vector V
# once (through its own ivshmem-client): it comes only once the waiting
# command has armed its interrupts, since earlier ones are lost.
. /etc/guest-lib.sh
guest_setup

C=ivshmem-client
PLAIN=0000:00:03.0
DB=0000:00:04.0
MiB=1048576
status=0

param() { tr ' ' '\n' </proc/cmdline | sed -n "s/^ivtest\.$1=//p"; }
pass() { echo "GUEST-PASS: $1"; }
fail() { echo "GUEST-FAIL: $1 $2"; status=1; }

# show NAME FILE PREFIX: the lines of FILE on the console
show() {
	while IFS= read -r line || [ -n "$line" ]; do
		echo "$3 $1: $line"
	done <"$2"
}

# run NAME STATUS COMMAND...: COMMAND must exit with STATUS; its output is
# then in $out and $err.
run() {
	name=$1 want=$2
	shift 2
	"$@" >/tmp/out 2>/tmp/err
	rc=$?
	out=$(cat /tmp/out) err=$(cat /tmp/err)
	show "$name" /tmp/out OUT
	show "$name" /tmp/err ERR
	if [ "$rc" != "$want" ]; then
		fail "$name" "exit status $rc, not $want"
		return 1
	fi
}

# same NAME ACTUAL EXPECTED / has NAME TEXT PATTERN (grep -E, per line)
same() {
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "not '$3'"; fi
}
has() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then
		pass "$1"
	else
		fail "$1" "no /$3/"
	fi
}

# until_in FILE PATTERN: waits up to 10 s for a line of FILE to match
until_in() {
	i=0
	while ! grep -Eq -- "$2" "$1"; do
		i=$((i + 1))
		[ $i -le 1000 ] || return 1
		sleep 0.01
	done
}

TOKEN=$(param token)
ECHO=$(param echo)
MONITOR=$(param monitor)
ROUNDS=$(param rounds)
NO_VFIO="has no interrupts without VFIO: bind it with 'ivshmem-client bind-vfio $DB' \(root; the guest needs an IOMMU \(QEMU: -M q35 -device intel-iommu,intremap=on; kernel: intel_iommu=on\)\)"

if [ "$(param mode)" = noiommu ]; then
	# No IOMMU: no IOMMU group, so no VFIO, whatever modules are loaded.
	guest_load_vfio || status=1
	run noiommu-list 0 $C list && same noiommu-list "$out" "$PLAIN plain $MiB -"
	run noiommu-bind 7 $C bind-vfio $PLAIN &&
		has noiommu-bind "$err" "^ivshmem-client: $PLAIN has no IOMMU group: the guest needs an IOMMU"
	guest_end $status
fi

# ---- the devices as they boot: no driver ----
run list 0 $C list && same list "$out" "$PLAIN plain $MiB -
$DB doorbell $MiB -"

# ---- ivshmem-plain, write-combined and uncached ----
run plain-info 0 $C --pci $PLAIN info && same plain-info "$out" "backend: pci
size: $MiB"
n=$((5 + ${#TOKEN}))
run plain-read 0 $C --pci $PLAIN read 0 $n --raw && same plain-read "$out" "host:$TOKEN"
run plain-read-uncached 0 $C --pci $PLAIN --uncached read 0 $n --raw &&
	same plain-read-uncached "$out" "host:$TOKEN"
run plain-write 0 $C --pci $PLAIN write 4096 "guest-wc:$TOKEN" && pass plain-write
run plain-write-uncached 0 $C --pci $PLAIN --uncached write 8192 "guest-uc:$TOKEN" && pass plain-write-uncached
n=$((9 + ${#TOKEN}))
run plain-wc-to-uc 0 $C --pci $PLAIN --uncached read 4096 $n --raw &&
	same plain-wc-to-uc "$out" "guest-wc:$TOKEN"
run plain-uc-to-wc 0 $C --pci $PLAIN read 8192 $n --raw &&
	same plain-uc-to-wc "$out" "guest-uc:$TOKEN"
run plain-cached 4 $C --pci $PLAIN --cached info &&
	has plain-cached "$err" "cached mappings of ivshmem devices are Windows only"
run plain-wait 7 $C --pci $PLAIN wait 0 --timeout 100 &&
	has plain-wait "$err" "$PLAIN is an ivshmem-plain device: it has no interrupts"

# ---- ivshmem-doorbell through sysfs: no interrupts ----
run db-info 0 $C --pci $DB info && has db-info "$out" "^vectors: 4$"
ID=$(printf '%s\n' "$out" | sed -n 's/^id: //p')
echo "GUEST-RESULT: id=$ID"
n=$((7 + ${#TOKEN}))
run db-read 0 $C --pci $DB read 0 $n --raw && same db-read "$out" "server:$TOKEN"
run db-wait 7 $C --pci $DB wait 0 --timeout 100 && has db-wait "$err" "$NO_VFIO"
run db-monitor 7 $C --pci $DB monitor --timeout 100 && has db-monitor "$err" "$NO_VFIO"
run db-notify 0 $C --pci $DB notify "$MONITOR" 3 && pass db-notify
run db-bind-no-modules 7 $C bind-vfio $DB &&
	has db-bind-no-modules "$err" "load the modules vfio-pci and vfio_iommu_type1 \(modprobe -a vfio-pci vfio_iommu_type1\)"

# ---- bound to vfio-pci ----
guest_load_vfio || status=1
run bind 0 $C bind-vfio $DB && pass bind
run bind-again 0 $C bind-vfio "${DB#0000:}" && pass bind-again
run bind-none 4 $C bind-vfio 0000:00:05.0 && has bind-none "$err" "no ivshmem device at 0000:00:05.0"
run vfio-list 0 $C list && same vfio-list "$out" "$PLAIN plain $MiB -
$DB doorbell $MiB vfio-pci"
run vfio-info 0 $C --pci $DB info && same vfio-info "$out" "backend: pci
size: $MiB
id: $ID
vectors: 4"
n=$((7 + ${#TOKEN}))
run vfio-read-uncached 0 $C --pci $DB --uncached read 0 $n --raw &&
	same vfio-read-uncached "$out" "server:$TOKEN"
run vfio-write 0 $C --pci $DB write 4096 "guest-db:$TOKEN" && pass vfio-write
run vfio-notify 0 $C --pci $DB notify "$MONITOR" 2 && pass vfio-notify

# wait: -v says when the device is open, its interrupts armed
ivshmem-client -v --pci $DB wait 1 --timeout 10000 >/tmp/out 2>/tmp/err &
pid=$!
until_in /tmp/err "opened $DB: doorbell, $MiB bytes, interrupts through VFIO" &&
	echo "GUEST-RESULT: ring=1"
wait $pid
rc=$?
show vfio-wait /tmp/err ERR
same vfio-wait "$rc" 0

# monitor: "id ID" says when it is open
ivshmem-client --pci $DB monitor --timeout 10000 >/tmp/mon 2>&1 &
pid=$!
until_in /tmp/mon "^id $ID$" && echo "GUEST-RESULT: ring=3"
until_in /tmp/mon "^interrupt 3 1$"
kill $pid
show vfio-monitor /tmp/mon OUT
has vfio-monitor "$(cat /tmp/mon)" "^interrupt 3 1$"

guest-test $DB "$ECHO" "$ID" 4 "$ROUNDS" || status=1

# the README's example: the echo peer answers on vector 0
run example 0 example-guest $DB "$ECHO" && same example "$out" "our id is $ID, with 4 vectors
interrupt on vector 0"
guest_end $status
