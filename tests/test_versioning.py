"""Lost updates (issue 13, part 5): optimistic versioning in the drafts store, the Library's
"changed elsewhere: reload / keep both", an autosave that forks instead of overwriting a Library edit,
and a chat transcript edited in the Library that the next chat turn does not overwrite.

The end-to-end tests use two gradio_client clients (two sessions) against a studio on 127.0.0.1.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from tests.support.hardening import serve
from tests.support.polling import wait_for as poll
from writing.library.store import SCHEMA_VERSION, Autosaver, ConflictError, DraftStore


@pytest.fixture
def store(tmp_path) -> Iterator[DraftStore]:
    opened = DraftStore(tmp_path / "drafts.db")
    yield opened
    opened.close()


def wait_for(check, timeout: float = 30.0, what: str = "condition") -> Any:
    return poll(check, timeout=timeout, what=what, every=0.02)


# ---------------------------------------------------------------- the store

def test_a_save_against_a_stale_version_is_refused(store):
    draft = store.create(user="ann", kind="blog", title="Post", content="v1", status="done")
    assert store.get(draft, user="ann").version == 1
    assert store.save(draft, user="ann", content="v2 from the library", expected_version=1) == 2
    with pytest.raises(ConflictError, match="changed elsewhere") as refused:
        store.save(draft, user="ann", content="v2 from another tab", expected_version=1)
    assert refused.value.version == 2
    assert store.get(draft, user="ann").content == "v2 from the library"
    assert store.save(draft, user="ann", content="v3", expected_version=2) == 3
    assert store.save(draft, user="ann", content="v4") == 4  # without a version: as before (no check)
    store.rename(draft, user="ann", title="Renamed")  # the title is not the content: no new version
    assert store.get(draft, user="ann").version == 4


def test_a_version_1_database_is_migrated(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    from writing.library.store import _SCHEMA_V1

    conn.executescript(_SCHEMA_V1)
    conn.execute("INSERT INTO drafts (id, user, kind, title, content, meta, status, words, created, updated) "
                 "VALUES ('d1', 'ann', 'blog', 't', 'héllo', '{}', 'done', 1, 0, 0)")
    conn.execute("PRAGMA user_version=1")
    conn.commit()
    conn.close()
    with DraftStore(path) as store:
        draft = store.get("d1", user="ann")
        assert draft.version == 1 and draft.content == "héllo"
        assert store.usage(user="ann") == len("héllo".encode()) + len(b"{}")
    migrated = sqlite3.connect(path)
    assert migrated.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
    tables = {row[0] for row in migrated.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"drafts", "revisions", "jobs", "stylesheets"} <= tables  # v3: the workspace's tables (#14)


def test_an_autosave_forks_instead_of_overwriting_an_edit_made_elsewhere(store):
    clock = [0.0]
    saver = Autosaver(store, user="ann", kind="blog", title="Run", every_s=1.0, clock=lambda: clock[0])
    draft = saver.start("The run so far")
    version = store.get(draft, user="ann").version
    store.save(draft, user="ann", content="Edited in the Library", expected_version=version)
    clock[0] += 5
    assert saver.update("The run so far, and more")
    assert saver.draft_id != draft and saver.forked_from == draft
    assert "changed elsewhere" in (saver.conflict or "") and "(continued)" in saver.conflict
    assert store.get(draft, user="ann").content == "Edited in the Library"  # the edit is kept
    fork = store.get(saver.draft_id, user="ann")
    assert fork.content == "The run so far, and more" and fork.title == "Run (continued)"
    saver.finish("The run so far, and more. The end.", "done")  # later saves go to the fork
    assert store.get(saver.draft_id, user="ann").content.endswith("The end.")
    assert store.get(draft, user="ann").content == "Edited in the Library"
    assert saver.error is None


# ---------------------------------------------------------------- the Library, two clients

class GatedEngine:
    """Writes `first`, waits until the test opens the gate, then writes `rest` (no timing assumptions)."""

    name, backend, dtype, context, busy = "gated", "test", "", 4096, False

    def __init__(self, first: str, rest: str):
        self.first, self.rest = first, rest
        self.gate = threading.Event()
        self.started = threading.Event()

    def count_tokens(self, messages: Any) -> int:
        return 10

    def stream(self, messages: Any, params: Any, cancel: Any = None, *, stats: Any = None) -> Iterator[str]:
        yield self.first
        self.started.set()
        self.gate.wait(60)
        yield self.rest
        if stats is not None:
            stats.finish_reason = "stop"


def test_library_save_from_a_stale_session_says_changed_elsewhere(tiny_engine, store):
    from gradio_client import Client

    draft = store.create(user="local", kind="blog", title="Shared", content="original", status="done")
    with serve(tiny_engine, store=store) as server:
        ann, bob = Client(server.url, verbose=False), Client(server.url, verbose=False)
        assert ann.predict(draft, api_name="/library_open")[1] == "original"
        assert bob.predict(draft, api_name="/library_open")[1] == "original"
        assert bob.predict(draft, "Bob's edit", api_name="/library_save") == "Saved your edits."
        message = ann.predict(draft, "Ann's edit", api_name="/library_save")
        assert "changed elsewhere" in message and "Reload" in message and "Keep both" in message
        assert store.get(draft, user="local").content == "Bob's edit"  # not overwritten
        # Bob saves again from the version his own save left him at; Ann reloads and then saves.
        assert bob.predict(draft, "Bob's second edit", api_name="/library_save") == "Saved your edits."
        assert ann.predict(draft, api_name="/library_open")[1] == "Bob's second edit"
        assert ann.predict(draft, "Ann's edit, after reloading", api_name="/library_save") == "Saved your edits."
        assert store.get(draft, user="local").content == "Ann's edit, after reloading"
        # A client that never opened the draft has nothing to check its save against: refused.
        carol = Client(server.url, verbose=False)
        assert "Open the draft first" in carol.predict(draft, "blind write", api_name="/library_save")
        assert store.get(draft, user="local").content == "Ann's edit, after reloading"


def test_keep_both_saves_the_edit_as_a_new_draft(store):
    from writing.ui.context import UIContext
    from writing.ui.tabs.library import LibraryTab

    ctx = UIContext(engine=SimpleNamespace(context=4096), store=store)
    tab = LibraryTab.__new__(LibraryTab)  # the handlers only, no components
    from writing.ui.tabs.library import Library

    tab.ctx, tab.lib = ctx, Library(ctx)
    me = SimpleNamespace(username=None)
    draft = store.create(user="local", kind="chat", title="Chat", content="**You:** hi", status="done",
                         meta={"session": "s1", "messages": [{"role": "user", "content": "hi"}]})
    *_opened, version, _box = tab.open_draft(draft, me)
    store.save(draft, user="local", content="changed by the other tab")
    message, kept_version, box = tab.do_save(draft, "my edit", version, me)
    assert "changed elsewhere" in message and box["visible"] is True and kept_version == {"__type__": "update"}
    new_id, message, box = tab.do_keep_both(draft, "my edit", me)
    assert new_id != draft and "Kept both" in message and box["visible"] is False
    copy = store.get(new_id, user="local")
    assert (copy.content, copy.kind, copy.title) == ("my edit", "chat", "Chat (my edit)")
    assert "session" not in copy.meta  # not the running chat's draft
    assert store.get(draft, user="local").content == "changed by the other tab"


def test_a_run_still_streaming_does_not_overwrite_a_library_edit(store):
    from gradio_client import Client

    engine = GatedEngine("Lighthouses stand on rocks. ", "They guide ships home.")
    with serve(engine, store=store) as server:
        writer, editor = Client(server.url, verbose=False), Client(server.url, verbose=False)
        job = writer.submit("Lighthouses", "", "", 200, [], "English", 0.8, 0.9, 20, 0.0, 1.0, 0.0, 64, 1,
                            api_name="/blog")
        assert engine.started.wait(60), "the run did not start"
        draft = wait_for(lambda: store.list(user="local"), what="the run's draft")[0]
        assert draft.status == "streaming"  # saved at the start of the run; its text follows every few seconds
        editor.predict(draft.id, api_name="/library_open")
        assert editor.predict(draft.id, "My own words.", api_name="/library_save") == "Saved your edits."
        engine.gate.set()
        final = job.result(timeout=60)
        assert final[0] == "Lighthouses stand on rocks. They guide ships home."
        assert store.get(draft.id, user="local").content == "My own words."  # the Library edit survived
        drafts = {d.title: d for d in store.list(user="local")}
        fork = drafts[f"{draft.title} (continued)"]
        assert store.get(fork.id, user="local").content == "Lighthouses stand on rocks. They guide ships home."
        assert fork.status == "done"


def test_a_chat_transcript_edited_in_the_library_is_not_overwritten_by_the_next_turn(store):
    from gradio_client import Client

    from tests.support.hardening import FixedTextEngine

    with serve(FixedTextEngine("Hello there."), store=store) as server:
        chat, library = Client(server.url, verbose=False), Client(server.url, verbose=False)
        shown, _notice = chat.predict("hi", [], api_name="/chat")
        draft = wait_for(lambda: store.list(user="local", kind="chat"), what="the chat draft")[0]
        wait_for(lambda: store.get(draft.id, user="local").status == "done", what="the turn to be saved")
        # Without an edit, the next turn continues the same draft (one draft per conversation)...
        shown, _notice = chat.predict("and again", shown, api_name="/chat")
        wait_for(lambda: "and again" in store.get(draft.id, user="local").content, what="the second turn")
        assert len(store.list(user="local", kind="chat")) == 1
        # ...but once the transcript was edited in the Library, the next turn leaves it alone.
        library.predict(draft.id, api_name="/library_open")
        assert library.predict(draft.id, "My cleaned-up transcript.", api_name="/library_save") == "Saved your edits."
        shown, _notice = chat.predict("one more", shown, api_name="/chat")
        chats = wait_for(lambda: [d for d in store.list(user="local", kind="chat") if d.id != draft.id],
                         what="a new chat draft")
        assert store.get(draft.id, user="local").content == "My cleaned-up transcript."
        newer = store.get(chats[0].id, user="local")
        assert "one more" in newer.content and "and again" in newer.content
