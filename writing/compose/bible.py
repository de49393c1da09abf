"""The story bible: named fields every section of a document (and a Blog post) must keep to.

    make_bible(data)                 -> Bible  (untrusted input: None, a dict, or a Bible; errors name the field)
    render_bible(bible, chinese=...) -> the text quoted in the prompt's system message ("" when empty)
    bible_tokens(bible, ...)         -> what that text costs in the prompt, in tokens
    with_bible(messages, bible, ...) -> messages whose system message ends with the bible (Blog, outline)
    add_entries(bible, field, [...]) -> a new Bible with entries appended (accepted suggestions)

The bible belongs to the long-form Brief (writing/compose/longform.py), so every path that carries a
brief (the tab, the API, a saved document's meta, a background job's stored spec) carries the bible.
Inside section prompts it sits in the system message BEFORE the plan: the system message is the
prefix the engine's KV cache reuses from section to section, and the plan's word targets may change
between sections (writing/compose/budget.py), so the bible's tokens stay reused even then.

Sizes are capped per field and in all (writing/compose/limits.py) and checked with len() before any
other work; a bible is never cut to fit a prompt: a section whose brief, bible and plan cannot fit
its budget is a BudgetError (section_messages).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from writing.compose import limits
from writing.errors import ParamError


@dataclass(frozen=True)
class FieldInfo:
    name: str
    label: str  # English, in the prompt and the UI
    label_zh: str  # Simplified Chinese, in a Chinese prompt
    hint: str  # what goes there (the UI's placeholder)


FIELDS: tuple[FieldInfo, ...] = (
    FieldInfo("premise", "Premise / synopsis", "前提 / 梗概", "What the document is about, in a few sentences"),
    FieldInfo("voice", "Audience and voice", "读者与语气", "Who reads it and how it should sound"),
    FieldInfo("style_rules", "Style rules", "文风规则", "One rule a line: no passive voice; British spelling"),
    FieldInfo("glossary", "Glossary / terms", "术语表", "One term a line: term: meaning"),
    FieldInfo("characters", "Characters / entities", "人物 / 实体", "One a line: name: who or what they are"),
    FieldInfo("facts", "Facts to keep", "需保持一致的事实", "One fact a line: dates, numbers, decisions"),
    FieldInfo("avoid", "Words to avoid", "避免使用的词语", "Words or phrases never to use, comma- or line-separated"),
)
FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)
BY_NAME = {f.name: f for f in FIELDS}

HEADER = "Story bible (keep to it throughout):"
HEADER_ZH = "写作设定（全文都必须遵守）："


@dataclass(frozen=True)
class Bible:
    premise: str = ""
    voice: str = ""
    style_rules: str = ""
    glossary: str = ""
    characters: str = ""
    facts: str = ""
    avoid: str = ""

    def is_empty(self) -> bool:
        return not any(getattr(self, name) for name in FIELD_NAMES)

    def to_dict(self) -> dict[str, str]:
        """The filled fields only (an empty bible is {}), so saved briefs stay small and old ones compare equal."""
        return {name: getattr(self, name) for name in FIELD_NAMES if getattr(self, name)}

    @property
    def chars(self) -> int:
        return sum(len(getattr(self, name)) for name in FIELD_NAMES)


EMPTY = Bible()


def clean_field(text: str) -> str:
    """One field's text as the prompt quotes it: line breaks normalised, blank lines and outer spaces dropped."""
    lines = (line.strip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return "\n".join(line for line in lines if line)


def make_bible(data: Any) -> Bible:
    """A Bible from untrusted input. Sizes are checked first (len only), then types; errors name the field
    ("bible.glossary: at most 2,000 characters, got 2,417")."""
    if data is None or data == "":
        return EMPTY
    if isinstance(data, Bible):
        data = data.to_dict()
    if not isinstance(data, dict):
        raise ParamError("bible", f"expected an object with the fields {', '.join(FIELD_NAMES)}, "
                                  f"got {type(data).__name__}")
    unknown = sorted(str(key) for key in data if key not in BY_NAME)
    if unknown:
        raise ParamError("bible", f"unknown field(s) {unknown} (allowed: {', '.join(FIELD_NAMES)})")
    total = 0
    values: dict[str, str] = {}
    for name in FIELD_NAMES:
        value = data.get(name, "")
        if value is None:
            value = ""
        if isinstance(value, list | tuple):  # a list of entries, one a line
            if not all(isinstance(item, str) for item in value):
                raise ParamError(f"bible.{name}", "expected text or a list of texts")
            size = sum(len(item) + 1 for item in value)
            if size > limits.BIBLE_FIELD_MAX:
                raise ParamError(f"bible.{name}", f"at most {limits.BIBLE_FIELD_MAX:,} characters, got {size:,}")
            value = "\n".join(value)
        if not isinstance(value, str):
            raise ParamError(f"bible.{name}", f"expected text, got {type(value).__name__}")
        limits.check_chars(value, limits.BIBLE_FIELD_MAX, field=f"bible.{name}")
        total += len(value)
        if total > limits.BIBLE_MAX_CHARS:
            raise ParamError("bible", f"at most {limits.BIBLE_MAX_CHARS:,} characters in all fields together; "
                                      f"this one has more (shorten {BY_NAME[name].label.lower()} or an earlier field)")
        values[name] = clean_field(value)
    return Bible(**values)


def label(name: str, *, chinese: bool = False) -> str:
    info = BY_NAME[name]
    return info.label_zh if chinese else info.label


def render_bible(bible: Bible, *, chinese: bool = False) -> str:
    """The bible as the prompt quotes it: a header, then each filled field under its label ("" if none)."""
    if bible.is_empty():
        return ""
    colon = "：" if chinese else ":"
    space = "" if chinese else " "  # a full-width colon carries its own space
    parts = [HEADER_ZH if chinese else HEADER]
    for name in FIELD_NAMES:
        text = getattr(bible, name)
        if not text:
            continue
        title = label(name, chinese=chinese)
        parts.append(f"{title}{colon}\n{text}" if "\n" in text else f"{title}{colon}{space}{text}")
    return "\n".join(parts)


def bible_tokens(bible: Bible, count_tokens: Any, *, chinese: bool = False) -> int:
    """Tokens the bible adds to a prompt: a system message with it minus one without it (chat markers aside)."""
    text = render_bible(bible, chinese=chinese)
    if not text:
        return 0
    base, ask = "You are a writer.", {"role": "user", "content": "Write."}  # engines count only answerable prompts
    return int(count_tokens([{"role": "system", "content": f"{base}\n{text}"}, ask])
               - count_tokens([{"role": "system", "content": base}, ask]))


def with_bible(messages: Sequence[dict[str, str]], bible: Bible, *, chinese: bool = False) -> list[dict[str, str]]:
    """Messages whose (first) system message ends with the bible; unchanged copies when the bible is empty.
    For prompts whose templates have no `bible` variable (Blog, the outline): still inside the system
    message, so a series of requests shares it as a prefix."""
    text = render_bible(bible, chinese=chinese)
    out = [dict(m) for m in messages]
    if not text:
        return out
    for message in out:
        if message.get("role") == "system":
            message["content"] = f"{message['content']}\n\n{text}"
            return out
    return [{"role": "system", "content": text}, *out]


def entries_of(text: str) -> list[str]:
    """A field's entries: its lines (the UI and the suggestion parser add one entry a line)."""
    return [line for line in clean_field(text).split("\n") if line]


def add_entries(bible: Bible, name: str, new: Iterable[str]) -> Bible:
    """`bible` with `new` entries appended to field `name`, one a line, skipping ones already there
    (case-insensitive). The result is checked against the caps like any input."""
    if name not in BY_NAME:
        raise ParamError("bible", f"unknown field {name!r} (allowed: {', '.join(FIELD_NAMES)})")
    current = entries_of(getattr(bible, name))
    seen = {entry.casefold() for entry in current}
    for entry in new:
        entry = clean_field(entry).replace("\n", " ")
        if entry and entry.casefold() not in seen:
            seen.add(entry.casefold())
            current.append(entry)
    return make_bible({**bible.to_dict(), name: "\n".join(current)})


def merge(base: Bible, other: Bible) -> Bible:
    """`base` with every entry of `other` added (applying a style sheet onto a bible that has entries)."""
    merged = base
    for name in FIELD_NAMES:
        merged = add_entries(merged, name, entries_of(getattr(other, name)))
    return merged


def field_values(bible: Bible) -> list[str]:
    """The fields in FIELDS order (the UI's textboxes)."""
    return [getattr(bible, name) for name in FIELD_NAMES]


def from_values(values: Sequence[Any]) -> Bible:
    """A Bible from the UI's textboxes, in FIELDS order."""
    if len(values) != len(FIELD_NAMES):
        raise ParamError("bible", f"expected {len(FIELD_NAMES)} fields, got {len(values)}")
    return make_bible(dict(zip(FIELD_NAMES, values, strict=True)))


__all__ = ["BY_NAME", "EMPTY", "FIELDS", "FIELD_NAMES", "Bible", "add_entries", "bible_tokens", "clean_field",
           "entries_of", "field_values", "from_values", "label", "make_bible", "merge", "render_bible",
           "with_bible"]
