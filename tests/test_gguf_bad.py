"""Hostile and broken model files: each is refused with a message naming the field
and value, and nothing crashes (the host harness runs under ASan/UBSan)."""

from __future__ import annotations

import re
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import llm_harness as H
import numpy as np
import pytest

SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


@dataclass
class Layout:
    """Byte offsets of the fields of a GGUF file, for patching."""

    kv: dict[str, dict[str, int]] = field(default_factory=dict)
    tensors: dict[str, dict[str, int]] = field(default_factory=dict)


def layout(data: bytes) -> Layout:
    lay = Layout()
    n_tensors, n_kv = struct.unpack_from("<QQ", data, 8)
    off = 24

    def string(o: int) -> tuple[str, int]:
        (n,) = struct.unpack_from("<Q", data, o)
        return data[o + 8:o + 8 + n].decode(), o + 8 + n

    def value(t: int, o: int) -> int:
        if t == 8:
            return string(o)[1]
        if t == 9:
            et, n = struct.unpack_from("<IQ", data, o)
            o += 12
            for _ in range(n):
                o = value(et, o)
            return o
        return o + SCALAR[t]

    for _ in range(n_kv):
        start = off
        key, off = string(off)
        (t,) = struct.unpack_from("<I", data, off)
        lay.kv[key] = {"key": start, "type": off, "value": off + 4}
        off = value(t, off + 4)
    for _ in range(n_tensors):
        start = off
        name, off = string(off)
        (nd,) = struct.unpack_from("<I", data, off)
        d = {"name": start, "n_dims": off, "ne": off + 4}
        off += 4 + 8 * nd
        d["type"], d["offset"] = off, off + 4
        lay.tensors[name] = d
        off += 12
    return lay


def patch(data: bytes, off: int, fmt: str, *vals: int) -> bytes:
    b = bytearray(data)
    struct.pack_into(fmt, b, off, *vals)
    return bytes(b)


@pytest.fixture(scope="module")
def gguf_bytes(models_dir) -> bytes:
    return (models_dir / "stories260K.gguf").read_bytes()


def refuse(tmp_path: Path, data: bytes, *needles: str) -> str:
    p = tmp_path / "bad.gguf"
    p.write_bytes(data)
    proc = H.run(p, "info", check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.startswith("error: "), proc.stdout + proc.stderr
    assert "runtime error" not in proc.stderr and "AddressSanitizer" not in proc.stderr
    for n in needles:
        assert n in proc.stdout, proc.stdout
    return proc.stdout


# The corrupt files: each case builds its file from the two real ones (GGUF, llama2.c)
# and names the words the refusal must contain. tests/test_gguf_bad_qemu.py boots the
# i386 kernel with every one of them (32-bit sizes are where wrap-around bites).


@dataclass(frozen=True)
class Bad:
    name: str
    make: Callable[[bytes, bytes], bytes]  # (stories260K.gguf, stories260K.bin) -> file
    needles: tuple[str, ...] = ()


def _rename_tensor(g: bytes) -> bytes:
    off = layout(g).tensors["blk.2.ffn_down.weight"]["name"]
    name = b"blk.2.ffn_down.weight"
    assert g[off + 8:off + 8 + len(name)] == name
    data = bytearray(g)
    data[off + 8:off + 8 + len(name)] = b"blk.2.ffn_dowX.weight"
    return bytes(data)


def _wrong_arch(g: bytes) -> bytes:
    off = layout(g).kv["general.architecture"]["value"]
    data = bytearray(g)
    data[off + 8:off + 13] = b"gpt2x"
    return bytes(data)


def _kv(g: bytes, key: str, part: str = "value") -> int:
    return layout(g).kv[key][part]


def _t(g: bytes, name: str, part: str) -> int:
    return layout(g).tensors[name][part]


def _misaligned(g: bytes) -> bytes:
    off = _t(g, "output_norm.weight", "offset")
    (cur,) = struct.unpack_from("<Q", g, off)
    return patch(g, off, "<Q", cur + 4)


GGUF_LEN = 1185536  # stories260K.gguf

CASES: list[Bad] = [
    Bad("empty", lambda g, b: b"", ("empty",)),
    *[Bad(f"truncated-{cut}", lambda g, b, cut=cut: g[:cut])
      for cut in (3, 10, 23, 100, 5000, GGUF_LEN // 2, GGUF_LEN - 1)],
    Bad("truncated-tensor-data", lambda g, b: g[:-100], ("tensor ", "past end of file")),
    Bad("bad-magic", lambda g, b: b"GGUX" + g[4:], ("bad magic 0x58554747",)),
    Bad("bad-version", lambda g, b: patch(g, 4, "<I", 99), ("version 99",)),
    Bad("huge-kv-count", lambda g, b: patch(g, 16, "<Q", 1 << 60), ("n_kv",)),
    Bad("huge-tensor-count", lambda g, b: patch(g, 8, "<Q", 1 << 40), ("n_tensors",)),
    Bad("huge-string-length", lambda g, b: patch(g, _kv(g, "general.name"), "<Q", 1 << 62),
        ("general.name", "string length")),
    Bad("huge-key-length", lambda g, b: patch(g, _kv(g, "general.name", "key"), "<Q", 0xFFFFFFFFFFFFFFF0),
        ("key length",)),
    Bad("huge-array-count", lambda g, b: patch(g, _kv(g, "tokenizer.ggml.scores") + 4, "<Q", 1 << 61),
        ("tokenizer.ggml.scores", "array count")),
    Bad("huge-token-string", lambda g, b: patch(g, _kv(g, "tokenizer.ggml.tokens") + 12, "<Q", 1 << 50),
        ("tokenizer.ggml.tokens[0]",)),
    Bad("tensor-offset-past-end",
        lambda g, b: patch(g, _t(g, "blk.3.attn_q.weight", "offset"), "<Q", 0x7fffffe0),
        ("blk.3.attn_q.weight", "past end of file", "0x7fffffe0")),
    Bad("tensor-misaligned", lambda g, b: _misaligned(g), ("output_norm.weight", "not aligned")),
    Bad("unknown-tensor-type", lambda g, b: patch(g, _t(g, "blk.0.ffn_up.weight", "type"), "<I", 99),
        ("blk.0.ffn_up.weight", "unknown type 99")),
    Bad("unsupported-tensor-type", lambda g, b: patch(g, _t(g, "blk.1.attn_k.weight", "type"), "<I", 20),
        ("blk.1.attn_k.weight", "IQ4_NL", "not supported")),
    Bad("missing-tensor", lambda g, b: _rename_tensor(g), ("blk.2.ffn_down.weight", "missing")),
    # ne1 32 -> 16: smaller, still in the file
    Bad("shape-mismatch", lambda g, b: patch(g, _t(g, "blk.4.attn_v.weight", "ne") + 8, "<Q", 16),
        ("blk.4.attn_v.weight", "shape 64x16", "expected 64x32")),
    Bad("too-many-dims", lambda g, b: patch(g, _t(g, "token_embd.weight", "n_dims"), "<I", 7),
        ("token_embd.weight", "n_dims 7")),
    Bad("huge-dimension", lambda g, b: patch(g, _t(g, "token_embd.weight", "ne"), "<Q", 1 << 40),
        ("token_embd.weight", "out of range")),
    Bad("element-count-overflow",
        lambda g, b: patch(g, _t(g, "blk.0.attn_q.weight", "ne"), "<QQ", 0xFFFFFFFF, 0xFFFFFFFF),
        ("blk.0.attn_q.weight", "element count overflows")),
    Bad("bad-hyperparameter", lambda g, b: patch(g, _kv(g, "llama.block_count"), "<I", 100000),
        ("llama.block_count", "100000")),
    Bad("heads-do-not-divide", lambda g, b: patch(g, _kv(g, "llama.attention.head_count_kv"), "<I", 3),
        ("head",)),
    Bad("wrong-architecture", lambda g, b: _wrong_arch(g), ("general.architecture", "gpt2x")),
    # llama2.c checkpoints
    Bad("llama2c-truncated", lambda g, b: b[:-5000], ("truncated",)),
    Bad("llama2c-bad-header", lambda g, b: patch(b, 0, "<i", -7), ("dim", "-7")),
    Bad("llama2c-huge-layers", lambda g, b: patch(b, 8, "<i", 0x7fffffff), ("n_layers",)),
    Bad("llama2c-huge-vocab", lambda g, b: patch(b, 20, "<i", 1000000), ("truncated",)),
    Bad("llama2c-bad-version", lambda g, b: struct.pack("<Ii", 0x616B3432, 7) + bytes(300),
        ("version 7",)),
]


# The corrupt cases of the other model tests, made from small synthesized models: a
# row that is not whole blocks and tensor data cut short, for each legacy and K-quant
# type (test_llm_types.py); the malformed vocabularies, SentencePiece and byte-level
# BPE (test_tokenizer.py); missing tensors and an unknown architecture
# (test_llm_archs.py). The kernel's refusal is prefixed `tokenizer: ` for a vocabulary.


def _gguf_synth(name: str, build: Callable[[Path], Path]) -> bytes:
    """The bytes of a model that `build` writes into a scratch directory, made once."""
    if name not in _SYNTH:
        with tempfile.TemporaryDirectory() as d:
            _SYNTH[name] = build(Path(d)).read_bytes()
    return _SYNTH[name]


_SYNTH: dict[str, bytes] = {}
QUANT_TYPES = ("Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K")


def _quant_model(qtype: str) -> bytes:
    from gguf import GGMLQuantizationType as QT
    from gguf_synth import write_llama

    k = qtype.endswith("_K")  # blocks of 256: rows of 256
    return _gguf_synth(qtype, lambda d: write_llama(d / "m.gguf", QT[qtype],
                                                    **({"dim": 256, "hidden": 512} if k else {})))


def _rows_not_whole_blocks(qtype: str) -> bytes:
    g = _quant_model(qtype)
    return patch(g, _t(g, "blk.1.ffn_down.weight", "ne"), "<Q", 384 if qtype.endswith("_K") else 48)


def _arch_model(arch: str, **kw: object) -> bytes:
    import arch_synth

    return _gguf_synth(f"{arch}-{kw}", lambda d: arch_synth.write(d / "m.gguf", arch, **kw))


# A byte-level BPE vocabulary: <unk> <s> </s>, the 256 byte stand-ins, eight merged pairs.
BPE_MERGES = ["a b", "c d", "e f", "g h", "i j", "k l", "m n", "o p"]


def _vocab_model(model: str = "gpt2", merges: list[str] | None = BPE_MERGES, pre: str = "gpt-2",
                 n_scores: int | None = None, n_types: int | None = None, bos: int = 1) -> bytes:
    """A llama model whose vocabulary is replaced: `model`'s tokens, scores, types,
    merges and pre-tokenizer as given (None: the key left out)."""
    import gguf
    from bpe_ref import STAND_IN
    from gguf_synth import write_llama

    tokens = ["<unk>", "<s>", "</s>", *STAND_IN.values(), *(m.replace(" ", "") for m in BPE_MERGES)]
    n = len(tokens)

    def build(d: Path) -> Path:
        base = write_llama(d / "base.gguf", gguf.GGMLQuantizationType.F32, vocab=n)
        r = gguf.GGUFReader(str(base))
        w = gguf.GGUFWriter(str(d / "m.gguf"), "llama")
        for f in r.fields.values():
            if f.name.startswith(("GGUF.", "general.architecture", "tokenizer.")):
                continue
            array = f.types[0] == gguf.GGUFValueType.ARRAY
            w.add_key_value(f.name, f.contents(), f.types[0], f.types[-1] if array else None)
        w.add_tokenizer_model(model)
        if model == "gpt2":
            w.add_tokenizer_pre(pre)
        w.add_token_list(tokens)
        w.add_token_scores([-float(i) for i in range(n if n_scores is None else n_scores)])
        w.add_token_types(([3] * 3 + [6] * 256 + [1] * n)[:n if n_types is None else n_types])
        if merges is not None:
            w.add_token_merges(merges)
        w.add_bos_token_id(bos)
        w.add_eos_token_id(2)
        for t in r.tensors:
            w.add_tensor(t.name, np.array(t.data))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        return d / "m.gguf"

    key = f"vocab-{model}-{merges}-{pre}-{n_scores}-{n_types}-{bos}"
    return _gguf_synth(key, build)


BPE_VOCAB = 3 + 256 + len(BPE_MERGES)
SYNTH_CASES: list[Bad] = [
    *[Bad(f"{q}-rows-not-whole-blocks", lambda g, b, q=q: _rows_not_whole_blocks(q),
          ("blk.1.ffn_down.weight", "not a multiple")) for q in QUANT_TYPES],
    *[Bad(f"{q}-tensor-data-cut", lambda g, b, q=q: _quant_model(q)[:-100],
          ("blk.1.ffn_up.weight", "past end of file")) for q in QUANT_TYPES],
    Bad("bpe-merge-of-three-bytes",
        lambda g, b: _vocab_model(merges=BPE_MERGES[:5] + ["abc"] + BPE_MERGES[6:]),
        ("tokenizer: ", 'tokenizer.ggml.merges[5]: "abc" (3 bytes) is not two pieces')),
    Bad("bpe-merge-empty-right", lambda g, b: _vocab_model(merges=BPE_MERGES[:2] + ["a "] + BPE_MERGES[3:]),
        ('tokenizer.ggml.merges[2]: "a " (2 bytes)',)),
    Bad("bpe-merge-piece-too-long",
        lambda g, b: _vocab_model(merges=BPE_MERGES[:1] + ["x " + "y" * 300] + BPE_MERGES[2:]),
        ("tokenizer.ggml.merges[1]:",)),
    Bad("bpe-unknown-pre-tokenizer", lambda g, b: _vocab_model(pre="nonesuch"),
        ('tokenizer.ggml.pre: unsupported pre-tokenizer "nonesuch"',)),
    Bad("bpe-without-merges", lambda g, b: _vocab_model(merges=None),
        ("tokenizer.ggml.merges: missing or not an array",)),
    Bad("vocab-unknown-model", lambda g, b: _vocab_model(model="bert"),
        ('tokenizer.ggml.model: unsupported value "bert" (only llama, gpt2)',)),
    Bad("vocab-few-scores", lambda g, b: _vocab_model(model="llama", n_scores=10),
        ("tokenizer.ggml.scores: 10 elements",)),
    Bad("vocab-few-types", lambda g, b: _vocab_model(model="llama", n_types=5),
        ("tokenizer.ggml.token_type: 5 elements",)),
    Bad("vocab-bos-out-of-range", lambda g, b: _vocab_model(model="llama", bos=BPE_VOCAB),
        (f"tokenizer.ggml.bos_token_id: token id {BPE_VOCAB} out of range (vocab {BPE_VOCAB})",)),
    Bad("qwen2-missing-bias", lambda g, b: _arch_model("qwen2", drop=("blk.1.attn_k.bias",)),
        ("tensor blk.1.attn_k.bias: missing",)),
    Bad("gemma3-missing-q-norm", lambda g, b: _arch_model("gemma3", drop=("blk.0.attn_q_norm.weight",)),
        ("tensor blk.0.attn_q_norm.weight: missing",)),
    Bad("unknown-architecture", lambda g, b: _arch_model("llama", arch_name="mamba"),
        ("general.architecture: 'mamba' not supported (llama, qwen2, gemma3)",)),
]


@pytest.fixture(scope="module")
def bin_bytes(models_dir) -> bytes:
    return (models_dir / "stories260K.bin").read_bytes()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_refused_with_a_message(tmp_path, gguf_bytes, bin_bytes, case):
    refuse(tmp_path, case.make(gguf_bytes, bin_bytes), *case.needles)


def test_random_garbage(tmp_path):
    import random

    rng = random.Random(1234)
    for n in (4, 28, 300, 4096):
        for _ in range(5):
            refuse(tmp_path, b"GGUF" + bytes(rng.getrandbits(8) for _ in range(n)))
            refuse(tmp_path, bytes(rng.getrandbits(8) for _ in range(n)))


@pytest.mark.parametrize("name,limit", [("stories260K.gguf", 12000), ("stories260K.bin", 64),
                                        ("aidreams260K.gguf", 1 << 30)])
def test_mutated_files_never_crash(models_dir, name, limit):
    """Random byte changes in the header and metadata (or anywhere, for the last
    case): every copy either loads and runs or is refused, under ASan/UBSan."""
    proc = H.run(models_dir / name, "mutate", 1234, 400, limit, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    m = re.match(r"loaded (\d+) refused (\d+)", proc.stdout)
    assert m and int(m.group(1)) + int(m.group(2)) == 400
    assert int(m.group(2)) > 0
