"""Train cllm's default model: a small llama on the King James Bible, on the CPU.

Run by `make train` (the full run, ~20 min on 2 cores) and, as `--preset tiny`, by
tests/test_train.py. Steps: load the corpus (kjv.py), train a SentencePiece BPE
tokenizer (bpe.py), train the transformer (llama_torch.py) with AdamW and a cosine
schedule, write OUT/default.gguf through to_gguf.py, and print greedy and sampled
continuations so a person can see what it writes.

Reproducible: fixed seeds, deterministic torch algorithms, a fixed thread count,
and batches drawn from a seeded generator; the corpus digest and every setting
are stored in the GGUF under cllm.train.*.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # these modules, and cllm_build from a checkout

import bpe
import kjv
import to_gguf
from llama_torch import Llama, ModelConfig

PROMPTS = ("Once upon a time", "In the beginning", "And the king said", "The Lord is")


@dataclass(frozen=True)
class RunConfig:
    model: ModelConfig
    steps: int
    batch: int
    lr: float
    warmup: int
    chapters: int         # 0 = the whole corpus
    seed: int = 1337
    threads: int = 2
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    val_every: int = 50   # every Nth chapter is held out for validation
    ckpt_every: int = 100  # steps between checkpoints (OUT/checkpoint.pt) for --resume
    eval_every: int = 500  # steps between validation losses in the log (0 = only at the end)


PRESETS = {
    "full": RunConfig(model=ModelConfig(), steps=4000, batch=16, lr=2e-3, warmup=40, chapters=0),
    "tiny": RunConfig(model=ModelConfig(dim=32, hidden_dim=64, n_layers=2, n_heads=4,
                                        n_kv_heads=2, vocab_size=320, seq_len=64),
                      steps=6, batch=4, lr=1e-3, warmup=2, chapters=30, val_every=10),
}


def encode_stream(sp, chapters: list[str]) -> np.ndarray:
    """All chapters as one token stream, each chapter opened by BOS: (n_tokens,) int64."""
    ids: list[int] = []
    for text in chapters:
        ids.append(bpe.BOS_ID)
        ids.extend(sp.encode(text))
    return np.asarray(ids, dtype=np.int64)


def batch_at(stream: torch.Tensor, seq_len: int, batch: int,
             gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows: inputs and next-token targets, each (batch, seq_len)."""
    starts = torch.randint(0, len(stream) - seq_len - 1, (batch,), generator=gen)
    x = torch.stack([stream[s:s + seq_len] for s in starts.tolist()])
    y = torch.stack([stream[s + 1:s + seq_len + 1] for s in starts.tolist()])
    return x, y


def lr_at(step: int, rc: RunConfig) -> float:
    """Linear warm-up, then cosine decay to a tenth of the peak."""
    if step < rc.warmup:
        return rc.lr * (step + 1) / rc.warmup
    frac = (step - rc.warmup) / max(1, rc.steps - rc.warmup)
    return rc.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * frac)))


@torch.no_grad()
def val_loss(model: Llama, stream: torch.Tensor, seq_len: int, max_windows: int = 64) -> float:
    """Mean loss over consecutive, non-overlapping windows of the held-out stream."""
    n = min(max_windows, (len(stream) - 1) // seq_len)
    if n == 0:
        return float("nan")
    x = stream[:n * seq_len].view(n, seq_len)
    y = stream[1:n * seq_len + 1].view(n, seq_len)
    losses = []
    for i in range(0, n, 16):
        logits = model(x[i:i + 16])
        losses.append(torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), y[i:i + 16].reshape(-1), reduction="sum"))
    return float(sum(losses) / (n * seq_len))


@dataclass
class TrainResult:
    model: Llama
    sp: object          # the SentencePieceProcessor
    gguf_path: Path
    val_loss: float


def train(rc: RunConfig, out: Path, qtype: str, log=print, resume: bool = False) -> TrainResult:
    torch.manual_seed(rc.seed)
    torch.set_num_threads(rc.threads)
    torch.use_deterministic_algorithms(True)
    out.mkdir(parents=True, exist_ok=True)

    chapters = kjv.load_chapters()
    digest = kjv.digest(chapters)
    if rc.chapters:
        chapters = chapters[:rc.chapters]
    sp = bpe.train_tokenizer(chapters, rc.model.vocab_size, out / "tokenizer.model")
    val_ch = chapters[::rc.val_every]
    train_ch = [c for i, c in enumerate(chapters) if i % rc.val_every]
    train_ids = torch.from_numpy(encode_stream(sp, train_ch))
    val_ids = torch.from_numpy(encode_stream(sp, val_ch))
    log(f"corpus: {len(chapters)} chapters, sha256 {digest[:16]}, "
        f"{len(train_ids)} train / {len(val_ids)} val tokens, vocab {sp.get_piece_size()}")

    model = Llama(rc.model)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"model: {rc.model.as_dict()}, {n_params} parameters")
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": rc.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=rc.lr, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(rc.seed)
    ckpt = out / "checkpoint.pt"
    first, seen = 0, 0
    if resume and ckpt.is_file():
        state = torch.load(ckpt, weights_only=False)
        if state["run"] != repr(rc):
            raise kjv.CorpusError(f"{ckpt} is from another configuration: {state['run']}")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        gen.set_state(state["gen"])
        first, seen = state["step"], state["seen"]
        log(f"resumed from {ckpt} at step {first}")
    t0 = time.monotonic()
    seen0 = seen
    for step in range(first, rc.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, rc)
        x, y = batch_at(train_ids, rc.model.seq_len, rc.batch, gen)
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), rc.grad_clip)
        opt.step()
        seen += x.numel()
        if step % 20 == 0 or step == rc.steps - 1:
            dt = time.monotonic() - t0
            log(f"step {step + 1}/{rc.steps} loss {loss.item():.3f} lr {lr_at(step, rc):.2e} "
                f"{(seen - seen0) / dt:.0f} tok/s {dt:.0f} s")
        if rc.eval_every and (step + 1) % rc.eval_every == 0 and step + 1 < rc.steps:
            log(f"step {step + 1}: val loss {val_loss(model, val_ids, rc.model.seq_len):.3f}")
        if rc.ckpt_every and (step + 1) % rc.ckpt_every == 0 and step + 1 < rc.steps:
            torch.save({"run": repr(rc), "step": step + 1, "seen": seen, "gen": gen.get_state(),
                        "model": model.state_dict(), "opt": opt.state_dict()}, ckpt.with_suffix(".tmp"))
            ckpt.with_suffix(".tmp").replace(ckpt)
    model.eval()
    vloss = val_loss(model, val_ids, rc.model.seq_len)
    elapsed = time.monotonic() - t0
    log(f"done: {rc.steps} steps, {seen} tokens in {elapsed:.0f} s, val loss {vloss:.3f}")
    ckpt.unlink(missing_ok=True)

    gguf_path = to_gguf.export_gguf(model, sp, out / "default.gguf", qtype, extra_kv={
        "cllm.train.corpus": "King James Version of the Bible (Debian bible-kjv-text)",
        "cllm.train.corpus_sha256": digest,
        "cllm.train.steps": rc.steps,
        "cllm.train.tokens": seen,
        "cllm.train.seed": rc.seed,
        "cllm.train.val_loss_milli": round(vloss * 1000) if math.isfinite(vloss) else 0,
    })
    log(f"wrote {gguf_path} ({gguf_path.stat().st_size} bytes, {qtype})")
    write_samples(model, sp, out / "samples.txt", rc.seed, log, kjv.words(chapters))
    return TrainResult(model, sp, gguf_path, vloss)


def write_samples(model: Llama, sp, path: Path, seed: int, log,
                  vocabulary: set[str] | None = None) -> None:
    """Greedy and sampled continuations of PROMPTS into `path`; sampled with the
    kernel's default temperature and min-p (0.8, 0.05). With `vocabulary`, also log
    the share of the written words that are words of the corpus."""
    gen = torch.Generator().manual_seed(seed)
    lines, greedy_text, sampled_text = [], [], []
    for p in PROMPTS:
        prompt = [bpe.BOS_ID] + sp.encode(p)
        greedy = sp.decode(prompt[1:] + model.generate(prompt, 48))
        sampled = sp.decode(prompt[1:] + model.generate(prompt, 48, temperature=0.8, min_p=0.05,
                                                        gen=gen))
        greedy_text.append(greedy.removeprefix(p))
        sampled_text.append(sampled.removeprefix(p))
        lines += [f"[greedy] {greedy}", f"[t=0.8]  {sampled}"]
    path.write_text("\n".join(lines) + "\n")
    for line in lines:
        log(line)
    if vocabulary is not None:
        log(f"corpus words: greedy {kjv.corpus_word_rate(greedy_text, vocabulary):.1%}, "
            f"sampled {kjv.corpus_word_rate(sampled_text, vocabulary):.1%}")


def parse_args(argv: list[str] | None) -> tuple[RunConfig, Path, str, bool]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), default="full")
    ap.add_argument("--out", type=Path, default=HERE.parent / "build" / "train-out")
    ap.add_argument("--qtype", choices=("F32", "Q8_0"), default="Q8_0")
    ap.add_argument("--steps", type=int)
    ap.add_argument("--batch", type=int)
    ap.add_argument("--threads", type=int)
    ap.add_argument("--resume", action="store_true",
                    help="continue from OUT/checkpoint.pt (written every 100 steps)")
    a = ap.parse_args(argv)
    rc = PRESETS[a.preset]
    for k in ("steps", "batch", "threads"):
        if getattr(a, k) is not None:
            rc = replace(rc, **{k: getattr(a, k)})
    return rc, a.out, a.qtype, a.resume


def main(argv: list[str] | None = None) -> int:
    rc, out, qtype, resume = parse_args(argv)
    try:
        train(rc, out, qtype, log=lambda s: print(s, flush=True), resume=resume)
    except kjv.CorpusError as exc:
        print(f"train: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
