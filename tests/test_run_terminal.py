"""Console mode as a terminal user and a script see it: on a terminal (stdout a pty)
the boot log is hidden, so the prompt is followed by the answer, unless -v or the run
fails; -q hides it anywhere. Machines are the tiny guest of tests/qemu_guest.py."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from qemu_guest import make_guest

from cllm_build.errors import UsageError

pytestmark = pytest.mark.qemu

LOG = b"cllm 0.0 build x\ncllm: memory: some\ncllm: ready\ncllm: prompt: 2 bytes, 1 tokens\n"
ANSWER = b" there, the answer"


def _run_cmd(elf: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "cllm_build", "run", str(elf), "--no-model", "--accel", "tcg",
            "--memory", "32", "--timeout", "60", "--prompt", "hi", *args]


def _on_terminal(elf: Path, *args: str) -> tuple[int, bytes, str]:
    """Run with stdout on a pty and stderr on a pipe: (exit code, terminal bytes, stderr)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(_run_cmd(elf, *args), stdin=subprocess.DEVNULL, stdout=slave,
                            stderr=subprocess.PIPE)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the terminal's other side is closed
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    err = proc.communicate(timeout=120)[1]
    return proc.returncode, out, err.decode(errors="replace")


def test_terminal_shows_the_prompt_then_the_answer(tmp_path: Path) -> None:
    elf = make_guest(tmp_path / "g.elf", log=LOG, data=ANSWER, status=0)
    rc, out, err = _on_terminal(elf)
    assert rc == 0, err
    assert out == b"hi" + ANSWER + b"\r\n"
    assert err == ""


def test_verbose_shows_the_boot_log_on_a_terminal(tmp_path: Path) -> None:
    elf = make_guest(tmp_path / "g.elf", log=LOG, data=ANSWER, status=0)
    rc, out, err = _on_terminal(elf, "-v")
    assert rc == 0, err
    assert out == b"hi" + ANSWER + b"\r\n"
    assert "cllm: memory: some\ncllm: ready\n" in err and "run: ready after" in err


def test_a_failed_run_shows_the_hidden_log(tmp_path: Path) -> None:
    elf = make_guest(tmp_path / "g.elf", log=LOG + b"cllm: console: error: no model\n", status=1)
    rc, out, err = _on_terminal(elf)
    assert rc == 1
    assert out == b"hi\r\n"
    assert "cllm: ready\n" in err and err.rstrip().endswith("cllm: console: error: no model")


def test_quiet_hides_the_log_without_a_terminal(tmp_path: Path) -> None:
    elf = make_guest(tmp_path / "g.elf", log=LOG, data=ANSWER, status=0)
    r = subprocess.run(_run_cmd(elf, "-q"), capture_output=True, stdin=subprocess.DEVNULL,
                       timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    assert (r.stdout, r.stderr) == (ANSWER, b"")
    plain = subprocess.run(_run_cmd(elf), capture_output=True, stdin=subprocess.DEVNULL,
                           timeout=120, check=False)
    assert plain.stdout == ANSWER and b"cllm: ready" in plain.stderr  # piped: the log shows


def test_quiet_and_verbose_exclude_each_other(tmp_path: Path) -> None:
    elf = make_guest(tmp_path / "g.elf", log=LOG, status=0)
    r = subprocess.run(_run_cmd(elf, "-q", "-v"), capture_output=True, stdin=subprocess.DEVNULL,
                       timeout=120, check=False)
    assert r.returncode == UsageError.exit_code
    assert b"exclude each other" in r.stderr
