"""Sending an edition: once to each active subscriber, surviving crashes, from any number
of senders.

The ledger is the ``sends`` table. Before anything goes out, every active subscriber of
the newsletter gets a ``queued`` row for the edition (one transaction). A sender (``newsroom
digest send``, or ``newsroom worker`` processes on any machines) claims open rows in
batches under a lease it renews while it sends; it marks a row ``sending`` (committed,
and only while the lease is still its own) before it hands the message over, and ``sent``
once the server accepted it. A sender that dies (SIGKILL, a lost machine) stops renewing;
its rows are another sender's after :data:`LEASE_SECONDS`: the ``queued`` ones go out
once, the ``sending`` ones were in flight at the kill (at most one per connection) and
are sent again, the only repeats possible. A row that is ``sent`` is never sent again, so
sending an edition twice sends nothing.

Temporary failures (SMTP 4xx, a dropped connection) are retried with backoff up to
:data:`MAX_ATTEMPTS` times; a permanent one (5xx) marks the row ``failed`` and counts a
hard bounce (:data:`pipeline.subscribers.HARD_BOUNCES` of them mark the address
bounced). A subscriber unsubscribed after the rows were made is ``skipped``, as is one
whose topics match nothing in the edition.
"""

from __future__ import annotations

import hashlib
import os
import queue
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .config import Config, ConfigError, Newsletter
from .editions import Edition
from .messages import MessageFactory, Recipient, RecipientError, envelope_address
from .senders import PermanentFailure, ServerUnavailable, TemporaryFailure, UnknownOutcome
from .statedb import Database
from .subscribers import SubscriberStore

__all__ = ["LEASE_SECONDS", "MAX_ATTEMPTS", "RETRY_LATER_SECONDS", "SendReport", "live_workers", "owner_name",
           "queue_edition", "send_queued", "utc_stamp"]

MAX_ATTEMPTS = 5
LEASE_SECONDS = 60.0   # a claimed row is another sender's to take this long after its holder died
RETRY_LATER_SECONDS = 300.0   # a deferred row (temporary failures): when workers try it again
GIVE_UP_ATTEMPTS = 25         # tries over all runs after which a deferred message fails for good


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
    at = utc_stamp(now)
    with db.transaction():
        existing = {sid for (sid,) in db.query("SELECT subscriber_id FROM sends WHERE newsletter = :nl"
                                              " AND edition = :ed", {"nl": newsletter, "ed": edition.label})}
        rows = [{"nl": newsletter, "ed": edition.label, "sid": sid, "at": at}
                for sid, _ in store.recipients(newsletter) if sid not in existing]
        db.executemany("INSERT INTO sends (newsletter, edition, subscriber_id, status, attempts, updated_at)"
                       " VALUES (:nl, :ed, :sid, 'queued', 0, :at) ON CONFLICT DO NOTHING", rows)
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
                backoff: float = 1.0, owner: str | None = None, lease_seconds: float = LEASE_SECONDS,
                stop: threading.Event | None = None, exclusive: bool = False) -> SendReport:
    """Send the factory's edition: claim open rows in batches under a lease (see
    :func:`claim_batch`), send them on one thread per sender (SMTP connection), renew the
    lease while sending, and report. Several processes may do this at once, on any
    machines sharing the database. ``backoff`` is the first retry delay in seconds; a set
    ``stop`` ends the run after the messages in flight; ``exclusive``: no other sender
    can be running (SQLite), so rows leased by a sender that died are taken at once."""
    edition = factory.edition
    newsletter: Newsletter = edition.newsletter
    key = {"nl": newsletter.id, "ed": edition.label}
    owner = owner or owner_name()
    report = SendReport()
    started = time.perf_counter()
    [(report.already_sent,)] = db.query("SELECT COUNT(*) FROM sends WHERE newsletter = :nl AND edition = :ed"
                                        " AND status = 'sent'", key)
    lock = threading.Lock()            # one thread at a time on the database
    lease = _Lease(db, lock, key, owner, lease_seconds, now, exclusive)
    jobs: queue.Queue[int | None] = queue.Queue()
    limit = _RateLimit(config.delivery.rate_per_second)
    envelope_from = factory.sender_address

    def mark(sid: int, status: str, error: str | None = None, message_id: str | None = None,
             claim: bool = False) -> bool:
        """Set a row's status; with ``claim``, only a row not sent yet and still ours (False
        if it was sent, or its lease expired and another sender took it)."""
        with lock:
            return mark_unlocked(sid, status, error, message_id, claim)

    def mark_unlocked(sid: int, status: str, error: str | None = None, message_id: str | None = None,
                      claim: bool = False) -> bool:
        # a claim holds only while the lease does: a sender stalled past it may have been replaced
        guard = " AND status IN ('queued', 'sending') AND lease_owner = :me AND lease_until > :at" \
            if claim else ""
        return bool(db.execute(
            "UPDATE sends SET status = :status, attempts = attempts + :tried, error = :error,"
            " message_id = COALESCE(:mid, message_id), updated_at = :at"
            " WHERE newsletter = :nl AND edition = :ed AND subscriber_id = :sid" + guard,
            {**key, "sid": sid, "status": status, "error": error, "mid": message_id, "me": owner,
             "tried": 1 if status == "sending" else 0, "at": utc_stamp(now())}))

    recipients: dict[int, Recipient] = {}   # of the claimed rows, read once per batch

    def read_recipients(ids: list[int]) -> None:
        """The active subscribers among ``ids``, in one query (not one per message)."""
        names = {f"s{n}": sid for n, sid in enumerate(ids)}
        listed = ", ".join(f":{name}" for name in names)
        with lock:
            rows = db.query("SELECT s.id, s.token_key, s.email, s.name, x.topics FROM subscribers s"
                            " JOIN subscriptions x ON x.subscriber_id = s.id WHERE x.newsletter = :nl"
                            f" AND x.status = 'active' AND s.id IN ({listed})",
                            {"nl": newsletter.id, **names})
            recipients.update({sid: Recipient(token_key, email, name, tuple(topics.split()))
                               for sid, token_key, email, name, topics in rows})

    def tries_so_far(sid: int) -> int:
        with lock:
            rows = db.query("SELECT attempts FROM sends WHERE newsletter = :nl AND edition = :ed"
                            " AND subscriber_id = :sid", {**key, "sid": sid})
        return rows[0][0] if rows else 0

    def recipient_of(sid: int) -> Recipient | None:
        with lock:
            return recipients.pop(sid, None)

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
            # committed before the message leaves; a row sent or taken over meanwhile is left alone
            if not mark(sid, "sending", message_id=message_id, claim=True):
                return
            try:
                sender.send(envelope_from, envelope_to, message, message_id)
            except TemporaryFailure as exc:
                if attempt == MAX_ATTEMPTS:   # greylisting, a busy server: a later run tries again
                    if tries_so_far(sid) >= GIVE_UP_ATTEMPTS:
                        mark(sid, "failed", f"gave up after {GIVE_UP_ATTEMPTS} tries: {exc}")
                        _count(report, lock, "failed", f"{recipient.email}: gave up: {exc}")
                        return
                    mark(sid, "queued", f"deferred after {attempt} tries: {exc}")
                    lease.deferred.append(sid)
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
            with lock, db.transaction():   # one commit for both
                mark_unlocked(sid, "sent")
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
            while (sid := jobs.get()) is not None:
                if not failures:
                    guarded(sender, sid)
        except BaseException as exc:   # the server is gone, or refused us: stop everyone
            failures.append(exc)
        finally:
            sender.close()

    threads = [threading.Thread(target=worker, args=(s,), daemon=True) for s in senders]
    for thread in threads:
        thread.start()
    try:
        batch = max(20, 10 * len(senders))
        while not failures and not (stop and stop.is_set()):
            lease.renew_if_due()
            if jobs.qsize() > len(senders):
                time.sleep(0.01)
                continue
            claimed = lease.claim(batch)
            if not claimed:
                break
            read_recipients(claimed)
            for sid in claimed:
                jobs.put(sid)
        if failures or (stop and stop.is_set()):
            _drain(jobs)   # claimed but not started: released below, for another sender
    finally:
        for _ in threads:
            jobs.put(None)
        while any(thread.is_alive() for thread in threads):
            for thread in threads:
                thread.join(timeout=0.2)
            lease.renew_if_due()
        lease.release()
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


def live_workers(db: Database, now: datetime) -> int:
    """How many ``newsroom worker`` processes are alive: their last heartbeat promised
    another before now (a worker beats three times per lease)."""
    return db.query("SELECT COUNT(*) FROM workers WHERE alive_until >= :now", {"now": utc_stamp(now)})[0][0]


def _drain(jobs: queue.Queue) -> None:
    while True:
        try:
            jobs.get_nowait()
        except queue.Empty:
            return


def owner_name() -> str:
    """This sender's name in the ledger's leases: host, process, the process namespace and
    boot it runs in (containers share host names, not process ids) and a random part."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{_process_space()}:{secrets.token_hex(3)}"


def _process_space() -> str:
    """Which processes a pid names here: this boot's id and the pid namespace."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        return "unknown"
    return hashlib.sha256(f"{boot}:{namespace}".encode()).hexdigest()[:8]


def utc_stamp(when: datetime) -> str:
    """UTC with microseconds always: lease times compare as text."""
    return when.astimezone(UTC).isoformat(timespec="microseconds")


class _Lease:
    """The rows one sender holds. Claimed rows belong to it until ``lease_seconds`` after
    the last renewal; a sender that dies (SIGKILL, a lost machine) stops renewing, and
    after that another sender takes its rows (at once if it was a process of this machine
    that is gone). On PostgreSQL a claim skips rows another sender is claiming at the same
    instant (``FOR UPDATE SKIP LOCKED``). ``exclusive``: the caller is the only sender
    (SQLite's per-newsletter lock), so every open row is its to take."""

    def __init__(self, db: Database, lock: threading.Lock, key: dict, owner: str, seconds: float,
                 now: Callable[[], datetime], exclusive: bool = False):
        self.db, self.lock, self.key, self.owner, self.seconds, self.now = db, lock, key, owner, seconds, now
        self.exclusive = exclusive
        self.deferred: list[int] = []   # kept until release, then not claimable for a while
        self._renewed = time.monotonic()
        self._free_leases_of_dead_local_senders()

    def claim(self, size: int) -> list[int]:
        at = self.now()
        expired = "" if self.exclusive else " AND (lease_until IS NULL OR lease_until < :now)"
        skip_locked = " FOR UPDATE SKIP LOCKED" if self.db.dialect == "postgresql" else ""
        with self.lock, self.db.transaction():
            ids = [sid for (sid,) in self.db.query(
                "SELECT subscriber_id FROM sends WHERE newsletter = :nl AND edition = :ed"
                " AND status IN ('queued', 'sending') AND (lease_owner IS NULL OR lease_owner <> :me)"
                + expired + " ORDER BY subscriber_id LIMIT :size" + skip_locked,
                {**self.key, "me": self.owner, "now": utc_stamp(at), "size": size})]
            self.db.executemany(
                "UPDATE sends SET lease_owner = :me, lease_until = :until"
                " WHERE newsletter = :nl AND edition = :ed AND subscriber_id = :sid",
                [{**self.key, "sid": sid, "me": self.owner,
                  "until": utc_stamp(at + timedelta(seconds=self.seconds))} for sid in ids])
        return ids

    def renew_if_due(self) -> None:
        if time.monotonic() - self._renewed < self.seconds / 3:
            return
        until = utc_stamp(self.now() + timedelta(seconds=self.seconds))
        with self.lock:
            self.db.execute("UPDATE sends SET lease_until = :until WHERE lease_owner = :me"
                            " AND status IN ('queued', 'sending')", {"me": self.owner, "until": until})
        self._renewed = time.monotonic()

    def release(self) -> None:
        """Rows still open: those never started are free for the next sender at once; the
        deferred ones after :data:`RETRY_LATER_SECONDS` (a run of ``digest send`` on SQLite
        takes them at once)."""
        later = utc_stamp(self.now() + timedelta(seconds=RETRY_LATER_SECONDS))
        with self.lock:
            self.db.executemany("UPDATE sends SET lease_owner = NULL, lease_until = :later"
                                " WHERE newsletter = :nl AND edition = :ed AND subscriber_id = :sid"
                                " AND lease_owner = :me AND status = 'queued'",
                                [{**self.key, "sid": sid, "me": self.owner, "later": later}
                                 for sid in self.deferred])
            self.db.execute("UPDATE sends SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = :me"
                            " AND status IN ('queued', 'sending')", {"me": self.owner})

    def _free_leases_of_dead_local_senders(self) -> None:
        """A sender of this machine that is gone (killed, crashed) holds nothing: a re-run
        right after a crash need not wait for its leases to run out."""
        with self.lock:
            owners = [owner for (owner,) in self.db.query(
                "SELECT DISTINCT lease_owner FROM sends WHERE newsletter = :nl AND edition = :ed"
                " AND status IN ('queued', 'sending') AND lease_owner IS NOT NULL", self.key)]
            for owner in owners:
                if _is_dead_local_process(owner):
                    self.db.execute("UPDATE sends SET lease_owner = NULL, lease_until = NULL"
                                    " WHERE lease_owner = :owner AND status IN ('queued', 'sending')",
                                    {"owner": owner})


def _is_dead_local_process(owner: str) -> bool:
    parts = owner.split(":")
    if len(parts) != 4:
        return False
    host, pid, space, _ = parts
    if host != socket.gethostname()[:64] or space != _process_space() or space == "unknown" \
            or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False   # alive, another user's
    return False


def _count(report: SendReport, lock: threading.Lock, what: str, error: str | None = None) -> None:
    with lock:
        setattr(report, what, getattr(report, what) + 1)
        if error and len(report.errors) < 100:
            report.errors.append(error)
