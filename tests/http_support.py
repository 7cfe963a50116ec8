"""Helpers for the HTTP server tests: build the host harness (tests/host/http_main.c
with the kernel/http sources and a fake model), drive its fake transport with a
script, and split the bytes it sent back into HTTP responses."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from hostcc import host_binary
from llm_harness import LLM_SOURCES

HTTP_SOURCES: list[Path | str] = [
    "kernel/http/hbuf.c",
    "kernel/http/http_parse.c",
    "kernel/http/http_resp.c",
    "kernel/http/json_read.c",
    "kernel/http/json_write.c",
    "kernel/http/api.c",
    "kernel/http/api_gen.c",
    "kernel/http/api_task.c",
    "kernel/http/api_oai.c",
    "kernel/http/api_native.c",
    "kernel/http/json_schema.c",
    "kernel/http/api_embed.c",
    "kernel/http/web.c",
    "kernel/http/server.c",
    "kernel/llm/gen_param.c",
    "kernel/llm/sampler.c",
    "kernel/llm/grammar_compile.c",
    "kernel/llm/grammar.c",
    "tests/host/http_main.c",
]
# The real engine: the API backend over kernel/llm (see tests/host/http_llm_host.c).
ENGINE_SOURCES: list[Path | str] = [
    *LLM_SOURCES,
    "kernel/llm/tokenizer.c", "kernel/llm/tokenizer_bpe.c", "kernel/llm/tokenizer_unicode.c",
    "kernel/llm/generate.c", "kernel/llm/embed.c", "kernel/llm/chat.c", "kernel/llm/sched.c",
    "kernel/http/api_llm.c",
    "tests/host/http_llm_host.c",
]


def harness(engine: bool = False, sanitize: bool = True) -> Path:
    """The harness binary; sanitize=False: -O2 without sanitizers (benchmarks)."""
    if not sanitize:
        # gcc -O2 sees a false maybe-uninitialized in http_main.c's parse splitting
        fast = {"sanitize": False, "extra": ["-Wno-error=maybe-uninitialized"]}
        if engine:
            return host_binary("http_llm_fast", HTTP_SOURCES + ENGINE_SOURCES, **fast)
        return host_binary("http_main_fast", HTTP_SOURCES + ["tests/host/http_fake_backend.c"], **fast)
    if engine:
        return host_binary("http_llm", HTTP_SOURCES + ENGINE_SOURCES)
    return host_binary("http_main", HTTP_SOURCES + ["tests/host/http_fake_backend.c"])


def run_harness(*args: str, stdin: str | None = None, timeout: float = 60,
                engine: bool = False, env: dict[str, str] | None = None,
                sanitize: bool = True) -> str:
    """Run the harness; env adds variables (the engine's KV pool: http_llm_host.c)."""
    proc = subprocess.run([str(harness(engine, sanitize)), *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout, check=False, env={**os.environ, **(env or {})})
    assert proc.returncode == 0, f"harness failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


@dataclass
class Response:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes
    chunked: bool = False

    def json(self) -> object:
        return json.loads(self.body)

    def sse_events(self) -> list[str]:
        """The data: payloads of a Server-Sent Events body."""
        text = self.body.decode()
        assert text.endswith("\n\n"), text[-80:]
        events = []
        for block in text.split("\n\n")[:-1]:
            assert block.startswith("data: "), block
            events.append(block[len("data: "):])
        return events


def parse_responses(data: bytes, *, closed: bool = True) -> list[Response]:
    """Split a byte stream into responses (Content-Length, chunked, or read-to-close)."""
    out = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        assert sep, f"incomplete response head: {data[:200]!r}"
        lines = head.decode("latin-1").split("\r\n")
        version, status, reason = lines[0].split(" ", 2)
        assert version == "HTTP/1.1"
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            assert name.lower() not in headers, f"duplicate header {name}"
            headers[name.lower()] = value.strip()
        chunked = headers.get("transfer-encoding") == "chunked"
        if int(status) == 100:
            data = rest
            continue
        if chunked:
            body = b""
            while True:
                size_line, _, rest = rest.partition(b"\r\n")
                size = int(size_line, 16)
                if size == 0:
                    assert rest.startswith(b"\r\n"), rest[:20]
                    rest = rest[2:]
                    break
                body += rest[:size]
                assert rest[size:size + 2] == b"\r\n"
                rest = rest[size + 2:]
        elif "content-length" in headers:
            n = int(headers["content-length"])
            assert len(rest) >= n, "truncated body"
            body, rest = rest[:n], rest[n:]
        else:
            assert closed, "close-delimited body on an open connection"
            body, rest = rest, b""
        out.append(Response(int(status), reason, headers, body, chunked))
        data = rest
    return out


@dataclass
class Result:
    out: dict[int, bytes]
    state: dict[int, str]
    conns: int
    tasks: int
    after: str
    stamps: list[int] = field(default_factory=list)  # "stamp" lines: monotonic microseconds

    def responses(self, cid: int = 1) -> list[Response]:
        return parse_responses(self.out[cid], closed=self.state[cid] != "open")


@dataclass
class Script:
    """Commands for `http_main serve`; see tests/host/http_main.c."""
    lines: list[str] = field(default_factory=list)
    model: Path | None = None  # a GGUF: the real engine instead of the fake model
    env: dict[str, str] | None = None  # the engine's KV pool (CLLM_KV_*, http_llm_host.c)
    sanitize: bool = True  # False: the -O2 build without sanitizers, for benchmarks
    timeout_s: float = 600

    def cmd(self, *words: object) -> Script:
        self.lines.append(" ".join(str(w) for w in words))
        return self

    def open(self, cid: int = 1) -> Script:
        return self.cmd("open", cid)

    def send(self, cid: int, data: bytes | str) -> Script:
        if isinstance(data, str):
            data = data.encode()
        return self.cmd("send", cid, data.hex())

    def run(self) -> Script:
        return self.cmd("run")

    def poll(self, n: int = 1) -> Script:
        return self.cmd("poll", n)

    def stamp(self) -> Script:
        """The harness prints its monotonic clock here (Result.stamps)."""
        return self.cmd("stamp")

    def execute(self) -> Result:
        args = ["serve"] + ([str(self.model)] if self.model else [])
        text = run_harness(*args, stdin="\n".join(self.lines) + "\n", timeout=self.timeout_s,
                           engine=self.model is not None, env=self.env, sanitize=self.sanitize)
        out: dict[int, bytes] = {}
        state: dict[int, str] = {}
        conns = tasks = -1
        after = ""
        stamps: list[int] = []
        for line in text.splitlines():
            words = line.split(" ")
            if words[0] == "out":
                out[int(words[1])] = bytes.fromhex(words[2] if len(words) > 2 else "")
            elif words[0] == "state":
                state[int(words[1])] = words[2]
            elif words[0] == "conns":
                conns = int(words[1])
            elif words[0] == "tasks":
                tasks = int(words[1])
            elif words[0] == "stamp":
                stamps.append(int(words[1]))
            elif line.startswith("after close"):
                after = line
        assert after == "after close: conns 0 tasks 0 running 0", text
        return Result(out, state, conns, tasks, after, stamps)


def request(method: str, path: str, body: bytes | str | dict | None = None,
            headers: dict[str, str] | None = None, version: str = "1.1") -> bytes:
    """One request with Host and (for a body) Content-Length."""
    if isinstance(body, dict):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    lines = [f"{method} {path} HTTP/{version}", "Host: cllm"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


def exchange(*requests: bytes, prelude: list[str] | None = None) -> list[Response]:
    """Send requests on one connection, let the server finish, return the responses."""
    s = Script()
    for line in prelude or []:
        s.cmd(line)
    s.open(1)
    for r in requests:
        s.send(1, r)
    s.run()
    return s.execute().responses(1)
