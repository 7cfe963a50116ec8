"""The `cllm` command: click commands only. Each parses flags, calls the library and
maps CllmError to its exit code in one place (`main`)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cllm_build import __version__, config
from cllm_build.errors import CllmError


def _err(msg: str) -> None:
    click.echo(msg, err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cllm")
def cli() -> None:
    """cllm: build, verify and boot the bare-metal LLM inference kernel."""


@cli.command()
@click.option("--cc", type=click.Choice(config.COMPILERS), default=None,
              help="C compiler: zig (default, from the ziglang package), clang or gcc (i686 cross).")
@click.option("--build-dir", type=click.Path(path_type=Path), default=None,
              help="Output directory (default: build/ in the source tree).")
@click.option("-v", "--verbose", is_flag=True, help="Show every compiler and linker command.")
def build(cc: str | None, build_dir: Path | None, verbose: bool) -> None:
    """Compile the kernel and link build/cllm.elf, then verify it."""
    from cllm_build.build import build as do_build

    cfg = config.from_env(cc=cc, build_dir=build_dir.resolve() if build_dir else None, verbose=verbose)
    res = do_build(cfg, progress=_err)
    click.echo(f"{res.elf}: {res.size} bytes, build id {res.build_id}")


@cli.command()
@click.argument("elf", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def verify(elf: Path) -> None:
    """Run the layout checks on ELF and print the table."""
    from cllm_build.steps import verify as v

    checks = v.verify_or_raise(elf)
    click.echo(v.format_table(checks))


def main() -> None:
    try:
        cli.main(standalone_mode=False)
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
