"""The story bible through the app, with the tiny model on 127.0.0.1 and a real SQLite file: the /outline and
/expand_section API carry a brief's bible into the prompts (gradio_client), the panel's handlers run
"Suggest from text" through the model queue and add the entries the writer ticked and edited, keep style
sheets per user, and the word-budget proposal is applied only when asked and only to an unchanged outline."""

from __future__ import annotations

import gradio as gr
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from tests.support.ui_server import serve_studio
from tests.test_browser import _Recorder
from writing.compose.bible import make_bible, render_bible
from writing.compose.outline import Outline, Section
from writing.engines.local import LocalEngine
from writing.library.store import DraftStore
from writing.ui.bible_panel import BiblePanel
from writing.ui.word_budget import BudgetControls, apply_proposal

BIBLE = {"facts": "The lamp was last lit in 1921.", "avoid": "suddenly"}
BRIEF = {"topic": "The lighthouse", "audience": "", "style": "", "language": "English", "total_words": 200,
         "sections": 2, "bible": BIBLE}
OUTLINE = Outline("The lighthouse", (
    Section("Arrival", ("the crossing",), 100, text="Mara Finlay stepped onto the island. The lamp room was dark."),
    Section("The lamp", ("the glass",), 100),
)).to_dict()


@pytest.fixture(scope="module")
def server(tiny_loaded, tmp_path_factory):
    engine = LocalEngine(tiny_loaded.model, tiny_loaded.tokenizer, name="tiny", dtype=tiny_loaded.dtype,
                         context=4096)
    store = DraftStore(tmp_path_factory.mktemp("drafts") / "drafts.sqlite3")
    try:
        with serve_studio(_Recorder(engine), store=store) as running:
            yield running
    finally:
        store.close()


@pytest.fixture(scope="module")
def client(server) -> Client:
    return Client(server.url, verbose=False, download_files=False)


def _panel(server, tab: str) -> BiblePanel:
    for dep in server.app.fns.values():
        owner = getattr(dep.fn, "__self__", None)
        if isinstance(owner, BiblePanel) and owner.tab == tab:
            return owner
    raise AssertionError(f"no story bible panel in the {tab} tab")


def test_the_api_carries_the_bible_into_outline_and_section_prompts(server, client) -> None:
    recorder = server.ctx.engine
    before = len(recorder.prompts)
    client.predict(BRIEF, OUTLINE, 1, "", "write", "", api_name="/expand_section")
    system = recorder.prompts[before][0]["content"]
    assert render_bible(make_bible(BIBLE)) in system and system.index("1921") < system.index("The plan:")
    client.predict(BRIEF, "", api_name="/outline")
    assert render_bible(make_bible(BIBLE)) in recorder.prompts[before + 1][0]["content"]
    with pytest.raises(AppError, match=r"bible\.facts"):
        client.predict({**BRIEF, "bible": {"facts": 7}}, OUTLINE, 1, "", "write", "", api_name="/expand_section")
    with pytest.raises(AppError, match="unknown field"):
        client.predict({**BRIEF, "bible": {"villains": "x"}}, OUTLINE, 1, "", "write", "", api_name="/expand_section")


def test_suggest_from_text_runs_the_model_then_adds_only_ticked_edited_entries(server) -> None:
    panel = _panel(server, "longform")
    recorder = server.ctx.engine
    before = len(recorder.prompts)
    request = gr.Request(username="ann")
    steps = list(panel.suggest_entries(OUTLINE, BIBLE, "The lighthouse", "English", request))
    asked = recorder.prompts[before]
    user = asked[1]["content"]
    assert "Propose NEW entries" in user and "Mara Finlay stepped onto the island." in user
    assert "The lamp was last lit in 1921." in asked[1]["content"]  # the bible so far, so it is not proposed again
    reply, rows, note = steps[-1]
    assert isinstance(reply, str) and reply.strip()  # the tiny model's (random) reply, shown as written
    assert isinstance(rows, list) and note  # parsed proposals, or a note saying none could be read

    # The writer edits the table: ticks two entries (one edited), leaves one unticked.
    table = [[True, "Glossary / terms", "lamp room: the glass room at the top"],
             [False, "Facts to keep", "The island has no trees."],
             [True, "Characters / entities", "Mara Finlay: the keeper, 34"]]
    state, *fields, cost, left, message = panel.add_ticked(table, BIBLE, "The lighthouse", "English")
    bible = make_bible(state)
    assert bible.glossary == "lamp room: the glass room at the top"
    assert bible.characters == "Mara Finlay: the keeper, 34"
    assert bible.facts == BIBLE["facts"] and "no trees" not in render_bible(bible)
    assert fields[3] == bible.glossary and "tokens** in every prompt" in cost
    assert left == [[False, "Facts to keep", "The island has no trees."]] and message == "Added 2 entries to the bible."
    with pytest.raises(gr.Error, match="unknown field"):
        panel.add_ticked([[True, "Villains", "x"]], BIBLE, "The lighthouse", "English")


def test_style_sheets_through_the_panel_are_per_user(server) -> None:
    panel = _panel(server, "blog")
    ann, bob = gr.Request(username="ann"), gr.Request(username="bob")
    dropdown, message = panel.save_sheet("House style", {"avoid": "synergy"}, ann)
    sheet_id = dropdown["value"]
    assert "Saved" in message and dropdown["choices"] == [("House style", sheet_id)]
    assert panel.sheets(bob)["choices"] == []
    with pytest.raises(gr.Error, match="no style sheet"):
        panel.apply_sheet(sheet_id, {}, "Topic", "English", bob)  # bob cannot apply ann's sheet
    with pytest.raises(gr.Error, match="no style sheet"):
        panel.delete_sheet(sheet_id, bob)
    state, *_fields, _cost, applied = panel.apply_sheet(sheet_id, {"avoid": "very"}, "Topic", "English", ann)
    assert state == {"avoid": "very\nsynergy"} and "Applied" in applied  # the sheet's entries join the fields
    with pytest.raises(gr.Error, match="empty"):
        panel.save_sheet("Nothing", {}, ann)
    panel.delete_sheet(sheet_id, ann)
    assert panel.sheets(ann)["choices"] == []


def test_rebalance_after_one_section_is_proposed_then_applied_on_request() -> None:
    doc = Outline("Doc", (Section("A", (), 100, text="word " * 160), Section("B", (), 100), Section("C", (), 100),
                          Section("D", (), 100, locked=True))).to_dict()
    note, proposal, button = BudgetControls.propose(doc, 1, True)
    assert note == "Proposed: Section 1 ran 60 words over: sections 2-3 now 70/70." and button["visible"]
    assert [s["target"] for s in doc["sections"]] == [100, 100, 100, 100]  # nothing applied yet
    assert [s.target for s in apply_proposal(doc, proposal).sections] == [100, 70, 70, 100]
    assert BudgetControls.propose(doc, 1, False) == ("", None, {"__type__": "update", "visible": False})
    written = {**doc, "sections": [doc["sections"][0], {**doc["sections"][1], "text": "now written"},
                                   *doc["sections"][2:]]}
    with pytest.raises(gr.Error, match="changed since"):
        apply_proposal(written, proposal)  # a section it would change was written meanwhile: nothing applied


def test_a_blog_draft_reopens_with_the_bible_it_was_written_with(server) -> None:
    store, panel = server.ctx.store, _panel(server, "blog")
    opener = server.ctx.openers.get("blog")
    with_bible = store.create(user="local", kind="blog", title="Post", content="# Post\n\nText.", status="done",
                              meta={"topic": "Post", "audience": "", "tone": "", "bible": {"avoid": "very"}})
    values = dict(zip(opener.outputs, opener.load(store.get(with_bible, user="local")), strict=True))
    assert values[panel.state] == {"avoid": "very"} and values[panel.fields[-1]] == "very"
    assert "tokens** in every prompt" in values[panel.cost]
    older = store.create(user="local", kind="blog", title="Old", content="# Old", status="done",
                         meta={"topic": "Old", "audience": "", "tone": ""})  # saved before the bible existed
    values = dict(zip(opener.outputs, opener.load(store.get(older, user="local")), strict=True))
    assert values[panel.state] == gr.update() and values[panel.fields[0]] == gr.update()  # fields left as they are
