"""The subscriber service through real HTTP requests to waitress on loopback."""

from __future__ import annotations

import email
import re
import threading
from email import policy
from urllib.parse import urljoin

import pytest
import requests
import waitress

from pipeline.cli import main
from pipeline.messages import make_token
from pipeline.service import ServiceApp
from pipeline.statedb import database_url, open_database
from pipeline.subscribers import SubscriberStore

from .conftest import Site
from .test_delivery import NOW
from .test_digest import DIGEST_TOML, SECRET, news

SERVICE_TOML = DIGEST_TOML.replace("https://service.example.org/news/", "http://127.0.0.1:1/news/")


@pytest.fixture
def served(tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSROOM_SECRET", SECRET)
    site = Site(tmp_path, SERVICE_TOML)
    news(site, "a", "2026-11-24T09:00")
    assert main(["build", "--now", "2026-12-01T12:00", "--config", str(site.config_path)]) == 0
    site.app = ServiceApp(site.config)   # form requests are handled by its worker: wait_for_requests()
    server = waitress.create_server(site.app, host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.effective_port}/news/"
    yield site, base
    server.close()


def subscriber(site: Site, email_: str = "anna@example.org", status: str = "active"):
    db = open_database(database_url(site.config))
    store = SubscriberStore(db, site.config, SECRET)
    store.subscribe(email_, "weekly-en", NOW, "test", pending=status == "pending")
    found = store.get(email_)
    db.close()
    return found


def status_of(site: Site, email_: str = "anna@example.org") -> str | None:
    db = open_database(database_url(site.config))
    found = SubscriberStore(db, site.config, SECRET).get(email_)
    db.close()
    return found.subscriptions["weekly-en"][0] if found else None


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def test_get_never_unsubscribes_and_one_click_post_does(served):
    site, base = served
    token = make_token(SECRET, subscriber(site).key, "weekly-en")
    page = requests.get(f"{base}unsubscribe", params={"token": token}, timeout=10)
    assert page.status_code == 200 and "Unsubscribe" in page.text and status_of(site) == "active"
    assert page.headers["Cache-Control"] == "no-store" and page.headers["Referrer-Policy"] == "no-referrer"
    answer = requests.post(f"{base}unsubscribe", params={"token": token},
                           data="List-Unsubscribe=One-Click",
                           headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=10)
    assert answer.status_code == 200 and status_of(site) == "unsubscribed"


def test_the_pages_button_unsubscribes_with_its_csrf_value_and_not_without(served):
    site, base = served
    token = make_token(SECRET, subscriber(site).key, "weekly-en")
    page = requests.get(f"{base}unsubscribe", params={"token": token}, timeout=10).text
    refused = requests.post(f"{base}unsubscribe", params={"token": token}, data={"csrf": "1.forged"},
                            timeout=10)
    assert refused.status_code == 403 and status_of(site) == "active"
    done = requests.post(f"{base}unsubscribe", params={"token": token}, data={"csrf": csrf_of(page)},
                         timeout=10)
    assert done.status_code == 200 and status_of(site) == "unsubscribed"


def test_a_forged_or_altered_token_is_refused_and_reveals_nothing(served):
    site, base = served
    token = make_token(SECRET, subscriber(site).key, "weekly-en")
    forged = [token[:-1] + ("A" if token[-1] != "A" else "B"), make_token("another-secret-of-good-length",
              "x", "weekly-en"), make_token(SECRET, "no-such-key", "weekly-en"), "", "x" * 5000]
    for bad in forged:
        for method in ("get", "post"):
            answer = getattr(requests, method)(f"{base}unsubscribe", params={"token": bad},
                                               data="List-Unsubscribe=One-Click", timeout=10)
            assert answer.status_code == 403 and "anna" not in answer.text.lower()
    assert status_of(site) == "active"


def test_double_opt_in_through_the_form_and_the_confirmation_message(served):
    site, base = served
    page = requests.get(f"{base}subscribe", timeout=10)
    form = page.text
    action = re.search(r'<form method="post" action="([^"]+)"', form).group(1)
    answer = requests.post(urljoin(page.url, action), data={"csrf": csrf_of(form), "email": "New@Example.org",
                                                     "newsletter": "weekly-en", "topic": ["medtech"]},
                           timeout=10)
    assert answer.status_code == 200 and "Check your email" in answer.text
    site.app.wait_for_requests()
    assert status_of(site, "new@example.org") == "pending"
    [eml] = (site.root / "state/outbox").glob("*.eml")
    message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    link = re.search(r"(http://\S+confirm\?token=\S+)", message.get_content()).group(1)
    token = link.split("token=")[1]
    page = requests.get(f"{base}confirm", params={"token": token}, timeout=10)
    assert page.status_code == 200 and status_of(site, "new@example.org") == "pending"   # GET changes nothing
    done = requests.post(f"{base}confirm", params={"token": token}, data={"csrf": csrf_of(page.text)},
                         timeout=10)
    assert done.status_code == 200 and status_of(site, "new@example.org") == "active"
    # an unsubscribe token is not a confirmation
    unsubscribe_token = make_token(SECRET, token, "weekly-en")
    assert requests.get(f"{base}confirm", params={"token": unsubscribe_token}, timeout=10).status_code == 403


def test_subscribing_is_rate_limited_per_address_and_says_the_same_for_everyone(served):
    site, base = served
    subscriber(site, "known@example.org")
    form = requests.get(f"{base}subscribe", timeout=10).text
    answers = [requests.post(f"{base}subscribe", data={"csrf": csrf_of(form), "email": "known@example.org",
                                                       "newsletter": "weekly-en"},
                             timeout=10) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    unknown = requests.post(f"{base}subscribe", data={"csrf": csrf_of(form), "email": "nobody@example.org",
                                                      "newsletter": "weekly-en"}, timeout=10)
    assert unknown.text == answers[0].text   # the page does not tell who is subscribed
    site.app.wait_for_requests()
    assert requests.post(f"{base}subscribe", data={"email": "x@example.org", "newsletter": "weekly-en"},
                         timeout=10).status_code == 403   # no CSRF value


def test_preferences_change_language_and_topics(served):
    site, base = served
    token = make_token(SECRET, subscriber(site).key, "weekly-en")
    page = requests.get(f"{base}preferences", params={"token": token}, timeout=10).text
    answer = requests.post(f"{base}preferences", params={"token": token},
                           data={"csrf": csrf_of(page), "language": "fi", "newsletter": ["weekly-en"],
                                 "topic-weekly-en": ["medtech"]}, timeout=10)
    assert answer.status_code == 200 and 'lang="fi"' in answer.text
    db = open_database(database_url(site.config))
    found = SubscriberStore(db, site.config, SECRET).get("anna@example.org")
    db.close()
    assert found.language == "fi" and found.subscriptions["weekly-en"] == ("active", ("medtech",))


def test_the_output_folder_is_served_and_nothing_outside_it(served):
    _, base = served
    root = base.removesuffix("news/")
    assert requests.get(root, timeout=10).status_code == 200
    feed = requests.get(f"{root}feeds/en/index.atom", timeout=10)
    assert feed.headers["Content-Type"] == "application/atom+xml"
    for path in ("../newsroom.toml", "%2e%2e/newsroom.toml", ".output.lock", "../state/newsroom.db"):
        assert requests.get(root + path, timeout=10).status_code == 404
    assert requests.post(f"{base}unsubscribe", data="x" * 20_000, timeout=10).status_code == 413


def test_the_form_changes_nothing_of_an_existing_subscription_until_its_owner_confirms(served):
    site, base = served
    subscriber(site, "victim@example.org")
    db = open_database(database_url(site.config))
    store = SubscriberStore(db, site.config, SECRET)
    store.subscribe("gone@example.org", "weekly-en", NOW, "test")
    store.set_status(store.get("gone@example.org").id, None, "unsubscribed", NOW, "test")
    db.close()
    form = requests.get(f"{base}subscribe", timeout=10).text
    for address in ("victim@example.org", "gone@example.org"):
        requests.post(f"{base}subscribe", data={"csrf": csrf_of(form), "email": address,
                                                "newsletter": "weekly-en",
                                                "topic": ["pharma"]}, timeout=10)
    site.app.wait_for_requests()
    db = open_database(database_url(site.config))
    store = SubscriberStore(db, site.config, SECRET)
    assert store.get("victim@example.org").subscriptions["weekly-en"] == ("active", ())
    assert store.get("gone@example.org").subscriptions["weekly-en"][0] == "unsubscribed"
    db.close()
    # the unsubscribed person got a link; following it (a POST) subscribes them again
    [eml] = [p for p in (site.root / "state/outbox").glob("*.eml") if b"gone@example.org" in p.read_bytes()]
    token = re.search(r"confirm\?token=(\S+)", email.message_from_bytes(eml.read_bytes(),
                                                                        policy=policy.default)
                      .get_content()).group(1)
    page = requests.get(f"{base}confirm", params={"token": token}, timeout=10)
    requests.post(f"{base}confirm", params={"token": token}, data={"csrf": csrf_of(page.text)}, timeout=10)
    assert status_of(site, "gone@example.org") == "active"


def test_form_actions_work_with_a_trailing_slash_and_malformed_requests_are_400(served):
    _, base = served
    page = requests.get(f"{base}subscribe/", timeout=10)
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1)
    assert urljoin(page.url, action).startswith(f"{base}subscribe?")
    assert requests.get(f"{base}subscribe?" + "&".join(f"a{n}=1" for n in range(30)),
                        timeout=10).status_code == 400
