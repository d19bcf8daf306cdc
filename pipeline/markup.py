"""Text helpers shared by the readers: Markdown to safe HTML, summaries, XML-safe text."""

from __future__ import annotations

import ctypes
import ctypes.util
import html
import re
from urllib.parse import urljoin

import nh3
from cmarkgfm import _cmark
from cmarkgfm.cmark import Options

__all__ = ["clean_text", "derive_summary", "render_markdown", "sanitize_html"]

# Characters XML 1.0 forbids. Authors paste them from word processors; we drop them silently.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

# Tags and attributes a news body may keep. Everything else (script, style, iframe, forms,
# event handlers) is removed; nh3 also drops javascript: and data: URLs.
_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del", "details",
    "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "h2", "h3", "h4", "h5", "h6", "hr",
    "i", "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "small", "span", "strong",
    "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "time", "tr", "u",
    "ul",
}
_ATTRIBUTES = {
    "a": {"href", "title", "hreflang"},
    "abbr": {"title"},
    "img": {"src", "alt", "title", "width", "height"},
    "ol": {"start"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "time": {"datetime"},
    "*": {"lang"},
}
_URL_SCHEMES = {"http", "https", "mailto", "tel"}
_ABSOLUTE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^#")

# CommonMark plus GFM tables and strikethrough, by cmark-gfm (C; ~15x faster than a pure
# Python parser). Raw HTML passes through here ("unsafe") and is cleaned by nh3 below.
_OPTIONS = Options.CMARK_OPT_UNSAFE
_cmark.lib.cmark_gfm_core_extensions_ensure_registered()
_EXTENSIONS = [_cmark.lib.cmark_find_syntax_extension(name) for name in (b"table", b"strikethrough")]
# cmarkgfm's own wrapper never frees the syntax tree or the HTML (~26 KB per document, a
# leak that matters to a long-running `newsroom run`); its bindings do not expose the
# two functions that free them, so they are looked up in the same libraries here.
_cmark_node_free = ctypes.CDLL(_cmark.__file__).cmark_node_free
_libc_free = ctypes.CDLL(ctypes.util.find_library("c") or None).free
_cmark_node_free.argtypes = _libc_free.argtypes = [ctypes.c_void_p]
_cmark_node_free.restype = _libc_free.restype = None


def _address(pointer) -> int:
    return int(_cmark.ffi.cast("uintptr_t", pointer))

_PARAGRAPH = re.compile(r"<p(?:\s[^>]*)?>(.*?)</p>", re.S)
_IMAGE_ALT = re.compile(r'<img\b[^>]*?\salt="([^"]*)"[^>]*>')
_ANY_TAG = re.compile(r"<[^>]*>")
_FORBIDDEN_REFERENCE = re.compile(r"&#(?:0*6553[45]|[xX]0*[fF]{3}[eEfF]);")


def clean_text(text: str) -> str:
    """Remove the characters XML forbids."""
    return _XML_FORBIDDEN.sub("", text)


def render_markdown(source: str, base_url: str) -> tuple[str, str]:
    """Render Markdown to sanitized HTML; return ``(html, first_paragraph_text)``.

    Relative link and image URLs (Markdown or raw HTML) become absolute against
    ``base_url`` so the HTML works unchanged in feeds, emails and partner sites.
    Character references to characters XML forbids (``&#1;``) are dropped too.
    """
    try:
        rendered = _cmark_html(source)
    except UnicodeDecodeError:
        # cmark writes invalid UTF-8 for a reference to a noncharacter (&#xFFFE;); those
        # are characters XML forbids anyway, so drop such references and render again
        rendered = _cmark_html(_FORBIDDEN_REFERENCE.sub("", source))
    body = clean_text(sanitize_html(rendered, base_url))
    return body, _first_paragraph(body)


def _cmark_html(source: str) -> str:
    lib = _cmark.lib
    data = source.encode("utf-8")
    parser = lib.cmark_parser_new(_OPTIONS)
    try:
        for extension in _EXTENSIONS:
            lib.cmark_parser_attach_syntax_extension(parser, extension)
        lib.cmark_parser_feed(parser, data, len(data))
        root = lib.cmark_parser_finish(parser)
        try:
            html_ = lib.cmark_render_html(root, _OPTIONS, lib.cmark_parser_get_syntax_extensions(parser))
            try:
                return _cmark.ffi.string(html_).decode("utf-8")
            finally:
                _libc_free(_address(html_))
        finally:
            _cmark_node_free(_address(root))
    finally:
        lib.cmark_parser_free(parser)


def sanitize_html(html: str, base_url: str | None = None) -> str:
    """Keep only safe tags, attributes and URL schemes; with ``base_url``, make
    relative ``href`` and ``src`` URLs absolute."""

    def absolutize(tag: str, attribute: str, value: str) -> str:
        if attribute in ("href", "src") and not _ABSOLUTE.match(value):
            return urljoin(base_url, value)
        return value

    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        link_rel="noopener",
        strip_comments=True,
        attribute_filter=absolutize if base_url else None,
    ).strip()


def derive_summary(text: str, limit: int = 300) -> str:
    """Collapse whitespace and cut at a word boundary near ``limit`` characters."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    if cut < limit * 0.6:
        cut = limit
    return text[:cut].rstrip(" ,;:–-") + "…"


def _first_paragraph(body: str) -> str:
    """The plain text of the first non-empty ``<p>`` of sanitized HTML (an image counts
    as its alt text)."""
    for match in _PARAGRAPH.finditer(body):
        text = html.unescape(_ANY_TAG.sub("", _IMAGE_ALT.sub(r"\1", match.group(1))))
        if text.strip():
            return clean_text(text)
    return ""
