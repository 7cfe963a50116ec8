"""Host tests of the JSON reader and writer (kernel/http/json_*.c): round trips
against Python's json module, escapes and surrogate pairs, strict rejection of
malformed input with the error's byte offset, depth limit, and a mutation fuzz loop
under AddressSanitizer."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from http_support import run_harness


def parse(tmp_path: Path, data: bytes | str) -> str:
    f = tmp_path / "doc.json"
    f.write_bytes(data.encode() if isinstance(data, str) else data)
    return run_harness("json", str(f)).rstrip("\n")


@pytest.mark.parametrize("doc", [
    '{"a":[1,2.5,-300,true,false,null],"b":{"c":{}},"d":[]}',
    ' [ "x" , { "k" : "v" } ] ',
    '"\\"\\\\\\/\\b\\f\\n\\r\\t\\u0001\\u001f"',
    '"\\u00e9\\u20ac\\ud83d\\ude00 \u00e9\u20ac\U0001F600"',
    '-0', '0', '123456789', '-9007199254740991', '12345678901234567', '1.5e300', '0.125', '-2.5e-3', '1E+2', '1e20', '3.14159',
    '{"":""}', '"a\\u0000b"',
])
def test_round_trip(tmp_path, doc):
    out = parse(tmp_path, doc)
    assert out.startswith("ok "), out
    # Numbers are doubles in the reader, so compare them as Python floats.
    assert json.loads(out[3:], parse_int=float) == json.loads(doc, parse_int=float)


def test_writer_escapes_control_characters_and_keeps_utf8(tmp_path):
    out = parse(tmp_path, '"\\u0007\\u007f\\"\u00e9"')
    assert out == 'ok "\\u0007\\u007f\\"\u00e9"'


def test_duplicate_keys_are_kept_in_order(tmp_path):
    # The tree keeps both members; json_get (tested through the API) returns the last.
    assert parse(tmp_path, '{"a":1,"a":2}') == 'ok {"a":1,"a":2}'


@pytest.mark.parametrize("doc, pos, words", [
    ("", 0, "value expected"),
    ("   ", 3, "value expected"),
    ('{"a":1,}', 7, "object key"),
    ("[1 2]", 3, "',' or ']'"),
    ("[1,]", 3, "unexpected character"),
    ("01", 1, "leading zero"),
    ("1.", 2, "digit expected after '.'"),
    (".5", 0, "unexpected character"),
    ("+1", 0, "unexpected character"),
    ("-", 1, "invalid number"),
    ("1e", 2, "exponent"),
    ("NaN", 0, "unexpected character"),
    ("tru", 0, "invalid literal"),
    ("nul", 0, "invalid literal"),
    ("{} x", 3, "after the value"),
    ('"abc', 4, "unterminated string"),
    ('"a\x01"', 2, "control character"),
    ('"\\x"', 2, "invalid escape"),
    ('"\\u12g4"', 5, "bad hex digit"),
    ('"\\ud800"', 7, "high surrogate"),
    ('"\\ud800\\u0041"', 13, "high surrogate"),
    ('"\\udc00"', 7, "lone low surrogate"),
    ('{"a" 1}', 5, "':' expected"),
    ("{1:2}", 1, "object key"),
    ("1e400", 5, "out of range"),
    ("[" * 65 + "]" * 65, 64, "nesting too deep"),
])
def test_malformed_documents_are_rejected_with_position(tmp_path, doc, pos, words):
    out = parse(tmp_path, doc)
    assert out.startswith(f"error {pos} at byte {pos}: "), out
    assert words in out


@pytest.mark.parametrize("raw", [
    b'"\xc0\x80"',           # overlong NUL
    b'"\xe0\x80\xaf"',       # overlong '/'
    b'"\xed\xa0\x80"',       # UTF-8 encoded surrogate
    b'"\xf4\x90\x80\x80"',   # past U+10FFFF
    b'"\xe2\x82"',           # truncated sequence
    b'"\x80"',               # lone continuation byte
    b'"\xff"',
])
def test_invalid_utf8_is_rejected(tmp_path, raw):
    out = parse(tmp_path, raw)
    assert out == "error 1 at byte 1: invalid UTF-8 in string"


def test_depth_limit_is_exactly_64(tmp_path):
    assert parse(tmp_path, "[" * 64 + "]" * 64).startswith("ok ")


@pytest.mark.parametrize("seed", [1, 2])
def test_fuzzed_inputs_do_not_crash(seed):
    out = run_harness("fuzz", "30000", str(seed), timeout=300)
    assert out.startswith("fuzz ok"), out
    valid = int(out.split()[2])
    assert valid > 100  # the mutations keep some documents valid, so the writer is exercised
