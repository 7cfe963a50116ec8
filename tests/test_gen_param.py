"""The table of generation parameters (kernel/llm/gen_param.c) through
tests/host/gen_param_test.c, driven by the table itself: every command-line
spelling sets its field, range edges are accepted and the values just past them
refused naming key and value, wrong types are refused, the last occurrence wins,
the server-wide defaults keep a bad value's default, and the command line's checker
knows every spelling from the table alone (options.c does not repeat them)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest
from hostcc import host_binary

SOURCES = ["kernel/llm/gen_param.c", "kernel/llm/sampler.c", "kernel/core/options.c",
           "tests/host/gen_param_test.c"]
U32_MAX = 0xFFFFFFFF


@dataclass(frozen=True)
class Row:
    name: str
    kind: str
    lo: float
    hi: float
    default: float
    json: tuple[str, ...]
    option: tuple[str, ...]


@cache
def exe() -> Path:
    return host_binary("gen_param_test", SOURCES)


def run(*args: str) -> str:
    proc = subprocess.run([str(exe()), *args], capture_output=True, text=True, timeout=30,
                          check=True)
    return proc.stdout


@cache
def rows() -> tuple[Row, ...]:
    out = []
    for line in run("list").splitlines():
        _, name, kind, lo, hi, default, json, option = line.split(" ")
        names = {k: tuple(n for n in v.split(",") if n)
                 for k, v in (json.split("=", 1), option.split("=", 1))}
        out.append(Row(name, kind, float(lo), float(hi), float(default), names["json"],
                       names["option"]))
    return tuple(out)


def parse(line: str, what: str = "cmdline") -> tuple[str | None, dict[str, str]]:
    out = run(what, line).splitlines()
    err = out[0].removeprefix("error ") if out[0].startswith("error ") else None
    params = dict(kv.split("=", 1) for kv in out[-1].split(" ")[1:])
    return err, params


def number_rows() -> list[Row]:
    return [r for r in rows() if r.kind in ("int", "float", "seed")]


def text(v: float) -> str:
    return str(int(v)) if v == int(v) else repr(v)


def spelled(kinds=("int", "float", "seed")) -> list[tuple[Row, str]]:
    return [(r, key) for r in rows() if r.kind in kinds for key in r.option]


def test_table_covers_the_request_fields():
    names = {r.name for r in rows()}
    assert names == {"max_tokens", "temperature", "top_p", "min_p", "top_k", "repeat_penalty",
                     "repeat_last_n", "presence_penalty", "frequency_penalty", "seed",
                     "ignore_eos", "cache_prompt", "stop", "n_probs"}
    by = {r.name: r for r in rows()}
    assert by["max_tokens"].json == ("n_predict", "max_tokens", "max_completion_tokens")
    assert by["max_tokens"].option == ("max_tokens", "n")
    assert by["temperature"].option == ("temperature", "temp")
    assert by["max_tokens"].default == 256


def test_defaults_are_the_table_defaults():
    err, p = parse("")
    assert err is None
    for r in number_rows():
        want = 2**64 - 1 if r.kind == "seed" and r.default == -1 else r.default
        assert float(p[r.name]) == pytest.approx(want, rel=1e-7), r.name
    assert p["ignore_eos"] == "false" and p["stop"] == ""
    assert p["cache_prompt"] == "true"


@pytest.mark.parametrize("row, key", spelled(), ids=lambda x: x if isinstance(x, str) else "")
def test_every_spelling_sets_its_field_at_both_range_edges(row, key):
    for v in (row.lo, row.hi):
        err, p = parse(f"cllm.{key}={text(v)}")
        assert err is None, err
        want = 2**64 - 1 if row.kind == "seed" and v == -1 else v
        assert float(p[row.name]) == pytest.approx(want, rel=1e-7)


@pytest.mark.parametrize("row, key", spelled(), ids=lambda x: x if isinstance(x, str) else "")
def test_values_past_the_range_are_refused_naming_key_and_value(row, key):
    past = ((int(row.lo) - 1, int(row.hi) + 1) if row.kind in ("int", "seed")
            else (row.lo - 0.5, row.hi + 0.5))
    for v in past:
        err, p = parse(f"cllm.{key}={text(v)}")
        assert err is not None and err.startswith(f'cllm.{key}: bad value "{text(v)}" (want '), err
        assert f"in {text(row.lo)}..{text(row.hi)})" in err
        assert p[row.name] == parse("")[1][row.name]


@pytest.mark.parametrize("row, key", spelled(), ids=lambda x: x if isinstance(x, str) else "")
def test_wrong_types_are_refused(row, key):
    bad = ["warm", "", "1e2", "+1", "0x10"] + (["1.5"] if row.kind in ("int", "seed") else [])
    for v in bad:
        err, _ = parse(f'cllm.{key}="{v}"')
        assert err is not None and f'cllm.{key}: bad value "{v}"' in err, (v, err)


def test_quotes_other_words_and_the_last_occurrence():
    err, p = parse('/boot/cllm.elf cllm.api_key="a cllm.temp=9" cllm.temp="0.25" other')
    assert err is None and float(p["temperature"]) == 0.25
    assert parse("cllm.temp=0.5   ")[1]["temperature"] == "0.5"
    assert parse('"quoted word" cllm.temp=0.5 cllm.seed')[1]["temperature"] == "0.5"
    assert parse('cllm.x="unterminated cllm.temp=0.5')[1]["temperature"] != "0.5"
    assert parse("cllm.n=5 cllm.max_tokens=7")[1]["max_tokens"] == "7"
    assert parse("cllm.max_tokens=7 cllm.n=5")[1]["max_tokens"] == "5"
    assert parse("cllm.temp=0.5 cllm.temp=0")[1]["temperature"] == "0"
    assert parse("cllm.seed=42")[1]["seed"] == "42"
    assert parse("cllm.seed=-1")[1]["seed"] == str(2**64 - 1)
    err, _ = parse("cllm.temp=" + "1" * 65)
    assert err is not None and "over the 64-byte limit" in err


def test_first_bad_value_stops_the_console_reading():
    err, p = parse("cllm.top_k=3 cllm.presence_penalty=3 cllm.seed=9")
    assert err == 'cllm.presence_penalty: bad value "3" (want a number in -2..2)'
    assert p["top_k"] == "3"


def test_server_defaults_keep_a_bad_values_default_and_take_the_rest():
    err, p = parse("cllm.max_tokens=7 cllm.temp=warm cllm.top_k=3 cllm.seed=5", "configure")
    assert err == 'cllm.temp: bad value "warm" (want a number in 0..100)'
    assert p["max_tokens"] == "7" and p["top_k"] == "3" and p["seed"] == "5"
    assert float(p["temperature"]) == pytest.approx(0.8)
    assert parse("", "configure") == (None, parse("")[1])


@pytest.mark.parametrize("row, key", spelled(), ids=lambda x: x if isinstance(x, str) else "")
def test_the_command_line_knows_every_spelling_from_the_table_alone(row, key):
    """Each cllm.<key> spelling reaches the command line's checker from the table
    (gen_param_options), and the option registry (options.c) does not list it again:
    a parameter is one row, with one range."""
    reg = {ln.split()[1]: ln.split()[2:] for ln in run("registry").splitlines()}
    assert reg[key] == ["string", "table-only"], (key, reg[key])
