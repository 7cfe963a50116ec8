"""Bursts of simultaneous connections from a real Linux TCP peer: every client answered.

16, 32 and 64 clients connect in the same instant (no pacing) and each asks for a
completion. Every one must get an HTTP answer, the completion (the idle server's
greedy text) or a 503 with Retry-After when the generation slots or the connections
are all taken; none may be reset or left without a reply. Past the half-open table a
SYN is answered with a SYN cookie and past the connection pool the client's ACK waits
for its retransmission (kernel/net/tcp.c); the HTTP server never resets a connection
that has had no time to send its request (kernel/http/server.c).

The clients run in a network namespace behind a tap, as in test_net_netns.py, but on
an unimpaired link: QEMU's user networking cannot carry such a burst (its host-side
listener admits a couple of connections at a time and the host retries the rest for
up to a minute), so the peer must talk to the kernel's stack directly.

Run alone: `python tests/test_net_burst.py client <guest ip> <n>...` inside a namespace.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

GUEST_IP = "192.168.77.2"
PROMPT, N_TOKENS = "Once upon a time", 24
BURSTS = (16, 32, 64)
GEN_SLOTS = 64  # API_MAX_SLOTS: this many completions can run at once
HTTP_MAX_CONNS = 72  # kernel/http/http_param.h
HTTP_ACCEPT_GRACE_MS = 1000  # kernel/http/http_param.h
IO_TIMEOUT_S = 120.0
TIME_WAIT_S = 2  # TCP_TIME_WAIT_MS in kernel/include/net/net_param.h


def test_host_a_young_connection_is_never_reset_to_make_room() -> None:
    """The HTTP side of a burst (host harness, kernel/http/server.c): with every
    connection younger than HTTP_ACCEPT_GRACE_MS and none with a request yet, a
    newcomer gets 503 with Retry-After and nobody is reset; the connections then send
    their requests and are answered. Once they are old and still silent, the oldest
    gives way as before (one of them: they are equally old)."""
    from http_support import Script, parse_responses, request

    late = HTTP_MAX_CONNS + 1  # the newcomer
    s = Script().cmd("clock", 1000)
    for i in range(1, HTTP_MAX_CONNS + 1):
        s.open(i)
    s.cmd("clock", 1000 + HTTP_ACCEPT_GRACE_MS - 1).open(late).poll()
    for i in range(1, HTTP_MAX_CONNS + 1):
        s.send(i, request("GET", "/health"))
    s.poll()
    r = s.execute()
    [resp] = parse_responses(r.out[late])
    assert resp.status == 503 and int(resp.headers["retry-after"]) >= 1, resp
    assert r.state[late] == "closed"
    for i in range(1, HTTP_MAX_CONNS + 1):
        assert [x.status for x in r.responses(i)] == [200], i
    s = Script().cmd("clock", 1000)
    for i in range(1, HTTP_MAX_CONNS + 1):
        s.open(i)
    s.cmd("clock", 1000 + HTTP_ACCEPT_GRACE_MS).open(late).poll().send(late, request("GET", "/health")).poll()
    r = s.execute()
    reset = [i for i in range(1, HTTP_MAX_CONNS + 1) if r.state[i] == "closed"]
    assert len(reset) == 1 and r.out[reset[0]] == b"", reset
    assert [x.status for x in r.responses(late)] == [200]


@pytest.mark.qemu
def test_bursts_of_simultaneous_completions_are_all_answered(kernel_elf: Path, models_dir: Path) -> None:
    if shutil.which("ip") is None:
        pytest.skip("iproute2 (ip) is not installed")
    from test_net_netns import GUEST_IP as NETNS_GUEST_IP
    from test_net_netns import guest_behind_tap

    from cllm_build import qemu

    assert NETNS_GUEST_IP == GUEST_IP
    model = (qemu.Module(models_dir / "stories260K.gguf", "model"),)
    with guest_behind_tap(kernel_elf, "e1000", impaired=False, seed=1, memory_mib=256,
                          modules=model) as (_vm, ns, _relay):
        proc = subprocess.run(
            ["ip", "netns", "exec", ns, sys.executable, __file__, "client", GUEST_IP, *map(str, BURSTS)],
            capture_output=True, text=True, timeout=900, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        result = json.loads(proc.stdout.strip().splitlines()[-1])
    print("burst result", json.dumps(result))
    for n in BURSTS:
        burst = result[str(n)]
        assert burst["unanswered"] == [], (n, burst)
        assert burst["wrong"] == [], (n, burst)
        assert sum(burst["statuses"].values()) == n, (n, burst)
        assert set(burst["statuses"]) <= {"200", "503"}, (n, burst)
        assert burst["statuses"].get("200", 0) >= min(n, GEN_SLOTS), (n, burst)
    # Nobody was reset to make room. (A reset may still answer a client's late
    # retransmission to a connection already finished: "resets_sent" is for the log.)
    assert result["http_evicted"] == 0, result
    assert result["tcp_connections"] == 0 and result["http_connections"] == 1, result


# ---- the client, run inside the namespace ----

def _request() -> bytes:
    body = json.dumps({"prompt": PROMPT, "max_tokens": N_TOKENS, "temperature": 0}).encode()
    return (b"POST /v1/completions HTTP/1.1\r\nHost: cllm\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))


def _exchange(ip: str, start: threading.Barrier | None) -> tuple[int, dict[str, str], bytes] | str:
    """One request on its own connection: (status, headers, body), or what went wrong."""
    if start:
        start.wait()
    try:
        with socket.create_connection((ip, 80), timeout=IO_TIMEOUT_S) as s:
            s.sendall(_request())
            data = bytearray()
            while chunk := s.recv(65536):
                data.extend(chunk)
    except OSError as e:
        return f"{type(e).__name__}: {e}"
    head, sep, body = bytes(data).partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", head)
    if not sep or not m:
        return f"no HTTP answer ({len(data)} bytes)"
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    if int(headers.get("content-length", -1)) != len(body):
        return f"status {m.group(1).decode()}: body cut short"
    return int(m.group(1)), headers, body


def _metrics(ip: str) -> bytes:
    with socket.create_connection((ip, 80), timeout=IO_TIMEOUT_S) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: cllm\r\nConnection: close\r\n\r\n")
        data = bytearray()
        while chunk := s.recv(65536):
            data.extend(chunk)
    return bytes(data)


def _metric(ip: str, name: str) -> int:
    m = re.search(rb"^%s (\d+)$" % name.encode(), _metrics(ip), re.MULTILINE)
    return int(m.group(1)) if m else -1


def _drops(ip: str) -> dict[str, int]:
    """Dropped segments and frames by reason, the ones seen so far."""
    found = re.findall(rb'^cllm_net_drops_total\{reason="(\w+)"\} (\d+)$', _metrics(ip), re.MULTILINE)
    return {k.decode(): int(v) for k, v in found if int(v)}


def _burst(ip: str, n: int, answer: str) -> dict[str, object]:
    start = threading.Barrier(n)
    results: list[object] = [None] * n

    def one(k: int) -> None:
        results[k] = _exchange(ip, start)

    threads = [threading.Thread(target=one, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(IO_TIMEOUT_S * 2)
    statuses: dict[str, int] = {}
    unanswered, wrong = [], []
    for r in results:
        if not isinstance(r, tuple):
            unanswered.append(str(r))
            continue
        status, headers, body = r
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        if status == 200:
            if json.loads(body)["choices"][0]["text"] != answer:
                wrong.append(body.decode(errors="replace")[:200])
        elif status != 503 or int(headers.get("retry-after", "0")) < 1:
            wrong.append(f"{status} {headers.get('retry-after')!r} {body[:120]!r}")
    return {"statuses": statuses, "unanswered": unanswered, "wrong": wrong}


def client(ip: str, bursts: list[int]) -> None:
    idle = _exchange(ip, None)
    assert isinstance(idle, tuple) and idle[0] == 200, idle
    answer = json.loads(idle[2])["choices"][0]["text"]
    resets = _metric(ip, "cllm_net_tcp_resets_sent_total")
    evicted = _metric(ip, "cllm_http_connections_evicted_total")
    accepted = _metric(ip, "cllm_net_tcp_accepted_total")
    out: dict[str, object] = {str(n): _burst(ip, n, answer) for n in bursts}
    time.sleep(TIME_WAIT_S + 1)  # the server closed first: its side lingers in TIME_WAIT
    # Every connection of the bursts is gone (the asking one is counted: less 1).
    out["tcp_connections"] = _metric(ip, "cllm_net_tcp_connections") - 1
    out["resets_sent"] = _metric(ip, "cllm_net_tcp_resets_sent_total") - resets
    out["http_evicted"] = _metric(ip, "cllm_http_connections_evicted_total") - evicted
    out["http_connections"] = _metric(ip, "cllm_http_connections")
    out["drops"] = _drops(ip)
    # Connections opened for the bursts and the five /metrics reads since `accepted`.
    out["extra_accepts"] = _metric(ip, "cllm_net_tcp_accepted_total") - accepted - sum(bursts) - 5
    print(json.dumps(out))


if __name__ == "__main__" and len(sys.argv) >= 4 and sys.argv[1] == "client":
    client(sys.argv[2], [int(a) for a in sys.argv[3:]])
