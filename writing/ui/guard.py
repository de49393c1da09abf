"""Admission checks every generating request passes before it touches the model.

One place so every tab and every API route gets the same limits, in this order:

1. the per-user rate limit (`ctx.limiter`, a writing.access.ratelimit.RateLimiter; None = unlimited),
   counted once per request (`admit_request`), FIRST: a refused caller costs nothing else;
2. size caps on every field and collection (writing/compose/limits.py: characters, messages,
   sections, points), checked BEFORE any tokenising: a megabyte pasted into a textbox or a
   5,000-message history gets a "too long" message at once, not minutes of tokenizer work on 2 CPUs;
3. only then the work (fitting a chat into the context, building section prompts, streaming).

Handlers call `admit_request` (and their field checks) at their top; `stream_reply` calls `admit`, which
checks the prompt's size and counts the request unless its handler already did. The size limit is
generous (16 characters per context token, more than any tokenizer packs), so the engine's exact token
budget (BudgetError) still decides every prompt near the edge.

Also here: BoundedSlider/BoundedNumber (API numbers refused with a message naming the field, before
gradio's own check, which names neither the field nor, for a string, anything but a TypeError), and
`sanitize_everything` (build_app forces sanitised rendering of model output on every Markdown/Chatbot).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import gradio as gr

from writing.compose import limits
from writing.compose.limits import CHARS_PER_TOKEN_CAP, MAX_PROMPT_CHARS
from writing.engines.base import DEFAULT_CONTEXT
from writing.engines.messages import content_text
from writing.errors import BudgetError, StudioError

if TYPE_CHECKING:
    from writing.ui.context import UIContext

# Requests already counted by the rate limit (a long-form run streams several sections in one request).
_COUNTED: weakref.WeakSet[Any] = weakref.WeakSet()


class PromptTooLongError(BudgetError):
    """The prompt has more characters than the context could ever hold."""


def prompt_chars(messages: Sequence[dict[str, Any]]) -> int:
    return sum(len(content_text(m.get("content"))) for m in messages if isinstance(m, dict))


def char_limit(context: int) -> int:
    return limits.prompt_char_limit(context)


def context_of(ctx: UIContext) -> int:
    return int(getattr(ctx.engine, "context", 0) or 0) or DEFAULT_CONTEXT


def check_size(messages: Sequence[dict[str, Any]], *, context: int) -> None:
    size, limit = prompt_chars(messages), char_limit(context)
    if size > limit:
        raise PromptTooLongError(
            f"The prompt is too long: {size:,} characters, and this studio takes at most {limit:,} "
            f"(context {context:,} tokens). Shorten it or split it into parts; nothing was sent to the model."
        )


def admit_request(ctx: UIContext, request: gr.Request | None) -> None:
    """Count this request against its user's rate limit (once per request); BusyError when over it."""
    limiter = getattr(ctx, "limiter", None)
    if limiter is None:
        return
    try:
        if request is not None and request in _COUNTED:
            return
    except TypeError:  # an unhashable stand-in (tests): counted every time
        pass
    limiter.check(rate_key(ctx, request))
    try:
        if request is not None:
            _COUNTED.add(request)
    except TypeError:
        pass


def admit(ctx: UIContext, request: gr.Request | None, messages: Sequence[dict[str, Any]]) -> None:
    """Raise a StudioError (BusyError, PromptTooLongError) if this request may not run now."""
    admit_request(ctx, request)  # first: a refused caller costs nothing (a no-op if its handler counted it)
    check_size(messages, context=context_of(ctx))


def admitted(ctx: UIContext, request: gr.Request | None) -> None:
    """`admit_request` for event handlers: a refusal becomes a gr.Error toast."""
    try:
        admit_request(ctx, request)
    except StudioError as exc:
        raise gr.Error(str(exc), title="Writing Studio") from None


def check_history(history: Any, *, context: int) -> None:
    """A chat history's size, before anything reads it: message count, then total characters."""
    if history is None:
        return
    if not isinstance(history, list | tuple):
        raise StudioError(f"history: expected a list of messages, got {type(history).__name__}")
    most = limits.history_message_limit(context)
    if len(history) > most:
        raise PromptTooLongError(
            f"This chat is too long: {len(history):,} messages, and this studio keeps at most {most:,} "
            f"(context {context:,} tokens). Press Clear to start a new chat; nothing was sent to the model.")
    budget = limits.history_char_limit(context)
    size = 0
    for item in history:
        content = item.get("content") if isinstance(item, dict) else getattr(item, "content", None)
        size += _chars(content)
        if size > budget:
            raise PromptTooLongError(
                f"This chat is too long: more than {budget:,} characters, and this studio keeps at most "
                f"{budget:,} (context {context:,} tokens). Press Clear to start a new chat; nothing was sent "
                f"to the model.")


def _chars(content: Any) -> int:
    """Characters of a message's content without building its text (a string, or a list of blocks)."""
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list | tuple):
        return sum(_chars(block) for block in content)
    if isinstance(content, dict):
        return _chars(content.get("text", content.get("content", "")))
    return len(str(content)) if content is not None else 0


def rate_key(ctx: UIContext, request: gr.Request | None) -> str:
    """Whose budget a request spends: the login name, else the client's address.

    Without a login every writer is "local", so the address keeps one anonymous caller from using up
    everyone's budget. (Behind a proxy all anonymous callers share the proxy's address: use --auth.)
    X-Forwarded-For is not trusted: a caller could write anything there to get a fresh budget.
    """
    user = ctx.user_of(request)
    if user != "local" or request is None:
        return f"user:{user}"
    client = getattr(request, "client", None)
    return f"addr:{getattr(client, 'host', None) or 'unknown'}"


def field_name(component: gr.components.Component) -> str:
    """The API-facing name of a slider: its label's translation key ("temperature"), else the label."""
    label = component.label
    return str(getattr(label, "key", None) or label or "value")


def checked_number(payload: Any, *, name: str, minimum: float | None, maximum: float | None) -> float:
    """A finite number within bounds, or gr.Error naming the field (gradio's own check says neither
    which field nor, for strings, anything but a TypeError)."""
    value = payload
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise gr.Error(f"{name}: must be a number, got {payload!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise gr.Error(f"{name}: must be a number, got {type(payload).__name__} {payload!r}")
    if not math.isfinite(value):
        raise gr.Error(f"{name}: must be a finite number, got {payload!r}")
    if minimum is not None and maximum is not None and not minimum <= value <= maximum:
        raise gr.Error(f"{name}: must be between {minimum:g} and {maximum:g}, got {value:g}")
    if minimum is not None and value < minimum:
        raise gr.Error(f"{name}: must be at least {minimum:g}, got {value:g}")
    if maximum is not None and value > maximum:  # the seed box: any negative means random, so no minimum
        raise gr.Error(f"{name}: must be at most {maximum:g}, got {value:g}")
    return value


class BoundedSlider(gr.Slider):
    """A gr.Slider whose API input is checked with a message naming the field (NaN, inf, strings, range)."""

    # A subclass outside gradio is otherwise served as a *custom* component whose frontend files do not
    # exist: the page hangs on "Loading...". As a template it renders with the parent's Svelte component.
    is_template = True

    def preprocess(self, payload: Any) -> float:
        return super().preprocess(checked_number(payload, name=field_name(self), minimum=self.minimum,
                                                 maximum=self.maximum))


class BoundedNumber(gr.Number):
    """A gr.Number (None allowed: e.g. a random seed) checked like BoundedSlider."""

    # A subclass outside gradio is otherwise served as a *custom* component whose frontend files do not
    # exist: the page hangs on "Loading...". As a template it renders with the parent's Svelte component.
    is_template = True

    def preprocess(self, payload: Any) -> Any:
        if payload is None:
            return None
        return super().preprocess(checked_number(payload, name=field_name(self), minimum=self.minimum,
                                                 maximum=self.maximum))


def sanitize_everything(app: gr.Blocks) -> int:
    """Model output is untrusted HTML: every component that renders Markdown/HTML (gr.Markdown, gr.Chatbot)
    sanitises it in the browser (no <script>, on* handlers, javascript: links, <style>, <iframe>). Gradio's
    default is on; this makes it a rule no tab can switch off by accident. Returns how many were checked."""
    checked = 0
    for block in app.blocks.values():
        if hasattr(block, "sanitize_html"):
            block.sanitize_html = True
            checked += 1
    return checked


__all__ = ["CHARS_PER_TOKEN_CAP", "MAX_PROMPT_CHARS", "BoundedNumber", "BoundedSlider", "PromptTooLongError",
           "StudioError", "admit", "admit_request", "admitted", "char_limit", "check_history", "check_size",
           "checked_number", "rate_key", "sanitize_everything"]
