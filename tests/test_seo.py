"""What search engines and link previews read: sitemap.xml and robots.txt, schema.org
JSON-LD, Open Graph and Twitter card tags; and the language of parts (``lang`` on text in
another language than the page's)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import jsonschema
from lxml import etree
from lxml import html as lxml_html

from pipeline.build import build_site
from pipeline.config import load_config
from pipeline.render import sitemap
from pipeline.service import ServiceApp

from .conftest import NOW, ROOT

BASE = "https://news.kuopiohealth.example/"
SM = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
XHTML = "{http://www.w3.org/1999/xhtml}"


def _file_of(output: Path, url: str, base: str = BASE) -> Path:
    assert url.startswith(base), url
    path = url[len(base):]
    return output / (path + "index.html" if path == "" or path.endswith("/") else path)


def _doc(path: Path):
    return lxml_html.fromstring(path.read_bytes())


def _json_ld(doc) -> dict:
    [script] = doc.xpath("//script[@type='application/ld+json']")
    return json.loads(script.text)


def _meta(doc, key: str) -> list[str]:
    return doc.xpath(f"//meta[@property='{key}' or @name='{key}']/@content")


def _pages(output: Path) -> list[Path]:
    return sorted(p for p in output.rglob("*.html"))


# -- sitemap --------------------------------------------------------------------------------------


def test_the_sitemap_lists_every_public_page_and_every_url_resolves(shipped_site):
    tree = etree.parse(str(shipped_site / "sitemap.xml"))
    assert tree.getroot().tag == f"{SM}urlset"
    entries = {u.findtext(f"{SM}loc"): u for u in tree.getroot()}
    files = {_file_of(shipped_site, loc) for loc in entries}
    assert all(f.is_file() for f in files)
    assert files == set(_pages(shipped_site))   # every page of the build, and only pages
    for loc, url in entries.items():
        alternates = {a.get("hreflang"): a.get("href") for a in url.findall(f"{XHTML}link")}
        if alternates:   # each version lists every version, itself too, and they agree
            assert loc in alternates.values()
            for href in alternates.values():
                other = entries[href]
                assert {a.get("hreflang"): a.get("href") for a in other.findall(f"{XHTML}link")} == alternates
        if "/news/" in loc:   # lastmod: the item's updated, else date (the page's dateModified)
            assert url.findtext(f"{SM}lastmod") == _json_ld(_doc(_file_of(shipped_site, loc)))["dateModified"]
    front = entries[BASE]
    assert {a.get("hreflang") for a in front.findall(f"{XHTML}link")} == {"en", "fi"}
    translated = [u for loc, u in entries.items() if "/news/" in loc and u.findall(f"{XHTML}link")]
    assert len(translated) >= 10


def test_robots_txt_names_the_sitemap_and_the_manifest_lists_it(shipped_site):
    robots = (shipped_site / "robots.txt").read_text()
    assert "User-agent: *" in robots and f"Sitemap: {BASE}sitemap.xml" in robots.splitlines()
    manifest = json.loads((shipped_site / "syndication" / "index.json").read_text())
    schema = json.loads((ROOT / "pipeline" / "schemas" / "index.schema.json").read_text())
    jsonschema.validate(manifest, schema)
    [entry] = [f for f in manifest["files"] if f["kind"] == "sitemap"]
    assert entry["path"] == "sitemap.xml" and entry["url"] == BASE + "sitemap.xml"
    assert entry["media_type"] == "application/xml" and entry["items"] == len(
        etree.parse(str(shipped_site / "sitemap.xml")).getroot())


def _items(site, count: int):
    for n in range(count):
        site.write_news(f"n{n}", f"title: News {n}\ndate: 2026-11-{n + 1:02d}T10:00\ntopics: [medtech]\n"
                        f"translation_key: k{n // 2}\nlang: {'en' if n % 2 else 'fi'}\n")
    return build_site(site.config, NOW)


def test_above_the_limit_the_sitemap_becomes_an_index_of_sitemaps(site):
    catalog = _items(site, 7).catalog
    whole = sitemap.render(catalog)
    assert set(whole.files) == {"sitemap.xml", "robots.txt"}
    split = sitemap.render(catalog, max_urls=4)
    index = etree.fromstring(split.files["sitemap.xml"])
    assert index.tag == f"{SM}sitemapindex"
    parts = [s.findtext(f"{SM}loc") for s in index]
    assert parts == [f"https://news.example.org/sitemaps/sitemap-{n}.xml" for n in (1, 2, 3)]
    locs = []
    for url in parts:
        urlset = etree.fromstring(split.files[url.removeprefix("https://news.example.org/")])
        assert urlset.tag == f"{SM}urlset" and 1 <= len(urlset) <= 4
        locs += [u.findtext(f"{SM}loc") for u in urlset]
    assert locs == [u.findtext(f"{SM}loc") for u in etree.fromstring(whole.files["sitemap.xml"])]
    assert len(locs) == 2 + 7 + 2   # front pages, items, the organization in both languages
    assert split.listings["sitemap.xml"].kind == "sitemap" and split.listings["sitemap.xml"].items == 11
    assert index.find(f"{SM}sitemap/{SM}lastmod") is not None


def test_a_rebuild_writes_the_sitemap_again_only_when_what_it_says_changes(site):
    story = site.write_news("story", "title: Story\ndate: 2026-11-20\ntopics: [medtech]\n")
    build_site(site.config, NOW)
    story.write_text(story.read_text() + "\nAnother paragraph.\n")
    assert "sitemap.xml" not in build_site(site.config, NOW).published.touched
    story.write_text(story.read_text().replace("date: 2026-11-20", "date: 2026-11-20\nupdated: 2026-11-25"))
    assert "sitemap.xml" in build_site(site.config, NOW).published.changed
    assert "<lastmod>2026-11-25T00:00:00+02:00</lastmod>" in (site.output / "sitemap.xml").read_text()


def test_an_item_first_published_elsewhere_is_left_to_its_canonical_url(site):
    site.write_news("moved", "title: Moved\ndate: 2026-11-20\ntopics: [medtech]\n"
                    "canonical_url: https://www.uef.fi/news/moved\n")
    site.write_news("own", "title: Own\ndate: 2026-11-21\ntopics: [medtech]\n")
    build_site(site.config, NOW)
    text = (site.output / "sitemap.xml").read_text()
    assert "news/own/" in text and "news/moved/" not in text
    assert (site.output / "news" / "moved" / "index.html").is_file()   # its page is still there


# -- structured data ------------------------------------------------------------------------------


def test_item_pages_carry_a_news_article(shipped_site):
    page = shipped_site / "news" / "neurocenter-opens-biobank-call" / "index.html"
    doc = _doc(page)
    data = _json_ld(doc)
    assert data["@context"] == "https://schema.org" and data["@type"] == "NewsArticle"
    assert data["headline"] == doc.findtext(".//h1")
    assert data["inLanguage"] == doc.get("lang") == "en"
    [published] = doc.xpath("//p[@class='meta']/time/@datetime")
    assert data["datePublished"] == published and data["dateModified"] >= published
    assert data["author"] == [{"@type": "Person", "name": "Aino Virtanen"}]
    assert data["publisher"] == {"@type": "Organization", "name": "Kuopio Health News", "url": BASE}
    [image] = data["image"]
    assert _file_of(shipped_site, image).is_file()
    assert [t["name"] for t in data["about"]] == doc.xpath("//article/footer//span[@class='tag']/text()")
    mentions = data["mentions"]
    assert [m["name"] for m in mentions] == doc.xpath("//p[@class='orgs']/a/text()")
    assert all(_file_of(shipped_site, m["url"]).is_file() and m["sameAs"].startswith("https://")
               for m in mentions)
    assert data["url"] == data["mainEntityOfPage"] == doc.xpath("//link[@rel='canonical']/@href")[0]


def test_organization_pages_carry_an_organization(shipped_site):
    doc = _doc(shipped_site / "fi" / "organizations" / "kuh" / "index.html")
    data = _json_ld(doc)
    assert data["@type"] == "Organization" and data["name"] == doc.findtext(".//h1")
    assert data["name"] == "Kuopion yliopistollinen sairaala"
    assert data["url"] == f"{BASE}fi/organizations/kuh/"
    assert data["address"] == {"@type": "PostalAddress", "addressLocality": "Kuopio"}
    assert data["sameAs"] == ["https://www.kuopionyliopistollinensairaala.fi/"]
    assert data["description"].startswith("Kuopion yliopistollinen sairaala (KYS)")


def test_an_organization_logo_is_in_its_structured_data_and_preview(site):
    site.write("media/logo.svg", '<svg xmlns="http://www.w3.org/2000/svg"/>')
    site.write_profile("kys", "name: KYS\nkind: hospital\nwebsite: https://kys.example/\n"
                       "logo: {src: media/logo.svg, alt: The KYS logo}\n")
    build_site(site.config, NOW)
    doc = _doc(site.output / "organizations" / "kys" / "index.html")
    logo = _json_ld(doc)["logo"]
    assert logo.startswith("https://news.example.org/media/") and logo.endswith("-logo.svg")
    assert _meta(doc, "og:image") == [logo] and _meta(doc, "og:image:alt") == ["The KYS logo"]
    assert "address" not in _json_ld(doc)


def test_no_script_in_content_can_break_out_of_the_json_ld(site):
    title = "</script><script>alert('t')</script> & <!-- </SCRIPT >"
    site.write_news("evil", f"""\
        title: "{title}"
        summary: "</script><img src=x onerror=alert(1)>"
        date: 2026-11-20
        topics: [medtech]
        authors: ["</script><script>alert('a')</script>"]
        """)
    build_site(site.config, NOW)
    raw = (site.output / "news" / "evil" / "index.html").read_text()
    assert raw.lower().count("</script") == 1   # the JSON-LD's own end tag, nothing else
    assert "<!--" not in raw.split('<script type="application/ld+json">')[1].split("</script>")[0]
    doc = lxml_html.fromstring(raw)
    assert len(doc.xpath("//script")) == 1 and not doc.xpath("//img[@onerror]")
    data = _json_ld(doc)
    assert data["headline"] == title   # the escapes decode to the very text
    assert data["description"] == "</script><img src=x onerror=alert(1)>"
    assert data["author"][0]["name"] == "</script><script>alert('a')</script>"


# -- social previews ------------------------------------------------------------------------------


def test_every_page_has_open_graph_and_twitter_card_tags(shipped_site):
    locales = {"en": "en_US", "fi": "fi_FI"}
    for page in _pages(shipped_site):
        doc = _doc(page)
        name = page.relative_to(shipped_site).as_posix()
        for key in ("og:type", "og:site_name", "og:title", "og:description", "og:url", "og:locale",
                    "twitter:card", "twitter:title", "twitter:description"):
            assert len(_meta(doc, key)) == 1 and _meta(doc, key)[0].strip(), (name, key)
        assert _meta(doc, "og:url") == doc.xpath("//link[@rel='canonical']/@href"), name
        assert _meta(doc, "og:locale") == [locales[doc.get("lang")]], name
        if doc.xpath("//link[@rel='alternate'][@hreflang]"):
            assert _meta(doc, "og:locale:alternate") == [locales[lang] for lang in locales
                                                         if lang != doc.get("lang")], name
        images = _meta(doc, "og:image")
        if images:
            assert _meta(doc, "og:image:alt")[0] and _meta(doc, "twitter:image:alt")[0], name
            assert _meta(doc, "twitter:card") == ["summary_large_image"], name
            assert _file_of(shipped_site, images[0]).is_file(), name
        if name.startswith("news/"):
            assert _meta(doc, "og:type") == ["article"]
            if doc.xpath("//figure/img"):   # an SVG picture is previewed as its PNG rendition
                assert images[0].endswith(".png") and _meta(doc, "og:image:type") == ["image/png"], name
                assert _meta(doc, "og:image:alt") == doc.xpath("//figure/img/@alt")


# -- language of parts ----------------------------------------------------------------------------


def test_text_in_another_language_carries_its_lang(site):
    site.write_profile("kaupunki", "name: {fi: Kuopion kaupunki}\nkind: public-sector\n"
                       "description: {fi: Kaupunki tukee alan yrityksiä.}\n")
    site.write_news("vouchers", "title: Innovation vouchers\ndate: 2026-11-20\ntopics: [medtech]\n"
                    "organizations: [kaupunki, uef]\n")
    build_site(site.config, NOW)
    front = _doc(site.output / "index.html")
    assert front.xpath("//aside//a[text()='Kuopion kaupunki']/@lang") == ["fi"]
    assert front.xpath("//aside//a[text()='University of Eastern Finland']/@lang") == []
    item = _doc(site.output / "news" / "vouchers" / "index.html")
    assert item.xpath("//p[@class='orgs']/a/@lang") == ["fi"]
    org = _doc(site.output / "organizations" / "kaupunki" / "index.html")
    assert org.get("lang") == "en" and org.xpath("//h1/@lang") == ["fi"]
    assert org.xpath("//div[@class='body']/@lang") == ["fi"]
    fi = _doc(site.output / "fi" / "organizations" / "kaupunki" / "index.html")
    assert fi.xpath("//h1/@lang") == [] and fi.xpath("//div[@class='body']/@lang") == []


def test_service_forms_mark_newsletter_titles_in_another_language(shipped_site, monkeypatch):
    monkeypatch.setenv("NEWSROOM_SECRET", "seo-test-secret-0123456789")
    app = ServiceApp(load_config(shipped_site.parent / "newsroom.toml"))
    _, _, body = app.handle({"REQUEST_METHOD": "GET", "PATH_INFO": "/subscribe", "QUERY_STRING": "lang=fi",
                             "wsgi.input": io.BytesIO()})
    doc = lxml_html.fromstring(body)
    assert doc.get("lang") == "fi"
    options = {o.get("value"): o.get("lang") for o in doc.xpath("//select[@name='newsletter']/option")}
    assert options == {"weekly-en": "en", "viikko-fi": None, "medtech-en": "en"}
    assert _meta(doc, "og:locale") == ["fi_FI"] and _meta(doc, "og:title") == [doc.findtext(".//h1")]
