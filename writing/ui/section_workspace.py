"""The Long-form tab's revisions and passage rewriting, for the section picked by its Section # box.

A section's history belongs to the document's draft (kind "longform", found by the tab's document key) and
the section's part key (writing/library/revisions.section_part: its title). The tab supplies:
- `tab.replace_section(request, n, text, doc, key, *brief_values) -> (*view outputs, doc key)`: put a text
  into section n of the outline and save the document (what "Save text" does);
- `tab.document_draft(request, key, brief, outline)`: the document's draft saver;
and its components (section_text, number, doc_state, doc_key, brief_inputs, view_outputs, sampling inputs).
No tab is imported here (layers: a tab uses this module, not the other way round).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gradio as gr

from writing.compose.outline import Outline
from writing.errors import StudioError
from writing.library.revisions import section_part
from writing.ui.passage import PassageEditor
from writing.ui.revision_keeper import Keeper, document_id, keep_section
from writing.ui.revisions_panel import Located, RevisionsPanel

if TYPE_CHECKING:
    from writing.ui.context import UIContext


def _section(doc: Any, n: Any) -> tuple[Outline, int]:
    try:
        outline = Outline.from_dict(doc)
    except StudioError as exc:
        raise gr.Error(f"There is no outline yet ({exc}).") from None
    try:
        index = int(n) - 1
    except (TypeError, ValueError):
        raise gr.Error(f"Section number must be a whole number, got {n!r}") from None
    if not 0 <= index < len(outline.sections):
        raise gr.Error(f"There is no section {n}: the outline has {len(outline.sections)} section(s).")
    return outline, index


class SectionWorkspace:
    def __init__(self, ctx: UIContext):
        self.ctx = ctx
        self.passage = PassageEditor(ctx, prefix="longform")
        self.panel = RevisionsPanel(ctx, prefix="longform")

    def render_passage(self) -> None:
        """Under the section's text box (inside "Edit section # by hand")."""
        self.passage.render()

    def render_panel(self) -> None:
        self.panel.render()

    def wire(self, tab: Any) -> None:
        ctx = self.ctx
        brief_inputs = list(tab.brief_inputs)
        n_brief = len(brief_inputs)
        where = [tab.number, tab.doc_state, tab.doc_key, *brief_inputs]

        def begin(request: gr.Request, _text: str, n: Any, doc: Any, key: Any, *brief: Any) -> Keeper:
            outline, index = _section(doc, n)
            saved = tab.document_draft(request, key, None, outline)
            keep_section(ctx, request, saved, outline, index, "rewrite")  # the section as the outline has it
            keeper = Keeper(ctx, request, draft_id=saved.draft_id, old_text="", cause="rewrite")
            keeper.doc_key = saved.key  # a document saved just now has a new key: the run's end saves into it
            return keeper

        def end(request: gr.Request, text: str, keeper: Keeper, n: Any, doc: Any, key: Any,
                *brief: Any) -> tuple[Any, ...]:
            return tab.replace_section(request, n, text, doc, getattr(keeper, "doc_key", key), *brief[:n_brief])

        def title(n: Any, doc: Any, _key: Any, *_brief: Any) -> str:
            outline, index = _section(doc, n)
            return f"{outline.title} · {outline.sections[index].title}"

        def meta(n: Any, doc: Any, key: Any, *_brief: Any) -> dict[str, Any]:
            outline, index = _section(doc, n)
            return {"section": index, "section_title": outline.sections[index].title, "document": outline.title,
                    "doc": key}

        self.passage.wire(box=tab.section_text, kind="section", sampling=tab.panel.inputs, context_inputs=where,
                          begin=begin, end=end, outputs=[*tab.view_outputs, tab.doc_key], title=title, meta=meta)

        def locate(request: gr.Request, key: Any, n: Any, doc: Any) -> Located | None:
            draft = document_id(ctx, request, key)
            if draft is None or not doc:
                return None
            try:
                outline, index = _section(doc, n)
            except gr.Error:  # no such section (yet): nothing to list, no toast while Section # is typed
                return None
            section = outline.sections[index]
            return Located(draft_id=draft, part=section_part(outline, index), current=section.text,
                           title=f"{outline.title} · {section.title}")

        def apply(request: gr.Request, text: str, n: Any, doc: Any, key: Any, *brief: Any) -> tuple[Any, ...]:
            return (*tab.replace_section(request, n, text, doc, key, *brief), text)

        self.panel.wire(locate=locate, locate_inputs=[tab.doc_key, tab.number, tab.doc_state], apply=apply,
                        apply_inputs=where, apply_outputs=[*tab.view_outputs, tab.doc_key, tab.section_text],
                        refresh_on=[tab.number, tab.doc_key])
