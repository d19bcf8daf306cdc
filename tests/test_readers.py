"""Readers: one file in, one NewsItem or Profile out, or its problems as `path:line: field: message`."""

from __future__ import annotations

import re
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.frontmatter import FrontMatterError, split_document
from pipeline.model import NewsItem, Problem, Profile
from pipeline.readers import parse_datetime, read_news, read_profile

UTC = UTC
HELSINKI = ZoneInfo("Europe/Helsinki")
FRONT = "title: A title\ndate: 2026-11-20T10:00\ntopics: [neurological]\n"   # lines 2, 3, 4


def news(site, front: str = FRONT, body: str = "A first paragraph of news.\n", name: str = "x") -> NewsItem:
    """Write a real file and read it; the item, or fail showing the problems."""
    result = read_file(site, site.write_news(name, front, body))
    assert isinstance(result, NewsItem), [str(p) for p in result]
    return result


def read_file(site, path: Path) -> NewsItem | Profile | list[Problem]:
    rel = path.relative_to(site.root / "content").as_posix()
    reader = read_news if rel.startswith("news/") else read_profile
    return reader(rel, path.read_bytes(), site.config.site)


def problems_of(site, raw: bytes, name: str = "news/x.md") -> list[str]:
    path = site.root / "content" / name
    path.write_bytes(raw)
    result = read_file(site, path)
    assert isinstance(result, list), result
    return [str(p) for p in result]


# -- one problem per rule -----------------------------------------------------------


@pytest.mark.parametrize(("front", "expected"), [
    (FRONT.replace("title: A title\n", ""), "news/x.md:1: title: missing"),
    (FRONT.replace("title: A title", "title:"), "news/x.md:2: title: missing"),
    (FRONT.replace("title: A title", 'title: "  "'), "news/x.md:2: title: is empty"),
    (FRONT.replace("title: A title", "title: [a, b]"), "news/x.md:2: title: expected plain text"),
    (FRONT.replace("date: 2026-11-20T10:00\n", ""), "news/x.md:1: date: missing"),
    (FRONT.replace("2026-11-20T10:00", "next tuesday"),
     "news/x.md:3: date: 'next tuesday' is not an ISO 8601 date (e.g. 2026-11-30 or 2026-11-30T09:00+02:00)"),
    (FRONT.replace("2026-11-20T10:00", "2026-02-30"),
     "news/x.md:3: date: impossible date '2026-02-30': day is out of range for month"),
    (FRONT.replace("2026-11-20T10:00", "2026-02-30T10:00"),
     "news/x.md:3: date: impossible date '2026-02-30T10:00': day is out of range for month"),
    (FRONT.replace("2026-11-20T10:00", "!!timestamp 2026-02-30"),
     "news/x.md:3: date: impossible date '2026-02-30': day is out of range for month"),
    (FRONT + "updated: 2026-11-19\n",
     "news/x.md:5: updated: 2026-11-19 is earlier than date 2026-11-20T10:00"),
    (FRONT + "updated: 2026-11-31\n",
     "news/x.md:5: updated: impossible date '2026-11-31': day is out of range for month"),
    (FRONT.replace("topics: [neurological]\n", ""), "news/x.md:1: topics: missing: list at least one"),
    (FRONT.replace("[neurological]", "[]"), "news/x.md:4: topics: missing: list at least one"),
    (FRONT.replace("[neurological]", "{a: b}"), "news/x.md:4: topics: expected a list of names"),
    (FRONT + "lang: de\n", "news/x.md:5: lang: unknown language 'de' (the site has en, fi)"),
    (FRONT + "image: {src: 'https://x.example/a.png'}\n",
     "news/x.md:5: image.alt: missing: describe the image for readers who cannot see it"),
    (FRONT + "image:\n  src: https://x.example/a.png\n  alt: ''\n",
     "news/x.md:5: image.alt: missing: describe the image for readers who cannot see it"),
    (FRONT + "image: {alt: A chart}\n", "news/x.md:5: image.src: missing"),
    (FRONT + "image: {src: /etc/passwd, alt: A chart}\n",
     "news/x.md:5: image.src: '/etc/passwd' is neither an http(s) URL nor a path under content/"),
    (FRONT + "image: {src: ../secret.png, alt: A chart}\n",
     "news/x.md:5: image.src: '../secret.png' is neither an http(s) URL nor a path under content/"),
    (FRONT + "image: {src: a.png, alt: A, title: T}\n", "news/x.md:5: image.title: unknown field"),
    (FRONT + "image: a.png\n", "news/x.md:5: image: expected {src: …, alt: …}"),
    (FRONT + "status: hidden\n", "news/x.md:5: status: 'hidden' is not one of published, draft"),
    (FRONT + "visibility: secret\n", "news/x.md:5: visibility: 'secret' is not one of public, partners"),
    (FRONT + "canonical_url: www.uef.fi/news\n",
     "news/x.md:5: canonical_url: 'www.uef.fi/news' is not an absolute http(s) URL"),
    (FRONT + "id: not a uri\n",
     "news/x.md:5: id: 'not a uri' is not a URI (e.g. tag:example.org,2026:my-item)"),
    (FRONT + "slug: Bad_Slug\n", "news/x.md:5: slug: 'Bad_Slug' is not a valid slug: use a-z, 0-9 and '-'"),
    (FRONT + "slug: -dash\n", "news/x.md:5: slug: '-dash' is not a valid slug: use a-z, 0-9 and '-'"),
    (FRONT + "author: Aino\n", "news/x.md:5: author: unknown field"),
    (FRONT + "authors: [Aino, 3]\n", "news/x.md:5: authors: expected a list of names"),
    (FRONT + "title: Again\n", "news/x.md:5: title: given twice (first on line 2)"),
    (FRONT.replace("[neurological]", "[neurological\nlang: en"),
     "news/x.md:5: yaml: YAML syntax error: while parsing a flow sequence, did not find expected ',' or ']'"),
    ("title: A title\ndate: 2026-11-20\ntopics: [neurological]\nauthors: [a,\n",
     "news/x.md:6: yaml: YAML syntax error: while parsing a flow node, did not find expected node content"),
    ("title: A title\ndate 2026-11-20\ntopics: [neurological]\n",
     "news/x.md:4: yaml: YAML syntax error: while scanning a simple key, could not find expected ':'"),
    ("title: 'unclosed\ndate: 2026-11-20\ntopics: [neurological]\n",
     "news/x.md:4: yaml: YAML syntax error: while scanning a quoted scalar, "
     "found unexpected end of stream"),
    (FRONT.replace("title: A title", "title: !!int many"),
     "news/x.md:2: yaml: YAML value error: invalid literal for int() with base 10: 'many'"),
    ("- a list\n- not fields\n", "news/x.md:2: front matter: expected 'field: value' lines"),
])
def test_each_rule_is_one_problem_on_the_line_of_its_field(site, front, expected):
    result = read_file(site, site.write_news("x", front))
    assert [str(p) for p in result] == [expected]


def test_missing_front_matter(site):
    assert problems_of(site, b"# Just Markdown\n\ntitle: x\n") == \
        ["news/x.md:1: front matter: the file must start with a '---' line"]


def test_front_matter_that_is_never_closed(site):
    assert problems_of(site, b"---\ntitle: x\ndate: 2026-11-20\n\nBody\n") == \
        ["news/x.md:1: front matter: no closing '---' line"]


def test_invalid_utf8_names_the_line_of_the_bad_byte(site):
    raw = FRONT.encode() + b"---\nFirst line\nSecond: caf\xe9 in Latin-1\n"
    raw = b"---\n" + raw
    assert problems_of(site, raw) == ["news/x.md:7: encoding: not valid UTF-8 text"]


def test_an_invalid_file_name_is_an_invalid_default_slug(site):
    result = read_file(site, site.write_news("Big News", FRONT))
    assert [str(p) for p in result] == [
        "news/Big News.md:1: slug (from the file name): 'Big News' is not a valid slug: use a-z, 0-9 and '-'"
    ]


def test_all_problems_of_a_file_are_reported_together(site):
    front = "title:\ndate: 2026-02-30\ntopics: []\nlang: de\ncolour: red\nimage: {src: a.png}\n"
    result = read_file(site, site.write_news("x", front))
    assert [str(p) for p in result] == [
        "news/x.md:6: colour: unknown field",
        "news/x.md:2: title: missing",
        "news/x.md:3: date: impossible date '2026-02-30': day is out of range for month",
        "news/x.md:5: lang: unknown language 'de' (the site has en, fi)",
        "news/x.md:4: topics: missing: list at least one",
        "news/x.md:7: image.alt: missing: describe the image for readers who cannot see it",
    ]


def test_a_bom_and_crlf_line_ends_are_fine_and_keep_line_numbers(site):
    raw = ("\ufeff---\r\n" + FRONT.replace("\n", "\r\n") + "lang: de\r\n---\r\nBody\r\n").encode()
    assert problems_of(site, raw) == ["news/x.md:5: lang: unknown language 'de' (the site has en, fi)"]


# -- a good file ---------------------------------------------------------------------


def test_a_complete_item(site):
    front = textwrap.dedent("""\
        title: "Study:   a   new  model"
        date: 2026-11-20T10:00:00+02:00
        updated: 2026-11-21T08:30:00+02:00
        lang: fi
        summary: A given summary.
        topics: [neurological, medtech]
        organizations: [uef]
        authors: [Aino Virtanen, Matti Meikäläinen]
        image: {src: "https://images.example.org/brain.png", alt: "A brain scan"}
        status: draft
        visibility: partners
        translation_key: study-2026
        id: tag:news.example.org,2026:study
        slug: the-study
        canonical_url: https://www.uef.fi/en/news/study
        """)
    item = news(site, front, "Body text.\n", name="whatever")
    assert item.source == "news/whatever.md"
    assert item.title == "Study: a new model"
    assert item.date == datetime(2026, 11, 20, 10, 0, tzinfo=HELSINKI)
    assert item.updated == datetime(2026, 11, 21, 8, 30, tzinfo=HELSINKI)
    assert item.modified == item.updated
    assert item.lang == "fi"
    assert item.summary == "A given summary."
    assert item.topics == ("neurological", "medtech")
    assert item.organizations == ("uef",)
    assert item.authors == ("Aino Virtanen", "Matti Meikäläinen")
    assert (item.image.src, item.image.alt) == ("https://images.example.org/brain.png", "A brain scan")
    assert (item.status, item.visibility, item.is_partner_only) == ("draft", "partners", True)
    assert item.translation_key == "study-2026"
    assert item.id == "tag:news.example.org,2026:study"
    assert item.slug == "the-study"
    assert item.url == "https://news.example.org/news/the-study/"
    assert item.canonical_url == "https://www.uef.fi/en/news/study"
    assert item.body_html == "<p>Body text.</p>"
    assert item.line_of("canonical_url") == 16 and item.line_of("nothing") == 1


def test_defaults(site):
    item = news(site, FRONT, name="my-news")
    assert item.slug == "my-news"
    assert item.lang == "en"                            # the site's default language
    assert (item.status, item.visibility, item.is_partner_only) == ("published", "public", False)
    assert item.updated is None and item.modified == item.date
    assert item.organizations == () and item.authors == () and item.image is None
    assert item.translation_key is None and item.canonical_url is None


def test_default_id_is_the_permalink(site):
    item = news(site, FRONT, name="my-news")
    assert item.url == "https://news.example.org/news/my-news/"
    assert item.id == item.url


def test_default_id_is_the_permalink_for_partner_only_items_too(site):
    item = news(site, FRONT + "visibility: partners\nslug: for-partners\n")
    assert item.id == "https://news.example.org/news/for-partners/"


def test_a_pinned_id_is_kept_verbatim(site):
    item = news(site, FRONT + "id: 'urn:uuid:6E8BC430-9C3A-11D9-9669-0800200C9A66'\nslug: renamed\n")
    assert item.id == "urn:uuid:6E8BC430-9C3A-11D9-9669-0800200C9A66"
    assert item.url == "https://news.example.org/news/renamed/"


def test_a_single_topic_may_be_written_as_text(site):
    assert news(site, FRONT.replace("[neurological]", "neurological")).topics == ("neurological",)


def test_a_local_image_path_is_accepted_by_the_reader(site):
    item = news(site, FRONT + "image:\n  src: media/chart.png\n  alt: A   chart\n")
    assert (item.image.src, item.image.alt, item.image.url) == ("media/chart.png", "A chart", "")


# -- dates ---------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "utc"), [
    ("2026-11-20T10:00", datetime(2026, 11, 20, 8, 0, tzinfo=UTC)),          # winter: +02:00
    ("2026-07-01T10:00:00", datetime(2026, 7, 1, 7, 0, tzinfo=UTC)),         # summer: +03:00
    ("2026-11-20 10:00", datetime(2026, 11, 20, 8, 0, tzinfo=UTC)),
    ("2026-11-20", datetime(2026, 11, 19, 22, 0, tzinfo=UTC)),               # midnight in Helsinki
    ("2026-07-01", datetime(2026, 6, 30, 21, 0, tzinfo=UTC)),
    ("2026-11-20T10:00:00+05:30", datetime(2026, 11, 20, 4, 30, tzinfo=UTC)),
    ("2026-11-20T10:00Z", datetime(2026, 11, 20, 10, 0, tzinfo=UTC)),
    ("2026-11-20T10:00:00-08:00", datetime(2026, 11, 20, 18, 0, tzinfo=UTC)),
    # 03:30 on 29 March 2026 does not exist in Helsinki (03:00 -> 04:00); fold=0 takes
    # the offset from before the change, +02:00
    ("2026-03-29T03:30", datetime(2026, 3, 29, 1, 30, tzinfo=UTC)),
    # 03:30 on 25 October 2026 happens twice (04:00 -> 03:00); fold=0 is the first, +03:00
    ("2026-10-25T03:30", datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
])
def test_dates_in_the_site_time_zone(site, text, utc):
    parsed = parse_datetime(text, site.config.site)
    assert parsed.astimezone(UTC) == utc
    assert parsed.tzinfo == HELSINKI


def test_a_dst_gap_resolves_like_zoneinfo_fold_0(site):
    parsed = parse_datetime("2026-03-29T03:30", site.config.site)
    expected = datetime(2026, 3, 29, 3, 30, fold=0, tzinfo=HELSINKI)
    assert parsed.timestamp() == expected.timestamp()
    # the same instant, written as the wall time that really existed: 04:30 summer time
    assert (parsed.hour, parsed.minute, parsed.utcoffset()) == (4, 30, timedelta(hours=3))


def test_an_explicit_offset_is_honoured_in_the_item(site):
    item = news(site, FRONT.replace("2026-11-20T10:00", "2026-11-20T10:00:00+05:30"))
    assert item.date.astimezone(UTC) == datetime(2026, 11, 20, 4, 30, tzinfo=UTC)
    assert item.date.tzinfo == HELSINKI


def test_a_date_alone_is_midnight_in_the_site_time_zone(site):
    item = news(site, FRONT.replace("2026-11-20T10:00", "2026-11-20"))
    assert item.date == datetime(2026, 11, 20, 0, 0, tzinfo=HELSINKI)
    assert item.date.utcoffset() == timedelta(hours=2)


DATE_TEXTS = ["2026-11-20", "2026-11-20 10:00:00", "2026-11-20T10:00:00Z", "2026-11-20t10:00:00.5+02:00"]


@pytest.mark.parametrize("written", DATE_TEXTS)
def test_an_unquoted_date_stays_text_for_our_parser(written):
    doc = split_document(f"---\ndate: {written}\nupdated: [{written}]\n---\n".encode())
    assert doc.meta == {"date": written, "updated": [written]}


@pytest.mark.parametrize("written", DATE_TEXTS)
def test_an_explicit_yaml_timestamp_tag_stays_text_too(written):
    doc = split_document(f"---\ndate: !!timestamp {written}\n---\n".encode())
    assert doc.meta == {"date": written}


YAML_SHAPES = [
    "title: Plain\nn: 12\nf: 1.5\nyes_: yes\nnone: ~\nempty:\nq: '12'\n",
    "list: [a, 2, null, [b, {c: d}]]\nblock:\n  - x\n  - y: z\n",
    "base: &b {k: v}\nmerged: {<<: {k: v}, j: w}\n",
    "? [a, b]\n: sequence as a key\n3: an int key\n~: a null key\n",
    "s: !!str 12\ni: !!int '7'\nset: !!set {a, b}\nbin: !!binary aGk=\n",
    "v: =\n",
    "text: \"bell \\x07 and tab\\t\"\nfolded: >\n  one\n  two\n",
]


@pytest.mark.parametrize("source", YAML_SHAPES)
def test_front_matter_values_are_built_as_pyyaml_builds_them(source):
    from pipeline import frontmatter
    loader = frontmatter._Loader(source)
    try:
        expected = loader.construct_document(loader.get_single_node())
    except (yaml.YAMLError, ValueError, TypeError):   # then ours refuses it too, with a line
        with pytest.raises(FrontMatterError):
            frontmatter._load_yaml(source, first_line=2)
        return
    finally:
        loader.dispose()
    assert frontmatter._load_yaml(source, first_line=2)[0] == expected


def test_an_unquoted_date_without_offset_is_in_the_site_time_zone_not_utc(site):
    # YAML's timestamp resolver would have read this as UTC
    item = news(site, FRONT.replace("2026-11-20T10:00", "2026-11-20 10:00:00"))
    assert item.date.astimezone(UTC) == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["2026-02-29", "2026-04-31", "2026-02-30T12:00", "2025-02-29T00:00+02:00"])
def test_an_impossible_date_is_a_value_error(site, text):
    with pytest.raises(ValueError, match="^" + re.escape(f"impossible date '{text}': ")):
        parse_datetime(text, site.config.site)


def test_updated_equal_to_date_is_fine(site):
    item = news(site, FRONT + "updated: 2026-11-20T10:00\n")
    assert item.updated == item.date


def test_updated_compares_instants_not_wall_clocks(site):
    # 09:00 UTC is 11:00 in Helsinki: later than 10:00 there, though "09" < "10"
    item = news(site, FRONT + "updated: 2026-11-20T09:00:00Z\n")
    assert item.updated > item.date


# -- characters XML forbids ------------------------------------------------------------

FORBIDDEN = "".join(chr(c) for c in [*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF])


def test_forbidden_characters_are_removed_from_fields_and_body(site):
    raw = ("---\n"
           f"title: Brain{FORBIDDEN}storm\n"
           "date: 2026-11-20T10:00\n"
           "topics: [neurological]\n"
           f"authors: [Ai{FORBIDDEN}no]\n"
           f"summary: Sum{FORBIDDEN}mary\n"
           "---\n"
           f"Body{FORBIDDEN} text.\n").encode()
    path = site.root / "content" / "news" / "x.md"
    path.write_bytes(raw)
    item = read_file(site, path)
    assert isinstance(item, NewsItem), item
    assert item.title == "Brainstorm"
    assert item.summary == "Summary"
    assert item.authors == ("Aino",)
    assert item.body_html == "<p>Body text.</p>"
    assert item.line_of("summary") == 6                   # no line lost or added


def test_forbidden_characters_are_removed_from_a_derived_summary(site):
    raw = f"---\n{FRONT}---\nFirst{FORBIDDEN} paragraph.\n".encode()
    path = site.root / "content" / "news" / "x.md"
    path.write_bytes(raw)
    assert read_file(site, path).summary == "First paragraph."


def test_forbidden_characters_written_as_yaml_escapes_are_removed(site):
    item = news(site, FRONT.replace("title: A title", r'title: "Bell\a\x07 and\x0b \u0001null\0"')
                + r'summary: "s\x1fum\uffffmary"' + "\n")
    assert item.title == "Bell and null"
    assert item.summary == "summary"


def test_forbidden_characters_written_as_references_in_the_body_are_removed(site):
    # cmark decodes references in text to the raw characters, which are then dropped;
    # raw HTML blocks go to the sanitizer, which decodes &#x1; as it is
    item = news(site, FRONT, "Form&#12;feed and <span>bell&#7;</span>\n\n<p>&#x1;raw&#xFFFE;</p>\n")
    assert item.body_html == "<p>Formfeed and <span>bell</span></p>\n<p>raw</p>"
    assert item.summary == "Formfeed and bell"


# -- body and summary --------------------------------------------------------------


def test_the_body_is_sanitized_and_links_made_absolute(site):
    body = ('See [the lab](/organizations/uef/) and <a href="news/other/" onclick="x()">this</a>.\n\n'
            "<script>alert(1)</script>\n\n"
            '<iframe src="https://evil.example/"></iframe>\n\n'
            '[bad](javascript:alert(1)) <a href="javascript:alert(1)">bad</a> '
            '<abbr title="Alzheimer\'s disease">AD</abbr> <strong>bold</strong>\n')
    html = news(site, FRONT, body).body_html
    assert '<a href="https://news.example.org/organizations/uef/" rel="noopener">the lab</a>' in html
    assert '<a href="https://news.example.org/news/other/" rel="noopener">this</a>' in html
    assert "<abbr title=\"Alzheimer's disease\">AD</abbr> <strong>bold</strong>" in html
    for bad in ("<script", "alert(1)</", "<iframe", "onclick", 'href="javascript'):
        assert bad not in html


def test_the_summary_is_the_first_paragraph(site):
    body = "## A heading first\n\nThe **first** [paragraph](/x/).\n\nThe second one.\n"
    assert news(site, FRONT, body).summary == "The first paragraph."


def test_a_long_first_paragraph_is_cut_at_a_word_near_300_characters(site):
    words = " ".join(["neuroscience"] * 60)                 # 779 characters
    summary = news(site, FRONT, words + "\n\nSecond.\n").summary
    assert summary.endswith("…")
    assert len(summary) <= 301
    assert summary.removesuffix("…") == " ".join(["neuroscience"] * 23)   # 298 characters


def test_an_explicit_summary_wins(site):
    item = news(site, FRONT + "summary: |\n  Written  by\n  hand.\n", "The body paragraph.\n")
    assert item.summary == "Written by hand."


def test_an_empty_body_gives_an_empty_summary(site):
    item = news(site, FRONT, "")
    assert (item.summary, item.body_html) == ("", "")


# -- profiles ------------------------------------------------------------------------

PROFILE = "name: {en: Kuopio University Hospital, fi: Kuopion yliopistollinen sairaala}\nkind: hospital\n"


def profile(site, front: str = PROFILE, body: str = "", name: str = "kuh") -> Profile:
    result = read_file(site, site.write_profile(name, front, body))
    assert isinstance(result, Profile), [str(p) for p in result]
    return result


def test_a_profile_with_localized_name_and_description(site):
    front = PROFILE + textwrap.dedent("""\
        website: https://www.psshp.fi/
        city: Kuopio
        topics: [neurological, medtech]
        logo: {src: "https://logos.example.org/kuh.svg", alt: KUH logo}
        description:
          en: "The **hospital** of [eastern Finland](/about/)."
          fi: Itä-Suomen sairaala.
        """)
    p = profile(site, front)
    assert p.slug == "kuh" and p.source == "profiles/kuh.md"
    assert p.name == {"en": "Kuopio University Hospital", "fi": "Kuopion yliopistollinen sairaala"}
    assert p.kind == "hospital"
    assert (p.website, p.city, p.topics) == ("https://www.psshp.fi/", "Kuopio", ("neurological", "medtech"))
    assert (p.logo.src, p.logo.alt) == ("https://logos.example.org/kuh.svg", "KUH logo")
    assert p.description_html == {
        "en": '<p>The <strong>hospital</strong> of '
              '<a href="https://news.example.org/about/" rel="noopener">eastern Finland</a>.</p>',
        "fi": "<p>Itä-Suomen sairaala.</p>",
    }
    assert p.summary == {"en": "The hospital of eastern Finland.", "fi": "Itä-Suomen sairaala."}


def test_a_profile_description_in_the_markdown_body(site):
    p = profile(site, PROFILE + "summary: {en: Short., fi: Lyhyt.}\n",
                "A *hospital* in Kuopio.\n\nMore.\n")
    html = "<p>A <em>hospital</em> in Kuopio.</p>\n<p>More.</p>"
    assert p.description_html == {"en": html, "fi": html}
    assert p.summary == {"en": "Short.", "fi": "Lyhyt."}


def test_a_profile_name_as_plain_text_is_every_language(site):
    p = profile(site, "name: VTT\nkind: research-centre\nslug: vtt-kuopio\n", "VTT in Kuopio.\n")
    assert p.name == {"en": "VTT", "fi": "VTT"}
    assert p.slug == "vtt-kuopio"
    assert p.summary == {"en": "VTT in Kuopio.", "fi": "VTT in Kuopio."}


@pytest.mark.parametrize(("front", "body", "expected"), [
    ("kind: hospital\n", "", "profiles/p.md:1: name: missing"),
    ("name: X\n", "", "profiles/p.md:1: kind: missing"),
    ("name: X\nkind: school\n", "",
     "profiles/p.md:3: kind: 'school' is not one of university, hospital, research-centre, company, "
     "public-sector, network"),
    ("name: {en: X, de: Y}\nkind: company\n", "",
     "profiles/p.md:2: name.de: unknown language (the site has en, fi)"),
    ("name: {en: X, fi: ''}\nkind: company\n", "", "profiles/p.md:2: name.fi: expected non-empty text"),
    ("name: [X]\nkind: company\n", "",
     "profiles/p.md:2: name: expected text or one text per language ({en: …, fi: …})"),
    ("name: X\nkind: company\ndescription: {en: D}\n", "Body too.\n",
     "profiles/p.md:4: description: given both in the front matter and as the body: keep one"),
    ("name: X\nkind: company\nwebsite: example.com\n", "",
     "profiles/p.md:4: website: 'example.com' is not an absolute http(s) URL"),
    ("name: X\nkind: company\nlogo: {src: logo.svg}\n", "",
     "profiles/p.md:4: logo.alt: missing: describe the image for readers who cannot see it"),
    ("name: X\nkind: company\nslug: Not Valid\n", "",
     "profiles/p.md:4: slug: 'Not Valid' is not a valid slug: use a-z, 0-9 and '-'"),
    ("name: X\nkind: company\nemployees: 5\n", "", "profiles/p.md:4: employees: unknown field"),
])
def test_each_profile_rule(site, front, body, expected):
    result = read_file(site, site.write_profile("p", front, body))
    assert [str(p) for p in result] == [expected]


def test_a_profile_with_a_yaml_error(site):
    result = read_file(site, site.write_profile("p", "name: X\nkind: [company\n"))
    assert [str(p) for p in result] == [
        "profiles/p.md:4: yaml: YAML syntax error: while parsing a flow sequence, "
        "did not find expected ',' or ']'"
    ]


def test_readers_are_pure_functions_of_their_input(site):
    path = site.write_news("x", FRONT + "image: {src: media/a.png, alt: A}\n")
    s = site.config.site
    first, second = (read_news("news/x.md", path.read_bytes(), s) for _ in range(2))
    assert first == second
    assert not (site.root / "content" / "media").exists()    # no I/O: the image is checked later


# -- simple front matter is read without the YAML parser, with the same result ------------

_PIECES = ["a", "Z", "7", "ä", "–", " ", "  ", ":", ": ", " #", "#", ",", "[", "]", "{", "}", "'", '"',
           "\\", "-", "?", "&", "*", "!", "|", ">", "%", "@", "`", "~", ".", "=", "0x1", "1.5", "yes",
           "null", "on", "12:30", "2026-11-20", "\u00a0", "\u2028", "\t", "\x85"]
_text_pieces = st.lists(st.sampled_from(_PIECES), max_size=6).map("".join)
_keys = st.sampled_from(["title", "topics", "image", "src", "alt", "yes", "on", "null", "a-b", "_x", "1a",
                         "<<", "Title", "x y"])
_scalars = st.one_of(_text_pieces, _text_pieces.map(lambda t: f'"{t}"'), _text_pieces.map(lambda t: f"'{t}'"))
_flow = st.lists(_scalars, max_size=3).map(lambda items: "[" + ", ".join(items) + "]")
_values = st.one_of(_scalars, _flow, _text_pieces.map(lambda t: "[" + t + "]"))
_indent = st.sampled_from([" ", "  ", "    "])
_line = st.one_of(
    st.tuples(_keys, st.sampled_from([": ", ":  ", ":"]), _values).map("".join),
    st.tuples(_keys, st.just(":")).map("".join),
    st.tuples(_indent, _keys, st.just(": "), _values).map("".join),
    st.sampled_from(["", "# a comment", "- item", "  - item", "  continued text"]),
)


# mostly harmless text with one odd piece in it: what the fast reader must judge right
_plain_keys = st.sampled_from(["title", "topics", "image", "src", "alt"])
_benign = st.lists(st.sampled_from(["a", "ä", " ", "-", "x", "1"]), max_size=4).map("".join)
_ODD = [":", ": ", " #", ",", "[", "]", "{", "}", "'", '"', "\\", "-", "?", "&", "*", "!", "|", ">", "%", "@",
        "`", "yes", "null", "12:30", "\u00a0", "\t"]
_one_odd = st.tuples(_benign, st.sampled_from(_ODD), _benign).map("".join)
_usual_scalar = st.one_of(_one_odd, _one_odd.map(lambda t: f'"{t}"'), _one_odd.map(lambda t: f"'{t}'"))
_usual_value = st.one_of(_usual_scalar,
                         st.lists(_usual_scalar, max_size=3).map(lambda i: "[" + ", ".join(i) + "]"))
_usual_line = st.one_of(
    st.tuples(_plain_keys, st.just(": "), _usual_value).map("".join),
    st.tuples(st.just("  "), _plain_keys, st.just(": "), _usual_value).map("".join),
    st.just("image:"),
)


def _same_as_the_parser(lines: list[str]) -> None:
    from pipeline.frontmatter import _compose_yaml, _simple_yaml

    source = "\n".join(lines)
    simple = _simple_yaml(source, 2)
    if simple is not None:
        assert _compose_yaml(source, 2) == simple


@given(st.lists(_line, max_size=6))
@settings(max_examples=500, deadline=None)
def test_simple_front_matter_reads_as_the_yaml_parser_reads_it(lines):
    """Whatever the fast reader accepts, the YAML parser reads the same way (fields, types,
    lines); what it does not accept goes to the parser, so errors stay the parser's."""
    _same_as_the_parser(lines)


@given(st.lists(_usual_line, min_size=1, max_size=3))
@settings(max_examples=2500, deadline=None)
def test_usual_front_matter_with_one_odd_piece_reads_as_the_yaml_parser_reads_it(lines):
    _same_as_the_parser(lines)


@pytest.mark.parametrize("source", [
    'title: Plain text – ä\ndate: 2026-11-20T10:00\ntopics: [neurological, "medtech", \'x y\']\n'
    "image:\n  src: media/a.svg\n  alt: A picture of cells\nsummary: \"Quoted: with # and ,\"",
    "title: Plain\n\nauthors: []\ntranslation_key: story-1",
])
def test_the_usual_front_matter_takes_the_fast_way(source):
    from pipeline.frontmatter import _compose_yaml, _simple_yaml

    assert _simple_yaml(source, 2) is not None
    assert _simple_yaml(source, 2) == _compose_yaml(source, 2)


@pytest.mark.parametrize("source", [
    "featured: yes", "count: 12", "title: a: b", "topics: [a: b]", "topics: [a #b]", "topics: [yes]",
    "time: 12:30", "title:", "title: a\n  continued", "title: a # note",
    "title: 'it''s'", 'title: "tab\\tescape"', "topics: [a,\n  b]", "image:\n  src: a\n    alt: b",
    "image:\n  src: a\n alt: b", "title: a\ntitle: b", "title: *alias", "title: \u00a0nbsp",
    "list:\n  - a", "on: x",
])
def test_anything_else_is_left_to_the_yaml_parser(source):
    from pipeline.frontmatter import _simple_yaml

    assert _simple_yaml(source, 2) is None
