"""The `cllm` command: click commands only. Each parses flags, calls the library and
maps CllmError to its exit code in one place (`main`)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import click

from cllm_build import __version__, cli_boot, cli_fleet, cli_models, config
from cllm_build.errors import CllmError


def _err(msg: str) -> None:
    click.echo(msg, err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cllm")
def cli() -> None:
    """cllm: build, verify and boot the bare-metal LLM inference kernel."""


_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@cli.command()
@click.option("--cc", type=click.Choice(config.COMPILERS), default=None,
              help="C compiler: zig (default, from the ziglang package), clang or gcc (i686-capable).")
@click.option("--build-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output directory (default: $CLLM_BUILD_DIR, else build/ in the source tree).")
@click.option("--embed-model", type=_FILE, default=None,
              help="Wrap this model file (GGUF or llama2.c .bin) into the image, section .model.")
@click.option("--embed-tokenizer", type=_FILE, default=None,
              help="Wrap this tokenizer (llama2.c tokenizer.bin) into the image, section .tokenizer.")
@click.option("-v", "--verbose", is_flag=True, help="Show every compiler and linker command.")
def build(cc: str | None, build_dir: Path | None, embed_model: Path | None,
          embed_tokenizer: Path | None, verbose: bool) -> None:
    """Compile the kernel and link build/cllm.elf, then verify it.

    Progress goes to stderr, one line per step; the last line (stdout) names the image,
    its size and build id. Only changed sources are recompiled.
    """
    from cllm_build.build import build as do_build

    cfg = config.from_env(cc=cc, build_dir=build_dir.resolve() if build_dir else None, verbose=verbose,
                          embed_model=embed_model.resolve() if embed_model else None,
                          embed_tokenizer=embed_tokenizer.resolve() if embed_tokenizer else None)
    res = do_build(cfg, progress=_err)
    click.echo(f"{res.elf}: {res.size} bytes, build id {res.build_id} "
               f"({res.compiled} of {res.total} units compiled)")


@cli.command()
@click.argument("elf", type=_FILE)
@click.option("--entry-source", type=_FILE, default=config.ROOT / "boot" / "entry.s", show_default=True,
              help="Assembly source the entry stub must match.")
def verify(elf: Path, entry_source: Path) -> None:
    """Run the layout and code checks on ELF and print the table (exit 5 if any fails)."""
    from cllm_build.steps import verify as v

    checks = v.verify_or_raise(elf, entry_source)
    click.echo(v.format_table(checks))


@cli.command()
@click.argument("elf", type=_FILE)
@click.option("-s", "--symbol", default=None, help="Function or label to list (default: the entry stub).")
def disasm(elf: Path, symbol: str | None) -> None:
    """Disassemble a symbol of ELF with capstone, naming call and jump targets."""
    from cllm_build.steps import disasm as d

    click.echo("\n".join(d.disassemble(elf.read_bytes(), symbol)))


# run, iso, flash: booting and images (cli_boot.py); pull, convert, synth, bench: model
# files and the inference benchmark (cli_models.py); fleet: several kernels behind
# HAProxy (cli_fleet.py).
for _command in (*cli_boot.COMMANDS, *cli_models.COMMANDS, *cli_fleet.COMMANDS):
    cli.add_command(_command)


def _install_signal_handlers() -> None:
    """Ctrl-C and SIGTERM always stop `cllm` cleanly (QEMU is killed on the way out).

    A shell starts background jobs with SIGINT ignored, and Python keeps an inherited
    SIG_IGN, so without this Ctrl-C (or a supervisor's SIGINT) would not reach a
    `cllm run` started that way. SIGTERM unwinds like Ctrl-C, through every cleanup.
    """
    signal.signal(signal.SIGINT, signal.default_int_handler)

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)


def main() -> None:
    _install_signal_handlers()
    try:
        cli.main(prog_name="cllm", standalone_mode=False)
    except click.exceptions.Abort:
        _err("aborted")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except CllmError as exc:
        _err(f"cllm: error: {exc}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        _err("interrupted")
        sys.exit(130)
