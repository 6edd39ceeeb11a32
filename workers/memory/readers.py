"""Reading documents into citable sections: plain text, Markdown, PDF (pypdf), DOCX (python-docx).

A :class:`Section` is a run of text with what a citation needs: the PDF page it is on, the
heading it sits under (Markdown ``#`` headings, DOCX "Heading N" paragraphs). Readers are
pure functions of the bytes (run them in a worker thread: PDFs take a while). Every failure of
pypdf or python-docx — and there are many kinds on garbage input — is translated here, at one
boundary, into :class:`~.errors.UnreadableDocument` naming the format; a document that parses
but holds no text (a scanned PDF) is refused the same way.
"""

from __future__ import annotations

import io
import logging
import re
import warnings
from dataclasses import dataclass
from typing import Literal

from .errors import UnreadableDocument

__all__ = ["Format", "Section", "detect_format", "read_document"]

log = logging.getLogger(__name__)

Format = Literal["text", "markdown", "pdf", "docx"]
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.MULTILINE)
_EXTENSIONS: dict[str, Format] = {".pdf": "pdf", ".docx": "docx", ".md": "markdown",
                                  ".markdown": "markdown", ".txt": "text"}


@dataclass(frozen=True, slots=True)
class Section:
    text: str
    page: int | None = None
    heading: str | None = None


def detect_format(name: str, declared: Format | None) -> Format:
    """The declared format, else the one the name's extension says, else ``text``."""
    if declared is not None:
        return declared
    lowered = name.lower()
    for ext, fmt in _EXTENSIONS.items():
        if lowered.endswith(ext):
            return fmt
    return "text"


def _decode(data: bytes | str) -> str:
    if isinstance(data, str):
        return data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableDocument(f"the document is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                                 "declare its format if it is a PDF or DOCX") from exc
    if "\x00" in text:
        raise UnreadableDocument("the document holds NUL bytes: binary data, not text")
    return text


def _markdown(text: str) -> list[Section]:
    sections: list[Section] = []
    trail: list[tuple[int, str]] = []
    pos, heading = 0, None
    for match in _HEADING.finditer(text):
        if text[pos:match.start()].strip():
            sections.append(Section(text[pos:match.start()], heading=heading))
        level = len(match.group(1))
        trail = [(lv, h) for lv, h in trail if lv < level] + [(level, match.group(2).strip())]
        heading = " > ".join(h for _, h in trail)
        pos = match.end()
    if text[pos:].strip():
        sections.append(Section(text[pos:], heading=heading))
    return sections


def _pdf(data: bytes) -> list[Section]:
    from pypdf import PdfReader  # noqa: PLC0415 - only when a PDF comes in

    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                raise UnreadableDocument("the PDF is encrypted; decrypt it first")
            pages = [page.extract_text() or "" for page in reader.pages]
        for warning in caught:  # pypdf's complaints about sloppy but readable files
            log.debug("pypdf: %s", warning.message)
    except UnreadableDocument:
        raise
    except Exception as exc:  # pypdf raises many types on garbage; translated once, here
        raise UnreadableDocument(f"not a readable PDF: {type(exc).__name__}: {exc}") from exc
    return [Section(text, page=i + 1) for i, text in enumerate(pages) if text.strip()]


def _docx(data: bytes) -> list[Section]:
    from docx import Document  # noqa: PLC0415 - only when a DOCX comes in

    try:
        document = Document(io.BytesIO(data))
        blocks: list[tuple[str | None, str]] = []
        for para in document.paragraphs:
            style = para.style.name if para.style is not None else ""
            blocks.append((para.text.strip() if style.startswith("Heading") else None, para.text))
        for table in document.tables:
            for row in table.rows:
                blocks.append((None, " | ".join(cell.text.strip() for cell in row.cells)))
    except Exception as exc:  # zipfile, lxml and docx errors on garbage; translated once, here
        raise UnreadableDocument(f"not a readable DOCX: {type(exc).__name__}: {exc}") from exc
    sections: list[Section] = []
    heading: str | None = None
    lines: list[str] = []
    for new_heading, text in blocks:
        if new_heading:
            if "".join(lines).strip():
                sections.append(Section("\n".join(lines), heading=heading))
            heading, lines = new_heading, []
        elif text.strip():
            lines.append(text)
    if "".join(lines).strip():
        sections.append(Section("\n".join(lines), heading=heading))
    return sections


def read_document(data: bytes | str, fmt: Format) -> list[Section]:
    """The non-blank sections of a document, in order.

    Raises:
        UnreadableDocument: it cannot be parsed as ``fmt``, or holds no text.
    """
    if fmt == "pdf":
        sections = _pdf(data.encode() if isinstance(data, str) else data)
    elif fmt == "docx":
        sections = _docx(data.encode() if isinstance(data, str) else data)
    elif fmt == "markdown":
        sections = _markdown(_decode(data))
    else:
        text = _decode(data)
        sections = [Section(text)] if text.strip() else []
    if not sections:
        raise UnreadableDocument(f"the {fmt} document holds no text"
                                 + (" (a scanned PDF needs OCR first)" if fmt == "pdf" else ""))
    return sections
