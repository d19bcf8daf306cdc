"""Text helpers shared by the readers: Markdown to safe HTML, summaries, XML-safe text."""

from __future__ import annotations

import ctypes
import ctypes.util
import html
import re
import threading
from urllib.parse import urljoin

import nh3
from cmarkgfm import _cmark
from cmarkgfm.cmark import Options

__all__ = ["MAX_NESTING", "TooDeep", "clean_text", "derive_summary", "is_clean_utf8", "is_local_image",
           "local_images", "refuse_deep_nesting", "render_markdown", "replace_in_tags", "sanitize_html",
           "with_local_images"]

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
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")

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


# the characters of _XML_FORBIDDEN as UTF-8: the C0 controls but tab, LF and CR, and
# U+FFFE, U+FFFF
_FORBIDDEN_BYTES = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20)])


def is_clean_utf8(data: bytes) -> bool:
    """Whether UTF-8 ``data`` holds none of the characters :func:`clean_text` removes:
    several times faster than the regular expression on the decoded text."""
    return (len(data.translate(None, _FORBIDDEN_BYTES)) == len(data)
            and b"\xef\xbf\xbe" not in data and b"\xef\xbf\xbf" not in data)


# The sanitizer's HTML tree builder takes time quadratic in nesting depth (50,000 nested
# blockquotes: minutes), so deeper HTML is refused before it gets there. No article nests
# a hundred levels, nor holds ten thousand elements that can nest: the second limit bounds
# the sanitizer's time (~0.2 s) even if the depth count below were ever fooled.
MAX_NESTING = 100
MAX_ELEMENTS = 10_000
# Elements that nest nothing, and those whose end tag may be left out (the HTML parser
# closes them when the next one starts): counting neither keeps valid HTML under the limit.
_NOT_NESTING = frozenset({
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "thead", "tbody", "tfoot", "option",
    "optgroup", "rt", "rp", "colgroup", "caption",
})
_RAW_TEXT = frozenset({"script", "style", "textarea", "title", "xmp", "iframe", "noembed", "noframes",
                       "noscript"})
# Anything that could start an element, wherever it stands (in text, comments, attributes):
# never fewer than the elements the parser makes.
_ELEMENT_LIKE = re.compile(r"<(?!(?:{})[\s/>])[a-zA-Z]".format("|".join(sorted(_NOT_NESTING))), re.I)
_OPENING = re.compile(r"<!--|<[!?]|<(/?)([a-zA-Z][^\s/>]*)")
# the rest of a tag, as the HTML tokenizer reads it: a value quoted right after "=" is whole
# (a ">" or "</div>" in it is no tag), an unquoted one ends at a space or ">"; possessive,
# so a tag that never ends costs one scan, not one per character
_TAG_REST = re.compile(r"(?:[^>=]++|=\s*+(?:\"[^\"]*+\"|'[^']*+'|(?![\"'])[^\s>]*+))*+>")


class TooDeep(ValueError):
    """A body nested more than :data:`MAX_NESTING` levels deep."""


def render_markdown(source: str, base_url: str) -> tuple[str, str]:
    """Render Markdown to sanitized HTML; return ``(html, first_paragraph_text)``.
    ``source`` holds no character XML forbids (:func:`clean_text`; the readers' text is
    cleaned whole).

    Relative link and image URLs (Markdown or raw HTML) become absolute against
    ``base_url`` so the HTML works unchanged in feeds, emails and partner sites.
    Character references to characters XML forbids (``&#1;``) are dropped too.
    Raises :class:`TooDeep` for a body nested too deeply to sanitize in bounded time.
    """
    try:
        rendered = _cmark_html(source)
    except UnicodeDecodeError:
        # cmark writes invalid UTF-8 for a reference to a noncharacter (&#xFFFE;); those
        # are characters XML forbids anyway, so drop such references and render again
        rendered = _cmark_html(_FORBIDDEN_REFERENCE.sub("", source))
    refuse_deep_nesting(rendered)
    body = sanitize_html(rendered, base_url)
    if "&#" in source:   # only a numeric character reference can bring one back
        body = clean_text(body)
    return body, _first_paragraph(body)


def refuse_deep_nesting(html_: str) -> None:
    """Raise :class:`TooDeep` if elements nest deeper than :data:`MAX_NESTING`, or there are
    more than :data:`MAX_ELEMENTS` of them. Depth is counted on a stack of open elements
    where an end tag closes only the element on top (a stray ``</x>``, one that the parser
    would ignore, closes nothing), so malformed HTML is counted deeper, never shallower."""
    if html_.count("<") <= MAX_NESTING:
        return   # too few tags to nest that deep: the usual case costs one count
    elements = sum(1 for _ in _ELEMENT_LIKE.finditer(html_))
    if elements <= MAX_NESTING:
        return
    if elements > MAX_ELEMENTS:
        raise TooDeep(f"holds {elements:,} HTML elements; at most {MAX_ELEMENTS:,}: simplify it")
    open_elements: list[str] = []
    lowered: str | None = None
    at = 0
    while (match := _OPENING.search(html_, at)) is not None:
        name = (match.group(2) or "").lower()
        if not name:   # a comment, doctype or processing instruction: skip it whole
            end = html_.find("-->" if match.group() == "<!--" else ">", match.end())
            if end == -1:
                return   # it runs to the end: nothing after it is markup
            at = end + 1
            continue
        rest = _TAG_REST.match(html_, match.end())
        if rest is None:
            return   # a tag that never ends swallows the rest
        at = rest.end()
        if name in _NOT_NESTING:
            continue
        if match.group(1):
            if open_elements and open_elements[-1] == name:
                open_elements.pop()
            continue
        open_elements.append(name)
        if len(open_elements) > MAX_NESTING:
            raise TooDeep(f"nested more than {MAX_NESTING} levels deep (blockquotes, lists or "
                          "HTML elements): simplify it")
        if name in _RAW_TEXT:   # its text is not markup: skip to its end tag
            lowered = html_.lower() if lowered is None else lowered
            at = lowered.find(f"</{name}", at)
            if at == -1:
                return


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


def sanitize_html(html: str, base_url: str | None = None, fragments: bool = False) -> str:
    """Keep only safe tags, attributes and URL schemes; with ``base_url``, make
    relative ``href`` and ``src`` URLs absolute (``#fragment`` links too if ``fragments``).
    Sanitizing sanitized HTML again changes nothing but those URLs: the way to rewrite
    the attributes of parsed elements, never text that looks like one."""
    if not base_url:
        return _PLAIN.clean(html).strip()
    _rebase.base_url, _rebase.keep = base_url, _SCHEME if fragments else _ABSOLUTE
    try:
        return _REBASING.clean(html).strip()
    finally:
        _rebase.base_url = None


def _absolutize(tag: str, attribute: str, value: str) -> str:
    """The attribute filter of :data:`_REBASING`: the base URL is the calling thread's."""
    if attribute in ("href", "src") and not _rebase.keep.match(value):
        if tag == "img" and attribute == "src" and is_local_image(value):
            return value   # a file under content/: resolved and renamed when media are
        return urljoin(_rebase.base_url, value)
    return value


# Two reusable sanitizers (building one per call took a third of the time): the second
# rewrites URLs against the base URL its calling thread set in _rebase.
_rebase = threading.local()
_SETTINGS = {"tags": _TAGS, "attributes": _ATTRIBUTES, "url_schemes": _URL_SCHEMES,
             "link_rel": "noopener", "strip_comments": True}
_PLAIN = nh3.Cleaner(**_SETTINGS)
_REBASING = nh3.Cleaner(**_SETTINGS, attribute_filter=_absolutize)


def is_local_image(src: str) -> bool:
    """Whether an ``<img src>`` names a file of the site (``media/scan.png``,
    ``../media/scan.png``) rather than a URL (``https://…``, ``//host/…``, ``/path``)."""
    return bool(src) and not _SCHEME.match(src) and not src.startswith(("/", "#", "?"))


# A tag of sanitized HTML: every attribute value double-quoted, and text never holds a raw
# "<", so these find exactly the tags (never text that looks like one).
_TAG = re.compile(r'<[a-zA-Z](?:[^>"]|"[^"]*")*>')
_IMG_TAG = re.compile(r'<img\b(?:[^>"]|"[^"]*")*>')
_ATTRIBUTE = re.compile(r'\s([a-z-]+)="([^"]*)"')


def replace_in_tags(body: str, replacements: dict[str, str], images_only: bool = False) -> str:
    """Sanitized HTML with each key of ``replacements`` (an attribute's start, such as
    `` src="media/x.png"``) replaced inside tags only (of ``<img>`` only, if asked)."""
    if not replacements:
        return body

    def fix(tag: re.Match[str]) -> str:
        text = tag.group()
        for old, new in replacements.items():
            text = text.replace(old, new)
        return text

    return (_IMG_TAG if images_only else _TAG).sub(fix, body)


def local_images(body: str) -> list[tuple[str, str]]:
    """``(src, alt)`` of each image of sanitized HTML that names a file of the site."""
    if "<img" not in body:
        return []
    found = []
    for tag in _IMG_TAG.finditer(body):
        attributes = dict(_ATTRIBUTE.findall(tag.group()))
        src = html.unescape(attributes.get("src", ""))
        if is_local_image(src):
            found.append((src, html.unescape(attributes.get("alt", ""))))
    return found


def with_local_images(body: str, urls: dict[str, str]) -> str:
    """``body`` with the ``src`` of its local images replaced by ``urls[src]`` (their
    published URLs): in ``<img>`` tags only, never in text that looks like one."""
    return replace_in_tags(body, {f' src="{html.escape(src)}"': f' src="{html.escape(url)}"'
                                  for src, url in urls.items()}, images_only=True)


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
