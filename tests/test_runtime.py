"""`newsroom run`: the daemon in a subprocess, with real time, a real HTTP server for the
webhook and the hub, and real files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pipeline.runtime import CronScheduleTrigger
from pipeline.statedb import state_database
from pipeline.subscribers import SubscriberStore

from .conftest import SITE_TOML, Site

HELSINKI = ZoneInfo("Europe/Helsinki")
SECRET = "partner-secret-of-good-length"


def start(site: Site, *extra: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline", "run", "--config", str(site.config_path),
                             *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, **(env or {})})


def stop(process: subprocess.Popen) -> str:
    process.send_signal(signal.SIGTERM)
    try:
        _, err = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
        raise AssertionError(f"the daemon did not stop on SIGTERM:\n{err}") from None
    assert process.returncode == 0, err
    return err


def subscribe_reader(site: Site, newsletters: tuple[str, ...], now: datetime) -> None:
    with state_database(site.config) as db:
        store = SubscriberStore(db, site.config, os.environ["NEWSROOM_SECRET"])
        for newsletter in newsletters:
            store.subscribe("reader@example.org", newsletter, now, "test")


def daily_newsletters(**times: datetime) -> str:
    """A site's newsroom.toml with a newsletter sent daily at each of ``times`` (by id) and
    a grace time of one hour."""
    newsletters = "".join(f'\n[[newsletters]]\nid = "{id_}"\ntitle = "{id_.title()}"\nlang = "en"\n'
                          f'schedule = "{at.minute} {at.hour} * * *"\n' for id_, at in times.items())
    return SITE_TOML + newsletters + "\n[runtime]\ndigest_grace_hours = 1\n"


def wait_for(condition, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_an_embargoed_item_is_published_and_announced_within_seconds_of_its_time(tmp_path, httpserver):
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    httpserver.expect_request("/hub", method="POST").respond_with_data("")
    toml = SITE_TOML.replace("feed_items = 5",
                             f'feed_items = 5\nwebsub_hubs = ["{httpserver.url_for("/hub")}"]')
    toml += f'\n[[partners]]\nid = "portal"\nwebhook_url = "{httpserver.url_for("/hook")}"\n'
    site = Site(tmp_path, toml)
    lifted = datetime.now(UTC).astimezone(HELSINKI).replace(microsecond=0) + timedelta(seconds=8)
    site.write_news("soon", f"title: Soon\ndate: {lifted.isoformat()}\ntopics: [neurological]\n")
    daemon = start(site, env={"NEWSROOM_WEBHOOK_SECRET_PORTAL": SECRET})
    try:
        page = site.output / "news/soon/index.html"
        assert wait_for(lambda: (site.output / "index.html").exists()), "no first build"
        assert time.time() < lifted.timestamp(), "the machine was too slow to test an embargo"
        assert not page.exists()                                   # embargoed at the first build
        assert wait_for(page.exists, 25), "the embargo's end built nothing"
        assert time.time() - lifted.timestamp() < 10                # within seconds of its time
        assert wait_for(lambda: any(r.path == "/hook" for r, _ in httpserver.log), 10)
        hooks = [json.loads(r.get_data()) for r, _ in httpserver.log if r.path == "/hook"]
        assert [h["item"]["url"] for h in hooks] == ["https://news.example.org/news/soon/"]
        assert any(r.path == "/hub" for r, _ in httpserver.log)
    finally:
        log = stop(daemon)
    assert "next embargo ends" in log and "stopped" in log


@pytest.mark.slow
def test_watch_rebuilds_once_for_a_burst_of_saves(tmp_path):
    site = Site(tmp_path)
    daemon = start(site, "--watch")
    try:
        assert wait_for(lambda: (site.output / "index.html").exists()), "no first build"
        time.sleep(0.5)
        for n in range(5):
            site.write_news(f"burst{n}",
                            f"title: Burst {n}\ndate: 2026-01-0{n + 1}\ntopics: [neurological]\n")
            time.sleep(0.05)
        assert wait_for(lambda: all((site.output / f"news/burst{n}/index.html").exists() for n in range(5)))
        time.sleep(1.5)
    finally:
        log = stop(daemon)
    assert log.count("change(s): rebuilding") == 1, log


def test_once_sends_a_due_digest_once_and_skips_one_older_than_the_grace_time(tmp_path, monkeypatch):
    now = datetime.now(UTC).astimezone(HELSINKI)
    site = Site(tmp_path, daily_newsletters(fresh=now - timedelta(minutes=5), stale=now - timedelta(hours=3)))
    site.write_news("a",
                    f"title: A\ndate: {(now - timedelta(hours=5)).isoformat()}\ntopics: [neurological]\n")
    env = {"NEWSROOM_SECRET": "a-test-secret-of-enough-length"}
    monkeypatch.setenv("NEWSROOM_SECRET", env["NEWSROOM_SECRET"])
    subscribe_reader(site, ("fresh", "stale"), now)
    for round_ in range(2):
        done = subprocess.run([sys.executable, "-m", "pipeline", "run", "--once", "--config",
                               str(site.config_path)],
                              capture_output=True, text=True, env={**os.environ, **env}, timeout=60)
        assert done.returncode == 0, done.stderr
        if round_ == 0:
            assert "stale: the edition of" in done.stderr and "older than digest_grace_hours" in done.stderr
    outbox = list((site.root / "state/outbox").glob("*.eml"))
    assert [p.name.split(".")[0] for p in outbox] == ["fresh"]   # once, and nothing of the stale one


def test_the_stored_trigger_is_the_schedule_and_survives_pickling():
    import pickle

    trigger = CronScheduleTrigger("0 0 * * mon", "Europe/Helsinki")
    again = pickle.loads(pickle.dumps(trigger))
    start_at = datetime(2026, 3, 23, tzinfo=HELSINKI)
    assert again.get_next_fire_time(None, start_at) == start_at
    assert again.get_next_fire_time(start_at, start_at) == datetime(2026, 3, 30, tzinfo=HELSINKI)


@pytest.mark.slow
def test_sigterm_during_a_build_lets_it_finish_and_leaves_the_output_whole(tmp_path):
    site = Site(tmp_path)
    for n in range(1500):   # a build long enough to be inside when the signal comes
        site.write_news(f"n{n}", f"title: News {n}\ndate: 2026-0{1 + n % 9}-{1 + n % 28:02d}\n"
                                 "topics: [neurological]\n", "A paragraph of news. " * 40 + "\n")
    daemon = start(site)
    assert wait_for(lambda: any(tmp_path.glob(".output*")) or (site.output).exists(), 30), "no build started"
    log = stop(daemon)
    assert log.index("signal 15") < log.index("built 1500 items"), log   # the build finished
    manifest = json.loads((site.output / "syndication/index.json").read_text())
    assert all((site.output / entry["path"]).is_file() for entry in manifest["files"])
    assert len(list((site.output / "news").iterdir())) == 1500


@pytest.mark.slow
def test_after_downtime_a_missed_digest_is_sent_once_and_one_too_old_is_skipped(tmp_path, monkeypatch):
    import pickle
    import sqlite3

    now = datetime.now(UTC).astimezone(HELSINKI).replace(second=0, microsecond=0)
    recent, old = now - timedelta(minutes=10), now - timedelta(hours=3)
    site = Site(tmp_path, daily_newsletters(recent=recent, old=old))
    site.write_news("a",
                    f"title: A\ndate: {(now - timedelta(hours=5)).isoformat()}\ntopics: [neurological]\n")
    env = {"NEWSROOM_SECRET": "a-test-secret-of-enough-length"}
    monkeypatch.setenv("NEWSROOM_SECRET", env["NEWSROOM_SECRET"])
    subscribe_reader(site, ("recent", "old"), now)
    first = start(site, env=env)
    assert wait_for(lambda: (site.output / "index.html").exists())
    stop(first)
    # the daemon was "down" over both instants: the stored jobs were due then
    with sqlite3.connect(site.root / "state/newsroom.db") as jobs:
        rows = jobs.execute("SELECT id, job_state FROM scheduler_jobs WHERE id LIKE 'digest:%'").fetchall()
        for job_id, state in rows:
            due = recent if job_id == "digest:recent" else old
            job = pickle.loads(state)
            job["next_run_time"] = due
            jobs.execute("UPDATE scheduler_jobs SET job_state = ?, next_run_time = ? WHERE id = ?",
                         (pickle.dumps(job), due.timestamp(), job_id))
    second = start(site, env=env)
    assert wait_for(lambda: list((site.root / "state/outbox").glob("recent.*.eml")), 30)
    time.sleep(1)
    log = stop(second)
    outbox = sorted(p.name.split(".")[0] for p in (site.root / "state/outbox").glob("*.eml"))
    assert outbox == ["recent"]                                  # once, and not the old one
    assert "digest:old" in log and "missed" in log, log          # the skipped one is logged
