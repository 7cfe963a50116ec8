"""Host tests of the HTTP/1.1 server (kernel/http): the incremental parser fed at
every split point, limits (431, 413), chunked bodies, malformed requests, and the
server glue through a fake transport: keep-alive, pipelining, 100-continue, idle and
slow-client timeouts on a fake clock, backpressure, connection limits, resets."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from http_support import Script, exchange, parse_responses, request, run_harness

MAX_HEADER = 8192
MAX_BODY = 256 * 1024


def parse(tmp_path: Path, data: bytes, stride: int = 1) -> list[str]:
    f = tmp_path / "req.bin"
    f.write_bytes(data)
    lines = run_harness("parse", str(f), str(stride)).splitlines()
    assert lines[-1] == f"splits ok {len(data)}", "\n".join(lines)
    return lines[:-1]


def test_pipelined_stream_parses_the_same_at_every_split(tmp_path):
    stream = (
        b"POST /v1/completions?x=1 HTTP/1.1\r\nHost: a\r\ncontent-length: 5\r\n\r\nhello"
        b"GET /health HTTP/1.1\r\nhost: b\r\nCONNECTION: Close\r\n\r\n"
        b"POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n"
        b"3;name=value\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\nX-Trailer: 1\r\n\r\n"
        b"\r\nGET /a HTTP/1.0\r\n\r\n"
    )
    lines = parse(tmp_path, stream)
    reqs = [ln for ln in lines if ln.startswith("request ")]
    assert reqs == [
        "request POST /v1/completions?x=1 path=/v1/completions 1.1 keep_alive=1 chunked=0 continue=0",
        "request GET /health path=/health 1.1 keep_alive=0 chunked=0 continue=0",
        "request POST /c path=/c 1.1 keep_alive=1 chunked=1 continue=0",
        "request GET /a path=/a 1.0 keep_alive=0 chunked=0 continue=0",
    ]
    bodies = [ln for ln in lines if ln.startswith("body")]
    assert bodies == ["body " + b"hello".hex(), "body ", "body " + b"abc0123456789abcdef".hex(), "body "]
    assert "header CONNECTION: Close" in lines
    assert lines[-1] == "end started=0"


def test_header_values_are_trimmed_and_expect_continue_seen(tmp_path):
    lines = parse(tmp_path, b"PUT /x HTTP/1.1\r\nHost:h\r\nX-A: \t spaced  \t\r\n"
                            b"Expect: 100-Continue\r\nContent-Length: 2\r\n\r\nok")
    assert "header X-A: spaced" in lines and "header Host: h" in lines
    assert lines[0].endswith("continue=1")


def test_http10_keep_alive_and_bare_lf_lines(tmp_path):
    lines = parse(tmp_path, b"GET / HTTP/1.0\nConnection: keep-alive\n\n")
    assert lines[0] == "request GET / path=/ 1.0 keep_alive=1 chunked=0 continue=0"


@pytest.mark.parametrize("target, path", [
    ("http://cllm:8080/v1/models?x=1", "/v1/models"),
    ("HTTPS://cllm/health", "/health"),
    ("http://cllm", "/"),
    ("http://cllm?q=1", "/"),
])
def test_absolute_form_target_routes_by_its_path(tmp_path, target, path):
    lines = parse(tmp_path, f"GET {target} HTTP/1.1\r\nHost: cllm\r\n\r\n".encode())
    assert lines[0] == f"request GET {target} path={path} 1.1 keep_alive=1 chunked=0 continue=0"


def test_incomplete_request_waits_for_more(tmp_path):
    lines = parse(tmp_path, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
    assert lines == ["end started=1"]


@pytest.mark.parametrize("data, status, words", [
    (b"GET / HTTP/1.1\r\n\r\n", 400, "missing Host"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "more than one Host"),
    (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "request-target"),
    (b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, "method"),
    (b"GET / HTTP/1.1 x\r\nHost: a\r\n\r\n", 400, "version"),
    (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, "version"),
    (b"GET x HTTP/1.1\r\nHost: a\r\n\r\n", 400, "start with '/'"),
    (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, "field name"),
    (b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", 400, "folding"),
    (b"GET / HTTP/1.1\r\nHost: a\x01b\r\n\r\n", 400, "control character"),
    (b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 400, "stray CR"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400, "Content-Length"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400, "conflicting"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400, "Content-Length"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "both"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "Transfer-Encoding"),
    (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "HTTP/1.0"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "chunk size"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n", 400, "CRLF"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * 200 + b"\r\n", 400, "too long"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1), 413, "too large"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n" % (MAX_BODY + 1), 413, "too large"),
    (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffffff\r\n", 413, "too large"),
])
def test_malformed_and_over_limit_requests(tmp_path, data, status, words):
    lines = parse(tmp_path, data)
    assert len(lines) == 1 and lines[0].startswith(f"error {status} "), lines
    assert words in lines[0]


@pytest.mark.parametrize("data", [b"\x16\x03\x01\x02\x00", b"GET\x00/", b" GET / HTTP/1.1\r\n"])
def test_junk_is_refused_at_the_first_bad_byte(tmp_path, data):
    # No need to wait for a complete header block (or the 408 timeout) to know.
    assert parse(tmp_path, data) == ["error 400 malformed request line: bad method"]


def test_header_block_limit_is_431(tmp_path):
    head = b"GET / HTTP/1.1\r\nHost: a\r\n"
    fits = head + b"X: " + b"a" * (MAX_HEADER - len(head) - 7) + b"\r\n\r\n"
    assert len(fits) == MAX_HEADER
    assert parse(tmp_path, fits, stride=509)[0].startswith("request GET /")
    over = head + b"X: " + b"a" * (MAX_HEADER - len(head) - 6) + b"\r\n\r\n"
    assert parse(tmp_path, over, stride=509)[0].startswith("error 431 ")
    many = b"GET / HTTP/1.1\r\nHost: a\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(48)) + b"\r\n"
    assert parse(tmp_path, many, stride=7)[0] == "error 431 too many header fields"


def test_chunked_body_split_across_many_chunks(tmp_path):
    body = bytes(range(256)) * 40
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 777]), body[i:i + 777])
                      for i in range(0, len(body), 777))
    data = b"POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    lines = parse(tmp_path, data, stride=97)
    assert ("body " + body.hex()) in lines


# --- the server glue through the fake transport ------------------------------------------

def test_keep_alive_reuses_the_connection():
    s = Script().open(1)
    s.send(1, request("GET", "/health")).run()
    s.send(1, request("GET", "/health")).run()
    r = s.execute()
    rs = r.responses(1)
    assert [x.status for x in rs] == [200, 200]
    assert all(x.headers["connection"] == "keep-alive" for x in rs)
    assert r.state[1] == "open"


@pytest.mark.parametrize("version, headers, closes", [
    ("1.1", {"Connection": "close"}, True),
    ("1.0", {}, True),
    ("1.0", {"Connection": "keep-alive"}, False),
])
def test_connection_close_rules(version, headers, closes):
    s = Script().open(1)
    s.send(1, request("GET", "/health", headers=headers, version=version)).run()
    r = s.execute()
    [resp] = r.responses(1)
    assert resp.status == 200
    assert resp.headers["connection"] == ("close" if closes else "keep-alive")
    assert r.state[1] == ("closed" if closes else "open")


def test_head_answers_carry_no_body():
    # A body after a HEAD answer would be read as the start of the next response.
    heads = [request("HEAD", path) for path in ("/health", "/v1/completions", "/nope", "/metrics")]
    r = Script().open(1).send(1, b"".join(heads) + request("GET", "/health")).run().execute()
    out = r.out[1]
    parts = out.split(b"\r\n\r\n")
    assert [p.split(b" ", 2)[1] for p in parts[:4]] == [b"200", b"405", b"404", b"200"]
    assert parts[1].endswith(b"\r\nAllow: POST")
    assert parts[0].endswith(b"\r\nContent-Length: 15")  # what GET would send
    assert len(parts) == 6 and parts[4].startswith(b"HTTP/1.1 200 OK")
    assert parts[5] == b'{"status":"ok"}'
    assert r.state[1] == "open"


def test_pipelined_requests_answered_in_order():
    body = {"prompt": "abc", "max_tokens": 2}
    data = request("POST", "/v1/completions", body) + request("GET", "/nope") + request("GET", "/health")
    rs = exchange(data)
    assert [x.status for x in rs] == [200, 404, 200]
    assert rs[0].json()["choices"][0]["text"] == "AB"


def test_request_dribbled_one_byte_at_a_time():
    data = request("POST", "/v1/completions", {"prompt": "dribble", "max_tokens": 4})
    s = Script().open(1)
    for i in range(len(data)):
        s.send(1, data[i:i + 1])
    s.run()
    [resp] = s.execute().responses(1)
    assert resp.json()["choices"][0]["text"] == "DRIB"


def test_expect_100_continue_gets_interim_response():
    body = b'{"content":"hi"}'
    head = (b"POST /tokenize HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body))
    s = Script().open(1).send(1, head).poll().cmd("dump")
    s.send(1, body).run()
    r = s.execute()
    assert r.out[1].startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n")
    [resp] = r.responses(1)
    assert resp.json() == {"tokens": [104, 105]}


def test_malformed_request_gets_400_and_close():
    s = Script().open(1).send(1, b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n").run()
    r = s.execute()
    [resp] = r.responses(1)
    assert resp.status == 400 and resp.headers["connection"] == "close"
    err = resp.json()["error"]
    assert err["code"] == 400 and err["type"] == "invalid_request_error" and "header" in err["message"]
    assert r.state[1] == "closed"


def test_oversized_body_gets_413_before_the_body_arrives():
    head = b"POST /v1/completions HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1)
    r = Script().open(1).send(1, head).run().execute()
    [resp] = r.responses(1)
    assert resp.status == 413 and resp.json()["error"]["code"] == 413
    assert r.state[1] == "closed"


def test_oversized_header_block_gets_431():
    r = Script().open(1).send(1, b"GET / HTTP/1.1\r\nX: " + b"a" * MAX_HEADER + b"\r\n\r\n").run().execute()
    [resp] = r.responses(1)
    assert resp.status == 431 and r.state[1] == "closed"


def test_idle_connection_closed_after_timeout():
    s = Script().cmd("clock", 1000).open(1).open(2)
    s.send(2, request("GET", "/health"))
    s.cmd("clock", 1000 + 29_000).poll()
    s.cmd("clock", 1000 + 29_500).send(2, request("GET", "/health")).poll()
    s.cmd("clock", 1000 + 31_000).poll()
    r = s.execute()
    assert r.state[1] == "closed" and r.out[1] == b""
    assert r.state[2] == "open" and len(r.responses(2)) == 2


def test_slow_client_gets_408():
    s = Script().cmd("clock", 5000).open(1).send(1, b"POST /v1/completions HTTP/1.1\r\nHost: a\r\n")
    s.cmd("clock", 5000 + 10_000).send(1, b"Content-Length: 100\r\n\r\n{").poll()
    s.cmd("clock", 5000 + 14_000).poll().cmd("dump")
    s.cmd("clock", 5000 + 15_001).poll()
    r = s.execute()
    [resp] = r.responses(1)
    assert resp.status == 408 and resp.json()["error"]["code"] == 408
    assert r.state[1] == "closed"


def test_blank_lines_start_the_request_clock():
    # One stray CRLF (after a body, say) leaves the connection idle; a client that
    # keeps sending blank lines to hold the connection gets 408 like any slow sender.
    s = Script().cmd("clock", 1000).open(1).open(2).send(1, "\r\n").send(2, "\r\n")
    for t in range(5000, 30_000, 5000):
        s.cmd("clock", 1000 + t).send(2, "\r\n").poll()
    s.cmd("clock", 1000 + 29_000).poll()  # the clock started with the 5th blank byte
    r = s.execute()
    assert r.out[1] == b"" and r.state[1] == "open"
    [resp] = r.responses(2)
    assert resp.status == 408 and r.state[2] == "closed"


def test_streaming_pauses_for_a_slow_reader_and_completes():
    prompt = "x" * 400
    req = request("POST", "/v1/completions", {"prompt": prompt, "stream": True, "max_tokens": 400})
    free = Script().open(1).send(1, req).run().execute().responses(1)[0]
    s = Script().open(1).cmd("space", 1, 0).send(1, req).poll(50)
    s.cmd("space", 1, 3000).poll(2000)
    s.cmd("space", 1, -1).cmd("writable", 1).run()
    r = s.execute()
    [resp] = r.responses(1)

    def events(rsp):  # "created" and the last event's timings read the clock: they differ
        return [e if e == "[DONE]" else {**json.loads(e), "created": 0, "timings": 0}
                for e in rsp.sse_events()]

    assert events(resp) == events(free)
    assert "".join(e["choices"][0]["text"] for e in map(json.loads, resp.sse_events()[:-1])) \
        == prompt.upper()


def test_reader_that_never_reads_is_aborted():
    req = request("POST", "/v1/completions", {"prompt": "s" * 400, "stream": True})
    s = Script().cmd("clock", 1000).open(1).cmd("space", 1, 0).send(1, req).poll(20)
    s.cmd("clock", 1000 + 59_000).poll(5)
    alive = s.execute()
    assert alive.state[1] == "open" and alive.tasks == 1
    r = s.cmd("clock", 1000 + 61_000).poll(1).execute()
    assert r.state[1] == "closed" and r.conns == 0 and r.tasks == 0


# The connection limit, as the kernel's header sets it.
MAX_CONNS = int(re.search(r"#define HTTP_MAX_CONNS (\d+)",
                          (Path(__file__).resolve().parent.parent / "kernel/http/http_param.h")
                          .read_text()).group(1))
A, B = MAX_CONNS + 1, MAX_CONNS + 2  # the connections past the limit


def test_connection_limit_evicts_the_longest_idle():
    # Connection 1 has a request half sent, 2 and 3 sat idle (3 since later);
    # the next two accepts reset 2, then 3, and are served.
    s = Script().cmd("clock", 1000).open(1).open(2).send(1, b"GET /health HTTP/1.1\r\nHo")
    s.cmd("clock", 2000).open(3)
    for i in range(4, MAX_CONNS + 1):
        s.open(i).send(i, b"GET /he")
    s.cmd("clock", 3000).open(A).poll().open(B).send(A, request("GET", "/health"))
    s.send(B, request("GET", "/health")).poll()
    r = s.execute()
    assert r.conns == MAX_CONNS
    assert r.state[2] == "closed" and r.state[3] == "closed" and r.out[2] == r.out[3] == b""
    assert r.state[1] == "open" and all(r.state[i] == "open" for i in range(4, MAX_CONNS + 1))
    assert [x.status for x in r.responses(A) + r.responses(B)] == [200, 200]
    # The glue counts the resets for /metrics.
    s.send(A, request("GET", "/metrics")).poll()
    text = s.execute().responses(A)[-1].body.decode()
    assert "cllm_http_connections_evicted_total 2\n" in text


def test_connection_limit_evicts_unfinished_requests_oldest_first():
    s = Script()
    for i in range(1, MAX_CONNS + 1):
        s.cmd("clock", 1000 + i).open(i).send(i, b"POST /tokenize HTTP/1.1\r\n")
    s.cmd("clock", 2100).open(A).poll()  # every one has had HTTP_ACCEPT_GRACE_MS
    r = s.execute()
    assert r.state[1] == "closed" and r.out[1] == b""
    assert all(r.state[i] == "open" for i in range(2, MAX_CONNS + 2))


def test_connection_limit_answers_503_when_no_connection_can_give_way():
    # Every connection has a response it cannot deliver (the peer reads nothing).
    s = Script()
    for i in range(1, MAX_CONNS + 1):
        s.open(i).cmd("space", i, 0).send(i, request("GET", "/health"))
    s.open(A).poll()
    r = s.execute()
    assert r.conns == MAX_CONNS
    [resp] = parse_responses(r.out[A])
    assert resp.status == 503 and resp.json()["error"]["type"] == "unavailable_error"
    assert r.state[A] == "closed" and all(r.state[i] == "open" for i in range(1, MAX_CONNS + 1))


def test_peer_reset_mid_generation_frees_the_task():
    s = Script().open(1).open(2)
    s.send(1, request("POST", "/v1/completions", {"prompt": "y" * 300, "stream": True}))
    s.send(2, request("POST", "/v1/completions", {"prompt": "z" * 300}))
    s.poll(10).cmd("reset", 1).cmd("reset", 2).poll(5)
    r = s.execute()
    assert r.conns == 0 and r.tasks == 0


def test_peer_fin_after_request_still_gets_the_answer():
    s = Script().open(1).send(1, request("POST", "/v1/completions", {"prompt": "fin", "max_tokens": 3}))
    s.cmd("fin", 1).run()
    r = s.execute()
    [resp] = r.responses(1)
    assert resp.json()["choices"][0]["text"] == "FIN"
    assert r.state[1] == "closed"


def test_pipelined_requests_before_fin_are_all_answered():
    body = {"prompt": "one", "max_tokens": 3}
    data = request("POST", "/v1/completions", body) + request("GET", "/health") + request("GET", "/props")
    r = Script().open(1).send(1, data).cmd("fin", 1).run().execute()
    assert [x.status for x in r.responses(1)] == [200, 200, 200]
    assert r.state[1] == "closed"


def test_incomplete_request_then_fin_closes_quietly():
    r = Script().open(1).send(1, b"GET /health HTTP/1.1\r\nHo").cmd("fin", 1).run().execute()
    assert r.out[1] == b"" and r.state[1] == "closed"


# --- the app host ------------------------------------------------------------------------

def test_app_counts_the_servers_own_answers_and_appends_metric_sources():
    # The server tells the hosted app about the answers it writes itself (a malformed
    # request: route "invalid"); /metrics ends with the sources registered with the app
    # (the harness's, as main.c registers the scheduler's and the network stack's).
    s = Script().open(1).send(1, b"GET /health HTTP/one\r\n\r\n")
    s.open(2).send(2, request("POST", "/v1/completions", {"prompt": "ab"})).run()
    s.open(3).send(3, request("GET", "/metrics")).run()
    r = s.execute()
    assert r.responses(1)[0].status == 400 and r.responses(2)[0].status == 200
    text = r.responses(3)[0].body.decode()
    assert 'cllm_requests_total{path="invalid",status="400"} 1\n' in text
    assert 'cllm_requests_total{path="/v1/completions",status="200"} 1\n' in text
    assert text.endswith("# TYPE cllm_fake_generations_total counter\n"
                         "cllm_fake_generations_total 1\n")


def test_generation_waits_while_its_reader_is_behind():
    # The sink holds the generation while 16 KiB are unsent: 1000 turns would finish
    # its 300 tokens otherwise.
    req = request("POST", "/v1/completions", {"prompt": "w" * 300, "stream": True})
    s = Script().open(1).cmd("space", 1, 0).send(1, req).poll(1000)
    held = s.execute()
    assert held.out[1] == b"" and held.tasks == 1 and held.state[1] == "open"
    s.cmd("space", 1, -1).cmd("writable", 1).run()
    [resp] = s.execute().responses(1)
    assert resp.sse_events()[-1] == "[DONE]"
