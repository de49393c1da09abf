"""Every size limit of the studio, in one place (README, Security, states them).

The rule: a request is bounded BEFORE any expensive work. Every check here is len() arithmetic on
what arrived, done before any tokenising, parsing, word counting or copying (after the rate limit,
writing/ui/guard.py). A text over a limit is refused with a message naming the limit, never
shortened silently.

Where the numbers come from:
- The context budget. The model sees at most `context` tokens, and no tokenizer packs more than
  CHARS_PER_TOKEN_CAP characters into a token of real text, so a prompt over `prompt_char_limit`
  could never fit: it is refused without being tokenised.
- The chat history holds what the model still sees plus older turns that stay on screen: at most
  HISTORY_CONTEXTS contexts of characters, and no more messages than a context could ever hold
  (every message costs at least MIN_TOKENS_PER_MESSAGE tokens of chat markers).
- An outline is quoted in every section's prompt, so its plan (titles and points) has to fit a
  prompt; its counts are bounded by the long-form brief's own bounds.
- A draft is one document: DRAFT_MAX_CHARS is well above the longest document the long-form tab
  writes (50,000 words, about 400,000 characters) and the longest chat history allowed.
- Each user's drafts share a storage quota (--quota-mb, env STUDIO_QUOTA_MB), so one user cannot
  fill the disk that everyone's autosave needs.
"""

from __future__ import annotations

import os

from writing.errors import ParamError

CHARS_PER_TOKEN_CAP = 16  # no tokenizer averages more characters per token than this on real text
MAX_PROMPT_CHARS = 2_000_000  # whatever the context: beyond this even counting tokens is too slow

MIN_TOKENS_PER_MESSAGE = 4  # ChatML: <|im_start|>, the role, a newline, <|im_end|>
HISTORY_CONTEXTS = 4  # a chat may keep this many contexts of older turns on screen (the model sees one)

SECTION_PROMPT_TOKENS = 3072  # one long-form section's prompt (brief + plan + summary + tail), at most
OUTLINE_MAX_SECTIONS = 100  # a brief asks for at most 40; editing the table may add some
OUTLINE_MAX_POINTS = 20  # key points per section
OUTLINE_TITLE_MAX = 300  # characters of a document or section title
OUTLINE_POINT_MAX = 1_000  # characters of one key point
OUTLINE_TEXT_MAX = 400_000  # characters of one written section (its word target is at most 20,000 words)

# Background document jobs (writing/workspace/jobs.py): a user's queued, running or paused jobs at once (each one
# is a whole document for the one model: more would only wait), and how many ended jobs are kept (each row holds
# a copy of its outline; the document itself is a draft and stays).
JOBS_LIVE_PER_USER = 2
JOBS_KEPT_PER_USER = 20

# Comparing two versions (writing/compose/diff.py): each side at most DIFF_MAX_CHARS (a long-form section is at
# most OUTLINE_TEXT_MAX; a blog post is far shorter). Words are aligned inside a changed stretch of paragraphs
# only when both sides have at most DIFF_HUNK_TOKENS tokens and the comparison's DIFF_WORK is not spent (difflib
# is quadratic in the worst case: repeated words); otherwise a stretch is shown as replaced whole, so a
# comparison stays near-linear in the texts' length.
DIFF_MAX_CHARS = 500_000
DIFF_HUNK_TOKENS = 2_000
DIFF_WORK = 1_000_000  # pairs of equal words difflib may align in one comparison, all stretches together
# Rewriting a selected passage in place (writing/compose/rewrite.py): the passage, the text it sits in, and how
# much of the text around it the prompt quotes on each side for context.
REWRITE_MAX_CHARS = 8_000
REWRITE_TEXT_MAX = OUTLINE_TEXT_MAX  # the whole text the passage sits in (it is re-sent as the rewrite streams)
REWRITE_CONTEXT_CHARS = 1_500

# How often a background long-form job saves the section it is writing (progress and the document draft;
# always at a section's end too): a crash loses at most this much streamed text (`--job-save-seconds`).
JOB_SAVE_EVERY_S = 3.0
JOB_SAVE_EVERY_RANGE_S = (0.05, 3600.0)
# Earlier texts kept per draft part (a blog post, one long-form section), the newest; they count in the quota.
REVISIONS_KEEP_DEFAULT = 50
REVISIONS_KEEP_ENV = "STUDIO_REVISIONS_KEEP"
REVISIONS_KEEP_MAX = 10_000
# A story bible (writing/compose/bible.py) is quoted whole in every section's prompt, never cut: its size is
# capped per field and in all, and a bible that does not fit the section budget with the plan is a BudgetError.
BIBLE_FIELD_MAX = 2_000  # characters of one named field (premise, style rules, glossary, ...)
BIBLE_MAX_CHARS = 6_000  # characters of all fields together (~1,500 English tokens at most)
STYLESHEET_NAME_MAX = 80  # characters of a style sheet's name
STYLESHEETS_PER_USER = 200  # saved style sheets per user (each at most BIBLE_MAX_CHARS)
SUGGEST_REPLY_MAX = 20_000  # characters of a "Suggest from text" reply the parser reads
SUGGEST_ENTRIES_MAX = 60  # proposed entries shown for one suggestion

DRAFT_MAX_CHARS = 4_000_000  # one draft's text; its metadata (e.g. a chat's messages) gets the same again
# One HTTP request body, checked before gradio reads it (writing/ui/bodylimit.py): a whole draft, JSON-escaped
# at worst 6 bytes a character (\u00XX), plus 1 MiB for the rest of the request.
REQUEST_MAX_BYTES = 6 * DRAFT_MAX_CHARS + (1 << 20)
DEFAULT_QUOTA_MB = 256  # every user's drafts together (text + metadata, UTF-8, the trash included)
QUOTA_ENV = "STUDIO_QUOTA_MB"


def prompt_char_limit(context: int) -> int:
    """The most characters a prompt for a `context`-token model can have before tokenising it is pointless."""
    return min(MAX_PROMPT_CHARS, CHARS_PER_TOKEN_CAP * max(int(context), 16))


def history_message_limit(context: int) -> int:
    """The most messages a chat history may have: more than a context could ever show the model."""
    return max(16, int(context) // MIN_TOKENS_PER_MESSAGE)


def history_char_limit(context: int) -> int:
    """The most characters a chat history may have (what the model sees plus older turns on screen)."""
    return min(HISTORY_CONTEXTS * prompt_char_limit(context), DRAFT_MAX_CHARS // 2)


def plan_char_limit(prompt_tokens: int) -> int:
    """The most characters an outline's plan (titles and points) may have to fit a section prompt."""
    return CHARS_PER_TOKEN_CAP * max(int(prompt_tokens), 16)


def check_chars(value: str, limit: int, *, field: str) -> str:
    """`value` if it has at most `limit` characters, else ParamError naming the field and the limit."""
    if len(value) > limit:
        raise ParamError(field, f"at most {limit:,} characters, got {len(value):,}")
    return value


def check_count(items: list, limit: int, *, field: str, what: str) -> list:
    if len(items) > limit:
        raise ParamError(field, f"at most {limit:,} {what}, got {len(items):,}")
    return items


def quota_bytes_from_env(default_mb: float = DEFAULT_QUOTA_MB) -> int | None:
    """STUDIO_QUOTA_MB (or the default) in bytes; 0 means no quota (None)."""
    raw = os.environ.get(QUOTA_ENV, "").strip()
    return quota_bytes(float(raw) if raw else default_mb)


def quota_bytes(megabytes: float) -> int | None:
    if megabytes != megabytes or megabytes < 0:  # NaN or negative
        raise ValueError(f"the storage quota must be >= 0 MB (0 = no quota), got {megabytes}")
    return None if megabytes == 0 else int(megabytes * 1024 * 1024)
