# guest-lib.sh: helpers for the /init script of a test guest (busybox sh).
# shellcheck shell=sh
#
# mkinitramfs.sh installs this as /etc/guest-lib.sh; an init script does
#   . /etc/guest-lib.sh
#   guest_setup              # mounts, prints GUEST-BOOT
#   guest_load_vfio || ...   # only when the test needs VFIO
#   ... run tests, each printing GUEST-* marker lines ...
#   guest_end $status        # prints GUEST-END, powers off; never returns
#
# Marker lines, one per line on the console, parsed by guest.py:
#   GUEST-BOOT: uptime=S          init started S seconds after kernel start
#   GUEST-RESULT: key=value ...   a measured value or fact
#   GUEST-PASS: NAME / GUEST-FAIL: NAME reason
#   GUEST-END: status=N uptime=S  the init script's verdict; last line

guest_uptime() {
	read -r up _ </proc/uptime
	echo "$up"
}

guest_setup() {
	export PATH=/bin:/sbin:/usr/bin:/usr/sbin
	mount -t proc proc /proc
	mount -t sysfs sysfs /sys
	mount -t devtmpfs devtmpfs /dev 2>/dev/null || true
	echo "GUEST-BOOT: uptime=$(guest_uptime)"
}

# guest_load_vfio: insmod the VFIO modules (dependencies first).
guest_load_vfio() {
	while read -r m; do
		if ! insmod "/lib/modules/$m"; then
			echo "GUEST-FAIL: insmod $m"
			return 1
		fi
	done </lib/modules/load-order
	echo "GUEST-RESULT: vfio_loaded_uptime=$(guest_uptime)"
}

# guest_end STATUS: report and power off at once (no init to return to).
guest_end() {
	echo "GUEST-END: status=${1:-0} uptime=$(guest_uptime)"
	poweroff -f
	# Not reached; if poweroff failed, a panic (panic=-1) still ends QEMU.
	exit "${1:-0}"
}
