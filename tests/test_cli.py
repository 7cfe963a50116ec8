"""The `cllm` command line: help for every command, usage errors (exit 2), clear errors
without tracebacks, and the output of build, verify and disasm. Commands run in a
subprocess, as a user runs them, so the exit codes are the real ones."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from cllm_build.cli import cli


def cllm(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cllm_build", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=300, check=False)


def _commands(group=cli, prefix=()):  # type: ignore[no-untyped-def]
    for name, cmd in sorted(group.commands.items()):
        yield prefix + (name,)
        if hasattr(cmd, "commands"):
            yield from _commands(cmd, prefix + (name,))


@pytest.mark.parametrize("path", [()] + list(_commands()), ids=lambda p: " ".join(p) or "cllm")
def test_help_of_every_command(path):
    res = CliRunner().invoke(cli, [*path, "--help"])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("Usage: ")
    if path:
        assert f"{path[-1]} [OPTIONS]" in res.output


def test_core_commands_are_registered():
    assert {"build", "verify", "disasm"} <= set(cli.commands)


def test_bad_flag_exits_2_with_message():
    res = cllm("build", "--no-such-flag")
    assert res.returncode == 2
    assert "Error: No such option '--no-such-flag'" in res.stderr
    assert "Usage: cllm build [OPTIONS]" in res.stderr


def test_bad_choice_exits_2():
    res = cllm("build", "--cc", "tcc")
    assert res.returncode == 2 and "'tcc' is not one of" in res.stderr


def test_missing_file_is_a_clear_error(tmp_path):
    res = cllm("verify", str(tmp_path / "absent.elf"))
    assert res.returncode == 2
    assert "does not exist" in res.stderr and "Traceback" not in res.stderr
    res = cllm("build", "--embed-model", str(tmp_path / "absent.gguf"))
    assert res.returncode == 2 and "does not exist" in res.stderr


def test_verify_prints_the_table(mini_elf):
    res = cllm("verify", str(mini_elf))
    assert res.returncode == 0, res.stderr
    rows = res.stdout.splitlines()
    assert len(rows) == 14 and all(r.startswith("  ok    ") for r in rows)
    assert any("entry stub matches boot/entry.s" in r for r in rows)


def test_verify_of_a_non_elf_exits_5(tmp_path):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\0" * 100)
    res = cllm("verify", str(junk))
    assert res.returncode == 5
    assert "FAIL  ELF header  not an ELF file" in res.stderr and "Traceback" not in res.stderr


def test_disasm_output(mini_elf):
    res = cllm("disasm", str(mini_elf))
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("cllm_entry:\n") and "; kernel_main" in res.stdout
    res = cllm("disasm", str(mini_elf), "--symbol", "mini_add")
    assert res.returncode == 0 and res.stdout.startswith("mini_add:\n") and "ret" in res.stdout
    res = cllm("disasm", str(mini_elf), "--symbol", "nope")
    assert res.returncode == 2 and "cllm: error: symbol 'nope' not found" in res.stderr


def test_build_progress_and_compile_error(mini_tree):
    env = {"CLLM_SOURCE_DIR": str(mini_tree), "CLLM_BUILD_DIR": str(mini_tree / "out")}
    res = cllm("build", env=env)
    assert res.returncode == 0, res.stderr
    assert "C   [1/5] kernel/core/main.c" in res.stderr and "VERIFY" in res.stderr
    elf = mini_tree / "out" / "cllm.elf"
    assert res.stdout.startswith(f"{elf}: {elf.stat().st_size} bytes, build id ")

    (mini_tree / "kernel" / "lib" / "other.c").write_text("int mini_other(int x) { return x + ; }\n")
    res = cllm("build", env=env)
    assert res.returncode == 4
    assert "cllm: error: compiling kernel/lib/other.c failed" in res.stderr
    assert "kernel/lib/other.c:1:" in res.stderr and "error: expected expression" in res.stderr
    assert "Traceback" not in res.stderr


def test_version():
    res = CliRunner().invoke(cli, ["--version"])
    assert res.exit_code == 0 and res.output.startswith("cllm, version ")


def test_entry_source_option(mini_elf, tmp_path):
    changed = tmp_path / "entry.s"
    changed.write_text(Path(__file__).resolve().parent.parent.joinpath("boot", "entry.s").read_text()
                       .replace("    cli\n    cld\n", "    cld\n    cli\n", 1))
    res = cllm("verify", str(mini_elf), "--entry-source", str(changed))
    assert res.returncode == 5
    assert "FAIL  entry stub matches boot/entry.s" in res.stderr and "expected `cld`" in res.stderr


def _markdown_cells(line: str) -> list[str]:
    assert line.startswith("|") and line.endswith("|"), line
    return [c.strip() for c in line[1:-1].split("|")]


def test_bench_prints_a_markdown_table(tmp_path, monkeypatch):
    """`cllm bench` writes a header, its delimiter row and one row per measurement, all
    with the same number of cells (the measuring is bench/llm_bench.py's, faked here)."""
    from cllm_build import config

    (tmp_path / "bench").mkdir()
    (tmp_path / "bench" / "llm_bench.py").write_text(
        "def bench(models, n_prompt, n_gen, *, peer, kernel):\n"
        "    return [{'model': m.name, 'engine': e, 'tok_s': 1.5} for m in models for e in ('a', 'b')]\n"
        "def format_row(r):\n"
        "    return f\"| {r['model']} | {r['engine']} | {r['tok_s']:.1f} | {r['tok_s']:.1f} |\"\n")
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    monkeypatch.setattr(config, "ROOT", tmp_path)
    res = CliRunner().invoke(cli, ["bench", str(model), "--no-peer"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert len(lines) == 4
    assert _markdown_cells(lines[0]) == ["model", "engine", "prompt tok/s", "generate tok/s"]
    assert all(set(c) <= set("-:") and "-" in c for c in _markdown_cells(lines[1]))
    assert [_markdown_cells(ln) for ln in lines[2:]] == [["m.gguf", e, "1.5", "1.5"] for e in "ab"]


def test_bench_requires_a_model():
    res = cllm("bench")
    assert res.returncode == 2 and "Missing argument 'MODELS...'" in res.stderr
