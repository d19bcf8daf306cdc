"""Digest editions rendered: the HTML and plain-text parts of the email, and the pages of
the web archive (``digests/<newsletter>/<edition>/``, an index per newsletter and a feed
of its editions).

The HTML comes from ``templates/email/digest.html`` with the styles of
``email/digest.css`` inlined into style attributes by css-inline (only the media queries
for phones and dark mode stay in ``<style>``); the text part from its own template. An
edition whose HTML would pass Gmail's clipping size keeps its newest stories and links
to the web version for the rest.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from babel.dates import format_date, format_time

from ..catalog import Catalog, key_of
from ..config import Config, Newsletter
from ..editions import Edition, Entry
from ..media import can_rasterize, email_rendition_path
from ..model import Image, NewsItem
from ..templating import Templates
from ..urls import FEED_FORMATS, FORMAT_LABELS, index_path, url_of
from . import FeedLink, Listing, Sink, emit, seo
from .feed_json import JsonWriter
from .feed_model import Entry as FeedEntry
from .feed_model import FeedDoc, Link, safe_url, xml_text
from .feed_xml import XmlWriter

__all__ = ["MAX_HTML_BYTES", "DigestRenderer", "Rendered", "archive_path", "edition_path", "render_archive"]

SUMMARY_CHARS = 600       # a summary longer than this is cut at a word in emails
MAX_HTML_BYTES = 100_000   # Gmail clips a message's HTML above 102 KB; room for personal links
IMAGE_WIDTH = 560          # the 600 px column less its padding

Dimensions = Callable[[Image], "tuple[int, int] | None"]


def edition_path(newsletter_id: str, label: str) -> str:
    return f"digests/{newsletter_id}/{label}/index.html"


def archive_path(newsletter_id: str) -> str:
    return f"digests/{newsletter_id}/index.html"


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str
    text: str
    shown: int          # new stories shown
    cut: int            # new stories left to the web version (the size cap)


@dataclass(frozen=True)
class Links:
    """A recipient's own links (or a preview's placeholders)."""

    unsubscribe: str
    preferences: str


class DigestRenderer:
    """Renders the editions of one newsletter."""

    def __init__(self, config: Config, catalog: Catalog, templates: Templates, newsletter: Newsletter,
                 dimensions: Dimensions | None = None):
        self.config, self.catalog, self.templates, self.newsletter = config, catalog, templates, newsletter
        self.site = catalog.site
        self.lang = newsletter.lang
        strings = templates.strings
        self.t = {**strings.get(self.site.default_language, {}), **strings.get(self.lang, {})}
        self._dimensions = dimensions or (lambda _image: None)
        import css_inline  # here: a rebuild without newsletters need not load it

        self._inliner = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)

    # -- the parts ---------------------------------------------------------------------

    def subject(self, edition: Edition) -> str:
        return f"{self.newsletter.title} – {self.date_text(edition)}"

    def date_text(self, edition: Edition) -> str:
        local = edition.scheduled.astimezone(self.site.timezone)
        text = format_date(local.date(), "long", locale=self.lang)
        if not self.newsletter.when.at_least_daily_apart:
            text += " " + format_time(local.time(), "short", locale=self.lang)
        return text

    def email(self, edition: Edition, entries: Iterable[Entry], links: Links) -> Rendered:
        """The email of ``entries`` (an edition's, or a subscriber's share of them), its
        HTML within :data:`MAX_HTML_BYTES`."""
        ranked = _ranked(tuple(entries))
        keep = len(ranked)
        html = self._html(edition, ranked, links, keep)
        if len(html.encode("utf-8")) > MAX_HTML_BYTES:
            keep = self._most_that_fit(edition, ranked, links)
            html = self._html(edition, ranked, links, keep)
        text = self._render("email/digest.txt", edition, ranked, links, keep, web=False)
        return Rendered(self.subject(edition), html, text, keep, len(ranked) - keep)

    def web_page(self, edition: Edition) -> bytes:
        """The edition's page in the web archive: everyone's version, links relative."""
        ranked = _ranked(edition.entries)
        html = self._render("email/digest.html", edition, ranked, None, len(ranked), web=True)
        return self._inline(html).encode("utf-8")

    def _html(self, edition: Edition, entries: tuple[Entry, ...], links: Links, keep: int) -> str:
        return self._inline(self._render("email/digest.html", edition, entries, links, keep, web=False))

    def _inline(self, html: str) -> str:
        """Styles into style attributes. css-inline puts the kept ``<style>`` first in the
        head; the charset goes back in front of it (it must be in the first 1024 bytes)."""
        inlined = self._inliner.inline(html)
        charset = '<meta charset="utf-8">'
        if charset in inlined:
            inlined = inlined.replace(charset + "\n", "", 1).replace("<head>", "<head>" + charset, 1)
        return inlined

    def _most_that_fit(self, edition: Edition, ranked: tuple[Entry, ...], links: Links) -> int:
        """How many of ``ranked`` fit (corrections first, then the newest stories)."""
        low, high = 0, len(ranked)   # low always fits
        while low < high:
            middle = (low + high + 1) // 2
            if len(self._html(edition, ranked, links, middle).encode("utf-8")) <= MAX_HTML_BYTES:
                low = middle
            else:
                high = middle - 1
        return low

    # -- the context -------------------------------------------------------------------

    def _render(self, template: str, edition: Edition, ranked: tuple[Entry, ...], links: Links | None,
                keep: int, web: bool) -> str:
        """``ranked`` (see :func:`_ranked`), of which the first ``keep`` are shown."""
        kept = ranked[:keep]
        shown = [e for e in kept if e.kind == "new" and e.item is not None]
        gone = [e.title for e in kept if e.kind == "withdrawn" or e.item is None]
        path = edition_path(self.newsletter.id, edition.label)
        context = dict(
            lang=self.lang, t=self.t, site=self.site, web=web,
            up="../" * path.count("/") if web else None,   # web: relative links; email: absolute
            site_title=self.site.text(self.site.title, self.lang),
            newsletter_title=self.newsletter.title, subject=self.subject(edition),
            date_text=self.date_text(edition), preheader=_preheader([e.title for e in shown]),
            sections=self._sections(shown), updated=[self._story(e.item) for e in kept
                                                     if e.kind == "updated" and e.item is not None],
            withdrawn=gone, cut=len(ranked) - keep,
            web_url=url_of(self.site, path.removesuffix("index.html")),
            archive_url=url_of(self.site, archive_path(self.newsletter.id).removesuffix("index.html")),
            home_url=url_of(self.site, index_path(self.site, self.lang)),
            subscribe_url=self.config.subscribe_url(self.lang),
            unsubscribe_url=links.unsubscribe if links else "",
            preferences_url=links.preferences if links else "",
            footer_why=(self.t["digest_why_web"] if web else self.t["digest_why"]).format(
                newsletter=self.newsletter.title, site=self.site.text(self.site.title, self.lang)),
            sender_line=self.t["digest_sender"].format(sender=self.config.delivery.sender),
            edition_feeds=self.feed_links() if web else [],
        )
        if web:   # link previews of the edition's page
            context["social"] = self.social(context["subject"], context["preheader"] or context["footer_why"],
                                            context["web_url"])
            context["structured_data"] = None
        return self.templates.render(template, **context)

    def social(self, title: str, description: str, url: str) -> seo.Social:
        return seo.Social(title=title, description=description, url=url,
                          site_name=self.site.text(self.site.title, self.lang), lang=self.lang,
                          image=seo.site_logo(self.site, self.lang))

    def _sections(self, entries: list[Entry]) -> list[dict]:
        """Stories grouped by topic, in the order of newsroom.toml; each story once, under
        the first of its topics the newsletter covers."""
        covered = self.newsletter.topics
        order = [key for key in self.catalog.topics if not covered or key in covered]
        groups: dict[str, list[dict]] = {key: [] for key in order}
        for entry in entries:
            topic = next((key for key in order if key in entry.topics), None)
            if topic is not None and entry.item is not None:
                groups[topic].append(self._story(entry.item))
        return [{"heading": self.site.text(self.catalog.topics[key].title, self.lang), "stories": stories}
                for key, stories in groups.items() if stories]

    def _story(self, item: NewsItem) -> dict:
        return {
            "title": item.title, "url": item.url, "summary": _shorter(item.summary, SUMMARY_CHARS),
            "date": self._date(item.modified), "iso_date": item.modified.isoformat(),
            "organizations": [self.site.text(self.catalog.profiles[slug].name, self.lang)
                              for slug in item.organizations if slug in self.catalog.profiles],
            "image": self._image(item.image),
        }

    def _image(self, image: Image | None) -> dict | None:
        if image is None or not image.url:
            return None
        size = self._dimensions(image)
        height = round(IMAGE_WIDTH * size[1] / size[0]) if size and size[0] > 0 else None
        url = image.url
        if image.media_type == "image/svg+xml" and image.output_path and can_rasterize() and height:
            url = url_of(self.site, email_rendition_path(image.output_path))   # Gmail shows no SVG
        return {"url": url, "alt": image.alt, "width": IMAGE_WIDTH, "height": height}

    def _date(self, when: datetime) -> str:
        return format_date(when.astimezone(self.site.timezone).date(), "long", locale=self.lang)

    @cached_property
    def feed_urls(self) -> dict[str, str]:
        """Format -> the URL of the newsletter's feed of editions."""
        folder = f"digests/{self.newsletter.id}/"
        return {fmt: url_of(self.site, f"{folder}index.{fmt}") for fmt in FEED_FORMATS}

    def feed_links(self) -> list[FeedLink]:
        title = self.newsletter.title
        return [FeedLink(url, FEED_FORMATS[fmt], f"{title} ({FORMAT_LABELS[fmt]})")
                for fmt, url in self.feed_urls.items()]


def _shorter(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"


def _ranked(entries: tuple[Entry, ...]) -> tuple[Entry, ...]:
    """An edition's entries in the order a size cap keeps them: the corrections (short,
    and what a health newsletter must not drop), then the stories, newest first. A story
    withdrawn since (an issued edition shown later) counts as a withdrawal."""
    corrections = tuple(e for e in entries if e.kind != "new" or e.item is None)
    return corrections + tuple(e for e in entries if e.kind == "new" and e.item is not None)


def _preheader(titles: list[str], limit: int = 140) -> str:
    """The line an inbox shows after the subject: the first stories' titles."""
    text = " · ".join(titles)
    return text if len(text) <= limit else text[:limit - 1].rsplit(" ", 1)[0] + "…"


# -- the web archive ------------------------------------------------------------------------


def render_archive(renderer: DigestRenderer, editions: list[Edition], sink: Sink) -> None:
    """Each issued edition's page, the newsletter's index of them and its feeds of editions."""
    catalog, newsletter = renderer.catalog, renderer.newsletter
    fp = catalog.item_fingerprint
    for edition in editions:
        key = key_of(catalog.fingerprint, catalog.profiles_fingerprint, "edition", edition.id,
                     *[fp(e.item) if e.item is not None else "-" for e in edition.entries])
        emit(sink, edition_path(newsletter.id, edition.label), key, lambda e=edition: renderer.web_page(e))
    index = archive_path(newsletter.id)
    emit(sink, index, key_of(catalog.fingerprint, catalog.profiles_fingerprint, "editions", newsletter.id,
                             *[e.id for e in editions]),
         lambda: _index_page(renderer, editions, index),
         Listing(kind="digest-archive", media_type="text/html", title=newsletter.title,
                 language=newsletter.lang, items=len(editions),
                 updated=editions[0].scheduled if editions else None))
    render_edition_feeds(renderer, editions, sink)


def _index_page(renderer: DigestRenderer, editions: list[Edition], path: str) -> bytes:
    """The newsletter's page in the archive, built on the page templates."""
    site, newsletter, lang = renderer.site, renderer.newsletter, renderer.lang
    feed_links = renderer.feed_links()
    title = renderer.t["digest_editions"].format(newsletter=newsletter.title)
    url = url_of(site, path.removesuffix("index.html"))
    why = renderer.t["digest_why_web"].format(newsletter=newsletter.title, site=site.text(site.title, lang))
    html = renderer.templates.render(
        "email/archive.html", lang=lang, t=renderer.t, site=site, up="../" * path.count("/"),
        site_title=site.text(site.title, lang), title=title, canonical=url, alternates=[], hreflang=(),
        social=renderer.social(title, why, url), structured_data=None,
        home=url_of(site, index_path(site, lang)), head_feeds=["editions"],
        feed_links=lambda _refs: feed_links, subscribe_url=renderer.config.subscribe_url(lang),
        editions=[{"url": url_of(site, edition_path(newsletter.id, e.label).removesuffix("index.html")),
                   "title": renderer.subject(e)} for e in editions],
    )
    return html.encode("utf-8")

def render_edition_feeds(renderer: DigestRenderer, editions: list[Edition], sink: Sink) -> None:
    """Atom, RSS and JSON Feed of a newsletter's editions: one entry per edition, its
    stories listed, linking to the edition's page."""
    site, newsletter = renderer.site, renderer.newsletter
    urls = renderer.feed_urls
    entries = tuple(_edition_entry(renderer, e) for e in editions[:site.feed_items])
    updated = entries[0].updated if entries else (renderer.catalog.updated or renderer.catalog.now)
    title = xml_text(newsletter.title)
    doc = FeedDoc(title=title, description=xml_text(renderer.t["digest_why_web"].format(
                      newsletter=newsletter.title, site=site.text(site.title, renderer.lang))),
                  lang=renderer.lang, page_url=safe_url(url_of(site, archive_path(newsletter.id).removesuffix(
                      "index.html"))), page_lang=renderer.lang,
                  publisher=xml_text(site.text(site.title, renderer.lang)), home_url=site.base_url,
                  self_urls=urls, feed_id=urls["atom"], updated=updated, entries=entries)
    fp = renderer.catalog.item_fingerprint
    key = key_of(renderer.catalog.fingerprint, renderer.catalog.profiles_fingerprint, "edition-feeds",
                 newsletter.id,
                 *[f"{e.id}:" + ",".join(fp(x.item) if x.item else "-" for x in e.entries) for e in editions])
    documents: dict[str, bytes] = {}

    def write(fmt: str) -> bytes:
        if not documents:
            documents.update(XmlWriter().write(doc))
            documents["json"] = JsonWriter().write(doc)
        return documents[fmt]

    for fmt, media_type in FEED_FORMATS.items():
        emit(sink, f"digests/{newsletter.id}/index.{fmt}", key, lambda f=fmt: write(f),
             Listing("feed", media_type, title, renderer.lang, len(entries), updated if entries else None))


def _edition_entry(renderer: DigestRenderer, edition: Edition) -> FeedEntry:
    url = safe_url(url_of(renderer.site, edition_path(renderer.newsletter.id, edition.label)
                          .removesuffix("index.html")))
    stories = [e for e in edition.entries if e.kind == "new" and e.item is not None]   # still public
    listing = "".join(f'<li><a href="{html.escape(safe_url(e.url))}">{html.escape(xml_text(e.title))}'
                      "</a></li>" for e in stories)
    summary = xml_text(_preheader([e.title for e in stories], limit=300) or renderer.subject(edition))
    return FeedEntry(id=url, url=url, title=xml_text(renderer.subject(edition)), summary=summary,
                     content_html=f"<ul>{listing}</ul>" if listing else f"<p>{html.escape(summary)}</p>",
                     lang=renderer.lang, published=edition.scheduled, updated=edition.scheduled,
                     authors=(), categories=(), links=(Link(url, "alternate", "text/html", renderer.lang),),
                     image_url=None)
