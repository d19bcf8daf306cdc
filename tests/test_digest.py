"""Digest editions: windows, corrections, personalization, messages, tokens, the archive, the CLI."""

from __future__ import annotations

import email
import quopri
import sqlite3
from datetime import datetime
from email import policy

import feedparser
import lxml.html
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.archive import image_dimensions
from pipeline.build import catalog_for
from pipeline.cli import main
from pipeline.config import ConfigError
from pipeline.content import load_content
from pipeline.editions import EditionStore, due_edition
from pipeline.messages import (
    PREVIEW_TOKEN,
    MessageFactory,
    Recipient,
    _qp_join,
    _qp_segments,
    make_token,
    read_token,
)
from pipeline.render.digest import MAX_HTML_BYTES, DigestRenderer
from pipeline.statedb import database_url, open_database
from pipeline.templating import load_templates

from .conftest import HELSINKI, SITE_TOML, Site

SECRET = "a-test-secret-of-enough-length"
DIGEST_TOML = SITE_TOML + """
[topics.pharma]
title = { en = "Pharmaceutical development", fi = "Lääkekehitys" }

[[newsletters]]
id = "weekly-en"
title = "Test Weekly"
lang = "en"
schedule = "0 8 * * mon"

[[newsletters]]
id = "medtech-fi"
title = "Terveysteknologia viikolla"
lang = "fi"
topics = ["medtech"]
schedule = "0 8 * * mon"

[delivery]
from = "Test News <news@news.example.org>"
service_url = "https://service.example.org/news/"
"""


def at(text: str) -> datetime:
    when = datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=HELSINKI)


def news(site: Site, slug: str, date: str, lang: str = "en", topics: str = "[neurological]", **extra: str):
    fields = {"title": f"Story {slug}", "date": date, "lang": lang, "topics": topics,
              "summary": f"The summary of {slug}.", "organizations": "[uef]", **extra}
    return site.write_news(slug, "".join(f"{key}: {value}\n" for key, value in fields.items()))


@pytest.fixture
def dsite(tmp_path) -> Site:
    site = Site(tmp_path, DIGEST_TOML)
    news(site, "old", "2026-11-20T10:00")                       # the week before
    news(site, "a", "2026-11-24T09:00", translation_key="a")
    news(site, "a-fi", "2026-11-24T09:00", lang="fi", translation_key="a", topics="[medtech]")
    news(site, "b", "2026-11-27T10:00", topics="[medtech, neurological]")
    news(site, "edge", "2026-11-30T08:00")                      # exactly at the instant: in
    news(site, "after", "2026-11-30T08:01")                     # a minute later: next week
    news(site, "draft", "2026-11-25T10:00", status="draft")
    news(site, "partners", "2026-11-25T11:00", visibility="partners")
    news(site, "embargoed", "2026-12-01T12:30")                 # after the now of most tests
    return site


class State:
    """The site's content, catalog and editions store at an instant."""

    def __init__(self, site: Site, now: str):
        self.config = site.config
        self.content = load_content(self.config)
        assert not self.content.problems, self.content.problems
        self.now = at(now)
        self.catalog = catalog_for(self.config, self.content, self.now)
        self.db = open_database(database_url(self.config))
        self.store = EditionStore(self.db)

    def edition(self, newsletter: str = "weekly-en"):
        return due_edition(self.config.newsletter(newsletter), self.catalog, self.store)

    def issue(self, newsletter: str = "weekly-en"):
        edition = self.edition(newsletter)
        assert edition is not None and self.store.record(edition, self.now)
        return edition

    def renderer(self, newsletter: str = "weekly-en") -> DigestRenderer:
        newsletter_ = self.config.newsletter(newsletter)
        return DigestRenderer(self.config, self.catalog, load_templates(None), newsletter_,
                              image_dimensions(self.content, self.config))

    def factory(self, edition, secret: str | None = SECRET, preview: bool = False) -> MessageFactory:
        renderer = self.renderer(edition.newsletter.id)
        return MessageFactory(self.config, renderer, edition, self.now, secret, preview)

    def close(self):
        self.db.close()
        self.content.close()


def slugs(entries) -> list[str]:
    return [e.item_id.rstrip("/").rsplit("/", 1)[1] for e in entries]


# -- editions -------------------------------------------------------------------------------


def test_the_first_edition_holds_the_window_before_its_instant(dsite):
    state = State(dsite, "2026-12-01T12:00")
    edition = state.edition()
    assert edition.id == "weekly-en/2026-W49" and not edition.recorded
    assert edition.scheduled == at("2026-11-30T08:00") and edition.window_start == at("2026-11-23T08:00")
    assert slugs(edition.entries) == ["edge", "b", "a"]     # newest first; no draft, partner or later item
    assert {e.kind for e in edition.entries} == {"new"}
    fi = state.edition("medtech-fi")                         # its language and topics only
    assert slugs(fi.entries) == ["a-fi"]


def test_the_next_edition_starts_where_the_last_ended(dsite):
    first = State(dsite, "2026-12-01T12:00")
    first.issue()
    first.close()
    state = State(dsite, "2026-12-08T09:00")
    edition = state.edition()
    assert edition.id == "weekly-en/2026-W50"
    assert slugs(edition.entries) == ["embargoed", "after"]   # the embargo has ended since


def test_an_issued_edition_never_changes(dsite):
    state = State(dsite, "2026-12-01T12:00")
    issued = state.issue()
    state.close()
    news(dsite, "late", "2026-11-29T10:00")   # back-dated into the issued week
    again = State(dsite, "2026-12-02T12:00").edition()
    assert again.recorded and slugs(again.entries) == slugs(issued.entries)


def test_a_window_without_items_is_no_edition_and_the_cli_says_so(dsite, capsys):
    assert State(dsite, "2026-11-17T09:00").edition() is None   # window Nov 9-16: nothing
    code = main(["digest", "render", "weekly-en", "--now", "2026-11-17T09:00",
                 "--config", str(dsite.config_path), "--to", str(dsite.root / "preview")])
    assert code == 0
    assert "nothing to send" in capsys.readouterr().out
    assert not (dsite.root / "preview").exists()


def test_a_schedule_across_the_dst_change_keeps_every_item_once(tmp_path):
    site = Site(tmp_path, DIGEST_TOML.replace('schedule = "0 8 * * mon"', 'schedule = "0 8 * * sun"', 1))
    news(site, "before", "2026-10-18T08:30+03:00")
    news(site, "in-the-extra-hour", "2026-10-25T07:30+02:00")   # 7 days and 23.5 h after the last edition
    news(site, "after", "2026-10-25T08:30+02:00")
    first = State(site, "2026-10-25T12:00")
    edition = first.issue()
    assert edition.window_start.isoformat() == "2026-10-18T08:00:00+03:00"
    assert slugs(edition.entries) == ["in-the-extra-hour", "before"]
    first.close()
    assert slugs(State(site, "2026-11-01T12:00").edition().entries) == ["after"]


# -- corrections -------------------------------------------------------------------------------


def test_an_item_updated_after_it_went_out_is_listed_once_in_the_next_edition(dsite):
    state = State(dsite, "2026-12-01T12:00")
    state.issue()
    state.close()
    news(dsite, "a", "2026-11-24T09:00", translation_key="a", updated="2026-12-02T10:00")
    state = State(dsite, "2026-12-08T09:00")
    edition = state.issue()
    assert [(e.kind, s) for e, s in zip(edition.entries, slugs(edition.entries), strict=True)] == [
        ("new", "embargoed"), ("new", "after"), ("updated", "a")]
    rendered = state.renderer().email(edition, edition.entries, state.factory(edition).links("t"))
    assert "Updated since the last issue" in rendered.html and "Story a" in rendered.text
    state.close()
    later = State(dsite, "2026-12-15T09:00")
    assert later.edition() is None   # listed once: nothing new since


def test_an_item_withdrawn_after_it_went_out_is_listed_by_title_once(dsite):
    state = State(dsite, "2026-12-01T12:00")
    state.issue()
    state.close()
    (dsite.root / "content/news/b.md").unlink()
    state = State(dsite, "2026-12-08T09:00")
    edition = state.issue()
    withdrawn = edition.of_kind("withdrawn")
    assert slugs(withdrawn) == ["b"] and withdrawn[0].title == "Story b" and withdrawn[0].item is None
    rendered = state.renderer().email(edition, edition.entries, state.factory(edition).links("t"))
    assert "Withdrawn" in rendered.html and "Story b" in rendered.html
    assert "news/b/" not in rendered.html   # title only: the page is gone
    state.close()
    assert State(dsite, "2026-12-15T09:00").edition() is None


# -- personalization and messages ----------------------------------------------------------------


def test_subscribers_get_the_items_of_their_topics_and_nothing_when_none_match(dsite):
    state = State(dsite, "2026-12-01T12:00")
    edition = state.edition()
    factory = state.factory(edition)
    everyone = Recipient("1", "all@example.org")
    medtech = Recipient("2", "med@example.org", topics=("medtech",))
    pharma = Recipient("3", "pharma@example.org", topics=("pharma",))
    html = {r.id: m.get_body(("html",)).get_content() if m else None for r, m in
            factory.messages([everyone, medtech, pharma])}
    assert all(f"Story {s}" in html["1"] for s in ("a", "b", "edge"))
    assert "Story b" in html["2"] and "Story a" not in html["2"] and "Story edge" not in html["2"]
    assert html["3"] is None
    assert "Story a-fi" not in html["1"]   # the translation appears once, in the newsletter's language


def test_each_variant_is_rendered_once_not_once_per_person(dsite):
    state = State(dsite, "2026-12-01T12:00")
    edition = state.edition()
    factory = state.factory(edition)
    calls = []
    email_of = factory.renderer.email
    factory.renderer.email = lambda *args: calls.append(args) or email_of(*args)
    recipients = [Recipient(str(n), f"p{n}@example.org", topics=[(), ("medtech",), ("pharma",)][n % 3])
                  for n in range(60)]
    sent = [m for _, m in factory.messages(recipients) if m is not None]
    assert len(sent) == 40 and len(calls) == 2   # two variants with items; pharma renders nothing


def test_headers_parse_back_and_follow_the_bulk_sender_rules(dsite):
    state = State(dsite, "2026-12-01T12:00")
    edition = state.edition()
    factory = state.factory(edition)
    one = factory.message(Recipient("42", "Anna.Virtanen@Example.org", "Anna Virtanen"))
    other = factory.message(Recipient("43", "b@example.org"))
    parsed = email.message_from_bytes(one.as_bytes(), policy=policy.default)
    assert parsed["From"].addresses[0].addr_spec == "news@news.example.org"
    assert parsed["To"].addresses[0].display_name == "Anna Virtanen"
    assert parsed["Subject"] == "Test Weekly – November 30, 2026"
    assert parsed["Date"].datetime == at("2026-12-01T12:00")
    assert parsed["List-Id"] == "Test Weekly <weekly-en.news.example.org>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    token = make_token(SECRET, "42", "weekly-en")
    assert parsed["List-Unsubscribe"] == (f"<https://service.example.org/news/unsubscribe?token={token}>, "
                                          f"<mailto:news@news.example.org?subject=unsubscribe%20{token}>")
    assert parsed["Message-ID"] != other["Message-ID"]
    assert parsed["Message-ID"].endswith("@news.example.org>")
    assert parsed.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in parsed.iter_parts()] == ["text/plain", "text/html"]
    text, html = (p.get_content() for p in parsed.iter_parts())
    assert f"unsubscribe?token={token}" in text and f"unsubscribe?token={token}" in html
    assert f"preferences?token={token}" in html and "digests/weekly-en/2026-W49/" in html
    assert all(len(line) <= 998 for line in one.as_bytes().split(b"\r\n"))


def test_the_same_recipient_gets_the_same_message_id_when_rendered_again(dsite):
    state = State(dsite, "2026-12-01T12:00")
    edition = state.edition()
    first = state.factory(edition).message(Recipient("7", "x@example.org"))["Message-ID"]
    assert state.factory(edition).message(Recipient("7", "x@example.org"))["Message-ID"] == first


def test_no_header_can_be_injected_through_a_name_or_a_title(dsite):
    news(dsite, "evil", "2026-11-28T10:00", title='"Evil =?utf-8?q?Bcc=3A_x?= \u2028 title"')
    state = State(dsite, "2026-12-01T12:00")
    edition = state.edition()
    message = state.factory(edition).message(
        Recipient("1", "eve@example.org", "Eve\r\nBcc: victim@example.org\nX-Evil: 1"))
    parsed = email.message_from_bytes(message.as_bytes(), policy=policy.default)
    assert parsed["Bcc"] is None and parsed["X-Evil"] is None
    assert [a.addr_spec for a in parsed["To"].addresses] == ["eve@example.org"]
    assert "\n" not in parsed["To"].addresses[0].display_name
    assert parsed["Subject"] == "Test Weekly – November 30, 2026"


def test_a_title_with_a_line_break_in_newsroom_toml_is_refused(tmp_path):
    site_toml = DIGEST_TOML.replace('title = "Test Weekly"', 'title = "Test\\nBcc: x@example.org"')
    with pytest.raises(ConfigError, match=r"newsletters\[0\]\.title: one line"):
        Site(tmp_path, site_toml).config   # noqa: B018


def test_rendering_for_real_recipients_needs_the_secret(dsite):
    state = State(dsite, "2026-12-01T12:00")
    edition = state.edition()
    with pytest.raises(ConfigError, match="NEWSROOM_SECRET is not set"):
        state.factory(edition, secret=None)
    with pytest.raises(ConfigError, match="too short"):
        state.factory(edition, secret="short")
    preview = state.factory(edition, secret=None, preview=True).message(Recipient("1", "a@example.org"))
    assert f"token={PREVIEW_TOKEN}" in preview["List-Unsubscribe"]
    assert read_token(SECRET, PREVIEW_TOKEN) is None


# -- tokens ---------------------------------------------------------------------------------------


def test_the_token_round_trip_and_forgeries():
    token = make_token(SECRET, "subscriber-17", "weekly-en")
    assert read_token(SECRET, token) == ("subscriber-17", "weekly-en")
    payload, mac = token.split(".")
    forged_payload = make_token(SECRET, "subscriber-18", "weekly-en").split(".")[0]
    assert read_token(SECRET, f"{forged_payload}.{mac}") is None            # another person's payload
    assert read_token(SECRET, f"{payload}.{mac[:-2]}AA") is None             # an altered signature
    assert read_token("another-secret-of-enough-length", token) is None      # another site's key
    for junk in ("", ".", "abc", token + ".", token + "=", "x" * 5000, f"{payload}.{mac}\n", None):
        assert read_token(SECRET, junk) is None


# -- rendering ---------------------------------------------------------------------------------------


def test_golden_html_and_text_of_a_fixed_edition(dsite, golden):
    news(dsite, "a", "2026-11-24T09:00", translation_key="a",
         image="{src: https://images.example.org/brain.png, alt: A brain scan}")
    state = State(dsite, "2026-12-01T12:00")
    edition = state.edition()
    factory = state.factory(edition, secret=None, preview=True)
    rendered = factory.variant().rendered   # the placeholder is random: swap in the preview token
    html = rendered.html.replace(factory.placeholder, PREVIEW_TOKEN)
    text = rendered.text.replace(factory.placeholder, PREVIEW_TOKEN)
    golden("digest/weekly-en.html", html.encode())
    golden("digest/weekly-en.txt", text.encode())
    assert 'style="' in html and "@media (prefers-color-scheme: dark)" in html
    [image] = lxml.html.fromstring(html).iter("img")
    assert (image.get("src"), image.get("alt"), image.get("width")) == (
        "https://images.example.org/brain.png", "A brain scan", "560")
    assert html.index("<meta charset=\"utf-8\">") < 200


def test_a_large_edition_is_cut_to_fit_gmail_and_links_the_web_version(tmp_path):
    site = Site(tmp_path, DIGEST_TOML)
    long = " ".join(["A long summary sentence about research in Kuopio."] * 5)
    for n in range(300):
        date = f"2026-11-{24 + n % 6:02d}T{8 + n % 12:02d}:{n % 60:02d}"
        news(site, f"s{n:03d}", date, summary=f'"{long}"')
    state = State(site, "2026-12-01T12:00")
    edition = state.edition()
    assert len(edition.entries) == 300
    factory = state.factory(edition)
    rendered = factory.variant().rendered
    assert rendered.cut > 0 and rendered.shown + rendered.cut == 300
    message = factory.message(Recipient("1", "a@example.org"))
    html = message.get_body(("html",)).get_content()
    assert len(html.encode()) <= MAX_HTML_BYTES + 1000 < 102 * 1024
    assert f"{rendered.cut} more stories" in html and "digests/weekly-en/2026-W49/" in html
    newest = sorted(edition.entries, key=lambda e: -e.modified.timestamp())[0]
    assert newest.title in html   # the newest stories are the ones kept


# -- the archive, the build and the CLI ---------------------------------------------------------


def test_a_build_publishes_and_issues_the_due_edition(dsite):
    assert main(["build", "--now", "2026-12-01T12:00", "--config", str(dsite.config_path)]) == 0
    out = dsite.output
    page = (out / "digests/weekly-en/2026-W49/index.html").read_text()
    assert "Story edge" in page and "Story after" not in page
    assert 'href="../../../news/edge/"' in page   # relative, like the pages
    index = (out / "digests/weekly-en/index.html").read_text()
    assert 'href="../../digests/weekly-en/2026-W49/"' in index
    feed = feedparser.parse((out / "digests/weekly-en/index.atom").read_bytes())
    assert not feed.bozo and [e.link for e in feed.entries] == [
        "https://news.example.org/digests/weekly-en/2026-W49/"]
    import json
    manifest = json.loads((out / "syndication/index.json").read_text())
    kinds = {f["path"]: f["kind"] for f in manifest["files"]}
    assert kinds["digests/weekly-en/index.html"] == "digest-archive"
    assert kinds["digests/weekly-en/index.json"] == "feed"
    with sqlite3.connect(dsite.root / "state/newsroom.db") as db:
        assert db.execute("SELECT newsletter, edition FROM editions ORDER BY 1").fetchall() == [
            ("medtech-fi", "2026-W49"), ("weekly-en", "2026-W49")]


def test_a_preview_build_elsewhere_issues_nothing(dsite, tmp_path):
    assert main(["build", "--now", "2026-12-01T12:00", "--config", str(dsite.config_path),
                 "--output", str(tmp_path / "preview")]) == 0
    assert (tmp_path / "preview/digests/weekly-en/2026-W49/index.html").is_file()
    with sqlite3.connect(dsite.root / "state/newsroom.db") as db:
        assert db.execute("SELECT COUNT(*) FROM editions").fetchone() == (0,)


def test_digest_render_writes_html_text_and_a_sample_eml_and_records_nothing(dsite, capsys):
    target = dsite.root / "preview"
    code = main(["digest", "render", "weekly-en", "--now", "2026-12-01T12:00",
                 "--config", str(dsite.config_path), "--to", str(target)])
    assert code == 0
    out = capsys.readouterr().out
    assert "weekly-en/2026-W49 (not issued yet): 3 stories" in out
    names = sorted(p.name for p in target.iterdir())
    assert names == ["weekly-en-2026-W49.eml", "weekly-en-2026-W49.html", "weekly-en-2026-W49.txt"]
    eml = (target / "weekly-en-2026-W49.eml").read_bytes()
    message = email.message_from_bytes(eml, policy=policy.default)
    assert PREVIEW_TOKEN in message["List-Unsubscribe"]
    assert PREVIEW_TOKEN in (target / "weekly-en-2026-W49.html").read_text()
    with sqlite3.connect(dsite.root / "state/newsroom.db") as db:
        assert db.execute("SELECT COUNT(*) FROM editions").fetchone() == (0,)


def test_digest_list_shows_last_due_and_next(dsite, capsys):
    assert main(["build", "--now", "2026-12-01T12:00", "--config", str(dsite.config_path)]) == 0
    capsys.readouterr()
    assert main(["digest", "list", "--now", "2026-12-08T09:00", "--config", str(dsite.config_path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("weekly-en [en] 'Test Weekly' (0 8 * * mon): last 2026-W49 (2026-11-30 08:00, "
                               "3 stories); due now: 2026-W50 (2 stories, not issued yet); next 2026-W51")


def test_an_unknown_newsletter_is_a_usage_error(dsite, capsys):
    assert main(["digest", "render", "monthly", "--config", str(dsite.config_path)]) == 2
    assert "no newsletter 'monthly'" in capsys.readouterr().err


# -- the state database --------------------------------------------------------------------------


# -- the wire format ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "Anna Virtanen", "Reader 17", "Päivi Hyvönen-Åström",
                                  'Dr. "Quoted" O\'Brien, Jr.',
                                  "=?utf-8?q?Admin?=", "x" * 300])
def test_the_fast_wire_format_is_the_email_packages_byte_for_byte(dsite, name):
    state = State(dsite, "2026-12-01T12:00")
    edition = state.edition()
    factory = state.factory(edition)
    for topics, address in (((), "reader@example.org"), (("medtech",), "Reader.Name+x@Example.org")):
        recipient = Recipient("99", address, name, topics=topics)
        assert factory.message_bytes(recipient) == factory.message(recipient).as_bytes()
    assert factory.message_bytes(Recipient("1", "a@example.org", topics=("pharma",))) is None


@settings(max_examples=300, deadline=None)
@given(pieces=st.lists(st.text(min_size=0, max_size=300), min_size=1, max_size=5)
       | st.lists(st.text("\x80é=a ", min_size=70, max_size=160), min_size=2, max_size=4),
       token=st.from_regex(r"[A-Za-z0-9_-]{1,200}\.[A-Za-z0-9_-]{43}", fullmatch=True))
def test_a_token_spliced_into_quoted_printable_decodes_exactly(pieces, token):
    placeholder = "nrtokenPLACEHOLDER"
    segments = _qp_segments(placeholder.join(pieces), placeholder)
    encoded = _qp_join(segments, token)
    assert all(len(line) <= 76 for line in encoded.split("\r\n"))
    decoded = quopri.decodestring(encoded.replace("\r\n", "\n").encode()).decode("utf-8")
    assert decoded == token.join(pieces).replace("\r\n", "\n").replace("\r", "\n")


def test_emails_show_svg_pictures_as_png_renditions_the_build_publishes(dsite):
    svg = ('<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="630" viewBox="0 0 1200 630">'
           '<rect width="1200" height="630" fill="#0b5cab"/>'
           '<circle cx="600" cy="315" r="200" fill="#fff"/></svg>')
    dsite.write("media/scan.svg", svg)
    news(dsite, "a", "2026-11-24T09:00", translation_key="a", image="{src: media/scan.svg, alt: A scan}")
    assert main(["build", "--now", "2026-12-01T12:00", "--config", str(dsite.config_path)]) == 0
    [png] = (dsite.output / "media/email").glob("*scan.png")
    data = png.read_bytes()
    assert data.startswith(b"\x89PNG") and int.from_bytes(data[16:20], "big") == 1120
    state = State(dsite, "2026-12-01T12:00")
    edition = state.edition()
    html = state.factory(edition).message(Recipient("1", "a@example.org")).get_body(("html",)).get_content()
    [image] = [i for i in lxml.html.fromstring(html).iter("img")]
    assert image.get("src") == f"https://news.example.org/media/email/{png.name}"
    assert (image.get("width"), image.get("height"), image.get("alt")) == ("560", "294", "A scan")
    page = (dsite.output / "digests/weekly-en/2026-W49/index.html").read_text()
    assert f'src="../../../media/email/{png.name}"' in page


# -- found in review -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["=?utf-8?q?Bob=0D=0ABcc:_evil=40x.org?=", "=?utf-8?q?Bcc=3A_evil=40x?=",
                                  "=?utf-8?b?Qm9iDQpCY2M6IGV2aWxAeC5vcmc=?="])
def test_encoded_words_in_a_name_cannot_add_a_header_or_an_address(dsite, name):
    state = State(dsite, "2026-12-01T12:00")
    factory = state.factory(state.edition())
    wire = factory.message_bytes(Recipient("1", "victim@example.org", name))
    parsed = email.message_from_bytes(wire, policy=policy.default)
    assert parsed["Bcc"] is None
    assert [a.addr_spec for a in parsed["To"].addresses] == ["victim@example.org"]
    assert all(not line.lower().startswith(b"bcc") for line in wire.split(b"\r\n"))


def test_encoded_words_in_a_newsletter_title_cannot_add_a_header(tmp_path):
    site = Site(tmp_path, DIGEST_TOML.replace('title = "Test Weekly"',
                                              'title = "=?utf-8?q?Hi=0D=0ABcc:_evil=40x.org?="'))
    news(site, "a", "2026-11-24T09:00")
    state = State(site, "2026-12-01T12:00")
    wire = state.factory(state.edition()).message_bytes(Recipient("1", "a@example.org"))
    parsed = email.message_from_bytes(wire, policy=policy.default)
    assert parsed["Bcc"] is None and "\n" not in parsed["Subject"] and "\n" not in parsed["List-Id"]


def test_a_bad_address_is_refused_alone_and_an_international_domain_is_punycode(dsite):
    state = State(dsite, "2026-12-01T12:00")
    factory = state.factory(state.edition())
    recipients = [Recipient("1", "üser@example.org"), Recipient("2", "a@example.org\r\nBcc: x@y"),
                  Recipient("3", "a@b.org, c@d.org"), Recipient("4", "user@exämple.org")]
    sent = {r.id: m for r, m in factory.messages(recipients)}
    assert set(sent) == {"4"} and [r.id for r, _ in factory.refused] == ["1", "2", "3"]
    assert sent["4"]["To"].addresses[0].addr_spec == "user@xn--exmple-cua.org"


def test_tokens_have_one_spelling_and_ids_are_bounded():
    token = make_token(SECRET, "alice", "weekly-en")
    payload, mac = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    variants = [f"{payload}.{mac[:-1]}{c}" for c in alphabet if c != mac[-1]]
    assert [v for v in variants if read_token(SECRET, v)] == []
    for bad in ("a\nweekly-en", "x" * 201, "", "ä" * 150):
        with pytest.raises(ValueError):
            make_token(SECRET, bad, "weekly-en")
    assert read_token(SECRET, make_token(SECRET, "ä" * 100, "weekly-en")) == ("ä" * 100, "weekly-en")


def test_a_week_without_a_build_rolls_into_the_next_edition(dsite):
    state = State(dsite, "2026-12-01T12:00")
    state.issue()
    state.close()
    news(dsite, "missed", "2026-12-09T10:00")            # W51's window: no build that week
    news(dsite, "later", "2026-12-16T10:00")
    edition = State(dsite, "2026-12-22T09:00").edition()
    assert edition.id == "weekly-en/2026-W52"
    assert edition.window_start == at("2026-11-30T08:00")   # since the last issued edition
    assert slugs(edition.entries) == ["later", "missed", "embargoed", "after"]


def test_an_item_back_dated_into_an_issued_week_goes_out_next(dsite):
    state = State(dsite, "2026-12-01T12:00")
    state.issue()
    state.close()
    news(dsite, "late", "2026-11-29T10:00")
    assert "late" in slugs(State(dsite, "2026-12-08T09:00").edition().entries)


def test_an_item_withdrawn_and_then_republished_goes_out_again(dsite):
    state = State(dsite, "2026-12-01T12:00")
    state.issue()
    state.close()
    text = (dsite.root / "content/news/b.md").read_text()
    (dsite.root / "content/news/b.md").unlink()
    state = State(dsite, "2026-12-08T09:00")
    assert slugs(state.issue().of_kind("withdrawn")) == ["b"]
    state.close()
    (dsite.root / "content/news/b.md").write_text(text)
    assert "b" in slugs(State(dsite, "2026-12-15T09:00").edition().of_kind("new"))


def test_the_size_cap_holds_with_many_corrections(tmp_path):
    site = Site(tmp_path, DIGEST_TOML)
    long_title = '"' + "A very long title about research " * 9 + '"'
    for n in range(400):
        news(site, f"s{n:03d}", f"2026-11-{24 + n % 6:02d}T{8 + n % 12:02d}:{n % 60:02d}", title=long_title)
    state = State(site, "2026-12-01T12:00")
    state.issue()
    state.close()
    for n in range(400):
        news(site, f"s{n:03d}", f"2026-11-{24 + n % 6:02d}T{8 + n % 12:02d}:{n % 60:02d}", title=long_title,
             updated="2026-12-02T10:00")
    news(site, "fresh", "2026-12-03T10:00")
    state = State(site, "2026-12-08T09:00")
    edition = state.edition()
    rendered = state.factory(edition).variant().rendered
    assert len(rendered.html.encode()) <= MAX_HTML_BYTES and rendered.cut > 0


def test_edition_feeds_drop_stories_that_are_no_longer_public(dsite):
    assert main(["build", "--now", "2026-12-01T12:00", "--config", str(dsite.config_path)]) == 0
    news(dsite, "edge", "2026-11-30T08:00", status="draft")
    assert main(["build", "--now", "2026-12-02T12:00", "--config", str(dsite.config_path)]) == 0
    for fmt in ("atom", "rss", "json"):
        assert "Story edge" not in (dsite.output / f"digests/weekly-en/index.{fmt}").read_text()
    page = (dsite.output / "digests/weekly-en/2026-W49/index.html").read_text()
    assert "Story edge" in page and "news/edge/" not in page   # listed by title as withdrawn


def test_one_click_needs_an_https_service(tmp_path):
    with pytest.raises(ConfigError, match="must be https"):
        Site(tmp_path, DIGEST_TOML.replace("https://service.example.org", "http://service.example.org")).config  # noqa: B018
    (tmp_path / "l").mkdir()
    local = Site(tmp_path / "l", DIGEST_TOML.replace("https://service.example.org/news/", "http://localhost:8080/"))
    news(local, "a", "2026-11-24T09:00")
    state = State(local, "2026-12-01T12:00")
    message = state.factory(state.edition()).message(Recipient("1", "a@example.org"))
    assert message["List-Unsubscribe-Post"] is None
    assert "http://localhost:8080/unsubscribe" in message["List-Unsubscribe"]


@pytest.mark.parametrize("piece", ["a" * 76, "a" * 75, "a" * 74 + "é", "\x1f\x1f\x1f\x80\x80\x80\x80\x80𐀀𐀀𐀀0",
                                   "=" * 25 + "a"])
def test_a_segment_ending_in_a_full_line_still_keeps_lines_within_76(piece):
    """Found by the property above: a last line of 76 characters plus the soft break's = was 77."""
    placeholder = "nrtokenPLACEHOLDER"
    encoded = _qp_join(_qp_segments(piece + placeholder + "tail", placeholder), "T" * 10 + ".x")
    assert all(len(line) <= 76 for line in encoded.split("\r\n")), encoded
    assert quopri.decodestring(encoded.replace("\r\n", "\n").encode()).decode() == piece + "T" * 10 + ".xtail"


def test_an_svg_cairosvg_cannot_draw_is_linked_as_itself_never_as_a_missing_png(dsite):
    dsite.write("media/blank.svg", '<svg xmlns="http://www.w3.org/2000/svg"/>')   # no size
    news(dsite, "a", "2026-11-24T09:00", translation_key="a", image="{src: media/blank.svg, alt: Blank}")
    assert main(["build", "--now", "2026-12-01T12:00", "--config", str(dsite.config_path)]) == 0
    assert not (dsite.output / "media" / "email").exists()
    state = State(dsite, "2026-12-01T12:00")
    message = state.factory(state.edition()).message(Recipient("1", "a@example.org"))
    [image] = [i for i in lxml.html.fromstring(message.get_body(("html",)).get_content()).iter("img")]
    assert image.get("src").endswith("-blank.svg")
