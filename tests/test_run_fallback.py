"""`cllm run` with an accelerator that fails: a boot under KVM (or what `auto` picks)
that fails before `cllm: ready` is reported in one line and the same machine boots
under TCG. No test needs KVM: the accelerated boot is forced to fail, either with an
accelerator QEMU cannot start or with a guest that faults before it is ready, run under
a TCG variant (`tcg,thread=single`) standing in for KVM. Machines are the tiny guest of
tests/qemu_guest.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from qemu_guest import make_guest

from cllm_build import qemu
from cllm_build import run as runlib
from cllm_build.cli import cli

pytestmark = pytest.mark.qemu

READY_LOG = b"cllm 0.0 build x\ncllm: ready\n"
PANIC_LOG = b"cllm 0.0 build x\ncllm: panic: general protection fault (vector 13)\n"


def _accelerated_as(monkeypatch: pytest.MonkeyPatch, qemu_accel: str) -> None:
    """Every machine not asked to run under TCG gets `-accel qemu_accel`."""
    monkeypatch.setattr(qemu.QemuSpec, "resolved_accel",
                        lambda self: "tcg" if self.accel == "tcg" else qemu_accel)


def _run(elf: Path, **kw: object) -> tuple[runlib.RunResult, list[str], bytes, list[str]]:
    plan = runlib.make_plan(runlib.RunOptions(elf=elf, no_model=True, prompt="hi", memory_mib=32,
                                              **kw))  # type: ignore[arg-type]
    log: list[str] = []
    data = bytearray()
    notes: list[str] = []
    res = runlib.run_plan(plan, on_log=log.append, on_data=data.extend, on_fallback=notes.append,
                          timeout=60)
    return res, log, bytes(data), notes


def test_an_accelerator_that_cannot_start_falls_back_to_tcg(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    elf = make_guest(tmp_path / "g.elf", log=READY_LOG, data=b"served by tcg\n", status=0)
    _accelerated_as(monkeypatch, "no-such-accel")
    res = CliRunner().invoke(cli, ["run", str(elf), "--no-model", "--prompt", "hi", "--accel", "kvm",
                                   "--memory", "32", "--timeout", "60"])
    assert res.exit_code == 0, res.stderr
    assert res.stdout_bytes == b"served by tcg\n"
    notes = [ln for ln in res.stderr.splitlines() if "boot failed" in ln]
    assert len(notes) == 1, res.stderr
    assert notes[0].startswith("run: NO-SUCH-ACCEL boot failed before `cllm: ready` (QEMU failed")
    assert "no-such-accel" in notes[0].partition("(")[2]  # QEMU's own words name it
    assert notes[0].endswith("; booting under TCG")
    assert res.stderr.splitlines().count("cllm: ready") == 1  # the log of the boot that served


def test_a_boot_that_faults_before_ready_is_booted_again_under_tcg(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elf = make_guest(tmp_path / "g.elf", log=PANIC_LOG, status=qemu.STATUS_PANIC)
    _accelerated_as(monkeypatch, "tcg,thread=single")
    res, log, _data, notes = _run(elf, accel="kvm")
    assert notes == [("TCG,THREAD=SINGLE boot failed before `cllm: ready` (kernel panic: general "
                     "protection fault (vector 13)); booting under TCG")]
    assert res.fallback == "kernel panic: general protection fault (vector 13)"
    assert res.accel == "tcg" and res.status == qemu.STATUS_PANIC  # it faults under TCG too
    assert sum("cllm: panic:" in ln for ln in log) == 1  # nothing of the failed boot shows


def test_an_accelerated_boot_that_gets_ready_is_kept(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Its log and data, held back until `cllm: ready`, all arrive, in order, once."""
    elf = make_guest(tmp_path / "g.elf", log=READY_LOG + b"cllm: after\n", data=b"answer",
                     status=0)
    _accelerated_as(monkeypatch, "tcg,thread=single")
    res, log, data, notes = _run(elf, accel="auto")
    assert notes == [] and res.fallback is None
    assert res.accel == "tcg,thread=single" and res.status == 0
    assert log == ["cllm 0.0 build x", "cllm: ready", "cllm: after"]
    assert data == b"answer"


def test_tcg_is_never_retried(tmp_path: Path) -> None:
    elf = make_guest(tmp_path / "g.elf", log=PANIC_LOG, status=qemu.STATUS_PANIC)
    res, log, _, notes = _run(elf, accel="tcg")
    assert notes == [] and res.fallback is None and res.status == qemu.STATUS_PANIC
    assert log[-1].startswith("cllm: panic:")


def test_auto_is_the_default() -> None:
    assert runlib.RunOptions(elf=Path("x")).accel == "auto"
    run = cli.commands["run"]
    assert next(p for p in run.params if p.name == "accel").default == "auto"
