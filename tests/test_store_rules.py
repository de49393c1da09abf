"""Store rules the end-to-end tests do not pin (issue 16: the surviving mutants of writing/library/store.py):
what a writer reads for each kind of database failure, titles at the length cut, the per-user quota (trash
first, then the oldest revisions, then a clear refusal), versioned saves and ConflictError, schema migrations
from older files, and the Autosaver's cadence, errors and forks. A real SQLite file in tmp_path throughout."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from writing.compose.limits import DRAFT_MAX_CHARS
from writing.errors import StudioError
from writing.library.store import (
    _SCHEMA_V1,
    DB_NAME,
    SCHEMA_VERSION,
    TITLE_MAX,
    Autosaver,
    ConflictError,
    DraftNotFoundError,
    DraftStore,
    DraftTooLargeError,
    QuotaError,
    StorageError,
    clean_title,
    describe_db_error,
    open_default_store,
)

KB = 1024
MB = 1024 * 1024


@pytest.fixture
def store(tmp_path: Path):
    with DraftStore(tmp_path / DB_NAME, quota_bytes=None) as s:
        yield s


def quota_store(tmp_path: Path, quota: int) -> DraftStore:
    return DraftStore(tmp_path / DB_NAME, quota_bytes=quota)


class FakeClock:
    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def sqlite_error(text: str, name: str) -> sqlite3.OperationalError:
    exc = sqlite3.OperationalError(text)
    exc.sqlite_errorname = name  # what sqlite3 sets on a real error
    return exc


def add_revision(store: DraftStore, *, user: str, draft_id: str, size: int, created: float) -> None:
    with store.transaction() as conn:  # the way writing/library/revisions.py writes its rows
        conn.execute("INSERT INTO revisions (user, draft_id, part, cause, content, meta, created, size) "
                     "VALUES (?, ?, '', 'edit', ?, '{}', ?, ?)", (user, draft_id, "r" * size, created, size))


def revision_sizes(store: DraftStore, user: str) -> list[int]:
    return [row[0] for row in store.read("SELECT size FROM revisions WHERE user = ? ORDER BY created", (user,))]


# --- describe_db_error: what a writer reads for each failure ---------------------------------------------------


def real_errors(tmp_path: Path) -> dict[str, BaseException]:
    found: dict[str, BaseException] = {}
    path = tmp_path / "x.db"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode=WAL")
    writer.execute("CREATE TABLE t (a)")
    writer.execute("BEGIN IMMEDIATE")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    with pytest.raises(sqlite3.Error) as locked:
        other.execute("BEGIN IMMEDIATE")
    found["locked"] = locked.value
    writer.execute("ROLLBACK")
    reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    with pytest.raises(sqlite3.Error) as readonly:
        reader.execute("INSERT INTO t VALUES (1)")
    found["readonly"] = readonly.value
    with pytest.raises(sqlite3.Error) as cantopen:
        sqlite3.connect(tmp_path / "no-such-folder" / "x.db")
    found["cantopen"] = cantopen.value
    (tmp_path / "garbage.db").write_bytes(b"not a database at all " * 100)
    with pytest.raises(sqlite3.Error) as corrupt:
        sqlite3.connect(tmp_path / "garbage.db").execute("PRAGMA journal_mode=WAL")
    found["corrupt"] = corrupt.value
    for conn in (writer, other, reader):
        conn.close()
    return found


def test_real_sqlite_failures_read_as_what_they_mean(tmp_path: Path) -> None:
    errors = real_errors(tmp_path)
    assert describe_db_error(errors["locked"]) == "the database is busy in another program (database is locked)"
    assert describe_db_error(errors["readonly"]) == (
        "the data folder is read-only (attempt to write a readonly database)")
    assert describe_db_error(errors["cantopen"]) == "the database file cannot be opened (unable to open database file)"
    # No advice fits a corrupt file: the writer reads sqlite's own words, not a wrong guess.
    assert describe_db_error(errors["corrupt"]) == "file is not a database"


@pytest.mark.parametrize("exc", [
    sqlite_error("database or disk is full", "SQLITE_FULL"),
    sqlite_error("something odd", "SQLITE_FULL"),  # the error name alone is enough
    OSError(28, "No space left on device"),
    OSError("Disk is full"),
    sqlite3.DataError("string or blob too large"),
])
def test_a_full_disk_says_the_disk_is_full(exc: BaseException) -> None:
    message = describe_db_error(exc)
    assert message.startswith("the disk is full (")
    assert str(exc) in message  # the original words stay, for whoever reads the log


@pytest.mark.parametrize("exc", [
    sqlite_error("something odd", "SQLITE_READONLY_DBMOVED"),
    sqlite_error("attempt to write a readonly database", "SQLITE_READONLY"),
    OSError("attempt to write a READONLY database"),
    OSError(30, "Read-only file system"),
])
def test_a_read_only_folder_says_read_only(exc: BaseException) -> None:
    assert describe_db_error(exc) == f"the data folder is read-only ({exc})"


@pytest.mark.parametrize("exc", [
    PermissionError("something odd"),
    sqlite_error("Permission denied", "SQLITE_AUTH"),
    OSError("Operation not permitted"),
])
def test_no_permission_says_so(exc: BaseException) -> None:
    assert describe_db_error(exc) == f"no permission to write the data folder ({exc})"


def test_an_io_error_names_what_it_usually_means() -> None:
    message = describe_db_error(sqlite_error("disk I/O error", "SQLITE_IOERR_WRITE"))
    assert message.startswith("writing to the data folder failed: the disk may be full, read-only or failing")
    assert "disk I/O error" in message and "SQLITE_IOERR_WRITE" in message


@pytest.mark.parametrize("exc", [sqlite_error("something odd", "SQLITE_CANTOPEN_ISDIR"),
                                 OSError("Unable to open the file")])
def test_cannot_open_says_so(exc: BaseException) -> None:
    assert describe_db_error(exc) == f"the database file cannot be opened ({exc})"


@pytest.mark.parametrize("exc", [sqlite_error("something odd", "SQLITE_BUSY_SNAPSHOT"),
                                 sqlite3.OperationalError("database table is LOCKED")])
def test_busy_says_another_program_has_it(exc: BaseException) -> None:
    assert describe_db_error(exc) == f"the database is busy in another program ({exc})"


def test_an_unknown_error_is_its_own_text_or_its_type() -> None:
    assert describe_db_error(sqlite_error("no such table: drafts", "SQLITE_ERROR")) == "no such table: drafts"
    assert describe_db_error(ValueError("strange")) == "strange"
    assert describe_db_error(OSError()) == "OSError"  # never an empty sentence


# --- titles, kinds, sizes -------------------------------------------------------------------------------------


def test_titles_at_the_length_cut() -> None:
    assert clean_title("a" * TITLE_MAX) == "a" * TITLE_MAX  # exactly at the limit: kept whole
    long = clean_title("b" * (TITLE_MAX + 1))
    assert long == "b" * (TITLE_MAX - 1) + "…" and len(long) == TITLE_MAX
    # The cut never leaves a space before the ellipsis.
    assert clean_title("c" * (TITLE_MAX - 2) + " " + "d" * 10) == "c" * (TITLE_MAX - 2) + "…"
    assert clean_title("  \n\t ") == "Untitled"
    # Only the first TITLE_MAX * 8 characters are looked at (bounded before splitting).
    assert clean_title(" " * (TITLE_MAX * 8) + "tail") == "Untitled"
    with pytest.raises(StudioError, match="title must be text, got int"):
        clean_title(12)  # type: ignore[arg-type]


def test_bad_kind_status_and_user_say_what_is_expected(store: DraftStore) -> None:
    with pytest.raises(StudioError, match="^a draft needs a user"):
        store.create(user="", kind="blog", title="t")
    with pytest.raises(StudioError, match="expected one of: blog, code, chat, outline, section, longform, bible"):
        store.create(user="u", kind="poem", title="t")
    with pytest.raises(StudioError, match="expected one of: streaming, done, stopped, error"):
        store.create(user="u", kind="blog", title="t", status="paused")


def test_content_and_meta_type_and_size_errors(store: DraftStore) -> None:
    with pytest.raises(StudioError, match="draft content must be text, got bytes"):
        store.create(user="u", kind="blog", title="t", content=b"x")  # type: ignore[arg-type]
    with pytest.raises(StudioError, match="draft meta must be JSON data"):
        store.create(user="u", kind="blog", title="t", meta={"x": object()})
    with pytest.raises(DraftTooLargeError, match=f"{DRAFT_MAX_CHARS + 1:,} characters.*Nothing was saved"):
        store.create(user="u", kind="blog", title="t", content="x" * (DRAFT_MAX_CHARS + 1))
    # The metadata's JSON text is what is measured: {"k": "..."} is 9 characters more than the value.
    with pytest.raises(DraftTooLargeError, match=f"metadata has {DRAFT_MAX_CHARS + 1:,} characters.*Nothing was"):
        store.create(user="u", kind="blog", title="t", meta={"k": "m" * (DRAFT_MAX_CHARS - 8)})
    assert store.list(user="u") == []


def test_content_and_meta_exactly_at_the_limit_are_saved(store: DraftStore) -> None:
    draft_id = store.create(user="u", kind="blog", title="t", content="x" * DRAFT_MAX_CHARS,
                            meta={"k": "m" * (DRAFT_MAX_CHARS - 9)})
    draft = store.get(draft_id, user="u")
    assert len(draft.content) == DRAFT_MAX_CHARS and len(draft.meta["k"]) == DRAFT_MAX_CHARS - 9


def test_usage_counts_utf8_bytes_of_text_and_metadata(store: DraftStore) -> None:
    assert store.usage(user="u") == 0
    store.create(user="u", kind="blog", title="t", content="héllo", meta={"who": "é"})
    # Metadata is stored as UTF-8 JSON, not \u escapes: {"who": "é"} is 13 bytes, "héllo" 6.
    assert store.usage(user="u") == 6 + len('{"who": "é"}'.encode())
    raw = store.read("SELECT meta FROM drafts WHERE user = ?", ("u",))[0][0]
    assert raw == '{"who": "é"}'
    assert store.usage(user="someone else") == 0


def test_draft_not_found_messages(store: DraftStore) -> None:
    for call in (lambda: store.get("nope", user="u"), lambda: store.save("nope", user="u", content="x"),
                 lambda: store.rename("nope", user="u", title="t"), lambda: store.delete("nope", user="u")):
        with pytest.raises(DraftNotFoundError) as caught:
            call()
        assert str(caught.value) == "no draft 'nope'"  # not KeyError's repr
    with pytest.raises(DraftNotFoundError) as caught:
        store.restore("nope", user="u")
    assert str(caught.value) == "no draft 'nope' in the trash"
    assert str(DraftNotFoundError()) == "draft not found"


# --- opening, schema, migrations --------------------------------------------------------------------------------


def test_store_creates_missing_folders_and_waits_timeout_s_on_a_busy_file(tmp_path: Path) -> None:
    with DraftStore(tmp_path / "a" / "b" / DB_NAME) as s:
        assert s.read("PRAGMA busy_timeout") == [(10_000,)]  # the default: 10 s before "busy"
    with DraftStore(tmp_path / "c" / DB_NAME, timeout_s=0.25) as s:
        assert s.read("PRAGMA busy_timeout") == [(250,)]


def test_opening_while_another_program_saves_does_not_wait_for_it(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    with DraftStore(path) as s:
        draft_id = s.create(user="u", kind="blog", title="t", content="kept")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process is in the middle of a save
    try:
        with DraftStore(path, timeout_s=0) as s:  # an up-to-date file needs no write lock to open
            assert s.get(draft_id, user="u").content == "kept"
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_open_failures_say_where_and_why(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StorageError) as caught:
        DraftStore(tmp_path / "file" / DB_NAME)  # a file where the folder should be
    assert str(caught.value).startswith(f"cannot open the drafts database at {tmp_path / 'file' / DB_NAME}: ")
    assert "Not a directory" in str(caught.value) or "exists" in str(caught.value)
    (tmp_path / "bad.sqlite3").write_bytes(b"not a database at all " * 100)
    with pytest.raises(StorageError) as caught:
        DraftStore(tmp_path / "bad.sqlite3")
    assert str(caught.value) == f"cannot open the drafts database at {tmp_path / 'bad.sqlite3'}: file is not a database"


def test_a_database_that_cannot_use_wal_is_refused() -> None:
    with pytest.raises(StorageError, match="could not switch the database to WAL mode"):
        DraftStore(":memory:")  # an in-memory database has no WAL: a crash would lose everything


def v1_file(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    for statement in _SCHEMA_V1.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("INSERT INTO drafts (id, user, kind, title, content, meta, status, words, created, updated) "
                 "VALUES ('old', 'u', 'blog', 'Old', 'héllo world', '{\"a\": 1}', 'done', 2, 1.0, 2.0)")
    conn.execute("PRAGMA user_version=1")
    conn.close()


def test_a_version_1_file_is_migrated_with_versions_and_sizes(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    v1_file(path)
    with DraftStore(path) as s:
        draft = s.get("old", user="u")
        assert (draft.content, draft.meta, draft.version) == ("héllo world", {"a": 1}, 1)
        assert s.usage(user="u") == len("héllo world".encode()) + len('{"a": 1}')
        assert s.read("PRAGMA user_version") == [(SCHEMA_VERSION,)]
        assert s.read("SELECT count(*) FROM revisions") == [(0,)]
        assert s.save("old", user="u", content="new", expected_version=1) == 2


def test_a_version_2_file_gets_the_workspace_tables(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    v1_file(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript("ALTER TABLE drafts ADD COLUMN version INTEGER NOT NULL DEFAULT 1;"
                       "ALTER TABLE drafts ADD COLUMN size INTEGER NOT NULL DEFAULT 0;"
                       "UPDATE drafts SET version = 4, size = 19; PRAGMA user_version=2;")
    conn.close()
    with DraftStore(path) as s:
        assert s.get("old", user="u").version == 4  # v2's columns are not re-created
        assert s.usage(user="u") == 19
        tables = {row[0] for row in s.read("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"revisions", "jobs", "stylesheets"} <= tables


def test_a_failed_migration_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / DB_NAME
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE jobs (x)")  # someone else's table in the way of v3
    conn.close()
    with pytest.raises(StorageError, match="table jobs already exists"):
        DraftStore(path)
    conn = sqlite3.connect(path)
    assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")] == ["jobs"]
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    conn.close()


def test_a_closed_store_raises_storage_errors(tmp_path: Path) -> None:
    s = DraftStore(tmp_path / DB_NAME)
    draft_id = s.create(user="u", kind="chat", title="t", meta={"session": "s1"})
    s.close()
    calls = {"could not read the draft: ": lambda: s.get(draft_id, user="u"),
             "could not read the drafts: ": lambda: s.list(user="u"),
             "could not read the drafts:  ": lambda: s.last_unfinished(user="u"),
             "could not read the drafts:   ": lambda: s.find_latest(user="u", kind="chat", meta_key="session",
                                                                  meta_value="s1")}
    for prefix, call in calls.items():
        with pytest.raises(StorageError) as caught:
            call()
        assert str(caught.value) == prefix.rstrip() + " Cannot operate on a closed database."


def test_writes_on_a_closed_store_raise_storage_errors_and_change_nothing(tmp_path: Path) -> None:
    """A write after close() is a StorageError like any storage failure, not a raw sqlite3 error."""
    s = DraftStore(tmp_path / DB_NAME)
    draft_id = s.create(user="u", kind="blog", title="t", content="kept")
    s.close()
    writes = [lambda: s.create(user="u", kind="blog", title="new"),
              lambda: s.save(draft_id, user="u", content="lost?"),
              lambda: s.rename(draft_id, user="u", title="renamed"),
              lambda: s.delete(draft_id, user="u")]
    for write in writes:
        with pytest.raises(StorageError, match="^could not save the draft: Cannot operate on a closed database"):
            write()
    with DraftStore(tmp_path / DB_NAME) as reopened:
        draft = reopened.get(draft_id, user="u")
        assert (draft.content, draft.title) == ("kept", "t")


def test_a_failed_read_names_the_cause(store: DraftStore) -> None:
    with pytest.raises(StorageError, match="^could not read the drafts: no such table: missing_table$"):
        store.read("SELECT * FROM missing_table")
    assert store.read("SELECT ? + ?", (2, 3)) == [(5,)]


def test_data_dir_store_keeps_its_quota(isolated_user_state: Path, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    with DraftStore.in_data_dir(quota_bytes=1234) as s:
        assert s.quota_bytes == 1234 and s.path == isolated_user_state / DB_NAME
    store, why = open_default_store(quota_bytes=4321)
    assert why == "" and store is not None and store.quota_bytes == 4321
    store.close()
    (tmp_path / "blocker").write_text("x")
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "blocker" / "data"))
    with pytest.raises(StorageError, match="^cannot create the data folder: .*Not a directory"):
        DraftStore.in_data_dir()


# --- versioned saves --------------------------------------------------------------------------------------------


def test_save_raises_versions_and_refuses_a_stale_one(store: DraftStore) -> None:
    draft_id = store.create(user="u", kind="blog", title="t", content="one")
    assert store.get(draft_id, user="u").version == 1
    assert store.save(draft_id, user="u", content="two", expected_version=1) == 2
    with pytest.raises(ConflictError) as caught:
        store.save(draft_id, user="u", content="mine", expected_version=1)
    assert caught.value.draft_id == draft_id and caught.value.version == 2
    assert str(caught.value).startswith("this draft changed elsewhere (version 2, you had version 1): reload it")
    assert store.get(draft_id, user="u").content == "two"


def test_save_sets_title_meta_and_status_only_when_given(store: DraftStore) -> None:
    draft_id = store.create(user="alice", kind="blog", title="t", content="a", meta={"keep": 1})
    store.save(draft_id, user="alice", content="a b")
    kept = store.get(draft_id, user="alice")
    assert (kept.title, kept.meta, kept.status, kept.words) == ("t", {"keep": 1}, "streaming", 2)
    store.save(draft_id, user="alice", content="a b c", title="  New \n title ", meta={"new": "é"}, status="done")
    draft = store.get(draft_id, user="alice")
    assert (draft.title, draft.meta, draft.status, draft.version) == ("New title", {"new": "é"}, "done", 3)
    assert (draft.user, draft.deleted) == ("alice", None)
    assert draft.updated == store.list(user="alice")[0].updated > draft.created
    assert store.usage(user="alice") == len("a b c") + len('{"new": "é"}'.encode())


def test_create_defaults_to_an_empty_streaming_draft(store: DraftStore) -> None:
    draft = store.get(store.create(user="u", kind="blog", title="t"), user="u")
    assert (draft.content, draft.status, draft.words, draft.meta, draft.version) == ("", "streaming", 0, {}, 1)


def test_damaged_metadata_reads_as_empty(store: DraftStore) -> None:
    draft_id = store.create(user="u", kind="blog", title="t", content="text", meta={"a": 1})
    with store.transaction() as conn:
        conn.execute("UPDATE drafts SET meta = '{broken' WHERE id = ?", (draft_id,))
    draft = store.get(draft_id, user="u")
    assert draft.meta == {} and draft.content == "text"


def test_duplicate_of_a_streaming_draft_is_done_others_keep_their_status(store: DraftStore) -> None:
    streaming = store.create(user="u", kind="blog", title="Live", content="x", meta={"m": 1})
    stopped = store.create(user="u", kind="blog", title="Halted", content="y", status="stopped")
    copy = store.get(store.duplicate(streaming, user="u"), user="u")
    assert (copy.status, copy.title, copy.meta) == ("done", "Live (copy)", {"m": 1})
    assert store.get(store.duplicate(stopped, user="u", title="Mine"), user="u").status == "stopped"
    assert store.last_unfinished(user="u").id == stopped  # a copy is never offered for resuming


def test_search_escapes_backslash_and_underscore(store: DraftStore) -> None:
    windows = store.create(user="u", kind="code", title="C:\\Windows", content="")
    store.create(user="u", kind="code", title="CWindows", content="")
    store.create(user="u", kind="code", title="axb", content="")
    assert [d.id for d in store.list(user="u", query="C:\\Win")] == [windows]
    assert [d.title for d in store.list(user="u", query="a_b")] == []
    assert len(store.list(user="u", limit=0)) == 1  # at least one


def test_purge_all_trash_keeps_recent_trash(store: DraftStore) -> None:
    a = store.create(user="a", kind="blog", title="t")
    b = store.create(user="b", kind="blog", title="t")
    store.delete(a, user="a")
    store.delete(b, user="b")
    assert store.purge_all_trash(older_than_s=3600) == 0
    store.restore(a, user="a")
    store.delete(a, user="a")
    assert store.purge_all_trash(older_than_s=-1) == 2
    with pytest.raises(DraftNotFoundError):
        store.restore(b, user="b")


# --- the quota --------------------------------------------------------------------------------------------------


def test_quota_exactly_full_takes_nothing_more(tmp_path: Path) -> None:
    with quota_store(tmp_path, 100) as s:
        s.create(user="u", kind="blog", title="t", content="x" * 98)  # + "{}" = 100 bytes
        with pytest.raises(QuotaError):
            s.create(user="u", kind="blog", title="t", content="y")
        assert s.usage(user="u") == 100
        s.create(user="v", kind="blog", title="t", content="z" * 98)  # every user has their own quota


def test_quota_refusal_names_the_sizes_and_what_to_do(tmp_path: Path) -> None:
    with quota_store(tmp_path, 100 * KB) as s:
        with pytest.raises(QuotaError) as caught:
            s.create(user="u", kind="blog", title="t", content="x" * (150 * KB - 2))
        assert str(caught.value).startswith("your drafts would take 150.0 KB, over your storage quota of 100.0 KB "
                                            "(--quota-mb / STUDIO_QUOTA_MB). Nothing was saved: delete drafts")
        assert s.list(user="u") == []
    with DraftStore(tmp_path / "b.sqlite3", quota_bytes=100 * MB) as s, s.transaction() as conn:
        with pytest.raises(QuotaError, match="would take 150.0 MB, over your storage quota of 100.0 MB "):
            s.make_room(conn, "u", 150 * MB)
    with DraftStore(tmp_path / "c.sqlite3", quota_bytes=MB) as s, s.transaction() as conn:
        with pytest.raises(QuotaError, match="would take 2.0 MB, over your storage quota of 1.0 MB "):
            s.make_room(conn, "u", 2 * MB)
        s.make_room(conn, "u", MB)  # exactly the quota fits


def test_workspace_rows_count_against_what_the_user_already_has(tmp_path: Path) -> None:
    with quota_store(tmp_path, 1000) as s:
        s.create(user="u", kind="blog", title="t", content="x" * 598)  # 600 bytes
        with s.transaction() as conn:
            s.make_room(conn, "u", 400)  # a revision that exactly fits
            with pytest.raises(QuotaError, match="would take 1.0 KB"):
                s.make_room(conn, "u", 401)


def test_emptying_the_trash_may_fit_a_draft_exactly(tmp_path: Path) -> None:
    with quota_store(tmp_path, 1000) as s:
        gone = s.create(user="u", kind="blog", title="t", content="x" * 298)  # 300 bytes
        s.delete(gone, user="u")
        s.create(user="u", kind="blog", title="t", content="x" * 498)  # 500: 800 used
        s.create(user="u", kind="blog", title="t", content="y" * 498)  # 1300 with the trash, 1000 without
        assert s.usage(user="u") == 1000


def test_no_quota_takes_anything(tmp_path: Path) -> None:
    with DraftStore(tmp_path / DB_NAME, quota_bytes=None) as s, s.transaction() as conn:
        s.make_room(conn, "u", 10**12)


def test_a_user_over_quota_can_still_save_without_growing(tmp_path: Path) -> None:
    with DraftStore(tmp_path / DB_NAME, quota_bytes=None) as s:
        draft_id = s.create(user="u", kind="blog", title="t", content="x" * 198)
    with quota_store(tmp_path, 100) as s:  # the quota was lowered since
        s.save(draft_id, user="u", content="y" * 198)
        s.save(draft_id, user="u", content="y" * 150)
        with pytest.raises(QuotaError):
            s.save(draft_id, user="u", content="y" * 151)


def test_a_save_counts_the_new_size_not_both(tmp_path: Path) -> None:
    with quota_store(tmp_path, 1000) as s:
        gone = s.create(user="u", kind="blog", title="t", content="x" * 298)  # 300 bytes
        s.delete(gone, user="u")
        draft_id = s.create(user="u", kind="blog", title="t", content="x" * 398)  # 400: 700 used
        s.save(draft_id, user="u", content="y" * 498)  # 800: fits without touching the trash
        s.restore(gone, user="u")  # Undo still works
        s.delete(gone, user="u")
        s.save(draft_id, user="u", content="y" * 698)  # 1000 with the trash: exactly full, trash kept
        s.restore(gone, user="u")
        with pytest.raises(QuotaError):  # the live drafts alone would be 1100
            s.save(draft_id, user="u", content="y" * 798)
        assert s.get(draft_id, user="u").content == "y" * 698


def test_over_quota_the_users_trash_goes_first(tmp_path: Path) -> None:
    with quota_store(tmp_path, 1000) as s:
        gone = s.create(user="u", kind="blog", title="t", content="x" * 298)  # 300
        s.delete(gone, user="u")
        other = s.create(user="v", kind="blog", title="t", content="x" * 298)
        s.delete(other, user="v")
        draft_id = s.create(user="u", kind="blog", title="t", content="x" * 498)  # 800 used
        s.save(draft_id, user="u", content="y" * 748)  # 750 + 300 > 1000: the trash makes room
        assert s.usage(user="u") == 750
        with pytest.raises(DraftNotFoundError):
            s.restore(gone, user="u")
        s.restore(other, user="v")  # another user's trash is theirs
        s.create(user="u", kind="blog", title="t", content="z" * 248)  # exactly 1000
        assert s.usage(user="u") == 1000


def test_a_duplicate_counts_against_the_quota(tmp_path: Path) -> None:
    with quota_store(tmp_path, 500) as s:
        draft_id = s.create(user="u", kind="blog", title="t", content="x" * 298)
        with pytest.raises(QuotaError):
            s.duplicate(draft_id, user="u")
        assert len(s.list(user="u")) == 1


def test_over_quota_just_enough_of_the_oldest_revisions_go(tmp_path: Path) -> None:
    with quota_store(tmp_path, 1000) as s:
        draft_id = s.create(user="u", kind="blog", title="t", content="x" * 98)  # 100
        for created, size in ((3.0, 100), (1.0, 100), (2.0, 100), (4.0, 100)):
            add_revision(s, user="u", draft_id=draft_id, size=size, created=created)
        add_revision(s, user="v", draft_id=draft_id, size=100, created=0.5)
        assert s.usage(user="u") == 500
        s.create(user="u", kind="blog", title="t", content="y" * 648)  # 650: 150 over, 2 oldest go
        assert revision_sizes(s, "u") == [100, 100]
        assert s.read("SELECT created FROM revisions WHERE user = 'u' ORDER BY created") == [(3.0,), (4.0,)]
        assert s.usage(user="u") == 950
        assert revision_sizes(s, "v") == [100]
        s.create(user="u", kind="blog", title="t", content="z" * 49)  # 51: exactly 1 byte over
        assert s.read("SELECT created FROM revisions WHERE user = 'u'") == [(4.0,)]
        add_revision(s, user="u", draft_id=draft_id, size=100, created=5.0)  # now 1001 bytes
        s.save(draft_id, user="u", content="w" * 148)  # 100 -> 150 bytes: 51 over, only the oldest goes
        assert s.read("SELECT created FROM revisions WHERE user = 'u'") == [(5.0,)]
        assert s.usage(user="u") == 150 + 650 + 51 + 100


# --- the Autosaver ----------------------------------------------------------------------------------------------


def test_autosaver_cadence_same_text_and_final_status(store: DraftStore) -> None:
    clock = FakeClock(100.0)
    saver = Autosaver(store, user="u", kind="blog", title="t", meta={"a": 1}, clock=clock)
    assert (saver.error, saver.conflict, saver.forked_from) == (None, None, None)
    draft_id = saver.start("a")
    assert store.get(draft_id, user="u").meta == {"a": 1}
    clock.now = 101.0
    assert not saver.due() and saver.update("a b") is False
    clock.now = 103.0  # exactly the default 3 s later
    assert saver.due() and saver.update("a b", meta={"b": 2}) is True
    assert store.get(draft_id, user="u").meta == {"b": 2}
    clock.now = 110.0
    assert saver.update("a b") is False  # nothing new to save
    assert saver.saves == 2
    assert saver.finish("a b", meta={"c": 3}) is True  # the final status is saved even if the text is not new
    draft = store.get(draft_id, user="u")
    assert (draft.status, draft.meta, draft.content, saver.saves) == ("done", {"c": 3}, "a b", 3)
    assert saver.start("a b") == draft_id  # resumed: streaming again
    assert store.get(draft_id, user="u").status == "streaming"


def test_autosaver_first_update_or_finish_creates_the_draft(store: DraftStore) -> None:
    saver = Autosaver(store, user="u", kind="blog", title="t", clock=FakeClock())
    assert saver.update("") is True and saver.draft_id is not None
    finisher = Autosaver(store, user="u", kind="blog", title="t2", clock=FakeClock())
    assert finisher.finish("done text", "stopped") is True
    assert store.get(finisher.draft_id, user="u").status == "stopped"


def test_autosaver_without_store_counts_each_failure() -> None:
    saver = Autosaver(None, user="u", kind="blog", title="t", clock=FakeClock())
    assert saver.start("x") is None
    assert saver.finish("x") is False
    assert saver.failures == 2 and saver.saves == 0
    assert saver.error == "drafts are not being saved: the drafts database is not available"


def test_autosaver_errors_read_once_as_could_not_save(tmp_path: Path) -> None:
    with quota_store(tmp_path, 50) as s:
        saver = Autosaver(s, user="u", kind="blog", title="t", clock=FakeClock())
        assert saver.start("x" * 100) is None
        assert saver.error.startswith("could not save the draft: your drafts would take")
        assert saver.finish("short") is True and saver.error is None
    with DraftStore(tmp_path / "failing.sqlite3") as s:
        saver = Autosaver(s, user="u", kind="blog", title="t", clock=FakeClock())
        saver.start("x")
        with s.transaction() as conn:  # every later save of a draft fails inside SQLite
            conn.execute("CREATE TRIGGER no_saves BEFORE UPDATE ON drafts BEGIN SELECT RAISE(ABORT, 'boom'); END")
        assert saver.finish("x y") is False
        assert saver.error == "could not save the draft: boom"  # the store's words, not prefixed twice


def test_autosaver_continues_an_existing_draft_at_its_version(store: DraftStore) -> None:
    draft_id = store.create(user="u", kind="chat", title="Chat", content="hi", status="done")
    version = store.save(draft_id, user="u", content="hi there")
    saver = Autosaver(store, user="u", kind="chat", title="ignored", draft_id=draft_id, version=version,
                      clock=FakeClock())
    assert saver.start("hi there, more") == draft_id
    assert store.get(draft_id, user="u").content == "hi there, more" and saver.version == version + 1
    stale = Autosaver(store, user="u", kind="chat", title="Chat", draft_id=draft_id, version=version,
                      clock=FakeClock())
    stale.start("stale text")
    assert stale.forked_from == draft_id and stale.draft_id != draft_id
    assert store.get(draft_id, user="u").content == "hi there, more"


def test_autosaver_forks_when_the_draft_is_edited_elsewhere(store: DraftStore) -> None:
    clock = FakeClock(0.0)
    saver = Autosaver(store, user="u", kind="blog", title="Run title", meta={"m": 1}, clock=clock)
    original = saver.start("first")
    store.rename(original, user="u", title="Renamed")
    store.save(original, user="u", content="edited in the Library")  # the Library's edit
    clock.now = 5.0
    assert saver.update("first second") is True
    fork = saver.draft_id
    assert fork != original and saver.forked_from == original and saver.version == 1
    assert store.get(original, user="u").content == "edited in the Library"
    forked = store.get(fork, user="u")
    assert (forked.title, forked.content, forked.status, forked.meta) == (
        "Renamed (continued)", "first second", "streaming", {"m": 1})
    assert saver.conflict == ("“Renamed” was changed elsewhere (e.g. edited in the Library) while this run was "
                              "saving it. That version is kept as it is; this run is saved as a new draft, "
                              "“Renamed (continued)”.")
    store.save(fork, user="u", content="edited again")  # the fork is edited too: no "(continued) (continued)"
    assert saver.finish("first second third") is True
    second = store.get(saver.draft_id, user="u")
    assert (second.title, second.status, saver.forked_from) == ("Renamed (continued)", "done", fork)
    assert saver.error is None and saver.saves == 3
