"""Compare two versions of a text: a word-level diff, its HTML renderings, and a paragraph merge.

Pure functions, no UI. The diff works in two passes so it stays near-linear in the texts' length:
1. paragraphs (split after blank lines, separators kept) are aligned with difflib;
2. inside each changed stretch of paragraphs, words are aligned with difflib, when both sides have at
   most DIFF_HUNK_TOKENS tokens (difflib is quadratic in its worst case); a longer stretch is shown as
   deleted and inserted whole.
A "word" is a run of letters/digits, a run of whitespace, or one other character. CJK text has no spaces,
so each CJK character (ideographs, kana, Hangul) is a token of its own.

Every text is bounded first (DIFF_MAX_CHARS, writing/compose/limits.py). Texts are data: the renderings
escape everything (model text is untrusted HTML).

Invariants (tests/test_diff.py checks them on generated texts):
- joining the "=" and "-" segments of diff(a, b) gives a; joining "=" and "+" gives b;
- merge(a, b, take=[]) == a and merge(a, b, take=all hunks) == b, byte for byte; any other choice keeps
  the unchanged paragraphs and takes each changed stretch whole from one side.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from difflib import SequenceMatcher

from writing.compose.limits import DIFF_HUNK_TOKENS, DIFF_MAX_CHARS, DIFF_WORK, check_chars

EQUAL, DELETE, INSERT = "=", "-", "+"
Segment = tuple[str, str]  # (EQUAL | DELETE | INSERT, text)

# Scripts written without spaces, one token per character (the ranges of writing/compose/wordcount.py).
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f"
# Three disjoint alternatives, each one character class: a single linear scan, no backtracking.
_TOKEN = re.compile(rf"\s+|[^\W_{_CJK}]+|.", re.DOTALL)
# The units words are aligned on: a token with the whitespace after it (spaces are the commonest token, and
# aligning them one by one is what makes difflib slow); the second quantifier's class is disjoint from the first's.
_UNIT = re.compile(rf"(?:[^\W_{_CJK}]+|.)\s*", re.DOTALL)
_BLANK_RUN = re.compile(r"\n\n+")  # one quantifier over one character: linear


def tokens(text: str) -> list[str]:
    """Words, whitespace runs, and single other characters (each CJK character alone); joined they are `text`."""
    return _TOKEN.findall(text)


def paragraphs(text: str) -> list[str]:
    """`text` cut after each run of blank lines; every piece keeps its separator, so "".join() gives `text`."""
    pieces: list[str] = []
    start = 0
    for match in _BLANK_RUN.finditer(text):
        pieces.append(text[start:match.end()])
        start = match.end()
    if start < len(text):
        pieces.append(text[start:])
    return pieces


def _bounded(older: str, newer: str) -> None:
    check_chars(older, DIFF_MAX_CHARS, field="older version")
    check_chars(newer, DIFF_MAX_CHARS, field="newer version")


@dataclass(frozen=True)
class Hunk:
    """A stretch of paragraphs: unchanged (`changed` False, older == newer) or changed (older != newer).

    `segments` are its word-level differences (for an unchanged hunk, one EQUAL segment)."""

    older: str
    newer: str
    changed: bool
    segments: tuple[Segment, ...]


def hunks(older: str, newer: str) -> list[Hunk]:
    """The two texts as alternating unchanged and changed stretches of paragraphs, with word-level segments."""
    _bounded(older, newer)
    a, b = paragraphs(older), paragraphs(newer)
    found: list[Hunk] = []
    budget = [DIFF_WORK]  # matching unit pairs difflib may still align (limits.DIFF_WORK)
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b).get_opcodes():
        left, right = "".join(a[i1:i2]), "".join(b[j1:j2])
        if tag == "equal":
            found.append(Hunk(left, right, False, ((EQUAL, left),)))
        else:
            found.append(Hunk(left, right, True, tuple(_words(left, right, budget))))
    return _joined(found)


def _joined(found: list[Hunk]) -> list[Hunk]:
    """Neighbouring changed hunks become one (difflib can emit a delete next to an insert)."""
    out: list[Hunk] = []
    for hunk in found:
        if out and hunk.changed and out[-1].changed:
            last = out[-1]
            out[-1] = Hunk(last.older + hunk.older, last.newer + hunk.newer, True, last.segments + hunk.segments)
        else:
            out.append(hunk)
    return out


def _units(text: str) -> list[str]:
    """Alignment units: each token with its trailing whitespace (leading whitespace is a unit of its own)."""
    start = len(text) - len(text.lstrip())
    units = [text[:start]] if start else []
    units += _UNIT.findall(text, start)
    return units


def _words(left: str, right: str, budget: list[int]) -> Iterator[Segment]:
    ta, tb = _units(left), _units(right)
    # difflib's cost grows with how often each unit of one side occurs in the other: spent from the budget.
    seen = Counter(ta)
    work = sum(seen[unit] for unit in tb)
    if len(ta) > DIFF_HUNK_TOKENS or len(tb) > DIFF_HUNK_TOKENS or not ta or not tb or work > budget[0]:
        if left:
            yield DELETE, left
        if right:
            yield INSERT, right
        return
    budget[0] -= work
    # autojunk off: spaces are the commonest token and must still align words around them.
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, ta, tb, autojunk=False).get_opcodes():
        if tag == "equal":
            yield EQUAL, "".join(ta[i1:i2])
            continue
        if i2 > i1:
            yield DELETE, "".join(ta[i1:i2])
        if j2 > j1:
            yield INSERT, "".join(tb[j1:j2])


def diff(older: str, newer: str) -> list[Segment]:
    """Word-level differences from `older` to `newer`, neighbours of the same kind merged."""
    out: list[Segment] = []
    for hunk in hunks(older, newer):
        for op, text in hunk.segments:
            if not text:
                continue
            if out and out[-1][0] == op:
                out[-1] = (op, out[-1][1] + text)
            else:
                out.append((op, text))
    return out


def side(segments: Iterable[Segment], which: str) -> str:
    """The older (which=DELETE) or newer (which=INSERT) text back from segments."""
    return "".join(text for op, text in segments if op in (EQUAL, which))


def stats(segments: Iterable[Segment]) -> tuple[int, int]:
    """(words inserted, words deleted), counting word tokens (each CJK character is one)."""
    inserted = deleted = 0
    for op, text in segments:
        if op == EQUAL:
            continue
        words = sum(1 for token in tokens(text) if not token.isspace())
        if op == INSERT:
            inserted += words
        else:
            deleted += words
    return inserted, deleted


# --- HTML renderings (everything escaped) -----------------------------------------------------------------

_STYLE = ("<style>.studio-diff{white-space:pre-wrap;overflow-wrap:anywhere;line-height:1.6}"
          ".studio-diff ins{background:rgba(46,160,67,.25);text-decoration:underline}"
          ".studio-diff del{background:rgba(248,81,73,.25);text-decoration:line-through}"
          ".studio-diff table{width:100%;border-collapse:collapse;table-layout:fixed}"
          ".studio-diff td{vertical-align:top;padding:4px 8px;border-top:1px solid rgba(127,127,127,.3);"
          "white-space:pre-wrap;overflow-wrap:anywhere}"
          ".studio-diff td.same{opacity:.65}</style>")


def _span(op: str, text: str) -> str:
    escaped = html.escape(text, quote=True)
    if op == INSERT:
        return f"<ins>{escaped}</ins>"
    if op == DELETE:
        return f"<del>{escaped}</del>"
    return escaped


def render_inline(older: str, newer: str) -> str:
    """One column: deletions struck through, insertions underlined (HTML, escaped)."""
    body = "".join(_span(op, text) for op, text in diff(older, newer))
    return f'{_STYLE}<div class="studio-diff" data-view="inline">{body}</div>'


def render_side_by_side(older: str, newer: str, *, labels: tuple[str, str] = ("Older", "Newer")) -> str:
    """Two columns, one row per stretch of paragraphs: the older text with its deletions, the newer with its
    insertions (HTML, escaped)."""
    rows = []
    for hunk in hunks(older, newer):
        if not hunk.changed:
            same = html.escape(hunk.older, quote=True)
            rows.append(f'<tr><td class="same">{same}</td><td class="same">{same}</td></tr>')
            continue
        left = "".join(_span(op, text) for op, text in hunk.segments if op != INSERT)
        right = "".join(_span(op, text) for op, text in hunk.segments if op != DELETE)
        rows.append(f'<tr class="changed"><td>{left}</td><td>{right}</td></tr>')
    head = "".join(f"<th>{html.escape(label, quote=True)}</th>" for label in labels)
    return (f'{_STYLE}<div class="studio-diff" data-view="side"><table><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></div>')


# --- paragraph merge -----------------------------------------------------------------------------------------


def changes(older: str, newer: str) -> list[Hunk]:
    """The changed stretches of paragraphs, in order: the choices a merge offers (numbered from 0)."""
    return [hunk for hunk in hunks(older, newer) if hunk.changed]


def merge(older: str, newer: str, take_newer: Iterable[int]) -> str:
    """`older` with the changed stretches numbered in `take_newer` taken from `newer` (others kept from older).

    Unknown numbers are an error (the choices were made on other texts)."""
    chosen = set(take_newer)
    parts: list[str] = []
    number = 0
    for hunk in hunks(older, newer):
        if not hunk.changed:
            parts.append(hunk.older)
            continue
        parts.append(hunk.newer if number in chosen else hunk.older)
        chosen.discard(number)
        number += 1
    if chosen:
        raise ValueError(f"no changed paragraph numbered {sorted(chosen)[0]}: the versions have {number} "
                         f"change(s); compare them again")
    return "".join(parts)
