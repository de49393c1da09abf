"""Autosave glue for `stream_reply`: every run of every tab becomes a draft in the library.

A chat is one draft per conversation: its content is the readable transcript and meta["messages"] the
messages (system prompt included). A new turn continues the session's newest chat draft when that
draft's saved messages are exactly this turn's history AND its text is still the transcript the chat
saved (not edited in the Library since); anything else (a retry, an edited history, a cleared chat, a
transcript edited by hand) starts a new draft, so no earlier version of a conversation is ever overwritten.
While a run streams, an edit made elsewhere is never overwritten either: the Autosaver's version check
forks the run into a new draft (writing/library/store.py) and the writer is told once.

Storage problems never reach the generation: they are shown once as a gr.Warning per run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import gradio as gr

from writing.engines.base import GenerationStats
from writing.engines.messages import clean_text, content_text
from writing.library.store import KINDS, Autosaver

if TYPE_CHECKING:
    from writing.ui.context import UIContext

PROMPT_KEEP = 4_000  # characters of the last user message kept in meta (the brief, for "open back")
ROLE_NAMES = {"system": "System", "user": "You", "assistant": "Assistant"}


def user_of(ctx: UIContext, request: gr.Request | None) -> str:
    """The draft owner: the logged-in user with --auth, else "local"."""
    pick = getattr(ctx, "user_of", None)
    if callable(pick):
        return pick(request)
    return (getattr(request, "username", None) if request is not None else None) or "local"


def _plain(messages: Sequence[dict[str, Any]]) -> list[dict[str, str]]:
    return [{"role": str(m.get("role", "")), "content": clean_text(content_text(m.get("content")))}
            for m in messages]


def _same_history(saved: object, history: list[dict[str, str]]) -> bool:
    """Same roles and texts (surrounding whitespace aside: a chat box may trim the reply it shows)."""
    if not isinstance(saved, list) or len(saved) != len(history):
        return False
    return all(isinstance(a, dict) and a.get("role") == b["role"]
               and str(a.get("content", "")).strip() == b["content"].strip()
               for a, b in zip(saved, history, strict=True))


def _untouched(content: str, saved: object) -> bool:
    """The chat draft's text is still the transcript of its saved messages (nobody edited it by hand)."""
    try:
        return isinstance(saved, list) and content == transcript(saved)
    except (KeyError, TypeError):
        return False


def transcript(messages: Sequence[dict[str, str]]) -> str:
    """A chat as Markdown: what the library searches, shows and exports."""
    return "\n\n".join(f"**{ROLE_NAMES.get(m['role'], m['role'])}:** {m['content']}"
                       for m in messages if m["role"] != "system")


class RunDraft:
    """One run's draft. update()/finish() never raise; `error` holds the last storage problem."""

    def __init__(self, saver: Autosaver, *, chat_history: list[dict[str, str]] | None, prefix: str = "",
                 suffix: str = ""):
        self.saver = saver
        self.prefix = prefix  # text already on screen before this run's text (a Continue)
        self.suffix = suffix  # text on screen after it (a passage rewritten in place)
        self.chat_history = chat_history  # None unless kind == "chat"
        self._warned = False
        self._told_conflict = False
        self.completed = False  # set by stream_reply when the engine's stream ended (not a closed page)
        self.created_here = saver.draft_id is None  # False when continuing a chat conversation's draft

    @property
    def error(self) -> str | None:
        return self.saver.error

    def _content(self, text: str) -> tuple[str, dict[str, Any] | None]:
        if self.chat_history is None:
            return self.prefix + text + self.suffix, None
        messages = [*self.chat_history, {"role": "assistant", "content": clean_text(text)}]
        return transcript(messages), {**self.saver.meta, "messages": messages}

    def update(self, text: str) -> None:
        try:
            if not self.saver.due():
                return
            content, meta = self._content(text)
            self.saver.update(content, meta=meta)
            self._warn()
        except Exception as exc:  # noqa: BLE001 - autosave must never break a generation
            self.saver.error = f"could not save the draft: {exc}"

    def finish(self, text: str, stats: GenerationStats | None) -> None:
        reason = getattr(stats, "finish_reason", "")
        if reason == "error":
            status = "error"
        elif self.completed and reason in ("stop", "length"):
            status = "done"
        else:  # Stop pressed, page closed mid-stream, or an unexpected exception: unfinished, offered later
            status = "stopped"
        try:
            content, meta = self._content(text)
            self.saver.finish(content, status, meta=meta)
            empty = not (self.prefix + text + self.suffix).strip()
            if empty and status != "done" and self.created_here and self.saver.draft_id:
                # Refused before any text (empty prompt, over budget, Stop during prefill): nothing to keep,
                # so the run goes to the trash instead of cluttering the library (restore() brings it back).
                self.saver.store.delete(self.saver.draft_id, user=self.saver.user)
            self._warn()
        except Exception as exc:  # noqa: BLE001 - same promise at the end of a run
            self.saver.error = f"could not save the draft: {exc}"

    def _warn(self) -> None:
        if self.saver.conflict and not self._told_conflict:
            self._told_conflict = True
            try:
                gr.Warning(self.saver.conflict, title="Draft changed elsewhere")
            except Exception:  # noqa: BLE001 - outside a request there is nobody to tell
                pass
        if self.saver.error and not self._warned:
            self._warned = True
            try:
                gr.Warning(f"{self.saver.error}. The text stays on screen: copy or download it before you close "
                           f"the page.", title="Draft not saved")
            except Exception:  # noqa: BLE001 - outside a request (tests, a closed page) there is nobody to tell
                pass


def begin(ctx: UIContext, request: gr.Request | None, *, kind: str, title: str,
          messages: Sequence[dict[str, Any]], session: str, prefix: str = "",
          meta: dict[str, Any] | None = None, suffix: str = "") -> RunDraft:
    """Create (or, for a chat turn, continue) this run's draft with status 'streaming'. Never raises.

    `meta` (JSON data, e.g. the tab's brief) is saved with the draft, for opening it back into its tab.
    """
    kind = kind if kind in KINDS else "blog"
    try:
        run = _begin(ctx, request, kind=kind, title=title, messages=messages, session=session, prefix=prefix,
                     extra=meta, suffix=suffix)
    except Exception as exc:  # noqa: BLE001 - the run goes on; the problem is shown, the text stays on screen
        run = RunDraft(Autosaver(None, user="local", kind=kind, title=title or "Untitled"), chat_history=None,
                       prefix=prefix, suffix=suffix)
        run.saver.error = f"could not save the draft: {exc}"
    run._warn()
    return run


def _begin(ctx: UIContext, request: gr.Request | None, *, kind: str, title: str,
           messages: Sequence[dict[str, Any]], session: str, prefix: str,
           extra: dict[str, Any] | None = None, suffix: str = "") -> RunDraft:
    store = getattr(ctx, "store", None)
    user = user_of(ctx, request)
    plain = _plain(messages)
    prompt = next((m["content"] for m in reversed(plain) if m["role"] == "user"), "")
    # session and prompt last: the chat lookup relies on "session" being the run's own.
    meta: dict[str, Any] = {**(extra or {}), "session": session, "prompt": prompt[:PROMPT_KEEP]}
    draft_id = None
    version = None
    chat_history = None
    if kind == "chat":
        chat_history = plain
        meta["messages"] = plain
        if store is not None:
            try:
                previous = store.find_latest(user=user, kind="chat", meta_key="session", meta_value=session)
            except Exception:  # noqa: BLE001 - a failed lookup only means a new draft
                previous = None
            saved = previous.meta.get("messages") if previous is not None else None
            if previous is not None and _same_history(saved, plain[:-1]) and _untouched(previous.content, saved):
                draft_id, version = previous.id, previous.version  # the next turn of the same conversation
    saver = Autosaver(store, user=user, kind=kind, title=title or prompt or "Untitled", meta=meta,
                      draft_id=draft_id, version=version)
    run = RunDraft(saver, chat_history=chat_history, prefix=prefix if chat_history is None else "",
                   suffix=suffix if chat_history is None else "")
    content, run_meta = run._content("")
    if run_meta is None:
        saver.start(content)
    else:
        saver.finish(content, "streaming", meta=run_meta)
    return run
