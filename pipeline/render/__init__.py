"""Renderers: pure functions from a catalog to output files.

Each renderer module exposes ``render(catalog, ...)``, writing into a :class:`Sink`: an
in-memory :class:`Output` (``{relative path: bytes}``, what tests look at), or the
publisher, which streams files to disk. Files readers and partners subscribe to carry
a :class:`Listing` that becomes the file's entry in the manifest.

Renderers of big sets of files (pages, feeds) give each file a *key*: a digest of
everything the file's bytes depend on. A sink that knows the key of the file already
published (the publisher does) answers ``wants() == False`` and the file is neither
rendered nor written: that is what makes a rebuild after one edit fast.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, TypeAlias

__all__ = ["Data", "FeedLink", "Listing", "Output", "OutputConflict", "Share", "Sink", "dump_json", "emit",
           "joined", "pretty_json"]

# A file's bytes, or its parts in order: a feed document is its entries' bytes (serialized once
# per build) between a head and a tail, written as they are rather than copied into one object.
Data: TypeAlias = bytes | list[bytes]


def joined(data: Data) -> bytes:
    return data if isinstance(data, bytes) else b"".join(data)


class OutputConflict(Exception):
    """Two renderers tried to produce the same path."""


@dataclass(frozen=True, slots=True)
class FeedLink:
    """A feed a page or an email links to: ``feed.href`` (or ``feed["href"]``), ``.type``,
    ``.title`` in templates. An object rather than a dict: Jinja reads an attribute first,
    and a dict's missing attribute cost every item page some 25 exceptions (7 % of it)."""

    href: str
    type: str
    title: str


@dataclass(frozen=True)
class Listing:
    kind: str   # feed, partner, profiles, topics, changes, opml, digest-archive, schema, sitemap
    media_type: str
    title: str
    language: str | None = None
    items: int | None = None
    updated: datetime | None = None


@dataclass(frozen=True)
class Share:
    """The part of a build one of two processes renders: the files of the older half of
    the items (``older``), or those of the newer half plus every site-wide file."""

    older: bool
    cut: int        # items with an oldest-first position below this are the older half

    def owns(self, position: int | None) -> bool:
        """Is a file this process's? ``position``: the oldest-first position of the newest
        item the file shows; None for a site-wide file (front page, OPML, ...)."""
        if position is None:
            return not self.older
        return (position < self.cut) == self.older


class Sink(Protocol):
    def wants(self, path: str, key: str | None) -> bool:
        """Must the file be rendered? False when a file with this key is already published."""

    def add(self, path: str, data: Data, listing: Listing | None = None, key: str | None = None) -> None:
        """A rendered file."""

    def keep(self, path: str, key: str, listing: Listing | None = None) -> None:
        """A file not rendered because ``wants`` said so: it stays as published."""

    def published(self, path: str, key: str) -> bytes | None:
        """The bytes of the published file ``path`` if it was published with ``key`` (a
        renderer may reuse parts of it), else None. As for :meth:`keep`, a published file
        of the recorded key and size is taken to be the one published."""


def emit(sink: Sink, path: str, key: str | None, make: Callable[[], bytes],
         listing: Listing | None = None) -> None:
    """Render ``path`` with ``make`` only if the sink wants it."""
    if sink.wants(path, key):
        sink.add(path, make(), listing, key)
    else:
        sink.keep(path, key, listing)   # type: ignore[arg-type]  # wants() is True for key None


@dataclass
class Output:
    """An in-memory sink: every file rendered, kept as bytes."""

    files: dict[str, bytes] = field(default_factory=dict)
    listings: dict[str, Listing] = field(default_factory=dict)

    def wants(self, path: str, key: str | None) -> bool:
        return True

    def add(self, path: str, data: Data, listing: Listing | None = None, key: str | None = None) -> None:
        if path in self.files:
            raise OutputConflict(f"{path} is produced twice")
        self.files[path] = joined(data)
        if listing is not None:
            self.listings[path] = listing

    def keep(self, path: str, key: str, listing: Listing | None = None) -> None:
        raise AssertionError("an Output wants every file")

    def published(self, path: str, key: str) -> bytes | None:
        return None   # nothing was published before

    def merge(self, other: Output) -> Output:
        other.send_to(self)
        return self

    def send_to(self, sink: Sink) -> None:
        for path, data in self.files.items():
            sink.add(path, data, self.listings.get(path))


def dump_json(document: dict) -> bytes:
    """Stable, readable JSON: the same document always gives the same bytes."""
    return (pretty_json(document) + "\n").encode("utf-8")


_encode_scalar = json.JSONEncoder(ensure_ascii=False).encode


def pretty_json(value: object, indent: str = "") -> str:
    """Exactly ``json.dumps(value, ensure_ascii=False, indent=2)`` (the first line not
    indented, the others by ``indent``), several times faster: with ``indent`` set the
    json module cannot use its C encoder, and a 10,000-item change log or feed archive
    is mostly strings."""
    if isinstance(value, dict):
        if not value:
            return "{}"
        inner = indent + "  "
        # a string is most values: encoded here, without a call of this function each
        fields = [f"{inner}{_encode_scalar(str(key))}: "
                  f"{_encode_scalar(item) if type(item) is str else pretty_json(item, inner)}"
                  for key, item in value.items()]
        return "{\n" + ",\n".join(fields) + "\n" + indent + "}"
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        inner = indent + "  "
        items = [inner + (_encode_scalar(item) if type(item) is str else pretty_json(item, inner))
                 for item in value]
        return "[\n" + ",\n".join(items) + "\n" + indent + "]"
    return _encode_scalar(value)
