"""The assembled long-form document as ONE library draft (kind "longform"), kept up to date.

Section runs are drafts of their own (kind "section", saved by stream_reply); this is the whole
document with its `#`/`##` headings, so the Library's .md/.docx export of it keeps the structure.

The draft is found again by a document key (meta["doc"]) that the tab keeps in a gr.State: writing,
regenerating or continuing sections of the same document updates the same draft, never a copy. A
plan with another title is another document (a new key), so an earlier document is never overwritten.
meta also holds the outline (texts included) and the brief, so "Open in its tab" restores the tab.
No gradio here: the tab passes the user and session in.
"""

from __future__ import annotations

import uuid
from typing import Any

from writing.compose.longform import Brief, assemble
from writing.compose.outline import Outline
from writing.errors import StudioError
from writing.library.store import Autosaver, Draft, DraftStore


def new_key() -> str:
    return uuid.uuid4().hex


def _untouched(found: Draft) -> bool:
    """The saved document is still what its saved outline assembles to (not edited in the Library)."""
    try:
        return found.content == assemble(Outline.from_dict(found.meta.get("outline")))
    except StudioError:
        return False


class DocumentDraft:
    """Saves one document while its sections are written. Never raises: problems land in `.error`."""

    def __init__(self, store: DraftStore | None, *, user: str, key: str | None, session: str, brief: Brief | None,
                 outline: Outline, every_s: float = 3.0):
        self.brief = brief
        self.session = session
        self.key = key or new_key()
        draft_id = version = None
        if store is not None and key:
            try:
                found = store.find_latest(user=user, kind="longform", meta_key="doc", meta_value=key)
            except Exception:  # noqa: BLE001 - a failed lookup only means a new draft
                found = None
            saved_title = (found.meta.get("outline") or {}).get("title") if found is not None else None
            if found is not None and saved_title == outline.title and _untouched(found):
                draft_id, version = found.id, found.version  # a Library edit after this is not overwritten
            elif found is not None:
                # Another plan, or the document was edited by hand in the Library since it was written: another
                # document, the earlier one stays as it is.
                self.key = new_key()
        self.saver = Autosaver(store, user=user, kind="longform", title=outline.title or "Document",
                               meta=self._meta(outline), every_s=every_s, draft_id=draft_id,
                               version=version)

    @property
    def error(self) -> str | None:
        return self.saver.error

    @property
    def draft_id(self) -> str | None:
        return self.saver.draft_id

    def _meta(self, outline: Outline) -> dict[str, Any]:
        return {"doc": self.key, "session": self.session, "outline": outline.to_dict(),
                "brief": self.brief.to_dict() if self.brief is not None else None}

    def _worth_saving(self, outline: Outline) -> bool:
        # Headings alone are the plan (an outline draft has it): the document draft starts with its first text.
        return self.saver.draft_id is not None or any(s.text.strip() for s in outline.sections)

    def update(self, outline: Outline, *, force: bool = False) -> None:
        """Save every `every_s` seconds while a section streams; `force` at a section's end."""
        try:
            if not self._worth_saving(outline) or not (force or self.saver.due()):
                return
            text, meta = assemble(outline), self._meta(outline)
            if force:
                self.saver.finish(text, "streaming", meta=meta)
            else:
                self.saver.update(text, meta=meta)
        except Exception as exc:  # noqa: BLE001 - saving must never break the writing
            self.saver.error = f"could not save the document: {exc}"

    def finish(self, outline: Outline, status: str) -> None:
        """The run ended: 'done', 'stopped' (Stop, a closed page) or 'error'; what was written is kept."""
        try:
            if self._worth_saving(outline):
                self.saver.finish(assemble(outline), status, meta=self._meta(outline))
        except Exception as exc:  # noqa: BLE001
            self.saver.error = f"could not save the document: {exc}"
