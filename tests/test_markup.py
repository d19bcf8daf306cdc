"""Markdown to safe HTML, absolute links, summaries, and the characters XML forbids."""

from __future__ import annotations

import os
import re

import lxml.html
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.markup import clean_text, derive_summary, is_clean_utf8, render_markdown, sanitize_html

BASE = "https://news.example.org/"
FORBIDDEN = [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF]
DANGEROUS_TAGS = {"script", "iframe", "style", "form", "input", "object", "embed"}
XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def html(source: str) -> str:
    return render_markdown(source, BASE)[0]


# -- sanitization -------------------------------------------------------------------


@pytest.mark.parametrize("source", [
    "Hello <script>alert('x')</script> world",
    "<script>\nalert('x')\n</script>\n\nafter",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    "<iframe src=\"https://evil.example/\"></iframe>",
    "<style>body { display: none }</style>\n\nafter",
    "<p onclick=\"alert('x')\">click</p>",
    "<img src=\"https://x.example/a.png\" onerror=\"alert('x')\" alt=\"a\">",
    "<a href=\"javascript:alert('x')\">link</a>",
    "<a href=\"JaVaScRiPt:alert('x')\">link</a>",
    "<a href=\"java&#x09;script:alert('x')\">link</a>",
    "[link](javascript:alert('x'))",
    "[link][ref]\n\n[ref]: javascript:alert('x')",
    "<a href=\"data:text/html;base64,PHNjcmlwdD4=\">data</a>",
    "<form action=\"https://evil.example\"><input name=q></form>",
    "<object data=\"x.swf\"></object><embed src=\"x.swf\">",
    "<div style=\"background:url(javascript:alert(1))\">styled</div>",
])
def test_dangerous_html_never_survives(source):
    out = html(source)
    root = lxml.html.fragment_fromstring(out, create_parent="div")
    for element in root.iter():
        assert element.tag not in DANGEROUS_TAGS, out
        for name, value in element.attrib.items():
            assert not name.lower().startswith("on") and name.lower() != "style", out
            if name in ("href", "src", "action", "data"):
                assert value.strip().lower().startswith(("https:", "http:", "mailto:", "#")), out
    assert not re.search(r"<\s*(script|iframe|style)", out, re.IGNORECASE), out


def test_dangerous_content_is_removed_with_its_text():
    out = html("Hello <script>alert('x')</script><style>p{}</style> world")
    assert "alert" not in out and "p{}" not in out
    assert out == "<p>Hello  world</p>"


def test_safe_raw_html_is_kept():
    source = ('The <abbr title="World Health Organization">WHO</abbr> says <strong>stop</strong>, '
              "<em>please</em> and H<sub>2</sub>O<sup>2</sup> <mark>now</mark>.")
    assert html(source) == (
        '<p>The <abbr title="World Health Organization">WHO</abbr> says <strong>stop</strong>, '
        "<em>please</em> and H<sub>2</sub>O<sup>2</sup> <mark>now</mark>.</p>"
    )


def test_markdown_renders_with_tables_and_strikethrough():
    out = html("# Title\n\n- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n~~old~~ `code`\n")
    assert "<ul>\n<li>one</li>" in out
    assert "<table>" in out and "<td>1</td>" in out
    assert "<del>old</del>" in out and "<code>code</code>" in out


def test_links_get_rel_noopener():
    assert html("[UEF](https://www.uef.fi/)") == \
        '<p><a href="https://www.uef.fi/" rel="noopener">UEF</a></p>'


# -- absolute links -------------------------------------------------------------------


@pytest.mark.parametrize(("source", "expected"), [
    ("[a](/about/)", 'href="https://news.example.org/about/"'),
    ("[a](news/other/)", 'href="https://news.example.org/news/other/"'),
    ("[a][r]\n\n[r]: /ref/", 'href="https://news.example.org/ref/"'),
    ("![chart](media/chart.png)", 'src="media/chart.png"'),   # a local image: resolved with the media
    ('<a href="/raw/">raw</a>', 'href="https://news.example.org/raw/"'),
    ('<img src="media/raw.png" alt="raw">', 'src="media/raw.png"'),
    ("[a](https://www.uef.fi/x)", 'href="https://www.uef.fi/x"'),
    ("[mail](mailto:news@example.org)", 'href="mailto:news@example.org"'),
    ("[note](#fn1)", 'href="#fn1"'),
])
def test_relative_links_become_absolute_against_base_url(source, expected):
    assert expected in html(source)


def test_a_base_url_with_a_path_is_respected():
    out = render_markdown("[a](news/x/) [b](/top/)", "https://example.org/site/")[0]
    assert 'href="https://example.org/site/news/x/"' in out
    assert 'href="https://example.org/top/"' in out


def test_sanitize_without_a_base_url_keeps_relative_links():
    assert sanitize_html('<a href="/x">x</a>') == '<a href="/x" rel="noopener">x</a>'


# -- summaries ------------------------------------------------------------------------


def test_first_paragraph_is_plain_text():
    _, first = render_markdown("## Heading\n\nThe **first** [para](/x) with `code`.\n\nSecond.", BASE)
    assert first == "The first para with code."


def test_first_paragraph_is_empty_without_paragraphs():
    assert render_markdown("# Only a heading\n", BASE)[1] == ""


def test_derive_summary_short_text_is_kept_whole():
    assert derive_summary("  A short\n text.  ") == "A short text."


def test_derive_summary_cuts_at_a_word_near_300_characters():
    words = " ".join(f"word{i:03d}" for i in range(100))       # 799 characters, 8 per word
    summary = derive_summary(words)
    assert summary.endswith("…")
    kept = summary.removesuffix("…")
    assert words.startswith(kept)
    assert words[len(kept)] == " "                     # cut between words
    assert 250 <= len(kept) <= 300


def test_derive_summary_cuts_a_single_huge_word_at_the_limit():
    summary = derive_summary("x" * 1000)
    assert summary == "x" * 300 + "…"


def test_derive_summary_drops_trailing_punctuation_before_the_ellipsis():
    text = "a" * 290 + ", " + "b" * 20
    assert derive_summary(text) == "a" * 290 + "…"


# -- characters XML forbids ---------------------------------------------------------


def test_clean_text_removes_exactly_the_forbidden_characters():
    allowed = "\t\n\r ä€\u2028\ufffd\U0001f600"
    forbidden = "".join(chr(c) for c in FORBIDDEN)
    assert clean_text(forbidden + allowed + forbidden) == allowed


@pytest.mark.parametrize("cp", FORBIDDEN)
def test_character_references_to_forbidden_characters_are_dropped(cp):
    for source in (f"a &#{cp}; b", f"<span>a &#x{cp:x}; b</span>", f"<p>a &#x{cp:x}; b</p>\n"):
        body, first = render_markdown(source, BASE)
        assert not XML_FORBIDDEN.search(body), repr(body)
        assert not XML_FORBIDDEN.search(first), repr(first)


def _resident_bytes() -> int:
    # the current resident set (not the high-water mark, which earlier tests may have set)
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
def test_rendering_does_not_leak_memory():
    # cmarkgfm's own wrapper leaks the syntax tree and the HTML (~26 KB a document)
    source = "## Heading\n\n" + "A paragraph with *emphasis* and a [link](https://example.org/).\n\n" * 40
    render_markdown(source, BASE)
    before = _resident_bytes()
    for _ in range(3000):
        render_markdown(source, BASE)
    assert _resident_bytes() - before < 20 * 2**20   # leaking: some 60 MiB


TEXT_PARTS = st.sampled_from(["a", "ä", "€", "\t", "\n", "\r", "\x00", "\x07", "\x0b", "\x1f", "\x7f", "\x85",
                              "\ufffd", "\ufffe", "\uffff", "\U0001f600", "&#7;", " "])


@settings(max_examples=500)
@given(st.lists(TEXT_PARTS, max_size=20).map("".join))
def test_the_byte_check_agrees_with_cleaning(text):
    assert is_clean_utf8(text.encode()) == (clean_text(text) == text)


@pytest.mark.parametrize("reference", ["&#7;", "&#x7;", "&#xFFFF;", "&#65534;", "&#x0B;"])
def test_a_reference_to_a_character_xml_forbids_is_dropped_from_a_body(reference):
    body, _ = render_markdown(f"Before {reference} after, <b>raw {reference}</b>.\n", "https://x.org/")
    assert clean_text(body) == body and "Before" in body and "after" in body


def test_front_matter_escapes_are_cleaned_and_plain_text_kept():
    from pipeline.frontmatter import split_document
    doc = split_document(b'---\ntitle: "bell \\x07 here"\nsummary: plain \\x07 text\n'
                         b"q: 'single \\x07'\n---\n")
    assert doc.meta == {"title": "bell  here", "summary": "plain \\x07 text", "q": "single \\x07"}
