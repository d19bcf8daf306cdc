"""Telling the outside world: signed partner webhooks and WebSub hub pings, as handlers of
the event outbox (:mod:`pipeline.events`), so each is delivered until done, retried with
backoff, and logged in the state database.

Webhook requests are JSON, signed like Stripe's: ``Newsroom-Signature: t=<unix time>,
v1=<hex HMAC-SHA256 of "<t>." + the raw body>`` under the partner's secret
``NEWSROOM_WEBHOOK_SECRET_<ID>`` (id upper-cased, ``-`` as ``_``), with an
``Idempotency-Key`` that is the same on every retry of one delivery. A partner hears only
of items its file would hold (its languages and topics).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable

import requests

from . import __version__
from .config import Config, Partner, secret
from .events import Event, Handlers
from .urls import url_of

__all__ = ["delivery_log", "notify", "register_notifiers", "secret_name", "sign"]

TIMEOUT = (5, 15)   # connect, read (seconds)


def secret_name(partner_id: str) -> str:
    return "NEWSROOM_WEBHOOK_SECRET_" + partner_id.upper().replace("-", "_")


def sign(secret_: str, body: bytes, timestamp: int) -> str:
    """The ``Newsroom-Signature`` header value of ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret_.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def register_notifiers(config: Config, handlers: Handlers, session: requests.Session | None = None,
                       clock: Callable[[], float] = time.time) -> requests.Session:
    """Add a handler per partner webhook and per WebSub hub; the session they share."""
    session = session or requests.Session()
    session.headers["User-Agent"] = f"Newsroom/{__version__} (+{config.site.base_url})"
    for partner in config.partners:
        if partner.webhook_url:
            handlers.register(f"webhook:{partner.id}", _webhook(config, partner, session, clock),
                              accepts=lambda event, p=partner: _holds(p, event))
    for hub in config.site.websub_hubs:
        handlers.register(f"websub:{hub}", _websub(config, hub, session),
                          accepts=lambda event: event.type == "build.completed" and bool(_feeds(event)))
    return session


def _holds(partner: Partner, event: Event) -> bool:
    """Does (or did) the partner's file hold this item? A partner hears of an item that
    enters its file and of one that leaves it (an update that moved it out of its topics
    or languages reaches it as a withdrawal, see :func:`_type_for`)."""
    if not event.type.startswith("item."):
        return False
    if event.data.get("visibility") == "partners" and not partner.include_partner_only:
        return False
    return _matches(partner, event.data) or _matches(partner, event.data.get("previous"))


def _matches(partner: Partner, data: dict | None) -> bool:
    """Would the file hold an item of this language and these topics? (Withdrawals recorded
    before topics were kept are matched on language alone.)"""
    if not data:
        return False
    if partner.languages and data.get("lang") not in partner.languages:
        return False
    topics = data.get("topics")
    return not partner.topics or not topics or bool(set(partner.topics) & set(topics))


def _type_for(partner: Partner, event: Event) -> str:
    """The event as this partner sees it: an update that takes the item out of its file is a
    withdrawal, one that brings it in a publication."""
    if event.type != "item.updated" or "previous" not in event.data:
        return event.type
    now, before = _matches(partner, event.data), _matches(partner, event.data["previous"])
    return "item.withdrawn" if before and not now else "item.published" if now and not before else event.type


def _webhook(config: Config, partner: Partner, session: requests.Session, clock: Callable[[], float]):
    partner_file = url_of(config.site, f"syndication/partners/{partner.id}.json")

    def deliver(event: Event) -> None:
        key = secret(secret_name(partner.id))
        if not key:
            raise RuntimeError(f"{secret_name(partner.id)} is not set: the webhook cannot be signed")
        body = json.dumps({
            "type": _type_for(partner, event), "event_id": event.id, "at": event.at.isoformat(),
            "item": {"id": event.data.get("id"), "url": event.data.get("url"),
                     "lang": event.data.get("lang")},
            "partner_file": partner_file,
        }, ensure_ascii=False, sort_keys=True).encode("utf-8")
        response = session.post(partner.webhook_url, data=body, timeout=TIMEOUT, allow_redirects=False,
                                headers={
            "Content-Type": "application/json", "Newsroom-Signature": sign(key, body, int(clock())),
            "Idempotency-Key": f"newsroom-{event.id}-{partner.id}",
            "Newsroom-Event": _type_for(partner, event)})
        if not 200 <= response.status_code < 300:
            raise RuntimeError(f"{partner.webhook_url} answered {response.status_code}")

    return deliver


def _feeds(event: Event) -> list[str]:
    return [path for path in event.data.get("files", []) if path.startswith(("feeds/", "digests/"))]


def _websub(config: Config, hub: str, session: requests.Session):
    def ping(event: Event) -> None:
        for path in _feeds(event):
            response = session.post(hub, data={"hub.mode": "publish", "hub.url": url_of(config.site, path)},
                                    timeout=TIMEOUT, allow_redirects=False)
            if not 200 <= response.status_code < 300:
                raise RuntimeError(f"{hub} answered {response.status_code} for {path}")

    return ping


def notify(config: Config, now, log: Callable[[str], None] = lambda _line: None):
    """Deliver what is due in the outbox of the site's output to the webhooks and hubs of
    newsroom.toml (after a build; the daemon does the same on its schedule). None when
    nothing is configured."""
    from contextlib import closing

    from .build import journal_target
    from .events import dispatch
    from .statedb import state_database, state_lock

    handlers = Handlers()
    session = register_notifiers(config, handlers)
    if not handlers.items:
        return None
    # one deliverer at a time: another process delivering now would send the same events
    with closing(session), state_lock(config, "notify") as held:
        if not held:
            log("notifications: another process is delivering them")
            return None
        with state_database(config) as db:
            report = dispatch(db, handlers, journal_target(config, config.paths.output.resolve()), now)
    if report.retrying or report.given_up:
        log(f"notifications: {report.done} delivered, {report.retrying} to retry later, "
            f"{report.given_up} given up (newsroom webhooks log)")
    return report


def delivery_log(config: Config, limit: int = 50) -> list[tuple]:
    """The latest webhook and hub delivery attempts: (at, handler, event type, subject, attempt, outcome)."""
    from .statedb import state_database

    with state_database(config) as db:
        return db.query("SELECT a.at, a.handler, e.type, e.subject, a.attempt, a.outcome"
                        " FROM delivery_attempts a"
                        " JOIN events e ON e.id = a.event_id WHERE a.handler LIKE 'webhook:%'"
                        " OR a.handler LIKE 'websub:%' ORDER BY a.id DESC LIMIT :limit", {"limit": limit})
