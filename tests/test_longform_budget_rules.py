"""Long-form budget rules at their edges (issue 16: the budget mutants of writing/compose/longform.py that
test_longform_budget.py alone leaves alive). Pure functions, no model: the plan in every prompt, the first
sentence (lead) and the end (tail) of a text, the extractive summary of earlier sections, one section's
prompt and how it shrinks to its token budget, the estimate and the document report."""

from __future__ import annotations

import pytest

from writing.compose.bible import make_bible, render_bible
from writing.compose.limits import plan_char_limit
from writing.compose.longform import (
    OMITTED,
    Brief,
    Estimate,
    PromptBudget,
    estimate,
    lead,
    make_brief,
    plan_text,
    report,
    section_max_new_tokens,
    section_messages,
    summarize_before,
    tail,
)
from writing.compose.outline import Outline, Section
from writing.compose.wordcount import length_score
from writing.errors import BudgetError, ParamError

BRIEF = Brief(topic="Tides", audience="sailors", style="plain", language="English", total_words=600)

# --- the plan and the section's token room ----------------------------------------------------------------


def test_the_plan_shows_titles_points_and_targets_never_texts_or_locks() -> None:
    outline = Outline("Doc", (Section("One", points=("a", "bb"), target=100, text="written", locked=True),
                              Section("Two", target=50)))
    assert plan_text(outline) == "# Doc\n\n## 1. One (100 words)\n- a\n- bb\n\n## 2. Two (50 words)"


def test_a_chinese_section_gets_fewer_tokens_a_word_than_an_english_one() -> None:
    chinese = make_brief(topic="远程办公", total_words=600)
    assert section_max_new_tokens(chinese, 100) == 113 + 32  # ceil(100 * 0.75 * 1.5)
    assert section_max_new_tokens(BRIEF, 100) == 210 + 32  # 100 * 1.4 * 1.5
    assert section_max_new_tokens(BRIEF, 1) == 3 + 32


# --- lead: the first sentence ------------------------------------------------------------------------------


def test_lead_flattens_white_space_and_keeps_a_closing_quote() -> None:
    assert lead("  A  b\n c.  D e.", 100) == "A b c."
    assert lead('He said "Go." Then left.', 100) == 'He said "Go."'
    assert lead("no sentence end here", 100) == "no sentence end here"


def test_lead_cuts_a_long_sentence_at_a_word_past_half_the_limit() -> None:
    assert lead("aaaa bbbb cccc dddd", 12) == "aaaa bbbb…"
    assert lead("aaaaa bbbbbbbbbb", 10) == "aaaaa bbbb…"  # the space at exactly half is too early: cut mid-word
    assert lead("aaaaaa bbbbbbbbbb", 10) == "aaaaaa…"
    assert lead("a bcdefghijk", 2) == "a…"  # no space left before the ellipsis


# --- tail: the end of a text -------------------------------------------------------------------------------


def test_tail_keeps_a_text_that_fits_whole_and_strips_it() -> None:
    assert tail("  abc  ", 3) == "abc"
    assert tail("a. bcdefgh", 10) == "a. bcdefgh"
    assert tail("abc", 1) == "c"


def test_tail_starts_after_a_sentence_end_in_the_first_third() -> None:
    text = "Intro text. Alpha. Beta gamma delta epsilon."
    assert tail(text, 33) == "Beta gamma delta epsilon."  # " Alpha. Beta...": a sentence ends in its first third
    assert tail(text, 24) == "gamma delta epsilon."  # no sentence end in the first third: the first word boundary
    assert tail("zz abcdef. ghij klmnop qrstuv", 26) == "ghij klmnop qrstuv"  # the end at 7 of 26: in the third


def test_tail_starts_at_a_word_only_within_the_first_third() -> None:
    assert tail("one two three four", 9) == "hree four"  # no space in the window's first third: cut mid-word
    assert tail("one two three four", 12) == "three four"
    assert tail("zz a b c defghijklm", 16) == "b c defghijklm"  # the first space, not the last one
    assert tail("zzz abc def ghij", 13) == "abc def ghij"  # a window that starts with the space
    assert tail("一二三四五六七八九十", 4) == "七八九十"  # no spaces: any character is a boundary


# --- the summary of earlier sections -----------------------------------------------------------------------

SUMMARY = Outline("Doc", (Section("One", text="First one. More."), Section("Two"),
                          Section("Three", text="Third starts here. And more."), Section("Four")))
WHOLE = "1. One: First one.\n2. Two\n3. Three: Third starts here."  # 55 characters with a newline after each


def test_the_summary_has_each_earlier_section_with_its_first_sentence() -> None:
    assert summarize_before(SUMMARY, 3, max_chars=55) == WHOLE
    assert summarize_before(SUMMARY, 1, max_chars=100) == "1. One: First one."
    assert summarize_before(SUMMARY, 0, max_chars=100) == ""
    assert summarize_before(SUMMARY, 3, max_chars=0) == ""


def test_the_summary_shortens_the_oldest_sections_first() -> None:
    assert summarize_before(SUMMARY, 3, max_chars=54) == "1. One\n2. Two\n3. Three: Third starts here."
    assert summarize_before(SUMMARY, 3, max_chars=28) == "1. One\n2. Two\n3. Three"


def test_the_summary_says_how_many_sections_it_left_out() -> None:
    assert summarize_before(SUMMARY, 3, max_chars=36) == "(section 1 left out)\n2. Two\n3. Three: Third starts here."
    assert summarize_before(SUMMARY, 3, max_chars=29) == "(sections 1-2 left out)\n3. Three: Third starts here."
    assert summarize_before(SUMMARY, 3, max_chars=8) == "(sections 1-3 left out)"
    assert summarize_before(SUMMARY, 3, max_chars=1) == "(sections 1-3 left out)"


def test_the_summary_cuts_each_first_sentence_to_the_lead_length() -> None:
    assert summarize_before(SUMMARY, 3, max_chars=1000, lead_chars=9).endswith("\n3. Three: Third…")
    sentence = "word " * 47 + "last."  # 240 characters
    kept = Outline("Doc", (Section("One", text=sentence + " More."), Section("Two")))
    assert summarize_before(kept, 1, max_chars=1000) == f"1. One: {sentence}"  # the default: 240 characters
    cut = Outline("Doc", (Section("One", text="a" + sentence + " More."), Section("Two")))
    assert summarize_before(cut, 1, max_chars=1000).endswith("…")


# --- one section's prompt ----------------------------------------------------------------------------------

OUTLINE = Outline("Tides", (Section("Why", points=("moon",), target=100, text="The moon pulls. Water follows."),
                            Section("How", points=("gravity", "spin"), target=200),
                            Section("Then", target=100, text="Later it turned.")))


def user(messages: list[dict[str, str]]) -> str:
    assert [m["role"] for m in messages] == ["system", "user"]
    return messages[1]["content"]


def free(messages) -> int:
    return 0


def test_a_mode_or_index_that_does_not_exist_is_refused_by_name() -> None:
    with pytest.raises(ParamError) as caught:
        section_messages(BRIEF, OUTLINE, 0, mode="rewrite", budget_tokens=3000)
    assert str(caught.value) == "mode: expected 'write' or 'continue', got 'rewrite'"
    for index in (-1, 3):
        with pytest.raises(ParamError) as caught:
            section_messages(BRIEF, OUTLINE, index, budget_tokens=3000)
        assert str(caught.value) == f"index: no section {index}; the outline has 3 section(s)"
    assert user(section_messages(BRIEF, OUTLINE, 2, budget_tokens=3000))  # the last one exists


def test_the_first_section_is_told_nothing_came_before() -> None:
    text = user(section_messages(BRIEF, OUTLINE, 0, budget_tokens=3000))
    assert text.count("(nothing yet: this is the first section)") == 2
    assert 'Now write section 1, "Why", in about 100 words, covering: moon.' in text


def test_a_section_after_an_unwritten_one_says_so() -> None:
    text = user(section_messages(BRIEF, OUTLINE, 2, budget_tokens=3000))
    assert "ends with:\n(not written yet)\n" in text
    assert "so far (a summary of the earlier sections):\n1. Why: The moon pulls.\n2. How\n" in text
    assert 'section 3, "Then", in about 100 words' in text


def test_a_section_gets_the_end_of_the_one_before() -> None:
    text = user(section_messages(BRIEF, OUTLINE, 1, budget_tokens=3000))
    assert "ends with:\nThe moon pulls. Water follows.\n" in text
    assert "covering: gravity, spin." in text


def test_continuing_a_section_quotes_its_own_end_and_word_count() -> None:
    text = user(section_messages(BRIEF, OUTLINE, 0, mode="continue", budget_tokens=3000))
    assert 'Section 1, "Why" (covering: moon), has 5 of its 100 words so far. It ends with:\n' \
           "The moon pulls. Water follows.\n" in text
    empty = user(section_messages(BRIEF, OUTLINE, 1, mode="continue", budget_tokens=3000))
    assert f"has 0 of its 200 words so far. It ends with:\n{OMITTED}\n" in empty


def test_the_default_budget_keeps_the_whole_tail_and_summary_when_they_fit() -> None:
    long_text = " ".join(f"Sentence {n} of the first part." for n in range(200))  # ~5,900 characters
    outline = Outline("Doc", (Section("One", text=long_text), Section("Two"), Section("Three")))
    text = user(section_messages(BRIEF, outline, 1, budget_tokens=100_000, count_tokens=free))
    end = text.split("ends with:\n")[1].split("\n\nNow write")[0]
    assert 1400 < len(end) <= 1500 and long_text.endswith(end)  # PromptBudget().tail_chars
    continued = user(section_messages(BRIEF, outline, 0, mode="continue", budget_tokens=100_000, count_tokens=free))
    assert end in continued


# The plan's size is counted in characters first: topic, audience, style, bible, the plan and this section's points.

def plan_chars(brief: Brief, outline: Outline, index: int, bible: str = "") -> int:
    return (len(brief.topic) + len(brief.audience) + len(brief.style) + len(bible) + len(plan_text(outline))
            + sum(len(p) for p in outline.sections[index].points))


def test_a_plan_of_more_characters_than_the_budget_can_hold_is_refused_before_counting() -> None:
    limit = plan_char_limit(16)
    room = limit - plan_chars(BRIEF, OUTLINE, 1)
    fits = Brief(topic="T" * (len(BRIEF.topic) + room), audience="sailors", style="plain", language="English")
    assert plan_chars(fits, OUTLINE, 1) == limit
    assert user(section_messages(fits, OUTLINE, 1, budget_tokens=16, count_tokens=free))
    over = Brief(topic=fits.topic + "T", audience="sailors", style="plain", language="English")
    with pytest.raises(BudgetError) as caught:
        section_messages(over, OUTLINE, 1, budget_tokens=16, count_tokens=free)
    assert str(caught.value) == (
        f"The brief and the outline alone have {limit + 1:,} characters, more than a prompt budget of 16 tokens can "
        "hold. Shorten the key points or the outline, or start the studio with a larger --context.")


def test_every_part_of_the_brief_and_the_points_count_towards_the_plan() -> None:
    for brief in (Brief(topic="T", audience="A" * 300), Brief(topic="T", style="S" * 300)):
        with pytest.raises(BudgetError, match=f"alone have {plan_chars(brief, OUTLINE, 0):,} characters"):
            section_messages(brief, OUTLINE, 0, budget_tokens=16, count_tokens=free)
    pointed = Outline("Doc", (Section("One", points=("p" * 150, "q" * 150)),))
    with pytest.raises(BudgetError, match=f"alone have {plan_chars(BRIEF, pointed, 0):,} characters"):
        section_messages(BRIEF, pointed, 0, budget_tokens=16, count_tokens=free)


def test_a_story_bible_is_part_of_the_plan_and_named_in_the_refusal() -> None:
    brief = Brief(topic="Tides", bible=make_bible({"style_rules": "s" * 300}))
    with pytest.raises(BudgetError) as caught:
        section_messages(brief, OUTLINE, 0, budget_tokens=16, count_tokens=free)
    message = str(caught.value)
    assert message.startswith("The brief, the story bible and the outline alone have ")
    assert "Shorten the story bible, the key points or the outline, or start" in message
    with pytest.raises(BudgetError) as caught:
        section_messages(brief, OUTLINE, 0, budget_tokens=2000, count_tokens=lambda m: 2001)
    assert str(caught.value) == (
        "The brief, the story bible and the outline alone take 2001 tokens, above the prompt budget of 2000 for one "
        "section. Shorten the story bible, the key points or the outline, lower the section's word target, or start "
        "the studio with a larger --context.")


# How the prompt shrinks to its budget: a counter of characters makes the sizes exact.

LONG = " ".join(f"Sentence {n} of the text." for n in range(300))  # ~7,000 characters, sentences all the way
BIG = Outline("Doc", tuple(Section(f"Part {n}", text=LONG) for n in range(30)) + (Section("Last"),))


def chars(messages) -> int:
    return sum(len(m["content"]) for m in messages)


def parts(messages) -> tuple[str, str]:
    text = user(messages)
    summary = text.split("earlier sections):\n")[1].split("\n\nThe previous section")[0]
    end = text.split("ends with:\n")[1].split("\n\nNow write")[0]
    return summary, end


def sized(budget_tokens: int, budget: PromptBudget | None = None) -> tuple[str, str, int]:
    messages = section_messages(BRIEF, BIG, 30, budget_tokens=budget_tokens, count_tokens=chars, budget=budget)
    summary, end = parts(messages)
    return summary, end, chars(messages)


def test_a_prompt_that_fits_its_budget_exactly_is_kept_whole() -> None:
    summary, end, used = sized(100_000)
    assert len(summary) <= 2400 and len(end) <= 1500 and len(end) > 1400
    assert sized(used) == (summary, end, used)  # exactly at the budget: nothing shrinks


def test_the_summary_shrinks_before_the_tail() -> None:
    summary, end, used = sized(100_000)
    small_summary, same_end, smaller = sized(used - 200)
    assert same_end == end and smaller <= used - 200
    assert 240 <= len(small_summary) < len(summary)


def test_the_tail_shrinks_once_the_summary_is_down_to_its_floor() -> None:
    summary, end, used = sized(100_000)
    floor_summary, short_end, smaller = sized(3105)
    assert floor_summary == summarize_before(BIG, 30, max_chars=240) and smaller <= 3105
    assert len(floor_summary) < len(summary) and 360 <= len(short_end) < len(end) and end.endswith(short_end)


def test_the_floors_are_kept_while_they_fit() -> None:
    assert sized(2029) == (summarize_before(BIG, 30, max_chars=240), tail(LONG, 360), 2029)
    assert sized(2028)[:2] == (OMITTED, OMITTED)


def test_when_even_the_floors_do_not_fit_the_plan_stands_alone() -> None:
    summary, end, used = sized(100_000)
    bare = used - len(summary) - len(end) + 2 * len(OMITTED)
    assert sized(bare) == (OMITTED, OMITTED, bare)
    with pytest.raises(BudgetError, match=f"alone take {bare} tokens, above the prompt budget of {bare - 1} for one"):
        sized(bare - 1)


def test_the_second_section_says_when_its_summary_was_left_out() -> None:
    two = Outline("Doc", (Section("One", text=LONG), Section("Two")))
    fits = section_messages(BRIEF, two, 1, budget_tokens=100_000, count_tokens=chars)
    summary, end = parts(fits)
    bare = chars(fits) - len(summary) - len(end) + 2 * len(OMITTED)
    assert parts(section_messages(BRIEF, two, 1, budget_tokens=bare, count_tokens=chars)) == (OMITTED, OMITTED)


def test_without_a_tail_the_summary_still_shrinks_to_fit() -> None:
    no_tail = PromptBudget(tail_chars=0)
    summary, end, used = sized(100_000, no_tail)
    assert end == OMITTED
    shorter, end, smaller = sized(used - 200, no_tail)
    assert end == OMITTED and 240 <= len(shorter) < len(summary) and smaller <= used - 200


def test_small_budgets_shrink_from_their_own_sizes() -> None:
    small = PromptBudget(summary_chars=100, tail_chars=200, lead_chars=10)
    summary, end, used = sized(100_000, small)
    assert (summary, end) == (summarize_before(BIG, 30, max_chars=100, lead_chars=10), tail(LONG, 200))
    # below the budget both are already at their floors (the budget's own sizes): straight to the plan alone
    assert sized(used - 1, small)[:2] == (OMITTED, OMITTED)


# --- the estimate ------------------------------------------------------------------------------------------


def test_the_estimate_counts_one_prompt_per_section_to_write() -> None:
    three = Outline("Doc", (Section("One", target=100), Section("Two", target=200, text="done"),
                            Section("Three", target=300)))
    budget = PromptBudget(prompt_tokens=10_000, summary_chars=0, tail_chars=0)
    plan = estimate(BRIEF, three, count_tokens=lambda m: 100, budget=budget)
    assert (plan.sections, plan.words, plan.new_tokens, plan.prompt_tokens) == (2, 400, 560, 200)
    again = estimate(BRIEF, three, count_tokens=lambda m: 100, budget=budget, rewrite=True)
    assert (again.sections, again.words, again.prompt_tokens) == (3, 600, 300)


def test_the_estimate_counts_the_brief_and_the_plan_of_the_first_section_to_write() -> None:
    seen: list[list[dict[str, str]]] = []

    def counter(messages):
        seen.append(messages)
        return 7

    three = Outline("Doc", (Section("One", text="done"), Section("Two", points=("x",)), Section("Three")))
    estimate(BRIEF, three, count_tokens=counter)
    [messages] = seen
    assert messages[0] == section_messages(BRIEF, three, 1, budget_tokens=100_000, count_tokens=free)[0]
    assert '"Two"' in messages[1]["content"]
    chinese = Brief(topic="远程办公", bible=make_bible({"style_rules": "简洁"}))
    seen.clear()
    estimate(chinese, three, count_tokens=counter)
    system = section_messages(chinese, three, 1, budget_tokens=100_000, count_tokens=free)[0]
    assert seen[0][0] == system and render_bible(chinese.bible, chinese=True) in system["content"]


def test_an_estimate_takes_the_time_of_its_tokens_at_both_speeds() -> None:
    estimate_ = Estimate(sections=1, words=10, new_tokens=30, prompt_tokens=600, decode_tps=3.0, prefill_tps=200.0,
                         measured=False)
    assert estimate_.seconds == pytest.approx(30 / 3.0 + 600 / 200.0)
    assert "About 13 s at 3.0 tok/s" in estimate_.describe()


# --- the report --------------------------------------------------------------------------------------------


def test_a_partly_written_document_reports_the_written_part_too() -> None:
    outline = Outline("Doc", (Section("One", target=10, text="word " * 12), Section("Two", target=30)))
    result = report(outline)
    assert result.partial
    assert (result.words, result.target, result.written_target) == (12, 40, 10)
    assert result.written_score == length_score(10, 12) and result.score == length_score(40, 12)
    assert result.rows() == [
        [1, "One", 10, 12, round(length_score(10, 12), 1), ""],
        [2, "Two", 30, 0, 0.0, ""],
        ["", "Written so far", 10, 12, round(length_score(10, 12), 1), ""],
        ["", "Document", 40, 12, round(length_score(40, 12), 1), ""],
    ]


def test_a_one_word_target_written_so_far_is_scored() -> None:
    result = report(Outline("Doc", (Section("One", target=1, text="word"), Section("Two", target=30))))
    assert result.written_target == 1 and result.written_score == length_score(1, 1) == 100.0


def test_an_empty_outline_reports_nothing() -> None:
    result = report(Outline("Doc", ()))
    assert (result.words, result.target, result.score, result.partial) == (0, 0, 0.0, False)
    assert result.rows() == [["", "Document", 0, 0, 0.0, ""]]


def test_a_report_is_partial_only_between_nothing_and_everything_written() -> None:
    nothing = report(Outline("Doc", (Section("One", target=10), Section("Two", target=30))))
    assert not nothing.partial and nothing.written_target == 0 and nothing.written_score == 0.0
    assert [row[1] for row in nothing.rows()] == ["One", "Two", "Document"]
    everything = report(Outline("Doc", (Section("One", target=10, text="a b"), Section("Two", target=30, text="c"))))
    assert not everything.partial and everything.written_target == 40
    assert [row[1] for row in everything.rows()] == ["One", "Two", "Document"]
