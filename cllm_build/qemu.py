"""Booting cllm in QEMU: the command line, the serial channels, and cleanup.

`QemuSpec` describes one machine (kernel ELF or a bootable ISO/disk image, memory,
CPU, accelerator, kernel command line, Multiboot modules, NIC) and turns it into a
qemu-system-* argument list. `Qemu` is a context manager that starts that machine
and always kills it on the way out (normal exit, exception, Ctrl-C, timeout).

Channels. COM1 carries the machine-readable log (lines starting `cllm: `), COM2 the
raw data channel (console mode writes the generated text there). Each is a QEMU
socket chardev listening on a Unix socket (server=on,wait=on: the machine starts
only after this module has connected to both); a reader thread per channel appends
what arrives to a buffer and hands it to an optional callback, so a caller can
stream both while it waits for a log line.

Exit status. The kernel ends the machine through the isa-debug-exit device
(iobase 0xf4): writing status s makes QEMU exit with (s << 1) | 1. `kernel_status`
maps that back: 0 = success, 1 = failure, 2 = panic.

Called by cli.py (`cllm run`), image.py's callers, bench/boot_bench.py and the tests.
Relies on tools.py for finding the QEMU binaries.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cllm_build import tools
from cllm_build.errors import BootError, UsageError

# The isa-debug-exit device the kernel writes its exit status to.
DEBUG_EXIT_DEVICE = "isa-debug-exit,iobase=0xf4,iosize=0x04"

# Kernel exit statuses (what the kernel writes to the debug-exit port).
STATUS_OK = 0
STATUS_FAILURE = 1
STATUS_PANIC = 2
STATUS_NAMES = {STATUS_OK: "success", STATUS_FAILURE: "failure", STATUS_PANIC: "panic"}

ACCELS = ("auto", "kvm", "tcg")
# The NIC models a kernel can be given: cllm.nic= name (kernel/dev/nic.c) -> QEMU device.
NIC_DEVICES = {"e1000": "e1000", "virtio": "virtio-net-pci"}
NICS = tuple(NIC_DEVICES)
# Guest TCP port the kernel's HTTP server listens on.
GUEST_HTTP_PORT = 80

# Memory sizing for `cllm run` (MiB): a base for the kernel, its arenas and the KV
# cache, plus twice the model (the module itself and the room it is bound from).
MEM_BASE_MIB = 256
MEM_MAX_MIB = 3072

# Module names become part of QEMU's -initrd list ("path name,path name"), so they
# may not hold commas or spaces; the kernel looks them up by exact name.
_MODULE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# ANSI escape sequences (a boot loader drawing on the serial console), stripped from
# log lines before matching.
_ANSI = re.compile(rb"\x1b\[[0-9;?=]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b[=>c]")

# How long QEMU gets to connect its two serial chardevs after it starts (seconds).
CONNECT_TIMEOUT_S = 20.0
# How long QEMU gets to exit after SIGTERM before SIGKILL (seconds).
KILL_GRACE_S = 3.0

LineCallback = Callable[[str], None]
DataCallback = Callable[[bytes], None]


def _qemu_error(qemu_output: str) -> str | None:
    """The first error line QEMU printed itself (not a warning), or None."""
    for line in qemu_output.splitlines():
        m = re.match(r"qemu-system-\w+: (.*)", line)
        if m and "info: " not in m.group(1) and not m.group(1).startswith(
                ("warning:", "terminating on signal")):
            return m.group(1)
    return None


def kernel_status(returncode: int | None, qemu_output: str = "") -> int | None:
    """The kernel status behind a QEMU exit code, or None if the kernel wrote none.

    QEMU exits with (s << 1) | 1 after the kernel writes s to isa-debug-exit; an even
    code (0 after a triple fault with -no-reboot) or a signal means the kernel did not
    choose how it ended. QEMU's own failure exit (1) looks like status 0, so exit 1
    with an error line from QEMU in `qemu_output` counts as no status.
    """
    if returncode is None or returncode <= 0 or returncode & 1 == 0:
        return None
    if returncode == 1 and _qemu_error(qemu_output) is not None:
        return None
    return returncode >> 1


def describe_exit(returncode: int | None, qemu_output: str = "") -> str:
    """Words for a QEMU exit code, for messages."""
    status = kernel_status(returncode, qemu_output)
    if status is not None:
        return f"kernel status {status} ({STATUS_NAMES.get(status, 'unknown')})"
    if returncode is None:
        return "still running"
    if returncode < 0:
        return f"QEMU killed by signal {-returncode}"
    if returncode == 0:
        return "QEMU exited without a kernel status (reset or triple fault)"
    err = _qemu_error(qemu_output)
    return f"QEMU failed (exit {returncode})" + (f": {err}" if err else "")


SMP_DEFAULT_MAX = 8  # SMP_MAX_CPUS in kernel/include/smp.h: the kernel uses no more
SMP_MAX = 64  # most guest CPUs a spec may ask for


def default_smp() -> int:
    """Guest CPUs for `cllm run` when --smp is not given: the host's cores, at most 8."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, SMP_DEFAULT_MAX))


def default_memory_mib(model: Path | None) -> int:
    """Memory for a machine that loads `model`: base + 2x the model, capped."""
    if model is None:
        return MEM_BASE_MIB
    size_mib = (model.stat().st_size + (1 << 20) - 1) >> 20
    return min(MEM_MAX_MIB, MEM_BASE_MIB + 2 * size_mib)


def kvm_usable() -> bool:
    """True if /dev/kvm exists and this user can open it."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    os.close(fd)
    return True


@dataclass(frozen=True)
class Module:
    """One Multiboot module: a file and the name (command line) the kernel sees."""

    path: Path
    name: str


@dataclass(frozen=True)
class QemuSpec:
    """One QEMU machine. Exactly one of `elf`, `iso`, `disk` is the boot source.

    `elf` boots through QEMU's built-in Multiboot loader (-kernel, -append, -initrd);
    `iso` and `disk` boot through firmware and a boot loader (GRUB), so `cmdline` and
    `modules` must be baked into the image. `firmware` selects a UEFI image (e.g.
    OVMF) instead of SeaBIOS, which also needs `system="x86_64"`.
    """

    elf: Path | None = None
    iso: Path | None = None
    disk: Path | None = None
    memory_mib: int = MEM_BASE_MIB
    cpu: str | None = None  # QEMU's default CPU model if None
    smp: int = 1  # guest CPUs (-smp)
    accel: str = "tcg"
    cmdline: str = ""
    modules: tuple[Module, ...] = ()
    nic: str | None = None  # None: no NIC at all
    host_port: int | None = None  # user networking: 127.0.0.1:host_port -> guest :80
    tap: str | None = None  # tap networking on this host interface instead
    system: str = "i386"  # qemu-system-<system>
    firmware: Path | None = None
    extra_args: tuple[str, ...] = ()

    def check(self) -> None:
        """Raise UsageError for a spec QEMU could not boot."""
        sources = [s for s in (self.elf, self.iso, self.disk) if s is not None]
        if len(sources) != 1:
            raise UsageError("a QEMU machine needs exactly one of: kernel ELF, ISO, disk image")
        if not sources[0].is_file():
            raise UsageError(f"boot file {sources[0]} does not exist")
        if self.elf is None and (self.cmdline or self.modules):
            raise UsageError("cmdline and modules of an ISO/disk boot belong in its grub.cfg")
        if not 16 <= self.memory_mib <= 3584:
            raise UsageError(f"memory {self.memory_mib} MiB is outside 16..3584 MiB")
        if not 1 <= self.smp <= SMP_MAX:
            raise UsageError(f"smp {self.smp} is outside 1..{SMP_MAX} CPUs")
        if self.accel not in ACCELS:
            raise UsageError(f"accel {self.accel!r} is not one of {', '.join(ACCELS)}")
        if self.nic is not None and self.nic not in NICS:
            raise UsageError(f"nic {self.nic!r} is not one of {', '.join(NICS)}")
        if self.host_port is not None and not 1 <= self.host_port <= 65535:
            raise UsageError(f"port {self.host_port} is outside 1..65535")
        if "\n" in self.cmdline:
            raise UsageError("the kernel command line may not contain a newline")
        for m in self.modules:
            if not _MODULE_NAME.match(m.name):
                raise UsageError(f"module name {m.name!r} must match {_MODULE_NAME.pattern}")
            if not m.path.is_file():
                raise UsageError(f"module {m.name}: file {m.path} does not exist")

    def resolved_accel(self) -> str:
        if self.accel == "auto":
            return "kvm" if kvm_usable() else "tcg"
        return self.accel

    def command(self, com1: str, com2: str, module_paths: Sequence[Path] | None = None) -> list[str]:
        """The qemu-system argument list. `com1`/`com2` are Unix socket paths QEMU
        connects to; `module_paths` replaces the module paths (safe-named copies)."""
        self.check()
        accel = self.resolved_accel()
        cmd = [
            f"qemu-system-{self.system}",
            "-display", "none",
            "-no-reboot",
            "-monitor", "none",
            "-parallel", "none",
            "-m", str(self.memory_mib),
            "-accel", accel,
            "-device", DEBUG_EXIT_DEVICE,
            "-chardev", f"socket,id=com1,path={com1},server=on,wait=on",
            "-chardev", f"socket,id=com2,path={com2},server=on,wait=on",
            "-serial", "chardev:com1",
            "-serial", "chardev:com2",
        ]
        if self.cpu:
            cmd += ["-cpu", self.cpu]
        if self.smp != 1:
            cmd += ["-smp", str(self.smp)]
        if self.firmware is not None:
            cmd += ["-bios", str(self.firmware)]
        if self.elf is not None:
            cmd += ["-kernel", str(self.elf)]
            if self.cmdline:
                cmd += ["-append", self.cmdline]
            paths = list(module_paths) if module_paths is not None else [m.path for m in self.modules]
            if self.modules:
                cmd += ["-initrd", ",".join(f"{p} {m.name}" for p, m in zip(paths, self.modules))]
        elif self.iso is not None:
            cmd += ["-cdrom", str(self.iso), "-boot", "d"]
        elif self.disk is not None:
            cmd += ["-drive", f"file={self.disk},format=raw,if=ide,index=0", "-boot", "c"]
        cmd += self._net_args()
        cmd += list(self.extra_args)
        return cmd

    def _net_args(self) -> list[str]:
        if self.nic is None:
            return ["-nic", "none"]
        if self.tap:
            netdev = f"tap,id=net0,ifname={self.tap},script=no,downscript=no"
        else:
            netdev = "user,id=net0"
            if self.host_port is not None:
                netdev += f",hostfwd=tcp:127.0.0.1:{self.host_port}-:{GUEST_HTTP_PORT}"
        return ["-netdev", netdev, "-device", f"{NIC_DEVICES[self.nic]},netdev=net0"]


def _safe_module_paths(modules: Sequence[Module], tmp: Path) -> list[Path]:
    """Short, plain paths for QEMU's -initrd list ("path name,path name"): a symlink
    (or, failing that, a copy) per module in `tmp`. QEMU hands the kernel the whole
    "path name" string as the module's command line, so a short path also keeps that
    string well inside the kernel's name buffer; commas and spaces cannot occur."""
    out = []
    for i, m in enumerate(modules):
        safe = tmp / f"m{i}"
        try:
            safe.symlink_to(m.path.resolve())
        except OSError:
            shutil.copyfile(m.path, safe)
        out.append(safe)
    return out


def _load_prctl() -> Callable[..., int] | None:
    try:
        return ctypes.CDLL(None, use_errno=True).prctl  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


# Resolved once in the parent, so the forked child only makes the call.
_PRCTL = _load_prctl()
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the QEMU child: get SIGKILL if the parent dies, so no machine outlives us."""
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)


class _Channel:
    """One serial port: a reader thread that collects the bytes QEMU sends."""

    def __init__(self, name: str, on_data: DataCallback | None) -> None:
        self.name = name
        self.data = bytearray()
        self.closed = False
        self.cond = threading.Condition()
        self._on_data = on_data
        self._thread: threading.Thread | None = None

    def start(self, conn: socket.socket) -> None:
        self._thread = threading.Thread(target=self._read, args=(conn,), daemon=True,
                                        name=f"qemu-{self.name}")
        self._thread.start()

    def _read(self, conn: socket.socket) -> None:
        with conn:
            while True:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    chunk = b""
                if chunk and self._on_data is not None:
                    self._on_data(chunk)
                with self.cond:
                    if not chunk:
                        self.closed = True
                        self.cond.notify_all()
                        return
                    self.data += chunk
                    self.cond.notify_all()

    def join(self, timeout: float) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


class Qemu:
    """A running QEMU machine; use as `with Qemu(spec) as vm: vm.wait_for_line(...)`.

    `on_log` gets each complete COM1 line (without the newline) as it arrives;
    `on_data` gets the raw COM2 bytes as they arrive. Both run on reader threads.
    """

    def __init__(
        self,
        spec: QemuSpec,
        *,
        on_log: LineCallback | None = None,
        on_data: DataCallback | None = None,
        log_cmd: tools.Logger | None = None,
    ) -> None:
        self.spec = spec
        self.proc: subprocess.Popen[bytes] | None = None
        self.command: list[str] = []
        self._on_log = on_log
        self._log_cmd = log_cmd
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._partial = b""
        self._lines: list[str] = []
        self.com1 = _Channel("com1", self._split_lines)
        self.com2 = _Channel("com2", on_data)
        self._stderr = b""
        self._stderr_thread: threading.Thread | None = None
        self.started_at = 0.0

    # -- lifecycle ---------------------------------------------------------------

    def __enter__(self) -> Qemu:  # noqa: PYI034 (py3.10: no typing.Self)
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        self.spec.check()
        tools.resolve(f"qemu-system-{self.spec.system}")
        self._tmp = tempfile.TemporaryDirectory(prefix="cllm-qemu-")
        tmp = Path(self._tmp.name)
        try:
            paths = [tmp / "com1.sock", tmp / "com2.sock"]
            self.command = self.spec.command(
                str(paths[0]), str(paths[1]), _safe_module_paths(self.spec.modules, tmp))
            if self._log_cmd is not None:
                self._log_cmd(tools.format_command(self.command))
            self.started_at = time.monotonic()
            self.proc = subprocess.Popen(
                self.command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches us; we end QEMU ourselves
                # Only a prctl() call resolved before the fork: safe beside threads.
                preexec_fn=_die_with_parent,  # noqa: PLW1509
            )
            self._stderr_thread = threading.Thread(target=self._read_stderr, daemon=True)
            self._stderr_thread.start()
            for path, ch in zip(paths, (self.com1, self.com2)):
                ch.start(self._connect(path))
        except BaseException:
            self.close()
            raise

    def _connect(self, path: Path) -> socket.socket:
        """Connect to a serial port QEMU listens on. QEMU creates the sockets one after
        the other and starts the machine only once both have a client (wait=on), so
        no byte the guest writes can go out before someone reads it."""
        assert self.proc is not None
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise BootError(f"QEMU exited before its serial ports were connected "
                                f"({self.describe_exit()}):\n{self.qemu_output()}")
            if time.monotonic() > deadline:
                raise BootError(f"QEMU did not open its serial port {path.name} "
                                f"within {CONNECT_TIMEOUT_S} s")
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(str(path))
                return s
            except (FileNotFoundError, ConnectionRefusedError):
                s.close()
                time.sleep(0.01)

    def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while chunk := os.read(fd, 4096):
            self._stderr += chunk

    def close(self) -> None:
        """Kill QEMU if it still runs, collect the channels, remove the temp dir."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(KILL_GRACE_S)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait()
        self.com1.join(2.0)
        self.com2.join(2.0)
        if self._stderr_thread is not None:
            self._stderr_thread.join(2.0)
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # -- COM1 lines ----------------------------------------------------------------

    def _split_lines(self, chunk: bytes) -> None:
        buf = self._partial + chunk
        *complete, self._partial = buf.split(b"\n")
        for raw in complete:
            # What a terminal would show: the text after the last carriage return.
            line = _ANSI.sub(b"", raw).decode("utf-8", "replace").rstrip("\r").split("\r")[-1]
            with self.com1.cond:
                self._lines.append(line)
            if self._on_log is not None:
                self._on_log(line)

    @property
    def lines(self) -> list[str]:
        """The complete COM1 lines so far."""
        with self.com1.cond:
            return list(self._lines)

    def mark(self) -> int:
        """A position in the COM1 lines; pass it as `after` to wait for newer lines."""
        with self.com1.cond:
            return len(self._lines)

    def log_text(self) -> str:
        """All COM1 output so far, including an unfinished last line."""
        with self.com1.cond:
            tail = _ANSI.sub(b"", self._partial).decode("utf-8", "replace")
            return "".join(line + "\n" for line in self._lines) + tail

    def data(self) -> bytes:
        """All COM2 bytes so far."""
        with self.com2.cond:
            return bytes(self.com2.data)

    def qemu_output(self) -> str:
        """What QEMU itself printed (its errors and warnings)."""
        text = self._stderr.decode("utf-8", "replace")
        # Drop the notes QEMU prints while it waits for our serial connections.
        return "\n".join(ln for ln in text.splitlines()
                         if "info: QEMU waiting for connection" not in ln).strip()

    def wait_for_line(self, pattern: str | re.Pattern[str], timeout: float,
                      after: int = 0) -> re.Match[str]:
        """The first COM1 line (at index >= `after`) that `pattern` searches to.

        Raises BootError on timeout or if QEMU exits first; the message carries the
        exit reason and the end of the log.
        """
        rx = re.compile(pattern) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        i = after
        with self.com1.cond:
            while True:
                while i < len(self._lines):
                    m = rx.search(self._lines[i])
                    i += 1
                    if m is not None:
                        return m
                if self.com1.closed:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.com1.cond.wait(min(left, 0.5))
        why = (f"QEMU ended: {self._ended()}" if self.com1.closed
               else f"timed out after {timeout:g} s")
        raise BootError(f"no log line matching {rx.pattern!r}: {why}\n{self._tail()}")

    def _ended(self) -> str:
        """How QEMU ended, once COM1 closed (it may take a moment to be reaped)."""
        assert self.proc is not None
        try:
            self.proc.wait(KILL_GRACE_S)
        except subprocess.TimeoutExpired:
            pass
        if self._stderr_thread is not None:
            self._stderr_thread.join(1.0)
        return self.describe_exit()

    def _tail(self, n: int = 25) -> str:
        lines = self.log_text().splitlines()[-n:]
        text = "\n".join("  | " + ln for ln in lines) or "  (no output on COM1)"
        qemu = self.qemu_output()
        return text + (f"\n  qemu: {qemu}" if qemu else "")

    # -- exit --------------------------------------------------------------------------

    def poll(self) -> int | None:
        return None if self.proc is None else self.proc.poll()

    def wait(self, timeout: float | None = None) -> int:
        """Wait for QEMU to exit; its exit code. BootError if it runs past `timeout`."""
        assert self.proc is not None, "Qemu.wait before start"
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            raise BootError(f"QEMU still running after {timeout:g} s\n{self._tail()}") from exc
        # Let the readers drain what QEMU wrote before it exited.
        self.com1.join(2.0)
        self.com2.join(2.0)
        return rc

    def wait_status(self, timeout: float | None = None) -> int | None:
        """Wait for QEMU to exit; the kernel's status (None if it wrote none)."""
        self.wait(timeout)
        return self.status()

    def status(self) -> int | None:
        """The kernel's exit status once QEMU has exited (None if it wrote none)."""
        if self._stderr_thread is not None:
            self._stderr_thread.join(1.0)
        return kernel_status(self.poll(), self.qemu_output())

    def describe_exit(self) -> str:
        if self._stderr_thread is not None and self.poll() is not None:
            self._stderr_thread.join(1.0)
        return describe_exit(self.poll(), self.qemu_output())

    @property
    def elapsed(self) -> float:
        """Seconds since QEMU was started."""
        return time.monotonic() - self.started_at


@dataclass
class BootLog:
    """The outcome of a boot that ran to the end: exit code, log, data channel."""

    returncode: int
    status: int | None  # the kernel's status, None if it wrote none
    log: str
    data: bytes
    lines: list[str] = field(default_factory=list)
    qemu_output: str = ""


def boot_to_exit(spec: QemuSpec, timeout: float) -> BootLog:
    """Boot `spec`, wait for QEMU to exit by itself, return everything it said."""
    with Qemu(spec) as vm:
        rc = vm.wait(timeout)
        return BootLog(rc, vm.status(), vm.log_text(), vm.data(), vm.lines, vm.qemu_output())
