"""Partner files, the directory files, the change log with tombstones, and their schemas."""

from __future__ import annotations

import json
from datetime import timedelta

import jsonschema
import pytest

from pipeline.build import build_site
from pipeline.config import ConfigError
from pipeline.render.schemas import SCHEMA_NAMES, load_schema

from .conftest import NOW, SITE_TOML

PARTNERS = """
[[partners]]
id = "everything"
max_items = 50

[[partners]]
id = "medtech-en"
topics = ["medtech"]
languages = ["en"]
max_items = 2
include_partner_only = true
utm = { source = "newsroom", medium = "syndication" }

[[partners]]
id = "neuro-fi"
topics = ["neurological"]
languages = ["fi"]
"""

SCHEMA_OF = {"partner": "partner", "profiles": "profiles", "topics": "topics", "changes": "changes"}


@pytest.fixture
def partner_site(site):
    with_attribution = SITE_TOML.replace("feed_items = 5\n",
                                         'feed_items = 5\nattribution = "Source: Test News"\n')
    site.config_path.write_text(with_attribution + PARTNERS, encoding="utf-8")
    for n in range(4):
        site.write_news(f"med-{n}", f"title: Med {n}\ndate: 2026-11-0{n + 1}T10:00\ntopics: [medtech]\n"
                        "organizations: [uef]\n")
    site.write_news("neuro-en", "title: Neuro EN\ndate: 2026-11-10\ntopics: [neurological]\n"
                    "translation_key: neuro\n")
    site.write_news("neuro-fi", "title: Neuro FI\ndate: 2026-11-10\nlang: fi\ntopics: [neurological]\n"
                    "translation_key: neuro\n")
    site.write_news("partner-note", "title: Partner note\ndate: 2026-11-20\ntopics: [medtech]\n"
                    "visibility: partners\n")
    site.write_news("embargoed", "title: Embargoed secret\ndate: 2026-12-24\ntopics: [medtech]\n")
    site.write_news("draft", "title: Draft secret\ndate: 2026-11-02\nstatus: draft\ntopics: [medtech]\n")
    return site


def _json(site, path):
    return json.loads((site.output / path).read_text(encoding="utf-8"))


def _ids(site, partner):
    return [i["id"].removeprefix("https://news.example.org/news/").strip("/")
            for i in _json(site, f"syndication/partners/{partner}.json")["items"]]


def test_every_syndication_file_validates_against_its_published_schema(partner_site):
    build_site(partner_site.config, NOW)
    manifest = _json(partner_site, "syndication/index.json")
    jsonschema.validate(manifest, load_schema("index"), format_checker=jsonschema.FormatChecker())
    kinds = {f["kind"] for f in manifest["files"]}
    assert {"partner", "profiles", "topics", "changes", "schema"} <= kinds
    for entry in manifest["files"]:
        if entry["kind"] in SCHEMA_OF:
            schema = load_schema(SCHEMA_OF[entry["kind"]])
            jsonschema.validate(_json(partner_site, entry["path"]), schema,
                                format_checker=jsonschema.FormatChecker())
    published = {f["path"] for f in manifest["files"] if f["kind"] == "schema"}
    assert published == {f"syndication/schema/{n}.schema.json" for n in SCHEMA_NAMES}
    for path in published:
        schema = _json(partner_site, path)
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["$id"] == "https://news.example.org/" + path


def test_partner_files_filter_by_topic_language_cap_and_partner_only(partner_site):
    build_site(partner_site.config, NOW)
    assert _ids(partner_site, "everything") == ["neuro-en", "neuro-fi", "med-3", "med-2", "med-1", "med-0"]
    assert _ids(partner_site, "medtech-en") == ["partner-note", "med-3"]
    assert _ids(partner_site, "neuro-fi") == ["neuro-fi"]


def test_partner_items_carry_the_newsroom_extension_and_utm_links(partner_site):
    build_site(partner_site.config, NOW)
    feed = _json(partner_site, "syndication/partners/medtech-en.json")
    note, med = feed["items"]
    assert "url" not in note, "a partner-only item has no public page to link to"
    assert note["_newsroom"]["visibility"] == "partners"
    assert med["url"] == ("https://news.example.org/news/med-3/"
                          "?utm_medium=syndication&utm_source=newsroom")
    ext = med["_newsroom"]
    assert ext["topics"] == [{"key": "medtech", "title": {"en": "Medical technology",
                                                          "fi": "Terveysteknologia"}}]
    assert ext["organizations"] == [{"slug": "uef", "name": "University of Eastern Finland",
                                     "url": "https://news.example.org/organizations/uef/"}]
    assert ext["attribution"] == "Source: Test News"
    neuro = _json(partner_site, "syndication/partners/everything.json")["items"][0]
    assert neuro["_newsroom"]["translations"] == {
        "fi": {"id": "https://news.example.org/news/neuro-fi/",
               "url": "https://news.example.org/news/neuro-fi/"}}


def test_hidden_and_partner_only_items_never_reach_public_files(partner_site):
    build_site(partner_site.config, NOW)
    for path in partner_site.output.rglob("*"):
        if path.is_file() and "partners" not in path.parts:
            text = path.read_text(encoding="utf-8", errors="replace")
            for secret in ("Embargoed secret", "Draft secret", "Partner note", "news/partner-note/",
                           "news/embargoed/", "news/draft/"):
                assert secret not in text, f"{secret} leaked into {path}"
    for partner in ("everything", "medtech-en", "neuro-fi"):
        text = (partner_site.output / f"syndication/partners/{partner}.json").read_text()
        assert "Embargoed secret" not in text and "Draft secret" not in text


def _events(site):
    return [(c["event"], c["id"].removeprefix("https://news.example.org/news/").strip("/"))
            for c in _json(site, "syndication/changes.json")["changes"]]


def test_withdrawn_items_leave_a_tombstone_and_vanish_from_partner_files(partner_site):
    build_site(partner_site.config, NOW)
    assert ("published", "med-3") in _events(partner_site)
    partner_site.write_news("med-3", "title: Med 3\ndate: 2026-11-04T10:00\ntopics: [medtech]\n"
                            "status: draft\n")
    build_site(partner_site.config, NOW + timedelta(minutes=5))
    events = _events(partner_site)
    assert events[-1] == ("withdrawn", "med-3")
    changes = _json(partner_site, "syndication/changes.json")["changes"]
    assert [c["seq"] for c in changes] == list(range(1, len(changes) + 1))
    assert changes[-1]["at"] == (NOW + timedelta(minutes=5)).isoformat()
    for partner in ("everything", "medtech-en"):
        assert "med-3" not in _ids(partner_site, partner)


def test_updates_and_the_embargo_end_are_logged_once_and_survive_restarts(partner_site):
    build_site(partner_site.config, NOW)
    first = _events(partner_site)
    assert ("published", "embargoed") not in first
    assert not any(i in ("draft", "partner-note") for _, i in first)
    build_site(partner_site.config, NOW)        # a new build (a restart): nothing new
    assert _events(partner_site) == first
    partner_site.write_news("med-0", "title: Med 0 corrected\ndate: 2026-11-01T10:00\n"
                            "updated: 2026-11-28T11:00\ntopics: [medtech]\n")
    later = NOW + timedelta(days=30)
    build_site(partner_site.config, later)
    events = _events(partner_site)
    assert events[len(first):] == [("updated", "med-0"), ("published", "embargoed")]


def test_a_preview_build_elsewhere_does_not_touch_the_sites_change_log(partner_site, tmp_path):
    build_site(partner_site.config, NOW)
    before = _events(partner_site)
    preview = tmp_path / "preview"
    build_site(partner_site.config, NOW + timedelta(days=60), output_dir=preview)
    assert ("published", "embargoed") in [
        (c["event"], c["id"].removeprefix("https://news.example.org/news/").strip("/"))
        for c in json.loads((preview / "syndication/changes.json").read_text())["changes"]]
    build_site(partner_site.config, NOW)
    assert _events(partner_site) == before


def test_the_change_log_keeps_ninety_days(partner_site):
    build_site(partner_site.config, NOW)
    partner_site.write_news("late", "title: Late\ndate: 2027-03-01\ntopics: [medtech]\n")
    build_site(partner_site.config, NOW + timedelta(days=120))
    first_build = 6   # four med items and two neuro items, at NOW: older than 90 days now
    changes = _json(partner_site, "syndication/changes.json")["changes"]
    assert [(c["seq"], c["event"]) for c in changes] == [(first_build + 1, "published"),
                                                         (first_build + 2, "published")]


def test_profiles_and_topics_files(partner_site):
    build_site(partner_site.config, NOW)
    [uef] = _json(partner_site, "syndication/profiles.json")["profiles"]
    assert uef["name"] == {"en": "University of Eastern Finland", "fi": "Itä-Suomen yliopisto"}
    assert uef["page_url"]["fi"] == "https://news.example.org/fi/organizations/uef/"
    assert uef["feed_urls"]["en"]["atom"] == "https://news.example.org/feeds/en/organizations/uef.atom"
    assert uef["items"] == 4
    topics = {t["key"]: t for t in _json(partner_site, "syndication/topics.json")["topics"]}
    assert topics["medtech"]["items"] == 4
    assert topics["neurological"]["feed_urls"]["fi"]["rss"] == (
        "https://news.example.org/feeds/fi/topics/neurological.rss")


def test_the_journal_lives_where_newsroom_db_url_says(partner_site, monkeypatch, tmp_path):
    monkeypatch.setenv("NEWSROOM_DB_URL", f"sqlite:///{tmp_path}/elsewhere.db")
    build_site(partner_site.config, NOW)
    assert (tmp_path / "elsewhere.db").exists()
    assert not (partner_site.root / "state" / "newsroom.db").exists()
    monkeypatch.setenv("NEWSROOM_DB_URL", "postgresql://db/newsroom")
    with pytest.raises(ConfigError, match="NEWSROOM_DB_URL"):
        build_site(partner_site.config, NOW)


def test_a_partner_item_is_the_feeds_json_item_plus_its_extension(tmp_path):
    """One item writer: a public item in a partner file is the JSON Feed item of the public
    feeds, with the partner's link and the _newsroom extension added."""
    import json as json_module
    import shutil

    from pipeline.cli import main as cli

    from .conftest import ROOT

    shutil.copy(ROOT / "newsroom.toml", tmp_path / "newsroom.toml")
    shutil.copytree(ROOT / "content", tmp_path / "content")
    assert cli(["build", "--now", "2026-12-01T12:00", "--config", str(tmp_path / "newsroom.toml")]) == 0
    output = tmp_path / "output"
    feed = {i["id"]: i for i in json_module.loads((output / "feeds" / "all.json").read_text())["items"]}
    compared = 0
    for path in (output / "syndication" / "partners").glob("*.json"):
        for item in json_module.loads(path.read_text())["items"]:
            public = dict(feed.get(item["id"]) or {})
            if not public:
                continue   # partner-only, or older than the public feed's window
            extension = item.pop("_newsroom")
            assert extension["language"] == item["language"]
            url = item.pop("url")
            assert url.split("?")[0] == public.pop("url")
            item.pop("date_modified"), public.pop("date_modified")   # feeds make ties distinct
            assert item == public
            compared += 1
    assert compared > 5
