"""Bootable images (cllm_build/image.py, `cllm iso`, `cllm flash`): the ISO boots to
`cllm: ready` under SeaBIOS and under OVMF (UEFI), the ISO written by `cllm flash` to
an image file boots as a disk, and every refused flash target writes nothing."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cllm_build import image, qemu
from cllm_build import run as runlib
from cllm_build.errors import ImageError, ToolMissing, UsageError

BOOT_TIMEOUT_S = 90
OVMF = Path("/usr/share/ovmf/OVMF.fd")


def _cllm(*args: str, stdin: int | None = subprocess.DEVNULL) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cllm_build", *args], capture_output=True,
                          text=True, stdin=stdin, timeout=300, check=False)


@pytest.fixture(scope="module")
def iso(kernel_elf: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ISO with a small `prompt`-style module and a command line, made by `cllm iso`."""
    d = tmp_path_factory.mktemp("iso")
    note = d / "note.txt"
    note.write_bytes(b"module payload\n")
    out = d / "cllm.iso"
    r = _cllm("iso", str(kernel_elf), "-o", str(out), "--opt", "iso_opt=2", "--cmdline", "cllm.iso_test=1",
              "--module", f"{note}:note")
    assert r.returncode == 0, r.stderr
    assert f"{out}: " in r.stdout and "BIOS" in r.stdout
    return out


def _boot_ready(spec: qemu.QemuSpec) -> list[str]:
    with qemu.Qemu(spec) as vm:
        vm.wait_for_line(r"cllm: ready$", BOOT_TIMEOUT_S)
        return vm.lines


def test_grub_cfg_boots_at_once_on_serial(tmp_path: Path) -> None:
    cfg = image.grub_cfg("cllm.a=1", [qemu.Module(tmp_path / "m", "model")])
    assert "set timeout=0" in cfg and "terminal_output serial" in cfg
    assert "serial --unit=0 --speed=115200" in cfg
    assert "multiboot /boot/cllm.elf cllm.a=1" in cfg
    assert "module /boot/model model" in cfg
    with pytest.raises(UsageError, match="grub.cfg"):
        image.grub_cfg('cllm.a="x"', [])


def test_iso_contains_kernel_modules_and_config(iso: Path, kernel_elf: Path, tmp_path: Path) -> None:
    got = tmp_path / "extract"
    got.mkdir()
    subprocess.run(["xorriso", "-osirrox", "on", "-indev", str(iso), "-extract", "/boot/cllm.elf",
                    str(got / "cllm.elf"), "-extract", "/boot/note", str(got / "note"), "-extract",
                    "/boot/grub/grub.cfg", str(got / "grub.cfg")], capture_output=True, check=True)
    assert (got / "cllm.elf").read_bytes() == kernel_elf.read_bytes()
    assert (got / "note").read_bytes() == b"module payload\n"
    cfg = (got / "grub.cfg").read_text()
    assert "multiboot /boot/cllm.elf cllm.iso_test=1 cllm.iso_opt=2\n" in cfg
    assert "module /boot/note note\n" in cfg
    # no --model: the default model goes in
    assert "module /boot/model model\n" in cfg
    subprocess.run(["xorriso", "-osirrox", "on", "-indev", str(iso), "-extract", "/boot/model",
                    str(got / "model")], capture_output=True, check=True)
    assert (got / "model").read_bytes() == runlib.DEFAULT_MODEL.read_bytes()


def test_iso_no_model_leaves_the_default_out(kernel_elf: Path, tmp_path: Path) -> None:
    out = tmp_path / "bare.iso"
    r = _cllm("iso", str(kernel_elf), "-o", str(out), "--no-model")
    assert r.returncode == 0, r.stderr
    cfg = tmp_path / "grub.cfg"
    subprocess.run(["xorriso", "-osirrox", "on", "-indev", str(out), "-extract",
                    "/boot/grub/grub.cfg", str(cfg)], capture_output=True, check=True)
    assert "module" not in cfg.read_text()
    r = _cllm("iso", str(kernel_elf), "-o", str(out), "--no-model", "--model",
              str(runlib.DEFAULT_MODEL))
    assert r.returncode != 0 and "--no-model" in r.stderr


def test_iso_dash_o_is_the_output_only(kernel_elf: Path, tmp_path: Path) -> None:
    """`-o` names the output file; a KEY=VALUE after it is refused with a pointer to --opt."""
    r = _cllm("iso", str(kernel_elf), "--no-model", "-o", "n=16")
    assert r.returncode == UsageError.exit_code
    assert "a kernel option is --opt n=16" in r.stderr and not Path("n=16").exists()
    out = tmp_path / "named.iso"
    r = _cllm("iso", str(kernel_elf), "--no-model", "--output", str(out), "--opt", "n=3")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"{out}: ")


@pytest.mark.qemu
def test_iso_boots_under_seabios(iso: Path) -> None:
    lines = _boot_ready(qemu.QemuSpec(iso=iso, memory_mib=128))
    assert any(ln.startswith("cllm ") and " build " in ln for ln in lines)
    assert any(ln.startswith("cllm: model: cllm-default arch llama") for ln in lines), lines


@pytest.mark.qemu
def test_iso_boots_under_ovmf(iso: Path) -> None:
    if not OVMF.is_file():
        pytest.skip(f"OVMF firmware not installed ({OVMF}; apt-get install ovmf)")
    if "x86_64-efi" not in image.grub_platforms():
        pytest.skip("GRUB x86_64-efi files not installed (apt-get install grub-efi-amd64-bin)")
    spec = qemu.QemuSpec(iso=iso, memory_mib=256, system="x86_64", firmware=OVMF)
    lines = _boot_ready(spec)
    assert any(ln.startswith("cllm ") and " build " in ln for ln in lines)


@pytest.mark.qemu
def test_flash_to_image_file_then_boot_it_as_a_disk(iso: Path, tmp_path: Path) -> None:
    disk = tmp_path / "usb.img"
    disk.write_bytes(b"\xaa" * 4096)  # old contents, shorter than the image
    r = _cllm("flash", str(iso), "--device", str(disk), "--yes")
    assert r.returncode == 0, r.stderr
    digest = hashlib.sha256(iso.read_bytes()).hexdigest()
    assert f"sha256 {digest}" in r.stdout
    assert hashlib.sha256(disk.read_bytes()[: iso.stat().st_size]).hexdigest() == digest
    _boot_ready(qemu.QemuSpec(disk=disk, memory_mib=128))


def _untouched(path: Path) -> bytes:
    return path.read_bytes() if path.is_file() else b""


def test_flash_refuses_a_directory(iso: Path, tmp_path: Path) -> None:
    r = _cllm("flash", str(iso), "--device", str(tmp_path), "--yes")
    assert r.returncode == ImageError.exit_code
    assert "is a directory" in r.stderr


def test_flash_refuses_a_missing_target(iso: Path, tmp_path: Path) -> None:
    target = tmp_path / "nope.img"
    r = _cllm("flash", str(iso), "--device", str(target), "--yes")
    assert r.returncode == ImageError.exit_code
    assert "does not exist" in r.stderr
    assert not target.exists()


def test_flash_refuses_without_tty_unless_yes(iso: Path, tmp_path: Path) -> None:
    target = tmp_path / "t.img"
    target.write_bytes(b"keep me")
    r = _cllm("flash", str(iso), "--device", str(target))
    assert r.returncode == UsageError.exit_code
    assert "without a terminal to confirm; pass --yes" in r.stderr
    assert target.read_bytes() == b"keep me"


def test_flash_refuses_the_mounted_root_device(iso: Path) -> None:
    """The device `/` is mounted from. No --yes: even if the mount check failed, the
    TTY refusal would come instead of the mount message, and nothing is written."""
    sources = [Path(src) for src, point in image._mounted_sources(Path("/proc/mounts"))
               if point == "/" and src.startswith("/dev/")]
    assert sources and sources[0].is_block_device(), "the test needs / on a block device"
    r = _cllm("flash", str(iso), "--device", str(sources[0]))
    assert r.returncode == ImageError.exit_code, r.stderr
    assert "is mounted (on /)" in r.stderr


def test_mount_check_sees_partitions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A disk counts as mounted when one of its partitions is: sysfs puts a partition's
    directory inside its disk's. Device nodes made here, never opened."""
    disk, part, other = tmp_path / "disk", tmp_path / "part1", tmp_path / "other"
    numbers = {disk: (7, 240), part: (7, 241), other: (7, 242)}
    for node, (major, minor) in numbers.items():
        os.mknod(node, 0o600 | stat.S_IFBLK, os.makedev(major, minor))
    sysfs = {os.makedev(7, 240): "/sys/devices/v/disk", os.makedev(7, 241): "/sys/devices/v/disk/part1",
             os.makedev(7, 242): "/sys/devices/v/other"}
    monkeypatch.setattr(image, "_sys_block_dir", sysfs.get)
    mounts = tmp_path / "mounts"
    mounts.write_text(f"{part} /mnt/data ext4 rw 0 0\ntmpfs /tmp tmpfs rw 0 0\n")
    assert image.mounted_on(disk, mounts) == "/mnt/data"
    assert image.mounted_on(part, mounts) == "/mnt/data"
    assert image.mounted_on(other, mounts) is None


@pytest.mark.parametrize("missing", ["grub-mkrescue", "xorriso", "mformat"])
def test_missing_iso_tool_names_its_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            missing: str) -> None:
    """Each tool is found on PATH; hide one (PATH = links to the other two)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for prog in ("grub-mkrescue", "xorriso", "mformat"):
        real = shutil.which(prog)
        if prog != missing and real is not None:
            (bindir / prog).symlink_to(real)
    monkeypatch.setenv("PATH", str(bindir))
    elf = tmp_path / "k.elf"
    elf.write_bytes(b"x")
    with pytest.raises(ToolMissing, match=rf"{missing} not found.*apt-get install \S+"):
        image.make_iso(elf, tmp_path / "out.iso")
    assert not (tmp_path / "out.iso").exists()


def test_check_target_refuses_the_image_itself(iso: Path) -> None:
    with pytest.raises(ImageError, match="the image itself"):
        image.check_target(iso, iso)


@pytest.mark.qemu
def test_console_iso_generates_what_cllm_run_does(kernel_elf: Path, models_dir: Path,
                                                  tmp_path: Path) -> None:
    """Model and prompt loaded by GRUB from the ISO give the same greedy continuation
    as QEMU's own Multiboot loader (`cllm run`)."""
    model = models_dir / "stories260K.gguf"
    prompt = 'One day, "Tim" said:\n'
    out = tmp_path / "console.iso"
    r = _cllm("iso", str(kernel_elf), "-o", str(out), "--model", str(model), "--prompt", prompt,
              "--opt", "n=16", "--opt", "temp=0")
    assert r.returncode == 0, r.stderr
    booted = qemu.boot_to_exit(qemu.QemuSpec(iso=out, memory_mib=256), BOOT_TIMEOUT_S)
    assert booted.status == 0, booted.log
    assert f"cllm: prompt: {len(prompt.encode())} bytes" in booted.log
    direct = subprocess.run([sys.executable, "-m", "cllm_build", "run", str(kernel_elf), "--model",
                             str(model), "--prompt", prompt, "-n", "16", "--temperature", "0",
                             "--timeout", "120"], capture_output=True, timeout=300, check=False)
    assert direct.returncode == 0, direct.stderr
    assert booted.data and booted.data == direct.stdout
