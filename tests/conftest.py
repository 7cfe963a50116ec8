"""Shared pytest fixtures: paths, the shared test models, and one kernel build per
session (into $CLLM_BUILD_DIR, default build/)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_MODELS = ROOT.parent / "shared" / "models"
# `cllm run` boots under TCG in the tests, whatever KVM the host has, so every host
# runs the same machines (tests/test_run_fallback.py covers the accelerated path).
os.environ.setdefault("CLLM_ACCEL", "tcg")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def models_dir() -> Path:
    if not SHARED_MODELS.is_dir():
        pytest.fail(f"test models not found at {SHARED_MODELS} (../shared/models beside the repo)")
    return SHARED_MODELS


@pytest.fixture(scope="session")
def build_config():
    from cllm_build import config

    build_dir = Path(os.environ.get("CLLM_BUILD_DIR", ROOT / "build"))
    return config.BuildConfig(root=ROOT, build_dir=build_dir)


@pytest.fixture(scope="session")
def kernel_elf(build_config) -> Path:
    """The kernel, built once per test session."""
    from cllm_build.build import build

    return build(build_config).elf


@pytest.fixture
def mini_tree(tmp_path) -> Path:
    """A fresh copy of the miniature kernel tree (tests/minitree.py) in a temp dir."""
    from minitree import make_tree

    return make_tree(tmp_path / "src")


@pytest.fixture(scope="session")
def mini_elf(tmp_path_factory) -> Path:
    """The miniature kernel, built once per session (read-only: copy before patching)."""
    from minitree import make_tree

    from cllm_build import config
    from cllm_build.build import build

    base = tmp_path_factory.mktemp("mini")
    root = make_tree(base / "src")
    return build(config.BuildConfig(root=root, build_dir=base / "build")).elf
