"""Word budgets that hold (issue #14 part 5): rebalance() as properties (the total holds, locked and written
sections untouched, floors respected), its one-line description, expand()'s option, the length scores."""

from __future__ import annotations

from collections.abc import Iterator

from hypothesis import given
from hypothesis import strategies as st

from writing.compose.budget import pending_sections, rebalance, spread
from writing.compose.longform import Brief, Progress, expand, report
from writing.compose.outline import MAX_SECTION_WORDS, MIN_SECTION_WORDS, Outline, Section
from writing.compose.wordcount import count_words, length_score
from writing.engines.base import GenerationStats
from writing.engines.params import make_params


@st.composite
def outlines(draw) -> tuple[Outline, int, int]:
    """An outline, the index of a section just finished, and its length in words."""
    n = draw(st.integers(2, 12))
    sections = []
    for i in range(n):
        target = draw(st.integers(MIN_SECTION_WORDS, 3000))
        locked = draw(st.booleans()) and draw(st.booleans())  # ~1 in 4
        written = draw(st.booleans()) and draw(st.booleans())
        sections.append(Section(f"S{i}", (), target, locked=locked, text="word " * 3 if written else ""))
    finished = draw(st.integers(0, n - 1))
    words = draw(st.integers(0, 12000))
    return Outline("Doc", tuple(sections)), finished, words


@given(outlines())
def test_rebalance_holds_the_total_and_touches_only_pending_sections(case) -> None:
    outline, finished, words = case
    change = rebalance(outline, finished, words=words)
    before = [s.target for s in outline.sections]
    # Computed here, not with the module's pending_sections: the rule itself is under test.
    pending = [i for i, s in enumerate(outline.sections) if i != finished and not s.locked and not s.text.strip()]
    assert pending_sections(outline, finished) == pending
    overshoot = words - before[finished]
    if change is None:
        assert overshoot == 0 or not pending or all(  # nothing to do, or nothing could move
            (overshoot > 0 and before[i] == MIN_SECTION_WORDS) or (overshoot < 0 and before[i] == MAX_SECTION_WORDS)
            for i in pending)
        return
    after = list(change.after)
    for i, section in enumerate(outline.sections):
        if i not in pending:  # locked, written, or the finished one: untouched
            assert after[i] == before[i], (i, section)
            assert change.outline.sections[i] == section
        else:
            assert MIN_SECTION_WORDS <= after[i] <= MAX_SECTION_WORDS
            assert change.outline.sections[i].text == section.text and change.outline.sections[i].title == section.title
    # The document's expected length holds, less what the floors/ceilings could not absorb.
    assert sum(after) + overshoot - change.short_by == sum(before)
    if change.short_by:
        bound = MIN_SECTION_WORDS if overshoot > 0 else MAX_SECTION_WORDS
        assert all(after[i] == bound for i in pending)
    else:
        assert sum(after) + overshoot == sum(before)
    # Direction: over -> the others shrink (or stay), under -> they grow (or stay).
    for i in pending:
        assert (after[i] <= before[i]) if overshoot > 0 else (after[i] >= before[i])


@given(st.lists(st.integers(MIN_SECTION_WORDS, 5000), min_size=1, max_size=15), st.integers(-50000, 80000))
def test_spread_is_exact_proportional_and_bounded(targets, goal) -> None:
    values = spread(targets, goal)
    feasible = min(max(goal, MIN_SECTION_WORDS * len(targets)), MAX_SECTION_WORDS * len(targets))
    assert sum(values) == feasible
    assert all(MIN_SECTION_WORDS <= v <= MAX_SECTION_WORDS for v in values)
    # Proportional where no bound pinned it: a bigger target never gets fewer words than a smaller one.
    for a, b in zip(range(len(targets)), range(1, len(targets)), strict=False):
        if targets[a] < targets[b]:
            assert values[a] <= values[b] + 1


def test_describe_names_the_change_before_it_is_applied() -> None:
    outline = Outline("Doc", (
        Section("A", (), 400), Section("B", (), 400, text="w " * 540), Section("C", (), 400),
        Section("D", (), 400), Section("E", (), 420), Section("F", (), 300, locked=True)))
    change = rebalance(outline, 1)
    assert change is not None and change.overshoot == 140
    # A, C, D, E absorb 140 words in proportion (400/400/400/420): F is locked, B itself is untouched.
    assert change.after == (366, 400, 365, 365, 384, 300)
    assert change.describe() == "Section 2 ran 140 words over: sections 1, 3-5 now 366/365/365/384"
    under = rebalance(outline, 1, words=300)
    assert under is not None and under.describe().startswith("Section 2 ran 100 words under: sections 1, 3-5 now ")
    tight = Outline("Doc", (Section("A", (), 100, text="w " * 400), Section("B", (), 60)))
    squeezed = rebalance(tight, 0)
    assert squeezed.after == (100, 50) and squeezed.short_by == 290
    assert "290 words could not be absorbed" in squeezed.describe()
    assert rebalance(Outline("Doc", (Section("A", (), 100, text="w " * 100), Section("B", (), 60))), 0) is None


def _fixed_length_stream(words_by_call: list[int]):
    """A StreamFn writing a given number of words per section (pure logic: the prompts are what is tested)."""
    calls: list[list[dict[str, str]]] = []

    def stream(messages, params) -> Iterator[tuple[str, GenerationStats]]:
        calls.append(messages)
        stats = GenerationStats(finish_reason="stop")
        yield "word " * words_by_call[len(calls) - 1], stats

    return stream, calls


BRIEF = Brief(topic="Budgets", language="English", total_words=1200)
PLAN = Outline("Budgets", (Section("One", (), 300), Section("Two", (), 300), Section("Three", (), 300),
                           Section("Four", (), 300, locked=True, text="kept " * 10)))


def test_expand_rebalances_the_sections_still_to_write_and_can_be_turned_off() -> None:
    stream, calls = _fixed_length_stream([420, 240, 300])  # the third runs 60 over its new target: nothing left
    steps = list(expand(stream, BRIEF, PLAN, make_params(), context=8192))
    finals = [s for s in steps if s.finished]
    assert finals[0].rebalanced is not None and finals[0].rebalanced.after == (300, 240, 240, 300)
    assert finals[0].rebalanced.describe() == "Section 1 ran 120 words over: sections 2-3 now 240/240"
    # The next section was asked for its new target, and the plan it saw carries the new targets.
    assert "in about 240 words" in calls[1][1]["content"] and "## 3. Three (240 words)" in calls[1][0]["content"]
    assert finals[1].rebalanced is None  # on target
    assert finals[2].rebalanced is None  # over, but no section is left to absorb it (the 4th is locked)
    final = steps[-1].outline
    assert [s.target for s in final.sections] == [300, 240, 240, 300]
    assert final.sections[3].text == PLAN.sections[3].text  # locked: untouched
    written = [count_words(s.text) for s in final.sections[:3]]
    assert written == [420, 240, 300] and sum(written[:2]) + 240 + 300 == PLAN.total_target  # held until the last

    stream, calls = _fixed_length_stream([420, 300, 300])
    steps = list(expand(stream, BRIEF, PLAN, make_params(), context=8192, rebalance_targets=False))
    assert all(s.rebalanced is None for s in steps)
    assert [s.target for s in steps[-1].outline.sections] == [300, 300, 300, 300]
    assert "in about 300 words" in calls[1][1]["content"]


def test_stopped_section_changes_no_target() -> None:
    def stream(messages, params) -> Iterator[tuple[str, GenerationStats]]:
        yield "word " * 20, GenerationStats(finish_reason="cancelled")

    steps: list[Progress] = list(expand(stream, BRIEF, PLAN, make_params(), context=8192))
    assert steps[-1].stopped and steps[-1].rebalanced is None
    assert [s.target for s in steps[-1].outline.sections] == [300, 300, 300, 300]


def test_report_scores_sections_the_written_part_and_the_document() -> None:
    outline = Outline("Doc", (Section("A", (), 300, text="w " * 300), Section("B", (), 300, text="w " * 450),
                              Section("C", (), 400)))
    found = report(outline)
    assert [round(s.score, 1) for s in found.sections] == [100.0, round(length_score(300, 450), 1), 0.0]
    assert found.written_target == 600 and found.words == count_words("w " * 750)
    assert round(found.written_score, 1) == round(length_score(600, 750), 1)
    rows = found.rows()
    assert rows[-2][1] == "Written so far" and rows[-1][1] == "Document"
    assert rows[-1][4] == round(length_score(1000, 750), 1)
    done = report(Outline("Doc", (Section("A", (), 300, text="w " * 300),)))
    assert [r[1] for r in done.rows()] == ["A", "Document"]  # nothing partial: no "written so far" row
