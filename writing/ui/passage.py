"""Rewrite a selected passage in place, under a text box (the Blog draft editor, a long-form section's text).

Select text in the box (gr.Textbox `.select` reports the span), pick an instruction (shorter, more formal,
expand, translate, fix grammar) or write one, press Rewrite selection: the model rewrites only that span and
it streams into the box while everything before and after it stays byte-identical (writing/compose/
rewrite.py splices it). The run goes through stream_reply like every other generation (admission, Stop,
autosave: the run's draft is the whole text, the part after the passage included). The text it replaces is
kept as a revision, through the tab's hooks:

- `begin(request, text, *context_values) -> Keeper` before the run (which draft/part the old text belongs to);
- `end(request, new_text, keeper, *context_values) -> tuple` after it, for the tab's `outputs` (put the new
  text where it belongs: the Blog's draft, the section in the outline and the document draft).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import gradio as gr

from writing.compose.rewrite import (
    SelectionError,
    check_span,
    fit,
    from_utf16,
    instruction_text,
    max_new_tokens,
    rewrite_messages,
    splice,
)
from writing.errors import StudioError
from writing.ui.guard import admitted
from writing.ui.i18n import t
from writing.ui.revision_keeper import Keeper
from writing.ui.sampling import params_from
from writing.ui.streaming import MODEL_QUEUE, meter, stream_reply

if TYPE_CHECKING:
    from writing.ui.context import UIContext

CHOICES = [("Shorter / 更简短", "shorter"), ("More formal / 更正式", "formal"), ("Expand / 扩写", "expand"),
           ("Translate to Chinese / 译成中文", "to_chinese"), ("Translate to English / 译成英文", "to_english"),
           ("Fix grammar / 修正语法", "grammar"), ("My own instruction / 自定义要求", "custom")]


def selection(text: str, evt: gr.SelectData) -> tuple[Any, str]:
    """The box's selection event -> the span state ([start, end, passage], Python indices) and a note."""
    index = evt.index if isinstance(evt.index, list | tuple) and len(evt.index) == 2 else None
    value = evt.value if isinstance(evt.value, str) else ""
    if index is None or not isinstance(text, str):
        return None, ""
    try:
        start, end = from_utf16(text, int(index[0]), int(index[1]))
        start, end = check_span(text, start, end, selected=value)
    except (SelectionError, TypeError, ValueError) as exc:
        return None, f"⚠️ {exc}"
    shown = " ".join(text[start:end].split())
    shown = shown[:80] + "…" if len(shown) > 80 else shown
    return [start, end, text[start:end]], f"Selected {end - start:,} characters: “{shown}”"


class PassageEditor:
    def __init__(self, ctx: UIContext, *, prefix: str):
        self.ctx = ctx
        self.prefix = prefix

    def render(self) -> None:
        p = self.prefix
        self.span = gr.State(None)  # [start, end, passage] of the box's current selection
        with gr.Row(equal_height=False):
            self.choice = gr.Dropdown(CHOICES, value="shorter", label=t("rw_instruction"), elem_id=f"{p}-rw-choice",
                                      scale=2, min_width=160)
            self.own = gr.Textbox(label=t("rw_own"), placeholder=t("rw_own_ph"), elem_id=f"{p}-rw-own", scale=3)
            self.button = gr.Button(t("rw_button"), size="sm", elem_id=f"{p}-rw-go", scale=1, min_width=120,
                                    elem_classes="studio-inline")
        self.note = gr.Markdown("", elem_classes="studio-note", elem_id=f"{p}-rw-note")

    def wire(self, *, box: gr.Textbox, kind: str, sampling: Sequence[Any], context_inputs: Sequence[Any],
             begin: Callable[..., Keeper], end: Callable[..., tuple[Any, ...]], outputs: Sequence[Any],
             title: Callable[..., str], meta: Callable[..., dict[str, Any] | None] | None = None) -> None:
        self.box, self.kind = box, kind
        self.begin, self.end, self.title, self.meta = begin, end, title, meta
        self.n_outputs = len(outputs)
        n_context = len(context_inputs)
        box.select(selection, [box], [self.span, self.note], queue=False, api_visibility="private")

        # The request first: gradio puts it at its parameter's place, before the inputs that *values takes.
        def rewrite(request: gr.Request, text: str, span: Any, choice: str, own: str,
                    *values: Any) -> Iterator[tuple[Any, ...]]:
            yield from self.rewrite(text, span, choice, own, values[:n_context], values[n_context:], request)

        box_outputs = [box, self.span, self.note, *outputs]
        self.button.click(rewrite, [box, self.span, self.choice, self.own, *context_inputs, *sampling], box_outputs,
                          concurrency_id=MODEL_QUEUE, show_progress="minimal", api_visibility="private")

    def rewrite(self, text: Any, span: Any, choice: Any, own: Any, context_values: Sequence[Any],
                sampling_values: Sequence[Any], request: gr.Request) -> Iterator[tuple[Any, ...]]:
        admitted(self.ctx, request)  # the rate limit first, then the sizes, then any work
        if not (isinstance(span, list | tuple) and len(span) == 3):
            raise gr.Error("Select the passage to rewrite first (drag over it in the text box).")
        try:
            start, end = check_span(text, span[0], span[1], selected=span[2])
            passage = text[start:end]
            instruction = instruction_text(str(choice or "shorter"), str(own or ""), passage)
            messages = rewrite_messages(text, start, end, instruction)
        except StudioError as exc:
            raise gr.Error(str(exc)) from None
        params = params_from(tuple(sampling_values))
        params = params.merged(max_new_tokens=max_new_tokens(passage, params.max_new_tokens))
        keeper = self.begin(request, text, *context_values)
        before, after = text[:start], text[end:]
        keep = [gr.update()] * self.n_outputs
        reply, stats, shown = "", None, text
        for reply, stats in stream_reply(self.ctx, request, kind=self.kind, title=self.title(*context_values),
                                         messages=messages, params=params, draft_prefix=before, draft_suffix=after,
                                         draft_meta=self.meta(*context_values) if self.meta else None,
                                         on_draft=keeper.on_draft):
            if not reply.strip():
                continue
            keeper.arrived()
            shown = splice(text, start, end, fit(reply, passage))
            yield shown, gr.update(), f"Rewriting… {meter(reply, stats)}", *keep
        if not reply.strip():
            yield text, span, "The model returned nothing: the passage is unchanged.", *keep
            return
        replacement = fit(reply, passage)
        final = before + replacement + after
        ended = meter(replacement, stats, running=False)
        yield (final, [start, start + len(replacement), replacement],
               f"Rewritten ({ended}). The earlier text is kept in Revisions.", *self.end(request, final, keeper,
                                                                                        *context_values))
