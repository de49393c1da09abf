"""Outline rules the round-trip tests do not reach (issue 16: the surviving mutants of
writing/compose/outline.py): word targets in their many spellings, which line style marks the sections
(headings, numbers, Roman numerals, letters, Chinese numbering, bullets by indent, bold lines), the
document title, points and chatty text, the arithmetic that completes and scales targets, the edit
operations' index checks, the table rows, and the validation and size caps of an outline from a client."""

from __future__ import annotations

import pytest

from writing.compose import limits
from writing.compose.outline import (
    DEFAULT_SECTION_WORDS,
    MAX_SECTION_WORDS,
    MIN_SECTION_WORDS,
    Outline,
    OutlineParseError,
    Section,
    add_section,
    check_outline_size,
    check_target,
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
    split_points,
)
from writing.errors import ParamError, StudioError


def sections(reply: str, **kwargs) -> list[tuple]:
    return [(s.title, s.points, s.target, s.locked) for s in parse_outline(reply, **kwargs).sections]


def raises(kind: type[Exception], call, *args, **kwargs) -> str:
    with pytest.raises(kind) as caught:
        call(*args, **kwargs)
    return str(caught.value)


# --- word targets ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "rest", "target"),
    [
        ("Intro 300 words", "Intro", 300),
        ("Intro (300 word)", "Intro", 300),
        ("引言 300词", "引言", 300),
        ("引言（300个字）", "引言", 300),
        ("Intro (around 300 words)", "Intro", 300),
        ("Intro (approx. 300 words)", "Intro", 300),
        ("Intro (approximately 300 words)", "Intro", 300),
        ("Intro (approx 300 words)", "Intro", 300),
        ("Intro (roughly 300 words)", "Intro", 300),
        ("Intro (≈300 words)", "Intro", 300),
        ("Intro (about   300   words)", "Intro", 300),
        ("引言（大约300字）", "引言", 300),
        ("引言（300字左右）", "引言", 300),
        ("引言（300 字 左右）", "引言", 300),
        ("Intro (Word count 300)", "Intro", 300),
        ("Intro (word  count:300)", "Intro", 300),
        ("Intro (wordcount: 300)", "Intro", 300),
        ("Intro (Words: 300)", "Intro", 300),
        ("Intro (Target length: 300)", "Intro", 300),
        ("intro (targetlength 300)", "intro", 300),
        ("Intro (Target: 300)", "Intro", 300),
        ("Intro (Target 300 words)", "Intro", 300),
        ("Intro (Length: 300)", "Intro", 300),
        ("引言（目标字数：300）", "引言", 300),
        ("引言（篇幅：300）", "引言", 300),
        ("Intro (300 - 500 words)", "Intro", 400),
        ("Intro (300–500 words)", "Intro", 400),
        ("Intro (300—500 words)", "Intro", 400),
        ("Intro (300~500 words)", "Intro", 400),
        ("Intro (300〜500 words)", "Intro", 400),
        ("Intro (300～500 words)", "Intro", 400),
        ("Intro (300 to 500 words)", "Intro", 400),
        ("Intro (301-500 words)", "Intro", 400),
        ("引言（300至500字）", "引言", 400),
        ("引言（300到500字）", "引言", 400),
        ("Intro (500-300 words)", "Intro", 500),  # a reversed range: its first number
        ("Intro (1,200 words)", "Intro", 1200),
        ("引言（1，200字）", "引言", 1200),
        ("Intro (1,20 words)", "Intro (1", 20),  # "1,20" is no thousands group: 20 after a separator
        ("Intro | 300 words", "Intro", 300),
        ("Intro / 300 words", "Intro", 300),
        ("Intro, 300 words", "Intro", 300),
        ("Intro: 300 words", "Intro", 300),
        ("Intro：300字", "Intro", 300),
        ("Intro (300 words).", "Intro", 300),
        ("引言（300字）。", "引言", 300),
        ("Intro【300字】", "Intro", 300),
        ("Intro - (300 words)", "Intro", 300),
        # A target inside the line is cut out with its brackets; the one at the end wins.
        ("Intro 300 words extra", "Intro extra", 300),
        ("Intro about 300 words on history", "Intro on history", 300),
        ("A [300 words] B", "A  B", 300),
        ("Intro (300 words) then (400 words)", "Intro (300 words) then", 400),
        ("a 300 b 400 words", "a 300 b", 400),
        ("Intro 大 约300字", "Intro 大", 300),  # "大 约" with a space is not 大约
        ("引言约300字", "引言", 300),
        ("引言 300个字", "引言", 300),
        ("引言300个字内容", "引言 内容", 300),
        ("引言 300字左", "引言 左", 300),
        ("引言300字左右的内容", "引言 的内容", 300),
        ("Intro (Word count: about 300)", "Intro", 300),
        ("Intro (Word count : about 300)", "Intro", 300),
        ("Intro (Word count : 300)", "Intro", 300),
        ("Intro (100-1234567890123 words)", "Intro", 617283945111),
        ("A 300字400字", "A 300字", 400),
        ("Intro (1 word)", "Intro", 1),
        ("(300 words)", "", 300),
        ("- 300 words", "", 300),
        ("Intro -(300 words)", "Intro", 300),
        ("A ( 300 words) B", "A  B", 300),
        ("(300 words) B", "B", 300),
        ("300 words ", "", 300),
        ("300 words B ", "B", 300),
        ("A B 300 words C", "A B C", 300),
        # Only a closing bracket and a full stop may follow a target at the end.
        ("Intro (300 words) .", "Intro", 300),
        ("Intro (300 words)x", "Intro x", 300),
        ("Intro (300 words).x", "Intro .x", 300),
        ("Intro 300 words. x", "Intro . x", 300),
        # No target: a bare number, zero, a number too long to be a word count, a unit without a number.
        ("Intro 300-", "Intro 300-", None),
        ("Intro 300个", "Intro 300个", None),
        ("Words: (about 300)", "Words: (about 300)", None),  # the label is outside the brackets
        ("Intro (300)", "Intro (300)", None),
        ("about 300", "about 300", None),
        ("Section 3", "Section 3", None),
        ("Intro (0 words)", "Intro (0 words)", None),
        ("Intro (12345678901234 words)", "Intro (12345678901234 words)", None),
        ("Intro (words)", "Intro (words)", None),
        ("Intro (300 个)", "Intro (300 个)", None),
    ],
)
def test_word_targets_in_their_spellings(text: str, rest: str, target: int | None) -> None:
    assert extract_target(text) == (rest, target)


def test_the_longest_number_still_read_as_a_count_has_13_digits() -> None:
    assert extract_target("Intro (1234567890123 words)") == ("Intro", 1234567890123)
    assert extract_target("Intro (100-12345678901234 words)") == ("Intro (100-12345678901234 words)", None)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("300 words", True),
        ("  300 words  ", True),
        ("(300 words)", True),
        ("（约300字）", True),
        ("约300字", True),
        ("300字左右", True),
        ("Word count: 300", True),
        ("字数：500", True),
        ("Target: 300 words.", True),
        ("about 300 words", True),
        ("[300-500 words]", True),
        ("( 300 words)", True),
        ("Intro (300 words)", False),
        ("*300 words", False),
        ("- 300 words", False),
        ("300 words of history", False),
        ("( x 300 words)", False),
        ("about 300", False),
        ("Section 3", False),
        ("", False),
    ],
)
def test_a_line_that_only_states_a_target(text: str, expected: bool) -> None:
    assert is_target_line(text) is expected


# --- completing and scaling targets ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("targets", "total", "expected"),
    [
        ([None, None, None], 1000, [334, 333, 333]),
        # The remainder is shared out evenly, the larger shares first.
        ([None, 300, None, None], 1000, [234, 300, 233, 233]),
        ([None, None, 300, None, None], 1002, [176, 176, 300, 175, 175]),
        # Exactly MIN_SECTION_WORDS left per missing section is enough.
        ([None, 900], 950, [50, 900]),
        # Too little left: missing ones get the known mean, then everything scales to the total.
        ([None, 900], 949, [475, 474]),
        ([900, 900, None], 1000, [334, 333, 333]),
        ([None, None, 900], 980, [327, 327, 326]),
        # Scaling keeps the sum exact: the largest remainders get the extra words.
        ([100, 200, 300], 1000, [167, 333, 500]),
        ([300, 100, 200], 1000, [500, 167, 333]),
        ([100, 200, 400], 1000, [143, 286, 571]),
        ([1, 0], 100, [100, 50]),
        ([0, 0], 100, [50, 50]),
        ([300, 700], 1000, [300, 700]),
        # Section bounds: never under MIN_SECTION_WORDS nor over MAX_SECTION_WORDS.
        ([10, 990], 1000, [50, 990]),
        ([100, 100], 50000, [20000, 20000]),
        ([], 1000, []),
        # Without a total the known targets stay and missing ones get their (rounded) mean.
        ([100, 201, None], None, [100, 201, 150]),
        ([100, 202, None], None, [100, 202, 151]),
        ([None, None], None, [400, 400]),
        ([30000, 10, None], None, [20000, 50, 15005]),
    ],
)
def test_complete_targets_exactly(targets: list, total: int | None, expected: list[int]) -> None:
    assert complete_targets(targets, total_words=total) == expected


def test_parsed_targets_are_completed_from_the_total() -> None:
    reply = "## A (300 words)\n## B\n## C\n## D (100 words)\n"
    assert [s[2] for s in sections(reply, total_words=1001)] == [300, 301, 300, 100]
    assert [s[2] for s in sections(reply)] == [300, 200, 200, 100]


# --- line styles -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "numeral", ["II", "III", "IV", "VI", "VII", "VIII", "IX", "XI", "XIV", "XIX", "XX", "XL", "XLIX", "LX", "XC",
                "XCIX", "CXC", "CCCXCIX", "iv", "ix", "xl", "xc", "xlix", "lxxx"])
def test_roman_numerals_mark_sections(numeral: str) -> None:
    assert sections(f"{numeral}. Alpha (100 words)") == [("Alpha", (), 100, False)]
    assert sections(f"{numeral}) Alpha (100 words)") == [("Alpha", (), 100, False)]


@pytest.mark.parametrize("numeral", ["IIII", "VV", "IC", "IL", "VX", "LL", "XXXX", "IIV", "VIV", "XCX", "LXL",
                                     "ICC", "iiii", "il", "vx"])
def test_malformed_roman_numerals_are_part_of_the_title(numeral: str) -> None:
    assert sections(f"{numeral}. Alpha (100 words)") == [(f"{numeral}. Alpha", (), 100, False)]


@pytest.mark.parametrize(
    ("line", "title"),
    [
        ("第一章 绪论（100字）", "绪论"),
        ("第 3 节：方法（100字）", "方法"),
        ("第十部分、结论（100字）", "结论"),
        ("第二篇 下篇（100字）", "下篇"),
        ("第二段. 段落（100字）", "段落"),
        ("第二部 长篇（100字）", "长篇"),
        ("一、引言（100字）", "引言"),
        ("十二. 尾声（100字）", "尾声"),
        ("两．双（100字）", "双"),
        ("（一）背景（100字）", "背景"),
        ("(2) Method (100 words)", "Method"),
        ("（12）方法（100字）", "方法"),
        ("Section 2: Data (100 words)", "Data"),
        ("Part IV - Data (100 words)", "Data"),
        ("Chapter three) Data (100 words)", "Data"),
        ("Para. 3 - Data (100 words)", "Data"),
        ("para 3 – Data (100 words)", "Data"),
        ("paragraph 1 — Data (100 words)", "Data"),
        ("Step 12: Data (100 words)", "Data"),
        ("SECTION TWELVE. Data (100 words)", "Data"),
        ("1) Data (100 words)", "Data"),
        ("1. X-rays (100 words)", "X-rays"),
        ("1、数据（100字）", "数据"),
        ("1．数据（100字）", "数据"),
        ("1: Data (100 words)", "Data"),
        ("1： 数据（100字）", "数据"),
        ("1：数据（100字）", "1：数据"),  # a colon needs a space after it
        ("1 . Data (100 words)", "Data"),
        ("1.Data (100 words)", "Data"),
        ("123. Data (100 words)", "Data"),
        ("1.2 Data (100 words)", "Data"),
        ("1．2 数据（100字）", "数据"),
        ("2.3.1) Data (100 words)", "Data"),
        ("A. Data (100 words)", "Data"),
        ("b) Data (100 words)", "Data"),
        ("- Data (100 words)", "Data"),
        ("* Data (100 words)", "Data"),
        ("+ Data (100 words)", "Data"),
        ("• Data (100 words)", "Data"),
        ("● Data (100 words)", "Data"),
        ("**1. Data** (100 words)", "Data"),
        ("__Data__ (100 words)", "Data"),
        ("### 3. Data (100 words)", "Data"),
        ("## **Data (100 words)**", "Data"),
        ("## - Data (100 words)", "Data"),
        ("## IV. Data (100 words)", "Data"),
        ("## __1. Data__ (100 words)", "Data"),
        ("第一章 X光（100字）", "X光"),
        ("Section 1 X-rays (100 words)", "X-rays"),
        ("# 2025 Plan (100 words)", "2025 Plan"),
        # Not a numbering: the marker stays in the title.
        ("1234. Data (100 words)", "1234. Data"),
        ("1.2.Data (100 words)", "1.2.Data"),
        ("Sectional 2 (100 words)", "Sectional 2"),
        ("AB. Data (100 words)", "AB. Data"),
        ("-Data (100 words)", "-Data"),
        ("第一 绪论（100字）", "第一 绪论"),
    ],
)
def test_numbering_styles_are_dropped_from_a_title(line: str, title: str) -> None:
    assert sections(line) == [(title, (), 100, False)]


# --- which style marks the sections ----------------------------------------------------------------------

REPLIES = {
    # Chapters without targets above sections with them: the sections are the plan.
    "zh-chapters-above-sections": (
        "第一章 基础\n第一节 概念（100字）\n第二节 方法（200字）\n第二章 应用\n第三节 案例（300字）\n", "T0",
        [("概念", (), 100, False), ("方法", ("应用",), 200, False), ("案例", (), 300, False)]),
    "zh-chapters-with-targets": (
        "第一章 基础（500字）\n第一节 概念\n第二节 方法\n第二章 应用（600字）\n第三节 案例\n", "T0",
        [("基础", ("概念", "方法"), 500, False), ("应用", ("案例",), 600, False)]),
    "sub-numbers-by-depth": (
        "1.1 A (100 words)\n1.1.1 a\n1.1.2 b\n1.2 B (200 words)\n1.2.1 c\n", "T0",
        [("A", ("a", "b"), 100, False), ("B", ("c",), 200, False)]),
    "roman-by-case": (
        "I. Big (300 words)\ni. small\nii. small2\nII. Big2 (300 words)\n", "T0",
        [("Big", ("small", "small2"), 300, False), ("Big2", (), 300, False)]),
    "roman-by-case-lower-first": (
        "i. small\nii. small2\nI. Big (300 words)\nII. Big2 (300 words)\n", "T0",
        [("Big", (), 300, False), ("Big2", (), 300, False)]),
    "letters-by-case": (
        "A. Big (300 words)\na. small\nb. small2\nB. Big2 (300 words)\n", "T0",
        [("Big", ("small", "small2"), 300, False), ("Big2", (), 300, False)]),
    "labelled-kinds": (
        "Part 1: One\nChapter 1: Alpha (100 words)\nChapter 2: Beta (100 words)\nPart 2: Two\n"
        "Chapter 3: Gamma (100 words)\n", "T0",
        [("Alpha", (), 100, False), ("Beta", ("Two",), 100, False), ("Gamma", (), 100, False)]),
    "bullets-by-indent": (
        "- Top A\n    - sub a (100 words)\n    - sub b (100 words)\n- Top B\n", "T0",
        [("sub a", (), 100, False), ("sub b", ("Top B",), 100, False)]),
    "tab-indent": ("- A\n\t- a1\n- B\n\t- b1\n", "T0", [("A", ("a1",), 400, False), ("B", ("b1",), 400, False)]),
    "ideographic-indent": ("- A\n\u3000\u3000- a1\n- B\n", "T0", [("A", ("a1",), 400, False), ("B", (), 400, False)]),
    "one-space-is-no-indent": (
        "- A\n - a1\n- B\n", "T0", [("A", (), 400, False), ("a1", (), 400, False), ("B", (), 400, False)]),
    "lone-top-heading-above-one-section": ("# Doc\n## Only section\n- a\n", "Doc",
                                           [("Only section", ("a",), 400, False)]),
    "lone-top-heading-is-the-title": ("# Doc\n## A\n## B\n", "Doc", [("A", (), 400, False), ("B", (), 400, False)]),
    "lone-top-heading-after-a-section-is-a-point": (
        "## A\n# Doc\n## B\n", "T0", [("A", ("Doc",), 400, False), ("B", (), 400, False)]),
    "two-top-headings-are-sections": (
        "# A\n## a1\n# B\n## b1\n", "T0", [("A", ("a1",), 400, False), ("B", ("b1",), 400, False)]),
    "one-heading-only": ("# Only\n- p\n", "T0", [("Only", ("p",), 400, False)]),
    "deeper-lone-heading": ("## Doc\n### A\n- x\n### B\n", "Doc", [("A", ("x",), 400, False), ("B", (), 400, False)]),
    "plain-target-loses-to-a-list": ("Intro (100 words)\n- Alpha\n- Beta\n", "T0",
                                     [("Alpha", (), 400, False), ("Beta", (), 400, False)]),
    "plain-targets-when-nothing-else": (
        "Intro - 300 words\nsome point\nMiddle - 400 words\nother\n", "T0",
        [("Intro", ("some point",), 300, False), ("Middle", ("other",), 400, False)]),
    "repeated-beats-first": ("- preamble bullet\n1. One\n2. Two\n", "T0",
                             [("One", (), 400, False), ("Two", (), 400, False)]),
    "first-seen-among-equals": (
        "1. One\n- a\n2. Two\n- b\n", "T0", [("One", ("a",), 400, False), ("Two", ("b",), 400, False)]),
    "targets-beat-repeats": (
        "- note (50 words)\n- other\n- third\n1. One (100 words)\n2. Two (100 words)\n", "T0",
        [("One", (), 100, False), ("Two", (), 100, False)]),
    "half-with-targets-is-not-most": (
        "1. One\n2. Two\n- a (100 words)\n- b\n", "T0",
        [("One", (), 400, False), ("Two", ("a (100 words)", "b"), 400, False)]),
    "most-with-targets": (
        "1. One\n2. Two\n- a (100 words)\n- b (200 words)\n- c\n", "T0",
        [("a", (), 100, False), ("b", (), 200, False), ("c", (), 150, False)]),
    "short-bold-lines": ("**A**\n- x\n**B**\n- y\n", "T0", [("A", ("x",), 400, False), ("B", ("y",), 400, False)]),
    "bold-then-target": ("**Intro** (300 words)\n**Body** (200 words)\n", "T0",
                         [("Intro", (), 300, False), ("Body", (), 200, False)]),
    # A model mixing full-width and ASCII dots in one level of numbering.
    "mixed-dots": ("1．1 引言（100字）\n1.2 方法（100字）\n", "T0",
                   [("引言", (), 100, False), ("方法", (), 100, False)]),
    # A marker with nothing after it and nothing under it is noise.
    "bare-chapter-marker": ("第一章\n第二章 方法\n", "T0", [("方法", (), 400, False)]),
    "bare-section-label": ("Section 1\nSection 2: Data\n", "T0", [("Data", (), 400, False)]),
    "bold-lines": ("**Introduction (300 words)**\n- one\n\n**Middle (500 words)**\n- two\n", "T0",
                   [("Introduction", ("one",), 300, False), ("Middle", ("two",), 500, False)]),
    "indented-bold-is-a-point": (
        "1. One (100 words)\n  **bold point**\n2. Two (100 words)\n", "T0",
        [("One", ("bold point",), 100, False), ("Two", (), 100, False)]),
}


@pytest.mark.parametrize("name", list(REPLIES))
def test_the_section_style(name: str) -> None:
    reply, title, expected = REPLIES[name]
    outline = parse_outline(reply, title="T0")
    assert (outline.title, [(s.title, s.points, s.target, s.locked) for s in outline.sections]) == (title, expected)


# --- letters or Roman numerals: I, V, X, L, C read from the list around them ----------------------------


def plain(*titles: str, target: int = 400) -> list[tuple]:
    return [(title, (), target, False) for title in titles]


LETTERS_OR_NUMERALS = {
    # C continues A, B: a letter, not the numeral 100 (which made "C. Close" a point of B).
    "a-b-c": ("A. Open\nB. Middle\nC. Close\n", plain("Open", "Middle", "Close")),
    "a-b-c-parens": ("A) Open\nB) Middle\nC) Close\n", plain("Open", "Middle", "Close")),
    "a-b-c-bold": ("**A. Open**\n**B. Middle**\n**C. Close**\n", plain("Open", "Middle", "Close")),
    "a-b-c-with-points": (
        "A. Open\n- hook\nB. Middle\n- claim\n- proof\nC. Close\n- recap\n",
        [("Open", ("hook",), 400, False), ("Middle", ("claim", "proof"), 400, False),
         ("Close", ("recap",), 400, False)]),
    "a-to-d-with-targets": (
        "A. Open (100 words)\nB. Middle (200 words)\nC. Close (100 words)\nD. Notes (50 words)\n",
        [("Open", (), 100, False), ("Middle", (), 200, False), ("Close", (), 100, False), ("Notes", (), 50, False)]),
    "a-to-j": ("".join(f"{c}. Topic {c}\n" for c in "ABCDEFGHIJ"), plain(*(f"Topic {c}" for c in "ABCDEFGHIJ"))),
    "a-to-z": ("".join(f"{c}. Topic {c}\n" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
               plain(*(f"Topic {c}" for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"))),
    "h-i-j": ("H. Eight\nI. Nine\nJ. Ten\n", plain("Eight", "Nine", "Ten")),
    # "I" first, then "J": the letter after it.
    "i-j-k": ("I. Nine\nJ. Ten\nK. Eleven\n", plain("Nine", "Ten", "Eleven")),
    "u-v-w-x-y": ("U. u\nV. v\nW. w\nX. x\nY. y\n", plain("u", "v", "w", "x", "y")),
    "lower-a-b-c": ("a. one\nb. two\nc. three\n", plain("one", "two", "three")),
    "lower-h-i-j": ("h) eight\ni) nine\nj) ten\n", plain("eight", "nine", "ten")),
    "lower-k-l-m": ("k. eleven\nl. twelve\nm. thirteen\n", plain("eleven", "twelve", "thirteen")),
    # Roman lists stay Roman: "I" before "II", "V" after "IV", "X" after "IX".
    "roman-i-to-v": ("I. One\nII. Two\nIII. Three\nIV. Four\nV. Five\n", plain("One", "Two", "Three", "Four", "Five")),
    "roman-i-to-x": ("I. a\nII. b\nIII. c\nIV. d\nV. e\nVI. f\nVII. g\nVIII. h\nIX. i\nX. j\n",
                     plain(*"abcdefghij")),
    "lower-roman-i-to-iii": ("i. one\nii. two\niii. three\n", plain("one", "two", "three")),
    # Roman sections with lettered points of the same case: the C after B is a point.
    "roman-sections-letter-points": (
        "I. Intro\nA. hook\nB. thesis\nII. Body\nA. claim\nB. evidence\nC. counter\nIII. Close\n",
        [("Intro", ("hook", "thesis"), 400, False), ("Body", ("claim", "evidence", "counter"), 400, False),
         ("Close", (), 400, False)]),
    "roman-sections-letter-points-with-targets": (
        "I. Intro (100 words)\nA. hook\nB. thesis\nC. roadmap\nII. Body (200 words)\nA. claim\nB. evidence\n"
        "C. counter\nIII. Close (100 words)\nA. recap\n",
        [("Intro", ("hook", "thesis", "roadmap"), 100, False), ("Body", ("claim", "evidence", "counter"), 200, False),
         ("Close", ("recap",), 100, False)]),
    "roman-sections-letter-points-without-c": (
        "I. Intro\nA. hook\nB. thesis\nII. Body\nA. claim\nIII. Close\n",
        [("Intro", ("hook", "thesis"), 400, False), ("Body", ("claim",), 400, False), ("Close", (), 400, False)]),
    # V after IV and X after IX are numerals, though letters come between.
    "roman-v-and-x-after-letter-points": (
        "IV. Four\nA. a\nB. b\nC. c\nD. d\nE. e\nV. Five\nIX. Nine\nA. f\nX. Ten\n",
        [("Four", ("a", "b", "c", "d", "e"), 400, False), ("Five", (), 400, False), ("Nine", ("f",), 400, False),
         ("Ten", (), 400, False)]),
    # Lettered sections with Roman points of the same case: I before II is a numeral, C after B a letter.
    "letter-sections-roman-points": (
        "A. Open\nI. hook\nII. thesis\nB. Body\nI. claim\nII. evidence\nC. Close\n",
        [("Open", ("hook", "thesis"), 400, False), ("Body", ("claim", "evidence"), 400, False),
         ("Close", (), 400, False)]),
    "letter-sections-lower-roman-points": (
        "A. Open\ni. hook\nii. thesis\nB. Body\ni. claim\nC. Close\n",
        [("Open", ("hook", "thesis"), 400, False), ("Body", ("claim",), 400, False), ("Close", (), 400, False)]),
    # After H, but before II: one reason each way, and a numeral wins a tie.
    "i-after-h-before-ii-is-a-numeral": (
        "G. Seven\nI. a\nII. b\nH. Eight\nI. c\nII. d\n",
        [("Seven", ("a", "b"), 400, False), ("Eight", ("c", "d"), 400, False)]),
    # The same in lower case: "ii" after "i" counts for a numeral in a lower-case list too.
    "lower-i-after-h-before-ii-is-a-numeral": (
        "g. Seven\ni. a\nii. b\nh. Eight\ni. c\nii. d\n",
        [("Seven", ("a", "b"), 400, False), ("Eight", ("c", "d"), 400, False)]),
    # After U, but also after IV: one reason each way, and a numeral wins a tie.
    "v-after-iv-and-u-is-a-numeral": (
        "IV. Four\n" + "".join(f"{c}. {c.lower()}\n" for c in "ABCDEFGHIJKLMNOPQRSTU") + "V. Five\nA. e\n",
        [("Four", tuple("abcdefghijklmnopqrstu"), 400, False), ("Five", ("e",), 400, False)]),
    # Each case and indent is its own list: the last C follows B at no indent, not the indented A.
    "lists-by-indent": (
        "A. Open\n   A. one\n   B. two\n   C. three\nB. Body\n   A. four\nC. Close\n",
        [("Open", ("one", "two", "three"), 400, False), ("Body", ("four",), 400, False), ("Close", (), 400, False)]),
    "lists-by-case": (
        "A. Open\nB. Body\nb. point\nC. Close\n",
        [("Open", (), 400, False), ("Body", ("point",), 400, False), ("Close", (), 400, False)]),
}


@pytest.mark.parametrize("name", list(LETTERS_OR_NUMERALS))
def test_letters_or_roman_numerals(name: str) -> None:
    reply, expected = LETTERS_OR_NUMERALS[name]
    assert sections(reply) == expected


# --- titles, points, locks -------------------------------------------------------------------------------

BODIES = {
    "locks": ("## 1. A (100 words) (locked)\n## 2. B (100 words) 🔒\n## 3. C (100 words) [LOCKED]\n"
              "## 4. D (100 words)\n",
              [("A", (), 100, True), ("B", (), 100, True), ("C", (), 100, True), ("D", (), 100, False)]),
    "locked-bold": ("1. **Alpha** (100 words) [locked]\n2. **Beta** (100 words)\n",
                    [("Alpha", (), 100, True), ("Beta", (), 100, False)]),
    "point-labels": ("## A\nKey points: x; y；z\n## B\n要点：甲；乙\n",
                     [("A", ("x", "y", "z"), 400, False), ("B", ("甲", "乙"), 400, False)]),
    "point-labels-in-bullets": ("## A (100 words)\n- Key points: x; y\n- Covers: z\n- Summary:\n",
                                [("A", ("x", "y", "z"), 100, False)]),
    "bullet-target-lines": ("## A\n- (300 words)\n- real point\n## B\n- 约200字\n",
                            [("A", ("real point",), 300, False), ("B", (), 200, False)]),
    "body-target-lines": ("## A\n（约300字）\n- p\n## B\n- q\n约500字\n",
                          [("A", ("p",), 300, False), ("B", ("q",), 500, False)]),
    "first-body-target-wins": ("## A\nWord count: 100\nWord count: 200\n## B (300 words)\n",
                               [("A", (), 100, False), ("B", (), 300, False)]),
    "title-target-beats-body": ("## A (100 words)\nWord count: 200\n## B (300 words)\n",
                                [("A", (), 100, False), ("B", (), 300, False)]),
    "bold-target-line-in-body": ("## A\n**Word count: 250**\n- p\n## B (300 words)\n",
                                 [("A", ("p",), 250, False), ("B", (), 300, False)]),
    "locked-target-line": ("## A\n(250 words) [locked]\n## B (300 words)\n",
                           [("A", (), 250, False), ("B", (), 300, False)]),
    "bold-points": ("## A (100 words)\n**bold point**\n__under point__\n- **bullet bold**\n",
                    [("A", ("bold point", "under point", "bullet bold"), 100, False)]),
    "totals-dropped": ("## A (100 words)\n## B (100 words)\n- b point\nTotal: 200 words\n总字数：200字\n",
                       [("A", (), 100, False), ("B", ("b point",), 100, False)]),
    "points-after-a-total-line": ("## A (100 words)\n- a\nTotal: 100 words\n- note\n",
                                  [("A", ("a", "note"), 100, False)]),
    "chatty-text-after-a-chinese-list": ("## A (100 words)\n一、甲\n二、乙\n\nHope this helps!\n",
                                         [("A", ("甲", "乙"), 100, False)]),
    "chatty-text-after-a-list-with-prose": ("## A (100 words)\n- a\nmore about a\n\nHope this helps!\n",
                                            [("A", ("a", "more about a"), 100, False)]),
    "prose-paragraphs-are-points": ("## A (100 words)\nintro sentence\n\nsecond paragraph\n",
                                    [("A", ("intro sentence", "second paragraph"), 100, False)]),
    "total-word-without-target": ("## A (100 words)\n## B (100 words)\nTotal chaos ensues\n",
                                  [("A", (), 100, False), ("B", ("Total chaos ensues",), 100, False)]),
    "chatty-text-after": ("1. One (100 words)\n- a\n\n2. Two (100 words)\n- b\n\nLet me know!\nBye.\n",
                          [("One", ("a",), 100, False), ("Two", ("b",), 100, False)]),
    "indented-text-after-is-a-point": ("1. One (100 words)\n- a\n\n2. Two (100 words)\n- b\n\n  indented note\n",
                                       [("One", ("a",), 100, False), ("Two", ("b", "indented note"), 100, False)]),
    "bullet-after-blank-is-a-point": ("1. One (100 words)\n- a\n\n2. Two (100 words)\n- b\n\n- c\n",
                                      [("One", ("a",), 100, False), ("Two", ("b", "c"), 100, False)]),
    "text-without-blank-is-a-point": ("1. One (100 words)\n2. Two (100 words)\n- b\ntrailing\n",
                                      [("One", (), 100, False), ("Two", ("b", "trailing"), 100, False)]),
    "prose-before-a-list-is-kept": ("1. One (100 words)\n2. Two (100 words)\n\nprose first\n- b\n",
                                    [("One", (), 100, False), ("Two", ("prose first", "b"), 100, False)]),
    "chatty-text-in-the-middle-is-a-point": ("1. One (100 words)\n- a\n\nmiddle remark\n2. Two (100 words)\n",
                                             [("One", ("a", "middle remark"), 100, False), ("Two", (), 100, False)]),
    "empty-numbered-line": ("1.\n2. Real (100 words)\n3. Other (100 words)\n",
                            [("Real", (), 100, False), ("Other", (), 100, False)]),
    "empty-head-takes-its-first-point": ("1.\n   - Real title\n   - point\n2. Second (100 words)\n",
                                         [("Real title", ("point",), 100, False), ("Second", (), 100, False)]),
    "bold-title-and-description": (
        "1. **Alpha**: the start, in detail (100 words)\n2. **Beta** | (200 words)\n3. __Gamma__ - g (300 words)\n"
        "4. **Delta (400 words)** – why it matters\n5. **Epsilon**—fast (500 words)\n",
        [("Alpha", ("the start, in detail",), 100, False), ("Beta", (), 200, False), ("Gamma", ("g",), 300, False),
         ("Delta", ("why it matters",), 400, False), ("Epsilon", ("fast",), 500, False)]),
    "bullet-bold-title": ("- **Alpha** - a (100 words)\n- **Beta** (200 words)\n",
                          [("Alpha", ("a",), 100, False), ("Beta", (), 200, False)]),
    "bold-inside-a-title": ("1. The **big** idea (100 words)\n2. Small (100 words)\n",
                            [("The big idea", (), 100, False), ("Small", (), 100, False)]),
    "trailing-punctuation": ("1. Alpha: (100 words)\n2. Beta — (100 words)\n3. Gamma | (100 words)\n"
                             "4. Delta,, (100 words)\n",
                             [("Alpha", (), 100, False), ("Beta", (), 100, False), ("Gamma", (), 100, False),
                              ("Delta", (), 100, False)]),
    "windows-and-mac-newlines": ("## A (100 words)\r\n- a\r\n## B (200 words)\r- b\r",
                                 [("A", ("a",), 100, False), ("B", ("b",), 200, False)]),
    "windows-newlines-are-not-blank-lines": ("## A (100 words)\r\n- a\r\nmore detail\r\n",
                                             [("A", ("a", "more detail"), 100, False)]),
    "fences": ("```markdown\n## A (100 words)\n  ~~~\n## B (100 words)\n```\n",
               [("A", (), 100, False), ("B", (), 100, False)]),
}


@pytest.mark.parametrize("name", list(BODIES))
def test_titles_points_and_locks(name: str) -> None:
    reply, expected = BODIES[name]
    assert sections(reply) == expected


@pytest.mark.parametrize(
    ("reply", "title"),
    [
        ("Title: My Essay\n\n1. One (100 words)\n2. Two (100 words)\n", "My Essay"),
        ("**Title:** My Essay\n1. One (100 words)\n2. Two (100 words)\n", "My Essay"),
        ("document  title: Doc\n1. One (100 words)\n2. Two (100 words)\n", "Doc"),
        ("标题：我的文章\n## A（100字）\n## B（100字）\n", "我的文章"),
        ("题目：茶\n## A（100字）\n## B（100字）\n", "茶"),
        ("文章标题：茶\n## A（100字）\n## B（100字）\n", "茶"),
        ("Title:\n# Heading Title\n## A (100 words)\n## B (100 words)\n", "Heading Title"),
        ("**My Bold Title**\n\n## A (100 words)\n## B (100 words)\n", "My Bold Title"),
        ("# Outline: Tea (1000 words)\n## A (100 words)\n## B (100 words)\n", "Tea"),
        ("# 大纲：茶\n## A（100字）\n## B（100字）\n", "茶"),
        ("# 提纲 - 茶\n## A（100字）\n## B（100字）\n", "茶"),
        ("# 《茶经》\n## A（100字）\n## B（100字）\n", "茶经"),
        ("# “Tea”\n## A（100字）\n## B（100字）\n", "Tea"),
        ("# Tea: (1000 words)\n## A (100 words)\n## B (100 words)\n", "Tea"),
        ("# My Plan：\n## A (100 words)\n## B (100 words)\n", "My Plan"),
        ('# Outline: "My doc" (3000 words)\n## A (100 words)\n## B (100 words)\n', "My doc"),
        ('# "Plan (300 words)"\n## A (100 words)\n## B (100 words)\n', "Plan (300 words)"),
        ('# The "Best"\n## A (100 words)\n## B (100 words)\n', 'The "Best"'),
        ('# "A"\n## A (100 words)\n## B (100 words)\n', "A"),
        ("# 1984 Revisited\n## 1. A (100 words)\n## 2. B (100 words)\n", "1984 Revisited"),
        ("# Project X\n## A (100 words)\n## B (100 words)\n", "Project X"),
        ("# 101: Tea Basics\n## A (100 words)\n## B (100 words)\n", "101: Tea Basics"),
        ("# Outline\n# \n## A (100 words)\n## B (100 words)\n", "T0"),
        ("Here is the plan.\n1. One (100 words)\n2. Two (100 words)\n", "T0"),
        ("- (3000 words)\n## A (100 words)\n## B (100 words)\n", "T0"),
    ],
)
def test_the_document_title(reply: str, title: str) -> None:
    assert parse_outline(reply, title="  T0 ").title == title


def test_no_sections_tells_the_writer_what_to_do() -> None:
    with pytest.raises(OutlineParseError) as caught:
        parse_outline("Sorry, I can't.\n")
    assert str(caught.value) == (
        "Could not find sections in the model's reply. Edit the raw text below into one line per section "
        "(for example `## 1. Introduction (300 words)` with `- key point` lines under it), or add rows to "
        "the table by hand.")
    assert caught.value.raw == "Sorry, I can't.\n"


def test_section_markers_without_titles_are_a_parse_error() -> None:
    with pytest.raises(OutlineParseError) as caught:
        parse_outline("1.\n2.\n", total_words=500)
    assert str(caught.value) == "The model's reply has section markers but no section titles."
    assert caught.value.raw == "1.\n2.\n"


def test_split_points() -> None:
    assert split_points(" a ; b；c;; ;") == ["a", "b", "c"]
    assert split_points("") == []


# --- rendering -------------------------------------------------------------------------------------------


def test_render_without_a_title_and_with_a_quoted_one() -> None:
    assert render_outline(Outline("", (Section("A", (), 100),))) == "# Outline\n\n## 1. A (100 words)\n"
    assert render_outline(Outline("Plan (300 words)", (Section("A", ("p",), 60, locked=True),))) == (
        '# "Plan (300 words)"\n\n## 1. A (60 words) [locked]\n- p\n')
    assert parse_outline(render_outline(Outline("", (Section("A", (), 100),)))).title == ""
    assert render_outline(Outline("Doc", (Section("A", (), 100),))) == "# Doc\n\n## 1. A (100 words)\n"


def test_to_dict_is_the_whole_outline() -> None:
    outline = Outline("Doc", (Section("A", ("a", "b"), 120, True, "text"),))
    assert outline.to_dict() == {"title": "Doc", "sections": [
        {"title": "A", "points": ["a", "b"], "target": 120, "locked": True, "text": "text"}]}
    assert outline.total_target == 120


# --- edit operations -------------------------------------------------------------------------------------


def doc() -> Outline:
    return Outline("Doc", (Section("A", ("a",), 100, text="text A"), Section("B", (), 200, text="text B"),
                           Section("C", (), 300)))


@pytest.mark.parametrize("index", [-1, 3, True, "1", 1.0, None])
def test_a_section_index_is_checked(index) -> None:
    for call in (lambda: edit_section(doc(), index, title="x"), lambda: delete_section(doc(), index),
                 lambda: move_section(doc(), index, 0), lambda: move_section(doc(), 0, index),
                 lambda: set_locked(doc(), index), lambda: set_text(doc(), index, "t")):
        assert raises(ParamError, call) == f"index: no section {index!r}; the outline has 3 section(s)"


def test_adding_at_the_end_is_allowed_but_not_past_it() -> None:
    assert [s.title for s in add_section(doc(), at=3, title="D").sections] == ["A", "B", "C", "D"]
    assert [s.title for s in add_section(doc(), at=0, title="Z").sections] == ["Z", "A", "B", "C"]
    assert raises(ParamError, add_section, doc(), at=4) == "index: no section 4; the outline has 3 section(s)"
    assert raises(ParamError, add_section, doc(), at=-1) == "index: no section -1; the outline has 3 section(s)"
    assert raises(ParamError, add_section, doc(), at=True) == "index: no section True; the outline has 3 section(s)"


def test_an_added_section_keeps_its_points_and_target() -> None:
    added = add_section(doc(), at=1, title="  New  ", points=["p", "q"], target=150)
    assert added.sections[1] == Section("New", ("p", "q"), 150)
    assert add_section(doc()).sections[3] == Section("New section", (), DEFAULT_SECTION_WORDS)
    assert raises(ParamError, add_section, doc(), title=" ") == "title: a section needs a title"
    assert raises(ParamError, add_section, doc(), target=49) == "target: must be between 50 and 20000 words, got 49"


def test_edit_section_changes_only_what_is_given() -> None:
    assert edit_section(doc(), 0).sections == doc().sections
    edited = edit_section(doc(), 0, title=" A2 ", locked=1, text="")
    assert edited.sections[0] == Section("A2", ("a",), 100, True, "")
    assert edit_section(doc(), 2, points=[]).sections[2].points == ()
    assert edit_section(doc(), 1, target="250").sections[1] == Section("B", (), 250, text="text B")
    assert set_locked(doc(), 0).sections[0] == Section("A", ("a",), 100, True, "text A")
    assert set_text(doc(), 1, "new B").sections[1] == Section("B", (), 200, text="new B")
    assert set_locked(set_locked(doc(), 1), 1, False).sections[1].locked is False
    assert raises(ParamError, edit_section, doc(), 0, title="  ") == "title: a section needs a title"


def test_delete_and_move() -> None:
    assert [s.title for s in delete_section(doc(), 2).sections] == ["A", "B"]
    assert [s.title for s in delete_section(doc(), 1).sections] == ["A", "C"]
    assert [s.title for s in move_section(doc(), 2, 0).sections] == ["C", "A", "B"]
    assert [s.title for s in move_section(doc(), 1, 1).sections] == ["A", "B", "C"]
    one = Outline("Doc", (Section("A"),))
    assert raises(StudioError, delete_section, one, 0) == (
        "An outline needs at least one section: edit this one instead of deleting it.")


# --- table rows ------------------------------------------------------------------------------------------


def test_rows_are_title_points_target_locked() -> None:
    assert outline_to_rows(Outline("D", (Section("A", ("a", "b"), 120, True),))) == [["A", "a; b", 120, True]]


def test_short_rows_and_empty_cells() -> None:
    back = outline_from_rows([["A"], ["B", "x;y"], ["C", None, "", None]], title=" Doc ")
    assert back.title == "Doc"
    assert [(s.title, s.points, s.target, s.locked, s.text) for s in back.sections[:3]] == [
        ("A", (), 400, False, ""), ("B", ("x", "y"), 400, False, ""), ("C", (), 400, False, "")]


def test_empty_rows_are_skipped_anywhere() -> None:
    back = outline_from_rows([["", "", 0, False], ["A", "", 100, False], [None, None, None, True], ["", "", "", ""],
                              ["B", "", 100, False]], title="Doc")
    assert [s.title for s in back.sections] == ["A", "B"]
    assert back.title == "Doc"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([["A", "", 100], [None, "a point", 100]], "row 2: a section needs a title"),
        ([["A", "", 100], ["", "", 300]], "row 2: a section needs a title"),
        ([["A", "", 100], ["  ", "", 1]], "row 2: a section needs a title"),
        ([["A", "", 100], ["B", "", "many"]], "row 2 target words: expected a number, got 'many'"),
        ([["A", "", 100], ["B", "", [1]]], "row 2 target words: expected a number, got [1]"),
        ([["A", "", 100], ["B", "", "inf"]], "row 2 target words: expected a number, got 'inf'"),
        ([["A", "", 100], ["B", "", float("nan")]], "row 2 target words: expected a number, got nan"),
        ([["A", "", 10]], "row 1 target words: must be between 50 and 20000 words, got 10"),
        ([["A", "", 100], ["B", "", "20001"]], "row 2 target words: must be between 50 and 20000 words, got 20001"),
        ([], "The outline table is empty: add at least one section."),
        ([["", "", None, True]], "The outline table is empty: add at least one section."),
    ],
)
def test_bad_rows_name_the_row(rows: list, message: str) -> None:
    with pytest.raises(StudioError) as caught:
        outline_from_rows(rows, title="Doc")
    assert str(caught.value) == message


def test_row_targets_and_locks() -> None:
    rows = [["A", "p; q", "250.0", "yes"], ["B", "", 300.0, 1], ["C", "", 60, "true"], ["D", "", 70, "True"],
            ["E", "", 80, "1"], ["F", "", 90, False], ["G", "", 100, "no"], ["H", "", 110, 0], ["I", "", 120, 2]]
    back = outline_from_rows(rows, title="Doc")
    assert [(s.title, s.points, s.target, s.locked) for s in back.sections] == [
        ("A", ("p", "q"), 250, True), ("B", (), 300, True), ("C", (), 60, True), ("D", (), 70, True),
        ("E", (), 80, True), ("F", (), 90, False), ("G", (), 100, False), ("H", (), 110, False),
        ("I", (), 120, False)]


def test_rows_keep_the_previous_texts_by_position() -> None:
    previous = Outline("Doc", (Section("A", text="one"), Section("B", text="two")))
    back = outline_from_rows([["A"], ["B2"], ["C"]], title="Doc", previous=previous)
    assert [s.text for s in back.sections] == ["one", "two", ""]
    assert [s.text for s in outline_from_rows([["A"]], title="Doc").sections] == [""]


# --- outlines from a client ------------------------------------------------------------------------------


def test_from_dict_defaults_and_cleaning() -> None:
    outline = Outline.from_dict({"sections": [{"title": " A ", "points": [" p ", " ", "q"]}]})
    assert outline == Outline("", (Section("A", ("p", "q"), DEFAULT_SECTION_WORDS, False, ""),))
    outline = Outline.from_dict({"title": "T", "sections": [{"title": "A", "points": "x; y", "target": "300",
                                                             "locked": True, "text": "body"}]})
    assert outline == Outline("T", (Section("A", ("x", "y"), 300, True, "body"),))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([], "outline: expected an object with 'title' and 'sections', got list"),
        ("x", "outline: expected an object with 'title' and 'sections', got str"),
        ({"title": "x", "sections": [{"title": "a"}], "colour": 1, "size": 2},
         "outline: unknown field(s) ['colour', 'size'] (allowed: title, sections)"),
        ({"title": "x"}, "outline.sections: expected a non-empty list of sections"),
        ({"title": "x", "sections": {"title": "a"}}, "outline.sections: expected a non-empty list of sections"),
        ({"title": 5, "sections": [{"title": "a"}]}, "outline.title: expected text, got int"),
        ({"title": None, "sections": [{"title": "a"}]}, "outline.title: expected text, got NoneType"),
        ({"sections": [{"title": "a"}, "b"]}, "outline.sections[1]: expected an object, got str"),
        ({"sections": [{"title": "a", "b": 1, "a": 2}]},
         "outline.sections[0]: unknown field(s) ['a', 'b'] (allowed: title, points, target, locked, text)"),
        ({"sections": [{"title": "a", "points": 3}]}, "outline.sections[0].points: expected a list of strings"),
        ({"sections": [{"title": "a", "points": ["p", 3]}]}, "outline.sections[0].points: expected a list of strings"),
        ({"sections": [{"title": "a", "locked": "yes"}]},
         "outline.sections[0].locked: expected true or false, got 'yes'"),
        ({"sections": [{"title": "a", "locked": None}]},
         "outline.sections[0].locked: expected true or false, got None"),
        ({"sections": [{"points": ["p"]}]}, "outline.sections[0].title: a section needs a title"),
        ({"sections": [{"title": "  "}]}, "outline.sections[0].title: a section needs a title"),
        ({"sections": [{"title": 7}]}, "outline.sections[0].title: expected text, got int"),
        ({"sections": [{"title": "a", "text": None}]}, "outline.sections[0].text: expected text, got NoneType"),
        ({"sections": [{"title": "a"}, {"title": "b", "target": 49}]},
         "outline.sections[1].target: must be between 50 and 20000 words, got 49"),
        ({"sections": [{"title": "a", "target": True}]},
         "outline.sections[0].target: expected a number of words, got True"),
    ],
)
def test_from_dict_errors_name_the_field(data, message: str) -> None:
    assert raises(ParamError, Outline.from_dict, data) == message


def test_from_dict_checks_sizes_first() -> None:
    data = {"title": "t" * (limits.OUTLINE_TITLE_MAX + 1), "sections": [{"title": "a"}]}
    assert raises(ParamError, Outline.from_dict, data) == "outline.title: at most 300 characters, got 301"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(300, 300), (300.0, 300), (" 300 ", 300), ("50", 50), (MIN_SECTION_WORDS, 50), (MAX_SECTION_WORDS, 20000)],
)
def test_check_target_accepts(value, expected: int) -> None:
    assert check_target(value) == expected
    assert type(check_target(value)) is int


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "words: expected a number of words, got True"),
        (False, "words: expected a number of words, got False"),
        (300.5, "words: expected a whole number of words, got 300.5"),
        ("3e2", "words: expected a whole number of words, got '3e2'"),
        ("-300", "words: expected a whole number of words, got '-300'"),
        (None, "words: expected a whole number of words, got None"),
        (49, "words: must be between 50 and 20000 words, got 49"),
        (20001, "words: must be between 50 and 20000 words, got 20001"),
        (49.0, "words: must be between 50 and 20000 words, got 49"),
        ("20001", "words: must be between 50 and 20000 words, got 20001"),
    ],
)
def test_check_target_refuses(value, message: str) -> None:
    assert raises(ParamError, check_target, value, field="words") == message


def test_check_target_names_target_by_default() -> None:
    assert raises(ParamError, check_target, 1) == "target: must be between 50 and 20000 words, got 1"


# --- size caps (writing/compose/limits.py) ---------------------------------------------------------------

PLAN = limits.plan_char_limit(limits.SECTION_PROMPT_TOKENS)  # 49,152 characters


def test_the_plan_budget_is_what_a_section_prompt_holds() -> None:
    assert PLAN == 49_152


def test_each_field_is_capped_and_named() -> None:
    def size(data) -> str:
        return raises(ParamError, check_outline_size, data)

    assert size({"title": "t" * 301}) == "outline.title: at most 300 characters, got 301"
    assert size({"sections": [{}] * 101}) == "outline.sections: at most 100 sections, got 101"
    assert size({"sections": [{}, {"title": "t" * 301}]}) == (
        "outline.sections[1].title: at most 300 characters, got 301")
    assert size({"sections": [{"points": ["p"] * 21}]}) == "outline.sections[0].points: at most 20 key points, got 21"
    assert size({"sections": [{"points": ["p", "q", "p" * 1001]}]}) == (
        "outline.sections[0].points[2]: at most 1,000 characters, got 1,001")
    assert size({"sections": [{"points": "p" * 20041}]}) == (
        "outline.sections[0].points: at most 20,040 characters, got 20,041")
    assert size({"sections": [{"text": "x" * 400_001}]}) == (
        "outline.sections[0].text: at most 400,000 characters, got 400,001")
    # Items of the wrong type are left to from_dict; the ones after them are still checked.
    assert size({"sections": ["junk", 3, {"title": "t" * 301}]}) == (
        "outline.sections[2].title: at most 300 characters, got 301")


def test_what_fits_the_caps_passes() -> None:
    check_outline_size({"title": "t" * 300, "sections": [{"title": "t" * 300, "points": ["p" * 1000] * 20,
                                                          "text": "x" * 400_000}] + [{}] * 99})
    check_outline_size({"sections": [{"points": "p" * 20040}]})
    check_outline_size([{"title": "t" * 301}])  # not an object: from_dict refuses it
    check_outline_size({"title": 5, "sections": "nope"})
    check_outline_size({"title": ["t"] * 400, "sections": [{"title": 3, "points": [4] * 20, "text": 5}]})


def plan(title=None, last: dict | None = None, **fields) -> dict:
    """An outline whose plan is exactly the budget (a 152-character title), plus what `last` adds."""
    data = {"title": "t" * 152 if title is None else title, **fields, "sections": [
        {"title": "a" * 300, "points": ["p" * 1000] * 20},  # 20,300: points as a list
        {"title": "b" * 300, "points": "q" * 20000},  # 20,300: points as "a; b" text
        {"title": "c" * 300, "points": ["r" * 1000] * 8 + ["s" * 100], "text": "x" * 400_000},  # 8,400
        "not an object",
        last or {},
    ]}
    return data


PLAN_MESSAGE = (f"outline: the plan (titles and key points) may have at most {PLAN:,} characters to fit a "
                f"section's prompt; this one has more")


@pytest.mark.parametrize("data", [plan(title="t" * 153), plan(last={"title": "d"}), plan(last={"points": "u"}),
                                  plan(last={"points": ["u"]}), plan(last={"points": ["", "u"]})])
def test_one_character_over_the_plan_budget_is_refused(data: dict) -> None:
    assert raises(ParamError, check_outline_size, data) == PLAN_MESSAGE
    assert raises(ParamError, Outline.from_dict, data) == PLAN_MESSAGE


def test_a_plan_of_exactly_the_budget_passes() -> None:
    assert 152 + 20_300 + 20_300 + 8_400 == PLAN
    check_outline_size(plan())
    check_outline_size(plan(last={"title": "", "points": [], "text": ""}))
    # Without a title, or with one that is not text (from_dict refuses it afterwards), it counts for nothing.
    no_title = plan(last={"title": "d" * 152})
    del no_title["title"]
    check_outline_size(no_title)
    check_outline_size(plan(title=12345, last={"title": "d" * 152}))


def test_all_section_texts_fit_one_draft() -> None:
    full = {"sections": [{"title": "s", "text": "x" * limits.OUTLINE_TEXT_MAX}] * 10 + [{"title": "no text"}]}
    check_outline_size(full)  # exactly DRAFT_MAX_CHARS
    over = {"sections": full["sections"] + [{"title": "s", "text": "x"}]}
    assert raises(ParamError, check_outline_size, over) == (
        "outline: the section texts may have at most 4,000,000 characters in all (one draft); these have more")
    spread = {"sections": [{"text": "x"}] + full["sections"]}
    assert raises(ParamError, check_outline_size, spread).startswith("outline: the section texts")
