"""The chat page's embedding (cllm_build/steps/web.py) in full builds of the miniature
tree (tests/minitree.py) with a page added: reported in the build's output and counted
in the image, byte-identical clean builds, relinked only when the page changes."""

from __future__ import annotations

from pathlib import Path

from elftools.elf.elffile import ELFFile

from cllm_build import config
from cllm_build.build import build
from cllm_build.steps import web

PAGE = b"<!doctype html><title>mini</title><p>" + b"hello, page " * 200 + b"</p>\n"


def _with_page(tree: Path, page: bytes = PAGE) -> Path:
    src = tree / web.PAGE
    src.parent.mkdir(parents=True, exist_ok=True)
    src.write_bytes(page)
    return tree


def _cfg(root: Path, build_dir: Path | None = None) -> config.BuildConfig:
    return config.BuildConfig(root=root, build_dir=build_dir or root / "build")


def _page_in(elf: Path) -> bytes:
    with elf.open("rb") as f:
        e = ELFFile(f)
        sym = next(s for s in e.get_section_by_name(".symtab").iter_symbols()
                   if s.name == web.SYMBOL)
        rodata = e.get_section_by_name(".rodata")
        off = sym["st_value"] - rodata["sh_addr"]
        plain_len, gz_len = web.blob_sizes(rodata.data()[off:off + 12])
        return rodata.data()[off:off + 12 + plain_len + gz_len]


def _rodata_size(elf: Path) -> int:
    with elf.open("rb") as f:
        return ELFFile(f).get_section_by_name(".rodata")["sh_size"]


def test_page_is_embedded_and_reported(mini_tree):
    without = build(_cfg(mini_tree, mini_tree / "b0"))
    lines: list[str] = []
    res = build(_cfg(_with_page(mini_tree)), progress=lines.append)
    blob = web.page_blob(PAGE)
    plain_len, gz_len = web.blob_sizes(blob)
    report = f"WEB {web.PAGE} at GET /: {plain_len} bytes, {gz_len} gzip; {len(blob)} bytes"
    assert report + " in the image" in lines
    assert gz_len < plain_len // 4
    assert _page_in(res.elf) == blob
    # counted in the image: .rodata grew by the blob (the file by whole pages, if at all)
    assert _rodata_size(res.elf) >= _rodata_size(without.elf) + len(blob)


def test_clean_builds_with_the_page_are_byte_identical(mini_tree, tmp_path):
    _with_page(mini_tree)
    first = build(_cfg(mini_tree, tmp_path / "a")).elf.read_bytes()
    second = build(_cfg(mini_tree, tmp_path / "elsewhere" / "b")).elf.read_bytes()
    assert first == second


def test_page_change_relinks_without_recompiling(mini_tree):
    cfg = _cfg(_with_page(mini_tree))
    first = build(cfg)
    lines: list[str] = []
    assert build(cfg, progress=lines.append).compiled == 0
    assert not any(ln.startswith("VERIFY") for ln in lines)  # nothing changed: no relink

    _with_page(mini_tree, PAGE.replace(b"mini", b"mini 2"))
    lines.clear()
    res = build(cfg, progress=lines.append)
    assert res.compiled == 1  # boot/buildinfo.c only: the build id hashes the page
    assert res.build_id != first.build_id
    assert any(ln.startswith("VERIFY") for ln in lines)
    assert _page_in(res.elf) == web.page_blob(PAGE.replace(b"mini", b"mini 2"))
