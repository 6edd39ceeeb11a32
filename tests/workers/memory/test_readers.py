"""readers: text, Markdown, PDF and DOCX into citable sections; garbage refused clearly."""

from __future__ import annotations

import os

import pytest

from workers.memory.errors import UnreadableDocument
from workers.memory.readers import Section, detect_format, read_document

from .documents import make_docx, make_pdf


@pytest.mark.parametrize(("name", "declared", "expected"), [
    ("a.pdf", None, "pdf"), ("A.PDF", None, "pdf"), ("b.docx", None, "docx"),
    ("c.md", None, "markdown"), ("d.markdown", None, "markdown"), ("e.txt", None, "text"),
    ("noext", None, "text"), ("a.pdf", "text", "text"),
])
def test_detect_format(name: str, declared: str | None, expected: str) -> None:
    assert detect_format(name, declared) == expected  # type: ignore[arg-type]


def test_text_is_one_section() -> None:
    assert read_document("hello\nworld", "text") == [Section("hello\nworld")]
    assert read_document("héllo".encode(), "text") == [Section("héllo")]


def test_markdown_sections_carry_their_heading_path() -> None:
    md = "Intro line.\n\n# Setup\nInstall it.\n\n## Linux\nUse apt.\n\n# Usage\nRun it.\n## Empty\n"
    sections = read_document(md, "markdown")
    assert [(s.heading, s.text.strip()) for s in sections] == [
        (None, "Intro line."), ("Setup", "Install it."), ("Setup > Linux", "Use apt."),
        ("Usage", "Run it."),
    ]


def test_pdf_pages_are_sections_with_page_numbers() -> None:
    pdf = make_pdf([["The first page talks about ravens."], [], ["Page three: (parens) and owls."]])
    sections = read_document(pdf, "pdf")
    assert [s.page for s in sections] == [1, 3]
    assert "ravens" in sections[0].text and "(parens) and owls" in sections[1].text


def test_docx_headings_paragraphs_and_tables() -> None:
    docx = make_docx([("p", "Preface text."), ("h1", "Chapter One"), ("p", "It was a dark night."),
                      ("h2", "Details"), ("p", "More here."), ("table", "Name|Value")])
    sections = read_document(docx, "docx")
    assert [(s.heading, s.text) for s in sections] == [
        (None, "Preface text."), ("Chapter One", "It was a dark night."),
        ("Details", "More here.\nName | Value"),
    ]


@pytest.mark.parametrize(("data", "fmt", "message"), [
    (os.urandom(4096), "pdf", "not a readable PDF"),
    (b"%PDF-1.4\n garbage garbage", "pdf", "not a readable PDF"),
    (os.urandom(4096), "docx", "not a readable DOCX"),
    (b"PK\x03\x04 not really a zip", "docx", "not a readable DOCX"),
    (b"\xff\xfe\x00binary", "text", "not UTF-8"),
    (b"nul\x00byte", "text", "NUL bytes"),
    ("", "text", "holds no text"),
    ("   \n\n", "markdown", "holds no text"),
])
def test_garbage_is_refused_clearly(data: bytes | str, fmt: str, message: str) -> None:
    with pytest.raises(UnreadableDocument, match=message):
        read_document(data, fmt)  # type: ignore[arg-type]


def test_a_pdf_without_text_is_refused() -> None:
    with pytest.raises(UnreadableDocument, match="scanned PDF needs OCR"):
        read_document(make_pdf([[], []]), "pdf")
