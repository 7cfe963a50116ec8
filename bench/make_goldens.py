"""Golden greedy continuations from llama.cpp (through llama-cpp-python, the `peer`
extra) for the real models, written as small JSON files under tests/goldens/.

For each model (pulled into the pull cache, see tests/model_files.py) and each of its
variants (the file as published, and its Q8_0 and F32 requantizations that any engine
with those types can run), for several raw prompts and chat conversations: the prompt token ids
as llama.cpp tokenizes them, the greedy continuation (F32 KV cache, one thread,
flash attention off) up to an end-of-generation token or STEPS tokens, and for each
step the gap between the two largest logits. tests/test_llm_archs.py replays them.

Run: .venv/bin/python bench/make_goldens.py [--model NAME]... (with the peer extra
installed in that Python). Chat turns are rendered with the file's own chat template
(tokenizer.chat_template, jinja2) where it has one, else with the model family's turn
format below; the rendered text is kept in the file beside the ids.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import model_files

GOLDENS = ROOT / "tests" / "goldens"
STEPS = 48          # greedy tokens at most per case
N_CTX = 1024        # every prompt + continuation fits
TOP_LOGITS = 16     # logits kept of the long prompt's last position

# Longer than gemma3's sliding window (512): its last position's logits show whether
# the sliding layers look at the right positions.
LONG_TEXT = "The quick brown fox jumps over the lazy dog, and the dog sleeps on. " * 50
GGML_TYPE_F32 = 0   # KV cache element type

RAW_PROMPTS = [
    "The capital of France is",
    "Once upon a time, in a small village by the sea,",
    "def fibonacci(n):\n",
    "The three primary colors are",
]

CHATS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "You are a concise assistant."},
     {"role": "user", "content": "Name three fruits."}],
    [{"role": "user", "content": "Hi!"},
     {"role": "assistant", "content": "Hello! How can I help you today?"},
     {"role": "user", "content": "Tell me a short fact about the moon."}],
]


def gemma_turns(messages: list[dict[str, str]]) -> str:
    """Gemma's turn format (its GGUF here carries no template): a system message is
    put before the first user turn's text."""
    out, sys_text = "", ""
    for m in messages:
        if m["role"] == "system":
            sys_text = m["content"] + "\n\n"
            continue
        role = "model" if m["role"] == "assistant" else "user"
        out += f"<start_of_turn>{role}\n{sys_text}{m['content']}<end_of_turn>\n"
        sys_text = ""
    return out + "<start_of_turn>model\n"


def render_chat(llm: object, messages: list[dict[str, str]]) -> str:
    template = llm.metadata.get("tokenizer.chat_template")  # type: ignore[attr-defined]
    if not template:
        return gemma_turns(messages)
    import jinja2

    env = jinja2.Environment(loader=jinja2.BaseLoader(), trim_blocks=True, lstrip_blocks=True)
    return env.from_string(template).render(messages=messages, add_generation_prompt=True,
                                            bos_token="", eos_token="")


def last_logits(llm: object, prompt: list[int]) -> np.ndarray:
    """The logits after `prompt` (one evaluation from an empty cache)."""
    import llama_cpp

    llm.reset()  # type: ignore[attr-defined]
    llm.eval(prompt)  # type: ignore[attr-defined]
    ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)  # type: ignore[attr-defined]
    n_vocab = llm.n_vocab()  # type: ignore[attr-defined]
    return np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float)), shape=(n_vocab,)).copy()


def greedy(llm: object, prompt: list[int]) -> tuple[list[int], list[float], str]:
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llm.model)  # type: ignore[attr-defined]
    n_vocab = llm.n_vocab()  # type: ignore[attr-defined]
    lg = last_logits(llm, prompt)
    toks: list[int] = []
    margins: list[float] = []
    for step in range(STEPS):
        if step:
            ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)  # type: ignore[attr-defined]
            lg = np.ctypeslib.as_array(ctypes.cast(ptr, ctypes.POINTER(ctypes.c_float)),
                                       shape=(n_vocab,)).copy()
        top2 = np.partition(lg, -2)[-2:]
        t = int(np.argmax(lg))
        toks.append(t)
        margins.append(round(float(top2[1] - top2[0]), 5))
        if llama_cpp.llama_vocab_is_eog(vocab, t):
            return toks, margins, "eog"
        llm.eval([t])  # type: ignore[attr-defined]
    return toks, margins, "length"


def goldens_for(path: Path, name: str, variant: str) -> dict[str, object]:
    import llama_cpp

    llm = llama_cpp.Llama(str(path), n_ctx=N_CTX, n_threads=1, n_threads_batch=1, n_batch=N_CTX,
                          type_k=GGML_TYPE_F32, type_v=GGML_TYPE_F32, flash_attn=False,
                          verbose=False)
    cases = []
    for text in RAW_PROMPTS:
        ids = llm.tokenize(text.encode(), add_bos=True, special=False)
        cases.append({"kind": "raw", "text": text, "prompt": ids})
    for msgs in CHATS:
        text = render_chat(llm, msgs)
        ids = llm.tokenize(text.encode(), add_bos=True, special=True)
        cases.append({"kind": "chat", "messages": msgs, "text": text, "prompt": ids})
    for c in cases:
        c["continuation"], c["margins"], c["stop"] = greedy(llm, c["prompt"])  # type: ignore[arg-type]
        print(f"{name} {variant}: {len(c['continuation'])} tokens, "  # type: ignore[arg-type]
              f"min margin {min(c['margins']):.4f}: {c['text'][:40]!r}", file=sys.stderr)  # type: ignore[type-var,index]
    long = {"text": LONG_TEXT, "prompt": llm.tokenize(LONG_TEXT.encode(), add_bos=True, special=False)}
    lg = last_logits(llm, long["prompt"])  # type: ignore[arg-type]
    top = np.argsort(-lg)[:TOP_LOGITS]
    long["top_ids"] = [int(t) for t in top]
    long["top_logits"] = [round(float(lg[t]), 5) for t in top]
    llm.close()
    return {"model": name, "variant": variant, "file": path.name, "sha256": model_files.sha256(path),
            "llama_cpp_python": llama_cpp.__version__,
            "llama_cpp_system": llama_cpp.llama_print_system_info().decode().strip(),
            "kv_type": "f32", "steps": STEPS,
            "cases": cases, "long": long}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", action="append", choices=list(model_files.REAL_MODELS))
    ap.add_argument("--variant", action="append", choices=list(model_files.VARIANTS))
    ap.add_argument("--out", type=Path, default=GOLDENS,
                    help="where to write (default tests/goldens/; another directory to compare "
                         "llama.cpp builds with bench/golden_agreement.py)")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.model or list(model_files.REAL_MODELS):
        for variant in args.variant or model_files.VARIANTS:
            path = model_files.model_variant(name, variant)
            g = goldens_for(path, name, variant)
            out = args.out / f"{name}.{variant}.json"
            out.write_text(json.dumps(g, indent=1, ensure_ascii=False) + "\n")
            print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
