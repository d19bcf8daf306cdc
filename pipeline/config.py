"""Read ``newsroom.toml`` into typed, frozen objects.

Every unknown key and every wrong type is a :class:`ConfigError` naming the
key (``partners[1].max_items: expected an integer``). Relative paths resolve
against the folder of the file. Secrets are never read from the file: they
come from the environment through :func:`secret`.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .schedule import Schedule, ScheduleError

__all__ = [
    "Config",
    "ConfigError",
    "Delivery",
    "Limits",
    "Newsletter",
    "Partner",
    "Paths",
    "Runtime",
    "Site",
    "Source",
    "Topic",
    "load_config",
    "secret",
]

KNOWN_LANGUAGES = frozenset({"en", "fi", "sv"})
_ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")   # fullmatch: ids name files and URLs


class ConfigError(Exception):
    """The configuration file is missing, unreadable or invalid."""


Localized = dict[str, str]


@dataclass(frozen=True)
class Site:
    title: Localized
    base_url: str
    timezone: ZoneInfo
    languages: tuple[str, ...]
    default_language: str
    description: Localized = field(default_factory=dict)
    feed_items: int = 50
    websub_hubs: tuple[str, ...] = ()
    icon: str | None = None
    logo: str | None = None
    attribution: str | None = None

    def text(self, values: Localized, lang: str) -> str:
        """The value in ``lang``, else in the default language, else any."""
        return values.get(lang) or values.get(self.default_language) or next(iter(values.values()), "")


@dataclass(frozen=True)
class Paths:
    content: Path
    templates: Path | None   # the site's own templates; None: the built-in ones only
    output: Path
    state: Path


@dataclass(frozen=True)
class Topic:
    key: str
    title: Localized


@dataclass(frozen=True)
class Partner:
    id: str
    topics: tuple[str, ...] = ()
    languages: tuple[str, ...] = ()
    max_items: int = 50
    include_partner_only: bool = False
    webhook_url: str | None = None
    utm: Localized = field(default_factory=dict)


@dataclass(frozen=True)
class Newsletter:
    id: str
    title: str
    lang: str
    schedule: str              # the cron line, as written
    topics: tuple[str, ...] = ()
    timing: Schedule | None = field(default=None, compare=False)   # the line read, in the site's zone

    @property
    def when(self) -> Schedule:
        if self.timing is None:
            raise ValueError(f"newsletter {self.id!r} has no time zone to read its schedule in")
        return self.timing


@dataclass(frozen=True)
class Source:
    """``[[sources]]``: an upstream feed of one organization (``newsroom ingest``)."""

    id: str
    url: str
    organization: str | None = None
    topics: tuple[str, ...] = ()
    publish: str = "draft"
    lang: str | None = None     # the entries' language when neither entry nor feed names one
    trusted: bool = False       # a future-dated entry is kept as an embargo (else clamped to now)
    max_items: int = 100        # at most this many entries of one fetch (the newest)


@dataclass(frozen=True)
class Delivery:
    method: str = "outbox"
    sender: str = "Newsroom <news@example.org>"
    rate_per_second: float = 20.0
    connections: int = 4
    service_url: str | None = None   # where `newsroom serve` answers; None: the site's base_url


@dataclass(frozen=True)
class Runtime:
    """``[runtime]``: the daemon's settings (``newsroom run``)."""

    rebuild_minutes: int = 15
    digest_grace_hours: float = 12.0   # a digest missed by more is skipped, not sent late
    ingest_minutes: int = 30           # how often [[sources]] are fetched


@dataclass(frozen=True)
class Limits:
    """Bounds on untrusted input: a larger file is a problem, never read whole."""

    content_file_bytes: int = 1_000_000
    media_file_bytes: int = 10_000_000
    feed_bytes: int = 5_000_000        # an upstream feed's body; the download stops there
    fetch_seconds: int = 30            # the whole of one fetch, redirects included


@dataclass(frozen=True)
class Config:
    path: Path
    site: Site
    paths: Paths
    topics: dict[str, Topic]
    partners: tuple[Partner, ...] = ()
    newsletters: tuple[Newsletter, ...] = ()
    sources: tuple[Source, ...] = ()
    delivery: Delivery = field(default_factory=Delivery)
    limits: Limits = field(default_factory=Limits)
    runtime: Runtime = field(default_factory=Runtime)

    @property
    def service_url(self) -> str:
        """Where ``newsroom serve`` answers (unsubscribe, preferences, subscribe)."""
        return self.delivery.service_url or self.site.base_url

    def subscribe_url(self, lang: str | None = None) -> str:
        """The service's subscription form, in ``lang`` (``?lang=`` for any but the default
        language)."""
        url = self.service_url + "subscribe"
        return url if lang is None or lang == self.site.default_language else f"{url}?lang={lang}"

    def newsletter(self, newsletter_id: str) -> Newsletter:
        for newsletter in self.newsletters:
            if newsletter.id == newsletter_id:
                return newsletter
        known = ", ".join(n.id for n in self.newsletters) or "none"
        raise ConfigError(f"no newsletter {newsletter_id!r} in {self.path.name} (known: {known})")


def secret(name: str) -> str | None:
    """A secret from the environment (``NEWSROOM_SECRET``, ``NEWSROOM_SMTP_URL``…)."""
    return os.environ.get(name) or None


def load_config(path: str | os.PathLike[str]) -> Config:
    path = Path(path).resolve()
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not valid UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    try:
        return _build(path, raw)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


# -- building -------------------------------------------------------------

_TOP_KEYS = {"site", "paths", "topics", "partners", "newsletters", "sources", "delivery", "limits", "runtime"}


def _build(path: Path, raw: dict[str, Any]) -> Config:
    _no_unknown(raw, _TOP_KEYS, "")
    if "site" not in raw:
        raise ConfigError("site: missing section")
    site = _site(_table(raw["site"], "site"))
    topics = _topics(_table(raw.get("topics", {}), "topics"), site)
    if not topics:
        raise ConfigError("topics: define at least one topic")
    return Config(
        path=path,
        site=site,
        paths=_paths(_table(raw.get("paths", {}), "paths"), path.parent),
        topics=topics,
        partners=_unique_ids("partners", [_partner(t, f"partners[{i}]", site, topics)
                                          for i, t in enumerate(_array(raw, "partners"))]),
        newsletters=_unique_ids("newsletters", [_newsletter(t, f"newsletters[{i}]", site, topics)
                                                for i, t in enumerate(_array(raw, "newsletters"))]),
        sources=_unique_ids("sources", [_source(t, f"sources[{i}]", site, topics)
                                        for i, t in enumerate(_array(raw, "sources"))]),
        delivery=_delivery(_table(raw.get("delivery", {}), "delivery")),
        limits=_limits(_table(raw.get("limits", {}), "limits")),
        runtime=_runtime(_table(raw.get("runtime", {}), "runtime")),
    )


def _unique_ids(key: str, entries: list[Any]) -> tuple[Any, ...]:
    """Ids name output files and journal entries, so two entries may not share one."""
    first: dict[str, int] = {}
    for i, entry in enumerate(entries):
        if entry.id in first:
            raise ConfigError(f"{key}[{i}].id: {entry.id!r} is also the id of {key}[{first[entry.id]}]")
        first[entry.id] = i
    return tuple(entries)


def _site(t: dict[str, Any]) -> Site:
    keys = {"title", "description", "base_url", "timezone", "languages", "default_language",
            "feed_items", "websub_hubs", "icon", "logo", "attribution"}
    _no_unknown(t, keys, "site.")
    languages = tuple(_str_list(_required(t, "languages", "site."), "site.languages"))
    if not languages:
        raise ConfigError("site.languages: list at least one language")
    for lang in languages:
        if lang not in KNOWN_LANGUAGES:
            raise ConfigError(f"site.languages: unsupported language {lang!r}")
    default = _str(t.get("default_language", languages[0]), "site.default_language")
    if default not in languages:
        raise ConfigError(f"site.default_language: {default!r} is not in site.languages")
    base_url = _str(_required(t, "base_url", "site."), "site.base_url")
    if not re.fullmatch(r"https?://[^/\s]+(?:/\S*)?", base_url):
        raise ConfigError("site.base_url: expected an absolute http(s) URL")
    tz_name = _str(t.get("timezone", "UTC"), "site.timezone")
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"site.timezone: unknown time zone {tz_name!r}") from None
    feed_items = _int(t.get("feed_items", 50), "site.feed_items")
    if feed_items < 1:
        raise ConfigError("site.feed_items: must be at least 1")
    return Site(
        title=_localized(_required(t, "title", "site."), "site.title", languages),
        description=_localized(t.get("description", {}), "site.description", languages),
        base_url=base_url.rstrip("/") + "/",
        timezone=tz,
        languages=languages,
        default_language=default,
        feed_items=feed_items,
        websub_hubs=tuple(_str_list(t.get("websub_hubs", []), "site.websub_hubs")),
        icon=_opt_str(t.get("icon"), "site.icon"),
        logo=_opt_str(t.get("logo"), "site.logo"),
        attribution=_opt_str(t.get("attribution"), "site.attribution"),
    )


def _paths(t: dict[str, Any], root: Path) -> Paths:
    _no_unknown(t, {"content", "templates", "output", "state"}, "paths.")
    defaults = {"content": "content", "output": "output", "state": "state"}
    resolved = {k: (root / _str(t.get(k, v), f"paths.{k}")).resolve() for k, v in defaults.items()}
    # Templates: a folder named here must exist; unnamed, ./templates is used if the site
    # has one, else the built-in templates alone.
    if "templates" in t:
        templates = (root / _str(t["templates"], "paths.templates")).resolve()
        if not templates.is_dir():
            raise ConfigError(f"paths.templates: no such folder: {templates}")
    else:
        templates = (root / "templates").resolve() if (root / "templates").is_dir() else None
    return Paths(templates=templates, **resolved)


def _topics(t: dict[str, Any], site: Site) -> dict[str, Topic]:
    topics = {}
    for key, value in t.items():
        if not _ID_RE.fullmatch(key):
            raise ConfigError(f"topics.{key}: a topic key is lowercase letters, digits, - and _ "
                              "(at most 64)")
        body = _table(value, f"topics.{key}")
        _no_unknown(body, {"title"}, f"topics.{key}.")
        title = _localized(_required(body, "title", f"topics.{key}."), f"topics.{key}.title",
                           site.languages)
        topics[key] = Topic(key=key, title=title)
    return topics


def _partner(t: Any, where: str, site: Site, topics: dict[str, Topic]) -> Partner:
    t = _table(t, where)
    keys = {"id", "topics", "languages", "max_items", "include_partner_only", "webhook_url", "utm"}
    _no_unknown(t, keys, f"{where}.")
    max_items = _int(t.get("max_items", 50), f"{where}.max_items")
    if max_items < 1:
        raise ConfigError(f"{where}.max_items: must be at least 1")
    return Partner(
        id=_ident(_required(t, "id", f"{where}."), f"{where}.id"),
        topics=_topic_keys(t.get("topics", []), f"{where}.topics", topics),
        languages=_languages(t.get("languages", []), f"{where}.languages", site),
        max_items=max_items,
        include_partner_only=_bool(t.get("include_partner_only", False),
                                   f"{where}.include_partner_only"),
        webhook_url=_opt_str(t.get("webhook_url"), f"{where}.webhook_url"),
        utm={k: _str(v, f"{where}.utm.{k}") for k, v in _table(t.get("utm", {}), f"{where}.utm").items()},
    )


def _newsletter(t: Any, where: str, site: Site, topics: dict[str, Topic]) -> Newsletter:
    t = _table(t, where)
    _no_unknown(t, {"id", "title", "lang", "topics", "schedule"}, f"{where}.")
    lang = _str(t.get("lang", site.default_language), f"{where}.lang")
    if lang not in site.languages:
        raise ConfigError(f"{where}.lang: {lang!r} is not in site.languages")
    title = _str(_required(t, "title", f"{where}."), f"{where}.title")
    if not title.strip() or any(ch in title for ch in "\r\n\x00"):
        raise ConfigError(f"{where}.title: one line of text")   # it becomes a Subject header
    cron = _str(_required(t, "schedule", f"{where}."), f"{where}.schedule")
    try:
        timing = Schedule.parse(cron, site.timezone)
    except ScheduleError as exc:
        raise ConfigError(f"{where}.schedule: {exc}") from None
    return Newsletter(
        id=_ident(_required(t, "id", f"{where}."), f"{where}.id"),
        title=title,
        lang=lang,
        topics=_topic_keys(t.get("topics", []), f"{where}.topics", topics),
        schedule=cron,
        timing=timing,
    )


def _source(t: Any, where: str, site: Site, topics: dict[str, Topic]) -> Source:
    t = _table(t, where)
    _no_unknown(t, {"id", "url", "organization", "topics", "publish", "lang", "trusted", "max_items"},
                f"{where}.")
    publish = _str(t.get("publish", "draft"), f"{where}.publish")
    if publish not in ("draft", "published"):
        raise ConfigError(f"{where}.publish: expected 'draft' or 'published'")
    url = _str(_required(t, "url", f"{where}."), f"{where}.url")
    if not re.fullmatch(r"https?://[^\s/?#]+[^\s]*", url, re.I):
        raise ConfigError(f"{where}.url: expected an http:// or https:// URL")
    source_topics = _topic_keys(_required(t, "topics", f"{where}."), f"{where}.topics", topics)
    if not source_topics:
        raise ConfigError(f"{where}.topics: name at least one topic (every news item has one)")
    lang = _opt_str(t.get("lang"), f"{where}.lang")
    if lang is not None and lang not in site.languages:
        raise ConfigError(f"{where}.lang: {lang!r} is not in site.languages")
    max_items = _int(t.get("max_items", Source.max_items), f"{where}.max_items")
    if not 1 <= max_items <= 1000:
        raise ConfigError(f"{where}.max_items: expected 1 to 1000")
    return Source(
        id=_ident(_required(t, "id", f"{where}."), f"{where}.id"),
        url=url,
        organization=_opt_str(t.get("organization"), f"{where}.organization"),
        topics=source_topics,
        publish=publish,
        lang=lang,
        trusted=_bool(t.get("trusted", False), f"{where}.trusted"),
        max_items=max_items,
    )


def _delivery(t: dict[str, Any]) -> Delivery:
    _no_unknown(t, {"method", "from", "rate_per_second", "connections", "service_url"}, "delivery.")
    method = _str(t.get("method", "outbox"), "delivery.method")
    if method not in ("outbox", "smtp"):
        raise ConfigError("delivery.method: expected 'outbox' or 'smtp'")
    rate = t.get("rate_per_second", 20)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or rate <= 0:
        raise ConfigError("delivery.rate_per_second: expected a positive number")
    connections = _int(t.get("connections", Delivery.connections), "delivery.connections")
    if not 1 <= connections <= 64:
        raise ConfigError("delivery.connections: expected 1 to 64")
    service_url = _opt_str(t.get("service_url"), "delivery.service_url")
    if service_url is not None:
        if not re.fullmatch(r"https?://[^/\s?#]+(?:/[^\s?#]*)?", service_url):
            raise ConfigError("delivery.service_url: expected an absolute http(s) URL without query")
        if service_url.startswith("http://") and not re.match(r"http://(localhost|127\.0\.0\.1|\[::1\])[:/]",
                                                               service_url + "/"):
            raise ConfigError("delivery.service_url: unsubscribe links must be https (RFC 8058); "
                              "plain http only for localhost")
        service_url = service_url.rstrip("/") + "/"
    return Delivery(method=method, sender=_sender(t.get("from", Delivery.sender)),
                    rate_per_second=float(rate), connections=connections, service_url=service_url)


def _sender(value: Any) -> str:
    """``Name <address>``: it becomes the From header, so one line with one address."""
    from email.headerregistry import Address
    from email.utils import parseaddr

    text = _str(value, "delivery.from")
    name, address = parseaddr(text)
    if any(ch in text for ch in "\r\n\x00") or "@" not in address:
        raise ConfigError(f"delivery.from: expected 'Name <address@example.org>', not {text[:80]!r}")
    try:
        Address(display_name=name, addr_spec=address)
    except (ValueError, IndexError) as exc:
        raise ConfigError(f"delivery.from: {exc}") from None
    return text


def _runtime(t: dict[str, Any]) -> Runtime:
    _no_unknown(t, {"rebuild_minutes", "digest_grace_hours", "ingest_minutes"}, "runtime.")
    minutes = _int(t.get("rebuild_minutes", Runtime.rebuild_minutes), "runtime.rebuild_minutes")
    if not 1 <= minutes <= 24 * 60:
        raise ConfigError("runtime.rebuild_minutes: expected 1 to 1440")
    ingest = _int(t.get("ingest_minutes", Runtime.ingest_minutes), "runtime.ingest_minutes")
    if not 1 <= ingest <= 24 * 60:
        raise ConfigError("runtime.ingest_minutes: expected 1 to 1440")
    grace = t.get("digest_grace_hours", Runtime.digest_grace_hours)
    if isinstance(grace, bool) or not isinstance(grace, int | float) or not 0 < grace <= 24 * 14:
        raise ConfigError("runtime.digest_grace_hours: expected a number of hours above 0 (at most 336)")
    return Runtime(rebuild_minutes=minutes, digest_grace_hours=float(grace), ingest_minutes=ingest)


_LIMIT_RANGES = {   # key: (lowest, highest, unit)
    "content_file_bytes": (1_000, 1_000_000_000, "bytes"),
    "media_file_bytes": (1_000, 1_000_000_000, "bytes"),
    "feed_bytes": (1_000, 1_000_000_000, "bytes"),
    "fetch_seconds": (1, 600, "seconds"),
}


def _limits(t: dict[str, Any]) -> Limits:
    _no_unknown(t, set(_LIMIT_RANGES), "limits.")
    values = {}
    for key, (low, high, unit) in _LIMIT_RANGES.items():
        value = _int(t.get(key, getattr(Limits, key)), f"limits.{key}")
        if not low <= value <= high:
            raise ConfigError(f"limits.{key}: expected a number of {unit} from {low} to {high}")
        values[key] = value
    return Limits(**values)


# -- typed accessors ------------------------------------------------------------


def _no_unknown(t: dict[str, Any], known: set[str], prefix: str) -> None:
    for key in t:
        if key not in known:
            raise ConfigError(f"{prefix}{key}: unknown key")


def _required(t: dict[str, Any], key: str, prefix: str) -> Any:
    if key not in t:
        raise ConfigError(f"{prefix}{key}: missing")
    return t[key]


def _table(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: expected a table")
    return value


def _array(raw: dict[str, Any], key: str) -> list[Any]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise ConfigError(f"{key}: expected an array of tables ([[{key}]])")
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string")
    return value


def _opt_str(value: Any, where: str) -> str | None:
    return None if value is None else _str(value, where)


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: expected an integer")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false")
    return value


def _str_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of strings")
    return value


def _ident(value: Any, where: str) -> str:
    value = _str(value, where)
    if not _ID_RE.fullmatch(value):
        raise ConfigError(f"{where}: {value[:80]!r} must be lowercase letters, digits, - and _ "
                          "(at most 64)")
    return value


def _localized(value: Any, where: str, languages: tuple[str, ...]) -> Localized:
    if isinstance(value, str):
        return dict.fromkeys(languages, value)
    table = _table(value, where)
    for lang, text in table.items():
        if lang not in languages:
            raise ConfigError(f"{where}.{lang}: language not in site.languages")
        _str(text, f"{where}.{lang}")
    return dict(table)


def _topic_keys(value: Any, where: str, topics: dict[str, Topic]) -> tuple[str, ...]:
    keys = _str_list(value, where)
    for key in keys:
        if key not in topics:
            raise ConfigError(f"{where}: unknown topic {key!r}")
    return tuple(keys)


def _languages(value: Any, where: str, site: Site) -> tuple[str, ...]:
    langs = _str_list(value, where)
    for lang in langs:
        if lang not in site.languages:
            raise ConfigError(f"{where}: {lang!r} is not in site.languages")
    return tuple(langs)
