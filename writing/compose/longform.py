"""Long-form writing: brief -> outline -> section-by-section expansion -> one document.

The plan follows LongWriter's AgentWrite: the model first plans the document as sections with key
points and word targets (writing.compose.outline parses and edits that plan), then writes one section per
request given the brief, the whole plan, a short summary of what came before and the tail of the
previous section. A CPU cannot re-read 10,000 words for every section, so each section's prompt is
kept under a fixed token budget, and its first part (brief + plan, the system message) is identical
for every section so the engine's prefix KV cache computes it once.

Generation goes through a `StreamFn` (messages, params) -> Iterator[(text_so_far, stats)], the shape
of the UI's `stream_reply`; `engine_streamer(engine, cancel)` makes one from a bare Engine.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from writing.compose.bible import EMPTY as EMPTY_BIBLE
from writing.compose.bible import Bible, make_bible, render_bible, with_bible
from writing.compose.budget import Rebalance, rebalance
from writing.compose.language import is_chinese, wants_chinese
from writing.compose.limits import SECTION_PROMPT_TOKENS, plan_char_limit
from writing.compose.markdown import heading
from writing.compose.outline import Outline, Section, edit_section, parse_outline, render_outline
from writing.compose.prompts import render
from writing.compose.wordcount import count_words, length_score
from writing.engines.base import Engine, GenerationStats
from writing.engines.params import SamplingParams
from writing.errors import BudgetError, EmptyPromptError, ParamError, StudioError

Messages = list[dict[str, str]]
StreamFn = Callable[[Messages, SamplingParams], Iterator[tuple[str, GenerationStats]]]
TokenCounter = Callable[[Sequence[dict[str, Any]]], int]

MIN_TOTAL_WORDS = 200
MAX_TOTAL_WORDS = 50000
MAX_SECTIONS = 40

# Tokens per word of Qwen's tokenizer (estimates, used to size max_new_tokens and the time estimate):
# English prose is ~1.3-1.4 tokens a word; Chinese ~1.4 characters a token, and a CJK "word" is one
# character in count_words.
TOKENS_PER_WORD = {"en": 1.4, "zh": 0.75}
# Room above a section's target before generation is cut: models overshoot, and a cut mid-sentence is
# worse than a long section (the length score shows the overshoot).
SECTION_TOKEN_SLACK = 1.5
# Defaults for the estimate before anything was measured (DESIGN.md: Qwen3-4B bf16 on 2 CPU cores).
DEFAULT_DECODE_TPS = 2.0
DEFAULT_PREFILL_TPS = 150.0


# ---------------------------------------------------------------------------------------------
# The brief

@dataclass(frozen=True)
class Brief:
    topic: str
    audience: str = ""
    style: str = ""
    language: str = "auto"  # "auto": the language of the topic
    total_words: int = 3000
    sections: int = 0  # 0: the model decides
    bible: Bible = EMPTY_BIBLE  # the story bible every section keeps to (writing/compose/bible.py)

    @property
    def chinese(self) -> bool:
        return wants_chinese(self.language, self.topic)

    def to_dict(self) -> dict[str, Any]:
        return {"topic": self.topic, "audience": self.audience, "style": self.style, "language": self.language,
                "total_words": self.total_words, "sections": self.sections, "bible": self.bible.to_dict()}


def make_brief(*, topic: Any, audience: Any = "", style: Any = "", language: Any = "auto",
               total_words: Any = 3000, sections: Any = 0, bible: Any = None) -> Brief:
    """A Brief from untrusted input (UI fields or an API client); errors name the field."""
    texts = {}
    for name, value in (("topic", topic), ("audience", audience), ("style", style), ("language", language)):
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise ParamError(name, f"expected text, got {type(value).__name__}")
        if len(value) > 4000:
            raise ParamError(name, f"at most 4000 characters, got {len(value)}")
        texts[name] = value.strip()
    if not texts["topic"]:
        raise EmptyPromptError("The brief needs a topic: what should the document be about?")
    total = _whole(total_words, "total_words", MIN_TOTAL_WORDS, MAX_TOTAL_WORDS)
    count = _whole(sections or 0, "sections", 0, MAX_SECTIONS)
    return Brief(topic=texts["topic"], audience=texts["audience"], style=texts["style"],
                 language=texts["language"] or "auto", total_words=total, sections=count, bible=make_bible(bible))


def _whole(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise ParamError(name, f"expected a whole number, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if not isinstance(value, int):
        raise ParamError(name, f"expected a whole number, got {value!r}")
    if not low <= value <= high:
        raise ParamError(name, f"must be between {low} and {high}, got {value}")
    return value


def brief_from_dict(data: Any) -> Brief:
    if not isinstance(data, dict):
        raise ParamError("brief", f"expected an object with a topic, got {type(data).__name__}")
    # "bible" is optional: briefs saved before the story bible existed load with an empty one.
    unknown = set(data) - {"topic", "audience", "style", "language", "total_words", "sections", "bible"}
    if unknown:
        raise ParamError("brief", f"unknown field(s) {sorted(unknown)}")
    return make_brief(**data)


# ---------------------------------------------------------------------------------------------
# Step 1: the outline

def outline_messages(brief: Brief) -> Messages:
    messages = render(
        "outline", topic=brief.topic, audience=brief.audience, style=brief.style, language=brief.language,
        total_words=brief.total_words, sections=brief.sections or "",
    )
    return with_bible(messages, brief.bible, chinese=brief.chinese)  # the premise and facts shape the plan too


def outline_from_reply(brief: Brief, reply: str) -> Outline:
    """Parse the model's plan; targets are completed and scaled to the brief's total.

    Raises writing.compose.outline.OutlineParseError (with .raw = reply) when no sections are found.
    """
    return parse_outline(reply, total_words=brief.total_words, title=brief.topic)


def outline_max_new_tokens(brief: Brief) -> int:
    """Room for a plan of one line per 300 words plus points (AgentWrite plans are short)."""
    sections = brief.sections or max(2, math.ceil(brief.total_words / 400))
    return min(2048, 96 + 80 * sections)


# ---------------------------------------------------------------------------------------------
# Step 2: section prompts within a token budget

@dataclass(frozen=True)
class PromptBudget:
    """How big one section's prompt may get. The summary and tail shrink to fit; the plan never does."""

    prompt_tokens: int = SECTION_PROMPT_TOKENS
    tail_chars: int = 1500  # of the previous section (or of this section, when continuing)
    summary_chars: int = 2400
    lead_chars: int = 240  # per earlier section in the summary


OMITTED = "(left out to fit the context budget)"


def estimate_tokens(messages: Sequence[dict[str, Any]]) -> int:
    """A conservative token count when no tokenizer is at hand: Qwen's BPE averages ~4 characters
    a token in English and ~1.4 Chinese characters a token; count 3 and 1, plus the ChatML markers."""
    total = 3
    for message in messages:
        text = str(message.get("content", ""))
        ascii_chars = sum(1 for ch in text if ord(ch) < 128)
        total += 5 + math.ceil(ascii_chars / 3) + (len(text) - ascii_chars)
    return total


def tokens_per_word(brief: Brief) -> float:
    return TOKENS_PER_WORD["zh" if brief.chinese else "en"]


def section_max_new_tokens(brief: Brief, words: int) -> int:
    return max(32, math.ceil(words * tokens_per_word(brief) * SECTION_TOKEN_SLACK) + 32)


def plan_text(outline: Outline) -> str:
    """The whole plan as it appears in every section prompt (titles, points, targets; never texts or locks,
    so writing or locking a section does not change the shared prefix)."""
    plain = Outline(title=outline.title, sections=tuple(
        Section(title=s.title, points=s.points, target=s.target) for s in outline.sections))
    return render_outline(plain).strip()


_SENTENCE_END = re.compile(r"(?<=[.!?。！？…])[\"'”’)）]*\s*")


def lead(text: str, max_chars: int) -> str:
    """The first sentence of a text (at most max_chars, cut at a word boundary)."""
    flat = " ".join(text.split())
    if not flat:
        return ""
    match = _SENTENCE_END.search(flat)
    first = flat[: match.end()].strip() if match else flat
    if len(first) <= max_chars:
        return first
    cut = flat[:max_chars]
    space = cut.rfind(" ")
    return (cut[:space] if space > max_chars // 2 else cut).rstrip() + "…"


def tail(text: str, max_chars: int) -> str:
    """The end of a text (at most max_chars), starting at a sentence or word boundary when there is one."""
    text = text.strip()
    if max_chars <= 0:
        return ""
    if len(text) <= max_chars:
        return text
    window = text[-max_chars:]
    third = len(window) // 3
    match = _SENTENCE_END.search(window[:third])
    if match and match.end() < len(window):
        return window[match.end():].lstrip()
    space = window.find(" ", 0, third)
    if space != -1:
        return window[space + 1:]
    return window  # CJK text has no spaces: any character is a boundary


def summarize_before(outline: Outline, index: int, *, max_chars: int, lead_chars: int = 240) -> str:
    """An extractive summary of sections before `index`: each one's title and first sentence.

    Extractive, not a model call: on a 2-core CPU one more generation per section would cost as much
    as writing a short section, and the first sentences of a planned section state what it covered.
    The newest sections are kept whole first; older ones shrink to their titles, then to a count.
    """
    earlier = outline.sections[:index]
    if not earlier or max_chars <= 0:
        return ""
    lines: list[str] = []
    used = 0
    dropped = 0
    for number in range(len(earlier), 0, -1):
        section = earlier[number - 1]
        first = lead(section.text, lead_chars)
        full = f"{number}. {section.title}: {first}" if first else f"{number}. {section.title}"
        short = f"{number}. {section.title}"
        for candidate in (full, short):
            if used + len(candidate) + 1 <= max_chars:
                lines.append(candidate)
                used += len(candidate) + 1
                break
        else:
            dropped = number
            break
    lines.reverse()
    if dropped:
        lines.insert(0, f"(sections 1-{dropped} left out)" if dropped > 1 else "(section 1 left out)")
    return "\n".join(lines)


def section_messages(brief: Brief, outline: Outline, index: int, *, mode: str = "write", budget_tokens: int,
                     count_tokens: TokenCounter = estimate_tokens, budget: PromptBudget | None = None) -> Messages:
    """The prompt for section `index` ("write" it anew or "continue" its text), at most budget_tokens.

    The system message (brief + plan) comes FIRST and is byte-identical for every section and both
    modes, so an engine with prefix KV reuse (writing/engines/local.py) computes it once per document. The
    summary and the tail change per section and sit in the user message after it; they shrink until
    the prompt fits. If the brief and plan alone do not fit, that is a BudgetError, never a silent cut.
    """
    if mode not in ("write", "continue"):
        raise ParamError("mode", f"expected 'write' or 'continue', got {mode!r}")
    if not 0 <= index < len(outline.sections):
        raise ParamError("index", f"no section {index}; the outline has {len(outline.sections)} section(s)")
    budget = budget or PromptBudget()
    section = outline.sections[index]
    bible = render_bible(brief.bible, chinese=brief.chinese)
    common = dict(
        topic=brief.topic, audience=brief.audience, style=brief.style, language=brief.language,
        total_words=brief.total_words, bible=bible, outline=plan_text(outline), number=index + 1,
        title=section.title, points=list(section.points), target=section.target,
    )
    # The bible is part of the fixed prefix: quoted whole, never shrunk like the summary and the tail.
    fixed_parts = "the brief, the story bible and the outline" if bible else "the brief and the outline"
    # Characters before tokens: a brief + plan that no tokenizer could fit is refused without counting.
    fixed = sum(len(part) for part in (brief.topic, brief.audience, brief.style, bible, common["outline"],
                                       *section.points))
    if fixed > plan_char_limit(budget_tokens):
        raise BudgetError(
            f"{fixed_parts.capitalize()} alone have {fixed:,} characters, more than a prompt budget of "
            f"{budget_tokens} tokens can hold. Shorten {_what_to_shorten(bool(bible))}, or start the studio with a "
            f"larger --context.")
    if mode == "write":
        previous = outline.sections[index - 1].text if index > 0 else ""
        source, first_section = previous, index == 0
    else:
        source, first_section = section.text, False

    def build(summary_chars: int, tail_chars: int) -> Messages:
        summary = summarize_before(outline, index, max_chars=summary_chars, lead_chars=budget.lead_chars)
        end = tail(source, tail_chars)
        if index > 0 and not summary:
            summary = OMITTED
        if mode == "write":
            if end or first_section:
                previous_tail = end
            else:
                previous_tail = OMITTED if source.strip() else "(not written yet)"
            return render("section", **common, summary=summary, previous_tail=previous_tail)
        return render("section_continue", **common, summary=summary, written=count_words(section.text),
                      section_tail=end or OMITTED)

    summary_chars, tail_chars = budget.summary_chars, budget.tail_chars
    # Floors keep the last section's title and a few sentences of continuity as long as possible.
    summary_floor, tail_floor = min(summary_chars, 240), min(tail_chars, 360)
    while True:
        messages = build(summary_chars, tail_chars)
        used = count_tokens(messages)
        if used <= budget_tokens:
            return messages
        if summary_chars == 0 and tail_chars == 0:
            raise BudgetError(
                f"{fixed_parts.capitalize()} alone take {used} tokens, above the prompt budget of {budget_tokens} "
                f"for one section. Shorten {_what_to_shorten(bool(bible))}, lower the section's word target, or "
                f"start the studio with a larger --context."
            )
        if summary_chars <= summary_floor and tail_chars <= tail_floor:
            summary_chars = tail_chars = 0  # last resort: the plan alone
            continue
        # Shrink in proportion to the overshoot, the summary faster than the tail (continuity matters most).
        ratio = budget_tokens / used
        if summary_chars > summary_floor:
            summary_chars = max(summary_floor, int(summary_chars * ratio * 0.8))
        else:
            tail_chars = max(tail_floor, int(tail_chars * ratio * 0.9))  # strictly smaller: ratio < 1


def _what_to_shorten(has_bible: bool) -> str:
    return "the story bible, the key points or the outline" if has_bible else "the key points or the outline"


# ---------------------------------------------------------------------------------------------
# Step 3: expansion

def engine_streamer(engine: Engine, cancel: threading.Event | None = None) -> StreamFn:
    """A StreamFn over a bare Engine (tests, CLI); the UI passes its own stream_reply-based one."""

    def stream(messages: Messages, params: SamplingParams) -> Iterator[tuple[str, GenerationStats]]:
        stats = GenerationStats()
        text = ""
        for piece in engine.stream(messages, params, cancel, stats=stats):
            text += piece
            yield text, stats
        yield text, stats

    return stream


@dataclass(frozen=True)
class Progress:
    """One step of a running expansion: the whole outline with section `index` at `text` so far."""

    outline: Outline
    index: int
    text: str
    stats: GenerationStats | None = None
    finished: bool = False  # this section is complete (or stopped: see stopped)
    stopped: bool = False  # the writer pressed Stop; the partial text is kept in `outline`
    rebalanced: Rebalance | None = None  # expand() moved the pending targets after this section (in `outline`)


def clean_section_text(text: str, title: str) -> str:
    """Drop a heading the model put above the body although told not to (the document adds its own):
    a `#` heading line, or a bold-only first line naming the section. Read with compose.markdown, not a
    regex: the old pattern's `\\s+[^\\n]*\\s*` overlapped (issue #13)."""
    stripped = text.lstrip()
    first, newline, rest = stripped.partition("\n")
    line = first.strip()
    if heading(line) is not None:
        return rest.lstrip()
    if len(line) >= 4 and line.startswith("**") and line.endswith("**"):
        if title.strip().casefold() in line.replace("#", "").replace("*", "").strip().casefold():
            return rest.lstrip()
    return stripped


def _join(existing: str, addition: str) -> str:
    """Continue a section: keep its text byte-for-byte and add the new words after it."""
    addition = addition.lstrip()
    if not existing.strip() or not addition:
        return existing + addition
    if existing[-1].isspace():
        return existing + addition
    cjk_end = is_chinese(existing[-1])
    return existing + ("" if cjk_end else " ") + addition


def write_section(stream: StreamFn, brief: Brief, outline: Outline, index: int, params: SamplingParams, *,
                  mode: str = "write", context: int, count_tokens: TokenCounter = estimate_tokens,
                  budget: PromptBudget | None = None, force: bool = False,
                  max_section_tokens: int | None = None) -> Iterator[Progress]:
    """Write (or continue) one section, streaming. Every other section stays byte-identical.

    A locked section is refused unless force=True (the writer unlocks it to rewrite it).
    max_section_tokens caps the new tokens sized from the word target (quick drafts, tests).
    """
    if not 0 <= index < len(outline.sections):
        raise ParamError("index", f"no section {index}; the outline has {len(outline.sections)} section(s)")
    section = outline.sections[index]
    if section.locked and not force:
        raise StudioError(f"Section {index + 1} ({section.title!r}) is locked: unlock it to rewrite it.")
    if mode == "continue":
        missing = max(section.target - count_words(section.text), section.target // 4, 30)
        new_tokens = section_max_new_tokens(brief, missing)
    else:
        new_tokens = section_max_new_tokens(brief, section.target)
    new_tokens = min(new_tokens, max(32, context // 2))  # leave the prompt at least half the context
    if max_section_tokens is not None:
        new_tokens = max(1, min(new_tokens, max_section_tokens))
    budget_tokens = min((budget or PromptBudget()).prompt_tokens, context - new_tokens)
    messages = section_messages(brief, outline, index, mode=mode, budget_tokens=budget_tokens,
                                count_tokens=count_tokens, budget=budget)
    section_params = params.merged(max_new_tokens=new_tokens)
    base = section.text if mode == "continue" else ""
    text, stats = base, None
    current = outline
    for raw, stats in stream(messages, section_params):
        piece = raw if mode == "continue" else clean_section_text(raw, section.title)
        text = _join(base, piece) if mode == "continue" else piece
        current = edit_section(outline, index, text=text)
        yield Progress(current, index, text, stats)
    stopped = stats is not None and stats.finish_reason == "cancelled"
    yield Progress(current, index, text, stats, finished=True, stopped=stopped)


def sections_to_write(outline: Outline, *, rewrite: bool = False) -> list[int]:
    """Unlocked sections, in order; without rewrite only the empty ones (a rerun resumes, as AgentWrite)."""
    return [i for i, s in enumerate(outline.sections) if not s.locked and (rewrite or not s.text.strip())]


def expand(stream: StreamFn, brief: Brief, outline: Outline, params: SamplingParams, *, context: int,
           count_tokens: TokenCounter = estimate_tokens, budget: PromptBudget | None = None,
           rewrite: bool = False, should_stop: Callable[[], bool] | None = None,
           max_section_tokens: int | None = None, rebalance_targets: bool = True) -> Iterator[Progress]:
    """Write the sections one by one (locked ones skipped), streaming each. Stop keeps what is written.

    rebalance_targets (default on): when a section ends over or under its target, the sections still to
    write in this run (unlocked, so never a locked or an untouched written one) absorb the difference so the
    document's total holds (writing/compose/budget.py). The section's final Progress carries the change
    (`rebalanced`, with `describe()` for the UI) and its outline the new targets, before the next section
    starts. A stopped section changes nothing."""
    current = outline
    order = sections_to_write(outline, rewrite=rewrite)
    for position, index in enumerate(order):
        if should_stop is not None and should_stop():
            return
        last: Progress | None = None
        for step in write_section(stream, brief, current, index, params, context=context,
                                  count_tokens=count_tokens, budget=budget,
                                  max_section_tokens=max_section_tokens):
            if last is not None:
                yield last
            last = step
        if last is None:
            return
        if rebalance_targets and last.finished and not last.stopped:
            change = rebalance(last.outline, index, pending=order[position + 1:])
            if change is not None:
                last = replace(last, outline=change.outline, rebalanced=change)
        yield last
        current = last.outline
        if last.stopped or (should_stop is not None and should_stop()):
            return


# ---------------------------------------------------------------------------------------------
# The estimate before expansion

@dataclass(frozen=True)
class Estimate:
    sections: int
    words: int
    new_tokens: int
    prompt_tokens: int
    decode_tps: float
    prefill_tps: float
    measured: bool  # speeds come from a real run (else the defaults for Qwen3-4B on 2 CPU cores)

    @property
    def seconds(self) -> float:
        return self.new_tokens / self.decode_tps + self.prompt_tokens / self.prefill_tps

    def describe(self) -> str:
        if self.sections == 0:
            return "Nothing to write: every section is written or locked."
        where = "measured on the last run" if self.measured else "a default estimate: nothing measured yet"
        return (
            f"{self.sections} section(s), about {self.words:,} words: ~{self.new_tokens:,} new tokens and "
            f"~{self.prompt_tokens:,} prompt tokens. About {_duration(self.seconds)} at "
            f"{self.decode_tps:.1f} tok/s ({where})."
        )


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def estimate(brief: Brief, outline: Outline, *, stats: GenerationStats | None = None, rewrite: bool = False,
             count_tokens: TokenCounter = estimate_tokens, budget: PromptBudget | None = None) -> Estimate:
    """Expected new tokens and time for expanding the outline, at the last measured speed if any.

    Prompt tokens are counted in full per section: with prefix KV reuse the real prefill is lower.
    """
    indices = sections_to_write(outline, rewrite=rewrite)
    words = sum(outline.sections[i].target for i in indices)
    new_tokens = math.ceil(words * tokens_per_word(brief))
    budget = budget or PromptBudget()
    prompt_tokens = 0
    if indices:
        one = count_tokens(render("section", topic=brief.topic, audience=brief.audience, style=brief.style,
                                  language=brief.language, total_words=brief.total_words,
                                  bible=render_bible(brief.bible, chinese=brief.chinese),
                                  outline=plan_text(outline), summary="", previous_tail="", number=1,
                                  title=outline.sections[indices[0]].title, points="", target=1))
        # Plus the summary and tail, which grow to their caps after the first sections.
        per_section = min(budget.prompt_tokens, one + (budget.summary_chars + budget.tail_chars) // 4)
        prompt_tokens = per_section * len(indices)
    decode, prefill, measured = DEFAULT_DECODE_TPS, DEFAULT_PREFILL_TPS, False
    if stats is not None and stats.tokens_per_second > 0:
        decode, measured = stats.tokens_per_second, True
        ttft = stats.time_to_first_token
        if ttft and ttft > 0 and stats.prompt_tokens:
            prefill = stats.prompt_tokens / ttft
    return Estimate(sections=len(indices), words=words, new_tokens=new_tokens, prompt_tokens=prompt_tokens,
                    decode_tps=decode, prefill_tps=prefill, measured=measured)


# ---------------------------------------------------------------------------------------------
# The document

@dataclass(frozen=True)
class SectionReport:
    number: int
    title: str
    target: int
    words: int
    score: float  # LongBench-Write length score S_l (0 when nothing is written)
    locked: bool


@dataclass(frozen=True)
class DocumentReport:
    sections: list[SectionReport] = field(default_factory=list)
    words: int = 0
    target: int = 0
    score: float = 0.0  # the whole document against the whole target (low while sections are unwritten)
    written_target: int = 0  # the targets of the sections written so far
    written_score: float = 0.0  # the written sections together against their targets

    @property
    def partial(self) -> bool:
        written = sum(1 for r in self.sections if r.words > 0)
        return 0 < written < len(self.sections)

    def rows(self) -> list[list[Any]]:
        rows = [[r.number, r.title, r.target, r.words, round(r.score, 1), "yes" if r.locked else ""]
                for r in self.sections]
        if self.partial:  # how the written part is doing, which the whole-document score cannot say yet
            rows.append(["", "Written so far", self.written_target, self.words, round(self.written_score, 1), ""])
        rows.append(["", "Document", self.target, self.words, round(self.score, 1), ""])
        return rows


REPORT_HEADERS = ["#", "section", "target", "words", "length score", "locked"]


def report(outline: Outline) -> DocumentReport:
    sections = []
    for number, section in enumerate(outline.sections, 1):
        words = count_words(section.text)
        sections.append(SectionReport(number, section.title, section.target, words,
                                      length_score(section.target, words), section.locked))
    words = sum(r.words for r in sections)
    target = outline.total_target
    written_target = sum(r.target for r in sections if r.words > 0)
    return DocumentReport(sections, words, target, length_score(target, words) if target > 0 else 0.0,
                          written_target, length_score(written_target, words) if written_target > 0 else 0.0)


def assemble(outline: Outline) -> str:
    """The document as Markdown: `# title`, then `## section title` and its text for each section."""
    parts = [f"# {outline.title}"] if outline.title.strip() else []
    for section in outline.sections:
        parts.append(f"## {section.title}")
        if section.text.strip():
            parts.append(_close_fences(section.text.strip()))
    return "\n\n".join(parts) + "\n"


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def _close_fences(text: str) -> str:
    """Close a code fence a section left open (a stopped run, a model slip): in Markdown it would turn
    every later section, headings included, into code, and the .docx export would lose them."""
    open_fence = None
    for line in text.splitlines():
        found = _FENCE.match(line)
        if found is None:
            continue
        mark = found.group(1)
        if open_fence is None:
            open_fence = mark
        elif mark[0] == open_fence[0] and len(mark) >= len(open_fence) and not line.strip()[len(mark):].strip():
            open_fence = None
    return text if open_fence is None else f"{text}\n{open_fence}"


def export_markdown(outline: Outline, directory: Path, *, name: str | None = None) -> Path:
    """Write the document to DIRECTORY/<slug>.md (atomically) and return the path."""
    directory.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^\w\-]+", "-", (name or outline.title or "document").strip().lower()).strip("-")[:60]
    path = directory / f"{slug or 'document'}.md"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(assemble(outline), encoding="utf-8")
    tmp.replace(path)
    return path


def sections_from_document(text: str, outline: Outline) -> Outline | None:
    """Section texts read back from an assembled document (edited in the Library) whose `## ` headings are
    still the outline's section titles, in order; None when they are not."""
    parts = re.split(r"(?m)^## (.*)$", text)
    if [title.strip() for title in parts[1::2]] != [s.title.strip() for s in outline.sections]:
        return None
    bodies = [body.strip() for body in parts[2::2]]
    return replace(outline, sections=tuple(replace(s, text=body) for s, body in zip(outline.sections, bodies,
                                                                                      strict=True)))
