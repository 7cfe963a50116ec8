"""The AVX placement rule of `cllm verify` (cllm_build/steps/disasm.py): VEX-encoded
instructions only in `.text.avx2`, where `*_avx2.c` files (compiled with -mavx2 -mfma
-mf16c) land; the miniature kernel with such a file passes, and the same code in any
other section, the SSE2 one included, fails the build with the instruction named."""

from __future__ import annotations

import pytest
from test_verify import Image

from cllm_build import config
from cllm_build.build import build
from cllm_build.errors import VerifyError
from cllm_build.steps import disasm

AXPY_AVX2 = (
    "/* Float code compiled with AVX2 and FMA: must land in .text.avx2. */\n"
    "void vec_axpy8(float *y, float a, const float *x, int n) {\n"
    "    for (int i = 0; i < n; i++)\n"
    "        y[i] += a * x[i];\n"
    "}\n"
)
# One VEX-encoded instruction, written into a file that is not compiled for AVX.
VEX_ASM = 'void {name}(void) {{ __asm__ volatile("vxorps %%ymm0, %%ymm0, %%ymm0" ::: "memory"); }}\n'


@pytest.fixture(scope="module")
def avx2_elf(tmp_path_factory):
    from minitree import make_tree

    base = tmp_path_factory.mktemp("mini_avx2")
    root = make_tree(base / "src")
    (root / "kernel" / "lib" / "axpy_avx2.c").write_text(AXPY_AVX2)
    return build(config.BuildConfig(root=root, build_dir=base / "build")).elf


def test_avx2_file_lands_in_its_section_and_passes(avx2_elf):
    image = Image(avx2_elf.read_bytes())
    data = bytes(image.b)
    assert disasm.avx_check(data).ok and disasm.sse_check(data).ok
    start, end = image.symbol("avx2_text_start"), image.symbol("avx2_text_end")
    assert start <= image.symbol("vec_axpy8") < end
    listing = "\n".join(disasm.disassemble(data, "vec_axpy8"))
    assert "ymm" in listing and "vfmadd" in listing  # really compiled for AVX2 and FMA
    # the same code, once its section is not .text.avx2, fails the rule by name
    image.rename_section(".text.avx2", ".text.avx3")
    check = disasm.avx_check(bytes(image.b))
    assert not check.ok
    assert "<vec_axpy8" in check.detail and "ymm" in check.detail and "*_avx2.c" in check.detail


@pytest.mark.parametrize("file", ["kernel/lib/vex.c", "kernel/lib/vex_sse2.c"])
def test_build_rejects_avx_outside_text_avx2(mini_tree, file):
    (mini_tree / file).write_text(VEX_ASM.format(name="mini_vex"))
    with pytest.raises(VerifyError) as exc:
        build(config.BuildConfig(root=mini_tree, build_dir=mini_tree / "build"))
    msg = str(exc.value)
    assert "FAIL  no AVX outside .text.avx2" in msg
    assert "<mini_vex" in msg and "vxorps ymm0, ymm0, ymm0" in msg
    assert not (mini_tree / "build" / "cllm.elf").exists()


@pytest.mark.parametrize("code,vex", [
    ("c5fc57c0", True),  # vxorps ymm0, ymm0, ymm0 (2-byte VEX)
    ("c4e27db808", True),  # vfmadd231ps ymm1, ymm0, [eax] (3-byte VEX)
    ("c4e278f2c1", True),  # andn eax, eax, ecx: VEX-encoded BMI, no vector register
    ("62f17c4857c0", True),  # vxorps zmm0, zmm0, zmm0 (EVEX)
    ("c400", False),  # les eax, [eax]: C4 with a memory operand is LES in 32-bit mode
    ("c500", False),  # lds eax, [eax]
    ("6200", False),  # bound eax, [eax]
    ("8f00", False),  # pop dword ptr [eax]
    ("0f57c0", False),  # xorps xmm0, xmm0: SSE, legacy encoding
    ("3ec5fc57c0", True),  # a segment prefix before the VEX escape
])
def test_vex_encodings_are_told_from_legacy_ones(code, vex):
    insns = disasm._decode(bytes.fromhex(code), 0)
    assert len(insns) == 1, insns
    assert disasm.is_vex(insns[0]) == vex, insns[0]
