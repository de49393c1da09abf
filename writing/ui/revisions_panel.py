"""The Revisions panel shared by the Blog and Long-form tabs: earlier texts, a diff, restore, merge, .docx.

A tab renders the panel where it wants it (`render`), then wires it (`wire`) with two functions of its own:
- `locate(request, *locate_values) -> Located | None`: which draft and part the panel shows now (the Blog's
  post, the Long-form tab's section #) and its current text;
- `apply(request, new_text, *apply_values) -> tuple`: put a restored or merged text where it belongs (the
  tab's outputs `apply_outputs`). The panel keeps the text it replaces as a revision first.

The list shows each revision's time, cause and length; pick two (an earlier text or the current one), see
the word-level diff inline or side by side (writing/compose/diff.py, escaped HTML), restore the older one,
keep per changed paragraph the older or the newer version (merge), or download the comparison as a .docx of
tracked changes. Every action is admitted (rate limit) and bounded (the diff's caps) before any work.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import gradio as gr

from writing.compose.diff import changes, merge, render_inline, render_side_by_side, stats
from writing.errors import StudioError
from writing.library.export import export_comparison_docx
from writing.library.revisions import describe
from writing.ui import downloads
from writing.ui.autosave import user_of
from writing.ui.guard import admitted
from writing.ui.i18n import t
from writing.ui.revision_keeper import revisions_of

if TYPE_CHECKING:
    from writing.ui.context import UIContext

CURRENT = "current"
CURRENT_LABEL = "Current text / 当前文本"
VIEWS = [("Inline / 行内", "inline"), ("Side by side / 并排", "side")]
PREVIEW = 60  # characters of a changed paragraph shown in the merge list


@dataclass(frozen=True)
class Located:
    """What the panel is showing: a draft, one part of it ('' = all of it), its current text, a title."""

    draft_id: str
    part: str
    current: str
    title: str


def _preview(text: str) -> str:
    one_line = " ".join(text[:PREVIEW * 4].split())
    return (one_line[:PREVIEW] + "…") if len(one_line) > PREVIEW else (one_line or "(nothing)")


class RevisionsPanel:
    def __init__(self, ctx: UIContext, *, prefix: str):
        self.ctx = ctx
        self.prefix = prefix  # elem_id prefix: "blog", "longform"

    def render(self) -> None:
        p = self.prefix
        with gr.Accordion(t("rev_panel"), open=False, elem_id=f"{p}-revisions") as self.accordion:
            self.note = gr.Markdown("", elem_classes="studio-note", elem_id=f"{p}-rev-note")
            with gr.Row():
                self.older = gr.Dropdown([], value=None, label=t("rev_older"), elem_id=f"{p}-rev-older", scale=3)
                self.newer = gr.Dropdown([(CURRENT_LABEL, CURRENT)], value=CURRENT, label=t("rev_newer"),
                                         elem_id=f"{p}-rev-newer", scale=3)
                self.refresh_button = gr.Button(t("lib_refresh"), size="sm", elem_id=f"{p}-rev-refresh", scale=1)
            with gr.Row():
                self.view = gr.Radio(VIEWS, value="inline", label=t("rev_view"), elem_id=f"{p}-rev-view")
                self.compare_button = gr.Button(t("rev_compare"), size="sm", elem_id=f"{p}-rev-compare")
                self.restore_button = gr.Button(t("rev_restore"), size="sm", elem_id=f"{p}-rev-restore")
                self.docx = gr.DownloadButton(t("rev_docx"), size="sm", interactive=False, elem_id=f"{p}-rev-docx")
            self.diff = gr.HTML("", elem_id=f"{p}-rev-diff")
            self.choices = gr.CheckboxGroup([], value=[], label=t("rev_merge_choices"), elem_id=f"{p}-rev-merge")
            self.merge_button = gr.Button(t("rev_merge"), size="sm", elem_id=f"{p}-rev-apply-merge")

    def wire(self, *, locate: Callable[..., Located | None], locate_inputs: Sequence[Any],
             apply: Callable[..., tuple[Any, ...]], apply_inputs: Sequence[Any], apply_outputs: Sequence[Any],
             refresh_on: Sequence[Any] = ()) -> None:
        """`refresh_on`: components whose change re-lists the revisions (the Blog's post, the section #)."""
        self.locate, self.apply = locate, apply
        n_locate = len(locate_inputs)
        private: dict[str, Any] = {"queue": False, "api_visibility": "private"}
        listing = [self.older, self.newer, self.note]
        self.refresh_button.click(self.refresh, list(locate_inputs), listing, **private)
        self.accordion.expand(self.refresh, list(locate_inputs), listing, **private)
        for component in refresh_on:
            component.change(self.refresh, list(locate_inputs), listing, **private)
        self.compare_button.click(self.compare, [self.older, self.newer, self.view, *locate_inputs],
                                  [self.diff, self.choices, self.docx, self.note], **private)
        self.view.change(self.compare, [self.older, self.newer, self.view, *locate_inputs],
                         [self.diff, self.choices, self.docx, self.note], **private)

        # The request first: gradio puts it at its parameter's place, before the inputs that *values takes.
        def restore(request: gr.Request, older: Any, *values: Any) -> tuple[Any, ...]:
            return self.restore(older, values[:n_locate], values[n_locate:], request)

        def merged(request: gr.Request, older: Any, newer: Any, chosen: Any, *values: Any) -> tuple[Any, ...]:
            return self.merge(older, newer, chosen, values[:n_locate], values[n_locate:], request)

        outputs = [*apply_outputs, self.note]

        def relist(request: gr.Request, *values: Any) -> tuple[Any, ...]:
            return self.refresh(request, *values)[:2]  # the lists only: the note keeps saying what was done

        self.restore_button.click(restore, [self.older, *locate_inputs, *apply_inputs], outputs, **private) \
            .success(relist, list(locate_inputs), listing[:2], **private)
        self.merge_button.click(merged, [self.older, self.newer, self.choices, *locate_inputs, *apply_inputs],
                                outputs, **private).success(relist, list(locate_inputs), listing[:2], **private)

    # -- handlers ------------------------------------------------------------------------------------------------
    def _found(self, request: gr.Request | None, values: Sequence[Any]) -> Located | None:
        if revisions_of(self.ctx) is None:
            raise gr.Error("Revisions are kept in the drafts library, which is not available: "
                           + (getattr(self.ctx, "store_problem", "") or "no drafts database"))
        try:
            return self.locate(request, *values)
        except StudioError as exc:
            raise gr.Error(str(exc)) from None

    def refresh(self, request: gr.Request, *values: Any) -> tuple[Any, ...]:
        """The revision list of what the tab shows now; the newest revision against the current text."""
        admitted(self.ctx, request)
        if revisions_of(self.ctx) is None:
            return gr.update(), gr.update(), "Revisions are kept in the drafts library, which is not available."
        found = self._found(request, values)
        if found is None:
            return (gr.update(choices=[], value=None), gr.update(choices=[(CURRENT_LABEL, CURRENT)], value=CURRENT),
                    "No revisions yet: earlier texts are kept here when a text is regenerated, continued, revised, "
                    "edited or rewritten.")
        revisions = revisions_of(self.ctx)
        assert revisions is not None
        items = revisions.list(user=user_of(self.ctx, request), draft_id=found.draft_id, part=found.part)
        choices = [(describe(item), str(item.id)) for item in items]
        note = (f"{len(items)} earlier text(s) of “{found.title}”, newest first (at most {revisions.keep} are kept)."
                if items else f"No earlier texts of “{found.title}” yet.")
        return (gr.update(choices=[*choices, (CURRENT_LABEL, CURRENT)], value=choices[0][1] if choices else None),
                gr.update(choices=[*choices, (CURRENT_LABEL, CURRENT)], value=CURRENT), note)

    def _text(self, choice: Any, found: Located, request: gr.Request | None) -> tuple[str, str]:
        """(text, label) of a choice: the current text, or one of this draft part's revisions."""
        if choice in (None, ""):
            raise gr.Error("Pick two versions to compare (press Refresh to list the revisions).")
        if choice == CURRENT:
            return found.current, "current text"
        revisions = revisions_of(self.ctx)
        assert revisions is not None
        try:
            revision = revisions.get(choice, user=user_of(self.ctx, request))
        except StudioError as exc:
            raise gr.Error(f"{exc}: press Refresh.") from None
        if (revision.draft_id, revision.part) != (found.draft_id, found.part):
            raise gr.Error(f"no revision {choice!r} of “{found.title}”: press Refresh.")
        return revision.content, describe(revision)

    def compare(self, request: gr.Request, older: Any, newer: Any, view: Any, *values: Any) -> tuple[Any, ...]:
        admitted(self.ctx, request)
        found = self._found(request, values)
        if found is None:
            raise gr.Error("Nothing to compare yet.")
        (a, a_label), (b, b_label) = self._text(older, found, request), self._text(newer, found, request)
        try:
            html = (render_side_by_side(a, b, labels=(a_label, b_label)) if view == "side"
                    else render_inline(a, b))
            hunks = changes(a, b)
            path = export_comparison_docx(found.title, a, b, downloads.new_folder(), labels=(a_label, b_label))
        except (StudioError, ValueError) as exc:
            raise gr.Error(str(exc)) from None
        choices = [(f"¶ {n + 1}: {_preview(h.newer) if h.newer.strip() else '(removed) ' + _preview(h.older)}", n)
                   for n, h in enumerate(hunks)]
        inserted, deleted = stats([s for h in hunks for s in h.segments])
        note = (f"{a_label} → {b_label}: {len(hunks)} changed paragraph stretch(es), {inserted:,} word(s) added, "
                f"{deleted:,} removed." if hunks else f"{a_label} and {b_label} are the same text.")
        return (html, gr.update(choices=choices, value=[n for _label, n in choices]),
                gr.update(value=downloads.private(path), interactive=True), note)

    def restore(self, older: Any, locate_values: Sequence[Any], apply_values: Sequence[Any],
                request: gr.Request) -> tuple[Any, ...]:
        """The older version becomes the current text; the current text is kept as a revision ('restore')."""
        admitted(self.ctx, request)
        found = self._found(request, locate_values)
        if found is None:
            raise gr.Error("Nothing to restore yet.")
        if older == CURRENT:
            raise gr.Error("Pick an earlier text to restore (the first list).")
        text, label = self._text(older, found, request)
        revisions = revisions_of(self.ctx)
        assert revisions is not None
        try:
            revisions.restore(older, user=user_of(self.ctx, request), current=found.current)
        except StudioError as exc:
            raise gr.Error(f"Not restored: {exc}") from None
        return (*self.apply(request, text, *apply_values), f"Restored {label}; the text it replaced is kept as a "
                f"revision (cause “restore”).")

    def merge(self, older: Any, newer: Any, chosen: Any, locate_values: Sequence[Any], apply_values: Sequence[Any],
              request: gr.Request) -> tuple[Any, ...]:
        """Per changed paragraph stretch, the newer version where ticked, else the older: the current text."""
        admitted(self.ctx, request)
        found = self._found(request, locate_values)
        if found is None:
            raise gr.Error("Nothing to merge yet.")
        (a, _), (b, _) = self._text(older, found, request), self._text(newer, found, request)
        try:
            take = [int(n) for n in chosen or []]
            text = merge(a, b, take)
        except (StudioError, ValueError, TypeError) as exc:
            raise gr.Error(f"Not merged: {exc}") from None
        revisions = revisions_of(self.ctx)
        assert revisions is not None
        try:
            revisions.record(user=user_of(self.ctx, request), draft_id=found.draft_id, part=found.part,
                             content=found.current, cause="merge")
        except StudioError as exc:
            raise gr.Error(f"Not merged: {exc}") from None
        return (*self.apply(request, text, *apply_values), "Merged: the result is the current text; the text it "
                "replaced is kept as a revision (cause “merge”).")
