"""A real browser (Debian's chromium, driven by Playwright) against the studio with the tiny model.

Fills the Blog brief, watches the draft stream in, presses Stop (the model is free again within a
step or so), closes a tab mid-run (the server stops generating), switches dark/light (dark is the
default, the choice survives a reload), shows Chinese UI text to a zh-CN browser, and saves the
README screenshot (into a temporary folder: scripts/screenshot.sh refreshes docs/screenshot.png).

Needs /usr/bin/chromium (`apt-get install -y chromium`; .ci/run installs it) and the playwright
python package; `playwright install` is never needed.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from tests.support.ui_server import last_run, serve_studio
from writing.engines.local import LocalEngine
from writing.ui.i18n import EN, ZH

CHROMIUM = os.environ.get("STUDIO_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]



@pytest.fixture(scope="module")
def engine(tiny_loaded) -> LocalEngine:
    return LocalEngine(tiny_loaded.model, tiny_loaded.tokenizer, name="tiny-qwen3", dtype=tiny_loaded.dtype,
                       context=4096)


@pytest.fixture(scope="module")
def server(engine, tmp_path_factory):
    from writing.library.store import DraftStore

    store = DraftStore(tmp_path_factory.mktemp("drafts") / "drafts.db")  # autosave on, as in the studio
    try:
        with serve_studio(engine, store=store) as running:
            yield running
    finally:
        store.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        # A failure, not a skip: a browser test that silently does not run proves nothing.
        pytest.fail(f"no chromium at {CHROMIUM}: apt-get install -y chromium (.ci/run installs it), "
                    f"or point STUDIO_CHROMIUM at one")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _open(browser, url: str, *, locale: str = "en-US", color_scheme: str = "light"):
    # color_scheme="light": the OS asks for light, yet the studio must start dark.
    context = browser.new_context(locale=locale, color_scheme=color_scheme, viewport={"width": 1440, "height": 1000})
    context.add_init_script(_TRACK_EVENTS)
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("#blog-topic textarea", timeout=30_000)
    return context, page



def _wait_idle(engine: LocalEngine, timeout: float = 30.0) -> float:
    start = time.perf_counter()
    while engine.busy:
        assert time.perf_counter() - start < timeout, f"engine still busy after {timeout}s"
        time.sleep(0.01)
    return time.perf_counter() - start



def _start_long_run(page, engine: LocalEngine, button: str = "#blog-generate") -> None:
    """Click Generate and wait until the model is writing. The random tiny model may sample its end token
    early (no seed is set in the page), so a run that already ended is simply started again: also one that
    ended before the meter ever showed "writing" (seen once in the full suite: the wait timed out)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(4):
        page.click(button)
        try:
            page.wait_for_function("document.querySelector('#blog-meter').innerText.includes('writing')",
                                   timeout=30_000)
        except PlaywrightTimeout:
            if engine.busy:
                raise
            continue
        if engine.busy:
            return
        page.wait_for_function("!document.querySelector('#blog-meter').innerText.includes('writing')",
                               timeout=30_000)
    raise AssertionError("the model finished every run at once: cannot test stopping")


# Counts, in the page, the events it sent to gradio's queue (POST .../queue/join) and the "process_completed"
# messages that came back, the second only once gradio's own handler (scheduled with setTimeout 0 when
# the message is parsed) has run and applied it. Equal counts: every event the page started has ended
# and its last update is on the page.
_TRACK_EVENTS = """
(() => {
  window.__studioJoined = 0; window.__studioCompleted = 0;
  const fetch0 = window.fetch;
  window.fetch = function (input, init) {
    const url = typeof input === "string" ? input : (input && input.url) || String(input);
    if (!url.includes("run/predict")) (window.__studioLog = window.__studioLog || []).push(url.slice(-40));
    if (url.includes("/queue/join")) window.__studioJoined += 1;
    return fetch0.call(this, input, init);
  };
  const parse0 = JSON.parse;
  JSON.parse = function (...args) {
    const value = parse0.apply(this, args);
    if (value && value.msg && value.msg !== "process_generating") {  // for the failure message
      (window.__studioLog = window.__studioLog || []).push(value.msg + " " + value.event_id);
    }
    if (value && value.msg === "process_completed") {
      setTimeout(() => setTimeout(() => { window.__studioCompleted += 1; }, 0), 0);
    }
    return value;
  };
})();
"""


def _wait_settled(page, selector: str) -> None:
    """Wait until every event the page started has completed and been applied, and the component's status
    tracker is hidden. The run's "completed" message repeats its last update: an edit made before it
    lands would be overwritten. (The tracker alone is not enough: gradio hides it while a run streams,
    and the page's meter can still show the previous run's end when the next run has just been queued.)
    The deadline is a slow run's: the tiny random model may write up to its max_new_tokens."""
    try:
        page.wait_for_function(
            "(sel) => window.__studioJoined > 0 && window.__studioCompleted >= window.__studioJoined"
            " && Array.from(document.querySelectorAll(sel + ' [data-testid=status-tracker]'))"
            ".every(e => e.classList.contains('hide'))", arg=selector, timeout=240_000)
    except Exception:
        counts = page.evaluate("[window.__studioJoined, window.__studioCompleted, window.__studioLog]")
        raise AssertionError(f"events joined / completed: {counts}\n{_studio_threads()}") from None


def _studio_threads() -> str:
    """Where the studio's threads (same process as the tests) are, for a wait that timed out."""
    import sys
    import traceback

    found = []
    for ident, frame in sys._current_frames().items():
        stack = traceback.extract_stack(frame)
        if any("/writing/" in f.filename for f in stack):
            found.append(f"thread {ident}:\n" + "".join(traceback.format_list(stack[-12:])))
    return "\n".join(found) or "(no studio code running)"


def _is_dark(page) -> bool:
    return page.evaluate("document.body.classList.contains('dark')")


def _fill_brief(page) -> None:
    page.fill("#blog-topic textarea", "How to keep a writing habit when you have a day job")
    page.fill("#blog-audience textarea", "busy professionals")
    page.fill("#blog-tone textarea", "encouraging and practical")


def test_blog_streams_then_stop_frees_the_model(server, browser, engine):
    context, page = _open(browser, server.url)
    try:
        _fill_brief(page)
        draft = page.locator("#blog-draft")
        meter = page.locator("#blog-meter")
        for _attempt in range(4):
            _start_long_run(page, engine)
            first = len(draft.inner_text())
            page.wait_for_function(f"document.querySelector('#blog-draft').innerText.length > {first + 20}",
                                   timeout=30_000)
            assert "tokens" in meter.inner_text()
            shown = draft.inner_text()
            pressed = time.perf_counter()
            page.click("#blog-stop")
            _wait_idle(engine)
            freed = time.perf_counter() - pressed
            if last_run(server, pressed - 5).finish_reason == "cancelled":
                break
            # Random weights: the end token came before the click landed. Not a stop; start again.
        else:
            raise AssertionError("every run ended by itself before Stop landed")
        print(f"\n[measure] Stop click -> model free in {freed * 1000:.0f} ms")
        assert freed < 5.0
        try:
            page.wait_for_function("document.querySelector('#blog-meter').innerText.includes('stopped')",
                                   timeout=10_000)
        except Exception:
            raise AssertionError(f"meter after Stop: {meter.inner_text()!r}") from None
        after = draft.inner_text()
        assert len(after) >= len(shown) > 0, "Stop must keep the text written so far on screen"
        # The stopped text is the draft now: Download has it, and Continue extends it.
        with page.expect_download() as download:
            page.click("#blog-download")
        saved = Path(download.value.path()).read_text(encoding="utf-8")
        assert saved.strip() and saved.split()[0] in after
        page.click("#blog-continue")
        page.wait_for_function("document.querySelector('#blog-meter').innerText.includes('writing')",
                               timeout=30_000)
        assert after[:50] in draft.inner_text()  # Continue keeps the draft and writes after it
        page.click("#blog-stop")
        _wait_idle(engine)
    finally:
        context.close()


def test_closing_the_tab_stops_generation(server, browser, engine):
    for _attempt in range(4):
        context, page = _open(browser, server.url)
        try:
            _fill_brief(page)
            _start_long_run(page, engine)
            closed = time.perf_counter()
            page.close()  # the writer closes the tab mid-run
            freed = _wait_idle(engine, timeout=60)
            stats = last_run(server, closed - 5)
        finally:
            context.close()
        if stats.finish_reason == "cancelled":
            break
        # Random weights: the end token came before the tab closed. Not a stop; try again.
    else:
        raise AssertionError("every run ended by itself before the tab closed")
    print(f"\n[measure] tab closed -> model free in {(time.perf_counter() - closed) * 1000:.0f} ms")
    assert freed < 60 and stats.new_tokens < 1540


def test_chat_send_regenerate_undo_clear(server, browser, engine):
    context, page = _open(browser, server.url)
    try:
        page.get_by_role("tab", name="Chat").click()
        page.fill("#chat-message textarea", "Give me a title for a post about tea")
        page.click("#chat-send")
        page.wait_for_function("/tokens/.test(document.querySelector('#chat-notice').innerText) && "
                               "!document.querySelector('#chat-notice').innerText.includes('writing')",
                               timeout=60_000)
        assert "title for a post about tea" in page.locator("#chat-history").inner_text()
        assert page.input_value("#chat-message textarea") == ""  # sent: the box is cleared
        before = page.locator("#chat-notice").inner_text()
        page.click("#chat-regenerate")
        page.wait_for_function("([before]) => { const t = document.querySelector('#chat-notice').innerText;"
                               " return t !== before && /tokens/.test(t) && !t.includes('writing'); }",
                               arg=[before], timeout=60_000)
        assert page.locator("#chat-history").inner_text().count("title for a post about tea") == 1
        _wait_settled(page, "#chat-history")
        page.click("#chat-undo")
        page.wait_for_function("document.querySelector('#chat-message textarea').value.includes('tea')",
                               timeout=10_000)  # the question is back in the box to edit and resend
        try:
            page.wait_for_function("!document.querySelector('#chat-history').innerText.includes('about tea')",
                                   timeout=10_000)  # and gone from the chat
        except Exception:
            raise AssertionError("after Undo: " + page.locator("#chat-history").inner_text()[:300]) from None
        page.click("#chat-send")
        page.wait_for_function("document.querySelector('#chat-history').innerText.includes('about tea')",
                               timeout=30_000)
        page.click("#chat-stop")
        _wait_idle(engine)
        page.click("#chat-clear")
        page.wait_for_function("!document.querySelector('#chat-history').innerText.includes('about tea')",
                               timeout=10_000)
    finally:
        context.close()


class _Recorder:
    """The real engine, recording what each generation was asked."""

    def __init__(self, engine: LocalEngine):
        self._engine = engine
        self.prompts: list[list[dict]] = []

    def __getattr__(self, name: str):
        return getattr(self._engine, name)

    def stream(self, messages, *args, **kwargs):
        self.prompts.append([dict(m) for m in messages])
        yield from self._engine.stream(messages, *args, **kwargs)


def _chat_run(page, recorder: _Recorder, engine: LocalEngine, act) -> None:
    """Do `act` (send, edit), then wait until the model took the run, finished it, and the page shows the end."""
    asked = len(recorder.prompts)
    act()
    deadline = time.monotonic() + 60
    while len(recorder.prompts) == asked:
        assert time.monotonic() < deadline, "the run never reached the model"
        time.sleep(0.02)
    _wait_idle(engine, timeout=180)
    page.wait_for_function("(() => { const t = document.querySelector('#chat-notice').innerText;"
                           " return /tokens/.test(t) && !t.includes('writing'); })()", timeout=30_000)
    _wait_settled(page, "#chat-history")


def _send(page, text: str):
    return lambda: (page.fill("#chat-message textarea", text), page.click("#chat-send"))


def test_chat_edit_a_message_answers_again_from_there(server, browser, engine):
    """README: Chat can "edit a message". Editing the first question replaces it, drops the turns after
    it, and the model answers the edited question (what it was asked is recorded)."""
    recorder = _Recorder(engine)
    server.ctx.engine = recorder
    context, page = _open(browser, server.url)
    try:
        page.get_by_role("tab", name="Chat").click()
        _chat_run(page, recorder, engine, _send(page, "first question about tea"))
        _chat_run(page, recorder, engine, _send(page, "second question about coffee"))
        history = page.locator("#chat-history")
        assert history.locator("[data-testid=user]").count() == 2
        asked = len(recorder.prompts)

        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        def edit_first() -> None:
            # Edit opens its box in place; on a loaded machine (2 cores, CPU-bound neighbours) a click once left
            # no box within 30 s, so the writer's second click is made here too: up to three tries.
            box = page.locator("#chat-history textarea.edit-textarea")
            for _ in range(3):
                history.locator("[data-testid=user]").first.hover()
                history.locator("button[aria-label='Edit']").first.click()
                try:
                    box.wait_for(state="visible", timeout=10_000)
                    break
                except PlaywrightTimeout:
                    continue
            box.fill("edited question about cocoa")
            history.locator("button[aria-label='Submit']").click()

        _chat_run(page, recorder, engine, edit_first)
        page.wait_for_function("!document.querySelector('#chat-history').innerText.includes('coffee')",
                               timeout=10_000)
        shown = history.inner_text()
        assert "edited question about cocoa" in shown, shown[:500]
        assert "first question about tea" not in shown and "second question about coffee" not in shown, shown[:500]
        assert history.locator("[data-testid=user]").count() == 1
        assert history.locator("[data-testid=bot]").count() == 1
        assert len(recorder.prompts) == asked + 1, "the edit did not ask the model again"
        users = [m["content"] for m in recorder.prompts[-1] if m["role"] == "user"]
        assert users == ["edited question about cocoa"], recorder.prompts[-1]
    finally:
        server.ctx.engine = engine
        context.close()


def test_dark_by_default_and_the_toggle_sticks(server, browser):
    context, page = _open(browser, server.url)
    try:
        page.wait_for_timeout(500)  # let gradio apply its own (OS = light) theme first: ours must win
        assert _is_dark(page), "the studio starts dark even when the OS prefers light"
        page.click("#theme-toggle")
        page.wait_for_function("!document.body.classList.contains('dark')", timeout=5_000)
        page.reload()
        page.wait_for_selector("#blog-topic textarea")
        page.wait_for_timeout(500)
        assert not _is_dark(page), "the light choice survives a reload"
        page.click("#theme-toggle")
        page.wait_for_function("document.body.classList.contains('dark')", timeout=5_000)
    finally:
        context.close()


def test_chinese_browser_gets_chinese_ui(server, browser):
    context, page = _open(browser, server.url, locale="zh-CN")
    try:
        page.wait_for_function("document.body.innerText.includes('博客')", timeout=10_000)
        text = page.locator("body").inner_text()
        # Each visible piece of the Blog tab is in Chinese, and its English text is not on the page (the
        # heading keeps the product's name, "Writing Studio", in every language).
        for key in ("tagline", "tab_blog", "tab_code", "tab_chat", "tab_longform", "tab_library", "topic",
                    "generate", "stop", "advanced"):
            assert ZH[key] in text, f"{key}: {ZH[key]!r} missing from the zh-CN page: {text[:400]!r}"
        for key in ("tagline", "tab_blog", "tab_library", "topic", "generate", "advanced"):
            assert EN[key] not in text, f"{key}: English {EN[key]!r} shown to a zh-CN browser"
    finally:
        context.close()


def test_screenshot_of_the_studio(server, browser, tmp_path):
    """The README picture, taken into a temporary folder: tests never write into the repository
    (`bash scripts/screenshot.sh` refreshes docs/screenshot.png with the same code)."""
    from PIL import Image, ImageStat

    from tests.support import screenshot

    picture = screenshot.take(browser, server.url, tmp_path / "screenshot.png")
    with Image.open(picture) as image:
        assert image.format == "PNG" and image.size == (1440, 1000), (image.format, image.size)
        gray = image.convert("L")
        mean, spread = ImageStat.Stat(gray).mean[0], ImageStat.Stat(gray).stddev[0]
        # Dark: mostly dark pixels; drawn: text and widgets make contrast (a blank page has none).
        assert mean < 80, f"the studio should be dark in the picture: mean brightness {mean:.0f}/255"
        assert spread > 10, f"the picture looks blank: brightness spread {spread:.1f}"
        top = gray.crop((0, 0, 1440, 120))
        assert ImageStat.Stat(top).stddev[0] > 10, "no heading drawn at the top of the page"
