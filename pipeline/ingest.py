"""``newsroom ingest``: each ``[[sources]]`` feed becomes Markdown files an editor can review.

For each source (one shared :class:`~pipeline.fetch.Fetcher`): fetch with the validators of
the last success (a 304 changes nothing), read the entries (:mod:`pipeline.entries`), map
each to front matter and an HTML body, check the file with the same reader the build uses,
and write it under ``content/news/ingested/<source>/``. From there the build treats it as
any item: the parse cache, incremental builds, events and feeds just work.

An entry's identity is its source and guid (or link): re-ingesting never duplicates, and an
upstream change updates the file (with ``updated`` set, so the build emits ``item.updated``
once). What was last written is kept in the state database as the base of a three-way
merge: an editor's changes survive a re-fetch; an upstream change to a field the editor
left alone is taken in; a field both changed keeps the editor's value, the conflict is
reported, and the upstream version is saved beside the file as ``<name>.md.upstream``. A
file an editor deleted stays deleted.

A failing source is reported and skipped: nothing else changes, and its validators are
only stored after a fetch that was read whole. After a 429 or 503 the source waits for
the server's Retry-After; after :data:`UNHEALTHY_AFTER` failures in a row it shows as
unhealthy in ``newsroom ingest --status``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from . import __version__
from .config import Config, Source
from .entries import Entry, FeedError, parse_feed
from .fetch import Fetcher, FetchError
from .frontmatter import FrontMatterError, split_document
from .markup import derive_summary
from .model import excerpt
from .publish import write_atomically
from .readers import parse_news
from .statedb import Database, state_database, state_lock

__all__ = ["UNHEALTHY_AFTER", "SourceReport", "SourceStatus", "ingest", "ingest_status"]

UNHEALTHY_AFTER = 3
FOLDER = "news/ingested"
FIELD_ORDER = ("title", "date", "updated", "lang", "summary", "topics", "organizations", "authors", "image",
               "status", "visibility", "translation_key", "id", "slug", "canonical_url")
_MISSING = object()


@dataclass
class SourceReport:
    source: str
    error: str | None = None
    waiting_until: datetime | None = None   # not fetched: a 429/503 asked to wait
    not_modified: bool = False
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_deleted: int = 0                   # deleted by an editor; not written again
    conflicts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def changed(self) -> bool:
        return bool(self.new or self.updated)


@dataclass(frozen=True)
class SourceStatus:
    source: str
    url: str
    last_fetch: str | None
    last_success: str | None
    failures: int
    last_error: str | None
    retry_at: str | None
    items: int
    conflicts: int

    @property
    def health(self) -> str:
        if self.failures >= UNHEALTHY_AFTER:
            health = "unhealthy"
        elif self.failures:
            health = "failing"
        else:
            health = "ok" if self.last_success else "never fetched"
        if self.retry_at and datetime.fromisoformat(self.retry_at) > datetime.now(UTC):
            health += f", waiting until {self.retry_at[:16]}"
        return health


class _Skip(Exception):
    """An entry that cannot become an item: the message says why."""


def ingest(config: Config, only: str | None = None, now: datetime | None = None,
           content_dir: Path | None = None, log: Callable[[str], None] | None = None) -> list[SourceReport]:
    """Fetch every source (or the one named ``only``) and write what changed."""
    now = (now or datetime.now(UTC)).astimezone(config.site.timezone).replace(microsecond=0)
    sources = [s for s in config.sources if only is None or s.id == only]
    if only is not None and not sources:
        raise KeyError(only)
    content = (content_dir or config.paths.content).resolve()
    user_agent = f"Newsroom/{__version__} (+{config.site.base_url})"
    reports = []
    with state_lock(config, "ingest") as held:
        if not held:
            return [SourceReport(s.id, error="another `newsroom ingest` is running; try again later")
                    for s in sources]
        with state_database(config) as db, \
                Fetcher(user_agent, config.limits.feed_bytes, config.limits.fetch_seconds) as fetcher:
            for source in sources:
                try:
                    report = _ingest_source(config, source, db, fetcher, content, now)
                except Exception as exc:   # a bug must not stop the other sources
                    db.rollback_if_needed()
                    report = SourceReport(source.id, error=f"internal error: {type(exc).__name__}: {exc}")
                    _record_failure(db, source.id, now, report.error, None)
                reports.append(report)
                if log:
                    log(describe(report))
    return reports


def describe(report: SourceReport) -> str:
    if report.error:
        return f"{report.source}: failed: {report.error}"
    if report.waiting_until:
        return f"{report.source}: waiting until {report.waiting_until.isoformat(timespec='minutes')} " \
               "(the server asked to retry later)"
    if report.not_modified:
        return f"{report.source}: not modified"
    parts = [f"{report.new} new", f"{report.updated} updated", f"{report.unchanged} unchanged"]
    if report.kept_deleted:
        parts.append(f"{report.kept_deleted} deleted by an editor (left deleted)")
    if report.conflicts:
        parts.append(f"{len(report.conflicts)} conflict(s)")
    lines = [f"{report.source}: {', '.join(parts)}"]
    lines += [f"  {report.source}: {note}" for note in report.notes + report.conflicts]
    return "\n".join(lines)


# -- one source --------------------------------------------------------------------------------


def _ingest_source(config: Config, source: Source, db: Database, fetcher: Fetcher, content: Path,
                   now: datetime) -> SourceReport:
    report = SourceReport(source.id)
    state = _source_state(db, source.id)
    if state.get("retry_at") and datetime.fromisoformat(state["retry_at"]) > now:
        report.waiting_until = datetime.fromisoformat(state["retry_at"])
        return report
    settings = _settings_fingerprint(config, source)
    if state.get("settings") != settings:   # other settings: the whole feed is read again
        state["etag"] = state["last_modified"] = None
    complete = True
    try:
        if source.organization and not (content / "profiles" / f"{source.organization}.md").is_file():
            raise _Skip(f"organization {source.organization!r} has no profile "
                        f"(content/profiles/{source.organization}.md): its entries would not build")
        fetched = fetcher.fetch(source.url, state.get("etag"), state.get("last_modified"), now)
        if fetched.not_modified:
            report.not_modified = True
        else:
            feed = parse_feed(fetched.body or b"", fetched.content_type, fetched.url,
                              fetched.content_language)
            folder = _source_folder(content, source.id)
            entries = _newest(feed.entries, source.max_items, now)
            complete = _apply_entries(config, source, db, content, folder, entries, now, report)
    except FetchError as exc:
        report.error = exc.message
        _record_failure(db, source.id, now, exc.message, exc.retry_after)
        return report
    except (FeedError, _Skip) as exc:
        report.error = str(exc)
        _record_failure(db, source.id, now, report.error, None)
        return report
    validators = (fetched.etag, fetched.last_modified) if not fetched.not_modified else \
        (fetched.etag or state.get("etag"), fetched.last_modified or state.get("last_modified"))
    _record_success(db, source.id, now, *(validators if complete else (None, None)), settings=settings)
    return report


def _settings_fingerprint(config: Config, source: Source) -> str:
    """What decides how a feed's entries become items: when it changes, a 304 must not hide
    entries read differently now (more of them, other topics, a new language)."""
    site = config.site
    said = [source.url, source.organization, source.topics, source.publish, source.lang, source.trusted,
            source.max_items, site.languages, site.default_language, str(site.timezone), site.base_url]
    return hashlib.sha256(json.dumps(said, default=str).encode()).hexdigest()


def _newest(entries: list[Entry], limit: int, now: datetime) -> list[Entry]:
    """At most ``limit`` entries, newest first (undated ones count as new); one per guid."""
    seen: set[str] = set()
    unique = [e for e in entries if not (e.guid in seen or seen.add(e.guid))]
    dated = sorted(unique, key=lambda e: (e.published or e.updated or now).timestamp(), reverse=True)
    return dated[:limit]


def _apply_entries(config: Config, source: Source, db: Database, content: Path, folder: Path,
                   entries: list[Entry], now: datetime, report: SourceReport) -> bool:
    """Write what changed; False if an entry was skipped (then the feed must be read whole
    again next time: no conditional GET)."""
    rows = db.query("SELECT entry, path, upstream, base FROM ingest_entries WHERE source = :source",
                    {"source": source.id})
    known = {row[0]: row[1:] for row in rows}
    taken = _slugs_in_use(content)
    complete = True
    for entry in entries:
        # the source is part of the key: two sources carrying one press release are two items
        key = hashlib.sha256(f"{source.id}\n{entry.guid}".encode()).hexdigest()
        record = known.get(key)
        try:
            base = json.loads(record[2]) if record else None
            theirs, notes = _front_matter(entry, key, source, config, now, base, taken)
            upstream = _fingerprint(theirs)
            if record and record[1] == upstream:
                report.unchanged += 1
                continue
            report.notes += [f"{_entry_name(entry)}: {note}" for note in notes]
            _apply_entry(config, source, db, content, folder, key, record, theirs, upstream, now, report)
            taken.add(theirs["slug"])
        except _Skip as exc:
            report.notes.append(f"skipped {_entry_name(entry)}: {exc}")
            complete = False
        except (ValueError, OverflowError, OSError) as exc:   # one entry's trouble is not the source's
            db.rollback_if_needed()
            report.notes.append(f"skipped {_entry_name(entry)}: {type(exc).__name__}: {exc}")
            complete = False
    return complete


def _slugs_in_use(content: Path) -> set[str]:
    """The file-name slugs of every news file: an ingested item never takes one."""
    news = content / "news"
    return {path.stem for path in news.rglob("*.md")} if news.is_dir() else set()


def _apply_entry(config: Config, source: Source, db: Database, content: Path, folder: Path, key: str,
                 record: tuple | None, theirs: dict, upstream: str, now: datetime,
                 report: SourceReport) -> None:
    if record is None:
        path = folder / f"{theirs['slug']}.md"
        written = _write_new(config, source, path, content, theirs, report)
    else:
        path = content / record[0]
        written = _update(config, source, path, content, json.loads(record[2]), theirs, report)
    if written is None:
        return
    relative = path.relative_to(content).as_posix()
    with db.transaction():
        db.execute("DELETE FROM ingest_entries WHERE source = :source AND entry = :entry",
                   {"source": source.id, "entry": key})
        db.execute("INSERT INTO ingest_entries (source, entry, path, upstream, base, seen_at) "
                   "VALUES (:source, :entry, :path, :upstream, :base, :at)",
                   {"source": source.id, "entry": key, "path": relative, "upstream": upstream,
                    "base": json.dumps(written, ensure_ascii=False), "at": now.isoformat()})


def _write_new(config: Config, source: Source, path: Path, content: Path, theirs: dict,
               report: SourceReport) -> dict | None:
    """A new entry's file; an existing file with the entry's id (a database restored from an
    older backup, a crash before the record) is adopted as it is."""
    raw, parsed = _render(config, source, path, content, theirs)
    existing = _read_existing(path, config.limits.content_file_bytes)
    if existing is not None:
        mine = _parse(existing)
        if mine is None or mine.get("id") != theirs["id"]:
            raise _Skip(f"{path.relative_to(content)} exists and holds another item")
        report.unchanged += 1
        return parsed
    write_atomically(path, raw)
    report.new += 1
    return parsed


def _update(config: Config, source: Source, path: Path, content: Path, base: dict, theirs: dict,
            report: SourceReport) -> dict | None:
    """An upstream change: merged with the editor's file; a deleted file stays deleted."""
    existing = _read_existing(path, config.limits.content_file_bytes)
    if existing is None:
        report.kept_deleted += 1
        return base   # with the new upstream fingerprint: counted once, then unchanged
    stamp = _stamp(path)
    mine = _parse(existing)
    raw_theirs, parsed_theirs = _render(config, source, path, content, theirs)
    sidecar = path.with_name(path.name + ".upstream")
    if mine is None:   # kept as it is, and the base too: once fixed, upstream's change merges
        write_atomically(sidecar, raw_theirs)
        report.conflicts.append(f"conflict in {path.relative_to(content)}: its front matter cannot be "
                                f"read; upstream's version is in {sidecar.name}")
        return None
    merged, conflicts = _merge(base, mine, theirs)
    if conflicts:
        write_atomically(sidecar, raw_theirs)
        report.conflicts.append(
            f"conflict in {path.relative_to(content)}: {', '.join(conflicts)} changed both here and "
            f"upstream; the editor's version is kept, upstream's is in {sidecar.name}")
    if merged != mine:
        raw, _ = _render(config, source, path, content, merged)
        if _stamp(path) != stamp:   # an editor saved meanwhile: theirs wins, merge next time
            raise _Skip(f"{path.name} changed while it was merged; merged at the next fetch")
        write_atomically(path, raw)
        report.updated += 1
    elif not conflicts:
        report.unchanged += 1
    return parsed_theirs


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return info.st_mtime_ns, info.st_size


# -- mapping an entry to front matter ----------------------------------------------------------


def _front_matter(entry: Entry, key: str, source: Source, config: Config, now: datetime,
                  base: dict | None, taken: set[str] = frozenset()) -> tuple[dict, list[str]]:
    """The item's fields as ``theirs`` (front matter and ``body``), and notes for the report.
    Fields the source does not give keep what the last version had: a refetch of an
    undated entry is not a change."""
    site, notes = config.site, []
    if entry.problem:
        raise _Skip(entry.problem)
    lang = entry.lang or source.lang or site.default_language
    if lang not in site.languages:
        raise _Skip(f"its language {lang!r} is not one of the site's ({', '.join(site.languages)})")
    title = entry.title or derive_summary(entry.summary, 120)
    if not title:
        raise _Skip("it has no title")
    date = entry.published or entry.updated
    if date is None:
        date = _base_date(base) or now
        if base is None:
            notes.append("no date: dated at the fetch time")
    elif date > now and not source.trusted:
        shown = date.astimezone(site.timezone).isoformat(timespec="minutes")
        date = _base_date(base) or now
        if base is None:
            notes.append(f"dated in the future ({shown}): dated at the fetch time instead "
                         "(set trusted = true on the source to keep future dates as embargoes)")
    body = _html_block(entry.content)
    meta: dict = {"title": title, "date": _iso(date, config)}
    if entry.updated and entry.updated > date and (entry.updated <= now or source.trusted):
        meta["updated"] = _iso(entry.updated, config)
    meta["lang"] = lang
    summary = entry.summary or derive_summary(_text_of(entry.content))
    if summary:
        meta["summary"] = derive_summary(summary)
    meta["topics"] = list(source.topics)
    if source.organization:
        meta["organizations"] = [source.organization]
    if entry.authors:
        meta["authors"] = list(entry.authors)
    if entry.image:
        meta["image"] = {"src": entry.image[0], "alt": entry.image[1] or title}
    meta["status"] = base["status"] if base and "status" in base else source.publish
    meta["id"] = f"tag:{urlsplit(site.base_url).hostname},2026:ingested/{source.id}/{key[:32]}"
    meta["slug"] = base["slug"] if base and "slug" in base else _slug(title, key, taken)
    if entry.link:
        meta["canonical_url"] = entry.link
    meta["body"] = body
    if base is not None and date <= now and meta.get("updated") in (None, base.get("updated")) \
            and _fingerprint(meta) != _fingerprint(base):
        meta["updated"] = _iso(now, config)   # changed upstream without saying when: now
        meta = _ordered(meta)
    return meta, notes


def _base_date(base: dict | None) -> datetime | None:
    return datetime.fromisoformat(base["date"]) if base and isinstance(base.get("date"), str) else None


def _iso(when: datetime, config: Config) -> str:
    try:
        return when.astimezone(config.site.timezone).isoformat()
    except OverflowError:
        raise _Skip(f"its date {when.isoformat()} is out of range") from None


def _slug(title: str, key: str, taken: set[str] | frozenset[str] = frozenset()) -> str:
    """The title's words and a part of the key; a longer part if another file has it."""
    ascii_ = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    words = re.sub(r"[^a-z0-9]+", "-", ascii_).strip("-")[:60].rstrip("-") or "item"
    for length in (8, 16, 32, 64):
        if (slug := f"{words}-{key[:length]}") not in taken:
            return slug
    raise _Skip("its slug is taken by another file")


def _html_block(content: str) -> str:
    """Sanitized HTML as one raw HTML block of Markdown: wrapped in a div, a line per block
    element for an editor, and no blank line (which would end the block); newlines inside
    ``<pre>`` become character references."""
    if not content:
        return ""
    content = content.replace("\r\n", "\n").replace("\r", "\n")   # cmark ends lines at CR too
    content = re.sub(r"(<pre\b[^>]*>)(.*?)</pre>",
                     lambda m: m.group(1) + m.group(2).replace("\n", "&#10;") + "</pre>", content, flags=re.S)
    content = re.sub(r"(</(?:p|li|ul|ol|blockquote|h[2-4]|pre|dl|dt|dd)>|<hr>)\s*", "\\1\n", content)
    content = re.sub(r"\n\s*\n+", "\n", content).strip()
    return f"<div>\n{content}\n</div>"


def _text_of(html_: str) -> str:
    import html

    return html.unescape(re.sub(r"<[^>]*>", " ", html_))


def _fingerprint(document: dict) -> str:
    """What upstream said, without what Newsroom adds (``updated``) or the editor owns."""
    said = {k: v for k, v in document.items() if k not in ("updated", "status")}
    return hashlib.sha256(json.dumps(said, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _entry_name(entry: Entry) -> str:
    return excerpt(entry.title or entry.guid)


# -- files -------------------------------------------------------------------------------------


def _render(config: Config, source: Source, path: Path, content: Path, document: dict) -> tuple[bytes, dict]:
    """The file's bytes and the document as read back; checked by the build's own reader, so
    an ingested file never breaks a build."""
    meta = {k: v for k, v in _ordered(document).items() if k != "body"}
    dumped = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False, width=100_000)
    header = (f"# Ingested from [[sources]] {source.id!r} in newsroom.toml.\n"
              "# Edit freely: the next fetch keeps your changes and takes in upstream's changes to\n"
              "# other fields; a field changed in both places is reported, upstream's is saved\n"
              "# next to this file as .md.upstream. Deleted, it stays deleted.\n")
    raw = f"---\n{header}{dumped}---\n{document.get('body', '')}\n".encode()
    if len(raw) > config.limits.content_file_bytes:
        raise _Skip(f"its file would be {len(raw):,} bytes (limits.content_file_bytes)")
    relative = path.relative_to(content).as_posix()
    item, problems = parse_news(relative, raw, config.site)
    if item is None or problems:
        raise _Skip("; ".join(f"{p.field}: {p.message}" for p in problems[:3]))
    parsed = _parse(raw)
    assert parsed is not None
    return raw, parsed


def _ordered(document: dict) -> dict:
    first = {k: document[k] for k in FIELD_ORDER if k in document}
    return first | {k: v for k, v in document.items() if k not in first}


def _parse(raw: bytes) -> dict | None:
    """A file's front matter and ``body``, as compared in a merge; None if unreadable."""
    try:
        doc = split_document(raw)
    except FrontMatterError:
        return None
    return {**doc.meta, "body": doc.body.strip()}


def _merge(base: dict, mine: dict, theirs: dict) -> tuple[dict, list[str]]:
    """Field by field: whoever changed a field from the base wins; both: the editor's value
    and a conflict. ``updated`` follows: upstream's when anything of upstream's came in."""
    merged, conflicts, took_theirs = {}, [], False
    for name in _ordered(base | mine | theirs):
        if name == "updated":
            continue
        b, m, t = base.get(name, _MISSING), mine.get(name, _MISSING), theirs.get(name, _MISSING)
        if m == b:
            value, took_theirs = t, took_theirs or t != b
        elif t in (b, m):
            value = m
        else:
            value = m
            conflicts.append(name)
        if value is not _MISSING:
            merged[name] = value
    updated = theirs.get("updated") if took_theirs else mine.get("updated")
    if updated is not None and not _before(updated, merged.get("date")):
        merged["updated"] = updated   # (an editor's later date, an embargo: no update before it)
    return _ordered(merged), conflicts


def _before(first, second) -> bool:
    try:
        return datetime.fromisoformat(str(first)) < datetime.fromisoformat(str(second))
    except (TypeError, ValueError):
        return False


def _source_folder(content: Path, source_id: str) -> Path:
    """``content/news/ingested/<source>/``, every part a real folder inside the content folder."""
    folder = content
    for part in (*FOLDER.split("/"), source_id):
        folder = folder / part
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            raise _Skip(f"{folder} is not a plain folder (a symbolic link or a file): refused")
        folder.mkdir(exist_ok=True)
    return folder


def _read_existing(path: Path, max_bytes: int) -> bytes | None:
    """The file's bytes, or None if it is gone; never through a symbolic link."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _Skip(f"{path.name} cannot be read ({exc.strerror}); not a regular file?") from None
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise _Skip(f"{path.name} is larger than limits.content_file_bytes")
    return data


# -- the sources' state ------------------------------------------------------------------------


_STATE_COLUMNS = ("etag", "last_modified", "last_fetch", "last_success", "failures", "last_error", "retry_at",
                  "settings")


def _source_state(db: Database, source_id: str) -> dict:
    rows = db.query(f"SELECT {', '.join(_STATE_COLUMNS)} FROM ingest_sources WHERE source = :source",
                    {"source": source_id})
    return dict(zip(_STATE_COLUMNS, rows[0], strict=True)) if rows else {}


def _save_state(db: Database, source_id: str, **values) -> None:
    state = _source_state(db, source_id) | values
    with db.transaction():
        db.execute("DELETE FROM ingest_sources WHERE source = :source", {"source": source_id})
        db.execute(f"INSERT INTO ingest_sources (source, {', '.join(_STATE_COLUMNS)}) VALUES (:source, "
                   f"{', '.join(':' + c for c in _STATE_COLUMNS)})",
                   {"source": source_id} | {c: state.get(c) for c in _STATE_COLUMNS} |
                   {"failures": state.get("failures") or 0})


def _record_success(db: Database, source_id: str, now: datetime, etag: str | None,
                    last_modified: str | None, settings: str) -> None:
    _save_state(db, source_id, etag=etag, last_modified=last_modified, last_fetch=now.isoformat(),
                last_success=now.isoformat(), failures=0, last_error=None, retry_at=None, settings=settings)


def _record_failure(db: Database, source_id: str, now: datetime, error: str,
                    retry_after: datetime | None) -> None:
    failures = (_source_state(db, source_id).get("failures") or 0) + 1
    _save_state(db, source_id, last_fetch=now.isoformat(), failures=failures, last_error=error,
                retry_at=retry_after.isoformat() if retry_after else None)


def ingest_status(config: Config, content_dir: Path | None = None) -> list[SourceStatus]:
    """Each configured source's health, for ``newsroom ingest --status``."""
    content = (content_dir or config.paths.content).resolve()
    with state_database(config) as db:
        counts = dict(db.query("SELECT source, COUNT(*) FROM ingest_entries GROUP BY source"))
        rows = []
        for source in config.sources:
            state = _source_state(db, source.id)
            folder = content / FOLDER / source.id
            conflicts = sum(1 for _ in folder.glob("*.md.upstream")) if folder.is_dir() else 0
            rows.append(SourceStatus(
                source.id, source.url, state.get("last_fetch"), state.get("last_success"),
                state.get("failures") or 0, state.get("last_error"), state.get("retry_at"),
                counts.get(source.id, 0), conflicts))
    return rows

