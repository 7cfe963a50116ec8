"""How readable is what the kernel writes with a model: boot it in console mode once per
seed (default sampler), and report the share of the written words that are words of the
training corpus, leaving out each text's last word (-n may cut it short).

    .venv/bin/python train/eval_kernel.py [--model models/default.gguf] [--seeds 20]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import kjv


def kernel_texts(model: Path, prompt: str, n: int, seeds: range, elf: Path | None = None,
                 timeout: float = 300) -> list[str]:
    """What `cllm run --prompt PROMPT -n N --seed S` writes, one text per seed."""
    texts = []
    for seed in seeds:
        cmd = [sys.executable, "-m", "cllm_build", "run", *([str(elf)] if elf else []),
               "--model", str(model), "--prompt", prompt, "-n", str(n), "--seed", str(seed),
               "--timeout", str(timeout)]
        r = subprocess.run(cmd, capture_output=True, cwd=HERE.parent, check=False,
                           timeout=timeout + 60)
        if r.returncode != 0:
            raise RuntimeError(f"seed {seed}: cllm run exited {r.returncode}:\n"
                               f"{r.stderr.decode(errors='replace')[-2000:]}")
        texts.append(r.stdout.decode("utf-8"))
    return texts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=HERE.parent / "models" / "default.gguf")
    ap.add_argument("--elf", type=Path, help="kernel image (default: cllm run's)")
    ap.add_argument("--prompt", default="Once upon a time")
    ap.add_argument("-n", type=int, default=48)
    ap.add_argument("--seeds", type=int, default=20)
    a = ap.parse_args(argv)
    try:
        vocabulary = kjv.words(kjv.load_chapters())
        texts = kernel_texts(a.model, a.prompt, a.n, range(1, a.seeds + 1), a.elf)
    except (kjv.CorpusError, RuntimeError) as exc:
        print(f"eval_kernel: error: {exc}", file=sys.stderr)
        return 1
    for seed, text in enumerate(texts, 1):
        print(f"[seed {seed}] {a.prompt}{text}")
    print(f"corpus words: {kjv.corpus_word_rate(texts, vocabulary):.1%} of the words of "
          f"{len(texts)} texts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
