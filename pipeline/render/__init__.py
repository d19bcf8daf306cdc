"""Renderers: pure functions from a catalog to output files.

Each renderer module exposes ``render(catalog) -> Output``. An :class:`Output` is a
``{relative path: bytes}`` mapping plus, for files readers and partners subscribe to,
a :class:`Listing` that becomes the file's entry in the manifest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["Listing", "Output", "OutputConflict", "dump_json"]


class OutputConflict(Exception):
    """Two renderers tried to produce the same path."""


@dataclass(frozen=True)
class Listing:
    kind: str                 # feed, partner, profiles, topics, changes, opml, digest-archive, schema
    media_type: str
    title: str
    language: str | None = None
    items: int | None = None
    updated: datetime | None = None


@dataclass
class Output:
    files: dict[str, bytes] = field(default_factory=dict)
    listings: dict[str, Listing] = field(default_factory=dict)

    def add(self, path: str, data: bytes, listing: Listing | None = None) -> None:
        if path in self.files:
            raise OutputConflict(f"{path} is produced twice")
        self.files[path] = data
        if listing is not None:
            self.listings[path] = listing

    def merge(self, other: Output) -> Output:
        for path, data in other.files.items():
            self.add(path, data, other.listings.get(path))
        return self


def dump_json(document: dict) -> bytes:
    """Stable, readable JSON: the same document always gives the same bytes."""
    return (json.dumps(document, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
