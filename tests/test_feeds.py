"""Feeds: what is published, every document parses back (feedparser, lxml, the JSON Feed
schema), entries carry the right fields and links, and text is escaped. Feed-level links,
archives, OPML and golden files are in test_feeds_documents; the W3C rules in
test_feeds_w3c. The sample site here is shared by all three."""

from __future__ import annotations

import html
import json
import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import feedgen.entry
import feedgen.feed
import feedgen.version
import feedparser
import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from lxml import html as lxml_html

from pipeline.build import catalog_for
from pipeline.content import load_content
from pipeline.render import dump_json, feed_model, feed_xml, feeds
from pipeline.render.feed_json import JsonWriter, item_bytes, split_items
from pipeline.render.feed_model import Category, Entry, Link, build_entries, looks_like_markup, xml_text
from pipeline.render.feed_xml import XmlWriter
from pipeline.urls import FEED_FORMATS

from .conftest import NOW, Site, png

SCHEMA = json.loads((Path(__file__).parent / "schemas/jsonfeed-1.1.schema.json").read_text())
ATOM = "{http://www.w3.org/2005/Atom}"
FH_ARCHIVE = "{http://purl.org/syndication/history/1.0}archive"
MARKUP_TITLE = '<b>Bold</b> claims & AT&T\'s "x < y" &amp; more'
BASE = "https://news.example.org/"

# A small fixed site: translations, ties on `updated`, markup in a title, a pinned id, a
# canonical URL, local and remote images, relative links in raw HTML, and items that must
# not appear (draft, partners only, embargoed).
SAMPLE_NEWS = {
    "biobank-call": """\
        title: Biobank call opens for neuroscience projects
        date: 2026-11-20T09:30:00+02:00
        lang: en
        topics: [neurological]
        organizations: [uef]
        authors: [Aino Virtanen, Lauri Heikkinen]
        translation_key: biobank
        image: {src: media/brain.svg, alt: A network of nodes}
        """,
    "biopankkihaku": """\
        title: Biopankkihaku avautuu neurotieteen hankkeille
        date: 2026-11-20T09:30:00+02:00
        lang: fi
        topics: [neurological]
        organizations: [uef]
        authors: [Aino Virtanen]
        translation_key: biobank
        """,
    "markup-title": f"""\
        title: {json.dumps(MARKUP_TITLE)}
        date: 2026-11-10T12:00:00+02:00
        lang: en
        topics: [medtech]
        id: "tag:news.example.org,2026:markup"
        canonical_url: https://example.com/original/story
        summary: "Summary with <i>tags</i> & ampersands"
        image: {{src: "https://images.example.org/photo.jpg", alt: A photo}}
        """,
    "open-day": """\
        title: Open day at the memory research centre
        date: 2026-10-01
        updated: 2026-10-05T08:00:00+03:00
        lang: en
        topics: [neurological]
        organizations: [uef, vtt]
        """,
    "lab-news": """\
        title: "Vertical\\x0btab and form\\x0cfeed in a title"
        date: 2026-09-01
        lang: en
        topics: [medtech]
        organizations: [vtt]
        """,
    "lab-visit": """\
        title: Ministers visit the lab
        date: 2026-09-01
        lang: en
        topics: [medtech]
        """,
    "spring-school": """\
        title: Spring school on brain imaging
        date: 2026-05-01T10:00:00+03:00
        lang: en
        topics: [neurological]
        """,
    "kevatkoulu": """\
        title: Kevätkoulu aivokuvantamisesta
        date: 2026-05-01T10:00:00+03:00
        lang: fi
        topics: [neurological]
        """,
    "draft": "title: A draft\ndate: 2026-11-01\ntopics: [medtech]\nstatus: draft\n",
    "partners": "title: For partners\ndate: 2026-11-01\ntopics: [medtech]\nvisibility: partners\n",
    "embargoed": "title: Embargoed\ndate: 2026-12-31\ntopics: [medtech]\n",
}
MARKUP_BODY = ('First paragraph with a <a href="/about/">relative link</a>, '
               '<a href="#details">a fragment</a> and <img src="media/x.png" alt="x">.\n\n'
               '## Details\n\nMore text.\n')
HIDDEN = ("draft", "partners", "embargoed")
SVG = '<svg xmlns="http://www.w3.org/2000/svg"/>\n'
# as published: written out from the tree that was checked
PUBLISHED_SVG = "<?xml version='1.0' encoding='UTF-8'?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>"


def write_sample(site: Site) -> None:
    site.write_profile("vtt", "name: {en: VTT, fi: VTT}\nkind: research-centre\n")
    site.write_profile("kuh", "name: {en: Kuopio University Hospital, fi: KYS}\nkind: hospital\n")
    site.write("media/brain.svg", SVG)
    site.write_bytes("media/x.png", png())   # the body's image
    for slug, front in SAMPLE_NEWS.items():
        site.write_news(slug, front, MARKUP_BODY if slug == "markup-title" else
                        "A first paragraph of news.\n\nA second one.\n")


def write_many(site: Site, count: int, start: int = 0, lang: str = "en") -> None:
    """``count`` items a day apart in ``lang``, numbered from ``start`` (newest last)."""
    for n in range(start, start + count):
        day = (NOW - timedelta(days=400 - n)).date().isoformat()
        site.write_news(f"item-{lang}-{n:03d}", f"title: Item {n}\ndate: {day}\nlang: {lang}\n"
                                                "topics: [neurological]\n")


def catalog_of(site: Site):
    config = site.config
    content = load_content(config)
    assert not content.problems, content.problems
    return catalog_for(config, content, NOW)


def render(site: Site):
    return feeds.render(catalog_of(site))


@pytest.fixture
def sample(site):
    write_sample(site)
    return render(site)


def of_format(output, fmt: str) -> dict[str, bytes]:
    return {path: data for path, data in output.files.items() if path.endswith(f".{fmt}")}


def url(path: str) -> str:
    return BASE + path


def shown_title(detail) -> str:
    """What a reader shows for a feedparser text construct."""
    return html.unescape(detail.value) if detail.type == "text/html" else detail.value


# -- what is published --------------------------------------------------------------


def test_every_feed_is_published_in_every_format_with_a_listing(sample, site):
    catalog = catalog_of(site)
    refs = feeds.feed_refs(catalog)
    assert len(refs) == 1 + 2 * (1 + 2 + 3)   # all; per language: index, topics, orgs
    for ref in refs:
        for fmt, media_type in FEED_FORMATS.items():
            listing = sample.listings[ref.path(fmt)]
            assert (listing.kind, listing.media_type, listing.language) == ("feed", media_type,
                                                                            ref.lang)
    assert sample.listings["feeds.opml"].kind == "opml"
    archive_listed = [p for p in sample.listings if p.startswith("feeds/archive/")]
    assert archive_listed == []
    assert "feeds/archive/all/1.atom" in sample.files


def test_empty_feeds_are_published_with_the_site_updated(sample, site):
    catalog = catalog_of(site)
    listing = sample.listings["feeds/en/organizations/kuh.atom"]
    assert (listing.items, listing.updated) == (0, catalog.updated)
    parsed = feedparser.parse(sample.files["feeds/fi/topics/medtech.rss"])
    assert parsed.bozo == 0 and parsed.entries == []
    assert json.loads(sample.files["feeds/fi/topics/medtech.json"])["items"] == []


def test_hidden_items_never_appear(sample):
    for path, data in sample.files.items():
        for slug in HIDDEN:
            assert f"news/{slug}/".encode() not in data, (path, slug)


def test_rendering_is_deterministic(sample, site):
    again = render(site)
    assert again.files == sample.files
    assert again.listings == sample.listings


def test_output_never_depends_on_the_clock(sample, site, monkeypatch):
    """feedgen defaults every ``updated``/``lastBuildDate`` to now: all are set."""
    real = feedgen.feed.datetime

    class Meta(type):
        def __instancecheck__(cls, value):       # feedgen type-checks the dates we set
            return isinstance(value, real)

    class Stopped(real, metaclass=Meta):
        @classmethod
        def now(cls, tz=None):
            return real(1999, 12, 31, 23, 59, tzinfo=tz)

    monkeypatch.setattr(feedgen.feed, "datetime", Stopped)
    monkeypatch.setattr(feedgen.entry, "datetime", Stopped)
    assert render(site).files == sample.files


# -- parsing back ---------------------------------------------------------------------


def test_feedparser_reads_every_xml_feed(sample):
    xml = {**of_format(sample, "rss"), **of_format(sample, "atom")}
    assert len(xml) > 20
    for path, data in xml.items():
        parsed = feedparser.parse(data)
        assert parsed.bozo == 0, (path, parsed.get("bozo_exception"))
        assert parsed.feed.title and parsed.feed.updated_parsed
        ids = [entry.id for entry in parsed.entries]
        assert len(ids) == len(set(ids)), path
        for entry in parsed.entries:
            assert entry.published_parsed and entry.updated_parsed, (path, entry.id)
            assert entry.title and entry.summary and entry.link


def test_lxml_parses_every_document_strictly(sample):
    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=False)
    for path, data in sample.files.items():
        if path.endswith((".rss", ".atom", ".opml")):
            etree.fromstring(data, parser)
        else:
            json.loads(data)


def test_every_json_feed_validates_against_the_json_feed_schema(sample):
    validator = jsonschema.Draft202012Validator(SCHEMA, format_checker=_formats())
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    for path, data in of_format(sample, "json").items():
        feed = json.loads(data)
        errors = sorted(validator.iter_errors(feed), key=str)
        assert not errors, (path, [e.message for e in errors])
        assert feed.get("next_url") != feed["feed_url"]
        assert len({item["id"] for item in feed["items"]}) == len(feed["items"])


def test_the_schema_rejects_what_the_spec_forbids():
    validator = jsonschema.Draft202012Validator(SCHEMA, format_checker=_formats())
    good = {"version": "https://jsonfeed.org/version/1.1", "title": "t",
            "items": [{"id": "1", "content_text": "x", "date_published": "2026-01-01T10:00:00Z"}]}
    assert validator.is_valid(good)
    bad = [{**good, "version": "https://jsonfeed.org/version/1"},
           {**good, "items": [{"id": "1"}]},                       # no content
           {**good, "items": [{"id": "1", "content_text": "x", "date_published": "2026-01-01"}]},
           {**good, "feed_url": "feeds/all.json"},                  # relative
           {**good, "authors": [{}]},
           {**good, "hubs": [{"url": "https://hub.example.org/"}]},
           {**good, "unknown": 1}]
    assert [validator.is_valid(doc) for doc in bad] == [False] * len(bad)


def _formats() -> jsonschema.FormatChecker:
    """RFC 3339 date-times and absolute URLs, without extra packages."""
    checker = jsonschema.FormatChecker([])
    rfc3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
    checker.checks("date-time")(lambda value: bool(rfc3339.match(value)))
    checker.checks("uri")(lambda value: bool(re.match(r"^https?://[^/\s]+/\S*$", value)))
    return checker


def test_the_fast_writers_match_the_plain_ones(site):
    """Entries are serialized once and spliced in: the bytes equal feedgen's own output
    and dump_json's."""
    write_sample(site)
    write_many(site, 12)
    catalog = catalog_of(site)
    entries = build_entries(catalog)
    xml, js = XmlWriter(icon=url("icon.png"), logo=url("logo.png")), JsonWriter(url("icon.png"))
    for ref in feeds.feed_refs(catalog):
        items = [entries[i.id] for i in feeds.items_of(catalog, ref)]
        for doc in feeds.feed_documents(catalog, ref, items):
            assert xml.write(doc) == xml.write_unspliced(doc)
            assert js.write(doc) == dump_json(js.document(doc))


def test_a_feeds_head_is_written_once_per_shape_and_a_title_holding_a_stand_in_is_not_fooled(site):
    """feedgen writes a feed's head once per shape, with stand-ins for the URLs and the
    date that differ between its documents; a text that holds a stand-in itself gets a
    head of its own, so the stand-in is never replaced inside it."""

    from pipeline.render import feed_xml

    write_many(site, 30)
    catalog = catalog_of(site)
    entries = build_entries(catalog)
    ref = feeds.feed_refs(catalog)[0]
    docs = feeds.feed_documents(catalog, ref, [entries[i.id] for i in feeds.items_of(catalog, ref)])
    assert len(docs) >= 5   # the subscription document, the first, middle and last archive pages
    xml = XmlWriter()
    for doc in docs:
        assert xml.write(doc) == xml.write_unspliced(doc)
    assert 1 < len(xml._heads) < len(docs)
    tricky = replace(docs[-1], title=f"See {feed_xml._STAND_IN_URL.format('self', 'atom')} and "
                                     f"{feed_xml.rfc2822(feed_xml._STAND_IN_UPDATED)}")
    written = xml.write(tricky)
    assert written == xml.write_unspliced(tricky)
    assert b"stand-in.invalid/self/atom" in written["atom"]   # the title, as written


# -- entries --------------------------------------------------------------------------


def test_entry_fields_in_atom(sample):
    parsed = feedparser.parse(sample.files["feeds/en/index.atom"])
    entry = next(e for e in parsed.entries if e.id == url("news/biobank-call/"))
    assert entry.link == url("news/biobank-call/")      # not the translation's
    assert [(link.rel, link.get("hreflang")) for link in entry.links][:2] == [
        ("alternate", "en"), ("alternate", "fi")]
    assert [a.name for a in entry.authors] == ["Aino Virtanen", "Lauri Heikkinen"]
    assert [t.term for t in entry.tags] == ["neurological", "uef"]
    assert [t.label for t in entry.tags] == ["Neurological diseases",
                                             "University of Eastern Finland"]
    assert entry.content[0].type == "text/html" and "<p>A first paragraph" in entry.content[0].value
    assert entry.summary == "A first paragraph of news."
    assert entry.published == "2026-11-20T09:30:00+02:00"


def test_atom_entry_links_keep_rel_type_and_hreflang(sample):
    """The feedgen #135 workaround: translations, the enclosure and the original stay
    what they are instead of all becoming plain alternate links."""
    root = etree.fromstring(sample.files["feeds/all.atom"])
    links = {entry.findtext(f"{ATOM}id"): [dict(link.attrib) for link in entry.iter(f"{ATOM}link")]
             for entry in root.iter(f"{ATOM}entry")}
    assert links[url("news/biobank-call/")] == [
        {"href": url("news/biobank-call/"), "rel": "alternate", "type": "text/html",
         "hreflang": "en"},
        {"href": url("news/biopankkihaku/"), "rel": "alternate",
         "type": "text/html; charset=utf-8", "hreflang": "fi"},
        {"href": url("media/") + _media_name(sample, "brain.svg"), "rel": "enclosure",
         "type": "image/svg+xml", "length": str(len(PUBLISHED_SVG))},
    ]
    assert links["tag:news.example.org,2026:markup"][1:] == [
        {"href": "https://example.com/original/story", "rel": "via", "type": "text/html"},
        {"href": "https://images.example.org/photo.jpg", "rel": "enclosure",
         "type": "image/jpeg"},                       # length unknown: left out in Atom
    ]


@pytest.mark.skipif(feedgen.version.version_str != "1.0.0", reason="documents feedgen 1.0.0")
def test_feedgen_1_0_0_drops_entry_link_attributes_without_the_workaround():
    fg = feedgen.feed.FeedGenerator()
    fg.id("urn:x"), fg.title("t"), fg.updated(NOW)
    entry = fg.add_entry()
    entry.id("urn:y"), entry.title("t"), entry.updated(NOW), entry.content("c")
    entry.link(href="https://example.org/fi/", rel="alternate", hreflang="fi", type="text/html")
    link = etree.fromstring(fg.atom_str()).find(f"{ATOM}entry/{ATOM}link")
    assert dict(link.attrib) == {"href": "https://example.org/fi/"}


def _media_name(output, name: str) -> str:
    return next(p for p in re.findall(r"media/([0-9a-f]+-" + re.escape(name) + ")",
                                      output.files["feeds/all.json"].decode()))


def test_rss_items(sample):
    root = etree.fromstring(sample.files["feeds/all.rss"])
    items = {item.findtext("link"): item for item in root.iter("item")}
    biobank = items[url("news/biobank-call/")]
    assert biobank.find("guid").attrib == {"isPermaLink": "true"}
    assert biobank.findtext("guid") == url("news/biobank-call/")
    dc = "{http://purl.org/dc/elements/1.1/}"
    assert [c.text for c in biobank.iter(f"{dc}creator")] == ["Aino Virtanen", "Lauri Heikkinen"]
    assert biobank.find("enclosure").attrib["length"] == str(len(PUBLISHED_SVG))
    published = parsedate_to_datetime(biobank.findtext("pubDate"))
    assert published.isoformat() == "2026-11-20T09:30:00+02:00"
    assert [child.tag for child in biobank][2:4] == [
        "description", "{http://purl.org/rss/1.0/modules/content/}encoded"]
    pinned = items[url("news/markup-title/")]
    assert pinned.findtext("guid") == "tag:news.example.org,2026:markup"
    assert pinned.find("guid").attrib == {"isPermaLink": "false"}
    assert pinned.find("enclosure").attrib == {
        "url": "https://images.example.org/photo.jpg", "length": "0", "type": "image/jpeg"}


def test_json_items(sample):
    feed = json.loads(sample.files["feeds/en/index.json"])
    items = {item["id"]: item for item in feed["items"]}
    pinned = items["tag:news.example.org,2026:markup"]
    assert pinned["url"] == url("news/markup-title/")
    assert pinned["external_url"] == "https://example.com/original/story"
    assert pinned["image"] == "https://images.example.org/photo.jpg"
    assert pinned["title"] == MARKUP_TITLE
    assert pinned["summary"] == "Summary with <i>tags</i> & ampersands"
    assert pinned["language"] == "en" and pinned["tags"] == ["Medical technology"]
    assert items[url("news/open-day/")]["date_modified"] == "2026-10-05T08:00:00+03:00"


def test_entry_updated_is_unique_in_every_document(sample):
    """Translations published together and items dated by day tie: the W3C validator
    warns about Atom entries sharing ``updated``, so ties are 1 ms apart."""
    for path, data in of_format(sample, "atom").items():
        root = etree.fromstring(data)
        stamps = [e.findtext(f"{ATOM}updated") for e in root.iter(f"{ATOM}entry")]
        assert len(stamps) == len(set(stamps)), path
    all_items = {e.findtext(f"{ATOM}id"): e.findtext(f"{ATOM}updated")
                 for e in etree.fromstring(sample.files["feeds/all.atom"]).iter(f"{ATOM}entry")}
    assert all_items[url("news/biobank-call/")] == "2026-11-20T09:30:00+02:00"
    assert all_items[url("news/biopankkihaku/")] == "2026-11-20T09:30:00.001+02:00"


# -- text -----------------------------------------------------------------------------


def test_markup_in_titles_is_shown_as_text_in_every_format(sample):
    for path in ("feeds/en/topics/medtech.atom", "feeds/en/topics/medtech.rss"):
        entry = feedparser.parse(sample.files[path]).entries[0]
        assert shown_title(entry.title_detail) == MARKUP_TITLE, path
        if entry.title_detail.type == "text/html":
            assert "<b>" not in entry.title_detail.value    # never live markup
    assert json.loads(sample.files["feeds/en/topics/medtech.json"])["items"][0]["title"] == \
        MARKUP_TITLE


def test_rss_plain_text_uses_hexadecimal_character_references(sample):
    for path, data in of_format(sample, "rss").items():
        assert not re.search(rb"&(amp|lt|gt);", data), path
    medtech = sample.files["feeds/en/topics/medtech.rss"]
    assert b"<title>&#x26;lt;b&#x26;gt;Bold&#x26;lt;/b&#x26;gt; claims &#x26;amp; AT" in medtech


def test_plain_text_that_looks_like_markup():
    assert looks_like_markup("<b>x</b>") and looks_like_markup("a &amp; b")
    assert looks_like_markup("&#39;") and looks_like_markup("&copy 2026")
    assert not looks_like_markup("AT&T & R&D") and not looks_like_markup("x < y, p<0.05")


def test_characters_xml_forbids_never_reach_a_feed(sample):
    forbidden = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
    for path, data in sample.files.items():
        assert not forbidden.search(data.decode("utf-8")), path
    assert xml_text("a\x00b\x0bc\x1fd\x85e\ufffef\ud800") == "abcdef"
    titles = [e["title"] for e in json.loads(sample.files["feeds/all.json"])["items"]]
    assert "Verticaltab and formfeed in a title" in titles


def test_no_relative_urls_in_content(sample):
    for path, data in sample.files.items():
        for fragment in _html_contents(path, data):
            doc = lxml_html.fragment_fromstring(fragment, create_parent="div")
            for element in doc.iter("a", "img"):
                target = element.get("href") or element.get("src")
                assert re.match(r"^https?://", target), (path, target)
    feed = json.loads(sample.files["feeds/en/topics/medtech.json"])
    content = feed["items"][0]["content_html"]
    assert f'href="{url("about/")}"' in content
    assert f'href="{url("news/markup-title/")}#details"' in content


def _html_contents(path: str, data: bytes) -> list[str]:
    if path.endswith(".json"):
        return [item["content_html"] for item in json.loads(data)["items"]]
    if path.endswith(".opml"):
        return []
    root = etree.fromstring(data)
    names = (f"{ATOM}content", "{http://purl.org/rss/1.0/modules/content/}encoded", "description")
    return [e.text for name in names for e in root.iter(name) if e.text and "<" in e.text]


def test_the_one_pass_member_index_lists_what_items_of_lists(site):
    site.write_profile("kuh", "name: {en: KUH, fi: KYS}\nkind: hospital\n")
    for n in range(6):
        site.write_news(f"n{n}", f"title: N{n}\ndate: 2026-10-0{n + 1}\nlang: {'en' if n % 2 else 'fi'}\n"
                                 f"topics: [neurological{', medtech' if n % 3 else ''}]\n"
                                 f"organizations: [{'uef' if n % 2 else 'uef, kuh'}]\n")
    catalog = catalog_of(site)
    members = feeds._members(catalog)
    for ref in feeds.feed_refs(catalog):
        assert members.get(ref, []) == list(feeds.items_of(catalog, ref)), ref


URL_PARTS = st.sampled_from([' href="', ' src="', '\thref="', '\nsrc="', '\xa0href="', 'data-src="', 'href="',
                             '#x"', 'https://a"', 'mailto:b"', "x", " ", "\n", 'rel/"', '"', "1a:"])


@settings(max_examples=500)
@given(st.lists(URL_PARTS, max_size=12).map("".join))
def test_the_fast_relative_url_check_agrees_with_the_regular_expression(body):
    assert feed_model._has_relative_url(body) == bool(feed_model._RELATIVE_URL_ATTR.search(body))


NASTY = st.sampled_from(["&", "<b>", "</p>", "&amp;", "AT&T", '"', "'", "\t", "\n", "\r", " ", "ä", "€",
                         "x < y", "]]>", "&#39;"])
TEXT = st.lists(NASTY | st.text(max_size=4), max_size=6).map("".join).map(xml_text)
WORDS = TEXT.filter(lambda t: t.strip() != "")
WHEN = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1),
                    timezones=st.just(ZoneInfo("Europe/Helsinki")))
LINK = st.builds(Link, href=WORDS, rel=st.sampled_from(["alternate", "via", "enclosure"]),
                 type=st.none() | st.sampled_from(["text/html", "text/html; charset=utf-8", "image/png"]),
                 hreflang=st.none() | st.sampled_from(["en", "fi"]), length=st.none() | st.integers(0, 10**6))


@st.composite
def entries(draw):
    url = draw(WORDS)
    links = [Link(url, "alternate", "text/html", "en"), *draw(st.lists(LINK, max_size=3))]
    if any(link.rel == "enclosure" for link in links):   # feedgen needs an enclosure's type
        links = [link if link.rel != "enclosure" or link.type else replace(link, type="image/png")
                 for link in links]
    return Entry(id=draw(st.just(url) | WORDS), url=url, title=draw(WORDS), summary=draw(WORDS),
                 content_html=draw(WORDS), lang=draw(st.sampled_from(["en", "fi"])),
                 published=draw(WHEN), updated=draw(WHEN), authors=tuple(draw(st.lists(TEXT, max_size=2))),
                 categories=tuple(draw(st.lists(st.builds(Category, term=WORDS, scheme=TEXT, label=WORDS),
                                                max_size=3))),
                 links=tuple(links), image_url=None)


@settings(max_examples=300, deadline=None)
@given(entries())
def test_fast_entry_fragments_are_what_feedgen_and_lxml_write(entry):
    reference = feed_xml._FeedgenEntry(entry)
    assert feed_xml.atom_fragment(entry) == reference.fragment("atom")
    assert feed_xml.rss_fragment(entry) == reference.fragment("rss")


@settings(max_examples=200, deadline=None)
@given(st.lists(entries(), min_size=1, max_size=4, unique_by=lambda e: e.id), WORDS, st.booleans())
def test_a_written_document_splits_back_into_its_entries(listed, title, archive):
    """A running process reuses the unchanged entries of a published document (feeds._Plan):
    splitting it must give back exactly the fragments it was written from."""
    urls = {fmt: f"https://example.org/feeds/x.{fmt}" for fmt in FEED_FORMATS}
    doc = feed_model.FeedDoc(title=title, description=title, lang="en", page_url="https://example.org/",
                             page_lang="en", publisher=title, home_url="https://example.org/",
                             self_urls=urls, feed_id=urls["atom"], updated=listed[0].updated,
                             entries=tuple(listed), current=urls if archive else None)
    xml, js = XmlWriter(), JsonWriter()
    written = {fmt: b"".join(parts) for fmt, parts in xml.write_parts(doc).items()}
    assert feed_xml.split_entries("atom", written["atom"]) == [feed_xml.atom_fragment(e) for e in listed]
    assert feed_xml.split_entries("rss", written["rss"]) == [feed_xml.rss_fragment(e) for e in listed]
    assert split_items(js.write(doc)) == [item_bytes(e) for e in listed]
    assert all(feed_xml.atom_id(e.id) in feed_xml.atom_fragment(e) for e in listed)


OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


@settings(max_examples=300)
@given(st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 30), timezones=OFFSETS))
def test_rss_dates_are_written_as_feedgen_writes_them(when):
    from feedgen.util import formatRFC2822
    assert feed_model.rfc2822(when) == formatRFC2822(when)
