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
    assert {a.get("hreflang") for a in front.findall(f"{XHTML}link")} == {"en", "fi", "x-default"}
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
    [image] = data["image"]   # the SVG picture's PNG rendition, as og:image
    assert image["@type"] == "ImageObject" and image["url"] == _meta(doc, "og:image")[0]
    assert _file_of(shipped_site, image["url"]).is_file() and image["width"] == 1120 and image["height"] > 0
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
    site.write("media/logo.svg", '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"/>')
    site.write_profile("kys", "name: KYS\nkind: hospital\nwebsite: https://kys.example/\n"
                       "logo: {src: media/logo.svg, alt: The KYS logo}\n")
    build_site(site.config, NOW)
    doc = _doc(site.output / "organizations" / "kys" / "index.html")
    logo = _json_ld(doc)["logo"]
    assert logo.startswith("https://news.example.org/media/") and logo.endswith("-logo.svg")
    [preview] = _meta(doc, "og:image")   # its PNG rendition: previews show no SVG
    assert preview.endswith("-logo.png") and _meta(doc, "og:image:alt") == ["The KYS logo"]
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
            logo = name.startswith(("organizations/", "fi/organizations/"))   # a logo: a small card
            assert _meta(doc, "twitter:card") == ["summary" if logo else "summary_large_image"], name
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


# -- found in review ------------------------------------------------------------------------------

SVG = ('<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="600" viewBox="0 0 1200 600">'
       '<rect width="1200" height="600" fill="#0b5cab"/></svg>')
SIZELESS_SVG = '<svg xmlns="http://www.w3.org/2000/svg"/>'   # cairosvg cannot draw it


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG")
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_svg_pictures_and_logos_are_previewed_as_png_on_a_site_without_newsletters(site):
    assert not site.config.newsletters
    site.write("media/scan.svg", SVG)
    site.write("media/logo.svg", SVG.replace("#0b5cab", "#222"))
    site.write_news("scan", "title: Scan\ndate: 2026-11-20\ntopics: [medtech]\n"
                    "image: {src: media/scan.svg, alt: A scan}\n")
    site.write_profile("kys", "name: KYS\nkind: hospital\nlogo: {src: media/logo.svg, alt: The KYS logo}\n")
    build_site(site.config, NOW)
    item = _doc(site.output / "news" / "scan" / "index.html")
    [image] = _meta(item, "og:image")
    assert image.endswith("-scan.png") and _meta(item, "twitter:image") == [image]
    assert _meta(item, "og:image:type") == ["image/png"] and _meta(item, "og:image:alt") == ["A scan"]
    assert _meta(item, "twitter:card") == ["summary_large_image"]
    png = _file_of(site.output, image, "https://news.example.org/")
    assert _png_size(png) == (1120, 560)
    # the JSON-LD names the same PNG, with its size
    assert _json_ld(item)["image"] == [{"@type": "ImageObject", "url": image, "width": 1120, "height": 560}]
    # an organization's SVG logo: its PNG, as a small card (a logo is no large picture)
    org = _doc(site.output / "organizations" / "kys" / "index.html")
    [logo] = _meta(org, "og:image")
    assert logo.endswith("-logo.png") and _meta(org, "og:image:alt") == ["The KYS logo"]
    assert _png_size(_file_of(site.output, logo, "https://news.example.org/")) == (1120, 560)
    assert _meta(org, "twitter:card") == ["summary"] and _meta(org, "twitter:image") == [logo]


def test_an_svg_without_a_png_is_left_out_of_previews_for_the_site_logo(site, monkeypatch):
    site.config_path.write_text(site.config_path.read_text().replace(
        'feed_items = 5', 'feed_items = 5\nlogo = "media/site-logo.png"'))
    site.write("media/blank.svg", SIZELESS_SVG)
    site.write("media/scan.svg", SVG)
    site.write_news("blank", "title: Blank\ndate: 2026-11-20\ntopics: [medtech]\n"
                    "image: {src: media/blank.svg, alt: Nothing}\n")
    site.write_news("scan", "title: Scan\ndate: 2026-11-21\ntopics: [medtech]\n"
                    "image: {src: media/scan.svg, alt: A scan}\n")
    site.write_profile("kys", "name: KYS\nkind: hospital\nlogo: {src: media/blank.svg, alt: The KYS logo}\n")
    site_logo = "https://news.example.org/media/site-logo.png"

    def previews(path: str) -> tuple:
        doc = _doc(site.output / path)
        return (_meta(doc, "og:image"), _meta(doc, "twitter:image"), _meta(doc, "og:image:alt"),
                _meta(doc, "twitter:card"))

    fallback = ([site_logo], [site_logo], ["Test News"], ["summary"])
    build_site(site.config, NOW)
    assert previews("news/blank/index.html") == fallback            # cairosvg cannot draw it
    assert previews("organizations/kys/index.html") == fallback
    assert not list((site.output / "media").rglob("*blank.png"))
    assert previews("news/scan/index.html")[0][0].endswith("-scan.png")
    # without cairosvg no SVG has a PNG, and none is named
    monkeypatch.setattr("pipeline.build.can_rasterize", lambda: False)
    build_site(site.config, NOW)
    assert previews("news/scan/index.html") == fallback
    assert not (site.output / "media" / "email").exists()
    assert all(".svg" not in meta for page in _pages(site.output)
               for meta in _meta(_doc(page), "og:image") + _meta(_doc(page), "twitter:image"))


def test_the_publisher_has_the_site_logo_which_previews_pages_without_a_picture(site):
    site.config_path.write_text(site.config_path.read_text().replace(
        'feed_items = 5', 'feed_items = 5\nlogo = "media/site-logo.png"'))
    long_title = ("A very long headline about a regional research programme on neurodegenerative "
                  "diseases that goes on and on beyond what search results show")
    site.write_news("long", f"title: {long_title}\ndate: 2026-11-20\ntopics: [medtech]\n")
    build_site(site.config, NOW)
    logo = "https://news.example.org/media/site-logo.png"
    doc = _doc(site.output / "news" / "long" / "index.html")
    data = _json_ld(doc)
    assert data["publisher"] == {"@type": "Organization", "name": "Test News", "url": "https://news.example.org/",
                                 "logo": {"@type": "ImageObject", "url": logo}}
    assert _meta(doc, "og:image") == [logo] and _meta(doc, "twitter:card") == ["summary"]
    for page in ("index.html", "fi/index.html", "organizations/uef/index.html"):
        assert _meta(_doc(site.output / page), "og:image") == [logo], page
    # the headline: at most 110 characters, cut at a word
    headline = data["headline"]
    assert len(headline) <= 110 and headline.endswith("…") and doc.findtext(".//h1") == long_title
    assert long_title.startswith(headline[:-1]) and long_title[len(headline) - 1] == " "


def test_service_pages_give_their_own_url_or_none_and_never_a_token(shipped_site, monkeypatch):
    monkeypatch.setenv("NEWSROOM_SECRET", "seo-test-secret-0123456789")
    config = load_config(shipped_site.parent / "newsroom.toml")
    app = ServiceApp(config)

    def head(path: str, query: str) -> tuple:
        _, _, body = app.handle({"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query,
                                 "wsgi.input": io.BytesIO()})
        doc = lxml_html.fromstring(body)
        assert "token" not in etree.tostring(doc.find("head")).decode()
        return doc.xpath("//link[@rel='canonical']/@href"), _meta(doc, "og:url")

    service = config.service_url
    assert head("/subscribe", "") == ([f"{service}subscribe"], [f"{service}subscribe"])
    assert head("/subscribe", "lang=fi") == ([f"{service}subscribe?lang=fi"], [f"{service}subscribe?lang=fi"])
    assert head("/unsubscribe", "token=forged") == ([], [])   # a page behind a token: no URL to give
    assert config.site.base_url not in head("/subscribe", "")[0]


def test_hreflang_has_x_default_and_each_page_lists_itself(site):
    site.write_news("study", "title: Study\ndate: 2026-11-20\ntopics: [medtech]\ntranslation_key: s\n")
    site.write_news("tutkimus", "title: Tutkimus\ndate: 2026-11-20\nlang: fi\ntopics: [medtech]\n"
                    "translation_key: s\n")
    site.write_news("elsewhere", "title: Muualla\ndate: 2026-11-20\nlang: fi\ntopics: [medtech]\n"
                    "translation_key: e\ncanonical_url: https://www.uef.fi/uutiset/muualla\n")
    site.write_news("here", "title: Here\ndate: 2026-11-20\ntopics: [medtech]\ntranslation_key: e\n")
    build_site(site.config, NOW)
    base = "https://news.example.org/"
    study = {"en": f"{base}news/study/", "fi": f"{base}news/tutkimus/", "x-default": f"{base}news/study/"}
    fronts = {"en": base, "fi": f"{base}fi/", "x-default": base}

    def head(path: str) -> dict:
        doc = _doc(site.output / path)
        links = doc.xpath("//link[@rel='alternate'][@hreflang]")
        return {link.get("hreflang"): link.get("href") for link in links}

    assert head("news/study/index.html") == head("news/tutkimus/index.html") == study
    assert head("index.html") == head("fi/index.html") == fronts
    assert head("fi/organizations/uef/index.html")["x-default"] == f"{base}organizations/uef/"
    # a translation first published elsewhere is no alternate; nor has its page any
    assert head("news/here/index.html") == {} and head("news/elsewhere/index.html") == {}
    fi_page = _doc(site.output / "news" / "elsewhere" / "index.html")
    assert fi_page.xpath("//nav[@class='languages']/a/@hreflang") == ["en"]   # people still find it
    tree = etree.parse(str(site.output / "sitemap.xml"))
    entries = {u.findtext(f"{SM}loc"): {a.get("hreflang"): a.get("href") for a in u.findall(f"{XHTML}link")}
               for u in tree.getroot()}
    assert entries[f"{base}news/study/"] == entries[f"{base}news/tutkimus/"] == study
    assert entries[base] == entries[f"{base}fi/"] == fronts
    assert entries[f"{base}news/here/"] == {}


def test_the_language_menu_is_named_in_the_page_language(site):
    build_site(site.config, NOW)
    assert _doc(site.output / "index.html").xpath("//nav[@class='languages']/@aria-label") == ["Language"]
    assert _doc(site.output / "fi" / "index.html").xpath("//nav[@class='languages']/@aria-label") == ["Kieli"]


def test_robots_txt_keeps_crawlers_out_of_the_partner_files(shipped_site, site):
    lines = (shipped_site / "robots.txt").read_text().splitlines()
    assert lines.index("Disallow: /syndication/partners/") < lines.index("Allow: /")
    site.config_path.write_text(site.config_path.read_text().replace(
        'base_url = "https://news.example.org/"', 'base_url = "https://example.org/news/"'))
    build_site(site.config, NOW)
    robots = (site.output / "robots.txt").read_text().splitlines()
    assert "Disallow: /news/syndication/partners/" in robots
    assert "Sitemap: https://example.org/news/sitemap.xml" in robots


def test_the_subscribe_link_of_an_archive_page_opens_the_form_in_its_language(shipped_site):
    service = load_config(shipped_site.parent / "newsroom.toml").service_url
    for path, url in [("digests/viikko-fi/index.html", f"{service}subscribe?lang=fi"),
                      ("digests/viikko-fi/2026-W49/index.html", f"{service}subscribe?lang=fi"),
                      ("digests/weekly-en/index.html", f"{service}subscribe")]:
        links = [a for a in _doc(shipped_site / path).xpath("//a/@href") if "subscribe" in a
                 and "unsubscribe" not in a]
        assert links == [url], path
