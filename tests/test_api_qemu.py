"""The HTTP API end to end: boot the kernel in QEMU with an e1000 and user networking
forwarding a host port to the guest's port 80, then talk to it like a user would
(http.client, raw sockets, curl and the official `openai` client). Greedy answers
are checked against console mode's output for the same prompt and, under 16
concurrent clients, against the same requests made one at a time."""

from __future__ import annotations

import http.client
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

from cllm_build import qemu

pytestmark = pytest.mark.qemu

MODEL = "stories260K.gguf"
READY_TIMEOUT_S = 120


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Guest:
    def __init__(self, vm: qemu.Qemu, port: int) -> None:
        self.vm = vm
        self.port = port

    def conn(self, timeout: float = 120) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def call(self, method: str, path: str, body: object = None,
             headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        c = self.conn()
        try:
            data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
            c.request(method, path, body=data, headers=headers or {})
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def completion(self, prompt: str, n: int) -> str:
        status, body = self.call("POST", "/v1/completions",
                                 {"prompt": prompt, "max_tokens": n, "temperature": 0})
        assert status == 200, body
        return json.loads(body)["choices"][0]["text"]


def _boot(elf: Path, models_dir: Path, cmdline: str = "", nic: str = "e1000",
          model: str | None = MODEL):
    port = _free_port()
    modules = (qemu.Module(models_dir / model, "model"),) if model else ()
    spec = qemu.QemuSpec(elf=elf, memory_mib=256, cmdline=cmdline, nic=nic, host_port=port,
                         modules=modules)
    vm = qemu.Qemu(spec)
    vm.start()
    try:
        vm.wait_for_line("cllm: ready", READY_TIMEOUT_S)
        assert any("http: listening on port 80" in ln for ln in vm.lines), vm.log_text()
    except BaseException:
        vm.close()
        raise
    return vm, port


@pytest.fixture(scope="module")
def guest(kernel_elf, models_dir):
    vm, port = _boot(kernel_elf, models_dir)
    try:
        yield Guest(vm, port)
    finally:
        vm.close()


def test_health_and_models(guest):
    assert guest.call("GET", "/health") == (200, b'{"status":"ok"}')
    status, body = guest.call("GET", "/v1/models")
    assert status == 200
    assert json.loads(body)["data"][0]["id"] == "stories260K"


def test_bad_json_then_healthy_on_the_same_connection(guest):
    c = guest.conn()
    c.request("POST", "/v1/completions", body='{"prompt": ')
    r = c.getresponse()
    err = json.loads(r.read())["error"]
    assert r.status == 400 and err["type"] == "invalid_request_error" and "JSON" in err["message"]
    sock = c.sock
    c.request("GET", "/health")
    r = c.getresponse()
    assert (r.status, r.read()) == (200, b'{"status":"ok"}')
    assert c.sock is sock  # the connection was kept alive and reused
    c.close()


def test_keep_alive_serves_many_requests_on_one_socket(guest):
    c = guest.conn()
    c.connect()
    sock = c.sock
    for _ in range(5):
        c.request("POST", "/tokenize", body='{"content":"Once upon a time"}')
        r = c.getresponse()
        assert r.status == 200 and len(json.loads(r.read())["tokens"]) > 0
    assert c.sock is sock
    c.close()


def test_request_dribbled_in_tiny_segments(guest):
    body = b'{"content":"Hello"}'
    req = (b"POST /tokenize HTTP/1.1\r\nHost: guest\r\nConnection: close\r\n"
           b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    with socket.create_connection(("127.0.0.1", guest.port), timeout=60) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(0, len(req), 3):
            s.sendall(req[i:i + 3])
            time.sleep(0.01)
        data = b""
        while chunk := s.recv(4096):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    _, whole = guest.call("POST", "/tokenize", body)
    assert payload == whole


def test_garbage_and_oversized_requests_leave_the_server_healthy(guest):
    junk = bytes((i * 7919 + 13) % 256 for i in range(3000))
    for payload in (junk, b"GET / HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", guest.port), timeout=60) as s:
            s.sendall(payload)
            data = b""
            while chunk := s.recv(4096):
                data += chunk
        assert data.split(b"\r\n")[0] in (b"HTTP/1.1 400 Bad Request",
                                           b"HTTP/1.1 431 Request Header Fields Too Large")
    assert guest.call("GET", "/health")[0] == 200


def test_client_leaving_mid_stream_frees_its_slot(guest):
    body = json.dumps({"prompt": "Once upon a time", "max_tokens": 400, "stream": True}).encode()
    with socket.create_connection(("127.0.0.1", guest.port), timeout=60) as s:
        s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: g\r\nContent-Length: %d\r\n\r\n%s"
                  % (len(body), body))
        data = b""
        while data.count(b"data: ") < 3:
            chunk = s.recv(4096)
            assert chunk
            data += chunk
        _, slots = guest.call("GET", "/slots")
        assert any(x["is_processing"] for x in json.loads(slots))
    for _ in range(100):  # the stack notices the close within a few round trips
        _, slots = guest.call("GET", "/slots")
        if not any(x["is_processing"] for x in json.loads(slots)):
            break
        time.sleep(0.1)
    assert not any(x["is_processing"] for x in json.loads(slots))
    _, metrics = guest.call("GET", "/metrics")
    assert "cllm_requests_processing 0\n" in metrics.decode()


def test_timings_split_the_request_by_phase_in_tsc_cycles(guest):
    # The kernel counts with the TSC: each phase in cycles and ms, none negative, all
    # together within the wall time the client saw; /metrics adds them up by phase.
    phases = ("queue", "prompt", "decode", "sampling", "network")
    t0 = time.monotonic()
    status, body = guest.call("POST", "/completion",
                              {"prompt": "Once upon a time", "n_predict": 8, "temperature": 0})
    wall = time.monotonic() - t0
    assert status == 200, body
    timings = json.loads(body)["timings"]
    hz, cycles = timings["cycles_per_second"], timings["cycles"]
    assert hz > 1_000_000 and set(cycles) == set(phases), timings  # a calibrated TSC
    assert all(cycles[p] >= 0 for p in phases) and cycles["decode"] > 0, timings
    assert timings["sampling_ms"] == pytest.approx(cycles["sampling"] * 1000 / hz, abs=1e-3)
    assert sum(cycles.values()) / hz <= wall, (timings, wall)
    text = guest.call("GET", "/metrics")[1].decode()
    for p in phases:
        assert re.search(rf'^cllm_phase_cycles_total{{phase="{p}"}} \d+$', text, re.MULTILINE), text
    decode = re.search(r'^cllm_phase_seconds_total{phase="decode"} (\S+)$', text, re.MULTILINE)
    assert decode and float(decode.group(1)) > 0, text


def test_greedy_completion_equals_console_mode(guest, kernel_elf, models_dir):
    prompt, n = "Once upon a time", 40
    proc = subprocess.run([sys.executable, "-m", "cllm_build", "run", str(kernel_elf), "--timeout", "240",
                           "--model", str(models_dir / MODEL), "--prompt", prompt, "-n", str(n),
                           "--temperature", "0"], capture_output=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    import openai

    client = openai.OpenAI(base_url=f"http://127.0.0.1:{guest.port}/v1", api_key="unused",
                           max_retries=0, timeout=120)
    r = client.completions.create(model="stories260K", prompt=prompt, max_tokens=n, temperature=0)
    assert r.choices[0].text == proc.stdout.decode()
    assert r.usage.completion_tokens == n and r.choices[0].finish_reason == "length"
    assert abs(r.created - time.time()) < 600  # Unix time, from the guest's RTC


def test_openai_chat_and_streaming(guest):
    import openai

    client = openai.OpenAI(base_url=f"http://127.0.0.1:{guest.port}/v1", api_key="unused",
                           max_retries=0, timeout=120)
    msgs = [{"role": "user", "content": "Tell me a story about a cat."}]
    whole = client.chat.completions.create(model="stories260K", messages=msgs, max_tokens=24,
                                           temperature=0)
    text = whole.choices[0].message.content
    assert whole.choices[0].message.role == "assistant" and text
    stream = client.chat.completions.create(model="stories260K", messages=msgs, max_tokens=24,
                                            temperature=0, stream=True,
                                            stream_options={"include_usage": True})
    chunks = list(stream)
    pieces = [ch.choices[0].delta.content or "" for ch in chunks if ch.choices]
    assert "".join(pieces) == text and len(pieces) > 3
    # The same prompt again: its full blocks come from the prefix cache, all but the last
    # token's (always run).
    usage = chunks[-1].usage
    assert usage and usage.prompt_tokens_details and whole.usage
    assert usage.prompt_tokens_details.cached_tokens == 16 * ((usage.prompt_tokens - 1) // 16) > 0
    s = client.completions.create(model="stories260K", prompt="The dog", max_tokens=16,
                                  temperature=0, stream=True)
    streamed = "".join(ch.choices[0].text for ch in s)
    assert streamed == guest.completion("The dog", 16)


def test_openai_structured_output_logprobs_embeddings_and_refusals(guest):
    """The openai client's response_format with a JSON schema at temperature 1: every
    seed's answer parses and validates; log probabilities in both shapes; n choices;
    embeddings (the client asks for base64); an unimplemented field is refused by name."""
    import jsonschema
    import openai

    client = openai.OpenAI(base_url=f"http://127.0.0.1:{guest.port}/v1", api_key="unused",
                           max_retries=0, timeout=120)
    schema = {"type": "object", "additionalProperties": False, "required": ["name", "age", "ok"],
              "properties": {"name": {"type": "string", "maxLength": 10},
                             "age": {"type": "integer"}, "ok": {"type": "boolean"}}}
    msgs = [{"role": "user", "content": "Describe a cat."}]
    for seed in range(3):
        r = client.chat.completions.create(
            model="stories260K", messages=msgs, max_tokens=200, temperature=1, seed=seed,
            response_format={"type": "json_schema",
                             "json_schema": {"name": "cat", "strict": True, "schema": schema}})
        assert r.choices[0].finish_reason == "stop"
        jsonschema.validate(json.loads(r.choices[0].message.content), schema)
    r = client.chat.completions.create(model="stories260K", messages=msgs, max_tokens=8,
                                       temperature=0, logprobs=True, top_logprobs=2)
    content = r.choices[0].logprobs.content
    assert len(content) == r.usage.completion_tokens == 8
    assert "".join(c.token for c in content) == r.choices[0].message.content
    assert all(c.logprob == c.top_logprobs[0].logprob <= 0 for c in content)
    c = client.completions.create(model="stories260K", prompt="The dog", max_tokens=4,
                                  temperature=0, logprobs=3)
    assert len(c.choices[0].logprobs.token_logprobs) == 4

    def forked() -> int:
        m = re.search(rb"^cllm_kv_forked_tokens_total (\d+)$", guest.call("GET", "/metrics")[1],
                      re.MULTILINE)
        assert m
        return int(m.group(1))

    before = forked()
    r = client.chat.completions.create(model="stories260K", messages=msgs, max_tokens=8,
                                       temperature=1, seed=3, n=3)
    assert [ch.index for ch in r.choices] == [0, 1, 2]
    assert r.usage and forked() - before == 2 * r.usage.prompt_tokens  # evaluated once
    e = client.embeddings.create(model="stories260K", input=["Once upon a time", "The dog"])
    assert [d.index for d in e.data] == [0, 1] and len(e.data[0].embedding) == 64
    assert abs(sum(x * x for x in e.data[0].embedding) - 1) < 1e-4
    assert e.data[0].embedding != e.data[1].embedding
    with pytest.raises(openai.BadRequestError, match="'tools': not supported"):
        client.chat.completions.create(model="stories260K", messages=msgs, max_tokens=4,
                                       tools=[{"type": "function",
                                               "function": {"name": "f", "parameters": {}}}])


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl(guest):
    out = subprocess.run(["curl", "-sS", "-m", "60", f"http://127.0.0.1:{guest.port}/completion",
                          "-d", '{"prompt":"Lily","n_predict":8,"temperature":0}'],
                         capture_output=True, timeout=90, check=True)
    body = json.loads(out.stdout)
    assert body["stop"] is True and body["tokens_predicted"] == 8 and body["content"]
    bad = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                          f"http://127.0.0.1:{guest.port}/nothing"], capture_output=True, timeout=60,
                         check=False)
    assert bad.stdout == b"404"


def test_sixteen_concurrent_clients(guest):
    prompts = [f"Once upon a time there was a {w}" for w in (
        "cat", "dog", "bird", "girl", "boy", "tree", "ball", "car",
        "fish", "king", "frog", "bear", "cake", "ship", "star", "moon")]
    n = 12
    expected = {p: guest.completion(p, n) for p in prompts}
    # QEMU's user networking accepts forwarded connections through a listen backlog
    # of one and resets a burst of simultaneous connects, so the 16 connections are
    # opened one after another (each proven open by a /health on it, kept alive);
    # the 16 generations then run at the same time.
    conns = []
    for _ in prompts:
        c = guest.conn()
        c.request("GET", "/health")
        r = c.getresponse()
        assert (r.status, r.read()) == (200, b'{"status":"ok"}')
        conns.append(c)
    got: dict[str, str] = {}
    errors: list[Exception] = []
    start = threading.Barrier(len(prompts))

    def client(c: http.client.HTTPConnection, p: str) -> None:
        try:
            start.wait(60)
            c.request("POST", "/v1/completions",
                      body=json.dumps({"prompt": p, "max_tokens": n, "temperature": 0}))
            r = c.getresponse()
            got[p] = json.loads(r.read())["choices"][0]["text"]
        except Exception as e:  # noqa: BLE001 (collected and reported below)
            errors.append(e)
        finally:
            c.close()

    threads = [threading.Thread(target=client, args=(c, p)) for c, p in zip(conns, prompts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors
    assert got == expected
    status, metrics = guest.call("GET", "/metrics")
    assert status == 200
    assert 'cllm_requests_total{path="/v1/completions",status="200"}' in metrics.decode()
    assert "cllm_net_drops_total" in metrics.decode()
    heap = re.search(r"^cllm_memory_heap_bytes (\d+)$", metrics.decode(), re.MULTILINE)
    assert heap and int(heap.group(1)) > 0
    # the concurrent generations advanced together (and, above, gave the same text as alone)
    batches = re.search(r"^cllm_decode_batches_total (\d+)$", metrics.decode(), re.MULTILINE)
    rows = re.search(r"^cllm_decode_batch_rows_total (\d+)$", metrics.decode(), re.MULTILINE)
    assert batches and rows and int(batches.group(1)) > 0, metrics.decode()
    assert int(rows.group(1)) >= 2 * int(batches.group(1))


def test_virtio_net_serves_the_same_answers(kernel_elf, models_dir, guest):
    vm, port = _boot(kernel_elf, models_dir, nic="virtio")
    try:
        g = Guest(vm, port)
        assert g.call("GET", "/health")[0] == 200
        assert g.completion("The little bird", 20) == guest.completion("The little bird", 20)
    finally:
        vm.close()


def test_api_key_enforced(kernel_elf, models_dir):
    vm, port = _boot(kernel_elf, models_dir, cmdline="cllm.api_key=s3cret")
    try:
        g = Guest(vm, port)
        assert g.call("GET", "/health")[0] == 200
        status, body = g.call("GET", "/v1/models")
        assert status == 401 and json.loads(body)["error"]["type"] == "authentication_error"
        assert g.call("GET", "/v1/models", headers={"Authorization": "Bearer s3cret"})[0] == 200
    finally:
        vm.close()


def test_without_a_model_health_is_503(kernel_elf, models_dir):
    vm, port = _boot(kernel_elf, models_dir, model=None)
    try:
        g = Guest(vm, port)
        status, body = g.call("GET", "/health")
        err = json.loads(body)["error"]
        assert status == 503 and err["code"] == 503 and err["type"] == "unavailable_error", body
        status, body = g.call("POST", "/v1/completions", {"prompt": "x"})
        assert status == 503
        assert g.call("GET", "/metrics")[0] == 200
    finally:
        vm.close()


def test_max_tokens_default_and_cllm_max_tokens(kernel_elf, models_dir, guest):
    """A request without max_tokens generates 256 tokens (not until the context is
    full); cllm.max_tokens (and the other table rows) set the server-wide defaults."""
    body = {"prompt": "Once upon a time", "temperature": 0, "ignore_eos": True}
    status, raw = guest.call("POST", "/v1/completions", body)
    assert status == 200, raw
    answer = json.loads(raw)
    assert answer["usage"]["completion_tokens"] == 256
    assert answer["choices"][0]["finish_reason"] == "length"
    vm, port = _boot(kernel_elf, models_dir, cmdline="cllm.max_tokens=7 cllm.temp=0")
    try:
        g = Guest(vm, port)
        props = json.loads(g.call("GET", "/props")[1])["default_generation_settings"]
        assert props["n_predict"] == 7 and props["temperature"] == 0
        status, raw = g.call("POST", "/v1/completions", {"prompt": "The little bird"})
        assert status == 200, raw
        answer = json.loads(raw)
        assert answer["usage"]["completion_tokens"] <= 7
        assert answer["choices"][0]["text"] == guest.completion("The little bird", 7)
    finally:
        vm.close()
