"""The state database on a real PostgreSQL (a throwaway server, tests/postgres.py): the same
migrations and every table; send workers on many processes sharing one queue; a daemon
that takes over when the leader dies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline.build import build_site
from pipeline.cli import main
from pipeline.digest import send_edition
from pipeline.statedb import HEAD, KNOWN, open_database, state_database

from .conftest import HELSINKI, SITE_TOML, Site
from .smtp_server import Script, SmtpServer
from .test_delivery import SMTP_TOML, add
from .test_digest import SECRET, news
from .test_runtime import wait_for
from .test_statedb import database_of_the_previous_revision

SEND_AT = datetime(2026, 12, 1, 12, 0, tzinfo=HELSINKI)


@pytest.fixture
def pg(pg_url, monkeypatch) -> str:
    monkeypatch.setenv("NEWSROOM_DB_URL", pg_url)
    monkeypatch.setenv("NEWSROOM_SECRET", SECRET)
    return pg_url


# -- the schema and every table ---------------------------------------------------------------


def test_migrations_make_the_same_tables_on_postgresql(pg_url, tmp_path):
    db = open_database(pg_url)
    assert db.dialect == "postgresql"
    assert db.query("SELECT version_num FROM alembic_version") == [(HEAD,)]
    tables = {name for (name,) in db.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")}
    sqlite = open_database(f"sqlite:///{tmp_path / 'state.db'}")
    assert tables == {name for (name,) in sqlite.query(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"events", "sends", "workers", "scheduler_jobs", "ingest_entries", "subscribers"} <= tables
    db.close()
    sqlite.close()


def test_a_postgresql_database_of_the_previous_revision_is_upgraded(pg_url):
    database_of_the_previous_revision(pg_url)
    db = open_database(pg_url)
    assert db.query("SELECT version_num FROM alembic_version") == [(HEAD,)]
    assert db.query("SELECT edition FROM editions") == [("2026-W49",)]
    db.close()


def test_a_postgresql_database_newer_than_the_code_is_a_clear_error(pg_url):
    from pipeline.config import ConfigError

    db = open_database(pg_url)
    db.execute("UPDATE alembic_version SET version_num = '9999'")
    db.close()
    with pytest.raises(ConfigError, match="newer Newsroom"):
        open_database(pg_url)


def test_db_status_and_upgrade_on_the_command_line(pg_url, tmp_path, monkeypatch, capsys):
    site = Site(tmp_path)
    monkeypatch.setenv("NEWSROOM_DB_URL", pg_url.replace("postgres@", "postgres:secret-word@"))
    assert main(["db", "status", "--config", str(site.config_path)]) == 0
    out = capsys.readouterr().out
    assert "(postgresql)" in out and f"revision: none (empty) (this Newsroom: {HEAD}); " \
        f"{len(KNOWN)} migration(s) to apply" in out and "secret-word" not in out
    assert main(["db", "upgrade", "--config", str(site.config_path)]) == 0
    assert f"upgraded from revision none to {HEAD}" in capsys.readouterr().out
    assert main(["db", "upgrade", "--config", str(site.config_path)]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert main(["db", "status", "--config", str(site.config_path)]) == 0
    out = capsys.readouterr().out
    assert "subscribers: 0" in out and "send workers alive: 0" in out and "pending" not in out


def test_builds_editions_subscribers_sends_and_events_on_postgresql(pg, tmp_path, httpserver):
    """The journal, events, webhook log, editions, subscribers, sends and ingestion, each
    through PostgreSQL, give what SQLite gives."""
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    toml = SMTP_TOML + f'\n[[partners]]\nid = "portal"\nwebhook_url = "{httpserver.url_for("/hook")}"\n'
    os.environ["NEWSROOM_WEBHOOK_SECRET_PORTAL"] = SECRET
    try:
        site = Site(tmp_path, toml)
        news(site, "a", "2026-11-24T09:00")
        report = build_site(site.config, SEND_AT)
        assert report.published.added
        news(site, "b", "2026-11-27T10:00", topics="[medtech]")
        build_site(site.config, SEND_AT)
        changes = json.loads((site.output / "syndication/changes.json").read_text())
        assert [c["event"] for c in changes["changes"]].count("published") == 2
        from pipeline.notify import delivery_log, notify

        notify(site.config, SEND_AT)
        assert any("portal" in row[1] for row in delivery_log(site.config, 10))
        emails = add(site, 5)
        with SmtpServer() as server:
            os.environ["NEWSROOM_SMTP_URL"] = server.url
            sending = send_edition(site.config, "weekly-en", SEND_AT, backoff=0.01)
            again = send_edition(site.config, "weekly-en", SEND_AT, backoff=0.01)
        assert sending.report.sent == 5 and Counter(server.handler.recipients()) == Counter(emails)
        assert again.report.sent == 0 and again.report.already_sent == 5
        assert main(["subscribers", "forget", "reader0@example.org", "--config", str(site.config_path)]) == 0
        with state_database(site.config) as db:
            assert db.query("SELECT COUNT(*) FROM subscribers") == [(4,)]
            assert db.query("SELECT COUNT(*) FROM events WHERE type = 'item.published'") == [(2,)]
    finally:
        os.environ.pop("NEWSROOM_WEBHOOK_SECRET_PORTAL", None)
        os.environ.pop("NEWSROOM_SMTP_URL", None)


def test_ingestion_state_on_postgresql(pg, tmp_path, httpserver):
    from .test_ingest import ingested, rss, rss_item, source

    httpserver.expect_request("/uef.rss").respond_with_data(rss(rss_item("a1", "Brain study")),
                                                            content_type="application/rss+xml")
    site = Site(tmp_path, SITE_TOML + "\n" + source("uef", httpserver.url_for("/uef.rss")))
    for minute in ("12:00", "12:10"):
        assert main(["ingest", "--now", f"2026-12-01T{minute}", "--config", str(site.config_path)]) == 0
    assert len(ingested(site, "uef")) == 1


# -- send workers ------------------------------------------------------------------------------


def start_worker(site: Site, env: dict, log: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline", "worker", "--concurrency", "2",
                             "--lease-seconds", "4", "--config", str(site.config_path), *extra],
                            stdout=subprocess.DEVNULL, stderr=log.open("w"), env=env)


def workers_alive(site: Site, count: int) -> bool:
    with state_database(site.config) as db:
        return db.query("SELECT COUNT(*) FROM workers")[0][0] >= count


@pytest.mark.slow
@pytest.mark.parametrize("kill_one", [False, True], ids=["all-live", "one-killed"])
def test_three_workers_send_every_message_once(pg, tmp_path, kill_one):
    site = Site(tmp_path, SMTP_TOML)
    news(site, "a", "2026-11-24T09:00")
    emails = add(site, 1000)
    with SmtpServer(Script(delay=0.01 if kill_one else 0.0)) as server:
        env = {**os.environ, "NEWSROOM_SMTP_URL": server.url}
        workers = [start_worker(site, env, tmp_path / f"worker{n}.log") for n in range(3)]
        try:
            assert wait_for(lambda: workers_alive(site, 3), 30), "the workers did not start"
            done = subprocess.run([sys.executable, "-m", "pipeline", "digest", "send", "weekly-en", "--now",
                                   SEND_AT.isoformat(), "--config", str(site.config_path)],
                                  env=env, capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr
            assert "1000 message(s) queued; 3 running `newsroom worker` process(es) send them" in done.stdout
            if kill_one:
                assert wait_for(lambda: len(server.handler.recipients()) >= 200, 60)
                workers[0].send_signal(signal.SIGKILL)
                workers[0].wait()
                assert len(server.handler.recipients()) < 1000, "the kill came too late to test anything"
            assert wait_for(lambda: len(set(server.handler.recipients())) >= 1000, 120), \
                f"{len(set(server.handler.recipients()))} of 1000 arrived"
            time.sleep(0.5)
        finally:
            for worker in workers:
                worker.send_signal(signal.SIGTERM)
            for worker in workers:
                worker.wait(timeout=60)
    received = Counter(server.handler.recipients())
    assert set(received) == set(emails)
    repeats = sum(n - 1 for n in received.values())
    if kill_one:
        assert repeats <= 2   # at most the killed worker's messages in flight (2 connections)
    else:
        assert repeats == 0
    assert all(w.returncode == 0 for w in workers[1 if kill_one else 0:])
    with state_database(site.config) as db:
        assert db.query("SELECT status, COUNT(*) FROM sends GROUP BY status") == [("sent", 1000)]
        # the lease owner stays on a sent row: who sent it. All three shared the queue.
        [(senders,)] = db.query("SELECT COUNT(DISTINCT lease_owner) FROM sends")
        assert db.query("SELECT COUNT(*) FROM workers") == [(0 if not kill_one else 1,)]
    assert senders == 3


def test_a_lease_held_elsewhere_is_respected_until_it_runs_out(pg, tmp_path):
    site = Site(tmp_path, SMTP_TOML)
    news(site, "a", "2026-11-24T09:00")
    emails = add(site, 6)
    later = (datetime.now(UTC) + timedelta(minutes=5)).isoformat(timespec="microseconds")
    with SmtpServer() as server:
        os.environ["NEWSROOM_SMTP_URL"] = server.url
        try:
            from pipeline.digest import send_edition as send

            send(site.config, "weekly-en", SEND_AT, backoff=0.01)   # issues and sends; then requeue 3
            with state_database(site.config) as db:
                db.execute("UPDATE sends SET status = 'queued', lease_owner = 'other-host:1:abc',"
                           " lease_until = :later WHERE subscriber_id IN (SELECT id FROM subscribers"
                           " WHERE email IN ('reader0@example.org', 'reader1@example.org',"
                           " 'reader2@example.org'))", {"later": later})
            first = len(server.handler.recipients())
            blocked = send(site.config, "weekly-en", SEND_AT, backoff=0.01)
            assert blocked.report.sent == 0 and len(server.handler.recipients()) == first
            with state_database(site.config) as db:
                db.execute("UPDATE sends SET lease_until = '2000-01-01T00:00:00.000000+00:00'"
                           " WHERE lease_owner = 'other-host:1:abc'")
            freed = send(site.config, "weekly-en", SEND_AT, backoff=0.01)
        finally:
            os.environ.pop("NEWSROOM_SMTP_URL", None)
    assert freed.report.sent == 3
    assert Counter(server.handler.recipients()) == Counter(emails + emails[:3])


# -- the daemon's failover -------------------------------------------------------------------------


def start_daemon(site: Site, env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pipeline", "run", "--config", str(site.config_path)],
                            stdout=subprocess.DEVNULL, stderr=log.open("w"), env=env)


@pytest.mark.slow
def test_a_standby_daemon_takes_over_when_the_leader_dies_and_runs_its_jobs_once(pg, tmp_path):
    """Two daemons on one database; the leader is killed; the standby leads within seconds
    and runs the jobs the dead leader had stored: a digest due every minute goes to each
    subscriber once, and the embargo's end is built."""
    now = datetime.now(UTC)
    if now.second > 30:   # start early in a minute: the kill comes before the digest is due
        time.sleep(61 - now.second)
    toml = SITE_TOML + '\n[[newsletters]]\nid = "minute"\ntitle = "Every Minute"\nlang = "en"\n' \
                       'schedule = "* * * * *"\n'
    site = Site(tmp_path, toml)
    site.write_news("now", "title: Now\ndate: 2026-11-20\ntopics: [neurological]\n")
    lifted = datetime.now(UTC).astimezone(HELSINKI).replace(microsecond=0) + timedelta(seconds=14)
    site.write_news("soon", f"title: Soon\ndate: {lifted.isoformat()}\ntopics: [neurological]\n")
    add(site, 3, newsletter="minute")
    env = dict(os.environ)
    logs = tmp_path / "a.log", tmp_path / "b.log"
    leader = start_daemon(site, env, logs[0])
    standby = None
    try:
        assert wait_for(lambda: "next embargo ends" in logs[0].read_text(), 30), logs[0].read_text()
        standby = start_daemon(site, env, logs[1])
        assert wait_for(lambda: "standby" in logs[1].read_text(), 30), logs[1].read_text()
        time.sleep(1.5)   # both up: only the leader works
        assert "built" not in logs[1].read_text()
        leader.send_signal(signal.SIGKILL)
        leader.wait()
        killed_at = time.monotonic()
        assert wait_for(lambda: "leading" in logs[1].read_text(), 10), logs[1].read_text()
        assert time.monotonic() - killed_at < 5                        # within seconds
        assert "sent" not in logs[0].read_text(), "the digest was due before the kill: too slow a machine"
        page = site.output / "news/soon/index.html"
        assert wait_for(page.exists, 30), logs[1].read_text()         # the embargo's end, built
        outbox = site.root / "state/outbox"
        assert wait_for(lambda: len(list(outbox.glob("*.eml"))) >= 3, 75), logs[1].read_text()
        time.sleep(2)
    finally:
        for daemon in (leader, standby):
            if daemon is not None and daemon.poll() is None:
                daemon.send_signal(signal.SIGTERM)
                daemon.wait(timeout=60)
    import email

    recipients = Counter(email.message_from_bytes(path.read_bytes())["To"] for path in outbox.glob("*.eml"))
    assert sorted(recipients.values()) == [1, 1, 1], recipients   # each subscriber once
    b = logs[1].read_text()
    assert "minute" in b and b.count("3 sent") == 1, b


def test_only_one_daemon_leads_and_a_once_run_defers_to_it(pg, tmp_path):
    from pipeline.runtime import Leadership

    site = Site(tmp_path)
    with Leadership(site.config) as first, Leadership(site.config) as second:
        assert first.try_lead() and first.try_lead()       # the leader keeps leading
        assert not second.try_lead()
        assert first.still_leads()
        from pipeline.runtime import run_once

        run_once(site.config)                              # a cron run while a daemon leads: nothing
        assert not site.output.exists()
        first.release()
        assert second.try_lead()


def test_many_processes_opening_a_new_postgresql_database_at_once_all_succeed(pg_url):
    code = f"from pipeline.statedb import open_database; open_database({pg_url!r}).close()"
    children = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE) for _ in range(5)]
    errors = [child.communicate()[1] for child in children]
    assert [child.returncode for child in children] == [0] * 5, errors


def test_a_failed_statement_does_not_poison_the_connection(pg_url):
    db = open_database(pg_url)
    with pytest.raises(Exception, match="no_such_table"):
        db.query("SELECT * FROM no_such_table")
    assert db.query("SELECT COUNT(*) FROM subscribers") == [(0,)]
    db.close()
