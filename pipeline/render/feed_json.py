"""JSON Feed 1.1 documents, written from the same :class:`Entry` model as Atom and RSS
(feedgen has no JSON writer). Spec: https://www.jsonfeed.org/version/1.1/"""

from __future__ import annotations

from typing import Any

from . import dump_json
from .feed_model import Entry, FeedDoc, iso_date

__all__ = ["JsonWriter"]

VERSION = "https://jsonfeed.org/version/1.1"


class JsonWriter:
    """Writes :class:`FeedDoc` as JSON Feed. Keep one per build: it caches items."""

    def __init__(self, icon: str | None = None):
        self.icon = icon
        self._items: dict[str, dict[str, Any]] = {}

    def write(self, doc: FeedDoc) -> bytes:
        return dump_json(self.document(doc))

    def document(self, doc: FeedDoc) -> dict[str, Any]:
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
        feed["items"] = [self._item(entry) for entry in doc.entries]
        return feed

    def _item(self, entry: Entry) -> dict[str, Any]:
        item = self._items.get(entry.id)
        if item is None:
            item = self._items[entry.id] = _item(entry)
        return item


def _item(entry: Entry) -> dict[str, Any]:
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
