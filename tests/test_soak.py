"""Soak: one kernel under mixed traffic for a while, then back to its idle state.

Eight client threads run for CLLM_SOAK_SECONDS (default 120; `make soak` runs an hour)
against one kernel in QEMU, each request drawn from a fixed rotation: greedy
completions and streamed greedy chats (whose text must equal what the idle server
answers), streams cancelled after their first chunk (the socket reset), bad requests
(malformed JSON, an unknown route, an out-of-range parameter, an oversized body: each
must get its status and an error body), bursts of half-sent connections left to time
out (each must get its 408), and prompts longer than the context (a 400, or an answer). Afterwards the kernel
must be back where it was when idle: one open HTTP connection (the asking one), no
generation in progress, the same heap bytes and the same free pages, no TCP connection
beyond the asking one, and no panic in the log. Memory is checked by owner
(cllm_memory_bytes{owner=...}): before and after, the owners add up to
cllm_memory_total_bytes exactly; afterwards every owner holds what it held when idle
(each heap tag, network buffers included), but for the KV pool, whose blocks must all be
free or cached (the prefix cache may keep more than before), and its consistency walk
passes.

QEMU's user networking forwards the host port through a listener of its own whose
accept backlog is one: when more clients connect at once than it has accepted, the
host's TCP stack drops a SYN, and the connection it completes on the retransmission
is then reset by that listener before the guest ever sees it (a bare RST after the
request, no byte of an answer). Such a refusal is retried; that it came from the host
and not from the kernel is checked afterwards: across the traffic the kernel sent no
TCP reset and reset no HTTP connection to make room, so every connection that reached
it was answered."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import struct
import threading
import time
from collections import Counter

import pytest
from test_api_qemu import Guest, _boot
from test_serve_robust import Served, completion_request

pytestmark = [pytest.mark.qemu, pytest.mark.soak]

SOAK_SECONDS = float(os.environ.get("CLLM_SOAK_SECONDS", "120"))
CLIENTS = 8
PROMPTS = ["Once upon a time", "The little dog", "Lily wanted to", "One day, a bird"]
N_TOKENS = 12
REQUEST_TIMEOUT_S = 3.0
REFUSED_TRIES = 20  # attempts of one request refused by the host-side forwarder
REFUSED_PAUSE_S = 0.2  # between them
BURST = 6  # half-sent connections per burst


class Refused(Exception):
    """The connection was reset before any byte of an answer (see the module text)."""


def send(c: http.client.HTTPConnection, method: str, path: str,
         body: object = None) -> http.client.HTTPResponse:
    """The request on c and its response head; a reset before the status line is
    Refused, one after it is a failure like any other."""
    data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
    try:
        c.request(method, path, body=data, headers={"Content-Type": "application/json"})
        return c.getresponse()
    except (ConnectionResetError, BrokenPipeError) as e:
        raise Refused(f"{method} {path}: {e}") from e


def call(g: Guest, method: str, path: str, body: object = None) -> tuple[int, bytes]:
    c = g.conn()
    try:
        r = send(c, method, path, body)
        return r.status, r.read()
    finally:
        c.close()


def completion(g: Guest, prompt: str) -> str:
    status, body = call(g, "POST", "/v1/completions",
                        {"prompt": prompt, "max_tokens": N_TOKENS, "temperature": 0})
    assert status == 200, body
    return str(json.loads(body)["choices"][0]["text"])


def chat_body(prompt: str, stream: bool) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": prompt}], "max_tokens": N_TOKENS,
            "temperature": 0, "stream": stream}


def chat_text(g: Guest, prompt: str) -> str:
    status, body = call(g, "POST", "/v1/chat/completions", chat_body(prompt, False))
    assert status == 200, body
    return str(json.loads(body)["choices"][0]["message"]["content"])


def stream_chat(g: Guest, prompt: str, cancel: bool) -> str | None:
    """A streamed chat: its whole text, or None when cancelled after the first chunk
    (the connection is reset, as a client that gives up does)."""
    c = g.conn(60)
    try:
        r = send(c, "POST", "/v1/chat/completions", chat_body(prompt, True))
        assert r.status == 200, r.read()
        text = ""
        while line := r.readline():
            line = line.strip()
            if not line.startswith(b"data: "):
                continue
            if line == b"data: [DONE]":
                return text
            delta = json.loads(line[6:])["choices"][0]["delta"]
            text += delta.get("content", "")
            if cancel:
                sock = c.sock
                assert sock is not None
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return None
        raise AssertionError(f"stream ended without [DONE]: {text!r}")
    finally:
        c.close()


def status_line(s: socket.socket) -> bytes:
    """The first line of the answer on s, read up to its end or the close; Refused if
    the connection is reset before any byte of it."""
    head = b""
    try:
        while b"\r\n" not in head and (chunk := s.recv(64)):
            head += chunk
    except ConnectionResetError as e:
        if not head:
            raise Refused(f"status line: {e}") from e
    return head.split(b"\r\n")[0]


def bad_requests(g: Guest) -> None:
    status, body = call(g, "POST", "/v1/completions", b'{"prompt": "x", ')
    assert status == 400 and b"error" in body, (status, body)
    status, _ = call(g, "GET", "/no/such/route")
    assert status == 404
    status, body = call(g, "POST", "/v1/completions", {"prompt": "x", "temperature": -3})
    assert status == 400 and b"temperature" in body, (status, body)
    s = socket.create_connection(("127.0.0.1", g.port), timeout=30)
    try:
        try:
            s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: guest\r\nContent-Length: 99999999\r\n\r\n")
        except (ConnectionResetError, BrokenPipeError) as e:
            raise Refused(f"oversized body: {e}") from e
        line = status_line(s)
        assert line.startswith(b"HTTP/1.1 413"), f"oversized body not refused with 413: {line!r}"
    finally:
        s.close()


def half_sent_burst(g: Guest) -> int:
    """BURST connections that send part of a request and wait: each one the host lets
    through is answered 408 by the server's request timeout. Returns how many the
    host-side forwarder refused."""
    socks, sent = [], []
    refused = 0
    try:
        for _ in range(BURST):
            s = socket.create_connection(("127.0.0.1", g.port), timeout=30)
            socks.append(s)
            try:
                s.sendall(completion_request({"prompt": "x"})[:20])
                sent.append(s)
            except (ConnectionResetError, BrokenPipeError):
                refused += 1
        time.sleep(REQUEST_TIMEOUT_S + 1)
        for s in sent:
            try:
                line = status_line(s)
            except Refused:
                refused += 1
                continue
            assert line.startswith(b"HTTP/1.1 408"), f"half-sent request not answered 408: {line!r}"
    finally:
        for s in socks:
            s.close()
    return refused


def memory_owners(g: Guest) -> dict[str, int]:
    """cllm_memory_bytes by owner; checks they add up to cllm_memory_total_bytes."""
    status, body = g.call("GET", "/metrics")
    assert status == 200
    text = body.decode()
    total = re.search(r"^cllm_memory_total_bytes (\d+)$", text, re.MULTILINE)
    assert total, text
    owners = {m.group(1): int(m.group(2))
              for m in re.finditer(r'^cllm_memory_bytes\{owner="([a-z_]+)"\} (\d+)$', text, re.MULTILINE)}
    assert sum(owners.values()) == int(total.group(1)), (int(total.group(1)), owners)
    return owners


def check_owners_idle(idle: dict[str, int], now: dict[str, int]) -> None:
    """Every owner back to its idle bytes; KV blocks all free or cached."""
    kv = ("kv_used", "kv_cached", "kv_free")
    assert now.keys() == idle.keys(), (sorted(now), sorted(idle))
    assert now["kv_used"] == 0 and idle["kv_used"] == 0, (idle, now)
    assert now["kv_cached"] + now["kv_free"] == idle["kv_cached"] + idle["kv_free"], (idle, now)
    changed = {k: (idle[k], now[k]) for k in idle if k not in kv and idle[k] != now[k]}
    assert not changed, f"owners not back to idle (idle, now): {changed}"


def long_prompt(g: Guest) -> None:
    status, body = call(g, "POST", "/v1/completions",
                        {"prompt": "Once upon a time " * 400, "max_tokens": 4, "temperature": 0})
    assert status in (200, 400), (status, body)
    if status == 400:
        assert json.loads(body)["error"]["message"]


@pytest.fixture(scope="module")
def served(kernel_elf, models_dir):
    vm, port = _boot(kernel_elf, models_dir,
                     cmdline=f"cllm.request_timeout_ms={int(REQUEST_TIMEOUT_S * 1000)}")
    try:
        g = Guest(vm, port)
        s = Served(vm, g, g.completion(PROMPTS[0], N_TOKENS))
        yield s
    finally:
        vm.close()


def test_mixed_traffic_returns_to_idle(served) -> None:
    g = served.guest
    answers = {p: completion(g, p) for p in PROMPTS}
    chats = {p: chat_text(g, p) for p in PROMPTS}
    # one round of each kind first: lazily made buffers exist before the idle snapshot
    bad_requests(g)
    stream_chat(g, PROMPTS[0], cancel=True)
    served.idle_heap = 0
    served.idle_heap = served.wait_connections_closed()
    idle_free = served.metrics()[1]["cllm_memory_free_bytes"]
    idle_owners = memory_owners(g)
    # each subsystem is charged for its own blocks (port_alloc by source file)
    for owner in ("image", "stack", "model", "page_tables", "page_map", "heap_http", "heap_net",
                  "heap_llm", "heap_model", "heap_tokenizer", "heap_kv", "kv_free", "free"):
        assert idle_owners[owner] > 0, (owner, idle_owners)

    kinds = ["completion", "stream", "cancel", "bad", "completion", "stream", "burst", "long"]
    done: Counter[str] = Counter()
    errors: list[str] = []
    lock = threading.Lock()
    kernel_before = served.metrics()[1]
    deadline = time.monotonic() + SOAK_SECONDS

    def one(kind: str, prompt: str) -> int:
        """One request of kind, checked; returns the connections the host refused."""
        if kind == "completion":
            got = completion(g, prompt)
            assert got == answers[prompt], (prompt, got, answers[prompt])
        elif kind in ("stream", "cancel"):
            got = stream_chat(g, prompt, cancel=kind == "cancel")
            assert got is None or got == chats[prompt], (prompt, got, chats[prompt])
        elif kind == "bad":
            bad_requests(g)
        elif kind == "burst":
            return half_sent_burst(g)
        else:
            long_prompt(g)
        return 0

    def client(seed: int) -> None:
        i = seed
        while time.monotonic() < deadline:
            kind, prompt = kinds[i % len(kinds)], PROMPTS[i % len(PROMPTS)]
            i += 1
            refused = 0
            try:
                for _ in range(REFUSED_TRIES):
                    try:
                        refused += one(kind, prompt)
                        break
                    except Refused:
                        refused += 1
                        time.sleep(REFUSED_PAUSE_S)
                else:
                    raise AssertionError(f"refused by the host {REFUSED_TRIES} times in a row")
            except Exception as e:  # noqa: BLE001 (collected and reported below)
                with lock:
                    errors.append(f"{kind}: {type(e).__name__}: {e}")
            with lock:
                done[kind] += 1
                done["refused by the host"] += refused

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(SOAK_SECONDS + 300)
    assert not any(t.is_alive() for t in threads), "a client hung"
    assert not errors, f"{len(errors)} failures of {sum(done.values())} requests: {errors[:5]}"
    assert done["completion"] and done["stream"] and done["cancel"], done
    # The refusals were the host's: the kernel evicted no connection while the traffic
    # ran. (Its resets are not counted: a RST that answers a segment arriving for a
    # connection already closed, such as a cancelled stream's, is ordinary TCP.)
    kernel_after = served.metrics()[1]
    for counter in ("cllm_http_connections_evicted_total",):
        assert kernel_after[counter] == kernel_before[counter], (counter, kernel_before[counter],
                                                                 kernel_after[counter], dict(done))

    served.wait_connections_closed()  # one connection, the idle heap, nothing processing
    plain = served.metrics()[1]
    assert plain["cllm_memory_free_bytes"] == idle_free, (plain["cllm_memory_free_bytes"], idle_free)
    check_owners_idle(idle_owners, memory_owners(g))
    assert plain["cllm_requests_processing"] == 0
    assert plain.get("cllm_kv_pool_consistent", 1) == 1, "the KV pool's walk failed"
    tcp = plain.get("cllm_net_tcp_connections")
    assert tcp is None or tcp <= 2, f"{tcp} TCP connections left"
    assert not any("panic" in ln for ln in served.vm.lines), served.vm.log_text()[-3000:]
    print(f"soak {SOAK_SECONDS:g} s: {dict(done)}")
