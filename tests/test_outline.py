"""Outline parsing (real-looking model replies in English and Chinese), rendering and editing."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from writing.compose.outline import (
    Outline,
    OutlineParseError,
    Section,
    add_section,
    complete_targets,
    delete_section,
    edit_section,
    extract_target,
    is_target_line,
    move_section,
    outline_from_rows,
    outline_to_rows,
    parse_outline,
    render_outline,
    set_locked,
    set_text,
)
from writing.errors import ParamError, StudioError

QWEN_HEADINGS = """Sure! Here is a detailed outline for your article.

# The Future of Remote Work

## 1. Introduction (300 words)
- Hook: the sudden shift of 2020
- Thesis: remote work is here to stay

## 2. Benefits for Employees (800 words)
- Flexibility and autonomy
- No commute

## 3. Conclusion (400 words)
- Summary of the argument

Let me know if you would like me to adjust anything!"""

NUMBERED_BOLD = """**Title: Why Sleep Matters**

1. **Introduction** - Why sleep is underrated (approx. 250 words)
   - Statistics on sleep deprivation
   - A personal anecdote
2. **The Science of Sleep** (about 600 words)
   - REM and deep sleep
3. **Practical Tips** – 400 words
   - Build a routine

Total: 1250 words"""

CHINESE_LIST = """标题：人工智能与教育

一、引言（约300字）
1. 背景介绍
2. 问题提出
二、人工智能在课堂中的应用（约800字）
- 个性化学习
- 智能批改
三、挑战与对策
- 数据隐私
四、结语（200字）
"""

CHINESE_CHAPTERS = """```markdown
第一章 绪论 约500字
要点：研究背景；研究意义
第二章 相关工作（字数：1000）
要点：国内外研究现状
第三章 总结
```"""

NESTED_BULLETS = """Here's a plan:

- Introduction
  - what it is
  - why now
- History
  - early days
- Outlook
"""

SECTION_LABELS = """**Section 1: Opening** (Word count: 300)
Key points: the question; why it matters
**Section 2: The Evidence** (Word count: 1,200)
Key points: three studies
"""

WORD_COUNT_LINES = """### Intro
Word count: 200
- set the scene
### Body
- Target: 300 words
- the argument
"""

RANGES_AND_DASHES = """# Plan
1. Opening — 300-500 words
2. Middle part: ~600 words
3. Closing (500 words) [locked]
"""

CHINESE_HEADINGS = """# 远程办公的未来

## 1. 引言（300字）
- 疫情带来的转变

## 2. 对员工的好处（约800字）
- 灵活性

## 3. 总结（400字）
- 回顾
"""


@pytest.mark.parametrize(
    ("reply", "total", "title", "sections"),
    [
        (QWEN_HEADINGS, None, "The Future of Remote Work", [
            ("Introduction", ("Hook: the sudden shift of 2020", "Thesis: remote work is here to stay"), 300),
            ("Benefits for Employees", ("Flexibility and autonomy", "No commute"), 800),
            ("Conclusion", ("Summary of the argument",), 400),
        ]),
        (NUMBERED_BOLD, 1250, "Why Sleep Matters", [
            ("Introduction", ("Why sleep is underrated", "Statistics on sleep deprivation", "A personal anecdote"),
             250),
            ("The Science of Sleep", ("REM and deep sleep",), 600),
            ("Practical Tips", ("Build a routine",), 400),
        ]),
        # 三、 has no target: it gets the remainder of the 1500-word total.
        (CHINESE_LIST, 1500, "人工智能与教育", [
            ("引言", ("背景介绍", "问题提出"), 300),
            ("人工智能在课堂中的应用", ("个性化学习", "智能批改"), 800),
            ("挑战与对策", ("数据隐私",), 200),
            ("结语", (), 200),
        ]),
        (CHINESE_CHAPTERS, 2000, "TOPIC", [
            ("绪论", ("研究背景", "研究意义"), 500),
            ("相关工作", ("国内外研究现状",), 1000),
            ("总结", (), 500),
        ]),
        # No targets at all: the total is split evenly, summing exactly to it.
        (NESTED_BULLETS, 1000, "TOPIC", [
            ("Introduction", ("what it is", "why now"), 334),
            ("History", ("early days",), 333),
            ("Outlook", (), 333),
        ]),
        (SECTION_LABELS, None, "TOPIC", [
            ("Opening", ("the question", "why it matters"), 300),
            ("The Evidence", ("three studies",), 1200),
        ]),
        (WORD_COUNT_LINES, None, "TOPIC", [
            ("Intro", ("set the scene",), 200),
            ("Body", ("the argument",), 300),
        ]),
        (RANGES_AND_DASHES, None, "Plan", [
            ("Opening", (), 400),
            ("Middle part", (), 600),
            ("Closing", (), 500),
        ]),
        (CHINESE_HEADINGS, None, "远程办公的未来", [
            ("引言", ("疫情带来的转变",), 300),
            ("对员工的好处", ("灵活性",), 800),
            ("总结", ("回顾",), 400),
        ]),
    ],
    ids=["qwen-headings", "numbered-bold", "chinese-list", "chinese-chapters", "nested-bullets", "section-labels",
         "word-count-lines", "ranges-dashes", "chinese-headings"],
)
def test_parses_real_looking_replies(reply: str, total: int | None, title: str, sections: list) -> None:
    outline = parse_outline(reply, total_words=total, title="TOPIC")
    assert outline.title == title
    assert [(s.title, s.points, s.target) for s in outline.sections] == sections
    if total is not None:
        assert outline.total_target == total


def test_lock_marker_is_read() -> None:
    outline = parse_outline(RANGES_AND_DASHES)
    assert [s.locked for s in outline.sections] == [False, False, True]


def test_targets_are_scaled_to_the_total() -> None:
    outline = parse_outline(QWEN_HEADINGS, total_words=3000)
    assert outline.total_target == 3000
    # Proportions kept: 300/800/400 of 1500 -> 600/1600/800 of 3000.
    assert [s.target for s in outline.sections] == [600, 1600, 800]


@pytest.mark.parametrize("reply", ["", "   \n\n", "asdf qwe zxcv", "Sorry, I cannot help with that.",
                                   "ĠthinkĠ the Ġ ofĊĊ and ... random gibberish from a tiny model"])
def test_no_sections_is_a_clear_failure_with_the_raw_text(reply: str) -> None:
    with pytest.raises(OutlineParseError) as info:
        parse_outline(reply, total_words=1000)
    assert info.value.raw == reply
    assert "Could not find sections" in str(info.value)
    assert isinstance(info.value, StudioError)


@pytest.mark.parametrize(
    ("text", "rest", "target"),
    [
        ("Intro (300 words)", "Intro", 300),
        ("Intro - 300 words", "Intro", 300),
        ("Intro: about 1,200 words", "Intro", 1200),
        ("Intro [~450 words]", "Intro", 450),
        ("Intro (Word count: 300)", "Intro", 300),
        ("引言（约300字）", "引言", 300),
        ("引言 约300字", "引言", 300),
        ("引言（字数：500）", "引言", 500),
        ("引言（1500-2000字）", "引言", 1750),
        ("Top 10 tips (500 words)", "Top 10 tips", 500),
        ("No target here", "No target here", None),
        ("Version 2.0 of the plan", "Version 2.0 of the plan", None),
    ],
)
def test_extract_target(text: str, rest: str, target: int | None) -> None:
    assert extract_target(text) == (rest, target)


def test_complete_targets() -> None:
    assert complete_targets([300, None, None], total_words=1000) == [300, 350, 350]
    assert sum(complete_targets([None] * 7, total_words=3000)) == 3000
    assert complete_targets([300, None], total_words=None) == [300, 300]
    # Known targets over the total: the missing one gets their mean, then all scale down to the total.
    assert sum(complete_targets([900, 900, None], total_words=1000)) == 1000


# -- render/parse round trip (hypothesis) -------------------------------------------------------------

_WORD = st.text(alphabet=st.sampled_from(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                                              "'.,?!&+=%@/éüß写作大纲引言结论人工智能")), min_size=1, max_size=12)
_PHRASE = st.lists(_WORD, min_size=1, max_size=6).map(" ".join).filter(
    lambda s: s[-1] not in ".,/" and s[0] not in "+=")
_SECTION = st.builds(
    Section,
    title=_PHRASE,
    # A point that is itself a word target ("Target 300") is read as the section's target by design.
    points=st.lists(_PHRASE.filter(lambda p: not is_target_line(p)), max_size=4).map(tuple),
    target=st.integers(min_value=50, max_value=20000),
    locked=st.booleans(),
)
# Titles: plain phrases, and the decorations the parser strips from a model's title line ("Outline:",
# "大纲：", word targets, quotes): render_outline must write any title so that it reads back whole.
_DECORATION = st.sampled_from(["Outline", "Outline:", "outline -", "大纲", "大纲：", "(300 words)", "（约3000字）",
                               '"', "'", "“", "”", "《", "》", ":", "Title:"])
_TITLE = st.lists(st.one_of(_WORD, _DECORATION), min_size=1, max_size=6).map(" ".join).map(str.strip).filter(
    lambda s: s and s[-1] not in ".,/" and s[0] not in "+=")
_OUTLINE = st.builds(Outline, title=_TITLE, sections=st.lists(_SECTION, min_size=1, max_size=8).map(tuple))


@settings(max_examples=1000, deadline=None)
@given(_OUTLINE)
def test_render_then_parse_is_identity(outline: Outline) -> None:
    text = render_outline(outline)
    assert parse_outline(text) == outline
    # With the total given, targets already summing to it are left alone.
    assert parse_outline(text, total_words=outline.total_target) == outline


@pytest.mark.parametrize("title", ["Outline", "Outline: 2025 plan", "大纲", "'Tea for beginners'", '"Tea"',
                                   "Plan (300 words)", "' '", "''"])
def test_titles_that_look_like_decorations_round_trip(title: str) -> None:
    outline = Outline(title, (Section("Intro", (), 300),))
    assert parse_outline(render_outline(outline)).title == title


def test_a_models_decorated_title_is_cleaned() -> None:
    """A model's reply (not render_outline's) gets its title cleaned: label, quotes, target."""
    for line, expected in (("# 'Tea for beginners'", "Tea for beginners"), ("# ' '", "' '"),
                           ('# Outline: "My doc" (3000 words)', "My doc"), ("# Outline", "")):
        assert parse_outline(f"{line}\n## 1. Intro (300 words)\n").title == expected


def test_render_looks_like_the_prompted_format() -> None:
    outline = Outline("Doc", (Section("Intro", ("a", "b"), 300), Section("End", (), 200, locked=True)))
    assert render_outline(outline) == "# Doc\n\n## 1. Intro (300 words)\n- a\n- b\n\n## 2. End (200 words) [locked]\n"


# -- editing --------------------------------------------------------------------------------------

def _doc() -> Outline:
    return Outline("Doc", (Section("A", ("a",), 100, text="text A"), Section("B", (), 200, text="text B"),
                           Section("C", (), 300)))


def test_edit_operations_are_pure() -> None:
    doc = _doc()
    edited = edit_section(doc, 1, title="B2", points=["x", " ", "y"], target=250)
    assert edited.sections[1] == Section("B2", ("x", "y"), 250, text="text B")
    assert doc == _doc()  # the original is untouched
    assert edited.sections[0] is doc.sections[0] and edited.sections[2] is doc.sections[2]

    added = add_section(doc, at=1, title="New", target=150)
    assert [s.title for s in added.sections] == ["A", "New", "B", "C"]
    assert [s.title for s in add_section(doc).sections] == ["A", "B", "C", "New section"]

    assert [s.title for s in delete_section(doc, 0).sections] == ["B", "C"]

    moved = move_section(doc, 0, 2)
    assert [(s.title, s.text) for s in moved.sections] == [("B", "text B"), ("C", ""), ("A", "text A")]

    assert set_locked(doc, 2).sections[2].locked is True
    assert set_text(doc, 2, "new").sections[2].text == "new"


@pytest.mark.parametrize(
    ("operation", "message"),
    [
        (lambda d: edit_section(d, 5, title="x"), "no section 5"),
        (lambda d: edit_section(d, 0, title="  "), "needs a title"),
        (lambda d: edit_section(d, 0, target=10), "between 50 and 20000"),
        (lambda d: edit_section(d, 0, target="lots"), "whole number"),
        (lambda d: move_section(d, 0, 3), "no section 3"),
        (lambda d: add_section(d, at=9), "no section 9"),
    ],
)
def test_bad_edits_are_clear_errors(operation, message: str) -> None:
    with pytest.raises(ParamError, match=message):
        operation(_doc())


def test_cannot_delete_the_last_section() -> None:
    single = Outline("Doc", (Section("A"),))
    with pytest.raises(StudioError, match="at least one section"):
        delete_section(single, 0)


def test_table_rows_round_trip_and_keep_texts() -> None:
    doc = _doc()
    rows = outline_to_rows(doc)
    assert rows[0] == ["A", "a", 100, False]
    rows[1][0] = "B renamed"
    rows[2][3] = True
    rows.append(["", "", None, False])  # an empty row the table widget added: ignored
    back = outline_from_rows(rows, title="Doc", previous=doc)
    assert [s.title for s in back.sections] == ["A", "B renamed", "C"]
    assert [s.text for s in back.sections] == ["text A", "text B", ""]
    assert back.sections[2].locked is True


def test_table_rows_errors_name_the_row() -> None:
    with pytest.raises(ParamError, match="row 2 target words"):
        outline_from_rows([["A", "", 100, False], ["B", "", "many", False]], title="Doc")
    with pytest.raises(ParamError, match="row 1"):
        outline_from_rows([["", "a point", 100, False]], title="Doc")
    with pytest.raises(StudioError, match="empty"):
        outline_from_rows([], title="Doc")


def test_outline_dict_round_trip_and_validation() -> None:
    doc = set_locked(_doc(), 0)
    assert Outline.from_dict(doc.to_dict()) == doc
    with pytest.raises(ParamError, match=r"sections\[0\].target"):
        Outline.from_dict({"title": "x", "sections": [{"title": "a", "target": -5}]})
    with pytest.raises(ParamError, match="non-empty list"):
        Outline.from_dict({"title": "x", "sections": []})
    with pytest.raises(ParamError, match="unknown field"):
        Outline.from_dict({"title": "x", "sections": [{"title": "a", "colour": "red"}]})
    assert Outline.from_dict({"title": "x", "sections": [{"title": "a", "points": "p; q"}]}).sections[0].points == (
        "p", "q")
