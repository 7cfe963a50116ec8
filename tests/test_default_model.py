"""The committed default model, models/default.gguf: it carries the metadata a
llama.cpp loader needs, its vocabulary is the committed SentencePiece model's,
the numpy reference continues a prompt with readable English, and the kernel,
sampling with its defaults, writes words of the training corpus, not invented ones."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from cllm_build.gguf_export import LlamaConfig, expected_shapes

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "train"))  # kjv.py and eval_kernel.py
MODEL = ROOT / "models" / "default.gguf"
SPM = ROOT / "models" / "tokenizer.model"
# prompts whose greedy continuation must read as English (greedy decoding of a model
# this small can fall into a loop on some prompts; these are the ones checked)
READABLE_PROMPTS = ("Once upon a time", "And the king said", "In the beginning")


@pytest.fixture(scope="module")
def reader():
    import gguf

    return gguf.GGUFReader(MODEL)


def _kv(reader, key: str):
    return reader.fields[key].contents()


def _config(reader) -> LlamaConfig:
    return LlamaConfig(
        dim=_kv(reader, "llama.embedding_length"),
        hidden_dim=_kv(reader, "llama.feed_forward_length"),
        n_layers=_kv(reader, "llama.block_count"),
        n_heads=_kv(reader, "llama.attention.head_count"),
        n_kv_heads=_kv(reader, "llama.attention.head_count_kv"),
        vocab_size=len(_kv(reader, "tokenizer.ggml.tokens")),
        seq_len=_kv(reader, "llama.context_length"))


def test_metadata_for_a_llama_loader(reader):
    assert MODEL.stat().st_size < 8 << 20
    assert _kv(reader, "general.architecture") == "llama"
    assert _kv(reader, "general.name") == "cllm-default"
    assert _kv(reader, "tokenizer.ggml.model") == "llama"
    c = _config(reader)
    assert c.seq_len == 256 and c.vocab_size == 1024
    assert _kv(reader, "llama.rope.dimension_count") == c.head_dim
    assert _kv(reader, "llama.vocab_size") == c.vocab_size
    assert len(_kv(reader, "tokenizer.ggml.scores")) == c.vocab_size
    types = _kv(reader, "tokenizer.ggml.token_type")
    assert types[:3] == [2, 3, 3] and types[3:259] == [6] * 256 and set(types[259:]) == {1}
    assert (_kv(reader, "tokenizer.ggml.unknown_token_id"), _kv(reader, "tokenizer.ggml.bos_token_id"),
            _kv(reader, "tokenizer.ggml.eos_token_id")) == (0, 1, 2)
    assert _kv(reader, "tokenizer.ggml.add_bos_token") is True
    assert _kv(reader, "tokenizer.ggml.add_space_prefix") is True
    shapes = {t.name: tuple(int(d) for d in reversed(t.shape)) for t in reader.tensors}
    want = expected_shapes(c, tied=False)
    assert shapes.keys() == want.keys()
    for name, shape in want.items():
        assert shapes[name] == shape, name


def test_vocabulary_is_the_committed_tokenizer(reader):
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(SPM))
    tokens = _kv(reader, "tokenizer.ggml.tokens")
    assert tokens == [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    scores = np.array(_kv(reader, "tokenizer.ggml.scores"))
    assert np.allclose(scores, [sp.get_score(i) for i in range(len(tokens))])


def _readable(text: str) -> bool:
    """Mostly words of letters with ordinary punctuation, not one token repeated: what
    English looks like. (Greedy decoding of a model this small does fall into loops of
    a clause, e.g. "and a lamb, and a cloud, ..."; those still pass.)"""
    words = text.split()
    if len(words) < 8:
        return False
    wordlike = [w for w in words if re.fullmatch(r"[(\"']?[A-Za-z]+(?:'[a-z]+)?[.,;:?!)\"']*", w)]
    distinct = {w.strip("(\"'.,;:?!)").lower() for w in wordlike}
    return len(wordlike) >= 0.9 * len(words) and len(distinct) >= 4


def test_reference_continuation_is_readable():
    import reference_llama as ref
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(SPM))
    m = ref.load(MODEL)
    for prompt_text in READABLE_PROMPTS:
        prompt = [1] + sp.encode(prompt_text)
        text = sp.decode(ref.greedy(m, prompt, 40))
        assert _readable(text), (prompt_text, text)
    assert not _readable("x7 ## qq zz 3 ; 0 ]] ~~ 1 2 3 4 5")
    assert not _readable("the the the the, the the the the the")


@pytest.fixture(scope="module")
def corpus_words() -> set[str]:
    if shutil.which("bible") is None:
        pytest.skip("corpus program `bible` missing (apt-get install bible-kjv bible-kjv-text)")
    import kjv

    return kjv.words(kjv.load_chapters())


def test_word_rate_tells_invented_words(corpus_words):
    import kjv

    assert kjv.real_word_rate("And the king said unto him, Go in peace.", corpus_words) == 1.0
    assert kjv.real_word_rate("And the kingerly brambitance thrun", corpus_words) == 0.4
    assert kjv.real_word_rate("12 ;; --", corpus_words) == 0.0


@pytest.mark.qemu
def test_kernel_writes_corpus_words(kernel_elf, corpus_words):
    """`cllm run --prompt "Once upon a time" -n 48` with the default sampler (t=0.8,
    top-k 40, top-p 0.95, min-p 0.05), three seeds: printable text of at least 8
    words each, and at least 95% of the words (each text's last, possibly cut, word
    left out) are words of the corpus."""
    import eval_kernel
    import kjv

    texts = eval_kernel.kernel_texts(MODEL, "Once upon a time", 48, range(1, 4), kernel_elf)
    for text in texts:
        assert all(ch.isprintable() or ch in "\n\t" for ch in text), repr(text)
        assert len(text.split()) >= 8, repr(text)
    assert len(set(texts)) == 3, texts
    rate = kjv.corpus_word_rate(texts, corpus_words)
    assert rate >= 0.95, (rate, texts)


def test_llama_cpp_loads_it_and_agrees(reader):
    """llama.cpp itself loads the file, tokenizes the prompt as the committed
    SentencePiece model does, and its greedy continuation is ours (host engine)."""
    llama_cpp = pytest.importorskip("llama_cpp", reason="llama-cpp-python (optional peer) not installed")
    import llm_harness as H
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(SPM))
    llm = llama_cpp.Llama(str(MODEL), n_ctx=256, n_threads=1, verbose=False,
                          type_k=0, type_v=0)  # F32 KV cache, as ours
    prompt = llm.tokenize(b"Once upon a time")
    assert prompt == [1] + sp.encode("Once upon a time")
    theirs = []
    for tok in llm.generate(prompt, top_k=1, temp=0.0, repeat_penalty=1.0):
        theirs.append(tok)
        if len(theirs) == 48:
            break
    assert H.greedy(MODEL, prompt, 48) == theirs
