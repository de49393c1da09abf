"""writing/library/revisions.py on a real SQLite file: keep, list, get, restore, retention, quota, purge, users."""

from __future__ import annotations

import pytest

from writing.compose.outline import Outline, Section
from writing.library.revisions import (
    DEFAULT_KEEP,
    KEEP_ENV,
    RevisionNotFoundError,
    Revisions,
    describe,
    keep_from_env,
    section_part,
)
from writing.library.store import DraftNotFoundError, DraftStore, QuotaError


@pytest.fixture
def store(tmp_path):
    with DraftStore(tmp_path / "drafts.sqlite3") as opened:
        yield opened


def _draft(store: DraftStore, user: str = "ana", text: str = "v1") -> str:
    return store.create(user=user, kind="blog", title="Post", content=text, status="done")


def test_record_list_get_with_time_and_cause(store):
    revisions = Revisions(store)
    draft = _draft(store)
    first = revisions.record(user="ana", draft_id=draft, content="first text", cause="regenerate")
    second = revisions.record(user="ana", draft_id=draft, content="second text 第二", cause="edit")
    listed = revisions.list(user="ana", draft_id=draft)
    assert [r.id for r in listed] == [second, first]  # newest first
    assert [r.cause for r in listed] == ["edit", "regenerate"]
    assert listed[0].words == 4 and listed[0].created >= listed[1].created
    got = revisions.get(first, user="ana")
    assert got.content == "first text" and got.cause == "regenerate" and got.draft_id == draft
    assert "regenerate" in describe(listed[1]) and f"#{first}" in describe(listed[1])
    # the same text twice in a row, or nothing at all, is not kept again
    assert revisions.record(user="ana", draft_id=draft, content="second text 第二", cause="edit") is None
    assert revisions.record(user="ana", draft_id=draft, content="  \n", cause="edit") is None
    assert len(revisions.list(user="ana", draft_id=draft)) == 2


def test_parts_are_separate_histories(store):
    revisions = Revisions(store)
    draft = _draft(store)
    outline = Outline("Doc", (Section("Intro"), Section("Body"), Section("Intro")))
    parts = [section_part(outline, i) for i in range(3)]
    assert parts == ["section:Intro", "section:Body", "section:Intro#2"]
    revisions.record(user="ana", draft_id=draft, part=parts[0], content="intro v1", cause="regenerate")
    revisions.record(user="ana", draft_id=draft, part=parts[2], content="second intro v1", cause="edit")
    assert [r.part for r in revisions.list(user="ana", draft_id=draft, part=parts[0])] == ["section:Intro"]
    assert revisions.list(user="ana", draft_id=draft, part=parts[1]) == []
    assert revisions.list(user="ana", draft_id=draft) == []  # the whole draft has no revisions of its own


def test_another_users_revision_is_missing(store):
    revisions = Revisions(store)
    draft = _draft(store, "ana")
    kept = revisions.record(user="ana", draft_id=draft, content="private words", cause="edit")
    with pytest.raises(RevisionNotFoundError):
        revisions.get(kept, user="bob")
    with pytest.raises(RevisionNotFoundError):
        revisions.restore(kept, user="bob", current="bob's text")
    assert revisions.list(user="bob", draft_id=draft) == []
    with pytest.raises(DraftNotFoundError):
        revisions.record(user="bob", draft_id=draft, content="intruder", cause="edit")
    with pytest.raises(RevisionNotFoundError):
        revisions.get("not a number", user="ana")
    bobs = _draft(store, "bob")
    assert revisions.move(user="bob", from_draft=draft, to_draft=bobs) == 0
    assert revisions.get(kept, user="ana").draft_id == draft


def test_restore_keeps_the_current_text_as_a_revision(store):
    revisions = Revisions(store)
    draft = _draft(store)
    old = revisions.record(user="ana", draft_id=draft, content="old text", cause="regenerate")
    restored = revisions.restore(old, user="ana", current="current text")
    assert restored.content == "old text"
    newest = revisions.list(user="ana", draft_id=draft)[0]
    assert newest.cause == "restore" and revisions.get(newest.id, user="ana").content == "current text"


def test_retention_keeps_the_newest_n_per_part(store):
    revisions = Revisions(store, keep=3)
    draft = _draft(store)
    for n in range(7):
        revisions.record(user="ana", draft_id=draft, content=f"text {n}", cause="edit")
        revisions.record(user="ana", draft_id=draft, part="section:A", content=f"a {n}", cause="edit")
    assert [revisions.get(r.id, user="ana").content for r in revisions.list(user="ana", draft_id=draft)] == \
        ["text 6", "text 5", "text 4"]
    assert len(revisions.list(user="ana", draft_id=draft, part="section:A")) == 3


def test_keep_setting_from_env(monkeypatch):
    monkeypatch.delenv(KEEP_ENV, raising=False)
    assert keep_from_env() == DEFAULT_KEEP
    monkeypatch.setenv(KEEP_ENV, "7")
    assert keep_from_env() == 7
    monkeypatch.setenv(KEEP_ENV, "0")
    with pytest.raises(ValueError, match="from 1 to"):
        keep_from_env()


def test_move_carries_a_posts_history_to_its_new_draft(store):
    revisions = Revisions(store, keep=2)
    old, new = _draft(store), _draft(store, text="v2")
    for n in range(2):
        revisions.record(user="ana", draft_id=old, content=f"old {n}", cause="revise")
    revisions.record(user="ana", draft_id=new, content="the text before v2", cause="regenerate")
    assert revisions.move(user="ana", from_draft=old, to_draft=new) == 2
    assert revisions.list(user="ana", draft_id=old) == []
    assert len(revisions.list(user="ana", draft_id=new)) == 2  # retention applies after a move too


def test_revisions_of_purged_drafts_are_deleted(store):
    revisions = Revisions(store)
    gone, kept = _draft(store), _draft(store)
    revisions.record(user="ana", draft_id=gone, content="history of gone", cause="edit")
    revisions.record(user="ana", draft_id=kept, content="history of kept", cause="edit")
    store.delete(gone, user="ana")
    assert len(revisions.list(user="ana", draft_id=gone)) == 1  # in the trash: Undo brings the history back too
    assert store.purge_trash(user="ana", older_than_s=-1) == 1
    assert revisions.list(user="ana", draft_id=gone) == []
    assert store.read("SELECT COUNT(*) FROM revisions WHERE draft_id = ?", (gone,))[0][0] == 0
    assert len(revisions.list(user="ana", draft_id=kept)) == 1
    with pytest.raises(DraftNotFoundError):
        revisions.record(user="ana", draft_id=gone, content="late", cause="edit")


def test_revisions_count_in_the_quota_and_go_before_a_save_is_refused(tmp_path):
    with DraftStore(tmp_path / "q.sqlite3", quota_bytes=10_000) as store:
        revisions = Revisions(store)
        draft = store.create(user="ana", kind="blog", title="Post", content="x" * 1_000, status="done")
        before = store.usage(user="ana")
        first = revisions.record(user="ana", draft_id=draft, content="a" * 3_000, cause="edit")
        assert store.usage(user="ana") >= before + 3_000
        revisions.record(user="ana", draft_id=draft, content="b" * 3_000, cause="edit")
        assert store.usage(user="bob") == 0  # per user
        # 1,000 + 6,000 used: a 4,000-byte save fits only once the oldest revision goes
        store.save(draft, user="ana", content="y" * 4_000)
        remaining = [r.id for r in revisions.list(user="ana", draft_id=draft)]
        assert first not in remaining and len(remaining) == 1
        assert store.usage(user="ana") <= 10_000
        with pytest.raises(QuotaError):
            revisions.record(user="ana", draft_id=draft, content="z" * 20_000, cause="edit")
        with pytest.raises(QuotaError):
            store.save(draft, user="ana", content="w" * 12_000)
        assert store.get(draft, user="ana").content == "y" * 4_000


def test_an_existing_v2_database_gains_the_revisions_table(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite3"
    with DraftStore(path) as store:
        draft = _draft(store)
    conn = sqlite3.connect(path)
    conn.executescript("DROP TABLE revisions; DROP TABLE jobs; DROP TABLE stylesheets; PRAGMA user_version=2;")
    conn.close()
    with DraftStore(path) as store:
        revisions = Revisions(store)
        kept = revisions.record(user="ana", draft_id=draft, content="after the upgrade", cause="edit")
        assert revisions.get(kept, user="ana").content == "after the upgrade"
