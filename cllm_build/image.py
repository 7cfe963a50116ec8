"""Bootable images: a GRUB rescue ISO holding the kernel, and writing an image to a
USB stick, disk or image file ("flashing").

`make_iso` stages boot/cllm.elf, the modules and boot/grub/grub.cfg in a temporary
tree and runs grub-mkrescue (which needs xorriso, and mformat for the UEFI part). The
ISO boots from BIOS (i386-pc) and, where GRUB's EFI platforms are installed, from UEFI
(i386-efi, x86_64-efi); it is a hybrid image, so it also boots when written to a disk.

`check_target` decides whether a flash target is acceptable (an existing block device
or regular file, not mounted, not the image itself, large enough) and raises
ImageError with the reason before anything is written; `flash` writes, fsyncs, reads
back and compares sha256. The library never asks questions: the CLI confirms.
Called by cli.py (`cllm iso`, `cllm flash`) and the tests; relies on tools.py.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cllm_build import tools
from cllm_build.errors import ImageError, ToolMissing, UsageError
from cllm_build.qemu import _MODULE_NAME, Module

# GRUB platforms grub-mkrescue can put in the ISO, and which one each boots from.
GRUB_LIB = Path("/usr/lib/grub")
GRUB_PLATFORMS = {"i386-pc": "BIOS", "i386-efi": "UEFI (32-bit)", "x86_64-efi": "UEFI (64-bit)"}
# Serial console of the boot loader: COM1, the same port the kernel logs on.
GRUB_SERIAL = "serial --unit=0 --speed=115200 --word=8 --parity=no --stop=1"
# Bytes per write/read while flashing.
FLASH_CHUNK = 4 << 20


@dataclass(frozen=True)
class IsoResult:
    path: Path
    size: int
    platforms: tuple[str, ...]  # GRUB platforms the ISO can boot from


def grub_platforms() -> tuple[str, ...]:
    """The GRUB platforms installed on this host that grub-mkrescue will use."""
    return tuple(p for p in GRUB_PLATFORMS if (GRUB_LIB / p / "moddep.lst").is_file())


def grub_cfg(cmdline: str, modules: Sequence[Module]) -> str:
    """grub.cfg that boots /boot/cllm.elf at once, with output on the serial port."""
    if any(c in cmdline for c in "\n\"'$;\\{}"):
        raise UsageError(f"kernel command line {cmdline!r} has a character grub.cfg cannot carry")
    lines = [
        "# Written by `cllm iso`: boot cllm at once, boot loader output on COM1.",
        GRUB_SERIAL,
        "terminal_input serial console",
        "terminal_output serial console",
        "set timeout=0",
        "set timeout_style=hidden",
        "set default=0",
        'menuentry "cllm" {',
        f"    multiboot /boot/cllm.elf {cmdline}".rstrip(),
    ]
    for m in modules:
        lines.append(f"    module /boot/{m.name} {m.name}")
    lines += ["    boot", "}", ""]
    return "\n".join(lines)


def make_iso(
    elf: Path,
    out: Path,
    cmdline: str = "",
    modules: Sequence[Module] = (),
    log: tools.Logger | None = None,
) -> IsoResult:
    """Build a bootable ISO at `out` from the kernel `elf`, `cmdline` and `modules`."""
    for prog in ("grub-mkrescue", "xorriso", "mformat"):
        tools.resolve(prog)
    platforms = grub_platforms()
    if not platforms:
        raise ToolMissing("no GRUB platform files in /usr/lib/grub; install them with: "
                                "apt-get install grub-pc-bin grub-efi-amd64-bin grub-efi-ia32-bin")
    if not elf.is_file():
        raise ImageError(f"kernel {elf} does not exist (run `cllm build`)")
    names = set()
    for m in modules:
        if not _MODULE_NAME.match(m.name) or m.name in ("grub", "cllm.elf"):
            raise UsageError(f"module name {m.name!r} is not usable in an ISO")
        if m.name in names:
            raise UsageError(f"module name {m.name!r} given twice")
        names.add(m.name)
        if not m.path.is_file():
            raise ImageError(f"module {m.name}: file {m.path} does not exist")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cllm-iso-") as tmp:
        root = Path(tmp) / "root"
        (root / "boot" / "grub").mkdir(parents=True)
        shutil.copyfile(elf, root / "boot" / "cllm.elf")
        for m in modules:
            _link_or_copy(m.path, root / "boot" / m.name)
        (root / "boot" / "grub" / "grub.cfg").write_text(grub_cfg(cmdline, modules))
        tools.run(["grub-mkrescue", "-o", out, root],
                  what="making the ISO with grub-mkrescue", log=log, timeout=600)
    return IsoResult(out, out.stat().st_size, platforms)


def _link_or_copy(src: Path, dst: Path) -> None:
    """A hard link where possible (models are large), else a copy."""
    try:
        os.link(src.resolve(), dst)
    except OSError:
        shutil.copyfile(src, dst)


# -- flashing ------------------------------------------------------------------------


@dataclass(frozen=True)
class FlashTarget:
    path: Path  # resolved
    is_block: bool
    size: int  # bytes the target holds now (device capacity or file length)

    def describe(self) -> str:
        kind = "block device" if self.is_block else "image file"
        return f"{kind} {self.path} ({self.size / 2**20:.1f} MiB)"


@dataclass(frozen=True)
class FlashResult:
    target: FlashTarget
    written: int
    sha256: str


def _sys_block_dir(rdev: int) -> str | None:
    """The sysfs directory of a block device number; partitions sit inside their disk's."""
    p = f"/sys/dev/block/{os.major(rdev)}:{os.minor(rdev)}"
    return os.path.realpath(p) if os.path.exists(p) else None


def _mounted_sources(mounts_file: Path) -> list[tuple[str, str]]:
    """(source, mount point) of every mount, from /proc/mounts (octal escapes undone)."""
    out: list[tuple[str, str]] = []
    try:
        text = mounts_file.read_text()
    except OSError:
        return out
    for line in text.splitlines():
        parts = [p.encode().decode("unicode_escape") for p in line.split()[:2]]
        if len(parts) == 2:
            out.append((parts[0], parts[1]))
    return out


def mounted_on(target: Path, mounts_file: Path = Path("/proc/mounts")) -> str | None:
    """The mount point using `target` (the device, one of its partitions, or, for an
    image file, a loop device backed by it), or None."""
    st = target.stat()
    if stat.S_ISBLK(st.st_mode):
        tdir = _sys_block_dir(st.st_rdev)
        for source, point in _mounted_sources(mounts_file):
            if not source.startswith("/"):
                continue
            try:
                sst = os.stat(source)
            except OSError:
                continue
            if not stat.S_ISBLK(sst.st_mode):
                continue
            if sst.st_rdev == st.st_rdev:
                return point
            sdir = _sys_block_dir(sst.st_rdev)
            if tdir and sdir and (sdir.startswith(tdir + "/") or tdir.startswith(sdir + "/")):
                return point
        return None
    # A regular file: mounted through a loop device whose backing file it is.
    for source, point in _mounted_sources(mounts_file):
        if source.startswith("/dev/loop"):
            backing = Path("/sys/block") / Path(source).name / "loop" / "backing_file"
            try:
                if os.path.samefile(backing.read_text().strip(), target):
                    return point
            except OSError:
                continue
    return None


def _device_size(path: Path) -> int:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.close(fd)


def check_target(image: Path, device: Path) -> FlashTarget:
    """The flash target `device` if it is safe to write `image` to; ImageError naming
    the reason if not. Nothing is written."""
    if not image.is_file():
        raise ImageError(f"image {image} does not exist or is not a file")
    if not os.path.lexists(device):
        raise ImageError(f"target {device} does not exist; give a block device (e.g. /dev/sdX) "
                         "or an existing image file (create one with: truncate -s 0 FILE)")
    real = Path(os.path.realpath(device))
    try:
        st = real.stat()
    except OSError as exc:
        raise ImageError(f"target {device}: {exc.strerror}") from exc
    if stat.S_ISDIR(st.st_mode):
        raise ImageError(f"target {device} is a directory, not a block device or image file")
    if not (stat.S_ISBLK(st.st_mode) or stat.S_ISREG(st.st_mode)):
        raise ImageError(f"target {device} is neither a block device nor a regular file")
    point = mounted_on(real)
    if point is not None:
        raise ImageError(f"target {device} is mounted (on {point}); unmount it first")
    if os.path.samefile(real, image):
        raise ImageError(f"target {device} is the image itself")
    is_block = stat.S_ISBLK(st.st_mode)
    size = _device_size(real) if is_block else st.st_size
    need = image.stat().st_size
    if is_block and size < need:
        raise ImageError(f"target {device} holds {size} bytes, the image needs {need}")
    return FlashTarget(real, is_block, size)


def flash(image: Path, target: FlashTarget, progress: tools.Logger | None = None) -> FlashResult:
    """Write `image` to `target` (from check_target), fsync, read back, compare sha256."""
    # Check again right before writing: the mount table may have changed.
    check_target(image, target.path)
    flags = os.O_WRONLY | os.O_CLOEXEC
    if target.is_block:
        flags |= os.O_EXCL  # Linux: EBUSY if the device or a partition is in use
    try:
        fd = os.open(target.path, flags)
    except OSError as exc:
        raise ImageError(f"cannot open {target.path} for writing: {exc.strerror}") from exc
    want = hashlib.sha256()
    written = 0
    total = image.stat().st_size
    try:
        with open(image, "rb") as src:
            while chunk := src.read(FLASH_CHUNK):
                view = memoryview(chunk)
                while view:
                    n = os.write(fd, view)
                    view = view[n:]
                want.update(chunk)
                written += len(chunk)
                if progress is not None:
                    progress(f"wrote {written >> 20} of {total >> 20} MiB")
        os.fsync(fd)
        # Drop the cached pages so the read-back below comes from the medium.
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    except OSError as exc:
        raise ImageError(f"writing {target.path} failed after {written} bytes: {exc.strerror}") from exc
    finally:
        os.close(fd)
    got = hashlib.sha256()
    try:
        with open(target.path, "rb") as dst:
            left = written
            while left:
                chunk = dst.read(min(FLASH_CHUNK, left))
                if not chunk:
                    break
                got.update(chunk)
                left -= len(chunk)
    except OSError as exc:
        raise ImageError(f"reading back {target.path} failed: {exc.strerror}") from exc
    if got.hexdigest() != want.hexdigest():
        raise ImageError(f"verify failed: {target.path} reads back sha256 {got.hexdigest()}, "
                         f"the image is {want.hexdigest()}")
    return FlashResult(target, written, want.hexdigest())
