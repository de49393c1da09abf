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

from markdown_it.token import Token

from writing.compose.markdown import parse as parse_markdown
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
    # Lone surrogates (Cs: a title from the API may carry one) go too: no file system can store them.
    name = "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp") else ch for ch in name)
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
# The Markdown is read by compose.markdown (markdown-it-py, linear time): the regexes this replaces
# backtracked cubically on a long heading line (issue #13). Word refuses tables wider than 63 columns.

MONO = "Courier New"
WORD_MAX_COLUMNS = 63


def markdown_to_docx(markdown: str, *, title: str = ""):
    """Build a python-docx Document from Markdown text (CommonMark + tables; lossless for plain text)."""
    import docx  # python-docx; imported here so the store and the CLI stay light

    document = docx.Document()
    document.core_properties.title = xml_safe(title)[:255]
    tokens = parse_markdown(xml_safe(markdown))
    writer = _Writer(document)
    if title and not any(t.type == "heading_open" and t.map is not None and t.map[0] < 3 for t in tokens):
        writer.paragraph("Title").add_run(xml_safe(title))
    lists: list[str] = []  # the open lists, outermost first: "List Bullet" / "List Number"
    quotes = 0
    item_paragraphs = 0  # paragraphs seen in the innermost open list item
    i = 0
    while i < len(tokens):
        token = tokens[i]
        kind = token.type
        if kind == "heading_open":
            _add_inline(writer.paragraph(f"Heading {min(int(token.tag[1:]), 9)}"), tokens[i + 1].children or [])
            i += 3
            continue
        if kind == "paragraph_open":
            if lists and item_paragraphs == 0:
                depth = min(len(lists), 3)  # Word ships three levels of each list style
                style = lists[-1] if depth == 1 else f"{lists[-1]} {depth}"
            else:
                style = "Quote" if quotes else None
            item_paragraphs += 1
            _add_inline(writer.paragraph(style), tokens[i + 1].children or [])
            i += 3
            continue
        if kind in ("bullet_list_open", "ordered_list_open"):
            lists.append("List Bullet" if kind == "bullet_list_open" else "List Number")
        elif kind in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
        elif kind == "list_item_open":
            item_paragraphs = 0
        elif kind == "blockquote_open":
            quotes += 1
        elif kind == "blockquote_close":
            quotes -= 1
        elif kind in ("fence", "code_block"):
            _add_code(writer.paragraph(None), token.content.rstrip("\n").split("\n"))
        elif kind == "html_block":
            writer.paragraph(None).add_run(token.content.rstrip("\n"))
        elif kind == "hr":
            writer.paragraph(None)
        elif kind == "table_open":
            rows: list[list[Token]] = []
            while tokens[i].type != "table_close":
                if tokens[i].type == "tr_open":
                    rows.append([])
                elif tokens[i].type == "inline":
                    rows[-1].append(tokens[i])
                i += 1
            _add_table(writer, rows)
        i += 1
    return document


class _Writer:
    """Appends body paragraphs and tables in O(1) each. python-docx's own add_paragraph/add_table look
    for the body's final sectPr by scanning every child, which makes a long document quadratic, and
    its style setter re-reads the whole style table on every call (~2 ms): style ids are looked up once."""

    def __init__(self, document):
        self.document = document
        self._style_ids: dict[str, str] = {}
        body = document.element.body
        last = body[-1] if len(body) else None
        self._anchor = last if last is not None and last.tag.endswith("}sectPr") else None
        self._body = body

    def _place(self, element) -> None:
        if self._anchor is not None:
            self._anchor.addprevious(element)
        else:
            self._body.append(element)

    def paragraph(self, style: str | None):
        from docx.oxml import OxmlElement
        from docx.text.paragraph import Paragraph

        element = OxmlElement("w:p")
        self._place(element)
        if style:
            element.get_or_add_pPr().style = self._style_id(style)
        return Paragraph(element, self.document)

    def _style_id(self, name: str) -> str:
        if name not in self._style_ids:
            self._style_ids[name] = self.document.styles[name].style_id
        return self._style_ids[name]

    def table(self, rows: int, cols: int):
        from docx.oxml.table import CT_Tbl
        from docx.shared import Inches
        from docx.table import Table

        section = self.document.sections[-1]
        width = (section.page_width or Inches(8.5)) - (section.left_margin or Inches(1)) \
            - (section.right_margin or Inches(1))
        element = CT_Tbl.new_tbl(rows, cols, width)
        self._place(element)
        element.tblPr.style = self._style_id("Table Grid")
        return Table(element, self.document)


def _add_code(paragraph, code: list[str]) -> None:
    from docx.shared import Pt

    for n, text in enumerate(code):
        run = paragraph.add_run(text)
        run.font.name = MONO
        run.font.size = Pt(9)
        if n < len(code) - 1:
            run.add_break()


def _add_table(writer: _Writer, rows: list[list[Token]]) -> None:
    from docx.table import _Cell

    if not rows:
        return
    width = min(max(len(r) for r in rows), WORD_MAX_COLUMNS)
    table = writer.table(len(rows), width)
    # Rows and cells straight from the XML: Table.cell() rebuilds the whole cell list on every call.
    for r, (row, tr) in enumerate(zip(rows, table._tbl.tr_lst, strict=True)):
        for c, tc in enumerate(tr.tc_lst):
            # Columns past Word's limit share the last cell; empty ones (markdown-it pads short rows) are skipped.
            cells = row[c:c + 1] if c < width - 1 else [cell for cell in row[c:] if cell.content.strip()]
            segments: list[_Segment] = []
            for n, cell in enumerate(cells):
                if n:
                    segments.append((" | ", r == 0, False, False))
                segments.extend(_segments(cell.children or [], bold=r == 0))
            if segments:
                _write(_Cell(tc, table).paragraphs[0], segments)


# (text, bold, italic, monospace); text "\n" alone is a line break.
_Segment = tuple[str, bool, bool, bool]


def _segments(children: list[Token], *, bold: bool = False) -> list[_Segment]:
    """Inline tokens -> formatted text pieces (_write merges neighbours with the same format into one Word
    run: python-docx spends ~0.1-0.4 ms per run, so a soft-wrapped paragraph must not become a run per line)."""
    pieces: list[_Segment] = []
    strong = em = 0
    for token in children:
        kind = token.type
        if kind in ("text", "html_inline", "image"):  # an image keeps its alt text
            piece: _Segment = (token.content, bold or strong > 0, em > 0, False)
        elif kind == "softbreak":
            piece = (" ", bold or strong > 0, em > 0, False)
        elif kind == "hardbreak":
            piece = ("\n", False, False, False)
        elif kind == "code_inline":
            piece = (token.content, bold or strong > 0, em > 0, True)  # code keeps the bold/italic around it
        else:
            strong += {"strong_open": 1, "strong_close": -1}.get(kind, 0)
            em += {"em_open": 1, "em_close": -1}.get(kind, 0)
            continue
        pieces.append(piece)
    return pieces


def _write(paragraph, segments: list[_Segment]) -> None:
    runs: list[tuple[list[str], tuple[bool, bool, bool]]] = []  # parts joined once: no quadratic str +=
    for text, *style in segments:
        if not text:
            continue
        if runs and text != "\n" and runs[-1][0] != ["\n"] and runs[-1][1] == tuple(style):
            runs[-1][0].append(text)
        else:
            runs.append(([text], (style[0], style[1], style[2])))
    for parts, (bold, italic, mono) in runs:
        text = "".join(parts)
        if text == "\n":
            paragraph.add_run().add_break()
            continue
        run = paragraph.add_run(text)
        if bold:
            run.bold = True
        if italic:
            run.italic = True
        if mono:
            run.font.name = MONO


def _add_inline(paragraph, children: list[Token]) -> None:
    """Text, **bold**, *italic* and `code` as Word runs; links keep their text, images their alt text."""
    _write(paragraph, _segments(children))


# --- Two versions compared, as Word tracked changes ---------------------------------------------------------
# The diff is writing/compose/diff.py's (word-level, CJK per character). Word's own revision marks: an insertion
# is <w:ins> around its runs, a deletion <w:del> around runs whose text is <w:delText>, and a line break that
# was inserted or deleted is the paragraph mark's own <w:ins>/<w:del> (in the paragraph's run properties).
# Word and LibreOffice show them as tracked changes (Accept / Reject); accepting all gives the newer text,
# rejecting all the older one.

REVISION_AUTHOR = "Writing Studio"


def comparison_docx(older: str, newer: str, *, title: str = "", labels: tuple[str, str] = ("Older", "Newer"),
                    author: str = REVISION_AUTHOR, when: float | None = None):
    """A python-docx Document: a heading naming the two versions, then `older` with tracked changes to `newer`."""
    import time

    import docx
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    from writing.compose.diff import DELETE, EQUAL, INSERT, diff

    segments = diff(older, newer)  # bounded there (DIFF_MAX_CHARS) before any work
    document = docx.Document()
    document.core_properties.title = xml_safe(title)[:255]
    writer = _Writer(document)
    writer.paragraph("Title").add_run(xml_safe(title or "Comparison"))
    writer.paragraph(None).add_run(xml_safe(f"Tracked changes from “{labels[0]}” to “{labels[1]}”: accept them all "
                                            f"for the newer text, reject them all for the older one."))
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if when is None else when))
    ids = iter(range(1, 1 << 30))

    def mark(tag: str):
        element = OxmlElement(tag)
        element.set(qn("w:id"), str(next(ids)))
        element.set(qn("w:author"), xml_safe(author))
        element.set(qn("w:date"), stamp)
        return element

    def run(text: str, op: str):
        r = OxmlElement("w:r")
        t = OxmlElement("w:delText" if op == DELETE else "w:t")
        t.set(qn("xml:space"), "preserve")
        t.text = xml_safe(text)
        r.append(t)
        if op == EQUAL:
            return r
        wrapper = mark("w:ins" if op == INSERT else "w:del")
        wrapper.append(r)
        return wrapper

    paragraph = writer.paragraph(None)._p
    for op, text in segments:
        lines = text.split("\n")
        for n, line in enumerate(lines):
            if line:
                paragraph.append(run(line, op))
            if n < len(lines) - 1:  # a line break: this paragraph ends; its mark carries the change
                if op != EQUAL:
                    rpr = OxmlElement("w:rPr")
                    rpr.append(mark("w:ins" if op == INSERT else "w:del"))
                    paragraph.get_or_add_pPr().append(rpr)
                paragraph = writer.paragraph(None)._p
    return document


def export_comparison_docx(title: str, older: str, newer: str, folder: Path, *,
                           labels: tuple[str, str] = ("Older", "Newer")) -> Path:
    """folder/<safe title> (changes).docx: the two versions as tracked changes (comparison_docx)."""
    path = Path(folder) / safe_filename(f"{title} (changes)", "docx")
    comparison_docx(older, newer, title=title, labels=labels).save(str(path))
    return path
