"""Partner webhooks and WebSub pings, received by a real HTTP server on loopback."""

from __future__ import annotations

import json
import re
import time

import pytest
from werkzeug import Response

from pipeline.build import build_site
from pipeline.cli import main
from pipeline.notify import notify, sign

from .conftest import NOW, ROOT, SITE_TOML, Site

SECRET = "partner-secret-of-good-length"
FRONT = "title: {title}\ndate: 2026-11-20\nlang: {lang}\ntopics: [{topic}]\n"


@pytest.fixture
def hooked(tmp_path, httpserver, monkeypatch):
    toml = SITE_TOML.replace('feed_items = 5',
                             f'feed_items = 5\nwebsub_hubs = ["{httpserver.url_for("/hub")}"]')
    toml += f"""
[[partners]]
id = "med-portal"
topics = ["medtech"]
languages = ["en"]
webhook_url = "{httpserver.url_for('/hook')}"
"""
    monkeypatch.setenv("NEWSROOM_WEBHOOK_SECRET_MED_PORTAL", SECRET)
    return Site(tmp_path, toml)


def documented_verify():
    """The verification example of docs/partners.md, executed as written."""
    text = (ROOT / "docs/partners.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(import hashlib.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(code, namespace)
    return namespace["verify"]


def test_a_partner_hears_of_its_items_only_with_a_valid_signature_and_hubs_of_changed_feeds(hooked,
                                                                                            httpserver):
    received = []

    def hook(request):
        received.append((request.headers.get("Newsroom-Signature"), request.headers.get("Idempotency-Key"),
                         request.get_data()))
        return Response("ok")

    httpserver.expect_request("/hook", method="POST").respond_with_handler(hook)
    httpserver.expect_request("/hub", method="POST").respond_with_data("")
    hooked.write_news("mine", FRONT.format(title="Mine", lang="en", topic="medtech"))
    hooked.write_news("other-topic", FRONT.format(title="Other", lang="en", topic="neurological"))
    hooked.write_news("other-lang", FRONT.format(title="Muu", lang="fi", topic="medtech"))
    assert main(["build", "--now", "2026-11-28T12:00", "--config", str(hooked.config_path)]) == 0
    assert len(received) == 1
    signature, key, body = received[0]
    payload = json.loads(body)
    assert key == f"newsroom-{payload['event_id']}-med-portal"
    assert payload["type"] == "item.published" and payload["item"]["url"].endswith("/news/mine/")
    assert payload["partner_file"].endswith("syndication/partners/med-portal.json")
    verify = documented_verify()
    assert verify(SECRET, signature, body) and not verify(SECRET, signature, body + b" ")
    assert not verify("another-secret", signature, body)
    pings = [r for r, _ in httpserver.log if r.path == "/hub"]
    urls = {r.form["hub.url"] for r in pings}
    assert all(r.form["hub.mode"] == "publish" for r in pings)
    assert "https://news.example.org/feeds/en/index.atom" in urls
    assert not [u for u in urls if not u.startswith("https://news.example.org/feeds/")]


def test_a_failing_partner_is_retried_later_with_the_same_idempotency_key(hooked, httpserver):
    keys = []

    def hook(request):
        keys.append(request.headers["Idempotency-Key"])
        return Response("busy", status=500) if len(keys) == 1 else Response("ok")

    httpserver.expect_request("/hook", method="POST").respond_with_handler(hook)
    httpserver.expect_request("/hub", method="POST").respond_with_data("")
    hooked.write_news("mine", FRONT.format(title="Mine", lang="en", topic="medtech"))
    build_site(hooked.config, NOW)
    first = notify(hooked.config, NOW)
    assert (first.done, first.retrying) == (1, 1)   # the hub ping done, the webhook to retry
    assert notify(hooked.config, NOW).done == 0    # not yet due
    from datetime import timedelta

    later = notify(hooked.config, NOW + timedelta(minutes=2))
    assert later.done == 1 and keys[0] == keys[1]
    assert main(["webhooks", "log", "--config", str(hooked.config_path)]) == 0


def test_the_signature_is_what_the_documentation_says(hooked):
    body = b'{"type": "item.published"}'
    now = int(time.time())
    assert documented_verify()(SECRET, sign(SECRET, body, now), body)
    assert not documented_verify()(SECRET, sign(SECRET, body, now - 3600), body)   # too old


def test_partner_only_items_reach_only_partners_that_include_them_and_never_the_change_log(tmp_path,
                                                                                           httpserver,
                                                                                             monkeypatch):
    toml = SITE_TOML + f"""
[[partners]]
id = "insider"
include_partner_only = true
webhook_url = "{httpserver.url_for('/insider')}"

[[partners]]
id = "outsider"
webhook_url = "{httpserver.url_for('/outsider')}"
"""
    monkeypatch.setenv("NEWSROOM_WEBHOOK_SECRET_INSIDER", SECRET)
    monkeypatch.setenv("NEWSROOM_WEBHOOK_SECRET_OUTSIDER", SECRET)
    httpserver.expect_request("/insider", method="POST").respond_with_data("ok")
    httpserver.expect_request("/outsider", method="POST").respond_with_data("ok")
    site = Site(tmp_path, toml)
    site.write_news("note", FRONT.format(title="Note", lang="en", topic="medtech") + "visibility: partners\n")
    assert main(["build", "--now", "2026-11-28T12:00", "--config", str(site.config_path)]) == 0
    paths = [r.path for r, _ in httpserver.log]
    assert paths == ["/insider"]
    assert "news/note/" not in (site.output / "syndication/changes.json").read_text()


def test_a_build_killed_while_notifying_delivers_on_the_next_run_with_the_same_key(hooked, httpserver):
    import os
    import signal
    import subprocess
    import sys
    import threading

    arrived = threading.Event()
    keys = []

    def slow_hook(request):
        keys.append(request.headers["Idempotency-Key"])
        arrived.set()
        if len(keys) == 1:
            time.sleep(3)   # the sender is killed while it waits for this answer
        return Response("ok")

    httpserver.expect_request("/hook", method="POST").respond_with_handler(slow_hook)
    httpserver.expect_request("/hub", method="POST").respond_with_data("")
    hooked.write_news("mine", FRONT.format(title="Mine", lang="en", topic="medtech"))
    command = [sys.executable, "-m", "pipeline", "build", "--now", "2026-11-28T12:00", "--config",
               str(hooked.config_path)]
    build = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert arrived.wait(30), "the webhook was never called"
    os.kill(build.pid, signal.SIGKILL)
    build.wait()
    assert (hooked.output / "news/mine/index.html").exists()          # published before the kill
    again = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0, again.stderr
    assert len(keys) == 2 and keys[0] == keys[1]                       # delivered again, same key


def test_a_partner_hears_when_an_update_takes_an_item_out_of_its_file(hooked, httpserver):
    received = []
    httpserver.expect_request("/hook", method="POST").respond_with_handler(
        lambda request: received.append(json.loads(request.get_data())) or Response("ok"))
    httpserver.expect_request("/hub", method="POST").respond_with_data("")
    hooked.write_news("x", FRONT.format(title="X", lang="en", topic="medtech"))
    assert main(["build", "--now", "2026-11-28T12:00", "--config", str(hooked.config_path)]) == 0
    hooked.write_news("x", FRONT.format(title="X", lang="en", topic="neurological") + "updated: 2026-11-28\n")
    assert main(["build", "--now", "2026-11-28T12:00", "--config", str(hooked.config_path)]) == 0
    assert [r["type"] for r in received] == ["item.published", "item.withdrawn"]


def test_one_process_delivers_at_a_time(hooked, httpserver):
    import fcntl

    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    httpserver.expect_request("/hub", method="POST").respond_with_data("")
    hooked.write_news("mine", FRONT.format(title="Mine", lang="en", topic="medtech"))
    build_site(hooked.config, NOW)
    lines = []
    (hooked.root / "state").mkdir(exist_ok=True)
    with open(hooked.root / "state/.notify.lock", "a+b") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)   # another process is delivering
        assert notify(hooked.config, NOW, log=lines.append) is None
    assert "another process" in lines[0] and not any(r.path == "/hook" for r, _ in httpserver.log)
    assert notify(hooked.config, NOW).done >= 1
