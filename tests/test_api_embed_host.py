"""Embeddings: POST /v1/embeddings (OpenAI's shape, floats or base64) and llama.cpp's
/embedding. Over the real engine on the host the vector is the mean of the last hidden
states (after the output norm), normalized, checked against the numpy reference
(tests/reference_llama.py: its hidden states recovered from its logits through the
output matrix); over the fake model, the shapes and the refusals."""

from __future__ import annotations

import base64
import struct
from pathlib import Path

import numpy as np
import pytest
import reference_llama
from http_support import Script, exchange, request

MODEL = "stories260K.gguf"
PROMPT = [1, 403, 407, 261, 378]


@pytest.fixture(scope="module")
def model(models_dir: Path) -> Path:
    return models_dir / MODEL


def post_engine(model: Path, bodies: list[tuple[str, dict]]) -> list:
    s = Script(model=model)
    for i, (path, body) in enumerate(bodies, start=1):
        s.open(i).send(i, request("POST", path, body))
    r = s.run().execute()
    return [r.responses(i)[0] for i in range(1, len(bodies) + 1)]


def reference_embedding(model: Path, tokens: list[int]) -> np.ndarray:
    m = reference_llama.load(model)
    rows = reference_llama.logits(m, tokens)  # (n, vocab) = hidden (n, dim) @ output.T
    hidden = np.linalg.lstsq(m.output.astype(np.float64), rows.T, rcond=None)[0].T
    mean = hidden.mean(axis=0)
    return mean / np.linalg.norm(mean)


def test_embedding_equals_the_reference(model):
    oai, b64, native, text, tok = post_engine(model, [
        ("/v1/embeddings", {"input": PROMPT, "model": "x"}),
        ("/v1/embeddings", {"input": [PROMPT, PROMPT[:3]], "encoding_format": "base64"}),
        ("/embedding", {"content": PROMPT}),
        ("/v1/embeddings", {"input": "Once upon a time"}),
        ("/tokenize", {"content": "Once upon a time", "add_special": True}),
    ])
    assert oai.status == 200, oai.body
    body = oai.json()
    assert body["object"] == "list" and body["model"] == "stories260K"
    assert body["usage"] == {"prompt_tokens": 5, "total_tokens": 5}
    [item] = body["data"]
    assert item["object"] == "embedding" and item["index"] == 0
    vec = np.array(item["embedding"])
    ref = reference_embedding(model, PROMPT)
    assert vec.shape == ref.shape == (64,)
    assert np.linalg.norm(vec) == pytest.approx(1, abs=1e-5)
    assert np.abs(vec - ref).max() < 1e-4
    data = b64.json()["data"]
    assert [d["index"] for d in data] == [0, 1]
    floats = struct.unpack("<64f", base64.b64decode(data[0]["embedding"]))
    assert np.abs(np.array(floats) - vec).max() < 1e-6
    short = struct.unpack("<64f", base64.b64decode(data[1]["embedding"]))
    assert np.abs(np.array(short) - reference_embedding(model, PROMPT[:3])).max() < 1e-4
    assert native.json() == [{"index": 0, "embedding": item["embedding"]}]
    toks = tok.json()["tokens"]
    assert text.json()["usage"]["prompt_tokens"] == len(toks)
    assert np.abs(np.array(text.json()["data"][0]["embedding"])
                  - reference_embedding(model, toks)).max() < 1e-4


def test_embedding_bad_token_is_400(model):
    [resp] = post_engine(model, [("/v1/embeddings", {"input": [1, 99999]})])
    assert resp.status == 400 and b"input[1]" in resp.body


@pytest.mark.parametrize("body, words", [
    ({}, "field 'input'"),
    ({"input": 5}, "field 'input'"),
    ({"input": []}, "field 'input'"),
    ({"input": ["a", 7]}, "field 'input[1]'"),
    ({"input": [1, 255]}, "input: token 255 refused"),
    ({"input": "a", "encoding_format": "int8"}, "'encoding_format'"),
    ({"input": "a", "dimensions": 4}, "'dimensions': not supported"),
    ({"input": ["a"] * 17}, "at most 16 inputs"),
])
def test_bad_embedding_requests_are_named(body, words):
    [resp] = exchange(request("POST", "/v1/embeddings", body))
    assert resp.status == 400, resp.body
    assert words in resp.json()["error"]["message"]


def test_fake_embedding_shapes():
    a, b = exchange(request("POST", "/v1/embeddings", {"input": ["ab", "c"], "user": "u"}),
                    request("POST", "/embedding", {"content": "ab"}))
    data = a.json()["data"]
    assert [d["index"] for d in data] == [0, 1] and len(data[0]["embedding"]) == 8
    assert b.json() == [{"index": 0, "embedding": data[0]["embedding"]}]
