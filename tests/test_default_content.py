"""The shipped Kuopio content: complete, bilingual and valid."""

from __future__ import annotations

from collections import Counter

import pytest

from pipeline.catalog import build_catalog
from pipeline.config import load_config
from pipeline.content import load_content

from .conftest import NOW, ROOT

ACTORS = {"neurocenter-finland", "uef", "kuh", "savonia", "city-of-kuopio", "kuopiohealth", "vtt",
          "ge-healthcare", "charles-river", "finvector"}


@pytest.fixture(scope="module")
def shipped():
    config = load_config(ROOT / "newsroom.toml")
    return config, load_content(config, use_cache=False)


def test_shipped_content_has_no_problems(shipped):
    _, content = shipped
    assert content.problems == ()


def test_every_actor_has_a_profile_in_english_and_finnish(shipped):
    _, content = shipped
    assert set(content.profiles) == ACTORS
    for profile in content.profiles.values():
        assert set(profile.name) == {"en", "fi"}, profile.slug
        assert set(profile.description_html) == {"en", "fi"}, profile.slug
        assert set(profile.summary) == {"en", "fi"}, profile.slug


def test_research_areas_are_topics_with_both_titles(shipped):
    config, _ = shipped
    assert {"metabolic", "cardiovascular", "neurological", "pharma", "medtech", "clinical-research",
            "health-data"} <= set(config.topics)
    for topic in config.topics.values():
        assert set(topic.title) == {"en", "fi"}


def test_example_news_cover_both_languages_every_topic_and_the_visibility_rules(shipped):
    config, content = shipped
    assert len(content.news) >= 30
    half = len(content.news) // 2
    assert Counter(i.lang for i in content.news) == {"en": half, "fi": half}
    assert {t for i in content.news for t in i.topics} == set(config.topics)
    assert {o for i in content.news for o in i.organizations} == ACTORS
    assert any(i.status == "draft" for i in content.news)
    assert any(i.visibility == "partners" for i in content.news)
    assert any(i.updated for i in content.news)
    catalog = build_catalog(content.news, content.profiles, config.site, config.topics, NOW)
    assert any(i.date > NOW for i in content.news), "one example should be embargoed"
    assert len(catalog.items) < len(content.news)
