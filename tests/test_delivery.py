"""Subscribers and sending, against a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

import email
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from email import policy
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.digest import send_edition
from pipeline.messages import make_token, read_token
from pipeline.statedb import database_url, open_database
from pipeline.subscribers import SubscriberStore

from .conftest import HELSINKI, Site
from .smtp_server import Script, SmtpServer
from .test_digest import DIGEST_TOML, SECRET, news

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=HELSINKI)
SMTP_TOML = DIGEST_TOML.replace('[delivery]\n', '[delivery]\nmethod = "smtp"\nconnections = 2\n'
                                                'rate_per_second = 1000\n')


@pytest.fixture
def ssite(tmp_path, monkeypatch) -> Site:
    monkeypatch.setenv("NEWSROOM_SECRET", SECRET)
    site = Site(tmp_path, SMTP_TOML)
    news(site, "a", "2026-11-24T09:00")
    news(site, "b", "2026-11-27T10:00", topics="[medtech]")
    return site


def store_of(site: Site) -> tuple:
    db = open_database(database_url(site.config))
    return db, SubscriberStore(db, site.config, SECRET)


def add(site: Site, count: int, topics=(), newsletter: str = "weekly-en",
        prefix: str = "reader") -> list[str]:
    db, store = store_of(site)
    emails = [f"{prefix}{n}@example.org" for n in range(count)]
    with db.transaction():   # one commit: a thousand on PostgreSQL in a moment
        for address in emails:
            store.subscribe(address, newsletter, NOW, "test", topics=topics)
    db.close()
    return emails


def send(site: Site, server: SmtpServer, monkeypatch, **kwargs):
    monkeypatch.setenv("NEWSROOM_SMTP_URL", server.url)
    return send_edition(site.config, "weekly-en", NOW, backoff=0.01, **kwargs)


# -- subscribers ---------------------------------------------------------------------------------


def write_csv(site: Site, text: str) -> Path:
    path = site.root / "people.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_an_import_reports_every_bad_row_and_imports_the_good_ones(ssite, capsys):
    path = write_csv(ssite, "email,name,language,newsletters,topics\n"
                            "Anna@Example.ORG,Anna,en,weekly-en,\n"
                            "not-an-address,Bob,en,weekly-en,\n"
                            "anna@example.org,Anna V,,medtech-fi,medtech\n"      # merged with line 2
                            "c@example.org,C,de,weekly-en,\n"
                            "d@example.org,D,fi,nosuch,\n"
                            "e@example.org,E,fi,weekly-en,nosuch-topic\n"
                            "f@example.org,F,fi,weekly-en medtech-fi,medtech\n")
    assert main(["subscribers", "import", str(path), "--config", str(ssite.config_path)]) == 1
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert [line.split(": ")[0] + ": " + line.split(": ")[1] for line in lines] == [
        f"{path}:3: email", f"{path}:5: language", f"{path}:6: newsletters", f"{path}:7: topics"]
    assert "4 added" in captured.out and "4 bad row(s)" in captured.out
    db, store = store_of(ssite)
    anna = store.get("anna@example.org")
    assert anna.name == "Anna V" and set(anna.subscriptions) == {"weekly-en", "medtech-fi"}
    assert anna.subscriptions["medtech-fi"] == ("active", ("medtech",))
    consents = db.query("SELECT action, source FROM consents WHERE subscriber_id = :id", {"id": anna.id})
    assert set(consents) == {("subscribed", "import:people.csv")}


def test_an_unsubscribed_person_is_not_subscribed_again_by_an_import(ssite):
    path = write_csv(ssite, "email,newsletters\nx@example.org,weekly-en\n")
    assert main(["subscribers", "import", str(path), "--config", str(ssite.config_path)]) == 0
    assert main(["subscribers", "remove", "x@example.org", "--config", str(ssite.config_path)]) == 0
    assert main(["subscribers", "import", str(path), "--config", str(ssite.config_path)]) == 0
    db, store = store_of(ssite)
    assert store.get("x@example.org").subscriptions["weekly-en"][0] == "unsubscribed"
    db.close()
    assert main(["subscribers", "import", str(path), "--resubscribe", "--config",
                 str(ssite.config_path)]) == 0
    db, store = store_of(ssite)
    assert store.get("x@example.org").subscriptions["weekly-en"][0] == "active"
    db.close()


def test_forget_leaves_no_trace_of_the_address_and_blocks_a_later_import(ssite):
    path = write_csv(ssite, "email,name,newsletters\nsecret.person@example.org,Secret Person,weekly-en\n")
    assert main(["subscribers", "import", str(path), "--config", str(ssite.config_path)]) == 0
    assert main(["subscribers", "forget", "secret.person@example.org", "--config",
                 str(ssite.config_path)]) == 0
    db_file = ssite.root / "state/newsroom.db"
    for candidate in [db_file, *db_file.parent.glob("newsroom.db-*")]:
        data = candidate.read_bytes()
        assert b"secret.person" not in data and b"Secret Person" not in data, candidate
    assert main(["subscribers", "import", str(path), "--config", str(ssite.config_path)]) == 1
    db, store = store_of(ssite)
    assert store.get("secret.person@example.org") is None
    db.close()


def test_export_and_list(ssite, capsys):
    add(ssite, 3)
    path = write_csv(ssite, "email,newsletters\n=cmd@example.org,medtech-fi\n")
    main(["subscribers", "import", str(path), "--config", str(ssite.config_path)])
    capsys.readouterr()
    assert main(["subscribers", "list", "--config", str(ssite.config_path)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["newsletter", "pending", "active", "unsubscribed", "bounced"]
    assert table[1].split() == ["weekly-en", "0", "3", "0", "0"]
    assert main(["subscribers", "export", "--config", str(ssite.config_path)]) == 0
    exported = capsys.readouterr().out.splitlines()
    assert exported[0] == "email,name,language,newsletters,topics,status"
    assert "'=cmd@example.org,,fi,medtech-fi,,active" in exported   # no formula for a spreadsheet


# -- sending --------------------------------------------------------------------------------------


def test_every_subscriber_gets_the_edition_once_and_a_second_send_sends_nothing(ssite, monkeypatch):
    emails = add(ssite, 25)
    with SmtpServer() as server:
        first = send(ssite, server, monkeypatch)
        second = send(ssite, server, monkeypatch)
    assert first.report.sent == 25 and second.report.sent == 0 and second.report.already_sent == 25
    assert sorted(server.handler.recipients()) == sorted(emails)
    message = email.message_from_bytes(server.handler.messages[0][1], policy=policy.default)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    token = message["List-Unsubscribe"].split("token=")[1].split(">")[0]
    key, newsletter = read_token(SECRET, token)
    db, store = store_of(ssite)
    assert store.by_key(key).email == message["To"].addresses[0].addr_spec and newsletter == "weekly-en"
    db.close()


def test_subscribers_whose_topics_match_nothing_are_skipped(ssite, monkeypatch):
    add(ssite, 2, topics=("pharma",), prefix="pharma")
    add_one = add(ssite, 1)
    with SmtpServer() as server:
        sending = send(ssite, server, monkeypatch)
    assert sending.report.skipped == 2 and server.handler.recipients() == add_one


def test_temporary_failures_are_retried_and_permanent_ones_bounce(ssite, monkeypatch):
    add(ssite, 4)
    script = Script(temporary={"reader1@example.org": 2}, permanent={"reader2@example.org"})
    with SmtpServer(script) as server:
        sending = send(ssite, server, monkeypatch)
    report = sending.report
    assert (report.sent, report.failed, report.retried) == (3, 1, 2)
    assert sorted(server.handler.recipients()) == ["reader0@example.org", "reader1@example.org",
                                                   "reader3@example.org"]
    db, _ = store_of(ssite)
    assert db.query("SELECT status, error FROM sends s JOIN subscribers x ON x.id = s.subscriber_id"
                    " WHERE x.email = 'reader2@example.org'")[0][0] == "failed"
    assert db.query("SELECT hard_bounces FROM subscribers WHERE email = 'reader2@example.org'") == [(1,)]
    db.close()


def test_three_hard_failures_mark_the_address_bounced(ssite, monkeypatch):
    add(ssite, 1)
    db, store = store_of(ssite)
    subscriber = store.get("reader0@example.org")
    store.hard_bounce(subscriber.id, NOW)
    store.hard_bounce(subscriber.id, NOW)
    db.close()
    with SmtpServer(Script(permanent={"reader0@example.org"})) as server:
        send(ssite, server, monkeypatch)
    db, store = store_of(ssite)
    assert store.get("reader0@example.org").subscriptions["weekly-en"][0] == "bounced"
    db.close()


def test_a_dropped_connection_is_reopened_and_every_message_arrives_once(ssite, monkeypatch):
    emails = add(ssite, 20)
    with SmtpServer(Script(drop_after=3)) as server:
        sending = send(ssite, server, monkeypatch)
    assert server.handler.drops >= 3
    assert sending.report.sent == 20 and Counter(server.handler.recipients()) == Counter(emails)


def test_an_unsubscribed_person_is_skipped_by_the_next_edition(ssite, monkeypatch):
    add(ssite, 2)
    with SmtpServer() as server:
        send(ssite, server, monkeypatch)
    assert main(["subscribers", "remove", "reader0@example.org", "--config", str(ssite.config_path)]) == 0
    news(ssite, "c", "2026-12-02T10:00")
    monkeypatch.setenv("NEWSROOM_SMTP_URL", server.url)
    with SmtpServer() as server:
        monkeypatch.setenv("NEWSROOM_SMTP_URL", server.url)
        later = send_edition(ssite.config, "weekly-en", datetime(2026, 12, 8, 9, tzinfo=HELSINKI),
                             backoff=0.01)
    assert later.edition.label == "2026-W50" and server.handler.recipients() == ["reader1@example.org"]


def test_the_outbox_sender_writes_eml_files(ssite, monkeypatch, tmp_path):
    site = Site(tmp_path / "o", DIGEST_TOML) if (tmp_path / "o").mkdir() is None else None
    news(site, "a", "2026-11-24T09:00")
    add(site, 3)
    sending = send_edition(site.config, "weekly-en", NOW)
    files = sorted((site.root / "state/outbox").glob("*.eml"))
    assert sending.report.sent == 3 and len(files) == 3
    assert email.message_from_bytes(files[0].read_bytes(), policy=policy.default)["List-Id"]


def test_a_killed_send_resumes_without_repeats_beyond_the_messages_in_flight(ssite):
    emails = add(ssite, 60)
    env = {**os.environ, "NEWSROOM_SECRET": SECRET}
    command = [sys.executable, "-m", "pipeline", "digest", "send", "weekly-en", "--now", NOW.isoformat(),
               "--config", str(ssite.config_path)]
    with SmtpServer(Script(delay=0.02)) as server:
        env["NEWSROOM_SMTP_URL"] = server.url
        child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while len(server.handler.recipients()) < 20 and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        assert 0 < len(server.handler.recipients()) < 60, "the send was not killed part-way"
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    received = Counter(server.handler.recipients())
    assert set(received) == set(emails)                                  # everyone got it
    repeats = sum(n - 1 for n in received.values())
    assert repeats <= 2                                                  # at most one per connection


def test_smtp_settings_are_read_from_the_url():
    from pipeline.config import ConfigError
    from pipeline.senders import SmtpSettings

    settings = SmtpSettings.from_url("smtps://news%40x.org:p%3Ass@mail.example.org")
    assert (settings.host, settings.port, settings.tls, settings.user, settings.password) == (
        "mail.example.org", 465, True, "news@x.org", "p:ss")
    assert SmtpSettings.from_url("smtp://h?starttls=true").port == 587
    with pytest.raises(ConfigError, match="NEWSROOM_SMTP_URL"):
        SmtpSettings.from_url("http://h")


def test_a_confirm_token_cannot_unsubscribe_and_the_reverse():
    confirm = make_token(SECRET, "k", "weekly-en", "confirm")
    assert read_token(SECRET, confirm) is None and read_token(SECRET, confirm, "confirm") == ("k",
                                                                                              "weekly-en")


def test_a_pending_import_sends_confirmation_messages_first(ssite, monkeypatch, capsys):
    path = write_csv(ssite, "email,newsletters\nnew1@example.org,weekly-en\nnew2@example.org,weekly-en\n")
    with SmtpServer() as server:
        monkeypatch.setenv("NEWSROOM_SMTP_URL", server.url)
        assert main(["subscribers", "import", str(path), "--pending", "--config",
                     str(ssite.config_path)]) == 0
        assert "2 confirmation message(s) sent" in capsys.readouterr().out
        assert sorted(server.handler.recipients()) == ["new1@example.org", "new2@example.org"]
        message = email.message_from_bytes(server.handler.messages[0][1], policy=policy.default)
        assert "confirm?token=" in message.get_content()
        sending = send(ssite, server, monkeypatch)   # pending people get no edition
    assert sending.report.sent == 0


def test_sending_keeps_to_the_rate_limit(ssite, monkeypatch):
    site = Site(ssite.root / "slow", SMTP_TOML.replace("rate_per_second = 1000", "rate_per_second = 20")) \
        if (ssite.root / "slow").mkdir() is None else None
    news(site, "a", "2026-11-24T09:00")
    add(site, 11)
    with SmtpServer() as server:
        sending = send(site, server, monkeypatch)
    # 11 starts at 20 a second are 10 intervals of 50 ms, whatever the two connections do
    assert sending.report.sent == 11 and sending.report.seconds >= 0.49


def test_no_answer_after_the_message_went_out_is_not_sent_again(ssite, monkeypatch):
    add(ssite, 3)
    with SmtpServer(Script(silent_after_data={"reader1@example.org"})) as server:
        first = send(ssite, server, monkeypatch)
        again = send(ssite, server, monkeypatch)
    assert (first.report.sent, first.report.unknown) == (2, 1) and again.report.sent == 0
    assert Counter(server.handler.recipients())["reader1@example.org"] == 1   # never twice


def test_a_recipient_still_greylisted_after_every_try_stays_queued_for_the_next_run(ssite, monkeypatch):
    add(ssite, 2)
    with SmtpServer(Script(temporary={"reader1@example.org": 5})) as server:
        first = send(ssite, server, monkeypatch)
        assert (first.report.sent, first.report.deferred, first.report.failed) == (1, 1, 0)
        again = send(ssite, server, monkeypatch)
    assert again.report.sent == 1 and sorted(server.handler.recipients()) == [
        "reader0@example.org", "reader1@example.org"]


def test_a_refused_sender_address_stops_the_run_and_bounces_nobody(ssite, monkeypatch):
    from pipeline.config import ConfigError

    add(ssite, 3)
    with SmtpServer(Script(refuse_sender=True)) as server, pytest.raises(ConfigError,
                                                                         match="refused the sender"):
        send(ssite, server, monkeypatch)
    db, _ = store_of(ssite)
    assert db.query("SELECT MAX(hard_bounces) FROM subscribers") == [(0,)]
    assert db.query("SELECT COUNT(*) FROM sends WHERE status = 'queued'") == [(3,)]
    db.close()


def test_an_address_with_an_international_domain_gets_its_message(ssite, monkeypatch):
    db, store = store_of(ssite)
    store.subscribe("mail@bücher.example", "weekly-en", NOW, "test")
    db.close()
    add(ssite, 2)
    with SmtpServer() as server:
        sending = send(ssite, server, monkeypatch)
    assert sending.report.sent == 3 and "mail@xn--bcher-kva.example" in server.handler.recipients()


def test_two_sends_of_one_newsletter_at_once_are_refused(ssite, monkeypatch):
    from pipeline.config import ConfigError
    from pipeline.statedb import state_lock

    add(ssite, 1)
    with state_lock(ssite.config, "send-weekly-en") as held, SmtpServer() as server, \
            pytest.raises(ConfigError, match="another `newsroom digest send weekly-en` or `newsroom worker`"):
        assert held
        send(ssite, server, monkeypatch)


def test_an_export_imports_again_as_it_was(ssite, tmp_path):
    path = write_csv(ssite, "email,newsletters\n-2+3@example.org,weekly-en\nleft@example.org,weekly-en\n")
    main(["subscribers", "import", str(path), "--config", str(ssite.config_path)])
    main(["subscribers", "remove", "left@example.org", "--config", str(ssite.config_path)])
    exported = tmp_path / "export.csv"
    assert main(["subscribers", "export", "--to", str(exported), "--config", str(ssite.config_path)]) == 0
    other = Site(tmp_path / "other", SMTP_TOML) if (tmp_path / "other").mkdir() is None else None
    assert main(["subscribers", "import", str(exported), "--config", str(other.config_path)]) == 0
    db, store = store_of(other)
    assert store.get("-2+3@example.org").subscriptions["weekly-en"][0] == "active"
    assert store.get("left@example.org").subscriptions["weekly-en"][0] == "unsubscribed"
    db.close()


def test_forget_leaves_nothing_in_the_write_ahead_log_or_the_outbox(tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSROOM_SECRET", SECRET)
    site = Site(tmp_path, DIGEST_TOML)   # the outbox sender
    news(site, "a", "2026-11-24T09:00")
    db, store = store_of(site)
    store.subscribe("secret.person@example.org", "weekly-en", NOW, "test", name="Secret Person")
    store.subscribe("other@example.org", "weekly-en", NOW, "test")
    send_edition(site.config, "weekly-en", NOW)
    reader = open_database(database_url(site.config))   # another connection stays open
    reader.query("SELECT COUNT(*) FROM subscribers")
    assert main(["subscribers", "forget", "secret.person@example.org", "--config",
                 str(site.config_path)]) == 0
    state = site.root / "state"
    for path in [*state.glob("newsroom.db*"), *(state / "outbox").glob("*.eml")]:
        assert b"secret.person" not in path.read_bytes().lower(), path
    assert len(list((state / "outbox").glob("*.eml"))) == 1   # the other person's message stays
    reader.close()
    db.close()


def test_a_worker_on_sqlite_sends_what_digest_send_queues(ssite, tmp_path):
    emails = add(ssite, 10)
    with SmtpServer() as server:
        env = {**os.environ, "NEWSROOM_SECRET": SECRET, "NEWSROOM_SMTP_URL": server.url}
        worker = subprocess.Popen([sys.executable, "-m", "pipeline", "worker", "--lease-seconds", "3",
                                   "--config", str(ssite.config_path)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            db, _ = store_of(ssite)
            while not db.query("SELECT COUNT(*) FROM workers")[0][0] and time.monotonic() < deadline:
                time.sleep(0.1)
            db.close()
            done = subprocess.run([sys.executable, "-m", "pipeline", "digest", "send", "weekly-en", "--now",
                                   NOW.isoformat(), "--config", str(ssite.config_path)],
                                  env=env, capture_output=True, text=True, timeout=60)
            assert "10 message(s) queued; 1 running `newsroom worker`" in done.stdout, done.stderr
            deadline = time.monotonic() + 30
            while len(server.handler.recipients()) < 10 and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            worker.send_signal(signal.SIGTERM)
            _, log = worker.communicate(timeout=30)
    assert Counter(server.handler.recipients()) == Counter(emails), log
    assert worker.returncode == 0 and "stopped after sending 10" in log
