"""n > 1 choices sharing the prompt's evaluation, in the kernel under QEMU (TCG).

Run directly: .venv/bin/python bench/share_bench.py [--elf FILE] [--model FILE]
Without --elf it builds the working tree into $CLLM_BUILD_DIR (default build/). It
boots one machine as bench/api_bench.py does and, for a prompt of about 400 tokens and
8 generated tokens a choice (`cache_prompt: false`, so nothing comes from the prefix
cache), compares one request with n = 8 choices (the prompt evaluated once, the other
choices fork its blocks) against 8 requests at once that each evaluate it (what n = 8
cost before): the wall time of each and the prompt time the kernel reports (the sum of
the choices' or requests' `timings.prompt_ms`). Prints Markdown for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import http.client
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_bench import ROOT, free_port, open_conns, post, run_together

from cllm_build import config, qemu
from cllm_build.build import build

N = 8
ROUNDS = 3
PROMPT = " ".join(["Once upon a time there was a little dog who liked to run in the park."] * 16)


def body(seed: int, n: int) -> dict:
    return {"prompt": PROMPT, "max_tokens": 8, "temperature": 1, "seed": seed, "n": n,
            "cache_prompt": False}


def shared(port: int) -> tuple[float, float, int]:
    """One request of N choices: wall seconds, prompt ms, prompt tokens."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.perf_counter()
    r = post(c, "/v1/completions", body(1, N))
    dt = time.perf_counter() - t0
    c.close()
    return dt, r["timings"]["prompt_ms"], r["usage"]["prompt_tokens"]


def separate(port: int) -> tuple[float, float]:
    """N requests at once, each evaluating the prompt: wall seconds, summed prompt ms."""
    conns = open_conns(port, N)
    ms = [0.0] * N

    def run(i: int) -> None:
        ms[i] = post(conns[i], "/v1/completions", body(1 + i, 1))["timings"]["prompt_ms"]

    dt = run_together(run, N)
    for c in conns:
        c.close()
    return dt, sum(ms)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--elf", type=Path)
    ap.add_argument("--model", type=Path, default=ROOT.parent / "shared" / "models" / "stories260K.gguf")
    args = ap.parse_args()
    elf = args.elf or build(config.from_env()).elf
    port = free_port()
    spec = qemu.QemuSpec(elf=elf, memory_mib=256, nic="e1000", host_port=port,
                         modules=(qemu.Module(args.model, "model"),))
    one: list[tuple[float, float, int]] = []
    many: list[tuple[float, float]] = []
    with qemu.Qemu(spec) as vm:
        vm.wait_for_line("cllm: ready", 120)
        for _ in range(ROUNDS):
            one.append(shared(port))
            many.append(separate(port))
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                         text=True, check=False).stdout.strip()
    wall_one = statistics.median(x[0] for x in one)
    wall_many = statistics.median(x[0] for x in many)
    pms_one = statistics.median(x[1] for x in one)
    pms_many = statistics.median(x[1] for x in many)
    print("```")
    print(f"command: .venv/bin/python bench/share_bench.py (tree: {rev}), model {args.model.name}, "
          f"prompt {one[0][2]} tokens, 8 tokens a choice, median of {ROUNDS}")
    print(f"machine: {platform.processor() or platform.machine()}, QEMU TCG")
    print("```\n")
    print(f"| measure | n = {N} choices, prompt shared | {N} requests, each its own prompt | ratio |")
    print("|---|---|---|---|")
    print(f"| wall time | {wall_one * 1000:.0f} ms | {wall_many * 1000:.0f} ms | "
          f"{wall_one / wall_many:.2f} |")
    print(f"| prompt evaluation (kernel timings, summed) | {pms_one:.0f} ms | {pms_many:.0f} ms | "
          f"{pms_one / pms_many:.2f} |")


if __name__ == "__main__":
    main()
