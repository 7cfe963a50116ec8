"""Log probabilities over the real engine on the host: llama.cpp's `n_probs` on
/completion, OpenAI's `logprobs` + `top_logprobs` on chat and the legacy `logprobs: N`
on completions. The values are the log softmax of the logits each token was sampled
from, checked against the host engine's own logits (tests/host/llm_main.c), and the
shapes are each API's; streamed answers carry the same values as whole ones."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from http_support import Script, request
from llm_harness import logits as engine_logits
from test_api_llm_host import post_all

MODEL = "stories260K.gguf"
PROMPT = [1, 403, 407, 261, 378]  # BOS "Once upon a time" in stories260K's vocabulary


@pytest.fixture(scope="module")
def model(models_dir: Path) -> Path:
    return models_dir / MODEL


def log_softmax(x: np.ndarray) -> np.ndarray:
    m = x.max()
    return x - m - np.log(np.exp(x - m).sum())


def test_n_probs_equal_the_engines_log_softmax(model):
    [a] = post_all(model, [("/completion", {"prompt": PROMPT, "n_predict": 12, "n_probs": 5,
                                            "temperature": 1, "seed": 7})])
    probs = a["completion_probabilities"]
    assert len(probs) == a["tokens_predicted"] == 12
    ids = [p["id"] for p in probs]
    rows = engine_logits(model, PROMPT + ids[:-1])[len(PROMPT) - 1:]
    text = b""
    for p, row in zip(probs, rows):
        ref = log_softmax(row.astype(np.float64))
        assert p["logprob"] == pytest.approx(ref[p["id"]], abs=2e-4)
        top = [q["id"] for q in p["top_logprobs"]]
        assert top == list(np.argsort(-row, kind="stable")[:5])
        for q in p["top_logprobs"]:
            assert q["logprob"] == pytest.approx(ref[q["id"]], abs=2e-4)
        assert bytes(p["bytes"]) == p["token"].encode()
        text += bytes(p["bytes"])
    assert text.decode() == a["content"]


def test_chat_and_completion_shapes(model):
    msgs = [{"role": "user", "content": "Hello"}]
    chat, comp, plain = post_all(model, [
        ("/v1/chat/completions", {"messages": msgs, "max_tokens": 6, "temperature": 0,
                                  "logprobs": True, "top_logprobs": 3}),
        ("/v1/completions", {"prompt": "Once upon a time", "max_tokens": 6, "temperature": 0,
                             "logprobs": 2}),
        ("/v1/chat/completions", {"messages": msgs, "max_tokens": 6, "temperature": 0,
                                  "logprobs": False}),
    ])
    content = chat["choices"][0]["logprobs"]["content"]
    assert len(content) == 6
    assert "".join(c["token"] for c in content) == chat["choices"][0]["message"]["content"]
    for c in content:
        assert set(c) == {"token", "logprob", "bytes", "top_logprobs"}
        assert len(c["top_logprobs"]) == 3
        assert c["top_logprobs"][0]["logprob"] >= c["top_logprobs"][1]["logprob"]
        # greedy: the sampled token is the most likely one
        assert c["logprob"] == c["top_logprobs"][0]["logprob"] <= 0
    lp = comp["choices"][0]["logprobs"]
    assert len(lp["tokens"]) == len(lp["token_logprobs"]) == len(lp["top_logprobs"]) == 6
    assert "".join(lp["tokens"]) == comp["choices"][0]["text"]
    assert lp["text_offset"] == [sum(len(t.encode()) for t in lp["tokens"][:i]) for i in range(6)]
    assert all(len(t) <= 2 for t in lp["top_logprobs"])
    assert "logprobs" not in plain["choices"][0]


def test_streamed_logprobs_equal_whole(model):
    body = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 10,
            "temperature": 0, "logprobs": True, "top_logprobs": 2}
    [whole] = post_all(model, [("/v1/chat/completions", body)])
    s = Script(model=model).open(1).send(1, request("POST", "/v1/chat/completions",
                                                   {**body, "stream": True}))
    [resp] = s.run().execute().responses(1)
    chunks = [json.loads(e) for e in resp.sse_events()[:-1]]
    streamed = [c for ch in chunks for c in (ch["choices"][0].get("logprobs") or {})
                .get("content", [])]
    assert streamed == whole["choices"][0]["logprobs"]["content"]


def native(model: Path, **body) -> dict:
    [a] = post_all(model, [("/completion", {"prompt": PROMPT, "temperature": 0, **body})])
    return a


def test_logit_bias_bans_and_forces_tokens(model):
    plain = native(model, n_predict=8, n_probs=1)
    ids = [p["id"] for p in plain["completion_probabilities"]]
    banned = native(model, n_predict=8, n_probs=1, logit_bias=[[ids[0], False]])
    assert banned["completion_probabilities"][0]["id"] != ids[0]
    assert ids[0] not in [p["id"] for p in banned["completion_probabilities"]]
    # OpenAI's object form; -100 bans as well
    [oai] = post_all(model, [("/v1/completions", {"prompt": PROMPT, "max_tokens": 8,
                                                  "temperature": 0,
                                                  "logit_bias": {str(ids[0]): -100}})])
    assert oai["choices"][0]["text"] == banned["content"]
    forced = native(model, n_predict=5, n_probs=1, logit_bias={"300": 100})
    assert [p["id"] for p in forced["completion_probabilities"]] == [300] * 5


def test_stop_token_ids_end_the_answer(model):
    plain = native(model, n_predict=8, n_probs=1)
    probs = plain["completion_probabilities"]
    stop_at = next(i for i, p in enumerate(probs) if i >= 2 and p["id"] not in
                   [q["id"] for q in probs[:i]])
    cut = native(model, n_predict=8, stop=[probs[stop_at]["id"]])
    assert cut["content"] == "".join(p["token"] for p in probs[:stop_at])
    assert cut["stop_type"] == "word"


def test_bad_bias_or_stop_token_is_400(model):
    s = Script(model=model)
    bodies = [{"prompt": "x", "logit_bias": {"999999": 1}}, {"prompt": "x", "stop": [99999]}]
    for i, b in enumerate(bodies, start=1):
        s.open(i).send(i, request("POST", "/v1/completions", b))
    r = s.run().execute()
    assert b"logit_bias: token 999999 out of range" in r.responses(1)[0].body
    assert b"stop: token 99999 out of range" in r.responses(2)[0].body
    assert {r.responses(i)[0].status for i in (1, 2)} == {400}
