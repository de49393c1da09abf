"""Keeping the text a run or an edit replaces, for the Blog and Long-form tabs (writing/library/revisions.py).

- A Blog post is a chain of drafts: every run (Regenerate, Continue, Revise, a passage rewrite) saves a new
  draft. `Keeper(follow=True)` moves the post's history to the run's new draft and keeps the text it replaces
  there, once the run's first text arrives (a run refused or stopped before writing anything replaces
  nothing). Hand edits, restores and merges change the post's draft in place (`save_in_place`).
- A long-form section's history belongs to the document's draft (kind "longform") and the section's part
  key (`section_part`: its title). `keep_section` keeps a section's text before it is replaced.

Nothing here raises into a run: a storage problem (a full quota) is shown once as a warning, and the
writing goes on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gradio as gr

from writing.compose.outline import Outline
from writing.library.revisions import DEFAULT_KEEP, Revisions, section_part
from writing.ui.autosave import user_of

if TYPE_CHECKING:
    from writing.ui.context import UIContext


def revisions_of(ctx: UIContext) -> Revisions | None:
    """The revisions of the studio's drafts library (None without one)."""
    store = getattr(ctx, "store", None)
    if store is None:
        return None
    return Revisions(store, keep=getattr(ctx, "revisions_keep", None) or DEFAULT_KEEP)


def _warn(problem: Exception) -> None:
    try:
        gr.Warning(f"The earlier text could not be kept as a revision: {problem}", title="Revision not kept")
    except Exception:  # noqa: BLE001 - outside a request there is nobody to tell
        pass


class Keeper:
    """Keeps `old_text` (the text a run replaces) as a revision of `draft_id`/`part`, once.

    follow=True (a Blog post): the run's own draft (told through stream_reply's `on_draft`) becomes the post's
    draft: the history moves there and the old text is kept there.
    """

    def __init__(self, ctx: UIContext, request: gr.Request | None, *, draft_id: str | None, old_text: str,
                 cause: str, part: str = "", follow: bool = False):
        self.revisions = revisions_of(ctx)
        self.user = user_of(ctx, request)
        self.previous = draft_id
        self.new: str | None = None
        self.part = part
        self.old_text = old_text or ""
        self.cause = cause
        self.follow = follow
        self.kept = False
        self.doc_key: str | None = None  # a long-form document's key, when the caller needs it at the run's end

    def on_draft(self, draft_id: str | None) -> None:
        self.new = draft_id

    @property
    def draft_id(self) -> str | None:
        """The draft now holding the text: the run's own for a post, else the one given."""
        return (self.new or self.previous) if self.follow else self.previous

    def arrived(self) -> None:
        """The run's first text is here: keep what it replaces (once). Never raises."""
        if self.kept:
            return
        self.kept = True
        target = self.draft_id
        if self.revisions is None or target is None or not self.old_text.strip():
            return
        try:
            if self.follow and self.previous and self.new and self.previous != self.new:
                self.revisions.move(user=self.user, from_draft=self.previous, to_draft=self.new)
            self.revisions.record(user=self.user, draft_id=target, part=self.part, content=self.old_text,
                                  cause=self.cause)
        except Exception as exc:  # noqa: BLE001 - the run goes on
            _warn(exc)


def save_in_place(ctx: UIContext, request: gr.Request | None, draft_id: str | None, new_text: str, *,
                  cause: str | None) -> None:
    """Put `new_text` into a post's draft; with `cause`, the text it had is kept as a revision first.

    gr.Error when the draft is gone or the store refuses (quota): the text stays on screen."""
    revisions = revisions_of(ctx)
    if revisions is None or not draft_id:
        return
    user = user_of(ctx, request)
    try:
        before = ctx.store.get(draft_id, user=user).content
        if cause is not None and before != new_text:
            revisions.record(user=user, draft_id=draft_id, content=before, cause=cause)
        ctx.store.save(draft_id, user=user, content=new_text, status="done")
    except Exception as exc:  # noqa: BLE001 - StorageError, DraftNotFoundError: said, the text stays on screen
        raise gr.Error(f"Not saved: {exc}. The text stays on screen.") from None


def document_id(ctx: UIContext, request: gr.Request | None, key: Any) -> str | None:
    """The id of the long-form document draft saved under `key` (meta["doc"]), or None."""
    store = getattr(ctx, "store", None)
    if store is None or not isinstance(key, str) or not key:
        return None
    try:
        found = store.find_latest(user=user_of(ctx, request), kind="longform", meta_key="doc", meta_value=key)
    except Exception:  # noqa: BLE001 - no document yet, as far as revisions go
        return None
    return found.id if found is not None else None


def keep_section(ctx: UIContext, request: gr.Request | None, saved: Any, outline: Outline, index: int,
                 cause: str) -> None:
    """Keep section `index`'s text (about to be replaced) in its document's history. Never raises.

    `saved` is the tab's document draft (writing/ui/longform_draft.DocumentDraft): when the document was not
    saved yet, it is saved first (as it is now), so its history has a draft to belong to."""
    text = outline.sections[index].text if 0 <= index < len(outline.sections) else ""
    revisions = revisions_of(ctx)
    if revisions is None or not text.strip():
        return
    try:
        if saved.draft_id is None:
            saved.update(outline, force=True)
        if saved.draft_id is None:
            return
        revisions.record(user=user_of(ctx, request), draft_id=saved.draft_id, part=section_part(outline, index),
                         content=text, cause=cause)
    except Exception as exc:  # noqa: BLE001 - the writing goes on
        _warn(exc)
