"""What search engines and link previews read in a page's head: schema.org JSON-LD
(``NewsArticle`` on item pages, ``Organization`` on organization pages) and the Open Graph
and Twitter card tags of every page (``templates/pages/_social.html``).

URLs here are absolute (``base_url``): these are read by crawlers, not followed from disk.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache

from babel.core import get_global
from markupsafe import Markup

from ..config import Site
from ..model import Image, NewsItem, Profile

__all__ = ["Social", "SocialImage", "json_ld", "news_article", "og_locale", "organization"]


@dataclass(frozen=True)
class SocialImage:
    url: str
    alt: str
    type: str | None = None


@dataclass(frozen=True)
class Social:
    """A page's Open Graph and Twitter card values."""

    title: str
    description: str
    url: str
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
        return "summary_large_image" if self.image else "summary"


def social_image(image: Image | None, png_url: str | None = None) -> SocialImage | None:
    """``image`` for a link preview; ``png_url``, a published PNG rendition of an SVG, is
    preferred: Facebook, LinkedIn and X show no SVG."""
    if image is None or not image.url:
        return None
    if png_url:
        return SocialImage(png_url, image.alt, "image/png")
    return SocialImage(image.url, image.alt, image.media_type)


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


def json_ld(data: dict) -> Markup:
    """``data`` as the text of a ``<script type="application/ld+json">``: ``<``, ``>`` and
    ``&`` as JSON escapes (``\\u003c``), so no ``</script>`` or ``<!--`` in content can end
    the script early, and the JSON parses to the same value."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return Markup(text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e"))


def publisher(site: Site, lang: str) -> dict:
    return {"@type": "Organization", "name": site.text(site.title, lang), "url": site.base_url}


def news_article(item: NewsItem, site: Site, topics: list[str], mentions: list[dict]) -> dict:
    """schema.org ``NewsArticle``: ``topics`` are topic titles (``about``), ``mentions`` the
    organizations (see :func:`mentioned`)."""
    data: dict = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": item.title,
        "description": item.summary,
        "url": item.canonical_url or item.url,
        "mainEntityOfPage": item.url,
        "datePublished": item.date.isoformat(),
        "dateModified": item.modified.isoformat(),
        "inLanguage": item.lang,
        "author": ([{"@type": "Person", "name": name} for name in item.authors]
                   or [publisher(site, item.lang)]),
        "publisher": publisher(site, item.lang),
    }
    if item.image and item.image.url:
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
