"""The drafts library: every generation is a draft in one SQLite file, per user, never lost.

Durability choices (the promise is "nothing that was shown on screen is lost"):
- WAL journal: a writer killed mid-save leaves the last committed version readable; readers never
  block the autosaving writer.
- synchronous=FULL: every commit is fsynced, so a committed save also survives a power cut or an OS
  crash (NORMAL in WAL mode only survives a process crash). An autosave commits every few seconds,
  so the extra fsync costs nothing a writer notices (a few ms per save).
- Deletes are soft (a `deleted` time), so Undo is a restore, not a re-create.
- Optimistic versioning: every draft has a `version`, raised by each save of its content. A save that
  carries the version it started from (`expected_version=`) is refused with ConflictError when the
  draft was saved elsewhere in between (the Library, another tab, a streaming run), instead of
  overwriting that edit: the caller shows "changed elsewhere: reload / keep both".
- Bounded (writing/compose/limits.py): a draft over DRAFT_MAX_CHARS is refused before its words are
  counted, never shortened; every user's drafts share a storage quota (the `size` column: UTF-8
  bytes of text + metadata), so one user cannot fill the disk everyone's autosave needs.

Every call takes `user`: a draft of another user is indistinguishable from a missing one.
Import-light on purpose (stdlib only): the crash test starts a writer subprocess dozens of times.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from writing.compose.limits import DEFAULT_QUOTA_MB, DRAFT_MAX_CHARS, QUOTA_ENV
from writing.compose.limits import quota_bytes as _quota_bytes
from writing.compose.wordcount import count_words
from writing.errors import StudioError

KINDS = ("blog", "code", "chat", "outline", "section", "longform", "bible")  # bible: a "Suggest from text" reply
STATUSES = ("streaming", "done", "stopped", "error")
UNFINISHED = ("streaming", "stopped", "error")
SCHEMA_VERSION = 3
DB_NAME = "drafts.sqlite3"
TITLE_MAX = 200  # characters shown in the library; longer titles are shortened with an ellipsis
TRASH_RETENTION_S = 30 * 24 * 3600  # deleted drafts stay restorable (Undo) for 30 days, then are purged
DEFAULT_QUOTA = _quota_bytes(DEFAULT_QUOTA_MB)  # bytes per user; the studio passes --quota-mb / STUDIO_QUOTA_MB

_SCHEMA_V1 = """
CREATE TABLE drafts (
    id       TEXT PRIMARY KEY,
    user     TEXT NOT NULL,
    kind     TEXT NOT NULL,
    title    TEXT NOT NULL,
    content  TEXT NOT NULL,
    meta     TEXT NOT NULL DEFAULT '{}',
    status   TEXT NOT NULL,
    words    INTEGER NOT NULL,
    created  REAL NOT NULL,
    updated  REAL NOT NULL,
    deleted  REAL,                       -- soft delete time, NULL while the draft is live
    offered  INTEGER NOT NULL DEFAULT 0  -- 1 once the "resume unfinished draft" offer was answered
);
CREATE INDEX drafts_by_user ON drafts (user, deleted, updated DESC);
"""
# v2: a version per draft (optimistic locking) and its size in bytes (the per-user quota, summed per row).
_SCHEMA_V2 = """
ALTER TABLE drafts ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
ALTER TABLE drafts ADD COLUMN size INTEGER NOT NULL DEFAULT 0;
UPDATE drafts SET size = length(CAST(content AS BLOB)) + length(CAST(meta AS BLOB));
"""
# v3: the writer's workspace (issue #14). One table per concern, each read and written by its own module
# over this store's connection (DraftStore.transaction / DraftStore.read): the store stays the one owner
# of the file, its lock and its migrations.

# Earlier texts of a draft, or of one part of it (a long-form section): writing/library/revisions.py.
# ON DELETE CASCADE (foreign_keys is on): purging a draft, by any path, deletes its revisions with it.
_SCHEMA_V3_REVISIONS = """
CREATE TABLE revisions (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    user      TEXT NOT NULL,
    draft_id  TEXT NOT NULL REFERENCES drafts (id) ON DELETE CASCADE, -- the draft (a long-form document, a blog post)
    part      TEXT NOT NULL DEFAULT '',  -- '' = the whole draft, otherwise which part (a section)
    cause     TEXT NOT NULL,             -- why the text was replaced: regenerate, continue, edit, rewrite, ...
    content   TEXT NOT NULL,
    meta      TEXT NOT NULL DEFAULT '{}',
    created   REAL NOT NULL,
    size      INTEGER NOT NULL DEFAULT 0 -- UTF-8 bytes, counted in the user's quota
);
CREATE INDEX revisions_by_draft ON revisions (draft_id, part, created DESC);
CREATE INDEX revisions_by_user ON revisions (user, created);
"""

# Background document runs ("Write all sections" as a server-side job): writing/library/jobs.py.
_SCHEMA_V3_JOBS = """
CREATE TABLE jobs (
    id        TEXT PRIMARY KEY,
    user      TEXT NOT NULL,
    draft_id  TEXT,                      -- the long-form document draft the job writes into
    state     TEXT NOT NULL,             -- queued, running, paused, stopped, done, error, interrupted
    spec      TEXT NOT NULL DEFAULT '{}',-- JSON: brief, sampling params, which sections, options
    progress  TEXT NOT NULL DEFAULT '{}',-- JSON: outline with texts so far, current section, tokens, seconds
    error     TEXT NOT NULL DEFAULT '',
    created   REAL NOT NULL,
    updated   REAL NOT NULL
);
CREATE INDEX jobs_by_user ON jobs (user, updated DESC);
"""

# Reusable story bibles ("style sheets"), per user: writing/library/stylesheets.py.
_SCHEMA_V3_STYLESHEETS = """
CREATE TABLE stylesheets (
    id        TEXT PRIMARY KEY,
    user      TEXT NOT NULL,
    name      TEXT NOT NULL,
    bible     TEXT NOT NULL DEFAULT '{}',-- JSON: the named fields of a story bible
    created   REAL NOT NULL,
    updated   REAL NOT NULL,
    UNIQUE (user, name)
);
"""


# A user's bytes: their drafts (the trash included) and the earlier texts kept as revisions.
_USED = ("SELECT (SELECT COALESCE(SUM(size), 0) FROM drafts WHERE user = ?) "
         "+ (SELECT COALESCE(SUM(size), 0) FROM revisions WHERE user = ?)")


class StorageError(StudioError):
    """The drafts database could not be read or written (disk full, read-only folder, ...)."""


class DraftTooLargeError(StorageError):
    """A draft's text (or metadata) is over DRAFT_MAX_CHARS: refused whole, never shortened."""


class QuotaError(StorageError):
    """Saving this would take the user's drafts over their storage quota."""


class ConflictError(StudioError):
    """The draft was saved elsewhere since the caller read it (its version moved on)."""

    def __init__(self, message: str, *, draft_id: str, version: int):
        super().__init__(message)
        self.draft_id = draft_id
        self.version = version


class DraftNotFoundError(StudioError, KeyError):
    """No such draft for this user (a draft of another user looks exactly like a missing one)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "draft not found"


@dataclass(frozen=True)
class DraftSummary:
    id: str
    kind: str
    title: str
    words: int
    status: str
    updated: float
    created: float


@dataclass(frozen=True)
class Draft(DraftSummary):
    user: str = ""
    content: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    deleted: float | None = None
    version: int = 1  # raised by every save of the content (see ConflictError)


def clean_title(title: str) -> str:
    """A one-line title: whitespace collapsed, shortened to TITLE_MAX. Otherwise stored verbatim (data, not a path)."""
    if not isinstance(title, str):
        raise StudioError(f"title must be text, got {type(title).__name__}")
    one_line = " ".join(title[: TITLE_MAX * 8].split())  # bounded before splitting: a title is one line
    if len(one_line) > TITLE_MAX:
        one_line = one_line[: TITLE_MAX - 1].rstrip() + "…"
    return one_line or "Untitled"


def describe_db_error(exc: BaseException) -> str:
    """A sentence a writer can act on, for a sqlite3/OS error."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    text = str(exc)
    lowered = text.lower()
    if name == "SQLITE_FULL" or "disk is full" in lowered or "no space" in lowered or "too large" in lowered:
        return f"the disk is full ({text})"
    if name.startswith("SQLITE_READONLY") or "readonly" in lowered or "read-only" in lowered:
        return f"the data folder is read-only ({text})"
    if isinstance(exc, PermissionError) or "permission denied" in lowered or "not permitted" in lowered:
        return f"no permission to write the data folder ({text})"
    if name.startswith("SQLITE_IOERR"):
        # EIO, EFBIG, EROFS on an open file... SQLite does not pass errno on; say what it usually means.
        return f"writing to the data folder failed: the disk may be full, read-only or failing ({text}, {name})"
    if name.startswith("SQLITE_CANTOPEN") or "unable to open" in lowered:
        return f"the database file cannot be opened ({text})"
    if name.startswith("SQLITE_BUSY") or "locked" in lowered:
        return f"the database is busy in another program ({text})"
    return text or type(exc).__name__


def _check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise StudioError(f"unknown draft kind {kind!r} (expected one of: {', '.join(KINDS)})")
    return kind


def _check_status(status: str) -> str:
    if status not in STATUSES:
        raise StudioError(f"unknown draft status {status!r} (expected one of: {', '.join(STATUSES)})")
    return status


def _check_user(user: str) -> str:
    if not isinstance(user, str) or not user:
        raise StudioError("a draft needs a user (the logged-in name, or 'local')")
    return user


def _meta_json(meta: dict[str, Any] | None) -> str:
    try:
        text = json.dumps(meta or {}, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise StudioError(f"draft meta must be JSON data: {exc}") from None
    if len(text) > DRAFT_MAX_CHARS:
        raise DraftTooLargeError(f"the draft's metadata has {len(text):,} characters; a draft may have at most "
                                 f"{DRAFT_MAX_CHARS:,}. Nothing was saved.")
    return text


def check_content(content: Any) -> str:
    """Draft text within DRAFT_MAX_CHARS, checked before anything counts or copies it."""
    if not isinstance(content, str):
        raise StudioError(f"draft content must be text, got {type(content).__name__}")
    if len(content) > DRAFT_MAX_CHARS:
        raise DraftTooLargeError(f"the draft has {len(content):,} characters; a draft may have at most "
                                 f"{DRAFT_MAX_CHARS:,}. Nothing was saved: split it into several drafts.")
    return content


def _size(content: str, meta_json: str) -> int:
    return len(content.encode("utf-8", "surrogatepass")) + len(meta_json.encode("utf-8", "surrogatepass"))


def _megabytes(size: int) -> str:
    if size < 1024 * 1024:
        return f"{size / 1024:,.1f} KB"
    return f"{size / (1024 * 1024):,.1f} MB"


def _like_pattern(query: str) -> str:
    escaped = query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _in_transaction(conn: sqlite3.Connection) -> bool:
    """conn.in_transaction, False on a closed connection (where asking raises ProgrammingError)."""
    try:
        return conn.in_transaction
    except sqlite3.ProgrammingError:
        return False


class DraftStore:
    """One SQLite file; safe to share between threads (one connection, one lock)."""

    def __init__(self, path: str | Path, *, timeout_s: float = 10.0, quota_bytes: int | None = DEFAULT_QUOTA):
        self.path = Path(path)
        self.quota_bytes = quota_bytes  # per user; None = no quota
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # check_same_thread=False: gradio calls us from its worker threads; the lock serialises use.
            self._conn = sqlite3.connect(self.path, timeout=timeout_s, check_same_thread=False,
                                         isolation_level=None)  # autocommit; explicit BEGIN IMMEDIATE below
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(f"cannot open the drafts database at {self.path}: {describe_db_error(exc)}") from exc
        self._lock = threading.RLock()
        try:
            self._setup()
        except (OSError, sqlite3.Error) as exc:
            self._conn.close()
            raise StorageError(f"cannot open the drafts database at {self.path}: {describe_db_error(exc)}") from exc

    @classmethod
    def in_data_dir(cls, *, quota_bytes: int | None = DEFAULT_QUOTA) -> DraftStore:
        from writing.library.paths import data_dir

        try:
            folder = data_dir()
        except OSError as exc:
            raise StorageError(f"cannot create the data folder: {describe_db_error(exc)}") from exc
        return cls(folder / DB_NAME, quota_bytes=quota_bytes)

    def _setup(self) -> None:
        conn = self._conn
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise sqlite3.OperationalError(f"could not switch the database to WAL mode (got {mode})")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StorageError(f"the drafts database {self.path} is from a newer Writing Studio "
                               f"(schema {version}, this version knows {SCHEMA_VERSION}); upgrade to open it")
        if version < SCHEMA_VERSION:
            self._migrate()

    def _migrate(self) -> None:
        """Bring the schema up to SCHEMA_VERSION, one transaction; safe when two processes race to do it."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]  # re-read under the write lock
            if version < 1:
                for statement in _SCHEMA_V1.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            if version < 2:
                for statement in _SCHEMA_V2.split(";"):
                    if statement.strip():
                        conn.execute(statement)
            if version < 3:
                for schema in (_SCHEMA_V3_REVISIONS, _SCHEMA_V3_JOBS, _SCHEMA_V3_STYLESHEETS):
                    for statement in schema.split(";"):
                        if statement.strip():
                            conn.execute(statement)
            # Future migrations: `if version < 4: ALTER TABLE ...` here, in order.
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> DraftStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing -------------------------------------------------------------------------------

    def transaction(self) -> Any:
        """The store's write transaction for the workspace modules' own tables (revisions, jobs, ...)."""
        return self._transaction()

    def read(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """A read under the store's lock; sqlite/OS errors become StorageError."""
        return self._read(sql, args)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT under the lock; any failure rolls back and becomes StorageError."""
        with self._lock:
            conn = self._conn
            try:
                if not conn.in_transaction:
                    conn.execute("BEGIN IMMEDIATE")
                yield conn
                if conn.in_transaction:
                    conn.execute("COMMIT")
            except (sqlite3.Error, OSError) as exc:
                if _in_transaction(conn):
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass  # the original error is the one worth reporting
                raise StorageError(f"could not save the draft: {describe_db_error(exc)}") from exc
            except BaseException:
                if _in_transaction(conn):
                    conn.execute("ROLLBACK")
                raise

    def _read(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._conn.execute(sql, args).fetchall()
            except (sqlite3.Error, OSError) as exc:
                raise StorageError(f"could not read the drafts: {describe_db_error(exc)}") from exc

    def _row(self, conn: sqlite3.Connection, draft_id: str, user: str, *, deleted: bool = False) -> tuple:
        cond = "deleted IS NOT NULL" if deleted else "deleted IS NULL"
        row = conn.execute(
            f"SELECT id, kind, title, words, status, updated, created, user, content, meta, deleted, version "
            f"FROM drafts WHERE id = ? AND user = ? AND {cond}", (draft_id, user)).fetchone()
        if row is None:
            raise DraftNotFoundError(f"no draft {draft_id!r}" + (" in the trash" if deleted else ""))
        return row

    @staticmethod
    def _draft(row: tuple) -> Draft:
        try:
            meta = json.loads(row[9]) if row[9] else {}
        except ValueError:
            meta = {}
        return Draft(id=row[0], kind=row[1], title=row[2], words=row[3], status=row[4], updated=row[5],
                     created=row[6], user=row[7], content=row[8], meta=meta, deleted=row[10], version=row[11])

    def usage(self, *, user: str) -> int:
        """Bytes (UTF-8 text + metadata) of all of `user`'s drafts, the trash and the revisions included."""
        _check_user(user)
        return int(self._read(_USED, (user, user))[0][0])

    def make_room(self, conn: sqlite3.Connection, user: str, adding: int) -> None:
        """`_make_room` for the workspace modules' own rows (revisions), inside their transaction()."""
        self._make_room(conn, user, adding)

    def _make_room(self, conn: sqlite3.Connection, user: str, adding: int, *, freed: int = 0) -> None:
        """Refuse (QuotaError) a write that takes `user` over the quota; the user's trash is emptied first,
        then their oldest revisions (earlier texts) go before a save is refused."""
        if self.quota_bytes is None or adding <= freed:
            return

        def used() -> int:
            return int(conn.execute(_USED, (user, user)).fetchone()[0])

        if used() - freed + adding <= self.quota_bytes:
            return
        # Deleted drafts are the first to go: Undo for them ends here rather than blocking a save.
        conn.execute("DELETE FROM drafts WHERE user = ? AND deleted IS NOT NULL", (user,))
        over = used() - freed + adding - self.quota_bytes
        if over > 0:  # then the oldest revisions, just enough of them (a running total, oldest first)
            conn.execute("DELETE FROM revisions WHERE id IN (SELECT id FROM (SELECT id, size, SUM(size) OVER "
                         "(ORDER BY created, id) AS running FROM revisions WHERE user = ?) WHERE running - size < ?)",
                         (user, over))
        total = used() - freed + adding
        if total > self.quota_bytes:
            raise QuotaError(
                f"your drafts would take {_megabytes(total)}, over your storage quota of "
                f"{_megabytes(self.quota_bytes)} (--quota-mb / {QUOTA_ENV}). Nothing was saved: delete drafts "
                f"you no longer need (export them first), or ask whoever runs the studio for a larger quota")

    # --- the API --------------------------------------------------------------------------------

    def create(self, *, user: str, kind: str, title: str, content: str = "", meta: dict[str, Any] | None = None,
               status: str = "streaming") -> str:
        _check_user(user)
        _check_kind(kind)
        _check_status(status)
        check_content(content)  # before counting its words
        meta_json = _meta_json(meta)
        size = _size(content, meta_json)
        draft_id = uuid.uuid4().hex
        now = time.time()
        with self._transaction() as conn:
            self._make_room(conn, user, size)
            conn.execute(
                "INSERT INTO drafts (id, user, kind, title, content, meta, status, words, created, updated, size) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (draft_id, user, kind, clean_title(title), content, meta_json, status, count_words(content),
                 now, now, size))
        return draft_id

    def save(self, draft_id: str, *, user: str, content: str, title: str | None = None,
             meta: dict[str, Any] | None = None, status: str | None = None,
             expected_version: int | None = None) -> int:
        """Replace the content (and optionally title/meta/status) in one transaction; returns the new version.

        With `expected_version` (the version the caller read), a draft saved elsewhere since is not
        overwritten: ConflictError, naming the version it has now.
        """
        _check_user(user)
        check_content(content)  # before counting its words
        sets = ["content = ?", "words = ?", "updated = ?", "version = version + 1"]
        args: list[Any] = [content, count_words(content), time.time()]
        if title is not None:
            sets.append("title = ?")
            args.append(clean_title(title))
        meta_json = _meta_json(meta) if meta is not None else None
        if meta_json is not None:
            sets.append("meta = ?")
            args.append(meta_json)
        if status is not None:
            sets.append("status = ?")
            args.append(_check_status(status))
        with self._transaction() as conn:
            row = conn.execute("SELECT version, size, meta FROM drafts WHERE id = ? AND user = ? AND deleted IS NULL",
                               (draft_id, user)).fetchone()
            if row is None:
                raise DraftNotFoundError(f"no draft {draft_id!r}")
            current, old_size, old_meta = row
            if expected_version is not None and current != expected_version:
                raise ConflictError(
                    f"this draft changed elsewhere (version {current}, you had version {expected_version}): "
                    f"reload it, or keep both by saving your text as a new draft", draft_id=draft_id, version=current)
            size = _size(content, meta_json if meta_json is not None else old_meta)
            self._make_room(conn, user, size, freed=old_size)
            conn.execute(f"UPDATE drafts SET {', '.join(sets)}, size = ? WHERE id = ? AND user = ?",
                         (*args, size, draft_id, user))
            return current + 1

    def get(self, draft_id: str, *, user: str) -> Draft:
        _check_user(user)
        with self._lock:
            try:
                return self._draft(self._row(self._conn, draft_id, user))
            except sqlite3.Error as exc:
                raise StorageError(f"could not read the draft: {describe_db_error(exc)}") from exc

    def list(self, *, user: str, query: str | None = None, limit: int = 200,
             kind: str | None = None) -> list[DraftSummary]:
        """Live drafts of `user`, newest first; `query` matches title or text (substring, any script)."""
        _check_user(user)
        where = ["user = ?", "deleted IS NULL"]
        args: list[Any] = [user]
        if kind is not None:
            where.append("kind = ?")
            args.append(_check_kind(kind))
        if query and query.strip():
            # Substring LIKE rather than FTS: works for CJK (no word boundaries) and 1-character queries;
            # a personal library of thousands of drafts scans in milliseconds.
            pattern = _like_pattern(query.strip())
            where.append("(title LIKE ? ESCAPE '\\' OR content LIKE ? ESCAPE '\\')")
            args += [pattern, pattern]
        rows = self._read(
            f"SELECT id, kind, title, words, status, updated, created FROM drafts WHERE {' AND '.join(where)} "
            f"ORDER BY updated DESC, rowid DESC LIMIT ?", (*args, max(1, int(limit))))
        return [DraftSummary(*row) for row in rows]

    def rename(self, draft_id: str, *, user: str, title: str) -> str:
        """Set a new title (stored as text, whatever it contains); returns the title as stored."""
        _check_user(user)
        cleaned = clean_title(title)
        with self._transaction() as conn:
            cur = conn.execute("UPDATE drafts SET title = ?, updated = ? WHERE id = ? AND user = ? AND deleted IS NULL",
                               (cleaned, time.time(), draft_id, user))
            if cur.rowcount != 1:
                raise DraftNotFoundError(f"no draft {draft_id!r}")
        return cleaned

    def duplicate(self, draft_id: str, *, user: str, title: str | None = None) -> str:
        _check_user(user)
        new_id = uuid.uuid4().hex
        now = time.time()
        with self._transaction() as conn:
            row = self._row(conn, draft_id, user)
            source = self._draft(row)
            status = "done" if source.status == "streaming" else source.status
            size = _size(source.content, row[9])
            self._make_room(conn, user, size)  # a copy counts like any other draft
            conn.execute(
                "INSERT INTO drafts (id, user, kind, title, content, meta, status, words, created, updated, offered, "
                "size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?)",
                (new_id, user, source.kind, clean_title(title or f"{source.title} (copy)"), source.content,
                 row[9], status, source.words, now, now, size))
        return new_id

    def delete(self, draft_id: str, *, user: str) -> None:
        """Move to the trash (soft delete); `restore` undoes it."""
        _check_user(user)
        with self._transaction() as conn:
            cur = conn.execute("UPDATE drafts SET deleted = ? WHERE id = ? AND user = ? AND deleted IS NULL",
                               (time.time(), draft_id, user))
            if cur.rowcount != 1:
                raise DraftNotFoundError(f"no draft {draft_id!r}")

    def restore(self, draft_id: str, *, user: str) -> None:
        _check_user(user)
        with self._transaction() as conn:
            cur = conn.execute("UPDATE drafts SET deleted = NULL WHERE id = ? AND user = ? AND deleted IS NOT NULL",
                               (draft_id, user))
            if cur.rowcount != 1:
                raise DraftNotFoundError(f"no draft {draft_id!r} in the trash")

    def purge_trash(self, *, user: str, older_than_s: float = TRASH_RETENTION_S) -> int:
        """Really delete drafts of `user` trashed more than `older_than_s` ago; returns how many."""
        _check_user(user)
        with self._transaction() as conn:
            cur = conn.execute("DELETE FROM drafts WHERE user = ? AND deleted IS NOT NULL AND deleted < ?",
                               (user, time.time() - older_than_s))
            return cur.rowcount

    def purge_all_trash(self, *, older_than_s: float = TRASH_RETENTION_S) -> int:
        """`purge_trash` for every user at once (the studio runs it on start); returns how many."""
        with self._transaction() as conn:
            cur = conn.execute("DELETE FROM drafts WHERE deleted IS NOT NULL AND deleted < ?",
                               (time.time() - older_than_s,))
            return cur.rowcount

    def last_unfinished(self, *, user: str) -> Draft | None:
        """The newest live draft that did not finish (killed, stopped or failed) and was not offered yet."""
        _check_user(user)
        marks = ", ".join("?" for _ in UNFINISHED)
        with self._lock:
            try:
                row = self._conn.execute(
                    f"SELECT id FROM drafts WHERE user = ? AND deleted IS NULL AND offered = 0 AND status IN ({marks}) "
                    f"ORDER BY updated DESC, rowid DESC LIMIT 1", (user, *UNFINISHED)).fetchone()
                return None if row is None else self._draft(self._row(self._conn, row[0], user))
            except sqlite3.Error as exc:
                raise StorageError(f"could not read the drafts: {describe_db_error(exc)}") from exc

    def mark_offered(self, draft_id: str, *, user: str) -> None:
        """The user answered the resume offer for this draft: don't offer it again."""
        _check_user(user)
        with self._transaction() as conn:
            conn.execute("UPDATE drafts SET offered = 1 WHERE id = ? AND user = ?", (draft_id, user))

    def find_latest(self, *, user: str, kind: str, meta_key: str, meta_value: str) -> Draft | None:
        """Newest live draft of `kind` whose meta[meta_key] == meta_value (e.g. a chat's session)."""
        _check_user(user)
        _check_kind(kind)
        with self._lock:
            try:
                row = self._conn.execute(
                    "SELECT id FROM drafts WHERE user = ? AND kind = ? AND deleted IS NULL "
                    "AND json_extract(meta, '$.' || ?) = ? ORDER BY updated DESC, rowid DESC LIMIT 1",
                    (user, kind, meta_key, meta_value)).fetchone()
                return None if row is None else self._draft(self._row(self._conn, row[0], user))
            except sqlite3.Error as exc:
                raise StorageError(f"could not read the drafts: {describe_db_error(exc)}") from exc

    def integrity(self) -> str:
        """PRAGMA integrity_check's verdict ('ok' when healthy)."""
        rows = self._read("PRAGMA integrity_check", ())
        return "; ".join(str(r[0]) for r in rows)


def open_default_store(*, trash_retention_s: float = TRASH_RETENTION_S, quota_bytes: int | None = DEFAULT_QUOTA
                       ) -> tuple[DraftStore | None, str]:
    """The studio's store in the data dir, or (None, why) so the studio still runs and says drafts aren't saved.

    Drafts in the trash longer than `trash_retention_s` are purged here, for every user (the Library
    also purges its user's expired trash while the studio runs: see writing/ui/tabs/library.py).
    """
    try:
        store = DraftStore.in_data_dir(quota_bytes=quota_bytes)
    except StorageError as exc:
        return None, str(exc)
    try:
        store.purge_all_trash(older_than_s=trash_retention_s)
    except StorageError:
        pass  # a full disk may refuse even a DELETE: the trash waits for the next start, nothing is lost
    return store, ""


class Autosaver:
    """Saves one generation as it streams: at start, at most every `every_s` seconds, and at the end.

    Storage failures never raise into generation: the failure is kept in `.error` (a readable line;
    None after the next successful save) and the text stays with the caller, on screen.
    `draft_id=` continues an existing draft (a chat conversation) instead of creating one; pass the
    `version` it was read at.

    Every save carries the version this saver last wrote. If the draft was saved elsewhere meanwhile
    (edited in the Library while this run streams), the saver does not overwrite that edit and does not
    stop saving either: it FORKS, creating a new draft for this run's text ("… (continued)") and saving
    there from then on; `.conflict` says so once. Keeping both is the store's promise (nothing shown on
    screen is lost): stopping would lose the rest of the run if the page closed; overwriting would lose
    the edit.
    """

    def __init__(self, store: DraftStore | None, *, user: str, kind: str, title: str,
                 meta: dict[str, Any] | None = None, every_s: float = 3.0, draft_id: str | None = None,
                 version: int | None = None, clock: Callable[[], float] = time.monotonic):
        self.store = store
        self.user = user
        self.kind = _check_kind(kind)
        self.title = title
        self.meta = dict(meta or {})
        self.every_s = every_s
        self.draft_id = draft_id
        self.version = version  # of draft_id as this saver last read or wrote it (None: not checked)
        self.error: str | None = None
        self.conflict: str | None = None  # set once when the draft changed elsewhere and this run forked
        self.forked_from: str | None = None
        self.failures = 0
        self.saves = 0
        self._clock = clock
        self._last_save = float("-inf")
        self._last_text: str | None = None

    def start(self, text: str = "") -> str | None:
        """Create (or reopen) the draft with status 'streaming'; returns its id, None if storage failed."""
        self._write(text, "streaming", force=True)
        return self.draft_id

    def due(self) -> bool:
        """True when the next update() would save (lets callers skip building an expensive text)."""
        return self._clock() - self._last_save >= self.every_s

    def update(self, text: str, *, meta: dict[str, Any] | None = None) -> bool:
        """Save if `every_s` passed since the last save. True when a save happened now."""
        if meta is not None:
            self.meta = dict(meta)
        if not self.due():
            return False
        return self._write(text, "streaming")

    def finish(self, text: str, status: str = "done", *, meta: dict[str, Any] | None = None) -> bool:
        """Always save the final text with its final status ('done', 'stopped' or 'error')."""
        _check_status(status)
        if meta is not None:
            self.meta = dict(meta)
        return self._write(text, status, force=True)

    def _create(self, text: str, status: str) -> None:
        assert self.store is not None
        self.draft_id = self.store.create(user=self.user, kind=self.kind, title=self.title, content=text,
                                          meta=self.meta, status=status)
        self.version = 1

    def _write(self, text: str, status: str, *, force: bool = False) -> bool:
        if not force and text == self._last_text:
            return False
        self._last_save = self._clock()  # also after a failure: don't hammer a full disk on every token
        if self.store is None:
            self.error = "drafts are not being saved: the drafts database is not available"
            self.failures += 1
            return False
        try:
            if self.draft_id is None:
                self._create(text, status)
            else:  # no title: a rename in the library while this streams must stick
                try:
                    self.version = self.store.save(self.draft_id, user=self.user, content=text, meta=self.meta,
                                                   status=status, expected_version=self.version)
                except ConflictError:
                    self._fork(text, status)
        except Exception as exc:  # noqa: BLE001 - any storage failure must stay out of generation
            self.error = f"could not save the draft: {exc}" if not str(exc).startswith("could not") else str(exc)
            self.failures += 1
            return False
        self.error = None
        self.saves += 1
        self._last_text = text
        return True

    def _fork(self, text: str, status: str) -> None:
        """The draft was saved elsewhere: keep that version, and this run's text as a new draft."""
        self.forked_from = self.draft_id
        title = self.title
        try:
            assert self.store is not None and self.draft_id is not None
            title = self.store.get(self.draft_id, user=self.user).title
        except Exception:  # noqa: BLE001 - deleted meanwhile: the run's own title
            pass
        self.title = title if title.endswith("(continued)") else f"{title} (continued)"
        self._create(text, status)
        self.conflict = (f"“{title}” was changed elsewhere (e.g. edited in the Library) while this run was saving "
                         f"it. That version is kept as it is; this run is saved as a new draft, "
                         f"“{self.title}”.")
