"""Structured outputs over the real engine on the host (kernel/http with api_llm.c and
kernel/llm under ASan/UBSan): a JSON schema given as OpenAI's `response_format`,
sampled at temperature 1 with many seeds, always yields JSON that the `jsonschema`
package validates; llama.cpp's `grammar` (the GBNF files in tests/grammars) and
`json_schema` constrain /completion; what the grammar costs per token is measured;
and an answer that max_tokens cuts short says "length". Refusals (bad grammar, bad
schema, fields the server does not implement) are in tests/test_api_host.py."""

from __future__ import annotations

import ast
import json
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest
from hostcc import ROOT, host_binary
from test_api_llm_host import post_all

MODEL = "stories260K.gguf"
GRAMMARS = ROOT / "tests" / "grammars"

# Bounded strings, numbers and lists: a tiny model cannot ramble past max_tokens.
PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "minLength": 1, "maxLength": 12},
        "age": {"type": "integer"},
        "height": {"type": "number"},
        "pets": {"type": "array", "items": {"enum": ["cat", "dog", "fish"]}, "maxItems": 3},
        "alive": {"type": "boolean"},
        "nick": {"anyOf": [{"type": "null"}, {"type": "string", "maxLength": 6}]},
        "kind": {"const": "person"},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 5}, "minItems": 1,
                 "maxItems": 2},
    },
    "required": ["name", "age", "alive", "kind", "tags"],
    "additionalProperties": False,
}
PATTERNS = {
    "type": "object",
    "properties": {
        "code": {"type": "string", "pattern": "^[A-Z]{2}-\\d{3}$"},
        "pet": {"type": "string", "pattern": "^(?:cat|dog)s?$"},
        "free": {"type": "string", "pattern": "^[^,]{0,8}\\.?$"},
        "mix": {"type": "string", "pattern": "^\\w+( \\w+){0,2}|x\\(y\\)$"},
    },
    "required": ["code", "pet", "free", "mix"],
}
OPTIONAL_ONLY = {"type": "object", "properties": {"a": {"type": "boolean"}, "b": {"type": "null"},
                                                  "c": {"enum": [1, 2.5, "x"]}}}


@pytest.fixture(scope="module")
def model(models_dir: Path) -> Path:
    return models_dir / MODEL


def chat_body(schema: dict, seed: int) -> dict:
    """What the openai client sends for response_format with a JSON schema."""
    return {"model": "m", "messages": [{"role": "user", "content": "Describe a person."}],
            "temperature": 1, "seed": seed, "max_tokens": 400,
            "response_format": {"type": "json_schema",
                                "json_schema": {"name": "person", "strict": True, "schema": schema}}}


@pytest.mark.parametrize("schema", [PERSON, OPTIONAL_ONLY, PATTERNS],
                         ids=["person", "optional-only", "patterns"])
def test_response_format_json_schema_always_validates(model, schema):
    answers = []
    for first in (1, 17):  # two rounds of 16 (the generation slots)
        answers += post_all(model, [("/v1/chat/completions", chat_body(schema, seed))
                                    for seed in range(first, first + 16)])
    texts = set()
    for a in answers:
        choice = a["choices"][0]
        assert choice["finish_reason"] == "stop", choice
        value = json.loads(choice["message"]["content"])
        jsonschema.validate(value, schema)
        texts.add(choice["message"]["content"])
    assert len(texts) > 8  # temperature 1 really samples


def test_json_object_and_native_json_schema(model):
    [obj, native] = post_all(model, [
        ("/v1/completions", {"prompt": "Once", "max_tokens": 300, "seed": 3, "temperature": 1,
                             "response_format": {"type": "json_object"}, "stop": ["zzz"]}),
        ("/completion", {"prompt": "Once", "n_predict": 200, "seed": 4,
                         "json_schema": {"type": "array", "items": {"type": "integer"},
                                         "minItems": 2, "maxItems": 4}}),
    ])
    if obj["choices"][0]["finish_reason"] == "stop":
        assert isinstance(json.loads(obj["choices"][0]["text"]), dict)
    else:  # cut short inside an unbounded string: still a prefix of an object
        assert obj["choices"][0]["text"].startswith("{")
    value = json.loads(native["content"])
    assert isinstance(value, list) and 2 <= len(value) <= 4
    assert all(isinstance(v, int) for v in value)


def test_gbnf_grammars_constrain_output(model):
    lst = (GRAMMARS / "list.gbnf").read_text()
    arith = (GRAMMARS / "arithmetic.gbnf").read_text()
    bodies = [("/completion", {"prompt": "Once", "n_predict": 60, "seed": s, "temperature": 1,
                               "grammar": g}) for g in (lst, arith) for s in range(4)]
    answers = post_all(model, bodies)
    item = r"- [A-Za-z][a-z ]*\n"
    for a in answers[:4]:
        text = a["content"]
        if a["stop_type"] == "eos":
            assert re.fullmatch(f"({item}){{1,5}}", text), text
        else:
            assert re.fullmatch(f"({item}){{0,4}}- ([A-Za-z][a-z ]*)?", text), text
    for a in answers[4:]:
        text = a["content"]
        assert re.fullmatch(r"[-+*/() 0-9]+", text), text
        if a["stop_type"] == "eos":
            ast.parse(text, mode="eval")


def test_max_tokens_cuts_a_constrained_answer_short(model):
    schema = {"type": "object", "properties": {"s": {"type": "string"}}, "required": ["s"]}
    [a] = post_all(model, [("/v1/chat/completions", {**chat_body(schema, 5), "max_tokens": 6})])
    assert a["choices"][0]["finish_reason"] == "length"
    assert a["choices"][0]["message"]["content"].startswith("{")


def test_grammar_cost_per_token(model, capsys):
    """The grammar's share of generation time: the sampled token is checked first and the
    whole vocabulary only when it is refused (grammar_masked_n counts those)."""
    bodies = [("/completion", {"prompt": "Once", "n_predict": 400, "seed": s, "temperature": 1,
                               "json_schema": PERSON}) for s in range(4)]
    answers = post_all(model, bodies)
    n = sum(a["timings"]["predicted_n"] for a in answers)
    gms = sum(a["timings"]["grammar_ms"] for a in answers)
    pms = sum(a["timings"]["predicted_ms"] for a in answers)
    masked = sum(a["timings"]["grammar_masked_n"] for a in answers)
    with capsys.disabled():
        print(f"\ngrammar: {gms / n:.3f} ms/token of {pms / n:.3f} ms/token generating "
              f"({100 * gms / pms:.0f}%), whole-vocabulary masks on {masked}/{n} tokens")
    assert 0 < gms < pms


def test_grammar_refuses_overlong_utf8():
    """F0 80 81 BB decodes to "{" only when overlong forms are let through: the grammar
    must refuse them (a model with byte tokens found that way round a grammar)."""
    exe = host_binary("grammar_main", ["kernel/llm/grammar_compile.c", "kernel/llm/grammar.c",
                                        "tests/host/grammar_main.c"])
    path = GRAMMARS / "json.gbnf"
    proc = subprocess.run([str(exe), str(path), "check", b"\xf0\x80\x81\xbb}", b"\xf0\x80", b"{}"],
                          capture_output=True, timeout=60, check=True)
    assert proc.stdout.decode().split() == ["reject", "reject", "full"]
