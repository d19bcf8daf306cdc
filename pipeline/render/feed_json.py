"""JSON Feed 1.1 documents, written from the same :class:`Entry` model as Atom and RSS
(feedgen has no JSON writer). Spec: https://www.jsonfeed.org/version/1.1/"""

from __future__ import annotations

from typing import Any

from . import pretty_json
from .feed_model import Entry, FeedDoc, iso_date

__all__ = ["JsonWriter", "item_bytes", "json_item", "split_items"]

VERSION = "https://jsonfeed.org/version/1.1"


class JsonWriter:
    """Writes :class:`FeedDoc` as JSON Feed. Keep one per build: it caches items."""

    def __init__(self, icon: str | None = None):
        self.icon = icon
        self._items: dict[str, bytes] = {}

    def write(self, doc: FeedDoc) -> bytes:
        """The document as :func:`~pipeline.render.dump_json` writes it."""
        return b"".join(self.write_parts(doc))

    def write_parts(self, doc: FeedDoc) -> list[bytes]:
        """:meth:`write` in parts, with each item serialized and encoded once per build
        (indented JSON has no C encoder: it is slow; and a document is mostly its items'
        bytes, which are not encoded again)."""
        return self.assemble(doc, [self._item_bytes(entry) for entry in doc.entries])

    def assemble(self, doc: FeedDoc, items: list[bytes]) -> list[bytes]:
        """The document's parts with these items (:func:`item_bytes`), not ``doc.entries``'."""
        head = pretty_json(self.document(doc, items=False))
        if not items:
            return [(head + "\n").encode("utf-8")]
        parts = [head[:-4].encode("utf-8") + b"[\n"]   # the head ends with '"items": []\n}'
        for item in items:
            parts += (item, b",\n")
        parts[-1] = _ITEMS_END
        return parts

    def document(self, doc: FeedDoc, items: bool = True) -> dict[str, Any]:
        """The feed as a dict (``items=False``: with an empty item list)."""
        feed: dict[str, Any] = {
            "version": VERSION,
            "title": doc.title,
            "home_page_url": doc.page_url,
            "feed_url": doc.self_urls["json"],
            "description": doc.description,
        }
        if doc.prev_archive:        # JSON Feed pages run from newest to oldest
            feed["next_url"] = doc.prev_archive["json"]
        if self.icon:
            feed["icon"] = feed["favicon"] = self.icon
        feed["authors"] = [{"name": doc.publisher, "url": doc.home_url}]
        feed["language"] = doc.lang
        if doc.hubs:
            feed["hubs"] = [{"type": "WebSub", "url": hub} for hub in doc.hubs]
        feed["items"] = [json_item(entry) for entry in doc.entries] if items else []
        return feed

    def _item_bytes(self, entry: Entry) -> bytes:
        data = self._items.get(entry.id)
        if data is None:
            data = self._items[entry.id] = item_bytes(entry)
        return data


_ITEMS_START, _ITEMS_END, _BETWEEN = b'"items": [\n', b"\n  ]\n}\n", b"\n    },\n    {\n"


def item_bytes(entry: Entry) -> bytes:
    """The item's JSON at the depth of the ``items`` list."""
    return ("    " + pretty_json(json_item(entry), "    ")).encode("utf-8")


def split_items(document: bytes) -> list[bytes] | None:
    """The items of a document this module wrote, as :func:`item_bytes` gave them: the
    inverse of :meth:`JsonWriter.assemble`. Strings hold no newlines and an item's own
    objects are indented deeper, so the line between two items occurs nowhere else. None
    if the document is not shaped so."""
    start, end = document.find(_ITEMS_START), document.rfind(_ITEMS_END)
    if start < 0 or end < start:
        return None
    chunks = document[start + len(_ITEMS_START):end].split(_BETWEEN)
    last = len(chunks) - 1
    return [(b"    {\n" if n else b"") + chunk + (b"\n    }" if n < last else b"")
            for n, chunk in enumerate(chunks)]


def json_item(entry: Entry) -> dict[str, Any]:
    """One JSON Feed item: the one writer of items, for feeds and partner files alike."""
    item: dict[str, Any] = {"id": entry.id, "url": entry.url}
    via = next((link.href for link in entry.links if link.rel == "via"), None)
    if via:
        item["external_url"] = via
    item["title"] = entry.title
    item["content_html"] = entry.content_html
    item["summary"] = entry.summary
    if entry.image_url:
        item["image"] = entry.image_url
    item["date_published"] = iso_date(entry.published)
    item["date_modified"] = iso_date(entry.updated)
    if entry.authors:
        item["authors"] = [{"name": name} for name in entry.authors]
    if entry.categories:
        item["tags"] = [category.label for category in entry.categories]
    item["language"] = entry.lang
    return item
