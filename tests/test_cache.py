"""The parse cache (state/parse-cache.sqlite3): stat-trusted digests, bodies read on demand,
recovery from damage, parallel parsing and the per-file fingerprints the renderers use."""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from pathlib import Path

import pytest

from pipeline import content as content_module
from pipeline.cache import CACHE_VERSION, CacheChanged, ParseCache
from pipeline.content import Content, load_content
from pipeline.readers import parse_news

from .conftest import png

FRONT = "title: A title\ndate: 2026-11-20T10:00\ntopics: [neurological]\n"
CACHE = Path("state") / "parse-cache.sqlite3"
LONG_AGO = time.time_ns() - 3600 * 10**9   # older than the "racy" window: signatures are trusted


@pytest.fixture(autouse=True)
def in_site(site, monkeypatch):
    monkeypatch.chdir(site.root)


@pytest.fixture
def reads(monkeypatch) -> list[str]:
    """The content files read (by name) from now on."""
    seen: list[str] = []
    original = Path.read_bytes

    def read_bytes(path: Path) -> bytes:
        if path.suffix == ".md":
            seen.append(path.name)
        return original(path)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    return seen


def load(site, **kwargs) -> Content:
    content = load_content(site.config, **kwargs)
    content.close()   # the next load or a test may replace the database file
    return content


def age(site, ns: int = LONG_AGO) -> None:
    """Give every content file an old modification time."""
    for path in (site.root / "content").rglob("*.md"):
        os.utime(path, ns=(ns, ns))


def rows() -> dict[str, tuple]:
    with sqlite3.connect(CACHE) as db:
        return {r[0]: r[1:] for r in db.execute("SELECT path, mtime_ns, size, ino, digest FROM files")}


def bodies() -> set[str]:
    with sqlite3.connect(CACHE) as db:
        return {r[0] for r in db.execute("SELECT path FROM bodies")}


def write_many(site, count: int) -> None:
    """Items of every kind: plain, with a local image, with problems, and a profile."""
    site.write_bytes("media/a.png", png())
    for i in range(count):
        extra = ("image: {src: media/a.png, alt: A}\n" if i % 3 == 0 else
                 "organizations: [uef]\nupdated: 2026-11-21\n" if i % 3 == 1 else
                 "lang: de\n" if i == 2 else "")
        site.write_news(f"item-{i:03}", FRONT + extra, f"Body **{i}** with [a link](page-{i}/).\n")
    site.write_profile("lab", "name: Lab\nkind: company\n", "A *lab*.\n")


# -- trusting the stat signature -------------------------------------------------------------


def test_an_unchanged_file_is_not_even_read(site, reads):
    site.write_news("a", FRONT)
    age(site)
    load(site)
    reads.clear()
    content = load(site)
    assert content.files_parsed == 0
    assert reads == []
    assert [n.slug for n in content.news] == ["a"]


def test_a_touched_file_is_hashed_not_parsed_and_then_trusted_again(site, reads):
    path = site.write_news("a", FRONT)
    age(site)
    load(site)
    os.utime(path, ns=(LONG_AGO + 10**9, LONG_AGO + 10**9))
    reads.clear()
    assert load(site).files_parsed == 0
    assert reads == ["a.md"]                    # read to compare digests, no more
    assert rows()["news/a.md"][0] == LONG_AGO + 10**9
    reads.clear()
    load(site)
    assert reads == []


def test_a_file_changed_just_now_is_hashed_again_next_time(site):
    """"Racy git": a file may change again within its mtime's tick, unseen by stat; so a
    signature taken within the tick (and a margin) of the change is stored without its time."""
    path = site.write_news("a", FRONT)
    load(site)
    assert rows()["news/a.md"][0] is None
    stat = path.stat()
    path.write_text(path.read_text().replace("A title", "B title"))   # same size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    content = load(site)
    assert content.files_parsed == 1
    assert content.news[0].title == "B title"


def test_the_racy_margin_follows_the_timestamp_granularity(site):
    fine, coarse = site.write_news("fine", FRONT), site.write_news("coarse", FRONT)
    now = time.time_ns()
    os.utime(fine, ns=(now - 500_000_123, now - 500_000_123))          # sub-second times: ms ticks
    # whole seconds: 2 s ticks. The next whole second, so that a slow start of load() (a busy
    # machine, first imports) cannot carry the cache's clock past the 2 s margin
    whole_second = (now // 10**9 + 1) * 10**9
    os.utime(coarse, ns=(whole_second, whole_second))
    load(site)
    assert rows()["news/fine.md"][0] == now - 500_000_123
    assert rows()["news/coarse.md"][0] is None


def test_nothing_is_written_when_nothing_changed(site):
    site.write_news("a", FRONT)
    age(site)
    load(site)
    before = CACHE.stat().st_mtime_ns, CACHE.read_bytes()
    time.sleep(0.01)
    load(site)
    assert (CACHE.stat().st_mtime_ns, CACHE.read_bytes()) == before


def test_rows_of_vanished_files_are_deleted(site):
    site.write_news("a", FRONT)
    site.write_news("b", FRONT)
    load(site)
    assert set(rows()) == {"news/a.md", "news/b.md", "profiles/uef.md"}
    assert bodies() == {"news/a.md", "news/b.md"}
    (site.root / "content" / "news" / "b.md").unlink()
    load(site)
    assert set(rows()) == {"news/a.md", "profiles/uef.md"}
    assert bodies() == {"news/a.md"}


def test_a_failed_load_leaves_the_cache_as_it_was(site, monkeypatch):
    site.write_news("a", FRONT)
    site.write_news("b", FRONT)
    load(site)
    before = rows()
    site.write_news("a", FRONT.replace("A title", "New A"))
    site.write_news("b", FRONT.replace("A title", "New B"))

    def parse_or_fail(path, raw, site_):
        if path == "news/b.md":
            raise RuntimeError("a reader bug")
        return parse_news(path, raw, site_)

    monkeypatch.setattr(content_module, "parse_news", parse_or_fail)
    with pytest.raises(RuntimeError):
        load_content(site.config)
    assert rows() == before                     # a.md's new row was rolled back
    monkeypatch.undo()
    monkeypatch.chdir(site.root)
    assert load(site).files_parsed == 2


# -- damage and versions ---------------------------------------------------------------------


def test_a_corrupt_database_is_replaced_and_the_old_pickle_removed(site):
    site.write_news("a", FRONT)
    (site.root / "state").mkdir()
    (site.root / "state" / "parse-cache.pickle").write_bytes(b"old")
    CACHE.write_bytes(b"SQLite format 3\x00" + b"\xff" * 4080)
    content = load(site)
    assert content.files_parsed == 2 and content.problems == ()
    assert not (site.root / "state" / "parse-cache.pickle").exists()
    assert load(site).files_parsed == 0


def test_another_format_version_empties_the_cache(site):
    site.write_news("a", FRONT)
    load(site)
    with sqlite3.connect(CACHE) as db:
        db.execute(f"PRAGMA user_version = {CACHE_VERSION + 1}")
    assert load(site).files_parsed == 2
    with sqlite3.connect(CACHE) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == CACHE_VERSION
    assert load(site).files_parsed == 0


def test_another_fingerprint_empties_the_cache(site):
    site.write_news("a", FRONT)
    load(site)
    with sqlite3.connect(CACHE) as db:
        db.execute("UPDATE meta SET value = 'another' WHERE key = 'fingerprint'")
    assert load(site).files_parsed == 2


# -- bodies ------------------------------------------------------------------------------------


def test_body_is_the_html_a_fresh_parse_gives(site):
    write_many(site, 6)
    for content in (load_content(site.config), load_content(site.config)):   # parsed, then cached
        assert content.news and all(item.body_html == "" for item in content.news)
        for item in content.news:
            raw = (site.root / "content" / item.source).read_bytes()
            fresh, _ = parse_news(item.source, raw, site.config.site)
            assert content.body(item) == fresh.body_html != ""
        content.close()


def test_without_the_cache_bodies_stay_on_the_items(site):
    site.write_news("a", FRONT, "Some *news*.\n")
    [item] = load(site, use_cache=False).news
    assert item.body_html == "<p>Some <em>news</em>.</p>"
    assert load(site, use_cache=False).body(item) == item.body_html


_FORKED: Content | None = None


def _body_in_child(source: str) -> str:
    [item] = [n for n in _FORKED.news if n.source == source]
    return _FORKED.body(item)


@pytest.mark.skipif(sys.platform != "linux", reason="fork")
def test_a_forked_process_reads_bodies_on_its_own_connection(site):
    global _FORKED
    site.write_news("a", FRONT, "Forked.\n")
    _FORKED = content = load_content(site.config)
    try:
        with ProcessPoolExecutor(1, mp_context=get_context("fork")) as pool:
            assert pool.submit(_body_in_child, "news/a.md").result() == "<p>Forked.</p>"
        assert content.body(content.news[0]) == "<p>Forked.</p>"   # the parent's still works
    finally:
        _FORKED = None
        content.close()


def test_a_body_changed_by_a_later_build_is_not_passed_off_as_this_ones(site):
    site.write_news("a", FRONT, "First.\n")
    first = load_content(site.config)
    site.write_news("a", FRONT, "Second.\n")
    load(site)
    with pytest.raises(CacheChanged, match=r"news/a\.md changed during the build"):
        first.body(first.news[0])
    first.close()


def test_bodies_read_ahead_are_this_builds_and_the_rest_are_read_one_by_one(site):
    write_many(site, 250)   # more than one prefetch statement holds
    content = load_content(site.config)
    expected = {item.source: content.body(item) for item in content.news}
    changed = content.news[3]
    site.write_news(changed.source.removeprefix("news/").removesuffix(".md"), FRONT, "Later.\n")
    load(site)                                      # a later build replaces that body
    content.prefetch(content.news)
    for item in content.news:
        if item is changed:
            with pytest.raises(CacheChanged, match="changed during the build"):
                content.body(item)
        else:
            assert content.body(item) == expected[item.source]
    content.close()


def test_a_build_with_other_settings_taking_over_the_cache_meanwhile_is_an_error(site, monkeypatch):
    site.write_news("a", FRONT)
    load(site)
    before = rows()
    site.write_news("a", FRONT.replace("A title", "New"))
    lookup = ParseCache.lookup

    def lookup_then_taken_over(cache, files):
        found = lookup(cache, files)
        with sqlite3.connect(CACHE) as db:
            db.execute("UPDATE meta SET value = 'another' WHERE key = 'fingerprint'")
        return found

    monkeypatch.setattr(ParseCache, "lookup", lookup_then_taken_over)
    with pytest.raises(CacheChanged, match="took over the parse cache"):
        load_content(site.config)
    assert rows() == before


# -- parallel parsing ------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform != "linux" or (os.cpu_count() or 1) < 2, reason="needs fork and 2 cores")
@pytest.mark.parametrize("use_cache", [True, False])
def test_parallel_parsing_gives_what_serial_parsing_gives(site, monkeypatch, use_cache):
    write_many(site, 25)
    serial = load(site, use_cache=False)
    pools = []
    in_workers = content_module._parse_in_workers
    monkeypatch.setattr(content_module, "_parse_in_workers", lambda *a: pools.append(1) or in_workers(*a))
    parallel = load_content(site.config, use_cache=use_cache, parallel_from=1)
    assert pools
    assert parallel.files_parsed == serial.files_parsed == 27
    assert parallel.problems == serial.problems != ()
    assert parallel.profiles == serial.profiles
    assert parallel.fingerprints == serial.fingerprints
    assert [n.source for n in parallel.news] == [n.source for n in serial.news]
    for mine, theirs in zip(parallel.news, serial.news, strict=True):
        assert mine == (replace(theirs, body_html="") if use_cache else theirs)
        assert mine.lines == theirs.lines
        assert parallel.body(mine) == serial.body(theirs)
    parallel.close()


def test_few_files_are_parsed_in_this_process(site, monkeypatch):
    write_many(site, 3)
    monkeypatch.setattr(content_module, "_parse_in_workers", None)   # would fail if called
    assert load(site).files_parsed == 5


# -- fingerprints ------------------------------------------------------------------------------


def test_fingerprints_cover_good_files_and_stay_put(site):
    site.write_news("a", FRONT + "organizations: [uef]\n")
    site.write_news("b", FRONT)
    first = load(site)
    assert set(first.fingerprints) == {"news/a.md", "news/b.md", "profiles/uef.md"}
    assert load(site).fingerprints == first.fingerprints == load(site, use_cache=False).fingerprints
    site.write_news("b", FRONT, "Another body.\n")
    changed = load(site).fingerprints
    assert {k for k in changed if changed[k] != first.fingerprints[k]} == {"news/b.md"}


def test_a_new_image_under_the_same_name_changes_the_fingerprint(site):
    site.write_bytes("media/a.png", png())
    site.write_news("a", FRONT + "image: {src: media/a.png, alt: A}\n")
    first = load(site).fingerprints["news/a.md"]
    site.write_bytes("media/a.png", png(seed=1))
    content = load(site)
    assert content.files_parsed == 0
    assert content.fingerprints["news/a.md"] != first


def test_a_skipped_organization_changes_the_fingerprint(site):
    site.write_news("a", FRONT + "organizations: [uef]\n")
    first = load(site).fingerprints["news/a.md"]
    site.write_profile("uef", "name: UEF\nkind: nonsense\n")
    content = load(site)
    assert content.news[0].organizations == ()
    assert "profiles/uef.md" not in content.fingerprints
    assert content.fingerprints["news/a.md"] != first


def test_site_settings_change_every_fingerprint(site):
    site.write_news("a", FRONT)
    first = load(site).fingerprints
    text = site.config_path.read_text()
    site.config_path.write_text(text.replace("news.example.org", "uutiset.example.fi"))
    again = load(site).fingerprints
    assert all(again[k] != first[k] for k in first)


# -- scanning --------------------------------------------------------------------------------


def test_files_come_in_the_order_of_sorted_rglob(site):
    for rel in ("news/a-b/one.md", "news/a/two.md", "news/a/z/three.md", "news/a0.md", "news/a.md",
                "news/a.x/four.md", "news/notes.txt", "news/folder.md/five.md"):
        site.write(rel, f"---\n{FRONT}---\nText.\n")
    news = site.root / "content" / "news"
    expected = [p.relative_to(news.parent).as_posix() for p in sorted(news.rglob("*.md")) if p.is_file()]
    assert [n.source for n in load(site).news] == expected


# -- kept warm: a long-running process (newsroom run) keeps the decoded rows ------------


def warm_lookup(site) -> list:
    """What a warm process's parse cache returns for the content folder, as a build does."""
    files, _ = content_module._scan((site.root / "content").resolve(), 10**7)
    cache = ParseCache.open(Path("state"), site.config.site, warm=True)
    results = cache.lookup(files)
    assert None not in results
    cache.commit().close()
    return results


def test_a_warm_process_reuses_its_records_until_another_build_writes_the_cache(site):
    write_many(site, 4)
    age(site)
    load(site)
    first, second = warm_lookup(site), warm_lookup(site)
    assert first == second and all(a[1] is b[1] for a, b in zip(first, second, strict=True))
    site.write_news("item-000", FRONT, "Another body.\n")
    age(site)
    load(site)   # another process's build: a new generation
    third = warm_lookup(site)
    assert not any(a[1] is b[1] for a, b in zip(second, third, strict=True))
    assert [r[0] for r in third] != [r[0] for r in second]


def same_content(a: Content, b: Content) -> bool:
    return (a.news == b.news and a.profiles == b.profiles and a.problems == b.problems
            and a.fingerprints == b.fingerprints
            and [a.body(n) for n in a.news] == [b.body(n) for n in b.news])


@pytest.mark.parametrize("edit", ["body", "same size, same tick", "touch", "remove", "add", "break"])
def test_a_warm_process_loads_what_a_fresh_one_loads_after_an_edit(site, edit):
    write_many(site, 6)
    age(site)
    load(site, warm=True)
    load(site, warm=True)
    path = site.root / "content" / "news" / "item-001.md"
    stat = path.stat()
    if edit == "body":
        path.write_text(path.read_text() + "More.\n")
    elif edit == "same size, same tick":
        path.write_text(path.read_text().replace("A title", "B title"))
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    elif edit == "touch":
        os.utime(path, ns=(LONG_AGO + 10**9, LONG_AGO + 10**9))
    elif edit == "remove":
        path.unlink()
    elif edit == "add":
        site.write_news("item-new", FRONT, "New.\n")
    else:
        path.write_text("no front matter\n")
    warm = load(site, warm=True)
    assert same_content(warm, load(site))
    assert same_content(load(site, warm=True), load(site))
