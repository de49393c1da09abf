"""Rewrite a selected passage in place: the span, the prompt, and the splice (pure functions, no model).

The writer selects text in a text box (the browser reports the selection in UTF-16 code units, Python
indexes code points: `from_utf16`), picks an instruction (or writes one), and the model rewrites only that
span. `splice` puts the reply between the exact text before and after the span, so everything outside the
span stays byte-identical, while it streams and after. The prompt (template `rewrite`, EN and ZH) quotes
some text on each side so the new passage fits; the passage and the text are bounded by REWRITE_MAX_CHARS
and REWRITE_TEXT_MAX (writing/compose/limits.py), checked before anything else.
"""

from __future__ import annotations

from typing import Any

from writing.compose.language import is_chinese
from writing.compose.limits import REWRITE_CONTEXT_CHARS, REWRITE_MAX_CHARS, REWRITE_TEXT_MAX
from writing.compose.prompts import render
from writing.errors import StudioError

# value -> (English instruction, Chinese instruction); "custom" is the writer's own words.
INSTRUCTIONS: dict[str, tuple[str, str]] = {
    "shorter": ("Make it shorter: keep the meaning, cut the words.", "改写得更简短：保留意思，删减字数。"),
    "formal": ("Make it more formal.", "改写得更正式。"),
    "expand": ("Expand it: add detail and an example, about twice as long.",
               "扩写：增加细节和一个例子，约为原来的两倍长。"),
    "to_chinese": ("Translate it into Simplified Chinese.", "翻译成简体中文。"),
    "to_english": ("Translate it into English.", "翻译成英文。"),
    "grammar": ("Fix grammar, spelling and punctuation; change nothing else.", "修正语法、错别字和标点；其他不要改。"),
    "custom": ("", ""),
}
INSTRUCTION_MAX = 1_000  # characters of a free-text instruction


class SelectionError(StudioError, ValueError):
    """The selected span is empty, out of range, too long, or no longer matches the text."""


def from_utf16(text: str, start: int, end: int) -> tuple[int, int]:
    """A browser selection (UTF-16 code units) -> Python string indices (code points). Linear, one pass."""
    if all(ord(ch) < 0x10000 for ch in text):  # the usual case: both count the same
        return start, end
    found: dict[int, int] = {}
    units = 0
    for index, ch in enumerate(text):
        if units in (start, end):
            found[units] = index
        units += 2 if ord(ch) >= 0x10000 else 1
    if units in (start, end):
        found[units] = len(text)
    if start not in found or end not in found:
        raise SelectionError("The selection does not fall on whole characters: select the passage again.")
    return found[start], found[end]


def check_span(text: Any, start: Any, end: Any, *, selected: str | None = None) -> tuple[int, int]:
    """(start, end) of a non-empty passage of `text`, at most REWRITE_MAX_CHARS long; with `selected` (what
    the browser said was selected), the passage must still be that text."""
    if not isinstance(text, str):
        raise SelectionError(f"text: expected text, got {type(text).__name__}")
    if len(text) > REWRITE_TEXT_MAX:
        raise SelectionError(f"The text has {len(text):,} characters; a passage can be rewritten in a text of at "
                             f"most {REWRITE_TEXT_MAX:,}. Split it into several drafts or sections.")
    for name, value in (("start", start), ("end", end)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise SelectionError(f"selection {name}: expected a whole number, got {value!r}")
    if not 0 <= start < end <= len(text):
        raise SelectionError("Select the passage to rewrite first (drag over it in the text box).")
    if end - start > REWRITE_MAX_CHARS:
        raise SelectionError(f"The selection has {end - start:,} characters; a rewrite takes at most "
                             f"{REWRITE_MAX_CHARS:,}. Select a shorter passage.")
    if selected is not None and text[start:end] != selected:
        raise SelectionError("The text changed since the passage was selected: select it again.")
    if not text[start:end].strip():
        raise SelectionError("The selection is only blank space: select some words to rewrite.")
    return start, end


def instruction_text(choice: str, free_text: str, passage: str) -> str:
    """The instruction the prompt quotes: a preset's words (in the passage's language) or the writer's own."""
    if choice not in INSTRUCTIONS:
        raise StudioError(f"instruction: unknown choice {choice!r} (expected one of: {', '.join(INSTRUCTIONS)})")
    own = (free_text or "").strip()
    if len(own) > INSTRUCTION_MAX:
        raise StudioError(f"instruction: at most {INSTRUCTION_MAX:,} characters, got {len(own):,}")
    if choice == "custom" or own:
        if not own:
            raise StudioError("instruction: write how to rewrite the passage, or pick one of the choices.")
        return own if choice == "custom" else f"{INSTRUCTIONS[choice][1 if is_chinese(passage) else 0]} {own}"
    return INSTRUCTIONS[choice][1 if is_chinese(passage) else 0]


def rewrite_messages(text: str, start: int, end: int, instruction: str) -> list[dict[str, str]]:
    """The chat messages asking for the passage text[start:end] rewritten (check_span first)."""
    before = text[max(0, start - REWRITE_CONTEXT_CHARS):start]
    after = text[end:end + REWRITE_CONTEXT_CHARS]
    return render("rewrite", before=before, passage=text[start:end], after=after, instruction=instruction)


def max_new_tokens(passage: str, asked: int) -> int:
    """The run's token limit: the writer's, but no more than a rewrite of this passage can need (expanding
    doubles it; no tokenizer spends more than one token per character on real text)."""
    return max(1, min(int(asked), 2 * len(passage) + 64))


def fit(reply: str, passage: str) -> str:
    """The model's reply as it goes into the span: its own outer whitespace and an echoed <passage> tag
    dropped, the selected passage's outer whitespace kept (a selection ending in a space or a line break
    keeps it)."""
    body = reply.strip()
    if body.startswith("<passage>"):
        body = body[len("<passage>"):]
    if body.endswith("</passage>"):
        body = body[:-len("</passage>")]
    body = body.strip()
    lead = passage[:len(passage) - len(passage.lstrip())]
    trail = passage[len(passage.rstrip()):]
    return f"{lead}{body}{trail}"


def splice(text: str, start: int, end: int, replacement: str) -> str:
    """`text` with text[start:end] replaced: everything before `start` and from `end` on is kept as it is."""
    return text[:start] + replacement + text[end:]
