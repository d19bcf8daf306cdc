"""Per-partner JSON Feeds: ``syndication/partners/<id>.json``.

Each is a JSON Feed 1.1 document (a generic reader can read it) with the partner's
view of the catalog: filtered by topics and languages, capped at ``max_items``, with
partner-only items when the partner is allowed them. Each item carries a
``_newsroom`` extension object with what a partner site needs to show it well.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from itertools import islice
from urllib.parse import urlencode, urlsplit, urlunsplit

from ..catalog import Catalog, key_of, newest_first
from ..config import Partner
from ..model import NewsItem
from ..urls import organization_path, url_of
from . import Listing, Output, Sink, dump_json, emit
from .feed_json import json_item
from .feed_model import entry_for

__all__ = ["partner_items", "partner_path", "render"]

JSON_FEED = "application/feed+json"
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
EXTENSION_VERSION = 1


def partner_path(partner_id: str) -> str:
    return f"syndication/partners/{partner_id}.json"


def render(catalog: Catalog, partners: tuple[Partner, ...], sink: Sink | None = None) -> Sink:
    output = Output() if sink is None else sink
    fp = catalog.item_fingerprint
    for partner in partners:
        items = partner_items(catalog, partner)
        updated = max((i.modified for i in items), key=datetime.timestamp, default=catalog.updated)
        language = partner.languages[0] if len(partner.languages) == 1 else None
        translations = _translation_index(catalog, partner, items)
        # an item shows its translations' links: their fingerprints are part of the key
        key = key_of(catalog.fingerprint, catalog.profiles_fingerprint, partner.id, str(updated), *[
            fp(item) + "".join(fp(t) for t in translations.get(item.translation_key or "", ()))
            for item in items])
        emit(output, partner_path(partner.id), key,
             partial(_document, catalog, partner, items),
             Listing("partner", JSON_FEED, _title(catalog, partner), language, len(items), updated))
    return output


def _document(catalog: Catalog, partner: Partner, items: list[NewsItem]) -> bytes:
    return dump_json(_feed(catalog, partner, items))


def _title(catalog: Catalog, partner: Partner) -> str:
    site = catalog.site
    lang = partner.languages[0] if len(partner.languages) == 1 else site.default_language
    return f"{site.text(site.title, lang)}: {partner.id}"


def partner_items(catalog: Catalog, partner: Partner) -> list[NewsItem]:
    """The partner's view: newest first, filtered, capped."""
    topics, languages = set(partner.topics), set(partner.languages)

    def wanted(item: NewsItem) -> bool:
        return ((not topics or not topics.isdisjoint(item.topics))
                and (not languages or item.lang in languages))

    # both lists are newest first: the newest of the two together are among each one's newest
    chosen = list(islice(filter(wanted, catalog.items), partner.max_items))
    if partner.include_partner_only and catalog.partner_only:
        chosen = newest_first(chosen + list(islice(filter(wanted, catalog.partner_only), partner.max_items)))
    return chosen[: partner.max_items]


def _feed(catalog: Catalog, partner: Partner, items: list[NewsItem]) -> dict:
    site = catalog.site
    lang = partner.languages[0] if len(partner.languages) == 1 else site.default_language
    translations = _translation_index(catalog, partner, items)
    document = {
        "version": JSON_FEED_VERSION,
        "title": _title(catalog, partner),
        "home_page_url": site.base_url,
        "feed_url": url_of(site, partner_path(partner.id)),
        "description": site.text(site.description, lang) or site.text(site.title, lang),
        "items": [_item(catalog, partner, item, translations) for item in items],
        "_newsroom": {"version": EXTENSION_VERSION, "partner": partner.id,
                      "attribution": site.attribution},
    }
    if len(partner.languages) == 1:
        document["language"] = lang
    if site.icon:
        document["icon"] = site.icon
    return document


def _translation_index(catalog: Catalog, partner: Partner,
                       items: list[NewsItem]) -> dict[str, list[NewsItem]]:
    """The items a partner may see (the public ones, and its partner-only ones if it takes
    them) by translation key, for the keys of ``items``: the translations they link to."""
    index: dict[str, list[NewsItem]] = {}
    if partner.include_partner_only:
        for item in catalog.partner_only:
            if item.translation_key:
                index.setdefault(item.translation_key, []).append(item)
    keys = {item.translation_key for item in items if item.translation_key}
    return {key: [*catalog.by_translation_key.get(key, ()), *index.get(key, ())] for key in keys}


def _item(catalog: Catalog, partner: Partner, item: NewsItem,
          translations: dict[str, list[NewsItem]]) -> dict:
    """The JSON Feed item that feeds carry (one writer: the two cannot drift), with the
    partner's UTM link, no link for a partner-only item (it has no public page), and the
    ``_newsroom`` extension."""
    entry = json_item(entry_for(catalog, item, item.modified))
    if item.is_partner_only:
        del entry["url"]
    else:
        entry["url"] = _with_utm(item.url, partner)
    entry["_newsroom"] = _extension(catalog, partner, item, translations)
    return entry


def _extension(catalog: Catalog, partner: Partner, item: NewsItem,
               translations: dict[str, list[NewsItem]]) -> dict:
    site = catalog.site
    others = [t for t in translations.get(item.translation_key or "", ()) if t.id != item.id]
    return {
        "topics": [{"key": t, "title": catalog.topics[t].title} for t in item.topics],
        "organizations": [
            {"slug": slug, "name": site.text(catalog.profiles[slug].name, item.lang),
             "url": url_of(site, organization_path(site, item.lang, slug))}
            for slug in item.organizations if slug in catalog.profiles
        ],
        "language": item.lang,
        "translations": {t.lang: {"id": t.id, "url": None if t.is_partner_only else t.url}
                         for t in others},
        "visibility": item.visibility,
        "canonical_url": item.canonical_url or (None if item.is_partner_only else item.url),
        "image": ({"url": item.image.url, "alt": item.image.alt, "media_type": item.image.media_type,
                   "length": item.image.length} if item.image else None),
        "attribution": site.attribution,
    }


def _with_utm(url: str, partner: Partner) -> str:
    if not partner.utm:
        return url
    params = {(k if k.startswith("utm_") else f"utm_{k}"): v for k, v in sorted(partner.utm.items())}
    scheme, netloc, path, query, fragment = urlsplit(url)
    query = "&".join(filter(None, [query, urlencode(params)]))
    return urlunsplit((scheme, netloc, path, query, fragment))


def _iso(when: datetime) -> str:
    return when.isoformat()
