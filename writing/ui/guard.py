"""Admission checks every generating request passes before it touches the model.

One place (called by `stream_reply`) so every tab and every API route gets the same limits:

- a per-user rate limit (`ctx.limiter`, a writing.access.ratelimit.RateLimiter; None = unlimited);
- a size limit on the prompt in characters, checked BEFORE tokenising: a megabyte pasted into a
  textbox must get a "too long" message at once, not minutes of tokeniser work on 2 CPUs. The
  limit is generous (16 characters per context token, more than any tokenizer packs), so the
  engine's exact token budget (BudgetError) still decides every prompt near the edge.

Also here: BoundedSlider/BoundedNumber (API numbers refused with a message naming the field, before
gradio's own check, which names neither the field nor, for a string, anything but a TypeError), and
`sanitize_everything` (build_app forces sanitised rendering of model output on every Markdown/Chatbot).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import gradio as gr

from writing.engines.messages import content_text
from writing.errors import BudgetError, StudioError

if TYPE_CHECKING:
    from writing.ui.context import UIContext

CHARS_PER_TOKEN_CAP = 16  # no tokenizer averages more characters per token than this on real text
MAX_PROMPT_CHARS = 2_000_000  # whatever the context: beyond this even counting tokens is too slow


class PromptTooLongError(BudgetError):
    """The prompt has more characters than the context could ever hold."""


def prompt_chars(messages: Sequence[dict[str, Any]]) -> int:
    return sum(len(content_text(m.get("content"))) for m in messages if isinstance(m, dict))


def char_limit(context: int) -> int:
    return min(MAX_PROMPT_CHARS, CHARS_PER_TOKEN_CAP * max(int(context), 16))


def check_size(messages: Sequence[dict[str, Any]], *, context: int) -> None:
    size, limit = prompt_chars(messages), char_limit(context)
    if size > limit:
        raise PromptTooLongError(
            f"The prompt is too long: {size:,} characters, and this studio takes at most {limit:,} "
            f"(context {context:,} tokens). Shorten it or split it into parts; nothing was sent to the model."
        )


def admit(ctx: UIContext, request: gr.Request | None, messages: Sequence[dict[str, Any]]) -> None:
    """Raise a StudioError (BusyError, PromptTooLongError) if this request may not run now."""
    check_size(messages, context=int(getattr(ctx.engine, "context", 0) or 0) or 8192)
    limiter = getattr(ctx, "limiter", None)
    if limiter is not None:
        limiter.check(rate_key(ctx, request))


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
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise gr.Error(f"{name}: must be between {minimum:g} and {maximum:g}, got {value:g}")
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


__all__ = ["BoundedNumber", "BoundedSlider", "PromptTooLongError", "StudioError", "admit", "char_limit",
           "check_size", "checked_number", "rate_key", "sanitize_everything"]
