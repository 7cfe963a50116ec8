"""Hostile and broken model files: each is refused with a message naming the field
and value, and nothing crashes (the host harness runs under ASan/UBSan)."""

from __future__ import annotations

import re
import struct
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


def test_empty_file(tmp_path):
    refuse(tmp_path, b"", "empty")


@pytest.mark.parametrize("cut", [3, 10, 23, 100, 5000, 1185536 // 2, 1185536 - 1])
def test_truncated_gguf(tmp_path, gguf_bytes, cut):
    refuse(tmp_path, gguf_bytes[:cut])


def test_truncated_tensor_data_names_tensor(tmp_path, gguf_bytes):
    refuse(tmp_path, gguf_bytes[:-100], "tensor ", "past end of file")


def test_bad_magic(tmp_path, gguf_bytes):
    refuse(tmp_path, b"GGUX" + gguf_bytes[4:], "bad magic 0x58554747")


def test_bad_version(tmp_path, gguf_bytes):
    refuse(tmp_path, patch(gguf_bytes, 4, "<I", 99), "version 99")


def test_huge_kv_count(tmp_path, gguf_bytes):
    refuse(tmp_path, patch(gguf_bytes, 16, "<Q", 1 << 60), "n_kv")


def test_huge_tensor_count(tmp_path, gguf_bytes):
    refuse(tmp_path, patch(gguf_bytes, 8, "<Q", 1 << 40), "n_tensors")


def test_huge_string_length(tmp_path, gguf_bytes):
    off = layout(gguf_bytes).kv["general.name"]["value"]
    refuse(tmp_path, patch(gguf_bytes, off, "<Q", 1 << 62), "general.name", "string length")


def test_huge_key_length(tmp_path, gguf_bytes):
    off = layout(gguf_bytes).kv["general.name"]["key"]
    refuse(tmp_path, patch(gguf_bytes, off, "<Q", 0xFFFFFFFFFFFFFFF0), "key length")


def test_huge_array_count(tmp_path, gguf_bytes):
    off = layout(gguf_bytes).kv["tokenizer.ggml.scores"]["value"]
    refuse(tmp_path, patch(gguf_bytes, off + 4, "<Q", 1 << 61), "tokenizer.ggml.scores", "array count")


def test_huge_token_string_in_array(tmp_path, gguf_bytes):
    off = layout(gguf_bytes).kv["tokenizer.ggml.tokens"]["value"]
    refuse(tmp_path, patch(gguf_bytes, off + 12, "<Q", 1 << 50), "tokenizer.ggml.tokens[0]")


def test_tensor_offset_past_end(tmp_path, gguf_bytes):
    off = layout(gguf_bytes).tensors["blk.3.attn_q.weight"]["offset"]
    msg = refuse(tmp_path, patch(gguf_bytes, off, "<Q", 0x7fffffe0), "blk.3.attn_q.weight", "past end of file")
    assert "0x7fffffe0" in msg


def test_tensor_misaligned_offset(tmp_path, gguf_bytes):
    off = layout(gguf_bytes).tensors["output_norm.weight"]["offset"]
    (cur,) = struct.unpack_from("<Q", gguf_bytes, off)
    refuse(tmp_path, patch(gguf_bytes, off, "<Q", cur + 4), "output_norm.weight", "not aligned")


def test_unknown_tensor_type(tmp_path, gguf_bytes):
    off = layout(gguf_bytes).tensors["blk.0.ffn_up.weight"]["type"]
    refuse(tmp_path, patch(gguf_bytes, off, "<I", 99), "blk.0.ffn_up.weight", "unknown type 99")


def test_unsupported_tensor_type(tmp_path, gguf_bytes):
    off = layout(gguf_bytes).tensors["blk.1.attn_k.weight"]["type"]
    refuse(tmp_path, patch(gguf_bytes, off, "<I", 20), "blk.1.attn_k.weight", "IQ4_NL", "not supported")


def test_missing_tensor(tmp_path, gguf_bytes):
    off = layout(gguf_bytes).tensors["blk.2.ffn_down.weight"]["name"]
    name = b"blk.2.ffn_down.weight"
    assert gguf_bytes[off + 8:off + 8 + len(name)] == name
    data = bytearray(gguf_bytes)
    data[off + 8:off + 8 + len(name)] = b"blk.2.ffn_dowX.weight"
    refuse(tmp_path, bytes(data), "blk.2.ffn_down.weight", "missing")


def test_shape_mismatch(tmp_path, gguf_bytes):
    t = layout(gguf_bytes).tensors["blk.4.attn_v.weight"]
    data = patch(gguf_bytes, t["ne"] + 8, "<Q", 16)  # ne1 32 -> 16: smaller, still in the file
    refuse(tmp_path, data, "blk.4.attn_v.weight", "shape 64x16", "expected 64x32")


def test_too_many_dims(tmp_path, gguf_bytes):
    off = layout(gguf_bytes).tensors["token_embd.weight"]["n_dims"]
    refuse(tmp_path, patch(gguf_bytes, off, "<I", 7), "token_embd.weight", "n_dims 7")


def test_huge_dimension(tmp_path, gguf_bytes):
    t = layout(gguf_bytes).tensors["token_embd.weight"]
    refuse(tmp_path, patch(gguf_bytes, t["ne"], "<Q", 1 << 40), "token_embd.weight", "out of range")


def test_element_count_overflow(tmp_path, gguf_bytes):
    t = layout(gguf_bytes).tensors["blk.0.attn_q.weight"]
    data = patch(gguf_bytes, t["ne"], "<QQ", 0xFFFFFFFF, 0xFFFFFFFF)
    refuse(tmp_path, data, "blk.0.attn_q.weight", "element count overflows")


def test_bad_hyperparameter(tmp_path, gguf_bytes):
    off = layout(gguf_bytes).kv["llama.block_count"]["value"]
    refuse(tmp_path, patch(gguf_bytes, off, "<I", 100000), "llama.block_count", "100000")


def test_heads_do_not_divide(tmp_path, gguf_bytes):
    off = layout(gguf_bytes).kv["llama.attention.head_count_kv"]["value"]
    refuse(tmp_path, patch(gguf_bytes, off, "<I", 3), "head")


def test_wrong_architecture(tmp_path, gguf_bytes):
    off = layout(gguf_bytes).kv["general.architecture"]["value"]
    data = bytearray(gguf_bytes)
    data[off + 8:off + 13] = b"gpt2x"
    refuse(tmp_path, bytes(data), "general.architecture", "gpt2x")


# llama2.c checkpoints


@pytest.fixture(scope="module")
def bin_bytes(models_dir) -> bytes:
    return (models_dir / "stories260K.bin").read_bytes()


def test_llama2c_truncated(tmp_path, bin_bytes):
    refuse(tmp_path, bin_bytes[:-5000], "truncated")


def test_llama2c_bad_header(tmp_path, bin_bytes):
    refuse(tmp_path, patch(bin_bytes, 0, "<i", -7), "dim", "-7")


def test_llama2c_huge_layers(tmp_path, bin_bytes):
    refuse(tmp_path, patch(bin_bytes, 8, "<i", 0x7fffffff), "n_layers")


def test_llama2c_huge_vocab(tmp_path, bin_bytes):
    refuse(tmp_path, patch(bin_bytes, 20, "<i", 1000000), "truncated")


def test_llama2c_bad_version(tmp_path, bin_bytes):
    refuse(tmp_path, struct.pack("<Ii", 0x616B3432, 7) + bytes(300), "version 7")


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
