"""Style sheets (reusable story bibles) in a real SQLite drafts database, with two users."""

from __future__ import annotations

import sqlite3

import pytest

from writing.compose import limits
from writing.compose.bible import Bible, make_bible
from writing.errors import ParamError, StudioError
from writing.library.store import DraftStore
from writing.library.stylesheets import StyleSheetNotFoundError, StyleSheets

HOUSE = {"style_rules": "British spelling\nno passive voice", "avoid": "synergy"}


@pytest.fixture()
def store(tmp_path):
    with DraftStore(tmp_path / "drafts.sqlite3") as opened:
        yield opened


def test_save_list_get_apply_delete_for_one_user(store, tmp_path) -> None:
    sheets = StyleSheets(store)
    first = sheets.save(user="ann", name="  House   style ", bible=HOUSE)
    sheets.save(user="ann", name="Fiction", bible={"voice": "close third person"})
    assert [s.name for s in sheets.list(user="ann")] == ["Fiction", "House style"]
    got = sheets.get(first, user="ann")
    assert got.bible == make_bible(HOUSE) and got.name == "House style"
    # Saving under the same name replaces that sheet (same id), it does not add one.
    again = sheets.save(user="ann", name="House style", bible={"avoid": "leverage"})
    assert again == first and sheets.get(first, user="ann").bible == Bible(avoid="leverage")
    assert len(sheets.list(user="ann")) == 2
    # On disk, in the v3 table, as JSON: a fresh connection to the same file reads it back.
    with DraftStore(tmp_path / "drafts.sqlite3") as reopened:
        assert StyleSheets(reopened).get(first, user="ann").bible.avoid == "leverage"
    sheets.delete(first, user="ann")
    assert [s.name for s in sheets.list(user="ann")] == ["Fiction"]
    with pytest.raises(StyleSheetNotFoundError):
        sheets.get(first, user="ann")


def test_another_users_sheet_is_exactly_like_a_missing_one(store) -> None:
    sheets = StyleSheets(store)
    ann = sheets.save(user="ann", name="House style", bible=HOUSE)
    bob = sheets.save(user="bob", name="House style", bible={"avoid": "very"})  # same name, another user: fine
    assert ann != bob
    assert [s.bible for s in sheets.list(user="bob")] == [Bible(avoid="very")]
    for action in (lambda: sheets.get(ann, user="bob"), lambda: sheets.delete(ann, user="bob")):
        with pytest.raises(StyleSheetNotFoundError) as theirs:
            action()
        with pytest.raises(StyleSheetNotFoundError) as missing:
            sheets.get("no-such-id", user="bob")
        assert str(theirs.value).replace(ann, "ID") == str(missing.value).replace("no-such-id", "ID")
    assert sheets.get(ann, user="ann").bible == make_bible(HOUSE)  # bob's attempts changed nothing


def test_bad_input_is_refused_with_the_field_and_nothing_saved(store) -> None:
    sheets = StyleSheets(store)
    with pytest.raises(ParamError, match="name"):
        sheets.save(user="ann", name="   ", bible=HOUSE)
    with pytest.raises(ParamError, match="name"):
        sheets.save(user="ann", name="x" * (limits.STYLESHEET_NAME_MAX + 1), bible=HOUSE)
    with pytest.raises(ParamError, match="empty"):
        sheets.save(user="ann", name="Nothing", bible={})
    with pytest.raises(ParamError, match="bible.glossary"):
        sheets.save(user="ann", name="Big", bible={"glossary": "x" * (limits.BIBLE_FIELD_MAX + 1)})
    with pytest.raises(StudioError):
        sheets.save(user="", name="No one", bible=HOUSE)
    assert sheets.list(user="ann") == []


def test_per_user_cap(store, monkeypatch) -> None:
    monkeypatch.setattr(limits, "STYLESHEETS_PER_USER", 3)
    sheets = StyleSheets(store)
    for number in range(3):
        sheets.save(user="ann", name=f"Sheet {number}", bible=HOUSE)
    with pytest.raises(StudioError, match="most one user may keep"):
        sheets.save(user="ann", name="One more", bible=HOUSE)
    sheets.save(user="ann", name="Sheet 1", bible={"avoid": "x"})  # replacing one is still fine
    sheets.save(user="bob", name="Sheet 0", bible=HOUSE)  # the cap is per user
    assert len(sheets.list(user="ann")) == 3


def test_a_sheet_damaged_outside_the_studio_opens_empty(store, tmp_path) -> None:
    sheets = StyleSheets(store)
    sheet = sheets.save(user="ann", name="House style", bible=HOUSE)
    with sqlite3.connect(tmp_path / "drafts.sqlite3") as raw:
        raw.execute("UPDATE stylesheets SET bible = 'not json' WHERE id = ?", (sheet,))
    assert sheets.get(sheet, user="ann").bible == Bible()
