"""A running process (``newsroom run``) rebuilds from its previous build's catalog and
plans (pipeline.rebuild) when only some items' records changed, and publishes exactly
what a cold build of the same content does."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pipeline import rebuild
from pipeline.build import build_site
from pipeline.publish import Publisher
from pipeline.render import feeds

from . import test_incremental as incremental
from .conftest import NOW
from .test_incremental import WARM, assert_same_as_cold, story

big_site, cold_dir = incremental.big_site, incremental.cold_dir   # fixtures


@pytest.fixture
def recalls(monkeypatch) -> list[rebuild.Recall]:
    """Every build's Recall, in order; builds are warm, as newsroom run builds."""
    monkeypatch.setitem(WARM, "warm", True)
    seen: list[rebuild.Recall] = []
    real = rebuild.recall

    def spy(*args, **kwargs):
        catalog, recall = real(*args, **kwargs)
        seen.append(recall)
        return catalog, recall

    monkeypatch.setattr(rebuild, "recall", spy)
    return seen


def changed(recall: rebuild.Recall) -> list[str] | None:
    return None if recall.changes is None else sorted(after.slug for _, after in recall.changes)


def test_record_edits_reuse_the_plan_and_give_the_cold_output(big_site, cold_dir, recalls):
    site = big_site
    assert_same_as_cold(site, cold_dir)
    assert changed(recalls[-1]) is None and set(recalls[-1].plans) == {"pages", "feeds", "sitemap"}

    edits = [
        ("en-2", lambda: story(site, "en-2", 2, key="k2", body="An old story, edited.\n")),
        ("fi-4", lambda: story(site, "fi-4", 4, "fi", key="k4", body="Translated story, edited.\n")),
        # a tie with en-5's date: the 1 ms ranks that keep entries' updated distinct move
        ("en-2", lambda: story(site, "en-2", 2, key="k2", extra="updated: 2026-10-05T09:00\n")),
        # a change after the build's instant: the feeds show the build's instant
        ("en-7", lambda: story(site, "en-7", 7, key="k7", extra="updated: 2026-12-01T09:00\n")),
        ("partner-note", lambda: story(site, "partner-note", 9, body="Partners only, edited.\n",
                                       extra="visibility: partners\n")),
    ]
    for item_id, edit in edits:
        edit()
        report = assert_same_as_cold(site, cold_dir)
        assert changed(recalls[-1]) == [item_id], item_id
        assert 0 < len(report.published.changed) < report.published.files / 3


def test_a_rebuilt_feed_document_takes_its_unchanged_entries_from_the_published_one(
        big_site, cold_dir, recalls, monkeypatch):
    site = big_site
    assert_same_as_cold(site, cold_dir)
    built = []
    real = feeds.entry_for
    monkeypatch.setattr(feeds, "entry_for", lambda catalog, item, updated: built.append(item.slug)
                        or real(catalog, item, updated))
    story(site, "en-2", 2, key="k2", body="An old story, edited.\n")
    report = incremental.rebuild(site)
    assert "feeds/archive/all/1.atom" in report.published.changed   # documents of 5 entries each
    assert sorted(built) == ["en-2", "fi-2"]                          # the item and its translation
    assert_same_as_cold(site, cold_dir)
    # a published document that is not as planned (its size changed by hand) is not taken
    # apart (as for a kept file, the publisher's record of its key and size is trusted)
    for path in ("feeds/en/index.atom", "feeds/en/index.rss", "feeds/en/index.json"):
        (site.output / path).write_bytes((site.output / path).read_bytes().replace(b"Story", b"Tale"))
    built.clear()
    story(site, "en-14", 14, key="k14", body="The newest story, edited.\n")
    incremental.rebuild(site)
    assert len(built) > 2
    assert_same_as_cold(site, cold_dir)


def test_time_passing_with_a_future_update_reuses_the_plan(big_site, cold_dir, recalls):
    site = big_site
    story(site, "en-3", 3, extra="updated: 2026-12-01T09:00\n")   # held back at the build's instant
    assert_same_as_cold(site, cold_dir)
    for hours in (1, 30):
        report = assert_same_as_cold(site, cold_dir, NOW + timedelta(hours=hours))
        assert changed(recalls[-1]) == []
        assert report.published.changed


def test_what_moves_items_plans_every_file_again(big_site, cold_dir, recalls):
    site = big_site
    site.write_news("embargoed", "title: Later\ndate: 2026-11-29T09:00\ntopics: [medtech]\n")
    assert_same_as_cold(site, cold_dir)
    steps = [
        lambda: site.write_profile("kuh", "name: {en: KUH, fi: KYS}\nkind: hospital\n"),
        lambda: story(site, "en-20", 20),                                 # a new item
        lambda: story(site, "en-3", 3, key="k9"),                        # into another family
        lambda: site.write_news("en-4", "title: Story en-4\ndate: 2026-10-04T09:00\n"   # in other feeds
                                "topics: [medtech]\norganizations: [uef, kuh]\ntranslation_key: k4\n"),
        lambda: story(site, "en-6", 6, key="k6", extra="slug: moved-away\n"),
        lambda: story(site, "en-5", 5, extra="status: draft\n"),
    ]
    for step in steps:
        step()
        assert_same_as_cold(site, cold_dir)
        assert changed(recalls[-1]) is None
    assert_same_as_cold(site, cold_dir, NOW + timedelta(days=1))       # the embargo lifts
    assert changed(recalls[-1]) is None


def test_a_folder_rebuilt_by_another_process_is_rendered_again(big_site, cold_dir, recalls):
    site = big_site
    assert_same_as_cold(site, cold_dir)
    original = (site.root / "content/news/en-6.md").read_bytes()
    story(site, "en-6", 6, body="Published by a one-shot build in between.\n")
    build_site(site.config, NOW)                    # another process: not warm, not recalled
    (site.root / "content/news/en-6.md").write_bytes(original)
    assert_same_as_cold(site, cold_dir)             # the kept keys are the published ones again
    assert changed(recalls[-1]) == []


def test_a_failed_build_leaves_nothing_to_recall(big_site, cold_dir, recalls, monkeypatch):
    site = big_site
    assert_same_as_cold(site, cold_dir)
    story(site, "en-8", 8, key="k8", body="Edited, then the build dies.\n")
    with monkeypatch.context() as patch:
        patch.setattr(Publisher, "finish", lambda self, updated: (_ for _ in ()).throw(RuntimeError("died")))
        with pytest.raises(RuntimeError):
            build_site(site.config, NOW, warm=True)
    assert changed(recalls[-1]) == ["en-8"]
    assert_same_as_cold(site, cold_dir)
    assert changed(recalls[-1]) is None
