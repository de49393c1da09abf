"""Export rules the round-trip tests do not reach (issue 16: the surviving mutants of
writing/library/export.py): file names at their edges, which paragraphs and blocks get which Word style, list
depth, the Title paragraph, tables (text width, header row, columns past Word's limit), inline formatting and
the tracked-changes comparison (its title, one paragraph a line, dates, ids, kept spaces)."""

from __future__ import annotations

import calendar
import time
from pathlib import Path

import docx
import pytest
from docx.oxml.ns import qn
from docx.shared import Inches

from writing.errors import StudioError
from writing.library.export import (
    NAME_MAX_BYTES,
    WORD_MAX_COLUMNS,
    comparison_docx,
    export_docx,
    markdown_to_docx,
    safe_filename,
)

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


def test_an_extension_starting_with_x_is_kept_whole() -> None:
    assert safe_filename("Sheet", "XLSX") == "Sheet.XLSX"
    assert safe_filename("Sheet", ".xml") == "Sheet.xml"


# --- blocks the round trip does not show -----------------------------------------------------------------


def formatted(markdown: str) -> list[tuple[str, str, list[tuple[str, str | None, float | None]]]]:
    return [(p.style.name, p.text, [(r.text, r.font.name, r.font.size.pt if r.font.size else None) for r in p.runs])
            for p in markdown_to_docx(markdown).paragraphs]


def test_a_nested_quote_keeps_the_outer_quote_after_it() -> None:
    assert styles("> outer\n>\n> > inner\n>\n> outer again\n\nafter") == [
        ("Quote", "outer"), ("Quote", "inner"), ("Quote", "outer again"), ("Normal", "after")]


def test_a_list_after_a_closed_numbered_list_starts_at_the_first_level() -> None:
    assert styles("1. one\n\npara\n\n- two\n\n1. three") == [
        ("List Number", "one"), ("Normal", "para"), ("List Bullet", "two"), ("List Number", "three")]


def test_code_blocks_are_small_monospace_lines_kept_exactly() -> None:
    # an indented block keeps its trailing spaces; a fenced one ending in a letter keeps it; one run a line
    assert formatted("text\n\n    code\n    end X  \n\n```\nz = X\n```") == [
        ("Normal", "text", [("text", None, None)]),
        ("Normal", "code\nend X  ", [("code\n", "Courier New", 9.0), ("end X  ", "Courier New", 9.0)]),
        ("Normal", "z = X", [("z = X", "Courier New", 9.0)])]


def test_raw_html_blocks_are_kept_as_text() -> None:
    assert formatted("<div>Hi  \n\n<p>Mark X\n") == [
        ("Normal", "<div>Hi  ", [("<div>Hi  ", None, None)]), ("Normal", "<p>Mark X", [("<p>Mark X", None, None)])]


def test_a_rule_is_an_empty_paragraph() -> None:
    assert styles("a\n\n---\n\nb") == [("Normal", "a"), ("Normal", ""), ("Normal", "b")]


def test_the_section_properties_stay_the_last_element_of_the_body() -> None:
    # Word's schema puts w:sectPr (page size and margins) after every paragraph and table
    document = markdown_to_docx("One.\n\n| a |\n|---|\n| 1 |\n\nTwo.", title="T")
    tags = [child.tag.rsplit("}", 1)[1] for child in document.element.body]
    assert tags == ["p", "p", "tbl", "p", "sectPr"]


# --- inline formatting -----------------------------------------------------------------------------------


def inline(markdown: str) -> list[tuple[str, bool | None, bool | None, str | None]]:
    [paragraph] = markdown_to_docx(markdown).paragraphs
    return [(r.text, r.bold, r.italic, r.font.name) for r in paragraph.runs]


def test_inline_html_and_image_alt_texts_are_kept_as_text() -> None:
    assert inline("a <b>x</b> c") == [("a <b>x</b> c", None, None, None)]
    assert inline("see ![alt text](x.png) here") == [("see alt text here", None, None, None)]
    assert inline("see ![](x.png) here") == [("see  here", None, None, None)]  # an empty alt text ends nothing


def test_a_soft_wrapped_line_is_one_run_in_the_format_around_it() -> None:
    assert inline("a\nb") == [("a b", None, None, None)]
    assert inline("**a\nb**") == [("a b", True, None, None)]
    assert inline("*a\nb*") == [("a b", None, True, None)]


def test_a_hard_line_break_is_a_word_line_break() -> None:
    assert inline("a  \nb") == [("a", None, None, None), ("\n", None, None, None), ("b", None, None, None)]
    assert inline("a\\\nb  \nc") == [("a", None, None, None), ("\n", None, None, None), ("b", None, None, None),
                                     ("\n", None, None, None), ("c", None, None, None)]


def test_inline_code_is_monospace() -> None:
    assert inline("use `x` now") == [("use ", None, None, None), ("x", None, None, "Courier New"),
                                     (" now", None, None, None)]


def test_inline_code_keeps_the_bold_or_italic_around_it() -> None:
    assert inline("**use `x`**") == [("use ", True, None, None), ("x", True, None, "Courier New")]
    assert inline("*see `y` here*") == [("see ", None, True, None), ("y", None, True, "Courier New"),
                                        (" here", None, True, None)]


def test_bold_and_italic_nest_and_end() -> None:
    assert inline("**bold *both* bold** plain") == [("bold ", True, None, None), ("both", True, True, None),
                                                    (" bold", True, None, None), (" plain", None, None, None)]
    assert inline("*it **both** it* plain") == [("it ", None, True, None), ("both", True, True, None),
                                                (" it", None, True, None), (" plain", None, None, None)]
    assert inline("**a** b **c**") == [("a", True, None, None), (" b ", None, None, None), ("c", True, None, None)]
    assert inline("*a* b *c*") == [("a", None, True, None), (" b ", None, None, None), ("c", None, True, None)]


# --- two versions compared -------------------------------------------------------------------------------


def test_a_comparison_without_a_title_is_called_comparison() -> None:
    document = comparison_docx("a", "b")
    assert document.core_properties.title == ""
    assert (document.paragraphs[0].style.name, document.paragraphs[0].text) == ("Title", "Comparison")
    named = comparison_docx("a", "b", title="t" * 300)
    assert named.core_properties.title == "t" * 255 and named.paragraphs[0].text == "t" * 300


def test_each_line_of_a_comparison_is_its_own_paragraph() -> None:
    document = comparison_docx("one\ntwo\nthree", "one\ntwo\nthree")
    assert [p.text for p in document.paragraphs[2:]] == ["one", "two", "three"]


def marks(document) -> list:
    return list(document.element.body.iter(qn("w:ins"), qn("w:del")))


def test_changes_carry_the_given_time_or_now() -> None:
    assert {m.get(qn("w:date")) for m in marks(comparison_docx("a b", "a c", when=0))} == {"1970-01-01T00:00:00Z"}
    before = int(time.time())
    dates = {m.get(qn("w:date")) for m in marks(comparison_docx("a b", "a c"))}
    after = time.time()
    assert len(dates) == 1
    stamp = calendar.timegm(time.strptime(dates.pop(), "%Y-%m-%dT%H:%M:%SZ"))
    assert before <= stamp <= after


def test_every_change_has_its_own_id() -> None:
    ids = [m.get(qn("w:id")) for m in marks(comparison_docx("a b\nsame\nx", "a c\nsame\ny\nz"))]
    assert len(ids) >= 4 and all(i.isdigit() for i in ids) and len(set(ids)) == len(ids)


def test_spaces_at_the_ends_of_compared_text_are_kept_by_word() -> None:
    body = comparison_docx("a b", "a c").element.body
    texts = list(body.iter(qn("w:t"), qn("w:delText")))[2:]  # after the title and the sentence naming the versions
    assert [t.text for t in texts] == ["a ", "b", "c"]
    assert all(t.get(qn("xml:space")) == "preserve" for t in texts)
