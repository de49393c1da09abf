"""Autosave through the real streaming loop (tiny Qwen3, real transformers generation, real SQLite) and the
Library tab's handlers: every run becomes a draft; Stop and failures keep the partial text; storage failures
never break a generation; chats are one draft per conversation; users never see each other's drafts."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import docx
import pytest

from writing.engines.messages import clean_text
from writing.engines.params import make_params
from writing.errors import StudioError
from writing.library.store import DB_NAME, DraftStore
from writing.ui.autosave import transcript
from writing.ui.context import UIContext
from writing.ui.runs import SessionRuns
from writing.ui.streaming import stream_reply
from writing.ui.tabs.library import Library, build_library_tab


def request(user: str | None = None, session: str = "session-1") -> SimpleNamespace:
    return SimpleNamespace(username=user, session_hash=session)


@pytest.fixture
def ctx(tiny_engine, tmp_path: Path):
    store = DraftStore(tmp_path / DB_NAME)
    yield UIContext(engine=tiny_engine, runs=SessionRuns(), store=store,
                    user_of=lambda r: getattr(r, "username", None) or "local")
    store.close()


def run(ctx, req, *, kind="blog", title="A post", messages=None, max_new_tokens=24, stop_after=None, check=True):
    messages = messages or [{"role": "user", "content": "Write about lighthouses."}]
    params = make_params(max_new_tokens=max_new_tokens, temperature=0.7, seed=1)
    shown, stats = "", None
    gen = stream_reply(ctx, req, kind=kind, title=title, messages=messages, params=params)
    for n, step in enumerate(gen):
        shown, stats = step
        if n == 0 and check:
            drafts = ctx.store.list(user=ctx.user_of(req))
            assert drafts and drafts[0].status == "streaming"  # saved at the start, before it ends
        if stop_after is not None and n == stop_after:
            ctx.runs.stop(req.session_hash)
    return shown, stats


def test_every_run_is_saved_with_its_final_text(ctx) -> None:
    shown, stats = run(ctx, request())
    assert shown
    [draft] = ctx.store.list(user="local")
    got = ctx.store.get(draft.id, user="local")
    assert (got.kind, got.title, got.content, got.status) == ("blog", "A post", shown, "done")
    assert got.meta["prompt"] == "Write about lighthouses." and got.meta["session"] == "session-1"


def test_stop_keeps_the_partial_text_as_a_stopped_draft(ctx) -> None:
    shown, stats = run(ctx, request(), max_new_tokens=400, stop_after=1)
    assert stats.finish_reason == "cancelled" and shown
    [draft] = ctx.store.list(user="local")
    got = ctx.store.get(draft.id, user="local")
    assert got.status == "stopped" and got.content == shown
    assert ctx.store.last_unfinished(user="local").id == draft.id  # offered on the next start


def test_closing_the_page_mid_stream_keeps_what_was_shown(ctx) -> None:
    params = make_params(max_new_tokens=400, seed=1)
    gen = stream_reply(ctx, request(), kind="code", title="parser",
                       messages=[{"role": "user", "content": "Write a parser."}], params=params)
    shown = ""
    for n, step in enumerate(gen):
        shown = step[0]
        if n == 2:
            break
    gen.close()  # what gradio does when the browser goes away
    [draft] = ctx.store.list(user="local")
    got = ctx.store.get(draft.id, user="local")
    assert got.status == "stopped"
    assert got.content.startswith(shown)  # at least everything that was on screen


def test_storage_failure_never_breaks_generation(ctx, tmp_path: Path) -> None:
    ctx.store.close()  # every store call now fails with sqlite3.ProgrammingError
    with pytest.warns(UserWarning, match="could not save the draft"):
        shown, stats = run(ctx, request(), check=False)
    assert shown and stats.finish_reason in ("stop", "length")


def test_no_store_at_all_still_generates(ctx) -> None:
    ctx.store = None
    with pytest.warns(UserWarning, match="not being saved"):
        shown, _ = run(ctx, request(), check=False)
    assert shown


def test_a_chat_is_one_draft_per_conversation(ctx) -> None:
    system = {"role": "system", "content": "Be brief."}
    turn1 = [system, {"role": "user", "content": "Hi"}]
    reply1, _ = run(ctx, request(), kind="chat", title="Hi", messages=turn1)
    turn2 = [*turn1, {"role": "assistant", "content": reply1}, {"role": "user", "content": "More"}]
    reply2, _ = run(ctx, request(), kind="chat", title="More", messages=turn2)
    [draft] = ctx.store.list(user="local")
    got = ctx.store.get(draft.id, user="local")
    assert got.title == "Hi"  # the conversation keeps its first title
    # the random tiny model emits control characters: messages are stored cleaned, as the engine sees them
    expected = [{"role": m["role"], "content": clean_text(m["content"])}
                for m in [*turn2, {"role": "assistant", "content": reply2}]]
    assert got.meta["messages"] == expected
    assert got.content == transcript(got.meta["messages"])
    assert "**You:** More" in got.content and "Be brief." not in got.content
    # A retry of turn 2 (history no longer matches) is a new draft: the saved conversation is not overwritten.
    run(ctx, request(), kind="chat", title="More", messages=turn2)
    assert len(ctx.store.list(user="local")) == 2
    assert ctx.store.get(draft.id, user="local").meta["messages"][-1]["content"] == clean_text(reply2)
    # Another browser session with the same history is its own conversation.
    run(ctx, request(session="other"), kind="chat", title="Hi", messages=turn1)
    assert len(ctx.store.list(user="local")) == 3


def test_library_isolates_users_and_exports(ctx, tmp_path: Path) -> None:
    alice, bob = request("alice"), request("bob")
    run(ctx, alice, kind="longform", title="../../Alice's book")
    lib = Library(ctx)
    rows, ids = lib.rows("", alice)
    assert len(ids) == 1 and rows[0][1:3] == ["longform", "../../Alice's book"]
    assert lib.rows("", bob) == ([], [])
    for attempt in (lambda: lib.open(ids[0], bob), lambda: lib.export(ids[0], "md", bob),
                    lambda: lib.rename(ids[0], "mine", bob), lambda: lib.delete(ids[0], bob)):
        with pytest.raises(StudioError):
            attempt()
    title, text, kind, _info = lib.open(ids[0], alice)
    md = Path(lib.export(ids[0], "md", alice))
    assert md.name == "Alice's book.md" and md.read_text(encoding="utf-8") == text
    word = Path(lib.export(ids[0], "docx", alice))
    assert word.suffix == ".docx" and docx.Document(str(word)).core_properties.title == title
    copy = lib.duplicate(ids[0], alice)
    lib.delete(ids[0], alice)
    assert lib.rows("", alice)[1] == [copy]
    lib.restore(ids[0], alice)
    assert set(lib.rows("", alice)[1]) == {copy, ids[0]}
    assert lib.save_text(copy, "edited by hand", alice) == "Saved your edits."
    assert lib.open(copy, alice)[1] == "edited by hand"


def test_unfinished_offer_is_per_user_and_answered_once(ctx) -> None:
    lib = Library(ctx)
    ctx.store.create(user="alice", kind="blog", title="Half a post", content="half", status="streaming")
    assert lib.unfinished(request("bob")) == (None, "")
    draft_id, sentence = lib.unfinished(request("alice"))
    assert draft_id and "Half a post" in sentence and "interrupted" in sentence
    lib.answer_offer(draft_id, request("alice"))
    assert lib.unfinished(request("alice")) == (None, "")


def test_library_without_store_explains(tmp_path: Path) -> None:
    lib = Library(SimpleNamespace(store=None, store_problem="cannot open /ro/drafts.sqlite3"))
    assert "not being saved" in lib.notice() and "/ro/drafts.sqlite3" in lib.notice()
    with pytest.raises(StudioError, match="not being saved"):
        lib.rows("", request())
    assert lib.unfinished(request()) == (None, "")


def test_tab_builds(ctx) -> None:
    import gradio as gr

    with gr.Blocks() as demo:
        with gr.Tabs():
            build_library_tab(ctx)
    names = {dep.api_name for dep in demo.fns.values()}
    assert {"library_list", "library_open", "library_export_md", "library_export_docx",
            "library_delete", "library_undo"} <= names


def test_continue_saves_the_text_on_screen_not_only_the_new_part(ctx) -> None:
    params = make_params(max_new_tokens=16, seed=2)
    steps = list(stream_reply(ctx, request(), kind="blog", title="Post", params=params,
                              messages=[{"role": "user", "content": "Continue."}],
                              draft_prefix="The first half, already written.\n\n"))
    shown = steps[-1][0]
    [draft] = ctx.store.list(user="local")
    assert ctx.store.get(draft.id, user="local").content == "The first half, already written.\n\n" + shown


def test_a_refused_run_leaves_no_empty_draft_in_the_list(ctx) -> None:
    import gradio as gr

    params = make_params(max_new_tokens=16)
    with pytest.raises(gr.Error, match="empty"):
        for _ in stream_reply(ctx, request(), kind="blog", title="nothing", params=params,
                              messages=[{"role": "user", "content": "   "}]):
            pass
    assert ctx.store.list(user="local") == []
    assert ctx.store.last_unfinished(user="local") is None


def test_open_a_chat_draft_back_into_the_chat_tab(ctx) -> None:
    import gradio as gr

    from writing.ui.openers import Openers
    from writing.ui.tabs.chat import build_chat_tab

    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    run(ctx, request(), kind="chat", title="Hi", messages=messages)
    [summary] = ctx.store.list(user="local")
    draft = ctx.store.get(summary.id, user="local")
    ctx.openers = Openers()
    with gr.Blocks() as app:
        with gr.Tabs(elem_id="studio-tabs") as ctx.tabs:
            build_chat_tab(ctx)
            build_library_tab(ctx)
    chatbot = next(b for b in app.blocks.values() if getattr(b, "elem_id", None) == "chat-history")
    opener = ctx.openers.get("chat")
    assert opener is not None and opener.tab_id == "chat" and opener.outputs == [chatbot]
    [history] = opener.load(draft)
    assert history == [{"role": m["role"], "content": m["content"]} for m in draft.meta["messages"][1:]]
    assert [m["role"] for m in history] == ["user", "assistant"]


def test_a_trimmed_chat_still_saves_the_whole_conversation(ctx) -> None:
    system = {"role": "system", "content": "Be brief."}
    old = [{"role": "user", "content": "first question"}, {"role": "assistant", "content": "first answer"}]
    new = [{"role": "user", "content": "second question"}]
    params = make_params(max_new_tokens=8, seed=1)
    steps = list(stream_reply(ctx, request(), kind="chat", title="first question", params=params,
                              messages=[system, *new], draft_messages=[system, *old, *new]))
    [summary] = ctx.store.list(user="local")
    saved = ctx.store.get(summary.id, user="local").meta["messages"]
    assert [m["content"] for m in saved[:4]] == ["Be brief.", "first question", "first answer", "second question"]
    assert saved[4]["role"] == "assistant" and saved[4]["content"] == clean_text(steps[-1][0])


def test_space_without_storage_warns_that_drafts_are_temporary(ctx, monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    from writing.library import paths

    lib = Library(ctx)
    assert lib.notice() == ""
    monkeypatch.setenv("SPACE_ID", "someone/studio")
    monkeypatch.delenv("STUDIO_DATA_DIR")
    monkeypatch.setattr(paths, "SPACE_DATA", tmp_path / "no-data")
    assert "no persistent storage" in lib.notice()
