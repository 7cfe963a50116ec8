"""The forward pass split across CPUs (kernel/llm/ops_par.c), on the host: smp_run on
worker threads (tests/host/port_host.c) runs every job once per CPU and ops_par_rows
covers each row once (tests/host/smp_threads_test.c); and the harness with
`--threads N` gives logits and greedy tokens identical to one thread, token by token,
batched and for several sequences at once. The harness here is built with
OPS_PAR_MIN_WORK=0 so that even the small test models' matrices are split."""

from __future__ import annotations

import subprocess

import pytest
from hostcc import host_binary
from llm_harness import LLM_SOURCES

MODELS = ["stories260K.gguf", "stories260K.bin", "aidreams260K.gguf"]


def split_harness():
    return host_binary("llm_main_split", LLM_SOURCES + ["tests/host/llm_main.c"],
                       extra=["-DOPS_PAR_MIN_WORK=0"])


def run(*args: object) -> str:
    cmd = [str(split_harness()), *map(str, args)]
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(cmd)}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
    return proc.stdout


def test_smp_run_on_host_threads():
    exe = host_binary("smp_threads", ["tests/host/smp_threads_test.c", "kernel/llm/ops_par.c"])
    proc = subprocess.run([str(exe)], check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert "smp_threads: all passed" in proc.stdout


@pytest.mark.parametrize("model", MODELS)
def test_logits_and_tokens_do_not_depend_on_the_thread_count(models_dir, model):
    path = models_dir / model
    toks = [1, 50, 60, 70, 80, 90]
    want = {
        "logits": run("--threads", 1, path, "logits", *toks),
        "batch": run("--threads", 1, "--batch", path, "logits", *toks),
        "greedy": run("--threads", 1, "--batch", path, "greedy", 12, *toks),
        "multi": run("--threads", 1, path, "multi", 6, "1,50,60", "1,70", "1,80,90,100"),
    }
    assert want["logits"].count("\n") == len(toks) and want["greedy"].split()
    assert run("--threads", 8, "--batch", path, "logits", *toks) == want["batch"]
    for threads in (2, 3):
        assert run("--threads", threads, path, "logits", *toks) == want["logits"]
        assert run("--threads", threads, "--batch", path, "logits", *toks) == want["batch"]
        assert run("--threads", threads, "--batch", path, "greedy", 12, *toks) == want["greedy"]
        assert run("--threads", threads, path, "multi", 6, "1,50,60", "1,70", "1,80,90,100") == want["multi"]


def test_thread_count_out_of_range_is_refused(models_dir):
    for bad in ("0", "9", "x"):
        proc = subprocess.run([str(split_harness()), "--threads", bad, str(models_dir / MODELS[0]), "info"],
                              check=False, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 1
        assert f"error: --threads {bad}: give 1..8" in proc.stdout
