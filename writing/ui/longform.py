"""Long-form tab: brief -> outline (editable table) -> section-by-section expansion -> one document.

The whole document lives in one per-session gr.State: the outline as JSON-able data (writing.outline
Outline.to_dict(), section texts included), so every action is a pure function of (state, inputs)
from writing.longform / writing.outline. Generation goes through writing.ui.streaming.stream_reply,
so Stop, client disconnect, autosave and errors behave as on every other tab.

API (gradio_client), documented in the README:
    /outline(brief: dict, preset="") -> {"ok", "outline", "raw", "error"}
    /expand_section(brief: dict, outline: dict, index: int, previous_text="", mode="write", preset="")
        -> streams the section's text
"""

from __future__ import annotations

import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from writing.engine import GenerationStats
from writing.errors import StudioError
from writing.longform import (
    REPORT_HEADERS,
    Brief,
    Messages,
    Progress,
    StreamFn,
    assemble,
    brief_from_dict,
    estimate,
    expand,
    export_markdown,
    make_brief,
    outline_from_reply,
    outline_max_new_tokens,
    outline_messages,
    report,
    write_section,
)
from writing.outline import (
    TABLE_HEADERS,
    Outline,
    OutlineParseError,
    add_section,
    delete_section,
    edit_section,
    move_section,
    outline_from_rows,
    outline_to_rows,
)
from writing.params import SamplingParams
from writing.ui.sampling import build_sampling_panel, params_from
from writing.ui.streaming import MODEL_QUEUE, meter, session_of, stop_session, stream_reply

if TYPE_CHECKING:
    from writing.ui.app import UIContext

LANGUAGES = [("Auto (language of the topic) / 自动", "auto"), ("English", "English"), ("中文", "中文")]
EMPTY_DOC = "*The document appears here as the sections are written.*"


class _StopFlags:
    """Sessions whose writer pressed Stop during an expansion: the next section must not start.

    (A Stop between two sections finds no running generation to cancel, so expand() checks this too.)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stopped: set[str] = set()

    def clear(self, session: str) -> None:
        with self._lock:
            self._stopped.discard(session)

    def stop(self, session: str) -> None:
        with self._lock:
            self._stopped.add(session)

    def check(self, session: str) -> Callable[[], bool]:
        return lambda: session in self._stopped


def _brief(topic: str, audience: str, style: str, language: str, total_words: Any, sections: Any) -> Brief:
    try:
        return make_brief(topic=topic, audience=audience, style=style, language=language or "auto",
                          total_words=int(total_words or 0), sections=int(sections or 0))
    except (StudioError, ValueError, TypeError) as exc:
        raise gr.Error(str(exc)) from None


def _outline(data: Any) -> Outline:
    if not data:
        raise gr.Error("There is no outline yet: generate one, or type it in the outline text and press Parse.")
    try:
        return Outline.from_dict(data)
    except StudioError as exc:
        raise gr.Error(str(exc)) from None


def _index(number: Any, outline: Outline) -> int:
    """The section number shown to the writer (1-based) -> an index."""
    try:
        index = int(number) - 1
    except (TypeError, ValueError):
        raise gr.Error(f"Section number must be a whole number, got {number!r}") from None
    if not 0 <= index < len(outline.sections):
        raise gr.Error(f"There is no section {number}: the outline has {len(outline.sections)} section(s).")
    return index


def _download(outline: Outline) -> str:
    folder = Path(tempfile.gettempdir()) / "writing-studio-downloads" / uuid.uuid4().hex
    return str(export_markdown(outline, folder))


def build_longform_tab(ctx: UIContext) -> None:
    flags = _StopFlags()

    with gr.Tab("Long-form / 长文", id="longform") as tab:
        doc_state = gr.State(None)  # Outline.to_dict(), texts included
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=340):
                gr.Markdown("**1. Brief**", elem_classes="studio-note")
                topic = gr.Textbox(label="Topic", placeholder="What is the document about?", lines=2,
                                   elem_id="longform-topic")
                with gr.Row():
                    audience = gr.Textbox(label="Audience", placeholder="e.g. engineering managers")
                    style = gr.Textbox(label="Style", placeholder="e.g. practical, friendly")
                with gr.Row():
                    language = gr.Dropdown(LANGUAGES, value="auto", label="Language")
                    sections = gr.Number(value=0, precision=0, minimum=0, maximum=40,
                                         label="Sections (0 = let the model decide)")
                total_words = gr.Slider(500, 20000, value=3000, step=100, label="Total words")
                panel = build_sampling_panel(ctx, tab="longform")
                gr.Markdown("Long-form sizes each section's max new tokens from its word target.",
                            elem_classes="studio-note")
                with gr.Row():
                    plan = gr.Button("Generate outline", variant="primary", elem_id="longform-outline")
                    stop = gr.Button("Stop", variant="stop", elem_id="longform-stop")
                raw = gr.Textbox(label="Outline text (the model's reply: edit it and press Parse)", lines=8,
                                 max_lines=24, elem_id="longform-raw")
                parse = gr.Button("Parse outline text", size="sm")
                note = gr.Markdown("", elem_classes="studio-note", elem_id="longform-note")
            with gr.Column(scale=3, min_width=460):
                gr.Markdown("**2. Outline** - edit cells directly; points are separated by `;`.",
                            elem_classes="studio-note")
                table = gr.Dataframe(headers=TABLE_HEADERS, datatype=["str", "str", "number", "bool"],
                                     type="array", interactive=True, column_count=4, wrap=True,
                                     show_row_numbers=True, label="Outline", elem_id="longform-table")
                with gr.Row():
                    number = gr.Number(value=1, precision=0, minimum=1, label="Section #", scale=1, min_width=90)
                    add = gr.Button("Add after", size="sm")
                    delete = gr.Button("Delete", size="sm")
                    up = gr.Button("Move up", size="sm")
                    down = gr.Button("Move down", size="sm")
                estimate_md = gr.Markdown("", elem_classes="studio-note", elem_id="longform-estimate")
                gr.Markdown("**3. Write**", elem_classes="studio-note")
                with gr.Row():
                    expand_all = gr.Button("Expand all", variant="primary", elem_id="longform-expand")
                    rewrite = gr.Checkbox(False, label="also rewrite written sections (locked ones never)")
                with gr.Row():
                    regenerate = gr.Button("Regenerate section #", size="sm", elem_id="longform-regenerate")
                    extend = gr.Button("Continue section #", size="sm", elem_id="longform-continue")
                    download = gr.DownloadButton("Download .md", size="sm", interactive=False)
                progress = gr.Markdown("", elem_classes="studio-meter", elem_id="longform-meter")
                scores = gr.Dataframe(headers=REPORT_HEADERS, type="array", interactive=False,
                                      label="Words and LongBench-Write length score", elem_id="longform-scores")
                with gr.Accordion("Edit section # by hand", open=False):
                    section_text = gr.Textbox(label="Section text", lines=10, max_lines=40,
                                              elem_id="longform-section-text")
                    with gr.Row():
                        load_text = gr.Button("Load section #", size="sm")
                        save_text = gr.Button("Save text", size="sm")
                document = gr.Markdown(EMPTY_DOC, elem_classes="studio-draft", elem_id="longform-doc",
                                       buttons=["copy"], show_label=False)

    brief_inputs = [topic, audience, style, language, total_words, sections]

    # -- shared views of one outline ------------------------------------------------------------
    def views(outline: Outline, brief: Brief | None) -> tuple[Any, ...]:
        """(table, state, estimate, scores, document, download) for an outline."""
        guess = _estimate_text(brief, outline)
        has_text = any(s.text.strip() for s in outline.sections)
        path = _download(outline) if has_text else None
        return (outline_to_rows(outline), outline.to_dict(), guess, report(outline).rows(),
                assemble(outline) if has_text else EMPTY_DOC, gr.update(value=path, interactive=path is not None))

    def _estimate_text(brief: Brief | None, outline: Outline) -> str:
        if brief is None:
            return ""
        try:
            found = estimate(brief, outline, stats=ctx.last_stats, count_tokens=ctx.engine.count_tokens)
        except StudioError as exc:
            return f"Estimate unavailable: {exc}"
        return (f"Plan: {len(outline.sections)} sections, {outline.total_target:,} words "
                f"(brief: {brief.total_words:,}). Before expanding: {found.describe()}")

    view_outputs = [table, doc_state, estimate_md, scores, document, download]

    def brief_or_none(*values: Any) -> Brief | None:
        try:
            return make_brief(topic=values[0], audience=values[1], style=values[2], language=values[3] or "auto",
                              total_words=int(values[4] or 0), sections=int(values[5] or 0))
        except (StudioError, ValueError, TypeError):
            return None

    # -- 1. outline ------------------------------------------------------------------------------
    # gradio injects `request` by its annotation, so every handler spells out the sampling values.
    def make_outline(topic: str, audience: str, style: str, language: str, total_words: float, sections: float,
                     doc: Any, temperature: float, top_p: float, top_k: int, min_p: float,
                     repetition_penalty: float, presence_penalty: float, max_new_tokens: int, seed: int | None,
                     request: gr.Request) -> Iterator[tuple[Any, ...]]:
        brief = _brief(topic, audience, style, language, total_words, sections)
        values = (temperature, top_p, top_k, min_p, repetition_penalty, presence_penalty, max_new_tokens, seed)
        params = params_from(values).merged(max_new_tokens=outline_max_new_tokens(brief))
        reply, stats = "", None
        keep = [gr.update()] * len(view_outputs)
        for reply, stats in stream_reply(ctx, request, kind="outline", title=brief.topic[:80],
                                         messages=outline_messages(brief), params=params):
            yield (reply, f"Planning… {meter(reply, stats)}", *keep)
        yield (reply, *_parsed(brief, reply, doc))

    def _parsed(brief: Brief, text: str, doc: Any) -> tuple[Any, ...]:
        try:
            outline = outline_from_reply(brief, text)
        except OutlineParseError as exc:
            # Never an empty outline: the raw text stays for editing, the table keeps what it had.
            return (f"⚠️ {exc}", *([gr.update()] * len(view_outputs)))
        if doc:  # a re-parsed plan keeps the texts of sections whose titles are unchanged
            old = {s.title: s.text for s in _outline(doc).sections}
            outline = replace(outline, sections=tuple(replace(s, text=old.get(s.title, "")) for s in outline.sections))
        return (f"Parsed {len(outline.sections)} sections.", *views(outline, brief))

    def reparse(text: str, topic: str, audience: str, style: str, language: str, total_words: float,
                sections: float, doc: Any) -> tuple[Any, ...]:
        brief = _brief(topic, audience, style, language, total_words, sections)
        if not (text or "").strip():
            raise gr.Error("The outline text is empty: generate an outline or type one, one section per line.")
        return _parsed(brief, text, doc)

    # -- 2. editing --------------------------------------------------------------------------------
    def table_edited(rows: list[list[Any]], doc: Any, *brief_values: Any) -> tuple[Any, ...]:
        brief = brief_or_none(*brief_values)
        previous = Outline.from_dict(doc) if doc else None
        title = previous.title if previous else (brief.topic if brief else "Document")
        try:
            outline = outline_from_rows(rows or [], title=title, previous=previous)
        except StudioError as exc:
            raise gr.Error(str(exc)) from None
        return views(outline, brief)

    def row_op(operation: str) -> Callable[..., tuple[Any, ...]]:
        def run(n: float, doc: Any, *brief_values: Any) -> tuple[Any, ...]:
            outline = _outline(doc)
            index = _index(n, outline)
            try:
                if operation == "add":
                    outline = add_section(outline, at=index + 1)
                elif operation == "delete":
                    outline = delete_section(outline, index)
                elif operation == "up" and index > 0:
                    outline = move_section(outline, index, index - 1)
                elif operation == "down" and index + 1 < len(outline.sections):
                    outline = move_section(outline, index, index + 1)
            except StudioError as exc:
                raise gr.Error(str(exc)) from None
            return views(outline, brief_or_none(*brief_values))
        return run

    def load_section(n: float, doc: Any) -> str:
        outline = _outline(doc)
        return outline.sections[_index(n, outline)].text

    def save_section(n: float, text: str, doc: Any, *brief_values: Any) -> tuple[Any, ...]:
        outline = _outline(doc)
        outline = edit_section(outline, _index(n, outline), text=text or "")
        return views(outline, brief_or_none(*brief_values))

    # -- 3. writing --------------------------------------------------------------------------------
    def streamer(request: gr.Request, title: str) -> StreamFn:
        def stream(messages: Messages, params: SamplingParams) -> Iterator[tuple[str, GenerationStats]]:
            yield from stream_reply(ctx, request, kind="section", title=title, messages=messages, params=params)
        return stream

    def run_steps(steps: Iterator[Progress], brief: Brief, start: Outline) -> Iterator[tuple[Any, ...]]:
        last: Progress | None = None
        keep = gr.update()
        try:
            for last in steps:
                section = last.outline.sections[last.index]
                line = f"Section {last.index + 1}/{len(start.sections)} “{section.title}”: " \
                       f"{meter(last.text, last.stats, running=not last.finished)} of {section.target:,}"
                yield (keep, last.outline.to_dict(), keep, report(last.outline).rows(), assemble(last.outline),
                       keep, line)
        except StudioError as exc:
            raise gr.Error(str(exc)) from None
        final = last.outline if last is not None else start
        total = report(final)
        ended = "Stopped: finished sections and the partial one are kept." if last is not None and last.stopped \
            else "Done."
        yield (*views(final, brief), f"{ended} {total.words:,} of {total.target:,} words, "
               f"length score {total.score:.0f}.")

    def write_all(doc: Any, redo: bool, topic: str, audience: str, style: str, language: str, total_words: float,
                  sections: float, temperature: float, top_p: float, top_k: int, min_p: float,
                  repetition_penalty: float, presence_penalty: float, max_new_tokens: int, seed: int | None,
                  request: gr.Request) -> Iterator[tuple[Any, ...]]:
        brief = _brief(topic, audience, style, language, total_words, sections)
        outline = _outline(doc)
        params = params_from((temperature, top_p, top_k, min_p, repetition_penalty, presence_penalty,
                              max_new_tokens, seed))
        session = session_of(request)
        flags.clear(session)
        steps = expand(streamer(request, outline.title), brief, outline, params, context=ctx.engine.context,
                       count_tokens=ctx.engine.count_tokens, rewrite=bool(redo), should_stop=flags.check(session))
        yield from run_steps(steps, brief, outline)

    def write_one(mode: str) -> Callable[..., Iterator[tuple[Any, ...]]]:
        def run(doc: Any, n: float, topic: str, audience: str, style: str, language: str, total_words: float,
                sections: float, temperature: float, top_p: float, top_k: int, min_p: float,
                repetition_penalty: float, presence_penalty: float, max_new_tokens: int, seed: int | None,
                request: gr.Request) -> Iterator[tuple[Any, ...]]:
            brief = _brief(topic, audience, style, language, total_words, sections)
            outline = _outline(doc)
            index = _index(n, outline)
            params = params_from((temperature, top_p, top_k, min_p, repetition_penalty, presence_penalty,
                                  max_new_tokens, seed))
            try:
                steps = write_section(streamer(request, outline.sections[index].title), brief, outline, index,
                                      params, mode=mode, context=ctx.engine.context,
                                      count_tokens=ctx.engine.count_tokens)
                yield from run_steps(steps, brief, outline)
            except StudioError as exc:
                raise gr.Error(str(exc)) from None
        return run

    def halt(request: gr.Request) -> None:
        flags.stop(session_of(request))
        stop_session(ctx, request)

    # -- wiring --------------------------------------------------------------------------------------
    private = dict(api_visibility="private")
    generating_opts = dict(concurrency_id=MODEL_QUEUE, show_progress="minimal", **private)
    write_outputs = [*view_outputs, progress]
    # No `cancels=` on Stop: Stop sets the session's cancel Event, the engine ends within one decode step,
    # and the handler still yields its last state (finished sections + the partial one, the download).
    plan.click(make_outline, [*brief_inputs, doc_state, *panel.inputs], [raw, note, *view_outputs],
               **generating_opts)
    expand_all.click(write_all, [doc_state, rewrite, *brief_inputs, *panel.inputs], write_outputs, **generating_opts)
    regenerate.click(write_one("write"), [doc_state, number, *brief_inputs, *panel.inputs], write_outputs,
                     **generating_opts)
    extend.click(write_one("continue"), [doc_state, number, *brief_inputs, *panel.inputs], write_outputs,
                 **generating_opts)
    stop.click(halt, None, None, queue=False, **private)
    parse.click(reparse, [raw, *brief_inputs, doc_state], [note, *view_outputs], queue=False, **private)
    table.input(table_edited, [table, doc_state, *brief_inputs], view_outputs, queue=False, **private)
    for button, operation in ((add, "add"), (delete, "delete"), (up, "up"), (down, "down")):
        button.click(row_op(operation), [number, doc_state, *brief_inputs], view_outputs, queue=False, **private)
    load_text.click(load_section, [number, doc_state], section_text, queue=False, **private)
    save_text.click(save_section, [number, section_text, doc_state, *brief_inputs], view_outputs, queue=False,
                    **private)

    # -- the API for gradio_client --------------------------------------------------------------------
    def api_params(preset: str) -> SamplingParams:
        try:
            chosen = ctx.presets.get(preset) if preset else ctx.presets.for_tab("longform")
        except StudioError as exc:
            raise gr.Error(str(exc)) from None
        return chosen.params()

    def api_outline(brief: dict, request: gr.Request, preset: str = "") -> dict:
        """Brief {topic, audience, style, language, total_words, sections} -> the model's outline as data.

        Returns {"ok": true, "outline": {"title", "sections": [{title, points, target, locked, text}]},
        "raw": reply, "error": ""}, or ok false with the raw reply and why it could not be parsed.
        """
        try:
            parsed = brief_from_dict(brief)
        except StudioError as exc:
            raise gr.Error(str(exc)) from None
        params = api_params(preset).merged(max_new_tokens=outline_max_new_tokens(parsed))
        reply = ""
        for text, _ in stream_reply(ctx, request, kind="outline", title=parsed.topic[:80],
                                    messages=outline_messages(parsed), params=params):
            reply = text
        try:
            outline = outline_from_reply(parsed, reply)
        except OutlineParseError as exc:
            return {"ok": False, "outline": None, "raw": reply, "error": str(exc)}
        return {"ok": True, "outline": outline.to_dict(), "raw": reply, "error": ""}

    def api_expand_section(brief: dict, outline: dict, index: int, request: gr.Request, previous_text: str = "",
                           mode: str = "write", preset: str = "") -> Iterator[str]:
        """Write section `index` (0-based) of `outline`, streaming its text. previous_text, when given, is
        the text of section index-1 (the continuity the prompt quotes); mode "continue" extends the
        section's own text instead of rewriting it."""
        try:
            parsed = brief_from_dict(brief)
            plan_data = Outline.from_dict(outline)
            if isinstance(index, bool) or not isinstance(index, int):
                raise StudioError(f"index: expected a whole number, got {index!r}")
            if previous_text and 0 < index < len(plan_data.sections):
                plan_data = edit_section(plan_data, index - 1, text=previous_text)
            steps = write_section(streamer(request, f"section {index + 1}"), parsed, plan_data, index,
                                  api_params(preset), mode=mode, context=ctx.engine.context,
                                  count_tokens=ctx.engine.count_tokens)
            for step in steps:
                yield step.text
        except StudioError as exc:
            raise gr.Error(str(exc)) from None

    with tab:  # inside the Tab: gr.Tabs accepts only Tab children
        gr.api(api_outline, api_name="outline", concurrency_id=MODEL_QUEUE)
        gr.api(api_expand_section, api_name="expand_section", concurrency_id=MODEL_QUEUE)
