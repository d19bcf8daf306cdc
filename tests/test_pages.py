"""HTML pages: every permalink resolves, pages are accessible, localized and escaped."""

from __future__ import annotations

from lxml import html as lxml_html

from pipeline.build import build_site

from .conftest import NOW


def _build(site):
    site.write_news("brain-study", """\
        title: Brain study & <b>friends</b> start
        date: 2026-11-20T09:30
        topics: [neurological]
        organizations: [uef]
        authors: [Aino Virtanen]
        translation_key: brain
        canonical_url: https://www.uef.fi/news/brain
        image: {src: media/pic.svg, alt: A calm blue brain illustration}
        """, "The study starts in **December**.\n\n<script>alert(1)</script>\n")
    site.write_news("aivotutkimus", """\
        title: Aivotutkimus alkaa
        date: 2026-11-30
        updated: 2026-11-30T12:00
        lang: fi
        topics: [neurological]
        translation_key: brain
        """)
    site.write("media/pic.svg", '<svg xmlns="http://www.w3.org/2000/svg"/>')
    site.write_news("secret", "title: Secret draft\ndate: 2026-11-01\nstatus: draft\ntopics: [medtech]\n")
    return build_site(site.config, NOW)


def _page(site, path):
    return lxml_html.fromstring((site.output / path).read_bytes())


def test_every_permalink_resolves_to_a_page(site):
    report = _build(site)
    for item in report.catalog.items:
        assert (site.output / item.url.removeprefix("https://news.example.org/") / "index.html").exists()
    for path in ("index.html", "fi/index.html", "organizations/uef/index.html",
                 "fi/organizations/uef/index.html"):
        assert (site.output / path).exists(), path
    assert not (site.output / "news" / "secret").exists()
    assert (site.output / "news" / "aivotutkimus").exists() is False   # embargoed until 30.11.


def test_item_page_is_accessible_escaped_and_sanitized(site):
    _build(site)
    doc = _page(site, "news/brain-study/index.html")
    assert doc.get("lang") == "en"
    assert doc.findtext(".//h1") == "Brain study & <b>friends</b> start"   # text, not markup
    assert not doc.xpath("//script[not(@type='application/ld+json')]")   # data, never code
    assert doc.xpath("//main//img/@alt") == ["A calm blue brain illustration"]
    assert doc.xpath("//link[@rel='canonical']/@href") == ["https://www.uef.fi/news/brain"]
    feeds = doc.xpath("//link[@rel='alternate'][@type]/@href")
    assert "https://news.example.org/feeds/en/topics/neurological.atom" in feeds
    assert doc.xpath("//time/text()") == ["November 20, 2026"]
    image_src = doc.xpath("//main//img/@src")[0]
    assert image_src.startswith("../../media/") and image_src.endswith("-pic.svg")   # relative
    assert (site.output / "news" / "brain" / image_src).resolve().exists()


def test_finnish_pages_use_finnish_dates_and_link_translations(site):
    _build(site)
    # once the Finnish item is public, the two link each other with hreflang
    from datetime import timedelta
    build_site(site.config, NOW + timedelta(days=3))
    fi = _page(site, "news/aivotutkimus/index.html")
    assert fi.get("lang") == "fi"
    assert "30. marraskuuta 2026" in fi.xpath("//time/text()")
    assert fi.xpath("//nav[@class='languages']/a[@hreflang='en']/@href") == ["../../news/brain-study/"]
    en = _page(site, "news/brain-study/index.html")
    assert en.xpath("//nav[@class='languages']/a[@hreflang='fi']/@href") == ["../../news/aivotutkimus/"]
    # the English version names another URL to index (canonical_url): no hreflang between them
    assert fi.xpath("//link[@hreflang]") == [] and en.xpath("//link[@hreflang]") == []


def test_front_page_lists_latest_items_organizations_and_every_feed(site):
    _build(site)
    doc = _page(site, "index.html")
    assert doc.get("lang") == "en"
    assert doc.xpath("//main//h3/a/text()") == ["Brain study & <b>friends</b> start"]
    links = set(doc.xpath("//a/@href"))
    for path in ("feeds/all.rss", "feeds/en/index.atom", "feeds/en/topics/medtech.json",
                 "feeds/en/organizations/uef.rss", "feeds.opml"):
        assert path in links                                       # relative from the front page
    assert "organizations/uef/" in links
    assert doc.xpath("//link[@hreflang='fi']/@href") == ["https://news.example.org/fi/"]
    fi = _page(site, "fi/index.html")
    assert fi.get("lang") == "fi" and fi.findtext(".//h1") == "Testiuutiset"
    assert "../fi/organizations/uef/" in fi.xpath("//a/@href")    # up to the root, then down
    assert "../" in fi.xpath("//nav[@class='languages']/a/@href")  # to the English front page


def test_organization_pages_in_each_language(site):
    _build(site)
    en = _page(site, "organizations/uef/index.html")
    fi = _page(site, "fi/organizations/uef/index.html")
    assert en.findtext(".//h1") == "University of Eastern Finland"
    assert fi.findtext(".//h1") == "Itä-Suomen yliopisto"
    assert en.xpath("//main//h3/a/text()") == ["Brain study & <b>friends</b> start"]
    assert "Yliopisto" in fi.text_content()


def test_pages_are_pinned_by_golden_files(site, golden):
    _build(site)
    golden("pages/item.html", (site.output / "news/brain-study/index.html").read_bytes())
    golden("pages/organization-fi.html", (site.output / "fi/organizations/uef/index.html").read_bytes())
