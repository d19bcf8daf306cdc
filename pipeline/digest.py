"""Newsletter digests: the library functions behind ``newsroom digest``.

- :func:`render_preview` writes an edition's HTML, text and a sample ``.eml`` for an
  editor, sending and recording nothing;
- :func:`newsletter_status` is what ``newsroom digest list`` shows;
- :func:`edition_messages` yields the messages of an edition, one per recipient.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .archive import image_dimensions
from .build import ContentErrors, catalog_for
from .catalog import Catalog
from .config import Config, ConfigError, Newsletter, secret
from .content import Content, load_content
from .delivery import SendReport, live_workers, queue_edition, send_queued
from .editions import Edition, EditionStore, due_edition, issued_editions
from .messages import PREVIEW_TOKEN, MessageFactory, Recipient
from .publish import write_atomically
from .render.digest import DigestRenderer
from .senders import senders_for
from .statedb import state_database, state_lock
from .subscribers import SubscriberStore
from .templating import load_templates

__all__ = ["NewsletterStatus", "Preview", "Sending", "edition_factory", "edition_messages",
           "newsletter_status", "render_preview", "send_edition", "send_lock"]

SAMPLE = Recipient(id="preview", email="subscriber@example.org", name="Sample Subscriber")


# -- the commands ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    edition: Edition | None
    files: tuple[Path, ...] = ()
    stories: int = 0
    cut: int = 0


def render_preview(config: Config, newsletter_id: str, now: datetime, to_dir: Path,
                   content_dir: Path | None = None) -> Preview:
    """Write the edition due at ``now`` into ``to_dir`` as ``<edition>.html``, ``.txt`` and a
    sample ``.eml`` (links carry a preview token); nothing is sent or recorded."""
    newsletter = config.newsletter(newsletter_id)
    content = load_sound_content(config, content_dir)
    try:
        catalog = catalog_for(config, content, now)
        with _store(config) as store:
            edition = due_edition(newsletter, catalog, store)
        if edition is None:
            return Preview(None)
        renderer = DigestRenderer(config, catalog, load_templates(config.paths.templates), newsletter,
                                  image_dimensions(content, config))
        factory = MessageFactory(config, renderer, edition, now, secret=None, preview=True)
        variant = factory.variant()
        message = factory.message(SAMPLE)
        assert variant is not None and message is not None   # an edition holds something
        stem = to_dir / f"{newsletter.id}-{edition.label}"
        files = []
        for suffix, data in ((".html", variant.rendered.html.replace(factory.placeholder, PREVIEW_TOKEN)),
                             (".txt", variant.rendered.text.replace(factory.placeholder, PREVIEW_TOKEN)),
                             (".eml", message.as_bytes())):
            path = stem.with_suffix(suffix)
            write_atomically(path, data.encode("utf-8") if isinstance(data, str) else data)
            files.append(path)
        return Preview(edition, tuple(files), variant.rendered.shown, variant.rendered.cut)
    finally:
        content.close()


@dataclass(frozen=True)
class NewsletterStatus:
    newsletter: Newsletter
    last: Edition | None            # the newest issued edition
    due: Edition | None             # the edition due now, if not issued yet
    next_at: datetime | None
    next_label: str | None


def newsletter_status(config: Config, now: datetime,
                      content_dir: Path | None = None) -> list[NewsletterStatus]:
    content = load_sound_content(config, content_dir)
    try:
        catalog = catalog_for(config, content, now)
        rows = []
        with _store(config) as store:
            for newsletter in config.newsletters:
                issued = issued_editions(newsletter, catalog, store)
                due = due_edition(newsletter, catalog, store)
                next_at = newsletter.when.next_after(now)
                rows.append(NewsletterStatus(newsletter, issued[0] if issued else None,
                                             due if due is not None and not due.recorded else None,
                                             next_at, newsletter.when.label(next_at) if next_at else None))
        return rows
    finally:
        content.close()


@dataclass(frozen=True)
class Sending:
    edition: Edition | None
    queued: int = 0
    report: SendReport | None = None   # None: left to the running workers
    workers: int = 0                   # `newsroom worker` processes alive when it was queued


def send_edition(config: Config, newsletter_id: str, now: datetime, content_dir: Path | None = None,
                 progress: Callable[[int, int], None] | None = None, backoff: float = 1.0,
                 here: bool = False) -> Sending:
    """Send the edition due at ``now`` to every active subscriber who has not had it:
    issue it (record it) if no build has and queue a ledger row per subscriber; then, if
    ``newsroom worker`` processes are running (and not ``here``), leave the sending to
    them, else send."""
    newsletter = config.newsletter(newsletter_id)
    secret_ = secret("NEWSROOM_SECRET")
    senders = senders_for(config)
    content = load_sound_content(config, content_dir)
    try:
        catalog = catalog_for(config, content, now)
        with state_database(config) as db:
            editions = EditionStore(db)
            edition = due_edition(newsletter, catalog, editions)
            if edition is None:
                return Sending(None)
            if not edition.recorded:
                editions.record(edition, now)
            store = SubscriberStore(db, config, secret_)
            queued = queue_edition(db, store, edition, now)
            workers = live_workers(db, datetime.now(UTC))
            if workers and not here:
                return Sending(edition, queued, None, workers)
            with send_lock(config, newsletter.id, db) as held:
                if not held:
                    lock = config.paths.state / f".send-{newsletter.id}.lock"
                    raise ConfigError(f"another `newsroom digest send {newsletter.id}` or `newsroom worker` "
                                      f"is sending it (it holds {lock}); let it finish")
                factory = edition_factory(config, catalog, content, edition, now, secret_)
                [(todo,)] = db.query("SELECT COUNT(*) FROM sends WHERE newsletter = :nl AND edition = :ed"
                                     " AND status IN ('queued', 'sending')", {"nl": newsletter.id,
                                                                              "ed": edition.label})
                done = [0]

                def step(n: int) -> None:
                    done[0] += n
                    if progress:
                        progress(done[0], todo)

                report = send_queued(db, store, config, factory, senders, lambda: datetime.now(UTC), step,
                                     backoff=backoff, exclusive=db.dialect == "sqlite")
            return Sending(edition, queued, report)
    finally:
        content.close()


def edition_factory(config: Config, catalog: Catalog, content: Content, edition: Edition, now: datetime,
                    secret_: str | None) -> MessageFactory:
    """The messages of ``edition``, rendered as of ``catalog``."""
    renderer = DigestRenderer(config, catalog, load_templates(config.paths.templates), edition.newsletter,
                              image_dimensions(content, config))
    return MessageFactory(config, renderer, edition, now, secret=secret_)


@contextmanager
def send_lock(config: Config, newsletter_id: str, db) -> Iterator[bool]:
    """Whether this process may send the newsletter now (held for the block). On SQLite one
    sender of a newsletter at a time on this machine (leases then need no clock); a server
    database's leases let any number of senders share the rows: always True."""
    if db.dialect != "sqlite":
        yield True
        return
    with state_lock(config, f"send-{newsletter_id}") as held:
        yield held


def edition_messages(config: Config, catalog: Catalog, content: Content, edition: Edition,
                     recipients: Iterable[Recipient], now: datetime,
                     ) -> Iterator[tuple[Recipient, object]]:
    """``(recipient, EmailMessage or None)`` for each recipient, one at a time."""
    renderer = DigestRenderer(config, catalog, load_templates(config.paths.templates), edition.newsletter,
                              image_dimensions(content, config))
    factory = MessageFactory(config, renderer, edition, now, secret=secret("NEWSROOM_SECRET"))
    yield from factory.messages(recipients)


def load_sound_content(config: Config, content_dir: Path | None) -> Content:
    """The site's content, refused (:class:`ContentErrors`) if any file has a problem:
    an edition is never made or sent from content a build would not publish."""
    content = load_content(config, content_dir)
    if content.problems:
        content.close()
        raise ContentErrors(content.problems)
    return content


@contextmanager
def _store(config: Config) -> Iterator[EditionStore]:
    """The editions of the state database, closed afterwards."""
    with state_database(config) as db:
        yield EditionStore(db)
