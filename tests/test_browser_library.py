"""The Library in a real browser (Debian's chromium via Playwright) against the studio with the tiny model and
a real SQLite file: "Open in its tab" puts a blog draft back into the Blog tab and a long-form document back
into the Long-form tab, and a zh-CN browser sees the Library and Long-form tabs in Chinese.

Needs /usr/bin/chromium (or STUDIO_CHROMIUM) and the playwright python package, like tests/test_browser.py.
"""

from __future__ import annotations

import pytest

from tests.support.ui_server import serve_studio
from tests.test_browser import _open, browser  # noqa: F401 - the shared chromium fixture
from writing.compose.longform import assemble
from writing.compose.outline import Outline, Section
from writing.engines.local import LocalEngine
from writing.library.store import DraftStore

POST = "# Lighthouses at dusk\n\nKeepers climbed 114 steps every evening to light the lamp."
DOCUMENT = Outline("Tea for beginners", (
    Section("Choosing leaves", (), 50, text="Start with a loose-leaf green tea."),
    Section("Brewing", (), 50, text="Water at 80 °C, two minutes."),
))


@pytest.fixture(scope="module")
def server(tiny_loaded, tmp_path_factory):
    engine = LocalEngine(tiny_loaded.model, tiny_loaded.tokenizer, name="tiny", dtype=tiny_loaded.dtype,
                         context=4096)
    store = DraftStore(tmp_path_factory.mktemp("drafts") / "drafts.sqlite3")
    store.create(user="local", kind="blog", title="Lighthouses at dusk", content=POST, status="done",
                 meta={"topic": "Lighthouse keepers", "audience": "sailors", "tone": "warm"})
    store.create(user="local", kind="longform", title=DOCUMENT.title, content=assemble(DOCUMENT), status="done",
                 meta={"doc": "doc-1", "outline": DOCUMENT.to_dict(),
                       "brief": {"topic": "Tea for beginners", "audience": "", "style": "", "language": "English",
                                 "total_words": 500, "sections": 2}})
    try:
        with serve_studio(engine, store=store) as running:
            yield running
    finally:
        store.close()


def _open_from_library(page, title: str) -> None:
    page.get_by_role("tab", name="Library").click()
    cell = page.get_by_text(title, exact=True).locator("visible=true").first  # the table keeps hidden copies
    cell.wait_for(timeout=30_000)  # 15 s ran out once at a load average of 8 (2 cores)
    cell.click()  # selects the row: the draft is picked and shown in the editor
    page.wait_for_function("(t) => [...document.querySelectorAll('textarea')].some(e => e.value.includes(t))",
                           arg=title.split()[0], timeout=30_000)
    page.click("#library-open-tab")


def test_open_a_blog_draft_back_into_the_blog_tab(server, browser):  # noqa: F811 - the imported fixture
    context, page = _open(browser, server.url)
    try:
        _open_from_library(page, "Lighthouses at dusk")
        page.wait_for_function("(document.querySelector('#blog-draft')?.innerText || '').includes('114 steps')",
                               timeout=15_000)
        assert page.locator("#blog-draft").is_visible()  # the Blog tab is the one shown now
        assert page.input_value("#blog-topic textarea") == "Lighthouse keepers"
        assert page.input_value("#blog-audience textarea") == "sailors"
    finally:
        context.close()


def test_open_a_long_form_document_back_into_its_tab(server, browser):  # noqa: F811 - the imported fixture
    context, page = _open(browser, server.url)
    try:
        _open_from_library(page, "Tea for beginners")
        page.wait_for_function("(document.querySelector('#longform-doc')?.innerText || '').includes('two minutes')",
                               timeout=15_000)
        assert page.locator("#longform-doc").is_visible()
        # The table and the brief are separate outputs of the same update: wait for each, do not race them.
        page.wait_for_function("(document.querySelector('#longform-table')?.innerText || '')"
                               ".includes('Choosing leaves')", timeout=15_000)
        page.wait_for_function("document.querySelector('#longform-topic textarea')?.value === 'Tea for beginners'",
                               timeout=15_000)
    finally:
        context.close()


def test_chinese_browser_sees_library_and_long_form_in_chinese(server, browser):  # noqa: F811 - the imported fixture
    context, page = _open(browser, server.url, locale="zh-CN")
    try:
        page.get_by_role("tab", name="文稿库").click()
        page.wait_for_function("document.body.innerText.includes('在原标签页中打开')", timeout=10_000)
        text = page.locator("body").inner_text()
        for label in ("搜索", "刷新", "重命名", "复制一份", "导出 .docx", "标题"):
            assert label in text, label
        page.get_by_role("tab", name="长文").click()
        page.wait_for_function("document.body.innerText.includes('生成大纲')", timeout=10_000)
        text = page.locator("body").inner_text()
        for label in ("写作要求", "总字数", "全部展开写作", "重新生成该节", "大纲"):
            assert label in text, label
        assert "Generate outline" not in text and "Open in its tab" not in text
        assert "[object Object]" not in text
    finally:
        context.close()
