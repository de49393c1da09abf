"""Prefix reuse in LocalEngine: a shared prompt prefix is prefilled once, and output is unchanged."""

from __future__ import annotations

import pytest

from writing.engines.base import GenerationStats
from writing.engines.local import LocalEngine
from writing.engines.params import make_params
from writing.runtime.kvcache import ReservedCache

GREEDY = make_params(temperature=0.0, max_new_tokens=12)
BRIEF = ("You are a careful writer. Brief: a blog post about outlines, for new writers, friendly tone. "
         "Outline: 1. Why outline first. 2. How to plan each section with a word target. 3. Summary.")


def section_prompt(number: int) -> list[dict[str, str]]:
    # As the long-form helper builds them: brief + outline first, the section request last.
    return [{"role": "system", "content": BRIEF}, {"role": "user", "content": f"Write section {number} now."}]


def run(engine: LocalEngine, messages: list[dict[str, str]]) -> tuple[str, GenerationStats]:
    stats = GenerationStats()
    text = "".join(engine.stream(messages, GREEDY, stats=stats))
    return text, stats


def common_prefix(engine: LocalEngine, first: list[dict[str, str]], second: list[dict[str, str]]) -> int:
    a, b = (engine.encode(m)["input_ids"][0].tolist() for m in (first, second))
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


@pytest.fixture()
def engines(tiny_loaded):
    reuse = LocalEngine(tiny_loaded.model, tiny_loaded.tokenizer, name="tiny", context=2048, prefix_reuse=True)
    fresh = LocalEngine(tiny_loaded.model, tiny_loaded.tokenizer, name="tiny", context=2048, prefix_reuse=False)
    return reuse, fresh


def test_second_section_reuses_the_shared_prefix_and_matches_a_full_prefill(engines):
    reuse, fresh = engines
    first, _ = run(reuse, section_prompt(1))
    assert reuse.last_reused_tokens == 0  # nothing kept yet
    assert isinstance(reuse._cache, ReservedCache)  # writes each token in place (writing/runtime/kvcache.py)
    room = reuse._cache.layers[0]._key_room.data_ptr()
    second, stats = run(reuse, section_prompt(2))
    assert reuse._cache.layers[0]._key_room.data_ptr() == room  # the kept prefix was cropped, never copied
    assert reuse.last_reused_tokens == common_prefix(reuse, section_prompt(1), section_prompt(2))
    assert reuse.last_reused_tokens > 40  # the whole system turn with brief and outline
    assert reuse.last_reused_tokens < stats.prompt_tokens  # the new tokens were prefilled

    assert run(fresh, section_prompt(1))[0] == first
    assert run(fresh, section_prompt(2))[0] == second
    assert fresh.last_reused_tokens == 0


def test_chat_continuation_reuses_the_previous_answer(engines):
    reuse, fresh = engines
    turn1 = [{"role": "user", "content": "Give me a title for a post about outlines."}]
    answer, _ = run(reuse, turn1)
    turn2 = turn1 + [{"role": "assistant", "content": answer}, {"role": "user", "content": "Shorter, please."}]
    again, _ = run(reuse, turn2)
    assert reuse.last_reused_tokens >= reuse.count_tokens(turn1) - 1
    assert run(fresh, turn2)[0] == again


def test_identical_prompt_still_prefills_one_token_and_repeats_itself(engines):
    reuse, _ = engines
    first, _ = run(reuse, section_prompt(1))
    second, stats = run(reuse, section_prompt(1))
    assert second == first
    assert reuse.last_reused_tokens == stats.prompt_tokens - 1


def test_different_prompt_starts_fresh_and_reset_forgets(engines):
    reuse, fresh = engines
    run(reuse, section_prompt(1))
    other = [{"role": "user", "content": "Something else entirely."}]
    text, _ = run(reuse, other)
    assert reuse.last_reused_tokens < 3  # at most "<|im_start|>user"
    assert text == run(fresh, other)[0]
    reuse.reset_cache()
    run(reuse, other)
    assert reuse.last_reused_tokens == 0


def test_sampled_requests_with_a_seed_repeat_with_reuse(engines):
    reuse, fresh = engines
    params = make_params(temperature=0.7, seed=7, max_new_tokens=10)
    run(reuse, section_prompt(1))
    with_reuse = "".join(reuse.stream(section_prompt(2), params))
    assert reuse.last_reused_tokens > 0
    assert with_reuse == "".join(fresh.stream(section_prompt(2), params))
