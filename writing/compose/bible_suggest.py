""""Suggest from text": the model proposes story-bible entries from the sections written so far.

    suggest_messages(brief, outline, budget_tokens=...) -> the prompt (template bible_suggest, EN/ZH)
    parse_suggestions(reply)                             -> [Suggestion(field, text)], new entries only

The input is bounded: each written section contributes its title, and its whole text when it fits its
share of the budget, else its lead and its tail (what a section sets up and where it leaves things);
the shares shrink until the prompt fits `budget_tokens`, and a document that cannot fit even as titles
is a BudgetError. The reply is read line by line, once (linear time: str methods and one Markdown
heading check per line, no regex), and capped (limits.SUGGEST_REPLY_MAX characters, SUGGEST_ENTRIES_MAX
entries). Nothing is added to the bible here: the writer accepts or edits each proposal first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from writing.compose import limits
from writing.compose.bible import FIELDS, Bible, entries_of, render_bible
from writing.compose.longform import Brief, estimate_tokens, lead, tail
from writing.compose.markdown import heading
from writing.compose.outline import Outline
from writing.compose.prompts import render
from writing.errors import BudgetError

SUGGEST_MAX_NEW_TOKENS = 400  # a few dozen short entries
ENTRY_MAX = 300  # characters of one proposed entry (longer lines are not entries but prose)
MIN_SHARE = 120  # characters per section below which only titles are sent
_BULLETS = ("- ", "* ", "+ ", "• ", "· ")


@dataclass(frozen=True)
class Suggestion:
    field: str  # a writing.compose.bible field name
    text: str


def suggest_source(outline: Outline, max_chars: int) -> str:
    """The written sections within about max_chars: whole when they fit their share, else lead + tail."""
    written = [(i, s) for i, s in enumerate(outline.sections) if s.text.strip()]
    if not written:
        return ""
    share = max_chars // len(written)
    parts = []
    for number, section in written:
        head = f"## {number + 1}. {section.title}"
        body = section.text.strip()
        if share < MIN_SHARE:
            parts.append(head)
            continue
        if len(body) > share:
            body = f"{lead(body, share // 3)}\n[…]\n{tail(body, share - share // 3)}"
        parts.append(f"{head}\n{body}")
    return "\n\n".join(parts)


def suggest_messages(brief: Brief, outline: Outline, bible: Bible | None = None, *, budget_tokens: int,
                     count_tokens: Any = None) -> list[dict[str, str]]:
    """The prompt within budget_tokens (counted with `count_tokens`, else the conservative estimate)."""
    count = count_tokens or estimate_tokens
    written = sum(1 for s in outline.sections if s.text.strip())
    if not written:
        raise BudgetError("No section is written yet: write a section or two first, then ask for suggestions.")
    current = bible if bible is not None else brief.bible
    existing = render_bible(current, chinese=brief.chinese).partition("\n")[2]  # the entries, without the header
    max_chars = limits.prompt_char_limit(budget_tokens) // 4
    while True:
        text = suggest_source(outline, max_chars)
        messages = render("bible_suggest", topic=brief.topic, language=brief.language, existing=existing,
                          text=text)
        used = count(messages)
        if used <= budget_tokens:
            return messages
        if max_chars // written < MIN_SHARE:  # already titles only: nothing left to shorten
            raise BudgetError(f"The bible and the section titles alone take {used} tokens, above the "
                              f"{budget_tokens} a suggestion may use. Shorten the story bible first.")
        max_chars = int(max_chars * budget_tokens / used * 0.9)


def _field_names() -> dict[str, str]:
    """Every heading text that names a field (labels EN and ZH, field names, the label's parts), casefolded."""
    names: dict[str, str] = {}
    for info in FIELDS:
        for text in (info.name, info.name.replace("_", " "), info.label, info.label_zh):
            names[_key(text)] = info.name
            for part in text.split("/"):
                if _key(part):
                    names.setdefault(_key(part), info.name)
    return names


def _key(text: str) -> str:
    """A heading's text reduced for lookup: no markup, numbering, punctuation or spaces, casefolded."""
    kept = []
    for ch in text.casefold():
        if ch.isalnum() and not ch.isdigit():
            kept.append(ch)
    return "".join(kept)


_NAMES = _field_names()


def _heading_field(line: str) -> tuple[bool, str | None]:
    """(is a heading line, the field it names or None). Headings: `## Label`, `**Label**`, `Label:`."""
    if len(line) > 80:
        return False, None
    found = heading(line)
    if found is not None:
        return True, _NAMES.get(_key(found[1]))
    bare = line.strip()
    if bare.startswith("**") and bare.endswith("**") and len(bare) > 4:
        return True, _NAMES.get(_key(bare))
    if bare.endswith((":", "：")) and not bare.startswith(_BULLETS):
        name = _NAMES.get(_key(bare))
        return name is not None, name
    return False, None


def _entry(line: str) -> str | None:
    """The text of a list item ("- x", "* x", "1. x", "2) x"), else None."""
    bare = line.strip()
    if bare.startswith(_BULLETS):
        return bare[2:].strip() or None
    digits = 0
    while digits < len(bare) and digits < 4 and bare[digits].isdigit():
        digits += 1
    if 0 < digits < len(bare) - 1 and bare[digits] in ".)、" and bare[digits + 1] == " ":
        return bare[digits + 2:].strip() or None
    return None


def parse_suggestions(reply: str, existing: Bible | None = None) -> list[Suggestion]:
    """Entries under recognised headings, in order, without duplicates or entries already in `existing`."""
    reply = reply[: limits.SUGGEST_REPLY_MAX]
    seen = {(info.name, entry.casefold()) for info in FIELDS
            for entry in (entries_of(getattr(existing, info.name)) if existing is not None else [])}
    found: list[Suggestion] = []
    field: str | None = None
    for raw in reply.split("\n"):
        line = raw.strip()
        if not line:
            continue
        is_heading, named = _heading_field(line)
        if is_heading:
            field = named  # an unknown heading ends the current field: its items are not ours to guess
            continue
        item = _entry(line)
        if field is None or item is None:
            continue
        item = item.strip("*").strip()
        if not item or len(item) > ENTRY_MAX or (field, item.casefold()) in seen:
            continue
        seen.add((field, item.casefold()))
        found.append(Suggestion(field, item))
        if len(found) >= limits.SUGGEST_ENTRIES_MAX:
            break
    return found
