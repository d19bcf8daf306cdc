"""The publication journal: what was public at the last publish, and the change log since.

It lives in the state database (:mod:`pipeline.statedb`) so it survives restarts. A build asks for
the :meth:`Journal.pending` changes (read-only), renders and publishes with them, and
only then :meth:`Journal.commit`\\s them: a build that fails to publish records nothing,
and one that crashes after publishing recomputes the same changes next time.

Only public items are journaled: drafts, embargoed and partner-only items never
appear here, so the change log cannot leak them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from .events import event_rows, insert_events, item_event, record_events
from .model import NewsItem
from .statedb import Database

__all__ = ["Change", "ChangeLog", "Commit", "Journal"]

KEEP = timedelta(days=90)


@dataclass(frozen=True)
class Change:
    seq: int
    at: datetime
    event: str              # published, updated, withdrawn
    id: str
    url: str
    lang: str
    modified: datetime | None = None   # the item's date/updated, for published and updated
    topics: tuple[str, ...] = field(default=(), compare=False)   # for events (who hears of it)
    previous: tuple[str, tuple[str, ...]] | None = field(default=None, compare=False)   # lang, topics before


@dataclass(frozen=True)
class ChangeLog:
    """The change log partners see: the last 90 days plus this build's pending changes.
    Its size and ends come from one query; the rows themselves are read only when
    changes.json must be written (a rebuild after one edit usually finds it unchanged)."""

    count: int
    first_seq: int | None
    last_seq: int | None
    seq_sum: int                    # with the rest, names the set of rows (they never change)
    latest: datetime | None         # the newest change's instant
    read: Callable[[], list[Change]]

    @classmethod
    def of(cls, changes: Sequence[Change]) -> ChangeLog:
        rows = list(changes)
        return cls(len(rows), rows[0].seq if rows else None, rows[-1].seq if rows else None,
                   sum(c.seq for c in rows), max((c.at for c in rows), default=None), lambda: rows)


class Journal:
    """The journal of one output folder (``target``): a preview build into another folder,
    say with ``--now`` in the future, must not add events to the real site's log."""

    def __init__(self, db: Database, target: str, visibility: str = "public"):
        """``visibility`` "partners": the journal of partner-only items (target
        ``<output>#partners``), kept apart so the public change log never names them;
        its events go to the outbox of ``<output>``, marked for partners only."""
        self._db, self._target, self._visibility = db, target, visibility
        self._snapshot: dict[str, tuple] | None = None   # as pending() read it

    @property
    def target(self) -> str:
        return self._target

    def pending(self, public_items: Iterable[NewsItem], now: datetime) -> list[Change]:
        """The changes between the last commit and ``public_items``, numbered after the log."""
        rows = self._db.query("SELECT id, url, lang, modified, topics FROM published WHERE target = :target",
                              {"target": self._target})
        before = self._snapshot = {row[0]: tuple(row[1:]) for row in rows}
        seq = self._last_seq()
        current = {item.id: item for item in public_items}
        # compared unordered, numbered in (date, id) order: sorting all 10,000 items for
        # the one that changed costs more than the comparison
        changed = [item for item in current.values()
                   if (old := before.get(item.id)) is None or old[2] != item.modified_iso]
        changes: list[Change] = []
        for item in sorted(changed, key=lambda i: (i.date.timestamp(), i.id)):
            seq += 1
            old = before.get(item.id)
            event = "published" if old is None else "updated"
            previous = (old[1],
                        tuple((old[3] or "").split())) if old is not None and old[3] is not None else None
            changes.append(Change(seq, now, event, item.id, item.url, item.lang, item.modified, item.topics,
                                  previous))
        for item_id in sorted(set(before) - set(current)):
            url, lang, _, topics = before[item_id]
            seq += 1
            changes.append(Change(seq, now, "withdrawn", item_id, url, lang,
                                  topics=tuple((topics or "").split())))
        return changes

    def log(self, now: datetime, pending: Sequence[Change] = ()) -> ChangeLog:
        """The change log as partners see it: the last 90 days, oldest first, plus ``pending``."""
        window = {"target": self._target, "since": _utc(now - KEEP)}
        [(count, first, last, total, latest)] = self._db.query(
            "SELECT COUNT(*), MIN(seq), MAX(seq), COALESCE(SUM(seq), 0), MAX(at) FROM changes"
            " WHERE target = :target AND at >= :since", window)
        ats = [c.at for c in pending] + ([datetime.fromisoformat(latest)] if latest else [])

        def read() -> list[Change]:
            rows = self._db.query("SELECT seq, at, event, id, url, lang, modified FROM changes"
                                  " WHERE target = :target AND at >= :since ORDER BY seq", window)
            return [_change(row) for row in rows] + list(pending)

        return ChangeLog(count + len(pending), first if count else (pending[0].seq if pending else None),
                         pending[-1].seq if pending else last, int(total) + sum(c.seq for c in pending),
                         max(ats, default=None), read)

    def _last_seq(self) -> int:
        # kept apart from the changes table: pruning old changes must never reuse a number
        rows = self._db.query("SELECT last_seq FROM sequence WHERE target = :target",
                              {"target": self._target})
        return rows[0][0] if rows else 0

    def commit(self, changes: list[Change], public_items: Iterable[NewsItem], now: datetime,
               events: bool = False) -> None:
        """Record ``changes`` and the new snapshot of public items in one transaction; with
        ``events``, each change also as an ``item.*`` event in the outbox, in that same
        transaction (exactly once: :mod:`pipeline.events`)."""
        self.prepare(changes, public_items, now, events).write()

    def prepare(self, changes: list[Change], public_items: Iterable[NewsItem], now: datetime,
                events: bool = False) -> Commit:
        """:meth:`commit` without the writing: the rows, computed without the database (a
        first build of 10,000 items prepares them while its other process renders)."""
        target = self._target
        at_texts = {at: _utc(at) for at in {c.at for c in changes}}   # one instant, usually
        change_rows = [{"target": target, "seq": c.seq, "at": at_texts[c.at], "event": c.event, "id": c.id,
                        "url": c.url, "lang": c.lang,
                        "modified": c.modified.isoformat() if c.modified else None} for c in changes]
        outbox = event_rows(target.removesuffix("#partners"), now,
                            [item_event(c, self._visibility) for c in changes]) if events else []
        snapshot = {i.id: (i.url, i.lang, i.modified_iso, " ".join(i.topics)) for i in public_items}
        return Commit(self, now, change_rows, outbox, snapshot, changes[-1].seq if changes else None, events)

    def _write(self, commit: Commit) -> None:
        target = self._target
        with self._db.transaction():
            if commit.events:
                insert_events(self._db, commit.outbox)
            self._db.executemany(
                "INSERT INTO changes (target, seq, at, event, id, url, lang, modified)"
                " VALUES (:target, :seq, :at, :event, :id, :url, :lang, :modified)", commit.change_rows)
            self._replace_snapshot(commit.snapshot)
            if commit.last_seq is not None:
                last = {"target": target, "seq": commit.last_seq}
                if not self._db.execute("UPDATE sequence SET last_seq = :seq WHERE target = :target", last):
                    self._db.execute("INSERT INTO sequence (target, last_seq) VALUES (:target, :seq)", last)
            self._db.execute("DELETE FROM changes WHERE target = :target AND at < :since",
                             {"target": target, "since": _utc(commit.now - KEEP)})
            if commit.events:   # delivered or given up long ago, with their deliveries and attempts
                old = {"target": target.removesuffix("#partners"), "since": _utc(commit.now - KEEP)}
                for table in ("delivery_attempts", "deliveries"):
                    self._db.execute(f"DELETE FROM {table} WHERE event_id IN (SELECT id FROM events"
                                     " WHERE target = :target AND at < :since)", old)
                self._db.execute("DELETE FROM events WHERE target = :target AND at < :since", old)

    def _replace_snapshot(self, rows: dict[str, tuple[str, str, str, str]]) -> None:
        """Make the ``published`` rows ``rows``, writing only the difference from the
        snapshot :meth:`pending` read (10,000 rows are rewritten in no time, but not in none)."""
        before = self._snapshot
        target = self._target
        if before is None:
            self._db.execute("DELETE FROM published WHERE target = :target", {"target": target})
            before = {}
        changed = [item_id for item_id, row in rows.items() if before.get(item_id) != row]
        gone = (before.keys() - rows.keys()) | {item_id for item_id in changed if item_id in before}
        self._db.executemany("DELETE FROM published WHERE target = :target AND id = :id",
                             [{"target": target, "id": item_id} for item_id in gone])
        self._db.executemany(
            "INSERT INTO published (target, id, url, lang, modified, topics)"
            " VALUES (:target, :id, :url, :lang, :modified, :topics)",
            [{"target": target, "id": item_id, "url": rows[item_id][0], "lang": rows[item_id][1],
              "modified": rows[item_id][2], "topics": rows[item_id][3]} for item_id in changed],
        )
        self._snapshot = rows


@dataclass(frozen=True)
class Commit:
    """A journal's commit, prepared (:meth:`Journal.prepare`): :meth:`write` it in the
    transaction that publishes."""

    journal: Journal
    now: datetime
    change_rows: list[dict]
    outbox: list[dict]
    snapshot: dict[str, tuple[str, str, str, str]]
    last_seq: int | None
    events: bool

    def write(self) -> None:
        self.journal._write(self)


def _utc(when: datetime) -> str:
    """UTC text, so that SQLite's text comparison orders instants correctly."""
    return when.astimezone(UTC).isoformat()


def _change(row: tuple) -> Change:
    seq, at, event, item_id, url, lang, modified = row
    return Change(seq, datetime.fromisoformat(at), event, item_id, url, lang,
                  datetime.fromisoformat(modified) if modified else None)



def commit_profiles(db: Database, target: str, profiles: dict[str, tuple[str, str]], now: datetime,
                    events: bool) -> list[str]:
    """Record the profiles published (slug -> (page url, digest of the file)) in the journal
    of ``<target>#profiles``; with ``events``, a ``profile.updated`` event for each one new or
    changed since, in the caller's transaction. Returns the slugs that changed."""
    key = target + "#profiles"
    before = {slug: (url, digest) for slug, url, digest in db.query(
        "SELECT id, url, modified FROM published WHERE target = :target", {"target": key})}
    changed = sorted(slug for slug, row in profiles.items() if before.get(slug) != row)
    gone = sorted(before.keys() - profiles.keys())
    db.executemany("DELETE FROM published WHERE target = :target AND id = :id",
                   [{"target": key, "id": slug} for slug in [*changed, *gone]])
    db.executemany("INSERT INTO published (target, id, url, lang, modified, topics)"
                   " VALUES (:target, :id, :url, '', :modified, '')",
                   [{"target": key, "id": slug, "url": profiles[slug][0], "modified": profiles[slug][1]}
                    for slug in changed])
    if events and before:   # a first build announces nothing: every profile would be "updated"
        record_events(db, target, now, [("profile.updated", slug, {"slug": slug, "url": profiles[slug][0]})
                                        for slug in changed])
    return changed
