"""The story bible in a real browser (Debian's chromium via Playwright) against the studio with the tiny model
and a real SQLite file: a bible typed into the Long-form tab reaches the section prompt's system message (the
engine records what it was asked), its token cost is shown, it is saved as a style sheet and applied to a Blog
brief whose prompt then carries it, and a saved document reopens with its bible.

Needs /usr/bin/chromium (or STUDIO_CHROMIUM) and the playwright python package, like tests/test_browser.py.
"""

from __future__ import annotations

import time

import pytest

from tests.support.ui_server import serve_studio
from tests.test_browser import _open, _Recorder, _wait_idle, browser  # noqa: F401 - the shared chromium fixture
from writing.compose.bible import make_bible, render_bible
from writing.compose.longform import assemble
from writing.compose.outline import Outline, Section
from writing.engines.local import LocalEngine
from writing.library.store import DraftStore

SAVED = Outline("Tea for beginners", (
    Section("Choosing leaves", (), 50, text="Start with a loose-leaf green tea."),
    Section("Brewing", (), 50, text="Water at 80 °C, two minutes."),
))
SAVED_BIBLE = {"facts": "Green tea brews at 80 °C.", "avoid": "delicious"}


@pytest.fixture(scope="module")
def engine(tiny_loaded) -> LocalEngine:
    return LocalEngine(tiny_loaded.model, tiny_loaded.tokenizer, name="tiny", dtype=tiny_loaded.dtype, context=4096)


@pytest.fixture(scope="module")
def server(engine, tmp_path_factory):
    store = DraftStore(tmp_path_factory.mktemp("drafts") / "drafts.sqlite3")
    store.create(user="local", kind="longform", title=SAVED.title, content=assemble(SAVED), status="done",
                 meta={"doc": "doc-1", "outline": SAVED.to_dict(),
                       "brief": {"topic": "Tea for beginners", "audience": "", "style": "", "language": "English",
                                 "total_words": 500, "sections": 2, "bible": SAVED_BIBLE}})
    try:
        with serve_studio(_Recorder(engine), store=store) as running:
            yield running
    finally:
        store.close()


def _asked(recorder: _Recorder, count: int) -> list[dict]:
    """The prompt of the run after the first `count` ones, as soon as the model took it."""
    deadline = time.monotonic() + 120
    while len(recorder.prompts) <= count:
        assert time.monotonic() < deadline, "the run never reached the model"
        time.sleep(0.05)
    return recorder.prompts[count]


def test_a_bible_typed_in_the_tab_reaches_the_section_prompt_and_a_blog_via_a_style_sheet(server, browser, engine):  # noqa: F811
    recorder = server.ctx.engine
    context, page = _open(browser, server.url)
    try:
        page.get_by_role("tab", name="Long-form").click()
        page.fill("#longform-topic textarea", "The lighthouse")
        page.locator("#longform-bible").get_by_text("Story bible").first.click()  # open the accordion
        page.locator("#longform-bible-style_rules textarea").fill("British spelling\nno passive voice")
        page.locator("#longform-bible-glossary textarea").fill("lamp room: the glass room at the top")
        bible = make_bible({"style_rules": "British spelling\nno passive voice",
                            "glossary": "lamp room: the glass room at the top"})
        page.wait_for_function("(chars) => (document.querySelector('#longform-bible-cost')?.innerText || '')"
                               ".includes(chars + ' of ')", arg=str(bible.chars), timeout=15_000)  # both fields in
        cost = page.inner_text("#longform-bible-cost")
        shown = int(cost.split("Story bible:")[1].split("tokens")[0].strip().replace(",", ""))
        own = len(engine.tokenizer(render_bible(bible))["input_ids"])
        assert own > 20 and abs(shown - own) <= 3  # counted with the engine's own tokenizer (+- the join)

        page.fill("#longform-raw textarea", "# The lighthouse\n## 1. Arrival (60 words)\n## 2. The lamp (60 words)\n")
        page.get_by_role("button", name="Parse outline text").click()
        page.wait_for_function("(document.querySelector('#longform-note')?.innerText || '').includes('Parsed 2')",
                               timeout=15_000)
        before = len(recorder.prompts)
        page.click("#longform-regenerate")  # section 1 (Section # is 1)
        system = _asked(recorder, before)[0]["content"]
        assert render_bible(bible) in system
        assert system.index("lamp room: the glass room") < system.index("The plan:")
        page.click("#longform-stop")  # the section itself is not needed (a slow shared CPU): what it was asked is
        _wait_idle(engine, timeout=120)

        # Save it as a style sheet, then apply that sheet in the Blog tab: the post's prompt carries it too.
        page.fill("#longform-bible-name textarea", "Lighthouse house style")
        page.click("#longform-bible-save")
        page.wait_for_function("(document.querySelector('#longform-bible-message')?.innerText || '')"
                               ".includes('Saved the style sheet')", timeout=15_000)
        page.get_by_role("tab", name="Blog").click()
        page.fill("#blog-topic textarea", "Lighthouses at dusk")
        page.locator("#blog-bible").get_by_text("Story bible").first.click()
        page.locator("#blog-bible-sheet input").click()  # focus: the list is read for this user
        page.get_by_role("option", name="Lighthouse house style").click()
        page.click("#blog-bible-apply")
        page.wait_for_function("document.querySelector('#blog-bible-glossary textarea')?.value"
                               " === 'lamp room: the glass room at the top'", timeout=15_000)
        before = len(recorder.prompts)
        page.click("#blog-generate")
        blog_system = _asked(recorder, before)[0]["content"]
        assert blog_system.endswith(render_bible(bible))
        page.click("#blog-stop")  # the post itself is not needed: what it was asked is
        _wait_idle(engine, timeout=120)
    finally:
        context.close()


def test_a_saved_document_reopens_with_its_bible(server, browser):  # noqa: F811 - the imported fixture
    context, page = _open(browser, server.url)
    try:
        page.get_by_role("tab", name="Library").click()
        cell = page.get_by_text(SAVED.title, exact=True).locator("visible=true").first
        cell.wait_for(timeout=15_000)
        cell.click()
        page.wait_for_function("(t) => [...document.querySelectorAll('textarea')].some(e => e.value.includes(t))",
                               arg="Tea", timeout=15_000)
        page.click("#library-open-tab")
        page.wait_for_function("document.querySelector('#longform-topic textarea')?.value === 'Tea for beginners'",
                               timeout=15_000)
        page.locator("#longform-bible").get_by_text("Story bible").first.click()  # open the accordion
        page.wait_for_function("document.querySelector('#longform-bible-facts textarea')?.value"
                               " === 'Green tea brews at 80 °C.'", timeout=15_000)
        assert page.input_value("#longform-bible-avoid textarea") == "delicious"
        assert "tokens in" in page.inner_text("#longform-bible-cost")
    finally:
        context.close()
