"""``newsroom ingest`` against a real HTTP server on loopback (pytest-httpserver): RSS, Atom
and JSON Feed sources become reviewable Markdown files; conditional GET; updates and
dedupe across runs; an editor's edits survive; every hostile answer is one source's
report and changes nothing else."""

from __future__ import annotations

import gzip
import json
import time
from datetime import datetime
from pathlib import Path

import pytest
from werkzeug import Response

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.frontmatter import split_document
from pipeline.ingest import ingest, ingest_status
from pipeline.statedb import state_database

from .conftest import ROOT, SITE_TOML, Site

NOW = "2026-12-01T12:00"
WHEN = datetime.fromisoformat("2026-12-01T12:00:00+02:00")


def rss(*items: str, lang: str = "en") -> str:
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" '
            f'xmlns:media="http://search.yahoo.com/mrss/"><channel><title>UEF news</title>'
            f'<link>https://uef.example/</link><description>d</description><language>{lang}</language>'
            + "".join(items) + "</channel></rss>")


def rss_item(guid: str, title: str, date: str | None = "Mon, 30 Nov 2026 09:00:00 +0200",
             description: str = "<p>First paragraph.</p>", extra: str = "") -> str:
    when = f"<pubDate>{date}</pubDate>" if date else ""
    return (f"<item><title>{title}</title><guid>{guid}</guid><link>https://uef.example/news/{guid}</link>"
            f"{when}<description><![CDATA[{description}]]></description>{extra}</item>")


def atom(*entries: str, lang: str = "en") -> str:
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" '
            f'xml:lang="{lang}"><title>KYS</title><id>urn:kys</id><updated>2026-12-01T08:00:00Z</updated>'
            + "".join(entries) + "</feed>")


def atom_entry(id_: str, title: str, lang: str | None = None, updated: str = "2026-11-30T08:00:00Z",
               content: str = "&lt;p&gt;Hospital news.&lt;/p&gt;") -> str:
    attribute = f' xml:lang="{lang}"' if lang else ""
    return (f"<entry{attribute}><title>{title}</title><id>{id_}</id><link href='/uutiset/{id_[-1]}'/>"
            f"<published>2026-11-30T08:00:00Z</published><updated>{updated}</updated>"
            f"<summary>Summary of {title}</summary><content type='html'>{content}</content></entry>")


def json_feed(*items: dict) -> str:
    return json.dumps({"version": "https://jsonfeed.org/version/1.1", "title": "FinVector",
                       "language": "en", "items": list(items)})


def source(name: str, url: str, **settings) -> str:
    lines = [f'[[sources]]\nid = "{name}"\nurl = "{url}"\norganization = "uef"\ntopics = ["neurological"]']
    lines += [f"{key} = {json.dumps(value)}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def make_site(tmp_path):
    def make(*sources: str, limits: str = "[limits]\nfetch_seconds = 3\nfeed_bytes = 2000000\n") -> Site:
        return Site(tmp_path, SITE_TOML + "\n" + limits + "\n" + "\n".join(sources))
    return make


def ingested(site: Site, name: str) -> dict[str, dict]:
    """The ingested files of a source: file name -> front matter and body."""
    folder = site.root / "content/news/ingested" / name
    out = {}
    for path in sorted(folder.glob("*.md")) if folder.is_dir() else []:
        doc = split_document(path.read_bytes())
        out[path.name] = {**doc.meta, "body": doc.body}
    return out


def serve_feed(httpserver, *documents: str) -> list[str]:
    """Serve ``documents[0]`` at /uef.rss; a test changes what upstream says by putting
    another document in the returned list's first place."""
    feeds = list(documents)
    httpserver.expect_request("/uef.rss").respond_with_handler(
        lambda request: Response(feeds[0], content_type="application/rss+xml"))
    return feeds


def run_ingest(site: Site, *args: str, now: str = NOW) -> int:
    return main(["ingest", *args, "--now", now, "--config", str(site.config_path)])


def build(site: Site, now: str = NOW) -> None:
    assert main(["build", "--now", now, "--config", str(site.config_path)]) == 0


# -- the three formats ------------------------------------------------------------------------


def test_an_rss_source_becomes_draft_markdown_files_that_build(make_site, httpserver, capsys):
    feed = rss(rss_item("a1", "Brain study", description='<p>Hello <a href="/more">more</a>'
                        '<script>alert(1)</script><img src="https://t.example/pixel.gif"></p>'
                        '<p onclick="x()">Second <a href="javascript:alert(1)">bad</a></p>',
                        extra='<media:content url="https://uef.example/brain.jpg" medium="image"/>'),
               rss_item("a2", "Aivotutkimus &amp; muuta", description="<p>Suomeksi.</p>"))
    httpserver.expect_request("/uef.rss").respond_with_data(feed, content_type="application/rss+xml")
    site = make_site(source("uef", httpserver.url_for("/uef.rss")))
    assert run_ingest(site) == 0
    assert "uef: 2 new, 0 updated, 0 unchanged" in capsys.readouterr().out
    files = ingested(site, "uef")
    assert len(files) == 2
    brain = next(f for f in files.values() if f["title"] == "Brain study")
    assert brain["status"] == "draft" and brain["topics"] == ["neurological"]
    assert brain["organizations"] == ["uef"]
    assert brain["lang"] == "en" and brain["date"] == "2026-11-30T09:00:00+02:00"
    assert brain["canonical_url"] == "https://uef.example/news/a1"
    assert brain["image"] == {"src": "https://uef.example/brain.jpg", "alt": "Brain study"}
    assert brain["id"].startswith("tag:news.example.org,2026:ingested/uef/")
    assert brain["summary"] == "Hello more Second bad"
    body = brain["body"]
    assert f'<a href="{httpserver.url_for("/more")}">more</a>' in body   # relative to the feed
    for hostile in ("script", "alert", "<img", "onclick", "javascript"):
        assert hostile not in body
    assert any(f["title"] == "Aivotutkimus & muuta" for f in files.values())
    build(site)   # drafts: checked by the build, not published
    assert not (site.output / "news" / brain["slug"]).exists()


def test_published_sources_appear_in_feeds_linking_to_the_original(make_site, httpserver):
    feed = atom(atom_entry("urn:kys:1", "Uusi sairaala", lang="fi"), atom_entry("urn:kys:2", "New wing"))
    httpserver.expect_request("/kys.atom").respond_with_data(feed, content_type="application/atom+xml")
    site = make_site(source("kys", httpserver.url_for("/kys.atom"), publish="published"))
    assert run_ingest(site) == 0
    files = ingested(site, "kys")
    assert {f["lang"] for f in files.values()} == {"fi", "en"}   # the entry's xml:lang, else the feed's
    assert {f["status"] for f in files.values()} == {"published"}
    build(site)
    items = json.loads((site.output / "feeds/en/index.json").read_text())["items"]
    new_wing = next(i for i in items if i["title"] == "New wing")
    assert new_wing["external_url"] == httpserver.url_for("/uutiset/2")
    assert new_wing["id"].startswith("tag:news.example.org,2026:ingested/kys/")
    assert any(i["title"] == "Uusi sairaala"
               for i in json.loads((site.output / "feeds/fi/index.json").read_text())["items"])


def test_a_json_feed_source(make_site, httpserver, capsys):
    feed = json_feed(
        {"id": 17, "url": "/products/17", "title": "Gene therapy trial", "content_text": "One.\n\nTwo <b>",
         "date_published": "2026-11-28T10:00:00Z", "image": "https://finvector.example/t.png",
         "authors": [{"name": "Ann Author"}, {"name": "<b>Bob</b>"}]},
        {"id": "no-date", "title": "Undated", "content_html": "<p>Text</p>", "language": "fi"},
        {"id": "sv", "title": "Svensk", "content_html": "<p>Hej</p>", "language": "sv"})
    httpserver.expect_request("/feed.json").respond_with_data(feed, content_type="application/feed+json")
    site = make_site(source("finvector", httpserver.url_for("/feed.json")))
    assert run_ingest(site) == 0
    out = capsys.readouterr().out
    assert "1 new" not in out and "2 new" in out
    assert "'Undated': no date: dated at the fetch time" in out
    assert "skipped 'Svensk': its language 'sv' is not one of the site's (en, fi)" in out
    files = {f["title"]: f for f in ingested(site, "finvector").values()}
    trial = files["Gene therapy trial"]
    assert trial["canonical_url"] == httpserver.url_for("/products/17")
    assert trial["authors"] == ["Ann Author", "<b>Bob</b>"]   # plain text: escaped where shown
    assert "<p>One.</p>" in trial["body"] and "<p>Two &lt;b&gt;</p>" in trial["body"]
    assert files["Undated"]["date"] == "2026-12-01T12:00:00+02:00" and files["Undated"]["lang"] == "fi"
    build(site)


def test_a_future_date_is_an_embargo_only_from_a_trusted_source(make_site, httpserver, capsys):
    future = rss_item("f1", "Embargoed", date="Fri, 04 Dec 2026 09:00:00 +0200")
    httpserver.expect_request("/a.rss").respond_with_data(rss(future), content_type="application/rss+xml")
    httpserver.expect_request("/b.rss").respond_with_data(rss(future), content_type="application/rss+xml")
    site = make_site(source("untrusted", httpserver.url_for("/a.rss")),
                     source("trusted", httpserver.url_for("/b.rss"), trusted=True))
    assert run_ingest(site) == 0
    assert "dated in the future (2026-12-04T09:00+02:00): dated at the fetch time" in capsys.readouterr().out
    [clamped] = ingested(site, "untrusted").values()
    [kept] = ingested(site, "trusted").values()
    assert clamped["date"] == "2026-12-01T12:00:00+02:00" and kept["date"] == "2026-12-04T09:00:00+02:00"
    assert run_ingest(site, now="2026-12-01T13:00") == 0   # a refetch is no change: the date stays
    assert ingested(site, "untrusted") == {n: clamped for n in ingested(site, "untrusted")}


# -- conditional GET, updates, dedupe ---------------------------------------------------------


def test_conditional_get_sends_the_validators_and_a_304_changes_nothing(make_site, httpserver, capsys):
    feed = rss(rss_item("a1", "Brain study"))
    seen = []

    def handler(request):
        seen.append((request.headers.get("If-None-Match"), request.headers.get("If-Modified-Since"),
                     request.headers.get("User-Agent")))
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304, headers={"ETag": '"v1"'})
        return Response(feed, content_type="application/rss+xml",
                        headers={"ETag": '"v1"', "Last-Modified": "Mon, 30 Nov 2026 08:00:00 GMT"})

    httpserver.expect_request("/uef.rss").respond_with_handler(handler)
    site = make_site(source("uef", httpserver.url_for("/uef.rss")))
    assert run_ingest(site) == 0
    before = {p: p.read_bytes() for p in (site.root / "content").rglob("*.md")}
    assert run_ingest(site, now="2026-12-01T12:30") == 0
    assert "uef: not modified" in capsys.readouterr().out
    assert seen[0][:2] == (None, None)
    assert seen[1][:2] == ('"v1"', "Mon, 30 Nov 2026 08:00:00 GMT")
    assert seen[0][2] == "Newsroom/0.1.0 (+https://news.example.org/)"
    assert {p: p.read_bytes() for p in (site.root / "content").rglob("*.md")} == before
    [status] = ingest_status(site.config)
    assert (status.health, status.last_success[:16], status.items) == ("ok", "2026-12-01T12:30", 1)


def test_refetching_never_duplicates_and_an_upstream_change_updates_the_item_once(make_site, httpserver,
                                                                                    capsys):
    feeds = serve_feed(httpserver,
                       rss(rss_item("a1", "Brain study"), rss_item("a1", "Brain study (duplicate guid)")),
                       rss(rss_item("a1", "Brain study, corrected"), rss_item("a2", "Second")))
    site = make_site(source("uef", httpserver.url_for("/uef.rss"), publish="published"))
    assert run_ingest(site) == 0
    build(site)
    assert run_ingest(site, now="2026-12-01T12:10") == 0
    assert "uef: 0 new, 0 updated, 1 unchanged" in capsys.readouterr().out
    [first] = ingested(site, "uef").values()
    feeds[0] = feeds[1]
    assert run_ingest(site, now="2026-12-01T12:20") == 0
    assert "uef: 1 new, 1 updated, 0 unchanged" in capsys.readouterr().out
    files = {f["id"]: f for f in ingested(site, "uef").values()}
    assert len(files) == 2
    corrected = files[first["id"]]
    assert corrected["title"] == "Brain study, corrected" and corrected["slug"] == first["slug"]
    assert corrected["updated"] == "2026-12-01T12:20:00+02:00"   # upstream did not say when: now
    build(site, "2026-12-01T12:21")
    build(site, "2026-12-01T12:22")
    with state_database(site.config) as db:
        events = db.query("SELECT type FROM events WHERE subject = :id", {"id": first["id"]})
    assert sorted(t for (t,) in events) == ["item.published", "item.updated"]


# -- editors ----------------------------------------------------------------------------------


def test_an_editors_edit_survives_and_merges_with_upstream_changes(make_site, httpserver, capsys):
    feeds = serve_feed(httpserver, rss(rss_item("a1", "Brain study", description="<p>Original text.</p>")))
    site = make_site(source("uef", httpserver.url_for("/uef.rss")))
    assert run_ingest(site) == 0
    [path] = (site.root / "content/news/ingested/uef").glob("*.md")
    text = path.read_text().replace("status: draft", "status: published").replace(
        "title: Brain study", "title: Brain study finds a marker")
    path.write_text(text)
    assert run_ingest(site, now="2026-12-01T12:10") == 0
    assert path.read_text() == text   # upstream unchanged: the editor's file is untouched

    feeds[0] = rss(rss_item("a1", "Brain study", description="<p>Corrected text.</p>"))
    assert run_ingest(site, now="2026-12-01T12:20") == 0
    assert "1 updated" in capsys.readouterr().out
    merged = split_document(path.read_bytes())
    assert merged.meta["title"] == "Brain study finds a marker" and merged.meta["status"] == "published"
    assert "Corrected text." in merged.body and merged.meta["summary"] == "Corrected text."
    assert not path.with_name(path.name + ".upstream").exists()

    feeds[0] = rss(rss_item("a1", "Brain study: a new title", description="<p>Corrected text.</p>"))
    assert run_ingest(site, now="2026-12-01T12:30") == 0
    out = capsys.readouterr().out
    assert "1 conflict(s)" in out and "title changed both here and upstream" in out
    assert split_document(path.read_bytes()).meta["title"] == "Brain study finds a marker"
    sidecar = path.with_name(path.name + ".upstream")
    assert split_document(sidecar.read_bytes()).meta["title"] == "Brain study: a new title"
    assert ingest_status(site.config)[0].conflicts == 1
    assert run_ingest(site, now="2026-12-01T12:40") == 0   # reported once, not on every fetch
    assert "conflict" not in capsys.readouterr().out
    build(site, "2026-12-01T12:40")   # the sidecar is no content file


def test_a_file_an_editor_deleted_stays_deleted(make_site, httpserver, capsys):
    feeds = serve_feed(httpserver, rss(rss_item("a1", "Brain study")))
    site = make_site(source("uef", httpserver.url_for("/uef.rss")))
    assert run_ingest(site) == 0
    [path] = (site.root / "content/news/ingested/uef").glob("*.md")
    path.unlink()
    assert run_ingest(site, now="2026-12-01T12:10") == 0
    feeds[0] = rss(rss_item("a1", "Brain study, corrected"))
    assert run_ingest(site, now="2026-12-01T12:20") == 0
    assert "1 deleted by an editor (left deleted)" in capsys.readouterr().out
    assert ingested(site, "uef") == {}


def test_a_symbolic_link_in_place_of_the_source_folder_is_refused(make_site, httpserver, tmp_path_factory,
                                                                    capsys):
    httpserver.expect_request("/uef.rss").respond_with_data(rss(rss_item("a1", "Brain study")))
    site = make_site(source("uef", httpserver.url_for("/uef.rss")))
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    (site.root / "content/news/ingested").mkdir(parents=True)
    (site.root / "content/news/ingested/uef").symlink_to(elsewhere)
    assert run_ingest(site) == 1
    assert "is not a plain folder (a symbolic link or a file): refused" in capsys.readouterr().out
    assert list(elsewhere.iterdir()) == []


# -- hostile upstreams ------------------------------------------------------------------------

LAUGHS = ["&lol;" * 10] + [f"&lol{i};" * 10 for i in range(1, 9)]
BILLION_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  + "".join(f'<!ENTITY lol{i + 1} "{text}">' for i, text in enumerate(LAUGHS))
                  + ']><rss version="2.0"><channel><title>&lol9;</title></channel></rss>')


def drip(request):
    def slowly():
        yield b'<?xml version="1.0"?><rss version="2.0"><channel>'
        for _ in range(20):
            time.sleep(0.25)
            yield b" "
    return Response(slowly(), content_type="application/rss+xml")


def huge(request):
    def chunks():
        yield b'<?xml version="1.0"?><rss version="2.0"><channel><title>'
        for _ in range(50):
            yield b"x" * 1_000_000
    return Response(chunks(), content_type="application/rss+xml")


def gzip_bomb(request):
    return Response(gzip.compress(b"<rss>" + b" " * 50_000_000), content_type="application/rss+xml",
                    headers={"Content-Encoding": "gzip"})


def stall(request):
    time.sleep(4)
    return Response(rss(), content_type="application/rss+xml")


FAULTS = {
    "malformed": (lambda r: Response(rss(rss_item("a1", "Tom & Jerry")), content_type="application/rss+xml"),
                  "malformed XML: line 2:197: not well-formed (invalid token)"),
    "html": (lambda r: Response("<!doctype html><html><body><p>Welcome</p></body></html>",
                                content_type="text/html"),
             "not an RSS or Atom feed (the body is an HTML page)"),
    "laughs": (lambda r: Response(BILLION_LAUGHS, content_type="application/rss+xml"),
               "the document declares XML entities (<!ENTITY): refused"),
    "huge": (huge, "the body is larger than 2,000,000 bytes (limits.feed_bytes); stopped there"),
    "bomb": (gzip_bomb, "the body is larger than 2,000,000 bytes (limits.feed_bytes); stopped there"),
    "drip": (drip, "took longer than 3 s (limits.fetch_seconds)"),
    "stall": (stall, "took longer than 3 s (limits.fetch_seconds)"),
    "error": (lambda r: Response("oops", status=500), "HTTP 500 INTERNAL SERVER ERROR"),
    "loop": (lambda r: Response(status=302, headers={"Location": "/loop2"}), "redirect loop at"),
    "ftp": (lambda r: Response(status=301, headers={"Location": "ftp://uef.example/feed.xml"}),
            "redirected to ftp://uef.example/feed.xml: only http and https URLs are followed"),
    "file": (lambda r: Response(status=307, headers={"Location": "file:///etc/passwd"}),
             "redirected to file:///etc/passwd: only http and https URLs are followed"),
    "deep": (lambda r: Response("[" * 100_000 + "]" * 100_000, content_type="application/feed+json"),
             "not a JSON Feed"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_hostile_source_is_reported_and_nothing_else_changes(make_site, httpserver, capsys, fault):
    handler, message = FAULTS[fault]
    httpserver.expect_request("/bad").respond_with_handler(handler)
    httpserver.expect_request("/loop2").respond_with_handler(
        lambda r: Response(status=302, headers={"Location": "/bad"}))
    good = [rss(rss_item("a1", "Brain study"))]
    httpserver.expect_request("/good.rss").respond_with_handler(
        lambda r: Response(good[0], content_type="application/rss+xml"))
    site = make_site(source("bad", httpserver.url_for("/bad")),
                     source("good", httpserver.url_for("/good.rss")))
    assert run_ingest(site, "good") == 0
    before = {p: p.read_bytes() for p in (site.root / "content").rglob("*") if p.is_file()}
    good[0] = rss(rss_item("a2", "Second study"))
    started = time.monotonic()
    assert run_ingest(site) == 1
    assert time.monotonic() - started < 10
    captured = capsys.readouterr()
    assert f"bad: failed: {message}" in captured.out
    assert "1 source(s) failed: bad" in captured.err
    assert "good: 1 new" in captured.out   # the other source goes on
    after = {p: p.read_bytes() for p in (site.root / "content").rglob("*") if p.is_file()}
    assert {p: after[p] for p in before} == before and len(after) == len(before) + 1
    assert not (site.root / "content/news/ingested/bad").exists() or ingested(site, "bad") == {}


def test_429_waits_for_retry_after_and_failures_make_a_source_unhealthy(make_site, httpserver, capsys):
    answers = [Response("slow down", status=429, headers={"Retry-After": "600"})]
    httpserver.expect_request("/uef.rss").respond_with_handler(lambda r: answers[0])
    site = make_site(source("uef", httpserver.url_for("/uef.rss")))
    assert run_ingest(site) == 1
    assert "uef: failed: HTTP 429 TOO MANY REQUESTS; retrying after 2026-12-01T12:10:00+02:00" \
        in capsys.readouterr().out
    assert run_ingest(site, now="2026-12-01T12:05") == 0
    assert "uef: waiting until 2026-12-01T12:10+02:00" in capsys.readouterr().out
    assert len(httpserver.log) == 1   # not asked again before Retry-After
    answers[0] = Response("down", status=503)
    for minute in (11, 30, 50):
        run_ingest(site, now=f"2026-12-01T12:{minute}")
    capsys.readouterr()
    [status] = ingest_status(site.config)
    assert status.health == "unhealthy" and status.failures == 4
    assert main(["ingest", "--status", "--config", str(site.config_path)]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split()[:3] == ["source", "health", "last"]
    assert "unhealthy" in table and "HTTP 503" in table


def test_a_redirect_from_a_public_host_to_loopback_is_refused():
    from pipeline.fetch import Fetcher, FetchError

    fetcher = Fetcher("test", 10_000, 5)
    with pytest.raises(FetchError, match="an internal address"):
        fetcher._next_hop(["https://feeds.example.org/a"], "http://127.0.0.1:8080/admin")
    with pytest.raises(FetchError, match="an internal address"):
        fetcher._next_hop(["https://feeds.example.org/a"], "http://169.254.169.254/latest/meta-data")
    assert fetcher._next_hop(["http://127.0.0.1:1/a"], "/b") == "http://127.0.0.1:1/b"


# -- the command line and the daemon ----------------------------------------------------------


def test_the_command_line_names_an_unknown_source(make_site, httpserver, capsys):
    site = make_site(source("uef", httpserver.url_for("/uef.rss")))
    assert run_ingest(site, "nope") == 2
    assert "no source 'nope' in newsroom.toml (there are: uef)" in capsys.readouterr().err


@pytest.mark.parametrize(("settings", "message"), [
    ({"url": "file:///etc/passwd"}, "sources[0].url: expected an http:// or https:// URL"),
    ({"lang": "sv"}, "sources[0].lang: 'sv' is not in site.languages"),
    ({"max_items": 0}, "sources[0].max_items: expected 1 to 1000"),
    ({"topics": []}, "sources[0].topics: name at least one topic"),
])
def test_sources_are_checked_in_the_configuration(tmp_path, settings, message):
    from pipeline.config import ConfigError

    settings = dict(settings)
    text = source("uef", settings.pop("url", "https://uef.example/feed"), **settings)
    if "topics" in settings:
        text = text.replace('topics = ["neurological"]\n', "")
    path = tmp_path / "newsroom.toml"
    path.write_text(SITE_TOML + "\n" + text)
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert message in str(raised.value)


def test_the_daemons_once_run_ingests_then_builds(make_site, httpserver):
    from pipeline.runtime import run_once

    httpserver.expect_request("/uef.rss").respond_with_data(rss(rss_item("a1", "Brain study")),
                                                            content_type="application/rss+xml")
    site = make_site(source("uef", httpserver.url_for("/uef.rss"), publish="published"))
    run_once(site.config)
    [item] = ingested(site, "uef").values()
    assert (site.output / "news" / item["slug"] / "index.html").exists()


def test_ingest_reports_are_per_source(make_site, httpserver):
    httpserver.expect_request("/uef.rss").respond_with_data(rss(rss_item("a1", "Brain study")))
    site = make_site(source("uef", httpserver.url_for("/uef.rss")))
    [report] = ingest(site.config, now=WHEN)
    assert report.ok and report.new == 1 and report.changed
    assert not Path(site.root / "state/.ingest.lock").read_bytes()


def test_the_shipped_configuration_carries_source_examples_that_load(tmp_path):
    text = (ROOT / "newsroom.toml").read_text(encoding="utf-8")
    block = text[text.index("# [[sources]]"):text.index("# Email digests")]
    uncommented = "\n".join(line[2:] if line.startswith("# ") else line.lstrip("#")
                            for line in block.splitlines())
    path = tmp_path / "newsroom.toml"
    path.write_text(text + "\n" + uncommented, encoding="utf-8")
    config = load_config(path)
    assert [s.id for s in config.sources] == ["uef", "kuh"]
    assert config.sources[0].publish == "draft" and config.sources[1].trusted


# -- found by review: each once a way to break a build, leak, or lose an update ---------------


def test_one_press_release_in_two_sources_is_two_items_and_the_build_passes(make_site, httpserver):
    joint = rss(rss_item("joint-1", "Joint study"))
    httpserver.expect_request("/a.rss").respond_with_data(joint, content_type="application/rss+xml")
    httpserver.expect_request("/b.rss").respond_with_data(joint, content_type="application/rss+xml")
    site = make_site(source("uef", httpserver.url_for("/a.rss"), publish="published"),
                     source("kys", httpserver.url_for("/b.rss"), publish="published"))
    site.write_news("joint-study", "title: Ours\ndate: 2026-11-20\ntopics: [neurological]\n")
    assert run_ingest(site) == 0
    [a], [b] = ingested(site, "uef").values(), ingested(site, "kys").values()
    assert a["slug"] != b["slug"] and a["id"] != b["id"]
    build(site)


def test_carriage_returns_cannot_end_the_html_block_and_smuggle_markdown(make_site, httpserver):
    content = ("<p>Intro&#13;&#13;![](https://tracker.example/pixel.gif?u=1)&#13;&#13;| a | b |&#13;"
               "|---|---|&#13;| 1 | 2 |</p><pre lang='x'>a\n\nb</pre>")
    feed = json_feed({"id": "x", "title": "Tracked", "content_html": content,
                      "date_published": "2026-11-28T10:00:00Z"})
    httpserver.expect_request("/f.json").respond_with_data(feed, content_type="application/feed+json")
    site = make_site(source("fv", httpserver.url_for("/f.json"), publish="published"))
    assert run_ingest(site) == 0
    [item] = ingested(site, "fv").values()
    build(site)
    page = (site.output / "news" / item["slug"] / "index.html").read_text()
    assert 'src="https://tracker.example' not in page and "<table" not in page


def test_a_public_source_never_reaches_an_internal_address(make_site, httpserver, capsys, monkeypatch):
    import pipeline.fetch

    monkeypatch.setattr(pipeline.fetch, "_source_is_internal", lambda url: False)   # as if public
    httpserver.expect_request("/uef.rss").respond_with_data(rss(rss_item("a1", "Secret")))
    site = make_site(source("uef", httpserver.url_for("/uef.rss")))
    assert run_ingest(site) == 1
    assert "is an internal address (127.0.0.1): refused" in capsys.readouterr().out
    assert ingested(site, "uef") == {}


def test_validators_are_kept_only_for_a_feed_read_whole_under_the_same_settings(make_site, httpserver):
    mixed = atom(atom_entry("urn:kys:1", "English"), atom_entry("urn:kys:2", "Svenska", "sv"))
    feeds = {"/mixed.atom": mixed,
             "/two.atom": atom(atom_entry("urn:kys:3", "First"), atom_entry("urn:kys:4", "Second"))}
    seen: dict[str, list] = {path: [] for path in feeds}

    def handler(request):
        seen[request.path].append(request.headers.get("If-None-Match"))
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304)
        return Response(feeds[request.path], content_type="application/atom+xml", headers={"ETag": '"v1"'})

    for path in feeds:
        httpserver.expect_request(path).respond_with_handler(handler)
    site = make_site(source("mixed", httpserver.url_for("/mixed.atom")),
                     source("two", httpserver.url_for("/two.atom"), max_items=1))
    assert run_ingest(site) == 0
    assert run_ingest(site, now="2026-12-01T12:10") == 0
    assert seen["/mixed.atom"] == [None, None]   # an entry was skipped: no 304 may hide it later
    assert seen["/two.atom"] == [None, '"v1"']
    site.config_path.write_text(site.config_path.read_text().replace("max_items = 1", "max_items = 5"))
    assert run_ingest(site, now="2026-12-01T12:20") == 0   # other settings: the feed is read whole
    assert seen["/two.atom"][-1] is None and len(ingested(site, "two")) == 2


def test_impossible_dates_and_retry_afters_are_one_entrys_or_one_fetchs_trouble(make_site, httpserver,
                                                                                  capsys):
    feed = json_feed({"id": "old", "title": "Year one", "date_published": "0001-01-01T00:00:00+01:00"},
                     {"id": "far", "title": "Far future", "date_published": "9999-12-31T23:59:59-01:00"},
                     {"id": "ok", "title": "Fine", "date_published": "2026-11-28T10:00:00Z"})
    httpserver.expect_request("/f.json").respond_with_data(feed, content_type="application/feed+json")
    httpserver.expect_request("/busy").respond_with_handler(
        lambda r: Response("busy", status=429, headers={"Retry-After": "9" * 25}))
    site = make_site(source("fv", httpserver.url_for("/f.json"), trusted=True),
                     source("busy", httpserver.url_for("/busy")))
    assert run_ingest(site) == 1
    out = capsys.readouterr().out
    assert "fv: 3 new" in out and "internal error" not in out
    assert "busy: failed: HTTP 429 TOO MANY REQUESTS; retrying after 2026-12-01T12:10" in out
    titles = {f["title"]: f["date"] for f in ingested(site, "fv").values()}
    assert titles["Fine"] == "2026-11-28T12:00:00+02:00" and titles["Year one"] == "2026-12-01T12:00:00+02:00"


def test_a_malformed_redirect_and_an_unasked_304_are_clear_errors(make_site, httpserver, capsys):
    from pipeline.fetch import Fetcher, FetchError

    with pytest.raises(FetchError, match=r"redirected to a malformed URL: http://\[::1"):
        Fetcher("test", 10_000, 5)._next_hop(["https://feeds.example.org/a"], "http://[::1")
    httpserver.expect_request("/304").respond_with_handler(lambda r: Response(status=304))
    site = make_site(source("nm", httpserver.url_for("/304")))
    assert run_ingest(site) == 1
    assert "nm: failed: HTTP 304 Not Modified to a request that asked for the whole feed" \
        in capsys.readouterr().out


def test_an_editors_embargo_and_broken_yaml_do_not_block_upstream_changes(make_site, httpserver, capsys):
    feeds = serve_feed(httpserver, rss(rss_item("a1", "Study", description="<p>One.</p>")))
    site = make_site(source("uef", httpserver.url_for("/uef.rss")))
    assert run_ingest(site) == 0
    [path] = (site.root / "content/news/ingested/uef").glob("*.md")
    path.write_text(path.read_text().replace("date: '2026-11-30T09:00:00+02:00'",
                                             "date: '2026-12-24T09:00:00+02:00'"))
    feeds[0] = rss(rss_item("a1", "Study", description="<p>Two.</p>"))
    assert run_ingest(site, now="2026-12-01T13:00") == 0
    merged = split_document(path.read_bytes())
    assert "Two." in merged.body and merged.meta["date"] == "2026-12-24T09:00:00+02:00"
    assert "updated" not in merged.meta   # no update before the editor's embargo
    capsys.readouterr()

    good = path.read_text()
    path.write_text(good.replace("title: Study", "title: [unclosed"))
    feeds[0] = rss(rss_item("a1", "Study", description="<p>Three.</p>"))
    assert run_ingest(site, now="2026-12-01T14:00") == 0
    assert "its front matter cannot be read" in capsys.readouterr().out
    path.write_text(good)   # fixed: upstream's change then merges
    assert run_ingest(site, now="2026-12-01T15:00") == 0
    assert "Three." in split_document(path.read_bytes()).body


def test_a_source_whose_organization_has_no_profile_is_refused(make_site, httpserver, capsys):
    httpserver.expect_request("/x.rss").respond_with_data(rss(rss_item("a1", "Study")))
    site = make_site(source("x", httpserver.url_for("/x.rss")).replace('"uef"', '"nobody"'))
    assert run_ingest(site) == 1
    assert "x: failed: organization 'nobody' has no profile (content/profiles/nobody.md)" \
        in capsys.readouterr().out
    assert len(httpserver.log) == 0


def test_a_feed_of_too_many_entries_is_refused_before_parsing(make_site, httpserver, capsys):
    feed = rss(*[rss_item(f"g{n}", f"T{n}") for n in range(1001)])
    httpserver.expect_request("/big.rss").respond_with_data(feed, content_type="application/rss+xml")
    site = make_site(source("big", httpserver.url_for("/big.rss")))
    assert run_ingest(site) == 1
    assert "the feed has 1,001 entries; at most 1,000 are read" in capsys.readouterr().out


def test_an_entry_nested_too_deeply_is_skipped_in_bounded_time(make_site, httpserver, capsys):
    import html

    deep = "<ul><li>" * 20_000 + "x" + "</li></ul>" * 20_000
    feed = rss(rss_item("deep", "Deep", description="").replace("<![CDATA[]]>", html.escape(deep)),
               rss_item("fine", "Fine"))
    httpserver.expect_request("/d.rss").respond_with_data(feed, content_type="application/rss+xml")
    site = make_site(source("d", httpserver.url_for("/d.rss")))
    started = time.monotonic()
    assert run_ingest(site) == 0
    assert time.monotonic() - started < 3   # sanitizing it would take seconds
    assert "\n  d: skipped 'Deep': its content holds 20,000 HTML elements" in capsys.readouterr().out
    assert [f["title"] for f in ingested(site, "d").values()] == ["Fine"]
