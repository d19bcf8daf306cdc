"""Visibility at an instant: drafts, embargoes and partner-only items never reach public files."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.archive import archive_editions
from pipeline.build import render_all
from pipeline.catalog import build_catalog, newest_first
from pipeline.content import Content
from pipeline.editions import EditionStore
from pipeline.messages import MessageFactory, Recipient
from pipeline.model import NewsItem
from pipeline.render.digest import DigestRenderer
from pipeline.statedb import open_database
from pipeline.templating import load_templates

from .conftest import NOW, SITE_TOML, Site

BASE = "https://news.example.org/"


def make_item(slug: str, date: datetime, **fields) -> NewsItem:
    defaults = dict(source=f"news/{slug}.md", slug=slug, id=f"{BASE}news/{slug}/",
                    url=f"{BASE}news/{slug}/", title=f"Title {slug}", date=date, lang="en",
                    summary=f"Summary {slug}", body_html=f"<p>Body {slug}</p>", topics=("neurological",))
    return NewsItem(**{**defaults, **fields})


def test_drafts_embargoes_and_partner_items_are_kept_out_of_the_public_catalog(site):
    config = site.config
    items = [
        make_item("public", NOW - timedelta(days=1)),
        make_item("draft", NOW - timedelta(days=1), status="draft"),
        make_item("embargoed", NOW + timedelta(minutes=1)),
        make_item("exactly-now", NOW),
        make_item("partners", NOW - timedelta(days=2), visibility="partners"),
        make_item("partner-draft", NOW - timedelta(days=2), visibility="partners", status="draft"),
    ]
    catalog = build_catalog(items, {}, config.site, config.topics, NOW)
    assert [i.slug for i in catalog.items] == ["exactly-now", "public"]
    assert [i.slug for i in catalog.partner_only] == ["partners"]
    assert [i.slug for i in catalog.by_topic["neurological"]] == ["exactly-now", "public"]
    assert catalog.updated == NOW


def test_order_is_date_descending_then_id_and_stable():
    same = NOW - timedelta(hours=1)
    items = [make_item("b", same), make_item("c", NOW - timedelta(days=3)), make_item("a", same),
             make_item("d", NOW)]
    assert [i.slug for i in newest_first(items)] == ["d", "a", "b", "c"]
    assert [i.slug for i in newest_first(reversed(items))] == ["d", "a", "b", "c"]


def test_indexes_by_language_topic_organization_and_translation(site):
    config = site.config
    en = make_item("en", NOW - timedelta(days=1), translation_key="k", organizations=("uef",))
    fi = make_item("fi", NOW - timedelta(days=2), lang="fi", translation_key="k", topics=("medtech",))
    hidden_fi = make_item("fi-later", NOW + timedelta(days=2), lang="fi", translation_key="k2")
    catalog = build_catalog([en, fi, hidden_fi], {}, config.site, config.topics, NOW)
    assert catalog.in_language("fi") == (fi,)
    assert catalog.by_organization == {"uef": (en,)}
    assert catalog.by_topic["medtech"] == (fi,)
    assert catalog.translations(en) == (fi,)
    assert catalog.translations(fi) == (en,)


def test_an_empty_catalog_has_no_updated_instant(site):
    config = site.config
    catalog = build_catalog([], {}, config.site, config.topics, NOW)
    assert catalog.items == () and catalog.updated is None


MONTHLY = """
[[newsletters]]
id = "monthly"
title = "Monthly"
lang = "en"
schedule = "0 12 28 * *"    # NOW is its instant: the edition covers the month before NOW
"""

_offsets = st.integers(min_value=-60 * 24 * 30, max_value=60 * 24 * 30).map(lambda m: timedelta(minutes=m))
_items = st.lists(
    st.tuples(_offsets, st.sampled_from(["published", "draft"]), st.sampled_from(["public", "partners"]),
              st.sampled_from(["en", "fi"]), st.booleans()),
    min_size=1, max_size=12,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=_items)
def test_no_hidden_item_ever_reaches_a_public_file(tmp_path_factory, specs):
    """Whatever mix of drafts, embargoes and partner-only items: no public output names
    them, digest archive and emails included."""
    site = Site(tmp_path_factory.mktemp("site"), SITE_TOML + MONTHLY)
    config = site.config
    items, hidden = [], []
    for n, (offset, status, visibility, lang, translated) in enumerate(specs):
        slug = f"item{n}"
        item = make_item(slug, NOW + offset, status=status, visibility=visibility, lang=lang,
                         title=f"Marker{n}x", summary=f"Marker{n}x summary",
                         translation_key="shared" if translated else None)
        items.append(item)
        if status == "draft" or item.date > NOW or visibility == "partners":
            hidden.append(item)
    catalog = build_catalog(items, {}, config.site, config.topics, NOW)
    content = Content(news=tuple(items), profiles={})
    store = EditionStore(open_database(f"sqlite:///{site.root / 'state.db'}"))
    archive = archive_editions(config, catalog, store, issue=False)
    output = render_all(catalog, config, content, archive=archive)
    public = {path: data for path, data in output.files.items()
              if not path.startswith("syndication/partners/")}
    [(newsletter, editions)] = archive.editions
    for edition in editions:
        renderer = DigestRenderer(config, catalog, load_templates(None), newsletter)
        factory = MessageFactory(config, renderer, edition, NOW, secret=None, preview=True)
        for n, topics in enumerate([(), ("medtech",), ("neurological",)]):
            message = factory.message(Recipient(str(n), "a@example.org", topics=topics))
            if message is not None:
                public[f"email {edition.id} {topics}"] = message.as_bytes()
    for path, data in public.items():
        text = data.decode("utf-8", "replace")
        for item in hidden:
            assert f"Marker{item.slug[4:]}x" not in text, f"{item.slug} leaked into {path}"
            assert f"news/{item.slug}/" not in text, f"{item.slug} linked from {path}"
