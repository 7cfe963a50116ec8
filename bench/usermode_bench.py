"""What the kernel costs: the engine in the kernel under QEMU against the same engine as a
Linux i386 user-mode program under qemu-i386, both under TCG, one CPU, same model,
prompt and token count, measured side by side in one run.

1. The kernel: `cllm run --accel tcg --smp 1` in console mode (a text prompt, batched,
   then greedy generation), rates from its `cllm: timings:` line (the kernel clock).
2. User mode: bench/usermode_gen.c (console mode over the same kernel/llm sources and
   tests/host/port_host.c) built as a static x86-linux-musl binary with the kernel's
   compiler (zig cc) and flags (cllm_build/steps/compile.py: -O2, x87 code for a
   Pentium, SSE2 for the *_sse2.c files) and the kernel's float functions
   (kernel/lib/math.c), run under qemu-i386 with the same CPU model; rates from the
   same timings line, measured with the C library's monotonic clock.

The two run alternately, one of each per round; the table gives the medians, the
median of the per-round ratios (kernel / user mode: 1.0 means the kernel costs nothing)
and the ratio of the two sides' best rounds. On a machine shared with other work, run it
under `nice -n -20` (both sides inherit it) so that the other work disturbs it less.

Run: .venv/bin/python bench/usermode_bench.py [--runs N] [--kernel ELF] [--cpu MODEL] MODEL...
Prints a Markdown table, the command line and the machine's CPU model and SIMD flags.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from llm_harness import LLM_SOURCES
from smp_bench import PROMPT, TIMINGS, machine
from test_console_host import TOK_SOURCES

from cllm_build import tools
from cllm_build.steps.compile import BASE_CPU, C_FLAGS, SIMD_CPU

TARGET = "x86-linux-musl"
# The kernel's own float functions (kernel/lib/math.c, x87) replace the C library's, so
# both sides compute the same numbers and give the same greedy answer.
SOURCES = LLM_SOURCES + TOK_SOURCES + ["kernel/lib/math.c", "bench/usermode_gen.c",
                                       "tests/host/port_host.c"]


def build(out_dir: Path) -> Path:
    """The user-mode binary, compiled file by file as the kernel compiles them (even
    -ffreestanding, which keeps the compiler from replacing calls such as sqrtf by
    instructions of its own, as in the kernel), once per content hash."""
    flags = C_FLAGS + ["-DCLLM_HOST", "-I", "kernel/include", "-I", "kernel"]
    h = hashlib.sha256(" ".join(flags).encode())
    for f in SOURCES + sorted(str(p.relative_to(ROOT)) for p in (ROOT / "kernel").rglob("*.h")):
        h.update((ROOT / f).read_bytes())
    exe = out_dir / f"usermode_gen-{h.hexdigest()[:12]}"
    if exe.exists():
        return exe
    obj_dir = out_dir / "usermode-obj"
    obj_dir.mkdir(parents=True, exist_ok=True)
    zig = tools.zig_command()
    objs = []
    for src in SOURCES:
        cpu = SIMD_CPU if Path(src).stem.endswith("_sse2") else BASE_CPU
        obj = obj_dir / (src.replace("/", "_") + ".o")
        tools.run([*zig, "cc", "-target", TARGET, f"-mcpu={cpu}", *flags, "-c", src, "-o", str(obj)],
                  what=f"compiling {src} for {TARGET}", cwd=ROOT)
        objs.append(str(obj))
    tools.run([*zig, "cc", "-target", TARGET, f"-mcpu={BASE_CPU}", "-static", *objs, "-o", str(exe), "-lm"],
              what="linking usermode_gen", cwd=ROOT)
    return exe


def rates(text: str, what: str) -> dict[str, float]:
    m = TIMINGS.search(text)
    if not m:
        raise RuntimeError(f"{what}: no timings line in:\n{text[-1500:]}")
    return {"n_prompt": float(m.group(1)), "prompt": float(m.group(2)), "gen": float(m.group(4))}


def kernel_once(python: str, elf: Path, model: Path, cpu: str, n_gen: int) -> tuple[dict[str, float], str]:
    cmd = [python, "-m", "cllm_build", "run", str(elf), "--accel", "tcg", "--smp", "1", "--cpu", cpu,
           "--model", str(model), "--prompt", PROMPT, "-n", str(n_gen), "--temperature", "0",
           "--timeout", "3000"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=3300, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"kernel failed ({proc.returncode}): {proc.stderr[-1500:]}")
    return rates(proc.stderr, "kernel"), proc.stdout


def user_once(exe: Path, model: Path, cpu: str, n_gen: int) -> tuple[dict[str, float], str]:
    cmd = ["qemu-i386", "-cpu", cpu, str(exe), str(model), PROMPT, str(n_gen)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=3300)
    if proc.returncode != 0:
        raise RuntimeError(f"user mode failed ({proc.returncode}): {proc.stderr[-1500:]}")
    return rates(proc.stderr, "user mode"), proc.stdout


def compare(python: str, elf: Path, exe: Path, model: Path, cpu: str, n_gen: int,
            runs: int) -> dict[str, dict[str, float]]:
    """Medians of `runs` alternating rounds, and the median per-round ratios ("ratio")."""
    got: dict[str, list[dict[str, float]]] = {"kernel": [], "user": []}
    for _ in range(runs):
        k, k_text = kernel_once(python, elf, model, cpu, n_gen)
        u, u_text = user_once(exe, model, cpu, n_gen)
        if k_text != u_text:  # the same engine: the same greedy continuation
            raise RuntimeError(f"the answers differ:\nkernel: {k_text!r}\nuser:   {u_text!r}")
        got["kernel"].append(k)
        got["user"].append(u)
    med = {side: {key: statistics.median(r[key] for r in rs) for key in rs[0]} for side, rs in got.items()}
    med["ratio"] = {key: statistics.median(k[key] / u[key] for k, u in zip(got["kernel"], got["user"]))
                    for key in ("prompt", "gen")}
    # The best round of each side: on a machine shared with other work, the run least
    # slowed down by it.
    med["best"] = {key: max(r[key] for r in got["kernel"]) / max(r[key] for r in got["user"])
                   for key in ("prompt", "gen")}
    return med


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", type=Path, nargs="+")
    ap.add_argument("--runs", type=int, default=3, help="alternating rounds (median)")
    ap.add_argument("--gen-tokens", type=int, default=64)
    ap.add_argument("--kernel", type=Path, default=ROOT / "build" / "cllm.elf")
    ap.add_argument("--cpu", default="qemu32", help="QEMU CPU model of both (SSE2: qemu32)")
    ap.add_argument("--python", default=sys.executable,
                    help="Python with the toolchain's packages, for `cllm run`")
    args = ap.parse_args()
    if shutil.which("qemu-i386") is None:
        sys.exit("qemu-i386 is missing: apt-get install qemu-user")
    exe = build(ROOT / "build" / "bench")
    print("| model | kernel prompt / gen tok/s | user mode prompt / gen tok/s | ratio prompt | ratio gen "
          "| best / best prompt | best / best gen |")
    print("|---|---|---|---|---|---|---|")
    for model in args.models:
        r = compare(args.python, args.kernel, exe, model, args.cpu, args.gen_tokens, args.runs)
        k, u = r["kernel"], r["user"]
        print(f"| {model.name} ({int(k['n_prompt'])}-token prompt, {args.gen_tokens} generated) "
              f"| {k['prompt']:.1f} / {k['gen']:.1f} | {u['prompt']:.1f} / {u['gen']:.1f} "
              f"| {r['ratio']['prompt']:.2f}x | {r['ratio']['gen']:.2f}x "
              f"| {r['best']['prompt']:.2f}x | {r['best']['gen']:.2f}x |", flush=True)
    qv = subprocess.run(["qemu-i386", "--version"], capture_output=True, text=True, check=False)
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                         text=True, check=False).stdout.strip()
    print(f"\ncommand: bench/usermode_bench.py {' '.join(sys.argv[1:])}")
    print(f"tree {rev}; {qv.stdout.splitlines()[0] if qv.stdout else 'qemu-i386'}, -cpu {args.cpu}; "
          f"machine: {machine()}; medians of {args.runs} alternating rounds")


if __name__ == "__main__":
    main()
