"""HTML pages, so every permalink resolves: the front page, one page per news item and
one per organization, in each language.

Templates live in ``templates/pages/``; interface strings in ``templates/strings.toml``.
Dates are written in the page's language with Babel ("30. marraskuuta 2026").
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from functools import partial
from itertools import islice
from pathlib import Path

from babel.dates import format_date
from markupsafe import Markup

from ..catalog import Catalog, key_of
from ..media import email_rendition_path
from ..model import Image, NewsItem, Profile
from ..rebuild import Recall
from ..templating import Templates, load_templates
from ..urls import (
    FEED_FORMATS,
    FORMAT_LABELS,
    OPML_PATH,
    FeedRef,
    feeds_for_language,
    index_path,
    news_path,
    organization_path,
    url_of,
)
from . import FeedLink, Output, Share, Sink, emit, seo

__all__ = ["render"]

Renditions = Callable[[Image], "tuple[int, int] | None"]

FRONT_PAGE_ITEMS = 30
ORGANIZATION_PAGE_ITEMS = 20
_READ_AHEAD = 100   # item pages whose bodies are read from the parse cache together


def render(catalog: Catalog, templates: Path | None, sink: Sink | None = None,
           share: Share | None = None, cache_dir: Path | None = None,
           png_renditions: Renditions | None = None, recall: Recall | None = None) -> Sink:
    """Every page (or ``share`` of them), each keyed by the fingerprints of the items it shows.
    ``templates`` is the site's own folder, if it has one (see :mod:`pipeline.templating`).
    ``png_renditions``: the build publishes PNG renditions of the SVG pictures and logos
    that have a size (:func:`pipeline.media.email_rendition_path`), which link previews
    then show; the function gives an image's rendition's size (None: it has none). None:
    no renditions are published. ``recall``: a running process's previous plan, whose keys
    stand for the item pages that show no changed item (:mod:`pipeline.rebuild`)."""
    loaded = load_templates(templates, cache_dir)
    sink = Output() if sink is None else sink
    fp = catalog.item_fingerprint
    site = catalog.site
    count = len(catalog.items)
    position = {item.id: count - 1 - n for n, item in enumerate(catalog.items)} if share else {}
    previews = "png" if png_renditions else "no-png"   # cairosvg installed or removed: pages change
    kept, plan = _kept_keys(catalog, recall, previews), {}
    for lang in site.languages:
        page = _Pages(catalog, loaded, lang, png_renditions)
        wanted = []
        for item in catalog.in_language(lang):
            if share and not share.owns(position[item.id]):
                continue
            key = kept.get(item.id) or key_of(
                catalog.fingerprint, "item", item.id, catalog.family_fingerprint(item), previews,
                *[catalog.profile_fingerprint(slug) for slug in item.organizations])
            plan[item.id] = key
            if sink.wants(news_path(item.slug), key):
                wanted.append((item, key))
            else:
                sink.keep(news_path(item.slug), key)
        for start in range(0, len(wanted), _READ_AHEAD):
            batch = wanted[start:start + _READ_AHEAD]
            catalog.prefetch([item for item, _ in batch])
            for item, key in batch:
                sink.add(news_path(item.slug), page.item(item), None, key)
        if share and not share.owns(None):
            continue
        front = catalog.in_language(lang)[:FRONT_PAGE_ITEMS]
        emit(sink, index_path(site, lang),
             key_of(catalog.fingerprint, catalog.profiles_fingerprint, "front", lang, previews,
                    *[fp(i) for i in front]), page.front)
        for profile in catalog.profiles.values():
            shown = page.organization_items(profile)
            emit(sink, organization_path(site, lang, profile.slug),
                 key_of(catalog.fingerprint, catalog.profiles_fingerprint, "organization", lang,
                        profile.slug, previews,
                        *[fp(i) for i in shown]),
                 partial(page.organization, profile))
    if recall is not None and share is None:
        recall.plans["pages"] = (previews, plan)
    return sink


def _kept_keys(catalog: Catalog, recall: Recall | None, previews: str) -> dict[str, str]:
    """The previous build's keys of the item pages that show no changed item."""
    kept = recall.plan("pages") if recall else None
    if kept is None or kept[0] != previews:
        return {}
    keys = dict(kept[1])
    for item_id in recall.shown_with(catalog):
        keys.pop(item_id, None)
    return keys


class _Pages:
    """Renders the pages of one language."""

    def __init__(self, catalog: Catalog, templates: Templates, lang: str,
                 png_renditions: Renditions | None = None):
        self.catalog, self.templates, self.lang = catalog, templates, lang
        self.png_renditions = png_renditions
        self.site = catalog.site
        self.logo = seo.site_logo(self.site, lang)   # the preview of a page without a picture
        strings = templates.strings
        self.t = {**strings.get(self.site.default_language, {}), **strings.get(lang, {})}
        # 10,000 pages share a few thousand dates and a few dozen sets of feed links
        self._dates: dict[date, str] = {}
        self._links: dict[tuple[FeedRef, ...], list[FeedLink]] = {}

    def front(self) -> bytes:
        items = self.catalog.in_language(self.lang)[:FRONT_PAGE_ITEMS]
        versions = [(lang, url_of(self.site, index_path(self.site, lang))) for lang in self.site.languages]
        title = self.site.text(self.site.title, self.lang)
        social = self._social(title, self.site.text(self.site.description, self.lang) or title,
                              url_of(self.site, index_path(self.site, self.lang)), self.site.languages,
                              image=self.logo)
        return self._page("pages/index.html", index_path(self.site, self.lang), title=title,
                          items=items, feeds=self._feed_table(), social=social,
                          alternates=[v for v in versions if v[0] != self.lang],
                          hreflang=seo.hreflang(versions, self.site.default_language),
                          organizations=sorted(self.catalog.profiles.values(),
                                               key=lambda p: self._name(p).casefold()))

    def item(self, item: NewsItem) -> bytes:
        translations = self.catalog.translations(item)
        head_feeds = [FeedRef("index", item.lang, None)]
        head_feeds += [FeedRef("topic", item.lang, t) for t in item.topics]
        canonical = item.canonical_url or item.url
        png = self._png(item.image)
        social = self._social(item.title, item.summary, canonical, [t.lang for t in translations],
                              "article", seo.social_image(item.image, png, fallback=self.logo))
        mentions = [seo.mentioned(self.catalog.profiles[slug], self._org_name(slug), self._org_url(slug))
                    for slug in item.organizations if slug in self.catalog.profiles]
        data = seo.news_article(item, self.site, [self._topic_title(t) for t in item.topics], mentions, png)
        # hreflang: none on a page that names another URL to index, nor to one (as the sitemap)
        versions = [] if item.canonical_url else [(item.lang, item.url)] + [
            (t.lang, t.url) for t in translations if not t.canonical_url]
        return self._page("pages/item.html", news_path(item.slug), title=item.title, item=item,
                          canonical=canonical, body=self.catalog.body(item),
                          alternates=[(t.lang, t.url) for t in translations],
                          hreflang=seo.hreflang(versions, self.site.default_language),
                          translations=translations, head_feeds=head_feeds, social=social,
                          structured_data=seo.json_ld(data))

    def organization_items(self, profile: Profile) -> list[NewsItem]:
        items = (i for i in self.catalog.by_organization.get(profile.slug, ()) if i.lang == self.lang)
        return list(islice(items, ORGANIZATION_PAGE_ITEMS))

    def organization(self, profile: Profile) -> bytes:
        path = organization_path(self.site, self.lang, profile.slug)
        versions = [(lang, url_of(self.site, organization_path(self.site, lang, profile.slug)))
                    for lang in self.site.languages]
        name, url = self._name(profile), url_of(self.site, path)
        summary = profile.summary.get(self.lang)
        social = self._social(name, summary or name, url, self.site.languages, image=seo.social_image(
            profile.logo, self._png(profile.logo), large=False, fallback=self.logo))
        data = seo.organization(profile, name, url, summary, self.lang)
        return self._page("pages/organization.html", path, title=name,
                          profile=profile, items=self.organization_items(profile),
                          alternates=[v for v in versions if v[0] != self.lang],
                          hreflang=seo.hreflang(versions, self.site.default_language),
                          social=social, structured_data=seo.json_ld(data),
                          head_feeds=[FeedRef("organization", self.lang, profile.slug)])

    # -- shared context ---------------------------------------------------------

    def _page(self, template: str, path: str, **context) -> bytes:
        context.setdefault("canonical", url_of(self.site, path))
        context.setdefault("alternates", [])
        context.setdefault("hreflang", ())
        context.setdefault("head_feeds", [FeedRef("index", self.lang, None)])
        context.setdefault("structured_data", None)
        # "up" (../../) is what the templates' relative and relative_html filters link with
        html = self.templates.render(template, up="../" * path.count("/"),
            lang=self.lang, t=self.t, site=self.site, site_title=self.site.text(self.site.title, self.lang),
            home=url_of(self.site, index_path(self.site, self.lang)),
            date=self._date, name=self._name, topic_title=self._topic_title,
            org_url=self._org_url, org_name=self._org_name, feed_links=self._feed_links,
            lang_attr=self._lang_attr, name_lang=self._name_lang, org_lang=self._org_lang,
            topic_lang=self._topic_lang, **context,
        )
        return html.encode("utf-8")

    def _social(self, title: str, description: str, url: str, langs, kind: str = "website",
                image: seo.SocialImage | None = None) -> seo.Social:
        return seo.Social(title=title, description=description, url=url,
                          site_name=self.site.text(self.site.title, self.lang), lang=self.lang,
                          alternate_langs=tuple(langs), type=kind, image=image)

    def _png(self, image: Image | None) -> seo.PngRendition | None:
        """The published PNG rendition of an SVG ``image``, if it has one."""
        if (self.png_renditions is None or image is None or not image.output_path
                or image.media_type != seo.SVG):
            return None
        size = self.png_renditions(image)
        if size is None:
            return None
        return seo.PngRendition(url_of(self.site, email_rendition_path(image.output_path)), *size)

    # Language of parts: a text shown in another language than the page's (a name or a
    # description that exists only in another language) carries its own lang attribute.

    def _lang_attr(self, values: dict[str, str]) -> Markup:
        """`` lang="fi"`` if :meth:`Site.text` shows ``values`` in another language, else nothing."""
        if values.get(self.lang) or not values:
            return Markup("")
        shown = self.site.default_language if values.get(self.site.default_language) else next(iter(values))
        return Markup(' lang="%s"') % shown if shown != self.lang else Markup("")

    def _name_lang(self, profile: Profile) -> Markup:
        return self._lang_attr(profile.name)

    def _org_lang(self, slug: str) -> Markup:
        return self._lang_attr(self.catalog.profiles[slug].name)

    def _topic_lang(self, key: str) -> Markup:
        return self._lang_attr(self.catalog.topics[key].title)

    def _date(self, when: datetime) -> str:
        day = when.astimezone(self.site.timezone).date()   # items have times: cache by the day
        text = self._dates.get(day)
        if text is None:
            text = self._dates[day] = format_date(day, "long", locale=self.lang)
        return text

    def _name(self, profile: Profile) -> str:
        return self.site.text(profile.name, self.lang)

    def _topic_title(self, key: str) -> str:
        return self.site.text(self.catalog.topics[key].title, self.lang)

    def _org_name(self, slug: str) -> str:
        return self._name(self.catalog.profiles[slug])

    def _org_url(self, slug: str) -> str:
        return url_of(self.site, organization_path(self.site, self.lang, slug))

    def _feed_title(self, ref: FeedRef) -> str:
        if ref.kind == "all":
            return self.t["feed_all"]
        if ref.kind == "index":
            return self.t["feed_index"]
        if ref.kind == "topic":
            return self._topic_title(ref.key)
        return self._name(self.catalog.profiles[ref.key])

    def _feed_links(self, refs: list[FeedRef]) -> list[FeedLink]:
        """`<link rel="alternate">` entries for a page's head."""
        key = tuple(refs)
        links = self._links.get(key)
        if links is None:
            site_title = self.site.text(self.site.title, self.lang)
            links = self._links[key] = [
                FeedLink(url_of(self.site, ref.path(fmt)), media_type,
                         f"{site_title}: {self._feed_title(ref)} ({FORMAT_LABELS[fmt]})")
                for ref in refs for fmt, media_type in FEED_FORMATS.items()]
        return links

    def _feed_table(self) -> list[dict]:
        """Every feed, grouped for the front page: all languages, this language, topics, organizations."""
        refs = [FeedRef("all", None, None)]
        refs += feeds_for_language(self.lang, self.catalog.topics, self.catalog.profiles)
        groups: dict[str, list] = {}
        for ref in refs:
            group = {"all": "feeds_general", "index": "feeds_general", "topic": "feeds_topics",
                     "organization": "feeds_organizations"}[ref.kind]
            groups.setdefault(group, []).append({
                "title": self._feed_title(ref),
                "links": [(FORMAT_LABELS[fmt], url_of(self.site, ref.path(fmt))) for fmt in FEED_FORMATS],
            })
        return [{"heading": self.t[g], "feeds": feeds} for g, feeds in groups.items()] + [
            {"heading": self.t["feeds_opml"], "feeds": [
                {"title": self.t["opml"], "links": [("OPML", url_of(self.site, OPML_PATH))]}]}
        ]
