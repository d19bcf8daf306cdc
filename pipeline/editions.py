"""Newsletter editions: what each one holds, and the record of what went out.

The edition of a newsletter due at ``now`` is the one of its schedule's latest instant at
or before ``now``. It holds the newsletter's public items (its language, its topics)
dated after the schedule's previous instant and up to its own, plus corrections: items
that went out in an earlier edition and changed since (``updated`` moved) are listed once
under "updated", and items that went out and are no longer public once under "withdrawn".

Editions are recorded in the state database when they are issued (the build publishes
each due edition in the web archive; sending issues it too), so a later edition knows
what earlier ones held, and an issued edition never changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .catalog import Catalog
from .config import Newsletter
from .model import NewsItem
from .statedb import Database

__all__ = ["Edition", "EditionStore", "Entry", "due_edition", "issued_editions"]

KINDS = ("new", "updated", "withdrawn")


@dataclass(frozen=True)
class Entry:
    """One line of an edition: an item as it was announced."""

    kind: str                       # new, updated, withdrawn
    item_id: str
    title: str
    url: str
    lang: str
    topics: tuple[str, ...]
    modified: datetime | None       # the item's date/updated when announced; None if withdrawn
    item: NewsItem | None = None    # the public item now; None once it is withdrawn


@dataclass(frozen=True)
class Edition:
    newsletter: Newsletter
    label: str                      # 2026-W49, 2026-12-01, 2026-12-01-0800
    scheduled: datetime             # the schedule's instant, in the site's zone
    window_start: datetime | None   # the schedule's instant before (items dated after it)
    entries: tuple[Entry, ...]
    recorded: bool = False          # issued and in the state database

    @property
    def id(self) -> str:
        return f"{self.newsletter.id}/{self.label}"

    def of_kind(self, kind: str, entries: Iterable[Entry] | None = None) -> tuple[Entry, ...]:
        return tuple(e for e in (self.entries if entries is None else entries) if e.kind == kind)

    def for_topics(self, topics: Iterable[str] = ()) -> tuple[Entry, ...]:
        """The entries a subscriber who narrowed the newsletter to ``topics`` gets (all, if none)."""
        wanted = frozenset(topics)
        if not wanted:
            return self.entries
        return tuple(e for e in self.entries if wanted.intersection(e.topics))


class EditionStore:
    """The editions table of the state database (see :mod:`pipeline.statedb`)."""

    def __init__(self, db: Database):
        self._db = db

    def labels(self, newsletter_id: str, until: datetime | None = None) -> list[tuple[str, datetime]]:
        """The issued editions (label, instant), oldest first; with ``until``, those at or before it."""
        rows = self._db.query("SELECT edition, scheduled_at FROM editions WHERE newsletter = :newsletter"
                              " ORDER BY scheduled_at", {"newsletter": newsletter_id})
        found = [(label, datetime.fromisoformat(at)) for label, at in rows]
        return [(label, at) for label, at in found if until is None or at.timestamp() <= until.timestamp()]

    def load(self, newsletter: Newsletter, label: str, catalog: Catalog) -> Edition | None:
        key = {"newsletter": newsletter.id, "edition": label}
        found = self._db.query("SELECT scheduled_at, window_start FROM editions"
                               " WHERE newsletter = :newsletter AND edition = :edition", key)
        if not found:
            return None
        row = found[0]
        public = _public_by_id(catalog)
        rows = self._db.query(
            "SELECT kind, item_id, title, url, lang, topics, modified FROM edition_entries"
            " WHERE newsletter = :newsletter AND edition = :edition ORDER BY position", key)
        entries = tuple(
            Entry(kind, item_id, title, url, lang, tuple(topics.split()),
                  datetime.fromisoformat(modified) if modified else None,
                  public.get(item_id) if kind != "withdrawn" else None)
            for kind, item_id, title, url, lang, topics, modified in rows)
        tz = catalog.site.timezone
        return Edition(newsletter, label, datetime.fromisoformat(row[0]).astimezone(tz),
                       datetime.fromisoformat(row[1]).astimezone(tz) if row[1] else None,
                       entries, recorded=True)

    def first_window_start(self, newsletter_id: str) -> datetime | None:
        """Where the newsletter's first issued edition began (None: at the beginning)."""
        rows = self._db.query("SELECT window_start FROM editions WHERE newsletter = :newsletter"
                              " ORDER BY scheduled_at", {"newsletter": newsletter_id})
        return datetime.fromisoformat(rows[0][0]) if rows and rows[0][0] else None

    def announced(self, newsletter_id: str, before: datetime) -> dict[str, Entry]:
        """What editions before ``before`` last said of each item (its latest entry)."""
        rows = self._db.query(
            "SELECT e.scheduled_at, x.position, x.kind, x.item_id, x.title, x.url, x.lang, x.topics,"
            " x.modified FROM edition_entries x JOIN editions e"
            " ON e.newsletter = x.newsletter AND e.edition = x.edition WHERE x.newsletter = :newsletter",
            {"newsletter": newsletter_id})
        cutoff = before.timestamp()
        latest: dict[str, tuple[float, int, Entry]] = {}
        for at, position, kind, item_id, title, url, lang, topics, modified in rows:
            when = datetime.fromisoformat(at).timestamp()
            if when >= cutoff:
                continue
            entry = Entry(kind, item_id, title, url, lang, tuple(topics.split()),
                          datetime.fromisoformat(modified) if modified else None)
            if item_id not in latest or (when, position) > latest[item_id][:2]:
                latest[item_id] = (when, position, entry)
        return {item_id: entry for item_id, (_, _, entry) in latest.items()}

    def record(self, edition: Edition, made_at: datetime) -> bool:
        """Record ``edition`` as issued; False if it already was (by another process, say)."""
        newsletter = edition.newsletter.id
        key = {"newsletter": newsletter, "edition": edition.label}
        with self._db.transaction():
            # ON CONFLICT: two processes recording at once (PostgreSQL does not serialize a
            # check-then-insert as SQLite's write lock does); the second records nothing
            if not self._db.execute(
                    "INSERT INTO editions (newsletter, edition, scheduled_at, window_start, made_at)"
                    " VALUES (:newsletter, :edition, :scheduled_at, :window_start, :made_at)"
                    " ON CONFLICT DO NOTHING",
                    {**key, "scheduled_at": _utc(edition.scheduled),
                     "window_start": _utc(edition.window_start) if edition.window_start else "",
                     "made_at": _utc(made_at)}):
                return False
            self._db.executemany(
                "INSERT INTO edition_entries (newsletter, edition, position, kind, item_id, modified,"
                " title, url, lang, topics) VALUES (:newsletter, :edition, :position, :kind, :item_id,"
                " :modified, :title, :url, :lang, :topics)",
                [{**key, "position": n, "kind": e.kind, "item_id": e.item_id,
                  "modified": e.modified.isoformat() if e.modified else None, "title": e.title,
                  "url": e.url, "lang": e.lang, "topics": " ".join(e.topics)}
                 for n, e in enumerate(edition.entries)])
        return True


def due_edition(newsletter: Newsletter, catalog: Catalog, store: EditionStore,
                now: datetime | None = None) -> Edition | None:
    """The edition due at ``now`` (default: the catalog's instant): as issued if it was,
    else as it would be issued now. None when the schedule has not fired yet or the
    edition would hold nothing."""
    now = now or catalog.now
    scheduled = newsletter.when.latest_at_or_before(now)
    if scheduled is None:
        return None
    label = newsletter.when.label(scheduled)
    issued = store.load(newsletter, label, catalog)
    if issued is not None:
        return issued
    # Since the last issued edition (weeks without a build roll into this one), or, for the
    # first, since the schedule's previous instant. Items that never went out although
    # dated earlier, back to where the first edition began (an item added back-dated, or
    # a draft published late), go out now: nothing public is silently never sent.
    issued_before = store.labels(newsletter.id, until=scheduled - timedelta(microseconds=1))
    previous = issued_before[-1][1] if issued_before else newsletter.when.previous_before(scheduled)
    origin = store.first_window_start(newsletter.id) if issued_before else previous
    announced = store.announced(newsletter.id, scheduled)
    entries = _new_entries(newsletter, catalog, scheduled, origin, announced)
    entries += _corrections(catalog, announced)
    if not entries:
        return None
    zone = catalog.site.timezone
    return Edition(newsletter, label, scheduled.astimezone(zone),
                   previous.astimezone(zone) if previous else None, tuple(entries))


def issued_editions(newsletter: Newsletter, catalog: Catalog, store: EditionStore) -> list[Edition]:
    """Every issued edition at or before the catalog's instant, newest first."""
    labels = store.labels(newsletter.id, until=catalog.now)
    editions = (store.load(newsletter, label, catalog) for label, _ in reversed(labels))
    return [e for e in editions if e is not None]


def _new_entries(newsletter: Newsletter, catalog: Catalog, scheduled: datetime,
                 previous: datetime | None, announced: dict[str, Entry]) -> list[Entry]:
    start = previous.timestamp() if previous else float("-inf")
    end = scheduled.timestamp()
    wanted = set(newsletter.topics)
    entries = []
    seen_translations: set[str] = set()
    for item in catalog.in_language(newsletter.lang):   # newest first
        if not start < item.date.timestamp() <= end:
            continue
        if wanted and not wanted.intersection(item.topics):
            continue
        if (old := announced.get(item.id)) is not None and old.kind != "withdrawn":
            continue   # went out before (its date moved since): a correction, if anything
        if item.translation_key:   # translations of one another appear once
            if item.translation_key in seen_translations:
                continue
            seen_translations.add(item.translation_key)
        entries.append(_entry("new", item))
    return entries


def _corrections(catalog: Catalog, announced: dict[str, Entry]) -> list[Entry]:
    public = _public_by_id(catalog)
    updated, withdrawn = [], []
    for item_id, old in announced.items():
        if old.kind == "withdrawn":
            continue
        item = public.get(item_id)
        if item is None:
            withdrawn.append(Entry("withdrawn", item_id, old.title, old.url, old.lang, old.topics, None))
        elif old.modified is None or item.modified.timestamp() > old.modified.timestamp():
            updated.append(_entry("updated", item))
    updated.sort(key=lambda e: (-e.modified.timestamp(), e.item_id))  # type: ignore[union-attr]
    withdrawn.sort(key=lambda e: (e.title.casefold(), e.item_id))
    return updated + withdrawn


def _entry(kind: str, item: NewsItem) -> Entry:
    return Entry(kind, item.id, item.title, item.url, item.lang, item.topics, item.modified, item)


def _public_by_id(catalog: Catalog) -> dict[str, NewsItem]:
    return {item.id: item for item in catalog.items}


def _utc(when: datetime) -> str:
    return when.astimezone(UTC).isoformat()
