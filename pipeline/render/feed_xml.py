"""Atom 1.0 and RSS 2.0 documents with feedgen, and the fixes feedgen 1.0.0 needs.

feedgen builds the documents; extensions (its hook for format fixes) repair what it gets
wrong or cannot express:

- Atom entry links: feedgen 1.0.0 drops ``rel``/``type``/``hreflang`` from them (its
  issue #135); the Atom entry extension writes them again from the entry's own data.
- RSS keeps only the ``atom:link rel="self"``: hub and RFC 5005 links and
  ``fh:archive`` are added by the feed extensions (the Atom ones too, for symmetry).
- RSS drops authors without an email: they become ``dc:creator``.
- Plain text that looks like markup is escaped (RSS title, Atom ``type="html"``) so it
  shows as written; RSS text writes ``&``, ``<`` and ``>`` as hexadecimal character
  references, as the W3C validator's RSS profile checks ask.

Each item's entry is serialized once per build and every feed document that lists it
gets those bytes, so per-item work is not repeated per feed. The entries are written by
:func:`atom_fragment` and :func:`rss_fragment`, plain string formatting that is several
times faster than building them with feedgen and lxml (a 10,000-item site has 20,000 of
them) and that is tested byte for byte against the feedgen way, which
:meth:`XmlWriter.write_unspliced` keeps.
"""

from __future__ import annotations

import functools
import html
from dataclasses import replace
from datetime import UTC, datetime

from feedgen.entry import FeedEntry
from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from .. import __version__
from ..urls import FEED_FORMATS
from .feed_model import Category, Entry, FeedDoc, Link, escape_if_markup, iso_date, rfc2822

__all__ = ["XmlWriter", "atom_fragment", "atom_id", "rss_fragment", "split_entries"]

ATOM_NS = "http://www.w3.org/2005/Atom"
DC_NS = "http://purl.org/dc/elements/1.1/"
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
FH_NS = "http://purl.org/syndication/history/1.0"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
GENERATOR = "newsroom"
RSS_IMAGE_EXTENSIONS = ("jpg", "jpeg", "gif", "png")   # what RSS <image> allows


class XmlWriter:
    """Writes :class:`FeedDoc` as Atom and RSS. Keep one per build: it caches entries."""

    def __init__(self, icon: str | None = None, logo: str | None = None):
        self.icon, self.logo = icon, logo
        self._entries: dict[str, tuple[bytes, bytes]] = {}
        self._heads: dict[tuple, _Heads | None] = {}

    def write(self, doc: FeedDoc) -> dict[str, bytes]:
        """``{"atom": bytes, "rss": bytes}`` for one document. Byte-identical to
        :meth:`write_unspliced`."""
        return {fmt: b"".join(parts) for fmt, parts in self.write_parts(doc).items()}

    def write_parts(self, doc: FeedDoc) -> dict[str, list[bytes]]:
        """:meth:`write`, each document as its parts: feedgen writes the feed without
        entries, and each entry's XML, serialized once per build, goes in before the
        closing tag."""
        return self.assemble(doc, [self._fragments(e) for e in doc.entries])

    def assemble(self, doc: FeedDoc, fragments: list[tuple[bytes, bytes]]) -> dict[str, list[bytes]]:
        """The document's parts with these entries' (Atom, RSS) fragments, not
        ``doc.entries``' (:func:`atom_fragment`, :func:`rss_fragment`)."""
        atom, rss = self._head(doc)
        return {"atom": _splice(atom, b"</feed>", [atom for atom, _ in fragments]),
                "rss": _splice(rss, b"  </channel>", [rss for _, rss in fragments])}

    def _head(self, doc: FeedDoc) -> tuple[bytes, bytes]:
        """The Atom and RSS documents without entries. The documents of one feed differ
        only in their own URLs, their neighbours' and ``updated``: feedgen writes each
        shape of a feed once, with stand-ins for those, which are then replaced."""
        shape = (doc.title, doc.description, doc.lang, doc.page_url, doc.page_lang, doc.publisher,
                 doc.home_url, doc.feed_id, doc.hubs,
                 *(urls is not None for urls in (doc.prev_archive, doc.next_archive, doc.current)))
        if shape not in self._heads:
            self._heads[shape] = _Heads.written(self._generator, doc)
        heads = self._heads[shape]
        if heads is None:   # a stand-in would be ambiguous (a title that holds one)
            fg = self._generator(doc)
            return fg.atom_str(pretty=True), _hex_references(fg.rss_str(pretty=True))
        return heads.fill(doc)

    def write_unspliced(self, doc: FeedDoc) -> dict[str, bytes]:
        """The same documents the plain feedgen way: the reference :meth:`write` is
        tested against."""
        fg = self._generator(doc)
        fg.entry([_FeedgenEntry(e) for e in doc.entries])
        return {"atom": fg.atom_str(pretty=True),
                "rss": _hex_references(fg.rss_str(pretty=True))}

    def _generator(self, doc: FeedDoc) -> FeedGenerator:
        fg = FeedGenerator()
        fg.register_extension("newsroom_atom", _AtomFeed, _AtomEntry, atom=True, rss=False)
        fg.register_extension("newsroom_rss", _RssFeed, _RssEntry, atom=False, rss=True)
        fg.newsroom_atom.doc = fg.newsroom_rss.doc = doc
        fg.id(doc.feed_id)
        fg.title(doc.title)
        fg.description(doc.description)
        fg.subtitle(doc.description)
        fg.author({"name": doc.publisher, "uri": doc.home_url})
        fg.updated(doc.updated)           # sets lastBuildDate too: never the clock
        fg.generator(GENERATOR, version=__version__)
        fg.language(doc.lang)
        if self.icon:
            fg.icon(self.icon)
        if self.logo:
            fg.logo(self.logo)
        # the RSS self link is corrected by _RssFeed; RSS <link> is feedgen's last link
        fg.link(href=doc.self_urls["atom"], rel="self", type=FEED_FORMATS["atom"])
        fg.link(href=doc.page_url, rel="alternate", type="text/html", hreflang=doc.page_lang)
        return fg

    def _fragments(self, entry: Entry) -> tuple[bytes, bytes]:
        cached = self._entries.get(entry.id)
        if cached is None:
            cached = self._entries[entry.id] = (atom_fragment(entry), rss_fragment(entry))
        return cached


_STAND_IN_UPDATED = datetime(1901, 2, 3, 4, 5, 6, tzinfo=UTC)
_STAND_IN_ISO = iso_date(_STAND_IN_UPDATED).encode()
_STAND_IN_RFC2822 = rfc2822(_STAND_IN_UPDATED).encode()
_STAND_IN_URL = "https://stand-in.invalid/{}/{}"   # role, format


class _Heads:
    """A feed's Atom and RSS documents without entries, written by feedgen once with
    stand-ins for what differs from one of its documents to the next."""

    def __init__(self, atom: bytes, rss: bytes):
        self.atom, self.rss = atom, rss

    @classmethod
    def written(cls, generator, doc: FeedDoc) -> _Heads | None:
        """None if a stand-in does not occur exactly where it should (say, in a title)."""
        stand_in = replace(doc, updated=_STAND_IN_UPDATED, entries=(), **{
            field: None if urls is None else {fmt: _STAND_IN_URL.format(role, fmt) for fmt in urls}
            for field, role, urls in _linked(doc)})
        fg = generator(stand_in)
        heads = cls(fg.atom_str(pretty=True), fg.rss_str(pretty=True))
        present = [role for _, role, urls in _linked(doc) if urls is not None]
        any_url = _STAND_IN_URL.format("", "").removesuffix("//").encode()
        expected = [(heads.atom, _STAND_IN_ISO, 1), (heads.rss, _STAND_IN_RFC2822, 1),
                    (heads.atom, any_url, len(present)), (heads.rss, any_url, len(present))]
        for role in present:
            for fmt, data in (("atom", heads.atom), ("rss", heads.rss)):
                expected.append((data, _STAND_IN_URL.format(role, fmt).encode(), 1))
        if all(data.count(text) == count for data, text, count in expected):
            return heads
        return None

    def fill(self, doc: FeedDoc) -> tuple[bytes, bytes]:
        atom = self.atom.replace(_STAND_IN_ISO, iso_date(doc.updated).encode())
        rss = self.rss.replace(_STAND_IN_RFC2822, rfc2822(doc.updated).encode())
        attr = _ATOM.attr
        for _, role, urls in _linked(doc):
            if urls is not None:
                atom = atom.replace(_STAND_IN_URL.format(role, "atom").encode(), attr(urls["atom"]).encode())
                rss = rss.replace(_STAND_IN_URL.format(role, "rss").encode(), attr(urls["rss"]).encode())
        return atom, _hex_references(rss)


def _linked(doc: FeedDoc) -> list[tuple[str, str, dict[str, str] | None]]:
    """``(field, role, urls)`` of the document's own URLs and its neighbours'."""
    return [("self_urls", "self", doc.self_urls), ("prev_archive", "prev", doc.prev_archive),
            ("next_archive", "next", doc.next_archive), ("current", "current", doc.current)]


class _FeedgenEntry(FeedEntry):
    """The entry as feedgen builds it: the reference the fast fragments are tested against."""

    def __init__(self, entry: Entry):
        super().__init__()
        self.register_extension("newsroom_atom", _AtomEntry, atom=True, rss=False)
        self.register_extension("newsroom_rss", _RssEntry, atom=False, rss=True)
        self.newsroom_atom.entry = self.newsroom_rss.entry = entry
        self.guid(entry.id, permalink=entry.permalink_id)
        self.title(entry.title)
        self.summary(entry.summary)
        self.content(entry.content_html, type="html")
        self.published(entry.published)
        self.updated(entry.updated)
        for name in entry.authors:
            self.author({"name": name})
        for cat in entry.categories:
            self.category(term=cat.term, scheme=cat.scheme, label=cat.label)
        # feedgen's RSS <link> is the last alternate link: give it the item page last
        for link in (*entry.links[1:], entry.links[0]):
            self.link(_link_attrs(link))

    def fragment(self, fmt: str) -> bytes:
        """The entry as it is printed inside a pretty-printed document."""
        return _atom_fragment(self.atom_entry()) if fmt == "atom" else _rss_fragment(self.rss_entry())


# -- entries, fast ------------------------------------------------------------------
# What lxml writes: text escapes & < > and CR; attribute values also " and TAB, LF.


class _Markup:
    """Elements and attributes written as lxml writes them; ``hex_refs``: with ``&#x26;``,
    ``&#x3C;``, ``&#x3E;`` for ``&``, ``<``, ``>`` as :func:`_hex_references` would turn them
    (escaping once that way is cheaper than a second pass over a whole entry)."""

    def __init__(self, hex_refs: bool):
        self.amp, self.lt, self.gt = ("&#x26;", "&#x3C;", "&#x3E;") if hex_refs else ("&amp;", "&lt;", "&gt;")

    def esc(self, text: str) -> str:
        return text.replace("&", self.amp).replace("<", self.lt).replace(">", self.gt).replace("\r", "&#13;")

    def attr(self, text: str) -> str:
        return self.esc(text).replace('"', "&quot;").replace("\t", "&#9;").replace("\n", "&#10;")

    def tag(self, name: str, attributes: dict[str, str]) -> str:
        return f"<{name}" + "".join(f' {key}="{self.attr(value)}"' for key, value in attributes.items())

    def element(self, indent: str, name: str, text: str, attributes: dict[str, str] | None = None) -> str:
        head = self.tag(name, attributes) if attributes else f"<{name}"
        return f"{indent}{head}>{self.esc(text)}</{name}>\n" if text else f"{indent}{head}></{name}>\n"


_ATOM, _RSS = _Markup(hex_refs=False), _Markup(hex_refs=True)


def atom_fragment(entry: Entry) -> bytes:
    """The Atom ``<entry>`` exactly as feedgen, :class:`_AtomEntry` and lxml's pretty
    printer write it inside ``<feed>``."""
    title, title_html = escape_if_markup(entry.title)
    summary, summary_html = escape_if_markup(entry.summary)
    parts = [f'  <entry xml:lang="{_ATOM.attr(entry.lang)}">\n',
             _ATOM.element("    ", "id", entry.id),
             _ATOM.element("    ", "title", title, {"type": "html"} if title_html else None),
             _ATOM.element("    ", "updated", iso_date(entry.updated))]
    parts += [f"    <author>\n{_ATOM.element('      ', 'name', name)}    </author>\n"
              for name in entry.authors if name]
    parts.append(_ATOM.element("    ", "content", entry.content_html, {"type": "html"}))
    parts += ["    " + _ATOM.tag("link", _link_attrs(link, False)) + "/>\n" for link in entry.links]
    parts.append(_ATOM.element("    ", "summary", summary, {"type": "html"} if summary_html else None))
    parts += [_atom_category(category) for category in entry.categories]
    parts.append(_ATOM.element("    ", "published", entry.published.isoformat()))
    parts.append("  </entry>\n")
    return "".join(parts).encode("utf-8")


def rss_fragment(entry: Entry) -> bytes:
    """The RSS ``<item>`` exactly as feedgen, :class:`_RssEntry` and lxml write it inside
    ``<channel>``, with RSS's hexadecimal references."""
    element, tag = _RSS.element, _RSS.tag
    parts = ["    <item>\n",
             element("      ", "title", escape_if_markup(entry.title)[0]),
             element("      ", "link", entry.links[0].href),
             element("      ", "description", html.escape(entry.summary, quote=False)),
             element("      ", "content:encoded", entry.content_html),
             element("      ", "guid", entry.id, {"isPermaLink": "true" if entry.permalink_id else "false"})]
    parts += [_rss_category(category) for category in entry.categories]
    enclosures = [link for link in entry.links if link.rel == "enclosure"]
    if enclosures:
        attributes = _link_attrs(enclosures[-1])
        parts.append("      " + tag("enclosure", {"url": attributes["href"], "length": attributes["length"],
                                              "type": attributes.get("type", "")}) + "/>\n")
    parts.append(element("      ", "pubDate", rfc2822(entry.published)))
    parts += [element("      ", "dc:creator", escape_if_markup(name)[0]) for name in entry.authors]
    parts.append(element("      ", "dc:language", entry.lang))
    parts += ["      " + tag("atom:link", _link_attrs(link, False)) + "/>\n"
              for link in entry.links[1:] if link.rel != "enclosure"]
    parts.append(element("      ", "atom:updated", iso_date(entry.updated)))
    parts.append("    </item>\n")
    return "".join(parts).encode("utf-8")


# A site's categories are its topics and organizations in each language: a few hundred
# lines at most, written for every entry that has them.
@functools.lru_cache(maxsize=1024)
def _atom_category(category: Category) -> str:
    attributes = {"term": category.term}
    if category.scheme:
        attributes["scheme"] = category.scheme
    if category.label:
        attributes["label"] = category.label
    return "    " + _ATOM.tag("category", attributes) + "/>\n"


@functools.lru_cache(maxsize=1024)
def _rss_category(category: Category) -> str:
    return _RSS.element("      ", "category", escape_if_markup(category.label or category.term)[0],
                        {"domain": category.scheme} if category.scheme else None)


def _atom_fragment(entry: etree._Element) -> bytes:
    # Atom entries are unqualified elements under feedgen's default-namespace root
    root = etree.Element("feed")
    root.append(entry)
    data = etree.tostring(root, pretty_print=True, encoding="UTF-8", xml_declaration=False)
    return data.removeprefix(b"<feed>\n").removesuffix(b"</feed>\n")


def _rss_fragment(item: etree._Element) -> bytes:
    # the prefixes the document root declares, so the item carries no declarations
    root = etree.Element("rss", nsmap={"dc": DC_NS, "atom": ATOM_NS, "content": CONTENT_NS})
    etree.SubElement(root, "channel").append(item)
    data = etree.tostring(root, pretty_print=True, encoding="UTF-8", xml_declaration=False)
    start = data.index(b"<channel>\n") + len(b"<channel>\n")
    return _hex_references(data[start:data.rindex(b"  </channel>")])


def atom_id(entry_id: str) -> bytes:
    """An Atom fragment's ``<id>`` element, to tell whose fragment it is."""
    return f"<id>{_ATOM.esc(entry_id)}</id>".encode()


def split_entries(fmt: str, document: bytes) -> list[bytes] | None:
    """The entry fragments of an Atom or RSS document this module wrote, in order: the
    inverse of the splice. Entries are escaped text between fixed lines, so the closing
    line of one cannot occur inside it. None if the document is not shaped so."""
    opening, closing, end = ((b"\n  <entry ", b"  </entry>\n", b"</feed>") if fmt == "atom"
                             else (b"\n    <item>\n", b"    </item>\n", b"  </channel>"))
    start = document.find(opening)
    if start < 0:
        return None
    chunks = document[start + 1:document.rindex(end)].split(closing)
    if chunks[-1]:
        return None
    return [chunk + closing for chunk in chunks[:-1]]


def _splice(document: bytes, closing: bytes, fragments: list[bytes]) -> list[bytes]:
    at = document.rindex(closing)
    return [document[:at], *fragments, document[at:]]


def _link_attrs(link: Link, zero_length: bool = True) -> dict[str, str]:
    """A link's attributes; an unknown enclosure length is "0" for RSS (``zero_length``)
    and left out for Atom."""
    data = {"href": link.href, "rel": link.rel}
    if link.type:
        data["type"] = link.type
    if link.hreflang:
        data["hreflang"] = link.hreflang
    if link.length or (zero_length and link.rel == "enclosure"):
        data["length"] = str(link.length or 0)
    return data


# -- Atom -------------------------------------------------------------------------


class _AtomFeed(BaseExtension):
    doc: FeedDoc

    def extend_ns(self) -> dict[str, str]:
        return {"fh": FH_NS} if self.doc.is_archive else {}

    def extend_atom(self, feed: etree._Element) -> etree._Element:
        feed.find("updated").text = iso_date(self.doc.updated)     # not .001000
        for rel, href in self.doc.links("atom"):
            etree.SubElement(feed, "link", href=href, rel=rel)
        if self.doc.is_archive:
            etree.SubElement(feed, f"{{{FH_NS}}}archive")
        for name in ("title", "subtitle"):
            _atom_text(feed.find(name))
        return feed


class _AtomEntry(BaseEntryExtension):
    entry: Entry

    def extend_atom(self, element: etree._Element) -> etree._Element:
        element.set(XML_LANG, self.entry.lang)
        element.find("updated").text = iso_date(self.entry.updated)   # not .001000
        _relink(element, self.entry)
        _atom_text(element.find("title"))
        _atom_text(element.find("summary"))
        return element


def _relink(element: etree._Element, entry: Entry) -> None:
    """Replace the entry's links with complete ones: feedgen 1.0.0 writes only ``href``
    (issue #135), which would turn translations and the enclosure into alternates."""
    old = element.findall("link")
    position = element.index(old[0]) if old else len(element)
    for link in old:
        element.remove(link)
    for offset, link in enumerate(entry.links):
        element.insert(position + offset, etree.Element("link", _link_attrs(link, False)))


def _atom_text(element: etree._Element | None) -> None:
    """Atom text that looks like markup becomes ``type="html"``, escaped, so readers show
    it as written (and the validator does not flag undeclared HTML)."""
    if element is not None and element.text:
        element.text, escaped = escape_if_markup(element.text)
        if escaped:
            element.set("type", "html")


# -- RSS --------------------------------------------------------------------------


class _RssFeed(BaseExtension):
    doc: FeedDoc

    def extend_ns(self) -> dict[str, str]:
        namespaces = {"dc": DC_NS}
        if self.doc.is_archive:
            namespaces["fh"] = FH_NS
        return namespaces

    def extend_rss(self, rss: etree._Element) -> etree._Element:
        channel = rss.find("channel")
        self_link = channel.find(f"{{{ATOM_NS}}}link[@rel='self']")
        self_link.set("href", self.doc.self_urls["rss"])
        self_link.set("type", FEED_FORMATS["rss"])
        for rel, href in self.doc.links("rss"):
            etree.SubElement(channel, f"{{{ATOM_NS}}}link", href=href, rel=rel)
        if self.doc.is_archive:
            etree.SubElement(channel, f"{{{FH_NS}}}archive")
        channel.find("generator").text = f"{GENERATOR} {__version__}"
        for path in ("title", "description", "image/title"):
            _rss_text(channel.find(path))
        image = channel.find("image")
        if image is not None and not image.findtext("url", "").lower().endswith(
                RSS_IMAGE_EXTENSIONS):
            channel.remove(image)
        return rss


class _RssEntry(BaseEntryExtension):
    entry: Entry

    def extend_rss(self, item: etree._Element) -> etree._Element:
        entry = self.entry
        _rss_text(item.find("title"))
        # <description> is HTML in every reader: the plain summary, escaped
        item.find("description").text = html.escape(entry.summary, quote=False)
        for category in item.findall("category"):
            _rss_text(category)
        for name in entry.authors:
            _rss_text(_sub(item, DC_NS, "creator", name))
        _sub(item, DC_NS, "language", entry.lang)
        for link in entry.links[1:]:
            if link.rel != "enclosure":     # that is the RSS <enclosure>
                etree.SubElement(item, f"{{{ATOM_NS}}}link", _link_attrs(link, False))
        _sub(item, ATOM_NS, "updated", iso_date(entry.updated))
        return item


def _sub(parent: etree._Element, ns: str, name: str, text: str) -> etree._Element:
    element = etree.SubElement(parent, f"{{{ns}}}{name}")
    element.text = text
    return element


def _rss_text(element: etree._Element | None) -> None:
    if element is not None and element.text:
        element.text = escape_if_markup(element.text)[0]


def _hex_references(xml: bytes) -> bytes:
    """``&amp;``, ``&lt;``, ``&gt;`` as ``&#x26;``, ``&#x3C;``, ``&#x3E;``: the same XML,
    written the way the RSS Best Practices Profile (and the W3C validator) ask."""
    return xml.replace(b"&amp;", b"&#x26;").replace(b"&lt;", b"&#x3C;").replace(b"&gt;", b"&#x3E;")
