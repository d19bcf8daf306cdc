"""A rebuild after an edit writes only what the edit touched, and its output is
byte-identical to a cold build of the same content (no state, no earlier output)."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from pipeline import build
from pipeline.build import build_site
from pipeline.config import load_config
from pipeline.publish import Publisher
from pipeline.render.feed_xml import XmlWriter
from pipeline.templating import BUILTIN

from .conftest import NOW, Site, tree


def copy_for_cold_build(site: Site, tmp: Path) -> Path:
    """The same site without output/ and without state, except the journal of what was
    published when (changes.json is history, not a function of the content)."""
    copy = tmp / f"cold-{len(list(tmp.iterdir()))}"
    copy.mkdir()
    for name in ("newsroom.toml", "content", "templates"):
        source = site.root / name
        if not source.exists():
            continue
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, copy / name)
    journal = site.root / "state" / "newsroom.db"
    if journal.exists():
        (copy / "state").mkdir()
        shutil.copy2(journal, copy / "state" / "newsroom.db")
    return copy


WARM = {"warm": False}   # rebuilds as newsroom run builds: the parse cache kept in memory


def rebuild(site: Site, now=NOW):
    return build_site(site.config, now, warm=WARM["warm"])


def story(site: Site, slug: str, day: int, lang: str = "en", key: str | None = None,
          body: str = "A first paragraph of news.\n", extra: str = "") -> None:
    front = (f"title: Story {slug}\ndate: 2026-10-{day:02d}T09:00\nlang: {lang}\n"
             f"topics: [neurological{', medtech' if day % 2 else ''}]\norganizations: [uef]\n")
    if key:
        front += f"translation_key: {key}\n"
    site.write_news(slug, front + extra, body)


PARTNERS = """
[[partners]]
id = "city"
languages = ["fi", "en"]
max_items = 30
include_partner_only = true

[[partners]]
id = "portal"
topics = ["medtech"]
languages = ["en"]
max_items = 3
"""


@pytest.fixture
def big_site(site: Site) -> Site:
    """Enough items for archive pages (feed_items = 5), in two languages, with translations."""
    site.config_path.write_text(site.config_path.read_text(encoding="utf-8") + PARTNERS, encoding="utf-8")
    site.write_profile("kuh", "name: {en: Kuopio University Hospital, fi: KYS}\nkind: hospital\n")
    story(site, "partner-note", 9, extra="visibility: partners\n")
    for day in range(1, 15):
        story(site, f"en-{day}", day, "en", key=f"k{day}" if day % 3 else None)
        if day % 3:
            story(site, f"fi-{day}", day, "fi", key=f"k{day}")
    return site


def inodes(folder: Path) -> dict[Path, int]:
    return {p.relative_to(folder): p.stat().st_ino for p in folder.rglob("*") if p.is_file()}


def assert_same_as_cold(site: Site, tmp_path: Path, now=NOW):
    copy = copy_for_cold_build(site, tmp_path / "cold")
    report = rebuild(site, now)
    build_site(load_config(copy / "newsroom.toml"), now)
    assert tree(site.output) == tree(copy / "output")
    return report


@pytest.fixture
def cold_dir(tmp_path):
    (tmp_path / "cold").mkdir()
    return tmp_path


@pytest.mark.parametrize("processes, warm", [(1, False), (2, False), (1, True)],
                         ids=["one process", "two processes", "warm, as newsroom run"])
def test_every_kind_of_edit_gives_the_cold_build_output(big_site, cold_dir, monkeypatch, processes, warm):
    site = big_site
    monkeypatch.setattr(build, "SPLIT_ABOVE", 0 if processes == 2 else 10**9)
    monkeypatch.setitem(WARM, "warm", warm)
    assert_same_as_cold(site, cold_dir)
    assert b"partner-note" in (site.output / "syndication/partners/city.json").read_bytes()

    story(site, "en-2", 2, body="An edited old story, deep in the archive pages.\n")  # body edit
    report = assert_same_as_cold(site, cold_dir)
    assert 0 < len(report.published.changed) < report.published.files / 3

    story(site, "en-20", 20)                                 # a new item shifts the subscription docs
    assert_same_as_cold(site, cold_dir)

    (site.root / "content/news/en-5.md").unlink()            # a removed item re-pages the archives
    assert_same_as_cold(site, cold_dir)

    story(site, "fi-4", 4, "fi", key="k4", extra="updated: 2026-11-20T10:00\n")  # translation links
    assert_same_as_cold(site, cold_dir)

    site.write_news("en-4", "title: Story en-4\ndate: 2026-10-04T09:00\ntopics: [neurological]\n"
                    "organizations: [uef, kuh]\ntranslation_key: k4\n")   # another organization's page
    assert_same_as_cold(site, cold_dir)

    site.write_profile("kuh", "name: {en: KUH, fi: KYS}\nkind: hospital\n")     # a profile: everything
    assert_same_as_cold(site, cold_dir)

    style = site.root / "templates/pages/item.html"                  # a site's own template
    style.parent.mkdir(parents=True)
    style.write_text((BUILTIN / "pages/item.html").read_text().replace("<article", "<article data-edited"))
    assert_same_as_cold(site, cold_dir)
    style.write_text(style.read_text().replace("data-edited", "data-edited-again"))  # an edit to it
    assert_same_as_cold(site, cold_dir)


def test_time_passing_publishes_an_embargoed_item_and_caps_future_updates(big_site, cold_dir):
    site = big_site
    site.write_news("embargoed", "title: Later\ndate: 2026-12-10T09:00\ntopics: [medtech]\n")
    story(site, "future-update", 12, extra="updated: 2026-12-01T09:00\n")
    assert_same_as_cold(site, cold_dir)
    later = NOW + timedelta(days=20)
    report = assert_same_as_cold(site, cold_dir, later)
    assert "news/embargoed/index.html" in report.published.added


def test_an_unchanged_rebuild_writes_nothing_and_keeps_every_file(big_site):
    site = big_site
    rebuild(site)
    inodes = {p: p.stat().st_ino for p in site.output.rglob("*") if p.is_file()}
    report = rebuild(site)
    assert report.published.touched == ("syndication/changes.json",) or not report.published.touched
    assert {p: p.stat().st_ino for p in site.output.rglob("*") if p.is_file()} == inodes


def test_a_lost_or_stale_state_falls_back_to_a_full_render(big_site, cold_dir):
    site = big_site
    rebuild(site)
    story(site, "en-3", 3, body="Edited while the state was lost.\n")
    for state in (site.root / "state").glob("published-*.pickle"):
        state.write_bytes(b"not a pickle")
    assert_same_as_cold(site, cold_dir)
    story(site, "en-3", 3, body="Edited while the spare folder was meddled with.\n")
    shutil.rmtree(site.root / ".output.spare")
    assert_same_as_cold(site, cold_dir)


def test_an_interrupted_build_leaves_the_spare_untrusted(big_site, cold_dir, monkeypatch):
    site = big_site
    rebuild(site)
    story(site, "en-7", 7, body="Edited, then the build dies.\n")
    def die(self, updated):
        raise RuntimeError("the build died before the swap")

    monkeypatch.setattr(Publisher, "finish", die)
    with pytest.raises(RuntimeError):
        rebuild(site)
    monkeypatch.undo()
    assert any((site.root / "state").glob("published-*.dirty"))
    assert_same_as_cold(site, cold_dir)


def test_a_first_build_on_two_processes_gives_the_same_output(big_site, cold_dir, monkeypatch):
    site = big_site
    copy = copy_for_cold_build(site, cold_dir / "cold")
    monkeypatch.setattr(build, "SPLIT_ABOVE", 0)       # pages in a forked process
    report = rebuild(site)
    assert report.published.files == len(tree(site.output))
    # the next build's spare: every file a hard link to the published one (both processes
    # linked what they wrote), and no mirror folder left beside
    assert inodes(site.root / ".output.spare") == inodes(site.output)
    beside = sorted(p.name for p in site.root.iterdir() if p.name.startswith(".output"))
    assert beside == [".output.lock", ".output.spare"]
    monkeypatch.setattr(build, "SPLIT_ABOVE", 10**9)   # one process
    build_site(load_config(copy / "newsroom.toml"), NOW)
    assert tree(site.output) == tree(copy / "output")


def test_the_mirror_a_crashed_first_build_left_is_swept(big_site, cold_dir):
    site = big_site
    rebuild(site)
    left = site.root / ".output.mirror"   # a crash between the swap and the mirror's rename
    (left / "news").mkdir(parents=True)
    (left / "news" / "old.html").write_text("old")
    story(site, "en-3", 3, body="Edited after the crash.\n")
    assert_same_as_cold(site, cold_dir)
    assert not left.exists()


def test_an_error_in_the_page_process_fails_the_build_and_publishes_nothing(big_site, monkeypatch):
    site = big_site
    monkeypatch.setattr(build, "SPLIT_ABOVE", 0)

    def broken(*args):
        raise ValueError("a template error")

    monkeypatch.setattr(build.pages, "render", broken)
    with pytest.raises(ValueError, match="a template error"):
        rebuild(site)
    assert not site.output.exists() and not (site.root / ".output.mirror").exists()


def test_an_error_in_the_forked_process_alone_commits_no_journal(big_site, monkeypatch):
    """The journal is written once the forked renderer has succeeded: after its failure
    the next build publishes every item as new, once."""
    import os
    import sqlite3

    site = big_site
    monkeypatch.setattr(build, "SPLIT_ABOVE", 0)
    parent, real_render = os.getpid(), build.feeds.render

    def broken_in_the_child(*args):
        if os.getpid() != parent:
            raise ValueError("a feed error in the forked process")
        return real_render(*args)

    monkeypatch.setattr(build.feeds, "render", broken_in_the_child)
    with pytest.raises(ValueError, match="a feed error in the forked process"):
        rebuild(site)
    assert not site.output.exists()
    with sqlite3.connect(site.root / "state" / "newsroom.db") as db:
        assert db.execute("SELECT count(*) FROM changes").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM published").fetchone() == (0,)


def test_todays_news_renders_only_the_newest_documents_of_its_feeds(big_site, cold_dir, monkeypatch):
    site = big_site
    rebuild(site)
    written = []
    real_write = XmlWriter.write
    monkeypatch.setattr(XmlWriter, "write", lambda self, doc: written.append(doc) or real_write(self, doc))
    for hour in range(6):   # enough to open a new archive page in every feed (feed_items = 5)
        site.write_news(f"today-{hour}", f"title: Today {hour}\ndate: 2026-11-28T0{hour}:00\n"
                                         "topics: [neurological]\norganizations: [uef]\n")
        written.clear()
        report = rebuild(site)
        # its 4 feeds (all, English, the topic, the organization): the subscription document,
        # the newest archive page, and the one before it when a new page opens (empty feeds
        # show the site's newest change, so they are written too)
        documents = [doc.self_urls["atom"] for doc in written if doc.entries]
        assert len(documents) <= 4 * 3, documents
        assert f"news/today-{hour}/index.html" in report.published.added
        changed_pages: dict[str, set[str]] = {}
        for path in report.published.changed:
            if "/archive/" in path:
                folder, page = path.rsplit("/", 1)
                changed_pages.setdefault(folder, set()).add(page.split(".")[0])
        assert all(len(pages) == 1 for pages in changed_pages.values()), changed_pages
    monkeypatch.undo()
    assert_same_as_cold(site, cold_dir)


def test_renaming_a_file_moves_its_links_everywhere(big_site, cold_dir):
    site = big_site
    rebuild(site)
    news = site.root / "content/news"
    (news / "en-14.md").rename(news / "en-14-renamed.md")          # a new slug, URL and id
    assert_same_as_cold(site, cold_dir)
    text = (news / "fi-13.md").read_text(encoding="utf-8")
    (news / "fi-13.md").write_text(text.replace("lang: fi\n", "lang: fi\nid: tag:example.org,2026:fi-13\n"),
                                   encoding="utf-8")
    assert_same_as_cold(site, cold_dir)
    (news / "fi-13.md").rename(news / "fi-13-renamed.md")          # a new URL, the same pinned id
    assert_same_as_cold(site, cold_dir)


def test_edited_interface_strings_are_seen_by_a_long_running_process(big_site, cold_dir):
    site = big_site
    rebuild(site)
    strings = site.root / "templates/strings.toml"
    strings.parent.mkdir()
    strings.write_text('[en]\nback = "Home"\n', encoding="utf-8")      # one string overridden
    assert_same_as_cold(site, cold_dir)
    assert b">Home</a>" in (site.output / "index.html").read_bytes()
    strings.write_text('[en]\nback = "Start"\n', encoding="utf-8")
    assert_same_as_cold(site, cold_dir)
    assert b">Start</a>" in (site.output / "index.html").read_bytes()


def test_a_state_saved_two_builds_ago_is_not_trusted(big_site, cold_dir, tmp_path):
    site = big_site
    rebuild(site)
    (state,) = (site.root / "state").glob("published-*.pickle")
    saved = state.read_bytes()
    original = (site.root / "content/news/en-2.md").read_bytes()
    story(site, "en-2", 2, key="k2", body="An edit that is then reverted.\n")
    rebuild(site)
    (site.root / "content/news/en-2.md").write_bytes(original)
    rebuild(site)
    state.write_bytes(saved)          # restored from a backup, say: the folders' inodes match again
    story(site, "en-3", 3, body="An unrelated edit.\n")
    assert_same_as_cold(site, cold_dir)


def test_a_profile_edit_rerenders_only_what_shows_that_organization(big_site, cold_dir, monkeypatch):
    site = big_site
    site.write_news("kuh-news", "title: Hospital news\ndate: 2026-10-03T09:00\nlang: en\n"
                                "topics: [neurological]\norganizations: [kuh]\n")
    assert_same_as_cold(site, cold_dir)
    rendered: list[str] = []
    add = Publisher.add

    def spy(self, path, *args, **kwargs):
        rendered.append(path)
        return add(self, path, *args, **kwargs)

    monkeypatch.setattr(Publisher, "add", spy)
    monkeypatch.setattr(build, "SPLIT_ABOVE", 10**9)   # one process: the spy sees every page
    site.write_profile("kuh", "name: {en: KUH Renamed, fi: KYS Uusi}\nkind: hospital\n")
    report = rebuild(site)
    monkeypatch.undo()
    assert tree(site.output) == tree(_cold(site, cold_dir))
    assert "news/kuh-news/index.html" in report.published.changed      # it names the hospital
    assert {"organizations/kuh/index.html", "index.html", "feeds/en/organizations/kuh.atom"} <= set(rendered)
    assert not {f"news/en-{day}/index.html" for day in range(1, 15)} & set(rendered)   # uef's items
    assert "feeds/en/organizations/uef.atom" not in rendered
    assert len(rendered) < report.published.files / 3

    rendered.clear()   # its description only: no item shows it, no feed names it
    monkeypatch.setattr(Publisher, "add", spy)
    monkeypatch.setattr(build, "SPLIT_ABOVE", 10**9)
    site.write_profile("kuh", "name: {en: KUH Renamed, fi: KYS Uusi}\nkind: hospital\n",
                       "A new description of the hospital.\n")
    rebuild(site)
    monkeypatch.undo()
    assert tree(site.output) == tree(_cold(site, cold_dir))
    assert "organizations/kuh/index.html" in rendered
    assert not [path for path in rendered if path.startswith(("news/", "feeds/"))], rendered


def _cold(site: Site, tmp_path: Path) -> Path:
    copy = copy_for_cold_build(site, tmp_path / "cold")
    build_site(load_config(copy / "newsroom.toml"), NOW)
    return copy / "output"
