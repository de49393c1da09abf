"""Export rules the round-trip tests do not reach (issue 16: the surviving mutants of
writing/library/export.py): file names at their edges, which paragraphs get which Word style, list
depth, the Title paragraph, and tables (text width, header row, columns past Word's limit)."""

from __future__ import annotations

from pathlib import Path

import docx
import pytest
from docx.shared import Inches

from writing.errors import StudioError
from writing.library.export import NAME_MAX_BYTES, WORD_MAX_COLUMNS, export_docx, markdown_to_docx, safe_filename

# --- file names ------------------------------------------------------------------------------------------


def test_the_extension_may_be_given_with_its_dot_and_in_capitals() -> None:
    assert safe_filename("Notes", ".md") == "Notes.md"
    assert safe_filename("Notes", "DOCX") == "Notes.DOCX"


def test_a_bad_extension_is_named() -> None:
    with pytest.raises(StudioError) as caught:
        safe_filename("Notes", "m/d")
    assert str(caught.value) == "bad export extension 'm/d'"


def test_runs_of_white_space_become_one_space_and_x_is_an_ordinary_letter() -> None:
    assert safe_filename("Xmas  \t list\n X", "md") == "Xmas list X.md"


def test_a_cut_title_does_not_end_in_a_separator() -> None:
    name = safe_filename("a" * (NAME_MAX_BYTES - 1) + "-" + "b" * 10, "md")
    assert name == "a" * (NAME_MAX_BYTES - 1) + ".md"
    assert safe_filename("a" * (NAME_MAX_BYTES - 2) + " .bbbb", "md") == "a" * (NAME_MAX_BYTES - 2) + ".md"


def test_a_word_file_is_named_after_its_title(tmp_path: Path) -> None:
    assert export_docx("My title", "text", tmp_path).name == "My title.docx"


# --- paragraphs ------------------------------------------------------------------------------------------


def styles(markdown: str, **kwargs) -> list[tuple[str, str]]:
    return [(p.style.name, p.text) for p in markdown_to_docx(markdown, **kwargs).paragraphs]


def test_a_plain_paragraph_is_normal_text_not_a_quote() -> None:
    assert styles("One paragraph.\n\n> quoted\n\nAfter it.") == [
        ("Normal", "One paragraph."), ("Quote", "quoted"), ("Normal", "After it.")]


def test_headings_after_other_text_keep_the_order() -> None:
    assert styles("Intro.\n\n## Part one\n\nBody.\n\n### Detail\n\nMore.") == [
        ("Normal", "Intro."), ("Heading 2", "Part one"), ("Normal", "Body."), ("Heading 3", "Detail"),
        ("Normal", "More.")]


def test_without_a_title_there_is_no_title_paragraph() -> None:
    document = markdown_to_docx("Just text.")
    assert [(p.style.name, p.text) for p in document.paragraphs] == [("Normal", "Just text.")]
    assert document.core_properties.title == ""


def test_a_heading_within_the_first_three_lines_stands_for_the_title() -> None:
    assert styles("a\nb\n# Heading on line 3", title="T") == [("Normal", "a b"), ("Heading 1", "Heading on line 3")]
    assert styles("a\n\nb\n\n# Heading on line 5", title="T")[0] == ("Title", "T")
    assert styles("a\nb\nc\n# Heading on line 4", title="T")[0] == ("Title", "T")


def test_the_document_title_property_is_cut_to_words_limit() -> None:
    assert markdown_to_docx("x", title="t" * 300).core_properties.title == "t" * 255


def test_list_styles_follow_the_innermost_list_down_to_three_levels() -> None:
    markdown = "1. one\n   - two\n     1. three\n        - four\n"
    assert styles(markdown) == [("List Number", "one"), ("List Bullet 2", "two"), ("List Number 3", "three"),
                                ("List Bullet 3", "four")]


def test_a_second_paragraph_in_a_list_item_is_not_a_new_item() -> None:
    assert styles("- first\n\n  more of the first\n- second\n") == [
        ("List Bullet", "first"), ("Normal", "more of the first"), ("List Bullet", "second")]


# --- tables ----------------------------------------------------------------------------------------------


def row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def table_of(header: list[str], body: list[str]):
    markdown = "\n".join([row(header), row(["---"] * len(header)), row(body)])
    return markdown_to_docx(markdown).tables[0]


def test_a_table_spans_the_text_width_with_grid_lines() -> None:
    document = markdown_to_docx(row(["a", "b"]) + "\n" + row(["---", "---"]) + "\n" + row(["1", "2"]))
    table = document.tables[0]
    section = document.sections[-1]
    assert section.left_margin == section.right_margin == Inches(1.25)  # the template's, not the fallback
    text_width = section.page_width - section.left_margin - section.right_margin
    assert sum(column.width for column in table.columns) == pytest.approx(text_width, abs=len(table.columns))
    assert table.style.name == "Table Grid"


def test_the_header_row_is_bold_and_each_cell_holds_its_own_text() -> None:
    table = table_of(["name", "role"], ["Ada", "keeper"])
    assert [[c.text for c in r.cells] for r in table.rows] == [["name", "role"], ["Ada", "keeper"]]
    assert all(run.bold for cell in table.rows[0].cells for run in cell.paragraphs[0].runs)
    assert not any(run.bold for cell in table.rows[1].cells for run in cell.paragraphs[0].runs)


def test_columns_past_words_limit_share_the_last_cell() -> None:
    count = WORD_MAX_COLUMNS + 4
    table = table_of([f"h{n}" for n in range(count)], [f"c{n}" for n in range(count)])
    assert len(table.columns) == WORD_MAX_COLUMNS
    header, body = (r.cells for r in table.rows)
    assert [c.text for c in header[:3]] == ["h0", "h1", "h2"] and header[-2].text == f"h{WORD_MAX_COLUMNS - 2}"
    last = " | ".join(f"h{n}" for n in range(WORD_MAX_COLUMNS - 1, count))
    assert header[-1].text == last
    runs = header[-1].paragraphs[0].runs  # one bold run: the separators share the header's format
    assert [(r.text, r.bold, r.italic, r.font.name) for r in runs] == [(last, True, None, None)]
    body_runs = body[-1].paragraphs[0].runs
    assert [(r.text, r.bold) for r in body_runs] == [(" | ".join(f"c{n}" for n in range(WORD_MAX_COLUMNS - 1, count)),
                                                       None)]


def test_empty_cells_past_the_limit_are_left_out_of_the_last_cell() -> None:
    count = WORD_MAX_COLUMNS + 3
    body = [f"c{n}" for n in range(count)]
    body[-2] = " "
    table = table_of([f"h{n}" for n in range(count)], body)
    assert table.rows[1].cells[-1].text == f"c{WORD_MAX_COLUMNS - 1} | c{WORD_MAX_COLUMNS} | c{count - 1}"


def test_a_saved_document_with_a_wide_table_opens_again(tmp_path: Path) -> None:
    path = tmp_path / "wide.docx"
    table = table_of([f"h{n}" for n in range(70)], [f"c{n}" for n in range(70)])
    table.part.document.save(str(path))
    assert len(docx.Document(str(path)).tables[0].columns) == WORD_MAX_COLUMNS


def test_a_lone_surrogate_in_a_title_still_gives_a_writable_file_name(tmp_path):
    # Found by mutation testing (#16): the name kept the surrogate and writing the file failed.
    name = safe_filename("Notes \ud800 on tides", "md")
    assert name == "Notes on tides.md"
    (tmp_path / name).write_text("ok", encoding="utf-8")  # raised UnicodeEncodeError before the fix
