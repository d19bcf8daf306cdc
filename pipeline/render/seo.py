"""What search engines and link previews read in a page's head: schema.org JSON-LD
(``NewsArticle`` on item pages, ``Organization`` on organization pages) and the Open Graph
and Twitter card tags of every page (``templates/pages/_social.html``).

URLs here are absolute (``base_url``): these are read by crawlers, not followed from disk.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from babel.core import get_global
from markupsafe import Markup

from ..config import Site
from ..model import Image, NewsItem, Profile
from .feed_model import safe_url

__all__ = ["HEADLINE_CHARS", "PngRendition", "Social", "SocialImage", "headline", "hreflang", "json_ld",
           "news_article", "og_locale", "organization", "site_logo", "site_logo_url", "social_image"]

HEADLINE_CHARS = 110   # the longest NewsArticle headline Google has asked for


@dataclass(frozen=True)
class SocialImage:
    url: str
    alt: str
    type: str | None = None
    large: bool = True   # a picture (Twitter's "summary_large_image"); a logo is shown small


@dataclass(frozen=True)
class PngRendition:
    """The published PNG rendition of an SVG picture (``media/email/<name>.png``)."""

    url: str
    width: int
    height: int


@dataclass(frozen=True)
class Social:
    """A page's Open Graph and Twitter card values."""

    title: str
    description: str
    url: str | None               # None: a page without a URL of its own to give
    site_name: str
    lang: str
    alternate_langs: tuple[str, ...] = ()
    type: str = "website"          # "article" for a news item
    image: SocialImage | None = None

    @property
    def locale(self) -> str:
        return og_locale(self.lang)

    @property
    def alternate_locales(self) -> list[str]:
        return [og_locale(lang) for lang in self.alternate_langs if lang != self.lang]

    @property
    def card(self) -> str:
        return "summary_large_image" if self.image and self.image.large else "summary"


SVG = "image/svg+xml"


def social_image(image: Image | None, png: PngRendition | None = None, large: bool = True,
                 fallback: SocialImage | None = None) -> SocialImage | None:
    """``image`` for a link preview (a logo: not ``large``), else ``fallback``. An SVG is
    shown as its published PNG rendition ``png``, and never as itself: Facebook, LinkedIn
    and X show no SVG."""
    if image is None or not image.url:
        return fallback
    if png is not None:
        return SocialImage(png.url, image.alt, "image/png", large)
    if image.media_type == SVG or _is_svg(image.url):
        return fallback
    return SocialImage(image.url, image.alt, image.media_type, large)


def _is_svg(url: str) -> bool:
    return url.split("?", 1)[0].split("#", 1)[0].lower().endswith((".svg", ".svgz"))


def site_logo_url(site: Site) -> str | None:
    """``[site] logo``: a URL, or a path in the output (as the feeds' logo)."""
    if not site.logo:
        return None
    if site.logo.startswith(("http://", "https://")):
        return safe_url(site.logo)
    return safe_url(site.base_url + site.logo.lstrip("/"))


def site_logo(site: Site, lang: str) -> SocialImage | None:
    """The site's logo as the preview of a page without a picture of its own (not an SVG,
    which previews do not show)."""
    url = site_logo_url(site)
    if url is None or _is_svg(url):
        return None
    return SocialImage(url, site.text(site.title, lang), None, large=False)


def hreflang(versions: Iterable[tuple[str, str]], default_language: str) -> tuple[tuple[str, str], ...]:
    """hreflang alternates of a page that exists in several languages: (language, URL) of
    each version, the page's own among them, sorted, and ``x-default`` (the default
    language's version, when there is one); none for a page in one language."""
    first: dict[str, str] = {}
    for lang, url in versions:
        first.setdefault(lang, url)
    found = tuple(sorted(first.items()))
    if len(found) < 2:
        return ()
    default = dict(found).get(default_language)
    return (*found, ("x-default", default)) if default else found


def headline(title: str, limit: int = HEADLINE_CHARS) -> str:
    """``title`` cut at a word to at most ``limit`` characters, with "…"."""
    if len(title) <= limit:
        return title
    cut = title[:limit - 1]
    if not title[limit - 1].isspace() and " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:–—-") + "…"


@cache
def og_locale(lang: str) -> str:
    """Open Graph's ``language_TERRITORY`` for a language code: ``fi`` -> ``fi_FI``,
    ``en`` -> ``en_US`` (CLDR's likely territory)."""
    if "_" in lang or "-" in lang:
        code, territory = lang.replace("-", "_").split("_")[:2]
        return f"{code.lower()}_{territory.upper()}"
    likely = get_global("likely_subtags").get(lang, "")
    territory = likely.split("_")[-1] if likely.count("_") >= 1 else ""
    return f"{lang}_{territory}" if territory.isalpha() and territory.isupper() else lang


# json.dumps with options builds an encoder per call: a tenth of the work for a page's data
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def json_ld(data: dict) -> Markup:
    """``data`` as the text of a ``<script type="application/ld+json">``: ``<``, ``>`` and
    ``&`` as JSON escapes (``\\u003c``), so no ``</script>`` or ``<!--`` in content can end
    the script early, and the JSON parses to the same value."""
    text = _COMPACT_JSON(data)
    return Markup(text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e"))


def publisher(site: Site, lang: str) -> dict:
    data = {"@type": "Organization", "name": site.text(site.title, lang), "url": site.base_url}
    logo = site_logo_url(site)
    if logo:
        data["logo"] = {"@type": "ImageObject", "url": logo}
    return data


def news_article(item: NewsItem, site: Site, topics: list[str], mentions: list[dict],
                 png: PngRendition | None = None) -> dict:
    """schema.org ``NewsArticle``: ``topics`` are topic titles (``about``), ``mentions`` the
    organizations (see :func:`mentioned`); ``png``: the PNG rendition of the item's SVG
    picture, given as the image where it is published."""
    data: dict = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": headline(item.title),
        "description": item.summary,
        "url": item.canonical_url or item.url,
        "mainEntityOfPage": item.url,
        "datePublished": item.date.isoformat(),
        "dateModified": item.modified_iso,
        "inLanguage": item.lang,
        "author": ([{"@type": "Person", "name": name} for name in item.authors]
                   or [publisher(site, item.lang)]),
        "publisher": publisher(site, item.lang),
    }
    if png is not None:
        data["image"] = [{"@type": "ImageObject", "url": png.url, "width": png.width, "height": png.height}]
    elif item.image and item.image.url:
        data["image"] = [item.image.url]
    if topics:
        data["about"] = [{"@type": "Thing", "name": title} for title in topics]
    if mentions:
        data["mentions"] = mentions
    return data


def mentioned(profile: Profile, name: str, page_url: str) -> dict:
    """An organization as an item's ``mentions``."""
    data = {"@type": "Organization", "name": name, "url": page_url}
    if profile.website:
        data["sameAs"] = profile.website
    return data


def organization(profile: Profile, name: str, page_url: str, summary: str | None, lang: str) -> dict:
    """schema.org ``Organization`` for an organization page."""
    data: dict = {
        "@context": "https://schema.org",
        "@type": "Organization",
        "name": name,
        "url": page_url,
    }
    if summary:
        data["description"] = summary
    if profile.logo and profile.logo.url:
        data["logo"] = profile.logo.url
    if profile.city:
        data["address"] = {"@type": "PostalAddress", "addressLocality": profile.city}
    if profile.website:
        data["sameAs"] = [profile.website]
    return data
