"""Every error type of the toolchain and its exit code, in one place.

The library raises these and never prints; cli.py catches CllmError, prints its
message and exits with its code.
"""

from __future__ import annotations


class CllmError(Exception):
    """Base of all toolchain errors. `exit_code` is what the CLI exits with."""

    exit_code = 1


class UsageError(CllmError):
    """A bad flag or argument value."""

    exit_code = 2


class ToolMissing(CllmError):
    """An external program is not installed; the message names the package to install."""

    exit_code = 3


class ToolFailed(CllmError):
    """An external program ran and failed; the message carries its command and output."""

    exit_code = 4


class VerifyError(CllmError):
    """The ELF image failed one or more layout checks; the message is the check table."""

    exit_code = 5


class BootError(CllmError):
    """QEMU did not boot the kernel to the expected point (timeout, early exit)."""

    exit_code = 6


class KernelPanic(CllmError):
    """The kernel panicked; the message is the symbolized panic report."""

    exit_code = 7


class ImageError(CllmError):
    """Making or writing a bootable image failed (ISO, flash target refused)."""

    exit_code = 8


class PullError(CllmError):
    """A model download failed: HTTP status, broken connection, or checksum mismatch."""

    exit_code = 9


class PortInUse(CllmError):
    """The host port `cllm run` would forward to the guest is taken by another program."""

    exit_code = 10
