"""Directory files partners pull: the organization profiles, the topic taxonomy and the
change log. (Per-partner JSON Feeds are in :mod:`pipeline.render.partners`.)"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ..catalog import Catalog, digest
from ..journal import KEEP, Change, ChangeLog
from ..model import Profile
from ..urls import FEED_FORMATS, FeedRef, organization_path, url_of
from . import Listing, Output, Sink, dump_json, emit

__all__ = ["CHANGES_PATH", "PROFILES_PATH", "TOPICS_PATH", "render"]

PROFILES_PATH = "syndication/profiles.json"
TOPICS_PATH = "syndication/topics.json"
CHANGES_PATH = "syndication/changes.json"
FORMAT_VERSION = 1
JSON = "application/json"


def render(catalog: Catalog, changes: ChangeLog, sink: Sink | None = None) -> Sink:
    output = Output() if sink is None else sink
    site = catalog.site
    title = site.text(site.title, site.default_language)
    output.add(PROFILES_PATH, dump_json(_profiles(catalog)),
               Listing("profiles", JSON, f"{title}: organizations", None, len(catalog.profiles),
                       catalog.updated))
    output.add(TOPICS_PATH, dump_json(_topics(catalog)),
               Listing("topics", JSON, f"{title}: topics", None, len(catalog.topics), catalog.updated))
    updated = changes.latest.astimezone(site.timezone) if changes.latest else catalog.updated
    # journal rows never change and sequence numbers are never reused: the count, ends and
    # sum of the numbers name the log (it can hold one row per item: 10,000 of them)
    key = digest(catalog.fingerprint, changes.count, changes.first_seq, changes.last_seq, changes.seq_sum,
                 updated)
    emit(output, CHANGES_PATH, key, lambda: dump_json(_changes(catalog, changes.read(), updated)),
         Listing("changes", JSON, f"{title}: change log", None, changes.count, updated))
    return output


def _iso(catalog: Catalog, when: datetime | None) -> str | None:
    return when.astimezone(catalog.site.timezone).isoformat() if when else None


def _feed_urls(catalog: Catalog, kind: str, key: str) -> dict[str, dict[str, str]]:
    return {lang: {fmt: url_of(catalog.site, FeedRef(kind, lang, key).path(fmt)) for fmt in FEED_FORMATS}
            for lang in catalog.site.languages}


def _profile(catalog: Catalog, profile: Profile) -> dict:
    site = catalog.site
    return {
        "slug": profile.slug,
        "name": profile.name,
        "kind": profile.kind,
        "website": profile.website,
        "city": profile.city,
        "topics": list(profile.topics),
        "summary": profile.summary,
        "logo": {"url": profile.logo.url, "alt": profile.logo.alt} if profile.logo else None,
        "page_url": {lang: url_of(site, organization_path(site, lang, profile.slug))
                     for lang in site.languages},
        "feed_urls": _feed_urls(catalog, "organization", profile.slug),
        "items": len(catalog.by_organization.get(profile.slug, ())),
    }


def _profiles(catalog: Catalog) -> dict:
    return {
        "version": FORMAT_VERSION,
        "updated": _iso(catalog, catalog.updated),
        "profiles": [_profile(catalog, p) for p in catalog.profiles.values()],
    }


def _topics(catalog: Catalog) -> dict:
    return {
        "version": FORMAT_VERSION,
        "updated": _iso(catalog, catalog.updated),
        "topics": [{"key": t.key, "title": t.title, "items": len(catalog.by_topic.get(t.key, ())),
                    "feed_urls": _feed_urls(catalog, "topic", t.key)}
                   for t in catalog.topics.values()],
    }


def _changes(catalog: Catalog, changes: Sequence[Change], updated: datetime | None) -> dict:
    # the changes of one build share its instant: a first build's 10,000 of them
    at = {when: _iso(catalog, when) for when in {c.at for c in changes}}
    return {
        "version": FORMAT_VERSION,
        "updated": _iso(catalog, updated),
        "retention_days": KEEP.days,
        "changes": [{"seq": c.seq, "event": c.event, "at": at[c.at], "id": c.id, "url": c.url,
                     "language": c.lang, "modified": _iso(catalog, c.modified)} for c in changes],
    }
