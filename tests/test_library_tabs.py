"""The drafts library and the tabs, through the real app's handlers (build_app, no server): the tiny Qwen3
writes for real, drafts go to a real SQLite file.

- "Open in its tab" fills the Blog, Code and Long-form tabs (outline, section and document drafts).
- The assembled long-form document is ONE "longform" draft, with its headings, updated (not copied) as
  sections are written, regenerated and continued; its .md/.docx exports keep the headings.
- Expired trash is purged (on studio start for everyone, from the Library while it runs); younger trash
  can still be restored.
- The Library and Long-form tabs are translated like the other tabs.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import sqlite3
import time
from pathlib import Path

import docx
import gradio as gr
import pytest
from gradio.i18n import I18nData

from writing.compose.longform import _close_fences
from writing.engines.local import LocalEngine
from writing.library.store import DB_NAME, TRASH_RETENTION_S, DraftStore, open_default_store
from writing.ui.app import build_app
from writing.ui.context import UIContext
from writing.ui.i18n import EN, ZH
from writing.ui.tabs.library import Library

BRIEF = ["Remote work", "managers", "practical", "English", 200, 0, {}]  # {}: an empty story bible
SAMPLING = [1.0, 0.9, 40, 0.0, 1.0, 0.0, 64, 7]
TYPED_OUTLINE = "# Remote\n## 1. Intro (50 words)\n- why\n## 2. Body (50 words)\n## 3. End\n"
DAY = 24 * 3600


@pytest.fixture
def studio(tiny_loaded, tmp_path: Path):
    engine = LocalEngine(tiny_loaded.model, tiny_loaded.tokenizer, name="tiny", dtype=tiny_loaded.dtype, context=4096)
    store = DraftStore(tmp_path / DB_NAME)
    ctx = UIContext(engine=engine, store=store)
    app = build_app(ctx)
    yield ctx, app
    store.close()


def handler(app, name: str):
    """A tab's handler by its qualified name (a closure over the app's UIContext)."""
    found = [dep.fn for dep in app.fns.values() if getattr(dep.fn, "__qualname__", "").endswith(name)]
    assert found, f"no handler {name}"
    return found[0]


def press(fn, *args) -> None:
    """Call a button's handler, sync or async (Stop is async: it also takes waiting runs out of the queue)."""
    result = fn(*args)
    if inspect.iscoroutine(result):
        asyncio.run(result)


def component(app, elem_id: str):
    return next(b for b in app.blocks.values() if getattr(b, "elem_id", None) == elem_id)


def by_label_key(app, key: str):
    return next(b for b in app.blocks.values() if getattr(getattr(b, "label", None), "key", None) == key)


def value(update):
    return update["value"] if isinstance(update, dict) else update


def open_in_tab(app, draft_id: str, request) -> dict:
    updates = handler(app, "LibraryTab.do_open_in_tab")(draft_id, request)
    assert isinstance(updates, dict)
    return updates


def longform_drafts(store: DraftStore, user: str = "local"):
    return store.list(user=user, kind="longform")


def test_the_long_form_document_is_one_draft_with_its_headings(studio, tmp_path: Path) -> None:
    ctx, app = studio
    store = ctx.store
    request = gr.Request()
    note, rows, doc, *_ = handler(app, "LongformTab.reparse")(TYPED_OUTLINE, *BRIEF, None)
    assert note == "Parsed 3 sections."

    steps = list(handler(app, "write_all")(doc, None, False, True, *BRIEF, *SAMPLING, request))
    rows, doc, _, _, document, _, key, line = steps[-1]
    assert line.startswith("Done.") and key
    assert all(step[6] == key for step in steps)  # the key travels with every update
    [summary] = longform_drafts(store)
    saved = store.get(summary.id, user="local")
    assert saved.status == "done" and saved.content == document and saved.meta["doc"] == key
    assert saved.content.startswith("# Remote\n\n## Intro\n\n")
    for section in doc["sections"]:
        assert f"## {section['title']}\n" in saved.content
        assert section["text"].strip() and section["text"].strip() in saved.content
    # every section run is its own draft too, named after its section and knowing its place
    sections = sorted((store.get(s.id, user="local") for s in store.list(user="local", kind="section")),
                      key=lambda d: d.meta["section"])
    assert [d.title for d in sections] == ["Remote · Intro", "Remote · Body", "Remote · End"]
    assert [d.meta["section"] for d in sections] == [0, 1, 2] and {d.meta["doc"] for d in sections} == {key}

    # Regenerate section 2, then continue section 1: the same draft follows, no copies.
    before = doc["sections"][1]["text"]
    steps = list(handler(app, "LongformTab.write_one.<locals>.run")(doc, key, 2, *BRIEF, *SAMPLING[:-1], 99, request))
    _, doc, *_, key2, line = steps[-1]
    assert key2 == key and line.startswith("Done.")
    steps = list(handler(app, "LongformTab.write_one.<locals>.run")(doc, key, 1, *BRIEF, *SAMPLING, request))
    _, doc, _, _, document, *_ = steps[-1]
    [again] = longform_drafts(store)
    assert again.id == summary.id
    saved = store.get(summary.id, user="local")
    assert saved.content == document
    assert doc["sections"][1]["text"].strip() in saved.content and doc["sections"][1]["text"] != before
    assert saved.meta["outline"] == doc  # enough to restore the tab
    # A section edited by hand ("Edit section # by hand" -> Save text) updates the same draft too.
    *_, document, _, key3 = handler(app, "save_section")(3, "The end, by hand.", doc, key, *BRIEF, request)
    assert key3 == key and [d.id for d in longform_drafts(store)] == [summary.id]
    saved = store.get(summary.id, user="local")
    assert saved.content == document and saved.content.endswith("## End\n\nThe end, by hand.\n")

    # The Library's exports of it keep the headings. The random model's text may hold a stray ``` that
    # (rightly) turns the rest of a Markdown file into code: give sections 1 and 2 plain text first.
    for number, text in ((1, "The start, by hand."), (2, "The middle, by hand.")):
        _, doc, _, _, document, _, _ = handler(app, "save_section")(number, text, doc, key, *BRIEF, request)
    saved = store.get(summary.id, user="local")
    assert saved.content == document
    lib = Library(ctx)
    md = Path(lib.export(summary.id, "md", request))
    assert md.read_text(encoding="utf-8") == saved.content
    word = docx.Document(lib.export(summary.id, "docx", request))
    headings = [p.text for p in word.paragraphs if p.style.name.startswith("Heading")]
    assert headings == ["Remote", "Intro", "Body", "End"]


def test_a_new_plan_is_a_new_document_and_stop_keeps_what_was_written(studio) -> None:
    ctx, app = studio
    request = gr.Request()
    reparse = handler(app, "LongformTab.reparse")
    _, _, doc, *_ = reparse(TYPED_OUTLINE, *BRIEF, None)
    *_, key, _ = list(handler(app, "write_all")(doc, None, False, True, *BRIEF, *SAMPLING, request))[-1]
    # Same tab (same key), another plan: the first document's draft is left as it was.
    _, _, other, *_ = reparse("# Gardening\n## Soil (60 words)\n## Water (60 words)\n", *BRIEF, None)
    halt = handler(app, "LongformTab.halt")
    steps = []
    for step in handler(app, "write_all")(other, key, False, True, *BRIEF, *SAMPLING, request):
        steps.append(step)
        if len(steps) == 2:
            press(halt, request)
    *_, other_key, line = steps[-1]
    assert other_key != key
    drafts = {d.title: ctx.store.get(d.id, user="local") for d in longform_drafts(ctx.store)}
    assert set(drafts) == {"Remote", "Gardening"}
    # Stop lands mid-section (stopped) or, if the random model ended the section first, between two ("Done.")
    assert drafts["Remote"].status == "done"
    assert drafts["Gardening"].status == ("stopped" if line.startswith("Stopped") else "done")
    assert not steps[-1][1]["sections"][1]["text"]  # Water was never written: Stop held
    assert drafts["Gardening"].content.startswith("# Gardening\n\n## Soil\n\n")
    assert len(drafts["Gardening"].content) > len("# Gardening\n\n## Soil\n\n## Water\n")  # the partial text


def test_open_blog_and_code_drafts_back_into_their_tabs(studio) -> None:
    ctx, app = studio
    request = gr.Request()
    blog_steps = list(handler(app, "build_blog_tab.<locals>.write")(
        "Lighthouses", "sailors", "warm", 200, ["Sections"], "English", *SAMPLING[:6], 24, 1, request))
    shown = blog_steps[-1][0]
    code_steps = list(handler(app, "build_code_tab.<locals>.run")(
        "parse a CSV", "Python", "stdlib only", *SAMPLING[:6], 24, 1, request))
    [blog] = ctx.store.list(user="local", kind="blog")
    [code] = ctx.store.list(user="local", kind="code")
    tabs = component(app, "studio-tabs")

    updates = open_in_tab(app, blog.id, request)
    assert updates[component(app, "blog-draft")] == shown
    assert updates[component(app, "blog-topic")] == "Lighthouses"
    assert updates[by_label_key(app, "audience")] == "sailors"  # the Blog tab's audience comes first
    assert updates[tabs].selected == "blog"
    assert updates[component(app, "blog-download")]["interactive"] is True
    assert Path(updates[component(app, "blog-download")]["value"]).read_text(encoding="utf-8").strip() == \
        shown.strip()
    # Continue then works on the opened draft: it is the tab's state too.
    states = [c for c, v in updates.items() if isinstance(c, gr.State) and v == shown]
    assert states, "the blog draft state is filled"

    updates = open_in_tab(app, code.id, request)
    answer = code_steps[-1]
    assert value(updates[component(app, "code-output")]) == answer[0]
    assert updates[tabs].selected == "code"
    assert ctx.store.get(code.id, user="local").meta["task"] == "parse a CSV"


def test_open_long_form_drafts_back_into_the_tab(studio) -> None:
    ctx, app = studio
    store = ctx.store
    request = gr.Request()
    raw, doc_view = component(app, "longform-raw"), component(app, "longform-doc")
    topic = component(app, "longform-topic")
    table = component(app, "longform-table")
    section_text = component(app, "longform-section-text")
    tabs = component(app, "studio-tabs")

    # An outline draft from the real "Generate outline" run: saved with its brief, opened as it was written.
    steps = list(handler(app, "make_outline")(*BRIEF, None, *SAMPLING, request))
    [outline_summary] = store.list(user="local", kind="outline")
    outline_draft = store.get(outline_summary.id, user="local")
    assert outline_draft.meta["brief"]["topic"] == "Remote work" and outline_draft.content == steps[-1][0]
    updates = open_in_tab(app, outline_draft.id, request)
    assert updates[raw] == outline_draft.content and updates[topic] == "Remote work"
    assert updates[tabs].selected == "longform"
    # A plan the writer typed (the tiny model's random reply rarely parses): parsed into the table on open.
    typed = store.create(user="local", kind="outline", title="Remote work", content=TYPED_OUTLINE, status="done",
                         meta={"brief": dict(zip(["topic", "audience", "style", "language", "total_words",
                                                  "sections"], BRIEF[:6], strict=True))})
    updates = open_in_tab(app, typed, request)
    assert [row[:3] for row in updates[table]] == [["Intro", "why", 50], ["Body", "", 50], ["End", "", 100]]

    # Write the document, then open it in a fresh tab state: the outline, texts and key come back.
    _, _, doc, *_ = handler(app, "LongformTab.reparse")(TYPED_OUTLINE, *BRIEF, None)
    *_, final_doc, _, _, document, _, key, _ = list(handler(app, "write_all")(doc, None, False, True, *BRIEF, *SAMPLING,
                                                                               request))[-1]
    [summary] = longform_drafts(store)
    updates = open_in_tab(app, summary.id, request)
    doc_state = next(c for c, v in updates.items() if isinstance(c, gr.State) and v == final_doc)
    assert updates[doc_view] == document
    assert key in updates.values()
    # Writing on from the opened document updates the same draft.
    write_one = handler(app, "LongformTab.write_one.<locals>.run")
    steps = list(write_one(updates[doc_state], key, 3, *BRIEF, *SAMPLING, request))
    assert [d.id for d in longform_drafts(store)] == [summary.id]
    assert store.get(summary.id, user="local").content == steps[-1][4]

    # Edited in the Library (a section's text): opening reads the edit back into that section.
    saved = store.get(summary.id, user="local")
    shown = _close_fences(final_doc["sections"][0]["text"].strip())  # as the document shows it
    edited = saved.content.replace(shown, "Hand-written intro.")
    Library(ctx).save_text(summary.id, edited, request)
    updates = open_in_tab(app, summary.id, request)
    reopened = next(v for c, v in updates.items() if isinstance(c, gr.State) and isinstance(v, dict))
    assert reopened["sections"][0]["text"] == "Hand-written intro." and updates[doc_view] == edited

    # A section draft: its text goes to "Edit section # by hand", with its section number.
    section = next(store.get(s.id, user="local") for s in store.list(user="local", kind="section")
                   if store.get(s.id, user="local").meta.get("section") == 1)
    updates = open_in_tab(app, section.id, request)
    assert updates[section_text] == section.content
    assert 2 in updates.values()  # Section # = 2


def _set_deleted(db: Path, draft_id: str, when: float) -> None:
    with sqlite3.connect(db) as conn:  # straight into the file, as time passing would
        conn.execute("UPDATE drafts SET deleted = ? WHERE id = ?", (when, draft_id))


def test_trash_older_than_30_days_is_purged_on_start_younger_stays_restorable(tmp_path: Path) -> None:
    data = tmp_path / "studio-data"  # STUDIO_DATA_DIR (tests/conftest.py): where open_default_store looks
    with DraftStore(data / DB_NAME) as store:
        old_a = store.create(user="alice", kind="blog", title="old", content="gone")
        young_a = store.create(user="alice", kind="blog", title="young", content="kept")
        old_b = store.create(user="bob", kind="chat", title="old too", content="gone")
        live = store.create(user="bob", kind="blog", title="live", content="never deleted")
        for draft_id, user in ((old_a, "alice"), (young_a, "alice"), (old_b, "bob")):
            store.delete(draft_id, user=user)
    now = time.time()
    _set_deleted(data / DB_NAME, old_a, now - 31 * DAY)
    _set_deleted(data / DB_NAME, old_b, now - 31 * DAY)
    _set_deleted(data / DB_NAME, young_a, now - 1 * DAY)
    assert TRASH_RETENTION_S == 30 * DAY

    store, problem = open_default_store()  # what the studio does on start
    assert store is not None and not problem
    try:
        with sqlite3.connect(data / DB_NAME) as conn:
            left = {row[0] for row in conn.execute("SELECT id FROM drafts")}
        assert left == {young_a, live}
        store.restore(young_a, user="alice")
        assert store.get(young_a, user="alice").content == "kept"
    finally:
        store.close()


def test_the_library_purges_expired_trash_while_the_studio_runs(tmp_path: Path) -> None:
    from types import SimpleNamespace

    db = tmp_path / DB_NAME
    store = DraftStore(db)
    ctx = SimpleNamespace(store=store, user_of=lambda r: getattr(r, "username", None) or "local")
    lib = Library(ctx)
    alice, bob = SimpleNamespace(username="alice"), SimpleNamespace(username="bob")
    try:
        lib.rows("", alice)  # a first listing: nothing to purge yet
        old = store.create(user="alice", kind="blog", title="old", content="x")
        young = store.create(user="alice", kind="blog", title="young", content="y")
        bobs = store.create(user="bob", kind="blog", title="bob's", content="z")
        for draft_id, user in ((old, "alice"), (young, "alice"), (bobs, "bob")):
            store.delete(draft_id, user=user)
            _set_deleted(db, draft_id, time.time() - (31 if draft_id != young else 1) * DAY)
        lib.rows("", alice)
        with sqlite3.connect(db) as conn:  # the hourly throttle: listed a moment ago, not purged yet
            assert conn.execute("SELECT COUNT(*) FROM drafts").fetchone()[0] == 3
        assert lib.purge_expired("alice", force=True) == 1
        with sqlite3.connect(db) as conn:
            left = {row[0] for row in conn.execute("SELECT id FROM drafts")}
        assert left == {young, bobs}  # only the listing user's trash; bob's waits for bob (or the next start)
        lib.rows("", bob)  # bob's first listing in this process purges his
        with sqlite3.connect(db) as conn:
            assert {row[0] for row in conn.execute("SELECT id FROM drafts")} == {young}
        lib.restore(young, alice)
        assert lib.rows("", alice)[1] == [young]
    finally:
        store.close()


def test_library_and_long_form_tabs_are_translated(studio) -> None:
    """Every Library / Long-form label is a translation key the app really uses, with a Chinese text."""
    _ctx, app = studio
    assert set(EN) == set(ZH)
    ours = {key for key in EN if key.startswith(("lib_", "lf_")) or key in ("tab_library", "tab_longform")}
    assert all(ZH[key] != EN[key] and ZH[key].strip() for key in ours)
    used = set()
    for comp in app.get_config_file()["components"]:
        for text in comp.get("props", {}).values():  # labels stay I18nData; values are serialised with a prefix
            if isinstance(text, str) and text.startswith("__i18n__"):
                used.add(json.loads(text.removeprefix("__i18n__"))["key"])
            elif isinstance(text, I18nData):
                used.add(text.to_dict()["key"])
    assert ours <= used, f"defined but not shown: {sorted(ours - used)}"
    assert ZH["tab_library"] == "文稿库" and ZH["tab_longform"] == "长文"
