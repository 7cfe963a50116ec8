"""GBNF grammars (kernel/llm/grammar.c) in the host harness under ASan/UBSan:
compile errors name the line, column and cause; texts are judged whole and byte by
byte alike (a token may end inside a UTF-8 character); and random walks that only
take tokens the grammar accepts (what constrained sampling does) always end in a text
that an independent parser accepts: Python's json module for the JSON grammar, Python's
own expression parser for arithmetic."""

from __future__ import annotations

import ast
import json
import re
import subprocess
from pathlib import Path

import pytest
from hostcc import ROOT, host_binary

GRAMMARS = ROOT / "tests" / "grammars"


@pytest.fixture(scope="module")
def harness() -> Path:
    return host_binary("grammar_main", ["kernel/llm/grammar_compile.c", "kernel/llm/grammar.c",
                                        "tests/host/grammar_main.c"])


def run(harness: Path, grammar: Path | str, *args: str | bytes, tmp_path: Path | None = None,
        check: bool = True) -> list[str]:
    if isinstance(grammar, str):
        assert tmp_path is not None
        path = tmp_path / "g.gbnf"
        path.write_text(grammar)
        grammar = path
    proc = subprocess.run([str(harness), str(grammar), *args], capture_output=True, timeout=120,
                          check=False)
    out = proc.stdout.decode()
    assert "runtime error" not in proc.stderr.decode() and "Sanitizer" not in proc.stderr.decode(), proc.stderr
    if check:
        assert proc.returncode == 0, out + proc.stderr.decode()
    return out.splitlines()


@pytest.mark.parametrize("src, words", [
    ('root ::= "a" foo\n', ["line 1 col 14", "undefined rule `foo`"]),
    ('item ::= "a"\n', ["no `root` rule"]),
    ('root ::= "abc\n', ["unterminated string"]),
    ('root ::= "\\q"\n', ["line 1 col 12", "unknown escape"]),
    ('root ::= root "a" | "b"\n', ["`root` is left-recursive"]),
    ('root ::= x\nx ::= y? root\ny ::= "a"\n', ["left-recursive"]),
    ('root ::= * "a"\n', ["repetition of nothing"]),
    ('root ::= []\n', ["empty character class"]),
    ('root ::= "a"{3,1}\n', ["n < m"]),
    ('root ::= "a"{999}\n', ["GRAMMAR_MAX_REPEAT"]),
    ('root ::= ("a" | "b"\n', ["unclosed '('"]),
    ('root ::= "a")\n', ["unmatched ')'"]),
    ('root ::= "a"\nroot ::= "b"\n', ["line 2 col 1", "defined twice"]),
    ('root ::= [z-a]\n', ["upside down"]),
    ('root ::= "\\xZZ"\n', ["bad hex digit"]),
])
def test_compile_errors_name_the_place(harness, tmp_path, src, words):
    (line,) = run(harness, src, "compile", tmp_path=tmp_path, check=False)
    assert line.startswith("error: grammar: "), line
    for w in words:
        assert w in line, line


@pytest.mark.parametrize("name, texts", [
    ("list.gbnf", {"- Apples\n": "full", "- Apples\n- pears\n": "full", "- ": "prefix",
                   "* x\n": "reject", "- a\n" * 5: "full", "- a\n" * 6: "reject", "": "prefix"}),
    ("arithmetic.gbnf", {"1+2": "full", "(1 + 2) * -3": "full", "(1+": "prefix", "1++2": "reject",
                         "((7))": "full", "2 *": "prefix", ")": "reject"}),
    ("json.gbnf", {'{"a": 1}': "full", '{"a": [true, null, -0.5e10]}': "full", '{"a"': "prefix",
                   "{a}": "reject", '{"k": "\u00e9\u4e2d\U0001f600"}': "full", '{"a": 01}': "reject",
                   '{"a": "\\u00e9"}': "full", '{"a": "\\x"}': "reject", "[1]": "reject"}),
])
def test_texts_judged_whole_and_byte_by_byte(harness, name, texts):
    verdicts = run(harness, GRAMMARS / name, "check", *texts)
    assert verdicts == list(texts.values()), dict(zip(texts, verdicts))


JSON_TOKENS = ['{', '}', '[', ']', '"', ':', ',', ' ', '\n', 'a', 'key', 'é'.encode(), b'\xe4\xb8',
               b'\xad', '0', '1', '7', '.', 'e', '-', '+', 'true', 'false', 'null', '\\', 'n', 'u',
               'F', '", "', '": ', '\t', '"x"', 't', 'r', 'l', 's', 'f']
# every byte a text may need has a token of its own, as in a byte-level vocabulary, so
# a walk can always go on; the longer tokens make it cross rule boundaries in one step


def test_random_walks_give_valid_json(harness):
    out = run(harness, GRAMMARS / "json.gbnf", "walk", "42", "60", *JSON_TOKENS)
    assert len(out) == 60
    kinds = set()
    for line in out:
        text = json.loads(line)  # the harness prints each sentence as a JSON string
        value = json.loads(text)  # and the sentence itself must be JSON
        assert isinstance(value, dict), text
        kinds |= {type(v).__name__ for v in value.values()}
    assert len(kinds) >= 3, kinds  # the walks reach more than one kind of value


def test_random_walks_give_valid_arithmetic(harness):
    tokens = ["(", ")", "+", "-", "*", "/", " ", "0", "1", "42", "7"]
    out = run(harness, GRAMMARS / "arithmetic.gbnf", "walk", "7", "60", *tokens)
    assert len(out) == 60
    for line in out:
        text = json.loads(line)
        ast.parse(re.sub(r"\b0+(\d)", r"\1", text), mode="eval")  # Python refuses 007


def test_a_token_ending_inside_a_character(harness, tmp_path):
    # "é" is C3 A9: its first byte alone may be accepted only where an é may come
    g = 'root ::= "caf" [\u00e9e]\n'
    assert run(harness, g, "check", "caf\u00e9", "cafe", "cafx", tmp_path=tmp_path) == \
        ["full", "full", "reject"]
