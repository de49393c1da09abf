"""writing/compose/rewrite.py: the selected span, the prompt (EN and ZH), and the splice that leaves the rest
byte-identical, with the real tiny model streaming the replacement."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from writing.compose.limits import REWRITE_CONTEXT_CHARS, REWRITE_MAX_CHARS, REWRITE_TEXT_MAX
from writing.compose.rewrite import (
    SelectionError,
    check_span,
    fit,
    from_utf16,
    instruction_text,
    max_new_tokens,
    rewrite_messages,
    splice,
)
from writing.engines.params import make_params
from writing.errors import StudioError

TEXT = "Keepers climbed the steps.\n\nThe lamp burned oil all night, and the keeper trimmed the wick.\n\nDawn came.\n"


def test_splice_examples():
    assert splice("a b \n\n", 2, 3, "X") == "a X \n\n"
    assert splice("猫 \t😀\n", 0, 1, "狗狗") == "狗狗 \t😀\n"
    assert splice("keep", 4, 4, "") == "keep"


@given(st.text(), st.data())
def test_splice_keeps_everything_outside_the_span(text, data):
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    new = data.draw(st.text())
    out = splice(text, start, end, new)
    assert out[:start] == text[:start]
    assert out[start + len(new):] == text[end:]
    assert out.encode("utf-8", "surrogatepass")[:len(text[:start].encode("utf-8", "surrogatepass"))] == \
        text[:start].encode("utf-8", "surrogatepass")


def test_browser_offsets_are_utf16():
    text = "a😀b 猫😺c"
    # JS: "a😀b" is 4 UTF-16 units; the cat face is 2 more
    assert from_utf16(text, 0, 4) == (0, 3)
    assert from_utf16(text, 4, 9) == (3, 7)
    assert text[slice(*from_utf16(text, 4, 9))] == " 猫😺c"
    with pytest.raises(SelectionError, match="whole characters"):
        from_utf16(text, 2, 4)  # inside the surrogate pair
    assert from_utf16("plain", 1, 3) == (1, 3)


def test_span_checks():
    assert check_span(TEXT, 0, 7, selected="Keepers") == (0, 7)
    with pytest.raises(SelectionError, match="Select the passage"):
        check_span(TEXT, 5, 5)
    with pytest.raises(SelectionError, match="Select the passage"):
        check_span(TEXT, 0, len(TEXT) + 1)
    with pytest.raises(SelectionError, match="changed since"):
        check_span(TEXT, 0, 7, selected="Keeper!")
    with pytest.raises(SelectionError, match="blank space"):
        check_span("a   b", 1, 4)
    with pytest.raises(SelectionError, match="whole number"):
        check_span(TEXT, "0", 4)
    long = "x" * (REWRITE_MAX_CHARS + 10)
    with pytest.raises(SelectionError, match="a rewrite takes at most"):
        check_span(long, 0, REWRITE_MAX_CHARS + 1)
    with pytest.raises(SelectionError, match="a text of at most"):
        check_span("y" * (REWRITE_TEXT_MAX + 1), 0, 5)


def test_instructions_follow_the_passage_language():
    assert instruction_text("shorter", "", "The lamp burned.").startswith("Make it shorter")
    assert instruction_text("shorter", "", "灯塔很高。").startswith("改写得更简短")
    assert instruction_text("custom", "in the voice of a pirate", "x") == "in the voice of a pirate"
    assert instruction_text("formal", "keep the names", "text").endswith("keep the names")
    with pytest.raises(StudioError, match="write how"):
        instruction_text("custom", "  ", "x")
    with pytest.raises(StudioError, match="unknown choice"):
        instruction_text("louder", "", "x")


def test_prompt_quotes_the_passage_and_bounded_context():
    start = TEXT.index("The lamp")
    end = TEXT.index("\n\nDawn")
    system, user = rewrite_messages(TEXT, start, end, "Make it shorter.")
    assert "<passage>\nThe lamp burned oil all night, and the keeper trimmed the wick.\n</passage>" in user["content"]
    assert "Keepers climbed the steps." in user["content"] and "Dawn came." in user["content"]
    assert "Instruction: Make it shorter." in user["content"]
    long_before = "word " * REWRITE_CONTEXT_CHARS
    _, user = rewrite_messages(long_before + "target", len(long_before), len(long_before) + 6, "x")
    assert len(user["content"]) < REWRITE_CONTEXT_CHARS + 1_000
    _, user = rewrite_messages("灯塔很高。我们爬上去。", 0, 5, "改写得更简短。")
    assert "需要改写的段落" in user["content"] and "（这段文字位于结尾）" not in user["content"]
    _, user = rewrite_messages("灯塔很高。", 0, 5, "改写得更简短。")
    assert "（这段文字位于开头）" in user["content"] and "（这段文字位于结尾）" in user["content"]


def test_a_rewrite_asks_for_no_more_tokens_than_the_passage_can_need():
    assert max_new_tokens("short", 4096) == 2 * 5 + 64
    assert max_new_tokens("x" * 5000, 512) == 512


def test_fit_keeps_the_selections_outer_whitespace():
    assert fit("  New words.\n", " old words\n\n") == " New words.\n\n"
    assert fit("<passage>\nNew.\n</passage>", "Old.") == "New."


def test_tiny_model_rewrite_streams_into_the_span_and_leaves_the_rest_byte_identical(tiny_engine):
    start = TEXT.index("The lamp")
    end = TEXT.index("\n\nDawn")
    before, after = TEXT[:start].encode(), TEXT[end:].encode()
    passage = TEXT[start:end]
    messages = rewrite_messages(TEXT, *check_span(TEXT, start, end, selected=passage), "Make it shorter.")
    reply = ""
    snapshots = []
    for piece in tiny_engine.stream(messages, make_params(max_new_tokens=24, seed=3)):
        reply += piece
        snapshots.append(splice(TEXT, start, end, fit(reply, passage)))
    assert reply.strip(), "the tiny model wrote nothing"
    assert len(snapshots) > 1  # it streamed
    for shown in snapshots:
        encoded = shown.encode()
        assert encoded.startswith(before) and encoded.endswith(after)
    final = snapshots[-1]
    assert final[len(TEXT[:start]):len(final) - len(TEXT[end:])] == fit(reply, passage)
    assert final != TEXT
