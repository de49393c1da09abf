"""The studio's one Markdown reader: CommonMark plus tables, parsed by markdown-it-py.

    parse(text)    -> markdown-it tokens, inline markup parsed (the .docx export walks them)
    heading(line)  -> (level, text) for an ATX heading line ("## 1. Intro ##"), else None
    fences(text)   -> the fenced code blocks (offsets, info string, body, closed or still streaming)

Why a parser and not regexes (issue #13): a pattern such as `^(#{1,6})\\s+(.*?)\\s*#*\\s*$` has
overlapping quantifiers and backtracks polynomially on a long run of spaces, so one 4 KB heading
line held the GIL for minutes and froze every writer. markdown-it-py scans each line a bounded
number of times, and its table rule caps the cells it pads, so a parse is linear in the input;
tests/test_linear_parsers.py checks that on adversarial inputs for every parser built on this.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from markdown_it import MarkdownIt
from markdown_it.token import Token

# markdown-it-py pads a table's short rows with empty cells, up to MAX_AUTOCOMPLETED_CELLS (65,536) per
# table: a 1.5 KB table under a 256-column header became 65,536 cells, so 30 KB of such tables took 40 s
# to parse and 68 s to export (issue #13). The table rule reads this module constant on every row; at
# 1,024 padded cells per table the output stays within a few cells per input character, while a real
# table (a few dozen cells, some left blank) is far below it. No other code in this process uses
# markdown-it-py (gradio renders Markdown in the browser), so the tighter bound is ours alone.
_table_rule = importlib.import_module("markdown_it.rules_block.table")  # the module, not its `table` function
_table_rule.MAX_AUTOCOMPLETED_CELLS = min(_table_rule.MAX_AUTOCOMPLETED_CELLS, 1024)


def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table")


# Blocks and inline markup (bold, italic, code spans): what the .docx export needs.
_FULL = _markdown()
# Blocks only, no tables: headings and fences, whose inline text callers want as written (with its `**`).
# Fences and ATX headings interrupt a table as they do a paragraph, so tables change neither; skipping
# them and the inline pass keeps the per-chunk fence split cheap while a reply streams (a table under a
# 6,000-column header otherwise costs ~1 s: markdown-it pads short rows up to 65,536 cells).
_BLOCKS = MarkdownIt("commonmark").disable("inline")


def parse(text: str) -> list[Token]:
    """Block tokens with `.map` (line ranges) and inline tokens whose `.children` hold the markup."""
    return _FULL.parse(text)


def heading(line: str) -> tuple[int, str] | None:
    """(level 1-6, text) of an ATX heading line, its closing `#`s and outer spaces removed; else None.

    Only the first line of `line` is read. Inline markup stays as written ("## **Intro**" -> "**Intro**").
    """
    line = line.split("\n", 1)[0]
    if not line.lstrip(" ").startswith("#"):  # most lines: no parse needed
        return None
    tokens = _BLOCKS.parse(line)
    if len(tokens) >= 2 and tokens[0].type == "heading_open" and tokens[0].markup.startswith("#"):
        return int(tokens[0].tag[1:]), tokens[1].content
    return None


def line_starts(text: str) -> list[int]:
    """Offset of each line's first character, line breaks counted as markdown-it counts them
    (\\r\\n, \\r and \\n), so token `.map` line numbers index this list."""
    starts = [0]
    i, size = 0, len(text)
    while True:
        cr, lf = text.find("\r", i), text.find("\n", i)
        if cr < 0 and lf < 0:
            return starts
        if cr < 0 or 0 <= lf < cr:
            i = lf + 1
        else:
            i = cr + 2 if cr + 1 < size and text[cr + 1] == "\n" else cr + 1
        starts.append(i)


@dataclass(frozen=True)
class Fence:
    start: int  # offset of the opening fence line
    end: int  # offset just after the closing fence line (its line break excluded), or of the text's end
    info: str  # the info string ("python title=x"), stripped
    body: str  # the code, without the container's indentation; ends with a line break when non-empty
    closed: bool  # False while the block is still streaming (no closing fence yet)


def fences(text: str) -> list[Fence]:
    """Every fenced code block, at any depth (in lists and quotes too), in order. Linear in len(text):
    one block parse, one pass for line offsets."""
    found: list[Fence] = []
    starts: list[int] | None = None
    for token in _BLOCKS.parse(text):
        if token.type != "fence" or token.map is None:
            continue
        if starts is None:
            starts = line_starts(text)
        first, after = token.map
        # markdown-it's map runs to the line after the closing fence when there is one; an unclosed
        # fence's map ends after its last body line (the text's last line may lack its "\n").
        body_lines = token.content.count("\n") + (not token.content.endswith("\n") and token.content != "")
        closed = after - first - 1 - body_lines >= 1
        last = after - 1
        end = starts[last + 1] if last + 1 < len(starts) else len(text)
        while end > starts[last] and text[end - 1] in "\r\n":
            end -= 1
        found.append(Fence(start=starts[first], end=end, info=token.info.strip(), body=token.content,
                           closed=closed))
    return found
