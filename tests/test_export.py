"""Export round trips: .md is byte-for-byte the draft; .docx opens with python-docx and keeps the structure.
File names come from titles and are sanitised: traversal, absolute paths, NUL, device names, length; CJK kept."""

from __future__ import annotations

from pathlib import Path

import docx
import pytest

from writing.errors import StudioError
from writing.library.export import NAME_MAX_BYTES, export_docx, export_markdown, markdown_to_docx, safe_filename
from writing.library.store import DB_NAME, DraftStore

LONGFORM = """# The Lighthouse Keeper

A short introduction with **bold** words, *italic* words and `inline code`.
It continues on a second line of the same paragraph.

## Chapter 1: Arrival

- first bullet
- second bullet
  - nested bullet

1. step one
2. step two

```python
def keep_light(on: bool) -> None:
    print("on" if on else "off")
```

> A quoted line.

| Name | Role |
|------|------|
| Ada  | keeper |

### 1.1 The storm

关于Transformer的故事，第一章。
"""


def test_markdown_export_is_exactly_the_draft(tmp_path: Path) -> None:
    store = DraftStore(tmp_path / DB_NAME)
    text = LONGFORM + "\r\nWindows line\r\n😀 trailing spaces   \n\n"
    draft = store.create(user="local", kind="longform", title="The Lighthouse Keeper", content=text, status="done")
    got = store.get(draft, user="local")
    path = export_markdown(got.title, got.content, tmp_path)
    assert path.name == "The Lighthouse Keeper.md"
    assert path.read_bytes() == text.encode("utf-8")
    store.close()


def test_docx_has_headings_lists_code_and_table(tmp_path: Path) -> None:
    path = export_docx("The Lighthouse Keeper", LONGFORM, tmp_path)
    doc = docx.Document(str(path))
    styled = [(p.style.name, p.text) for p in doc.paragraphs]
    headings = [(s, t) for s, t in styled if s.startswith("Heading")]
    assert headings == [("Heading 1", "The Lighthouse Keeper"), ("Heading 2", "Chapter 1: Arrival"),
                        ("Heading 3", "1.1 The storm")]
    assert ("List Bullet", "first bullet") in styled
    assert ("List Bullet 2", "nested bullet") in styled
    assert ("List Number", "step two") in styled
    assert ("Quote", "A quoted line.") in styled
    assert "关于Transformer的故事，第一章。" in [t for _, t in styled]
    intro = next(p for p in doc.paragraphs if p.text.startswith("A short introduction"))
    assert intro.text == ("A short introduction with bold words, italic words and inline code. "
                          "It continues on a second line of the same paragraph.")
    assert [r.text for r in intro.runs if r.bold] == ["bold"]
    assert [r.text for r in intro.runs if r.italic] == ["italic"]
    code = next(p for p in doc.paragraphs if "def keep_light" in p.text)
    assert code.text == 'def keep_light(on: bool) -> None:\n    print("on" if on else "off")'
    assert all(r.font.name == "Courier New" for r in code.runs)
    assert doc.tables[0].cell(1, 1).text == "keeper"
    assert doc.core_properties.title == "The Lighthouse Keeper"


def test_docx_without_headings_gets_the_title_and_survives_control_characters(tmp_path: Path) -> None:
    doc = markdown_to_docx("plain text with a NUL \x00 and a bell \x07 and snake_case_name", title="Note")
    assert doc.paragraphs[0].style.name == "Title" and doc.paragraphs[0].text == "Note"
    assert doc.paragraphs[1].text == "plain text with a NUL \ufffd and a bell \ufffd and snake_case_name"
    path = tmp_path / "x.docx"
    doc.save(str(path))
    assert docx.Document(str(path)).paragraphs[1].text.endswith("snake_case_name")


def test_unclosed_code_fence_keeps_the_rest(tmp_path: Path) -> None:
    doc = markdown_to_docx("intro\n\n```\nline 1\nline 2")
    assert doc.paragraphs[-1].text == "line 1\nline 2"


def test_one_megabyte_cjk_exports(tmp_path: Path) -> None:
    text = "# 第一章\n\n" + ("很长的段落。" * 200 + "\n\n") * 300
    assert len(text.encode()) > 1_000_000
    md = export_markdown("长篇", text, tmp_path)
    assert md.read_text(encoding="utf-8") == text
    doc = docx.Document(str(export_docx("长篇", text, tmp_path)))
    assert doc.paragraphs[0].style.name == "Heading 1" and doc.paragraphs[0].text == "第一章"
    assert len(doc.paragraphs) == 301


@pytest.mark.parametrize(("title", "expected"), [
    ("../../etc/passwd", "etc-passwd.md"),
    ("/etc/shadow", "etc-shadow.md"),
    ("C:\\Windows\\win.ini", "C-Windows-win.ini.md"),
    ("a\x00b", "a b.md"),
    ("CON", "_CON.md"),
    ("con.txt", "_con.txt.md"),
    ("LPT9", "_LPT9.md"),
    ("..", "draft.md"),
    ("", "draft.md"),
    ("   ", "draft.md"),
    ("关于Transformer的草稿", "关于Transformer的草稿.md"),
    ("Café: a \"story\"?", "Café- a -story.md"),
    ("right\u202eleft", "right left.md"),
])
def test_safe_filename(title: str, expected: str) -> None:
    assert safe_filename(title, "md") == expected


@pytest.mark.parametrize("title", ["x" * 10_000, "中" * 5_000, "../" * 500, "a" * 119 + "中中"])
def test_long_names_are_cut_on_a_character_boundary(title: str) -> None:
    name = safe_filename(title, "docx")
    stem = name.removesuffix(".docx")
    assert len(stem.encode("utf-8")) <= NAME_MAX_BYTES
    assert stem and "/" not in stem and "\\" not in stem
    stem.encode("utf-8")  # valid text, no broken character


@pytest.mark.parametrize("title", ["../../evil", "/tmp/abs", "sub/dir/name", "..\\..\\win", "\x00"])
def test_exports_stay_inside_the_folder(tmp_path: Path, title: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    for path in (export_markdown(title, "body", out), export_docx(title, "body", out)):
        assert path.parent == out and path.resolve().parent == out.resolve()
        assert path.exists()
    assert sorted(p.parent for p in tmp_path.rglob("*") if p.is_file()) == [out, out]


def test_bad_extension_is_refused() -> None:
    with pytest.raises(StudioError):
        safe_filename("x", "../md")
