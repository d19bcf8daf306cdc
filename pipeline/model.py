"""The content model: frozen records the readers produce and the renderers consume."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

__all__ = ["Image", "NewsItem", "Problem", "Profile", "excerpt", "printable"]

# Characters that would let content forge or hide lines on a terminal or in a CI log: C0
# and C1 controls (newlines, ESC sequences), DEL, line and paragraph separators, and the
# bidirectional overrides.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` with every character that could forge a line shown as an escape (``\\n``)."""
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def excerpt(value: object, limit: int = 60, quote: bool = True) -> str:
    """``value`` quoted for a message, cut short: content is untrusted, and a problem line
    must never carry a megabyte of it."""
    if isinstance(value, list | tuple):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return f"a mapping of {len(value)} fields"
    text = value if isinstance(value, str) else str(value)
    text = text if len(text) <= limit else text[:limit] + "…"
    return repr(text) if quote else text


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one file, printed as ``path:line: field: message``."""

    path: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return printable(f"{self.path}:{self.line}: {self.field}: {self.message}")


@dataclass(frozen=True)
class Image:
    src: str                      # as written in the front matter
    alt: str
    url: str = ""                 # absolute URL, set when media is resolved
    output_path: str | None = None  # "media/<hash>-<name>" for a local file
    media_type: str | None = None
    length: int | None = None     # bytes, when known


@dataclass(frozen=True)
class NewsItem:
    source: str                   # path relative to the content folder
    slug: str
    id: str
    url: str                      # the item's page (permalink)
    title: str
    date: datetime                # aware, in the site's time zone
    lang: str
    summary: str
    body_html: str
    topics: tuple[str, ...]
    organizations: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    updated: datetime | None = None
    image: Image | None = None
    status: str = "published"
    visibility: str = "public"
    translation_key: str | None = None
    canonical_url: str | None = None
    body_images: tuple[tuple[str, int], ...] = ()   # local images of the body: (src as written, line)
    body_media: tuple[tuple[str, str], ...] = ()    # set when media are resolved: (src, output path)
    lines: dict[str, int] = field(default_factory=dict, compare=False, hash=False)

    @property
    def modified(self) -> datetime:
        """When the item last changed significantly: ``updated``, else ``date``."""
        return self.updated or self.date

    @cached_property
    def modified_iso(self) -> str:
        """``modified`` in ISO 8601, as the journal stores it and pages show it: written
        once per record (an aware datetime's isoformat is over a microsecond, and a
        10,000-item build asked for it 30,000 times)."""
        return self.modified.isoformat()

    @property
    def is_partner_only(self) -> bool:
        return self.visibility == "partners"

    def line_of(self, name: str) -> int:
        return self.lines.get(name, 1)


@dataclass(frozen=True)
class Profile:
    source: str
    slug: str
    name: dict[str, str]
    kind: str
    summary: dict[str, str]
    description_html: dict[str, str]
    topics: tuple[str, ...] = ()
    website: str | None = None
    city: str | None = None
    logo: Image | None = None
    body_images: tuple[tuple[str, int], ...] = ()
    body_media: tuple[tuple[str, str], ...] = ()
    lines: dict[str, int] = field(default_factory=dict, compare=False, hash=False)

    def line_of(self, name: str) -> int:
        return self.lines.get(name, 1)
