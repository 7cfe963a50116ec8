"""Coverage-guided fuzzing of the portable kernel code with libFuzzer.

Each target is one C file in tests/fuzz/ built with clang's libFuzzer, AddressSanitizer
and UndefinedBehaviorSanitizer (float-cast-overflow included, which gcc's UBSan does
not check) against the same kernel sources as the host tests. Seeds are committed in
tests/fuzz/corpus/<target>/ (written by tests/fuzz/make_seeds.py); every input that
once crashed a target is committed in tests/fuzz/regress/<target>/ and replayed first.

    python tests/fuzzing.py [--seconds S | --runs N] [TARGET...]

`make fuzz` runs every target for FUZZ_SECONDS (default 300) each; `make test` runs
tests/test_fuzz.py, which replays the regressions and runs each target for a short
fixed number of executions. A run prints one line per target: executions, edges
covered, corpus size, crashes. New corpus entries go to build/fuzz/corpus/<target>
(never into the repository); a crash leaves its input in build/fuzz/crashes/.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUZZ_DIR = ROOT / "tests" / "fuzz"
PORT_HOST = ROOT / "tests" / "host" / "port_host.c"
SHARED_MODELS = ROOT.parent / "shared" / "models"

FLAGS = ["-std=c11", "-O1", "-g", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter",
         "-DCLLM_HOST", "-I", str(ROOT / "kernel" / "include"), "-I", str(ROOT / "kernel"),
         "-fsanitize=fuzzer,address,undefined,float-cast-overflow", "-fno-sanitize-recover=all",
         "-fno-omit-frame-pointer"]

def llm_sources() -> list[str]:
    """Kernel sources of the model path (the host harness's list) and the tokenizer."""
    from llm_harness import LLM_SOURCES, TOKENIZER_SOURCES

    return [str(x) for x in LLM_SOURCES] + TOKENIZER_SOURCES


def tokenizer_sources() -> list[str]:
    from llm_harness import TOKENIZER_SOURCES

    return TOKENIZER_SOURCES


def net_sources() -> list[str]:
    """Every portable network source (all of kernel/net but the kernel glue)."""
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / "kernel" / "net").glob("*.c")
                  if p.name != "net_boot.c")


@dataclass(frozen=True)
class Target:
    name: str
    sources: tuple[str, ...]
    max_len: int        # bytes of one input
    env: tuple[tuple[str, str], ...] = ()


def server_sources() -> tuple[str, ...]:
    """The host HTTP harness's sources with the real engine, less its script driver."""
    from http_support import ENGINE_SOURCES, HTTP_SOURCES

    return tuple(str(s) for s in [*HTTP_SOURCES, *ENGINE_SOURCES] if "http_main.c" not in str(s))


def targets() -> dict[str, Target]:
    vocabs = ":".join(str(SHARED_MODELS / f)
                      for f in ("ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf"))
    return {t.name: t for t in [
        Target("http", ("kernel/http/http_parse.c",), 16384),
        Target("json", ("kernel/http/json_read.c", "kernel/http/json_write.c",
                        "kernel/http/hbuf.c"), 8192),
        Target("chat", ("kernel/llm/chat.c", "kernel/llm/gguf.c", *tokenizer_sources()), 4096),
        Target("tokenizer", ("kernel/llm/gguf.c", *tokenizer_sources()), 1025,
               (("CLLM_FUZZ_VOCABS", vocabs),)),
        Target("gguf", tuple(llm_sources()), 65536),
        Target("llama2c", tuple(llm_sources()), 65536),
        Target("net", tuple(net_sources()), 8192),
        Target("server", server_sources(), 8192,
               (("CLLM_FUZZ_MODEL", str(FUZZ_DIR / "corpus" / "gguf" / "tiny-Q8_0.gguf")),)),
    ]}


class FuzzError(Exception):
    pass


def compiler() -> str:
    cc = os.environ.get("CLLM_FUZZ_CC") or shutil.which("clang")
    if not cc:
        raise FuzzError("clang not found: libFuzzer needs clang (apt-get install clang)")
    return cc


def build_dir() -> Path:
    return Path(os.environ.get("CLLM_BUILD_DIR", ROOT / "build")) / "fuzz"


def build(t: Target) -> Path:
    """Compile the target once per content hash; returns the executable."""
    from hostcc import cached_build

    srcs = [FUZZ_DIR / f"fuzz_{t.name}.c", *(ROOT / s for s in t.sources), PORT_HOST]
    try:
        return cached_build(build_dir(), f"fuzz_{t.name}", compiler(), FLAGS, srcs)
    except RuntimeError as e:
        raise FuzzError(str(e)) from e


@dataclass
class Result:
    target: str
    ok: bool
    execs: int
    cov: int
    corpus: int
    seconds: float
    log: str


STAT = re.compile(r"#(\d+)\s+\w+\s+cov: (\d+).*?corp: (\d+)")
DONE = re.compile(r"Done (\d+) runs in (\d+) second")
INTERRUPTED = 72  # libFuzzer's exit status after SIGINT (-interrupted_exitcode)


def run(t: Target, *, runs: int | None = None, seconds: int | None = None,
        seed: int = 1) -> Result:
    """Replay the committed regressions, then fuzz from the seeds for `runs` executions
    or `seconds` seconds."""
    exe = build(t)
    env = dict(os.environ, **dict(t.env))
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    regress = FUZZ_DIR / "regress" / t.name
    if regress.is_dir() and any(regress.iterdir()):
        files = sorted(str(p) for p in regress.iterdir() if p.is_file())
        proc = subprocess.run([str(exe), *files], capture_output=True, text=True, env=env,
                              check=False, timeout=600)
        if proc.returncode != 0:
            return Result(t.name, False, 0, 0, 0, 0.0, proc.stdout + proc.stderr)
    work = build_dir() / "corpus" / t.name
    crashes = build_dir() / "crashes"
    work.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(parents=True, exist_ok=True)
    limit = [f"-runs={runs}"] if runs is not None else [f"-max_total_time={seconds or 60}"]
    cmd = [str(exe), *limit, f"-seed={seed}", f"-max_len={t.max_len}", "-timeout=20",
           "-rss_limit_mb=2048", "-malloc_limit_mb=1024", "-print_final_stats=1",
           f"-artifact_prefix={crashes}/{t.name}-", str(work), str(FUZZ_DIR / "corpus" / t.name)]
    # a bound for a hung target: the time asked for, or for runs a generous rate floor
    bound = (seconds or 0) + 900 if runs is None else runs / 200 + 900
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False,
                          timeout=bound)
    elapsed = time.monotonic() - start
    log = proc.stdout + proc.stderr
    # SIGINT to the fuzzer ends a long run early: its figures so far, no crash
    ok = proc.returncode == 0 or (proc.returncode == INTERRUPTED and "run interrupted" in log)
    stats = STAT.findall(log)
    execs, cov, corp = (int(x) for x in stats[-1]) if stats else (0, 0, 0)
    done = DONE.search(log)
    if done:
        execs = int(done.group(1))
    final = re.search(r"stat::number_of_executed_units: (\d+)", log)
    if final:
        execs = int(final.group(1))
    return Result(t.name, ok, execs, cov, corp, elapsed, log)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("targets", nargs="*", help="targets to run (default: all)")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--seconds", type=int, help="fuzz each target this long")
    g.add_argument("--runs", type=int, help="fuzz each target for this many executions")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    all_targets = targets()
    names = args.targets or list(all_targets)
    unknown = [n for n in names if n not in all_targets]
    if unknown:
        ap.error(f"unknown target(s) {', '.join(unknown)}; choose from {', '.join(all_targets)}")
    failed = 0
    print("| target | executions | seconds | edges covered | corpus | crashes |")
    print("|---|---|---|---|---|---|")
    for n in names:
        try:
            r = run(all_targets[n], runs=args.runs, seconds=args.seconds, seed=args.seed)
        except FuzzError as e:
            print(f"fuzzing: {e}", file=sys.stderr)
            return 3
        print(f"| {n} | {r.execs} | {r.seconds:.0f} | {r.cov} | {r.corpus} | "
              f"{0 if r.ok else 1} |", flush=True)
        if not r.ok:
            failed += 1
            print(r.log[-6000:], file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
