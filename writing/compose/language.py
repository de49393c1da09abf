"""The one rule for "answer in Chinese?": an explicit language wins, else the brief's own language.

Used by prompt rendering (which template variant and which `$language` text), the long-form brief and
the Blog tab's structure labels, so they can never disagree.
"""

from __future__ import annotations

import re

# "auto" / empty: answer in the brief's language. These values ask for Chinese explicitly.
AUTO = frozenset({"", "auto", "自动"})
CHINESE = frozenset({"zh", "zh-cn", "zh-hans", "zh_cn", "chinese", "simplified chinese", "中文", "简体中文", "汉语",
                     "普通话"})
ENGLISH = frozenset({"en", "english"})
_HAN = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_KANA = re.compile("[\u3040-\u30ff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")


def is_chinese(text: str) -> bool:
    """Mostly Chinese: Han characters at least as many as Latin words, and not Japanese (kana)."""
    han = len(_HAN.findall(text))
    if han == 0 or len(_KANA.findall(text)) * 5 > han:
        return False
    return han >= len(_LATIN_WORD.findall(text))


def asked_language(language: object) -> str:
    """The language setting as compared: stripped, case-folded ("" for None)."""
    return str(language or "").strip().casefold()


def wants_chinese(language: object, brief: str) -> bool:
    """`language` "auto"/empty: is the brief mostly Chinese? Else: does it name Chinese?"""
    asked = asked_language(language)
    if asked in AUTO:
        return is_chinese(brief)
    return asked in CHINESE
