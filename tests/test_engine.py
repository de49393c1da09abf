"""The local engine with the tiny model: streaming, stop, errors, serialisation, budget."""

from __future__ import annotations

import threading
import time

import pytest

from tests.support.slow import SlowSteps
from writing.engines.base import GenerationStats
from writing.engines.params import make_params
from writing.errors import BudgetError, EmptyPromptError, GenerationError

HELLO = [{"role": "user", "content": "Write a short blog post about local models. 写一段介绍。"}]


def _generate_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "studio-generate"]


def test_stream_yields_incremental_text(tiny_engine):
    stats = GenerationStats()
    pieces = list(tiny_engine.stream(HELLO, make_params(max_new_tokens=40, seed=7), stats=stats))
    assert len(pieces) > 3, "text must arrive in several pieces, not all at the end"
    assert all(isinstance(p, str) and p for p in pieces)
    assert stats.prompt_tokens > 10
    assert stats.new_tokens == 40 and stats.finish_reason == "length"
    assert stats.time_to_first_token is not None and stats.tokens_per_second > 0


def test_seed_makes_sampling_repeatable_and_greedy_is_deterministic(tiny_engine):
    seeded = make_params(max_new_tokens=30, seed=123)
    assert "".join(tiny_engine.stream(HELLO, seeded)) == "".join(tiny_engine.stream(HELLO, seeded))
    greedy = make_params(temperature=0, max_new_tokens=30)
    assert "".join(tiny_engine.stream(HELLO, greedy)) == "".join(tiny_engine.stream(HELLO, greedy))


def test_streamed_text_equals_a_plain_generate_with_the_same_seed(tiny_engine):
    import torch

    params = make_params(temperature=0, max_new_tokens=25)
    streamed = "".join(tiny_engine.stream(HELLO, params))
    inputs = tiny_engine.encode(HELLO)
    with torch.inference_mode():
        out = tiny_engine.model.generate(**inputs, do_sample=False, max_new_tokens=25)
    plain = tiny_engine.tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    assert streamed == plain


def test_cancel_stops_the_generate_thread_within_one_decode_step(tiny_engine):
    step = 0.05  # seconds per model call, so one decode step is long enough to measure against
    cancel = threading.Event()
    stats = GenerationStats()
    with SlowSteps(tiny_engine.model, step) as slow:
        stream = tiny_engine.stream(HELLO, make_params(max_new_tokens=1500), cancel, stats=stats)
        next(stream)
        next(stream)
        calls_at_cancel = slow.calls
        cancelled_at = time.perf_counter()
        cancel.set()
        rest = list(stream)  # the generator ends by itself once generate() stops
        stopped_after = time.perf_counter() - cancelled_at
        calls_after_cancel = slow.calls - calls_at_cancel
    assert not _generate_threads(), "the generate thread must have exited"
    assert stats.finish_reason == "cancelled"
    assert calls_after_cancel <= 1, f"{calls_after_cancel} model calls ran after cancel"
    # one step in flight when cancel arrives, plus thread hand-off; 1500 steps would take 75 s.
    assert stopped_after < 2 * step + 0.5, f"stop took {stopped_after:.3f}s"
    assert len(rest) <= 2
    print(f"\ncancel -> generate thread exit: {stopped_after * 1000:.0f} ms (decode step {step * 1000:.0f} ms)")


def test_closing_the_stream_early_stops_the_computation(tiny_engine):
    """A client disconnect closes the generator: generate() must stop, not run to max_new_tokens."""
    with SlowSteps(tiny_engine.model, 0.02) as slow:
        stream = tiny_engine.stream(HELLO, make_params(max_new_tokens=1500))
        next(stream)
        stream.close()
        calls_at_close = slow.calls
        time.sleep(0.2)
        assert slow.calls - calls_at_close <= 1
    assert not _generate_threads()


def test_cancel_while_queued_is_harmless_and_frees_nothing_it_does_not_hold(tiny_engine):
    first = tiny_engine.stream(HELLO, make_params(max_new_tokens=1500))
    with SlowSteps(tiny_engine.model, 0.02):
        next(first)  # holds the model
        cancel = threading.Event()
        cancel.set()
        assert list(tiny_engine.stream(HELLO, make_params(max_new_tokens=5), cancel)) == []
        first.close()
    assert "".join(tiny_engine.stream(HELLO, make_params(max_new_tokens=5)))  # the model is free again


def test_an_error_inside_generate_reaches_the_caller_with_the_partial_text(tiny_engine):
    class Boom:
        calls = 0

        def __call__(self, module, args, output):
            Boom.calls += 1
            if Boom.calls == 6:
                raise RuntimeError("simulated kernel failure")

    handle = tiny_engine.model.register_forward_hook(Boom())
    received: list[str] = []
    outcome: list[BaseException] = []

    def consume() -> None:
        try:
            for piece in tiny_engine.stream(HELLO, make_params(max_new_tokens=200)):
                received.append(piece)
        except BaseException as exc:  # noqa: BLE001
            outcome.append(exc)

    worker = threading.Thread(target=consume)
    worker.start()
    worker.join(timeout=30)
    handle.remove()
    assert not worker.is_alive(), "the consumer hung after the generate thread failed"
    assert len(outcome) == 1 and isinstance(outcome[0], GenerationError)
    assert "simulated kernel failure" in str(outcome[0])
    assert received, "text streamed before the failure is kept"
    assert not _generate_threads()
    assert "".join(tiny_engine.stream(HELLO, make_params(max_new_tokens=5)))  # the engine recovers


def test_two_concurrent_requests_are_served_one_after_another(tiny_engine):
    results: dict[str, str] = {}
    stats = {name: GenerationStats() for name in ("a", "b")}
    errors: list[BaseException] = []
    stop_counting = threading.Event()

    def request(name: str) -> None:
        try:
            results[name] = "".join(tiny_engine.stream(HELLO, make_params(max_new_tokens=60), stats=stats[name]))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    def count_tokens_meanwhile() -> None:  # the tokenizer must never be used concurrently
        while not stop_counting.is_set():
            try:
                tiny_engine.count_tokens(HELLO)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
                return

    counter = threading.Thread(target=count_tokens_meanwhile)
    counter.start()
    with SlowSteps(tiny_engine.model, 0.005):
        workers = [threading.Thread(target=request, args=(name,)) for name in ("a", "b")]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
    stop_counting.set()
    counter.join()
    assert not errors, errors
    assert set(results) == {"a", "b"} and all(results.values())
    first, second = sorted(stats.values(), key=lambda s: s.started_at)
    assert first.finished_at <= second.started_at, "the two generations overlapped"


def test_over_budget_is_refused_with_both_numbers(tiny_engine):
    long_prompt = [{"role": "user", "content": "word " * 3000}]
    prompt_tokens = tiny_engine.count_tokens(long_prompt)
    with pytest.raises(BudgetError) as info:
        list(tiny_engine.stream(long_prompt, make_params(max_new_tokens=100)))
    message = str(info.value)
    assert str(prompt_tokens) in message and "100" in message and str(tiny_engine.context) in message
    with pytest.raises(BudgetError):
        list(tiny_engine.stream(HELLO, make_params(max_new_tokens=tiny_engine.context)))


def test_empty_prompt_is_refused(tiny_engine):
    with pytest.raises(EmptyPromptError):
        list(tiny_engine.stream([{"role": "user", "content": ""}], make_params()))


def test_sampling_options_reach_generate():
    """Each SamplingParams field becomes the generate() argument or logits processor it names."""
    import torch

    from writing.engines.local import _extra_processors, _PresencePenalty, sampling_kwargs

    sampled = make_params(temperature=0.9, top_p=0.7, top_k=0, min_p=0.05, repetition_penalty=1.2,
                          presence_penalty=1.5, max_new_tokens=20, seed=1)
    assert sampling_kwargs(sampled) == {"max_new_tokens": 20, "repetition_penalty": 1.2, "do_sample": True,
                                        "temperature": 0.9, "top_p": 0.7, "top_k": None, "min_p": 0.05}
    assert sampling_kwargs(make_params(top_k=5, min_p=0.0))["top_k"] == 5
    assert sampling_kwargs(make_params(top_k=5, min_p=0.0))["min_p"] is None  # 0 = off, not a filter
    greedy = sampling_kwargs(make_params(temperature=0, repetition_penalty=1.0, max_new_tokens=3))
    assert greedy == {"max_new_tokens": 3, "repetition_penalty": None, "do_sample": False, "temperature": None,
                      "top_p": None, "top_k": None, "min_p": None}
    assert _extra_processors(make_params(presence_penalty=0.0), 4) == []
    [penalty] = _extra_processors(sampled, 4)
    assert isinstance(penalty, _PresencePenalty) and penalty.penalty == 1.5
    # Prompt tokens (the first 4) are not penalised; each generated token once, however often it came.
    ids = torch.tensor([[1, 2, 3, 4, 7, 7, 9]])
    scores = torch.zeros(1, 12)
    out = penalty(ids, scores)
    expected = torch.zeros(1, 12)
    expected[0, 7] = expected[0, 9] = -1.5
    assert torch.equal(out, expected), out
    assert torch.equal(penalty(ids[:, :4], scores), scores)  # nothing generated yet: unchanged


def test_presence_and_repetition_penalties_change_what_is_written(tiny_engine):
    """Greedy runs (deterministic) with and without each penalty: the penalty must change the text."""
    base = dict(temperature=0, max_new_tokens=24)
    plain_ids = tiny_engine.tokenizer.encode("".join(tiny_engine.stream(HELLO, make_params(**base))))
    assert len(plain_ids) > len(set(plain_ids)), "the greedy baseline repeats no token: the check is void"
    plain = "".join(tiny_engine.stream(HELLO, make_params(**base)))
    assert "".join(tiny_engine.stream(HELLO, make_params(**base, presence_penalty=2.0))) != plain
    assert "".join(tiny_engine.stream(HELLO, make_params(**base, repetition_penalty=2.0))) != plain


def test_top_k_one_and_min_p_one_sample_the_greedy_text(tiny_engine):
    """Sampling that may only pick the most likely token is greedy decoding, whatever the seed: so top_k
    and min_p reach the sampler (without them a seeded sample would wander off the greedy text)."""
    greedy = "".join(tiny_engine.stream(HELLO, make_params(temperature=0, max_new_tokens=24)))
    loose = make_params(temperature=2.0, top_p=1.0, top_k=0, min_p=0.0, max_new_tokens=24, seed=3)
    assert "".join(tiny_engine.stream(HELLO, loose)) != greedy, "a hot sample equals greedy: the check is void"
    assert "".join(tiny_engine.stream(HELLO, loose.merged(top_k=1))) == greedy
    assert "".join(tiny_engine.stream(HELLO, make_params(temperature=2.0, top_p=1.0, top_k=0, min_p=1.0,
                                                         max_new_tokens=24, seed=3))) == greedy
