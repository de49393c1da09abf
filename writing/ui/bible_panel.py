"""The story bible panel, shared by the Long-form and Blog tabs.

    panel = build_bible_panel(ctx, tab="longform", topic=topic_box, language=language_dropdown,
                              source=doc_state)   # source: the outline state (long-form) or the draft text (Blog)
    panel.state      # gr.State: the fields as typed ({name: text}); the tab passes it with the brief
    panel.fields     # the seven textboxes, in writing.compose.bible.FIELDS order
    panel.fill(bible)  # {component: value} that shows a saved bible (the Library's "Open in its tab")

What it does: the named fields (validated when used: make_brief/make_bible, errors name the field), the
bible's token cost in every prompt (counted with the engine's own tokenizer), style sheets (save as,
apply = add the sheet's entries to the fields, delete; per user, writing/library/stylesheets.py), and
"Suggest from text": the model proposes entries from the text written so far (through stream_reply: the
model queue, Stop, the rate limit and the prompt caps as every generation), parsed into a table where the
writer ticks and edits each entry before "Add ticked entries" puts it into the fields.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import gradio as gr

from writing.compose import limits
from writing.compose.bible import (
    BY_NAME,
    FIELD_NAMES,
    FIELDS,
    Bible,
    add_entries,
    bible_tokens,
    field_values,
    make_bible,
    merge,
)
from writing.compose.bible_suggest import SUGGEST_MAX_NEW_TOKENS, parse_suggestions, suggest_messages
from writing.compose.language import wants_chinese
from writing.compose.longform import make_brief
from writing.compose.outline import Outline, Section
from writing.errors import StudioError
from writing.library.stylesheets import StyleSheets
from writing.ui.autosave import user_of
from writing.ui.guard import admitted
from writing.ui.i18n import t
from writing.ui.streaming import MODEL_QUEUE, stream_reply

if TYPE_CHECKING:
    from writing.ui.context import UIContext

PROPOSAL_HEADERS = ["add", "field", "entry"]
_BY_LABEL = {**{f.label.casefold(): f.name for f in FIELDS}, **{f.label_zh: f.name for f in FIELDS},
             **{f.name: f.name for f in FIELDS}}


def bible_of(value: Any) -> Bible:
    """The panel's state (or an API client's dict) as a Bible; a gr.Error naming the field when it is bad."""
    try:
        return make_bible(value or None)
    except StudioError as exc:
        raise gr.Error(str(exc)) from None


def cost_line(ctx: UIContext, bible: Bible, *, chinese: bool) -> str:
    """How much of every section's prompt the bible takes."""
    if bible.is_empty():
        return "Story bible: empty (costs no tokens)."
    tokens = bible_tokens(bible, ctx.engine.count_tokens, chinese=chinese)
    return (f"Story bible: **{tokens:,} tokens** in every prompt (a section's prompt budget is "
            f"{limits.SECTION_PROMPT_TOKENS:,} tokens for brief, bible, plan, summary and tail); "
            f"{bible.chars:,} of {limits.BIBLE_MAX_CHARS:,} characters.")


class BiblePanel:
    def __init__(self, ctx: UIContext, *, tab: str, topic: gr.components.Component,
                 language: gr.components.Component, source: gr.State | None = None):
        self.ctx = ctx
        self.tab = tab
        self.topic = topic
        self.language = language
        self.source = source

    # -- rendering -------------------------------------------------------------------------------------------
    def render(self) -> BiblePanel:
        tab = self.tab
        self.state = gr.State({})
        with gr.Accordion(t("bible_title"), open=False, elem_id=f"{tab}-bible"):
            gr.Markdown(t("bible_intro"), elem_classes="studio-note")
            self.fields = [gr.Textbox(label=t(f"bible_{f.name}"), placeholder=t(f"bible_{f.name}_ph"),
                                      lines=2 if f.name in ("premise", "voice") else 3, max_lines=12,
                                      elem_id=f"{tab}-bible-{f.name}") for f in FIELDS]
            self.cost = gr.Markdown("Story bible: empty (costs no tokens).", elem_classes="studio-note",
                                    elem_id=f"{tab}-bible-cost")
            with gr.Row(equal_height=True):
                self.sheet = gr.Dropdown([], value=None, label=t("bible_sheet"), allow_custom_value=False, scale=3,
                                         elem_id=f"{tab}-bible-sheet")
                self.apply = gr.Button(t("bible_apply"), size="sm", scale=1, elem_id=f"{tab}-bible-apply")
                self.delete = gr.Button(t("bible_delete"), size="sm", scale=1)
            with gr.Row(equal_height=True):
                self.name = gr.Textbox(label=t("bible_sheet_name"), placeholder=t("bible_sheet_name_ph"), scale=3,
                                       elem_id=f"{tab}-bible-name")
                self.save = gr.Button(t("bible_save"), size="sm", scale=1, elem_id=f"{tab}-bible-save")
            self.message = gr.Markdown("", elem_classes="studio-note", elem_id=f"{tab}-bible-message")
            if self.source is not None:
                gr.Markdown(t("bible_suggest_note"), elem_classes="studio-note")
                self.suggest = gr.Button(t("bible_suggest"), size="sm", elem_id=f"{tab}-bible-suggest")
                self.reply = gr.Textbox(label=t("bible_reply"), lines=4, max_lines=12, elem_id=f"{tab}-bible-reply")
                self.proposals = gr.Dataframe(headers=PROPOSAL_HEADERS, datatype=["bool", "str", "str"], type="array",
                                              interactive=True, column_count=3, wrap=True,
                                              label=t("bible_proposals"), elem_id=f"{tab}-bible-proposals")
                self.add = gr.Button(t("bible_add"), size="sm", elem_id=f"{tab}-bible-add")
        self._wire()
        return self

    @property
    def shown(self) -> list[gr.components.Component]:
        """What shows a bible: the state, the fields, the cost line."""
        return [self.state, *self.fields, self.cost]

    def fill(self, bible: Bible, *, chinese: bool = False) -> dict[Any, Any]:
        return dict(zip(self.shown, self.show(bible, chinese=chinese), strict=True))

    def reopened(self, meta: Any) -> list[Any]:
        """What `shown` gets when a draft opens back into the tab: the bible saved in its meta, else no change."""
        saved = meta.get("bible") if isinstance(meta, dict) else None
        if isinstance(saved, dict):
            try:
                return self.show(make_bible(saved))
            except StudioError:
                pass  # damaged outside the studio: the fields keep what they have
        return [gr.update() for _ in self.shown]

    def show(self, bible: Bible, *, chinese: bool = False) -> list[Any]:
        return [bible.to_dict(), *field_values(bible), cost_line(self.ctx, bible, chinese=chinese)]

    # -- wiring ----------------------------------------------------------------------------------------------
    def _wire(self) -> None:
        private: dict[str, Any] = {"api_visibility": "private"}
        lang = [self.topic, self.language]
        for box in self.fields:
            # Every change (typed, pasted, or filled by Apply / the Library) keeps the state current, as typed:
            # nothing is reformatted under the writer's cursor; the cost is recounted for the last of a burst.
            box.change(self.edited, [*self.fields, *lang], [self.state, self.cost], queue=False,
                      trigger_mode="always_last", **private)
        self.sheet.focus(self.sheets, None, self.sheet, queue=False, **private)
        self.save.click(self.save_sheet, [self.name, self.state], [self.sheet, self.message], queue=False, **private)
        self.apply.click(self.apply_sheet, [self.sheet, self.state, *lang], [*self.shown, self.message],
                         queue=False, **private)
        self.delete.click(self.delete_sheet, [self.sheet], [self.sheet, self.message], queue=False, **private)
        if self.source is not None:
            self.suggest.click(self.suggest_entries, [self.source, self.state, *lang],
                               [self.reply, self.proposals, self.message], concurrency_id=MODEL_QUEUE,
                               show_progress="minimal", **private)
            self.add.click(self.add_ticked, [self.proposals, self.state, *lang],
                           [*self.shown, self.proposals, self.message], queue=False, **private)

    # -- the fields ------------------------------------------------------------------------------------------
    def edited(self, *values: Any) -> tuple[dict[str, str], str]:
        *texts, topic, language = values
        typed = {name: str(text or "") for name, text in zip(FIELD_NAMES, texts, strict=True) if text}
        try:
            bible = make_bible(typed)
        except StudioError as exc:  # kept as typed: the writer shortens it; writing refuses it meanwhile
            return typed, f"⚠️ {exc}"
        return typed, cost_line(self.ctx, bible, chinese=wants_chinese(language, topic or ""))

    # -- style sheets ----------------------------------------------------------------------------------------
    def _sheets(self) -> StyleSheets:
        if getattr(self.ctx, "store", None) is None:
            raise gr.Error("Style sheets live in the drafts database, and this studio has none "
                           f"({self.ctx.store_problem or 'no data folder'}).")
        return StyleSheets(self.ctx.store)

    def _choices(self, request: gr.Request | None) -> list[tuple[str, str]]:
        return [(sheet.name, sheet.id) for sheet in self._sheets().list(user=user_of(self.ctx, request))]

    def sheets(self, request: gr.Request) -> Any:
        try:
            return gr.update(choices=self._choices(request))
        except (StudioError, gr.Error):
            return gr.update(choices=[])

    def save_sheet(self, name: str, state: Any, request: gr.Request) -> tuple[Any, str]:
        admitted(self.ctx, request)
        sheets = self._sheets()
        try:
            sheet_id = sheets.save(user=user_of(self.ctx, request), name=name or "", bible=bible_of(state))
        except StudioError as exc:
            raise gr.Error(str(exc)) from None
        return gr.update(choices=self._choices(request), value=sheet_id), f"Saved the style sheet “{name.strip()}”."

    def apply_sheet(self, sheet_id: str | None, state: Any, topic: str, language: str,
                    request: gr.Request) -> list[Any]:
        if not sheet_id:
            raise gr.Error("Pick a style sheet first.")
        try:
            sheet = self._sheets().get(sheet_id, user=user_of(self.ctx, request))
            bible = merge(bible_of(state), sheet.bible)  # the sheet's entries join what is there
        except StudioError as exc:
            raise gr.Error(str(exc)) from None
        return [*self.show(bible, chinese=wants_chinese(language, topic or "")),
                f"Applied “{sheet.name}”: its entries were added to the fields."]

    def delete_sheet(self, sheet_id: str | None, request: gr.Request) -> tuple[Any, str]:
        if not sheet_id:
            raise gr.Error("Pick a style sheet first.")
        admitted(self.ctx, request)
        try:
            self._sheets().delete(sheet_id, user=user_of(self.ctx, request))
        except StudioError as exc:
            raise gr.Error(str(exc)) from None
        return gr.update(choices=self._choices(request), value=None), "Deleted the style sheet."

    # -- Suggest from text -----------------------------------------------------------------------------------
    def _outline(self, source: Any) -> Outline:
        if isinstance(source, str):  # the Blog tab's draft
            limits.check_chars(source, limits.DRAFT_MAX_CHARS, field="draft")
            return Outline("Draft", (Section("Draft", text=source),))
        return Outline.from_dict(source) if source else Outline("Document", (Section("Document"),))

    def suggest_entries(self, source: Any, state: Any, topic: str, language: str,
                        request: gr.Request) -> Iterator[tuple[Any, ...]]:
        admitted(self.ctx, request)  # the rate limit, then the sizes, then the work
        try:
            outline = self._outline(source)
            bible = make_bible(state or None)
            brief = make_brief(topic=topic or outline.title or "the document", language=language or "auto",
                               total_words=1000, bible=bible)
            context = int(getattr(self.ctx.engine, "context", 0) or 4096)
            budget = min(limits.SECTION_PROMPT_TOKENS, context - SUGGEST_MAX_NEW_TOKENS)
            messages = suggest_messages(brief, outline, budget_tokens=budget,
                                        count_tokens=self.ctx.engine.count_tokens)
            params = self._params(request)
        except StudioError as exc:
            raise gr.Error(str(exc)) from None
        reply = ""
        keep = gr.update()
        for reply, _stats in stream_reply(self.ctx, request, kind="bible", title=f"Story bible: {brief.topic[:60]}",
                                          messages=messages, params=params):
            yield reply, keep, keep
        found = parse_suggestions(reply, bible)
        rows = [[True, BY_NAME[s.field].label, s.text] for s in found]
        note = (f"{len(rows)} proposed entr{'y' if len(rows) == 1 else 'ies'}: untick what you do not want, edit the "
                f"rest, then press Add ticked entries." if rows else
                "No entries could be read from the reply (it needs `## Field` headings and `- entry` lines).")
        yield reply, rows or [[False, "", ""]], note

    def _params(self, request: gr.Request | None) -> Any:
        user = user_of(self.ctx, request)
        presets = self.ctx.presets
        try:
            chosen = presets.get("precise", user)  # extraction, not invention: the low-temperature preset
        except StudioError:
            chosen = presets.for_tab(self.tab, user)
        return chosen.params().merged(max_new_tokens=SUGGEST_MAX_NEW_TOKENS)

    def add_ticked(self, rows: Any, state: Any, topic: str, language: str) -> list[Any]:
        bible = bible_of(state)
        left: list[list[Any]] = []
        added = 0
        try:
            for number, row in enumerate(rows or [], 1):
                cells = [*list(row), "", "", ""][:3]
                tick, field, entry = cells[0], str(cells[1] or "").strip(), str(cells[2] or "").strip()
                if not entry:
                    continue
                if tick not in (True, "true", "True", 1):
                    left.append([False, field, entry])
                    continue
                name = _BY_LABEL.get(field.casefold()) or _BY_LABEL.get(field)
                if name is None:
                    raise StudioError(f"proposal row {number}: unknown field {field!r} (use one of: "
                                      f"{', '.join(f.label for f in FIELDS)})")
                bible = add_entries(bible, name, [entry])
                added += 1
        except StudioError as exc:  # nothing is added: the fields and the table stay as they were
            raise gr.Error(str(exc)) from None
        shown = self.show(bible, chinese=wants_chinese(language, topic or ""))
        return [*shown, left or [[False, "", ""]], f"Added {added} entr{'y' if added == 1 else 'ies'} to the bible."]


def build_bible_panel(ctx: UIContext, *, tab: str, topic: gr.components.Component,
                      language: gr.components.Component, source: gr.State | None = None) -> BiblePanel:
    """Render the panel where it is called (inside the tab's layout) and wire its own events."""
    return BiblePanel(ctx, tab=tab, topic=topic, language=language, source=source).render()
