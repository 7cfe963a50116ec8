"""The Makefile's targets, as `make -n` prints them: each installs what it needs and no
more (`make run` no PyTorch and no Bible text), and `make run` passes PORT, MODEL and
ARGS on to `cllm run`. Nothing is installed or built: -n only prints the commands."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _plan(tmp_path: Path, *args: str) -> str:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    # --no-print-directory: under `make test` this is a nested make, which would add
    # "Entering directory" lines
    r = subprocess.run(["make", "-n", "--no-print-directory", f"VENV={tmp_path / 'venv'}", *args],
                       cwd=ROOT,
                       capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_run_installs_the_package_only(tmp_path: Path) -> None:
    out = _plan(tmp_path, "run")
    assert "pip install -e .\n" in out
    assert "[train" not in out and "[test" not in out and "bible-kjv" not in out
    assert out.rstrip().endswith("cllm run")


def test_test_and_train_install_pytorch_and_the_bible_text(tmp_path: Path) -> None:
    test = _plan(tmp_path, "test")
    assert "pip install -e '.[test,train]'" in test and "bible-kjv bible-kjv-text" in test
    train = _plan(tmp_path, "train")
    assert "pip install -e '.[train]'" in train and "bible-kjv bible-kjv-text" in train
    assert "[test" not in train


def test_each_set_of_extras_has_its_own_stamp(tmp_path: Path) -> None:
    stamps = {t: [ln for ln in _plan(tmp_path, t).splitlines() if ln.startswith("touch ")]
              for t in ("run", "test", "train", "lint")}
    assert len({s[0] for s in stamps.values()}) == 4, stamps


def test_run_passes_port_model_and_args(tmp_path: Path) -> None:
    out = _plan(tmp_path, "run", "PORT=9000", "MODEL=m.gguf", "ARGS=--accel tcg")
    assert out.rstrip().endswith("cllm run --port 9000 --model m.gguf --accel tcg")


def test_lint_checks_the_c_format_without_rewriting(tmp_path: Path) -> None:
    out = _plan(tmp_path, "lint")
    line = next(ln for ln in out.splitlines() if "clang-format" in ln)
    assert "--dry-run --Werror" in line and " -i" not in line
    assert "kernel/core/vm.c" in line and "tests/host/" in line
    assert "ruff check" in out and "mypy cllm_build" in out
