"""`cllm pull` against a local HTTP server started by the test: plain download,
sha256 check and mismatch, resume of a dropped download with a Range request,
a server without Range support, HTTP errors, bad names and URLs, the cache
precedence, and the CLI's exit codes and output."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from cllm_build import pull as P
from cllm_build.errors import UsageError

ROOT = Path(__file__).resolve().parent.parent
PAYLOAD = random.Random(7).randbytes(300_000)
SHA = hashlib.sha256(PAYLOAD).hexdigest()
DROP_AT = 100_000  # bytes sent before the "drop" path closes the connection


class _Handler(BaseHTTPRequestHandler):
    """Paths: /model.bin (Range supported), /drop/model.bin (the first request
    without a Range header breaks after DROP_AT bytes), /norange/model.bin (Range
    ignored: always 200 and the whole file), anything else 404."""

    log: ClassVar[list[tuple[str, str | None]]] = []

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        rng = self.headers.get("Range")
        self.log.append((self.path, rng))
        if self.path not in ("/model.bin", "/drop/model.bin", "/norange/model.bin"):
            self.send_error(404, "Not Found")
            return
        start = 0
        if rng and self.path != "/norange/model.bin":
            start = int(rng.removeprefix("bytes=").rstrip("-"))
            if start >= len(PAYLOAD):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(PAYLOAD)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        else:
            self.send_response(200)
        body = PAYLOAD[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.path == "/drop/model.bin" and rng is None:
            self.wfile.write(body[:DROP_AT])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@pytest.fixture()
def server():
    _Handler.log = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Handler.log
    httpd.shutdown()
    httpd.server_close()


def test_download_with_checksum(server, tmp_path):
    base, log = server
    seen: list[tuple[int, int | None]] = []
    res = P.pull(f"{base}/model.bin", cache=tmp_path, sha256=SHA,
                 progress=lambda d, t: seen.append((d, t)))
    assert res.path == tmp_path / "model.bin"
    assert res.path.read_bytes() == PAYLOAD
    assert res.checked and not res.cached and res.sha256 == SHA
    assert not (tmp_path / "model.bin.part").exists()
    assert seen[0] == (0, len(PAYLOAD)) and seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert log == [("/model.bin", None)]


def test_cached_file_is_not_fetched_again(server, tmp_path):
    base, log = server
    P.pull(f"{base}/model.bin", cache=tmp_path)
    res = P.pull(f"{base}/model.bin", cache=tmp_path, sha256=SHA)
    assert res.cached and res.checked
    assert len(log) == 1


def test_dropped_download_resumes_on_next_pull(server, tmp_path):
    base, log = server
    with pytest.raises(P.PullError, match="resume"):
        P.pull(f"{base}/drop/model.bin", cache=tmp_path, attempts=1)
    part = tmp_path / "model.bin.part"
    assert part.stat().st_size == DROP_AT
    assert not (tmp_path / "model.bin").exists()
    res = P.pull(f"{base}/drop/model.bin", cache=tmp_path, sha256=SHA)
    assert res.resumed_from == DROP_AT
    assert res.path.read_bytes() == PAYLOAD
    assert log[-1] == ("/drop/model.bin", f"bytes={DROP_AT}-")
    assert not part.exists()


def test_dropped_download_resumes_within_one_pull(server, tmp_path):
    base, log = server
    res = P.pull(f"{base}/drop/model.bin", cache=tmp_path, sha256=SHA, attempts=2)
    assert res.path.read_bytes() == PAYLOAD
    assert [r for _, r in log] == [None, f"bytes={DROP_AT}-"]


def test_complete_part_file_is_accepted_on_416(server, tmp_path):
    base, log = server
    (tmp_path / "model.bin.part").write_bytes(PAYLOAD)
    res = P.pull(f"{base}/model.bin", cache=tmp_path, sha256=SHA)
    assert res.path.read_bytes() == PAYLOAD
    assert log == [("/model.bin", f"bytes={len(PAYLOAD)}-")]


def test_server_without_range_restarts_from_zero(server, tmp_path):
    base, _ = server
    (tmp_path / "model.bin.part").write_bytes(b"garbage" * 100)
    res = P.pull(f"{base}/norange/model.bin", cache=tmp_path, sha256=SHA)
    assert res.path.read_bytes() == PAYLOAD


def test_checksum_mismatch_removes_file(server, tmp_path):
    base, _ = server
    wrong = "0" * 64
    with pytest.raises(P.PullError, match=f"sha256 mismatch: expected {wrong}, got {SHA}"):
        P.pull(f"{base}/model.bin", cache=tmp_path, sha256=wrong)
    assert list(tmp_path.iterdir()) == []


def test_http_error_names_status(server, tmp_path):
    base, _ = server
    with pytest.raises(P.PullError, match="HTTP 404"):
        P.pull(f"{base}/missing.gguf", cache=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_refused_connection_is_an_error(tmp_path):
    with pytest.raises(P.PullError, match="connection failed"):
        P.pull("http://127.0.0.1:9/x.gguf", cache=tmp_path, attempts=1)


@pytest.mark.parametrize("spec", ["nonesuch-model", "ftp://host/x.gguf", "http:///x.gguf",
                                  "http://host/", "http://host/..", "http://host/a%2Fb"])
def test_bad_names_and_urls(spec, tmp_path):
    with pytest.raises(UsageError):
        P.pull(spec, cache=tmp_path)


def test_bad_sha256_argument(tmp_path):
    with pytest.raises(UsageError, match="64 hex digits"):
        P.pull("http://127.0.0.1:9/x.gguf", cache=tmp_path, sha256="abc")


def test_cache_precedence(tmp_path, monkeypatch):
    monkeypatch.setenv("CLLM_CACHE", str(tmp_path / "env"))
    assert P.cache_dir() == tmp_path / "env"
    assert P.cache_dir(tmp_path / "flag") == tmp_path / "flag"
    monkeypatch.delenv("CLLM_CACHE")
    assert P.cache_dir() == Path.home() / ".cache" / "cllm" / "models"


def test_known_models_table():
    for name in ("stories15M", "stories42M", "stories110M", "tinyllama-1.1b-chat-q8_0",
                 "tinyllama-1.1b-chat-q4_0", "llama2c-tokenizer"):
        url, filename, sha = P.resolve(name)
        assert url.startswith("https://") and url.endswith(filename)
        assert sha is None or len(sha) == 64


def _cllm(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cllm_build", "pull", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, **(env or {})})


def test_cli_prints_path_and_uses_cache_env(server, tmp_path):
    base, _ = server
    r = _cllm(f"{base}/model.bin", "--sha256", SHA, env={"CLLM_CACHE": str(tmp_path)})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(tmp_path / "model.bin")
    assert f"sha256 {SHA} OK" in r.stderr
    assert (tmp_path / "model.bin").read_bytes() == PAYLOAD


def test_cli_checksum_mismatch_exit_code(server, tmp_path):
    base, _ = server
    r = _cllm(f"{base}/model.bin", "--cache", str(tmp_path), "--sha256", "1" * 64)
    assert r.returncode == P.PullError.exit_code
    assert "sha256 mismatch" in r.stderr and "file removed" in r.stderr
    assert r.stdout == ""
