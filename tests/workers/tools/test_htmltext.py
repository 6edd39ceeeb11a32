"""HTML to text."""

from __future__ import annotations

from workers.tools.htmltext import html_to_text


def test_visible_text_only() -> None:
    html = ("<html><head><title>T</title><script>var x = 1;</script></head><body>"
            "<h1>Title</h1><p>One  two\n three</p><style>.a{}</style><ul><li>a</li><li>b</li></ul>"
            "<p>See <a href='https://x.org/p'>this</a> &amp; <a href='/rel'>that</a>.</p></body></html>")
    assert html_to_text(html) == "Title\n\nOne two three\n\na\n\nb\n\nSee this (https://x.org/p) & that."


def test_unbalanced_markup_does_not_hide_text() -> None:
    assert html_to_text("<p>a</div>b</script>c") == "a\nbc"


def test_preformatted_text_keeps_its_lines() -> None:
    assert html_to_text("<p>a\nb</p><pre>c\nd</pre>") == "a b\n\nc\nd"
