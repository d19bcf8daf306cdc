"""The catalog: what is visible at an instant ``now``.

An item is visible when it is not a draft and its date has come (a future date is an
embargo). Visible ``visibility: partners`` items are kept apart in ``partner_only``:
only partner files may use them. Every public index is built from public items only,
so a renderer that uses the indexes cannot leak a hidden item.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from .config import Site, Topic
from .model import NewsItem, Profile

__all__ = ["Catalog", "build_catalog", "digest", "key_of", "newest_first"]


def digest(*parts: object) -> str:
    """A short, stable digest of ``parts`` (their ``repr``): the key of an output file."""
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()


def key_of(*parts: str) -> str:
    """:func:`digest` for strings only, without ``repr``: for the 10,000s of keys of a build."""
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=16).hexdigest()


def newest_first(items: Iterable[NewsItem]) -> list[NewsItem]:
    """Date descending, then id ascending: a total, stable order. Instants are compared
    (timestamps): two datetimes of one zone compare by wall time, which is wrong in the
    hour a DST change repeats."""
    return [item for _, item in _newest_first((i.date.timestamp(), i) for i in items)]


def _newest_first(stamped: Iterable[tuple[float, NewsItem]]) -> list[tuple[float, NewsItem]]:
    """``(timestamp, item)`` pairs in :func:`newest_first` order."""
    return sorted(sorted(stamped, key=lambda pair: pair[1].id), key=lambda pair: pair[0], reverse=True)


@dataclass(frozen=True)
class Catalog:
    now: datetime
    site: Site
    topics: dict[str, Topic]
    profiles: dict[str, Profile]
    items: tuple[NewsItem, ...]             # public and visible, newest first
    partner_only: tuple[NewsItem, ...] = ()  # visible, for partner files only
    by_language: dict[str, tuple[NewsItem, ...]] = field(default_factory=dict)
    by_topic: dict[str, tuple[NewsItem, ...]] = field(default_factory=dict)
    by_organization: dict[str, tuple[NewsItem, ...]] = field(default_factory=dict)
    by_translation_key: dict[str, tuple[NewsItem, ...]] = field(default_factory=dict)
    # What renderers need to skip unchanged files: a digest of everything outside the
    # items that output depends on (config, profiles, templates, code), each item's
    # digest by source path, and where the item bodies are (not in memory when loaded
    # from the parse cache).
    fingerprint: str = ""
    item_fingerprints: dict[str, str] = field(default_factory=dict, repr=False)
    read_body: Callable[[NewsItem], str] | None = field(default=None, repr=False)
    read_ahead: Callable[[Sequence[NewsItem]], None] | None = field(default=None, repr=False)

    def body(self, item: NewsItem) -> str:
        """The item's sanitized body HTML."""
        return self.read_body(item) if self.read_body else item.body_html

    def prefetch(self, items: Sequence[NewsItem]) -> None:
        """The next :meth:`body` calls will be for these items: read them together."""
        if self.read_ahead is not None and items:
            self.read_ahead(items)

    @cached_property
    def _group_fingerprints(self) -> dict[str, str]:
        return {}   # by translation key, filled as asked: a rebuild asks for a few

    def family_fingerprint(self, item: NewsItem) -> str:
        """The item's fingerprint with its public translations': what its page and its feed
        entry (which link to the translations) depend on."""
        key = item.translation_key
        if not key:
            return self.item_fingerprint(item)
        known = self._group_fingerprints.get(key)
        if known is None:
            family = self.by_translation_key.get(key, ())
            known = self._group_fingerprints[key] = "+".join(self.item_fingerprint(i) for i in family)
        return known or self.item_fingerprint(item)

    @cached_property
    def _shown_fingerprints(self) -> dict[str, str]:
        return {slug: digest(slug, profile.name, profile.website) for slug, profile in self.profiles.items()}

    def profile_fingerprint(self, slug: str) -> str:
        """What an item shows of one of its organizations (its name in each language and
        its website); empty for a slug without a profile. An edit of a profile's text or
        logo leaves the items' pages and feed entries alone."""
        return self._shown_fingerprints.get(slug, "")

    def _file_fingerprint(self, profile: Profile) -> str:
        known = self.item_fingerprints.get(profile.source)
        return known if known is not None else digest(profile)

    @cached_property
    def profiles_fingerprint(self) -> str:
        """Changes with any profile: what shows every organization (front pages, directory
        files) depends on it; an item's page and feed entries only on their own
        organizations' (:meth:`profile_fingerprint`)."""
        return digest(sorted((slug, self._file_fingerprint(p)) for slug, p in self.profiles.items()))

    def item_fingerprint(self, item: NewsItem) -> str:
        """Changes whenever anything about the item's record (body included) changes."""
        known = self.item_fingerprints.get(item.source)
        return known if known is not None else digest(item)

    @cached_property
    def updated(self) -> datetime | None:
        """The newest change among public items: the date of an empty feed, never the clock."""
        return max((i.modified for i in self.items), key=datetime.timestamp, default=None)

    def carry_updated(self, other: Catalog) -> None:
        """Take :attr:`updated` from ``other``, whose public items changed at the same
        instants (a rebuild in a running process: see :mod:`pipeline.rebuild`)."""
        self.__dict__["updated"] = other.updated

    def translations(self, item: NewsItem) -> tuple[NewsItem, ...]:
        """The other public language versions of ``item``."""
        if not item.translation_key:
            return ()
        return tuple(t for t in self.by_translation_key.get(item.translation_key, ())
                     if t.id != item.id)

    def in_language(self, lang: str) -> tuple[NewsItem, ...]:
        return self.by_language.get(lang, ())


def is_visible(item: NewsItem, now: datetime) -> bool:
    # instants, not wall times: an embargo ending at 03:30+02:00 on the autumn DST change
    # must not be lifted at 03:00+03:00, an hour early
    return item.status != "draft" and item.date.timestamp() <= now.timestamp()


def build_catalog(news: Iterable[NewsItem], profiles: dict[str, Profile], site: Site,
                  topics: dict[str, Topic], now: datetime, fingerprint: str = "",
                  item_fingerprints: dict[str, str] | None = None,
                  read_body: Callable[[NewsItem], str] | None = None,
                  read_ahead: Callable[[Sequence[NewsItem]], None] | None = None) -> Catalog:
    now = now.astimezone(site.timezone)
    now_ts = now.timestamp()
    # each item's instant once: for the embargo and for the order
    stamped = ((i.date.timestamp(), i) for i in news if i.status != "draft")
    visible = [item for _, item in _newest_first(pair for pair in stamped if pair[0] <= now_ts)]
    public = tuple(i for i in visible if not i.is_partner_only)
    return Catalog(
        now=now,
        site=site,
        topics=topics,
        profiles=profiles,
        items=public,
        partner_only=tuple(i for i in visible if i.is_partner_only),
        by_language=_index(public, lambda i: (i.lang,)),
        by_topic=_index(public, lambda i: i.topics),
        by_organization=_index(public, lambda i: i.organizations),
        by_translation_key=_index(public, lambda i: (i.translation_key,) if i.translation_key else ()),
        fingerprint=fingerprint or digest(site, topics, profiles),
        item_fingerprints=item_fingerprints or {},
        read_body=read_body,
        read_ahead=read_ahead,
    )


def _index(items: tuple[NewsItem, ...], keys) -> dict[str, tuple[NewsItem, ...]]:
    index: dict[str, list[NewsItem]] = defaultdict(list)
    for item in items:   # items are already in order, so each bucket is too
        for key in keys(item):
            index[key].append(item)
    return {k: tuple(v) for k, v in sorted(index.items())}
