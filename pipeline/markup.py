"""Text helpers shared by the readers: Markdown to safe HTML, summaries, XML-safe text."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import nh3
from markdown_it import MarkdownIt

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

_md = MarkdownIt("commonmark", {"html": True, "typographer": False}).enable(
    ["table", "strikethrough"]
)


def clean_text(text: str) -> str:
    """Remove the characters XML forbids."""
    return _XML_FORBIDDEN.sub("", text)


def render_markdown(source: str, base_url: str) -> tuple[str, str]:
    """Render Markdown to sanitized HTML; return ``(html, first_paragraph_text)``.

    Relative link and image URLs (Markdown or raw HTML) become absolute against
    ``base_url`` so the HTML works unchanged in feeds, emails and partner sites.
    Character references to characters XML forbids (``&#1;``) are dropped too.
    """
    tokens = _md.parse(source)
    first_paragraph = ""
    for i, token in enumerate(tokens[1:], start=1):
        if token.type == "inline" and tokens[i - 1].type == "paragraph_open":
            first_paragraph = _plain_text(token.children or [])
            if first_paragraph:
                break
    html = _md.renderer.render(tokens, _md.options, {})
    return clean_text(sanitize_html(html, base_url)), clean_text(first_paragraph)


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


def _plain_text(children: list) -> str:
    parts = []
    for child in children:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
        elif child.type == "image":
            parts.append(child.content)
    return "".join(parts)
