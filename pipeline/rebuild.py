"""Rebuilds in a running process (``newsroom run``): what it keeps of its previous build of
an output folder, and what changed since.

A one-shot build keys every output file from the whole catalog: a few microseconds a
file, but 13,000 files at 10,000 items, in every renderer. A process that builds again
and again keeps its previous build's catalog and each renderer's *plan* (the keys it gave
its files). When the content differs from the previous build's only in the records of
some visible items (the same files, the same items visible in the same order, each in the
same language, topics, organizations and translation family, the same profiles, settings,
templates and code), the catalog is the previous one with those records swapped in, and
a renderer keys again only the files that show them: every other file's key is the one
it had, which is what a full plan would compute. Anything else (a file added or removed,
an item redated or its embargo lifted, a profile edited) builds the catalog afresh, and
the renderers plan every file again.

A kept key is only ever used as the key is: a file whose published key differs (another
process built the folder since) is rendered as it would be anyway.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from .catalog import Catalog
from .content import Content
from .model import NewsItem

__all__ = ["Recall", "forget", "recall", "remember"]


@dataclass
class Recall:
    """What the renderers of one build may reuse, and where they leave their plans for the
    next build. ``changes``: the records that differ from the previous build's, as
    (before, after) pairs; None when more than records differ (plan every file)."""

    changes: tuple[tuple[NewsItem, NewsItem], ...] | None = None
    kept_plans: dict[str, Any] = field(default_factory=dict)
    plans: dict[str, Any] = field(default_factory=dict)   # filled by this build's renderers
    records: dict[str, NewsItem] | None = None   # by source, what a swapped catalog was made of
    instants: list[float] | None = None          # theirs, see _Kept

    def plan(self, name: str) -> Any | None:
        """The renderer's plan of the previous build, when only ``changes`` differ from it."""
        return self.kept_plans.get(name) if self.changes is not None else None

    def shown_with(self, catalog: Catalog) -> set[str]:
        """The ids of the changed items and of their translations: an item's page and feed
        entry link to its translations, so they change with them."""
        ids = set()
        for _, item in self.changes or ():
            ids.add(item.id)
            ids.update(t.id for t in catalog.translations(item))
        return ids


@dataclass
class _Kept:
    catalog: Catalog
    records: dict[str, NewsItem]   # every item read (drafts and embargoed ones too), by source
    instants: list[float]          # the dates of every item but drafts, as timestamps, sorted
    plans: dict[str, Any]


Place = tuple[Path, Path]   # (output folder, content folder)

_KEPT: dict[Place, _Kept] = {}


def recall(place: Place, content: Content, fingerprint: str, now: datetime,
           new_catalog: Callable[[], Catalog]) -> tuple[Catalog, Recall]:
    """The catalog to build with (the kept one with the changed records swapped in, or
    ``new_catalog()``) and what its renderers may reuse. The kept build is taken: if this
    build fails, the next one plans everything."""
    kept = _KEPT.pop(place, None)
    by_source = {item.source: item for item in content.news}
    changes = None if kept is None else _changes(kept, by_source, content.fingerprints, fingerprint, now)
    if kept is None or changes is None:
        return new_catalog(), Recall()
    catalog = _swapped(kept.catalog, changes, now, content)
    records = {**kept.records, **{after.source: after for _, after in changes}}
    return catalog, Recall(tuple(changes), kept.plans, records=records, instants=kept.instants)


def remember(place: Place, catalog: Catalog, content: Content, recall: Recall) -> None:
    """Keep a published build for the next one in this process."""
    records = recall.records if recall.records is not None else {i.source: i for i in content.news}
    instants = recall.instants   # a changed record kept its instant and status
    if instants is None:
        instants = sorted(item.date.timestamp() for item in records.values() if item.status != "draft")
    _KEPT[place] = _Kept(catalog, records, instants, recall.plans)


def forget() -> None:
    """Drop every kept build (the next builds plan every file)."""
    _KEPT.clear()


# Fields that place an item: its files, feeds, indexes and order.
_PLACE = ("id", "slug", "url", "lang", "topics", "organizations", "translation_key", "status", "visibility",
          "canonical_url")


def _changes(kept: _Kept, by_source: dict[str, NewsItem], item_fingerprints: dict[str, str], fingerprint: str,
             now: datetime) -> list[tuple[NewsItem, NewsItem]] | None:
    """The records that changed (before, after), or None if more than records did."""
    old = kept.catalog
    previous = old.item_fingerprints
    if old.fingerprint != fingerprint or previous.keys() != item_fingerprints.keys() \
            or by_source.keys() != kept.records.keys() or _lifted(kept.instants, old.now, now):
        return None
    changes = []
    for source, fp in item_fingerprints.items():
        if previous[source] == fp:
            continue
        before, after = kept.records.get(source), by_source.get(source)
        if before is None or after is None:   # a profile
            return None
        if any(getattr(before, name) != getattr(after, name) for name in _PLACE) \
                or before.date.timestamp() != after.date.timestamp():
            return None
        changes.append((before, after))
    return changes


def _lifted(instants: list[float], before: datetime, now: datetime) -> bool:
    """Does an item's date fall between the two builds' instants (an embargo lifted, or
    one in force again for a build dated earlier)?"""
    low, high = sorted((before.timestamp(), now.timestamp()))
    return bisect_right(instants, high) != bisect_right(instants, low)


def _swapped(old: Catalog, changes: Sequence[tuple[NewsItem, NewsItem]], now: datetime,
             content: Content) -> Catalog:
    """``old`` at ``now`` with the changed records in place of their former versions: what
    :func:`~pipeline.catalog.build_catalog` would make of the new content. A changed
    record keeps its place (:func:`_changes`): only the lists that hold it change."""
    items, partner_only = old.items, old.partner_only
    indexes = {name: dict(getattr(old, name)) for name in _INDEXES}
    for before, after in changes:
        items, partner_only = _replaced(items, before, after), _replaced(partner_only, before, after)
        family = (before.translation_key,) if before.translation_key else ()
        for name, keys in (("by_language", (before.lang,)), ("by_topic", before.topics),
                           ("by_organization", before.organizations), ("by_translation_key", family)):
            index = indexes[name]
            for key in keys:
                if key in index:
                    index[key] = _replaced(index[key], before, after)
    catalog = replace(old, now=now.astimezone(old.site.timezone), items=items, partner_only=partner_only,
                      **indexes, item_fingerprints=content.fingerprints, read_body=content.body,
                      read_ahead=content.prefetch)
    if all(before.modified_iso == after.modified_iso for before, after in changes):
        catalog.carry_updated(old)
    return catalog


_INDEXES = ("by_language", "by_topic", "by_organization", "by_translation_key")


def _replaced(items: tuple[NewsItem, ...], before: NewsItem, after: NewsItem) -> tuple[NewsItem, ...]:
    """``items`` with ``after`` where ``before`` is (the very object), if it is there."""
    at = next((n for n, item in enumerate(items) if item is before), None)
    return items if at is None else (*items[:at], after, *items[at + 1:])
