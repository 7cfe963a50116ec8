"""SMP benchmark: what the forward pass's split across CPUs (kernel/llm/ops_par.c)
buys, measured side by side in one run.

1. The kernel under QEMU (TCG, multi-threaded: each guest CPU is a host thread) with
   `--smp 2` and `--smp 1`, console mode (a prompt of text, batched, then greedy
   generation), timed by the kernel's clock (its `cllm: timings:` line). The two CPU
   counts run alternately, one boot of each per round; the table gives the medians
   and the median of the per-round ratios.
2. The host build (llm_main --threads N) and llama.cpp (llama-cpp-python, n_threads =
   n_threads_batch = N) at 1 and 2 threads, prompt and generation, through
   bench/peer_llamacpp.py's alternating rounds.

Run: .venv/bin/python bench/smp_bench.py [--runs N] [--kernel ELF] MODEL
(MODEL e.g. from `cllm synth --shape stories110M --type Q8_0 --tokenizer tokenizer.bin`).
Prints a Markdown table, the command line and the machine's CPU model and SIMD flags.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import peer_llamacpp

# Text of about 128 tokens for the kernel's console-mode prompt.
PROMPT = (
    "Once upon a time, in a small village at the edge of a great forest, there lived a girl named Lily. "
    "Every morning she walked to the river with her little dog to fetch water for her mother. One day "
    "she saw a strange light between the trees, and she wondered where it came from. She put down her "
    "bucket and followed the light deeper into the forest, past the old oak tree and the mossy stones, "
    "until she reached a clearing full of flowers she had never seen before. In the middle stood a tiny "
    "house with a red door and a round window, and smoke rose from its chimney."
)
PROFILE = re.compile(r"cllm: batch profile: (.*)")
TIMINGS = re.compile(r"cllm: timings: prompt (\d+) tokens ([\d.]+) tok/s, generation (\d+) tokens ([\d.]+) tok/s")
SIMD_FLAGS = ("sse2", "ssse3", "sse4_1", "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw",
              "avx512vnni", "avx_vnni")


def machine() -> str:
    """CPU model, logical CPUs and the SIMD flags of this machine (Linux /proc/cpuinfo)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    model = re.search(r"^model name\s*:\s*(.*)$", info, re.MULTILINE)
    flags = re.search(r"^flags\s*:\s*(.*)$", info, re.MULTILINE)
    have = set(flags.group(1).split()) if flags else set()
    n = len(re.findall(r"^processor\s*:", info, re.MULTILINE))
    simd = " ".join(f for f in SIMD_FLAGS if f in have)
    return f"{model.group(1) if model else '?'}, {n} logical CPUs, flags: {simd}"


def descendants(pid: int) -> list[int]:
    """Processes below `pid` (Linux /proc), children before grandchildren."""
    parent: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            parent[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    out, todo = [], [pid]
    while todo:
        p = todo.pop(0)
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out


def qemu_schedstat(pid: int) -> dict[int, tuple[int, int]]:
    """Host scheduler figures of the threads of the QEMU process below `pid` (its guest
    CPUs, main loop and helpers: QEMU names them all alike unless asked otherwise): per
    thread id, nanoseconds on a host core and nanoseconds waiting in a run queue
    (/proc/PID/task/TID/schedstat)."""
    got: dict[int, tuple[int, int]] = {}
    for q in descendants(pid):
        try:
            if not Path(f"/proc/{q}/comm").read_text().startswith("qemu-system"):
                continue
            for t in Path(f"/proc/{q}/task").iterdir():
                run_ns, wait_ns = (t / "schedstat").read_text().split()[:2]
                got[int(t.name)] = (int(run_ns), int(wait_ns))
        except OSError:
            continue
    return got


def kernel_once(python: str, elf: Path, model: Path, cpus: int, n_gen: int) -> dict[str, float]:
    """One boot in console mode on `cpus` CPUs: prompt and generation tok/s, the
    kernel's batch profile line, and what the host gave QEMU's threads over the whole
    run (seconds on a core and seconds waiting for one, all threads together; sampled
    every half second, so the last half second may be missing)."""
    cmd = [python, "-m", "cllm_build", "run", str(elf), "--accel", "tcg", "--smp", str(cpus),
           "--model", str(model), "--prompt", PROMPT, "-n", str(n_gen), "--temperature", "0",
           "--timeout", "3000"]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    sched: dict[int, tuple[int, int]] = {}
    while True:
        try:
            _, stderr = proc.communicate(timeout=0.5)
            break
        except subprocess.TimeoutExpired:
            sched.update(qemu_schedstat(proc.pid))
            if time.monotonic() - t0 > 3300:
                proc.kill()
    wall = time.monotonic() - t0
    m = TIMINGS.search(stderr)
    if proc.returncode != 0 or not m:
        raise RuntimeError(f"kernel on {cpus} CPUs failed ({proc.returncode}): {stderr[-1500:]}")
    prof = PROFILE.search(stderr)
    if prof:
        print(f"  --smp {cpus}: batch profile: {prof.group(1)}", flush=True)
    return {"n_prompt": float(m.group(1)), "prompt": float(m.group(2)), "gen": float(m.group(4)),
            "wall": wall, "ran": sum(r for r, _ in sched.values()) / 1e9,
            "waited": sum(w for _, w in sched.values()) / 1e9, "load": os.getloadavg()[0]}


def kernel_smp(python: str, elf: Path, model: Path, n_gen: int, runs: int,
               base: Path | None = None) -> dict[int, dict[str, float]]:
    """Medians of `runs` rounds of --smp 1 and --smp 2 (alternating), with the
    median per-round ratios under key 0; with `base` (another kernel), that kernel's
    --smp 2 in each round as well, under key -2, its ratios to the same round's
    --smp 1 under key -1 (for a change that leaves one CPU's path as it was)."""
    runs_of = [(1, elf), (2, elf)] + ([(-2, base)] if base else [])
    got: dict[int, list[dict[str, float]]] = {c: [] for c, _ in runs_of}
    for _ in range(runs):
        for key, kernel in runs_of:
            got[key].append(kernel_once(python, kernel, model, abs(key), n_gen))
    for key, kernel in runs_of:
        for r in got[key]:
            print(f"  {kernel.name} --smp {abs(key)}: prompt {r['prompt']:.2f} tok/s, generation "
                  f"{r['gen']:.2f} tok/s; {r['wall']:.0f} s, QEMU's threads on a host core "
                  f"{r['ran']:.0f} s and waiting in a host run queue {r['waited']:.0f} s; load "
                  f"average {r['load']:.1f} at its end", flush=True)
    med = {c: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for c, rs in got.items()}
    for key, two in ((0, 2), (-1, -2)):
        if two in got:
            med[key] = {k: statistics.median(b[k] / a[k] for a, b in zip(got[1], got[two]))
                        for k in ("prompt", "gen")}
    return med


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--runs", type=int, default=3, help="rounds per comparison (median)")
    ap.add_argument("--prompt-tokens", type=int, default=128, help="host and llama.cpp prompt")
    ap.add_argument("--gen-tokens", type=int, default=32)
    ap.add_argument("--kernel", type=Path, default=None, help="kernel ELF for the QEMU rows")
    ap.add_argument("--kernel-base", type=Path, default=None,
                    help="a second kernel ELF (e.g. before a change) whose --smp 2 runs in each round "
                         "too, against the same round's --smp 1 of --kernel")
    ap.add_argument("--kernel-gen-tokens", type=int, default=16)
    ap.add_argument("--python", default=sys.executable,
                    help="Python with the toolchain's packages, for `cllm run` (the kernel rows)")
    ap.add_argument("--no-host", action="store_true", help="only the kernel rows")
    args = ap.parse_args()
    name = args.model.name
    print("| model | comparison | prompt tok/s (a / b) | gen tok/s (a / b) | ratio prompt | ratio gen |")
    print("|---|---|---|---|---|---|")
    if args.kernel is not None:
        k = kernel_smp(args.python, args.kernel, args.model, args.kernel_gen_tokens, args.runs,
                       args.kernel_base)
        rows = [(args.kernel.name, 2, 0)] + ([(args.kernel_base.name, -2, -1)] if args.kernel_base else [])
        for label, two, ratio in rows:
            print(f"| {name} | kernel {label} QEMU TCG --smp 2 / --smp 1 ({int(k[1]['n_prompt'])}-token "
                  f"prompt) | {k[two]['prompt']:.2f} / {k[1]['prompt']:.2f} | {k[two]['gen']:.2f} / "
                  f"{k[1]['gen']:.2f} | {k[ratio]['prompt']:.2f}x | {k[ratio]['gen']:.2f}x |", flush=True)
    for threads in () if args.no_host else (1, 2):
        host, peer, ops = peer_llamacpp.host_and_peer(args.model, args.prompt_tokens, args.gen_tokens,
                                                      args.runs, threads)
        if peer is None:
            print(f"| {name} | host ({ops}) {threads} thr, llama.cpp not installed | {host['prompt']:.1f} "
                  f"| {host['gen']:.1f} | - | - |")
            continue
        print(f"| {name} | host ({ops}) / llama.cpp, {threads} thread{'s' if threads > 1 else ''} "
              f"({args.prompt_tokens}-token prompt) | {host['prompt']:.1f} / {peer['prompt']:.1f} "
              f"| {host['gen']:.1f} / {peer['gen']:.1f} | {peer['ratio_prompt']:.2f}x "
              f"| {peer['ratio_gen']:.2f}x |", flush=True)
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                         text=True, check=False).stdout.strip()
    print(f"\ncommand: bench/smp_bench.py {' '.join(sys.argv[1:])}")
    print(f"tree {rev}; machine: {machine()}; medians of {args.runs} alternating rounds")


if __name__ == "__main__":
    main()
