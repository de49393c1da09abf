"""Earlier texts of a draft, or of one part of it (a long-form section): kept whenever the text is replaced.

Every regeneration, continuation, revision, hand edit, passage rewrite, restore or merge keeps the text it
replaces here, with the time and the cause, in the store's `revisions` table (writing/library/store.py
creates it; this module is the only one that reads or writes it, through DraftStore.transaction/read).

- Per user, like drafts: a revision of another user's draft is indistinguishable from a missing one.
- A revision belongs to a draft (`draft_id`) and a part of it (`part`: '' = the whole draft; a section of
  a long-form document is `section_part(outline, index)`). Purging the draft deletes its revisions (the
  table's ON DELETE CASCADE), whatever purged it.
- Bounded: at most `keep` revisions per draft part (the newest; --revisions-keep / STUDIO_REVISIONS_KEEP,
  default DEFAULT_KEEP), and they count in the user's storage quota (DraftStore.usage); when a save would go
  over the quota, the oldest revisions go after the trash and before the save is refused.
- Restore keeps the text it replaces as a revision too, so a restore can itself be undone.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any

from writing.compose.limits import REVISIONS_KEEP_DEFAULT, REVISIONS_KEEP_ENV, REVISIONS_KEEP_MAX
from writing.compose.outline import Outline
from writing.compose.wordcount import count_words
from writing.errors import StudioError
from writing.library.store import DraftNotFoundError, DraftStore, StorageError, check_content

DEFAULT_KEEP = REVISIONS_KEEP_DEFAULT  # revisions kept per draft part (a blog post, one long-form section)
KEEP_ENV = REVISIONS_KEEP_ENV
KEEP_MAX = REVISIONS_KEEP_MAX
CAUSES = ("regenerate", "continue", "revise", "edit", "rewrite", "restore", "merge", "write")
PART_MAX = 400  # characters of a part key (a section title is at most 300)


class RevisionNotFoundError(StudioError, KeyError):
    """No such revision for this user (another user's revision looks exactly like a missing one)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "revision not found"


@dataclass(frozen=True)
class RevisionSummary:
    id: int
    draft_id: str
    part: str
    cause: str
    created: float
    words: int
    size: int


@dataclass(frozen=True)
class Revision(RevisionSummary):
    content: str = ""
    meta: dict[str, Any] | None = None


def keep_from_env(default: int = DEFAULT_KEEP) -> int:
    """STUDIO_REVISIONS_KEEP (or the default), checked like the flag."""
    raw = os.environ.get(KEEP_ENV, "").strip()
    return check_keep(int(raw) if raw else default)


def check_keep(keep: Any) -> int:
    if isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= KEEP_MAX:
        raise ValueError(f"revisions kept per draft part must be a whole number from 1 to {KEEP_MAX:,}, got {keep!r}")
    return keep


def section_part(outline: Outline, index: int) -> str:
    """The part key of a long-form section: its title, and which one of that title ('#2') when titles repeat.

    Titles, not positions: moving, adding or deleting other sections keeps a section's history; renaming a
    section starts a new one (the earlier history stays under the old title and is purged with the draft).
    """
    if not 0 <= index < len(outline.sections):
        raise StudioError(f"there is no section {index + 1}: the outline has {len(outline.sections)} section(s)")
    title = outline.sections[index].title
    same = sum(1 for section in outline.sections[:index] if section.title == title)
    return f"section:{title}" + (f"#{same + 1}" if same else "")


def _user(user: Any) -> str:
    if not isinstance(user, str) or not user:
        raise StudioError("a revision needs a user (the logged-in name, or 'local')")
    return user


def _check_part(part: Any) -> str:
    if not isinstance(part, str) or len(part) > PART_MAX:
        raise StudioError(f"a revision's part must be text of at most {PART_MAX} characters")
    return part


class Revisions:
    """The revisions of one store's drafts. Safe to share between threads (the store's lock)."""

    def __init__(self, store: DraftStore, *, keep: int = DEFAULT_KEEP):
        self.store = store
        self.keep = check_keep(keep)

    def record(self, *, user: str, draft_id: str, content: str, cause: str, part: str = "",
               meta: dict[str, Any] | None = None) -> int | None:
        """Keep `content`, the text being replaced, as the newest revision of (draft_id, part).

        Returns its id; None when there was nothing to keep (empty text, or the same text as the newest
        revision of that part). The oldest revisions beyond `keep` go. DraftNotFoundError when the draft
        is not this user's; QuotaError when even dropping old revisions cannot make room.
        """
        _user(user)
        check_content(content)
        _check_part(part)
        if cause not in CAUSES:
            raise StudioError(f"unknown revision cause {cause!r} (expected one of: {', '.join(CAUSES)})")
        if not content.strip():
            return None
        meta_json = json.dumps(meta or {}, ensure_ascii=False)
        size = len(content.encode("utf-8", "surrogatepass")) + len(meta_json.encode("utf-8", "surrogatepass"))
        with self.store.transaction() as conn:
            if conn.execute("SELECT 1 FROM drafts WHERE id = ? AND user = ?", (draft_id, user)).fetchone() is None:
                raise DraftNotFoundError(f"no draft {draft_id!r}")
            newest = conn.execute("SELECT content FROM revisions WHERE draft_id = ? AND part = ? AND user = ? "
                                  "ORDER BY created DESC, id DESC LIMIT 1", (draft_id, part, user)).fetchone()
            if newest is not None and newest[0] == content:
                return None
            self.store.make_room(conn, user, size)
            cur = conn.execute("INSERT INTO revisions (user, draft_id, part, cause, content, meta, created, size) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                               (user, draft_id, part, cause, content, meta_json, time.time(), size))
            self._trim(conn, user, draft_id, part)
            return int(cur.lastrowid)

    def _trim(self, conn: Any, user: str, draft_id: str, part: str) -> None:
        """Only the newest `keep` revisions of (draft_id, part) stay."""
        conn.execute("DELETE FROM revisions WHERE draft_id = ? AND part = ? AND user = ? AND id NOT IN "
                     "(SELECT id FROM revisions WHERE draft_id = ? AND part = ? AND user = ? "
                     "ORDER BY created DESC, id DESC LIMIT ?)", (draft_id, part, user, draft_id, part, user, self.keep))

    def list(self, *, user: str, draft_id: str, part: str = "") -> list[RevisionSummary]:
        """The revisions of (draft_id, part), newest first, without their text."""
        _user(user)
        rows = self.store.read("SELECT id, draft_id, part, cause, created, content, size FROM revisions "
                               "WHERE draft_id = ? AND part = ? AND user = ? ORDER BY created DESC, id DESC",
                               (draft_id, _check_part(part), user))
        return [RevisionSummary(id=r[0], draft_id=r[1], part=r[2], cause=r[3], created=r[4], words=count_words(r[5]),
                                size=r[6]) for r in rows]

    def get(self, revision_id: Any, *, user: str) -> Revision:
        _user(user)
        try:
            number = int(revision_id)
        except (TypeError, ValueError):
            raise RevisionNotFoundError(f"no revision {revision_id!r}") from None
        rows = self.store.read("SELECT id, draft_id, part, cause, created, content, size, meta FROM revisions "
                               "WHERE id = ? AND user = ?", (number, user))
        if not rows:
            raise RevisionNotFoundError(f"no revision {revision_id!r}")
        r = rows[0]
        try:
            meta = json.loads(r[7]) if r[7] else {}
        except ValueError:
            meta = {}
        return Revision(id=r[0], draft_id=r[1], part=r[2], cause=r[3], created=r[4], words=count_words(r[5]),
                        size=r[6], content=r[5], meta=meta)

    def restore(self, revision_id: Any, *, user: str, current: str) -> Revision:
        """The revision to put back; `current` (the text it replaces) is kept as a revision first (cause
        'restore'), so the restore can be undone. The caller writes the revision's text where it belongs."""
        revision = self.get(revision_id, user=user)
        self.record(user=user, draft_id=revision.draft_id, part=revision.part, content=current, cause="restore")
        return revision

    def move(self, *, user: str, from_draft: str, to_draft: str) -> int:
        """Carry a post's history to the draft that now holds its text (a Blog run saves a new draft each
        time). Both drafts must be this user's. Returns how many revisions moved."""
        _user(user)
        if from_draft == to_draft:
            return 0
        with self.store.transaction() as conn:
            owned = conn.execute("SELECT COUNT(*) FROM drafts WHERE id IN (?, ?) AND user = ?",
                                 (from_draft, to_draft, user)).fetchone()[0]
            if owned != 2:
                return 0
            cur = conn.execute("UPDATE revisions SET draft_id = ? WHERE draft_id = ? AND user = ?",
                               (to_draft, from_draft, user))
            for (part,) in conn.execute("SELECT DISTINCT part FROM revisions WHERE draft_id = ? AND user = ?",
                                        (to_draft, user)).fetchall():
                self._trim(conn, user, to_draft, part)
            return cur.rowcount


def describe(summary: RevisionSummary) -> str:
    """A one-line label: when, why, how long."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(summary.created))
    return f"#{summary.id} · {when} · {summary.cause} · {summary.words:,} words"


__all__ = ["CAUSES", "DEFAULT_KEEP", "KEEP_ENV", "Revision", "RevisionNotFoundError", "RevisionSummary", "Revisions",
           "StorageError", "check_keep", "describe", "keep_from_env", "section_part"]
