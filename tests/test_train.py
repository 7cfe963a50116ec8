"""The training script (train/train.py) in its tiny preset: a few steps of a tiny
model on a slice of the corpus. It must run end to end, be bit-for-bit
reproducible, export a GGUF that the `gguf` package reads back with the llama.cpp
tokenizer metadata, and the exported weights must compute the same logits in the
independent numpy reference (tests/reference_llama.py) as in PyTorch, which pins
the tensor layout and the RoPE convention."""

from __future__ import annotations

import hashlib
import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
TRAIN = ROOT / "train" / "train.py"

torch = pytest.importorskip("torch", reason="torch not installed (pip install -e '.[train]')")
if shutil.which("bible") is None:
    pytest.skip("corpus program `bible` missing (apt-get install bible-kjv bible-kjv-text)",
                allow_module_level=True)


def _run_tiny(out: Path, qtype: str = "Q8_0") -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, str(TRAIN), "--preset", "tiny", "--out", str(out),
                        "--qtype", qtype], capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def _field(reader, key: str):
    return reader.fields[key].contents()


def test_tiny_run_is_reproducible_and_reads_back(tmp_path):
    import gguf

    r = _run_tiny(tmp_path / "a")
    _run_tiny(tmp_path / "b")
    files = ("default.gguf", "tokenizer.model")
    for name in files:
        a = hashlib.sha256((tmp_path / "a" / name).read_bytes()).hexdigest()
        b = hashlib.sha256((tmp_path / "b" / name).read_bytes()).hexdigest()
        assert a == b, f"{name} differs between two identical runs"
    assert "step 6/6" in r.stdout and "[greedy] Once upon a time" in r.stdout

    rd = gguf.GGUFReader(tmp_path / "a" / "default.gguf")
    assert _field(rd, "general.architecture") == "llama"
    assert _field(rd, "general.name") == "cllm-default"
    assert _field(rd, "llama.embedding_length") == 32
    assert _field(rd, "llama.block_count") == 2
    assert _field(rd, "llama.attention.head_count") == 4
    assert _field(rd, "llama.attention.head_count_kv") == 2
    assert _field(rd, "llama.context_length") == 64
    tokens = _field(rd, "tokenizer.ggml.tokens")
    types = _field(rd, "tokenizer.ggml.token_type")
    assert len(tokens) == len(types) == len(_field(rd, "tokenizer.ggml.scores")) == 320
    assert tokens[:4] == ["<unk>", "<s>", "</s>", "<0x00>"] and tokens[258] == "<0xFF>"
    assert types[:3] == [2, 3, 3] and types[3:259] == [6] * 256
    assert any(t.startswith("\u2581") for t in tokens[259:])
    assert (_field(rd, "tokenizer.ggml.bos_token_id"), _field(rd, "tokenizer.ggml.eos_token_id"),
            _field(rd, "tokenizer.ggml.unknown_token_id")) == (1, 2, 0)
    assert _field(rd, "tokenizer.ggml.add_bos_token") is True
    assert _field(rd, "tokenizer.ggml.add_space_prefix") is True
    by_name = {t.name: t for t in rd.tensors}
    assert len(by_name) == 3 + 9 * 2
    assert by_name["blk.1.attn_k.weight"].tensor_type.name == "Q8_0"
    assert by_name["blk.1.ffn_norm.weight"].tensor_type.name == "F32"
    assert list(by_name["token_embd.weight"].shape) == [32, 320]


def _train_module():
    sys.path.insert(0, str(TRAIN.parent))
    try:
        return importlib.import_module("train")
    finally:
        sys.path.remove(str(TRAIN.parent))


def test_export_matches_numpy_reference(tmp_path):
    import reference_llama as ref

    train = _train_module()
    res = train.train(train.PRESETS["tiny"], tmp_path, "F32", log=lambda s: None)
    prompt = [1] + res.sp.encode("In the beginning God created")
    with torch.no_grad():
        want = res.model(torch.tensor([prompt]))[0].double().numpy()
    m = ref.load(res.gguf_path)
    got = ref.logits(m, prompt)
    assert np.max(np.abs(got - want)) < 1e-4
    assert ref.greedy(m, prompt, 8) == res.model.generate(prompt, 8)


class _Stop(Exception):
    pass


def test_resume_from_checkpoint_gives_the_same_model(tmp_path):
    from dataclasses import replace

    train = _train_module()
    rc = replace(train.PRESETS["tiny"], ckpt_every=3)
    straight = train.train(rc, tmp_path / "a", "F32", log=lambda s: None)

    def stop_at_end(line: str) -> None:
        if line.startswith("step 6/6"):
            raise _Stop

    with pytest.raises(_Stop):
        train.train(rc, tmp_path / "b", "F32", log=stop_at_end)
    assert (tmp_path / "b" / "checkpoint.pt").is_file()
    lines: list[str] = []
    resumed = train.train(rc, tmp_path / "b", "F32", log=lines.append, resume=True)
    assert any(line.startswith("resumed from") and "step 3" in line for line in lines)
    assert not (tmp_path / "b" / "checkpoint.pt").exists()
    assert resumed.gguf_path.read_bytes() == straight.gguf_path.read_bytes()
