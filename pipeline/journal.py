"""The publication journal: what was public at the last publish, and the change log since.

It lives in SQLite (``state/newsroom.db``) so it survives restarts. A build asks for
the :meth:`Journal.pending` changes (read-only), renders and publishes with them, and
only then :meth:`Journal.commit`\\s them: a build that fails to publish records nothing,
and one that crashes after publishing recomputes the same changes next time.

Only public items are journaled: drafts, embargoed and partner-only items never
appear here, so the change log cannot leak them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .model import NewsItem
from .statedb import connect

__all__ = ["Change", "ChangeLog", "Journal"]

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

    def __init__(self, connection: sqlite3.Connection, target: str):
        self._db, self._target = connection, target
        self._snapshot: dict[str, tuple[str, str, str]] | None = None   # as pending() read it

    @classmethod
    def open(cls, path: Path, target: str = "output") -> Journal:
        return cls(connect(path), target)

    def close(self) -> None:
        self._db.close()

    def pending(self, public_items: Iterable[NewsItem], now: datetime) -> list[Change]:
        """The changes between the last commit and ``public_items``, numbered after the log."""
        rows = self._db.execute("SELECT id, url, lang, modified FROM published WHERE target = ?",
                                (self._target,))
        before = self._snapshot = {row[0]: row[1:] for row in rows}
        seq = self._last_seq()
        current = {item.id: item for item in public_items}
        # compared unordered, numbered in (date, id) order: sorting all 10,000 items for
        # the one that changed costs more than the comparison
        changed = [item for item in current.values()
                   if (old := before.get(item.id)) is None or old[2] != item.modified.isoformat()]
        changes: list[Change] = []
        for item in sorted(changed, key=lambda i: (i.date.timestamp(), i.id)):
            seq += 1
            event = "published" if item.id not in before else "updated"
            changes.append(Change(seq, now, event, item.id, item.url, item.lang, item.modified))
        for item_id in sorted(set(before) - set(current)):
            url, lang, _ = before[item_id]
            seq += 1
            changes.append(Change(seq, now, "withdrawn", item_id, url, lang))
        return changes

    def log(self, now: datetime, pending: Sequence[Change] = ()) -> ChangeLog:
        """The change log as partners see it: the last 90 days, oldest first, plus ``pending``."""
        window = (self._target, _utc(now - KEEP))
        count, first, last, total, latest = self._db.execute(
            "SELECT COUNT(*), MIN(seq), MAX(seq), TOTAL(seq), MAX(at) FROM changes"
            " WHERE target = ? AND at >= ?", window).fetchone()
        ats = [c.at for c in pending] + ([datetime.fromisoformat(latest)] if latest else [])

        def read() -> list[Change]:
            rows = self._db.execute("SELECT seq, at, event, id, url, lang, modified FROM changes"
                                    " WHERE target = ? AND at >= ? ORDER BY seq", window)
            return [_change(row) for row in rows] + list(pending)

        return ChangeLog(count + len(pending), first if count else (pending[0].seq if pending else None),
                         pending[-1].seq if pending else last, int(total) + sum(c.seq for c in pending),
                         max(ats, default=None), read)

    def _last_seq(self) -> int:
        # kept apart from the changes table: pruning old changes must never reuse a number
        row = self._db.execute("SELECT last_seq FROM sequence WHERE target = ?", (self._target,)).fetchone()
        return row[0] if row else 0

    def commit(self, changes: list[Change], public_items: Iterable[NewsItem], now: datetime) -> None:
        """Record ``changes`` and the new snapshot of public items in one transaction."""
        with self._db:
            self._db.executemany(
                "INSERT INTO changes (target, seq, at, event, id, url, lang, modified)"
                " VALUES (?,?,?,?,?,?,?,?)",
                [(self._target, c.seq, _utc(c.at), c.event, c.id, c.url, c.lang,
                  c.modified.isoformat() if c.modified else None) for c in changes],
            )
            self._replace_snapshot({i.id: (i.url, i.lang, i.modified.isoformat()) for i in public_items})
            if changes:
                self._db.execute("INSERT OR REPLACE INTO sequence (target, last_seq) VALUES (?, ?)",
                                 (self._target, changes[-1].seq))
            self._db.execute("DELETE FROM changes WHERE target = ? AND at < ?",
                             (self._target, _utc(now - KEEP)))


    def _replace_snapshot(self, rows: dict[str, tuple[str, str, str]]) -> None:
        """Make the ``published`` rows ``rows``, writing only the difference from the
        snapshot :meth:`pending` read (10,000 rows are rewritten in no time, but not in none)."""
        before = self._snapshot
        if before is None:
            self._db.execute("DELETE FROM published WHERE target = ?", (self._target,))
            before = {}
        gone = [(self._target, item_id) for item_id in before.keys() - rows.keys()]
        self._db.executemany("DELETE FROM published WHERE target = ? AND id = ?", gone)
        self._db.executemany(
            "INSERT OR REPLACE INTO published (target, id, url, lang, modified) VALUES (?,?,?,?,?)",
            [(self._target, item_id, *row) for item_id, row in rows.items() if before.get(item_id) != row],
        )
        self._snapshot = rows


def _utc(when: datetime) -> str:
    """UTC text, so that SQLite's text comparison orders instants correctly."""
    return when.astimezone(UTC).isoformat()


def _change(row: tuple) -> Change:
    seq, at, event, item_id, url, lang, modified = row
    return Change(seq, datetime.fromisoformat(at), event, item_id, url, lang,
                  datetime.fromisoformat(modified) if modified else None)
