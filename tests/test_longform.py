"""Long-form core: brief, section prompts within a token budget, expansion, estimate, document.

The pipeline tests run the real LocalEngine with the tiny random model (it writes gibberish, so the
outline is hand-written, as a writer would type it after a failed parse).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from writing.compose.longform import (
    OMITTED,
    Brief,
    assemble,
    clean_section_text,
    engine_streamer,
    estimate,
    estimate_tokens,
    expand,
    export_markdown,
    lead,
    make_brief,
    outline_from_reply,
    outline_messages,
    report,
    section_messages,
    summarize_before,
    tail,
    write_section,
)
from writing.compose.outline import (
    Outline,
    OutlineParseError,
    Section,
    edit_section,
    move_section,
    parse_outline,
    set_locked,
)
from writing.compose.wordcount import count_words
from writing.engines.base import GenerationStats
from writing.engines.params import make_params
from writing.errors import BudgetError, EmptyPromptError, ParamError, StudioError

BRIEF = Brief(topic="Remote work", audience="managers", style="practical", language="English", total_words=600)

HAND_OUTLINE = """# Remote work for managers

## 1. Why it matters (150 words)
- the shift since 2020

## 2. Running a remote team (300 words)
- rituals
- tools

## 3. What to do on Monday (150 words)
- three first steps
"""


def _sentences(n: int, seed: str) -> str:
    return " ".join(f"This is sentence {i} about {seed}, with a few more words to make it long." for i in range(n))


def long_outline(sections: int = 20, words_each: int = 5000) -> Outline:
    """An outline with long key points and every section already written at length."""
    return Outline("A very long report", tuple(
        Section(title=f"Part {i + 1}: a section title that is quite long indeed",
                points=(f"a detailed key point number one for part {i + 1} that goes on a bit",
                        "another key point with several words in it", "and a third one to be thorough"),
                target=800, text=_sentences(words_each // 14, f"topic {i}"))
        for i in range(sections)))


# -- the brief ----------------------------------------------------------------------------------

def test_make_brief_validates_and_names_the_field() -> None:
    brief = make_brief(topic="  Sleep  ", total_words="2000", sections=5.0)
    assert (brief.topic, brief.total_words, brief.sections, brief.language) == ("Sleep", 2000, 5, "auto")
    with pytest.raises(EmptyPromptError, match="topic"):
        make_brief(topic="   ")
    with pytest.raises(ParamError, match="total_words"):
        make_brief(topic="x", total_words=10)
    with pytest.raises(ParamError, match="total_words"):
        make_brief(topic="x", total_words=True)
    with pytest.raises(ParamError, match="sections"):
        make_brief(topic="x", sections=1000)
    with pytest.raises(ParamError, match="audience"):
        make_brief(topic="x", audience=42)


def test_language_detection_for_chinese_briefs() -> None:
    assert make_brief(topic="人工智能与教育").chinese
    assert not make_brief(topic="AI and education").chinese
    assert make_brief(topic="AI and education", language="中文").chinese


def test_outline_prompt_and_parse() -> None:
    messages = outline_messages(BRIEF)
    assert "600 words" in messages[1]["content"] and "Remote work" in messages[1]["content"]
    chinese = outline_messages(make_brief(topic="远程办公", total_words=3000))
    assert "3000 字" in chinese[1]["content"]
    outline = outline_from_reply(BRIEF, HAND_OUTLINE)
    assert [s.target for s in outline.sections] == [150, 300, 150]
    with pytest.raises(OutlineParseError) as info:
        outline_from_reply(BRIEF, "ĠtheĠ gibberish")
    assert info.value.raw == "ĠtheĠ gibberish"


# -- section prompts ----------------------------------------------------------------------------

def test_every_section_prompt_starts_with_the_same_system_message() -> None:
    """The brief + plan prefix is byte-identical for every section, in both modes, and does not change
    when sections get written or locked: the engine's prefix KV cache can reuse it for the whole document."""
    outline = parse_outline(HAND_OUTLINE)
    prompts = [section_messages(BRIEF, outline, i, budget_tokens=3000) for i in range(3)]
    written = set_locked(edit_section(outline, 0, text=_sentences(20, "x")), 0)
    prompts += [section_messages(BRIEF, written, i, budget_tokens=3000) for i in range(3)]
    prompts += [section_messages(BRIEF, written, 0, mode="continue", budget_tokens=3000)]
    systems = {p[0]["content"] for p in prompts}
    assert len(systems) == 1
    system = systems.pop()
    assert "Remote work" in system and "## 2. Running a remote team (300 words)" in system and "- rituals" in system
    assert "sentence" not in system  # no section text in the shared prefix
    # The user message names the section and carries the continuity.
    user = prompts[4][1]["content"]
    assert 'section 2, "Running a remote team"' in user and "sentence 19 about x" in user


def test_prompt_budget_twenty_long_sections_never_exceeds_it(tiny_engine) -> None:
    """20 sections of ~5,000 words each: every section's prompt stays within the budget, counted by the
    real tokenizer, and still carries a summary of earlier sections and the previous section's tail."""
    outline = long_outline()
    assert sum(count_words(s.text) for s in outline.sections) > 90000
    # The tiny model's 1,024-token BPE needs ~2,800 tokens for this plan alone (Qwen's needs far fewer),
    # so the summary and tail must shrink to fit here.
    budget = 3600
    shrunk = 0
    for mode in ("write", "continue"):
        for index in range(20):
            messages = section_messages(BRIEF, outline, index, mode=mode, budget_tokens=budget,
                                        count_tokens=tiny_engine.count_tokens)
            assert tiny_engine.count_tokens(messages) <= budget
            user = messages[1]["content"]
            shrunk += "left out" in user
            if index > 0:
                assert f"{index}. Part {index}" in user  # the previous section is in the summary
            if index > 0 or mode == "continue":
                assert "make it long." in user and OMITTED not in user.split("ends with")[-1][:60]
    assert shrunk > 10


def test_prompt_budget_with_the_estimate_counter() -> None:
    outline = long_outline()
    for index in (0, 7, 19):
        messages = section_messages(BRIEF, outline, index, budget_tokens=2500)
        assert estimate_tokens(messages) <= 2500


def test_plan_that_does_not_fit_is_a_loud_budget_error() -> None:
    with pytest.raises(BudgetError, match="brief and the outline alone"):
        section_messages(BRIEF, long_outline(), 5, budget_tokens=300)


def test_summary_keeps_recent_sections_and_shrinks_old_ones() -> None:
    outline = long_outline(sections=10, words_each=200)
    full = summarize_before(outline, 9, max_chars=100000)
    assert full.count("\n") == 8 and full.startswith("1. Part 1") and "This is sentence 0 about topic 0" in full
    small = summarize_before(outline, 9, max_chars=300)
    assert len(small) <= 300 + 40
    assert "9. Part 9" in small and "left out" in small
    assert summarize_before(outline, 0, max_chars=1000) == ""


def test_lead_and_tail_cut_at_boundaries() -> None:
    assert lead("First one. Second one.", 100) == "First one."
    assert lead("no end " * 50, 30).endswith("…") and len(lead("no end " * 50, 30)) <= 31
    assert lead("第一句话。第二句话。", 100) == "第一句话。"
    text = _sentences(30, "tails")
    end = tail(text, 200)
    assert len(end) <= 200 and text.endswith(end) and end.startswith("This is sentence")
    assert tail("short", 200) == "short"
    assert tail("x" * 50, 0) == ""


def test_clean_section_text_drops_a_repeated_heading() -> None:
    assert clean_section_text("## Why it matters\n\nBody.", "Why it matters") == "Body."
    assert clean_section_text("**Why it matters**\nBody.", "Why it matters") == "Body."
    assert clean_section_text("  Body with **bold**.", "Why") == "Body with **bold**."


# -- estimate and document ----------------------------------------------------------------------

def test_estimate_uses_measured_speed_or_says_it_is_a_default() -> None:
    outline = set_locked(parse_outline(HAND_OUTLINE), 1)  # the 300-word section is locked: not written
    default = estimate(BRIEF, outline)
    assert (default.sections, default.words, default.new_tokens) == (2, 300, 420)  # 1.4 tokens/word
    assert not default.measured and "default estimate" in default.describe()
    stats = GenerationStats(prompt_tokens=600, new_tokens=101, started_at=0.0, first_token_at=2.0,
                            finished_at=22.0)  # 100 tokens in 20 s after a 2 s prefill
    measured = estimate(BRIEF, outline, stats=stats)
    assert measured.measured and measured.decode_tps == pytest.approx(5.0) and measured.prefill_tps == 300.0
    assert measured.seconds == pytest.approx(420 / 5.0 + measured.prompt_tokens / 300.0)
    chinese = estimate(make_brief(topic="远程办公", total_words=600), outline)
    assert chinese.new_tokens == 225  # 0.75 tokens per CJK character
    done = estimate(BRIEF, Outline("x", (Section("a", text="written"),)))
    assert done.sections == 0 and "Nothing to write" in done.describe()


def test_report_assemble_and_export(tmp_path: Path) -> None:
    outline = Outline("My doc", (Section("One", target=100, text="word " * 100),
                                 Section("Two", target=100, text="word " * 50, locked=True),
                                 Section("Three", target=100)))
    result = report(outline)
    assert [(r.words, r.score) for r in result.sections] == [(100, 100.0), (50, 50.0), (0, 0.0)]
    assert result.words == 150 and result.target == 300 and result.score == pytest.approx(50.0)
    assert result.rows()[-1] == ["", "Document", 300, 150, 50.0, ""]
    doc = assemble(outline)
    assert doc.startswith("# My doc\n\n## One\n\nword word")
    assert "## Two\n\nword" in doc and doc.endswith("## Three\n")
    path = export_markdown(outline, tmp_path / "out")
    assert path.name == "my-doc.md" and path.read_text(encoding="utf-8") == doc


# -- expansion with a scripted stream (pure logic: locked sections, stop, continue) ------------

def scripted(replies: list[str], *, cancel_on: int | None = None):
    """A StreamFn that answers each prompt with the next reply, word by word; records the prompts."""
    seen: list[list[dict[str, str]]] = []

    def stream(messages, params) -> Iterator[tuple[str, GenerationStats]]:
        seen.append(messages)
        stats = GenerationStats()
        reply = replies[len(seen) - 1]
        text = ""
        for n, word in enumerate(reply.split(" ")):
            text += ("" if not text else " ") + word
            stats.new_tokens += 1
            if cancel_on is not None and len(seen) - 1 == cancel_on and n == 2:
                stats.finish_reason = "cancelled"
                yield text, stats
                return
            yield text, stats
        stats.finish_reason = "stop"
        yield text, stats

    return stream, seen


def test_expand_skips_locked_and_written_sections_and_stops_cleanly() -> None:
    outline = set_locked(parse_outline(HAND_OUTLINE), 1)
    stream, seen = scripted(["## Why it matters\nOne two three four.", "Five six seven eight."])
    steps = list(expand(stream, BRIEF, outline, make_params(), context=4096))
    final = steps[-1].outline
    assert [s.text for s in final.sections] == ["One two three four.", "", "Five six seven eight."]
    assert len(seen) == 2 and steps[-1].finished

    # A rerun resumes: only the empty unlocked sections; here nothing is left.
    assert list(expand(scripted([])[0], BRIEF, final, make_params(), context=4096)) == []

    # Stop in the middle of the second section written: the first is kept, the partial one too.
    stream, seen = scripted(["Alpha beta gamma delta.", "Eins zwei drei vier fünf.", "never"], cancel_on=1)
    steps = list(expand(stream, BRIEF, parse_outline(HAND_OUTLINE), make_params(), context=4096))
    final = steps[-1].outline
    assert steps[-1].stopped and len(seen) == 2
    assert [s.text for s in final.sections] == ["Alpha beta gamma delta.", "Eins zwei drei", ""]


def test_continue_appends_and_locked_sections_are_refused() -> None:
    outline = edit_section(parse_outline(HAND_OUTLINE), 0, text="It began in 2020.")
    stream, seen = scripted(["Then everything changed."])
    final = list(write_section(stream, BRIEF, outline, 0, make_params(), mode="continue", context=4096))[-1]
    assert final.outline.sections[0].text == "It began in 2020. Then everything changed."
    assert "It began in 2020." in seen[0][1]["content"]
    with pytest.raises(StudioError, match="locked"):
        list(write_section(stream, BRIEF, set_locked(outline, 0), 0, make_params(), context=4096))


# -- the pipeline end to end with the tiny model -------------------------------------------------

def test_pipeline_with_the_tiny_model(tiny_engine, tmp_path: Path) -> None:
    """outline -> edit -> expand all -> regenerate one section (others byte-identical) -> stop mid-section."""
    outline = outline_from_reply(BRIEF, HAND_OUTLINE)
    # Edit: rename, reorder, lock nothing yet.
    outline = edit_section(outline, 2, title="First steps on Monday", points=["one", "two"])
    outline = move_section(outline, 2, 1)
    assert [s.title for s in outline.sections] == ["Why it matters", "First steps on Monday",
                                                   "Running a remote team"]
    params = make_params(temperature=1.0, seed=7, max_new_tokens=64)
    run = dict(context=tiny_engine.context, count_tokens=tiny_engine.count_tokens, max_section_tokens=12)

    steps = list(expand(engine_streamer(tiny_engine), BRIEF, outline, params, **run))
    written = steps[-1].outline
    assert [step.index for step in steps if step.finished] == [0, 1, 2]
    assert all(s.text.strip() for s in written.sections)
    assert steps[-1].stats.prompt_tokens <= tiny_engine.context - 12
    # Every streamed step for a section extends the same section only.
    assert all(step.outline.sections[2].text == "" for step in steps if step.index < 2)

    # Regenerate section 1 only: the others stay byte-identical.
    again = list(write_section(engine_streamer(tiny_engine), BRIEF, written, 1, params.merged(seed=8), **run))
    regenerated = again[-1].outline
    assert regenerated.sections[0].text == written.sections[0].text
    assert regenerated.sections[2].text == written.sections[2].text
    assert regenerated.sections[1].text != written.sections[1].text

    # Stop mid-section: clear sections 1 and 2, lock section 0, stop after a few pieces of section 1.
    restart = set_locked(Outline(written.title, (written.sections[0], Section("First steps on Monday", target=150),
                                                 Section("Running a remote team", target=300))), 0)
    cancel = threading.Event()
    steps = []
    for step in expand(engine_streamer(tiny_engine, cancel), BRIEF, restart, params,
                       **{**run, "max_section_tokens": 40}):
        steps.append(step)
        if step.index == 1 and not step.finished and len(steps) >= 3:
            cancel.set()
    final = steps[-1]
    assert final.stopped and final.index == 1
    assert final.outline.sections[0].text == written.sections[0].text  # locked, untouched
    assert final.outline.sections[1].text.strip()  # the partial section is kept
    assert final.stats.new_tokens < 40
    assert final.outline.sections[2].text == ""  # never started
    path = export_markdown(final.outline, tmp_path)
    assert path.read_text(encoding="utf-8").startswith("# Remote work for managers\n\n## Why it matters\n\n")


def test_consecutive_sections_share_the_token_prefix_and_the_engine_reuses_it(tiny_engine) -> None:
    """Section prompts share the system message's tokens, so the engine's prefix KV cache skips them."""
    outline = parse_outline(HAND_OUTLINE)
    first, second = (section_messages(BRIEF, outline, i, budget_tokens=1500, count_tokens=tiny_engine.count_tokens)
                     for i in (0, 1))
    ids = [tiny_engine.encode(m)["input_ids"][0].tolist() for m in (first, second)]
    system_tokens = len(tiny_engine.tokenizer(first[0]["content"])["input_ids"])
    common = next((i for i, (a, b) in enumerate(zip(*ids, strict=False)) if a != b), min(map(len, ids)))
    assert common >= system_tokens - 5  # up to the end of the system turn (the generation prompt aside)

    if not getattr(tiny_engine, "prefix_reuse", False):
        pytest.fail("LocalEngine has no prefix reuse switched on")
    params = make_params(temperature=1.0, seed=3)
    list(write_section(engine_streamer(tiny_engine), BRIEF, outline, 0, params, context=tiny_engine.context,
                       count_tokens=tiny_engine.count_tokens, max_section_tokens=4))
    list(write_section(engine_streamer(tiny_engine), BRIEF, outline, 1, params, context=tiny_engine.context,
                       count_tokens=tiny_engine.count_tokens, max_section_tokens=4))
    assert tiny_engine.last_reused_tokens >= system_tokens - 5


def test_a_code_fence_left_open_does_not_swallow_later_sections():
    from writing.compose.longform import assemble
    from writing.library.export import markdown_to_docx

    outline = Outline("Guide", (
        Section("Setup", (), 50, text="Install it:\n\n```bash\npip install studio"),  # a stopped run: fence open
        Section("Usage", (), 50, text="Run:\n\n~~~~\nstudio\n~~~~\n\nDone."),  # closed: left as it is
        Section("End", (), 50, text="The end."),
    ))
    document = assemble(outline)
    assert "pip install studio\n```\n\n## Usage" in document
    assert "~~~~\nstudio\n~~~~\n\nDone.\n\n## End" in document
    headings = [p.text for p in markdown_to_docx(document).paragraphs if p.style.name.startswith("Heading")]
    assert headings == ["Guide", "Setup", "Usage", "End"]
