"""``newsroom init``: a new site folder that builds at once with the built-in templates."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .config import KNOWN_LANGUAGES, ConfigError, load_config

__all__ = ["init_site"]

_LANGUAGE_NAMES = {"en": "English", "fi": "Finnish", "sv": "Swedish"}
_EXAMPLE_TOPIC = {"en": "Research", "fi": "Tutkimus", "sv": "Forskning"}


def init_site(folder: Path, title: str, base_url: str, languages: tuple[str, ...], timezone: str,
              now: datetime) -> list[Path]:
    """Write a commented newsroom.toml, one news item and one profile into ``folder``
    (missing or empty); return the files written. Raises :class:`ConfigError`."""
    _check(folder, title, base_url, languages, timezone)
    base_url = base_url.rstrip("/") + "/"
    today = now.astimezone(ZoneInfo(timezone)).replace(microsecond=0)
    files = {
        "newsroom.toml": _toml(title, base_url, languages, timezone),
        f"content/news/{today:%Y}/welcome.md": _news(languages[0], today),
        "content/profiles/example-organization.md": _profile(languages),
    }
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    load_config(folder / "newsroom.toml")   # what was written must load
    return written


def _check(folder: Path, title: str, base_url: str, languages: tuple[str, ...], timezone: str) -> None:
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ConfigError(f"{folder} is not an empty folder; newsroom init writes a new site "
                          "into a missing or empty one")
    if not title.strip() or '"' in title or "\\" in title or "\n" in title:
        raise ConfigError("--title: give a title without quotes, backslashes or line breaks")
    if not re.fullmatch(r"https?://[^/\s\"\\]+(?:/[^\s\"\\]*)?", base_url):
        raise ConfigError(f"--base-url: {base_url!r} is not an absolute http(s) URL")
    if not languages or len(set(languages)) != len(languages):
        raise ConfigError("--languages: list each language once, e.g. en,fi")
    for lang in languages:
        if lang not in KNOWN_LANGUAGES:
            raise ConfigError(f"--languages: unsupported language {lang!r} "
                              f"(supported: {', '.join(sorted(KNOWN_LANGUAGES))})")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"--timezone: unknown time zone {timezone!r} (e.g. Europe/Helsinki)") from None


def _localized(values: dict[str, str], languages: tuple[str, ...]) -> str:
    return "{ " + ", ".join(f'{lang} = "{values[lang]}"' for lang in languages) + " }"


def _toml(title: str, base_url: str, languages: tuple[str, ...], timezone: str) -> str:
    names = ", ".join(_LANGUAGE_NAMES[lang] for lang in languages)
    langs = ", ".join(f'"{lang}"' for lang in languages)
    return f'''# Newsroom site configuration. Paths are relative to this file's folder.
# Reference: the README of Newsroom ("Configuration: newsroom.toml").
# Secrets (NEWSROOM_SECRET, NEWSROOM_SMTP_URL, NEWSROOM_DB_URL) come from the environment only.

[site]
title = {_localized(dict.fromkeys(languages, title), languages)}
description = {_localized(dict.fromkeys(languages, title), languages)}
# Where output/ is served; feeds, partner files and canonical links use it.
base_url = "{base_url}"
# Dates without an offset are in this zone; it also sets newsletter schedules.
timezone = "{timezone}"
# The languages of the site ({names}); the first is the default.
languages = [{langs}]
feed_items = 50               # items per feed; older ones go to RFC 5005 archive pages
websub_hubs = []              # WebSub hubs to name in every feed

# [paths]                     # the defaults; a templates/ folder, if present, overrides
# content = "content"         # the built-in templates file by file
# output = "output"
# state = "state"

# Topics: every news item names one or more of these keys.
[topics.research]
title = {_localized(_EXAMPLE_TOPIC, languages)}

# Partner websites that pull a JSON Feed of their own (syndication/partners/<id>.json):
# [[partners]]
# id = "city"
# topics = ["research"]       # empty or absent: every topic
# languages = ["{languages[0]}"]
# max_items = 20

# Bounds on untrusted content, in bytes:
# [limits]
# content_file_bytes = 1_000_000
# media_file_bytes = 10_000_000
'''


def _news(lang: str, today: datetime) -> str:
    texts = {
        "en": ("Welcome to your news site", "This is an example news item. Edit it, or add your own "
               "Markdown files under content/news/, then run `newsroom build`."),
        "fi": ("Tervetuloa uutissivustollesi", "Tämä on esimerkkiuutinen. Muokkaa sitä tai lisää omia "
               "Markdown-tiedostoja kansioon content/news/ ja aja `newsroom build`."),
        "sv": ("Välkommen till din nyhetssajt", "Det här är en exempelnyhet. Redigera den eller lägg "
               "till egna Markdown-filer i content/news/ och kör `newsroom build`."),
    }
    title, body = texts[lang]
    return f"""---
title: {title}
date: {today.isoformat()}
lang: {lang}
topics: [research]
organizations: [example-organization]
---
{body}
"""


def _profile(languages: tuple[str, ...]) -> str:
    names = {"en": "Example Organization", "fi": "Esimerkkiorganisaatio", "sv": "Exempelorganisation"}
    about = {"en": "Describe the organization here.", "fi": "Kuvaile organisaatiota tässä.",
             "sv": "Beskriv organisationen här."}
    return f"""---
name: {_yaml_localized(names, languages)}
kind: network
topics: [research]
description: {_yaml_localized(about, languages)}
---
"""


def _yaml_localized(values: dict[str, str], languages: tuple[str, ...]) -> str:
    return "{" + ", ".join(f"{lang}: {values[lang]}" for lang in languages) + "}"
