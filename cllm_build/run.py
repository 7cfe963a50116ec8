"""`cllm run`: turn the user's flags into one QEMU machine, boot it, stream it.

Two modes. Console mode (a prompt was given): the prompt's raw UTF-8 bytes go to the
kernel as the Multiboot module `prompt`, sampling flags become `cllm.*` options, the
kernel writes the continuation to COM2 and exits; the caller streams COM2 to stdout
and the log to stderr and exits with the kernel's status. Serve mode (no prompt): the
machine gets a NIC (user networking forwarding 127.0.0.1:PORT to guest port 80, or
a tap interface) and runs until the kernel exits or the user stops it.

`make_plan` is pure (flags -> QemuSpec); `run_plan` boots and reports through
callbacks, so the library prints nothing. Called by cli.py; relies on qemu.py.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cllm_build import qemu
from cllm_build.config import ROOT
from cllm_build.errors import UsageError

# The model `cllm run` loads when no --model is given, if it exists.
DEFAULT_MODEL = ROOT / "models" / "default.gguf"
# Host port forwarded to the guest's HTTP server in serve mode.
DEFAULT_PORT = 8080
# How a `cllm: ready` line looks on COM1.
READY = re.compile(r"cllm: ready\b")

_KEY = re.compile(r"^[a-z0-9_][a-z0-9_.-]*$")


@dataclass(frozen=True)
class RunOptions:
    """Every flag of `cllm run`, as given (None = not given)."""

    elf: Path
    cmdline: str = ""
    options: tuple[str, ...] = ()  # "key=value", each becomes cllm.key=value
    modules: tuple[str, ...] = ()  # "PATH[:NAME]"
    memory_mib: int | None = None
    accel: str = "tcg"
    cpu: str | None = None
    smp: int | None = None  # guest CPUs; None: qemu.default_smp()
    model: Path | None = None
    no_model: bool = False  # do not load models/default.gguf either
    tokenizer: Path | None = None
    prompt: str | None = None
    n: int | None = None
    temperature: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None
    port: int = DEFAULT_PORT
    nic: str = "e1000"
    tap: str | None = None
    api_key: str | None = None
    extra_args: tuple[str, ...] = ()


@dataclass
class Plan:
    spec: qemu.QemuSpec
    console: bool
    url: str | None  # where the API will be, in serve mode with user networking
    tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    def cleanup(self) -> None:
        if self.tmp is not None:
            self.tmp.cleanup()
            self.tmp = None


def kernel_option(item: str) -> str:
    """`key=value` -> `cllm.key=value` (a `cllm.` prefix is kept), checked so it
    survives the kernel's space-separated command line."""
    key, sep, value = item.partition("=")
    if not sep:
        raise UsageError(f"option {item!r} is not key=value")
    key = key.strip()
    key = key.removeprefix("cllm.")
    if not _KEY.match(key):
        raise UsageError(f"option key {key!r} must be lower-case letters, digits, '_', '.', '-'")
    if re.search(r"\s", value) or not value.isprintable():
        raise UsageError(f"option {key}: value {value!r} may not contain spaces or control characters")
    return f"cllm.{key}={value}"


def parse_module(arg: str) -> qemu.Module:
    """`PATH[:NAME]` -> Module; NAME defaults to the file's name."""
    path, sep, name = arg.rpartition(":")
    if not sep or not qemu._MODULE_NAME.match(name) or not path:
        path, name = arg, Path(arg).name
    return qemu.Module(Path(path), name)


def _fmt(v: float) -> str:
    return f"{v:.6g}"


def make_plan(o: RunOptions) -> Plan:
    """The QEMU machine for `o`; writes the prompt module to a temp dir (Plan.cleanup)."""
    opts: list[str] = []
    console = o.prompt is not None
    sampling = {"n": o.n, "temp": o.temperature, "top_k": o.top_k, "top_p": o.top_p, "seed": o.seed}
    for key, value in sampling.items():
        if value is not None:
            opts.append(f"{key}={_fmt(value) if isinstance(value, float) else value}")
    if o.temperature is not None and o.temperature < 0:
        raise UsageError(f"temperature {o.temperature} is negative")
    if o.top_p is not None and not 0 < o.top_p <= 1:
        raise UsageError(f"top-p {o.top_p} is outside (0, 1]")
    if o.api_key is not None:
        opts.append(f"api_key={o.api_key}")
    opts += list(o.options)
    words = [w for w in o.cmdline.split() if w] + [kernel_option(x) for x in opts]

    modules = modules_from_args(o.model, o.tokenizer, o.modules, no_model=o.no_model)
    tmp = None
    if o.prompt is not None:
        tmp = tempfile.TemporaryDirectory(prefix="cllm-run-")
        prompt_file = Path(tmp.name) / "prompt.txt"
        prompt_file.write_bytes(o.prompt.encode("utf-8", "surrogateescape"))
        modules.append(qemu.Module(prompt_file, "prompt"))
    seen: set[str] = set()
    for m in modules:
        if m.name in seen:
            raise UsageError(f"module {m.name!r} given twice")
        seen.add(m.name)

    url = None
    nic: str | None = o.nic
    host_port: int | None = None
    if console:
        nic = None  # console mode talks only through the serial ports
    elif o.tap is None:
        host_port = o.port
        url = f"http://127.0.0.1:{o.port}/"
    # the model module sizes the memory; a missing file is reported by spec.check() below
    model = next((m.path for m in modules if m.name == "model" and m.path.is_file()), None)
    memory = o.memory_mib if o.memory_mib is not None else qemu.default_memory_mib(model)
    spec = qemu.QemuSpec(
        elf=o.elf, memory_mib=memory, cpu=o.cpu, accel=o.accel, cmdline=" ".join(words),
        smp=o.smp if o.smp is not None else qemu.default_smp(),
        modules=tuple(modules), nic=nic, host_port=host_port, tap=o.tap,
        extra_args=tuple(o.extra_args),
    )
    try:
        spec.check()
    except BaseException:
        if tmp is not None:
            tmp.cleanup()
        raise
    return Plan(spec, console, url, tmp)


@dataclass(frozen=True)
class RunResult:
    returncode: int
    status: int | None  # kernel status, None if the kernel wrote none
    ending: str  # how the machine ended, in words
    log: str
    seconds: float
    ready_seconds: float | None  # QEMU start to `cllm: ready`
    qemu_output: str = ""  # what QEMU itself printed (warnings, errors)


def run_plan(
    plan: Plan,
    *,
    on_log: Callable[[str], None],
    on_data: Callable[[bytes], None],
    on_ready: Callable[[float], None] | None = None,
    timeout: float | None = None,
    log_cmd: Callable[[str], None] | None = None,
) -> RunResult:
    """Boot the plan's machine and wait for it to exit; BootError after `timeout` s."""
    ready_at: list[float] = []
    vm_ref: list[qemu.Qemu] = []

    def log_line(line: str) -> None:
        on_log(line)
        if not ready_at and READY.search(line):
            ready_at.append(vm_ref[0].elapsed)
            if on_ready is not None:
                on_ready(ready_at[0])

    vm = qemu.Qemu(plan.spec, on_log=log_line, on_data=on_data, log_cmd=log_cmd)
    vm_ref.append(vm)
    try:
        with vm:
            rc = vm.wait(timeout)
            return RunResult(rc, vm.status(), vm.describe_exit(), vm.log_text(), vm.elapsed,
                             ready_at[0] if ready_at else None, vm.qemu_output())
    finally:
        plan.cleanup()


def wait_for_health(url: str, timeout_s: float) -> str | None:
    """GET `url`health until the kernel answers; the status line, or None on timeout.
    Any HTTP answer counts: the server is up even if it refuses the request."""
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "health", timeout=5) as resp:
                return f"{resp.status} {resp.reason}"
        except urllib.error.HTTPError as exc:
            return f"{exc.code} {exc.reason}"
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    return None


def modules_from_args(model: Path | None, tokenizer: Path | None,
                      extra: Sequence[str], no_model: bool = False) -> list[qemu.Module]:
    """The modules of `cllm run` and `cllm iso`: `model` (the default model when none
    is given, unless no_model), `tokenizer` and each PATH[:NAME]."""
    if no_model and model is not None:
        raise UsageError("--model and --no-model exclude each other")
    if model is None and not no_model and DEFAULT_MODEL.is_file():
        model = DEFAULT_MODEL
    mods = []
    if model is not None:
        mods.append(qemu.Module(model, "model"))
    if tokenizer is not None:
        mods.append(qemu.Module(tokenizer, "tokenizer"))
    return mods + [parse_module(m) for m in extra]
