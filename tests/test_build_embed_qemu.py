"""`cllm build --embed-model`: the model wrapped into section .model is what the kernel
loads when no model module is given, and console mode generates text from it."""

from __future__ import annotations

import dataclasses
import shutil

import pytest

from cllm_build import qemu
from cllm_build.build import build


@pytest.mark.qemu
def test_embedded_model_is_loaded_and_generates(kernel_elf, build_config, models_dir, tmp_path):
    # Start from the session build's objects: only buildinfo, the embed object and the link are new.
    cfg = dataclasses.replace(build_config, build_dir=tmp_path / "build",
                              embed_model=models_dir / "stories260K.gguf")
    shutil.copytree(build_config.obj_dir, cfg.obj_dir)
    res = build(cfg)
    assert res.compiled == 1  # boot/buildinfo.c: the build id covers the embedded file

    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Once upon a time")
    spec = qemu.QemuSpec(elf=res.elf, cmdline="cllm.n=8 cllm.temp=0",
                         modules=(qemu.Module(prompt, "prompt"),))
    log = qemu.boot_to_exit(spec, timeout=120)
    assert log.status == 0, log.log
    assert "cllm: model: loaded from image" in log.log
    assert len(log.data.decode("utf-8", "replace").strip()) > 0
