"""`cllm run`: flags become the kernel command line and modules (pure plan tests), and
through the real entry point: stdout carries exactly the COM2 bytes, stderr the log,
and the exit code is the kernel's status. Machines are the tiny guest of
tests/qemu_guest.py, so these hold whatever state the kernel is in."""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from qemu_guest import make_guest

from cllm_build import run as runlib
from cllm_build.errors import BootError, KernelPanic, PortInUse, UsageError


def _cllm(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "cllm_build", *args], capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=timeout, check=False)


def _free_port() -> int:
    """A TCP port nothing listens on right now (tests may run beside other runs)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _opts(tmp_path: Path, **kw: object) -> runlib.RunOptions:
    kw.setdefault("no_model", kw.get("model") is None)
    return runlib.RunOptions(elf=make_guest(tmp_path / "g.elf"), **kw)  # type: ignore[arg-type]


def test_console_flags_become_options_and_modules(tmp_path: Path) -> None:
    model = tmp_path / "m.gguf"
    model.write_bytes(b"\0" * (5 << 20))
    tok = tmp_path / "tok.bin"
    tok.write_bytes(b"t")
    prompt = 'say "hi"\n\u00e9\u4e16 \U0001f600'
    plan = runlib.make_plan(_opts(
        tmp_path, model=model, tokenizer=tok, prompt=prompt, n=7, temperature=0.8, top_k=40,
        top_p=0.95, seed=42, options=("foo=bar", "cllm.x=1"), cmdline="cllm.a=b",
        modules=(f"{tok}:extra",)))
    try:
        spec = plan.spec
        assert plan.console and plan.url is None and spec.nic is None
        assert spec.cmdline.split() == ["cllm.a=b", "cllm.n=7", "cllm.temp=0.8", "cllm.top_k=40",
                                        "cllm.top_p=0.95", "cllm.seed=42", "cllm.foo=bar", "cllm.x=1"]
        names = [m.name for m in spec.modules]
        assert names == ["model", "tokenizer", "extra", "prompt"]
        assert spec.modules[3].path.read_bytes() == prompt.encode("utf-8")
        assert spec.memory_mib == 256 + 2 * 5
    finally:
        plan.cleanup()
    assert not spec.modules[3].path.exists()  # the prompt file goes with the plan


def test_serve_mode_forwards_the_port_and_passes_the_api_key(tmp_path: Path) -> None:
    plan = runlib.make_plan(_opts(tmp_path, port=18123, nic="virtio", api_key="sk-abc"))
    assert not plan.console and plan.url == "http://127.0.0.1:18123/"
    assert plan.spec.nic == "virtio" and plan.spec.host_port == 18123
    assert "cllm.api_key=sk-abc" in plan.spec.cmdline.split()
    tap = runlib.make_plan(_opts(tmp_path, tap="tap7"))
    assert tap.spec.tap == "tap7" and tap.spec.host_port is None and tap.url is None


@pytest.mark.parametrize("kw,message", [
    ({"options": ("novalue",)}, "not key=value"),
    ({"options": ("Bad Key=1",)}, "option key"),
    ({"api_key": "has space"}, "may not contain spaces"),
    ({"api_key": "k" * (runlib.MAX_API_KEY_BYTES + 1)}, f"at most {runlib.MAX_API_KEY_BYTES}"),
    ({"api_key": "\u00e9" * 128}, "256 bytes"),
    ({"top_p": 1.5}, "top-p"),
    ({"temperature": -1.0}, "negative"),
    ({"modules": ("/nonexistent/x:model",)}, "does not exist"),
])
def test_bad_flags_are_refused_by_name(tmp_path: Path, kw: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        runlib.make_plan(_opts(tmp_path, **kw))


def test_the_longest_api_key_the_kernel_accepts_passes(tmp_path: Path) -> None:
    key = "k" * runlib.MAX_API_KEY_BYTES
    assert f"cllm.api_key={key}" in runlib.make_plan(_opts(tmp_path, api_key=key)).spec.cmdline


def test_a_port_in_use_is_one_line_before_qemu_starts(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = _cllm("run", str(make_guest(tmp_path / "g.elf")), "--no-model", "--port", str(port))
    err = r.stderr.decode()
    assert r.returncode == PortInUse.exit_code == 10
    assert err.splitlines() == [(f"cllm: error: port {port} on 127.0.0.1 is not available "
                                "(Address already in use); choose another with --port")]


def test_default_model_unless_no_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    default = tmp_path / "default.gguf"
    default.write_bytes(b"\0" * (1 << 20))
    monkeypatch.setattr(runlib, "DEFAULT_MODEL", default)
    plan = runlib.make_plan(_opts(tmp_path, no_model=False))
    assert [(m.path, m.name) for m in plan.spec.modules] == [(default, "model")]
    assert plan.spec.memory_mib == 256 + 2
    assert runlib.make_plan(_opts(tmp_path, no_model=True)).spec.modules == ()
    with pytest.raises(UsageError, match="exclude each other"):
        runlib.make_plan(_opts(tmp_path, model=default, no_model=True))


def test_module_argument_names(tmp_path: Path) -> None:
    assert runlib.parse_module("/a/b.bin:tokenizer").name == "tokenizer"
    assert runlib.parse_module("/a/b.bin").name == "b.bin"
    m = runlib.parse_module("C:odd/path")  # the part after ':' is not a module name
    assert (m.path, m.name) == (Path("C:odd/path"), "path")


@pytest.mark.qemu
@pytest.mark.parametrize("status", [0, 1, 2])
def test_run_exits_with_the_kernel_status_and_splits_the_channels(tmp_path: Path, status: int) -> None:
    data = "caf\u00e9 \u4e16\u754c\nline two\n".encode()
    elf = make_guest(tmp_path / "g.elf", log=b"cllm 0.0 build x\ncllm: ready\n", data=data, status=status)
    r = _cllm("run", str(elf), "--no-model", "--prompt", "hi", "--memory", "32", "--timeout", "60")
    assert r.returncode == (KernelPanic.exit_code if status == 2 else status), r.stderr
    assert r.stdout == data, r.stderr
    err = r.stderr.decode()
    assert "cllm: ready" in err and "run: ready after" in err
    if status == 2:
        assert "kernel panic (no panic report on COM1)" in err


@pytest.mark.qemu
def test_run_without_kernel_status_fails(tmp_path: Path) -> None:
    elf = make_guest(tmp_path / "g.elf", log=b"cllm: ready\n", triple_fault=True)
    r = _cllm("run", str(elf), "--no-model", "--prompt", "hi", "--memory", "32", "--timeout", "60")
    assert r.returncode == BootError.exit_code
    assert b"without a kernel status" in r.stderr and b"triple fault" in r.stderr


@pytest.mark.qemu
def test_run_timeout_stops_the_machine(tmp_path: Path) -> None:
    elf = make_guest(tmp_path / "g.elf", log=b"cllm: ready\n", status=None)
    r = _cllm("run", str(elf), "--no-model", "--memory", "32", "--port", str(_free_port()),
              "--timeout", "2")
    assert r.returncode == BootError.exit_code
    err = r.stderr.decode()
    assert "run: ready after" in err
    assert "still running after 2 s" in err


@pytest.mark.qemu
def test_run_symbolizes_a_kernel_panic(kernel_elf: Path) -> None:
    """The kernel's deliberate invalid-opcode fault (cllm.selftest=fault_ud)."""
    r = _cllm("run", str(kernel_elf), "-o", "selftest=fault_ud", "--memory", "64", "--no-model",
              "--port", str(_free_port()), "--timeout", "60")
    err = r.stderr.decode()
    assert r.returncode == KernelPanic.exit_code, err
    assert "kernel panic: invalid opcode (vector 6)" in err
    frames = re.findall(r"#\d+ +0x[0-9a-f]{8} (\S+)", err)
    assert frames[0].startswith("fault_ud+0x"), frames
    assert any(f.startswith("selftest_run+0x") for f in frames), frames
    assert any(f.startswith("kernel_main+0x") for f in frames), frames
    assert re.search(r"at    0x[0-9a-f]{8} fault_ud\+0x", err)


def _stderr_until(proc: subprocess.Popen[bytes], marker: bytes, timeout_s: float = 60) -> bytes:
    """What `proc` wrote to stderr up to and including `marker`."""
    assert proc.stderr is not None
    err = b""
    deadline = time.monotonic() + timeout_s
    while marker not in err:
        ready, _, _ = select.select([proc.stderr], [], [], 1.0)
        assert time.monotonic() < deadline, err
        if ready:
            chunk = os.read(proc.stderr.fileno(), 4096)
            assert chunk, err
            err += chunk
    return err


@pytest.mark.qemu
def test_serve_mode_announces_the_url_once_health_answers(kernel_elf: Path, models_dir: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "cllm_build", "run", str(kernel_elf), "--model",
                             str(models_dir / "stories260K.gguf"), "--port", str(port)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        err = _stderr_until(proc, b"run: serving on")
        assert f"run: serving on http://127.0.0.1:{port}/ (/health: 200 OK;".encode() in err
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 130
    finally:
        proc.kill()
        proc.wait()


def _qemu_pids(marker: str) -> list[int]:
    """PIDs of live processes whose command line contains `marker`."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes()
                state = (d / "stat").read_text().split(")")[-1].split()[0]
            except OSError:
                continue
            if marker.encode() in cmd and b"qemu-system" in cmd and state != "Z":
                pids.append(int(d.name))
    return pids


@pytest.mark.qemu
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["ctrl-c", "kill"])
def test_stopping_cllm_run_stops_qemu(tmp_path: Path, sig: signal.Signals) -> None:
    """Ctrl-C ends `cllm run` with 130 and the machine with it; even SIGKILL of the
    runner takes QEMU down (parent-death signal)."""
    elf = make_guest(tmp_path / "g.elf", log=b"cllm: ready\n", status=None)
    proc = subprocess.Popen([sys.executable, "-m", "cllm_build", "run", str(elf), "-v", "--no-model",
                             "--memory", "32", "--port", str(_free_port())],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        err = _stderr_until(proc, b"run: ready")
        marker = re.search(rb"(/[^ ]*cllm-qemu-[^/ ]+)/com1.sock", err).group(1).decode()
        assert len(_qemu_pids(marker)) == 1
        proc.send_signal(sig)
        rc = proc.wait(30)
        assert rc == (130 if sig == signal.SIGINT else -signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _qemu_pids(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _qemu_pids(marker) == []
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.qemu
def test_run_without_elf_rebuilds_what_changed(kernel_elf: Path, tmp_path: Path) -> None:
    """With no ELF argument, `cllm run` first brings the build up to date: nothing to
    do when nothing changed; a unit whose object is gone is compiled again."""
    import shutil

    build = tmp_path / "build"
    shutil.copytree(kernel_elf.parent, build, symlinks=True)  # copy2: mtimes kept
    env = {**os.environ, "CLLM_BUILD_DIR": str(build)}
    cmd = [sys.executable, "-m", "cllm_build", "run", "--no-model", "--prompt", "hi",
           "--memory", "32", "--timeout", "60"]
    r = subprocess.run(cmd, capture_output=True, env=env, timeout=300, check=False)
    assert r.returncode == 1, r.stderr  # console mode without a model: status 1
    assert b"rebuilt" not in r.stderr and b"no model" in r.stderr
    (build / "obj" / "kernel" / "lib" / "string.o").unlink()
    r = subprocess.run(cmd, capture_output=True, env=env, timeout=300, check=False)
    assert r.returncode == 1, r.stderr
    assert b"rebuilt, 1 changed unit(s) compiled" in r.stderr, r.stderr


def test_default_elf_without_its_toolchain_boots_as_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """An existing image is still used when the up-to-date check cannot run (no compiler)."""
    from cllm_build import build, cli_boot
    from cllm_build.errors import ToolMissing

    (tmp_path / "cllm.elf").write_bytes(b"\x7fELF")
    monkeypatch.setenv("CLLM_BUILD_DIR", str(tmp_path))

    def no_zig(cfg: object, progress: object = None) -> None:
        raise ToolMissing("zig not found (pip install ziglang)")

    monkeypatch.setattr(build, "build", no_zig)
    assert cli_boot._default_elf() == tmp_path / "cllm.elf"
    assert "zig not found" in capsys.readouterr().err
