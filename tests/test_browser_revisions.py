"""Revisions and rewriting a passage in a real browser (Debian's chromium via Playwright) against the studio with
the tiny model and a real SQLite file:

- a blog post with an earlier text (a revision) is opened from the Library; the Revisions panel shows the
  word-level diff, and Restore puts the earlier text back (on screen and in the drafts database);
- a passage selected in the draft editor (setSelectionRange + the textarea's select event, as a mouse drag
  fires it) is rewritten by the model while everything before and after it stays byte-identical.

Needs /usr/bin/chromium (or STUDIO_CHROMIUM) and the playwright python package, like tests/test_browser.py.
"""

from __future__ import annotations

import time

import pytest

from tests.support.ui_server import serve_studio
from tests.test_browser import _open, browser  # noqa: F401 - the shared chromium fixture
from tests.test_browser_library import _open_from_library
from writing.engines.local import LocalEngine
from writing.library.revisions import Revisions
from writing.library.store import DraftStore

EARLIER = "# Lighthouses at dusk\n\nKeepers climbed the old steps every evening.\n\nThe lamp burned oil."
CURRENT = "# Lighthouses at dusk\n\nKeepers climbed 114 steps every evening.\n\nThe lamp burned oil, then gas."
EDITABLE = ("# Tides and keepers\n\nThe first paragraph stays exactly as it is.\n\n"
            "This middle passage is the one to rewrite, please.\n\nThe last paragraph stays too.")


@pytest.fixture(scope="module")
def server(tiny_loaded, tmp_path_factory):
    engine = LocalEngine(tiny_loaded.model, tiny_loaded.tokenizer, name="tiny", dtype=tiny_loaded.dtype,
                         context=4096)
    store = DraftStore(tmp_path_factory.mktemp("drafts") / "drafts.sqlite3")
    post = store.create(user="local", kind="blog", title="Lighthouses at dusk", content=CURRENT, status="done")
    Revisions(store).record(user="local", draft_id=post, content=EARLIER, cause="regenerate")
    store.create(user="local", kind="blog", title="Tides and keepers", content=EDITABLE, status="done")
    try:
        with serve_studio(engine, store=store) as running:
            running.post = post
            yield running
    finally:
        store.close()


def _wait_text(page, selector: str, needle: str, timeout: int = 20_000) -> None:
    page.wait_for_function("([s, n]) => (document.querySelector(s)?.innerText || '').includes(n)",
                           arg=[selector, needle], timeout=timeout)


def test_a_diff_is_shown_and_a_restore_puts_the_earlier_text_back(server, browser):  # noqa: F811
    context, page = _open(browser, server.url)
    try:
        _open_from_library(page, "Lighthouses at dusk")
        _wait_text(page, "#blog-draft", "114 steps")
        page.click("#blog-revisions button, #blog-revisions .label-wrap")  # open the panel: it lists the revisions
        _wait_text(page, "#blog-rev-note", "1 earlier text")
        page.click("#blog-rev-compare")
        page.wait_for_selector("#blog-rev-diff ins", timeout=20_000)
        inserted = page.locator("#blog-rev-diff ins").all_inner_texts()
        deleted = page.locator("#blog-rev-diff del").all_inner_texts()
        assert any("114" in t for t in inserted) and any("old" in t for t in deleted)
        assert any("gas" in t for t in inserted)
        page.click("#blog-rev-restore")
        _wait_text(page, "#blog-draft", "the old steps")
        assert "114 steps" not in page.locator("#blog-draft").inner_text()
        _wait_text(page, "#blog-rev-note", "Restored")
        deadline = time.monotonic() + 10
        while server.ctx.store.get(server.post, user="local").content != EARLIER:
            assert time.monotonic() < deadline, "the restored text did not reach the drafts database"
            time.sleep(0.05)
        causes = [r.cause for r in Revisions(server.ctx.store).list(user="local", draft_id=server.post)]
        assert causes[0] == "restore"  # the text it replaced is a revision now
    finally:
        context.close()


def test_a_selected_passage_is_rewritten_and_the_rest_stays_byte_identical(server, browser):  # noqa: F811
    context, page = _open(browser, server.url)
    try:
        _open_from_library(page, "Tides and keepers")
        _wait_text(page, "#blog-draft", "middle passage")
        page.click("#blog-edit button, #blog-edit .label-wrap")
        box = "#blog-edit-text textarea"
        page.wait_for_function("(s) => document.querySelector(s)?.value.includes('middle passage')", arg=box,
                               timeout=20_000)
        original = page.input_value(box)
        assert original == EDITABLE
        start = original.index("This middle")
        end = original.index("\n\nThe last")
        page.eval_on_selector(box, "(el, [a, b]) => { el.focus(); el.setSelectionRange(a, b);"
                                   " el.dispatchEvent(new Event('select', {bubbles: true})); }", [start, end])
        _wait_text(page, "#blog-rw-note", "Selected")
        page.click("#blog-rw-go")
        _wait_text(page, "#blog-rw-note", "Rewritten", timeout=240_000)
        rewritten = page.input_value(box)
        assert rewritten != original
        assert rewritten.encode().startswith(original[:start].encode())
        assert rewritten.encode().endswith(original[end:].encode())
        _wait_text(page, "#blog-draft", "The last paragraph stays too.")
        assert "This middle passage is the one to rewrite" not in page.locator("#blog-draft").inner_text()
    finally:
        context.close()
