"""Sending an edition: once to each active subscriber, surviving crashes.

The ledger is the ``sends`` table. Before anything goes out, every active subscriber of
the newsletter gets a ``queued`` row for the edition (one transaction). A worker marks a
row ``sending`` (committed) before it hands the message to its sender and ``sent`` once
the server accepted it. After a crash (SIGKILL included) a re-run finds the rows not
``sent``: the ``queued`` ones go out once; the ``sending`` ones were in flight at the
kill (at most one per connection) and are sent again, the only repeats possible. A row
that is ``sent`` is never sent again, so sending an edition twice sends nothing.

Temporary failures (SMTP 4xx, a dropped connection) are retried with backoff up to
:data:`MAX_ATTEMPTS` times; a permanent one (5xx) marks the row ``failed`` and counts a
hard bounce (:data:`pipeline.subscribers.HARD_BOUNCES` of them mark the address
bounced). A subscriber unsubscribed after the rows were made is ``skipped``, as is one
whose topics match nothing in the edition.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .config import Config, ConfigError, Newsletter
from .editions import Edition
from .messages import MessageFactory, Recipient, RecipientError, envelope_address
from .senders import PermanentFailure, ServerUnavailable, TemporaryFailure, UnknownOutcome
from .statedb import Database
from .subscribers import SubscriberStore

__all__ = ["MAX_ATTEMPTS", "SendReport", "queue_edition", "send_queued"]

MAX_ATTEMPTS = 5


@dataclass
class SendReport:
    sent: int = 0
    skipped: int = 0          # nothing in the edition for them, or unsubscribed meanwhile
    failed: int = 0
    deferred: int = 0         # still temporarily failing after every try: queued for the next run
    unknown: int = 0          # no answer after the message went out: maybe delivered, not resent
    retried: int = 0
    already_sent: int = 0     # from an earlier run
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


def queue_edition(db: Database, store: SubscriberStore, edition: Edition, now: datetime) -> int:
    """A ``queued`` row for every active subscriber who has none for this edition yet."""
    newsletter = edition.newsletter.id
    at = now.astimezone(UTC).isoformat()
    with db.transaction():
        existing = {sid for (sid,) in db.query("SELECT subscriber_id FROM sends WHERE newsletter = :nl"
                                              " AND edition = :ed", {"nl": newsletter, "ed": edition.label})}
        rows = [{"nl": newsletter, "ed": edition.label, "sid": sid, "at": at}
                for sid, _ in store.recipients(newsletter) if sid not in existing]
        db.executemany("INSERT INTO sends (newsletter, edition, subscriber_id, status, attempts, updated_at)"
                       " VALUES (:nl, :ed, :sid, 'queued', 0, :at)", rows)
    return len(rows)


class _RateLimit:
    """At most ``per_second`` starts a second over all connections (a token bucket)."""

    def __init__(self, per_second: float):
        self.interval = 1.0 / per_second
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
        if start > now:
            time.sleep(start - now)


def send_queued(db: Database, store: SubscriberStore, config: Config, factory: MessageFactory,
                senders: list, now: Callable[[], datetime], progress: Callable[[int], None] | None = None,
                backoff: float = 1.0) -> SendReport:
    """Send every row of the factory's edition that is not ``sent``, on one thread per
    sender (SMTP connection), and report. ``backoff`` is the first retry delay in seconds."""
    edition = factory.edition
    newsletter: Newsletter = edition.newsletter
    key = {"nl": newsletter.id, "ed": edition.label}
    report = SendReport()
    started = time.perf_counter()
    [(report.already_sent,)] = db.query("SELECT COUNT(*) FROM sends WHERE newsletter = :nl AND edition = :ed"
                                        " AND status = 'sent'", key)
    todo = [sid for (sid,) in db.query("SELECT subscriber_id FROM sends"
                                       " WHERE newsletter = :nl AND edition = :ed"
                                       " AND status IN ('queued', 'sending') ORDER BY subscriber_id", key)]
    lock = threading.Lock()            # one thread at a time on the database
    jobs: queue.Queue[int | None] = queue.Queue()
    for sid in todo:
        jobs.put(sid)
    limit = _RateLimit(config.delivery.rate_per_second)
    envelope_from = factory.sender_address

    def mark(sid: int, status: str, error: str | None = None, message_id: str | None = None,
             claim: bool = False) -> bool:
        """Set a row's status; with ``claim``, only a row not sent yet (False if it was)."""
        guard = " AND status IN ('queued', 'sending')" if claim else ""
        with lock:
            return bool(db.execute(
                "UPDATE sends SET status = :status, attempts = attempts + :tried, error = :error,"
                " message_id = COALESCE(:mid, message_id), updated_at = :at"
                " WHERE newsletter = :nl AND edition = :ed AND subscriber_id = :sid" + guard,
                {**key, "sid": sid, "status": status, "error": error, "mid": message_id,
                 "tried": 1 if status == "sending" else 0, "at": now().astimezone(UTC).isoformat()}))

    def recipient_of(sid: int) -> Recipient | None:
        with lock:
            rows = db.query("SELECT s.token_key, s.email, s.name, x.topics, x.status FROM subscribers s"
                            " JOIN subscriptions x ON x.subscriber_id = s.id"
                            " WHERE s.id = :sid AND x.newsletter = :nl", {"sid": sid, "nl": newsletter.id})
        if not rows or rows[0][4] != "active":
            return None
        token_key, email, name, topics, _ = rows[0]
        return Recipient(token_key, email, name, tuple(topics.split()))

    def one(sender, sid: int) -> None:
        recipient = recipient_of(sid)
        if recipient is None:
            mark(sid, "skipped", "not active any more")
            _count(report, lock, "skipped")
            return
        try:
            message = factory.message_bytes(recipient)
            envelope_to = envelope_address(recipient.email)
        except RecipientError as exc:
            mark(sid, "failed", str(exc))
            _count(report, lock, "failed", str(exc))
            return
        if message is None:
            mark(sid, "skipped", "nothing of their topics in this edition")
            _count(report, lock, "skipped")
            return
        message_id = factory.message_id(recipient)
        delay = backoff
        for attempt in range(1, MAX_ATTEMPTS + 1):
            limit.wait()
            # committed before the message leaves; a row another run sent meanwhile is left alone
            if not mark(sid, "sending", message_id=message_id, claim=True):
                return
            try:
                sender.send(envelope_from, envelope_to, message, message_id)
            except TemporaryFailure as exc:
                if attempt == MAX_ATTEMPTS:   # greylisting, a busy server: the next run tries again
                    mark(sid, "queued", f"deferred after {attempt} tries: {exc}")
                    _count(report, lock, "deferred", f"{recipient.email}: deferred: {exc}")
                    return
                _count(report, lock, "retried")
                time.sleep(delay)
                delay *= 2
                continue
            except UnknownOutcome as exc:
                mark(sid, "failed", f"unknown outcome: {exc}")
                _count(report, lock, "unknown", f"{recipient.email}: {exc}")
                return
            except PermanentFailure as exc:
                mark(sid, "failed", str(exc))
                if exc.bounce:
                    with lock:
                        store.hard_bounce(sid, now())
                _count(report, lock, "failed", f"{recipient.email}: {exc}")
                return
            except ServerUnavailable:
                mark(sid, "queued", "the server was unavailable")
                raise
            mark(sid, "sent")
            with lock:
                store.delivered(sid)
            _count(report, lock, "sent")
            if progress:
                progress(1)
            return

    def guarded(sender, sid: int) -> None:
        """One row; whatever goes wrong with it is that row's failure, not the run's."""
        try:
            one(sender, sid)
        except (ServerUnavailable, ConfigError):
            raise
        except Exception as exc:
            mark(sid, "failed", f"{type(exc).__name__}: {exc}")
            _count(report, lock, "failed", f"subscriber {sid}: {type(exc).__name__}: {exc}")

    failures: list[BaseException] = []

    def worker(sender) -> None:
        try:
            while True:
                try:
                    sid = jobs.get_nowait()
                except queue.Empty:
                    return
                guarded(sender, sid)
        except BaseException as exc:   # the server is gone, or refused us: stop everyone
            failures.append(exc)
            while not jobs.empty():
                try:
                    jobs.get_nowait()
                except queue.Empty:
                    break
        finally:
            sender.close()

    threads = [threading.Thread(target=worker, args=(s,), daemon=True) for s in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report.seconds = time.perf_counter() - started
    if failures:
        error = failures[0]
        if isinstance(error, ConfigError):
            raise error
        left = db.query("SELECT COUNT(*) FROM sends WHERE newsletter = :nl AND edition = :ed"
                        " AND status IN ('queued', 'sending')", key)[0][0]
        raise ConfigError(f"sending stopped: {error}; {report.sent} sent in this run, {left} still queued "
                          "(run the same command again to send them)")
    return report


def _count(report: SendReport, lock: threading.Lock, what: str, error: str | None = None) -> None:
    with lock:
        setattr(report, what, getattr(report, what) + 1)
        if error and len(report.errors) < 100:
            report.errors.append(error)
