"""Attention over a prompt chunk in blocks (kernel/llm/forward.c, forward_block): the
rows of one sequence in a batched pass attend in one call a layer, each K and V row
read once for all of them, and each row must keep the bits of attending alone. On the
gemma3 synthetic model (tests/arch_synth.py: 4 query heads over 2 KV heads, a sliding
window of 5 positions in six layers of seven, 16-position KV blocks, so rows' ranges
start and end inside blocks), a 40-token prompt batched gives the last row's logits and
the greedy run after it that the rows one at a time give, bit for bit, with the scalar,
SSE2 and AVX2 sets, F32 and F16 KV, and 1 or 3 threads; prompts read in chunks beside
other sequences' decode rows give each sequence's own greedy run. Each runs on the
plain harness and on test_llm_threads' split harness (OPS_PAR_MIN_WORK=0: every block
split across the threads)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import llm_harness as H
import pytest
from test_llm_threads import split_harness

PROMPT = [(5 * i + 1) % 64 for i in range(40)]


HARNESSES = {"plain": H.harness, "split": split_harness}


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    import arch_synth

    return arch_synth.write(tmp_path_factory.mktemp("attblk") / "gemma3.gguf", "gemma3")


def run(exe: Path, *args: object) -> str:
    cmd = [str(exe), *map(str, args)]
    p = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=300)
    if p.returncode == 3 and "--avx2" in args:
        pytest.skip(p.stdout.strip())  # the host CPU lacks AVX2, FMA or F16C
    assert p.returncode == 0, f"{' '.join(cmd)}:\n{p.stdout[-2000:]}{p.stderr[-2000:]}"
    return p.stdout


@pytest.mark.parametrize("harness", HARNESSES)
@pytest.mark.parametrize("flags", [["--scalar"], [], ["--kv-f16"], ["--avx2", "--kv-f16"],
                                   ["--threads", 3, "--kv-f16"]],
                         ids=["scalar", "sse2", "sse2-f16", "avx2-f16", "threads3-f16"])
def test_block_attention_keeps_the_bits_of_one_row_at_a_time(model, harness, flags):
    exe = HARNESSES[harness]()
    one = run(exe, *flags, model, "logits", *PROMPT).strip().splitlines()[-1]
    batched = run(exe, *flags, "--batch", model, "logits", *PROMPT).strip()
    assert batched == one
    assert run(exe, *flags, "--batch", model, "greedy", 12, *PROMPT) == \
        run(exe, *flags, model, "greedy", 12, *PROMPT)


@pytest.mark.parametrize("harness", HARNESSES)
def test_prompt_chunks_of_several_sequences_are_exact(model, harness):
    exe = HARNESSES[harness]()
    prompts = [PROMPT, PROMPT[3:26], PROMPT[:9]]
    out = run(exe, "--chunk", 13, "--kv-f16", model, "multi", 8,
              *(",".join(map(str, p)) for p in prompts)).strip().splitlines()
    assert len(out) == len(prompts)
    for line, p in zip(out, prompts):
        assert line == run(exe, "--kv-f16", model, "greedy", 8, *p).strip()
