"""What every feed format is written from: one :class:`Entry` per news item, computed once
per build, and one :class:`FeedDoc` per feed document (a subscription document or one of
its RFC 5005 archive pages).

Entries are precomputed because a 10,000-item site puts each item in five or six feeds
(all, language, topics, organizations) and three formats: the per-item work (cleaning,
absolute URLs, labels, links) must not be repeated per feed.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html.entities import name2codepoint
from urllib.parse import quote

from ..catalog import Catalog
from ..markup import sanitize_html
from ..model import NewsItem

__all__ = [
    "Category",
    "Entry",
    "FeedDoc",
    "Link",
    "build_entries",
    "distinct_updates",
    "entry_for",
    "escape_if_markup",
    "iso_date",
    "looks_like_markup",
    "paginate",
    "rfc2822",
    "safe_url",
    "xml_text",
]

# XML 1.0 forbids these; C1 controls and lone surrogates are allowed or unencodable but
# make validators warn (or lxml raise), so they go too.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_ENTITY = re.compile(r"&(#?\w+)")
_TAG = re.compile(r"<[/!?A-Za-z]")
_RELATIVE_URL_ATTR = re.compile(r'\s(?:href|src)="(?![A-Za-z][A-Za-z0-9+.-]*:)')
_SCHEME_AT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
TRANSLATION_TYPE = "text/html; charset=utf-8"
# characters a URL may carry as they are; everything else is percent-encoded
_URL_SAFE = ":/?#[]@!$&'()*+,;=%~"


def xml_text(text: str) -> str:
    """``text`` without the characters XML (or the W3C validator) refuses."""
    return _UNSAFE.sub("", text)


def looks_like_markup(text: str) -> bool:
    """Would a reader (or the W3C validator) take this plain text for HTML? True for tags
    (``<b>``, ``</p>``) and entity references (``&amp;``, ``&#39;``), not for ``AT&T``
    or ``x < y``: the same test the validator applies to plain-text elements."""
    if _TAG.search(text):
        return True
    return any(name in name2codepoint or name == "apos" or not name.isalpha()
               for name in _ENTITY.findall(text))


def escape_if_markup(text: str) -> tuple[str, bool]:
    """Plain text for an element that readers may treat as HTML: text that looks like
    markup is HTML-escaped so it shows as written and never becomes live markup.
    Returns ``(text, escaped)``."""
    if looks_like_markup(text):
        return html.escape(text, quote=False), True
    return text, False


def safe_url(url: str) -> str:
    """``url`` percent-encoded where it has spaces or non-ASCII characters (an IRI):
    RSS enclosures and the W3C validator accept URIs only."""
    return quote(xml_text(url), safe=_URL_SAFE)


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def rfc2822(when: datetime) -> str:
    """An RSS date, exactly as feedgen's ``formatRFC2822`` writes it (strftime in the C
    locale), without switching the whole process's locale three times a date."""
    return (f"{_DAYS[when.weekday()]}, {when.strftime('%d')} {_MONTHS[when.month - 1]} "
            f"{when.strftime('%Y %H:%M:%S %z')}")


def iso_date(when: datetime) -> str:
    """RFC 3339, with fractional seconds only when there are any."""
    if not when.microsecond:
        return when.isoformat(timespec="seconds")
    return when.isoformat(timespec="milliseconds" if when.microsecond % 1000 == 0
                          else "microseconds")


def absolute_html(body: str, base: str) -> str:
    """Make every ``href``/``src`` in sanitized HTML absolute against ``base`` (the item's
    page). Markdown links are already absolute; raw HTML and ``#fragment`` links may not
    be, and readers resolve feed content against the feed, not the page."""
    if not _has_relative_url(body):
        return body
    # Through the sanitizer again: it rewrites attributes of parsed elements, where a
    # regular expression would also rewrite text that looks like one (href="x" in <code>).
    return sanitize_html(body, base, fragments=True)


def _has_relative_url(body: str) -> bool:
    """``_RELATIVE_URL_ATTR.search(body)``, several times faster on a long body: str.find
    goes from one ``href="``/``src="`` to the next instead of a regular expression trying
    every position."""
    for attribute in ('href="', 'src="'):
        at = body.find(attribute)
        while at != -1:
            value = at + len(attribute)
            if at and body[at - 1].isspace() and not _SCHEME_AT.match(body, value):
                return True
            at = body.find(attribute, value)
    return False


@dataclass(frozen=True, slots=True)
class Link:
    href: str
    rel: str
    type: str | None = None
    hreflang: str | None = None
    length: int | None = None


@dataclass(frozen=True, slots=True)
class Category:
    term: str
    scheme: str
    label: str


@dataclass(frozen=True, slots=True)
class Entry:
    """One news item as every feed shows it. Strings are XML-safe plain text except
    ``content_html``; URLs are absolute."""

    id: str
    url: str
    title: str
    summary: str
    content_html: str
    lang: str
    published: datetime
    updated: datetime
    authors: tuple[str, ...]
    categories: tuple[Category, ...]
    links: tuple[Link, ...]          # alternate first, then translations, via, enclosure
    image_url: str | None

    @property
    def permalink_id(self) -> bool:
        """Is the id the item's page? (RSS ``guid isPermaLink``.)"""
        return self.id == self.url


@dataclass(frozen=True, slots=True)
class FeedDoc:
    """One feed document in all formats: a subscription document or an archive page."""

    title: str
    description: str
    lang: str                         # the language of the feed's own texts
    page_url: str                     # the HTML page the feed mirrors
    page_lang: str | None             # its language; None for the all-languages feed
    publisher: str                    # the site's name: the feed's author
    home_url: str                     # the site's front page
    self_urls: dict[str, str]         # format -> this document's URL
    feed_id: str                      # Atom id, shared by a feed's archive pages
    updated: datetime
    entries: tuple[Entry, ...]
    hubs: tuple[str, ...] = ()
    prev_archive: dict[str, str] | None = None   # format -> URL
    next_archive: dict[str, str] | None = None
    current: dict[str, str] | None = None        # set on archive pages only

    @property
    def is_archive(self) -> bool:
        return self.current is not None

    def links(self, fmt: str) -> list[tuple[str, str]]:
        """``(rel, href)`` of the hub and RFC 5005 links in format ``fmt``."""
        links = [("hub", hub) for hub in self.hubs]
        for rel, urls in (("current", self.current), ("prev-archive", self.prev_archive),
                          ("next-archive", self.next_archive)):
            if urls:
                links.append((rel, urls[fmt]))
        return links


def paginate(entries: Sequence[Entry], size: int) -> tuple[list[Entry], list[list[Entry]]]:
    """Split newest-first ``entries`` into the subscription document's ``size`` newest and
    archive pages of ``size`` counted from the OLDEST end, so that a full page never
    changes when items are added. ``pages[0]`` is page 1, the oldest; each page is
    newest first."""
    current, older = list(entries[:size]), list(entries[size:])
    older.reverse()
    pages = [older[i:i + size] for i in range(0, len(older), size)]
    return current, [page[::-1] for page in pages]


# -- entries ------------------------------------------------------------------------


def build_entries(catalog: Catalog) -> dict[str, Entry]:
    """Every public item's :class:`Entry`, by item id."""
    updated = distinct_updates(catalog)
    return {item.id: entry_for(catalog, item, updated[item.id]) for item in catalog.items}


def distinct_updates(catalog: Catalog) -> dict[str, datetime]:
    """Each item's ``updated``: its last change, never after ``catalog.now``, and unique
    across the site. The W3C validator warns about two Atom entries with the same
    ``updated`` (translations published together, two items dated by day); items that
    tie get 1 ms, 2 ms… added in id order, the same in every feed."""
    # by timestamp: datetimes of one zone compare by wall time, wrong in a repeated DST hour
    now, now_ts = catalog.now, catalog.now.timestamp()
    updated: dict[str, datetime] = {}
    previous, rank = None, 0
    changes = []
    for item in catalog.items:
        ts = item.modified.timestamp()
        changes.append((ts, item.id, item.modified) if ts <= now_ts else (now_ts, item.id, now))
    for ts, item_id, when in sorted(changes):
        rank = rank + 1 if ts == previous else 0
        previous = ts
        updated[item_id] = when + timedelta(milliseconds=rank) if rank else when
    return updated


def entry_for(catalog: Catalog, item: NewsItem, updated: datetime) -> Entry:
    """The item as feeds show it; ``updated`` from :func:`distinct_updates`."""
    url = safe_url(item.url)
    summary = xml_text(item.summary or item.title)
    body = xml_text(catalog.body(item)) or f"<p>{html.escape(summary, quote=False)}</p>"
    return Entry(
        id=xml_text(item.id),
        url=url,
        title=xml_text(item.title),
        summary=summary,
        content_html=absolute_html(body, url),
        lang=item.lang,
        published=item.date,
        updated=updated,
        authors=tuple(xml_text(a) for a in item.authors),
        categories=_categories(catalog, item),
        links=_links(catalog, item, url),
        image_url=safe_url(item.image.url) if item.image and item.image.url else None,
    )


def _categories(catalog: Catalog, item: NewsItem) -> tuple[Category, ...]:
    site = catalog.site
    topics = [Category(key, f"{site.base_url}topics/",
                       xml_text(site.text(catalog.topics[key].title, item.lang)))
              for key in item.topics if key in catalog.topics]
    orgs = [Category(slug, f"{site.base_url}organizations/",
                     xml_text(site.text(catalog.profiles[slug].name, item.lang)))
            for slug in item.organizations if slug in catalog.profiles]
    return tuple(topics + orgs)


def _links(catalog: Catalog, item: NewsItem, url: str) -> tuple[Link, ...]:
    links = [Link(url, "alternate", "text/html", item.lang)]
    translations = sorted(catalog.translations(item), key=lambda t: (t.lang, t.url))
    # Readers differ on which HTML alternate is "the" link: most take the first,
    # feedparser the last one typed exactly text/html. The item page comes first and
    # translations carry the (true) charset parameter, so both pick the item page.
    links += [Link(safe_url(t.url), "alternate", TRANSLATION_TYPE, t.lang)
              for t in translations]
    if item.canonical_url:
        links.append(Link(safe_url(item.canonical_url), "via", "text/html"))
    image = item.image
    if image and image.url:
        links.append(Link(safe_url(image.url), "enclosure",
                          image.media_type or "application/octet-stream", None, image.length))
    return tuple(links)
