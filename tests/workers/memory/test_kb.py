"""kb::*: ingest text, Markdown, PDF and DOCX; search with citations; clear refusals."""

from __future__ import annotations

import base64
import os

import pytest

from workers.sdk import InvocationError

from .conftest import Stack
from .documents import make_docx, make_pdf

pytestmark = pytest.mark.slow


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


HANDBOOK = """# Employee handbook

Welcome to the company. This handbook explains how we work.

## Holidays

Every employee gets 28 days of paid leave per year. Unused days expire at the end of March.

## Expenses

Submit receipts within 30 days through the finance portal. Meals are reimbursed up to 40 euros.

# IT

Laptops are replaced every three years. Report a lost device to security within one hour.
"""


async def search(stack: Stack, query: str, **extra: object) -> list[dict]:
    result = await stack.call("kb::search", {"query": query, **extra})
    return result["results"]


async def test_markdown_is_chunked_and_cited_by_heading(stack: Stack) -> None:
    result = await stack.call("kb::ingest", {"name": "handbook.md", "text": HANDBOOK})
    assert result["format"] == "markdown" and result["chunks"] >= 4 and result["deduplicated"] is False
    [top, *_] = await search(stack, "How much vacation time do I have?")
    assert "28 days" in top["content"]
    assert top["citation"]["document"] == "handbook.md"
    assert top["citation"]["heading"] == "Employee handbook > Holidays"
    assert top["citation"]["text"] == "handbook.md, Employee handbook > Holidays"
    [top, *_] = await search(stack, "what happens if my computer is stolen")
    assert top["citation"]["heading"] == "IT" and "security" in top["content"]


async def test_pdf_and_docx_are_searchable_with_pages_and_headings(stack: Stack) -> None:
    pdf = make_pdf([["Chapter 1. The lighthouse keeper lived alone on the rock."],
                    ["Chapter 2. Every night he lit the great lamp to guide the fishing boats."]])
    docx = make_docx([("h1", "Onboarding"), ("p", "New hires receive a badge on their first day."),
                      ("h1", "Parking"), ("p", "Staff park in the underground garage, level minus two.")])
    r1 = await stack.call("kb::ingest", {"name": "story.pdf", "content_base64": b64(pdf),
                                         "collection": "library"})
    r2 = await stack.call("kb::ingest", {"name": "guide.docx", "content_base64": b64(docx),
                                         "collection": "library"})
    assert (r1["format"], r1["pages"], r2["format"]) == ("pdf", 2, "docx")
    [top, *_] = await search(stack, "who guided ships at night", collection="library")
    assert top["citation"]["document"] == "story.pdf" and top["citation"]["page"] == 2
    assert top["citation"]["text"] == "story.pdf, p. 2"
    [top, *_] = await search(stack, "where can employees leave their cars", collection="library")
    assert (top["citation"]["document"], top["citation"]["heading"]) == ("guide.docx", "Parking")
    assert await search(stack, "lighthouse") == []  # another collection
    listing = await stack.call("kb::list", {"collection": "library"})
    assert sorted(d["name"] for d in listing["documents"]) == ["guide.docx", "story.pdf"]


async def test_reingesting_dedups_and_a_new_version_replaces_the_old(stack: Stack) -> None:
    first = await stack.call("kb::ingest", {"name": "faq.txt", "text": "The office opens at 8am."})
    same = await stack.call("kb::ingest", {"name": "faq.txt", "text": "The office opens at 8am."})
    assert same["deduplicated"] is True and same["version"] == first["version"]
    new = await stack.call("kb::ingest", {"name": "faq.txt", "text": "The office opens at 9am."})
    assert new["replaced"] is True and new["version"] != first["version"]
    results = await search(stack, "when does the office open", limit=5)
    assert [r["content"] for r in results] == ["The office opens at 9am."]
    deleted = await stack.call("kb::delete", {"name": "faq.txt"})
    assert deleted["chunks"] == 1
    assert await search(stack, "when does the office open") == []


@pytest.mark.parametrize(("payload", "code"), [
    ({"name": "empty.txt", "text": ""}, "invalid_arguments"),
    ({"name": "blank.md", "text": "  \n\n "}, "unreadable_document"),
    ({"name": "big.txt", "text": "word " * (1024 * 1024)}, "document_too_large"),
    ({"name": "big.pdf", "content_base64": b64(os.urandom(5 * 1024 * 1024))}, "document_too_large"),
    ({"name": "junk.pdf", "content_base64": b64(os.urandom(20_000))}, "unreadable_document"),
    ({"name": "junk.docx", "content_base64": b64(os.urandom(20_000))}, "unreadable_document"),
    ({"name": "bin.txt", "content_base64": b64(b"\x00\x01\x02\xff")}, "unreadable_document"),
    ({"name": "x.txt", "content_base64": "not base64!!"}, "invalid_arguments"),
    ({"name": "x.txt"}, "invalid_arguments"),
    ({"name": "x.txt", "text": "hi", "collection": "bad name"}, "invalid_arguments"),
])
async def test_bad_documents_are_refused_and_store_nothing(stack: Stack, payload: dict, code: str) -> None:
    await stack.call("kb::ingest", {"name": "keep.txt", "text": "word salad about nothing much"})
    with pytest.raises(InvocationError) as err:
        await stack.call("kb::ingest", payload)
    assert err.value.code == code
    listing = await stack.call("kb::list", {})
    assert [d["name"] for d in listing["documents"]] == ["keep.txt"]
    assert len(await search(stack, "word salad nothing", limit=50)) == 1


async def test_delete_of_an_unknown_document(stack: Stack) -> None:
    with pytest.raises(InvocationError) as err:
        await stack.call("kb::delete", {"name": "nope.txt"})
    assert err.value.code == "not_found"
