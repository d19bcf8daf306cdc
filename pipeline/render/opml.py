"""``feeds.opml``: every feed as one OPML 2.0 subscription list, grouped by language and
kind, so a reader can subscribe to all of them at once.

Each logical feed is listed once, as Atom (the richest of the three formats): listing
RSS and JSON too would subscribe a reader to every item three times.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime

from babel import Locale
from lxml import etree

from .feed_model import escape_if_markup

__all__ = ["OPML_MEDIA_TYPE", "Outline", "render_opml"]

OPML_MEDIA_TYPE = "text/x-opml"
# group headings; a site's languages are among config.KNOWN_LANGUAGES
_GROUPS = {
    "en": {"topic": "Topics", "organization": "Organizations", "all": "All languages"},
    "fi": {"topic": "Aiheet", "organization": "Organisaatiot", "all": "Kaikki kielet"},
    "sv": {"topic": "Ämnen", "organization": "Organisationer", "all": "Alla språk"},
}


@dataclass(frozen=True)
class Outline:
    """One feed in the list."""

    kind: str            # all, index, topic, organization
    lang: str | None     # None: the all-languages feed
    title: str
    xml_url: str
    html_url: str


def render_opml(title: str, default_lang: str, languages: tuple[str, ...],
                feeds: list[Outline], updated: datetime) -> bytes:
    """The OPML document: the all-languages feeds first, then one group per language with
    its index feed and a sub-group each for topics and organizations."""
    opml = etree.Element("opml", version="2.0")
    head = etree.SubElement(opml, "head")
    etree.SubElement(head, "title").text = _text(title)
    etree.SubElement(head, "dateModified").text = format_datetime(updated)
    etree.SubElement(head, "docs").text = "http://opml.org/spec2.opml"
    body = etree.SubElement(opml, "body")
    top = [f for f in feeds if f.lang is None]
    if top:
        _group(body, _label(default_lang, "all"), top)
    for lang in languages:
        own = [f for f in feeds if f.lang == lang]
        group = _group(body, _language_name(lang), [f for f in own if f.kind == "index"])
        for kind in ("topic", "organization"):
            members = [f for f in own if f.kind == kind]
            if members:
                _group(group, _label(lang, kind), members)
    return etree.tostring(opml, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _group(parent: etree._Element, text: str, feeds: list[Outline]) -> etree._Element:
    group = etree.SubElement(parent, "outline", text=_text(text))
    for feed in feeds:
        attrs = {"type": "rss", "text": _text(feed.title), "title": _text(feed.title),
                 "xmlUrl": feed.xml_url, "htmlUrl": feed.html_url}
        if feed.lang:
            attrs["language"] = feed.lang
        etree.SubElement(group, "outline", attrs)
    return group


def _text(text: str) -> str:
    """OPML text attributes may hold HTML: escape text that would be taken for it."""
    return escape_if_markup(text)[0]


def _label(lang: str, kind: str) -> str:
    return _GROUPS.get(lang, _GROUPS["en"])[kind]


def _language_name(lang: str) -> str:
    """The language's name in itself: "English", "Suomi"."""
    try:
        name = Locale.parse(lang).get_display_name(lang) or lang
    except (ValueError, LookupError):
        name = lang
    return name[:1].upper() + name[1:]
