"""Word counts (English, Chinese, mixed) and the LongBench-Write length score, against hand counts."""

from __future__ import annotations

import pytest

from writing.compose.wordcount import count_words, length_score


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", 0),
        ("   \n\t ", 0),
        ("Hello, world!", 2),
        ("The quick brown fox jumps over the lazy dog.", 9),
        # Apostrophes, hyphens and decimal points join a word; punctuation alone is no word.
        ("Don't stop the e-mail at 3.5 GHz.", 7),
        ("— – ... !!! ???", 0),
        ("写作的第一步", 6),
        ("写作的第一步是明确读者。好的文章结构清晰。", 19),
        # A Latin word glued to CJK text counts (LongBench-Write's own regex misses it): 5 CJK + Transformer.
        ("关于Transformer的介绍", 6),
        ("我们用Qwen3模型写作。", 8),
        ("在 2024 年，AI 写作工具变得普及", 12),
        ("こんにちは", 5),
        ("안녕하세요 세계", 7),
        ("Mixed 中文 and English 文本", 7),
    ],
)
def test_count_words(text: str, words: int) -> None:
    assert count_words(text) == words


@pytest.mark.parametrize(
    ("required", "actual", "score"),
    [
        (1000, 1000, 100.0),
        # Over: 100 * (1 - (y/x - 1) / 3)
        (1000, 1300, 90.0),
        (1000, 2500, 50.0),
        (1000, 4000, 0.0),
        (1000, 9000, 0.0),
        # Under: 100 * (1 - (x/y - 1) / 2)
        (1000, 800, 87.5),
        (1000, 500, 50.0),
        (1000, 250, 0.0),
        (300, 200, 75.0),
        (1000, 0, 0.0),
    ],
)
def test_length_score_hand_computed(required: int, actual: int, score: float) -> None:
    assert length_score(required, actual) == pytest.approx(score)


def test_length_score_is_asymmetric_and_bounded() -> None:
    # Writing 1.5x too much costs less than writing 1.5x too little (LongBench-Write's choice).
    assert length_score(1000, 1500) > length_score(1500, 1000)
    for actual in range(0, 5000, 97):
        assert 0.0 <= length_score(1000, actual) <= 100.0


def test_length_score_needs_a_positive_target() -> None:
    with pytest.raises(ValueError, match="positive"):
        length_score(0, 100)
