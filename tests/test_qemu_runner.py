"""The QEMU runner (cllm_build/qemu.py): command lines, the two serial channels, exit
status mapping and cleanup. Machine tests boot a tiny Keystone-assembled guest
(tests/qemu_guest.py) so they check the runner apart from the kernel."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from qemu_guest import make_guest

from cllm_build import qemu
from cllm_build.errors import BootError, UsageError


def _spec(elf: Path, **kw: object) -> qemu.QemuSpec:
    return qemu.QemuSpec(elf=elf, memory_mib=32, **kw)  # type: ignore[arg-type]


def _arg(cmd: list[str], flag: str) -> list[str]:
    return [cmd[i + 1] for i, c in enumerate(cmd) if c == flag]


# -- pure: status mapping, sizing, command lines ----------------------------------------


@pytest.mark.parametrize("rc,status", [(1, 0), (3, 1), (5, 2), (0, None), (2, None), (-9, None),
                                       (None, None)])
def test_kernel_status_decodes_debug_exit(rc: int | None, status: int | None) -> None:
    assert qemu.kernel_status(rc) == status


def test_qemu_failure_exit_is_not_status_zero() -> None:
    err = "qemu-system-i386: -m 99999: ram size too large\n"
    assert qemu.kernel_status(1, err) is None
    assert qemu.describe_exit(1, err) == "QEMU failed (exit 1): -m 99999: ram size too large"
    warn = "qemu-system-i386: warning: TCG doesn't support requested feature\n"
    assert qemu.kernel_status(1, warn) == 0


def test_default_memory_grows_with_model_and_is_capped(tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.write_bytes(b"\0" * (3 << 20))
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.truncate(2 << 30)  # sparse 2 GiB
    assert qemu.default_memory_mib(None) == 256
    assert qemu.default_memory_mib(small) == 256 + 6
    assert qemu.default_memory_mib(big) == 3072


def test_command_line_has_exit_device_serials_modules_and_net(tmp_path: Path) -> None:
    elf = make_guest(tmp_path / "g.elf")
    mod = tmp_path / "m.bin"
    mod.write_bytes(b"x")
    spec = qemu.QemuSpec(elf=elf, memory_mib=100, cpu="pentium", cmdline="cllm.a=1 cllm.b=2",
                         modules=(qemu.Module(mod, "model"),), nic="virtio", host_port=18080)
    cmd = spec.command("/s/c1", "/s/c2")
    assert cmd[0] == "qemu-system-i386"
    assert {"-no-reboot", "-display"} <= set(cmd) and _arg(cmd, "-display") == ["none"]
    assert _arg(cmd, "-device")[0] == "isa-debug-exit,iobase=0xf4,iosize=0x04"
    assert _arg(cmd, "-serial") == ["chardev:com1", "chardev:com2"]
    assert _arg(cmd, "-chardev") == ["socket,id=com1,path=/s/c1,server=on,wait=on",
                                     "socket,id=com2,path=/s/c2,server=on,wait=on"]
    assert _arg(cmd, "-m") == ["100"] and _arg(cmd, "-cpu") == ["pentium"]
    assert _arg(cmd, "-accel") == ["tcg"]
    assert _arg(cmd, "-append") == ["cllm.a=1 cllm.b=2"]
    assert _arg(cmd, "-initrd") == [f"{mod} model"]
    assert _arg(cmd, "-netdev") == ["user,id=net0,hostfwd=tcp:127.0.0.1:18080-:80"]
    assert "virtio-net-pci,netdev=net0" in _arg(cmd, "-device")


def test_command_line_tap_and_no_nic(tmp_path: Path) -> None:
    elf = make_guest(tmp_path / "g.elf")
    tap = qemu.QemuSpec(elf=elf, nic="e1000", tap="tap0").command("a", "b")
    assert _arg(tap, "-netdev") == ["tap,id=net0,ifname=tap0,script=no,downscript=no"]
    assert _arg(qemu.QemuSpec(elf=elf).command("a", "b"), "-nic") == ["none"]


def test_accel_auto_uses_kvm_only_when_it_opens(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elf = make_guest(tmp_path / "g.elf")
    spec = qemu.QemuSpec(elf=elf, accel="auto")
    monkeypatch.setattr(qemu, "kvm_usable", lambda: False)
    assert _arg(spec.command("a", "b"), "-accel") == ["tcg"]
    monkeypatch.setattr(qemu, "kvm_usable", lambda: True)
    assert _arg(spec.command("a", "b"), "-accel") == ["kvm"]


@pytest.mark.parametrize("kw,word", [
    ({"accel": "hvf"}, "accel"), ({"nic": "rtl8139"}, "nic"), ({"memory_mib": 8}, "memory"),
    ({"host_port": 70000}, "port"), ({"cmdline": "a\nb"}, "newline"),
])
def test_bad_spec_is_refused_by_name(tmp_path: Path, kw: dict, word: str) -> None:
    elf = make_guest(tmp_path / "g.elf")
    with pytest.raises(UsageError, match=word):
        qemu.QemuSpec(elf=elf, **kw).check()


def test_bad_module_name_and_missing_module_are_refused(tmp_path: Path) -> None:
    elf = make_guest(tmp_path / "g.elf")
    with pytest.raises(UsageError, match="module name"):
        qemu.QemuSpec(elf=elf, modules=(qemu.Module(elf, "a,b"),)).check()
    with pytest.raises(UsageError, match="does not exist"):
        qemu.QemuSpec(elf=elf, modules=(qemu.Module(tmp_path / "nope", "model"),)).check()


def test_module_paths_become_short_plain_links(tmp_path: Path) -> None:
    odd = tmp_path / "a,b c"
    odd.mkdir()
    f = odd / "model,1.gguf"
    f.write_bytes(b"GGUF")
    plain = tmp_path / "plain.bin"
    plain.write_bytes(b"x")
    safe_dir = tmp_path / "safe"
    safe_dir.mkdir()
    paths = qemu._safe_module_paths([qemu.Module(f, "model"), qemu.Module(plain, "tokenizer")], safe_dir)
    for p in paths:
        assert re.fullmatch(r"[A-Za-z0-9_/.-]+", str(p)) and len(str(p)) <= len(str(safe_dir)) + 4
    assert paths[0].read_bytes() == b"GGUF"
    assert paths[1].read_bytes() == b"x"


# -- machines: the tiny guest ---------------------------------------------------------------


@pytest.mark.qemu
@pytest.mark.parametrize("status", [0, 1, 2])
def test_exit_status_and_both_channels(tmp_path: Path, status: int) -> None:
    log = b"cllm guest\ncllm: ready\n"
    data = "h\u00e9llo \u4e16\u754c\n\0end".encode()
    elf = make_guest(tmp_path / "g.elf", log=log, data=data, status=status)
    res = qemu.boot_to_exit(_spec(elf), timeout=30)
    assert res.status == status
    assert res.lines == ["cllm guest", "cllm: ready"]
    assert res.data == data  # COM2 arrives byte for byte, nothing of COM1 in it


@pytest.mark.qemu
def test_triple_fault_has_no_kernel_status(tmp_path: Path) -> None:
    elf = make_guest(tmp_path / "g.elf", log=b"going down\n", triple_fault=True)
    res = qemu.boot_to_exit(_spec(elf), timeout=30)
    assert res.returncode == 0 and res.status is None
    assert "reset or triple fault" in qemu.describe_exit(res.returncode, res.qemu_output)


@pytest.mark.qemu
def test_wait_for_line_streams_and_times_out(tmp_path: Path) -> None:
    elf = make_guest(tmp_path / "g.elf", log=b"one\ncllm: ready\nthree\n", data=b"xyz", status=None)
    seen: list[str] = []
    got: list[bytes] = []
    with qemu.Qemu(_spec(elf), on_log=seen.append, on_data=got.append) as vm:
        m = vm.wait_for_line(r"cllm: (\w+)", timeout=30)
        assert m.group(1) == "ready"
        mark = vm.mark()
        assert mark >= 2
        vm.wait_for_line("three", timeout=10, after=mark - 1)
        with pytest.raises(BootError, match="timed out") as exc:
            vm.wait_for_line("never printed", timeout=0.5)
        assert "cllm: ready" in str(exc.value)  # the message carries the log tail
        with pytest.raises(BootError, match="timed out"):
            vm.wait_for_line("one", timeout=0.2, after=1)  # before the mark: not seen
        pid = vm.proc.pid
    assert seen[:3] == ["one", "cllm: ready", "three"]
    assert b"".join(got) == b"xyz"
    assert vm.poll() is not None  # QEMU is gone after the with block
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


@pytest.mark.qemu
def test_qemu_is_killed_when_the_caller_raises(tmp_path: Path) -> None:
    elf = make_guest(tmp_path / "g.elf", log=b"cllm: ready\n", status=None)
    with pytest.raises(KeyboardInterrupt), qemu.Qemu(_spec(elf)) as vm:
        vm.wait_for_line("ready", timeout=30)
        raise KeyboardInterrupt
    assert vm.poll() is not None


@pytest.mark.qemu
def test_wait_for_line_reports_an_early_exit(tmp_path: Path) -> None:
    elf = make_guest(tmp_path / "g.elf", log=b"cllm: panic: boom\n", status=2)
    with qemu.Qemu(_spec(elf)) as vm, pytest.raises(BootError,
                                                    match=r"QEMU ended: kernel status 2 \(panic\)"):
        vm.wait_for_line("cllm: ready", timeout=30)


@pytest.mark.qemu
def test_qemu_error_is_reported(tmp_path: Path) -> None:
    elf = make_guest(tmp_path / "g.elf")
    spec = qemu.QemuSpec(elf=elf, extra_args=("-device", "no-such-device"))
    with qemu.Qemu(spec) as vm, pytest.raises(BootError, match="(?s)QEMU failed.*no-such-device"):
        vm.wait_for_line("cllm: ready", timeout=30)
