"""The libFuzzer targets (tests/fuzzing.py, tests/fuzz/): each one builds with clang's
libFuzzer, ASan and UBSan, replays every committed regression input and then runs a
short fixed number of executions from its seed corpus without a crash, a leak, a
sanitizer report or a broken invariant of its own. `make fuzz` runs them for longer."""

from __future__ import annotations

import shutil

import fuzzing
import pytest

RUNS = 4000


@pytest.fixture(scope="module", autouse=True)
def need_clang() -> None:
    if not shutil.which("clang"):
        pytest.skip("clang is not installed (libFuzzer needs it; the Makefile installs it)")


@pytest.mark.parametrize("name", list(fuzzing.targets()))
def test_fuzz_target_runs_clean(name: str, models_dir) -> None:
    r = fuzzing.run(fuzzing.targets()[name], runs=RUNS)
    assert r.ok, f"fuzz target {name} failed:\n{r.log[-8000:]}"
    assert r.execs >= RUNS, f"fuzz target {name} ran {r.execs} of {RUNS} executions:\n{r.log[-3000:]}"
    assert r.cov > 0


def test_every_target_has_seeds_and_a_source() -> None:
    for name in fuzzing.targets():
        assert (fuzzing.FUZZ_DIR / f"fuzz_{name}.c").is_file()
        seeds = fuzzing.FUZZ_DIR / "corpus" / name
        assert seeds.is_dir() and any(seeds.iterdir()), f"no seed corpus for {name}"

