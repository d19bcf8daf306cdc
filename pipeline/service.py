"""The subscriber service behind ``newsroom serve``: a WSGI app (served by waitress).

Under ``[delivery] service_url`` it answers:

- ``/unsubscribe?token=…``: GET shows a page with a button and changes nothing (mail
  scanners fetch links); POST unsubscribes at once: RFC 8058's one-click body
  ``List-Unsubscribe=One-Click`` from a mail provider, or the page's button;
- ``/preferences?token=…``: language, topics and newsletters;
- ``/subscribe``: a form; the address gets a confirmation message and is subscribed only
  when its owner confirms (``/confirm?token=…``, again GET shows, POST acts);

and serves the built ``output/`` folder for everything else, so an editor can preview the
site. Tokens are HMAC-signed and checked in constant time; a forged or altered one gets
403 and a page that says nothing about who is subscribed. Forms carry a signed CSRF
value; requests are bounded in size; responses are never cached and send no referrer
(the token is in the URL).
"""

from __future__ import annotations

import hashlib
import hmac
import mimetypes
import queue
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from .config import Config, ConfigError, secret
from .messages import read_token
from .render.seo import Social, site_logo
from .statedb import database_url, open_database
from .subscribers import SubscriberStore, normalize_email
from .templating import load_templates

__all__ = ["ServiceApp"]

MAX_BODY = 10_000
SUBSCRIBE_LIMIT = 3            # confirmation messages per address per hour
CSRF_SECONDS = 2 * 3600
_HEADERS = [
    ("Cache-Control", "no-store"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
                                "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
]

Response = tuple[str, list[tuple[str, str]], bytes]


class ServiceApp:
    def __init__(self, config: Config, now: Callable[[], datetime] | None = None):
        key = secret("NEWSROOM_SECRET")
        if not key:
            raise ConfigError("NEWSROOM_SECRET is not set: the service checks the signed links with it")
        self.config, self._secret = config, key
        self._now = now or (lambda: datetime.now(UTC))
        self._prefix = urlsplit(config.service_url).path.rstrip("/")
        self._templates = load_templates(config.paths.templates)
        self._recent: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._csrf_key = hmac.new(key.encode(), b"newsroom csrf v1", hashlib.sha256).digest()
        self._requests: queue.Queue[tuple] = queue.Queue(maxsize=1000)
        threading.Thread(target=self._subscription_worker, daemon=True, name="subscriptions").start()

    # -- WSGI --------------------------------------------------------------------------------

    def __call__(self, environ: dict, start_response) -> Iterable[bytes]:
        try:
            status, headers, body = self.handle(environ)
        except ConfigError:
            raise
        except Exception:   # never a traceback to the client
            status, headers, body = "500 Internal Server Error", [("Content-Type", "text/plain")], b"error\n"
        start_response(status, [*headers, *_HEADERS, ("Content-Length", str(len(body)))])
        return [body if environ.get("REQUEST_METHOD") != "HEAD" else b""]

    def handle(self, environ: dict) -> Response:
        method = environ.get("REQUEST_METHOD", "GET")
        path = environ.get("PATH_INFO", "/") or "/"
        if self._prefix and path.startswith(self._prefix + "/"):
            path = path[len(self._prefix):]
        try:
            query = parse_qs(environ.get("QUERY_STRING", ""), max_num_fields=20)
        except ValueError:
            return self._plain("400 Bad Request", "too many fields\n")
        routes = {"/unsubscribe": self.unsubscribe, "/preferences": self.preferences,
                  "/subscribe": self.subscribe, "/confirm": self.confirm}
        route = routes.get(path.rstrip("/") or "/")
        if route is None:
            return self.static(path, method)
        if method not in ("GET", "HEAD", "POST"):
            return self._plain("405 Method Not Allowed", "method not allowed\n")
        form: dict[str, list[str]] = {}
        if method == "POST":
            body = self._body(environ)
            if body is None:
                return self._plain("413 Content Too Large", "request too large\n")
            try:
                form = parse_qs(body.decode("utf-8", "replace"), max_num_fields=50)
            except ValueError:
                return self._plain("400 Bad Request", "too many fields\n")
        return route(method, query, form, environ)

    # -- the endpoints ---------------------------------------------------------------------------

    def unsubscribe(self, method: str, query: dict, form: dict, environ: dict) -> Response:
        found = self._subscriber(_one(query, "token"))
        if found is None:
            return self._forbidden()
        db, store, subscriber, newsletter = found
        try:
            one_click = _one(form, "List-Unsubscribe") == "One-Click"
            if method == "POST" and (one_click or self._csrf_ok(_one(form, "csrf"), _one(query, "token"))):
                store.set_status(subscriber.id, newsletter, "unsubscribed", self._now(),
                                 "one-click" if one_click else "web")
                return self._page(subscriber.language, "service_unsubscribed",
                                  newsletter=self._title(newsletter))
            if method == "POST":
                return self._forbidden()
            return self._page(subscriber.language, "service_unsubscribe_confirm",
                              newsletter=self._title(newsletter),
                              form=self._form("unsubscribe", _one(query, "token"), subscriber.language,
                                              button="service_unsubscribe_button"))
        finally:
            db.close()

    def confirm(self, method: str, query: dict, form: dict, environ: dict) -> Response:
        token = _one(query, "token")
        found = self._subscriber(token, purpose="confirm")
        if found is None:
            return self._forbidden()
        db, store, subscriber, newsletter = found
        try:
            if method == "POST" and self._csrf_ok(_one(form, "csrf"), token):
                status = subscriber.subscriptions.get(newsletter, ("", ()))[0]
                if status in ("pending", "unsubscribed", "bounced"):   # the owner of the address asks
                    store.set_status(subscriber.id, newsletter, "active", self._now(), "confirmed by link")
                return self._page(subscriber.language, "service_confirmed",
                                  newsletter=self._title(newsletter))
            if method == "POST":
                return self._forbidden()
            return self._page(subscriber.language, "service_confirm", newsletter=self._title(newsletter),
                              form=self._form("confirm", token, subscriber.language,
                                              button="service_confirm_button"))
        finally:
            db.close()

    def preferences(self, method: str, query: dict, form: dict, environ: dict) -> Response:
        token = _one(query, "token")
        found = self._subscriber(token)
        if found is None:
            return self._forbidden()
        db, store, subscriber, _ = found
        try:
            lang = subscriber.language
            if method == "POST":
                if not self._csrf_ok(_one(form, "csrf"), token):
                    return self._forbidden()
                now = self._now()
                language = _one(form, "language")
                if language in self.config.site.languages:
                    store.set_language(subscriber.id, language)
                    lang = language
                chosen = set(form.get("newsletter", []))
                for nl in self.config.newsletters:
                    state = subscriber.subscriptions.get(nl.id, (None, ()))[0]
                    if nl.id in chosen and state in (None, "unsubscribed"):
                        store.subscribe(subscriber.email, nl.id, now, "preferences page", resubscribe=True)
                    elif nl.id not in chosen and state in ("active", "pending"):
                        store.set_status(subscriber.id, nl.id, "unsubscribed", now, "preferences page")
                for nl in self.config.newsletters:   # each newsletter's own topics
                    if nl.id in chosen:
                        covered = [t for t in form.get(f"topic-{nl.id}",
                                                       []) if t in (nl.topics or self.config.topics)]
                        store.set_topics(subscriber.id, nl.id, covered, now)
                subscriber = store.by_key(subscriber.key) or subscriber
                note = "service_saved"
            else:
                note = None
            return self._page(lang, "service_preferences", note=note,
                              form=self._preferences_form(token, subscriber, lang))
        finally:
            db.close()

    def subscribe(self, method: str, query: dict, form: dict, environ: dict) -> Response:
        lang = _one(query, "lang") if _one(query, "lang") in self.config.site.languages \
            else self.config.site.default_language
        if method != "POST":
            return self._page(lang, "service_subscribe", form=self._subscribe_form(lang), own_url=True)
        if not self._csrf_ok(_one(form, "csrf"), "subscribe"):
            return self._forbidden()
        newsletter = _one(form, "newsletter")
        if newsletter not in {n.id for n in self.config.newsletters}:
            return self._page(lang, "service_subscribe", status="400 Bad Request", note="service_bad_request",
                              form=self._subscribe_form(lang))
        try:
            email = normalize_email(_one(form, "email"))
        except ValueError:
            return self._page(lang, "service_subscribe", status="400 Bad Request", note="service_bad_address",
                              form=self._subscribe_form(lang))
        if self._limited(email):
            return self._page(lang, "service_subscribe", status="429 Too Many Requests",
                              note="service_limited",
                              form=self._subscribe_form(lang))
        topics = [t for t in form.get("topic", []) if t in self.config.topics]
        try:
            self._requests.put_nowait((email, newsletter, tuple(topics), lang))
        except queue.Full:
            return self._page(lang, "service_subscribe", status="503 Service Unavailable",
                              note="service_limited",
                              form=self._subscribe_form(lang))
        # the same answer, as fast, whoever the address belongs to: the database and the
        # confirmation message are left to a worker thread, so neither the page nor its timing
        # tells whether the address is subscribed
        return self._page(lang, "service_check_mail")

    def _subscription_worker(self) -> None:
        while True:
            request = self._requests.get()
            try:
                self._handle_subscription(*request)
            except Exception:   # one request's trouble (a mail server down) must not end the worker
                pass
            finally:
                self._requests.task_done()

    def _handle_subscription(self, email: str, newsletter: str, topics: tuple[str, ...], lang: str) -> None:
        """A request from the form: a new subscription starts ``pending``; an existing one is
        not changed at all (not its topics, not an opt-out) until the owner confirms."""
        from .confirm import send_confirmations

        db = open_database(database_url(self.config))
        try:
            store = SubscriberStore(db, self.config, self._secret)
            if store.is_forgotten(email):
                return
            subscriber = store.get(email)
            status = subscriber.subscriptions.get(newsletter, ("",))[0] if subscriber else ""
            if status == "active":
                return
            if not status:
                nl = self.config.newsletter(newsletter)
                store.subscribe(email, newsletter, self._now(), "web form", language=lang, pending=True,
                                topics=[t for t in topics if not nl.topics or t in nl.topics])
            send_confirmations(self.config, store, [(email, newsletter)], self._now())
        finally:
            db.close()

    def wait_for_requests(self) -> None:
        """Until every queued form request is handled (for tests and a clean shutdown)."""
        self._requests.join()

    # -- static files -------------------------------------------------------------------------

    def static(self, path: str, method: str) -> Response:
        if method not in ("GET", "HEAD"):
            return self._plain("405 Method Not Allowed", "method not allowed\n")
        root = self.config.paths.output.resolve()
        target = (root / path.lstrip("/")).resolve()
        if not target.is_relative_to(root) or any(p.startswith(".") for p in target.relative_to(root).parts):
            return self._plain("404 Not Found", "not found\n")
        if target.is_dir():
            target = target / "index.html"
        if not target.is_file():
            return self._plain("404 Not Found", "not found\n")
        media_type = _media_type(target)
        return "200 OK", [("Content-Type", media_type)], target.read_bytes()

    # -- helpers -----------------------------------------------------------------------------

    def _subscriber(self, token: str, purpose: str = "subscriber"):
        """(db, store, subscriber, newsletter) for a genuine token; None for anything else."""
        if not token:
            return None
        read = read_token(self._secret, token, purpose)
        if read is None:
            return None
        key, newsletter = read
        db = open_database(database_url(self.config))
        store = SubscriberStore(db, self.config, self._secret)
        subscriber = store.by_key(key)
        if subscriber is None or newsletter not in subscriber.subscriptions:
            db.close()
            return None
        return db, store, subscriber, newsletter

    def _csrf(self, bound_to: str) -> str:
        stamp = str(int(time.time()))
        mac = hmac.new(self._csrf_key, f"{stamp}:{bound_to}".encode(), hashlib.sha256).hexdigest()
        return f"{stamp}.{mac}"

    def _csrf_ok(self, value: str, bound_to: str) -> bool:
        stamp, _, mac = value.partition(".")
        if not stamp.isdigit() or not 0 <= time.time() - int(stamp) <= CSRF_SECONDS:
            return False
        expected = hmac.new(self._csrf_key, f"{stamp}:{bound_to}".encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(mac, expected)

    def _limited(self, email: str) -> bool:
        now = time.monotonic()
        with self._lock:
            recent = self._recent[email]
            while recent and now - recent[0] > 3600:
                recent.popleft()
            if len(recent) >= SUBSCRIBE_LIMIT:
                return True
            recent.append(now)
            return False

    def _body(self, environ: dict) -> bytes | None:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        if length > MAX_BODY or length < 0:
            return None
        return environ["wsgi.input"].read(length) if length else b""

    def _title(self, newsletter: str) -> str:
        try:
            return self.config.newsletter(newsletter).title
        except ConfigError:
            return newsletter

    def _strings(self, lang: str) -> dict[str, str]:
        strings = self._templates.strings
        return {**strings.get(self.config.site.default_language, {}), **strings.get(lang, {})}

    def _form(self, action: str, token: str, lang: str, button: str) -> str:
        t = self._strings(lang)
        url = f"{self._prefix}/{action}?token={escape(token)}"   # path-absolute: behind any proxy
        return (f'<form method="post" action="{url}"><input type="hidden" name="csrf" '
                f'value="{self._csrf(token)}"><button type="submit">{escape(t[button])}</button></form>')

    def _subscribe_form(self, lang: str) -> str:
        t = self._strings(lang)
        options = "".join(f'<option value="{escape(n.id)}"{_lang_attr(n.lang, lang)}>'
                          f'{escape(n.title)}</option>' for n in self.config.newsletters)
        topics = "".join(f'<label><input type="checkbox" name="topic" value="{escape(k)}"> '
                         f'{escape(self.config.site.text(v.title, lang))}</label><br>'
                         for k, v in self.config.topics.items())
        return (f'<form method="post" action="{self._prefix}/subscribe?lang={lang}">'
                f'<input type="hidden" name="csrf" value="{self._csrf("subscribe")}">'
                f'<p><label for="email">{escape(t["service_email"])}</label><br>'
                f'<input id="email" name="email" type="email" required autocomplete="email"></p>'
                f'<p><label for="newsletter">{escape(t["service_newsletter"])}</label><br>'
                f'<select id="newsletter" name="newsletter">{options}</select></p>'
                f'<fieldset><legend>{escape(t["service_topics"])}</legend>{topics}</fieldset>'
                f'<p><button type="submit">{escape(t["service_subscribe_button"])}</button></p></form>')

    def _preferences_form(self, token: str, subscriber, lang: str) -> str:
        t = self._strings(lang)
        languages = "".join(
            f'<option value="{code}"{" selected" if code == subscriber.language else ""}'
            f'{_lang_attr(code, lang)}>{escape(self._strings(code).get("language_name", code))}</option>'
            for code in self.config.site.languages)
        blocks = []
        for n in self.config.newsletters:
            status, chosen = subscriber.subscriptions.get(n.id, ("", ()))
            on = " checked" if status in ("active", "pending") else ""
            topics = "".join(
                f'<label><input type="checkbox" name="topic-{escape(n.id)}" value="{escape(k)}"'
                f'{" checked" if k in chosen else ""}> '
                f'{escape(self.config.site.text(v.title, lang))}</label><br>'
                for k, v in self.config.topics.items() if not n.topics or k in n.topics)
            blocks.append(f'<fieldset><legend><label><input type="checkbox" name="newsletter" '
                          f'value="{escape(n.id)}"{on}> <span{_lang_attr(n.lang, lang)}>{escape(n.title)}'
                          '</span></label></legend>'
                          f'<p>{escape(t["service_topics_hint"])}</p>{topics}</fieldset>')
        return (f'<form method="post" action="{self._prefix}/preferences?token={escape(token)}">'
                f'<input type="hidden" name="csrf" value="{self._csrf(token)}">'
                f'<p><label for="language">{escape(t["service_language"])}</label><br>'
                f'<select id="language" name="language">{languages}</select></p>'
                + "".join(blocks) +
                f'<p><button type="submit">{escape(t["service_save"])}</button></p></form>')

    def _page(self, lang: str, key: str, status: str = "200 OK", note: str | None = None, form: str = "",
              own_url: bool = False, **values: str) -> Response:
        """A service page; ``own_url``: the page has a URL of its own, the subscription
        form's in ``lang`` (its canonical and og:url). Pages behind a token have none to
        give: their URL without it is refused, and the token is never shown. All are noindex."""
        t = self._strings(lang)
        site = self.config.site
        url = self.config.subscribe_url(lang) if own_url else None
        title = t[key + "_title"] if key + "_title" in t else t[key].format(**values)
        message = t[key].format(**values)
        html = self._templates.render(
            "service/page.html", lang=lang, t=t, site=site, up=None, site_title=site.text(site.title, lang),
            title=title, message=message, note=t[note] if note else None, form=form,
            canonical=url, alternates=[], hreflang=(), head_feeds=[], feed_links=lambda _: [],
            home=site.base_url, structured_data=None,
            social=Social(title=title, description=message, url=url, site_name=site.text(site.title, lang),
                          lang=lang, image=site_logo(site, lang)))
        return status, [("Content-Type", "text/html; charset=utf-8")], html.encode("utf-8")

    def _forbidden(self) -> Response:
        lang = self.config.site.default_language
        status, headers, body = self._page(lang, "service_forbidden", status="403 Forbidden")
        return status, headers, body

    @staticmethod
    def _plain(status: str, text: str) -> Response:
        return status, [("Content-Type", "text/plain; charset=utf-8")], text.encode()


def _lang_attr(text_lang: str, page_lang: str) -> str:
    """`` lang="fi"`` on a text in another language than the page's (a newsletter's title)."""
    return f' lang="{escape(text_lang)}"' if text_lang != page_lang else ""


def _one(values: dict[str, list[str]], name: str) -> str:
    found = values.get(name) or [""]
    return found[0][:2000]


def _media_type(path: Path) -> str:
    types = {".atom": "application/atom+xml", ".rss": "application/rss+xml", ".opml": "text/x-opml",
             ".svg": "image/svg+xml", ".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8"}
    if path.suffix == ".json":
        feed = "feeds" in path.parts or "partners" in path.parts
        return "application/feed+json" if feed else "application/json"
    return types.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
