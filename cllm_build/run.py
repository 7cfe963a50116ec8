"""`cllm run`: turn the user's flags into one QEMU machine, boot it, stream it.

Two modes. Console mode (a prompt was given): the prompt's raw UTF-8 bytes go to the
kernel as the Multiboot module `prompt`, sampling flags become `cllm.*` options, the
kernel writes the continuation to COM2 and exits; the caller streams COM2 to stdout
and the log to stderr and exits with the kernel's status. Serve mode (no prompt): the
machine gets a NIC (user networking forwarding 127.0.0.1:PORT to guest port 80, or
a tap interface) and runs until the kernel exits or the user stops it; its port is
checked free before QEMU starts.

Acceleration: `auto` (the default) uses KVM when /dev/kvm opens. A KVM boot that fails
before `cllm: ready` is reported in one line and the same machine boots under TCG
(run_plan), so no user is left with a boot that only fails under KVM.

`make_plan` is pure (flags -> QemuSpec); `run_plan` boots and reports through
callbacks, so the library prints nothing. Called by cli.py; relies on qemu.py.
"""

from __future__ import annotations

import re
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from cllm_build import qemu
from cllm_build.config import ROOT
from cllm_build.errors import BootError, PortInUse, UsageError

# The model `cllm run` loads when no --model is given, if it exists.
DEFAULT_MODEL = ROOT / "models" / "default.gguf"
# Host port forwarded to the guest's HTTP server in serve mode.
DEFAULT_PORT = 8080
# How a `cllm: ready` line looks on COM1.
READY = re.compile(r"cllm: ready\b")
# The accelerator `cllm run` uses when none is given: KVM when /dev/kvm opens, else TCG.
DEFAULT_ACCEL = "auto"
# What an accelerated boot that fails before `cllm: ready` is booted again under.
FALLBACK_ACCEL = "tcg"
# How long an accelerated boot gets to print `cllm: ready` before it counts as failed (s).
ACCEL_READY_TIMEOUT_S = 120.0
# The longest API key (cllm.api_key, bytes) the kernel accepts.
MAX_API_KEY_BYTES = 255

_KEY = re.compile(r"^[a-z0-9_][a-z0-9_.-]*$")


@dataclass(frozen=True)
class RunOptions:
    """Every flag of `cllm run`, as given (None = not given)."""

    elf: Path
    cmdline: str = ""
    options: tuple[str, ...] = ()  # "key=value", each becomes cllm.key=value
    modules: tuple[str, ...] = ()  # "PATH[:NAME]"
    memory_mib: int | None = None
    accel: str = DEFAULT_ACCEL
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
    ctx: int | None = None  # positions one generation may reach (cllm.ctx)
    kv_type: str | None = None  # "f16" or "f32": the KV cache's elements (cllm.kv_type)
    prefill_chunk: int | None = None  # prompt tokens a generation runs per turn; 0: all
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
    sampling = {"n": o.n, "temp": o.temperature, "top_k": o.top_k, "top_p": o.top_p, "seed": o.seed,
                "ctx": o.ctx, "kv_type": o.kv_type, "prefill_chunk": o.prefill_chunk}
    for key, value in sampling.items():
        if value is not None:
            opts.append(f"{key}={_fmt(value) if isinstance(value, float) else value}")
    if o.temperature is not None and o.temperature < 0:
        raise UsageError(f"temperature {o.temperature} is negative")
    if o.ctx is not None and o.ctx < 1:
        raise UsageError(f"context {o.ctx} is not a positive number of positions")
    if o.top_p is not None and not 0 < o.top_p <= 1:
        raise UsageError(f"top-p {o.top_p} is outside (0, 1]")
    if o.api_key is not None:
        key_len = len(o.api_key.encode("utf-8", "surrogateescape"))
        if key_len > MAX_API_KEY_BYTES:
            raise UsageError(f"--api-key is {key_len} bytes; the kernel accepts at most "
                             f"{MAX_API_KEY_BYTES}")
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
    accel: str = FALLBACK_ACCEL  # the accelerator of the boot that ran to the end
    fallback: str | None = None  # why an accelerated boot was given up, if one was


def check_port(port: int) -> None:
    """PortInUse unless 127.0.0.1:`port` can be listened on, as QEMU's port forward will."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as QEMU does
        try:
            s.bind(("127.0.0.1", port))
        except OSError as exc:
            raise PortInUse(f"port {port} on 127.0.0.1 is not available ({exc.strerror}); "
                            "choose another with --port") from None


def run_plan(
    plan: Plan,
    *,
    on_log: Callable[[str], None],
    on_data: Callable[[bytes], None],
    on_ready: Callable[[float], None] | None = None,
    on_fallback: Callable[[str], None] | None = None,
    timeout: float | None = None,
    log_cmd: Callable[[str], None] | None = None,
) -> RunResult:
    """Boot the plan's machine and wait for it to exit; BootError after `timeout` s.

    Serve mode first checks that the forwarded port is free (PortInUse). An accelerated
    boot (KVM, asked for or chosen by `auto`) that fails before `cllm: ready` (QEMU cannot
    start it, the kernel panics or the machine resets, or no ready line within
    ACCEL_READY_TIMEOUT_S) is given up: its log and data are dropped, `on_fallback` gets
    the reason in one line, and the same machine boots under TCG. Until `cllm: ready`
    the accelerated boot's log and data are held back, so nothing of a failed one shows.
    """
    try:
        spec = plan.spec
        if spec.host_port is not None:
            check_port(spec.host_port)
        accel = spec.resolved_accel()
        fallback = None
        if accel != FALLBACK_ACCEL:
            ready_timeout = ACCEL_READY_TIMEOUT_S if timeout is None else min(timeout, ACCEL_READY_TIMEOUT_S)
            res, fallback = _boot(spec, accel, on_log, on_data, on_ready, timeout, log_cmd,
                                  ready_timeout)
            if res is not None:
                return res
            if on_fallback is not None:
                on_fallback(f"{accel.upper()} boot failed before `cllm: ready` ({fallback}); "
                            f"booting under {FALLBACK_ACCEL.upper()}")
            spec = replace(spec, accel=FALLBACK_ACCEL)
        res, _ = _boot(spec, FALLBACK_ACCEL, on_log, on_data, on_ready, timeout, log_cmd, None)
        assert res is not None  # only a boot that holds its output back gives up
        return replace(res, fallback=fallback)
    finally:
        plan.cleanup()


def _boot(spec: qemu.QemuSpec, accel: str, on_log: Callable[[str], None], on_data: Callable[[bytes], None],
          on_ready: Callable[[float], None] | None, timeout: float | None,
          log_cmd: Callable[[str], None] | None,
          ready_timeout: float | None) -> tuple[RunResult | None, str]:
    """One boot of `spec` (under `accel`, its resolved accelerator). With `ready_timeout`,
    the log and data are held back until `cllm: ready`, and a boot that fails before it
    gives (None, why it failed)."""
    lock = threading.Lock()
    ready_at: list[float] = []
    vm_ref: list[qemu.Qemu] = []
    # COM1 lines (str) and COM2 chunks (bytes) held until ready; None once they flow through
    held: list[list[str | bytes] | None] = [[] if ready_timeout is not None else None]

    def release() -> None:
        pending, held[0] = held[0] or [], None
        for item in pending:
            if isinstance(item, str):
                on_log(item)
            else:
                on_data(item)

    def log_line(line: str) -> None:
        with lock:
            if not ready_at and READY.search(line):
                ready_at.append(vm_ref[0].elapsed)
                release()
                on_log(line)
                if on_ready is not None:
                    on_ready(ready_at[0])
            elif held[0] is not None:
                held[0].append(line)
            else:
                on_log(line)

    def data(chunk: bytes) -> None:
        with lock:
            if held[0] is not None:
                held[0].append(chunk)
            else:
                on_data(chunk)

    vm = qemu.Qemu(spec, on_log=log_line, on_data=data, log_cmd=log_cmd)
    vm_ref.append(vm)
    try:
        with vm:
            if ready_timeout is not None:
                try:
                    vm.wait_for_line(READY, ready_timeout)
                except BootError:
                    return None, _why_not_ready(vm, ready_timeout)
            if timeout is not None and ready_timeout is not None:
                timeout = max(0.1, round(timeout - vm.elapsed, 1))  # the wait for ready counts
            rc = vm.wait(timeout)
            return RunResult(rc, vm.status(), vm.describe_exit(), vm.log_text(), vm.elapsed,
                             ready_at[0] if ready_at else None, vm.qemu_output(),
                             accel=accel), ""
    except BootError as exc:
        if ready_timeout is None or ready_at:
            raise
        # QEMU could not start this machine: its own words, else the error's first line
        return None, vm.describe_exit() if vm.poll() is not None else str(exc).splitlines()[0]


def _why_not_ready(vm: qemu.Qemu, ready_timeout: float) -> str:
    """Why `vm` ended (or stalled) before `cllm: ready`, in a few words."""
    if vm.poll() is None:
        return f"no `cllm: ready` within {ready_timeout:g} s"
    panic = next((ln for ln in vm.lines if ln.startswith("cllm: panic: ")), None)
    if panic is not None:
        return "kernel panic: " + panic.removeprefix("cllm: panic: ")
    return vm.describe_exit()


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
