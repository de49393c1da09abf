"""Long-form tab: brief -> outline (editable table) -> section-by-section expansion -> one document.

The whole document lives in one per-session gr.State: the outline as JSON-able data (writing.compose.outline
Outline.to_dict(), section texts included), so every action is a pure function of (state, inputs)
from writing.compose.longform / writing.compose.outline. Generation goes through writing.ui.streaming.stream_reply,
so Stop, client disconnect, autosave and errors behave as on every other tab.

API (gradio_client), documented in the README:
    /outline(brief: dict, preset="") -> {"ok", "outline", "raw", "error"}
    /expand_section(brief: dict, outline: dict, index: int, previous_text="", mode="write", preset="")
        -> streams the section's text
"""

from __future__ import annotations

import re
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from writing.compose.longform import (
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
    sections_to_write,
    write_section,
)
from writing.compose.outline import (
    TABLE_HEADERS,
    Outline,
    OutlineParseError,
    add_section,
    delete_section,
    edit_section,
    move_section,
    outline_from_rows,
    outline_to_rows,
    parse_outline,
)
from writing.engines.base import GenerationStats
from writing.engines.params import SamplingParams
from writing.errors import StudioError
from writing.ui.autosave import user_of
from writing.ui.i18n import t
from writing.ui.longform_draft import DocumentDraft
from writing.ui.sampling import build_sampling_panel, params_from
from writing.ui.streaming import MODEL_QUEUE, meter, session_of, stop_everything, stream_reply

if TYPE_CHECKING:
    from writing.library.store import Draft
    from writing.ui.context import UIContext

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


def sections_from_document(text: str, outline: Outline) -> Outline | None:
    """Section texts read back from an assembled document (edited in the Library) whose `## ` headings are
    still the outline's section titles, in order; None when they are not."""
    parts = re.split(r"(?m)^## (.*)$", text)
    if [title.strip() for title in parts[1::2]] != [s.title.strip() for s in outline.sections]:
        return None
    bodies = [body.strip() for body in parts[2::2]]
    return replace(outline, sections=tuple(replace(s, text=body) for s, body in zip(outline.sections, bodies,
                                                                                      strict=True)))


def _download(outline: Outline) -> str:
    folder = Path(tempfile.gettempdir()) / "writing-studio-downloads" / uuid.uuid4().hex
    return str(export_markdown(outline, folder))


def build_longform_tab(ctx: UIContext) -> None:
    flags = _StopFlags()

    with gr.Tab(t("tab_longform"), id="longform") as tab:
        doc_state = gr.State(None)  # Outline.to_dict(), texts included
        doc_key = gr.State(None)  # which library draft holds the assembled document (writing/ui/longform_draft.py)
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=340):
                gr.Markdown(t("lf_step_brief"), elem_classes="studio-note")
                topic = gr.Textbox(label=t("topic"), placeholder=t("lf_topic_ph"), lines=2,
                                   elem_id="longform-topic")
                with gr.Row():
                    audience = gr.Textbox(label=t("audience"), placeholder=t("lf_audience_ph"))
                    style = gr.Textbox(label=t("lf_style"), placeholder=t("lf_style_ph"))
                with gr.Row():
                    language = gr.Dropdown(LANGUAGES, value="auto", label=t("language"))
                    sections = gr.Number(value=0, precision=0, minimum=0, maximum=40, label=t("lf_sections"))
                total_words = gr.Slider(500, 20000, value=3000, step=100, label=t("lf_total_words"))
                panel = build_sampling_panel(ctx, tab="longform")
                gr.Markdown(t("lf_tokens_note"), elem_classes="studio-note")
                with gr.Row():
                    plan = gr.Button(t("lf_plan"), variant="primary", elem_id="longform-outline")
                    stop = gr.Button(t("stop"), variant="stop", elem_id="longform-stop")
                raw = gr.Textbox(label=t("lf_raw"), lines=8, max_lines=24, elem_id="longform-raw")
                parse = gr.Button(t("lf_parse"), size="sm")
                note = gr.Markdown("", elem_classes="studio-note", elem_id="longform-note")
            with gr.Column(scale=3, min_width=460):
                gr.Markdown(t("lf_step_outline"), elem_classes="studio-note")
                table = gr.Dataframe(headers=TABLE_HEADERS, datatype=["str", "str", "number", "bool"],
                                     type="array", interactive=True, column_count=4, wrap=True,
                                     show_row_numbers=True, label=t("lf_outline"), elem_id="longform-table")
                with gr.Row():
                    number = gr.Number(value=1, precision=0, minimum=1, label=t("lf_number"), scale=1, min_width=90)
                    add = gr.Button(t("lf_add"), size="sm")
                    delete = gr.Button(t("lf_delete"), size="sm")
                    up = gr.Button(t("lf_up"), size="sm")
                    down = gr.Button(t("lf_down"), size="sm")
                estimate_md = gr.Markdown("", elem_classes="studio-note", elem_id="longform-estimate")
                gr.Markdown(t("lf_step_write"), elem_classes="studio-note")
                with gr.Row():
                    expand_all = gr.Button(t("lf_expand"), variant="primary", elem_id="longform-expand")
                    rewrite = gr.Checkbox(False, label=t("lf_rewrite"))
                with gr.Row():
                    regenerate = gr.Button(t("lf_regenerate"), size="sm", elem_id="longform-regenerate")
                    extend = gr.Button(t("lf_continue"), size="sm", elem_id="longform-continue")
                    download = gr.DownloadButton(t("download_md"), size="sm", interactive=False)
                progress = gr.Markdown("", elem_classes="studio-meter", elem_id="longform-meter")
                scores = gr.Dataframe(headers=REPORT_HEADERS, type="array", interactive=False,
                                      label=t("lf_scores"), elem_id="longform-scores")
                with gr.Accordion(t("lf_edit"), open=False) as by_hand:
                    section_text = gr.Textbox(label=t("lf_section_text"), lines=10, max_lines=40,
                                              elem_id="longform-section-text")
                    with gr.Row():
                        load_text = gr.Button(t("lf_load"), size="sm")
                        save_text = gr.Button(t("lf_save"), size="sm")
                document = gr.Markdown(t("lf_doc_empty"), elem_classes="studio-draft", elem_id="longform-doc",
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
        # The brief is saved with the outline draft: "Open in its tab" re-parses the outline with it.
        for reply, stats in stream_reply(ctx, request, kind="outline", title=brief.topic[:80],
                                         messages=outline_messages(brief), params=params,
                                         draft_meta={"brief": brief.to_dict()}):
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

    def save_section(n: float, text: str, doc: Any, key: str | None, topic: str, audience: str, style: str,
                     language: str, total_words: float, sections: float, request: gr.Request) -> tuple[Any, ...]:
        outline = _outline(doc)
        outline = edit_section(outline, _index(n, outline), text=text or "")
        brief = brief_or_none(topic, audience, style, language, total_words, sections)
        saved = document_draft(request, key, brief, outline)  # a hand edit is part of the document too
        saved.finish(outline, "done")
        return (*views(outline, brief), saved.key)

    # -- 3. writing --------------------------------------------------------------------------------
    def streamer(request: gr.Request, outline: Outline, indices: Iterable[int], key: str | None = None) -> StreamFn:
        """One stream_reply per section; `indices` are the sections in the order they will be written
        (expand/write_section call `stream` once per section), so each section draft is named after its
        section and knows its place in the document."""
        order = iter(list(indices))

        def stream(messages: Messages, params: SamplingParams) -> Iterator[tuple[str, GenerationStats]]:
            index = next(order, None)
            if index is None or not 0 <= index < len(outline.sections):
                title, meta = outline.title, None
            else:
                title = f"{outline.title} · {outline.sections[index].title}"
                meta = {"section": index, "section_title": outline.sections[index].title,
                        "document": outline.title, "doc": key}
            yield from stream_reply(ctx, request, kind="section", title=title, messages=messages, params=params,
                                    draft_meta=meta)
        return stream

    def document_draft(request: gr.Request, key: str | None, brief: Brief | None, outline: Outline) -> DocumentDraft:
        return DocumentDraft(getattr(ctx, "store", None), user=user_of(ctx, request), key=key,
                             session=session_of(request), brief=brief, outline=outline)

    def run_steps(steps: Iterator[Progress], brief: Brief, start: Outline, saved: DocumentDraft
                  ) -> Iterator[tuple[Any, ...]]:
        last: Progress | None = None
        keep = gr.update()
        try:
            for last in steps:
                section = last.outline.sections[last.index]
                saved.update(last.outline, force=last.finished)  # the one "longform" draft of this document
                line = f"Section {last.index + 1}/{len(start.sections)} “{section.title}”: " \
                       f"{meter(last.text, last.stats, running=not last.finished)} of {section.target:,}"
                yield (keep, last.outline.to_dict(), keep, report(last.outline).rows(), assemble(last.outline),
                       keep, saved.key, line)
        except StudioError as exc:
            saved.finish(last.outline if last is not None else start, "error")
            raise gr.Error(str(exc)) from None
        except BaseException:  # a closed page (GeneratorExit) or a failure: what was written is kept, unfinished
            saved.finish(last.outline if last is not None else start, "stopped")
            raise
        final = last.outline if last is not None else start
        stopped = last is not None and last.stopped
        saved.finish(final, "stopped" if stopped else "done")
        total = report(final)
        ended = "Stopped: finished sections and the partial one are kept." if stopped else "Done."
        yield (*views(final, brief), saved.key, f"{ended} {total.words:,} of {total.target:,} words, "
               f"length score {total.score:.0f}.")

    def write_all(doc: Any, key: str | None, redo: bool, topic: str, audience: str, style: str, language: str,
                  total_words: float, sections: float, temperature: float, top_p: float, top_k: int, min_p: float,
                  repetition_penalty: float, presence_penalty: float, max_new_tokens: int, seed: int | None,
                  request: gr.Request) -> Iterator[tuple[Any, ...]]:
        brief = _brief(topic, audience, style, language, total_words, sections)
        outline = _outline(doc)
        params = params_from((temperature, top_p, top_k, min_p, repetition_penalty, presence_penalty,
                              max_new_tokens, seed))
        session = session_of(request)
        flags.clear(session)
        saved = document_draft(request, key, brief, outline)
        order = sections_to_write(outline, rewrite=bool(redo))
        steps = expand(streamer(request, outline, order, saved.key), brief, outline, params,
                       context=ctx.engine.context, count_tokens=ctx.engine.count_tokens, rewrite=bool(redo),
                       should_stop=flags.check(session))
        yield from run_steps(steps, brief, outline, saved)

    def write_one(mode: str) -> Callable[..., Iterator[tuple[Any, ...]]]:
        def run(doc: Any, key: str | None, n: float, topic: str, audience: str, style: str, language: str,
                total_words: float, sections: float, temperature: float, top_p: float, top_k: int, min_p: float,
                repetition_penalty: float, presence_penalty: float, max_new_tokens: int, seed: int | None,
                request: gr.Request) -> Iterator[tuple[Any, ...]]:
            brief = _brief(topic, audience, style, language, total_words, sections)
            outline = _outline(doc)
            index = _index(n, outline)
            params = params_from((temperature, top_p, top_k, min_p, repetition_penalty, presence_penalty,
                                  max_new_tokens, seed))
            saved = document_draft(request, key, brief, outline)
            try:
                steps = write_section(streamer(request, outline, [index], saved.key), brief, outline, index,
                                      params, mode=mode, context=ctx.engine.context,
                                      count_tokens=ctx.engine.count_tokens)
                yield from run_steps(steps, brief, outline, saved)
            except StudioError as exc:
                raise gr.Error(str(exc)) from None
        return run

    async def halt(request: gr.Request) -> None:
        flags.stop(session_of(request))
        await stop_everything(ctx, request)

    # -- wiring --------------------------------------------------------------------------------------
    private = dict(api_visibility="private")
    generating_opts = dict(concurrency_id=MODEL_QUEUE, show_progress="minimal", **private)
    write_outputs = [*view_outputs, doc_key, progress]
    # No `cancels=` on Stop: Stop sets the session's cancel Event, the engine ends within one decode step,
    # and the handler still yields its last state (finished sections + the partial one, the download).
    plan.click(make_outline, [*brief_inputs, doc_state, *panel.inputs], [raw, note, *view_outputs],
               **generating_opts)
    expand_all.click(write_all, [doc_state, doc_key, rewrite, *brief_inputs, *panel.inputs], write_outputs,
                     **generating_opts)
    regenerate.click(write_one("write"), [doc_state, doc_key, number, *brief_inputs, *panel.inputs], write_outputs,
                     **generating_opts)
    extend.click(write_one("continue"), [doc_state, doc_key, number, *brief_inputs, *panel.inputs], write_outputs,
                 **generating_opts)
    stop.click(halt, None, None, queue=False, **private)
    parse.click(reparse, [raw, *brief_inputs, doc_state], [note, *view_outputs], queue=False, **private)
    table.input(table_edited, [table, doc_state, *brief_inputs], view_outputs, queue=False, **private)
    for button, operation in ((add, "add"), (delete, "delete"), (up, "up"), (down, "down")):
        button.click(row_op(operation), [number, doc_state, *brief_inputs], view_outputs, queue=False, **private)
    load_text.click(load_section, [number, doc_state], section_text, queue=False, **private)
    save_text.click(save_section, [number, section_text, doc_state, doc_key, *brief_inputs], [*view_outputs, doc_key],
                    queue=False, **private)

    # -- the Library's "Open in its tab" --------------------------------------------------------------
    open_outputs = [raw, note, *view_outputs, doc_key, progress, section_text, number, by_hand, *brief_inputs]

    def filled(values: dict[Any, Any]) -> tuple[Any, ...]:
        return tuple(values.get(component, gr.update()) for component in open_outputs)

    def saved_brief(saved: Draft) -> tuple[Brief | None, dict[Any, Any]]:
        """The brief saved with a draft, and the brief fields it fills (none when there is none)."""
        try:
            brief = brief_from_dict(saved.meta.get("brief"))
        except StudioError:
            return None, {}
        fields = dict(zip(brief_inputs, [brief.topic, brief.audience, brief.style, brief.language,
                                         brief.total_words, brief.sections], strict=True))
        if brief.language not in {value for _label, value in LANGUAGES}:
            del fields[language]  # an API client's language: the dropdown cannot show it
        return brief, fields

    def open_outline(saved: Draft) -> tuple[Any, ...]:
        """An outline draft: the reply back in the outline text, parsed into the table with its brief."""
        brief, fields = saved_brief(saved)
        try:
            outline = parse_outline(saved.content, total_words=brief.total_words if brief else None,
                                    title=brief.topic if brief else saved.title)
        except StudioError as exc:
            return filled({raw: saved.content, note: f"⚠️ {exc}", **fields})
        shown = dict(zip(view_outputs, views(outline, brief), strict=True))
        # doc_key None: sections written from this plan are a new document, not the one open before.
        return filled({raw: saved.content, note: f"Opened the outline “{saved.title}”: {len(outline.sections)} "
                       f"sections.", **shown, doc_key: None, **fields})

    def open_document(saved: Draft) -> tuple[Any, ...]:
        """A long-form draft: its outline (texts included) and brief restored; writing on updates the same draft."""
        brief, fields = saved_brief(saved)
        try:
            outline = Outline.from_dict(saved.meta.get("outline"))
        except StudioError:
            return filled({document: saved.content, note: f"Opened “{saved.title}”: its outline was not saved "
                           f"with it, so only the text is shown."})
        edited = assemble(outline) != saved.content and sections_from_document(saved.content, outline)
        shown = dict(zip(view_outputs, views(edited or outline, brief), strict=True))
        if assemble(edited or outline) != saved.content:  # edited in the Library beyond the section texts
            shown[document] = saved.content
        key = saved.meta.get("doc") if isinstance(saved.meta.get("doc"), str) else None
        return filled({**shown, doc_key: key, **fields, note: f"Opened “{saved.title}”: writing sections "
                       f"updates this document's draft."})

    def open_section(saved: Draft) -> tuple[Any, ...]:
        """A section draft: its text in "Edit section # by hand", ready to Save into the outline."""
        index = saved.meta.get("section")
        values: dict[Any, Any] = {section_text: saved.content, by_hand: gr.update(open=True),
                                  note: f"The text of “{saved.title}” is in **Edit section # by hand**: check "
                                        f"Section #, then press Save text to put it in the outline."}
        if isinstance(index, int) and not isinstance(index, bool) and index >= 0:
            values[number] = index + 1
        return filled(values)

    for kind, load in (("outline", open_outline), ("section", open_section), ("longform", open_document)):
        ctx.openers.register(kind, tab_id="longform", outputs=open_outputs, load=load)

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
            steps = write_section(streamer(request, plan_data, [index]), parsed, plan_data, index,
                                  api_params(preset), mode=mode, context=ctx.engine.context,
                                  count_tokens=ctx.engine.count_tokens)
            for step in steps:
                yield step.text
        except StudioError as exc:
            raise gr.Error(str(exc)) from None

    with tab:  # inside the Tab: gr.Tabs accepts only Tab children
        gr.api(api_outline, api_name="outline", concurrency_id=MODEL_QUEUE)
        gr.api(api_expand_section, api_name="expand_section", concurrency_id=MODEL_QUEUE)
