"""bench/serve_bench.py's stream client against a local stand-in server: it counts the
chunks that carry text, needs the closing [DONE], and reports a cut stream as an error
instead of a short result. No timing is asserted."""

from __future__ import annotations

import http.client
import http.server
import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import serve_bench


def _events(texts: list[str], done: bool) -> list[bytes]:
    out = [b"data: " + json.dumps({"choices": [{"text": t}]}).encode() + b"\n\n" for t in texts]
    return out + ([b"data: [DONE]\n\n"] if done else [])


@contextmanager
def stand_in(events: list[bytes], cut: bool = False) -> Iterator[int]:
    """A server answering POST with `events` as chunked SSE; `cut` drops the terminating
    zero-length chunk and closes the connection."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for e in events:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(e), e))
            if cut:
                self.close_connection = True
            else:
                self.wfile.write(b"0\r\n\r\n")

        def log_message(self, *args: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield srv.server_address[1]
    finally:
        srv.shutdown()
        srv.server_close()


def _stream(port: int) -> serve_bench.Stream:
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        return serve_bench.stream_one(c, {"prompt": "x", "max_tokens": 4, "stream": True})
    finally:
        c.close()


def test_counts_text_chunks_only() -> None:
    with stand_in(_events(["Once", "", " upon", " a"], done=True)) as port:
        s = _stream(port)
    assert s.n_tokens == 3
    assert 0 <= s.ttft_s <= s.total_s
    assert s.gen_s >= 0


def test_stream_without_done_is_an_error() -> None:
    with stand_in(_events(["a", "b"], done=False)) as port, pytest.raises(RuntimeError, match="ended early"):
        _stream(port)


def test_cut_stream_is_an_error() -> None:
    with stand_in(_events(["a", "b"], done=False), cut=True) as port, \
            pytest.raises((RuntimeError, http.client.HTTPException)):
        _stream(port)
