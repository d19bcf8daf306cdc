"""A deterministic synthetic corpus, written both as a Newsroom site and as a Pelican site.

``n`` items are ``n // 2`` stories, each in English and Finnish (translations of each
other), 300–600 words of Markdown (headings, lists, links, emphasis), one to three of
eight topics, one or two of twelve organizations, dates spread over five years. The
same seed always gives the same bytes, so every round and both tools see one corpus.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

__all__ = ["ORGANIZATIONS", "TOPICS", "Story", "stories", "write_newsroom_site", "write_pelican_site"]

TOPICS = {
    "metabolic": ("Metabolic diseases", "Aineenvaihduntasairaudet"),
    "cardiovascular": ("Heart and cardiovascular diseases", "Sydän- ja verisuonitaudit"),
    "neurological": ("Neurological diseases", "Neurologiset sairaudet"),
    "pharma": ("Pharmaceutical development", "Lääkekehitys"),
    "medtech": ("Medical technology", "Terveysteknologia"),
    "clinical-research": ("Clinical research", "Kliininen tutkimus"),
    "health-data": ("Health data", "Terveysdata"),
    "nutrition": ("Nutrition", "Ravitsemus"),
}

ORGANIZATIONS = {
    "uef": ("University of Eastern Finland", "Itä-Suomen yliopisto", "university"),
    "kuh": ("Kuopio University Hospital", "Kuopion yliopistollinen sairaala", "hospital"),
    "savonia": ("Savonia University of Applied Sciences", "Savonia-ammattikorkeakoulu", "university"),
    "city-of-kuopio": ("City of Kuopio", "Kuopion kaupunki", "public-sector"),
    "kuopiohealth": ("KuopioHealth", "KuopioHealth", "network"),
    "vtt": ("VTT Technical Research Centre", "Teknologian tutkimuskeskus VTT", "research-centre"),
    "neurocenter": ("Neurocenter Finland", "Neurocenter Finland", "research-centre"),
    "ge-healthcare": ("GE Healthcare Finland", "GE Healthcare Finland", "company"),
    "charles-river": ("Charles River Discovery", "Charles River Discovery", "company"),
    "finvector": ("FinVector", "FinVector", "company"),
    "biocenter-kuopio": ("Biocenter Kuopio", "Biocenter Kuopio", "research-centre"),
    "wellbeing-services": ("Wellbeing Services County of North Savo", "Pohjois-Savon hyvinvointialue",
                           "public-sector"),
}


def _words(text: str) -> list[str]:
    return text.split()


_EN = _words("research patients clinical study university hospital data cohort trial treatment "
             "disease heart brain memory diet metabolism imaging device startup company funding "
             "network laboratory analysis results population health doctors nurses training "
             "innovation product market early diagnosis risk factors samples genome biobank "
             "prevention care pathway service digital platform partners region Kuopio Finland "
             "new first large long term significant important growing shared open joint")
_FI = _words("tutkimus potilaat kliininen yliopisto sairaala aineisto kohortti koe hoito sairaus "
             "sydän aivot muisti ruokavalio aineenvaihdunta kuvantaminen laite yritys rahoitus "
             "verkosto laboratorio analyysi tulokset väestö terveys lääkärit hoitajat koulutus "
             "innovaatio tuote markkina varhainen diagnoosi riskitekijät näytteet perimä biopankki "
             "ennaltaehkäisy hoitopolku palvelu digitaalinen alusta kumppanit alue Kuopio Suomi "
             "uusi ensimmäinen suuri pitkäaikainen merkittävä tärkeä kasvava yhteinen avoin")
_AUTHORS = ("Aino Virtanen", "Juho Partanen", "Maria Korhonen", "Mikko Heikkinen", "Liisa Mäkinen",
            "Pekka Nieminen", "Sanna Laine", "Timo Hämäläinen")
_START = datetime(2021, 11, 1, 8, 0)
_SPAN_MINUTES = 5 * 365 * 24 * 60


@dataclass(frozen=True)
class Story:
    """One story in two languages: what both generators write from."""

    number: int
    slug: str
    date: datetime              # naive, in the site's time zone
    topics: tuple[str, ...]
    organizations: tuple[str, ...]
    authors: tuple[str, ...]
    title: dict[str, str]
    summary: dict[str, str]
    body: dict[str, str]        # Markdown


def stories(n_items: int, seed: int = 2026) -> list[Story]:
    """``n_items`` files' worth: ``n_items // 2`` two-language stories."""
    rng = random.Random(seed)
    return [_story(rng, number) for number in range(n_items // 2)]


def _story(rng: random.Random, number: int) -> Story:
    minutes = rng.randrange(_SPAN_MINUTES)
    date = _START + timedelta(minutes=minutes - minutes % 5)
    topics = tuple(rng.sample(sorted(TOPICS), rng.randint(1, 3)))
    organizations = tuple(rng.sample(sorted(ORGANIZATIONS), rng.randint(1, 2)))
    authors = tuple(rng.sample(_AUTHORS, rng.randint(1, 2)))
    words = rng.randint(300, 600)
    title, summary, body = {}, {}, {}
    for lang, vocabulary in (("en", _EN), ("fi", _FI)):
        title[lang] = _sentence(rng, vocabulary, 6, 10).rstrip(".") + f" {number}"
        summary[lang] = _sentence(rng, vocabulary, 18, 30)
        body[lang] = _markdown(rng, vocabulary, words, organizations)
    return Story(number, f"story-{number:05d}", date, topics, organizations, authors, title, summary,
                 body)


def _sentence(rng: random.Random, vocabulary: list[str], low: int, high: int) -> str:
    words = [rng.choice(vocabulary) for _ in range(rng.randint(low, high))]
    if rng.random() < 0.2:
        words[rng.randrange(len(words))] = f"*{rng.choice(vocabulary)}*"
    return " ".join(words).capitalize() + "."


def _markdown(rng: random.Random, vocabulary: list[str], words: int, organizations: tuple[str, ...]) -> str:
    blocks, written = [], 0
    while written < words:
        kind = rng.random()
        if kind < 0.1 and blocks and not blocks[-1].startswith("## "):
            blocks.append("## " + _sentence(rng, vocabulary, 3, 6).rstrip("."))
        elif kind < 0.2:
            items = [_sentence(rng, vocabulary, 4, 9) for _ in range(rng.randint(2, 4))]
            blocks.append("\n".join(f"- {item}" for item in items))
            written += sum(len(i.split()) for i in items)
        else:
            sentences = [_sentence(rng, vocabulary, 8, 18) for _ in range(rng.randint(2, 5))]
            if rng.random() < 0.3:
                org = rng.choice(organizations)
                sentences.append(f"Read more at [{ORGANIZATIONS[org][0]}](https://example.org/{org}/).")
            blocks.append(" ".join(sentences))
            written += sum(len(s.split()) for s in sentences)
    return "\n\n".join(blocks) + "\n"


def _write_stories(corpus: list[Story], path_of: Callable[[Story, str], Path],
                   render: Callable[[Story, str], str]) -> None:
    """Each story in both languages, as ``render`` writes it, at ``path_of(story, lang)``."""
    for story in corpus:
        for lang in ("en", "fi"):
            path = path_of(story, lang)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render(story, lang), encoding="utf-8")


# -- Newsroom --------------------------------------------------------------------------


def write_newsroom_site(site: Path, corpus: list[Story]) -> None:
    """A complete Newsroom site folder: newsroom.toml and content/ (the built-in templates)."""
    content = site / "content"
    (content / "profiles").mkdir(parents=True, exist_ok=True)
    (site / "newsroom.toml").write_text(_newsroom_toml(), encoding="utf-8")
    for slug, (en, fi, kind) in ORGANIZATIONS.items():
        (content / "profiles" / f"{slug}.md").write_text(_profile(slug, en, fi, kind), encoding="utf-8")
    _write_stories(corpus, lambda story, lang: (content / "news" / f"{story.date:%Y}" / f"{story.date:%m}"
                                                / f"{story.slug}-{lang}.md"), newsroom_item)


def newsroom_item(story: Story, lang: str, extra: str = "") -> str:
    return (
        "---\n"
        f"title: \"{story.title[lang]}\"\n"
        f"date: {story.date:%Y-%m-%dT%H:%M}\n"
        f"lang: {lang}\n"
        f"summary: \"{story.summary[lang]}\"\n"
        f"topics: [{', '.join(story.topics)}]\n"
        f"organizations: [{', '.join(story.organizations)}]\n"
        f"authors: [{', '.join(story.authors)}]\n"
        f"translation_key: {story.slug}\n"
        "---\n"
        f"{story.body[lang]}{extra}"
    )


def _newsroom_toml() -> str:
    topics = "\n".join(f'[topics.{key}]\ntitle = {{ en = "{en}", fi = "{fi}" }}\n'
                       for key, (en, fi) in TOPICS.items())
    return f"""[site]
title = {{ en = "Benchmark Health News", fi = "Vertailun terveysuutiset" }}
description = {{ en = "A synthetic corpus.", fi = "Synteettinen aineisto." }}
base_url = "https://news.example.org/"
timezone = "Europe/Helsinki"
languages = ["en", "fi"]
default_language = "en"
feed_items = 50

{topics}
[[partners]]
id = "city"
languages = ["fi", "en"]
max_items = 30

[[partners]]
id = "portal"
topics = ["neurological", "metabolic", "cardiovascular"]
languages = ["en"]
max_items = 20
"""


def _profile(slug: str, en: str, fi: str, kind: str) -> str:
    return (
        "---\n"
        f"name: {{en: \"{en}\", fi: \"{fi}\"}}\n"
        f"kind: {kind}\n"
        f"website: https://example.org/{slug}/\n"
        "city: Kuopio\n"
        f"summary: {{en: \"{en} in Kuopio.\", fi: \"{fi} Kuopiossa.\"}}\n"
        "---\n"
        f"{en} works in the Kuopio health-science ecosystem.\n"
    )


# -- Pelican ---------------------------------------------------------------------------


def write_pelican_site(site: Path, corpus: list[Story]) -> None:
    """The same stories as Pelican Markdown: category = first topic, tags = the other topics
    and the organizations, translations linked by a shared slug."""
    content = site / "content"
    _write_stories(corpus, lambda story, lang: (content / f"{story.date:%Y}" / f"{story.date:%m}"
                                                / f"{story.slug}-{lang}.md"), pelican_item)
    (site / "pelicanconf.py").write_text(PELICAN_SETTINGS, encoding="utf-8")


def pelican_item(story: Story, lang: str, extra: str = "") -> str:
    tags = list(story.topics[1:]) + list(story.organizations)
    return (
        f"Title: {story.title[lang]}\n"
        f"Date: {story.date:%Y-%m-%d %H:%M}\n"
        f"Category: {story.topics[0]}\n"
        f"Tags: {', '.join(tags)}\n"
        f"Authors: {', '.join(story.authors)}\n"
        f"Lang: {lang}\n"
        f"Slug: {story.slug}\n"
        f"Summary: {story.summary[lang]}\n"
        "\n"
        f"{story.body[lang]}{extra}"
    )


# What the issue asks of Pelican: RSS and Atom for everything, per category and per tag,
# 50 items per feed, caching on. Pagination stays at Pelican's default (none).
PELICAN_SETTINGS = """\
AUTHOR = "Benchmark"
SITENAME = "Benchmark Health News"
SITEURL = "https://news.example.org"
TIMEZONE = "Europe/Helsinki"
DEFAULT_LANG = "en"
PATH = "content"
FEED_DOMAIN = SITEURL
FEED_MAX_ITEMS = 50
FEED_ALL_ATOM = "feeds/all.atom.xml"
FEED_ALL_RSS = "feeds/all.rss.xml"
FEED_ATOM = "feeds/index.atom.xml"
FEED_RSS = "feeds/index.rss.xml"
CATEGORY_FEED_ATOM = "feeds/category/{slug}.atom.xml"
CATEGORY_FEED_RSS = "feeds/category/{slug}.rss.xml"
TAG_FEED_ATOM = "feeds/tag/{slug}.atom.xml"
TAG_FEED_RSS = "feeds/tag/{slug}.rss.xml"
AUTHOR_FEED_ATOM = None
AUTHOR_FEED_RSS = None
TRANSLATION_FEED_ATOM = "feeds/all-{lang}.atom.xml"
TRANSLATION_FEED_RSS = "feeds/all-{lang}.rss.xml"
CACHE_CONTENT = True
LOAD_CONTENT_CACHE = True
CONTENT_CACHING_LAYER = "reader"
CACHE_PATH = "cache"
DELETE_OUTPUT_DIRECTORY = False
RELATIVE_URLS = False
"""


# -- Hugo ------------------------------------------------------------------------------


def write_hugo_site(site: Path, corpus: list[Story]) -> None:
    """The same stories as a two-language Hugo site (translations by file name,
    ``story.fi.md``), with minimal layouts that make the kinds of files Newsroom makes:
    item pages, paginated lists for the home page, topics and organizations, and RSS and
    JSON Feed (50 items) for each of those, in each language."""
    content = site / "content" / "news"
    _write_stories(corpus, lambda story, lang: (content / f"{story.date:%Y}" / f"{story.date:%m}"
                                                / f"{story.slug}.{lang}.md"), hugo_item)
    (site / "hugo.toml").write_text(HUGO_CONFIG, encoding="utf-8")
    for name, text in HUGO_LAYOUTS.items():
        path = site / "layouts" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def hugo_item(story: Story, lang: str, extra: str = "") -> str:
    return (
        "---\n"
        f"title: \"{story.title[lang]}\"\n"
        f"date: {story.date:%Y-%m-%dT%H:%M:%S}+02:00\n"
        f"slug: {story.slug}-{lang}\n"
        f"summary: \"{story.summary[lang]}\"\n"
        f"topics: [{', '.join(story.topics)}]\n"
        f"organizations: [{', '.join(story.organizations)}]\n"
        f"authors: [{', '.join(story.authors)}]\n"
        "---\n"
        f"{story.body[lang]}{extra}"
    )


HUGO_CONFIG = """\
baseURL = "https://news.example.org/"
title = "Benchmark Health News"
defaultContentLanguage = "en"
timeZone = "Europe/Helsinki"
paginate = 50
rssLimit = 50
disableKinds = ["404"]

[languages.en]
languageName = "English"
weight = 1
[languages.fi]
languageName = "Suomi"
weight = 2

[taxonomies]
topic = "topics"
organization = "organizations"

[permalinks]
news = "/news/:slug/"

[mediaTypes."application/feed+json"]
suffixes = ["json"]

[outputFormats.JSONFeed]
mediaType = "application/feed+json"
baseName = "feed"
isPlainText = true

[outputs]
home = ["HTML", "RSS", "JSONFeed"]
section = ["HTML", "RSS", "JSONFeed"]
taxonomy = ["HTML"]
term = ["HTML", "RSS", "JSONFeed"]
"""

HUGO_LAYOUTS = {
    "_default/baseof.html": """<!doctype html>
<html lang="{{ .Site.Language.Lang }}"><head><meta charset="utf-8">
<title>{{ .Title }} – {{ .Site.Title }}</title>
{{ range .AlternativeOutputFormats -}}
<link rel="alternate" type="{{ .MediaType.Type }}" href="{{ .Permalink }}">{{ end }}
</head><body><main>{{ block "main" . }}{{ end }}</main></body></html>
""",
    "_default/single.html": """{{ define "main" }}<article><h1>{{ .Title }}</h1>
<p><time datetime="{{ .Date.Format "2006-01-02T15:04:05Z07:00" }}">{{ .Date.Format "2 January 2006" }}</time>
{{ with .Params.authors }} · {{ delimit . ", " }}{{ end }}</p>
<p>{{ range .GetTerms "topics" }}<a href="{{ .RelPermalink }}">{{ .LinkTitle }}</a> {{ end }}
{{ range .GetTerms "organizations" }}<a href="{{ .RelPermalink }}">{{ .LinkTitle }}</a> {{ end }}</p>
{{ .Content }}
{{ range .Translations }}<a href="{{ .RelPermalink }}" hreflang="{{ .Lang }}">{{ .Lang }}</a>{{ end }}
</article>{{ end }}
""",
    "_default/list.html": """{{ define "main" }}<h1>{{ .Title }}</h1>
{{ range .Paginator.Pages }}<article><h2><a href="{{ .RelPermalink }}">{{ .Title }}</a></h2>
<p>{{ .Date.Format "2 January 2006" }} – {{ .Summary }}</p></article>{{ end }}
{{ with .Paginator.Next }}<a href="{{ .URL }}">Older</a>{{ end }}{{ end }}
""",
    "_default/terms.html": """{{ define "main" }}<h1>{{ .Title }}</h1>
<ul>{{ range .Data.Terms.Alphabetical }}<li><a href="{{ .Page.RelPermalink }}">{{ .Page.Title }}</a>
({{ .Count }})</li>{{ end }}</ul>{{ end }}
""",
    "_default/list.jsonfeed.json": """{{- $pages := .Pages -}}
{{- if .IsHome }}{{ $pages = .Site.RegularPages -}}
{{- else if eq .Kind "section" }}{{ $pages = .RegularPagesRecursive }}{{ end -}}
{{- $items := slice -}}
{{- range first 50 $pages.ByDate.Reverse -}}
{{- $items = $items | append (dict "id" .Permalink "url" .Permalink "title" .Title
    "content_html" .Content "summary" .Summary "date_published" (.Date.Format "2006-01-02T15:04:05Z07:00")
    "language" .Lang "tags" .Params.topics) -}}
{{- end -}}
{{- dict "version" "https://jsonfeed.org/version/1.1" "title" .Title "home_page_url" .Permalink
    "feed_url" (printf "%sfeed.json" .Permalink) "language" .Lang "items" $items | jsonify -}}
""",
}
