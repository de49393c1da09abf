"""Long-form budget rules the pipeline tests do not pin down (issue 16: the surviving mutants of the
budget code in writing/compose/longform.py): the outline's token room, the estimate's prompt count
and speeds, how a duration reads, the conservative token estimate and the document report."""

from __future__ import annotations

import math

import pytest

from writing.compose.longform import (
    SECTION_TOKEN_SLACK,
    TOKENS_PER_WORD,
    Estimate,
    PromptBudget,
    estimate,
    estimate_tokens,
    lead,
    make_brief,
    outline_max_new_tokens,
    report,
    section_max_new_tokens,
)
from writing.compose.outline import Outline, Section
from writing.compose.wordcount import length_score
from writing.engines.base import GenerationStats

BRIEF = make_brief(topic="Remote work", total_words=1200)
TWO = Outline("Doc", (Section("One", target=500), Section("Two", target=700)))


@pytest.mark.parametrize(("sections", "words", "room"), [
    (5, 3000, 96 + 80 * 5),      # the sections asked for
    (0, 2000, 96 + 80 * 5),      # else one per 400 words
    (0, 801, 96 + 80 * 3),       # (rounded up)
    (0, 200, 96 + 80 * 2),       # and at least two
    (30, 3000, 2048),            # never more than 2,048
])
def test_the_outline_gets_room_for_one_line_per_section(sections: int, words: int, room: int) -> None:
    assert outline_max_new_tokens(make_brief(topic="t", total_words=words, sections=sections)) == room


def test_a_section_gets_room_for_its_words_with_slack() -> None:
    assert section_max_new_tokens(BRIEF, 0) == 32
    assert section_max_new_tokens(BRIEF, 300) == math.ceil(300 * TOKENS_PER_WORD["en"] * SECTION_TOKEN_SLACK) + 32


def test_the_token_estimate_counts_three_ascii_characters_or_one_other_character_a_token() -> None:
    assert estimate_tokens([]) == 3
    assert estimate_tokens([{"role": "user", "content": "abcd"}]) == 3 + 5 + 2
    assert estimate_tokens([{"role": "user", "content": "中文写作"}]) == 3 + 5 + 4
    assert estimate_tokens([{"role": "user", "content": "\x80\x80\x80\x80"}]) == 3 + 5 + 4  # not ASCII
    assert estimate_tokens([{"role": "user"}]) == 3 + 5


def test_lead_of_nothing_is_nothing_and_a_sentence_of_exactly_the_limit_is_kept_whole() -> None:
    assert lead("  \n ", 10) == ""
    assert lead("Ten chars.", 10) == "Ten chars."


# --- the estimate ----------------------------------------------------------------------------------------


def test_the_estimate_counts_summary_and_tail_at_four_characters_a_token_up_to_the_prompt_cap() -> None:
    budget = PromptBudget(prompt_tokens=10_000, summary_chars=401, tail_chars=400)
    assert estimate(BRIEF, TWO, count_tokens=lambda m: 100, budget=budget).prompt_tokens == 2 * (100 + 200)
    capped = PromptBudget(prompt_tokens=150, summary_chars=401, tail_chars=400)
    assert estimate(BRIEF, TWO, count_tokens=lambda m: 100, budget=capped).prompt_tokens == 2 * 150


def test_nothing_to_write_costs_no_prompt_unless_rewriting() -> None:
    written = Outline("Doc", (Section("One", target=500, text="done"),))
    assert estimate(BRIEF, written).prompt_tokens == 0
    again = estimate(BRIEF, written, rewrite=True)
    assert (again.sections, again.words) == (1, 500) and again.prompt_tokens > 0


def stats(*, new_tokens: int, first: float, end: float, prompt_tokens: int = 600) -> GenerationStats:
    return GenerationStats(prompt_tokens=prompt_tokens, new_tokens=new_tokens, started_at=0.0, first_token_at=first,
                           finished_at=end)


def test_a_slow_measured_run_is_used_and_a_run_without_speed_is_not() -> None:
    slow = estimate(BRIEF, TWO, stats=stats(new_tokens=11, first=2.0, end=22.0))  # 0.5 tok/s
    assert slow.measured and slow.decode_tps == pytest.approx(0.5)
    none = estimate(BRIEF, TWO, stats=stats(new_tokens=1, first=2.0, end=22.0))  # one token: no speed
    assert not none.measured
    assert none.seconds > 0


def test_prefill_speed_comes_from_the_time_to_first_token_when_it_is_known() -> None:
    quick = estimate(BRIEF, TWO, stats=stats(new_tokens=101, first=0.5, end=20.5))
    assert quick.prefill_tps == pytest.approx(600 / 0.5)
    default = estimate(BRIEF, TWO).prefill_tps
    no_prompt = estimate(BRIEF, TWO, stats=stats(new_tokens=101, first=0.5, end=20.5, prompt_tokens=0))
    assert no_prompt.prefill_tps == default and no_prompt.seconds > 0
    no_first = estimate(BRIEF, TWO, stats=GenerationStats(prompt_tokens=600, new_tokens=101))
    assert no_first.prefill_tps == default


def at(seconds: float, *, measured: bool = False) -> str:
    return Estimate(sections=2, words=1200, new_tokens=round(seconds), prompt_tokens=0, decode_tps=1.0,
                    prefill_tps=1.0, measured=measured).describe()


@pytest.mark.parametrize(("seconds", "reads"), [(89, "89 s"), (90, "2 min"), (5399, "90 min"), (5400, "1.5 h"),
                                                (5580, "1.6 h")])
def test_a_duration_reads_in_seconds_minutes_or_hours(seconds: int, reads: str) -> None:
    assert f"About {reads} at" in at(seconds)


def test_the_estimate_says_whether_it_was_measured() -> None:
    assert at(60, measured=True) == ("2 section(s), about 1,200 words: ~60 new tokens and ~0 prompt tokens. "
                                     "About 60 s at 1.0 tok/s (measured on the last run).")
    assert at(60).endswith("(a default estimate: nothing measured yet).")
    nothing = Estimate(sections=0, words=0, new_tokens=0, prompt_tokens=0, decode_tps=1.0, prefill_tps=1.0,
                       measured=False)
    assert nothing.describe() == "Nothing to write: every section is written or locked."


# --- the report ------------------------------------------------------------------------------------------


def test_the_report_has_a_numbered_row_per_section_and_a_document_row() -> None:
    outline = Outline("Doc", (Section("One", target=10, text="word " * 12),
                              Section("Two", target=20, text="word " * 15, locked=True)))
    rows = report(outline).rows()
    assert rows == [
        [1, "One", 10, 12, round(length_score(10, 12), 1), ""],
        [2, "Two", 20, 15, round(length_score(20, 15), 1), "yes"],
        ["", "Document", 30, 27, round(length_score(30, 27), 1), ""],
    ]
    assert all(row[4] == round(row[4], 1) for row in rows)


def test_a_one_word_target_is_scored() -> None:
    assert report(Outline("Doc", (Section("One", target=1, text="word"),))).score == length_score(1, 1) > 0
