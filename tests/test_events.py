"""The event outbox: item events recorded with the journal exactly once, delivered to each
handler until done, failures retried without holding up the others."""

from __future__ import annotations

from datetime import timedelta

from pipeline.build import build_site
from pipeline.events import Handlers, dispatch
from pipeline.statedb import database_url, open_database

from .conftest import NOW, Site

FRONT = "title: {title}\ndate: {date}\ntopics: [neurological]\n"


def events(site: Site) -> list[tuple[str, str]]:
    db = open_database(database_url(site.config))
    rows = db.query("SELECT type, subject FROM events ORDER BY id")
    db.close()
    return [(kind, subject.rstrip("/").rsplit("/", 1)[-1]) for kind, subject in rows]


def item_events(site: Site) -> list[tuple[str, str]]:
    return [e for e in events(site) if e[0].startswith("item.")]


def test_each_change_is_one_event_across_builds(site):
    site.write_news("a", FRONT.format(title="A", date="2026-11-20"))
    site.write_news("b", FRONT.format(title="B", date="2026-11-21"))
    build_site(site.config, NOW)
    build_site(site.config, NOW)                       # nothing changed: no item event
    site.write_news("a", FRONT.format(title="A", date="2026-11-20") + "updated: 2026-11-27\n")
    build_site(site.config, NOW)
    assert item_events(site) == [("item.published", "a"), ("item.published", "b"), ("item.updated", "a")]
    assert len([e for e in events(site) if e[0] == "build.completed"]) == 2   # the no-op build: none


def test_withdrawn_on_draft_delete_and_re_embargo(site):
    for slug in ("draft", "gone", "later"):
        site.write_news(slug, FRONT.format(title=slug, date="2026-11-20"))
    build_site(site.config, NOW)
    site.write_news("draft", FRONT.format(title="draft", date="2026-11-20") + "status: draft\n")
    (site.root / "content/news/gone.md").unlink()
    site.write_news("later", FRONT.format(title="later", date="2027-01-01"))
    build_site(site.config, NOW)
    assert sorted(e for e in item_events(site) if e[0] == "item.withdrawn") == [
        ("item.withdrawn", "draft"), ("item.withdrawn", "gone"), ("item.withdrawn", "later")]


def test_a_preview_build_elsewhere_records_no_event(site, tmp_path):
    site.write_news("a", FRONT.format(title="A", date="2026-11-20"))
    build_site(site.config, NOW, output_dir=tmp_path / "preview")
    assert events(site) == []


def test_handlers_get_each_event_once_and_a_failing_one_is_retried_without_blocking_others(site):
    site.write_news("a", FRONT.format(title="A", date="2026-11-20"))
    build_site(site.config, NOW)
    seen, flaky_calls = [], []

    def flaky(event):
        flaky_calls.append(event.id)
        if len(flaky_calls) < 3:
            raise ConnectionError("partner down")

    handlers = Handlers()
    handlers.register("log", lambda event: seen.append(event.type))
    handlers.register("flaky", flaky, accepts=lambda event: event.type == "item.published")
    db = open_database(database_url(site.config))
    first = dispatch(db, handlers, "output", NOW)
    assert sorted(seen) == ["build.completed", "item.published"] and (first.done, first.retrying) == (2, 1)
    assert dispatch(db, handlers, "output", NOW).done == 0           # nothing due: the retry waits
    dispatch(db, handlers, "output", NOW + timedelta(minutes=1))     # second failure
    later = dispatch(db, handlers, "output", NOW + timedelta(minutes=5))
    assert later.done == 1 and len(flaky_calls) == 3 and sorted(seen) == ["build.completed", "item.published"]
    attempts = db.query("SELECT attempt, outcome FROM delivery_attempts WHERE handler = 'flaky' ORDER BY id")
    assert [a for a, _ in attempts] == [1, 2, 3] and attempts[-1][1] == "done"
    db.close()


def test_events_survive_a_crash_between_publishing_and_handling(site):
    """A run that published and died before any handler ran: the next run delivers."""
    site.write_news("a", FRONT.format(title="A", date="2026-11-20"))
    build_site(site.config, NOW)                                     # "the process dies here"
    seen = []
    handlers = Handlers()
    handlers.register("log", lambda event: seen.append(event.type))
    db = open_database(database_url(site.config))                   # a new process, a new connection
    dispatch(db, handlers, "output", NOW)
    dispatch(db, handlers, "output", NOW)
    db.close()
    assert sorted(seen) == ["build.completed", "item.published"]


def test_an_edited_profile_is_one_profile_updated_event(site):
    site.write_news("a", FRONT.format(title="A", date="2026-11-20"))
    build_site(site.config, NOW)
    build_site(site.config, NOW)
    assert [e for e in events(site) if e[0] == "profile.updated"] == []   # a first build: none
    site.write_profile("uef", "name: {en: University of Eastern Finland, fi: Itä-Suomen yliopisto}\n"
                              "kind: university\ncity: Joensuu\ntopics: [neurological]\n", "Edited.\n")
    build_site(site.config, NOW)
    build_site(site.config, NOW)
    assert [e for e in events(site) if e[0] == "profile.updated"] == [("profile.updated", "uef")]


def test_events_older_than_90_days_are_pruned(site):
    site.write_news("a", FRONT.format(title="A", date="2026-01-20"))
    build_site(site.config, NOW - timedelta(days=120))
    handlers = Handlers()
    handlers.register("log", lambda event: None)
    db = open_database(database_url(site.config))
    dispatch(db, handlers, "output", NOW - timedelta(days=120))
    db.close()
    site.write_news("b", FRONT.format(title="B", date="2026-11-20"))
    build_site(site.config, NOW)
    assert item_events(site) == [("item.published", "b")]
    db = open_database(database_url(site.config))
    assert db.query("SELECT COUNT(*) FROM deliveries") == [(0,)]
    db.close()
