"""``newsroom worker``: a send worker. Run any number, on any machines that share the state
database (PostgreSQL) and have the site folder (its configuration, content and templates
render the messages).

A worker announces itself in the ``workers`` table with a heartbeat, so ``newsroom digest
send`` and the daemon only queue an edition while workers run. It looks for editions with
open rows, claims batches under a lease (:func:`pipeline.delivery.send_queued`) and sends
them over ``--concurrency`` SMTP connections. SIGTERM or SIGINT: the messages in flight
finish, the rest of its batch is released for the others, and it stops.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from .build import ContentErrors
from .config import Config, ConfigError, secret
from .delivery import LEASE_SECONDS, owner_name, send_queued, utc_stamp
from .statedb import Database, state_database

__all__ = ["open_editions", "run_worker"]

log = logging.getLogger("newsroom.worker")
POLL_SECONDS = 2.0


def open_editions(db: Database, now: datetime) -> list[tuple[str, str]]:
    """``(newsletter, edition)`` of every edition with rows a sender may take now."""
    return [tuple(row) for row in db.query(   # type: ignore[misc]
        "SELECT DISTINCT newsletter, edition FROM sends WHERE status IN ('queued', 'sending')"
        " AND (lease_until IS NULL OR lease_until < :now) ORDER BY newsletter, edition",
        {"now": utc_stamp(now)})]


def run_worker(config: Config, concurrency: int | None = None, lease_seconds: float = LEASE_SECONDS,
               once: bool = False, content_dir: Path | None = None, stop: threading.Event | None = None,
               on_sent: Callable[[str, int], None] | None = None) -> int:
    """Send until stopped (``once``: until nothing is left to take); the number sent."""
    from dataclasses import replace

    if concurrency is not None:
        config = replace(config, delivery=replace(config.delivery, connections=concurrency))
    stop = stop or _stop_on_signals()
    me = owner_name()
    secret_ = secret("NEWSROOM_SECRET")
    sent = 0
    with state_database(config) as db:
        _beat(db, me, lease_seconds, first=True)
        done = threading.Event()
        beating = threading.Thread(target=_heartbeat, args=(config, me, lease_seconds, done), daemon=True)
        beating.start()
        log.info("worker %s: %d connection(s), lease %gs", me, config.delivery.connections, lease_seconds)
        try:
            while not stop.is_set():
                try:
                    n = _one_pass(config, db, me, lease_seconds, stop, secret_, content_dir, on_sent)
                except Exception as exc:   # the database restarted, a template broke: wait, try again
                    db.rollback_if_needed()
                    log.error("worker: %s: %s; trying again in %gs", type(exc).__name__, exc,
                              10 * POLL_SECONDS)
                    stop.wait(10 * POLL_SECONDS)
                    continue
                sent += max(n, 0)
                if n < 0 and once:
                    break   # nothing left to take
                if n <= 0:
                    stop.wait(POLL_SECONDS)   # nothing taken this pass: no busy loop
        finally:
            done.set()
            beating.join()
            with contextlib.suppress(Exception):   # the database may be what went away
                db.rollback_if_needed()
                db.execute("DELETE FROM workers WHERE id = :id", {"id": me})
            log.info("worker %s: stopped after sending %d", me, sent)
    return sent


def _one_pass(config: Config, db: Database, me: str, lease_seconds: float, stop: threading.Event,
              secret_: str | None, content_dir: Path | None, on_sent) -> int:
    """Send what can be taken now: the number sent, -1 if there was nothing to take."""
    work = open_editions(db, datetime.now(UTC))
    if not work:
        return -1
    sent = 0
    for newsletter_id, label in work:
        if stop.is_set():
            break
        try:
            n = _send(config, db, newsletter_id, label, me, lease_seconds, stop, secret_, content_dir)
        except ContentErrors as exc:   # an editor's mistake: wait for the fix
            log.error("%s %s: the content has %d problem(s), e.g. %s; waiting for a fix",
                      newsletter_id, label, len(exc.problems), exc.problems[0])
            stop.wait(10 * POLL_SECONDS)
            continue
        except ConfigError as exc:   # the SMTP server refused us or is gone
            log.error("%s %s: %s", newsletter_id, label, exc)
            stop.wait(10 * POLL_SECONDS)
            continue
        sent += n
        if on_sent and n:
            on_sent(f"{newsletter_id} {label}", n)
    return sent


def _send(config: Config, db: Database, newsletter_id: str, label: str, me: str, lease_seconds: float,
          stop: threading.Event, secret_: str | None, content_dir: Path | None) -> int:
    """One edition's open rows, as many as this worker can claim; the number sent."""
    from .build import catalog_for
    from .digest import edition_factory, load_sound_content, send_lock
    from .editions import EditionStore
    from .senders import senders_for
    from .subscribers import SubscriberStore

    try:
        newsletter = config.newsletter(newsletter_id)
    except ConfigError:
        log.error("%s %s: no such newsletter in %s: left for a worker that knows it", newsletter_id, label,
                  config.path.name)
        _postpone(db, newsletter_id, label, lease_seconds)
        return 0
    exclusive = db.dialect == "sqlite"
    with send_lock(config, newsletter_id, db) as held:
        if not held:
            return 0   # SQLite: one sender of a newsletter at a time
        now = datetime.now(UTC).astimezone(config.site.timezone)
        content = load_sound_content(config, content_dir)
        try:
            catalog = catalog_for(config, content, now)
            edition = EditionStore(db).load(newsletter, label, catalog)
            if edition is None:
                log.error("%s %s: queued but never issued; left alone", newsletter_id, label)
                _postpone(db, newsletter_id, label, lease_seconds)
                return 0
            factory = edition_factory(config, catalog, content, edition, now, secret_)
            store = SubscriberStore(db, config, secret_)
            report = send_queued(db, store, config, factory, senders_for(config), lambda: datetime.now(UTC),
                                 owner=me, lease_seconds=lease_seconds, stop=stop,
                                 exclusive=exclusive)
        finally:
            content.close()
    log.info("%s %s: %d sent, %d skipped, %d failed, %d deferred", newsletter_id, label, report.sent,
             report.skipped, report.failed, report.deferred)
    return report.sent


def _postpone(db: Database, newsletter_id: str, label: str, lease_seconds: float) -> None:
    """Rows no worker can send now (an unknown newsletter, an edition never issued): not
    looked at again for a while. Leases of the dead go with it; a live sender's stay."""
    db.execute("UPDATE sends SET lease_owner = NULL, lease_until = :later WHERE newsletter = :nl"
               " AND edition = :ed AND status IN ('queued', 'sending')"
               " AND (lease_until IS NULL OR lease_until < :now)",
               {"nl": newsletter_id, "ed": label,
                "now": utc_stamp(datetime.now(UTC)),
                "later": utc_stamp(datetime.now(UTC) + timedelta(seconds=10 * lease_seconds))})


def _heartbeat(config: Config, me: str, lease_seconds: float, done: threading.Event) -> None:
    """The worker's heartbeat on a connection of its own, also while it sends for hours."""
    with state_database(config) as db:
        while not done.wait(lease_seconds / 3):
            try:
                _beat(db, me, lease_seconds)
            except Exception as exc:   # a database blip: the next beat tries again
                db.rollback_if_needed()
                log.warning("heartbeat: %s", exc)


def _beat(db: Database, me: str, lease_seconds: float, first: bool = False) -> None:
    """Say this worker is alive until a lease from now (three beats may be missed)."""
    now = datetime.now(UTC)
    beat = {"id": me, "now": utc_stamp(now), "until": utc_stamp(now + timedelta(seconds=lease_seconds))}
    with db.transaction():
        if first or not db.execute("UPDATE workers SET seen_at = :now, alive_until = :until WHERE id = :id",
                                   beat):
            db.execute("INSERT INTO workers (id, started_at, seen_at, alive_until)"
                       " VALUES (:id, :now, :now, :until)", beat)
        # workers gone for long (killed) are forgotten
        db.execute("DELETE FROM workers WHERE alive_until < :old",
                   {"old": utc_stamp(now - timedelta(days=1))})


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum, _frame):
        log.info("signal %s: finishing the messages in flight, then stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop
