#!/bin/sh
# mkinitramfs.sh: build the initramfs of a test guest.
#
# usage: mkinitramfs.sh [-k KERNEL_DIR] OUTPUT INIT_SCRIPT [FILE...]
#
# OUTPUT        the archive: newc cpio; gzip-compressed if it ends in .gz,
#               uncompressed otherwise (uncompressed boots faster under TCG,
#               see README.md)
# INIT_SCRIPT   becomes /init (run by the kernel as PID 1; it must end with
#               `poweroff -f`, else the kernel panics, which with QEMU's
#               -no-reboot and the guest's panic=-1 also ends the run)
# FILE...       extra files (static test binaries), copied to /bin/
# KERNEL_DIR    the OUTDIR of fetch-kernel.sh (default: $GUEST_KERNEL_DIR):
#               supplies the static busybox and the VFIO modules
#
# The archive holds: busybox and all its applet links, /lib/modules/*.ko with
# /lib/modules/load-order, /etc/guest-lib.sh (helpers for init scripts, see
# below), /dev/console, empty /proc /sys /dev /tmp /run.
#
# The archive is written directly (a small newc writer in Python), with every
# file owned by root and mtime 0: no cpio tool, no fakeroot, no mknod, and
# the same inputs give the same bytes.

set -eu

die() { echo "mkinitramfs.sh: error: $*" >&2; exit 1; }

HERE=$(cd "$(dirname "$0")" && pwd)
KDIR=${GUEST_KERNEL_DIR:-}
while getopts k: opt; do
	case $opt in
	k) KDIR=$OPTARG ;;
	*) die "usage: $0 [-k KERNEL_DIR] OUTPUT INIT_SCRIPT [FILE...]" ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 2 ] || die "usage: $0 [-k KERNEL_DIR] OUTPUT INIT_SCRIPT [FILE...]"
[ -n "$KDIR" ] || die "no kernel dir: pass -k DIR or set GUEST_KERNEL_DIR (run fetch-kernel.sh DIR first)"
[ -f "$KDIR/.complete" ] || die "$KDIR is not a complete fetch-kernel.sh result: run fetch-kernel.sh $KDIR"
[ -f "$2" ] || die "init script $2 not found"
command -v python3 >/dev/null || die "python3 is required"

exec python3 - "$KDIR" "$HERE/guest-lib.sh" "$@" <<'EOF'
import gzip, os, stat, subprocess, sys, tempfile

kdir, guest_lib, output, init_script, *extra = sys.argv[1:]
for f in extra:
    if not os.path.isfile(f):
        sys.exit("mkinitramfs.sh: error: %s is not a file" % f)

entries = {}          # path -> (mode, data bytes, rdev (major, minor))

def add_dir(path):
    parts = path.strip("/").split("/")
    for i in range(1, len(parts) + 1):
        p = "/".join(parts[:i])
        entries.setdefault(p, (stat.S_IFDIR | 0o755, b"", (0, 0)))

def add_file(path, data, mode=0o755):
    path = path.strip("/")
    if "/" in path:
        add_dir(os.path.dirname(path))
    entries[path] = (stat.S_IFREG | mode, data, (0, 0))

def add_symlink(path, target):
    path = path.strip("/")
    if "/" in path:
        add_dir(os.path.dirname(path))
    entries.setdefault(path, (stat.S_IFLNK | 0o777, target.encode(), (0, 0)))

def read(path):
    with open(path, "rb") as f:
        return f.read()

for d in ("dev", "proc", "sys", "tmp", "run", "root", "etc", "lib/modules"):
    add_dir(d)
entries["dev/console"] = (stat.S_IFCHR | 0o600, b"", (5, 1))
entries["dev/null"] = (stat.S_IFCHR | 0o666, b"", (1, 3))

busybox = os.path.join(kdir, "busybox")
add_file("bin/busybox", read(busybox))
applets = subprocess.run([busybox, "--list-full"], stdout=subprocess.PIPE,
                         check=True, text=True).stdout.split()
for a in applets:
    if a != "bin/busybox":
        add_symlink(a, "/bin/busybox")

moddir = os.path.join(kdir, "modules")
order = read(os.path.join(moddir, "load-order"))
add_file("lib/modules/load-order", order, 0o644)
for m in order.decode().split():
    add_file("lib/modules/" + m, read(os.path.join(moddir, m)), 0o644)

add_file("etc/guest-lib.sh", read(guest_lib), 0o644)
add_file("init", read(init_script))
for f in extra:
    add_file("bin/" + os.path.basename(f), read(f))

def newc(ino, name, mode, data, rdev):
    name_b = name.encode() + b"\0"
    hdr = "070701" + "".join("%08X" % v for v in (
        ino, mode, 0, 0, 2 if stat.S_ISDIR(mode) else 1, 0, len(data),
        0, 0, rdev[0], rdev[1], len(name_b), 0))
    out = hdr.encode() + name_b
    out += b"\0" * (-len(out) % 4)
    out += data + b"\0" * (-len(data) % 4)
    return out

chunks = []
for ino, name in enumerate(sorted(entries), start=1):
    mode, data, rdev = entries[name]
    chunks.append(newc(ino, name, mode, data, rdev))
chunks.append(newc(0, "TRAILER!!!", 0, b"", (0, 0)))
blob = b"".join(chunks)
blob += b"\0" * (-len(blob) % 512)

fd, tmp = tempfile.mkstemp(prefix=os.path.basename(output) + ".",
                           dir=os.path.dirname(os.path.abspath(output)))
try:
    with os.fdopen(fd, "wb") as raw:
        if output.endswith(".gz"):
            with gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=6,
                               mtime=0) as z:
                z.write(blob)
        else:
            raw.write(blob)
    os.chmod(tmp, 0o644)
    os.replace(tmp, output)
except BaseException:
    os.unlink(tmp)
    raise
EOF
