"""Style sheets: story bibles saved by name, per user, to apply to other documents and Blog briefs.

Stored in the drafts database's `stylesheets` table (schema v3, writing/library/store.py), through the
store's own transaction and read (one owner of the file and its lock). Every call takes `user`: another
user's sheet looks exactly like a missing one (StyleSheetNotFoundError), for get, apply and delete alike.

Bounded: a sheet is a validated Bible (writing/compose/bible.py caps), a name of at most
STYLESHEET_NAME_MAX characters, and at most STYLESHEETS_PER_USER sheets a user. Saving under a name that
exists replaces that sheet (the writer's "save as" of the same name is an update).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass

from writing.compose import limits
from writing.compose.bible import Bible, make_bible
from writing.errors import ParamError, StudioError
from writing.library.store import DraftStore


class StyleSheetNotFoundError(StudioError, KeyError):
    """No such style sheet for this user (another user's sheet looks exactly like a missing one)."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else "style sheet not found"


@dataclass(frozen=True)
class StyleSheet:
    id: str
    name: str
    bible: Bible
    created: float
    updated: float


def clean_name(name: object) -> str:
    """A one-line name of 1..STYLESHEET_NAME_MAX characters (checked before it is split)."""
    if not isinstance(name, str):
        raise ParamError("name", f"expected text, got {type(name).__name__}")
    limits.check_chars(name, limits.STYLESHEET_NAME_MAX * 4, field="name")
    one_line = " ".join(name.split())
    if not one_line:
        raise ParamError("name", "a style sheet needs a name")
    return limits.check_chars(one_line, limits.STYLESHEET_NAME_MAX, field="name")


def _user(user: object) -> str:
    if not isinstance(user, str) or not user:
        raise StudioError("a style sheet needs a user (the logged-in name, or 'local')")
    return user


class StyleSheets:
    """save / list / get / delete over one DraftStore."""

    def __init__(self, store: DraftStore):
        self.store = store

    def save(self, *, user: str, name: str, bible: Bible | dict) -> str:
        """Save `bible` as `name` (replacing this user's sheet of that name); returns the sheet's id."""
        user, name, checked = _user(user), clean_name(name), make_bible(bible)
        if checked.is_empty():
            raise ParamError("bible", "the story bible is empty: fill at least one field before saving it")
        data = json.dumps(checked.to_dict(), ensure_ascii=False)
        now = time.time()
        with self.store.transaction() as conn:
            row = conn.execute("SELECT id FROM stylesheets WHERE user = ? AND name = ?", (user, name)).fetchone()
            if row is not None:
                conn.execute("UPDATE stylesheets SET bible = ?, updated = ? WHERE id = ?", (data, now, row[0]))
                return str(row[0])
            count = conn.execute("SELECT COUNT(*) FROM stylesheets WHERE user = ?", (user,)).fetchone()[0]
            if count >= limits.STYLESHEETS_PER_USER:
                raise StudioError(f"you have {count} style sheets, the most one user may keep "
                                  f"({limits.STYLESHEETS_PER_USER}): delete one you no longer use first")
            sheet_id = uuid.uuid4().hex
            conn.execute("INSERT INTO stylesheets (id, user, name, bible, created, updated) VALUES (?, ?, ?, ?, ?, ?)",
                         (sheet_id, user, name, data, now, now))
            return sheet_id

    def list(self, *, user: str) -> list[StyleSheet]:
        """This user's sheets, by name."""
        rows = self.store.read("SELECT id, name, bible, created, updated FROM stylesheets WHERE user = ? "
                               "ORDER BY name COLLATE NOCASE, name", (_user(user),))
        return [self._sheet(row) for row in rows]

    def get(self, sheet_id: str, *, user: str) -> StyleSheet:
        rows = self.store.read("SELECT id, name, bible, created, updated FROM stylesheets WHERE id = ? AND user = ?",
                               (str(sheet_id), _user(user)))
        if not rows:
            raise StyleSheetNotFoundError(f"no style sheet {sheet_id!r}")
        return self._sheet(rows[0])

    def delete(self, sheet_id: str, *, user: str) -> None:
        with self.store.transaction() as conn:
            gone = conn.execute("DELETE FROM stylesheets WHERE id = ? AND user = ?", (str(sheet_id), _user(user)))
            if gone.rowcount == 0:
                raise StyleSheetNotFoundError(f"no style sheet {sheet_id!r}")

    @staticmethod
    def _sheet(row: tuple) -> StyleSheet:
        try:
            bible = make_bible(json.loads(row[2]) if row[2] else {})
        except (ValueError, StudioError):
            bible = Bible()  # a sheet damaged outside the studio opens empty rather than breaking the list
        return StyleSheet(id=row[0], name=row[1], bible=bible, created=row[3], updated=row[4])
