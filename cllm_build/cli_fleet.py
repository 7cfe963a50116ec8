"""The `cllm fleet` command (registered by cli.py): several kernels behind HAProxy.

Click only: parse flags, call fleet.py, print where the fleet serves, restart kernels
that die until Ctrl-C. Errors are CllmError subclasses, mapped to exit codes by cli.main.
"""

from __future__ import annotations

import threading
from pathlib import Path

import click

from cllm_build import fleet, run

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _err(msg: str) -> None:
    click.echo(msg, err=True)


@click.command("fleet")
@click.argument("elf", type=_FILE, required=False)
@click.option("--replicas", type=click.IntRange(1, fleet.MAX_REPLICAS), default=3, show_default=True,
              help="Kernels to boot.")
@click.option("--port", type=click.IntRange(1, 65535), default=run.DEFAULT_PORT, show_default=True,
              help="HAProxy's port: the one address clients use.")
@click.option("--base-port", type=click.IntRange(1, 65535), default=None,
              help="Kernel i serves on BASE_PORT + i (default: PORT + 1).")
@click.option("--stats-port", type=click.IntRange(1, 65535), default=fleet.DEFAULT_STATS_PORT,
              show_default=True, help="HAProxy's statistics page (/stats).")
@click.option("--check-ms", type=click.IntRange(100, 60000), default=1000, show_default=True,
              help="Health-check interval; a kernel that fails two checks leaves the pool.")
@click.option("--model", type=_FILE, default=None,
              help="Model file for every kernel (default: models/default.gguf).")
@click.option("--tokenizer", type=_FILE, default=None, help="Tokenizer file (llama2.c models).")
@click.option("--memory", "memory_mib", type=click.IntRange(16, 3584), default=None,
              help="Guest RAM of each kernel in MiB (default: as cllm run).")
@click.option("--accel", type=click.Choice(["tcg", "kvm", "auto"]), default="tcg", show_default=True,
              help="QEMU accelerator of each kernel (no TCG fallback here: a kernel that "
                   "fails to boot stops the fleet).")
@click.option("--opt", "options", multiple=True, metavar="KEY=VALUE",
              help="Kernel option cllm.KEY=VALUE for every kernel (repeatable).")
@click.option("--api-key", default=None, help="Every kernel requires this bearer key.")
@click.option("--no-restart", is_flag=True, help="Leave a kernel that died down (default: boot it again).")
def fleet_command(elf: Path | None, replicas: int, port: int, base_port: int | None, stats_port: int,
                  check_ms: int, model: Path | None, tokenizer: Path | None, memory_mib: int | None,
                  accel: str, options: tuple[str, ...], api_key: str | None, no_restart: bool) -> None:
    """Serve from several kernels behind HAProxy, on one address.

    Boots REPLICAS kernels (each as `cllm run` in serve mode, on its own local port) and
    HAProxy in front of them: health checks on /health, least-connections balancing,
    consistent hashing of requests that name a conversation (header X-Conversation-Id or
    the body's "user" field) so a chat returns to the same kernel, retries of requests
    whose kernel failed before answering, and a statistics page. Runs until Ctrl-C;
    a kernel that dies is booted again. Needs HAProxy (apt-get install haproxy).
    """
    from cllm_build.cli_boot import _default_elf

    ropts = run.RunOptions(elf=elf or _default_elf(), model=model, tokenizer=tokenizer,
                           memory_mib=memory_mib, accel=accel, options=options, api_key=api_key)
    opts = fleet.FleetOptions(run=ropts, replicas=replicas, port=port, base_port=base_port,
                              stats_port=stats_port, check_ms=check_ms)
    with fleet.Fleet(opts, log=_err) as f:
        click.echo(f"fleet: {replicas} kernels at {f.url} (stats {f.stats_url})")
        stop = threading.Event()
        try:
            if no_restart:
                stop.wait()
            else:
                f.supervise(stop)
        finally:
            stop.set()


COMMANDS = [fleet_command]
