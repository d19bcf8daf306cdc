"""The W3C Feed Validation Service's rules, checked locally.

The service cannot be reached from tests, so these checks restate the rules its source
applies (messages named as it names them: SelfDoesntMatchLocation, DuplicateUpdated,
ContainsRelRef, CharacterData…) and run them on every document of a sample site (with
hubs, icon, logo and archives) and of the shipped content. They are a floor, not the
validator: feeds should still be checked with the service itself.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from html.entities import name2codepoint
from pathlib import Path

import pytest
from lxml import etree
from lxml import html as lxml_html

from pipeline.catalog import build_catalog
from pipeline.config import load_config
from pipeline.content import load_content
from pipeline.render import feeds

from .conftest import NOW, SITE_TOML, Site
from .test_feeds import render, write_many, write_sample

ROOT = Path(__file__).resolve().parent.parent
ATOM_NS = "http://www.w3.org/2005/Atom"
ATOM = f"{{{ATOM_NS}}}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
STANDARD_PREFIXES = {
    "http://purl.org/dc/elements/1.1/": "dc", ATOM_NS: "atom",
    "http://purl.org/rss/1.0/modules/content/": "content",
    "http://purl.org/syndication/history/1.0": "fh",
}
# validator link.py: registered relations; RFC 5005 ones may not appear in entries
REGISTERED_RELS = {"alternate", "current", "describedby", "edit", "edit-media", "enclosure",
                   "first", "hub", "last", "license", "next", "next-archive", "payment",
                   "prev-archive", "previous", "related", "replies", "search", "self",
                   "service", "up", "via"}
RFC5005_RELS = {"current", "first", "last", "next", "next-archive", "prev-archive", "previous"}
# validator validators.py: the date and media type patterns it applies
RFC2822 = re.compile(r"^((Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?\d\d? (Jan|Feb|Mar|Apr|May|Jun|Jul|"
                     r"Aug|Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d(:\d\d)? ([+-]?\d\d[03]0|UT|GMT|Z)$")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d*)?(Z|[+-]\d\d:\d\d)$")
_TOKEN = r'[^\s()<>,;:\\"/\[\]?=]+'
MIME = re.compile(rf"^{_TOKEN}/{_TOKEN}(\s*;\s*{_TOKEN}={_TOKEN})*$")
HTTP_URL = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d+)?(/[0-9A-Za-z;/?:@&=+$.\-_!~*'()%,#]*)?$")
# the HTML the validator accepts without a SecurityRisk warning (the part we can emit)
SAFE_ELEMENTS = {"a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "dd", "del",
                 "details", "dfn", "div", "dl", "dt", "em", "figcaption", "figure", "h1", "h2",
                 "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "mark", "ol", "p",
                 "pre", "q", "s", "small", "span", "strong", "sub", "summary", "sup", "table",
                 "tbody", "td", "tfoot", "th", "thead", "time", "tr", "u", "ul"}
SAFE_ATTRIBUTES = {"alt", "cite", "class", "colspan", "datetime", "dir", "height", "href",
                   "hreflang", "id", "lang", "rel", "rowspan", "scope", "src", "start", "title",
                   "width"}
HTML_TAGS = SAFE_ELEMENTS | {"script", "style", "iframe", "object", "embed", "form", "body"}


def _sample_output(tmp_path_factory):
    toml = SITE_TOML.replace("feed_items = 5", 'feed_items = 5\nwebsub_hubs = '
                             '["https://hub.example.org/"]\nicon = "icon.png"\nlogo = "logo.png"')
    site = Site(tmp_path_factory.mktemp("w3c"), toml)
    write_sample(site)
    write_many(site, 13)             # archives of several pages
    write_many(site, 7, lang="fi")   # feeds/fi/index: one archive page
    output = render(site)
    assert "feeds/archive/fi/index/1.atom" in output.files
    assert "feeds/archive/fi/index/2.atom" not in output.files
    return output


def _shipped_output():
    config = load_config(ROOT / "newsroom.toml")
    content = load_content(config, use_cache=False)
    return feeds.render(build_catalog(content.news, content.profiles, config.site,
                                      config.topics, NOW))


@pytest.fixture(scope="module", params=["sample", "shipped"])
def output(request, tmp_path_factory):
    return _sample_output(tmp_path_factory) if request.param == "sample" else _shipped_output()


def _base(output) -> str:
    atom = etree.fromstring(output.files["feeds/all.atom"])
    return atom.find(f"{ATOM}link[@rel='self']").get("href").removesuffix("feeds/all.atom")


def _documents(output, ext: str):
    for path, data in sorted(output.files.items()):
        if path.endswith(ext):
            yield path, data, etree.fromstring(data)


# -- shared rules ----------------------------------------------------------------------


def _plausible(when: datetime, where: str) -> None:
    """ImplausibleDate: before 1990 or more than ten minutes ahead."""
    assert datetime(1990, 1, 1, tzinfo=when.tzinfo) <= when <= NOW + timedelta(minutes=10), where


def _rfc822(text: str, where: str) -> None:
    """InvalidRFC2822Date / IncorrectDOW / ImplausibleDate."""
    assert RFC2822.match(text), (where, text)
    when = parsedate_to_datetime(text)
    assert text[:3] == when.strftime("%a"), (where, text)
    _plausible(when, where)


def _rfc3339(text: str, where: str) -> None:
    assert RFC3339.match(text), (where, text)
    _plausible(datetime.fromisoformat(text), where)


def _safe_html(fragment: str, where: str) -> None:
    """ContainsRelRef, SecurityRisk, SecurityRiskAttr, DangerousStyleAttr."""
    doc = lxml_html.fragment_fromstring(fragment, create_parent="div")
    for element in doc.iterdescendants():
        assert element.tag in SAFE_ELEMENTS, (where, element.tag)
        for name in element.attrib:
            assert name in SAFE_ATTRIBUTES, (where, element.tag, name)
        for name in ("href", "src"):
            if element.get(name) is not None:
                assert re.match(r"^\w+:", element.get(name)), (where, element.get(name))


def _nonhtml(element, raw_lines: list[bytes], where: str, rss: bool) -> None:
    """The validator's check of plain-text elements (its ``nonhtml`` class): no HTML end
    tags (ContainsHTML); entity references or, in RSS, ``<`` before a letter only if the
    element's source lines use hexadecimal references (CharacterData)."""
    text = element.text or ""
    tags = [t for t in re.findall(r"</(\w+)>", text) if t.lower() in HTML_TAGS]
    assert not tags, (where, text)
    lines = raw_lines[element.sourceline - 1:element.sourceline + text.count("\n")]
    hex_refs = any(b"&#x" in line for line in lines)
    entities = [v for v in re.findall(r"&(#?\w+)", text)
                if v in name2codepoint or v == "apos" or not v.isalpha()]
    if entities or (rss and re.search(r"&#[x0-9]|<[/a-zA-Z]", text)):
        assert hex_refs, (where, text)


def _namespaces(root, where: str) -> None:
    """NonstdPrefix / ReservedPrefix: the usual prefix for every known namespace."""
    for prefix, uri in root.nsmap.items():
        if prefix is not None:
            assert STANDARD_PREFIXES.get(uri) == prefix, (where, prefix, uri)


def _link(link, where: str, in_entry: bool) -> None:
    rel = link.get("rel", "alternate")
    assert rel in REGISTERED_RELS, (where, rel)                # UnregisteredAtomLinkRel
    assert not (in_entry and rel in RFC5005_RELS), where       # FeedHistoryRelInEntry
    assert HTTP_URL.match(link.get("href")), (where, link.get("href"))
    if link.get("type"):
        assert MIME.match(link.get("type")), (where, link.get("type"))
    if link.get("hreflang"):
        assert re.match(r"^[a-z]{2,3}(-[A-Za-z0-9]+)*$", link.get("hreflang")), where
    if link.get("length"):
        assert link.get("length").isdigit(), where
    assert not (link.text or "").strip(), where                # AtomLinkNotEmpty


def _unique_alternates(links, where: str) -> None:
    """DuplicateAtomLink: one alternate per (type, hreflang)."""
    pairs = [(ln.get("type"), ln.get("hreflang")) for ln in links
             if ln.get("rel", "alternate") == "alternate"]
    assert len(pairs) == len(set(pairs)), where


def _archive_links(holder, where: str, archive: bool) -> None:
    rels = {ln.get("rel") for ln in holder.findall(f"{ATOM}link")}
    fh = holder.find("{http://purl.org/syndication/history/1.0}archive") is not None
    assert fh is archive, where
    if archive:
        assert "current" in rels, where                                   # MissingCurrentInArchive
        assert rels & {"prev-archive", "next-archive"}, where             # ArchiveIncomplete
    else:
        assert "current" not in rels and "next-archive" not in rels, where


# -- Atom ------------------------------------------------------------------------------


def test_atom_documents_follow_the_validator_rules(output):
    base = _base(output)
    for path, data, feed in _documents(output, ".atom"):
        lines = data.split(b"\n")
        _namespaces(feed, path)
        assert feed.get(XML_LANG), path                                   # MissingDCLanguage
        for name in ("id", "title", "updated"):
            assert len(feed.findall(f"{ATOM}{name}")) == 1, (path, name)
        assert feed.find(f"{ATOM}author/{ATOM}name").text, path         # MissingElement author
        children = [c.tag for c in feed]
        entries_from = next((i for i, tag in enumerate(children) if tag == f"{ATOM}entry"),
                            len(children))
        assert set(children[entries_from:]) <= {f"{ATOM}entry"}, path    # MisplacedMetadata
        selves = feed.findall(f"{ATOM}link[@rel='self']")
        assert [(s.get("href"), s.get("type")) for s in selves] == [
            (base + path, "application/atom+xml")], path                 # SelfDoesntMatchLocation
        links = feed.findall(f"{ATOM}link")
        for link in links:
            _link(link, path, in_entry=False)
        _unique_alternates(links, path)
        _archive_links(feed, path, archive=path.startswith("feeds/archive/"))
        _rfc3339(feed.findtext(f"{ATOM}updated"), path)
        for name in ("title", "subtitle"):
            element = feed.find(f"{ATOM}{name}")
            if element is not None and element.get("type") != "html":
                _nonhtml(element, lines, path, rss=False)
        _atom_entries(feed, lines, path)


def _atom_entries(feed, lines: list[bytes], path: str) -> None:
    ids, stamps = [], []
    for entry in feed.iter(f"{ATOM}entry"):
        where = (path, entry.findtext(f"{ATOM}id"))
        for name in ("id", "title", "updated"):
            assert len(entry.findall(f"{ATOM}{name}")) == 1, where
        ids.append(entry.findtext(f"{ATOM}id"))
        stamps.append(entry.findtext(f"{ATOM}updated"))
        _rfc3339(entry.findtext(f"{ATOM}updated"), where)
        _rfc3339(entry.findtext(f"{ATOM}published"), where)
        assert entry.findtext(f"{ATOM}updated") >= entry.findtext(f"{ATOM}published")[:19]
        content = entry.find(f"{ATOM}content")
        assert content.get("type") == "html" and content.text.strip(), where  # NotBlank
        _safe_html(content.text, where)
        for name in ("title", "summary"):
            element = entry.find(f"{ATOM}{name}")
            assert element.text and element.text.strip(), where
            if element.get("type") == "html":
                _safe_html(element.text, where)
            else:
                _nonhtml(element, lines, where, rss=False)   # ContainsUndeclaredHTML
        links = entry.findall(f"{ATOM}link")
        for link in links:
            _link(link, where, in_entry=True)
        _unique_alternates(links, where)
        assert [ln.get("rel") for ln in links].count("alternate") >= 1, where
    assert len(ids) == len(set(ids)), path                                 # DuplicateEntries
    assert len(stamps) == len(set(stamps)), path                           # DuplicateUpdated


# -- RSS -------------------------------------------------------------------------------


def test_rss_documents_follow_the_validator_rules(output):
    base = _base(output)
    for path, data, rss in _documents(output, ".rss"):
        lines = data.split(b"\n")
        _namespaces(rss, path)
        assert rss.get("version") == "2.0"
        channel = rss.find("channel")
        for name in ("title", "link", "description", "language", "docs", "lastBuildDate"):
            assert channel.findtext(name), (path, name)
        assert channel.findtext("docs") == "http://www.rssboard.org/rss-specification"
        selves = channel.findall(f"{ATOM}link[@rel='self']")
        assert [(s.get("href"), s.get("type")) for s in selves] == [
            (base + path, "application/rss+xml")], path                  # MissingAtomSelfLink
        for link in channel.findall(f"{ATOM}link"):
            _link(link, path, in_entry=False)
        _archive_links(channel, path, archive=path.startswith("feeds/archive/"))
        _rfc822(channel.findtext("lastBuildDate"), path)
        for name in ("title", "description"):
            _nonhtml(channel.find(name), lines, path, rss=True)
        image = channel.find("image")
        if image is not None:
            assert image.findtext("url").lower().endswith((".jpg", ".jpeg", ".gif", ".png"))
            assert image.findtext("title") == channel.findtext("title")   # ImageTitleDoesntMatch
            assert image.findtext("link") == channel.findtext("link")     # ImageLinkDoesntMatch
        _rss_items(channel, lines, path)


def _rss_items(channel, lines: list[bytes], path: str) -> None:
    guids = []
    dc = "{http://purl.org/dc/elements/1.1/}"
    for item in channel.iter("item"):
        where = (path, item.findtext("guid"))
        guid = item.find("guid")                                          # MissingGuid
        guids.append(guid.text)
        if guid.get("isPermaLink", "true") == "true":
            assert HTTP_URL.match(guid.text), where                       # InvalidHttpGUID
        # DuplicateItemSemantics
        assert item.find("author") is None or item.find(f"{dc}creator") is None
        tags = [child.tag for child in item]
        encoded = "{http://purl.org/rss/1.0/modules/content/}encoded"
        # NeedDescriptionBeforeContent
        assert tags.index("description") < tags.index(encoded), where
        for name in ("title", "link", "description", "pubDate"):
            assert tags.count(name) == 1, (where, name)                   # DuplicateElement
        _rfc822(item.findtext("pubDate"), where)
        _rfc3339(item.findtext(f"{ATOM}updated"), where)
        _safe_html(item.findtext(encoded), where)
        _safe_html(item.findtext("description"), where)
        for element in [item.find("title"), *item.findall("category"), *item.iter(f"{dc}creator")]:
            _nonhtml(element, lines, where, rss=True)
        enclosures = item.findall("enclosure")
        assert len(enclosures) <= 1, where                                # DuplicateEnclosure
        for enclosure in enclosures:
            assert HTTP_URL.match(enclosure.get("url")), where           # InvalidURLAttribute
            assert enclosure.get("length").isdigit(), where               # UseZeroForUnknown
            assert MIME.match(enclosure.get("type")), where               # InvalidMIMEAttribute
        links = item.findall(f"{ATOM}link")
        for link in links:
            _link(link, where, in_entry=True)
    assert len(guids) == len(set(guids)), path


def test_rss_never_writes_named_or_decimal_references(output):
    """CharacterData: the W3C validator asks for ``&#x26;`` and ``&#x3C;``."""
    for path, data in output.files.items():
        if path.endswith(".rss"):
            assert not re.search(rb"&(amp|lt|gt|#\d+);", data), path


# -- OPML ------------------------------------------------------------------------------


def test_opml_follows_the_validator_rules(output):
    root = etree.fromstring(output.files["feeds.opml"])
    assert root.get("version") == "2.0"
    head = root.find("head")
    assert head.findtext("title")
    _rfc822(head.findtext("dateModified"), "opml")
    outlines = list(root.iter("outline"))
    assert outlines
    for outline in outlines:
        assert outline.get("text"), outline.attrib                       # MissingAttribute text
        if len(outline.attrib) > 1:
            assert outline.get("type") == "rss", outline.attrib           # MissingOutlineType
        if outline.get("type") == "rss":
            assert outline.get("title") and HTTP_URL.match(outline.get("xmlUrl"))
            assert outline.get("version") is None                         # InvalidOutlineVersion
            assert HTTP_URL.match(outline.get("htmlUrl"))
