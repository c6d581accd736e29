"""guest.py: boot a Linux test guest under QEMU and collect its results.

QEMU runs under TCG, or KVM where a hardware KVM module is loaded
(default_accel()).

Standard library only (Python >= 3.9). The guest is Debian's kernel as an
uncompressed vmlinux (fetch-kernel.sh) plus an initramfs (mkinitramfs.sh)
whose /init prints marker lines on the serial console and powers off:

    GUEST-BOOT: uptime=S          (guest-lib.sh guest_setup)
    GUEST-RESULT: key=value ...   (measurements, facts)
    GUEST-PASS: NAME
    GUEST-FAIL: NAME reason
    GUEST-END: status=N uptime=S  (guest-lib.sh guest_end, then poweroff -f)

Typical use:

    import guest
    kdir = guest.fetch_kernel("build/guest-kernel")
    guest.build_initramfs(kdir, "t.cpio", "init.sh", ["prog"])
    res = guest.run_guest(kdir, "t.cpio", iommu=True,
                          qemu_args=guest.ivshmem_doorbell_args("d0", sock, 4))
    res.check()              # raises GuestError with the console tail
    res.results["key"]       # values of GUEST-RESULT key=value tokens

QEMU never outlives a run: it is killed on timeout and on any exception
(Guest is a context manager), and it is started through `setpriv
--pdeathsig KILL` so that it dies with the thread that started it even if
this process is killed outright. Start guests from a thread that lives
until the guest is done (the main thread is simplest).

Run directly for a manual boot:
    python3 guest.py -k KDIR -i INITRD [--iommu] [--timeout S] [-- QEMU ARGS]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))

# Kernel command line. "quiet" matters: every console line costs time under
# TCG. The rest each shaves 50-200 ms off a ~2 s boot (README.md):
#   cryptomgr.notests  no crypto self-tests (~0.2 s)
#   rodata=off         no W+X page-table walk (~0.1 s)
#   mitigations=off, lpj=, no_timer_check, tsc=reliable, audit=0
# panic=-1 turns a kernel panic (e.g. /init exiting) into an immediate
# reboot, which -no-reboot turns into QEMU exiting.
BASE_APPEND = (
    "console=ttyS0",
    "quiet",
    "panic=-1",
    "cryptomgr.notests",
    "rodata=off",
    "mitigations=off",
    "no_timer_check",
    "tsc=reliable",
    "lpj=1000000",
    "audit=0",
)
IOMMU_APPEND = ("intel_iommu=on",)



def default_accel() -> str:
    """kvm where a hardware KVM module (kvm_intel, kvm_amd) is loaded and
    /dev/kvm is usable, else tcg: on the project's VMs /dev/kvm exists but
    cannot run a guest."""
    hardware = any(os.path.isdir("/sys/module/" + m)
                   for m in ("kvm_intel", "kvm_amd"))
    if hardware and os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "kvm"
    return "tcg"


MARKER_RE = re.compile(r"^(?:.*?)GUEST-(BOOT|RESULT|PASS|FAIL|END): ?(.*)$")


class GuestError(Exception):
    """The guest did not run to a clean GUEST-END with status 0."""

    def __init__(self, message: str, result: Optional["GuestResult"] = None):
        if result is not None:
            message += "\n--- command:\n" + " ".join(result.command)
            message += "\n--- console (tail):\n" + result.tail()
            if result.stderr.strip():
                message += "\n--- qemu stderr:\n" + result.stderr.strip()[-2000:]
        super().__init__(message)
        self.result = result


class GuestTimeout(GuestError):
    """The guest did not power off in time; QEMU was killed."""


@dataclass
class GuestResult:
    command: list
    returncode: Optional[int] = None
    console: str = ""
    stderr: str = ""
    wall_time: float = 0.0                 # QEMU start to exit, seconds
    boot_time: Optional[float] = None      # QEMU start to GUEST-BOOT, seconds
    end_time: Optional[float] = None       # QEMU start to GUEST-END, seconds
    timed_out: bool = False
    markers: list = field(default_factory=list)   # [(kind, text, host_time)]

    @property
    def results(self) -> dict:
        """key=value tokens of all GUEST-RESULT lines (a later key wins)."""
        out = {}
        for kind, text, _ in self.markers:
            if kind == "RESULT":
                for tok in text.split():
                    if "=" in tok:
                        k, v = tok.split("=", 1)
                        out[k] = v
        return out

    @property
    def result_lines(self) -> list:
        return [text for kind, text, _ in self.markers if kind == "RESULT"]

    @property
    def passed(self) -> list:
        return [text for kind, text, _ in self.markers if kind == "PASS"]

    @property
    def failed(self) -> list:
        return [text for kind, text, _ in self.markers if kind == "FAIL"]

    @property
    def end_status(self) -> Optional[int]:
        for kind, text, _ in self.markers:
            if kind == "END":
                m = re.search(r"status=(-?\d+)", text)
                return int(m.group(1)) if m else None
        return None

    @property
    def guest_uptime(self) -> Optional[float]:
        """Guest kernel uptime at GUEST-END (seconds since kernel start)."""
        for kind, text, _ in self.markers:
            if kind == "END":
                m = re.search(r"uptime=([\d.]+)", text)
                return float(m.group(1)) if m else None
        return None

    @property
    def ok(self) -> bool:
        return (not self.timed_out and self.returncode == 0
                and self.end_status == 0 and not self.failed)

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.console.splitlines()[-lines:])

    def check(self) -> "GuestResult":
        if self.timed_out:
            raise GuestTimeout("guest timed out", self)
        if self.end_status is None:
            raise GuestError("guest ended without GUEST-END (qemu exit %s)"
                             % self.returncode, self)
        if self.failed or self.end_status != 0 or self.returncode != 0:
            raise GuestError("guest failed: status=%s qemu=%s failures=%s"
                             % (self.end_status, self.returncode, self.failed),
                             self)
        return self


class Guest:
    """One QEMU run. start(), then wait(); or use run_guest()."""

    def __init__(
        self,
        kernel_dir: Optional[str],
        initrd: str,
        *,
        kernel: Optional[str] = None,
        iommu: bool = False,
        memory: str = "128M",
        cpu: str = "max",
        machine: str = "q35",
        accel: Optional[str] = None,
        append: Iterable[str] = (),
        qemu_args: Sequence[str] = (),
        timeout: float = 60.0,
        qemu: str = "qemu-system-x86_64",
        on_line: Optional[Callable[[str], None]] = None,
        console_log: Optional[str] = None,
    ):
        if kernel is None:
            if kernel_dir is None:
                raise ValueError("need kernel_dir or kernel")
            kernel = os.path.join(kernel_dir, "vmlinux")
        self.kernel = kernel
        self.initrd = initrd
        self.iommu = iommu
        self.memory = memory
        self.cpu = cpu
        self.machine = machine
        self.accel = accel or default_accel()
        self.append = list(append)
        self.qemu_args = list(qemu_args)
        self.timeout = timeout
        self.qemu = qemu
        self.on_line = on_line
        self.console_log = console_log
        self.proc: Optional[subprocess.Popen] = None
        self.result = GuestResult(command=self.command())
        self._threads: list = []
        self._start = 0.0
        self._lock = threading.Lock()
        self._console: list = []
        self._stderr: list = []

    def command(self) -> list:
        append = list(BASE_APPEND)
        if self.iommu:
            append += IOMMU_APPEND
        append += self.append
        cmd = [
            self.qemu,
            "-accel", self.accel,
            "-cpu", self.cpu,
            # Under TCG the irqchip is always QEMU's own: kernel-irqchip
            # does not matter. With KVM, interrupt remapping needs split.
            "-machine", self.machine + (",kernel-irqchip=split"
                                        if self.accel == "kvm" and self.iommu
                                        else ""),
            "-m", self.memory,
            "-smp", "1",
            "-nodefaults",
            "-display", "none",
            "-serial", "stdio",
            "-no-reboot",
            "-kernel", self.kernel,
            "-initrd", self.initrd,
            "-append", " ".join(append),
        ]
        if self.iommu:
            cmd += ["-device", "intel-iommu,intremap=on"]
        return cmd + self.qemu_args

    # -- running ---------------------------------------------------------

    def start(self) -> "Guest":
        for path in (self.kernel, self.initrd):
            if not os.path.isfile(path):
                raise GuestError("missing %s" % path)
        cmd = self.result.command
        setpriv = shutil.which("setpriv")
        if setpriv:
            cmd = [setpriv, "--pdeathsig", "KILL", "--"] + cmd
        self._start = time.monotonic()
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, close_fds=True)
        log = open(self.console_log, "w") if self.console_log else None
        t = threading.Thread(target=self._read_console, args=(log,),
                             daemon=True)
        t.start()
        self._threads.append(t)
        t = threading.Thread(target=self._read_stderr, daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def _read_console(self, log) -> None:
        assert self.proc and self.proc.stdout
        try:
            for raw in self.proc.stdout:
                now = time.monotonic() - self._start
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                line = line.replace("\r", "")
                with self._lock:
                    self._console.append(line)
                    m = MARKER_RE.match(line)
                    if m:
                        kind, text = m.group(1), m.group(2).strip()
                        self.result.markers.append((kind, text, now))
                        if kind == "BOOT" and self.result.boot_time is None:
                            self.result.boot_time = now
                        if kind == "END":
                            self.result.end_time = now
                if log:
                    log.write(line + "\n")
                    log.flush()
                if self.on_line:
                    try:
                        self.on_line(line)
                    except Exception as e:  # never kill the reader
                        with self._lock:
                            self._console.append("guest.py: on_line raised %r" % e)
        finally:
            if log:
                log.close()

    def _read_stderr(self) -> None:
        assert self.proc and self.proc.stderr
        for raw in self.proc.stderr:
            with self._lock:
                self._stderr.append(raw.decode("utf-8", "replace"))

    def kill(self) -> None:
        """Kill QEMU if it still runs and reap it. Safe to call twice."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
        if self.proc:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        for t in self._threads:
            t.join(timeout=5)
        self._threads = []

    def wait(self, timeout: Optional[float] = None) -> GuestResult:
        """Wait for QEMU to exit (the guest powered off); kill it on timeout
        or on any exception. Returns the result; does not check it."""
        if self.proc is None:
            raise GuestError("guest not started")
        timeout = self.timeout if timeout is None else timeout
        try:
            self.proc.wait(timeout=max(0.0, self._start + timeout - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.result.timed_out = True
        finally:
            self.kill()
            self.result.wall_time = time.monotonic() - self._start
            self.result.returncode = self.proc.returncode
            with self._lock:
                self.result.console = "\n".join(self._console)
                self.result.stderr = "".join(self._stderr)
        return self.result

    def __enter__(self) -> "Guest":
        return self

    def __exit__(self, *exc) -> None:
        self.kill()


def run_guest(kernel_dir: Optional[str], initrd: str, **kwargs) -> GuestResult:
    """Boot, wait for power-off (or kill at timeout), return the result."""
    with Guest(kernel_dir, initrd, **kwargs) as g:
        g.start()
        return g.wait()


# -- QEMU device arguments for ivshmem ------------------------------------

def ivshmem_plain_args(ident: str, mem_path: str, size: int,
                       addr: Optional[str] = None) -> list:
    """-object/-device for ivshmem-plain backed by a file (e.g. /dev/shm/X,
    which must exist with at least `size` bytes; size a power of two)."""
    dev = "ivshmem-plain,memdev=%s" % ident
    if addr:
        dev += ",addr=%s" % addr
    return ["-object", "memory-backend-file,id=%s,share=on,mem-path=%s,size=%d"
            % (ident, mem_path, size), "-device", dev]


def ivshmem_doorbell_args(ident: str, socket_path: str, vectors: int = 1,
                          addr: Optional[str] = None) -> list:
    """-chardev/-device for ivshmem-doorbell connected to an ivshmem server
    (the server must already listen: QEMU connects at start-up)."""
    dev = "ivshmem-doorbell,chardev=%s,vectors=%d" % (ident, vectors)
    if addr:
        dev += ",addr=%s" % addr
    return ["-chardev", "socket,path=%s,id=%s" % (socket_path, ident),
            "-device", dev]


# -- building the pieces ---------------------------------------------------

def fetch_kernel(outdir: str) -> str:
    """Run fetch-kernel.sh (cached: a no-op once done). Returns outdir."""
    subprocess.run([os.path.join(HERE, "fetch-kernel.sh"), outdir], check=True)
    return outdir


def build_initramfs(kernel_dir: str, output: str, init_script: str,
                    files: Sequence[str] = ()) -> str:
    """Run mkinitramfs.sh. Returns output."""
    subprocess.run([os.path.join(HERE, "mkinitramfs.sh"), "-k", kernel_dir,
                    output, init_script, *files], check=True)
    return output


def build_static(source: str, output: str, cc: str = "gcc",
                 extra: Sequence[str] = ()) -> str:
    """Compile a static guest program (no -march=native: the TCG CPU model
    is not the host CPU)."""
    subprocess.run([cc, "-static", "-O2", "-Wall", "-Wextra", "-o", output,
                    source, *extra], check=True)
    return output


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-k", "--kernel-dir", required=True)
    ap.add_argument("-i", "--initrd", required=True)
    ap.add_argument("--iommu", action="store_true")
    ap.add_argument("--timeout", type=float, default=60.0)
    ap.add_argument("--memory", default="128M")
    ap.add_argument("--cpu", default="max")
    ap.add_argument("--append", action="append", default=[])
    ap.add_argument("qemu_args", nargs="*")
    a = ap.parse_args(argv)
    res = run_guest(a.kernel_dir, a.initrd, iommu=a.iommu, timeout=a.timeout,
                    memory=a.memory, cpu=a.cpu, append=a.append,
                    qemu_args=a.qemu_args, on_line=print)
    print("guest.py: wall=%.2fs boot=%s end=%s status=%s qemu=%s%s" % (
        res.wall_time, res.boot_time and "%.2fs" % res.boot_time,
        res.end_time and "%.2fs" % res.end_time, res.end_status,
        res.returncode, " TIMEOUT" if res.timed_out else ""), file=sys.stderr)
    return 0 if res.ok else 1


if __name__ == "__main__":
    sys.exit(main())
