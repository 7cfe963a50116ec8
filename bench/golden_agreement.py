"""How far two greedy runs of the same model agree: llama.cpp's goldens (tests/goldens/,
bench/make_goldens.py) against another set of goldens (--other DIR: the same script run
with another llama.cpp build, `make_goldens.py --out DIR`) or against this engine's host
build (--engine).

For each golden file and case, the steps that count are those the replay test counts
(tests/test_llm_archs.py: up to and including the first step whose top-2 margin in the
reference is under 0.01); a case either agrees over all of them or leaves the reference
at some step, printed with the reference's margin there.

Run: .venv/bin/python bench/golden_agreement.py [--ref DIR] [--other DIR | --engine [--scalar]]
         [--model NAME]... [--variant V]...
Prints Markdown for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import llm_harness
import model_files

GOLDENS = ROOT / "tests" / "goldens"
MARGIN = 0.01  # as tests/test_llm_archs.py


def checked_length(margins: list[float]) -> int:
    for i, m in enumerate(margins):
        if m < MARGIN:
            return i + 1
    return len(margins)


def first_difference(got: list[int], want: list[int]) -> int | None:
    for i, (a, b) in enumerate(zip(got, want)):
        if a != b:
            return i
    return None if len(got) >= len(want) else len(got)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    side = ap.add_mutually_exclusive_group(required=True)
    side.add_argument("--other", type=Path, help="a directory of goldens from another llama.cpp build")
    side.add_argument("--engine", action="store_true", help="this engine's host build (SSE2 set)")
    ap.add_argument("--scalar", action="store_true", help="with --engine: the scalar kernel set")
    ap.add_argument("--ref", type=Path, default=GOLDENS, help="the reference goldens (default tests/goldens/)")
    ap.add_argument("--model", action="append", choices=list(model_files.REAL_MODELS))
    ap.add_argument("--variant", action="append", choices=list(model_files.VARIANTS))
    a = ap.parse_args()
    what = f"goldens in {a.other}" if a.other else "the host build" + (" (scalar)" if a.scalar else " (SSE2)")
    print(f"reference: goldens in {a.ref} (llama.cpp); compared: {what}\n")
    print("| file | cases agreeing (of) | where the others leave the reference (step, reference margin) |")
    print("|---|---|---|")
    for name in a.model or list(model_files.REAL_MODELS):
        for variant in a.variant or model_files.VARIANTS:
            ref = json.loads((a.ref / f"{name}.{variant}.json").read_text())
            other = json.loads((a.other / f"{name}.{variant}.json").read_text()) if a.other else None
            path = None if other else model_files.model_variant(name, variant)
            agree, leaves = 0, []
            for k, c in enumerate(ref["cases"]):
                n = checked_length(c["margins"])
                want = c["continuation"][:n]
                if other:
                    o = other["cases"][k]
                    if o["prompt"] != c["prompt"]:
                        leaves.append(f"case {k}: prompt tokens differ")
                        continue
                    got = o["continuation"][:n]
                else:
                    got = llm_harness.greedy(path, c["prompt"], n, sanitize=False, scalar=a.scalar)
                at = first_difference(got, want)
                if at is None:
                    agree += 1
                else:
                    margin = c["margins"][at] if at < len(c["margins"]) else float("nan")
                    leaves.append(f"{c['text'][:24]!r} step {at} ({margin:.3f})")
            print(f"| {name} {variant} | {agree} ({len(ref['cases'])}) | {'; '.join(leaves) or '-'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
