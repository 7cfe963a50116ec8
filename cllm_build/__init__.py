"""cllm_build: the host-side toolchain of cllm (build, verify, run, iso, flash)."""

__version__ = "0.1.0"
