"""``sitemap.xml`` and ``robots.txt``: every public page for search engines.

Each URL has its ``lastmod`` (an item's ``updated``, else its ``date``; a list page's
newest item) and, where a page exists in other languages, ``xhtml:link`` hreflang
alternates to each version, itself included (items: the translations sharing a
``translation_key``), and ``x-default``: the default language's version. Above
:data:`MAX_URLS` URLs (the protocol's limit) ``sitemap.xml``
becomes a sitemap index of ``sitemaps/sitemap-<n>.xml`` files. Items with a
``canonical_url`` are left out: their page names another URL as the one to index.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from html import escape
from urllib.parse import urlsplit

from ..catalog import Catalog, key_of
from ..config import Newsletter
from ..editions import Edition
from ..model import NewsItem
from ..rebuild import Recall
from ..urls import index_path, organization_path, url_of
from . import Listing, Output, Sink, emit, seo
from .digest import archive_path, edition_path
from .pages import FRONT_PAGE_ITEMS, ORGANIZATION_PAGE_ITEMS

__all__ = ["MAX_URLS", "ROBOTS_PATH", "SITEMAP_PATH", "Url", "page_urls", "render", "robots_txt"]

SITEMAP_PATH = "sitemap.xml"
ROBOTS_PATH = "robots.txt"
PARTNERS_FOLDER = "syndication/partners/"
MAX_URLS = 50_000
XML = "application/xml"
Editions = tuple[tuple[Newsletter, tuple[Edition, ...]], ...]
_SPECIAL = re.compile("[&<>\"']")

_URLSET = ('<?xml version="1.0" encoding="UTF-8"?>\n'
           '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
           'xmlns:xhtml="http://www.w3.org/1999/xhtml">\n')
_INDEX = ('<?xml version="1.0" encoding="UTF-8"?>\n'
          '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n')


@dataclass(frozen=True)
class Url:
    loc: str
    lastmod: datetime | None = None
    alternates: tuple[tuple[str, str], ...] = ()   # (hreflang, URL), this page's own among them


def render(catalog: Catalog, sink: Sink | None = None,
           editions: Iterable[tuple[Newsletter, Sequence[Edition]]] = (),
           max_urls: int = MAX_URLS, recall: Recall | None = None) -> Sink:
    """``sitemap.xml`` (listed in the manifest) and ``robots.txt``; ``editions``: the
    newsletters' published editions (the web archive). The sitemap is keyed by what it
    says (the items' URLs, languages, translations and modification times), so a rebuild
    after an edit of an item's text does not write it again. ``recall``: a running
    process's previous build (:mod:`pipeline.rebuild`), whose digest of the items stands
    when no changed item changed its modification time."""
    sink = Output() if sink is None else sink
    site = catalog.site
    editions = tuple((newsletter, tuple(published)) for newsletter, published in editions)
    urls = cache(lambda: [*page_urls(catalog), *archive_urls(catalog, editions)])
    count = (len(site.languages) * (1 + len(catalog.profiles))
             + sum(1 for item in catalog.items if not item.canonical_url)
             + sum(1 + len(published) for _, published in editions))
    key = _key(catalog, editions, max_urls, _items_key(catalog, recall))
    title = site.text(site.title, site.default_language)
    listing = Listing("sitemap", XML, f"{title}: sitemap", None, count, catalog.updated)
    if count <= max_urls:
        emit(sink, SITEMAP_PATH, key, lambda: _urlset(urls()), listing)
    else:
        starts = range(0, count, max_urls)
        index = [Url(f"{site.base_url}sitemaps/sitemap-{n}.xml") for n in range(1, len(starts) + 1)]
        for start, part in zip(starts, index, strict=True):
            emit(sink, part.loc.removeprefix(site.base_url), key,
                 lambda start=start: _urlset(urls()[start:start + max_urls]))
        emit(sink, SITEMAP_PATH, key, lambda: _index(
            [Url(part.loc, _newest(u.lastmod for u in urls()[start:start + max_urls]))
             for start, part in zip(starts, index, strict=True)]), listing)
    sink.add(ROBOTS_PATH, robots_txt(site.base_url).encode())
    return sink


def robots_txt(base_url: str) -> str:
    """Crawl everything but the partners' files (partner-only items live there; they are
    not secret, only not for the public), under the site's path; the Disallow line first,
    for crawlers that take the first rule that matches."""
    path = urlsplit(base_url).path or "/"
    return (f"User-agent: *\nDisallow: {path}{PARTNERS_FOLDER}\nAllow: /\n\n"
            f"Sitemap: {base_url}{SITEMAP_PATH}\n")


def _key(catalog: Catalog, editions: Editions, max_urls: int, items: str) -> str:
    """Everything the sitemap says, beside what the catalog's fingerprint covers (the
    configuration, the profiles, the code); ``items``: :func:`_items_key`."""
    issues = [f"{n.id} {e.label} {e.scheduled.timestamp()}" for n, published in editions for e in published]
    return key_of(catalog.fingerprint, catalog.profiles_fingerprint, "sitemap", str(max_urls), items, *issues)


def _items_key(catalog: Catalog, recall: Recall | None) -> str:
    """A digest of what the sitemap says of the items."""
    kept = recall.plan("sitemap") if recall is not None else None
    if kept is None or any(before.modified.timestamp() != after.modified.timestamp()
                           for before, after in recall.changes):
        # an organization page's lastmod is its items': their organizations are part of it
        kept = key_of(*[f"{i.url} {i.lang} {i.modified.timestamp()} {i.translation_key} {i.canonical_url} "
                        f"{' '.join(i.organizations)}" for i in catalog.items])
    if recall is not None:
        recall.plans["sitemap"] = kept
    return kept


def page_urls(catalog: Catalog) -> Iterator[Url]:
    """The front pages, item pages and organization pages (see :mod:`.pages`)."""
    site = catalog.site
    default = site.default_language
    fronts = tuple((lang, url_of(site, index_path(site, lang))) for lang in site.languages)
    for lang, url in fronts:
        shown = catalog.in_language(lang)[:FRONT_PAGE_ITEMS]
        yield Url(url, _newest(i.modified for i in shown), seo.hreflang(fronts, default))
    families = {key: _versions(group, default) for key, group in catalog.by_translation_key.items()}
    for item in catalog.items:
        if item.canonical_url:
            continue
        alternates = families.get(item.translation_key, ()) if item.translation_key else ()
        if alternates and (item.lang, item.url) not in alternates:   # two versions in one language
            alternates = _versions((item, *catalog.translations(item)), default)
        yield Url(item.url, item.modified, alternates)
    for slug in catalog.profiles:
        pages = tuple((lang, url_of(site, organization_path(site, lang, slug))) for lang in site.languages)
        items = catalog.by_organization.get(slug, ())
        for lang, url in pages:
            shown = [i for i in items if i.lang == lang][:ORGANIZATION_PAGE_ITEMS]
            yield Url(url, _newest(i.modified for i in shown), seo.hreflang(pages, default))


def archive_urls(catalog: Catalog, editions: Iterable[tuple[Newsletter, Sequence[Edition]]]) -> Iterator[Url]:
    """Each newsletter's page in the web archive and its editions' pages."""
    site = catalog.site
    for newsletter, published in editions:
        yield Url(url_of(site, archive_path(newsletter.id)), _newest(e.scheduled for e in published))
        for edition in published:
            yield Url(url_of(site, edition_path(newsletter.id, edition.label)), edition.scheduled)


def _versions(items: Iterable[NewsItem], default: str) -> tuple[tuple[str, str], ...]:
    """hreflang alternates between translations: the first of each language, none where
    the page is not to be indexed (``canonical_url``)."""
    versions: dict[str, str] = {}
    for item in items:
        if not item.canonical_url:
            versions.setdefault(item.lang, item.url)
    return seo.hreflang(versions.items(), default)


def _newest(instants: Iterable[datetime | None]) -> datetime | None:
    return max((i for i in instants if i is not None), key=datetime.timestamp, default=None)


def _lastmod(when: datetime | None) -> str:
    return f"<lastmod>{when.isoformat(timespec='seconds')}</lastmod>" if when else ""


def _urlset(urls: Sequence[Url]) -> bytes:
    parts = [_URLSET]
    blocks: dict[tuple[tuple[str, str], ...], str] = {}   # translations share their alternates
    for url in urls:
        links = blocks.get(url.alternates)
        if links is None:
            links = blocks[url.alternates] = "".join(
                f'<xhtml:link rel="alternate" hreflang="{_xml(lang)}" href="{_xml(href)}"/>'
                for lang, href in url.alternates)
        parts.append(f"<url><loc>{_xml(url.loc)}</loc>{_lastmod(url.lastmod)}{links}</url>\n")
    parts.append("</urlset>\n")
    return "".join(parts).encode("utf-8")


def _xml(text: str) -> str:
    return escape(text) if _SPECIAL.search(text) else text   # URLs seldom hold any


def _index(sitemaps: Sequence[Url]) -> bytes:
    entries = "".join(f"<sitemap><loc>{_xml(part.loc)}</loc>{_lastmod(part.lastmod)}</sitemap>\n"
                      for part in sitemaps)
    return (_INDEX + entries + "</sitemapindex>\n").encode("utf-8")
