"""load_content: every file through the readers (and the parse cache), then the checks that need
more than one file; every problem of every file as `path:line: field: message`, in one pass."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pipeline.content import Content, load_content

from .conftest import png

HELSINKI = ZoneInfo("Europe/Helsinki")
FRONT = "title: A title\ndate: 2026-11-20T10:00\ntopics: [neurological]\n"   # lines 2, 3, 4
CACHE = Path("state") / "parse-cache.sqlite3"


@pytest.fixture(autouse=True)
def in_site(site, monkeypatch):
    """Problems show paths relative to the working directory: content/news/x.md."""
    monkeypatch.chdir(site.root)


def load(site, **kwargs) -> Content:
    return load_content(site.config, **kwargs)


def problems(site) -> list[str]:
    return [str(p) for p in load(site).problems]


# -- every rule with a real file -------------------------------------------------------


@pytest.mark.parametrize(("front", "expected"), [
    (FRONT.replace("[neurological]", "[neurological, cooking]"),
     "content/news/x.md:4: topics: unknown topic 'cooking' (known: neurological, medtech)"),
    (FRONT + "organizations: [uef, nobody]\n",
     "content/news/x.md:5: organizations: unknown organization 'nobody': no content/profiles/nobody.md"),
    (FRONT.replace("2026-11-20T10:00", "20.11.2026"),
     "content/news/x.md:3: date: '20.11.2026' is not an ISO 8601 date "
     "(e.g. 2026-11-30 or 2026-11-30T09:00+02:00)"),
    (FRONT.replace("2026-11-20T10:00", "2026-02-30"),
     "content/news/x.md:3: date: impossible date '2026-02-30': day is out of range for month"),
    (FRONT + "updated: 2026-11-19T23:59\n",
     "content/news/x.md:5: updated: 2026-11-19T23:59 is earlier than date 2026-11-20T10:00"),
    (FRONT.replace("title: A title\n", ""), "content/news/x.md:1: title: missing"),
    (FRONT + "image:\n  src: https://img.example.org/a.png\n",
     "content/news/x.md:5: image.alt: missing: describe the image for readers who cannot see it"),
    (FRONT + "image:\n  src: media/missing.png\n  alt: A chart\n",
     "content/news/x.md:5: image.src: no such file: content/media/missing.png"),
    (FRONT + "lang: sv\n", "content/news/x.md:5: lang: unknown language 'sv' (the site has en, fi)"),
    (FRONT + "summary: ok\ntitle: Twice\n", "content/news/x.md:6: title: given twice (first on line 2)"),
    (FRONT + "teaser: Hello\n", "content/news/x.md:5: teaser: unknown field"),
    (FRONT + "slug: Not_OK\n",
     "content/news/x.md:5: slug: 'Not_OK' is not a valid slug: use a-z, 0-9 and '-'"),
    (FRONT.replace("topics: [neurological]", "topics: [neurological\nsummary: x"),
     "content/news/x.md:5: yaml: YAML syntax error: while parsing a flow sequence, "
     "did not find expected ',' or ']'"),
])
def test_each_rule_with_a_real_broken_file(site, front, expected):
    site.write_news("x", front)
    content = load(site)
    assert [str(p) for p in content.problems] == [expected]
    assert content.news == ()                             # the bad file is left out
    assert content.bad_files == ("content/news/x.md",)


def test_missing_front_matter(site):
    site.write("news/x.md", "# A title\n\nNo front matter.\n")
    assert problems(site) == ["content/news/x.md:1: front matter: the file must start with a '---' line"]


def test_invalid_utf8(site):
    path = site.root / "content" / "news" / "x.md"
    path.write_bytes(f"---\n{FRONT}---\n".encode() + b"Caf\xe9\n")
    assert problems(site) == ["content/news/x.md:6: encoding: not valid UTF-8 text"]


def test_invalid_slug_from_the_file_name(site):
    site.write_news("Uutinen ÄÖ", FRONT)
    assert problems(site) == [
        "content/news/Uutinen ÄÖ.md:1: slug (from the file name): 'Uutinen ÄÖ' is not a valid slug: "
        "use a-z, 0-9 and '-'"
    ]


def test_a_local_image_that_exists_is_resolved(site):
    media = site.root / "content" / "media"
    media.mkdir()
    (media / "chart.png").write_bytes(png())
    site.write_news("x", FRONT + "image: {src: media/chart.png, alt: A chart}\n")
    content = load(site)
    assert content.problems == ()
    [item] = content.news
    assert item.image.output_path.startswith("media/") and item.image.output_path.endswith("-chart.png")
    assert item.image.url == "https://news.example.org/" + item.image.output_path
    assert (item.image.media_type, item.image.length) == ("image/png", len(png()))
    assert {k: m.path for k, m in content.media.items()} == {item.image.output_path: media / "chart.png"}


# -- cross-file rules -----------------------------------------------------------------


def test_duplicate_slug_across_sub_folders_names_both_files(site):
    site.write("news/2025/same.md", f"---\n{FRONT}---\nOld.\n")
    site.write("news/2026/same.md", f"---\n{FRONT}---\nNew.\n")
    content = load(site)
    assert [str(p) for p in content.problems] == [
        "content/news/2026/same.md:1: slug: 'same' is also used by news/2025/same.md"
    ]
    assert content.bad_files == ("content/news/2026/same.md",)
    assert [n.source for n in content.news] == ["news/2025/same.md"]


def test_duplicate_explicit_slug_is_reported_on_its_line(site):
    site.write_news("a", FRONT + "slug: shared\n")
    site.write_news("b", FRONT + "id: tag:news.example.org,2026:b\nslug: shared\n")
    assert problems(site) == ["content/news/b.md:6: slug: 'shared' is also used by news/a.md"]


def test_duplicate_id(site):
    site.write_news("a", FRONT + "id: tag:news.example.org,2026:one\n")
    site.write_news("b", FRONT + "id: tag:news.example.org,2026:one\n")
    assert problems(site) == [
        "content/news/b.md:5: id: 'tag:news.example.org,2026:one' is also used by news/a.md"
    ]


def test_same_slug_and_same_pinned_id_are_two_problems(site):
    site.write_news("a", FRONT + "id: tag:x.org,2026:1\nslug: s\n")
    site.write_news("b", FRONT + "id: tag:x.org,2026:1\nslug: s\n")
    assert problems(site) == [
        "content/news/b.md:5: id: 'tag:x.org,2026:1' is also used by news/a.md",
        "content/news/b.md:6: slug: 's' is also used by news/a.md",
    ]


def test_a_pinned_id_may_not_take_another_items_permalink(site):
    site.write_news("a", FRONT)
    site.write_news("b", FRONT + "id: https://news.example.org/news/a/\n")
    assert problems(site) == [
        "content/news/b.md:5: id: 'https://news.example.org/news/a/' is also used by news/a.md"
    ]


def test_duplicate_translation_key_in_one_language(site):
    site.write_news("a", FRONT + "translation_key: study\nlang: en\n")
    site.write_news("b", FRONT + "translation_key: study\n")           # en by default
    site.write_news("c", FRONT + "translation_key: study\nlang: fi\n")  # a translation: fine
    assert problems(site) == [
        "content/news/b.md:5: translation_key: 'study' in language 'en' is also used by news/a.md"
    ]


def test_translations_share_a_key_across_languages(site):
    site.write_news("a", FRONT + "translation_key: study\nlang: en\n")
    site.write_news("b", FRONT + "translation_key: study\nlang: fi\n")
    content = load(site)
    assert content.problems == ()
    assert sorted((n.slug, n.lang) for n in content.news) == [("a", "en"), ("b", "fi")]


# -- profiles ---------------------------------------------------------------------------


@pytest.mark.parametrize(("front", "expected"), [
    ("kind: company\ncity: Kuopio\n", "content/profiles/p.md:1: name: missing"),
    ("name: P\nkind: startup\n",
     "content/profiles/p.md:3: kind: 'startup' is not one of university, hospital, research-centre, "
     "company, public-sector, network"),
    ("name: P\nkind: company\ntopics: [medtech, cooking]\n",
     "content/profiles/p.md:4: topics: unknown topic 'cooking'"),
    ("name: P\nkind: company\nlogo: {src: media/none.svg, alt: Logo}\n",
     "content/profiles/p.md:4: logo.src: no such file: content/media/none.svg"),
])
def test_each_profile_rule_with_a_real_file(site, front, expected):
    site.write_profile("p", front)
    content = load(site)
    assert [str(p) for p in content.problems] == [expected]
    assert set(content.profiles) == {"uef"}


def test_duplicate_profile_slug_names_both_files(site):
    site.write_profile("uef-copy", "slug: uef\nname: UEF again\nkind: university\n")
    content = load(site)
    assert [str(p) for p in content.problems] == [
        "content/profiles/uef.md:1: slug: 'uef' is also the slug of profiles/uef-copy.md"
    ]
    assert content.profiles["uef"].source == "profiles/uef-copy.md"


def test_profiles_are_loaded_with_localized_names(site):
    content = load(site)
    assert content.problems == ()
    uef = content.profiles["uef"]
    assert uef.name == {"en": "University of Eastern Finland", "fi": "Itä-Suomen yliopisto"}
    assert uef.kind == "university" and uef.city == "Kuopio" and uef.topics == ("neurological",)
    assert uef.summary["fi"] == "The University of Eastern Finland is a multidisciplinary university."


def test_a_profile_in_a_sub_folder_is_not_read(site):
    site.write("profiles/old/gone.md", "not even front matter\n")
    assert load(site).problems == ()


# -- one pass ----------------------------------------------------------------------------


def test_all_problems_in_all_files_are_collected_in_one_pass(site):
    site.write_news("good", FRONT + "organizations: [uef]\n")
    site.write_news("a-bad", "title: A\ndate: 2026-13-45\ntopics: [cooking]\norganizations: [ghost]\n")
    site.write("news/deep/b-bad.md", "no front matter\n")
    site.write_news("c-bad", FRONT + "lang: de\nimage: {src: x.png}\ncolour: blue\n")
    site.write_news("z-dup", FRONT + "slug: good\n")
    site.write_profile("zeta", "name: {en: Z, de: Z}\nkind: guild\ntopics: [knitting]\n")
    content = load(site)
    assert [str(p) for p in content.problems] == [
        "content/news/a-bad.md:3: date: '2026-13-45' is not an ISO 8601 date "
        "(e.g. 2026-11-30 or 2026-11-30T09:00+02:00)",
        "content/news/a-bad.md:4: topics: unknown topic 'cooking' (known: neurological, medtech)",
        "content/news/a-bad.md:5: organizations: unknown organization 'ghost': no content/profiles/ghost.md",
        "content/news/c-bad.md:5: lang: unknown language 'de' (the site has en, fi)",
        "content/news/c-bad.md:6: image.alt: missing: describe the image for readers who cannot see it",
        "content/news/c-bad.md:7: colour: unknown field",
        "content/news/deep/b-bad.md:1: front matter: the file must start with a '---' line",
        "content/news/z-dup.md:5: slug: 'good' is also used by news/good.md",
        "content/profiles/zeta.md:2: name.de: unknown language (the site has en, fi)",
        "content/profiles/zeta.md:3: kind: 'guild' is not one of university, hospital, research-centre, "
        "company, public-sector, network",
        "content/profiles/zeta.md:4: topics: unknown topic 'knitting'",
    ]
    assert content.bad_files == ("content/news/a-bad.md", "content/news/c-bad.md",
                                 "content/news/deep/b-bad.md", "content/news/z-dup.md",
                                 "content/profiles/zeta.md")
    assert [n.slug for n in content.news] == ["good"]
    assert set(content.profiles) == {"uef"}
    assert content.files_read == 7


def test_a_file_with_problems_of_its_own_gets_the_cross_file_checks_too(site):
    site.write_news("x", "title: T\ndate: tomorrow\ntopics: [cooking]\norganizations: [ghost]\n"
                         "image: {src: media/none.png, alt: A}\n")
    assert problems(site) == [
        "content/news/x.md:3: date: 'tomorrow' is not an ISO 8601 date "
        "(e.g. 2026-11-30 or 2026-11-30T09:00+02:00)",
        "content/news/x.md:4: topics: unknown topic 'cooking' (known: neurological, medtech)",
        "content/news/x.md:5: organizations: unknown organization 'ghost': no content/profiles/ghost.md",
        "content/news/x.md:6: image.src: no such file: content/media/none.png",
    ]


def test_a_broken_profile_is_still_a_known_organization(site):
    # its file exists: "no content/profiles/kuh.md" would send the author looking in vain
    site.write_profile("kuh", "name: KUH\nkind: clinic\n")
    site.write_news("x", FRONT + "organizations: [kuh, uef]\n")
    content = load(site)
    assert [str(p) for p in content.problems] == [
        "content/profiles/kuh.md:3: kind: 'clinic' is not one of university, hospital, research-centre, "
        "company, public-sector, network"
    ]
    assert [n.slug for n in content.news] == ["x"]
    assert set(content.profiles) == {"uef"}


def test_a_broken_file_does_not_take_a_slug_from_a_sound_one(site):
    site.write_news("a-broken", FRONT + "slug: shared\nlang: de\n")
    site.write_news("b-sound", FRONT + "slug: shared\n")
    content = load(site)
    assert [str(p) for p in content.problems] == [
        "content/news/a-broken.md:5: slug: 'shared' is also used by news/b-sound.md",
        "content/news/a-broken.md:6: lang: unknown language 'de' (the site has en, fi)",
    ]
    assert [n.source for n in content.news] == ["news/b-sound.md"]


def test_cross_file_problems_of_a_file_that_reads_fine_are_all_reported(site):
    site.write_news("x", FRONT.replace("[neurological]", "[cooking, baking]")
                    + "organizations: [ghost, uef, phantom]\n")
    assert problems(site) == [
        "content/news/x.md:4: topics: unknown topic 'cooking' (known: neurological, medtech)",
        "content/news/x.md:4: topics: unknown topic 'baking' (known: neurological, medtech)",
        "content/news/x.md:5: organizations: unknown organization 'ghost': no content/profiles/ghost.md",
        "content/news/x.md:5: organizations: unknown organization 'phantom': no content/profiles/phantom.md",
    ]


def test_a_clean_site_loads_with_dates_in_the_site_time_zone(site):
    site.write_news("one", FRONT.replace("2026-11-20T10:00", "2026-11-20"))
    site.write("news/2026/11/two.md", f"---\n{FRONT}lang: fi\n---\nKaksi.\n")
    content = load(site)
    assert content.problems == ()
    by_slug = {n.slug: n for n in content.news}
    assert by_slug["one"].date == datetime(2026, 11, 20, 0, 0, tzinfo=HELSINKI)
    assert by_slug["two"].source == "news/2026/11/two.md"
    assert by_slug["two"].url == "https://news.example.org/news/two/"


def test_paths_outside_the_working_directory_are_shown_in_full(site, tmp_path_factory, monkeypatch):
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    site.write_news("x", FRONT + "lang: de\n")
    full = site.root / "content" / "news" / "x.md"
    assert problems(site) == [f"{full}:5: lang: unknown language 'de' (the site has en, fi)"]


def test_another_content_folder(site, tmp_path):
    other = tmp_path / "other-content"
    (other / "news").mkdir(parents=True)
    (other / "news" / "y.md").write_text(f"---\n{FRONT}lang: de\n---\nY.\n", encoding="utf-8")
    content = load(site, content_dir=other)
    assert [str(p) for p in content.problems] == [
        "other-content/news/y.md:5: lang: unknown language 'de' (the site has en, fi)"
    ]


# -- the parse cache ---------------------------------------------------------------------


def test_a_second_load_parses_nothing(site):
    site.write_news("a", FRONT)
    site.write_news("b", FRONT + "organizations: [uef]\n")
    first = load(site)
    assert (first.files_read, first.files_parsed) == (3, 3)
    assert CACHE.is_file()
    second = load(site)
    assert (second.files_read, second.files_parsed) == (3, 0)
    assert second.news == first.news and second.profiles == first.profiles


def test_editing_one_file_reparses_exactly_that_one(site):
    site.write_news("a", FRONT)
    site.write_news("b", FRONT)
    load(site)
    site.write_news("b", FRONT.replace("A title", "A new title"))
    content = load(site)
    assert content.files_parsed == 1
    assert {n.slug: n.title for n in content.news} == {"a": "A title", "b": "A new title"}
    assert load(site).files_parsed == 0


def test_a_new_file_is_parsed_and_a_removed_one_forgotten(site):
    site.write_news("a", FRONT)
    load(site)
    site.write_news("b", FRONT)
    (site.root / "content" / "news" / "a.md").unlink()
    content = load(site)
    assert content.files_parsed == 1
    assert [n.slug for n in content.news] == ["b"]
    site.write_news("a", FRONT)                  # back again: not stale, read afresh
    assert load(site).files_parsed == 1


def test_a_renamed_file_is_reparsed_because_its_slug_comes_from_its_name(site):
    path = site.write_news("old-name", FRONT)
    load(site)
    path.rename(path.with_name("new-name.md"))
    content = load(site)
    assert content.files_parsed == 1
    assert [n.slug for n in content.news] == ["new-name"]


def test_broken_files_are_cached_with_their_problems(site):
    site.write_news("x", FRONT + "lang: de\n")
    first = problems(site)
    content = load(site)
    assert content.files_parsed == 0
    assert [str(p) for p in content.problems] == first == [
        "content/news/x.md:5: lang: unknown language 'de' (the site has en, fi)"
    ]


def _garbled_pages() -> bytes:
    """A sound header (it still opens), garbage where the tables were."""
    data = CACHE.read_bytes()
    return data[:100] + b"\xa5" * (len(data) - 100)


@pytest.mark.parametrize("corrupt", [
    lambda: b"this is not an SQLite database, whatever its name says",
    lambda: CACHE.read_bytes()[: len(CACHE.read_bytes()) // 2],            # torn
    _garbled_pages,
])
def test_a_corrupt_cache_file_is_replaced(site, corrupt):
    site.write_news("a", FRONT)
    load(site).close()
    CACHE.write_bytes(corrupt())
    content = load(site)
    assert content.problems == ()
    assert content.files_parsed == 2                     # everything read afresh
    assert [n.slug for n in content.news] == ["a"]
    assert load(site).files_parsed == 0                  # and a good cache written again


def test_changing_the_base_url_invalidates_the_cache(site):
    site.write_news("a", FRONT)
    assert load(site).news[0].url == "https://news.example.org/news/a/"
    text = site.config_path.read_text()
    site.config_path.write_text(text.replace("news.example.org", "uutiset.example.fi"))
    content = load(site)
    assert content.files_parsed == 2
    assert content.news[0].url == "https://uutiset.example.fi/news/a/"
    assert content.news[0].id == "https://uutiset.example.fi/news/a/"


@pytest.mark.parametrize(("old", "new", "changed"), [
    ('timezone = "Europe/Helsinki"', 'timezone = "UTC"', lambda n: n.date.utcoffset().total_seconds() == 0),
    ('languages = ["en", "fi"]', 'languages = ["en", "fi"]\ndefault_language = "fi"',
     lambda n: n.lang == "fi"),
    ('languages = ["en", "fi"]', 'languages = ["en", "fi", "sv"]', None),
])
def test_changing_other_site_settings_invalidates_the_cache(site, old, new, changed):
    site.write_news("a", FRONT)
    site.write_profile("plain", "name: Plain\nkind: company\n")
    load(site)
    site.config_path.write_text(site.config_path.read_text().replace(old, new))
    content = load(site)
    assert content.files_parsed == 3
    if changed:
        assert changed(content.news[0])
    else:   # a text name is every language of the site
        assert content.profiles["plain"].name == {"en": "Plain", "fi": "Plain", "sv": "Plain"}


def test_changing_only_topics_keeps_the_cache_and_still_checks_topics(site):
    site.write_news("a", FRONT.replace("[neurological]", "[medtech]"))
    load(site)
    text = site.config_path.read_text()
    site.config_path.write_text(text[: text.index("[topics.medtech]")])
    content = load(site)
    assert content.files_parsed == 0
    assert [str(p) for p in content.problems] == [
        "content/news/a.md:4: topics: unknown topic 'medtech' (known: neurological)"
    ]


def test_cross_file_checks_run_on_a_fully_cached_load(site):
    site.write_news("a", FRONT + "organizations: [uef]\n")
    assert load(site).problems == ()
    (site.root / "content" / "profiles" / "uef.md").unlink()
    content = load(site)
    assert content.files_parsed == 0
    assert [str(p) for p in content.problems] == [
        "content/news/a.md:5: organizations: unknown organization 'uef': no content/profiles/uef.md"
    ]
    assert content.news == ()


def test_duplicates_are_found_on_a_fully_cached_load(site):
    site.write("news/one/dup.md", f"---\n{FRONT}---\nOne.\n")
    load(site)
    site.write("news/two/dup.md", f"---\n{FRONT}---\nTwo.\n")
    load(site)
    content = load(site)
    assert content.files_parsed == 0
    assert [str(p) for p in content.problems] == [
        "content/news/two/dup.md:1: slug: 'dup' is also used by news/one/dup.md"
    ]


def test_a_local_image_is_checked_on_a_fully_cached_load(site):
    media = site.root / "content" / "media"
    media.mkdir()
    (media / "a.png").write_bytes(png())
    site.write_news("a", FRONT + "image: {src: media/a.png, alt: A}\n")
    first = load(site).news[0].image.output_path
    (media / "a.png").write_bytes(png(seed=7))        # same name, new bytes: a new media name
    content = load(site)
    assert content.files_parsed == 0
    assert content.news[0].image.output_path != first
    (media / "a.png").unlink()
    assert problems(site) == ["content/news/a.md:5: image.src: no such file: content/media/a.png"]


def test_without_the_cache_everything_is_parsed_and_nothing_written(site):
    site.write_news("a", FRONT)
    assert load(site, use_cache=False).files_parsed == 2
    assert load(site, use_cache=False).files_parsed == 2
    assert not CACHE.exists()


def test_the_cache_lives_in_the_configured_state_folder(site):
    text = site.config_path.read_text() + '\n[paths]\nstate = "var/newsroom"\n'
    site.config_path.write_text(text)
    load(site)
    assert (site.root / "var" / "newsroom" / "parse-cache.sqlite3").is_file()
    assert not CACHE.exists()
    assert load(site).files_parsed == 0


def test_local_image_names_become_url_safe_in_media(site, monkeypatch):
    monkeypatch.chdir(site.root)
    site.write_bytes("media/Kuva äänestä 1.PNG", png())
    site.write_news("pic", "title: Pic\ndate: 2026-11-01\ntopics: [medtech]\n"
                    "image: {src: media/Kuva äänestä 1.PNG, alt: A picture}\n")
    content = load_content(site.config)
    [item] = content.news
    assert item.image.output_path.endswith("-kuva-aanesta-1.png")
    assert item.image.url == "https://news.example.org/" + item.image.output_path
    assert content.media[item.image.output_path].path.name == "Kuva äänestä 1.PNG"
