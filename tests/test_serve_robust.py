"""The HTTP server under hostile and careless clients, end to end: one kernel booted in
QEMU (TCG) with an e1000 and user networking, its request timeout shortened to
REQUEST_TIMEOUT_S (cllm.request_timeout_ms). While each disturbance goes on (slow and
stalled senders, a flood of idle and half-sent connections, malformed HTTP and JSON,
oversized requests, a client resetting mid-stream, a reader that stalls a long stream)
the server must keep answering /health with 200 and a greedy completion with the
same text it gives when idle; each bad request gets its status and an OpenAI-shaped
error body, /metrics counts it, and the connections the clients left are freed.

The request parser's corner cases are covered at every byte split by the host tests
(tests/test_http_host.py); this file checks that the real stack and server survive
them together."""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from http_support import Response, parse_responses
from test_api_qemu import Guest, _boot

from cllm_build import qemu

pytestmark = pytest.mark.qemu

REQUEST_TIMEOUT_S = 4.0
IO_TIMEOUT_S = 60.0
PROMPT, N_TOKENS = "Once upon a time", 24
MAX_HEADER, MAX_BODY = 8192, 256 * 1024  # kernel/http/http_param.h
HTTP_MAX_CONNS = 72  # kernel/http/http_param.h
TCP_MAX_CONNS = 88  # kernel/include/net/net_param.h


@dataclass
class Served:
    vm: qemu.Qemu
    guest: Guest
    answer: str  # greedy completion of PROMPT while the server was idle
    idle_heap: int = 0  # heap bytes in use while only the asking connection is open

    def healthy(self) -> None:
        """/health answers 200 and the completion is the idle server's."""
        assert self.guest.call("GET", "/health") == (200, b'{"status":"ok"}')
        assert self.guest.completion(PROMPT, N_TOKENS) == self.answer

    def metrics(self) -> tuple[dict[tuple[str, int], int], dict[str, int]]:
        """Request counts by (path, status), and the other unlabelled samples."""
        status, body = self.guest.call("GET", "/metrics")
        assert status == 200
        counts: dict[tuple[str, int], int] = {}
        plain: dict[str, int] = {}
        for line in body.decode().splitlines():
            m = re.fullmatch(r'cllm_requests_total\{path="([^"]*)",status="(\d+)"\} (\d+)', line)
            if m:
                counts[(m.group(1), int(m.group(2)))] = int(m.group(3))
            elif m := re.fullmatch(r"(cllm_[a-z_]+) (\d+)", line):
                plain[m.group(1)] = int(m.group(2))
        return counts, plain

    def wait_connections_closed(self) -> int:
        """Only the asking connection is left open, no generation runs (a cancelled
        one stops at its next token, after its connection is gone; the forward pass's
        scratch is given back when none runs) and the heap is back to its idle size
        (the others were freed); returns the heap size."""
        n = heap = -1
        for _ in range(100):
            before = heap
            plain = self.metrics()[1]
            n, heap = plain["cllm_http_connections"], plain["cllm_memory_heap_bytes"]
            busy = plain.get("cllm_requests_processing", 0)
            # without an idle size yet, the same heap twice running: settled
            if n == 1 and not busy and heap == (self.idle_heap or before):
                break
            time.sleep(0.1)
        assert n == 1, f"{n} HTTP connections still open"
        assert heap == (self.idle_heap or heap), f"heap {heap} bytes, {self.idle_heap} when idle"
        slots = json.loads(self.guest.call("GET", "/slots")[1])
        assert not any(s["is_processing"] for s in slots)
        return heap


@pytest.fixture(scope="module")
def served(kernel_elf, models_dir) -> Iterator[Served]:
    vm, port = _boot(kernel_elf, models_dir, cmdline=f"cllm.request_timeout_ms={int(REQUEST_TIMEOUT_S * 1000)}")
    try:
        g = Guest(vm, port)
        s = Served(vm, g, g.completion(PROMPT, N_TOKENS))
        assert s.answer
        s.idle_heap = s.wait_connections_closed()
        yield s
        assert not any("panic" in ln for ln in vm.lines), vm.log_text()
    finally:
        vm.close()


def connect(port: int) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_to_close(s: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := s.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def completion_request(body: dict[str, object], extra: bytes = b"") -> bytes:
    raw = json.dumps(body).encode()
    return (b"POST /v1/completions HTTP/1.1\r\nHost: guest\r\nContent-Type: application/json\r\n"
            b"%sContent-Length: %d\r\n\r\n%s" % (extra, len(raw), raw))


def assert_error(resp: Response, status: int) -> str:
    """An OpenAI-shaped error with the status; returns its message."""
    assert resp.status == status, resp
    err = resp.json()["error"]  # type: ignore[index]
    assert err["code"] == status and isinstance(err["type"], str) and err["message"], err
    return str(err["message"])


def in_background(fn: Callable[[], object]) -> Callable[[], object]:
    """Run fn in a thread; the returned call joins it and gives its result (or raises)."""
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 (re-raised by the join)
            box["error"] = e

    t = threading.Thread(target=run)
    t.start()

    def join() -> object:
        t.join(IO_TIMEOUT_S * 2)
        assert not t.is_alive(), "background client hung"
        if "error" in box:
            raise box["error"]  # type: ignore[misc]
        return box.get("value")

    return join


def test_slow_sender_is_served_and_a_stalled_one_gets_408(served):
    before, _ = served.metrics()
    req = completion_request({"prompt": PROMPT, "max_tokens": N_TOKENS, "temperature": 0},
                             b"Connection: close\r\n")
    head_len = req.index(b"\r\n\r\n") + 4

    def slow() -> bytes:
        # The head in 4-byte pieces 40 ms apart: about 1.3 s, inside the timeout.
        with connect(served.guest.port) as s:
            for i in range(0, head_len, 4):
                s.sendall(req[i:min(i + 4, head_len)])
                time.sleep(0.04)
            s.sendall(req[head_len:])
            return read_to_close(s)

    def stalled() -> bytes:
        with connect(served.guest.port) as s:
            s.sendall(req[:head_len - 30])
            return read_to_close(s)  # the server answers and closes

    slow_done, stalled_done = in_background(slow), in_background(stalled)
    served.healthy()
    [resp] = parse_responses(slow_done())  # type: ignore[arg-type]
    assert resp.status == 200 and resp.json()["choices"][0]["text"] == served.answer  # type: ignore[index]
    [resp] = parse_responses(stalled_done())  # type: ignore[arg-type]
    assert "in time" in assert_error(resp, 408)
    assert resp.headers["connection"] == "close"
    served.healthy()
    after, _ = served.metrics()
    assert after.get(("invalid", 408), 0) == before.get(("invalid", 408), 0) + 1
    served.wait_connections_closed()


def _healthy_after_retries(served: Served, tries: int = 15) -> None:
    """served.healthy(), honouring a 503's Retry-After the way a client should: while
    every connection is young a full server refuses newcomers with 503 instead of
    resetting a connection that has not had time to send its request."""
    for _ in range(tries):
        c = served.guest.conn()
        try:
            c.request("GET", "/health")
            r = c.getresponse()
            body, retry = r.read(), r.getheader("Retry-After")
        finally:
            c.close()
        if r.status != 503:
            assert (r.status, body) == (200, b'{"status":"ok"}')
            served.healthy()
            return
        assert retry is not None and int(retry) >= 1, body
        time.sleep(int(retry))
    raise AssertionError(f"/health still 503 after {tries} tries")


def test_connection_flood(served):
    """150 connections opened at a steady pace (QEMU's user networking resets bursts
    of simultaneous connects) and left idle or half-sent, far past the server's limit:
    once a connection has had HTTP_ACCEPT_GRACE_MS to send its request, the oldest give
    way; until then newcomers get 503 with Retry-After. Clients keep being served."""
    _, before = served.metrics()
    flood: list[socket.socket] = []
    try:
        for i in range(150):
            s = connect(served.guest.port)
            flood.append(s)
            if i % 3 == 1:
                s.sendall(b"GET /health HTTP/1.1\r\nHo")
            elif i % 3 == 2:
                s.sendall(completion_request({"prompt": PROMPT})[:-5])  # body unfinished
            if i % 50 == 25:
                _healthy_after_retries(served)  # with the connections so far still open
            time.sleep(0.015)
        _healthy_after_retries(served)
        # What each flood connection saw: nothing yet, a reset without a byte (made
        # room for a newer one), a 503 (the server was full of young connections) or,
        # if it outlived the request timeout, a 408.
        ended = 0
        for s in flood:
            s.settimeout(0)
            try:
                data = s.recv(65536)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                data = b""
            ended += 1
            if data:
                s.settimeout(IO_TIMEOUT_S)
                [resp] = parse_responses(data + read_to_close(s))
                if resp.status == 503:
                    assert int(resp.headers["retry-after"]) >= 1, resp
                    continue
                assert_error(resp, 408)
        # Still open at most: the server's connections, and idle sockets whose handshake
        # the full TCP pool has not completed yet (their ACK waits for a retransmission).
        assert ended >= 150 - HTTP_MAX_CONNS - TCP_MAX_CONNS, f"only {ended} of 150 idle connections were ended"
    finally:
        for s in flood:
            s.close()
    _, after = served.metrics()
    assert after["cllm_http_connections_evicted_total"] > before["cllm_http_connections_evicted_total"]
    served.wait_connections_closed()
    served.healthy()


MALFORMED: list[tuple[str, bytes, int, str]] = [
    # (case, bytes sent, status, metrics path)
    ("no-version", b"GET /health\r\n\r\n", 400, "invalid"),
    ("bad-version", b"GET /health HTTP/one\r\nHost: g\r\n\r\n", 400, "invalid"),
    ("http2", b"GET /health HTTP/2.0\r\nHost: g\r\n\r\n", 505, "invalid"),
    ("tls-hello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32)), 400, "invalid"),
    ("space-before-colon", b"GET /health HTTP/1.1\r\nHost : g\r\n\r\n", 400, "invalid"),
    ("no-colon", b"GET /health HTTP/1.1\r\nHost: g\r\nJustAName\r\n\r\n", 400, "invalid"),
    ("nul-in-header", b"GET /health HTTP/1.1\r\nHost: g\x00h\r\n\r\n", 400, "invalid"),
    ("nul-in-target", b"GET /hea\x00lth HTTP/1.1\r\nHost: g\r\n\r\n", 400, "invalid"),
    ("no-host", b"GET /health HTTP/1.1\r\n\r\n", 400, "invalid"),
    ("bad-length", b"POST /tokenize HTTP/1.1\r\nHost: g\r\nContent-Length: 1x\r\n\r\n", 400, "invalid"),
    ("bad-chunk-size", (b"POST /tokenize HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"-5\r\nhello\r\n0\r\n\r\n"), 400, "invalid"),
    ("chunk-without-crlf", (b"POST /tokenize HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"2\r\n{}XX0\r\n\r\n"), 400, "invalid"),
    ("chunk-size-overflow", (b"POST /tokenize HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"ffffffffffffffffffff\r\n"), 413, "invalid"),
    ("gzip", b"POST /tokenize HTTP/1.1\r\nHost: g\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "invalid"),
    ("huge-header", b"GET /health HTTP/1.1\r\nHost: g\r\nX-Big: " + b"b" * MAX_HEADER + b"\r\n\r\n",
     431, "invalid"),
    ("many-headers", b"GET /health HTTP/1.1\r\nHost: g\r\n"
     + b"".join(b"X-H%d: %d\r\n" % (i, i) for i in range(60)) + b"\r\n", 431, "invalid"),
    ("huge-body", b"POST /v1/completions HTTP/1.1\r\nHost: g\r\nContent-Length: %d\r\n\r\n{"
     % (MAX_BODY + 1), 413, "invalid"),
]

BAD_JSON: list[tuple[str, bytes, str]] = [
    # (case, body, words in the message); the answer is 400 on the completion route
    ("truncated", b'{"prompt": ', "JSON"),
    ("trailing-comma", b'{"prompt": "a",}', "JSON"),
    ("bad-utf8", b'{"prompt": "a\xff\xfeb"}', "UTF-8"),
    ("overlong-utf8", b'{"prompt": "\xc0\xaf"}', "UTF-8"),
    ("encoded-surrogate", b'{"prompt": "\xed\xa0\x80"}', "UTF-8"),
    ("cut-utf8", b'{"prompt": "\xe2\x82"}', "UTF-8"),
    ("lone-surrogate-escape", b'{"prompt": "\\ud800"}', "surrogate"),
    ("raw-nul", b'{"prompt": "a\x00b"}', "control character"),
    ("too-deep", b'{"prompt": ' + b"[" * 200 + b"]" * 200 + b"}", "deep"),
    ("not-an-object", b'["prompt"]', "object"),
    ("wrong-type", b'{"prompt": "a", "max_tokens": "ten"}', "max_tokens"),
]


@pytest.mark.parametrize("data, status, path", [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_http(served, data, status, path):
    before, _ = served.metrics()
    with connect(served.guest.port) as s:
        s.sendall(data)
        [resp] = parse_responses(read_to_close(s))
    assert_error(resp, status)
    assert resp.headers["connection"] == "close"
    after, _ = served.metrics()
    assert after[(path, status)] == before.get((path, status), 0) + 1
    assert served.guest.call("GET", "/health")[0] == 200


@pytest.mark.parametrize("body, words", [c[1:] for c in BAD_JSON], ids=[c[0] for c in BAD_JSON])
def test_malformed_json(served, body, words):
    before, _ = served.metrics()
    with connect(served.guest.port) as s:
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: g\r\nConnection: close\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
        [resp] = parse_responses(read_to_close(s))
    assert words in assert_error(resp, 400)
    after, _ = served.metrics()
    key = ("/v1/completions", 400)
    assert after[key] == before.get(key, 0) + 1
    assert served.guest.call("GET", "/health")[0] == 200


def test_head_then_get_on_one_connection(served):
    # http.client reads no body after HEAD: one sent would corrupt the next answer.
    c = served.guest.conn()
    try:
        for method, path, status in (("HEAD", "/health", 200), ("HEAD", "/v1/completions", 405),
                                     ("GET", "/health", 200)):
            c.request(method, path)
            r = c.getresponse()
            assert r.status == status
            assert r.read() == (b'{"status":"ok"}' if method == "GET" else b"")
    finally:
        c.close()


def test_healthy_after_the_malformed_requests(served):
    served.healthy()
    served.wait_connections_closed()


def test_client_resetting_mid_stream(served):
    req = completion_request({"prompt": PROMPT, "max_tokens": 400, "stream": True, "ignore_eos": True})
    with connect(served.guest.port) as s:
        s.sendall(req)
        data = b""
        while data.count(b"data: ") < 3:
            chunk = s.recv(4096)
            assert chunk
            data += chunk
        served.healthy()  # while the stream runs
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close = RST
    served.wait_connections_closed()  # the generation was stopped and its slot freed
    served.healthy()


def test_slow_reader_of_a_long_stream(served):
    """A client reads a long stream after a stall, then in small pieces: the stream
    completes intact while other clients are served at once."""
    body = {"prompt": "The little dog", "max_tokens": 300, "temperature": 0, "ignore_eos": True}
    status, whole = served.guest.call("POST", "/v1/completions", body)
    assert status == 200
    expected = json.loads(whole)["choices"][0]["text"]
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)  # before connect: small window
    s.settimeout(IO_TIMEOUT_S)
    with s:
        s.connect(("127.0.0.1", served.guest.port))
        s.sendall(completion_request({**body, "stream": True}))
        data = s.recv(64)
        time.sleep(3)  # read nothing: the buffers between server and client fill up
        served.healthy()
        while not data.endswith(b"\r\n0\r\n\r\n"):
            chunk = s.recv(256)
            assert chunk, "stream ended early"
            data += chunk
            time.sleep(0.002)
    [resp] = parse_responses(data, closed=False)
    events = resp.sse_events()
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert "".join(c["choices"][0]["text"] for c in chunks) == expected
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    served.healthy()
    served.wait_connections_closed()
