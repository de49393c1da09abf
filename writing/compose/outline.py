"""Outlines as data: sections with a title, key points and a word target; parse, render, edit.

    parse_outline(model_markdown, total_words=3000) -> Outline   (or OutlineParseError with .raw)
    render_outline(outline) -> Markdown that parse_outline reads back to the same outline

A 4B model formats its plan in many ways: `## 1. Intro (300 words)`, `1. **Intro** - 300 words`,
`- Intro` with indented points, `一、引言（约300字）`, `第一章 背景`, with chatty text before and
after. The parser classifies every line by its *style* (heading level, numbered list, bullet at
an indent, Chinese numbering...), picks the style that marks the sections (the one carrying word
targets, else the first that repeats), and reads the lines between two section lines as points.
Every edit operation is a pure function returning a new Outline, so the UI keeps no hidden state.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from writing.compose import limits
from writing.compose.markdown import heading
from writing.errors import ParamError, StudioError

DEFAULT_SECTION_WORDS = 400  # a target for sections when neither the model nor the brief gives one
MIN_SECTION_WORDS = 50
MAX_SECTION_WORDS = 20000


class OutlineParseError(StudioError):
    """No sections could be found in the model's reply. `.raw` keeps the reply for manual editing."""

    def __init__(self, message: str, raw: str):
        self.raw = raw
        super().__init__(message)


@dataclass(frozen=True)
class Section:
    title: str
    points: tuple[str, ...] = ()
    target: int = DEFAULT_SECTION_WORDS  # words
    locked: bool = False  # a locked section is never rewritten by expand/regenerate
    text: str = ""  # the written section body (no heading)


@dataclass(frozen=True)
class Outline:
    title: str
    sections: tuple[Section, ...] = field(default_factory=tuple)

    @property
    def total_target(self) -> int:
        return sum(section.target for section in self.sections)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able data (the /outline API's answer and the UI's state)."""
        return {
            "title": self.title,
            "sections": [
                {"title": s.title, "points": list(s.points), "target": s.target, "locked": s.locked, "text": s.text}
                for s in self.sections
            ],
        }

    @classmethod
    def from_dict(cls, data: Any) -> Outline:
        """Validate untrusted JSON (from a client or the UI); errors name the field.

        Sizes are checked first (check_outline_size), before any string is split, stripped or copied."""
        check_outline_size(data)
        if not isinstance(data, dict):
            raise ParamError("outline", f"expected an object with 'title' and 'sections', got {type(data).__name__}")
        unknown = set(data) - {"title", "sections"}
        if unknown:
            raise ParamError("outline", f"unknown field(s) {sorted(unknown)} (allowed: title, sections)")
        raw_sections = data.get("sections")
        if not isinstance(raw_sections, list) or not raw_sections:
            raise ParamError("outline.sections", "expected a non-empty list of sections")
        sections = tuple(_section_from_dict(item, i) for i, item in enumerate(raw_sections))
        return cls(title=_text(data.get("title", ""), "outline.title"), sections=sections)


def check_outline_size(data: Any) -> None:
    """Bound an outline from a client before reading it (limits: writing/compose/limits.py): at most
    OUTLINE_MAX_SECTIONS sections of OUTLINE_MAX_POINTS points, titles and points of bounded length, a plan
    (titles + points) that fits a section prompt, section texts of bounded length. Only len() here: each
    field's type and content are checked by from_dict afterwards. Raises ParamError naming the field."""
    if not isinstance(data, dict):
        return
    sections = data.get("sections")
    title = data.get("title", "")
    plan_budget = limits.plan_char_limit(limits.SECTION_PROMPT_TOKENS)
    plan = len(title) if isinstance(title, str) else 0
    if isinstance(title, str):
        limits.check_chars(title, limits.OUTLINE_TITLE_MAX, field="outline.title")
    if not isinstance(sections, list):
        return
    limits.check_count(sections, limits.OUTLINE_MAX_SECTIONS, field="outline.sections", what="sections")
    total = 0
    for index, item in enumerate(sections):
        if not isinstance(item, dict):
            continue
        where = f"outline.sections[{index}]"
        heading = item.get("title", "")
        if isinstance(heading, str):
            plan += len(limits.check_chars(heading, limits.OUTLINE_TITLE_MAX, field=f"{where}.title"))
        points = item.get("points", [])
        if isinstance(points, str):
            most = limits.OUTLINE_MAX_POINTS * (limits.OUTLINE_POINT_MAX + 2)
            plan += len(limits.check_chars(points, most, field=f"{where}.points"))
        elif isinstance(points, list):
            limits.check_count(points, limits.OUTLINE_MAX_POINTS, field=f"{where}.points", what="key points")
            for number, point in enumerate(points):
                if isinstance(point, str):
                    plan += len(limits.check_chars(point, limits.OUTLINE_POINT_MAX, field=f"{where}.points[{number}]"))
        text = item.get("text", "")
        if isinstance(text, str):
            total += len(limits.check_chars(text, limits.OUTLINE_TEXT_MAX, field=f"{where}.text"))
        if plan > plan_budget:
            raise ParamError("outline", f"the plan (titles and key points) may have at most {plan_budget:,} "
                                        f"characters to fit a section's prompt; this one has more")
        if total > limits.DRAFT_MAX_CHARS:
            raise ParamError("outline", f"the section texts may have at most {limits.DRAFT_MAX_CHARS:,} characters "
                                        f"in all (one draft); these have more")


def _section_from_dict(item: Any, index: int) -> Section:
    where = f"outline.sections[{index}]"
    if not isinstance(item, dict):
        raise ParamError(where, f"expected an object, got {type(item).__name__}")
    unknown = set(item) - {"title", "points", "target", "locked", "text"}
    if unknown:
        raise ParamError(where, f"unknown field(s) {sorted(unknown)} (allowed: title, points, target, locked, text)")
    points = item.get("points", [])
    if isinstance(points, str):
        points = split_points(points)
    if not isinstance(points, list) or not all(isinstance(p, str) for p in points):
        raise ParamError(f"{where}.points", "expected a list of strings")
    locked = item.get("locked", False)
    if not isinstance(locked, bool):
        raise ParamError(f"{where}.locked", f"expected true or false, got {locked!r}")
    title = _text(item.get("title", ""), f"{where}.title").strip()
    if not title:
        raise ParamError(f"{where}.title", "a section needs a title")
    return Section(
        title=title,
        points=tuple(p.strip() for p in points if p.strip()),
        target=check_target(item.get("target", DEFAULT_SECTION_WORDS), field=f"{where}.target"),
        locked=locked,
        text=_text(item.get("text", ""), f"{where}.text"),
    )


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise ParamError(name, f"expected text, got {type(value).__name__}")
    return value


def check_target(value: Any, *, field: str = "target") -> int:
    """A word target from untrusted input: a whole number of words within bounds."""
    if isinstance(value, bool):
        raise ParamError(field, f"expected a number of words, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int):
        raise ParamError(field, f"expected a whole number of words, got {value!r}")
    if not MIN_SECTION_WORDS <= value <= MAX_SECTION_WORDS:
        raise ParamError(field, f"must be between {MIN_SECTION_WORDS} and {MAX_SECTION_WORDS} words, got {value}")
    return value


# ---------------------------------------------------------------------------------------------
# Word targets written in many ways: "(300 words)", "- 300 words", "约300字", "（字数：300）",
# "(Word count: 300)", "(300-400 words)" (the middle of a range).
#
# Read by a small recogniser over tokens, not one big regex: the pattern this replaces chained
# optional `\s*` around optional parts and backtracked ~n^3 on a line with a long run of spaces
# (issue #13). Tokenising is one linear pass (every regex alternative below is a single run of one
# character class); the recogniser then looks a bounded number of tokens around each number.

_TOKEN = re.compile(r"\s+|\d+(?:[,，]\d{3}(?!\d))*|[A-Za-z]+|.", re.DOTALL)
_OPEN = set("([（【")
_CLOSE = set(")]）】")
_RANGE_SEPS = {"-", "–", "—", "~", "〜", "～", "至", "到", "to"}
_SEPARATORS = set("-–—:：,，|/")
_PERIODS = {".", "。"}
# Words before the number: "about 300 words", "约300字", "approx. 250 words" (as token sequences).
_ABOUT = [("about",), ("around",), ("approx", "."), ("approximately",), ("approx",), ("roughly",), ("~",),
          ("≈",), ("大", "约"), ("约",), ("左", "右")]
# Labels that make the unit optional: "Word count: 300", "字数：300", "Target length: 300 words".
_LABELS = [("word", "count"), ("wordcount",), ("words",), ("target", "length"), ("targetlength",), ("target",),
           ("length",), ("目", "标", "字", "数"), ("字", "数"), ("篇", "幅")]


class _Tok(NamedTuple):
    text: str  # lowercased
    start: int
    end: int
    space: bool
    number: bool


@dataclass(frozen=True)
class _Target:
    first: int  # token index where the target starts (label, "about" or the number)
    last: int  # token index after it ends (unit, "左右" or the number)
    value: int


def _tokens(text: str) -> list[_Tok]:
    toks = []
    for m in _TOKEN.finditer(text):
        word = m.group()
        toks.append(_Tok(word.lower(), m.start(), m.end(), word.isspace(), word[0].isdigit()))
    return toks


def _by_last(sequences: list[tuple[str, ...]]) -> dict[str, list[tuple[str, ...]]]:
    """Sequences grouped by their last token, in order: only those can end at a given token."""
    grouped: dict[str, list[tuple[str, ...]]] = {}
    for sequence in sequences:
        grouped.setdefault(sequence[-1], []).append(sequence)
    return grouped


_ABOUT_BY_LAST = _by_last(_ABOUT)
_LABELS_BY_LAST = _by_last(_LABELS)


def _skip(toks: Sequence[_Tok], i: int, step: int) -> int:
    """The index of the next non-space token from i in direction step (may be out of range)."""
    while 0 <= i < len(toks) and toks[i].space:
        i += step
    return i


def _ends_with(toks: Sequence[_Tok], i: int, words: tuple[str, ...]) -> int | None:
    """If the tokens ending at index i spell `words` (spaces allowed between Latin words only), the first index."""
    for n, word in enumerate(reversed(words)):
        if n:
            j = _skip(toks, i, -1)
            if j != i and not (word.isascii() and word.isalpha()):
                return None  # "大约", "字数": no space inside
            i = j
        if not 0 <= i < len(toks) or toks[i].text != word:
            return None
        i -= 1
    return i + 1


def _number(tok: _Tok) -> int:
    return int(tok.text.replace(",", "").replace("，", ""))


def _target_at(toks: Sequence[_Tok], k: int) -> _Target | None:
    """The target around the number at token k, or None when the number is not a word target."""
    a = _number(toks[k])
    value, after = a, k + 1
    sep = _skip(toks, k + 1, 1)
    if sep < len(toks) and toks[sep].text in _RANGE_SEPS:
        b = _skip(toks, sep + 1, 1)
        if b < len(toks) and toks[b].number and len(toks[b].text) <= 13:
            b_value = _number(toks[b])
            value = (a + b_value) // 2 if b_value >= a else a
            after = b + 1
    last = None
    u = _skip(toks, after, 1)
    if u < len(toks):
        word = toks[u].text
        if word in ("word", "words", "字", "词"):
            last = u + 1
        elif word == "个" and u + 1 < len(toks) and toks[u + 1].text == "字":
            last = u + 2
    first = k
    before = _skip(toks, k - 1, -1)
    for about in _ABOUT_BY_LAST.get(toks[before].text if 0 <= before < len(toks) else "", ()):
        start = _ends_with(toks, before, about)
        if start is not None:
            first, before = start, _skip(toks, start - 1, -1)
            break
    colon = before
    if 0 <= colon < len(toks) and toks[colon].text in (":", "："):
        colon = _skip(toks, colon - 1, -1)
    labelled = False
    for label in _LABELS_BY_LAST.get(toks[colon].text if 0 <= colon < len(toks) else "", ()):
        start = _ends_with(toks, colon, label)
        if start is not None:
            first, labelled = start, True
            break
    if last is None and not labelled:
        return None  # a bare number ("Section 3") is no target
    last = last if last is not None else after
    tail = _skip(toks, last, 1)
    if tail + 1 < len(toks) and toks[tail].text == "左" and toks[tail + 1].text == "右":
        last = tail + 2
    return _Target(first, last, value)


def _targets(toks: Sequence[_Tok]) -> list[_Target]:
    found: list[_Target] = []
    for k, tok in enumerate(toks):
        # "300-500 words": 500 belongs to the range. Over 9 digits is no word count: int() of a huge digit
        # run is itself super-linear (and refused past 4,300 digits), and the mean of two overflows a float.
        if tok.number and len(tok.text) <= 13 and (not found or k >= found[-1].last):
            target = _target_at(toks, k)
            if target is not None and target.value > 0:
                found.append(target)
    return found


def _reaches_end(toks: Sequence[_Tok], i: int) -> bool:
    """Only an optional closing bracket and an optional full stop (and spaces) from token i on."""
    i = _skip(toks, i, 1)
    if i < len(toks) and toks[i].text in _CLOSE:
        i = _skip(toks, i + 1, 1)
    if i < len(toks) and toks[i].text in _PERIODS:
        i = _skip(toks, i + 1, 1)
    return i >= len(toks)


def _target_at_end(text: str, toks: Sequence[_Tok] | None = None,
                   found: Sequence[_Target] | None = None) -> tuple[int, int] | None:
    """(start offset of the target with its separator, bracket and leading spaces; value) if the text ends with one."""
    toks = _tokens(text) if toks is None else toks
    found = _targets(toks) if found is None else found
    if not found or not _reaches_end(toks, found[-1].last):
        return None
    i = _skip(toks, found[-1].first - 1, -1)
    start = found[-1].first
    if 0 <= i < len(toks) and toks[i].text in _OPEN:
        start, i = i, _skip(toks, i - 1, -1)
    if 0 <= i < len(toks) and toks[i].text in _SEPARATORS:
        start = i
    while start > 0 and toks[start - 1].space:
        start -= 1
    return toks[start].start, found[-1].value


def is_target_line(text: str) -> bool:
    """A line that only states a word target ("Word count: 300", "约300字"): read as the target, not a point."""
    toks = _tokens(text.strip())
    found = _targets(toks)
    if not found:
        return False
    first = found[0].first
    if first > 0:
        opening = _skip(toks, first - 1, -1)
        if not (opening == 0 and toks[0].text in _OPEN):
            return False
    return _reaches_end(toks, found[0].last)


def extract_target(text: str) -> tuple[str, int | None]:
    """(text without its word target, the target or None). A target at the end wins."""
    toks = _tokens(text)
    found = _targets(toks)
    at_end = _target_at_end(text, toks, found)
    if at_end is not None:
        return text[: at_end[0]].strip(), at_end[1]
    if not found:
        return text, None
    target = found[0]
    first, last = target.first, target.last
    i = _skip(toks, first - 1, -1)
    if 0 <= i < len(toks) and toks[i].text in _OPEN:
        first = i
    while first > 0 and toks[first - 1].space:
        first -= 1
    j = _skip(toks, last, 1)
    last = j + 1 if j < len(toks) and toks[j].text in _CLOSE else j
    end = toks[last - 1].end
    return (text[: toks[first].start] + " " + text[end:]).strip(), target.value


# ---------------------------------------------------------------------------------------------
# Line classification. Every pattern matches only a line's marker (anchored, no quantifier that
# overlaps a neighbour); the rest of the line is sliced off and stripped, never captured by `(.*)`.

_ZH_NUM = "一二三四五六七八九十百零〇两"
_NUMBERED = re.compile(r"\d{1,3}(?:\s*[.)、．:：]\s|[.)、．](?!\d))")
_SUBNUMBERED = re.compile(r"\d{1,3}(?:[.．]\d{1,3})+[.)、．]?(?=\s)")  # "1.2 Background", "2.3.1)"
_ROMAN = re.compile(r"(?:[IVXLC]{1,7}|[ivxlc]{1,7})[.)](?=\s)")  # "IV. Results", "ii) method"
_LETTER = re.compile(r"[A-Za-z][.)](?=\s)")  # "A. Hook", "b) thesis"
_LATIN_MARKER = re.compile(r"[A-Za-z]{1,7}(?=[.)])")  # the marker of a line that _ROMAN or _LETTER matched
_BULLET = re.compile(r"[-*+•·●○◦▪■]\s")
_ZH_LIST = re.compile(rf"[{_ZH_NUM}]+\s*[、.．]")
_ZH_PAREN = re.compile(rf"[(（][{_ZH_NUM}\d]+[)）]")
_ZH_CHAPTER = re.compile(rf"第\s*[{_ZH_NUM}\d]+\s*(章|节|部分|篇|段|部)")
_LABELLED = re.compile(
    r"(section|part|chapter|step|paragraph|para\.?)\s+(?:\d{1,3}|[ivxlc]+|one|two|three|four|five|six|seven|"
    r"eight|nine|ten|eleven|twelve)\b",
    re.IGNORECASE,
)
_LOCKS = ("[locked]", "(locked)", "🔒")
_BOLD = re.compile(r"\*\*(.+?)\*\*|__(.+?)__")
_POINT_LABEL = re.compile(
    r"^(?:key\s*points?|main\s*points?|points?|topics?|covers?|content|summary|description|要点|主要内容|内容|"
    r"核心要点|关键点|概要)\s*[:：]",
    re.IGNORECASE,
)
_TITLE_LABEL = re.compile(r"^(?:title|document\s*title|标题|题目|文章标题)\s*[:：]", re.IGNORECASE)
_OUTLINE_WORD = re.compile(r"^(?:outline|大纲|提纲)\s*(?:[:：\-–—]|$)", re.IGNORECASE)
_TOTAL_LINE = re.compile(r"^(?:total|overall|in\s+total|总计|合计|总字数|全文)", re.IGNORECASE)
_FENCE = re.compile(r"^\s*(```|~~~)")
_ROMAN_VALUES = {"i": 1, "v": 5, "x": 10, "l": 50, "c": 100}


def _roman(numeral: str) -> int | None:
    """The value of a well-formed Roman numeral up to 399 ("iv" -> 4), else None ("IIII", "VX", "civil")."""
    digits = [_ROMAN_VALUES[ch] for ch in numeral.lower()]
    total = sum(-d if i + 1 < len(digits) and d < digits[i + 1] else d for i, d in enumerate(digits))
    return total if _to_roman(total) == numeral.lower() else None


def _to_roman(number: int) -> str:
    """The lowercase Roman numeral of a number (4 -> "iv")."""
    canonical = ""
    for value, symbol in ((100, "c"), (90, "xc"), (50, "l"), (40, "xl"), (10, "x"), (9, "ix"), (5, "v"), (4, "iv"),
                          (1, "i")):
        while number >= value:
            canonical += symbol
            number -= value
    return canonical


def _after(text: str, match: re.Match[str] | None, punctuation: str = "") -> str | None:
    """The text after a marker, spaces and at most one of `punctuation` removed; None without a match."""
    if match is None:
        return None
    rest = text[match.end():].lstrip()
    if rest[:1] and rest[0] in punctuation:
        rest = rest[1:].lstrip()
    return rest


def _numbering(text: str) -> tuple[tuple[Any, ...], str] | None:
    """(kind, the text after the marker) for a numbered line: 1. / 1) / 1、 / 1.2 / IV. / A. / 一、 / （一） /
    第一章 / Section 2:. The kind keeps apart styles that mark different levels (chapters vs sections)."""
    if (chapter := _ZH_CHAPTER.match(text)) is not None:
        return ("zh_chapter", chapter.group(1)), _after(text, chapter, ":：、.．") or ""
    if (rest := _after(text, _ZH_LIST.match(text))) is not None:
        return ("zh_list",), rest
    if (rest := _after(text, _ZH_PAREN.match(text))) is not None:
        return ("zh_paren",), rest
    if (labelled := _LABELLED.match(text)) is not None:
        return ("labelled", labelled.group(1).lower()), _after(text, labelled, ":.-–—)") or ""
    if (rest := _after(text, _NUMBERED.match(text))) is not None:
        return ("num",), rest
    if (sub := _SUBNUMBERED.match(text)) is not None:
        return ("subnum", sub.group().count(".") + sub.group().count("．")), _after(text, sub) or ""
    roman = _ROMAN.match(text)
    if roman is not None and _roman(roman.group()[:-1]) is not None:
        return ("roman", roman.group()[:-1].isupper()), _after(text, roman) or ""
    if (rest := _after(text, _LETTER.match(text))) is not None:
        return ("letter", text[0].isupper()), rest
    return None


@dataclass(frozen=True)
class _Line:
    index: int
    style: tuple[Any, ...] | None  # None: not a possible section line
    text: str  # the line without its list/heading marker
    plain: str  # the whole stripped line, markup kept
    indent: int
    blank_before: bool
    is_bullet: bool
    marker: str = ""  # a "roman" or "letter" line's marker ("C", "iv"): see _letters_or_numerals


def _indent(line: str) -> int:
    expanded = line.replace("\t", "    ")
    width = len(expanded) - len(expanded.lstrip(" \u3000"))
    return 0 if width < 2 else width


def _is_bold(text: str) -> bool:
    return len(text) > 4 and (text.startswith("**") and text.endswith("**") or text.startswith("__")
                              and text.endswith("__"))


def _unbold(text: str) -> str:
    stripped = text.strip()
    return stripped[2:-2].strip() if _is_bold(stripped) else stripped


def _without_bold(text: str) -> str:
    return _BOLD.sub(lambda m: m.group(1) or m.group(2), text)


def _strip_locked(text: str) -> tuple[str, bool]:
    """(text without a trailing lock marker, whether it had one)."""
    stripped = text.rstrip()
    for marker in _LOCKS:
        if stripped[-len(marker):].lower() == marker:
            return stripped[: -len(marker)].rstrip(), True
    return text, False


def _classify(index: int, raw: str, blank_before: bool) -> _Line:
    indent = _indent(raw)
    plain = raw.strip()
    found = heading(plain)
    if found:
        text = _strip_number(_unbold(found[1]))
        return _Line(index, ("h", found[0]), text, plain, indent, blank_before, False)
    # "**1. Intro** (300 words)": look at the line without bold markers to see its numbering.
    bare = _without_bold(plain)
    bullet = _BULLET.match(plain)
    if bullet:
        inner = plain[bullet.end():].strip()
        if is_target_line(_unbold(inner)):
            return _Line(index, None, inner, plain, indent, blank_before, True)
        return _Line(index, ("bullet", indent), inner, plain, indent, blank_before, True)
    numbered = _numbering(bare)
    if numbered:
        kind, text = numbered
        latin = _LATIN_MARKER.match(bare) if kind[0] in ("roman", "letter") else None
        return _Line(index, (*kind, indent), _keep_bold_title(plain, text), plain, indent, blank_before,
                     kind[0] in ("num", "subnum", "roman", "letter"), latin.group() if latin else "")
    if not plain or is_target_line(_unbold(plain)):
        return _Line(index, None, plain, plain, indent, blank_before, False)
    # A bold-only line ("**Introduction (300 words)**") or a plain line carrying a target.
    if _is_bold(plain) and indent == 0:
        return _Line(index, ("bold", 0), _unbold(plain), plain, indent, blank_before, False)
    if indent == 0 and extract_target(plain)[1] is not None and not _POINT_LABEL.match(plain):
        return _Line(index, ("plain_target", 0), plain, plain, indent, blank_before, False)
    return _Line(index, None, plain, plain, indent, blank_before, False)


def _keep_bold_title(plain: str, text: str) -> str:
    """Keep `**Title** - description` apart: the bold part is the title, the rest a point."""
    bullet = _BULLET.match(plain)
    original = _strip_number(plain[bullet.end():] if bullet else plain)
    if original.startswith(("**", "__")) and _BOLD.match(original):
        return original  # resolved later by _split_title
    return text.strip()


def _strip_number(text: str) -> str:
    """Drop ONE numbering prefix ("1. ", "1.2 ", "IV. ", "A) ", "一、", "（一）", "第一章 ", "Section 2:", "- ")
    from a section title: the renderer adds its own."""
    stripped = text.strip()
    bold = stripped[:2] if stripped.startswith(("**", "__")) else ""
    inner = stripped[len(bold):].lstrip()
    bullet = _BULLET.match(inner)
    if bullet:
        return (bold + inner[bullet.end():].lstrip()).strip()
    numbered = _numbering(inner)
    if numbered is None:
        return stripped
    return (bold + numbered[1]).strip()  # "**1. Intro**" -> "**Intro**"


_TRAILING_PUNCTUATION = set("-–—:：|,，")


def _split_title(text: str) -> tuple[str, int | None, bool, list[str]]:
    """A section line's text -> (title, target, locked, extra points)."""
    text, locked = _strip_locked(text)
    extra: list[str] = []
    bold = re.match(r"(?:\*\*(.+?)\*\*|__(.+?)__)", text.strip())
    if bold:
        title = (bold.group(1) or bold.group(2)).strip()
        rest = text.strip()[bold.end():]
        title, target = extract_target(title)
        rest, rest_target = extract_target(rest)
        target = target if target is not None else rest_target
        rest = rest.strip()
        if rest[:1] in _TRAILING_PUNCTUATION:
            rest = rest[1:].strip()
        if rest:
            extra.append(rest)
    else:
        title, target = extract_target(_without_bold(text))
    end = len(title)
    while end and (title[end - 1].isspace() or title[end - 1] in _TRAILING_PUNCTUATION):
        end -= 1
    title = _without_bold(title[:end]).strip()
    return title, target, locked, extra


def split_points(text: str) -> list[str]:
    """"a; b; c" -> ["a", "b", "c"] (the table shows points joined by "; ")."""
    return [part.strip() for part in re.split(r"[;；]", text) if part.strip()]


def parse_outline(markdown: str, *, total_words: int | None = None, title: str = "") -> Outline:
    """The model's outline Markdown -> Outline. Raises OutlineParseError (with .raw) if no sections.

    total_words: the brief's total; targets are then completed and scaled to sum to it.
    title: the document title when the reply has none (the brief's topic).
    """
    lines: list[_Line] = []
    blank = False
    in_fence_text = markdown.replace("\r\n", "\n").replace("\r", "\n")
    for raw in in_fence_text.split("\n"):
        if _FENCE.match(raw):  # ```markdown fences around the outline
            continue
        if not raw.strip():
            blank = True
            continue
        lines.append(_classify(len(lines), raw, blank))
        blank = False
    lines = _letters_or_numerals(lines)
    style = _section_style(lines)
    if style is None:
        raise OutlineParseError(
            "Could not find sections in the model's reply. Edit the raw text below into one line per section "
            "(for example `## 1. Introduction (300 words)` with `- key point` lines under it), or add rows to "
            "the table by hand.",
            markdown,
        )
    heads = [line for line in lines if line.style == style]
    first = heads[0].index
    doc_title = _find_title(lines[:first]) or title.strip()

    drafts: list[tuple[str, int | None, bool, list[str]]] = []
    for n, head in enumerate(heads):
        end = heads[n + 1].index if n + 1 < len(heads) else len(lines)
        name, target, locked, points = _split_title(head.text)
        body_target, body_points = _read_body(lines[head.index + 1:end], last=(n + 1 == len(heads)))
        if target is None:
            target = body_target
        if not name:
            if not body_points:
                continue  # an empty numbered line: noise
            name, body_points = body_points[0], body_points[1:]
        drafts.append((name, target, locked, points + body_points))
    if not drafts:
        raise OutlineParseError("The model's reply has section markers but no section titles.", markdown)
    targets = complete_targets([d[1] for d in drafts], total_words=total_words)
    sections = tuple(
        Section(title=name, points=tuple(points), target=target, locked=locked)
        for (name, _, locked, points), target in zip(drafts, targets, strict=True)
    )
    return Outline(title=doc_title, sections=sections)


def _letters_or_numerals(lines: list[_Line]) -> list[_Line]:
    """Read each one-character marker that is both a letter and a Roman numeral (I, V, X, L, C, either case;
    D and M are letters here, numerals stop at 399) from the list around it: _classify, one line at a time,
    calls them all numerals.

    The markers of one case at one indent form a list, read in order. Two things count for a letter: the
    last marker read as a letter is the one before it in the alphabet ("H. / I."), and the next marker is
    the one after it ("I. / J."). Two count for a numeral: the last marker read as a numeral is the one before
    it ("IV. / V."), and the next marker is the numeral after it ("I. / II.", "V. / VI."). More for a letter
    makes it a letter; otherwise (a tie, or nothing either way) it stays a numeral. So "A. / B. / C." is
    lettered, "I. / II." and "H. / I. / II." are numerals, and "I. Intro / A. point / B. point / C. point /
    II. Body" keeps its numerals as sections and its letters, C too, as points. One pass to group, one to
    decide: linear in the number of lines."""
    lists: dict[tuple[bool, int], list[int]] = {}  # (upper case, indent) -> positions in `lines`, in order
    for position, line in enumerate(lines):
        if line.marker:
            lists.setdefault((line.marker.isupper(), line.indent), []).append(position)
    resolved = list(lines)
    for positions in lists.values():
        last_letter = ""  # the last marker read as a letter in this list
        last_numeral: int | None = None  # the value of the last one read as a Roman numeral
        for k, position in enumerate(positions):
            line = lines[position]
            marker = line.marker
            value = _roman(marker) if line.style is not None and line.style[0] == "roman" else None
            if value is not None and len(marker) == 1:
                after = lines[positions[k + 1]].marker if k + 1 < len(positions) else ""
                as_letter = (last_letter == chr(ord(marker) - 1)) + (after == chr(ord(marker) + 1))
                numeral = _to_roman(value + 1)  # "ii" after "i", "vi" after "v"
                numeral = numeral.upper() if marker.isupper() else numeral
                as_numeral = (last_numeral == value - 1) + (after == numeral)
                if as_letter > as_numeral:
                    value = None
                    resolved[position] = replace(line, style=("letter", *line.style[1:]))
            if value is None:
                last_letter = marker
            else:
                last_numeral = value
    return resolved


def _section_style(lines: Sequence[_Line]) -> tuple[Any, ...] | None:
    """The style that marks sections: mostly ending in a word target, then repeated, then first seen.

    Sections come before their points, so among equals the first style seen wins; the target test
    skips bullets in a chatty preamble, and a lone top heading above deeper ones is the title.
    """
    stats: dict[tuple[Any, ...], list[int]] = {}  # style -> [count, with_target, first_index]
    for line in lines:
        if line.style is None:
            continue
        entry = stats.setdefault(line.style, [0, 0, line.index])
        entry[0] += 1
        if _ends_with_target(line.text):
            entry[1] += 1
    if not stats:
        return None
    headings = [(entry[2], style) for style, entry in stats.items() if style[0] == "h"]
    title_like: set[tuple[Any, ...]] = set()
    if len(headings) > 1:
        first_seen, top = min(headings)
        if stats[top][0] == 1 and top[1] == min(style[1] for _, style in headings):
            title_like.add(top)
    candidates = {style: entry for style, entry in stats.items() if style not in title_like}
    # A plain line with a target counts only when nothing structured exists.
    structured = {s: e for s, e in candidates.items() if s[0] != "plain_target"}
    pool = structured or candidates
    if not pool:
        return None
    return min(pool, key=lambda s: (-(2 * pool[s][1] > pool[s][0]), -(pool[s][0] >= 2), pool[s][2]))


def _ends_with_target(text: str) -> bool:
    return _target_at_end(_strip_locked(_without_bold(text))[0]) is not None


def _find_title(before: Sequence[_Line]) -> str:
    for line in before:
        plain = _without_bold(line.plain)
        label = _TITLE_LABEL.match(plain)
        if label and plain[label.end():].strip():
            return _clean_doc_title(plain[label.end():])
    for line in before:
        if line.style is not None and line.style[0] in ("h", "bold"):
            whole = heading(line.plain)  # the whole heading: a title may start with a number
            found = _clean_doc_title(whole[1] if whole else line.text)
            if found:
                return found
    return ""


_QUOTES = (('"', '"'), ("“", "”"), ("《", "》"), ("'", "'"))


def _clean_doc_title(text: str) -> str:
    """A title line without a model's decorations: "Outline:", a word target, a trailing colon, quotes."""
    text = _OUTLINE_WORD.sub("", _unbold(text)).strip()
    # A wholly quoted title is taken as written inside the quotes (render_outline quotes a title that the
    # cleaning below would change, so it must read back whole); quotes around nothing are the title itself.
    inner = _unquoted(text)
    if inner is not None:
        return inner
    text, _ = extract_target(text)
    text = text.strip().rstrip(":：").strip()
    inner = _unquoted(text)  # 'Outline: "My doc" (3000 words)': quoted once the target is gone
    return text if inner is None else inner


def _unquoted(text: str) -> str | None:
    for left, right in _QUOTES:
        if len(text) >= 2 and text.startswith(left) and text.endswith(right) and text[1:-1].strip():
            return text[1:-1].strip()
    return None


def _read_body(body: Sequence[_Line], *, last: bool) -> tuple[int | None, list[str]]:
    target: int | None = None
    points: list[str] = []
    seen_list = False
    for line in body:
        text = _unbold(line.text) if line.is_bullet or line.style is not None else _unbold(line.plain)
        text = _strip_locked(text)[0].strip()
        if is_target_line(text):
            _, value = extract_target(text)
            if target is None:
                target = value
            continue
        if _TOTAL_LINE.match(text) and extract_target(text)[1] is not None:
            continue  # "Total: 3000 words" after the last section
        if last and seen_list and line.blank_before and not line.is_bullet and line.indent == 0 and line.style is None:
            break  # chatty text after the outline ("Let me know if you want changes!")
        label = _POINT_LABEL.match(text)
        if label:
            text = text[label.end():]
            parts = split_points(text)
        else:
            parts = [text] if text else []
        points.extend(part for part in parts if part)
        seen_list = seen_list or line.is_bullet or line.style is not None
    return target, points


def complete_targets(targets: Sequence[int | None], *, total_words: int | None) -> list[int]:
    """Fill missing targets with the remainder of the total, then scale so they sum to the total.

    Without a total the known targets stay as they are and missing ones get their mean.
    """
    known = [t for t in targets if t is not None]
    missing = len(targets) - len(known)
    if total_words is None:
        fill = round(sum(known) / len(known)) if known else DEFAULT_SECTION_WORDS
        return [_clamp(t if t is not None else fill) for t in targets]
    remainder = total_words - sum(known)
    if missing and remainder >= MIN_SECTION_WORDS * missing:
        shares = _split_evenly(remainder, missing)
        filled = [t if t is not None else shares.pop() for t in targets]
    else:
        fill = round(sum(known) / len(known)) if known else total_words // max(1, len(targets))
        filled = [t if t is not None else fill for t in targets]
    return _scale_to(filled, total_words)


def _split_evenly(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)][::-1]


def _scale_to(values: Sequence[int], total: int) -> list[int]:
    """Scale to sum exactly to total (largest remainder), each within the section bounds."""
    current = sum(values)
    if current == total or current <= 0:
        return [_clamp(v) for v in values]
    exact = [v * total / current for v in values]
    floors = [int(x) for x in exact]
    order = sorted(range(len(values)), key=lambda i: exact[i] - floors[i], reverse=True)
    for i in order[: total - sum(floors)]:
        floors[i] += 1
    return [_clamp(v) for v in floors]


def _clamp(value: int) -> int:
    return max(MIN_SECTION_WORDS, min(MAX_SECTION_WORDS, int(value)))


def _title_text(title: str) -> str:
    """The title as render_outline writes it: quoted when the parser's cleaning of model titles would change
    it ("Outline", "Outline: 2025 plan", "Plan (300 words)", a quoted title), so that it reads back whole."""
    return title if _clean_doc_title(title) == title else f'"{title}"'


def render_outline(outline: Outline) -> str:
    """Markdown that parse_outline reads back to the same outline (titles, points, targets, locks)."""
    lines = [f"# {_title_text(outline.title)}" if outline.title else "# Outline", ""]
    for number, section in enumerate(outline.sections, 1):
        lock = " [locked]" if section.locked else ""
        lines.append(f"## {number}. {section.title} ({section.target} words){lock}")
        lines.extend(f"- {point}" for point in section.points)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------------------------------------
# Edit operations: pure functions, each returns a new Outline.

def _check_index(outline: Outline, index: int, *, allow_end: bool = False) -> int:
    size = len(outline.sections) + (1 if allow_end else 0)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < size:
        raise ParamError("index", f"no section {index!r}; the outline has {len(outline.sections)} section(s)")
    return index


def _with(outline: Outline, sections: Iterable[Section]) -> Outline:
    return replace(outline, sections=tuple(sections))


def edit_section(outline: Outline, index: int, *, title: str | None = None, points: Sequence[str] | None = None,
                 target: int | None = None, locked: bool | None = None, text: str | None = None) -> Outline:
    _check_index(outline, index)
    old = outline.sections[index]
    changes: dict[str, Any] = {}
    if title is not None:
        if not title.strip():
            raise ParamError("title", "a section needs a title")
        changes["title"] = title.strip()
    if points is not None:
        changes["points"] = tuple(p.strip() for p in points if p.strip())
    if target is not None:
        changes["target"] = check_target(target)
    if locked is not None:
        changes["locked"] = bool(locked)
    if text is not None:
        changes["text"] = text
    sections = list(outline.sections)
    sections[index] = replace(old, **changes)
    return _with(outline, sections)


def add_section(outline: Outline, *, at: int | None = None, title: str = "New section",
                points: Sequence[str] = (), target: int = DEFAULT_SECTION_WORDS) -> Outline:
    at = len(outline.sections) if at is None else _check_index(outline, at, allow_end=True)
    if not title.strip():
        raise ParamError("title", "a section needs a title")
    new = Section(title=title.strip(), points=tuple(points), target=check_target(target))
    sections = list(outline.sections)
    sections.insert(at, new)
    return _with(outline, sections)


def delete_section(outline: Outline, index: int) -> Outline:
    _check_index(outline, index)
    if len(outline.sections) == 1:
        raise StudioError("An outline needs at least one section: edit this one instead of deleting it.")
    return _with(outline, (s for i, s in enumerate(outline.sections) if i != index))


def move_section(outline: Outline, index: int, to: int) -> Outline:
    """Move section `index` to position `to` (its text and lock travel with it)."""
    _check_index(outline, index)
    _check_index(outline, to)
    sections = list(outline.sections)
    sections.insert(to, sections.pop(index))
    return _with(outline, sections)


def set_locked(outline: Outline, index: int, locked: bool = True) -> Outline:
    return edit_section(outline, index, locked=locked)


def set_text(outline: Outline, index: int, text: str) -> Outline:
    return edit_section(outline, index, text=text)


# ---------------------------------------------------------------------------------------------
# The editable table: rows of [title, points "a; b", target, locked]. Texts stay in the Outline.

TABLE_HEADERS = ["title", "key points", "target words", "locked"]


def outline_to_rows(outline: Outline) -> list[list[Any]]:
    return [[s.title, "; ".join(s.points), s.target, s.locked] for s in outline.sections]


def outline_from_rows(rows: Sequence[Sequence[Any]], *, title: str, previous: Outline | None = None) -> Outline:
    """Table rows -> Outline. Row i keeps the written text of the previous outline's section i
    when its title is unchanged (a row edited into another section loses nothing: the text is kept too)."""
    sections: list[Section] = []
    for i, row in enumerate(rows):
        cells = list(row) + [""] * (4 - len(row))
        name = str(cells[0] if cells[0] is not None else "").strip()
        points = split_points(str(cells[1] or ""))
        if not name and not points and cells[2] in (None, "", 0):
            continue  # an empty row added by the table widget
        if not name:
            raise ParamError(f"row {i + 1}", "a section needs a title")
        target_cell = cells[2]
        if target_cell in (None, ""):
            target = DEFAULT_SECTION_WORDS
        else:
            try:
                number = int(float(target_cell))
            except (TypeError, ValueError, OverflowError):  # not a number, NaN, infinite
                raise ParamError(f"row {i + 1} target words", f"expected a number, got {target_cell!r}") from None
            target = check_target(number, field=f"row {i + 1} target words")
        locked = cells[3] in (True, "true", "True", "yes", "1", 1)
        text = previous.sections[i].text if previous is not None and i < len(previous.sections) else ""
        sections.append(Section(title=name, points=tuple(points), target=target, locked=locked, text=text))
    if not sections:
        raise StudioError("The outline table is empty: add at least one section.")
    return Outline(title=title.strip(), sections=tuple(sections))
