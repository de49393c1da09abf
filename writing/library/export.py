"""Export a draft as Markdown (.md, byte-for-byte the draft) or Word (.docx via python-docx).

Titles are data, never paths: `safe_filename` turns any title (traversal strings, absolute paths,
NUL, Windows device names, 10k characters) into one harmless file name, keeping CJK and accents.
The .docx conversion understands the Markdown the model writes: `#` headings become Word headings,
bullet and numbered lists, fenced code blocks (monospace), quotes, pipe tables, **bold**, *italic*, `code`.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from writing.errors import StudioError

NAME_MAX_BYTES = 120  # stem limit in UTF-8 bytes: far below every filesystem's 255, room for " (2).docx"
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
                     *(f"COM{i}" for i in range(10)), *(f"LPT{i}" for i in range(10)),
                     "COM¹", "COM²", "COM³", "LPT¹", "LPT²", "LPT³"}
_UNSAFE = re.compile(r'[<>:"/\\|?*]')  # path separators and characters Windows forbids
# Characters XML 1.0 (and so Word) cannot hold: C0 controls except tab/newline/CR, surrogates, U+FFFE/FFFF.
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def safe_filename(title: str, ext: str, *, fallback: str = "draft") -> str:
    """A single path component named after `title`, safe on Linux, macOS and Windows, ending in `.ext`."""
    ext = ext.lstrip(".")
    if not re.fullmatch(r"[A-Za-z0-9]{1,8}", ext):
        raise StudioError(f"bad export extension {ext!r}")
    name = unicodedata.normalize("NFC", str(title))
    # Control characters (NUL included) and format characters (bidi overrides) go; separators become '-'.
    name = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") else ch for ch in name)
    name = _UNSAFE.sub("-", name)
    name = re.sub(r"\s+", " ", name)
    name = re.sub(r"-{2,}", "-", name)
    name = name.strip(" .-")  # no hidden files, no '..', no trailing dot/space (Windows drops them)
    name = _truncate_utf8(name, NAME_MAX_BYTES).rstrip(" .-")
    if not name:
        name = fallback
    if name.split(".")[0].strip().upper() in _WINDOWS_RESERVED:
        name = f"_{name}"
    return f"{name}.{ext}"


def _truncate_utf8(text: str, limit: int) -> str:
    encoded = text.encode("utf-8", errors="replace")
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", errors="ignore")  # never cut inside a character


def export_markdown(title: str, content: str, folder: Path) -> Path:
    """Write the draft's text exactly (UTF-8, no newline translation) to folder/<safe title>.md."""
    path = Path(folder) / safe_filename(title, "md")
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(content)
    return path


def export_docx(title: str, content: str, folder: Path) -> Path:
    """Write the draft as a Word document to folder/<safe title>.docx."""
    path = Path(folder) / safe_filename(title, "docx")
    markdown_to_docx(content, title=title).save(str(path))
    return path


def xml_safe(text: str) -> str:
    return _XML_BAD.sub("\ufffd", text)


# --- Markdown -> Word ------------------------------------------------------------------------------

_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
_BULLET = re.compile(r"^(\s*)[-*+]\s+(.*)$")
_NUMBERED = re.compile(r"^(\s*)\d{1,9}[.)]\s+(.*)$")
_QUOTE = re.compile(r"^\s*>\s?(.*)$")
_RULE = re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
# Emphasis only at word edges, so snake_case names and 2*3*4 stay as written.
_INLINE = re.compile(r"(\*\*[^*]+?\*\*|(?<!\w)__[^_]+?__(?!\w)|`[^`]+`|(?<![\w*])\*[^*\s][^*]*?\*(?![\w*])"
                     r"|(?<!\w)_[^_\s][^_]*?_(?!\w))")
MONO = "Courier New"


def markdown_to_docx(markdown: str, *, title: str = ""):
    """Build a python-docx Document from Markdown text (a pragmatic subset, lossless for plain text)."""
    import docx  # python-docx; imported here so the store and the CLI stay light

    document = docx.Document()
    document.core_properties.title = xml_safe(title)[:255]
    lines = xml_safe(markdown).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if title and not any(_HEADING.match(line) for line in lines[:3]):
        document.add_heading(xml_safe(title), level=0)
    paragraph: list[str] = []

    def flush() -> None:
        if paragraph:
            _add_inline(document.add_paragraph(), " ".join(s.strip() for s in paragraph))
            paragraph.clear()

    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            flush()
            marker, code = fence.group(1), []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(marker):
                code.append(lines[i])
                i += 1
            _add_code(document, code)
            i += 1  # the closing fence (or the end of the text when it was never closed)
            continue
        if not line.strip():
            flush()
        elif heading := _HEADING.match(line):
            flush()
            document.add_heading(heading.group(2), level=min(len(heading.group(1)), 9))
        elif _RULE.match(line):
            flush()
            document.add_paragraph()
        elif line.lstrip().startswith("|") and i + 1 < len(lines) and _TABLE_SEP.match(lines[i + 1]):
            flush()
            rows = [line]
            i += 2
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                rows.append(lines[i])
                i += 1
            _add_table(document, rows)
            continue
        elif item := _BULLET.match(line):
            flush()
            _add_list_item(document, item, "List Bullet")
        elif item := _NUMBERED.match(line):
            flush()
            _add_list_item(document, item, "List Number")
        elif quote := _QUOTE.match(line):
            flush()
            _add_inline(document.add_paragraph(style="Quote"), quote.group(1))
        else:
            paragraph.append(line)
        i += 1
    flush()
    return document


def _add_list_item(document, match: re.Match[str], style: str) -> None:
    depth = min(len(match.group(1).replace("\t", "    ")) // 2, 2)  # two spaces per level; Word ships 3 levels
    _add_inline(document.add_paragraph(style=style if depth == 0 else f"{style} {depth + 1}"), match.group(2))


def _add_code(document, code: list[str]) -> None:
    from docx.shared import Pt

    para = document.add_paragraph()
    for n, text in enumerate(code):
        run = para.add_run(text)
        run.font.name = MONO
        run.font.size = Pt(9)
        if n < len(code) - 1:
            run.add_break()


def _add_table(document, rows: list[str]) -> None:
    cells = [[c.strip() for c in row.strip().strip("|").split("|")] for row in rows]
    width = max(len(r) for r in cells)
    table = document.add_table(rows=len(cells), cols=width)
    table.style = "Table Grid"
    for r, row in enumerate(cells):
        for c in range(width):
            target = table.cell(r, c).paragraphs[0]
            _add_inline(target, row[c] if c < len(row) else "")
            if r == 0:
                for run in target.runs:
                    run.bold = True


def _add_inline(paragraph, text: str) -> None:
    """**bold**, __bold__, *italic*, _italic_ and `code` as Word runs; everything else verbatim."""
    for part in _INLINE.split(text):
        if not part:
            continue
        if (part.startswith("**") and part.endswith("**") or part.startswith("__") and part.endswith("__")) \
                and len(part) > 4:
            paragraph.add_run(part[2:-2]).bold = True
        elif part.startswith("`") and part.endswith("`") and len(part) > 2:
            paragraph.add_run(part[1:-1]).font.name = MONO
        elif part[0] in "*_" and part[-1] == part[0] and len(part) > 2:
            paragraph.add_run(part[1:-1]).italic = True
        else:
            paragraph.add_run(part)
