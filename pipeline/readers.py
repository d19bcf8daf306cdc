"""Readers: one content file in, one :class:`NewsItem` or :class:`Profile` out (or its problems).

A reader sees one file and the site settings; checks that need other files
(topics, organizations, duplicate slugs) live in :mod:`pipeline.content`.
Readers are pure functions of their input, which is what makes the parse cache safe.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import PurePosixPath

from .config import Site
from .frontmatter import Document, FrontMatterError, split_document
from .markup import TooDeep, derive_summary, local_images, render_markdown
from .model import Image, NewsItem, Problem, Profile, excerpt

__all__ = ["PROFILE_KINDS", "parse_datetime", "parse_news", "parse_profile", "read_news", "read_profile"]

PROFILE_KINDS = ("university", "hospital", "research-centre", "company", "public-sector", "network")
# All fullmatched: "$" would also match before a final newline ("x.md\n" as a file name).
MAX_SLUG = 100   # slugs name folders and files; file systems allow 255 bytes in a name
MAX_BODY_IMAGES = 1000
SLUG_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?")
_URI_RE = re.compile(r"(?!(?:javascript|vbscript|data|file):)[a-zA-Z][a-zA-Z0-9+.-]*:\S+", re.I)
_HTTP_RE = re.compile(r"https?://[^/\s]+\S*")
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)

NEWS_FIELDS = {
    "title", "date", "updated", "lang", "summary", "topics", "organizations", "authors", "image",
    "status", "visibility", "translation_key", "id", "slug", "canonical_url",
}
PROFILE_FIELDS = {
    "slug", "name", "kind", "website", "city", "topics", "summary", "logo", "description",
}


class _Fields:
    """Typed access to front matter fields that records problems instead of raising."""

    def __init__(self, path: str, doc: Document):
        self.path, self.doc = path, doc
        self.problems: list[Problem] = []
        self.images: list[tuple[str, int]] = []   # local images of the body: (src, line)

    def line(self, name: str) -> int:
        return self.doc.lines.get(name, 1)

    def problem(self, name: str, message: str) -> None:
        self.problems.append(Problem(self.path, self.line(name.split(".")[0]), name, message))

    def markdown(self, source: str, site: Site, name: str = "body") -> tuple[str, str]:
        """Rendered and sanitized; a body too deeply nested is a problem (and empty). Its
        local images are noted in ``self.images``."""
        try:
            rendered = render_markdown(source, site.base_url)
            self._images(rendered[0], source, name)
            return rendered
        except TooDeep as exc:
            line = self.doc.body_line if name == "body" else self.line(name.split(".")[0])
            self.problems.append(Problem(self.path, line, name, str(exc)))
            return "", ""

    def _images(self, body: str, source: str, name: str) -> None:
        """Each local image once, with the line it is on; one without alt text is a problem.
        Images come in the order of the text, so the line search moves forward only."""
        first = self.doc.body_line if name == "body" else self.line(name.split(".")[0])
        lines = source.split("\n") if name == "body" else []
        seen = {src for src, _ in self.images}
        cursor = 0
        images = local_images(body)
        if len(images) > MAX_BODY_IMAGES:
            self.problems.append(Problem(self.path, first, name, f"holds {len(images):,} local images; "
                                         f"at most {MAX_BODY_IMAGES:,}"))
            return
        for src, alt in images:
            found = next((n for n in range(cursor, len(lines)) if src in lines[n]), None)
            cursor = found if found is not None else cursor
            line = first + (found if found is not None else 0)
            if src not in seen:
                seen.add(src)
                self.images.append((src, line))
            if not alt.strip():
                problem = Problem(self.path, line, name, f"image {excerpt(src)} has no alt text: "
                                  "describe it for readers who cannot see it")
                if problem not in self.problems[-1:]:
                    self.problems.append(problem)

    def unknown(self, known: set[str]) -> None:
        for key in self.doc.meta:
            if str(key) not in known:
                self.problems.append(Problem(self.path, self.line(str(key)), excerpt(key, 40, quote=False),
                                             "unknown field"))

    def text(self, name: str, required: bool = False) -> str | None:
        value = self.doc.meta.get(name)
        if value is None:
            if required:
                self.problem(name, "missing")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            self.problem(name, "expected plain text")
            return None
        value = " ".join(str(value).split())
        if not value and required:
            self.problem(name, "is empty")
            return None
        return value or None

    def text_list(self, name: str, required: bool = False) -> tuple[str, ...]:
        value = self.doc.meta.get(name)
        if value is None or value == []:
            if required:
                self.problem(name, "missing: list at least one")
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            self.problem(name, "expected a list of names")
            return ()
        return tuple(v.strip() for v in value)

    def choice(self, name: str, options: tuple[str, ...], default: str) -> str:
        value = self.doc.meta.get(name, default)
        if value not in options:
            self.problem(name, f"{excerpt(value)} is not one of {', '.join(options)}")
            return default
        return value

    def url(self, name: str) -> str | None:
        value = self.text(name)
        if value is not None and not _HTTP_RE.fullmatch(value):
            self.problem(name, f"{excerpt(value)} is not an absolute http(s) URL")
            return None
        return value

    def when(self, name: str, site: Site, required: bool = False) -> datetime | None:
        value = self.doc.meta.get(name)
        if value is None:
            if required:
                self.problem(name, "missing")
            return None
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            self.problem(name, f"expected a date as text, not {excerpt(value)}")
            return None
        try:
            return parse_datetime(str(value), site)
        except ValueError as exc:
            self.problem(name, str(exc))
            return None

    def localized(self, name: str, site: Site, required: bool = False) -> dict[str, str]:
        value = self.doc.meta.get(name)
        if value is None:
            if required:
                self.problem(name, "missing")
            return {}
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return dict.fromkeys(site.languages, str(value).strip())
        if not isinstance(value, dict):
            self.problem(name, "expected text or one text per language ({en: …, fi: …})")
            return {}
        out = {}
        for lang, text in value.items():
            if lang not in site.languages:
                self.problem(f"{name}.{lang}", f"unknown language (the site has {', '.join(site.languages)})")
            elif not isinstance(text, str) or not text.strip():
                self.problem(f"{name}.{lang}", "expected non-empty text")
            else:
                out[lang] = text.strip()
        return out

    def image(self, name: str) -> Image | None:
        value = self.doc.meta.get(name)
        if value is None:
            return None
        if not isinstance(value, dict):
            self.problem(name, "expected {src: …, alt: …}")
            return None
        for key in value:
            if key not in ("src", "alt"):
                self.problem(f"{name}.{key}", "unknown field")
        src, alt = value.get("src"), value.get("alt")
        ok = True
        if not isinstance(src, str) or not src.strip():
            self.problem(f"{name}.src", "missing")
            ok = False
        elif not _HTTP_RE.fullmatch(src) and not _is_local_path(src):
            self.problem(f"{name}.src", f"{excerpt(src)} is neither an http(s) URL nor a path under content/")
            ok = False
        if not isinstance(alt, str) or not alt.strip():
            self.problem(f"{name}.alt", "missing: describe the image for readers who cannot see it")
            ok = False
        return Image(src=src.strip(), alt=" ".join(alt.split())) if ok else None


def parse_datetime(text: str, site: Site) -> datetime:
    """Parse ISO 8601 text. No offset: the site's time zone; a date alone: 00:00 there."""
    text = text.strip()
    shown = excerpt(text)
    try:
        if _DATE_ONLY.fullmatch(text):
            day = date.fromisoformat(text)
            result = datetime(day.year, day.month, day.day, tzinfo=site.timezone)
        else:
            result = _in_site_zone(datetime.fromisoformat(text), site)
    except ValueError as exc:
        if re.match(r"^\d{4}-\d{2}-\d{2}", text) and "range" in str(exc):
            raise ValueError(f"impossible date {shown}: {exc}") from None
        raise ValueError(
            f"{shown} is not an ISO 8601 date (e.g. 2026-11-30 or 2026-11-30T09:00+02:00)"
        ) from None
    except OverflowError:
        raise ValueError(f"{shown} is out of the range of dates Newsroom handles") from None
    # Before 1970 time zones had offsets with seconds (local mean time, +01:39:49), which
    # RFC 3339 and RFC 822 cannot write; news is not that old.
    if result < _EARLIEST:
        raise ValueError(f"{shown} is before 1970: Newsroom handles dates from 1970 on")
    return result


def _in_site_zone(parsed: datetime, site: Site) -> datetime:
    if parsed.tzinfo is None:
        # Through UTC and back, so that a wall time a DST change skips (03:30 on the spring
        # change) becomes the real wall time of that instant (04:30) rather than a phantom.
        parsed = parsed.replace(tzinfo=site.timezone).astimezone(UTC)
    return parsed.astimezone(site.timezone)


def read_news(path: str, raw: bytes, site: Site) -> NewsItem | list[Problem]:
    """The item, or the file's problems."""
    item, problems = parse_news(path, raw, site)
    return problems or item


def _stem(path: str) -> str:
    """``PurePosixPath(path).stem``, without building a path (a tenth of a file's parse)."""
    name = path.rpartition("/")[2]
    dot = name.rfind(".")
    return name[:dot] if 0 < dot < len(name) - 1 else name


def parse_news(path: str, raw: bytes, site: Site) -> tuple[NewsItem | None, list[Problem]]:
    """The item as far as it could be read (``None`` if the front matter could not be),
    and the file's problems; the checks across files run on the item even when it has
    problems, so that one pass reports them all."""
    try:
        doc = split_document(raw)
    except FrontMatterError as exc:
        return None, [Problem(path, exc.line, exc.field, exc.message)]
    f = _Fields(path, doc)
    f.unknown(NEWS_FIELDS)
    title = f.text("title", required=True)
    published = f.when("date", site, required=True)
    updated = f.when("updated", site)
    if published and updated and updated.timestamp() < published.timestamp():
        shown = [excerpt(doc.meta[key], quote=False) for key in ("updated", "date")]
        f.problem("updated", "{} is earlier than date {}".format(*shown))
    lang = f.text("lang") or site.default_language
    if lang not in site.languages:
        f.problem("lang", f"unknown language {excerpt(lang)} (the site has {', '.join(site.languages)})")
    slug = f.text("slug") or _stem(path)
    _check_slug(f, slug, "slug" if "slug" in doc.meta else "slug (from the file name)")
    url = f"{site.base_url}news/{slug}/"
    item_id = f.text("id") or url
    if "id" in doc.meta and not _URI_RE.fullmatch(item_id):   # the default is fine if the slug is
        f.problem("id", f"{excerpt(item_id)} is not a URI (e.g. tag:example.org,2026:my-item)")
    translation_key = f.text("translation_key")
    body_html, first_paragraph = f.markdown(doc.body, site)
    item = NewsItem(
        source=path, slug=slug, id=item_id, url=url, title=title or "", date=published or _EPOCH,
        updated=updated, lang=lang, body_html=body_html,
        summary=f.text("summary") or derive_summary(first_paragraph),
        topics=f.text_list("topics", required=True),
        organizations=f.text_list("organizations"), authors=f.text_list("authors"),
        image=f.image("image"), status=f.choice("status", ("published", "draft"), "published"),
        visibility=f.choice("visibility", ("public", "partners"), "public"),
        translation_key=translation_key, canonical_url=f.url("canonical_url"),
        body_images=tuple(f.images), lines=dict(doc.lines),
    )
    return item, f.problems


def read_profile(path: str, raw: bytes, site: Site) -> Profile | list[Problem]:
    """The profile, or the file's problems."""
    profile, problems = parse_profile(path, raw, site)
    return problems or profile


def parse_profile(path: str, raw: bytes, site: Site) -> tuple[Profile | None, list[Problem]]:
    """Like :func:`parse_news`, for a profile."""
    try:
        doc = split_document(raw)
    except FrontMatterError as exc:
        return None, [Problem(path, exc.line, exc.field, exc.message)]
    f = _Fields(path, doc)
    f.unknown(PROFILE_FIELDS)
    slug = f.text("slug") or _stem(path)
    _check_slug(f, slug, "slug" if "slug" in doc.meta else "slug (from the file name)")
    name = f.localized("name", site, required=True)
    descriptions, where = _profile_descriptions(f, doc, site)
    rendered: dict[str, tuple[str, str]] = {}
    by_source: dict[tuple[str, str], tuple[str, str]] = {}   # a body shared by every language: once
    for lang, md in descriptions.items():
        key = (md, where(lang))
        if key not in by_source:
            by_source[key] = f.markdown(md, site, key[1])
        rendered[lang] = by_source[key]
    summary = f.localized("summary", site) or {
        lang: derive_summary(first) for lang, (_, first) in rendered.items() if first
    }
    profile = Profile(
        source=path, slug=slug, name=name,
        kind=f.choice("kind", PROFILE_KINDS, "network") if "kind" in doc.meta else _missing(f, "kind"),
        summary=summary, description_html={lang: html for lang, (html, _) in rendered.items()},
        topics=f.text_list("topics"), website=f.url("website"), city=f.text("city"),
        logo=f.image("logo"), body_images=tuple(f.images), lines=dict(doc.lines),
    )
    return profile, f.problems


def _check_slug(f: _Fields, slug: str, where: str) -> None:
    if len(slug) > MAX_SLUG:
        f.problem(where, f"{excerpt(slug)} is {len(slug)} characters long; at most {MAX_SLUG}")
    elif not SLUG_RE.fullmatch(slug):
        f.problem(where, f"{excerpt(slug)} is not a valid slug: use a-z, 0-9 and '-'")


def _profile_descriptions(f: _Fields, doc: Document, site: Site) -> tuple[dict[str, str], Callable]:
    """The Markdown description per language, and where each is written (for problems)."""
    in_meta = f.localized("description", site)
    if in_meta and doc.body.strip():
        f.problem("description", "given both in the front matter and as the body: keep one")
    if in_meta:
        return in_meta, lambda lang: f"description.{lang}"
    return (dict.fromkeys(site.languages, doc.body) if doc.body.strip() else {}), lambda lang: "body"


def _missing(f: _Fields, name: str) -> str:
    f.problem(name, "missing")
    return ""


def _is_local_path(src: str) -> bool:
    p = PurePosixPath(src)
    return not p.is_absolute() and ".." not in p.parts and ":" not in src and bool(p.name)


_EPOCH = datetime(1970, 1, 1).astimezone()
