"""Two revisions compared as a .docx of real Word tracked changes (w:ins / w:del), read back with python-docx:
accepting every change gives the newer text and rejecting every change the older one, byte for byte."""

from __future__ import annotations

import docx
from docx.oxml.ns import qn
from hypothesis import given, settings
from hypothesis import strategies as st

from writing.library.export import REVISION_AUTHOR, comparison_docx, export_comparison_docx

HEADER_PARAGRAPHS = 2  # the title and the sentence naming the two versions


def _views(document) -> tuple[str, str, int, int]:
    """(accepted text, rejected text, insertions, deletions) of the document body after its header."""
    accepted, rejected = [], []
    insertions = deletions = 0
    paragraphs = document.element.body.findall(qn("w:p"))[HEADER_PARAGRAPHS:]
    for n, p in enumerate(paragraphs):
        for child in p:
            if child.tag == qn("w:r"):
                text = "".join(t.text or "" for t in child.findall(qn("w:t")))
                accepted.append(text)
                rejected.append(text)
            elif child.tag == qn("w:ins"):
                insertions += 1
                assert child.get(qn("w:author")) == REVISION_AUTHOR and child.get(qn("w:date"))
                accepted.append("".join(t.text or "" for t in child.iter(qn("w:t"))))
            elif child.tag == qn("w:del"):
                deletions += 1
                assert not list(child.iter(qn("w:t")))  # deleted text is w:delText only
                rejected.append("".join(t.text or "" for t in child.iter(qn("w:delText"))))
        if n == len(paragraphs) - 1:
            break
        mark = p.find(f"{qn('w:pPr')}/{qn('w:rPr')}")
        inserted = mark is not None and mark.find(qn("w:ins")) is not None
        deleted = mark is not None and mark.find(qn("w:del")) is not None
        if not deleted:
            accepted.append("\n")
        if not inserted:
            rejected.append("\n")
    return "".join(accepted), "".join(rejected), insertions, deletions


def test_tracked_changes_read_back(tmp_path):
    older = "Keepers climbed the steps.\n\nThe lamp burned oil.\n灯塔很高。"
    newer = "Keepers climbed 114 steps.\n\nThe lamp burned oil, then gas.\n灯塔非常高。\n\nA new ending."
    path = export_comparison_docx("Lighthouse", older, newer, tmp_path, labels=("#3 regenerate", "current"))
    assert path.name == "Lighthouse (changes).docx"
    document = docx.Document(str(path))
    assert document.paragraphs[0].text == "Lighthouse"
    assert "#3 regenerate" in document.paragraphs[1].text and "current" in document.paragraphs[1].text
    accepted, rejected, insertions, deletions = _views(document)
    assert accepted == newer
    assert rejected == older
    assert insertions >= 4 and deletions >= 2
    body = document.element.body
    assert "114" in "".join(t.text for t in body.iter(qn("w:t")) if t.getparent().getparent().tag == qn("w:ins"))
    assert "the" in "".join(t.text for t in body.iter(qn("w:delText")))


def test_identical_versions_have_no_changes():
    text = "One paragraph.\n\nAnother one."
    accepted, rejected, insertions, deletions = _views(comparison_docx(text, text, title="Same"))
    assert accepted == rejected == text and insertions == deletions == 0


@settings(max_examples=40)
@given(st.text(alphabet="ab 猫\n.", max_size=40), st.text(alphabet="ab 猫\n.", max_size=40))
def test_accept_gives_newer_and_reject_gives_older(older, newer):
    accepted, rejected, _, _ = _views(comparison_docx(older, newer))
    assert accepted == newer
    assert rejected == older
