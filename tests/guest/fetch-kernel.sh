#!/bin/sh
# fetch-kernel.sh OUTDIR: a Linux kernel and tools for booted-guest tests.
#
# Fetches Debian's own kernel through apt only (no other network access):
#   - resolves linux-image-amd64 to the real package (linux-image-<ver>-amd64),
#     `apt-get download`s it and unpacks it with `dpkg -x` (nothing installed);
#   - extracts the UNCOMPRESSED vmlinux from the bzImage: QEMU boots it with
#     `-kernel vmlinux` through its PVH ELF note, about twice as fast under TCG
#     as the bzImage (no in-guest decompression of ~60 MiB);
#   - collects the VFIO modules (vfio, vfio_pci, vfio_pci_core,
#     vfio_iommu_type1) and everything they depend on per modules.dep
#     (generated with depmod, the .deb does not ship it), decompressed, plus
#     a load-order file for busybox insmod;
#   - downloads busybox-static and keeps its static binary (the host's
#     /bin/busybox is left alone: the `busybox` and `busybox-static`
#     packages conflict).
#
# Result in OUTDIR:
#   vmlinux          uncompressed kernel (boot with -kernel)
#   vmlinuz          the original bzImage (for comparison only)
#   busybox          static busybox
#   modules/*.ko     VFIO modules and dependencies, uncompressed
#   modules/load-order   module file names, one per line, in insmod order
#   VERSION          "kernel=<uname -r> package=<deb> version=<deb version>"
#
# Idempotent: once OUTDIR holds a complete result (stamp OUTDIR/.complete),
# it does nothing and touches neither apt nor the network.
#
# Host packages it apt-get installs when missing: apt/dpkg (always there),
# kmod (depmod), python3 (bzImage payload extraction), xz-utils, zstd
# (module decompression, only if modules are compressed).
# Environment: KERNEL_PACKAGE=linux-image-X-amd64 pins a package instead of
# resolving linux-image-amd64.

set -eu

die() { echo "fetch-kernel.sh: error: $*" >&2; exit 1; }
log() { echo "fetch-kernel.sh: $*" >&2; }

[ $# -eq 1 ] || die "usage: $0 OUTDIR"
OUTDIR=$1

if [ -f "$OUTDIR/.complete" ] && [ -f "$OUTDIR/vmlinux" ] &&
   [ -f "$OUTDIR/busybox" ] && [ -f "$OUTDIR/modules/load-order" ]; then
	exit 0
fi

[ "$(id -u)" -eq 0 ] || die "must run as root (uses apt-get)"
command -v apt-get >/dev/null || die "apt-get not found: this needs Debian"
command -v dpkg >/dev/null || die "dpkg not found: this needs Debian"

APT_UPDATED=
apt_update_once() {
	if [ -z "$APT_UPDATED" ]; then
		log "apt-get update"
		apt-get update -qq </dev/null >&2 || die "apt-get update failed"
		APT_UPDATED=1
	fi
}

# need CMD PACKAGE: install PACKAGE if CMD is missing.
need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	apt_update_once
	log "installing $2 (for $1)"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" </dev/null >&2 ||
		die "apt-get install $2 failed"
	command -v "$1" >/dev/null 2>&1 || die "$1 still missing after installing $2"
}

# Depmod lives in /sbin, which may not be in a non-login root PATH.
PATH=$PATH:/usr/sbin:/sbin
export PATH

need python3 python3
need depmod kmod

# package_depends PKG: the first "Depends:" package name of PKG's candidate.
package_depends() {
	apt-cache show --no-all-versions "$1" 2>/dev/null |
		sed -n 's/^Depends: \([^ ,(]*\).*/\1/p' | head -n 1
}

# resolve_package: set PKG to the kernel package to download.
resolve_package() {
	if [ -n "${KERNEL_PACKAGE:-}" ]; then
		PKG=$KERNEL_PACKAGE
	else
		PKG=$(package_depends linux-image-amd64)
	fi
}

resolve_package
if [ -z "$PKG" ]; then
	apt_update_once
	resolve_package
fi
[ -n "$PKG" ] || die "cannot resolve linux-image-amd64 (apt-cache show found no Depends:)"

check_package_name() {
	case $PKG in
	linux-image-*-amd64) ;;
	*) die "unexpected kernel package name '$PKG' (want linux-image-<version>-amd64)" ;;
	esac
}
check_package_name

mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
# Parallel callers (e.g. several tests) on one OUTDIR: one fetches, the
# others wait and find the stamp.
if command -v flock >/dev/null 2>&1; then
	exec 9>"$OUTDIR/.lock"
	flock 9
	if [ -f "$OUTDIR/.complete" ]; then
		exit 0
	fi
fi
WORK=$(mktemp -d "$OUTDIR/.work.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
# apt's sandbox user _apt must be able to write the download directory.
chmod 0755 "$WORK"
chown _apt "$WORK" 2>/dev/null || true

# download PKG...: apt-get download into $WORK.
download() {
	(cd "$WORK" && apt-get download -qq "$@" </dev/null >&2)
}

log "downloading $PKG and busybox-static"
if ! download "$PKG" busybox-static; then
	# Stale package lists (the mirror dropped that version): update, and
	# resolve linux-image-amd64 again, it may now point to a newer kernel.
	apt_update_once
	resolve_package
	log "retrying: $PKG and busybox-static"
	download "$PKG" busybox-static || die "apt-get download $PKG busybox-static failed"
fi
check_package_name
KVER=${PKG#linux-image-}

DEB=$(ls "$WORK"/"$PKG"_*.deb 2>/dev/null | head -n 1)
[ -n "$DEB" ] || die "download of $PKG produced no .deb"
DEBVER=$(dpkg-deb -f "$DEB" Version)
BBDEB=$(ls "$WORK"/busybox-static_*.deb 2>/dev/null | head -n 1)
[ -n "$BBDEB" ] || die "download of busybox-static produced no .deb"

log "unpacking"
mkdir "$WORK/root" "$WORK/bb"
dpkg -x "$DEB" "$WORK/root"
dpkg -x "$BBDEB" "$WORK/bb"
VMLINUZ=$WORK/root/boot/vmlinuz-$KVER
MODDIR=$WORK/root/lib/modules/$KVER
[ -f "$VMLINUZ" ] || die "$PKG has no boot/vmlinuz-$KVER"
[ -d "$MODDIR" ] || die "$PKG has no lib/modules/$KVER"
[ -x "$WORK/bb/bin/busybox" ] || die "busybox-static has no bin/busybox"

log "extracting vmlinux"
# The bzImage setup header (Documentation/x86/boot.rst, protocol >= 2.08)
# gives the compressed payload: it starts payload_offset (u32 @0x248) bytes
# into the protected-mode code, which follows (setup_sects (u8 @0x1f1) + 1)
# 512-byte sectors; its length is payload_length (u32 @0x24c).
python3 - "$VMLINUZ" "$WORK/vmlinux" <<'EOF'
import bz2, gzip, lzma, shutil, struct, subprocess, sys, zlib
src, dst = sys.argv[1], sys.argv[2]
with open(src, "rb") as f:
    img = f.read()
if img[0x202:0x206] != b"HdrS":
    sys.exit("not a bzImage (no HdrS signature): " + src)
proto = struct.unpack_from("<H", img, 0x206)[0]
if proto < 0x208:
    sys.exit("boot protocol %#x < 2.08 has no payload fields" % proto)
setup_sects = img[0x1f1] or 4
off, length = struct.unpack_from("<II", img, 0x248)
start = (setup_sects + 1) * 512 + off
payload = img[start:start + length]
if payload.startswith(b"\xfd7zXZ\x00"):
    out = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(payload)
elif payload.startswith(b"\x1f\x8b"):
    out = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(payload)
elif payload.startswith(b"BZh"):
    out = bz2.BZ2Decompressor().decompress(payload)
elif payload.startswith(b"\x5d\x00\x00"):
    out = lzma.LZMADecompressor(format=lzma.FORMAT_ALONE).decompress(payload)
elif payload.startswith(b"\x28\xb5\x2f\xfd"):
    # The kernel appends the 4-byte size; zstd would reject it as garbage.
    if not shutil.which("zstd"):
        sys.exit("zstd-compressed kernel: install zstd")
    out = subprocess.run(["zstd", "-dc"], input=payload[:-4],
                         stdout=subprocess.PIPE, check=True).stdout
else:
    sys.exit("unknown kernel compression, payload starts %r" % payload[:6])
if not out.startswith(b"\x7fELF"):
    sys.exit("decompressed payload is not an ELF file")
with open(dst, "wb") as f:
    f.write(out)
EOF

log "collecting VFIO modules"
depmod -b "$WORK/root" "$KVER" || die "depmod failed"
mkdir "$WORK/modules"
# Resolve the wanted modules and their dependencies from modules.dep into
# insmod order (dependencies first).
python3 - "$MODDIR" "$WORK/modules/load-order.paths" \
	vfio vfio_pci vfio_pci_core vfio_iommu_type1 <<'EOF'
import os, re, sys
moddir, out, wanted = sys.argv[1], sys.argv[2], sys.argv[3:]
def name(path):
    return re.sub(r"\.ko(\.(xz|zst|gz))?$", "", os.path.basename(path)).replace("-", "_")
deps = {}
with open(os.path.join(moddir, "modules.dep")) as f:
    for line in f:
        mod, _, rest = line.partition(":")
        deps[mod] = rest.split()
by_name = {name(p): p for p in deps}
order = []
def visit(path, stack=()):
    if path in order:
        return
    if path in stack:
        sys.exit("dependency loop at " + path)
    for d in deps[path]:
        visit(d, stack + (path,))
    order.append(path)
for w in wanted:
    if w not in by_name:
        builtin = os.path.join(moddir, "modules.builtin")
        with open(builtin) as f:
            if any(name(l.strip()) == w for l in f):
                continue  # built into the kernel: nothing to load
        sys.exit("module %s not found in modules.dep" % w)
    visit(by_name[w])
with open(out, "w") as f:
    f.write("\n".join(order) + "\n")
EOF

: >"$WORK/modules/load-order"
while read -r rel; do
	src=$MODDIR/$rel
	base=$(basename "$rel")
	case $base in
	*.ko) cp "$src" "$WORK/modules/$base" ;;
	*.ko.xz) need xz xz-utils; base=${base%.xz}; xz -dc "$src" >"$WORK/modules/$base" ;;
	*.ko.zst) need zstd zstd; base=${base%.zst}; zstd -qdc "$src" >"$WORK/modules/$base" ;;
	*.ko.gz) base=${base%.gz}; gzip -dc "$src" >"$WORK/modules/$base" ;;
	*) die "unexpected module file $rel" ;;
	esac
	echo "$base" >>"$WORK/modules/load-order"
done <"$WORK/modules/load-order.paths"
rm "$WORK/modules/load-order.paths"

# Install into OUTDIR, stamp last.
rm -rf "$OUTDIR/modules" "$OUTDIR/.complete"
mv "$WORK/vmlinux" "$OUTDIR/vmlinux"
cp "$VMLINUZ" "$OUTDIR/vmlinuz"
cp "$WORK/bb/bin/busybox" "$OUTDIR/busybox"
mv "$WORK/modules" "$OUTDIR/modules"
echo "kernel=$KVER package=$PKG version=$DEBVER" >"$OUTDIR/VERSION"
touch "$OUTDIR/.complete"
log "done: $(cat "$OUTDIR/VERSION"); modules: $(tr '\n' ' ' <"$OUTDIR/modules/load-order")"
