"""The chat page at GET / in a real browser: headless Chromium driven by Selenium
against a booted kernel (QEMU, user networking), used the way a person would: type,
press Enter, read the streamed answer, stop it, start a new chat, give an API key, and
see errors (server busy, no model, server gone) in words while the page keeps working.
Greedy answers in the page are checked against the same request made over the API.

Needs Debian's `chromium` and `chromium-driver` (the Makefile installs them) and the
`selenium` package (the `test` extra). A screenshot of a short conversation is saved
as build/chat.png (docs/chat.png in the README is one such).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait
from test_api_qemu import Guest, _boot, _free_port, guest  # noqa: F401 (guest: the fixture)
from test_run import _stderr_until

pytestmark = pytest.mark.qemu

MODEL_NAME = "stories260K"
N_CTX = 512
ANSWER_TIMEOUT_S = 180
API_KEY = "page-s3cret"


def _browser() -> webdriver.Chrome:
    chromium = shutil.which("chromium")
    driver = shutil.which("chromedriver")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    if driver is None:
        pytest.skip("chromedriver is not installed (apt-get install chromium-driver)")
    opts = Options()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1000,720", "--force-device-scale-factor=1"):
        opts.add_argument(arg)
    return webdriver.Chrome(service=Service(driver), options=opts)


class Page:
    """The chat page in one browser tab."""

    def __init__(self, browser: webdriver.Chrome, port: int) -> None:
        self.b = browser
        self.url = f"http://127.0.0.1:{port}/"

    def open(self) -> Page:
        self.b.get(self.url)
        return self

    def el(self, css: str):
        return self.b.find_element(By.CSS_SELECTOR, css)

    def wait(self, cond, timeout: float = ANSWER_TIMEOUT_S, what: str = ""):
        try:
            return WebDriverWait(self.b, timeout, poll_frequency=0.05).until(lambda _b: cond())
        except TimeoutException:
            raise AssertionError(f"timed out waiting for {what}; page error: {self.error()!r}, "
                                 f"model: {self.el('#model').text!r}") from None

    def text(self, css: str) -> str:
        return self.el(css).get_attribute("textContent") or ""

    def error(self) -> str:
        box = self.el("#error")
        return "" if box.get_attribute("hidden") is not None else self.text("#error")

    def messages(self) -> list[tuple[str, str]]:
        return [(e.get_attribute("class").split()[1], e.get_attribute("textContent") or "")
                for e in self.b.find_elements(By.CSS_SELECTOR, "#log .msg")]

    def busy(self) -> bool:
        return self.el("#stop").is_displayed()

    def settings(self, **values: object) -> None:
        if self.el("#settingsbox").get_attribute("open") is None:
            self.el("#settingsbox summary").click()
        for name, value in values.items():
            field = self.el(f"#{name}")
            field.clear()
            field.send_keys(str(value))

    def type_and_enter(self, text: str) -> None:
        box = self.el("#prompt")
        lines = text.split("\n")
        for i, line in enumerate(lines):
            box.send_keys(line)
            if i < len(lines) - 1:
                box.send_keys(Keys.SHIFT, Keys.ENTER)  # a new line, not a send
        assert box.get_attribute("value") == text
        box.send_keys(Keys.ENTER)

    def answer(self, text: str) -> str:
        """Send `text`, wait for the whole streamed answer, return it."""
        n = len(self.messages())
        self.type_and_enter(text)
        self.wait(lambda: len(self.messages()) == n + 2, 30, "the user message and the answer")
        self.wait(lambda: not self.busy(), what="the end of the stream")
        assert self.error() == ""
        role, content = self.messages()[-1]
        assert role == "assistant"
        return content


def _api_chat(guest: Guest, messages: list[dict], max_tokens: int, key: str | None = None) -> str:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    status, body = guest.call("POST", "/v1/chat/completions",
                              {"messages": messages, "temperature": 0, "top_p": 1,
                               "max_tokens": max_tokens}, headers=headers)
    assert status == 200, body
    return json.loads(body)["choices"][0]["message"]["content"]


@pytest.fixture(scope="module")
def browser():
    b = _browser()
    try:
        yield b
    finally:
        b.quit()


@pytest.fixture
def page(browser, guest) -> Page:
    browser.execute_script("try { localStorage.clear(); } catch (e) {}")
    p = Page(browser, guest.port).open()
    p.wait(lambda: MODEL_NAME in p.text("#model"), 60, "the model name from /props")
    return p


def test_page_shows_the_model_and_its_context(page):
    assert page.text("#model") == f"{MODEL_NAME} \u00b7 context {N_CTX} tokens"
    assert page.b.title == "cllm chat"
    assert page.error() == ""
    assert not page.el("#settingsbox .settings").is_displayed()  # collapsed until opened
    page.settings()
    assert page.el("#temperature").is_displayed() and page.el("#system").is_displayed()


def test_streamed_answers_equal_the_api_greedy(page, guest):
    page.settings(temperature=0, top_p=1, max_tokens=24)
    # Count the page's updates of the answer: streamed tokens arrive one by one.
    page.b.execute_script(
        "window.cllmUpdates = 0; new MutationObserver(() => window.cllmUpdates++)"
        ".observe(document.getElementById('log'), {childList: true, subtree: true});")
    first = "Once upon a time\nthere was a little girl"
    got = page.answer(first)
    want = _api_chat(guest, [{"role": "user", "content": first}], 24)
    assert got == want and len(want) > 10
    assert page.b.execute_script("return window.cllmUpdates") > 5
    assert page.messages()[0] == ("user", first)

    second = "What did she do?"
    got2 = page.answer(second)
    want2 = _api_chat(guest, [{"role": "user", "content": first},
                              {"role": "assistant", "content": want},
                              {"role": "user", "content": second}], 24)
    assert got2 == want2
    assert [r for r, _ in page.messages()] == ["user", "assistant", "user", "assistant"]

    page.el("#settingsbox summary").click()  # the screenshot shows the conversation
    shot = Path(os.environ.get("CLLM_BUILD_DIR", Path(__file__).resolve().parent.parent / "build"))
    shot.mkdir(parents=True, exist_ok=True)
    assert page.b.save_screenshot(str(shot / "chat.png"))

    page.el("#newchat").click()
    assert page.messages() == [] and page.el("#prompt").get_attribute("value") == ""


def test_system_message_is_sent(page, guest):
    page.settings(temperature=0, top_p=1, max_tokens=12, system="You tell short stories.")
    got = page.answer("Tell me about a cat")
    want = _api_chat(guest, [{"role": "system", "content": "You tell short stories."},
                             {"role": "user", "content": "Tell me about a cat"}], 12)
    assert got == want


def test_stop_cancels_the_stream_and_the_next_message_works(page, guest):
    page.settings(temperature=0, top_p=1, max_tokens=N_CTX - 32)
    page.type_and_enter("Once upon a time")
    page.wait(lambda: len(page.messages()) == 2 and len(page.messages()[1][1]) > 0, 60,
              "the first streamed tokens")
    page.el("#stop").click()
    page.wait(lambda: not page.busy(), 10, "the stop")
    assert "stopped" in page.el("#log .msg.assistant").get_attribute("class")
    stopped = page.messages()[1][1]
    time.sleep(1.0)
    assert page.messages()[1][1] == stopped  # nothing more arrives
    full = _api_chat(guest, [{"role": "user", "content": "Once upon a time"}], N_CTX - 32)
    assert len(stopped) < len(full) and full.startswith(stopped)
    assert page.error() == ""

    page.settings(max_tokens=8)
    again = page.answer("The end")
    assert len(again) > 0
    # the cancelled generation freed its slot
    _, slots = guest.call("GET", "/slots")
    assert not any(s["is_processing"] for s in json.loads(slots))


def test_model_output_is_text_and_code_blocks_are_monospaced(page):
    sample = ("<img src=x onerror=\"window.cllmInjected=1\"><b>bold</b>\n"
              "```python\nprint('<script>x</script>')\n```\nafter")
    info = page.b.execute_script("""
        const el = document.createElement('div');
        el.className = 'msg assistant';
        document.getElementById('log').append(el);
        renderText(el, arguments[0]);
        const pre = el.querySelector('pre code');
        const r = {tags: Array.from(el.querySelectorAll('*')).map(e => e.tagName),
                   text: el.textContent, code: pre && pre.textContent,
                   font: pre && getComputedStyle(pre).fontFamily};
        el.remove();
        return r;""", sample)
    assert info["tags"] == ["PRE", "CODE"]
    assert info["code"] == "print('<script>x</script>')\n"
    assert info["text"].startswith("<img src=x onerror=") and info["text"].endswith("after")
    assert "monospace" in info["font"]
    time.sleep(0.2)
    assert page.b.execute_script("return window.cllmInjected === undefined")


def test_api_key_is_asked_once_and_sent_as_a_bearer_token(browser, kernel_elf, models_dir):
    vm, port = _boot(kernel_elf, models_dir, cmdline=f"cllm.api_key={API_KEY}")
    try:
        g = Guest(vm, port)
        assert g.call("GET", "/")[0] == 200  # the page itself is public
        assert g.call("GET", "/props")[0] == 401
        browser.execute_script("try { localStorage.clear(); } catch (e) {}")
        p = Page(browser, port).open()
        p.wait(lambda: p.el("#keyform").is_displayed(), 60, "the key form")
        assert p.text("#model") == "API key needed"
        p.el("#key").send_keys("wrong", Keys.ENTER)
        p.wait(lambda: p.el("#keyform").is_displayed() and "refused" in p.error(), 30,
               "the refused key")
        p.el("#key").send_keys(API_KEY, Keys.ENTER)
        p.wait(lambda: MODEL_NAME in p.text("#model"), 30, "the model name with the key")
        assert not p.el("#keyform").is_displayed()
        p.settings(temperature=0, top_p=1, max_tokens=12)
        got = p.answer("Once upon a time")
        want = _api_chat(g, [{"role": "user", "content": "Once upon a time"}], 12, key=API_KEY)
        assert got == want
        # asked once: a reload uses the stored key
        p.open()
        p.wait(lambda: MODEL_NAME in p.text("#model"), 30, "the model name after a reload")
        assert not p.el("#keyform").is_displayed()
    finally:
        browser.execute_script("try { localStorage.clear(); } catch (e) {}")
        vm.close()


def test_no_model_and_server_gone_are_shown_in_words(browser, kernel_elf, models_dir):
    vm, port = _boot(kernel_elf, models_dir, model=None)
    try:
        p = Page(browser, port).open()
        p.wait(lambda: p.error() != "", 60, "the no-model error")
        assert p.text("#model") == "no model loaded" and "no model" in p.error()
        p.type_and_enter("Hello")
        p.wait(lambda: "no model to answer with" in p.error(), 30, "the refused message")
        assert p.messages() == [] and p.el("#prompt").get_attribute("value") == "Hello"
        assert not p.busy()
    finally:
        vm.close()
    # the machine is gone: the next send says so, and the page stays usable
    p.el("#send").click()
    p.wait(lambda: "Cannot reach the server" in p.error(), 60, "the network error")
    assert not p.busy() and not p.el("#send").get_attribute("disabled")
    assert p.el("#prompt").get_attribute("value") == "Hello"


def test_cllm_run_prints_the_page_url(browser, kernel_elf, models_dir):
    port = _free_port()
    model = models_dir / "stories260K.gguf"
    args = ["run", str(kernel_elf), "--model", str(model), "--port", str(port)]
    with subprocess.Popen([sys.executable, "-m", "cllm_build", *args], stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as proc:
        try:
            url = f"http://127.0.0.1:{port}/"
            err = _stderr_until(proc, b"API: ").decode()
            assert f"run: chat in a browser: {url}   API: {url}v1/" in err
            p = Page(browser, port).open()
            p.wait(lambda: MODEL_NAME in p.text("#model"), 60, "the page at the printed URL")
            proc.send_signal(signal.SIGINT)
            assert proc.wait(30) == 130
        finally:
            proc.kill()
