"""Host tests of the API (kernel/http/api*.c) over the fake model of
tests/host/http_fake_backend.c (it echoes the prompt's bytes in upper case, one
token per step): routing, error shapes, API key, field checks naming the field,
OpenAI and llama.cpp response shapes, streaming, and many requests advancing
together in the poll loop."""

from __future__ import annotations

import json

import pytest
from http_support import Script, exchange, request

BOS = 256


def post(path: str, body, **kw):
    [resp] = exchange(request("POST", path, body, **kw))
    return resp


def get(path: str, prelude: list[str] | None = None, headers: dict[str, str] | None = None):
    [resp] = exchange(request("GET", path, headers=headers), prelude=prelude)
    return resp


def assert_error(resp, code: int, words: str = "", etype: str = "invalid_request_error"):
    assert resp.status == code, resp.body
    assert resp.headers["content-type"].startswith("application/json")
    err = resp.json()["error"]
    assert err["code"] == code and err["type"] == etype, err
    assert words in err["message"], err
    return err


# --- health and model info --------------------------------------------------------------

def test_health_ok_when_ready():
    resp = get("/health")
    assert resp.status == 200 and resp.json() == {"status": "ok"}


@pytest.mark.parametrize("state, words", [
    ("none", "No model loaded"), ("loading", "Loading model"), ("error", "bad magic")])
def test_health_503_without_a_model(state, words):
    resps = exchange(request("GET", "/health"), request("POST", "/v1/completions", {"prompt": "x"}),
                     request("GET", "/metrics"), prelude=[f"backend {state}"])
    assert_error(resps[0], 503, words, "unavailable_error")
    assert_error(resps[1], 503, words, "unavailable_error")
    assert resps[2].status == 200


def test_models_props_slots():
    models = get("/v1/models").json()
    assert models["object"] == "list"
    [m] = models["data"]
    assert m["id"] == "fake-echo" and m["object"] == "model" and m["meta"]["n_vocab"] == 258
    props = get("/props").json()
    assert props["model_path"] == "fake-echo" and props["total_slots"] == 64
    assert props["default_generation_settings"]["n_ctx"] == 512
    assert props["default_generation_settings"]["temperature"] == 0.8
    slots = get("/slots").json()
    assert len(slots) == 64 and not any(s["is_processing"] for s in slots)


def test_metrics_count_requests_and_tokens():
    reqs = [request("GET", "/health"), request("GET", "/health"), request("GET", "/missing"),
            request("POST", "/v1/completions", {"prompt": "abcd", "max_tokens": 3}),
            request("GET", "/metrics")]
    resps = exchange(*reqs)
    text = resps[-1].body.decode()
    assert resps[-1].headers["content-type"].startswith("text/plain")
    assert 'cllm_requests_total{path="/health",status="200"} 2' in text
    assert 'cllm_requests_total{path="other",status="404"} 1' in text
    assert 'cllm_requests_total{path="/v1/completions",status="200"} 1' in text
    assert "cllm_prompt_tokens_total 5\n" in text  # BOS + 4 bytes
    assert "cllm_tokens_predicted_total 3\n" in text
    assert "# TYPE cllm_requests_total counter" in text


# --- routing and errors --------------------------------------------------------------------

def test_unknown_path_is_404():
    assert_error(get("/v2/nothing"), 404, "/v2/nothing", "not_found_error")


def test_wrong_method_is_405_with_allow():
    resp = get("/v1/completions")
    assert_error(resp, 405, "GET")
    assert resp.headers["allow"] == "POST"
    assert post("/health", "").headers["allow"] == "GET, HEAD"


def test_cors_preflight_needs_no_key():
    [resp] = exchange(request("OPTIONS", "/v1/chat/completions"), prelude=["key k"])
    assert resp.status == 204 and resp.body == b""
    assert resp.headers["access-control-allow-methods"] == "POST, OPTIONS"
    assert "Authorization" in resp.headers["access-control-allow-headers"]
    assert resp.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("path", ["/v1/completions", "/v1/chat/completions", "/completion",
                                  "/tokenize", "/detokenize"])
def test_bad_json_is_400_naming_the_position(path):
    err = assert_error(post(path, '{"prompt": "x",}'), 400, "invalid JSON body")
    assert "at byte 15" in err["message"]
    assert_error(post(path, "[1,2]"), 400, "must be a JSON object")


def test_server_stays_healthy_after_bad_requests():
    resps = exchange(request("POST", "/v1/completions", "{oops"), request("GET", "/health"))
    assert [r.status for r in resps] == [400, 200]


@pytest.mark.parametrize("body, field", [
    ({"prompt": "x", "temperature": "hot"}, "'temperature'"),
    ({"prompt": "x", "top_p": 1.5}, "'top_p': out of range 0..1, got 1.5"),
    ({"prompt": "x", "top_k": 2.5}, "'top_k': expected an integer"),
    ({"prompt": "x", "max_tokens": -5}, "'max_tokens'"),
    ({"prompt": "x", "n_predict": "3"}, "'n_predict'"),
    ({"prompt": "x", "n": 9}, "'n': expected an integer in 1..8"),
    ({"prompt": "x", "n": 0}, "'n': expected an integer in 1..8"),
    ({"prompt": "x", "stream": 1}, "'stream': expected a boolean"),
    ({"prompt": "x", "stop": {"a": 1}}, "'stop'"),
    ({"prompt": "x", "stop": [1, 2, 3, 4, 5]}, "'stop': at most 4"),
    ({"prompt": "x", "stop": ["a", "b", "c", "d", "e"]}, "'stop': at most 4"),
    ({"prompt": "x", "stop": [""]}, "'stop'"),
    ({"prompt": "x", "seed": 1.5}, "'seed'"),
    ({"prompt": "x", "presence_penalty": 3}, "'presence_penalty'"),
    ({"prompt": "x", "stream_options": 3}, "'stream_options'"),
    ({"prompt": 7}, "'prompt'"),
    ({}, "'prompt'"),
    ({"prompt": [1, 999]}, "'prompt[1]': expected a token id, got 999"),
])
def test_bad_completion_fields_are_named(body, field):
    assert_error(post("/v1/completions", body), 400, field)


@pytest.mark.parametrize("body, field", [
    ({}, "'messages'"),
    ({"messages": []}, "'messages'"),
    ({"messages": [{"role": "user", "content": "a"}, {"content": "b"}]}, "'messages[1].role'"),
    ({"messages": [{"role": "user", "content": 5}]}, "'messages[0].content'"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "'messages[0].content'"),
])
def test_bad_chat_fields_are_named(body, field):
    assert_error(post("/v1/chat/completions", body), 400, field)


MSG = [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("path, body, field", [
    ("/v1/chat/completions", {"messages": MSG, "tools": []}, "'tools': not supported"),
    ("/v1/chat/completions", {"messages": MSG, "functions": [{}]}, "'functions': not supported"),
    ("/v1/chat/completions", {"messages": MSG, "audio": {}}, "'audio': not supported"),
    ("/v1/chat/completions", {"messages": MSG, "modalities": ["text"]}, "'modalities'"),
    ("/v1/chat/completions", {"messages": MSG, "logprobs": 3}, "'logprobs': expected a boolean"),
    ("/v1/chat/completions", {"messages": MSG, "logprobs": True, "top_logprobs": 21},
     "'top_logprobs': expected an integer in 0..20"),
    ("/v1/chat/completions", {"messages": MSG, "top_logprobs": 2}, "'top_logprobs': needs"),
    ("/v1/completions", {"prompt": "x", "logprobs": True}, "'logprobs': expected an integer"),
    ("/completion", {"prompt": "x", "logprobs": 2}, "'logprobs': not supported"),
    ("/completion", {"prompt": "x", "n_probs": 21}, "'n_probs': out of range 0..20"),
    ("/v1/chat/completions", {"messages": MSG, "prompt": "x"}, "'prompt': not supported"),
    ("/v1/completions", {"prompt": "x", "messages": MSG}, "'messages': not supported"),
    ("/v1/completions", {"prompt": "x", "logit_bias": {"x5": 1}}, "'logit_bias[x5]': expected a token id"),
    ("/v1/completions", {"prompt": "x", "logit_bias": {"5": 101}}, "'logit_bias[5]': expected a number"),
    ("/v1/completions", {"prompt": "x", "logit_bias": [[5]]}, "'logit_bias': expected pairs"),
    ("/v1/completions", {"prompt": "x", "logit_bias": 5}, "'logit_bias': expected an object"),
    ("/v1/completions", {"prompt": "x", "stop": [1.5]}, "'stop': expected a string, a token id"),
    ("/v1/completions", {"prompt": "x", "echo": 1}, "'echo': expected a boolean"),
    ("/v1/completions", {"prompt": "x", "echo": True, "logprobs": 1}, "'echo': not supported"),
    ("/v1/chat/completions", {"messages": MSG, "echo": True}, "'echo': not supported"),
    ("/completion", {"prompt": "x", "mirostat": 2}, "'mirostat': not supported"),
])
def test_unimplemented_fields_are_refused_by_name(path, body, field):
    assert_error(post(path, body), 400, field)


@pytest.mark.parametrize("path, body", [
    ("/v1/chat/completions", {"messages": MSG, "user": "u1", "metadata": {"a": "b"},
                              "store": False, "service_tier": "auto", "logprobs": False,
                              "tools": None, "model": "any"}),
    ("/v1/completions", {"prompt": "x", "user": "u1", "response_format": {"type": "text"}}),
    ("/completion", {"prompt": "x", "cache_prompt": True}),
])
def test_ignorable_fields_are_accepted(path, body):
    assert post(path, {**body, "max_tokens": 2}).status == 200


@pytest.mark.parametrize("body, field", [
    ({"grammar": 'root ::= "a" foo'}, "'grammar': grammar: line 1 col 14: undefined rule"),
    ({"grammar": 'root ::= "a'}, "'grammar': grammar: line 1 col"),
    ({"grammar": 7}, "'grammar': expected a GBNF string"),
    ({"grammar": 'root ::= "a"', "json_schema": {}}, "'grammar' and 'json_schema'"),
    ({"json_schema": {"type": "string", "pattern": "a+"}}, "not anchored as ^...$ in 'pattern' at $"),
    ({"json_schema": {"properties": {"a": {"type": "string", "pattern": "^a(?=b)$"}}}},
     "a lookaround in 'pattern' at $.properties.a"),
    ({"json_schema": {"type": "string", "pattern": "^\\bx$"}}, "an unsupported escape in 'pattern'"),
    ({"json_schema": {"type": "string", "pattern": "^a{65}$"}}, "past 64"),
    ({"json_schema": {"type": "string", "pattern": "^a+?$"}}, "a lazy or repeated repetition"),
    ({"json_schema": {"type": "string", "pattern": "^[\"]$"}}, "a class with a character"),
    ({"json_schema": {"type": "string", "pattern": "^(a$"}}, "an unclosed group"),
    ({"json_schema": {"type": "string", "pattern": "^a)$"}}, "an unmatched ')'"),
    ({"json_schema": {"type": "string", "pattern": "^a$", "maxLength": 3}},
     "minLength or maxLength together with 'pattern'"),
    ({"json_schema": {"type": "string", "format": "date"}}, "unsupported keyword 'format' at $"),
    ({"json_schema": {"properties": {"a": {"type": "integer", "minimum": 3}}}},
     "unsupported keyword 'minimum' at $.properties.a"),
    ({"json_schema": {"items": {"$ref": "#/$defs/x"}}}, "unsupported keyword '$ref' at $.items"),
    ({"json_schema": {"type": "date"}}, "unsupported type 'date'"),
    ({"json_schema": {"type": "string", "maxLength": 100}}, "maxLength"),
    ({"json_schema": {"type": "object", "properties": {"a": {}}, "required": ["b"]}},
     "'required'"),
    ({"json_schema": {"type": "object", "additionalProperties": True}},
     "'additionalProperties'"),
    ({"response_format": {"type": "xml"}}, "'response_format.type'"),
    ({"response_format": {"type": "json_schema"}}, "'response_format.json_schema.schema'"),
    ({"response_format": {"type": "json_schema", "json_schema": {"schema": {"anyOf": []}}}},
     "'response_format.json_schema.schema': expected a non-empty array of schemas for 'anyOf'"),
])
def test_bad_grammar_or_schema_is_400_naming_where(body, field):
    assert_error(post("/v1/completions", {"prompt": "x", **body}), 400, field)


def test_prompt_longer_than_the_context_is_400():
    assert_error(post("/v1/completions", {"prompt": "z" * 600}), 400, "context")


# --- API key -------------------------------------------------------------------------------

def test_api_key_is_required_everywhere_but_health():
    key = ["key s3cret"]
    assert get("/health", prelude=key).status == 200
    assert_error(get("/v1/models", prelude=key), 401, "Invalid API Key", "authentication_error")
    assert_error(get("/nope", prelude=key), 401, "", "authentication_error")
    assert get("/v1/models", prelude=key, headers={"Authorization": "Bearer wrong"}).status == 401
    assert get("/v1/models", prelude=key, headers={"Authorization": "Bearer s3cre"}).status == 401
    assert get("/v1/models", prelude=key, headers={"Authorization": "Bearer s3cret"}).status == 200
    assert get("/v1/models", prelude=key, headers={"X-Api-Key": "s3cret"}).status == 200
    resp = exchange(request("POST", "/v1/completions", {"prompt": "ab"}), prelude=key)[0]
    assert resp.status == 401 and resp.headers["www-authenticate"] == "Bearer"


# --- completions ---------------------------------------------------------------------------

def test_completion_openai_shape_and_usage():
    resp = post("/v1/completions", {"prompt": "hello world", "max_tokens": 5, "temperature": 0})
    body = resp.json()
    assert resp.status == 200
    assert body["object"] == "text_completion" and body["model"] == "fake-echo"
    assert body["id"].startswith("cmpl-") and isinstance(body["created"], int)
    [choice] = body["choices"]
    assert choice == {"index": 0, "text": "HELLO", "logprobs": None, "finish_reason": "length"}
    assert body["usage"] == {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17,
                             "prompt_tokens_details": {"cached_tokens": 0}}


def test_completion_until_eos_and_other_prompt_forms():
    assert post("/v1/completions", {"prompt": "abc"}).json()["choices"][0] == {
        "index": 0, "text": "ABC", "logprobs": None, "finish_reason": "stop"}
    assert post("/completions", {"prompt": ["xyz"]}).json()["choices"][0]["text"] == "XYZ"
    assert post("/v1/completions", {"prompt": [BOS, 104, 105]}).json()["choices"][0]["text"] == "HI"


def test_stop_strings_string_and_array():
    c = post("/v1/completions", {"prompt": "hello world", "stop": "WOR"}).json()["choices"][0]
    assert c["text"] == "HELLO " and c["finish_reason"] == "stop"
    c = post("/v1/completions", {"prompt": "hello world", "stop": ["zzz", "LL"]}).json()["choices"][0]
    assert c["text"] == "HE"


def test_several_choices_on_the_fake():
    one = post("/v1/completions", {"prompt": "abc", "max_tokens": 3}).json()
    two = post("/v1/completions", {"prompt": "abc", "max_tokens": 3, "n": 2}).json()
    assert [c["index"] for c in two["choices"]] == [0, 1]
    assert [c["text"] for c in two["choices"]] == ["ABC", "ABC"]
    assert two["usage"]["completion_tokens"] == 2 * one["usage"]["completion_tokens"]
    assert two["usage"]["prompt_tokens"] == one["usage"]["prompt_tokens"]


def test_echo_puts_the_prompt_first():
    c = post("/v1/completions", {"prompt": "abc", "echo": True, "max_tokens": 3}).json()
    assert c["choices"][0]["text"] == "abcABC"
    resp = post("/v1/completions", {"prompt": "abc", "echo": True, "max_tokens": 3,
                                    "stream": True})
    events = [json.loads(e) for e in resp.sse_events()[:-1]]
    assert events[0]["choices"][0]["text"] == "abc"
    assert "".join(e["choices"][0]["text"] for e in events) == "abcABC"


def test_duplicate_keys_last_wins():
    raw = '{"prompt":"abcdef","max_tokens":1,"max_tokens":3}'
    assert post("/v1/completions", raw).json()["choices"][0]["text"] == "ABC"


def test_invalid_utf8_in_output_is_replaced():
    text = post("/v1/completions", {"prompt": [BOS, 0xFF, 97, 0x22, 10]}).json()["choices"][0]["text"]
    assert text == "\ufffdA\"\n"


def test_chat_completion_uses_the_template():
    msgs = [{"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hi "}, {"type": "text", "text": "there"}]}]
    resp = post("/v1/chat/completions", {"messages": msgs, "max_tokens": 200})
    body = resp.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    [choice] = body["choices"]
    expected = "<system>be brief\n<user>hi there\n<assistant>".upper()
    assert choice["message"] == {"role": "assistant", "content": expected}
    assert choice["finish_reason"] == "stop"
    assert body["usage"]["prompt_tokens"] == len(expected) + 1


def test_native_completion_shape():
    body = post("/completion", {"prompt": "native", "n_predict": 3}).json()
    assert body["content"] == "NAT" and body["stop"] is True and body["stop_type"] == "limit"
    assert body["tokens_predicted"] == 3 and body["tokens_evaluated"] == 7
    assert body["timings"]["predicted_n"] == 3
    assert post("/completion", {"content": "eos"}).json()["stop_type"] == "eos"


# --- streaming -----------------------------------------------------------------------------

def test_streaming_completion_events():
    resp = post("/v1/completions", {"prompt": "stream me", "stream": True, "max_tokens": 6})
    assert resp.status == 200 and resp.chunked
    assert resp.headers["content-type"] == "text/event-stream"
    events = resp.sse_events()
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "text_completion" for c in chunks)
    assert "".join(c["choices"][0]["text"] for c in chunks) == "STREAM"
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None] * 6 + ["length"]


def test_streaming_chat_with_usage():
    resp = post("/v1/chat/completions", {"messages": [{"role": "user", "content": "yo"}],
                                         "stream": True, "stream_options": {"include_usage": True}})
    events = resp.sse_events()
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == "<USER>YO\n<ASSISTANT>"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == len(text)


def test_streaming_native_has_no_done_marker():
    resp = post("/completion", {"prompt": "abc", "stream": True})
    chunks = [json.loads(e) for e in resp.sse_events()]
    assert [c["content"] for c in chunks] == ["A", "B", "C", ""]
    assert [c["stop"] for c in chunks] == [False, False, False, True]


def test_streaming_to_http10_client_uses_close_framing():
    s = Script().open(1).send(1, request("POST", "/v1/completions", {"prompt": "ab", "stream": True},
                                         version="1.0")).run()
    r = s.execute()
    [resp] = r.responses(1)
    assert not resp.chunked and "content-length" not in resp.headers
    assert resp.sse_events()[-1] == "[DONE]" and r.state[1] == "closed"


def test_stream_then_keep_alive_request():
    resps = exchange(request("POST", "/v1/completions", {"prompt": "ab", "stream": True}),
                     request("GET", "/health"))
    assert [r.status for r in resps] == [200, 200]
    assert resps[0].sse_events()[-1] == "[DONE]"


# --- tokenize ------------------------------------------------------------------------------

def test_tokenize_and_detokenize():
    assert post("/tokenize", {"content": "ab"}).json() == {"tokens": [97, 98]}
    assert post("/tokenize", {"content": "ab", "add_special": True}).json() == {"tokens": [BOS, 97, 98]}
    assert post("/detokenize", {"tokens": [BOS, 104, 105]}).json() == {"content": "hi"}
    assert_error(post("/detokenize", {"tokens": [104, 300]}), 400, "'tokens[1]'")
    assert_error(post("/tokenize", {"content": 5}), 400, "'content'")


# --- many requests at once -----------------------------------------------------------------

def test_sixteen_concurrent_requests_advance_together():
    prompts = [f"client {i:02d} " + "abcdefghij"[: i % 10] + "!" * 40 for i in range(16)]
    s = Script()
    for i, p in enumerate(prompts, start=1):
        s.open(i).send(i, request("POST", "/v1/completions", {"prompt": p, "stream": i % 2 == 0}))
    # After 8 turns every streaming request has produced tokens: none waits for another.
    s.poll(8)
    partial = s.execute()
    for i in range(2, 17, 2):
        events = partial.out[i].count(b"data: ")
        assert 5 <= events <= 8, (i, events)
    r = s.run().execute()
    for i, p in enumerate(prompts, start=1):
        [resp] = r.responses(i)
        if i % 2 == 0:
            text = "".join(json.loads(e)["choices"][0]["text"] for e in resp.sse_events()[:-1])
        else:
            text = resp.json()["choices"][0]["text"]
        assert text == p.upper(), i
    assert r.tasks == 0


def test_engine_out_of_memory_is_503_not_the_clients_fault():
    # The fake engine has no memory for the prompt "<oom>": retry later, not "bad request".
    oom, ok = (request("POST", "/v1/completions", {"prompt": p, "max_tokens": 2}) for p in ("<oom>", "ok"))
    resps = exchange(oom, ok)
    assert_error(resps[0], 503, "out of memory", "unavailable_error")
    assert resps[1].json()["choices"][0]["text"] == "OK"


def test_generation_past_the_slots_gets_503():
    # API_MAX_SLOTS (64) generations run; the 65th is refused.
    s = Script()
    for i in range(1, 66):
        s.open(i).send(i, request("POST", "/v1/completions", {"prompt": "q" * 100}))
    s.poll(1).open(66).send(66, request("GET", "/slots")).poll(1)
    r = s.execute()
    assert r.tasks == 64
    [resp] = r.responses(65)
    assert_error(resp, 503, "slots", "unavailable_error")
    slots = r.responses(66)[0].json()
    assert all(x["is_processing"] for x in slots)


# --- the parameter table (kernel/llm/gen_param.c) over HTTP ---------------------------------

def _table_rows():
    from test_gen_param import rows
    return rows()


def _json_spellings(kinds):
    return [(r, name) for r in _table_rows() if r.kind in kinds for name in r.json]


def _ids(x):
    return x if isinstance(x, str) else ""


@pytest.mark.parametrize("row, name", _json_spellings(("int", "float", "seed")), ids=_ids)
def test_every_number_parameter_takes_its_range_edges_and_refuses_past_them(row, name):
    integer = row.kind in ("int", "seed")
    edges = [int(row.lo), int(row.hi)] if integer else [row.lo, row.hi]
    step = 2 if row.hi >= 2**53 else 1  # 2^53 + 1 reads as 2^53 in a double
    past = [int(row.lo) - 1, int(row.hi) + step] if integer else [row.lo - 0.5, row.hi + 0.5]
    resps = exchange(*(request("POST", "/v1/completions", {"prompt": "ab", name: v})
                       for v in edges + past))
    assert [r.status for r in resps] == [200, 200, 400, 400], [r.body for r in resps]
    for r, v in zip(resps[2:], past):
        err = assert_error(r, 400, f"field '{name}': out of range ")
        assert err["message"].endswith(f", got {v}"), err


@pytest.mark.parametrize("row, name", _json_spellings(("int", "float", "seed", "bool", "stop")),
                         ids=_ids)
def test_every_parameter_refuses_a_wrong_type_naming_field_and_value(row, name):
    want = {"int": "an integer", "seed": "an integer", "float": "a number", "bool": "a boolean",
            "stop": "a string, a token id or an array of them"}[row.kind]
    bad = {"int": [1.5, "3", True], "seed": [1.5, "3"], "float": ["warm", False, [1]],
           "bool": [1, "true"], "stop": [-5, 1.5, {"a": 1}, ["ok", True]]}[row.kind]
    resps = exchange(*(request("POST", "/v1/completions", {"prompt": "ab", name: v}) for v in bad))
    for r, v in zip(resps, bad):
        got = json.dumps(v[-1] if isinstance(v, list) and row.kind == "stop" else v,
                         separators=(",", ":"))
        assert_error(r, 400, f"field '{name}': expected {want}, got {got}")


@pytest.mark.parametrize("path", ["/v1/completions", "/v1/chat/completions", "/completion"])
def test_max_tokens_defaults_to_256_on_every_endpoint(path):
    long = "y" * 300
    body = ({"messages": [{"role": "user", "content": long}]} if "chat" in path
            else {"prompt": long})
    resp = post(path, body)
    assert resp.status == 200, resp.body
    data = resp.json()
    n = data["tokens_predicted"] if path == "/completion" else data["usage"]["completion_tokens"]
    assert n == 256
    assert get("/props").json()["default_generation_settings"]["n_predict"] == 256
    assert post(path, {**body, "max_tokens": -1}).status == 200


def test_max_tokens_spellings_and_which_wins():
    def text(body):
        return post("/v1/completions", {"prompt": "abcdef", **body}).json()["choices"][0]["text"]
    assert text({"n_predict": 1}) == "A"
    assert text({"max_tokens": 2}) == "AB"
    assert text({"max_completion_tokens": 3}) == "ABC"
    assert text({"n_predict": 1, "max_tokens": 2}) == "AB"
    assert text({"max_tokens": 2, "max_completion_tokens": 3, "n_predict": 1}) == "ABC"
    assert text({"max_tokens": None}) == "ABCDEF"


def test_boolean_and_stop_parameters_apply():
    c = post("/v1/completions", {"prompt": "abcabc", "stop": ["CA"], "ignore_eos": False})
    assert c.json()["choices"][0]["text"] == "AB"
    assert_error(post("/v1/completions", {"prompt": "x", "stop": ["a"] * 5}), 400,
                 "field 'stop': at most 4 strings of 1..64 bytes")
