"""Events: what changed in a publish, recorded once, delivered to each handler until done.

The journal records ``item.published``, ``item.updated`` and ``item.withdrawn`` in the
same transaction that advances it (:meth:`pipeline.journal.Journal.commit`), so an event
exists exactly when its change was published, across crashes and restarts; a build also
records ``build.completed`` with the files it changed. This table is an *outbox*:
handlers (registered per run, see :class:`Handlers`) read from it, and each delivery is
marked done when its handler returns. A handler that fails is retried later with
backoff (1 minute, doubling, at most 6 hours apart, given up after :data:`MAX_ATTEMPTS`)
and never holds up the others. A crash between a handler's success and its mark means one
more delivery: handlers that reach the outside world carry an idempotency key.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .journal import Change
    from .statedb import Database

__all__ = ["MAX_ATTEMPTS", "Event", "Handlers", "dispatch", "event_rows", "insert_events", "item_event",
           "record_events"]

MAX_ATTEMPTS = 20                  # about three days of retries
FIRST_RETRY = timedelta(minutes=1)
LONGEST_WAIT = timedelta(hours=6)
log = logging.getLogger("newsroom.events")


@dataclass(frozen=True)
class Event:
    id: int
    type: str            # item.published, item.updated, item.withdrawn, build.completed
    subject: str         # the item's id; for build.completed the output folder
    at: datetime
    data: dict[str, Any]


def item_event(change: Change, visibility: str = "public") -> tuple[str, str, dict[str, Any]]:
    """The event of a journal change: (type, subject, data)."""
    return (f"item.{change.event}", change.id, {
        "id": change.id, "url": change.url, "lang": change.lang, "topics": list(change.topics),
        "modified": change.modified.isoformat() if change.modified else None, "seq": change.seq,
        "visibility": visibility,
        **({"previous": {"lang": change.previous[0], "topics": list(change.previous[1])}}
           if change.previous else {})})


_EVENT_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode   # one encoder, not one a call


def record_events(db: Database, target: str, at: datetime, events: Iterable[tuple[str, str, dict]]) -> None:
    """Add events to the outbox (call inside the transaction that makes them true)."""
    insert_events(db, event_rows(target, at, events))


def event_rows(target: str, at: datetime, events: Iterable[tuple[str, str, dict]]) -> list[dict[str, str]]:
    """The outbox rows of events, ready for :func:`insert_events`: a first build records
    10,000 of them, encoded while its other process still renders."""
    at_text = at.astimezone(UTC).isoformat()   # once
    return [{"target": target, "type": kind, "subject": subject, "at": at_text, "data": _EVENT_JSON(data)}
            for kind, subject, data in events]


def insert_events(db: Database, rows: list[dict[str, str]]) -> None:
    db.executemany("INSERT INTO events (target, type, subject, at, data) VALUES (:target, :type, :subject,"
                   " :at, :data)", rows)


@dataclass
class _Handler:
    name: str
    accepts: Callable[[Event], bool]
    handle: Callable[[Event], None]


@dataclass
class Handlers:
    """The handlers of one run, by name (a name is what deliveries are recorded under)."""

    items: list[_Handler] = field(default_factory=list)

    def register(self, name: str, handle: Callable[[Event], None],
                 accepts: Callable[[Event], bool] = lambda _event: True) -> None:
        if any(h.name == name for h in self.items):
            raise ValueError(f"a handler named {name!r} is registered already")
        self.items.append(_Handler(name, accepts, handle))


@dataclass
class DispatchReport:
    done: int = 0
    retrying: int = 0
    given_up: int = 0


def dispatch(db: Database, handlers: Handlers, target: str, now: datetime,
             limit: int = 1000) -> DispatchReport:
    """Deliver every event of ``target`` each handler accepts and has not done yet, and
    whose retry time has come."""
    report = DispatchReport()
    stamp = now.astimezone(UTC).isoformat()
    for handler in handlers.items:
        rows = db.query(
            "SELECT e.id, e.type, e.subject, e.at, e.data, d.attempts FROM events e LEFT JOIN deliveries d"
            " ON d.event_id = e.id AND d.handler = :handler WHERE e.target = :target"
            " AND (d.event_id IS NULL OR (d.status = 'pending' AND d.next_at <= :now))"
            " ORDER BY e.id LIMIT :limit",
            {"handler": handler.name, "target": target, "now": stamp, "limit": limit})
        for event_id, kind, subject, at, data, attempts in rows:
            event = Event(event_id, kind, subject, datetime.fromisoformat(at), json.loads(data))
            if not handler.accepts(event):
                _mark(db, event_id, handler.name, "done", attempts or 0, stamp, None, record=False)
                continue
            tried = (attempts or 0) + 1
            try:
                handler.handle(event)
            except Exception as exc:   # logged, retried later; the other handlers go on
                error = f"{type(exc).__name__}: {exc}"[:500]
                gone = tried >= MAX_ATTEMPTS
                wait = min(FIRST_RETRY * 2 ** (tried - 1), LONGEST_WAIT)
                _mark(db, event_id, handler.name, "failed" if gone else "pending", tried,
                      (now + wait).astimezone(UTC).isoformat(), error, attempt_at=stamp)
                log.warning("%s: event %s (%s %s) failed, attempt %s: %s%s", handler.name, event_id, kind,
                            subject, tried, error, "; given up" if gone else f"; again in {wait}")
                if gone:
                    report.given_up += 1
                else:
                    report.retrying += 1
                continue
            _mark(db, event_id, handler.name, "done", tried, stamp, None, attempt_at=stamp)
            report.done += 1
    return report


def _mark(db: Database, event_id: int, handler: str, status: str, attempts: int, next_at: str,
          error: str | None, record: bool = True, attempt_at: str | None = None) -> None:
    key = {"event": event_id, "handler": handler, "status": status, "attempts": attempts, "next": next_at,
           "error": error}
    with db.transaction():
        if not db.execute("UPDATE deliveries SET status = :status, attempts = :attempts, next_at = :next,"
                          " error = :error WHERE event_id = :event AND handler = :handler", key):
            db.execute("INSERT INTO deliveries (event_id, handler, status, attempts, next_at, error)"
                       " VALUES (:event, :handler, :status, :attempts, :next, :error)", key)
        if record:
            db.execute("INSERT INTO delivery_attempts (event_id, handler, attempt, at, outcome)"
                       " VALUES (:event, :handler, :attempts, :at, :outcome)",
                       {**key, "at": attempt_at or next_at, "outcome": "done" if status == "done" else error})
