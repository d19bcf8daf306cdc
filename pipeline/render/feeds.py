"""Feeds: RSS 2.0, Atom 1.0 and JSON Feed 1.1 for every language, topic and organization,
with RFC 5005 archives, WebSub hub links and an OPML list of them all.

``render(catalog)`` is pure: no clock (every date comes from the catalog) and no disk.
For each logical feed (:class:`~pipeline.urls.FeedRef`) it writes:

- the subscription document ``feeds/…{.rss,.atom,.json}``: the newest ``feed_items``
  items, ``updated`` = its newest item's (an empty feed: the site's newest change);
- RFC 5005 archive pages ``feeds/archive/<feed>/<n>.<fmt>`` with the older items, counted
  from the oldest so a full page never changes: page 1 holds the oldest ``feed_items``
  items. The subscription document links ``prev-archive`` to the newest page; each page
  links ``prev-archive``/``next-archive`` to its neighbours and ``current`` to the
  subscription document. The newest page's ``next-archive`` is the subscription
  document: RFC 5005 readers walk ``prev-archive`` and never need it, but the W3C
  validator warns about an archive page with neither link (a feed with one page).
  JSON Feed pages chain with ``next_url`` from newest to oldest.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from babel import Locale

from ..catalog import Catalog
from ..config import Site
from ..model import NewsItem
from ..urls import (
    FEED_FORMATS,
    OPML_PATH,
    FeedRef,
    feeds_for_language,
    index_path,
    organization_path,
    url_of,
)
from . import Listing, Output
from .feed_json import JsonWriter
from .feed_model import Entry, FeedDoc, build_entries, paginate, safe_url, xml_text
from .feed_xml import XmlWriter
from .opml import OPML_MEDIA_TYPE, Outline, render_opml

__all__ = ["archive_path", "feed_documents", "feed_refs", "feed_title", "items_of", "render"]


def render(catalog: Catalog) -> Output:
    """Every feed document, archive page and ``feeds.opml`` of the catalog."""
    site = catalog.site
    entries = build_entries(catalog)
    icon, logo = _asset_url(site, site.icon), _asset_url(site, site.logo)
    xml, js = XmlWriter(icon=icon, logo=logo), JsonWriter(icon=icon)   # caches: one per build
    output = Output()
    outlines = []
    for ref in feed_refs(catalog):
        feed_entries = [entries[item.id] for item in items_of(catalog, ref)]
        docs = feed_documents(catalog, ref, feed_entries)
        for number, doc in enumerate(docs):
            files = {**xml.write(doc), "json": js.write(doc)}
            for fmt, data in files.items():
                path = ref.path(fmt) if number == 0 else archive_path(ref, number, fmt)
                output.add(path, data, _listing(ref, doc, fmt) if number == 0 else None)
        outlines.append(Outline(ref.kind, ref.lang, docs[0].title, docs[0].self_urls["atom"],
                                docs[0].page_url))
    _add_opml(output, catalog, outlines)
    return output


def feed_refs(catalog: Catalog) -> list[FeedRef]:
    """Every logical feed: all languages, then each language's index, topics and
    organizations (every configured topic and every profile, even without items)."""
    refs = [FeedRef("all", None, None)]
    for lang in catalog.site.languages:
        refs += feeds_for_language(lang, catalog.topics, catalog.profiles)
    return refs


def feed_title(catalog: Catalog, ref: FeedRef) -> str:
    """The feed's title, in its language."""
    site = catalog.site
    lang = ref.lang or site.default_language
    name = site.text(site.title, lang)
    if ref.kind == "all":
        names = Locale.parse(lang).languages
        return f"{name} ({', '.join(names.get(code, code) for code in site.languages)})"
    if ref.kind == "topic":
        return f"{name}: {site.text(catalog.topics[ref.key].title, lang)}"
    if ref.kind == "organization":
        return f"{name}: {site.text(catalog.profiles[ref.key].name, lang)}"
    return name


def archive_path(ref: FeedRef, number: int, fmt: str) -> str:
    """``feeds/archive/<the feed's path under feeds/>/<number>.<fmt>``; page 1 is the oldest."""
    stem = ref.path(fmt).removeprefix("feeds/").removesuffix(f".{fmt}")
    return f"feeds/archive/{stem}/{number}.{fmt}"


def feed_documents(catalog: Catalog, ref: FeedRef, entries: Sequence[Entry]) -> list[FeedDoc]:
    """The subscription document, then archive pages 1 (oldest) to n."""
    site = catalog.site
    current, pages = paginate(entries, site.feed_items)
    feed_urls = _urls(site, {fmt: ref.path(fmt) for fmt in FEED_FORMATS})
    page_urls = [_urls(site, {fmt: archive_path(ref, n, fmt) for fmt in FEED_FORMATS})
                 for n in range(1, len(pages) + 1)]
    base = _base_doc(catalog, ref, feed_urls)
    docs = [_doc(base, catalog, feed_urls, current, hubs=site.websub_hubs,
                 prev_archive=page_urls[-1] if pages else None)]
    for i, page in enumerate(pages):             # page i + 1
        docs.append(_doc(base, catalog, page_urls[i], page, current=feed_urls,
                         prev_archive=page_urls[i - 1] if i else None,
                         next_archive=page_urls[i + 1] if i + 1 < len(pages) else feed_urls))
    return docs


def items_of(catalog: Catalog, ref: FeedRef) -> Iterable[NewsItem]:
    """The public items of a feed, newest first."""
    if ref.kind == "all":
        return catalog.items
    if ref.kind == "index":
        return catalog.in_language(ref.lang)
    index = catalog.by_topic if ref.kind == "topic" else catalog.by_organization
    return [item for item in index.get(ref.key, ()) if item.lang == ref.lang]


# -- helpers ----------------------------------------------------------------------------


def _base_doc(catalog: Catalog, ref: FeedRef, feed_urls: dict[str, str]) -> dict:
    """The fields a feed's documents share."""
    site = catalog.site
    lang = ref.lang or site.default_language
    title = xml_text(feed_title(catalog, ref))
    return {
        "title": title,
        "description": xml_text(site.text(site.description, lang)) or title,
        "lang": lang,
        "page_url": safe_url(url_of(site, _page_path(site, ref))),
        "page_lang": ref.lang,
        "publisher": xml_text(site.text(site.title, lang)),
        "home_url": site.base_url,
        "feed_id": feed_urls["atom"],
    }


def _doc(base: dict, catalog: Catalog, self_urls: dict[str, str], entries: Sequence[Entry],
         **links) -> FeedDoc:
    return FeedDoc(**base, self_urls=self_urls, updated=_updated(catalog, entries),
                   entries=tuple(entries), **links)


def _updated(catalog: Catalog, entries: Sequence[Entry]) -> datetime:
    """The newest entry's ``updated``; without entries, the site's newest change."""
    if entries:
        return max(entry.updated for entry in entries)
    return min(catalog.updated or catalog.now, catalog.now)


def _page_path(site: Site, ref: FeedRef) -> str:
    """The HTML page a feed mirrors: the front page (of its language), or the organization."""
    if ref.kind == "all":
        return "index.html"
    if ref.kind == "organization":
        return organization_path(site, ref.lang, ref.key)
    return index_path(site, ref.lang)


def _urls(site: Site, paths: dict[str, str]) -> dict[str, str]:
    return {fmt: url_of(site, path) for fmt, path in paths.items()}


def _asset_url(site: Site, value: str | None) -> str | None:
    """An icon or logo from newsroom.toml: a URL, or a path in the output."""
    if not value:
        return None
    if value.startswith(("http://", "https://")):
        return safe_url(value)
    return safe_url(site.base_url + value.lstrip("/"))


def _listing(ref: FeedRef, doc: FeedDoc, fmt: str) -> Listing:
    return Listing("feed", FEED_FORMATS[fmt], doc.title, ref.lang, len(doc.entries), doc.updated)


def _add_opml(output: Output, catalog: Catalog, outlines: list[Outline]) -> None:
    site = catalog.site
    title = xml_text(site.text(site.title, site.default_language))
    updated = min(catalog.updated or catalog.now, catalog.now)
    output.add(OPML_PATH, render_opml(title, site.default_language, site.languages, outlines,
                                      updated),
               Listing("opml", OPML_MEDIA_TYPE, title, None, len(outlines), updated))
