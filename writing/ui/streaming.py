"""The one streaming loop behind every generating button, and the meters shown while it runs.

Why one generator: Stop, client disconnect and errors must behave the same on every tab.

- Stop: the run's cancel Event comes from `ctx.runs` keyed by the browser session, so a Stop
  click (or a new run in the same session) stops only this writer's generation.
- Disconnect / tab close / `job.cancel()`: gradio 6 then closes the handler's generator
  (`SyncToAsyncIterator.aclose()` -> `generator.close()`, from `Queue.reset_iterators` after
  `clean_events` marks the event dead, and from the `/cancel` route). `close()` raises
  GeneratorExit at our `yield`, the `finally` sets the Event, the engine's StoppingCriteria
  ends generate() after the current decode step, and closing the engine stream frees its lock.
- Errors: a StudioError becomes a gr.Error (a readable toast); the outputs keep the last text
  that was yielded, so a failure never wipes a half-written draft.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import gradio as gr

from writing.compose.wordcount import count_words
from writing.engines.base import GenerationStats
from writing.engines.params import SamplingParams
from writing.errors import StudioError
from writing.ui import autosave, guard

if TYPE_CHECKING:
    from writing.ui.context import UIContext

MODEL_QUEUE = "model"  # every generating event shares this concurrency_id: one model, one run at a time
WRITING = "writing…"  # the meter's last word while a run streams
_MIN_YIELD_S = 0.05  # a fast backend can emit hundreds of pieces a second; the browser needs ~20 updates/s


def session_of(request: gr.Request | None) -> str:
    """The browser session a run belongs to (gradio_client calls have one too)."""
    session = getattr(request, "session_hash", None) if request is not None else None
    return session or "no-session"


def stream_reply(ctx: UIContext, request: gr.Request | None, *, kind: str, title: str,
                 messages: Sequence[dict[str, Any]], params: SamplingParams, draft_prefix: str = "",
                 draft_messages: Sequence[dict[str, Any]] | None = None,
                 draft_meta: dict[str, Any] | None = None, draft_suffix: str = "",
                 on_draft: Callable[[str | None], None] | None = None) -> Iterator[tuple[str, GenerationStats]]:
    """Yield (text so far, stats) while the engine writes; always ends with the final text.

    `kind`/`title` name the run for the drafts library (autosave hooks in here); `draft_prefix` is text
    shown before the streamed text (a Continue), saved with it so the draft is what the screen shows;
    `draft_messages` is the whole conversation to save for a chat when `messages` had to drop old turns;
    `draft_meta` is saved with the draft so the Library can open it back into its tab (e.g. the brief);
    `draft_suffix` is text shown after the streamed text (a passage rewritten in place); `on_draft` is told
    the id of the run's draft once it exists (None without a drafts library).
    """
    try:
        guard.admit(ctx, request, messages)  # rate limit + prompt size, before any model work
    except StudioError as exc:
        raise gr.Error(str(exc), title="Writing Studio") from None
    session = session_of(request)
    cancel = ctx.runs.start(session)
    stats = GenerationStats()
    draft = autosave.begin(ctx, request, kind=kind, title=title, session=session, prefix=draft_prefix,
                           messages=messages if draft_messages is None else draft_messages,
                           meta=draft_meta, suffix=draft_suffix)  # never raises
    if on_draft is not None:
        try:
            on_draft(draft.saver.draft_id)
        except Exception:  # noqa: BLE001 - a caller's bookkeeping must not leave this session's run registered
            pass
    text = ""
    last = 0.0
    pieces = None
    try:
        pieces = ctx.engine.stream(messages, params, cancel, stats=stats)
        for piece in pieces:
            text += piece
            draft.update(text)  # saves every few seconds; a storage failure only warns
            now = time.perf_counter()
            if now - last >= _MIN_YIELD_S:
                last = now
                yield text, stats
        draft.completed = True  # not a closed page: the engine's own finish_reason decides done/stopped
    except StudioError as exc:
        stats.finish_reason = stats.finish_reason or "error"
        raise gr.Error(str(exc), title="Writing Studio") from None
    finally:
        # Also reached by GeneratorExit (a closed tab, job.cancel()): set the Event BEFORE closing the
        # engine stream, so the engine records the run as cancelled; close() then waits out the current
        # decode step and frees the model for the next request.
        cancel.set()
        if pieces is not None:
            pieces.close()
        ctx.runs.finish(session, cancel)
        if stats.finished_at is None:
            stats.finished_at = time.perf_counter()
        ctx.last_stats = stats
        draft.finish(text, stats)  # done / stopped / error: the partial text is kept
    yield text, stats


def stop_session(ctx: UIContext, request: gr.Request | None) -> bool:
    """Stop this session's running generation only. True if a run was going.

    Stop deliberately passes no `cancels=`: gradio would close the generator and drop its last update,
    racing with anything the Stop handler shows. Setting the Event ends the run within a decode step and
    the run itself sends the final state ("stopped", the text kept).
    """
    return ctx.runs.stop(session_of(request))


async def stop_everything(ctx: UIContext, request: gr.Request | None) -> bool:
    """The Stop buttons' handler: the running generation of this session, and any still waiting its turn."""
    stopped = stop_session(ctx, request)
    removed = await unqueue_waiting_runs(request)
    return stopped or removed > 0


async def unqueue_waiting_runs(request: gr.Request | None) -> int:
    """Take this session's generations that wait for the model out of gradio's queue; how many.

    The cancel Event only reaches a run that has started: one queued behind another writer's would
    start later and write what its writer stopped. gradio has no public call for this, so these are the
    steps of its own /cancel route: remove the event from the queue, then tell the page it completed,
    with a no-change update for each output (what the page shows stays). tests/test_browser_queue.py
    checks it in a real page.
    """
    app = getattr(getattr(request, "request", None), "app", None)
    queue = getattr(app.get_blocks(), "_queue", None) if hasattr(app, "get_blocks") else None
    if queue is None:
        return 0
    from gradio.server_messages import ProcessCompletedMessage

    session = session_of(request)
    waiting = queue.event_queue_per_concurrency_id.get(MODEL_QUEUE)
    events = [event for event in list(getattr(waiting, "queue", [])) if event.session_hash == session]
    for event in events:
        await queue.remove_from_queue(event._id)
        queue.pending_event_ids_session.get(session, set()).discard(event._id)
        messages = queue.pending_messages_per_session.get(session)
        if messages is not None:
            unchanged = [{"__type__": "update"} for _ in event.fn.outputs]
            messages.put_nowait(ProcessCompletedMessage(
                output={"data": unchanged, "is_generating": False, "changed_state_ids": []},
                success=True, event_id=event._id))
    return len(events)


def meter(text: str, stats: GenerationStats | None = None, *, running: bool = True) -> str:
    """Live line under an output: words, tokens and speed, plus why a run ended."""
    parts = [f"**{count_words(text):,}** words"]
    if stats is not None and stats.new_tokens:
        parts.append(f"{stats.new_tokens:,} tokens")
        if stats.tokens_per_second:
            parts.append(f"{stats.tokens_per_second:.1f} tok/s")
    if stats is not None and not running:
        ended = {"stop": "done", "length": "stopped at max new tokens", "cancelled": "stopped",
                 "error": "failed"}.get(stats.finish_reason, "")
        if ended:
            parts.append(ended)
    elif running:
        parts.append(WRITING)
    return " · ".join(parts)


def status_line(ctx: UIContext) -> str:
    """The studio's footer: model, backend, precision, last run's speed, and who is waiting."""
    engine = ctx.engine
    parts = [f"**{engine.name}**", engine.backend, getattr(engine, "dtype", ""), f"context {engine.context:,}"]
    stats = ctx.last_stats
    if stats is not None and stats.new_tokens:
        parts.append(f"last run {stats.new_tokens:,} tokens at {stats.tokens_per_second:.1f} tok/s")
    busy = getattr(engine, "busy", None)
    waiting = int(getattr(engine, "waiting", 0) or 0)
    if busy:
        parts.append("generating" + (f", {waiting} waiting" if waiting else ""))
    elif busy is not None:
        parts.append("idle")
    return " · ".join(p for p in parts if p)
