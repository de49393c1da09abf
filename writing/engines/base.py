"""The Engine interface every backend implements, and what they share.

    stream(messages, params, cancel, *, stats) -> Iterator[str]

Backends: `writing.engines.local.LocalEngine` (transformers on this CPU) and
`writing.engines.remote.RemoteEngine` (an OpenAI-compatible server). The UI sees only this protocol.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from writing.engines.params import SamplingParams
from writing.errors import BudgetError

DEFAULT_CONTEXT = 8192


@dataclass
class GenerationStats:
    """Filled in while a request streams. Times are time.perf_counter() seconds."""

    prompt_tokens: int = 0
    new_tokens: int = 0
    queued_at: float = field(default_factory=time.perf_counter)
    started_at: float | None = None  # got the model
    first_token_at: float | None = None
    finished_at: float | None = None
    finish_reason: str = ""  # "stop" (eos), "length", "cancelled", "error"

    @property
    def time_to_first_token(self) -> float | None:
        if self.started_at is None or self.first_token_at is None:
            return None
        return self.first_token_at - self.started_at

    @property
    def tokens_per_second(self) -> float:
        """Decode speed: tokens after the first over the time since the first."""
        end = self.finished_at or time.perf_counter()
        if self.first_token_at is None or self.new_tokens < 2 or end <= self.first_token_at:
            return 0.0
        return (self.new_tokens - 1) / (end - self.first_token_at)


class Engine(Protocol):
    name: str  # model name shown in the status line
    backend: str  # "transformers" or "openai"
    context: int  # token budget: prompt + max_new_tokens

    def count_tokens(self, messages: Sequence[dict[str, Any]]) -> int: ...

    def stream(self, messages: Sequence[dict[str, Any]], params: SamplingParams,
               cancel: threading.Event | None = None, *,
               stats: GenerationStats | None = None) -> Iterator[str]: ...


def check_budget(prompt_tokens: int, max_new_tokens: int, context: int, *, how: str = "") -> None:
    total = prompt_tokens + max_new_tokens
    if total > context:
        counted = f" ({how})" if how else ""
        raise BudgetError(
            f"Too long for the context budget: the prompt is {prompt_tokens} tokens{counted} and "
            f"max_new_tokens is {max_new_tokens}, {total} in all, above the budget of {context}. "
            f"Shorten the prompt, lower max_new_tokens, or start the studio with a larger --context."
        )
