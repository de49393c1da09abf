"""Word counts for English, Chinese and mixed text, and the LongBench-Write length score.

Words = CJK characters + other words. A Latin word glued to CJK text ("关于Transformer的")
counts as one word, which LongBench-Write's own regex misses: CJK characters are counted
first and then replaced by spaces, so the Latin run between them stands alone.
"""

from __future__ import annotations

import re

# CJK ideographs (basic, extension A, compatibility, extensions B-F), kana and Hangul syllables:
# scripts written without spaces, where one character is one "word".
_CJK_RANGES = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f"
_CJK = re.compile(f"[{_CJK_RANGES}]")
# A word: letters/digits (not CJK) joined by apostrophes, hyphens or dots inside ("don't", "e-mail", "3.5").
_LETTERS = f"[^\\W_{_CJK_RANGES}]+"
_WORD = re.compile(rf"{_LETTERS}(?:['’.\-]{_LETTERS})*")
# One pass: a run of CJK characters (each one a word), or a word of the other scripts. A CJK character
# ends a word as a space would.
_UNIT = re.compile(f"(?P<cjk>[{_CJK_RANGES}]+)|{_WORD.pattern}")


def count_words(text: str) -> int:
    """CJK characters + other words, in one pass that keeps no copy of the text and no list of its words
    (memory stays flat whatever the length: every stored draft is counted)."""
    count = 0
    for match in _UNIT.finditer(text):
        count += match.end() - match.start() if match.lastgroup == "cjk" else 1
    return count


def length_score(required: int, actual: int) -> float:
    """LongBench-Write S_l in [0, 100]: 100 on target; over by 3x or under by 3x scores 0."""
    if required <= 0:
        raise ValueError(f"required word count must be positive, got {required}")
    if actual <= 0:
        return 0.0
    if actual > required:
        return 100.0 * max(0.0, 1.0 - (actual / required - 1.0) / 3.0)
    return 100.0 * max(0.0, 1.0 - (required / actual - 1.0) / 2.0)
