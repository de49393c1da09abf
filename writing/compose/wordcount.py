"""Word counts for English, Chinese and mixed text, and the LongBench-Write length score.

Words = CJK characters + other words. A Latin word glued to CJK text ("关于Transformer的")
counts as one word, which LongBench-Write's own regex misses: CJK characters are counted
first and then replaced by spaces, so the Latin run between them stands alone.
"""

from __future__ import annotations

import re

# CJK ideographs (basic, extension A, compatibility, extensions B-F), kana and Hangul syllables:
# scripts written without spaces, where one character is one "word".
_CJK = re.compile(
    "[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f]"
)
# A word: letters/digits joined by apostrophes, hyphens or dots inside ("don't", "e-mail", "3.5").
_WORD = re.compile(r"[^\W_]+(?:['’.\-][^\W_]+)*")


def count_words(text: str) -> int:
    cjk = len(_CJK.findall(text))
    rest = _CJK.sub(" ", text)
    return cjk + len(_WORD.findall(rest))


def length_score(required: int, actual: int) -> float:
    """LongBench-Write S_l in [0, 100]: 100 on target; over by 3x or under by 3x scores 0."""
    if required <= 0:
        raise ValueError(f"required word count must be positive, got {required}")
    if actual <= 0:
        return 0.0
    if actual > required:
        return 100.0 * max(0.0, 1.0 - (actual / required - 1.0) / 3.0)
    return 100.0 * max(0.0, 1.0 - (required / actual - 1.0) / 2.0)
