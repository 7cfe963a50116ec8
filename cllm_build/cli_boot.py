"""The `cllm run`, `cllm iso` and `cllm flash` commands (registered by cli.py).

Click commands only: parse flags, call run.py / image.py / symbolize.py, print.
Errors are CllmError subclasses, mapped to exit codes by cli.main.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import click

from cllm_build import config, qemu
from cllm_build.errors import BootError, KernelPanic, ToolMissing, UsageError

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _model_arg(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Path | None:
    """--model: a file, or the name of a model pulled into the cache (`cllm pull`)."""
    from cllm_build.pull import resolve_model

    return None if value is None else resolve_model(value)

# How long `cllm run` (serve mode) waits for the API to answer /health after ready.
HEALTH_TIMEOUT_S = 30.0


def _err(msg: str) -> None:
    click.echo(msg, err=True)


def _default_elf() -> Path:
    """build/cllm.elf (honouring CLLM_BUILD_DIR), first brought up to date by an
    incremental build (a no-op when no source changed), so no stale image boots."""
    from cllm_build.build import build as do_build

    cfg = config.from_env()
    if not cfg.elf.is_file():
        _err(f"{cfg.elf} missing; building it")
        do_build(cfg, progress=_err)
        return cfg.elf
    try:
        res = do_build(cfg)
    except ToolMissing as exc:  # an image without its toolchain here: boot it as it is
        _err(f"run: warning: cannot check that {cfg.elf} is up to date ({exc}); booting it as it is")
        return cfg.elf
    if res.compiled:
        _err(f"{cfg.elf}: rebuilt, {res.compiled} changed unit(s) compiled")
    return cfg.elf


@click.command()
@click.argument("elf", type=_FILE, required=False)
@click.option("--cmdline", default="", help="Kernel command line words, e.g. 'cllm.k=v cllm.x=y'.")
@click.option("-o", "--opt", "options", multiple=True, metavar="KEY=VALUE",
              help="Kernel option cllm.KEY=VALUE (repeatable).")
@click.option("--module", "modules", multiple=True, metavar="PATH[:NAME]",
              help="Extra Multiboot module (repeatable); NAME defaults to the file name.")
@click.option("--memory", "memory_mib", type=click.IntRange(16, 3584), default=None,
              help="Guest RAM in MiB (default: 256 + 2x the model size, at most 3072).")
@click.option("--accel", type=click.Choice(qemu.ACCELS), default="auto", show_default=True,
              envvar="CLLM_ACCEL", show_envvar=True,
              help="QEMU accelerator: auto uses KVM if /dev/kvm opens, else TCG; a KVM boot "
                   "that fails before `cllm: ready` is booted again under TCG.")
@click.option("--cpu", default=None, help="QEMU CPU model, e.g. pentium, qemu32, max.")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=None,
              help="Stop the machine after this many seconds (exit 6).")
@click.option("--smp", type=click.IntRange(1, qemu.SMP_MAX), default=None,
              help="Guest CPUs (default: the host's cores, at most 8).")
@click.option("--model", default=None, callback=_model_arg,
              help="Model file (GGUF or llama2.c .bin) or pulled model name, module 'model' "
                   "(default: models/default.gguf).")
@click.option("--no-model", is_flag=True, help="Boot without a model (not even the default).")
@click.option("--tokenizer", type=_FILE, default=None, help="Tokenizer file, module 'tokenizer'.")
@click.option("--prompt", default=None, help="Console mode: generate from this text and exit.")
@click.option("-n", "n", type=click.IntRange(min=0), default=None, help="Tokens to generate (cllm.n).")
@click.option("--echo/--no-echo", default=None,
              help="Console mode: print the prompt before the continuation and end with a "
                   "newline. Default: on when stdout is a terminal, so piped output is "
                   "exactly the continuation.")
@click.option("--temperature", type=float, default=None, help="Sampling temperature (cllm.temp).")
@click.option("--top-k", type=click.IntRange(min=0), default=None, help="Top-k sampling (cllm.top_k).")
@click.option("--top-p", type=float, default=None, help="Nucleus sampling (cllm.top_p).")
@click.option("--seed", type=click.IntRange(min=0), default=None, help="Sampler seed (cllm.seed).")
@click.option("--ctx", type=click.IntRange(min=1), default=None,
              help="Positions one generation may reach (cllm.ctx); default: the model's, "
                   "bounded by what the KV pool holds.")
@click.option("--kv-type", type=click.Choice(["f16", "f32"]), default=None,
              help="Element type of the KV cache (cllm.kv_type); default f16.")
@click.option("--prefill-chunk", type=click.IntRange(0, 1 << 20), default=None,
              help="Prompt tokens one scheduler turn runs, all prompts together, batched with the "
                   "other generations' decode steps (cllm.prefill_chunk); 0: each prompt whole "
                   "at once; default 32.")
@click.option("--port", type=click.IntRange(1, 65535), default=8080, show_default=True,
              help="Serve mode: host port forwarded to the guest's port 80.")
@click.option("--nic", type=click.Choice(qemu.NICS), default="e1000", show_default=True,
              help="Serve mode: NIC model.")
@click.option("--tap", default=None, metavar="IFACE", help="Serve mode: use this tap interface.")
@click.option("--api-key", default=None, help="Require this bearer key (cllm.api_key).")
@click.option("--qemu-arg", "qemu_args", multiple=True, metavar="ARG",
              help="Extra argument for QEMU (repeatable), e.g. --qemu-arg=-d --qemu-arg=int.")
@click.option("-v", "--verbose", is_flag=True,
              help="Print the QEMU command line; show the boot log in console mode on a terminal.")
@click.option("-q", "--quiet", is_flag=True,
              help="No boot log and no progress lines on stderr (the log is shown if the run fails).")
def run(elf: Path | None, cmdline: str, options: tuple[str, ...], modules: tuple[str, ...],
        memory_mib: int | None, accel: str, cpu: str | None, timeout: float | None,
        model: Path | None, no_model: bool, tokenizer: Path | None, prompt: str | None,
        n: int | None, echo: bool | None, temperature: float | None, top_k: int | None,
        top_p: float | None, seed: int | None, ctx: int | None, kv_type: str | None,
        prefill_chunk: int | None, port: int, nic: str, tap: str | None, api_key: str | None, qemu_args: tuple[str, ...],
        verbose: bool, quiet: bool, smp: int | None = None) -> None:
    """Boot ELF (default build/cllm.elf, rebuilt first if a source changed) in QEMU:
    COM1 log to stderr, COM2 to stdout.

    With --prompt the kernel runs console mode. The command exits with the kernel's
    status: 0 ok, 1 failure; a panic prints the symbolized report and exits 7.
    On a terminal (stdout) console mode hides the boot log unless -v: the prompt,
    then the answer. Without --prompt the kernel serves the HTTP API until it exits
    or Ctrl-C.
    """
    from cllm_build import run as runlib
    from cllm_build import symbolize

    elf = elf if elf is not None else _default_elf()
    plan = runlib.make_plan(runlib.RunOptions(
        elf=elf, cmdline=cmdline, options=options, modules=modules, memory_mib=memory_mib,
        accel=accel, cpu=cpu, model=model, no_model=no_model, tokenizer=tokenizer, prompt=prompt, n=n,
        temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, ctx=ctx, kv_type=kv_type,
        prefill_chunk=prefill_chunk, port=port, nic=nic, tap=tap, api_key=api_key, extra_args=qemu_args, smp=smp,
    ))
    out = sys.stdout.buffer
    lock = threading.Lock()
    on_terminal = sys.stdout.isatty()
    if quiet and verbose:
        raise UsageError("-q/--quiet and -v/--verbose exclude each other")
    # the boot log and progress lines are held back, and shown only if the run fails
    hidden: list[str] | None = [] if quiet or (plan.console and on_terminal and not verbose) else None

    def progress(msg: str) -> None:
        if hidden is None:
            _err(msg)

    def on_log(line: str) -> None:
        if hidden is None:
            _err(line)
        else:
            hidden.append(line)

    def show_hidden() -> None:
        if hidden:
            _err("\n".join(hidden))
            hidden.clear()

    if echo is None:
        echo = on_terminal
    echoed = prompt if echo else None  # console mode only: prompt is None when serving
    if echoed is not None:
        out.write(echoed.encode("utf-8", "surrogateescape"))
        out.flush()

    def on_data(chunk: bytes) -> None:
        with lock:
            out.write(chunk)
            out.flush()

    def announce(url: str) -> None:
        answer = runlib.wait_for_health(url, HEALTH_TIMEOUT_S)
        if answer is None:
            _err(f"run: warning: {url}health did not answer within {HEALTH_TIMEOUT_S:g} s")
        else:
            _err(f"run: serving on {url} (/health: {answer}; Ctrl-C stops the machine)")
            _err(f"run: chat in a browser: {url}   API: {url}v1/")

    def on_ready(seconds: float) -> None:
        progress(f"run: ready after {seconds:.2f} s")
        if not plan.console and plan.url:
            threading.Thread(target=announce, args=(plan.url,), daemon=True).start()

    try:
        res = runlib.run_plan(plan, on_log=on_log, on_data=on_data, on_ready=on_ready,
                              on_fallback=lambda why: _err(f"run: {why}"),
                              timeout=timeout, log_cmd=_err if verbose else None)
    except BootError:
        show_hidden()
        raise
    if echoed is not None:
        out.write(b"\n")
        out.flush()
    if res.status != qemu.STATUS_OK:
        show_hidden()
    for line in res.qemu_output.splitlines():
        progress(f"run: qemu said: {line}")
    progress(f"run: {res.ending} after {res.seconds:.2f} s")
    if res.status is None:
        raise BootError(f"the machine ended without a kernel status: {res.ending}")
    if res.status == qemu.STATUS_PANIC:
        report = symbolize.symbolize_log(res.log, elf)
        raise KernelPanic(report if report is not None else "kernel panic (no panic report on COM1)")
    sys.exit(res.status)


@click.command()
@click.argument("elf", type=_FILE, required=False)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Output ISO file (default: cllm.iso in the build dir).")
@click.option("--opt", "options", multiple=True, metavar="KEY=VALUE",
              help="Kernel option cllm.KEY=VALUE (repeatable), as for `cllm run`.")
@click.option("--cmdline", default="", help="Extra kernel command line words.")
@click.option("--model", default=None, callback=_model_arg,
              help="Model file or pulled model name, module 'model' (default: models/default.gguf).")
@click.option("--no-model", is_flag=True, help="Leave the model out (not even the default).")
@click.option("--tokenizer", type=_FILE, default=None, help="Tokenizer file, module 'tokenizer'.")
@click.option("--prompt", default=None, help="Bake a prompt in (the ISO then boots to console mode).")
@click.option("--module", "modules", multiple=True, metavar="PATH[:NAME]", help="Extra module.")
@click.option("-v", "--verbose", is_flag=True, help="Print the grub-mkrescue command.")
def iso(elf: Path | None, output: Path | None, options: tuple[str, ...], cmdline: str,
        model: Path | None, no_model: bool, tokenizer: Path | None, prompt: str | None,
        modules: tuple[str, ...], verbose: bool) -> None:
    """Make a bootable GRUB ISO (BIOS, plus UEFI where GRUB's EFI files are installed)."""
    import tempfile

    from cllm_build import image
    from cllm_build import run as runlib

    if output is not None and "=" in output.name and output.suffix != ".iso" and len(output.parts) == 1:
        raise UsageError(f"-o {output}: -o is the output file; a kernel option is --opt {output}")
    out = output or config.from_env().build_dir / "cllm.iso"
    elf = elf if elf is not None else _default_elf()
    words = cmdline.split() + [runlib.kernel_option(x) for x in options]
    mods = runlib.modules_from_args(model, tokenizer, modules, no_model=no_model)
    with tempfile.TemporaryDirectory(prefix="cllm-iso-prompt-") as tmp:
        if prompt is not None:
            pfile = Path(tmp) / "prompt"
            pfile.write_bytes(prompt.encode("utf-8", "surrogateescape"))
            mods.append(qemu.Module(pfile, "prompt"))
        res = image.make_iso(elf, out, " ".join(words), mods, log=_err if verbose else None)
    boots = ", ".join(image.GRUB_PLATFORMS[p] for p in res.platforms)
    click.echo(f"{res.path}: {res.size} bytes, boots from {boots}")


@click.command()
@click.argument("image_file", metavar="IMAGE", type=_FILE)
@click.option("--device", required=True, type=click.Path(path_type=Path),
              help="Target block device (e.g. /dev/sdX) or an existing image file.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def flash(image_file: Path, device: Path, yes: bool) -> None:
    """Write IMAGE (e.g. the ISO from `cllm iso`) to a USB stick, disk or image file."""
    from cllm_build import image

    target = image.check_target(image_file, device)
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(f"refusing to write {target.describe()} without a terminal "
                             "to confirm; pass --yes")
        click.confirm(f"Write {image_file} to {target.describe()}? Everything on it is lost",
                      abort=True)
    res = image.flash(image_file, target, progress=None)
    click.echo(f"wrote {res.written} bytes to {res.target.path}, read back and verified "
               f"(sha256 {res.sha256})")


COMMANDS = (run, iso, flash)
