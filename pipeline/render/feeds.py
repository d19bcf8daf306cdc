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

Each document is keyed by the fingerprints of its entries, so a rebuild writes only the
documents an edit touched. Entries are built (body read, three formats serialized) only
for documents that are written, oldest documents first, and dropped as soon as the last
document listing them is written: a cold build of 10,000 items holds a few hundred.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from babel import Locale

from ..catalog import Catalog, key_of
from ..config import Site
from ..model import NewsItem
from ..rebuild import Recall
from ..urls import (
    FEED_FORMATS,
    OPML_PATH,
    FeedRef,
    feeds_for_language,
    index_path,
    organization_path,
    url_of,
)
from . import Listing, Output, Share, Sink
from .feed_json import JsonWriter, item_bytes, split_items
from .feed_model import Entry, FeedDoc, distinct_updates, entry_for, paginate, safe_url, xml_text
from .feed_xml import XmlWriter, atom_fragment, atom_id, rss_fragment, split_entries
from .opml import OPML_MEDIA_TYPE, Outline, render_opml

__all__ = ["archive_path", "feed_documents", "feed_refs", "feed_title", "items_of", "render"]


def render(catalog: Catalog, sink: Sink | None = None, share: Share | None = None,
           recall: Recall | None = None) -> Sink:
    """Every feed document, archive page and ``feeds.opml`` of the catalog (or ``share``
    of them). ``recall``: a running process's previous plan, whose keys stand for the
    documents that list no changed entry (:mod:`pipeline.rebuild`)."""
    sink = Output() if sink is None else sink
    recall = recall if share is None else None
    plan = _Plan(catalog, share, recall)
    # a rebuild with a plan lays out only the feeds of the changed entries
    members = _members(catalog) if plan.kept is None else None
    for ref in feed_refs(catalog):
        if plan.stands(ref, sink):
            continue
        base = _base_doc(catalog, ref, _urls(catalog.site, {fmt: ref.path(fmt) for fmt in FEED_FORMATS}))
        listed = members.get(ref, []) if members is not None else items_of(catalog, ref)
        layouts = _layout(catalog, ref, listed)
        for layout in layouts:
            plan.add(ref, base, layout, len(layouts), sink)
        plan.outlines[ref] = Outline(ref.kind, ref.lang, base["title"], layouts[0].self_urls["atom"],
                                     base["page_url"])
    plan.write(sink)
    if share is None or share.owns(None):
        _add_opml(sink, catalog, list(plan.outlines.values()))
    if recall is not None:
        recall.plans["feeds"] = plan.kept_for_next()
    return sink


@dataclass(frozen=True)
class _Layout:
    """One document of a feed before its entries are built."""

    number: int                       # 0: the subscription document; 1 the oldest archive page
    members: Sequence                 # its items (or entries), newest first
    self_urls: dict[str, str]
    links: dict                       # hubs, prev_archive, next_archive, current


@dataclass(frozen=True)
class _Record:
    """A document as planned: enough to keep it without laying its feed out again."""

    key: str
    paths: dict[str, str]
    listings: dict[str, Listing | None]
    empty: bool                      # no entries: its updated follows the clock


@dataclass(frozen=True)
class _KeptPlan:
    """What a running process keeps of a build's feed plan for the next build."""

    now: float                       # the build's instant
    updated: dict[str, datetime]     # see distinct_updates
    entry_keys: dict[str, str]
    records: dict[FeedRef, dict[int, _Record]]   # by feed, by document number
    outlines: dict[FeedRef, Outline]


@dataclass
class _Job:
    order: int                        # written oldest first, so entries can be dropped early
    base: dict
    layout: _Layout
    paths: dict[str, str]                       # format -> output path
    key: str
    listings: dict[str, Listing | None]
    published_key: str | None = None  # the key it had in the previous build (a running process's)


Fragments = tuple[bytes, bytes, bytes]   # an entry as Atom, RSS and JSON Feed write it


class _Plan:
    """Which documents must be written, and the entries they need, built once each."""

    def __init__(self, catalog: Catalog, share: Share | None, recall: Recall | None = None):
        self.catalog, self.share = catalog, share
        self.oldest_first = {item.id: n for n, item in enumerate(reversed(catalog.items))}
        self.jobs: list[_Job] = []
        self.records: dict[FeedRef, dict[int, _Record]] = defaultdict(dict)
        self.outlines: dict[FeedRef, Outline] = {}
        self.touched: dict[FeedRef, list[int]] = defaultdict(list)   # see below
        self.dirty: set[str] = set()   # the ids of the entries that changed since the kept plan
        self.kept: _KeptPlan | None = recall.plan("feeds") if recall is not None else None
        if self.kept is None:
            self.updated = distinct_updates(catalog)
            self.entry_keys = {item.id: self._entry_key(item) for item in catalog.items}
            return
        self.updated, moved = self._kept_updates(self.kept, recall.changes)
        dirty = [i for i in recall.shown_with(catalog) | moved if i in self.oldest_first]
        self.dirty = set(dirty)
        self.entry_keys = dict(self.kept.entry_keys)
        # the oldest-first positions of the changed entries, by feed
        for item_id in dirty:
            position = self.oldest_first[item_id]
            item = catalog.items[len(catalog.items) - 1 - position]
            self.entry_keys[item_id] = self._entry_key(item)
            for ref in _refs_of(item):
                self.touched[ref].append(position)

    def _kept_updates(self, kept: _KeptPlan, changes) -> tuple[dict[str, datetime], set[str]]:
        """:func:`distinct_updates`, from the kept one when no item changed instant and the
        clock held no item back in either build; and the ids whose ``updated`` moved."""
        catalog = self.catalog
        newest = catalog.updated
        if all(before.modified_iso == after.modified_iso for before, after in changes) \
                and (newest is None or newest.timestamp() <= min(kept.now, catalog.now.timestamp())):
            updated = dict(kept.updated)
            for before, after in changes:   # an entry's key tells whether it is the item's own
                if updated.get(after.id) is before.modified:
                    updated[after.id] = after.modified
            return updated, set()
        updated, previous = distinct_updates(catalog), kept.updated
        moved = set()
        for item in catalog.items:
            now, then = updated[item.id], previous.get(item.id)
            if now is not then and (then is None or now != then or now.utcoffset() != then.utcoffset()
                                    or (now is item.modified) != (then is item.modified)):
                moved.add(item.id)
        return updated, moved

    def stands(self, ref: FeedRef, sink: Sink) -> bool:
        """Does every document of an untouched feed stay as the kept plan has it (kept)?"""
        if self.kept is None or ref in self.touched:
            return False
        records = self.kept.records.get(ref)
        if not records or any(record.empty or _wanted(sink, record) for record in records.values()):
            return False
        for record in records.values():
            for fmt, path in record.paths.items():
                sink.keep(path, record.key, record.listings[fmt])
        self.records[ref] = records
        self.outlines[ref] = self.kept.outlines[ref]
        return True

    def kept_for_next(self) -> _KeptPlan:
        return _KeptPlan(self.catalog.now.timestamp(), self.updated, self.entry_keys, dict(self.records),
                         self.outlines)

    def _kept_key(self, ref: FeedRef, layout: _Layout) -> str | None:
        """The kept key of a document that lists no changed entry."""
        if self.kept is None or not layout.members:
            return None
        record = self.kept.records.get(ref, {}).get(layout.number)
        newest, oldest = (self.oldest_first[layout.members[i].id] for i in (0, -1))
        if record is None or any(oldest <= p <= newest for p in self.touched.get(ref, ())):
            return None
        return record.key

    def add(self, ref: FeedRef, base: dict, layout: _Layout, pages: int, sink: Sink) -> None:
        members = layout.members
        order = self._order(members)
        if self.share and not self.share.owns(order):
            return
        entry_keys = self.entry_keys
        # a document's updated follows from its entries' keys, except when it has none
        fallback = "" if members else self._updated(members).isoformat()
        # an archive page links to its neighbours: it changes when it stops being the last;
        # the subscription document links to the last page: it changes with their number
        shape = str(pages) if layout.number == 0 else str(layout.number == pages - 1)
        # an organization's feed is titled with its name
        named = self.catalog.profile_fingerprint(ref.key) if ref.kind == "organization" else ""
        key = self._kept_key(ref, layout) or key_of(
            self.catalog.fingerprint, named, ref.path("atom"), str(layout.number), shape, fallback,
            *[entry_keys[item.id] for item in members])
        paths = {fmt: ref.path(fmt) if layout.number == 0 else archive_path(ref, layout.number, fmt)
                 for fmt in FEED_FORMATS}
        # the manifest lists subscription documents, not archive pages
        listings: dict[str, Listing | None] = dict.fromkeys(FEED_FORMATS)
        if layout.number == 0:
            updated = self._updated(members)
            listings = {fmt: Listing("feed", media_type, base["title"], ref.lang, len(members), updated)
                        for fmt, media_type in FEED_FORMATS.items()}
        self.records[ref][layout.number] = _Record(key, paths, listings, not members)
        if any(sink.wants(path, key) for path in paths.values()):
            kept = self.kept.records.get(ref, {}).get(layout.number) if self.kept is not None else None
            self.jobs.append(_Job(-1 if order is None else order, base, layout, paths, key, listings,
                                  kept.key if kept is not None else None))
        else:
            for fmt, path in paths.items():
                sink.keep(path, key, listings[fmt])

    def write(self, sink: Sink) -> None:
        catalog = self.catalog
        site = catalog.site
        icon, logo = _asset_url(site, site.icon), _asset_url(site, site.logo)
        xml, js = XmlWriter(icon=icon, logo=logo), JsonWriter(icon=icon)
        fragments: dict[str, Fragments] = {}   # by item id
        needed = Counter(item.id for job in self.jobs for item in job.layout.members)
        for job in sorted(self.jobs, key=lambda j: j.order):
            members = job.layout.members
            for item_id, known in self._published_fragments(job, sink).items():
                fragments.setdefault(item_id, known)
            todo = [item for item in members if item.id not in fragments]
            catalog.prefetch(todo)
            for item in todo:
                entry = entry_for(catalog, item, self.updated[item.id])
                fragments[item.id] = (atom_fragment(entry), rss_fragment(entry), item_bytes(entry))
            doc = FeedDoc(**job.base, self_urls=job.layout.self_urls, updated=self._updated(members),
                          entries=(), **job.layout.links)
            parts = [fragments[item.id] for item in members]
            files = {**xml.assemble(doc, [(atom, rss) for atom, rss, _ in parts]),
                     "json": js.assemble(doc, [json for _, _, json in parts])}
            for fmt, data in files.items():
                sink.add(job.paths[fmt], data, job.listings[fmt], job.key)
            for item in members:
                needed[item.id] -= 1
                if not needed[item.id]:
                    del fragments[item.id]

    def _published_fragments(self, job: _Job, sink: Sink) -> dict[str, Fragments]:
        """The unchanged entries of a document a running process published in its previous
        build, as that document holds them: a changed item is written again in a few
        documents of 50 entries, the other 49 the same bytes as before (its layout is the
        same: :mod:`pipeline.rebuild`). Empty unless every format is published as planned."""
        members = job.layout.members
        if job.published_key is None or not members:
            return {}
        documents = [sink.published(job.paths[fmt], job.published_key) for fmt in FEED_FORMATS]
        if any(document is None for document in documents):
            return {}
        published = dict(zip(FEED_FORMATS, documents, strict=True))
        atom, rss = split_entries("atom", published["atom"]), split_entries("rss", published["rss"])
        items = split_items(published["json"])
        if not atom or not rss or not items or not len(atom) == len(rss) == len(items) == len(members):
            return {}
        return {item.id: (a, r, j) for item, a, r, j in zip(members, atom, rss, items, strict=True)
                if item.id not in self.dirty and atom_id(xml_text(item.id)) in a}

    def _updated(self, members: Sequence[NewsItem]) -> datetime:
        """The document's ``updated``: as :func:`_updated` computes it from the entries."""
        if members:
            return max(self.updated[item.id] for item in members)
        return min(self.catalog.updated or self.catalog.now, self.catalog.now)

    def _order(self, members: Sequence[NewsItem]) -> int | None:
        """The oldest-first position of the newest member (the first: members are newest first)."""
        return self.oldest_first[members[0].id] if members else None

    def _entry_key(self, item: NewsItem) -> str:
        """What an item's entry depends on: itself, its translations, its ``updated``
        (written out only where it is not the item's own: a tie moved it, or the clock)."""
        catalog, updated = self.catalog, self.updated[item.id]
        # an entry names its organizations (categories): their profiles are part of it
        return (f"{item.id} {catalog.family_fingerprint(item)} "
                f"{'' if updated is item.modified else updated.isoformat()}"
                f"{''.join(' ' + catalog.profile_fingerprint(slug) for slug in item.organizations)}")


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
    base = _base_doc(catalog, ref, _urls(catalog.site, {fmt: ref.path(fmt) for fmt in FEED_FORMATS}))
    return [_doc(base, catalog, layout, layout.members) for layout in _layout(catalog, ref, entries)]


def _layout(catalog: Catalog, ref: FeedRef, members: Sequence) -> list[_Layout]:
    """Split a feed's newest-first members into its documents and link them together."""
    site = catalog.site
    current, pages = paginate(members, site.feed_items)
    feed_urls = _urls(site, {fmt: ref.path(fmt) for fmt in FEED_FORMATS})
    page_urls = [_urls(site, {fmt: archive_path(ref, n, fmt) for fmt in FEED_FORMATS})
                 for n in range(1, len(pages) + 1)]
    layouts = [_Layout(0, current, feed_urls, {"hubs": site.websub_hubs,
                                               "prev_archive": page_urls[-1] if pages else None})]
    for i, page in enumerate(pages):             # page i + 1
        layouts.append(_Layout(i + 1, page, page_urls[i], {
            "current": feed_urls,
            "prev_archive": page_urls[i - 1] if i else None,
            "next_archive": page_urls[i + 1] if i + 1 < len(pages) else feed_urls,
        }))
    return layouts


def _members(catalog: Catalog) -> dict[tuple, list[NewsItem]]:
    """:func:`items_of` for every feed at once, in one pass over the items."""
    members: dict[tuple, list[NewsItem]] = defaultdict(list)
    for item in catalog.items:     # newest first, so every list is too
        members["all", None, None].append(item)
        members["index", item.lang, None].append(item)
        for topic in item.topics:
            members["topic", item.lang, topic].append(item)
        for organization in item.organizations:
            members["organization", item.lang, organization].append(item)
    return members


def _wanted(sink: Sink, record: _Record) -> bool:
    return any(sink.wants(path, record.key) for path in record.paths.values())


def _refs_of(item: NewsItem) -> list[FeedRef]:
    """The feeds that list a public item."""
    return [FeedRef("all", None, None), FeedRef("index", item.lang, None),
            *(FeedRef("topic", item.lang, topic) for topic in item.topics),
            *(FeedRef("organization", item.lang, slug) for slug in item.organizations)]


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


def _doc(base: dict, catalog: Catalog, layout: _Layout, entries: Sequence[Entry]) -> FeedDoc:
    return FeedDoc(**base, self_urls=layout.self_urls, updated=_updated(catalog, entries),
                   entries=tuple(entries), **layout.links)


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


def _add_opml(output: Sink, catalog: Catalog, outlines: list[Outline]) -> None:
    site = catalog.site
    title = xml_text(site.text(site.title, site.default_language))
    updated = min(catalog.updated or catalog.now, catalog.now)
    output.add(OPML_PATH, render_opml(title, site.default_language, site.languages, outlines,
                                      updated),
               Listing("opml", OPML_MEDIA_TYPE, title, None, len(outlines), updated))
