"""Write the committed seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/).

Run again after a format change: `python tests/fuzz/make_seeds.py`. The seeds are
small on purpose (a fuzzer mutates every byte of them): a one-layer llama of width 32
in each weight type, a llama2.c checkpoint with its tokenizer.bin, HTTP requests,
JSON bodies, chat conversations, TCP/IP records, tokenizer texts and request
sequences for the server.
"""

from __future__ import annotations

import json
import struct
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from cllm_build.gguf_export import (
    TOKEN_TYPE_CONTROL,
    TOKEN_TYPE_NORMAL,
    TOKEN_TYPE_UNKNOWN,
    LlamaConfig,
    expected_shapes,
    write_llama_gguf,
)

CORPUS = HERE / "corpus"
CFG = LlamaConfig(32, 32, 1, 2, 1, 40, 8)


def vocab() -> tuple[list[bytes], list[float], list[int]]:
    tokens = [b"<unk>", b"<s>", b"</s>", b"<|im_start|>", "\u2581".encode()]
    types = [TOKEN_TYPE_UNKNOWN, TOKEN_TYPE_CONTROL, TOKEN_TYPE_CONTROL, TOKEN_TYPE_CONTROL,
             TOKEN_TYPE_NORMAL]
    for c in "abcdefghijklmnopqrstuvwxyz":
        tokens.append(c.encode())
        types.append(TOKEN_TYPE_NORMAL)
    while len(tokens) < CFG.vocab_size:
        tokens.append(("\u2581" + "ab"[len(tokens) % 2] * (len(tokens) % 5 + 1)).encode())
        types.append(TOKEN_TYPE_NORMAL)
    scores = [-float(i) for i in range(len(tokens))]
    return tokens, scores, types


def weights(rng: np.random.Generator) -> dict[str, np.ndarray]:
    out = {}
    for k, shp in expected_shapes(CFG, tied=False).items():
        if len(shp) == 1:
            out[k] = np.ones(shp, np.float32)
        else:
            out[k] = (rng.standard_normal(shp) / np.sqrt(shp[1])).astype(np.float32)
    return out


def gguf_seeds(out: Path) -> None:
    rng = np.random.default_rng(1)
    tokens, scores, types = vocab()
    for qtype in ("F32", "F16", "Q8_0", "Q4_0"):
        write_llama_gguf(out / f"tiny-{qtype}.gguf", CFG, weights(rng), tokens, scores, types,
                         qtype=qtype, name=f"tiny-{qtype}")


def llama2c_seed(out: Path) -> None:
    rng = np.random.default_rng(2)
    c = CFG
    kv = c.dim * c.n_kv_heads // c.n_heads
    hd = c.dim // c.n_heads
    head = struct.pack("<7i", c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads,
                       c.vocab_size, c.seq_len)
    parts = [(c.vocab_size, c.dim), (c.n_layers, c.dim), (c.n_layers, c.dim, c.dim),
             (c.n_layers, kv, c.dim), (c.n_layers, kv, c.dim), (c.n_layers, c.dim, c.dim),
             (c.n_layers, c.dim), (c.n_layers, c.hidden_dim, c.dim),
             (c.n_layers, c.dim, c.hidden_dim), (c.n_layers, c.hidden_dim, c.dim), (c.dim,),
             (c.seq_len, hd // 2), (c.seq_len, hd // 2)]
    body = b"".join((rng.standard_normal(p).astype("<f4") * 0.2).tobytes() for p in parts)
    model = head + body
    tokens, scores, _ = vocab()
    tok = struct.pack("<i", max(len(t) for t in tokens))
    for t, s in zip(tokens, scores):
        tok += struct.pack("<fi", s, len(t)) + t.replace("\u2581".encode(), b" ")
    (out / "tiny.bin").write_bytes(struct.pack("<I", len(model)) + model + tok)


HTTP = [
    b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 13\r\n\r\n{\"prompt\":\"\"}",
    b"POST /completion HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n",
    (b"POST /v1/chat/completions HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n"
     b"Authorization: Bearer k\r\nConnection: close\r\n\r\n{}"),
    b"GET /metrics HTTP/1.0\r\n\r\nGET / HTTP/1.1\r\n\r\n",
    b"\r\n\r\nHEAD /v1/models?x=1 HTTP/1.1\r\nA: b\r\n c\r\n\r\n",
]

JSON = [
    {"prompt": "Once upon a time", "max_tokens": 8, "temperature": 0, "stream": True},
    {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi \u00e9"}],
     "stop": ["\n", "END"], "top_p": 0.9, "seed": 42, "n_predict": -1},
    [1, -2.5e-3, 1e300, True, False, None, "\ud83d\ude00", {"": {}}, []],
]

CHAT = [
    b"\x00system\x00Be brief.\x00user\x00Hello\x00assistant\x00Hi\x00user\x00Go on",
    b"\x81user\x00<|im_start|>x",
    b"\x02\x00\x00",
    b"\x83tool\x00{\"a\":1}",
]

TOKENIZER = [
    b"\x00Hello world", b"\x10<|im_start|>user\nhi<|im_end|>", b"\x21   leading spaces",
    b"\x00\xc3\xa9t\xc3\xa9 \xe2\x96\x81 \xf0\x9f\x98\x80 \xff\xfe", b"\x30abcabcabc",
]


def tcp(flags: int, sel: int = 0x00, dseq: int = 0, dack: int = 0, wnd: int = 65535,
        payload: bytes = b"", mss: bool = False) -> bytes:
    kind = 3 if mss else 1
    return bytes([kind, flags, sel]) + struct.pack("<hh", dseq, dack) + struct.pack(">H", wnd) + \
        bytes([len(payload)]) + payload


NET = [
    # handshake, data to the echo port, FIN, time passes
    tcp(0x02, mss=True) + tcp(0x10) + tcp(0x18, payload=b"hello") + tcp(0x11) + b"\x02\x14",
    # to port 80, out-of-window data, RST
    tcp(0x02, sel=0x01) + tcp(0x10, sel=0x01) + tcp(0x18, sel=0x81, dseq=100, payload=b"x" * 40)
    + tcp(0x04, sel=0x01),
    # SYN flood from four ports, then the clock runs
    b"".join(tcp(0x02, sel=s << 2) for s in range(4)) + b"\x02\xff",
    # a raw ARP request for our address
    b"\x00\x06" + bytes([0xff] * 6 + [2, 0, 0, 0, 0, 2, 8, 6, 0, 1, 8, 0, 6, 4, 0, 1,
                                       2, 0, 0, 0, 0, 2, 10, 0, 0, 2, 0, 0, 0, 0, 0, 0,
                                       10, 0, 0, 1]) + bytes(6),
]


def send(conn: int, data: bytes) -> bytes:
    """Server-target operations: data arriving on a connection, in pieces of 255."""
    return b"".join(bytes([conn, len(data[i:i + 255])]) + data[i:i + 255]
                    for i in range(0, len(data), 255))


def post(path: str, body: dict) -> bytes:
    raw = json.dumps(body).encode()
    return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(raw)}\r\n\r\n".encode()
            + raw)


POLL = b"\x04\x40"  # 64 turns of the poll loop

SERVER = [
    send(0, post("/v1/completions", {"prompt": "ab", "max_tokens": 4, "temperature": 0})) + POLL * 2,
    send(0, post("/v1/chat/completions", {"messages": [{"role": "user", "content": "a"}],
                                          "max_tokens": 3, "stream": True})) + POLL
    + send(1, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n") + b"\x05\x00" + POLL,
    send(2, post("/completion", {"prompt": "b", "n_predict": 5, "stop": ["a"]})) + b"\x06\x02"
    + POLL + b"\x07\xff" + POLL,
    send(3, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/models HTTP/1.1\r\n\r\n")
    + send(0, b"POST /v1/completions HTTP/1.1\r\nContent-Length: 5\r\n\r\n{bad}") + POLL,
]


def main() -> None:
    dirs = {name: CORPUS / name for name in
            ("gguf", "llama2c", "http", "json", "chat", "tokenizer", "net", "server")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    gguf_seeds(dirs["gguf"])
    llama2c_seed(dirs["llama2c"])
    for i, b in enumerate(HTTP):
        (dirs["http"] / f"req{i}").write_bytes(b)
    for i, j in enumerate(JSON):
        (dirs["json"] / f"doc{i}.json").write_bytes(json.dumps(j, ensure_ascii=i != 1).encode())
    for i, b in enumerate(CHAT):
        (dirs["chat"] / f"chat{i}").write_bytes(b)
    for i, b in enumerate(TOKENIZER):
        (dirs["tokenizer"] / f"text{i}").write_bytes(b)
    for i, b in enumerate(NET):
        (dirs["net"] / f"net{i}").write_bytes(b)
    for i, b in enumerate(SERVER):
        (dirs["server"] / f"ops{i}").write_bytes(b)


if __name__ == "__main__":
    main()
