"""Subscribers: who gets which newsletter, with what consent, and forgetting them.

A subscriber is one normalized address (checked with email-validator, no network
look-up) with a name, a language and an opaque random key that tokens name (never the
address, never a counter). Each subscription (subscriber × newsletter) has topics it is
narrowed to and a status: ``pending`` (waiting for a confirmation), ``active``,
``unsubscribed`` or ``bounced``. Every change of consent is recorded with its source and
time. ``forget`` erases a person and keeps only a keyed hash of the address, so that a
later import cannot subscribe them again.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from email_validator import EmailNotValidError, validate_email

from .config import Config, ConfigError
from .messages import Recipient
from .model import excerpt
from .statedb import Database

__all__ = ["STATUSES", "ImportReport", "RowProblem", "Subscriber", "SubscriberStore", "normalize_email"]

STATUSES = ("pending", "active", "unsubscribed", "bounced")
COLUMNS = ("email", "name", "language", "newsletters", "topics")
IMPORT_COLUMNS = (*COLUMNS, "status")   # an export imports again as it was
MAX_CSV_BYTES = 50_000_000
MAX_NAME = 200
HARD_BOUNCES = 3          # permanent failures before an address is marked bounced
_SPLIT = re.compile(r"[\s;,|]+")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")   # a cell a spreadsheet would run as a formula


def normalize_email(text: str) -> str:
    """The address as stored: syntax checked, IDNA-normalized and lower-cased (the local
    part too: mailboxes that tell ``Anna`` from ``anna`` exist in theory only, and one
    person must not become two subscribers). Raises ValueError with a reader's message."""
    if not isinstance(text, str) or len(text) > 320:
        raise ValueError("not an email address")
    try:
        return validate_email(text.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None


@dataclass(frozen=True)
class Subscriber:
    id: int
    email: str
    name: str
    language: str
    key: str                                  # what tokens name
    subscriptions: dict[str, tuple[str, tuple[str,
                                              ...]]] = field(default_factory=dict)   # nl -> (status, topics)


@dataclass(frozen=True)
class RowProblem:
    path: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.field}: {self.message}"


@dataclass
class ImportReport:
    added: int = 0          # new subscriptions
    updated: int = 0        # existing ones changed (topics, name, resubscribed)
    unchanged: int = 0
    kept_unsubscribed: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    pending: list[tuple[str, str]] = field(default_factory=list)   # (email, newsletter) to confirm


class SubscriberStore:
    def __init__(self, db: Database, config: Config, secret: str | None):
        self.db, self.config, self._secret = db, config, secret

    # -- keyed hashes ----------------------------------------------------------------------

    def _forget_hash(self, email: str) -> str:
        if not self._secret:
            raise ConfigError("NEWSROOM_SECRET is not set: it keys the hashes of forgotten addresses, "
                              "which keep a later import from subscribing them again")
        key = hmac.new(self._secret.encode(), b"newsroom forgotten address v1", hashlib.sha256).digest()
        return hmac.new(key, email.casefold().encode(), hashlib.sha256).hexdigest()

    def is_forgotten(self, email: str) -> bool:
        return bool(self.db.query("SELECT 1 FROM forgotten WHERE email_hash = :h",
                                  {"h": self._forget_hash(email)}))

    # -- reading -----------------------------------------------------------------------------

    def get(self, email: str) -> Subscriber | None:
        rows = self.db.query("SELECT id FROM subscribers WHERE email = :email", {"email": email})
        return self._load(rows[0][0]) if rows else None

    def by_key(self, key: str) -> Subscriber | None:
        rows = self.db.query("SELECT id FROM subscribers WHERE token_key = :key", {"key": key})
        return self._load(rows[0][0]) if rows else None

    def _load(self, subscriber_id: int) -> Subscriber:
        [(sid, email, name, language, key)] = self.db.query(
            "SELECT id, email, name, language, token_key FROM subscribers WHERE id = :id",
                                                            {"id": subscriber_id})
        subs = {nl: (status, tuple(topics.split())) for nl, status, topics in self.db.query(
            "SELECT newsletter, status, topics FROM subscriptions WHERE subscriber_id = :id", {"id": sid})}
        return Subscriber(sid, email, name, language, key, subs)

    def recipients(self, newsletter: str, batch: int = 1000) -> Iterator[tuple[int, Recipient]]:
        """The active subscribers of ``newsletter`` by id, read in batches (never all at once)."""
        last = 0
        while True:
            rows = self.db.query(
                "SELECT s.id, s.token_key, s.email, s.name, x.topics FROM subscribers s JOIN subscriptions x"
                " ON x.subscriber_id = s.id WHERE x.newsletter = :nl AND x.status = 'active' AND s.id > :last"
                " ORDER BY s.id LIMIT :batch", {"nl": newsletter, "last": last, "batch": batch})
            for sid, key, email, name, topics in rows:
                yield sid, Recipient(key, email, name, tuple(topics.split()))
            if len(rows) < batch:
                return
            last = rows[-1][0]

    def counts(self) -> dict[tuple[str, str], int]:
        return {(nl, status): n for nl, status, n in self.db.query(
            "SELECT newsletter, status, COUNT(*) FROM subscriptions GROUP BY newsletter, status")}

    def export_csv(self) -> str:
        """Every subscription as CSV (the import's columns plus ``status``), one row each."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow([*COLUMNS, "status"])
        for email, name, language, newsletter, topics, status in self.db.query(
                "SELECT s.email, s.name, s.language, x.newsletter, x.topics, x.status FROM subscribers s"
                " JOIN subscriptions x ON x.subscriber_id = s.id ORDER BY s.email, x.newsletter"):
            writer.writerow([_cell(v) for v in (email, name, language, newsletter, topics, status)])
        return out.getvalue()

    # -- changing ----------------------------------------------------------------------------

    def subscribe(self, email: str, newsletter: str, now: datetime, source: str, *, name: str = "",
                  language: str | None = None, topics: Iterable[str] = (), pending: bool = False,
                  resubscribe: bool = False, opted_out: str | None = None) -> str:
        """Subscribe (or update) one address; what happened: ``added``, ``updated``,
        ``unchanged`` or ``kept-unsubscribed`` (an unsubscribed or bounced person is never
        subscribed again without ``resubscribe``). ``opted_out`` ("unsubscribed" or "bounced",
        from an exported file) records that status instead, and never subscribes. Raises
        ValueError for a forgotten address."""
        self._check(newsletter, topics, language)
        if self.is_forgotten(email):
            raise ValueError("this address was forgotten on its owner's request and is not subscribed again")
        at = _iso(now)
        topics_text = " ".join(sorted(set(topics)))
        with self.db.transaction():
            subscriber = self.get(email)
            if subscriber is None:
                self.db.execute(
                    "INSERT INTO subscribers (email, name, language, token_key, hard_bounces, created_at)"
                    " VALUES (:email, :name, :language, :key, 0, :at)",
                    {"email": email, "name": name[:MAX_NAME], "at": at, "key": secrets.token_hex(16),
                     "language": language or self._newsletter_language(newsletter)})
                subscriber = self.get(email)
                assert subscriber is not None
            elif name and name != subscriber.name:
                self.db.execute("UPDATE subscribers SET name = :name WHERE id = :id",
                                {"name": name[:MAX_NAME], "id": subscriber.id})
            status = opted_out or ("pending" if pending else "active")
            current = subscriber.subscriptions.get(newsletter)
            key = {"id": subscriber.id, "nl": newsletter}
            if opted_out and current is not None:   # an opt-out in the file is kept; nothing else changes
                if current[0] in ("active", "pending"):
                    self.set_status(subscriber.id, newsletter, opted_out, now, source)
                    return "updated"
                return "unchanged"
            if current is None:
                self.db.execute("INSERT INTO subscriptions"
                                " (subscriber_id, newsletter, topics, status, updated_at)"
                                " VALUES (:id, :nl, :topics, :status, :at)",
                                {**key, "topics": topics_text, "status": status, "at": at})
                action = opted_out or ("requested" if pending else "subscribed")
                self._consent(subscriber.id, newsletter, action, source, now)
                return "added"
            old_status, old_topics = current
            if old_status in ("unsubscribed", "bounced"):
                if not resubscribe:
                    return "kept-unsubscribed"
                new_status = status
            else:   # an active subscriber stays active; a pending one becomes active when vouched for
                new_status = "active" if old_status == "active" or not pending else "pending"
            if (new_status, topics_text) == (old_status, " ".join(old_topics)):
                return "unchanged"
            self.db.execute("UPDATE subscriptions SET topics = :topics, status = :status, updated_at = :at"
                            " WHERE subscriber_id = :id AND newsletter = :nl",
                            {**key, "topics": topics_text, "status": new_status, "at": at})
            if new_status != old_status:
                self._consent(subscriber.id, newsletter, "resubscribed" if resubscribe else new_status,
                              source, now)
            return "updated"

    def set_status(self, subscriber_id: int, newsletter: str | None, status: str, now: datetime,
                   source: str) -> int:
        """Set the status of one subscription (or all of the subscriber's); how many changed."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        params = {"id": subscriber_id, "status": status, "at": _iso(now)}
        where = "subscriber_id = :id AND status <> :status"
        if newsletter is not None:
            where += " AND newsletter = :nl"
            params["nl"] = newsletter
        with self.db.transaction():
            changed = [nl for (nl,) in self.db.query(f"SELECT newsletter FROM subscriptions WHERE {where}",
                                                     params)]
            self.db.execute(f"UPDATE subscriptions SET status = :status, updated_at = :at WHERE {where}",
                            params)
            for nl in changed:
                self._consent(subscriber_id, nl, status, source, now)
        return len(changed)

    def set_topics(self, subscriber_id: int, newsletter: str, topics: Iterable[str], now: datetime) -> None:
        self._check(newsletter, topics, None)
        self.db.execute("UPDATE subscriptions SET topics = :topics, updated_at = :at"
                        " WHERE subscriber_id = :id AND newsletter = :nl",
                        {"topics": " ".join(sorted(set(topics))), "at": _iso(now), "id": subscriber_id,
                         "nl": newsletter})

    def set_language(self, subscriber_id: int, language: str) -> None:
        if language not in self.config.site.languages:
            raise ValueError(f"language {language!r} is not one of the site's")
        self.db.execute("UPDATE subscribers SET language = :language WHERE id = :id",
                        {"language": language, "id": subscriber_id})

    def delivered(self, subscriber_id: int) -> None:
        """A message was accepted: earlier hard failures were passing trouble."""
        self.db.execute("UPDATE subscribers SET hard_bounces = 0 WHERE id = :id AND hard_bounces > 0",
                        {"id": subscriber_id})

    def hard_bounce(self, subscriber_id: int, now: datetime) -> bool:
        """Count a permanent failure; True when the address is now marked bounced."""
        with self.db.transaction():
            self.db.execute("UPDATE subscribers SET hard_bounces = hard_bounces + 1 WHERE id = :id",
                            {"id": subscriber_id})
            [(count,)] = self.db.query("SELECT hard_bounces FROM subscribers WHERE id = :id",
                                       {"id": subscriber_id})
            if count >= HARD_BOUNCES:   # the subscriptions still sent to; an opt-out stays an opt-out
                for (newsletter,) in self.db.query(
                        "SELECT newsletter FROM subscriptions WHERE subscriber_id = :id"
                        " AND status IN ('active', 'pending')", {"id": subscriber_id}):
                    self.set_status(subscriber_id, newsletter, "bounced", now, "smtp")
                return True
        return False

    def forget(self, email: str, now: datetime) -> bool:
        """Erase the person: their row, subscriptions, consent records and sends. Only a
        keyed hash of the address stays. False if nobody had that address."""
        digest = self._forget_hash(email)
        with self.db.transaction():
            subscriber = self.get(email)
            if not self.db.query("SELECT 1 FROM forgotten WHERE email_hash = :h", {"h": digest}):
                self.db.execute("INSERT INTO forgotten (email_hash, at) VALUES (:h, :at)",
                                {"h": digest, "at": _iso(now)[:10]})   # the day only
            if subscriber is None:
                return False
            for table, column in (("sends", "subscriber_id"), ("consents", "subscriber_id"),
                                  ("subscriptions", "subscriber_id"), ("subscribers", "id")):
                self.db.execute(f"DELETE FROM {table} WHERE {column} = :id", {"id": subscriber.id})
        self.db.erase_freed()   # no copy left in free pages or the write-ahead log
        return True

    def _consent(self, subscriber_id: int, newsletter: str, action: str, source: str, now: datetime) -> None:
        self.db.execute("INSERT INTO consents (subscriber_id, newsletter, action, source, at)"
                        " VALUES (:id, :nl, :action, :source, :at)",
                        {"id": subscriber_id, "nl": newsletter, "action": action, "source": source[:200],
                         "at": _iso(now)})

    def _check(self, newsletter: str, topics: Iterable[str], language: str | None) -> None:
        known = {n.id: n for n in self.config.newsletters}
        if newsletter not in known:
            raise ValueError(f"no newsletter {excerpt(newsletter)} (known: {', '.join(known) or 'none'})")
        covered = known[newsletter].topics or tuple(self.config.topics)
        for topic in topics:
            if topic not in covered:
                raise ValueError(f"topic {excerpt(topic)} is not one of {newsletter}'s "
                                 f"({', '.join(covered)})")
        if language is not None and language not in self.config.site.languages:
            raise ValueError(f"language {excerpt(language)} is not one of the site's "
                             f"({', '.join(self.config.site.languages)})")

    def _newsletter_language(self, newsletter: str) -> str:
        return self.config.newsletter(newsletter).lang

    # -- CSV import ---------------------------------------------------------------------------

    def import_csv(self, path: Path, now: datetime, *, pending: bool = False,
                   resubscribe: bool = False) -> ImportReport:
        """Import ``path``: every bad row reported as ``FILE:line: field: message``, the
        good ones imported (rows of one address merged). Consent source: the file."""
        report = ImportReport()
        rows = self._read_csv(path, report)
        source = f"import:{path.name}"
        for email, (line, name, language, subscriptions) in rows.items():
            for newsletter, topics in subscriptions.items():
                status = self._statuses.get((email, newsletter))
                try:
                    outcome = self.subscribe(email, newsletter, now, source, name=name, language=language,
                                             topics=topics, pending=pending or status == "pending",
                                             resubscribe=resubscribe,
                                             opted_out=status if status in ("unsubscribed", "bounced")
                                             else None)
                except ValueError as exc:
                    report.problems.append(RowProblem(str(path), line, "email", str(exc)))
                    continue
                if outcome == "added":
                    report.added += 1
                elif outcome == "updated":
                    report.updated += 1
                elif outcome == "kept-unsubscribed":
                    report.kept_unsubscribed += 1
                else:
                    report.unchanged += 1
                if pending and outcome in ("added", "updated"):
                    report.pending.append((email, newsletter))
        report.problems.sort(key=lambda p: p.line)
        return report

    def _read_csv(self, path: Path, report: ImportReport) -> dict[str, tuple[int, str, str | None, dict]]:
        try:
            if path.stat().st_size > MAX_CSV_BYTES:
                raise ConfigError(f"{path}: larger than {MAX_CSV_BYTES // 1_000_000} MB; split it")
            text = path.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not UTF-8 text (save the CSV as UTF-8)") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        if "email" not in header:
            raise ConfigError(f"{path}:1: the header row must name the columns ({', '.join(COLUMNS)}); "
                              "'email' is missing")
        unknown = [h for h in header if h not in IMPORT_COLUMNS]
        if unknown:
            raise ConfigError(f"{path}:1: unknown column(s) {', '.join(map(repr, unknown))}; "
                              f"the columns are {', '.join(COLUMNS)}")
        reader.fieldnames = header
        self._statuses: dict[tuple[str, str], str] = {}
        merged: dict[str, tuple[int, str, str | None, dict]] = {}
        default_newsletters = [n.id for n in self.config.newsletters][:1]
        try:
            for row in reader:
                line = reader.line_num
                problems = self._row(str(path), line, row, merged, default_newsletters)
                report.problems.extend(problems)
        except csv.Error as exc:
            report.problems.append(RowProblem(str(path), reader.line_num, "row", f"not valid CSV: {exc}"))
        return merged

    def _row(self, path: str, line: int, row: dict, merged: dict,
             default_newsletters: list[str]) -> list[RowProblem]:
        def problem(column: str, message: str) -> list[RowProblem]:
            return [RowProblem(path, line, column, message)]

        if None in row:
            return problem("row", "more cells than the header has columns")
        row = {k: _uncell(v) if isinstance(v, str) else v for k, v in row.items()}
        status = (row.get("status") or "").strip() or None
        if status is not None and status not in STATUSES:
            return problem("status", f"{excerpt(status)} is not one of {', '.join(STATUSES)}")
        try:
            email = normalize_email(row.get("email") or "")
        except ValueError as exc:
            return problem("email", f"{excerpt(row.get('email') or '')}: {exc}")
        name = " ".join((row.get("name") or "").split())
        if len(name) > MAX_NAME:
            return problem("name", f"longer than {MAX_NAME} characters")
        language = (row.get("language") or "").strip() or None
        if language is not None and language not in self.config.site.languages:
            return problem("language",
                           f"{excerpt(language)} is not one of {', '.join(self.config.site.languages)}")
        newsletters = [n for n in _SPLIT.split(row.get("newsletters") or "") if n] or default_newsletters
        topics = [t for t in _SPLIT.split(row.get("topics") or "") if t]
        for newsletter in newsletters:
            try:
                self._check(newsletter, topics, None)
            except ValueError as exc:
                return problem("newsletters" if "newsletter" in str(exc).split()[:2] else "topics", str(exc))
        previous = merged.get(email)
        subscriptions = dict(previous[3]) if previous else {}
        for newsletter in newsletters:
            subscriptions[newsletter] = sorted(set(subscriptions.get(newsletter, [])) | set(topics))
            if status in ("unsubscribed", "bounced", "pending"):
                self._statuses[(email, newsletter)] = status
        merged[email] = (previous[0] if previous else line, name or (previous[1] if previous else ""),
                         language or (previous[2] if previous else None), subscriptions)
        return []


def _iso(now: datetime) -> str:
    return now.astimezone(UTC).isoformat()


def _cell(value: str) -> str:
    """A CSV cell a spreadsheet shows as text, never runs as a formula."""
    return "'" + value if value.startswith(_FORMULA) else value


def _uncell(value: str) -> str:
    """The value :func:`_cell` wrote (an import reads an export as it was)."""
    return value[1:] if value.startswith("'") and value[1:].startswith(_FORMULA) else value
