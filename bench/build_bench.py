"""Build benchmark: image size, clean build, no-change rebuild and one-file-change rebuild.

Run by `make bench` (or directly: .venv/bin/python bench/build_bench.py [--runs N]).
Builds a snapshot of the committed tree (`git archive HEAD kernel boot`) in a
temporary directory, so the numbers describe a commit and not a work in progress
(`--source DIR` builds another tree). Prints medians of N runs as Markdown rows for
BENCHMARKS.md, with the command and the machine. Relies on cllm_build only.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cllm_build import config
from cllm_build.build import build
from cllm_build.errors import CllmError

EDITED_FILE = "kernel/init/main.c"  # the one file touched for the one-file-change rebuild


def snapshot(dest: Path, rev: str) -> Path:
    """The committed kernel/ and boot/ of `rev`, unpacked under `dest`."""
    dest.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "kernel", "boot"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def timed(cfg: config.BuildConfig) -> tuple[float, int, int]:
    """(seconds, units compiled, image bytes) of one build."""
    t0 = time.perf_counter()
    res = build(cfg)
    return time.perf_counter() - t0, res.compiled, res.size


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, {platform.system()}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="runs per measurement (median reported)")
    ap.add_argument("--rev", default="HEAD", help="commit whose tree is built (default: HEAD)")
    ap.add_argument("--source", type=Path, default=None, help="tree to build instead of a commit")
    ap.add_argument("--cc", choices=config.COMPILERS, default="zig")
    args = ap.parse_args()
    if args.runs < 1:
        ap.error(f"--runs must be at least 1, got {args.runs}")
    try:
        return run(args)
    except CllmError as exc:
        print(f"build_bench: the build failed: {exc}", file=sys.stderr)
        return 1


def run(args: argparse.Namespace) -> int:
    # Resolve the commit once, first: HEAD may move while the builds run.
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.rev], capture_output=True,
                         text=True, check=True).stdout.strip() if args.source is None else str(args.source)

    with tempfile.TemporaryDirectory(prefix="cllm-bench-") as tmp:
        src = snapshot(Path(tmp) / "src", rev) if args.source is None else args.source.resolve()
        edited = src / EDITED_FILE
        original = edited.read_bytes()
        clean, nochange, onefile = [], [], []
        images: set[bytes] = set()
        units = size = 0
        try:
            for i in range(args.runs):
                cfg = config.BuildConfig(root=src, build_dir=Path(tmp) / f"build{i}", cc=args.cc)
                secs, units, size = timed(cfg)
                clean.append(secs)
                images.add(cfg.elf.read_bytes())  # each clean build in its own directory
                secs, compiled, _ = timed(cfg)
                assert compiled == 0, f"no-change rebuild compiled {compiled} units"
                nochange.append(secs)
                edited.write_bytes(original + f"\n/* bench edit {i} */\n".encode())
                secs, compiled, _ = timed(cfg)
                assert compiled == 2, f"one-file change compiled {compiled} units (want it + buildinfo)"
                onefile.append(secs)
                edited.write_bytes(original)
                shutil.rmtree(cfg.build_dir)
        finally:
            edited.write_bytes(original)

    med = statistics.median
    print(f"command: .venv/bin/python bench/build_bench.py --runs {args.runs} --cc {args.cc} (tree: {rev})")
    print(f"machine: {machine()}")
    print()
    print("| measurement | value |")
    print("|---|---|")
    print(f"| image size (cllm.elf, no embedded model) | {size} bytes ({size / 1024:.1f} KiB) |")
    print(f"| clean build ({units} units) | {med(clean):.2f} s |")
    print(f"| no-change rebuild (0 units compiled) | {med(nochange):.2f} s |")
    print(f"| one-file change ({EDITED_FILE}: 2 units compiled) | {med(onefile):.2f} s |")
    same = "byte-identical" if len(images) == 1 else f"{len(images)} different images"
    print(f"| clean builds in {args.runs} different directories | {same} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
