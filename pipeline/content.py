"""Load the content folder: read every file (through the parse cache), then run the checks
that need more than one file, and resolve local images.

The result is a :class:`Content`: the good items and profiles plus every problem found,
so the CLI can report them all at once.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path

from .cache import ParseCache
from .config import Config, Site, Topic
from .model import Image, NewsItem, Problem, Profile
from .readers import parse_news, parse_profile

__all__ = ["Content", "load_content"]


@dataclass(frozen=True)
class Content:
    news: tuple[NewsItem, ...]
    profiles: dict[str, Profile]
    problems: tuple[Problem, ...] = ()
    media: dict[str, Path] = field(default_factory=dict)   # output path -> source file
    files_read: int = 0
    files_parsed: int = 0                                  # cache misses

    @property
    def bad_files(self) -> tuple[str, ...]:
        return tuple(sorted({p.path for p in self.problems}))


def load_content(config: Config, content_dir: Path | None = None,
                 use_cache: bool = True) -> Content:
    content_dir = (content_dir or config.paths.content).resolve()
    site = config.site
    cache = ParseCache.open(config.paths.state, site) if use_cache else ParseCache.disabled()
    news_files = sorted((content_dir / "news").rglob("*.md"))
    profile_files = sorted((content_dir / "profiles").glob("*.md"))

    results: dict[str, tuple[NewsItem | Profile | None, list[Problem]]] = {}
    for path in news_files + profile_files:
        rel = path.relative_to(content_dir).as_posix()
        reader = parse_news if rel.startswith("news/") else parse_profile
        raw = path.read_bytes()
        results[rel] = cache.get_or_read(rel, raw, lambda r=rel, b=raw, rd=reader: rd(r, b, site))
    cache.save()

    # the checks across files also run on files with problems of their own (all problems in
    # one pass), but a sound file claims a slug or id before a broken one
    problems = [p for _, found in results.values() for p in found]
    broken = {p.path for p in problems}
    parsed = [r for r, _ in results.values() if r is not None]
    all_profiles = [r for r in parsed if isinstance(r, Profile)]
    news = [r for r in parsed if isinstance(r, NewsItem)]
    profiles = _unique_profiles(all_profiles, broken, problems)
    problems += _check_profiles(all_profiles, config.topics)
    problems += _check_news(news, config.topics, profiles)
    problems += _check_unique_news(news, broken)
    media: dict[str, Path] = {}
    news = [_resolve_image(n, content_dir, site, media, problems) for n in news]
    profiles = {s: _resolve_logo(p, content_dir, site, media, problems) for s, p in profiles.items()}

    bad = {p.path for p in problems}
    shown = [_display(p, content_dir) for p in sorted(problems, key=lambda p: (p.path, p.line))]
    good_profiles = {s: p for s, p in sorted(profiles.items()) if p.source not in bad}
    return Content(
        news=tuple(_without_skipped_organizations(n, good_profiles) for n in news if n.source not in bad),
        profiles=good_profiles,
        problems=tuple(shown),
        media=media,
        files_read=len(results),
        files_parsed=cache.misses,
    )


def _without_skipped_organizations(item: NewsItem, profiles: dict[str, Profile]) -> NewsItem:
    """With --keep-going a broken profile is skipped; the items naming it stay, without it."""
    kept = tuple(o for o in item.organizations if o in profiles)
    return item if kept == item.organizations else replace(item, organizations=kept)


def _unique_profiles(profiles: list[Profile], broken: set[str],
                     problems: list[Problem]) -> dict[str, Profile]:
    by_slug: dict[str, Profile] = {}
    for profile in sorted(profiles, key=lambda p: (p.source in broken, p.source)):
        first = by_slug.get(profile.slug)
        if first:
            problems.append(Problem(profile.source, profile.line_of("slug"), "slug",
                                    f"{profile.slug!r} is also the slug of {first.source}"))
        else:
            by_slug[profile.slug] = profile
    return by_slug


def _check_profiles(profiles, topics: dict[str, Topic]) -> list[Problem]:
    return [
        Problem(p.source, p.line_of("topics"), "topics", f"unknown topic {t!r}")
        for p in profiles for t in p.topics if t not in topics
    ]


def _check_news(news: list[NewsItem], topics: dict[str, Topic],
                profiles: dict[str, Profile]) -> list[Problem]:
    problems = []
    for item in news:
        for topic in item.topics:
            if topic not in topics:
                problems.append(Problem(item.source, item.line_of("topics"), "topics",
                                        f"unknown topic {topic!r} (known: {', '.join(topics)})"))
        for org in item.organizations:
            if org not in profiles:
                problems.append(Problem(item.source, item.line_of("organizations"), "organizations",
                                        f"unknown organization {org!r}: no content/profiles/{org}.md"))
    return problems


def _check_unique_news(news: list[NewsItem], broken: set[str]) -> list[Problem]:
    """Slugs, ids and (translation_key, lang) pairs are unique; a clash names both files."""
    problems = []
    seen: dict[tuple[str, object], NewsItem] = {}
    for item in sorted(news, key=lambda n: (n.source in broken, n.source)):
        keys = [("slug", item.slug), ("id", item.id)]
        if item.translation_key:
            keys.append(("translation_key", (item.translation_key, item.lang)))
        for name, value in keys:
            first = seen.setdefault((name, value), item)
            if first is not item:
                if name == "id" and "id" not in item.lines and first.slug == item.slug:
                    continue   # a default id is the permalink: the slug clash says it all
                shown = value[0] if isinstance(value, tuple) else value
                what = f"in language {item.lang!r} " if name == "translation_key" else ""
                problems.append(Problem(item.source, item.line_of(name), name,
                                        f"{shown!r} {what}is also used by {first.source}"))
    return problems


def _resolve_image(item: NewsItem, content_dir: Path, site: Site, media: dict[str, Path],
                   problems: list[Problem]) -> NewsItem:
    image = _resolve(item.image, item.source, item.line_of("image"), "image", content_dir, site,
                     media, problems)
    return replace(item, image=image) if image is not item.image else item


def _resolve_logo(profile: Profile, content_dir: Path, site: Site, media: dict[str, Path],
                  problems: list[Problem]) -> Profile:
    logo = _resolve(profile.logo, profile.source, profile.line_of("logo"), "logo", content_dir,
                    site, media, problems)
    return replace(profile, logo=logo) if logo is not profile.logo else profile


def _resolve(image: Image | None, source: str, line: int, name: str, content_dir: Path,
             site: Site, media: dict[str, Path], problems: list[Problem]) -> Image | None:
    """Give an image its absolute URL; copy local files to media/ under a content hash."""
    if image is None:
        return None
    media_type = mimetypes.guess_type(image.src)[0]
    if image.src.startswith(("http://", "https://")):
        return replace(image, url=image.src, media_type=media_type)
    path = content_dir / image.src
    if not path.is_file():
        problems.append(Problem(source, line, f"{name}.src",
                                f"no such file: content/{image.src}"))
        return image
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()[:12]
    output_path = f"media/{digest}-{_url_safe_name(path.name)}"
    media[output_path] = path
    return replace(image, url=site.base_url + output_path, output_path=output_path,
                   media_type=media_type, length=len(data))


def _url_safe_name(name: str) -> str:
    """``Kuva äänestä 1.PNG`` -> ``kuva-aanesta-1.png``: lowercase ASCII letters, digits,
    '-' and '.', so pages, feeds and partner files can all use the URL as it is."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9.]+", "-", ascii_name.lower()).strip("-.") or "file"


def _display(problem: Problem, content_dir: Path) -> Problem:
    """Show the path as the user would type it: relative to the working directory if possible."""
    full = content_dir / problem.path
    try:
        shown = full.relative_to(Path.cwd())
    except ValueError:
        shown = full
    return replace(problem, path=str(shown))
