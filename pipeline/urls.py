"""Where things live in the output tree. One place, so pages, feeds and partner files agree.

Inside HTML pages, links to the site are relative (``../../news/x/``), so the tree works
opened from disk, on any host and under any sub-path; canonical and hreflang links in the
head, feeds, partner files and email keep absolute URLs, as their standards want."""

from __future__ import annotations

from typing import NamedTuple

from .config import Site
from .markup import replace_in_tags

__all__ = [
    "FEED_FORMATS",
    "FORMAT_LABELS",
    "OPML_PATH",
    "FeedRef",
    "feed_path",
    "feeds_for_language",
    "index_path",
    "news_path",
    "organization_path",
    "relative_html",
    "relative_url",
    "url_of",
]

FEED_FORMATS = {
    "rss": "application/rss+xml",
    "atom": "application/atom+xml",
    "json": "application/feed+json",
}
FORMAT_LABELS = {"rss": "RSS", "atom": "Atom", "json": "JSON Feed"}
OPML_PATH = "feeds.opml"


def relative_url(url: str, base_url: str, up: str) -> str:
    """``url`` as seen from a page ``up`` (``"../../"``) below the root: relative if it is
    under ``base_url``, else as it is."""
    if not url.startswith(base_url):
        return url
    return (up + url[len(base_url):]) or "./"


def relative_html(body: str, base_url: str, up: str) -> str:
    """Sanitized HTML with its ``href``/``src`` attributes under ``base_url`` relative."""
    if base_url not in body:
        return body   # the usual case: bodies link elsewhere
    return replace_in_tags(body, {f' href="{base_url}': f' href="{up or "./"}',
                                  f' src="{base_url}': f' src="{up or "./"}'})


def url_of(site: Site, path: str) -> str:
    """Absolute URL of an output path; ``…/index.html`` is linked as its folder."""
    if path == "index.html" or path.endswith("/index.html"):
        path = path[: -len("index.html")]
    return site.base_url + path


def _lang_prefix(site: Site, lang: str) -> str:
    return "" if lang == site.default_language else f"{lang}/"


def index_path(site: Site, lang: str) -> str:
    return f"{_lang_prefix(site, lang)}index.html"


def news_path(slug: str) -> str:
    return f"news/{slug}/index.html"


def organization_path(site: Site, lang: str, slug: str) -> str:
    return f"{_lang_prefix(site, lang)}organizations/{slug}/index.html"


def feed_path(kind: str, fmt: str, lang: str | None = None, key: str | None = None) -> str:
    """``kind`` is all, index, topic or organization."""
    if kind == "all":
        return f"feeds/all.{fmt}"
    if kind == "index":
        return f"feeds/{lang}/index.{fmt}"
    folder = {"topic": "topics", "organization": "organizations"}[kind]
    return f"feeds/{lang}/{folder}/{key}.{fmt}"


class FeedRef(NamedTuple):
    """One logical feed, published in every format."""

    kind: str            # all, index, topic, organization
    lang: str | None
    key: str | None      # topic key or organization slug

    def path(self, fmt: str) -> str:
        return feed_path(self.kind, fmt, self.lang, self.key)


def feeds_for_language(lang: str, topics, organizations) -> list[FeedRef]:
    """Every feed of one language: its index, one per topic, one per organization."""
    refs = [FeedRef("index", lang, None)]
    refs += [FeedRef("topic", lang, key) for key in topics]
    refs += [FeedRef("organization", lang, slug) for slug in organizations]
    return refs
