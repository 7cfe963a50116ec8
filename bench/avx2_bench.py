"""AVX2 benchmark: what the AVX2 kernel set (kernel/llm/*_avx2.c) buys over the SSE2
one, measured side by side in one run.

1. The host build (tests/host/llm_main.c, -O2 -march=native, one thread) with
   `--avx2` and without (the SSE2 set), prompt (one batch) and generation, timed by
   the harness's own clock; the two alternate, one run of each per round.
2. The kernel under QEMU (TCG) with `-cpu max` (AVX2 chosen at boot) and `-cpu
   max,-avx2` (the same CPU model without AVX2: the SSE2 set), console mode (a text
   prompt, batched, then greedy tokens), timed by the kernel's `cllm: timings:` line;
   alternating boots. TCG emulates the vector instructions, so this ratio says how
   QEMU runs them, not how a CPU would.

With --before DIR the host rows compare this checkout's harness with the one built from
the checkout DIR (the tree before a change), each with the AVX2 set and with the SSE2
set, alternating; --kv-f16 keeps the KV cache in halves, as the kernel does.

The table gives medians of the runs and the median of the per-round ratios.
Run: .venv/bin/python bench/avx2_bench.py [--runs N] [--kernel ELF] [--kernel-model M] MODEL...
     .venv/bin/python bench/avx2_bench.py --before DIR [--kv-f16] [--prompt N] MODEL...
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

import llm_bench
import smp_bench
from hostcc import host_binary

Rates = dict[str, float]


def harness(tree: Path) -> Path:
    """The host harness (-O2 -march=native) built from the sources of checkout `tree`,
    by that checkout's own build code, into tree/build."""
    tree = tree.resolve()
    if tree == ROOT:
        return host_binary("llm_main_fast", llm_bench.SOURCES, sanitize=False)
    code = ("import sys; sys.path[:0] = ['tests', 'bench']; import llm_bench; from hostcc import host_binary; "
            "print(host_binary('llm_main_fast', llm_bench.SOURCES, sanitize=False))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tree, capture_output=True, text=True, check=True,
                         env={**os.environ, "CLLM_BUILD_DIR": str(tree / "build")}).stdout
    return Path(out.strip().splitlines()[-1])


def host_once(model: Path, avx2: bool, n_prompt: int, n_gen: int, tree: Path = ROOT,
              kv_f16: bool = False) -> Rates:
    exe = harness(tree)
    vocab = int(subprocess.run([str(exe), str(model), "info"], capture_output=True, text=True,
                               check=True).stdout.split("vocab ")[1].split()[0])
    cmd = ([str(exe), "--batch"] + (["--avx2"] if avx2 else []) + (["--kv-f16"] if kv_f16 else [])
           + [str(model), "bench", str(n_gen)])
    out = subprocess.run(cmd + [str(t) for t in llm_bench.prompt_ids(n_prompt, vocab)],
                         capture_output=True, text=True, check=True).stdout
    m = llm_bench._BENCH.search(out)
    if not m or m.group(5) != ("avx2" if avx2 else "sse2"):
        raise RuntimeError(f"unexpected harness output: {out}")
    return {"prompt": int(m.group(1)) / (float(m.group(2)) / 1e3), "gen": int(m.group(3)) / (float(m.group(4)) / 1e3)}


def kernel_once(python: str, elf: Path, model: Path, cpu: str, n_gen: int) -> Rates:
    cmd = [python, "-m", "cllm_build", "run", str(elf), "--accel", "tcg", "--smp", "1", "--cpu", cpu,
           "--model", str(model), "--prompt", smp_bench.PROMPT, "-n", str(n_gen), "--temperature", "0",
           "--timeout", "3000"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=3300, cwd=ROOT)
    m = smp_bench.TIMINGS.search(proc.stderr)
    if proc.returncode != 0 or not m:
        raise RuntimeError(f"kernel on -cpu {cpu} failed ({proc.returncode}): {proc.stderr[-1500:]}")
    return {"prompt": float(m.group(2)), "gen": float(m.group(4))}


def side_by_side(runs: int, once_a, once_b) -> tuple[Rates, Rates, Rates]:  # type: ignore[no-untyped-def]
    """Medians of `runs` alternating rounds of a and b, and the median a/b ratios."""
    a_runs, b_runs = [], []
    for _ in range(runs):
        a_runs.append(once_a())
        b_runs.append(once_b())
    med = [{k: statistics.median(r[k] for r in rs) for k in ("prompt", "gen")} for rs in (a_runs, b_runs)]
    ratio = {k: statistics.median(a[k] / b[k] for a, b in zip(a_runs, b_runs)) for k in ("prompt", "gen")}
    return med[0], med[1], ratio


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="*", type=Path, help="GGUF models for the host comparison")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--prompt", type=int, default=128, help="host prompt tokens")
    ap.add_argument("--gen", type=int, default=64, help="generated tokens")
    ap.add_argument("--kernel", type=Path, help="kernel ELF for the QEMU comparison")
    ap.add_argument("--kernel-model", type=Path, help="model for the QEMU comparison")
    ap.add_argument("--kernel-runs", type=int, default=2)
    ap.add_argument("--kernel-gen", type=int, default=16)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--before", type=Path, help="checkout to compare this one's host build with")
    ap.add_argument("--kv-f16", action="store_true", help="host: the KV cache in halves")
    args = ap.parse_args()
    print(f"machine: {smp_bench.machine()}")
    if args.before:
        before_after(args)
        return
    print("| model | measure | AVX2 tok/s | SSE2 tok/s | AVX2 / SSE2 |")
    print("|---|---|---|---|---|")
    for model in args.models:
        a, b, r = side_by_side(args.runs, lambda m=model: host_once(m, True, args.prompt, args.gen, kv_f16=args.kv_f16),
                               lambda m=model: host_once(m, False, args.prompt, args.gen, kv_f16=args.kv_f16))
        for k, what in (("prompt", f"host, prompt ({args.prompt} tokens)"), ("gen", "host, generation")):
            print(f"| {model.name} | {what} | {a[k]:.1f} | {b[k]:.1f} | {r[k]:.2f}x |", flush=True)
    if args.kernel and args.kernel_model:
        km = args.kernel_model
        a, b, r = side_by_side(args.kernel_runs,
                               lambda: kernel_once(args.python, args.kernel, km, "max", args.kernel_gen),
                               lambda: kernel_once(args.python, args.kernel, km, "max,-avx2", args.kernel_gen))
        for k, what in (("prompt", "kernel QEMU TCG, prompt"), ("gen", "kernel QEMU TCG, generation")):
            print(f"| {km.name} | {what} | {a[k]:.2f} | {b[k]:.2f} | {r[k]:.2f}x |", flush=True)


def before_after(args: argparse.Namespace) -> None:
    """This checkout's host build against the one of args.before, per model and set."""
    kv = "F16" if args.kv_f16 else "F32"
    print(f"| model | set | measure (KV {kv}) | after tok/s | before tok/s | after / before |")
    print("|---|---|---|---|---|---|")
    for model in args.models:
        for avx2 in (True, False):
            a, b, r = side_by_side(
                args.runs,
                lambda m=model, v=avx2: host_once(m, v, args.prompt, args.gen, ROOT, args.kv_f16),
                lambda m=model, v=avx2: host_once(m, v, args.prompt, args.gen, args.before, args.kv_f16))
            gen = f"generation ({args.gen} tokens after {args.prompt})"
            for k, what in (("prompt", f"prompt ({args.prompt} tokens)"), ("gen", gen)):
                print(f"| {model.name} | {'AVX2' if avx2 else 'SSE2'} | {what} | {a[k]:.1f} | {b[k]:.1f} "
                      f"| {r[k]:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
