"""Long-form tab: brief -> outline (editable table) -> section-by-section expansion -> one document.

`LongformTab` renders the components (`_render`), then wires them (`_setup_events`), registers how
Library drafts reopen here (`_register_openers`) and adds the API endpoints (`_register_api`), in the
manner of gradio's ChatInterface. The whole document lives in one per-session gr.State: the outline
as JSON-able data (compose.outline's Outline.to_dict(), section texts included), so every action is
a pure function of (state, inputs) from writing.compose. Generation goes through
writing.ui.streaming.stream_reply, so Stop, client disconnect, autosave and errors behave as on
every other tab.

API (gradio_client), documented in the README:
    /outline(brief: dict, preset="") -> {"ok", "outline", "raw", "error"}
    /expand_section(brief: dict, outline: dict, index: int, previous_text="", mode="write", preset="")
        -> streams the section's text
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
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
    sections_from_document,
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
from writing.ui import downloads, job_view
from writing.ui.autosave import user_of
from writing.ui.bible_panel import build_bible_panel
from writing.ui.guard import admitted
from writing.ui.i18n import t
from writing.ui.revision_keeper import keep_section
from writing.ui.sampling import build_sampling_panel, params_from
from writing.ui.section_workspace import SectionWorkspace
from writing.ui.streaming import MODEL_QUEUE, meter, session_of, stop_everything, stream_reply
from writing.ui.word_budget import BudgetControls, final_note, progress_note
from writing.workspace.document import DocumentDraft

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


def _brief(topic: str, audience: str, style: str, language: str, total_words: Any, sections: Any,
           bible: Any = None) -> Brief:
    try:
        return make_brief(topic=topic, audience=audience, style=style, language=language or "auto",
                          total_words=int(total_words or 0), sections=int(sections or 0), bible=bible or None)
    except (StudioError, ValueError, TypeError) as exc:
        raise gr.Error(str(exc)) from None


def _brief_or_none(*values: Any) -> Brief | None:
    """The brief fields as a Brief, or None while they are incomplete (views then skip the estimate)."""
    try:
        return make_brief(topic=values[0], audience=values[1], style=values[2], language=values[3] or "auto",
                          total_words=int(values[4] or 0), sections=int(values[5] or 0),
                          bible=values[6] if len(values) > 6 and values[6] else None)
    except (StudioError, ValueError, TypeError):
        return None


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
    return downloads.private(export_markdown(outline, downloads.new_folder()))  # private, per process


def build_longform_tab(ctx: UIContext) -> None:
    LongformTab(ctx).build()


class LongformTab:
    """The tab's components and handlers. Handlers are methods: pure functions of (state, inputs)."""

    def __init__(self, ctx: UIContext):
        self.ctx = ctx
        self.flags = _StopFlags()
        self.workspace = SectionWorkspace(ctx)  # revisions and passage rewriting (ui/section_workspace.py)

    def build(self) -> None:
        self._render()
        self._setup_events()
        self._register_openers()
        self._register_api()

    # -- rendering ---------------------------------------------------------------------------------------
    def _render(self) -> None:
        with gr.Tab(t("tab_longform"), id="longform") as self.tab:
            self.doc_state = gr.State(None)  # Outline.to_dict(), texts included
            self.doc_key = gr.State(None)  # the library draft holding the assembled document (workspace/document.py)
            with gr.Row(equal_height=False):
                with gr.Column(scale=2, min_width=340):
                    self._render_brief()
                with gr.Column(scale=3, min_width=460):
                    self._render_outline()
                    self._render_writing()
        self.brief_inputs = [self.topic, self.audience, self.style, self.language, self.total_words, self.sections,
                             self.bible.state]  # the story bible is part of the brief
        self.view_outputs = [self.table, self.doc_state, self.estimate_md, self.scores, self.document,
                             self.download]

    def _render_brief(self) -> None:
        gr.Markdown(t("lf_step_brief"), elem_classes="studio-note")
        self.topic = gr.Textbox(label=t("topic"), placeholder=t("lf_topic_ph"), lines=2, elem_id="longform-topic")
        with gr.Row():
            self.audience = gr.Textbox(label=t("audience"), placeholder=t("lf_audience_ph"))
            self.style = gr.Textbox(label=t("lf_style"), placeholder=t("lf_style_ph"))
        with gr.Row():
            self.language = gr.Dropdown(LANGUAGES, value="auto", label=t("language"))
            self.sections = gr.Number(value=0, precision=0, minimum=0, maximum=40, label=t("lf_sections"))
        self.total_words = gr.Slider(500, 20000, value=3000, step=100, label=t("lf_total_words"))
        self.bible = build_bible_panel(self.ctx, tab="longform", topic=self.topic, language=self.language,
                                      source=self.doc_state)
        self.panel = build_sampling_panel(self.ctx, tab="longform")
        gr.Markdown(t("lf_tokens_note"), elem_classes="studio-note")
        with gr.Row():
            self.plan = gr.Button(t("lf_plan"), variant="primary", elem_id="longform-outline")
            self.stop = gr.Button(t("stop"), variant="stop", elem_id="longform-stop")
        self.raw = gr.Textbox(label=t("lf_raw"), lines=8, max_lines=24, elem_id="longform-raw")
        self.parse = gr.Button(t("lf_parse"), size="sm")
        self.note = gr.Markdown("", elem_classes="studio-note", elem_id="longform-note")

    def _render_outline(self) -> None:
        gr.Markdown(t("lf_step_outline"), elem_classes="studio-note")
        self.table = gr.Dataframe(headers=TABLE_HEADERS, datatype=["str", "str", "number", "bool"], type="array",
                                  interactive=True, column_count=4, wrap=True, show_row_numbers=True,
                                  label=t("lf_outline"), elem_id="longform-table")
        with gr.Row():
            self.number = gr.Number(value=1, precision=0, minimum=1, label=t("lf_number"), scale=1, min_width=90)
            self.add = gr.Button(t("lf_add"), size="sm")
            self.delete = gr.Button(t("lf_delete"), size="sm")
            self.up = gr.Button(t("lf_up"), size="sm")
            self.down = gr.Button(t("lf_down"), size="sm")
        self.estimate_md = gr.Markdown("", elem_classes="studio-note", elem_id="longform-estimate")

    def _render_writing(self) -> None:
        gr.Markdown(t("lf_step_write"), elem_classes="studio-note")
        with gr.Row():
            self.expand_all = gr.Button(t("lf_expand"), variant="primary", elem_id="longform-expand")
            self.rewrite = gr.Checkbox(False, label=t("lf_rewrite"))
        with gr.Row(visible=job_view.runner_of(self.ctx) is not None):  # background jobs need the drafts database
            self.pause = gr.Button(t("lf_pause"), size="sm", elem_id="longform-pause")
            self.resume = gr.Button(t("lf_resume"), size="sm", elem_id="longform-resume")
        self.job_id = gr.State(None)  # the background job this page shows (ui/job_view.py)
        self.job_shown = gr.State("")  # what the page shows of it (job_view.shown_key)
        self.job_timer = gr.Timer(job_view.FOLLOW_EVERY_S, active=False)  # ticks while the job is live
        self.budget = BudgetControls().render()
        with gr.Row():
            self.regenerate = gr.Button(t("lf_regenerate"), size="sm", elem_id="longform-regenerate")
            self.extend = gr.Button(t("lf_continue"), size="sm", elem_id="longform-continue")
            self.download = gr.DownloadButton(t("download_md"), size="sm", interactive=False)
        self.progress = gr.Markdown("", elem_classes="studio-meter", elem_id="longform-meter")
        self.scores = gr.Dataframe(headers=REPORT_HEADERS, type="array", interactive=False, label=t("lf_scores"),
                                   elem_id="longform-scores")
        with gr.Accordion(t("lf_edit"), open=False) as self.by_hand:
            self.section_text = gr.Textbox(label=t("lf_section_text"), lines=10, max_lines=40,
                                           elem_id="longform-section-text")
            with gr.Row():
                self.load_text = gr.Button(t("lf_load"), size="sm", elem_id="longform-load-text")
                self.save_text = gr.Button(t("lf_save"), size="sm", elem_id="longform-save-text")
            self.workspace.render_passage()
        self.workspace.render_panel()
        self.document = gr.Markdown(t("lf_doc_empty"), elem_classes="studio-draft", elem_id="longform-doc",
                                    buttons=["copy"], show_label=False)

    # -- wiring --------------------------------------------------------------------------------------------
    def _setup_events(self) -> None:
        private: dict[str, Any] = {"api_visibility": "private"}
        generating: dict[str, Any] = {"concurrency_id": MODEL_QUEUE, "show_progress": "minimal", **private}
        write_outputs = [*self.view_outputs, self.doc_key, self.progress]
        sampling = self.panel.inputs
        # No `cancels=` on Stop: Stop sets the session's cancel Event, the engine ends within one decode step,
        # and the handler still yields its last state (finished sections + the partial one, the download).
        self.plan.click(self.make_outline, [*self.brief_inputs, self.doc_state, *sampling],
                        [self.raw, self.note, *self.view_outputs], **generating)
        if job_view.runner_of(self.ctx) is None:  # no drafts database: written in the page, as before
            self.expand_all.click(self.write_all, [self.doc_state, self.doc_key, self.rewrite, self.budget.enabled,
                                                   *self.brief_inputs, *sampling], write_outputs, **generating)
        else:
            self._setup_job_events(write_outputs, sampling, private)
        for button, mode in ((self.regenerate, "write"), (self.extend, "continue")):
            ran = button.click(self.write_one(mode), [self.doc_state, self.doc_key, self.number, *self.brief_inputs,
                                                      *sampling], write_outputs, **generating)
            self.budget.wire_single(ran, self.doc_state, self.number)  # proposes a rebalance; Apply applies it
        self.budget.wire_apply(self.doc_state, self.brief_inputs, self.view_outputs, self.views, _brief_or_none)
        self.stop.click(self.halt, self.job_id, None, queue=False, **private)
        self.parse.click(self.reparse, [self.raw, *self.brief_inputs, self.doc_state],
                         [self.note, *self.view_outputs], queue=False, **private)
        self.table.input(self.table_edited, [self.table, self.doc_state, *self.brief_inputs], self.view_outputs,
                         queue=False, **private)
        for button, operation in ((self.add, "add"), (self.delete, "delete"), (self.up, "up"),
                                  (self.down, "down")):
            button.click(self.row_op(operation), [self.number, self.doc_state, *self.brief_inputs],
                         self.view_outputs, queue=False, **private)
        self.load_text.click(self.load_section, [self.number, self.doc_state], self.section_text, queue=False,
                             **private)
        self.save_text.click(self.save_section, [self.number, self.section_text, self.doc_state, self.doc_key,
                                                 *self.brief_inputs], [*self.view_outputs, self.doc_key],
                             queue=False, **private)
        self.workspace.wire(self)

    # -- shared views of one outline -----------------------------------------------------------------------
    def views(self, outline: Outline, brief: Brief | None) -> tuple[Any, ...]:
        """(table, state, estimate, scores, document, download) for an outline."""
        guess = self.estimate_text(brief, outline)
        has_text = any(s.text.strip() for s in outline.sections)
        path = _download(outline) if has_text else None
        return (outline_to_rows(outline), outline.to_dict(), guess, report(outline).rows(),
                assemble(outline) if has_text else EMPTY_DOC, gr.update(value=path, interactive=path is not None))

    def estimate_text(self, brief: Brief | None, outline: Outline) -> str:
        if brief is None:
            return ""
        try:
            found = estimate(brief, outline, stats=self.ctx.last_stats, count_tokens=self.ctx.engine.count_tokens)
        except StudioError as exc:
            return f"Estimate unavailable: {exc}"
        return (f"Plan: {len(outline.sections)} sections, {outline.total_target:,} words "
                f"(brief: {brief.total_words:,}). Before expanding: {found.describe()}")

    # -- 1. outline ------------------------------------------------------------------------------------------
    # gradio injects `request` by its annotation, so every handler spells out the sampling values.
    def make_outline(self, topic: str, audience: str, style: str, language: str, total_words: float,
                     sections: float, bible: Any, doc: Any, temperature: float, top_p: float, top_k: int, min_p: float,
                     repetition_penalty: float, presence_penalty: float, max_new_tokens: int, seed: int | None,
                     request: gr.Request) -> Iterator[tuple[Any, ...]]:
        admitted(self.ctx, request)  # the rate limit first, then the sizes, then any work
        brief = _brief(topic, audience, style, language, total_words, sections, bible)
        values = (temperature, top_p, top_k, min_p, repetition_penalty, presence_penalty, max_new_tokens, seed)
        params = params_from(values).merged(max_new_tokens=outline_max_new_tokens(brief))
        reply, stats = "", None
        keep = [gr.update()] * len(self.view_outputs)
        # The brief is saved with the outline draft: "Open in its tab" re-parses the outline with it.
        for reply, stats in stream_reply(self.ctx, request, kind="outline", title=brief.topic[:80],
                                         messages=outline_messages(brief), params=params,
                                         draft_meta={"brief": brief.to_dict()}):
            yield (reply, f"Planning… {meter(reply, stats)}", *keep)
        yield (reply, *self.parsed(brief, reply, doc))

    def parsed(self, brief: Brief, text: str, doc: Any) -> tuple[Any, ...]:
        try:
            outline = outline_from_reply(brief, text)
        except OutlineParseError as exc:
            # Never an empty outline: the raw text stays for editing, the table keeps what it had.
            return (f"⚠️ {exc}", *([gr.update()] * len(self.view_outputs)))
        if doc:  # a re-parsed plan keeps the texts of sections whose titles are unchanged
            old = {s.title: s.text for s in _outline(doc).sections}
            outline = replace(outline, sections=tuple(replace(s, text=old.get(s.title, "")) for s in outline.sections))
        return (f"Parsed {len(outline.sections)} sections.", *self.views(outline, brief))

    def reparse(self, text: str, topic: str, audience: str, style: str, language: str, total_words: float,
                sections: float, bible: Any, doc: Any) -> tuple[Any, ...]:
        brief = _brief(topic, audience, style, language, total_words, sections, bible)
        if not (text or "").strip():
            raise gr.Error("The outline text is empty: generate an outline or type one, one section per line.")
        return self.parsed(brief, text, doc)

    # -- 2. editing --------------------------------------------------------------------------------------------
    def table_edited(self, rows: list[list[Any]], doc: Any, *brief_values: Any) -> tuple[Any, ...]:
        brief = _brief_or_none(*brief_values)
        previous = Outline.from_dict(doc) if doc else None
        title = previous.title if previous else (brief.topic if brief else "Document")
        try:
            outline = outline_from_rows(rows or [], title=title, previous=previous)
        except StudioError as exc:
            raise gr.Error(str(exc)) from None
        return self.views(outline, brief)

    def row_op(self, operation: str) -> Callable[..., tuple[Any, ...]]:
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
            return self.views(outline, _brief_or_none(*brief_values))
        return run

    def load_section(self, n: float, doc: Any) -> str:
        outline = _outline(doc)
        return outline.sections[_index(n, outline)].text

    def save_section(self, n: float, text: str, doc: Any, key: str | None, topic: str, audience: str, style: str,
                     language: str, total_words: float, sections: float, bible: Any,
                     request: gr.Request) -> tuple[Any, ...]:
        return self.replace_section(request, n, text, doc, key, topic, audience, style, language, total_words,
                                    sections, bible, cause="edit")

    def replace_section(self, request: gr.Request, n: Any, text: str, doc: Any, key: str | None, *brief_values: Any,
                        cause: str | None = None) -> tuple[Any, ...]:
        """Section n's text replaced and the document saved; with `cause`, the text it had is kept as a revision."""
        outline = _outline(doc)
        index = _index(n, outline)
        brief = _brief_or_none(*brief_values)
        saved = self.document_draft(request, key, brief, outline)  # a hand edit is part of the document too
        if cause is not None and (text or "") != outline.sections[index].text:
            keep_section(self.ctx, request, saved, outline, index, cause)
        outline = edit_section(outline, index, text=text or "")
        saved.finish(outline, "done")
        return (*self.views(outline, brief), saved.key)

    # -- 3. writing --------------------------------------------------------------------------------------------
    def streamer(self, request: gr.Request, outline: Outline, indices: Iterable[int], key: str | None = None
                 ) -> StreamFn:
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
            yield from stream_reply(self.ctx, request, kind="section", title=title, messages=messages,
                                    params=params, draft_meta=meta)
        return stream

    def document_draft(self, request: gr.Request, key: str | None, brief: Brief | None, outline: Outline
                       ) -> DocumentDraft:
        return DocumentDraft(getattr(self.ctx, "store", None), user=user_of(self.ctx, request), key=key,
                             session=session_of(request), brief=brief, outline=outline)

    def run_steps(self, steps: Iterator[Progress], brief: Brief, start: Outline, saved: DocumentDraft
                  ) -> Iterator[tuple[Any, ...]]:
        last: Progress | None = None
        keep = gr.update()
        notes: list[str] = []  # target rebalances made on the way (writing/ui/word_budget.py)
        try:
            for last in steps:
                section = last.outline.sections[last.index]
                saved.update(last.outline, force=last.finished)  # the one "longform" draft of this document
                line = f"Section {last.index + 1}/{len(start.sections)} “{section.title}”: " \
                       f"{meter(last.text, last.stats, running=not last.finished)} of {section.target:,}" \
                       f"{progress_note(last, notes)}"
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
        yield (*self.views(final, brief), saved.key, f"{ended} {total.words:,} of {total.target:,} words, "
               f"length score {total.score:.0f}.{final_note(notes)}")

    def write_all(self, doc: Any, key: str | None, redo: bool, rebalance_on: bool, topic: str, audience: str,
                  style: str, language: str, total_words: float, sections: float, bible: Any, temperature: float,
                  top_p: float, top_k: int, min_p: float, repetition_penalty: float, presence_penalty: float,
                  max_new_tokens: int, seed: int | None, request: gr.Request) -> Iterator[tuple[Any, ...]]:
        admitted(self.ctx, request)
        brief = _brief(topic, audience, style, language, total_words, sections, bible)
        outline = _outline(doc)
        params = params_from((temperature, top_p, top_k, min_p, repetition_penalty, presence_penalty,
                              max_new_tokens, seed))
        session = session_of(request)
        self.flags.clear(session)
        saved = self.document_draft(request, key, brief, outline)
        order = sections_to_write(outline, rewrite=bool(redo))
        steps = expand(self.streamer(request, outline, order, saved.key), brief, outline, params,
                       context=self.ctx.engine.context, count_tokens=self.ctx.engine.count_tokens,
                       rewrite=bool(redo), should_stop=self.flags.check(session), rebalance_targets=bool(rebalance_on))
        yield from self.run_steps(steps, brief, outline, saved)

    def write_one(self, mode: str) -> Callable[..., Iterator[tuple[Any, ...]]]:
        def run(doc: Any, key: str | None, n: float, topic: str, audience: str, style: str, language: str,
                total_words: float, sections: float, bible: Any, temperature: float, top_p: float, top_k: int,
                min_p: float, repetition_penalty: float, presence_penalty: float, max_new_tokens: int,
                seed: int | None, request: gr.Request) -> Iterator[tuple[Any, ...]]:
            admitted(self.ctx, request)
            brief = _brief(topic, audience, style, language, total_words, sections, bible)
            outline = _outline(doc)
            index = _index(n, outline)
            params = params_from((temperature, top_p, top_k, min_p, repetition_penalty, presence_penalty,
                                  max_new_tokens, seed))
            saved = self.document_draft(request, key, brief, outline)
            keep_section(self.ctx, request, saved, outline, index, "regenerate" if mode == "write" else "continue")
            try:
                steps = write_section(self.streamer(request, outline, [index], saved.key), brief, outline, index,
                                      params, mode=mode, context=self.ctx.engine.context,
                                      count_tokens=self.ctx.engine.count_tokens)
                yield from self.run_steps(steps, brief, outline, saved)
            except StudioError as exc:
                raise gr.Error(str(exc)) from None
        return run

    async def halt(self, request: gr.Request, job_id: str | None = None) -> None:  # gradio injects the request
        self.flags.stop(session_of(request))
        self.stop_job(job_id, request)
        await stop_everything(self.ctx, request)

    # -- background jobs (writing/workspace/jobs.py; the page side in ui/job_view.py) -------------------------
    def _setup_job_events(self, write_outputs: list[Any], sampling: list[Any], private: dict[str, Any]) -> None:
        """Write all = a job; whatever sets `job_id` (starting one, page load, the Library's Open) shows it, and
        the page's timer shows it again while it is live (ui/job_view.py: why a timer, not a stream)."""
        following = {"queue": False, "show_progress": "hidden", **private}
        show = (self.show_job, [self.job_id, self.job_shown], [*write_outputs, self.job_shown, self.job_timer])
        self.expand_all.click(self.start_job, [self.doc_state, self.doc_key, self.rewrite, self.budget.enabled,
                                               *self.brief_inputs, *sampling], [self.job_id, self.note], **private)
        self.job_id.change(*show, **following)
        self.job_timer.tick(*show, **following)
        self.pause.click(self.pause_job, self.job_id, self.note, queue=False, **private)
        self.resume.click(self.resume_job, self.job_id, self.note, **private).success(*show, **following)
        gr.on(None, self.reattach, None, [self.job_id, self.note, *self.brief_inputs, *self.bible.shown[1:]],
              **private)

    def start_job(self, doc: Any, key: str | None, redo: bool, rebalance_on: bool, topic: str, audience: str,
                  style: str, language: str, total_words: float, sections: float, bible: Any, temperature: float,
                  top_p: float, top_k: int, min_p: float, repetition_penalty: float, presence_penalty: float,
                  max_new_tokens: int, seed: int | None, request: gr.Request) -> tuple[Any, ...]:
        admitted(self.ctx, request)  # the rate limit first, then the sizes, then the job cap and the prompt budget
        brief = _brief(topic, audience, style, language, total_words, sections, bible)
        outline = _outline(doc)
        params = params_from((temperature, top_p, top_k, min_p, repetition_penalty, presence_penalty,
                              max_new_tokens, seed))
        runner = job_view.runner_of(self.ctx)
        try:
            status = runner.start_job(user=user_of(self.ctx, request), brief=brief, outline=outline, params=params,
                                      rewrite=bool(redo), doc=key, rebalance_targets=bool(rebalance_on))
        except StudioError as exc:
            raise gr.Error(str(exc)) from None
        return status.id, (f"Writing {status.sections_total} section(s) in the background: you can close this page "
                           f"and open the document again later (the Library, or this tab).")

    def show_job(self, job_id: str | None, shown: str, request: gr.Request) -> tuple[Any, ...]:
        """The job's progress if it changed since the page last showed it, and whether to look again (the timer
        runs while the job is queued or running). No generation here: a closed page stops nothing."""
        unchanged = (gr.update(),) * (len(self.view_outputs) + 2)  # the views, the document key, the meter
        try:
            status = job_view.changed_status(self.ctx, job_id, shown, request)
        except StudioError as exc:  # not this user's job, or gone: said once, and the page stops asking
            return (*unchanged[:-1], f"⚠️ {exc}", "", gr.Timer(active=False))
        if status is None:
            return (*unchanged, shown, gr.update() if job_id else gr.Timer(active=False))
        outline = Outline.from_dict(status.outline)
        line = job_view.progress_line(status)
        live = status.state in ("queued", "running")
        if live:
            keep = gr.update()
            has_text = any(s.text.strip() for s in outline.sections)
            shown_now = (keep, outline.to_dict(), keep, report(outline).rows(),
                         assemble(outline) if has_text else EMPTY_DOC, keep, status.doc, line)
        else:
            shown_now = (*self.views(outline, None), status.doc, line)
        return (*shown_now, job_view.shown_key(status), gr.Timer(active=live))

    def pause_job(self, job_id: str | None, request: gr.Request) -> str:
        runner = job_view.runner_of(self.ctx)
        if runner is None or not job_id:
            return "No background job to pause: press Expand all first."
        try:
            runner.pause(job_id, user=user_of(self.ctx, request))
        except StudioError as exc:
            return f"⚠️ {exc}"
        return "Pausing: the section being written stops within a step and is kept. Resume goes on from there."

    def resume_job(self, job_id: str | None, request: gr.Request) -> str:
        admitted(self.ctx, request)
        runner = job_view.runner_of(self.ctx)
        if runner is None or not job_id:
            raise gr.Error("No background job to resume here: open the document from the Library, or press "
                           "Expand all.")
        try:
            status = runner.resume(job_id, user=user_of(self.ctx, request))
        except StudioError as exc:
            raise gr.Error(str(exc)) from None
        return f"Resumed from section {status.resume_from or status.current or status.sections_done + 1}."

    def stop_job(self, job_id: str | None, request: gr.Request) -> None:
        runner = job_view.runner_of(self.ctx)
        if runner is not None and job_id:
            try:
                runner.stop(job_id, user=user_of(self.ctx, request))
            except StudioError:
                pass  # already ended: Stop also stops this page's other runs below

    def reattach(self, request: gr.Request) -> tuple[Any, ...]:
        """Page load: the user's live job (followed again), else their newest resumable one (offered)."""
        unchanged = (gr.update(),) * (2 + len(self.brief_inputs) + len(self.bible.shown) - 1)
        runner = job_view.runner_of(self.ctx)
        if runner is None:
            return unchanged
        user = user_of(self.ctx, request)
        try:
            status = runner.latest(user=user)
            spec = runner.jobs.get(status.id, user=user).spec if status is not None else {}
            brief = brief_from_dict(spec.get("brief")) if status is not None else None
        except StudioError:
            return unchanged
        if status is None or brief is None:
            return unchanged
        fields = [brief.topic, brief.audience, brief.style, brief.language, brief.total_words, brief.sections,
                  *self.bible.show(brief.bible, chinese=brief.chinese)]  # the state, then the bible's fields
        if brief.language not in {value for _label, value in LANGUAGES}:
            fields[3] = gr.update()
        note = (f"Your document “{status.title}” is being written in the background: shown here as it goes."
                if status.live else f"Your document “{status.title}” was {status.state} after "
                f"{status.sections_done} of {status.sections_total} sections: press Resume to go on from section "
                f"{status.resume_from}.")
        return (status.id, note, *fields)

    # -- the Library's "Open in its tab" ---------------------------------------------------------------------
    def _register_openers(self) -> None:
        self.open_outputs = [self.raw, self.note, *self.view_outputs, self.doc_key, self.progress,
                             self.section_text, self.number, self.by_hand, *self.brief_inputs, *self.bible.shown[1:],
                             self.job_id]
        for kind, load in (("outline", self.open_outline), ("section", self.open_section),
                           ("longform", self.open_document)):
            self.ctx.openers.register(kind, tab_id="longform", outputs=self.open_outputs, load=load)

    def filled(self, values: dict[Any, Any]) -> tuple[Any, ...]:
        return tuple(values.get(component, gr.update()) for component in self.open_outputs)

    def saved_brief(self, saved: Draft) -> tuple[Brief | None, dict[Any, Any]]:
        """The brief saved with a draft, and the brief fields it fills (none when there is none)."""
        try:
            brief = brief_from_dict(saved.meta.get("brief"))
        except StudioError:
            return None, {}
        fields = dict(zip(self.brief_inputs[:6], [brief.topic, brief.audience, brief.style, brief.language,
                                                  brief.total_words, brief.sections], strict=True))
        fields.update(self.bible.fill(brief.bible, chinese=brief.chinese))  # the document's own story bible
        if brief.language not in {value for _label, value in LANGUAGES}:
            del fields[self.language]  # an API client's language: the dropdown cannot show it
        return brief, fields

    def open_outline(self, saved: Draft) -> tuple[Any, ...]:
        """An outline draft: the reply back in the outline text, parsed into the table with its brief."""
        brief, fields = self.saved_brief(saved)
        try:
            outline = parse_outline(saved.content, total_words=brief.total_words if brief else None,
                                    title=brief.topic if brief else saved.title)
        except StudioError as exc:
            return self.filled({self.raw: saved.content, self.note: f"⚠️ {exc}", **fields})
        shown = dict(zip(self.view_outputs, self.views(outline, brief), strict=True))
        # doc_key None: sections written from this plan are a new document, not the one open before.
        return self.filled({self.raw: saved.content, self.note: f"Opened the outline “{saved.title}”: "
                            f"{len(outline.sections)} sections.", **shown, self.doc_key: None, **fields})

    def open_document(self, saved: Draft) -> tuple[Any, ...]:
        """A long-form draft: its outline (texts included) and brief restored; writing on updates the same draft."""
        brief, fields = self.saved_brief(saved)
        try:
            outline = Outline.from_dict(saved.meta.get("outline"))
        except StudioError:
            return self.filled({self.document: saved.content, self.note: f"Opened “{saved.title}”: its outline "
                                f"was not saved with it, so only the text is shown."})
        edited = assemble(outline) != saved.content and sections_from_document(saved.content, outline)
        shown = dict(zip(self.view_outputs, self.views(edited or outline, brief), strict=True))
        if assemble(edited or outline) != saved.content:  # edited in the Library beyond the section texts
            shown[self.document] = saved.content
        key = saved.meta.get("doc") if isinstance(saved.meta.get("doc"), str) else None
        job = self.job_of(saved.user, key)  # its background job, followed again (ui/job_view.py)
        return self.filled({**shown, self.doc_key: key, **fields, self.note: f"Opened “{saved.title}”: writing "
                            f"sections updates this document's draft.", self.job_id: job or gr.update()})

    def job_of(self, user: str, key: str | None) -> str | None:
        runner = job_view.runner_of(self.ctx)
        if runner is None or not key:
            return None
        try:
            status = runner.latest(user=user, doc=key)
        except StudioError:
            return None
        return status.id if status is not None else None

    def open_section(self, saved: Draft) -> tuple[Any, ...]:
        """A section draft: its text in "Edit section # by hand", ready to Save into the outline."""
        index = saved.meta.get("section")
        values: dict[Any, Any] = {self.section_text: saved.content, self.by_hand: gr.update(open=True),
                                  self.note: f"The text of “{saved.title}” is in **Edit section # by hand**: "
                                             f"check Section #, then press Save text to put it in the outline."}
        if isinstance(index, int) and not isinstance(index, bool) and index >= 0:
            values[self.number] = index + 1
        return self.filled(values)

    # -- the API for gradio_client -----------------------------------------------------------------------------
    def _register_api(self) -> None:
        with self.tab:  # inside the Tab: gr.Tabs accepts only Tab children
            gr.api(self.api_outline, api_name="outline", concurrency_id=MODEL_QUEUE)
            gr.api(self.api_expand_section, api_name="expand_section", concurrency_id=MODEL_QUEUE)
            job_view.JobApi(self.ctx, self.api_params).register()

    def api_params(self, preset: str, request: gr.Request | None = None) -> SamplingParams:
        user = self.ctx.user_of(request)  # a user's own presets are theirs alone
        try:
            chosen = self.ctx.presets.get(preset, user) if preset else self.ctx.presets.for_tab("longform", user)
        except StudioError as exc:
            raise gr.Error(str(exc)) from None
        return chosen.params()

    def api_outline(self, brief: dict, request: gr.Request, preset: str = "") -> dict:
        """Brief {topic, audience, style, language, total_words, sections} -> the model's outline as data.

        Returns {"ok": true, "outline": {"title", "sections": [{title, points, target, locked, text}]},
        "raw": reply, "error": ""}, or ok false with the raw reply and why it could not be parsed.
        """
        admitted(self.ctx, request)
        try:
            parsed = brief_from_dict(brief)
        except StudioError as exc:
            raise gr.Error(str(exc)) from None
        params = self.api_params(preset, request).merged(max_new_tokens=outline_max_new_tokens(parsed))
        reply = ""
        for text, _ in stream_reply(self.ctx, request, kind="outline", title=parsed.topic[:80],
                                    messages=outline_messages(parsed), params=params):
            reply = text
        try:
            outline = outline_from_reply(parsed, reply)
        except OutlineParseError as exc:
            return {"ok": False, "outline": None, "raw": reply, "error": str(exc)}
        return {"ok": True, "outline": outline.to_dict(), "raw": reply, "error": ""}

    def api_expand_section(self, brief: dict, outline: dict, index: int, request: gr.Request,
                           previous_text: str = "", mode: str = "write", preset: str = "") -> Iterator[str]:
        """Write section `index` (0-based) of `outline`, streaming its text. previous_text, when given, is
        the text of section index-1 (the continuity the prompt quotes); mode "continue" extends the
        section's own text instead of rewriting it. The rate limit and the outline's size caps come before
        any work (the prompt's tokens are counted only for an outline that could fit)."""
        admitted(self.ctx, request)
        try:
            parsed = brief_from_dict(brief)
            plan_data = Outline.from_dict(outline)
            if isinstance(index, bool) or not isinstance(index, int):
                raise StudioError(f"index: expected a whole number, got {index!r}")
            if previous_text and 0 < index < len(plan_data.sections):
                plan_data = edit_section(plan_data, index - 1, text=previous_text)
            steps = write_section(self.streamer(request, plan_data, [index]), parsed, plan_data, index,
                                  self.api_params(preset, request), mode=mode, context=self.ctx.engine.context,
                                  count_tokens=self.ctx.engine.count_tokens)
            for step in steps:
                yield step.text
        except StudioError as exc:
            raise gr.Error(str(exc)) from None
