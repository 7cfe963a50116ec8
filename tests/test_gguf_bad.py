"""Hostile and broken model files: each is refused with a message naming the field
and value, and nothing crashes (the host harness runs under ASan/UBSan)."""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import llm_harness as H
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
