"""The tokenizer of the default model: a SentencePiece BPE model trained on the
corpus, llama-style (unk=0, bos=1, eos=2, byte fallback so any UTF-8 encodes, a
dummy space prefix, no normalization). train.py calls `train_tokenizer()`;
`gguf_vocab()` turns it into the tokenizer.ggml.* arrays for to_gguf.py.
"""

from __future__ import annotations

import io
from pathlib import Path

import sentencepiece as spm

UNK_ID, BOS_ID, EOS_ID = 0, 1, 2

# SentencePiece piece types; GGUF tokenizer.ggml.token_type uses the same numbers.
TYPE_NORMAL, TYPE_UNKNOWN, TYPE_CONTROL, TYPE_BYTE = 1, 2, 3, 6


def train_tokenizer(texts: list[str], vocab_size: int, model_path: Path) -> spm.SentencePieceProcessor:
    """Train on `texts` (one sentence per item; long items are split on '. ') and
    write `model_path` (.model). Deterministic: SentencePiece's BPE trainer has no
    random step when every sentence is used."""
    sentences = [s.strip() for t in texts for s in t.split(". ") if s.strip()]
    proto = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=proto,
        model_type="bpe",
        vocab_size=vocab_size,
        character_coverage=1.0,
        byte_fallback=True,
        split_digits=True,
        normalization_rule_name="identity",
        add_dummy_prefix=True,
        remove_extra_whitespaces=False,
        unk_id=UNK_ID, bos_id=BOS_ID, eos_id=EOS_ID, pad_id=-1,
        max_sentence_length=1 << 14,
        num_threads=1,
        minloglevel=2,
    )
    model_path.write_bytes(proto.getvalue())
    return spm.SentencePieceProcessor(model_proto=proto.getvalue())


def gguf_vocab(sp: spm.SentencePieceProcessor) -> tuple[list[str], list[float], list[int]]:
    """(tokens, scores, token_types), one entry per id. Pieces keep U+2581 for the
    space, byte pieces are named <0xXX> with type BYTE, as llama.cpp expects."""
    tokens, scores, types = [], [], []
    for i in range(sp.get_piece_size()):
        tokens.append(sp.id_to_piece(i))
        scores.append(float(sp.get_score(i)))
        if sp.is_unknown(i):
            types.append(TYPE_UNKNOWN)
        elif sp.is_control(i):
            types.append(TYPE_CONTROL)
        elif sp.is_byte(i):
            types.append(TYPE_BYTE)
        else:
            types.append(TYPE_NORMAL)
    return tokens, scores, types
