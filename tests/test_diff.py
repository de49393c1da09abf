"""writing/compose/diff.py: word-level diff, its HTML renderings, and the paragraph merge (pure functions).

Property tests on generated texts (English words, CJK, blank lines, odd whitespace): the diff's sides give
back both texts exactly, a merge taking nothing / everything gives each text byte for byte, any other
choice keeps the unchanged paragraphs; renderings escape model text. Plus the caps and a time budget on
adversarial input, scaled from a linear pass over the same text.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from writing.compose import diff as d
from writing.compose.limits import DIFF_MAX_CHARS
from writing.errors import ParamError

WORDS = ["the", "cat", "sat", "on", "mat", "猫", "坐在", "垫子上", "。", ",", "<b>", "&amp;", "don't", "e-mail", "42"]
SEPARATORS = [" ", " ", " ", "  ", "\n", "\n\n", "\n\n\n", "\t", ""]


@st.composite
def texts(draw) -> str:
    parts = draw(st.lists(st.tuples(st.sampled_from(WORDS), st.sampled_from(SEPARATORS)), max_size=60))
    return "".join(w + s for w, s in parts)


@st.composite
def pairs(draw) -> tuple[str, str]:
    """An older text and a newer one that shares some of it (edits, not two unrelated texts)."""
    older = draw(texts())
    paras = d.paragraphs(older)
    newer = []
    for para in paras:
        action = draw(st.sampled_from(["keep", "keep", "drop", "edit", "add"]))
        if action == "keep":
            newer.append(para)
        elif action == "edit":
            newer.append(draw(texts()) + ("\n\n" if para.endswith("\n\n") else ""))
        elif action == "add":
            newer += [para, draw(texts()) + "\n\n"]
    return older, "".join(newer) + draw(st.sampled_from(["", "tail", "\n\n结尾"]))


@given(texts())
def test_tokens_and_paragraphs_are_lossless(text):
    assert "".join(d.tokens(text)) == text
    assert "".join(d.paragraphs(text)) == text
    assert all(p for p in d.paragraphs(text))


@given(pairs())
def test_diff_gives_back_both_texts(pair):
    older, newer = pair
    segments = d.diff(older, newer)
    assert d.side(segments, d.DELETE) == older
    assert d.side(segments, d.INSERT) == newer
    assert all(text for _op, text in segments)
    assert all(a[0] != b[0] for a, b in zip(segments, segments[1:], strict=False))  # neighbours merged
    if older == newer:
        assert all(op == d.EQUAL for op, _ in segments)


@given(pairs(), st.data())
def test_merge_takes_each_changed_stretch_from_the_chosen_side(pair, data):
    older, newer = pair
    changed = d.changes(older, newer)
    assert d.merge(older, newer, []) == older
    assert d.merge(older, newer, range(len(changed))) == newer
    chosen = data.draw(st.sets(st.integers(0, max(0, len(changed) - 1))) if changed else st.just(set()))
    merged = d.merge(older, newer, chosen)
    expected = []
    number = 0
    for hunk in d.hunks(older, newer):
        if hunk.changed:
            expected.append(hunk.newer if number in chosen else hunk.older)
            number += 1
        else:
            expected.append(hunk.older)
    assert merged == "".join(expected)
    # every unchanged stretch is in the merge, in order
    position = 0
    for hunk in d.hunks(older, newer):
        if not hunk.changed and hunk.older:
            found = merged.find(hunk.older, position)
            assert found >= 0
            position = found + len(hunk.older)


def test_word_level_and_cjk_per_character():
    segments = d.diff("The cat sat on the mat.", "The dog sat on the mat.")
    assert (d.DELETE, "cat ") in segments and (d.INSERT, "dog ") in segments
    assert d.side(segments, d.EQUAL) == "The sat on the mat."
    chinese = d.diff("猫坐在垫子上。", "狗坐在垫子上。")
    assert chinese[0] == (d.DELETE, "猫") and chinese[1] == (d.INSERT, "狗")
    assert chinese[2] == (d.EQUAL, "坐在垫子上。")
    assert d.stats(chinese) == (1, 1)


def test_renderings_escape_model_text():
    older = "Safe text.\n\n<script>alert(1)</script> & more"
    newer = "Safe text.\n\n<img src=x onerror=alert(2)> & more"
    for rendered in (d.render_inline(older, newer), d.render_side_by_side(older, newer, labels=("<a>", "B"))):
        assert "<script>" not in rendered and "<img" not in rendered and "<a>" not in rendered
        assert "&lt;" in rendered and "<script" not in rendered and "onerror=alert(2)>" not in rendered
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in d.render_inline(older, older)
    inline = d.render_inline("one two", "one three")
    assert "<del>two</del>" in inline and "<ins>three</ins>" in inline
    side = d.render_side_by_side("a\n\nold words\n\nz", "a\n\nnew words\n\nz")
    assert side.count('<tr class="changed">') == 1 and "<del>old </del>" in side and "<ins>new </ins>" in side


def test_merge_refuses_choices_of_other_texts():
    with pytest.raises(ValueError, match="no changed paragraph numbered 3"):
        d.merge("a\n\nb", "a\n\nc", [3])


def test_each_side_is_capped_before_any_work():
    big = "x" * (DIFF_MAX_CHARS + 1)
    with pytest.raises(ParamError, match="newer version: at most"):
        d.diff("short", big)
    with pytest.raises(ParamError, match="older version"):
        d.render_inline(big, "short")


def test_adversarial_repeats_stay_within_a_linear_budget():
    """Changed stretches of one repeated word (difflib's worst case, quadratic) separated by unchanged
    paragraphs: without the work budget this takes minutes; with it, a small multiple of a linear pass."""
    older, newer = [], []
    for i in range(100):
        older += [("a " * 1990) + "x", f"same {i}"]
        newer += ["z " + ("a " * 1989) + "y", f"same {i}"]
    a, b = "\n\n".join(older), "\n\n".join(newer)
    start = time.perf_counter()
    for _ in range(3):
        d.tokens(a), d.tokens(b), d.paragraphs(a), d.paragraphs(b)
    linear = (time.perf_counter() - start) / 3
    start = time.perf_counter()
    segments = d.diff(a, b)
    took = time.perf_counter() - start
    assert d.side(segments, d.DELETE) == a and d.side(segments, d.INSERT) == b
    assert took < max(60 * linear, 0.5), f"diff took {took:.2f}s, a linear pass {linear:.3f}s"
