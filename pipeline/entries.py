"""Reading an upstream feed (RSS, Atom or JSON Feed) into plain :class:`Entry` records.

Everything here is untrusted: text fields come out as plain text, cleaned and bounded;
HTML content is sanitized strictly with nh3 (text formatting, lists, quotes and links;
no images, tables, styles or scripts) with every link made absolute; links and images are
kept only as absolute http(s) URLs. A document that declares XML entities is refused
before any parser sees it (entity expansion, "billion laughs"), and malformed XML is an
error, not a guess.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import nh3

from .markup import TooDeep, clean_text, refuse_deep_nesting

__all__ = ["Entry", "FeedError", "ParsedFeed", "parse_feed"]

MAX_TITLE = 300
MAX_GUID = 2_000
MAX_AUTHORS = 10
MAX_ENTRIES = 1_000   # a feed with more is refused (XML) or cut (JSON): parsing time stays bounded

_CONTENT_TAGS = {"p", "br", "a", "em", "strong", "b", "i", "u", "ul", "ol", "li", "blockquote", "h2", "h3",
                 "h4", "code", "pre", "q", "cite", "sub", "sup", "abbr", "dl", "dt", "dd", "hr"}
_CONTENT_ATTRIBUTES = {"a": {"href", "title", "hreflang"}, "abbr": {"title"}, "*": {"lang"}}
_URL_SCHEMES = {"http", "https", "mailto"}
_LANGUAGE = re.compile(r"[a-zA-Z]{2,3}(?:[-_][a-zA-Z0-9]{1,8})*")


class FeedError(ValueError):
    """The body is not a feed we read: the message says why."""


@dataclass(frozen=True)
class Entry:
    guid: str                         # the entry's id, else its link
    title: str                        # plain text
    link: str | None                  # absolute http(s)
    published: datetime | None        # UTC
    updated: datetime | None
    summary: str                      # plain text, may be empty
    content: str                      # sanitized HTML, may be empty
    lang: str | None                  # the entry's own language, else the feed's (primary subtag)
    image: tuple[str, str] | None     # (absolute http(s) URL, alt text)
    authors: tuple[str, ...] = ()
    problem: str | None = None        # why it cannot become an item (its content was refused)


@dataclass(frozen=True)
class ParsedFeed:
    kind: str                         # rss, atom, json
    entries: list[Entry]
    lang: str | None                  # the feed's language


def parse_feed(body: bytes, content_type: str = "", url: str = "",
               content_language: str | None = None) -> ParsedFeed:
    """The entries of ``body``, fetched from ``url``; :class:`FeedError` when it is no feed."""
    if _looks_like_json(body, content_type):
        return _parse_json_feed(body, url)
    _refuse_entity_declarations(body)
    entries = body.count(b"<item") + body.count(b"<entry")
    if entries > MAX_ENTRIES:
        raise FeedError(f"the feed has {entries:,} entries; at most {MAX_ENTRIES:,} are read")
    return _parse_xml_feed(body, content_type, url, content_language)


def _looks_like_json(body: bytes, content_type: str) -> bool:
    head = body[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    return "json" in content_type.lower() or head.startswith(b"{")


def _refuse_entity_declarations(body: bytes) -> None:
    """No feed needs its own entities; a document declaring them may expand to gigabytes."""
    text = body
    if body[:2] in (b"\xff\xfe", b"\xfe\xff") or body[:2] in (b"<\x00", b"\x00<"):
        try:
            text = body.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError:
            raise FeedError("not a feed: the text is neither UTF-8 nor valid UTF-16") from None
    if b"<!ENTITY" in text:
        raise FeedError("the document declares XML entities (<!ENTITY): refused, as an entity "
                        "expansion attack could hide there")


# -- RSS and Atom, through feedparser ----------------------------------------------------------


def _parse_xml_feed(body: bytes, content_type: str, url: str, content_language: str | None) -> ParsedFeed:
    import feedparser  # its import costs ~0.1 s: only when a source is read

    headers = {"content-location": url, "content-type": content_type or "application/xml"}
    if content_language:
        headers["content-language"] = content_language
    # feedparser's own sanitizer and URI resolver are slow on hostile markup; nh3 does both
    parsed = feedparser.parse(body, response_headers=headers, sanitize_html=False,
                              resolve_relative_uris=False)
    version = parsed.get("version") or ""
    if not version:
        looks = "an HTML page" if b"<html" in body[:4096].lower() else "something else"
        raise FeedError(f"not an RSS or Atom feed (the body is {looks})")
    problem = parsed.get("bozo_exception")
    if parsed.get("bozo") and not isinstance(problem, feedparser.CharacterEncodingOverride
                                             | feedparser.NonXMLContentType):
        raise FeedError(f"malformed XML: {_describe_xml_error(problem)}")
    feed_lang = _language(parsed.feed.get("language"))
    entries = [entry for raw in parsed.entries
               if (entry := _guarded(_xml_entry, raw, feed_lang, url)) is not None]
    return ParsedFeed("atom" if version.startswith("atom") else "rss", entries, feed_lang)


def _guarded(read, raw, feed_lang: str | None, base: str) -> Entry | None:
    """One entry; one whose content is refused stays, with its problem, for the report."""
    try:
        return read(raw, feed_lang, base)
    except TooDeep as exc:
        guid = raw.get("id") or raw.get("link") or raw.get("url") or ""
        title = raw.get("title") if isinstance(raw.get("title"), str) else ""
        return Entry(guid=str(guid)[:MAX_GUID], title=_plain(title), link=None, published=None, updated=None,
                     summary="", content="", lang=None, image=None, problem=f"its content {exc}")


def _describe_xml_error(problem: object) -> str:
    text = str(problem) if problem is not None else "unknown error"
    text = text.replace("<unknown>:", "line ")
    return text[:200]


def _xml_entry(raw, feed_lang: str | None, url: str) -> Entry | None:
    link = _http_url(raw.get("link"), (raw.get("title_detail") or {}).get("base") or url)
    guid = _text(raw.get("id") or "", limit=MAX_GUID + 1) or (link or "")
    if not guid or len(guid) > MAX_GUID:
        return None
    title_detail = raw.get("title_detail") or {}
    title = _plain(raw.get("title") or "", html_=title_detail.get("type") == "text/html")
    contents = raw.get("content") or []
    content_html = contents[0].get("value", "") if contents else ""
    content_is_text = bool(contents) and contents[0].get("type") == "text/plain"
    summary_html = raw.get("summary") or ""
    if not content_html:
        content_html = summary_html
        content_is_text = (raw.get("summary_detail") or {}).get("type") == "text/plain"
    detail = contents[0] if contents else (raw.get("summary_detail") or {})
    base = _http_url(detail.get("base"), url) or url   # xml:base, else the feed's address
    content = _text_as_html(content_html) if content_is_text else sanitize_content(content_html, base)
    summary = _plain(summary_html, html_=True) if summary_html != content_html or not content else ""
    lang = (_language(title_detail.get("language"))
            or _language((contents[0] if contents else {}).get("language")) or feed_lang)
    # dict.get: feedparser's own get falls back from updated to published, with a warning
    return Entry(guid=guid, title=title, link=link, published=_struct_time(raw.get("published_parsed")),
                 updated=_struct_time(dict.get(raw, "updated_parsed")), summary=summary, content=content,
                 lang=lang, image=_xml_image(raw, url, title), authors=_xml_authors(raw))


def _xml_image(raw, base: str, title: str) -> tuple[str, str] | None:
    candidates = []
    for media in raw.get("media_content") or []:
        if media.get("medium") == "image" or str(media.get("type", "")).startswith("image/"):
            candidates.append(media.get("url"))
    candidates += [t.get("url") for t in raw.get("media_thumbnail") or []]
    candidates += [e.get("href") for e in raw.get("enclosures") or []
                   if str(e.get("type", "")).startswith("image/")]
    for candidate in candidates:
        if src := _http_url(candidate, base):
            return src, title
    return None


def _xml_authors(raw) -> tuple[str, ...]:
    names = [a.get("name") for a in raw.get("authors") or [] if isinstance(a, dict)]
    if not any(names) and raw.get("author"):
        names = [raw.get("author")]
    return _names(names)


def _struct_time(value) -> datetime | None:
    if not value:
        return None
    try:
        return _plausible(datetime(*value[:6], tzinfo=UTC))
    except (TypeError, ValueError, OverflowError):
        return None


def _plausible(when: datetime | None) -> datetime | None:
    """A date a news item can have (years 1900 to 2999), else None: year 1 or 9999 would
    overflow in every time zone arithmetic after."""
    return when if when is not None and 1900 <= when.year <= 2999 else None


# -- JSON Feed ---------------------------------------------------------------------------------


def _parse_json_feed(body: bytes, url: str) -> ParsedFeed:
    try:
        document = json.loads(body)
    except RecursionError:
        raise FeedError("not a JSON Feed: the JSON is nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise FeedError(f"not a JSON Feed: invalid JSON ({str(exc)[:120]})") from None
    if not isinstance(document, dict) or not str(document.get("version", "")).startswith(
            "https://jsonfeed.org/version/"):
        raise FeedError("not a JSON Feed: no \"version\": \"https://jsonfeed.org/version/1.1\"")
    items = document.get("items")
    if not isinstance(items, list):
        raise FeedError("not a JSON Feed: \"items\" is not a list")
    feed_lang = _language(document.get("language"))
    base = _http_url(document.get("feed_url"), url) or url
    entries = [entry for item in items[:MAX_ENTRIES]
               if isinstance(item, dict) and (entry := _guarded(_json_entry, item, feed_lang, base))]
    return ParsedFeed("json", entries, feed_lang)


def _json_entry(item: dict, feed_lang: str | None, base: str) -> Entry | None:
    link = _http_url(item.get("url"), base) or _http_url(item.get("external_url"), base)
    raw_id = item.get("id")
    guid = _text(str(raw_id), limit=MAX_GUID + 1) if isinstance(raw_id, str | int) else ""
    guid = guid or (link or "")
    if not guid or len(guid) > MAX_GUID:
        return None
    title = _plain(_str(item.get("title")))
    content_html, content_text = _str(item.get("content_html")), _str(item.get("content_text"))
    content = (sanitize_content(content_html, link or base) if content_html
               else _text_as_html(content_text) if content_text else "")
    summary = _plain(_str(item.get("summary")))
    image = next((src for key in ("image", "banner_image") if (src := _http_url(item.get(key), base))), None)
    authors = item.get("authors") if isinstance(item.get("authors"), list) else [item.get("author")]
    return Entry(guid=guid, title=title, link=link, published=_iso(item.get("date_published")),
                 updated=_iso(item.get("date_modified")), summary=summary, content=content,
                 lang=_language(item.get("language")) or feed_lang, image=(image, title) if image else None,
                 authors=_names([a.get("name") for a in authors if isinstance(a, dict)]))


def _iso(value) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
        if not 1900 <= parsed.year <= 2999:
            return None
        return _plausible(parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC))
    except (ValueError, OverflowError):
        return None


# -- text, HTML and URLs -----------------------------------------------------------------------


def sanitize_content(content: str, base: str) -> str:
    """Strict HTML: formatting, lists, quotes and absolute http(s)/mailto links only.
    Raises :class:`TooDeep` first for markup nested or sized beyond what a body may hold
    (sanitizing it would take time that grows with the square of its depth)."""
    refuse_deep_nesting(content)

    def absolute_links(tag: str, attribute: str, value: str) -> str | None:
        if attribute != "href":
            return value
        resolved = urljoin(base, value.strip()) if base else value.strip()
        return resolved if urlsplit(resolved).scheme in _URL_SCHEMES else None

    return nh3.clean(content, tags=_CONTENT_TAGS, attributes=_CONTENT_ATTRIBUTES, url_schemes=_URL_SCHEMES,
                     link_rel=None, strip_comments=True,
                     attribute_filter=absolute_links).strip()


def _text_as_html(text: str) -> str:
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", clean_text(text))]
    return "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs if p)


def _plain(value: str, html_: bool = True, limit: int = MAX_TITLE) -> str:
    """Plain one-line text; markup removed when the value is HTML."""
    text = html.unescape(nh3.clean(value, tags=set())) if html_ else value
    return _text(text, limit)


def _text(value: str, limit: int) -> str:
    text = " ".join(clean_text(value).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _str(value) -> str:
    return value if isinstance(value, str) else ""


def _names(values) -> tuple[str, ...]:
    names = [_text(v, 100) for v in values if isinstance(v, str)]
    return tuple(dict.fromkeys(n for n in names if n))[:MAX_AUTHORS]


def _language(value) -> str | None:
    if not isinstance(value, str) or not _LANGUAGE.fullmatch(value.strip()):
        return None
    return re.split(r"[-_]", value.strip())[0].lower()


def _http_url(value, base: str) -> str | None:
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_GUID:
        return None
    resolved = urljoin(base, value.strip()) if base else value.strip()
    parts = urlsplit(resolved)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in resolved):
        return None
    return resolved
