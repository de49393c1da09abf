"""Revisions and rewriting a passage, through the real app's handlers (build_app, no server): the tiny Qwen3
writes for real, drafts and revisions go to a real SQLite file.

- Blog: Regenerate, Continue, Revise, a hand edit and a passage rewrite each keep the text they replace, with
  its cause, in the post's history (which follows the post from draft to draft); compare, restore, merge.
- Long-form: regenerating, continuing, editing or rewriting a section keeps its earlier text under the
  document's draft and the section; restore puts it back into the outline and the document.
- A rewrite changes only the selected span (byte-identical before and after it).
- Another user sees none of it.
"""

from __future__ import annotations

from collections import deque

import gradio as gr
import pytest

from writing.engines.local import LocalEngine
from writing.library.revisions import Revisions
from writing.library.store import DB_NAME, DraftStore
from writing.ui.app import build_app
from writing.ui.context import UIContext
from writing.ui.passage import PassageEditor
from writing.ui.revisions_panel import CURRENT, RevisionsPanel

SAMPLING = [1.0, 0.9, 40, 0.0, 1.0, 0.0, 24, 7]
BLOG_BRIEF = ["Lighthouses", "sailors", "warm", 300, ["Sections"], "English"]
LF_BRIEF = ["Remote", "managers", "practical", "English", 200, 0, None]  # ..., sections, story bible
TYPED_OUTLINE = "# Remote\n## 1. Intro (50 words)\n- why\n## 2. Body (50 words)\n## 3. End\n"


@pytest.fixture
def studio(tiny_loaded, tmp_path):
    engine = LocalEngine(tiny_loaded.model, tiny_loaded.tokenizer, name="tiny", dtype=tiny_loaded.dtype, context=4096)
    store = DraftStore(tmp_path / DB_NAME)
    ctx = UIContext(engine=engine, store=store, revisions_keep=20)
    app = build_app(ctx)
    yield ctx, app
    store.close()


def fn(app, name: str):
    found = [dep.fn for dep in app.fns.values() if getattr(dep.fn, "__qualname__", "").endswith(name)]
    assert found, f"no handler {name}"
    return found[0]


def owned(app, cls, prefix: str):
    """The panel / passage editor object of one tab (its handlers are bound methods or closures over it)."""
    for dep in app.fns.values():
        candidates = [getattr(dep.fn, "__self__", None)]
        candidates += [cell.cell_contents for cell in (getattr(dep.fn, "__closure__", None) or ())
                       if not isinstance(cell.cell_contents, type)]
        for obj in candidates:
            if isinstance(obj, cls) and obj.prefix == prefix:
                return obj
    raise AssertionError(f"no {cls.__name__} for {prefix}")


def last(steps):
    return deque(steps, maxlen=1)[0]  # a generator's last update


def history(ctx, draft_id, part=""):
    revisions = Revisions(ctx.store)
    return [(r.cause, revisions.get(r.id, user="local").content) for r in
            revisions.list(user="local", draft_id=draft_id, part=part)]


def test_blog_runs_edits_and_rewrites_keep_the_replaced_text(studio):
    ctx, app = studio
    request = gr.Request()
    first = last(fn(app, "build_blog_tab.<locals>.write")(*BLOG_BRIEF, *SAMPLING, request))
    text1, post1 = first[0], first[6]
    assert text1.strip() and post1
    assert history(ctx, post1) == []  # a new post has no history

    regenerated = last(fn(app, "regenerate_post")(request, text1, post1, *BLOG_BRIEF, *SAMPLING[:-1], 11))
    text2, post2 = regenerated[0], regenerated[6]
    assert post2 != post1 and ctx.store.get(post2, user="local").content == text2
    assert history(ctx, post2) == [("regenerate", text1)]

    continued = last(fn(app, "extend_draft")(text2, [], post2, *SAMPLING, request))
    text3, post3 = continued[0], continued[6]
    assert text3.startswith(text2) and post3 not in (post1, post2)
    assert history(ctx, post3) == [("continue", text2), ("regenerate", text1)]  # the history followed the post
    assert history(ctx, post2) == []

    revised = last(fn(app, "revise_draft")("make it shorter", text3, [], post3, *SAMPLING, request))
    text4, post4 = revised[0], revised[6]
    assert [cause for cause, _ in history(ctx, post4)] == ["revise", "continue", "regenerate"]

    edited = "# Lighthouses\n\nKeepers climbed 114 steps.\n\nThe lamp burned all night.\n\nDawn came."
    shown = fn(app, "save_edit")(edited, post4, request)
    assert shown[0] == edited and shown[2] == edited
    assert ctx.store.get(post4, user="local").content == edited  # a hand edit saves in place
    assert history(ctx, post4)[0] == ("edit", text4)

    # rewrite the middle paragraph only
    editor = owned(app, PassageEditor, "blog")
    start = edited.index("The lamp")
    end = edited.index("\n\nDawn")
    steps = list(editor.rewrite(edited, [start, end, edited[start:end]], "shorter", "", [post4, edited], SAMPLING,
                                request))
    final, span, note = steps[-1][0], steps[-1][1], steps[-1][2]
    assert "Rewritten" in note
    for step in steps:
        assert step[0].encode().startswith(edited[:start].encode()) and step[0].encode().endswith(edited[end:].encode())
    assert final != edited and final[span[0]:span[1]] == span[2]
    post5 = steps[-1][-1]
    assert post5 != post4 and ctx.store.get(post5, user="local").content == final
    assert history(ctx, post5)[0] == ("rewrite", edited)

    # compare, restore, merge through the panel
    panel = owned(app, RevisionsPanel, "blog")
    older, newer, note = panel.refresh(request, post5, final)
    ids = [value for _label, value in older["choices"]]
    assert len(ids) == 6 and ids[-1] == CURRENT and older["value"] == ids[0]
    html, choices, download, note = panel.compare(request, ids[0], CURRENT, "side", post5, final)
    assert "<ins>" in html and "<del>" in html and len(choices["choices"]) >= 1 and download["interactive"]
    restored = panel.restore(ids[0], [post5, final], [post5], request)
    assert restored[0] == edited and restored[2] == edited and "Restored" in restored[-1]
    assert ctx.store.get(post5, user="local").content == edited
    assert history(ctx, post5)[0] == ("restore", final)
    # merge: the rewrite's text (older, now a revision) and the current text; take nothing from the newer
    latest = Revisions(ctx.store).list(user="local", draft_id=post5)[0]
    merged = panel.merge(str(latest.id), CURRENT, [], [post5, edited], [post5], request)
    assert merged[0] == final and ctx.store.get(post5, user="local").content == final
    assert history(ctx, post5)[0] == ("merge", edited)


def test_another_user_sees_no_revision(studio):
    ctx, app = studio
    ana, bob = gr.Request(username="ana"), gr.Request(username="bob")
    post = ctx.store.create(user="ana", kind="blog", title="Post", content="ana's second text", status="done")
    kept = Revisions(ctx.store).record(user="ana", draft_id=post, content="ana's first text", cause="edit")
    panel = owned(app, RevisionsPanel, "blog")
    older, _newer, _note = panel.refresh(ana, post, "ana's second text")
    assert str(kept) in [value for _label, value in older["choices"]]
    older, _newer, _note = panel.refresh(bob, post, "bob's text")
    assert [value for _label, value in older["choices"]] == [CURRENT]
    with pytest.raises(gr.Error, match="no revision"):
        panel.compare(bob, str(kept), CURRENT, "inline", post, "bob's text")
    with pytest.raises(gr.Error, match="no revision"):
        panel.restore(str(kept), [post, "bob's text"], [post], bob)
    assert ctx.store.get(post, user="ana").content == "ana's second text"


def test_long_form_section_history(studio):
    ctx, app = studio
    request = gr.Request()
    _note, _rows, doc, *_ = fn(app, "LongformTab.reparse")(TYPED_OUTLINE, *LF_BRIEF, None)
    final_step = last(fn(app, "write_all")(doc, None, False, False, *LF_BRIEF, *SAMPLING, request))
    doc, key = final_step[1], final_step[6]
    [document] = ctx.store.list(user="local", kind="longform")
    written = doc["sections"][1]["text"]
    run = fn(app, "LongformTab.write_one.<locals>.run")
    doc = last(run(doc, key, 2, *LF_BRIEF, *SAMPLING[:-1], 99, request))[1]
    assert history(ctx, document.id, "section:Body") == [("regenerate", written)]
    regenerated = doc["sections"][1]["text"]
    *_, key2 = fn(app, "save_section")(2, "Body by hand.\n\nSecond paragraph, by hand.", doc, key, *LF_BRIEF, request)
    assert key2 == key
    assert history(ctx, document.id, "section:Body")[0] == ("edit", regenerated)
    assert history(ctx, document.id, "section:Intro") == []
    saved = ctx.store.get(document.id, user="local")
    doc = saved.meta["outline"]
    body = doc["sections"][1]["text"]
    assert body == "Body by hand.\n\nSecond paragraph, by hand."

    # rewrite "Second paragraph" only, in the section's text box
    editor = owned(app, PassageEditor, "longform")
    start = body.index("Second")
    steps = list(editor.rewrite(body, [start, len(body), body[start:]], "formal", "", [2, doc, key, *LF_BRIEF],
                                SAMPLING, request))
    final = steps[-1][0]
    assert final.startswith("Body by hand.\n\n") and final != body
    for step in steps:
        assert step[0].startswith(body[:start])
    doc = ctx.store.get(document.id, user="local").meta["outline"]
    assert doc["sections"][1]["text"] == final  # the outline and the document draft have it
    assert history(ctx, document.id, "section:Body")[0] == ("rewrite", body)

    # restore the hand edit through the panel: outline, document and text box all get it back
    panel = owned(app, RevisionsPanel, "longform")
    older, _newer, _note = panel.refresh(request, key, 2, doc)
    assert older["value"] is not None
    out = panel.restore(older["value"], [key, 2, doc], [2, doc, key, *LF_BRIEF], request)
    assert out[-2] == body  # the section text box
    assert ctx.store.get(document.id, user="local").meta["outline"]["sections"][1]["text"] == body
    assert history(ctx, document.id, "section:Body")[0] == ("restore", final)
