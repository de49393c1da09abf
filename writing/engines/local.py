"""LocalEngine: a transformers causal LM on this machine.

`generate()` runs in a background thread and feeds a TextIteratorStreamer. A per-request
`threading.Event` (cancel) is checked by a StoppingCriteria after every decode step, and the
stream's `finally` sets a second event, so a Stop click, a client disconnect or an abandoned
generator all free the CPU within one step. One request computes at a time; requests wait on
a lock. An exception in the generate thread is re-raised in the caller's thread as
GenerationError; the consumer polls instead of blocking on a fixed timeout, so a long CPU
prefill never trips it and a dead thread never hangs it.

Prefix reuse: the engine keeps the KV cache of the last request's tokens (prompt + generated).
The long-form pipeline and chat re-send the same prefix (system prompt, brief, outline, earlier
turns), so the next request crops that cache to the longest common token prefix and prefills
only the new tokens. Greedy output is the same with and without reuse (tests/test_prefix_cache.py).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

import torch
from transformers import LogitsProcessorList, StoppingCriteriaList, TextIteratorStreamer

from writing.engines.base import DEFAULT_CONTEXT, GenerationStats, check_budget
from writing.engines.messages import normalize
from writing.engines.params import SamplingParams
from writing.errors import GenerationError
from writing.runtime.kvcache import ReservedCache

_POLL_S = 0.1  # how often a waiting consumer re-checks the generate thread and its cancel event


class LocalEngine:
    """A transformers causal LM on this machine. Thread-safe; one request computes at a time."""

    backend = "transformers"

    def __init__(self, model: Any, tokenizer: Any, *, name: str = "local", dtype: str = "",
                 context: int = DEFAULT_CONTEXT, prefix_reuse: bool = True):
        if context < 16:
            raise ValueError(f"context must be at least 16 tokens, got {context}")
        self.model = model
        self.tokenizer = tokenizer
        self.name = name
        self.dtype = dtype or str(getattr(model, "dtype", "")).replace("torch.", "")
        self.context = context
        self._generate_lock = threading.Lock()  # one generate() at a time
        self._tokenizer_lock = threading.RLock()  # fast tokenizers are not thread-safe
        self._waiting = 0
        self._waiting_lock = threading.Lock()
        self.prefix_reuse = prefix_reuse
        # KV cache of the last request and the token ids it holds; guarded by _generate_lock.
        self._cache: Any = None
        self._cache_ids: torch.Tensor | None = None
        self.last_reused_tokens = 0  # prompt tokens the last request took from the cache

    def reset_cache(self) -> None:
        """Forget the kept KV cache (frees its memory); the next request prefills in full."""
        with self._generate_lock:
            self._cache, self._cache_ids = None, None

    @property
    def busy(self) -> bool:
        return self._generate_lock.locked()

    @property
    def waiting(self) -> int:
        """Requests queued behind the one computing."""
        return self._waiting

    def encode(self, messages: Sequence[dict[str, Any]]) -> dict[str, Any]:
        with self._tokenizer_lock:
            return self.tokenizer.apply_chat_template(
                normalize(messages), add_generation_prompt=True, return_tensors="pt", return_dict=True
            )

    def count_tokens(self, messages: Sequence[dict[str, Any]]) -> int:
        return int(self.encode(messages)["input_ids"].shape[1])

    def stream(self, messages: Sequence[dict[str, Any]], params: SamplingParams,
               cancel: threading.Event | None = None, *,
               stats: GenerationStats | None = None) -> Iterator[str]:
        yield from self.stream_encoded(self.encode(messages), params, cancel, stats=stats)

    def stream_encoded(self, inputs: dict[str, Any], params: SamplingParams,
                       cancel: threading.Event | None = None, *,
                       stats: GenerationStats | None = None) -> Iterator[str]:
        """stream() for an already tokenised prompt (`input_ids`, optional `attention_mask`)."""
        cancel = cancel if cancel is not None else threading.Event()
        stats = stats if stats is not None else GenerationStats()
        stats.prompt_tokens = int(inputs["input_ids"].shape[1])
        check_budget(stats.prompt_tokens, params.max_new_tokens, self.context)
        if not self._wait_for_turn(cancel):
            stats.finish_reason = "cancelled"
            return
        try:
            stats.started_at = time.perf_counter()
            yield from self._generate(inputs, params, cancel, stats)
        finally:
            stats.finished_at = time.perf_counter()
            self._generate_lock.release()

    def _wait_for_turn(self, cancel: threading.Event) -> bool:
        """Block until the model is free; False if cancelled while queued."""
        with self._waiting_lock:
            self._waiting += 1
        try:
            while not self._generate_lock.acquire(timeout=_POLL_S):
                if cancel.is_set():
                    return False
            return True
        finally:
            with self._waiting_lock:
                self._waiting -= 1

    def _generate(self, inputs: dict[str, Any], params: SamplingParams, cancel: threading.Event,
                  stats: GenerationStats) -> Iterator[str]:
        stop = threading.Event()  # set by us when the consumer goes away
        streamer = _LockedStreamer(self.tokenizer, self._tokenizer_lock, stats)
        cache = self._take_cache(inputs["input_ids"])
        kwargs = dict(
            inputs,
            cache=cache,
            streamer=streamer,
            stopping_criteria=StoppingCriteriaList([_EventCriteria(cancel, stop)]),
            logits_processor=LogitsProcessorList(_extra_processors(params, stats.prompt_tokens)),
            **sampling_kwargs(params),
        )
        failure: list[BaseException] = []

        def work() -> None:
            try:
                if params.seed is not None:
                    torch.manual_seed(params.seed)
                with torch.inference_mode():
                    sequences = self.model.generate(**kwargs)
                self._keep_cache(cache, sequences)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer thread
                failure.append(exc)
            finally:
                streamer.end()

        thread = threading.Thread(target=work, name="studio-generate", daemon=True)
        thread.start()
        try:
            while True:
                try:
                    text = next(streamer)
                except StopIteration:
                    break
                except queue.Empty:  # prefill of a long prompt, or a slow step: keep waiting
                    if not thread.is_alive() and streamer.text_queue.empty():
                        break
                    continue
                if text:
                    yield text
            thread.join()
        finally:
            stop.set()
            thread.join()
            stats.finish_reason = _finish_reason(cancel, stop, failure, stats, params)
        if failure:
            exc = failure[0]
            raise GenerationError(f"Generation failed: {type(exc).__name__}: {exc}") from exc


    def _take_cache(self, input_ids: torch.Tensor) -> Any:
        """The kept cache cropped to the longest common prefix with `input_ids`, or a fresh one.

        At least one prompt token is always left to prefill: generate() needs logits for it.
        """
        kept, kept_ids = self._cache, self._cache_ids
        self._cache, self._cache_ids = None, None  # a failed request must not leave a half-written cache
        self.last_reused_tokens = 0
        if not self.prefix_reuse or kept is None or kept_ids is None or input_ids.shape[0] != 1:
            return ReservedCache(config=self.model.config)
        ids = input_ids[0]
        limit = min(len(kept_ids), len(ids) - 1)
        same = (kept_ids[:limit] == ids[:limit]).to(torch.int8)
        common = int(same.cumprod(0).sum()) if limit > 0 else 0
        if common == 0:
            return ReservedCache(config=self.model.config)
        if kept.get_seq_length() > common:
            kept.crop(common - kept.get_seq_length())  # transformers 5: crop(-tokens_to_remove)
        self.last_reused_tokens = common
        return kept

    def _keep_cache(self, cache: Any, sequences: torch.Tensor) -> None:
        """Remember which tokens' keys and values `cache` now holds (the last new token has none)."""
        if not self.prefix_reuse or sequences.shape[0] != 1:
            return
        length = cache.get_seq_length()
        self._cache, self._cache_ids = cache, sequences[0, :length].clone()


def _finish_reason(cancel: threading.Event, stop: threading.Event, failure: list, stats: GenerationStats,
                   params: SamplingParams) -> str:
    if failure:
        return "error"
    if stats.new_tokens >= params.max_new_tokens:
        return "length"
    if cancel.is_set():
        return "cancelled"
    return "stop"


def sampling_kwargs(params: SamplingParams) -> dict[str, Any]:
    """SamplingParams -> generate() keyword arguments."""
    kwargs: dict[str, Any] = {
        "max_new_tokens": params.max_new_tokens,
        "repetition_penalty": params.repetition_penalty if params.repetition_penalty != 1.0 else None,
    }
    if params.greedy:
        kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None, min_p=None)
    else:
        kwargs.update(
            do_sample=True,
            temperature=params.temperature,
            top_p=params.top_p,
            top_k=params.top_k or None,
            min_p=params.min_p or None,
        )
    return kwargs


def _extra_processors(params: SamplingParams, prompt_tokens: int) -> list[Any]:
    if params.presence_penalty == 0.0:
        return []
    return [_PresencePenalty(params.presence_penalty, prompt_tokens)]


class _PresencePenalty:
    """OpenAI-style presence penalty: subtract a constant from every token already generated."""

    def __init__(self, penalty: float, prompt_tokens: int):
        self.penalty = penalty
        self.prompt_tokens = prompt_tokens

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        generated = input_ids[:, self.prompt_tokens:]  # (batch, new_tokens)
        if generated.shape[1] == 0:
            return scores
        seen = scores.new_zeros(scores.shape, dtype=scores.dtype)
        seen.scatter_(1, generated, 1.0)
        return scores - self.penalty * seen


class _EventCriteria:
    """Stops generate() after the current step when the user cancels or the consumer goes away."""

    def __init__(self, *events: threading.Event):
        self.events = events

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        stop = any(event.is_set() for event in self.events)
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool, device=input_ids.device)


class _LockedStreamer(TextIteratorStreamer):
    """TextIteratorStreamer whose decoding holds the engine's tokenizer lock and counts tokens."""

    def __init__(self, tokenizer: Any, lock: threading.RLock, stats: GenerationStats):
        super().__init__(tokenizer, skip_prompt=True, timeout=_POLL_S, skip_special_tokens=True)
        self.lock = lock
        self.stats = stats
        self._ended = False

    def put(self, value: Any) -> None:
        if not self.next_tokens_are_prompt:
            if self.stats.first_token_at is None:
                self.stats.first_token_at = time.perf_counter()
            self.stats.new_tokens += int(value.numel())
        with self.lock:
            super().put(value)

    def end(self) -> None:
        """Called by generate() at the end and by our thread wrapper after a failure: once only."""
        with self.lock:
            if not self._ended:
                self._ended = True
                super().end()
