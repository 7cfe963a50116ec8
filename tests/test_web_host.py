"""Host tests of the chat page route (kernel/http/web.c) and its embedding
(cllm_build/steps/web.py): the http_main harness linked with the page blob answers
GET / with the page, gzip or plain as the client asks, HEAD with the same headers and
no body, other paths as before; the ELF object holds the same blob, byte-identical on
every build."""

from __future__ import annotations

import gzip
from pathlib import Path

import http_support
import pytest
from elftools.elf.elffile import ELFFile
from hostcc import ROOT, build_dir, host_binary
from http_support import HTTP_SOURCES, Script, exchange, request

from cllm_build import elfobj
from cllm_build.steps import web

PAGE = (ROOT / web.PAGE).read_bytes()


@pytest.fixture(scope="module")
def page_harness() -> Path:
    """http_main with the fake model and the page blob (the kernel's image has it as an
    ELF object; the host gets the same bytes as a C array)."""
    gen = build_dir() / "gen"
    gen.mkdir(parents=True, exist_ok=True)
    src = gen / "web_page.c"
    text = web.c_source(web.page_blob(PAGE))
    if not src.exists() or src.read_text() != text:
        src.write_text(text)
    return host_binary("http_web", HTTP_SOURCES + ["tests/host/http_fake_backend.c", src])


@pytest.fixture
def with_page(monkeypatch, page_harness):
    monkeypatch.setattr(http_support, "harness", lambda engine=False, sanitize=True: page_harness)


def test_page_is_served_gzip_to_a_browser(with_page):
    [r] = exchange(request("GET", "/", headers={"Accept-Encoding": "gzip, deflate, br"}))
    assert r.status == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["content-encoding"] == "gzip"
    assert r.headers["vary"] == "Accept-Encoding"
    assert int(r.headers["content-length"]) == len(r.body) < len(PAGE) // 2
    assert gzip.decompress(r.body) == PAGE


@pytest.mark.parametrize("accept", [None, "identity", "br, deflate", "gzip;q=0",
                                    "gzip; q=0.000, br", "*;q=0", "gzipx"])
def test_page_is_served_plain_without_gzip(with_page, accept):
    headers = {"Accept-Encoding": accept} if accept is not None else {}
    [r] = exchange(request("GET", "/", headers=headers))
    assert r.status == 200
    assert "content-encoding" not in r.headers
    assert r.body == PAGE


@pytest.mark.parametrize("accept", ["GZIP", "x-gzip", "*", "br;q=1.0, gzip;q=0.5", "gzip ; q=1"])
def test_accept_encoding_forms_that_admit_gzip(with_page, accept):
    [r] = exchange(request("GET", "/", headers={"Accept-Encoding": accept}))
    assert r.headers.get("content-encoding") == "gzip" and gzip.decompress(r.body) == PAGE


def test_head_has_the_headers_of_get_and_no_body(with_page):
    [get] = exchange(request("GET", "/", headers={"Accept-Encoding": "gzip"}))
    head_req = request("HEAD", "/", headers={"Accept-Encoding": "gzip"})
    res = Script().open(1).send(1, head_req).run().execute()
    head, sep, rest = res.out[1].partition(b"\r\n\r\n")
    assert sep and rest == b""  # nothing after the header block
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 200 OK"
    headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    assert headers == get.headers


def test_page_is_public_with_an_api_key_and_the_api_is_not(with_page):
    page, props, other = exchange(request("GET", "/"), request("GET", "/props"),
                                  request("GET", "/nope"), prelude=["key sekrit"])
    assert page.status == 200 and page.body == PAGE
    assert props.status == 401 and other.status == 401


def test_other_paths_and_methods_keep_their_answers(with_page):
    missing, post, index = exchange(request("GET", "/nope"), request("POST", "/", body="x"),
                                    request("GET", "/index.htm"))
    assert missing.status == 404 and "File Not Found: /nope" in missing.body.decode()
    assert post.status == 405 and post.headers["allow"] == "GET, HEAD"
    assert index.status == 404


def test_a_build_without_the_page_answers_404():
    # The ordinary harness links no page: the weak symbol is absent.
    [r] = exchange(request("GET", "/"))
    assert r.status == 404 and "no chat page" in r.body.decode()


def test_blob_layout_and_reproducible_object():
    blob = web.page_blob(PAGE)
    plain_len, gz_len = web.blob_sizes(blob)
    assert blob[12:12 + plain_len] == PAGE
    assert gzip.decompress(blob[12 + plain_len:12 + plain_len + gz_len]) == PAGE
    assert len(blob) == 12 + plain_len + gz_len
    assert web.page_blob(PAGE) == blob  # no timestamp in the gzip member
    obj = elfobj.relocatable(web.SECTION, blob, {web.SYMBOL: 0}, flags=elfobj.SHF_ALLOC,
                             sym_type=elfobj.STT_OBJECT)
    assert obj == elfobj.relocatable(web.SECTION, web.page_blob(PAGE), {web.SYMBOL: 0},
                                     flags=elfobj.SHF_ALLOC, sym_type=elfobj.STT_OBJECT)


def test_built_image_holds_the_page(kernel_elf):
    with kernel_elf.open("rb") as f:
        elf = ELFFile(f)
        symtab = elf.get_section_by_name(".symtab")
        sym = next(s for s in symtab.iter_symbols() if s.name == web.SYMBOL)
        rodata = elf.get_section_by_name(".rodata")
        data = rodata.data()
        off = sym["st_value"] - rodata["sh_addr"]
        blob = web.page_blob(PAGE)
        assert data[off:off + len(blob)] == blob
