"""Feed documents as wholes: self, page and hub links, RFC 5005 archives and their
stability, the OPML list, the shipped content, and golden files pinning each format."""

from __future__ import annotations

import json
from pathlib import Path

import feedparser
import pytest
from lxml import etree

from pipeline.catalog import build_catalog
from pipeline.config import load_config
from pipeline.content import load_content
from pipeline.render import feeds
from pipeline.urls import FEED_FORMATS, FeedRef, url_of

from .conftest import NOW, SITE_TOML, Site
from .test_feeds import ATOM, BASE, FH_ARCHIVE, catalog_of, render, url, write_many, write_sample

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def sample(site):
    write_sample(site)
    return render(site)


# -- feed level ----------------------------------------------------------------------


def test_self_links_are_the_feed_urls(sample):
    for path, data in sample.files.items():
        fmt = path.rsplit(".", 1)[1]
        if fmt == "json":
            assert json.loads(data)["feed_url"] == url(path)
        elif fmt in ("atom", "rss"):
            holder = "" if fmt == "atom" else "channel/"
            links = etree.fromstring(data).findall(f"{holder}{ATOM}link[@rel='self']")
            assert [(ln.get("href"), ln.get("type")) for ln in links] == [
                (url(path), FEED_FORMATS[fmt])]


def test_feed_metadata(sample, site):
    catalog = catalog_of(site)
    atom = etree.fromstring(sample.files["feeds/fi/organizations/uef.atom"])
    assert atom.get("{http://www.w3.org/XML/1998/namespace}lang") == "fi"
    assert atom.findtext(f"{ATOM}title") == "Testiuutiset: Itä-Suomen yliopisto"
    assert atom.find(f"{ATOM}link[@rel='alternate']").attrib == {
        "href": url("fi/organizations/uef/"), "rel": "alternate", "type": "text/html",
        "hreflang": "fi"}
    assert atom.find(f"{ATOM}generator").attrib == {"version": "0.1.0"}
    assert atom.findtext(f"{ATOM}updated") == "2026-11-20T09:30:00.001+02:00"  # its newest
    rss = etree.fromstring(sample.files["feeds/en/index.rss"]).find("channel")
    assert rss.findtext("link") == BASE and rss.findtext("language") == "en"
    assert rss.findtext("generator") == "newsroom 0.1.0"
    assert rss.findtext("lastBuildDate") == "Fri, 20 Nov 2026 09:30:00 +0200"
    assert catalog.updated.isoformat() == "2026-11-20T09:30:00+02:00"
    for path in ("feeds/all.atom", "feeds/all.rss", "feeds/all.json"):
        assert b"/hub" not in sample.files[path]


def test_hub_icon_and_logo_links(tmp_path):
    toml = SITE_TOML.replace("feed_items = 5", 'feed_items = 5\nwebsub_hubs = '
                             '["https://hub.example.org/", "https://pubsubhubbub.example.com/"]\n'
                             'icon = "icon.png"\nlogo = "https://cdn.example.org/logo.svg"')
    site = Site(tmp_path, toml)
    write_sample(site)
    output = render(site)
    hubs = ["https://hub.example.org/", "https://pubsubhubbub.example.com/"]
    atom = etree.fromstring(output.files["feeds/en/index.atom"])
    assert [ln.get("href") for ln in atom.findall(f"{ATOM}link[@rel='hub']")] == hubs
    assert atom.findtext(f"{ATOM}icon") == url("icon.png")
    assert atom.findtext(f"{ATOM}logo") == "https://cdn.example.org/logo.svg"
    channel = etree.fromstring(output.files["feeds/en/index.rss"]).find("channel")
    assert [ln.get("href") for ln in channel.findall(f"{ATOM}link[@rel='hub']")] == hubs
    assert channel.find("image") is None          # RSS images are GIF, JPEG or PNG
    feed = json.loads(output.files["feeds/en/index.json"])
    assert feed["hubs"] == [{"type": "WebSub", "url": hub} for hub in hubs]
    assert feed["icon"] == feed["favicon"] == url("icon.png")
    assert b"hub.example.org" not in output.files["feeds/archive/en/index/1.atom"]


# -- archives -------------------------------------------------------------------------


def _rels(root, fmt: str) -> dict[str, str]:
    parent = root if fmt == "atom" else root.find("channel")
    return {ln.get("rel"): ln.get("href") for ln in parent.findall(f"{ATOM}link")
            if ln.get("rel") in ("prev-archive", "next-archive", "current")}


@pytest.mark.parametrize("fmt", ["atom", "rss"])
def test_archives_chain_and_hold_every_item_once(site, fmt):
    write_many(site, 13)      # 5 in the feed, 8 archived: pages of 5 (full) and 3
    output = render(site)
    feed = etree.fromstring(output.files[f"feeds/en/index.{fmt}"])
    assert _rels(feed, fmt) == {"prev-archive": url(f"feeds/archive/en/index/2.{fmt}")}
    page1, page2 = (etree.fromstring(output.files[f"feeds/archive/en/index/{n}.{fmt}"])
                    for n in (1, 2))
    assert _rels(page2, fmt) == {"prev-archive": url(f"feeds/archive/en/index/1.{fmt}"),
                                 "next-archive": url(f"feeds/en/index.{fmt}"),
                                 "current": url(f"feeds/en/index.{fmt}")}
    assert _rels(page1, fmt) == {"next-archive": url(f"feeds/archive/en/index/2.{fmt}"),
                                 "current": url(f"feeds/en/index.{fmt}")}
    for doc, archive in ((feed, False), (page1, True), (page2, True)):
        holder = doc if fmt == "atom" else doc.find("channel")
        assert (holder.find(FH_ARCHIVE) is not None) is archive
    titles = [_titles(doc, fmt) for doc in (feed, page2, page1)]
    assert titles == [[f"Item {n}" for n in range(12, 7, -1)],
                      [f"Item {n}" for n in range(7, 4, -1)],
                      [f"Item {n}" for n in range(4, -1, -1)]]


def _titles(root, fmt: str) -> list[str]:
    if fmt == "atom":
        return [e.findtext(f"{ATOM}title") for e in root.iter(f"{ATOM}entry")]
    return [item.findtext("title") for item in root.iter("item")]


def test_json_feed_pages_chain_with_next_url(site):
    write_many(site, 13)
    output = render(site)
    chain, path = [], "feeds/en/index.json"
    while path:
        feed = json.loads(output.files[path])
        chain.append(path)
        chain_items = feed["items"]
        assert chain_items
        path = feed.get("next_url", "").removeprefix(BASE) or None
    assert chain == ["feeds/en/index.json", "feeds/archive/en/index/2.json",
                     "feeds/archive/en/index/1.json"]


def test_adding_items_leaves_full_archive_pages_unchanged(site):
    write_many(site, 13)
    first = render(site)
    write_many(site, 1, start=13)            # page 2 gets a fourth item
    second = render(site)
    write_many(site, 2, start=14)            # page 2 fills up, page 3 starts
    third = render(site)
    for fmt in FEED_FORMATS:
        page1 = f"feeds/archive/en/index/1.{fmt}"
        assert first.files[page1] == second.files[page1] == third.files[page1]
        page2 = f"feeds/archive/en/index/2.{fmt}"
        assert first.files[page2] != second.files[page2] != third.files[page2]
        assert f"feeds/archive/en/index/3.{fmt}" in third.files
    archived = _titles(etree.fromstring(third.files["feeds/archive/en/index/3.atom"]), "atom")
    assert archived == ["Item 10"]


def test_a_single_archive_page_still_links_onwards(sample):
    """The W3C validator warns about an archive page with neither prev- nor
    next-archive: the newest page links next-archive to the subscription document."""
    page = etree.fromstring(sample.files["feeds/archive/all/1.atom"])
    assert _rels(page, "atom") == {"next-archive": url("feeds/all.atom"),
                                   "current": url("feeds/all.atom")}
    assert "next_url" not in json.loads(sample.files["feeds/archive/all/1.json"])


# -- OPML and shipped content ----------------------------------------------------------


def test_opml_lists_every_feed_once_grouped_by_language_and_kind(sample, site):
    catalog = catalog_of(site)
    root = etree.fromstring(sample.files["feeds.opml"])
    assert root.get("version") == "2.0"
    feeds_listed = root.findall(".//outline[@type='rss']")
    assert sorted(o.get("xmlUrl") for o in feeds_listed) == sorted(
        url_of(catalog.site, ref.path("atom")) for ref in feeds.feed_refs(catalog))
    groups = [o.get("text") for o in root.find("body")]
    assert groups == ["All languages", "English", "Suomi"]
    english = root.find("body")[1]
    assert [o.get("text") for o in english if o.get("type") is None] == ["Topics", "Organizations"]
    for outline in feeds_listed:
        assert outline.get("text") and outline.get("title") and outline.get("htmlUrl")


def test_a_reader_of_the_shipped_neurological_feed_sees_sensible_entries():
    config = load_config(ROOT / "newsroom.toml")
    content = load_content(config, use_cache=False)
    catalog = build_catalog(content.news, content.profiles, config.site, config.topics, NOW)
    output = feeds.render(catalog)
    parsed = feedparser.parse(output.files["feeds/en/topics/neurological.atom"])
    assert parsed.bozo == 0 and parsed.feed.title.endswith("Neurological diseases")
    assert parsed.entries
    for entry in parsed.entries:
        assert entry.title and 40 < len(entry.summary) <= 400
        assert entry.published_parsed and entry.link.startswith(config.site.base_url)
        assert entry.get("language", "en") == "en"
    assert any(link.rel == "enclosure" and link.type.startswith("image/")
               for entry in parsed.entries for link in entry.links)


# -- golden files ---------------------------------------------------------------------


@pytest.mark.parametrize("path", [
    "feeds/all.atom", "feeds/all.rss", "feeds/all.json",
    "feeds/archive/all/1.atom", "feeds/archive/all/1.rss", "feeds/archive/all/1.json",
    "feeds/en/topics/medtech.rss", "feeds.opml",
])
def test_golden(sample, golden, path):
    golden(path if path.startswith("feeds/") else f"feeds/{path}", sample.files[path])


def test_feed_refs_cover_configured_topics_and_profiles(site):
    write_sample(site)
    catalog = catalog_of(site)
    kinds = [(r.kind, r.lang, r.key) for r in feeds.feed_refs(catalog)]
    assert kinds[:4] == [("all", None, None), ("index", "en", None),
                         ("topic", "en", "neurological"), ("topic", "en", "medtech")]
    assert ("organization", "fi", "kuh") in kinds
    assert feeds.archive_path(FeedRef("topic", "fi", "medtech"), 3, "rss") == \
        "feeds/archive/fi/topics/medtech/3.rss"
