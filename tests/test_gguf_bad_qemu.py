"""Every corrupt model of tests/test_gguf_bad.py (CASES, and SYNTH_CASES: the legacy
and K-quant, vocabulary and architecture cases of the other model tests), booted in
the real i386 kernel under QEMU: integer wrap-around is a 32-bit problem, so the host
build's refusals are not enough. In console mode the kernel must refuse the file with
the same words as the host build, say `cllm: no model`, exit with status 1 and not
panic; in server mode it must keep serving: /health answers 503 naming the reason, a
completion answers 503, and /health answers again afterwards, all three at once (a
failed load once left the e1000's receive ring dropping frames: answers after 1-42 s)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from test_api_qemu import READY_TIMEOUT_S, _free_port
from test_gguf_bad import CASES, SYNTH_CASES, Bad

from cllm_build import qemu

pytestmark = pytest.mark.qemu
ALL_CASES = CASES + SYNTH_CASES
ANSWERS_S = 5.0  # the three requests to an idle kernel take milliseconds


@pytest.fixture(scope="module")
def originals(models_dir) -> tuple[bytes, bytes]:
    return ((models_dir / "stories260K.gguf").read_bytes(),
            (models_dir / "stories260K.bin").read_bytes())


def bad_file(tmp_path: Path, case: Bad, originals: tuple[bytes, bytes]) -> Path:
    p = tmp_path / f"{case.name}.bin"
    p.write_bytes(case.make(*originals))
    return p


def model_error(log: str) -> str:
    lines = [ln for ln in log.splitlines() if ln.startswith("cllm: model: error: ")]
    assert lines, log
    return lines[0]


@pytest.mark.parametrize("case", ALL_CASES, ids=[c.name for c in ALL_CASES])
def test_console_mode_refuses(kernel_elf, tmp_path, originals, case):
    model = bad_file(tmp_path, case, originals)
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Once upon a time")
    mods = (qemu.Module(prompt, "prompt"),) + ((qemu.Module(model, "model"),) if model.stat().st_size else ())
    spec = qemu.QemuSpec(elf=kernel_elf, memory_mib=64, accel="tcg", cmdline="cllm.n=2", modules=mods)
    out = qemu.boot_to_exit(spec, timeout=120)
    assert "panic" not in out.log.lower(), out.log
    assert out.status == 1, out.log
    assert "cllm: no model" in out.log, out.log
    if model.stat().st_size:  # an empty module is no model at all, which is not an error
        err = model_error(out.log)
        for n in case.needles:
            assert n in err, err


def get(url: str, body: dict | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body else None)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.mark.parametrize("case", ALL_CASES, ids=[c.name for c in ALL_CASES])
def test_server_mode_keeps_serving(kernel_elf, tmp_path, originals, case):
    model = bad_file(tmp_path, case, originals)
    port = _free_port()
    mods = (qemu.Module(model, "model"),) if model.stat().st_size else ()
    spec = qemu.QemuSpec(elf=kernel_elf, memory_mib=64, accel="tcg", nic="e1000", host_port=port,
                         modules=mods)
    with qemu.Qemu(spec) as vm:
        vm.wait_for_line("cllm: ready", READY_TIMEOUT_S)
        url = f"http://127.0.0.1:{port}"
        start = time.monotonic()
        status, health = get(url + "/health")
        assert status == 503, health
        if mods:
            reason = health["error"]["message"]
            for n in case.needles:
                assert n in reason, reason
        status, body = get(url + "/v1/completions", {"prompt": "hi", "max_tokens": 2})
        assert status == 503, body
        assert get(url + "/health")[0] == 503
        assert time.monotonic() - start < ANSWERS_S, "answers came late: frames lost?"
        assert "panic" not in vm.log_text().lower(), vm.log_text()
