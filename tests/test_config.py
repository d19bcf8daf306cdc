"""newsroom.toml: typed, frozen, strict (unknown keys and wrong types name the key), paths
relative to the file, secrets only from the environment."""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path

import pytest

from pipeline.config import Config, ConfigError, Delivery, load_config, secret

ROOT = Path(__file__).resolve().parent.parent

MINIMAL = """\
[site]
title = { en = "Test News", fi = "Testiuutiset" }
base_url = "https://news.example.org"
timezone = "Europe/Helsinki"
languages = ["en", "fi"]

[topics.neurological]
title = { en = "Neurological diseases", fi = "Neurologiset sairaudet" }

[topics.medtech]
title = "Medtech"
"""

PARTNER = """
[[partners]]
id = "savonia"
topics = ["medtech"]
languages = ["fi", "en"]
max_items = 20
include_partner_only = true
webhook_url = "https://partner.example.org/hook"
"""

NEWSLETTER = """
[[newsletters]]
id = "weekly-en"
title = "Weekly"
lang = "en"
topics = []
schedule = "0 8 * * mon"
"""

SOURCE = """
[[sources]]
id = "uef"
url = "https://www.uef.fi/feed"
organization = "uef"
topics = ["neurological"]
publish = "published"
"""

DELIVERY = """
[delivery]
method = "smtp"
from = "Newsroom <news@example.org>"
rate_per_second = 5
"""

PATHS = """
[paths]
content = "my-content"
"""

FULL = MINIMAL + PARTNER + NEWSLETTER + SOURCE + DELIVERY + PATHS


def write(tmp_path: Path, text: str, name: str = "newsroom.toml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def config_error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: "), message   # every error names the file first
    return message.removeprefix(f"{path}: ")


# -- what loads -------------------------------------------------------------------


def test_the_shipped_configuration_loads():
    config = load_config(ROOT / "newsroom.toml")
    assert isinstance(config, Config)
    assert config.path == ROOT / "newsroom.toml"
    assert config.site.base_url == "https://news.kuopiohealth.example/"
    assert str(config.site.timezone) == "Europe/Helsinki"
    assert config.site.languages == ("en", "fi")
    assert config.site.default_language == "en"
    assert set(config.topics) == {"metabolic", "cardiovascular", "neurological", "pharma", "medtech",
                                  "clinical-research", "health-data"}
    for topic in config.topics.values():
        assert set(topic.title) == {"en", "fi"} and all(topic.title.values())
    assert config.paths.content == ROOT / "content"
    assert config.paths.templates is None          # the built-in templates
    assert config.paths.output == ROOT / "output"
    assert config.paths.state == ROOT / "state"


def test_a_full_configuration_is_typed(tmp_path):
    config = load_config(write(tmp_path, FULL))
    assert config.site.base_url == "https://news.example.org/"       # one trailing slash added
    assert config.site.title == {"en": "Test News", "fi": "Testiuutiset"}
    assert config.site.feed_items == 50 and config.site.websub_hubs == ()
    assert config.topics["medtech"].title == {"en": "Medtech", "fi": "Medtech"}   # one text: all languages
    [partner] = config.partners
    assert (partner.id, partner.topics, partner.languages, partner.max_items) == \
        ("savonia", ("medtech",), ("fi", "en"), 20)
    assert partner.include_partner_only is True
    assert partner.webhook_url == "https://partner.example.org/hook"
    [newsletter] = config.newsletters
    assert (newsletter.id, newsletter.lang, newsletter.topics, newsletter.schedule) == \
        ("weekly-en", "en", (), "0 8 * * mon")
    [source] = config.sources
    assert (source.id, source.organization, source.topics, source.publish) == \
        ("uef", "uef", ("neurological",), "published")
    assert config.delivery == Delivery(method="smtp", sender="Newsroom <news@example.org>",
                                       rate_per_second=5.0)


def test_defaults_when_optional_sections_are_absent(tmp_path):
    config = load_config(write(tmp_path, MINIMAL))
    assert config.partners == () and config.newsletters == () and config.sources == ()
    assert config.delivery == Delivery()
    assert config.site.default_language == "en"            # the first of site.languages
    assert config.paths.content == tmp_path / "content"


def test_the_objects_are_frozen(tmp_path):
    config = load_config(write(tmp_path, FULL))
    for obj, attr in ((config, "site"), (config.site, "base_url"), (config.partners[0], "id"),
                      (config.paths, "content"), (config.delivery, "method")):
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(obj, attr, None)


# -- unknown keys -----------------------------------------------------------------


@pytest.mark.parametrize(("text", "key"), [
    ("colour = 'blue'\n" + FULL, "colour"),
    (FULL.replace("[site]\n", "[site]\ntagline = 'x'\n"), "site.tagline"),
    (FULL.replace('title = "Medtech"\n', 'title = "Medtech"\ncolor = "red"\n'), "topics.medtech.color"),
    (FULL.replace("max_items = 20\n", "max_items = 20\nsecret = 'hunter2'\n"), "partners[0].secret"),
    (FULL + PARTNER.replace('"savonia"', '"uef"') + "extra = 1\n", "partners[1].extra"),
    (FULL.replace('schedule = "0 8 * * mon"\n', 'schedule = "0 8 * * mon"\nsubject = "x"\n'),
     "newsletters[0].subject"),
    (FULL.replace('publish = "published"\n', 'publish = "published"\ninterval = 5\n'), "sources[0].interval"),
    (FULL.replace("rate_per_second = 5\n", "rate_per_second = 5\npassword = 'x'\n"), "delivery.password"),
    (FULL.replace('content = "my-content"\n', 'content = "my-content"\ncache = "c"\n'), "paths.cache"),
])
def test_an_unknown_key_anywhere_is_an_error_naming_it(tmp_path, text, key):
    assert config_error(tmp_path, text) == f"{key}: unknown key"


# -- wrong types ------------------------------------------------------------------


@pytest.mark.parametrize(("old", "new", "message"), [
    ('languages = ["en", "fi"]', 'languages = "en"', "site.languages: expected a list of strings"),
    ('base_url = "https://news.example.org"', "base_url = 5", "site.base_url: expected a string"),
    ('timezone = "Europe/Helsinki"', "timezone = 2", "site.timezone: expected a string"),
    ('languages = ["en", "fi"]', 'languages = ["en", "fi"]\nfeed_items = "50"',
     "site.feed_items: expected an integer"),
    ('languages = ["en", "fi"]', 'languages = ["en", "fi"]\nfeed_items = true',
     "site.feed_items: expected an integer"),
    ('languages = ["en", "fi"]', 'languages = ["en", "fi"]\nwebsub_hubs = "https://hub.example"',
     "site.websub_hubs: expected a list of strings"),
    ('title = { en = "Test News", fi = "Testiuutiset" }', "title = 5", "site.title: expected a table"),
    ('title = { en = "Test News", fi = "Testiuutiset" }', 'title = { en = 5 }',
     "site.title.en: expected a string"),
    ('title = "Medtech"', "title = ['Medtech']", "topics.medtech.title: expected a table"),
    ("max_items = 20", 'max_items = "20"', "partners[0].max_items: expected an integer"),
    ("include_partner_only = true", 'include_partner_only = "yes"',
     "partners[0].include_partner_only: expected true or false"),
    ('topics = ["medtech"]', 'topics = "medtech"', "partners[0].topics: expected a list of strings"),
    ('webhook_url = "https://partner.example.org/hook"', "webhook_url = 1",
     "partners[0].webhook_url: expected a string"),
    ('schedule = "0 8 * * mon"', "schedule = 8", "newsletters[0].schedule: expected a string"),
    ('url = "https://www.uef.fi/feed"', "url = true", "sources[0].url: expected a string"),
    ("rate_per_second = 5", 'rate_per_second = "fast"',
     "delivery.rate_per_second: expected a positive number"),
    ("rate_per_second = 5", "rate_per_second = true", "delivery.rate_per_second: expected a positive number"),
    ('content = "my-content"', "content = 1", "paths.content: expected a string"),
])
def test_a_wrong_type_is_an_error_naming_the_key(tmp_path, old, new, message):
    assert old in FULL
    assert config_error(tmp_path, FULL.replace(old, new, 1)) == message


@pytest.mark.parametrize(("text", "message"), [
    (MINIMAL + "[[partners]]\nid = 'a'\nmax_items = 0\n", "partners[0].max_items: must be at least 1"),
    (MINIMAL + "[[partners]]\nid = 'a'\nmax_items = -5\n", "partners[0].max_items: must be at least 1"),
    (MINIMAL + "[[partners]]\nid = 'a'\n[[partners]]\nid = 'b'\n[[partners]]\nid = 'a'\n",
     "partners[2].id: 'a' is also the id of partners[0]"),
    (MINIMAL + NEWSLETTER + NEWSLETTER, "newsletters[1].id: 'weekly-en' is also the id of newsletters[0]"),
    (MINIMAL + SOURCE + SOURCE, "sources[1].id: 'uef' is also the id of sources[0]"),
    ("partners = { id = 'x' }\n" + MINIMAL, "partners: expected an array of tables ([[partners]])"),
    ("partners = [1]\n" + MINIMAL, "partners[0]: expected a table"),
    (MINIMAL + "[[partners]]\ntopics = []\n", "partners[0].id: missing"),
    (MINIMAL + "[[partners]]\nid = 'Savonia Oy'\n",
     "partners[0].id: 'Savonia Oy' must be lowercase letters, digits, - and _ (at most 64)"),
    (MINIMAL + "[[partners]]\nid = 'a'\ntopics = ['cooking']\n",
     "partners[0].topics: unknown topic 'cooking'"),
    (MINIMAL + "[[partners]]\nid = 'a'\nlanguages = ['sv']\n",
     "partners[0].languages: 'sv' is not in site.languages"),
    (MINIMAL + NEWSLETTER.replace('lang = "en"', 'lang = "de"'),
     "newsletters[0].lang: 'de' is not in site.languages"),
    (MINIMAL + SOURCE.replace('"published"', '"now"'), "sources[0].publish: expected 'draft' or 'published'"),
    (MINIMAL + DELIVERY.replace('"smtp"', '"pigeon"'), "delivery.method: expected 'outbox' or 'smtp'"),
    (MINIMAL + DELIVERY.replace("= 5", "= 0"), "delivery.rate_per_second: expected a positive number"),
    (MINIMAL.replace("[site]", "[other]"), "other: unknown key"),
    (MINIMAL.split("[topics.neurological]")[0], "topics: define at least one topic"),
    (MINIMAL + "[topics.Bad]\ntitle = 'x'\n",
     "topics.Bad: a topic key is lowercase letters, digits, - and _ (at most 64)"),
    (MINIMAL + "[topics.x]\n", "topics.x.title: missing"),
    (MINIMAL.replace('base_url = "https://news.example.org"\n', ""), "site.base_url: missing"),
    (MINIMAL.replace("https://news.example.org", "news.example.org"),
     "site.base_url: expected an absolute http(s) URL"),
    (MINIMAL.replace('languages = ["en", "fi"]', "languages = []"),
     "site.languages: list at least one language"),
    (MINIMAL.replace('languages = ["en", "fi"]', 'languages = ["en", "de"]'),
     "site.languages: unsupported language 'de'"),
    (MINIMAL.replace("[site]\n", "[site]\nfeed_items = 0\n"), "site.feed_items: must be at least 1"),
    (MINIMAL.replace('title = { en = "Test News", fi = "Testiuutiset" }', 'title = { en = "x", sv = "y" }'),
     "site.title.sv: language not in site.languages"),
])
def test_invalid_values_are_errors_naming_the_key(tmp_path, text, message):
    assert config_error(tmp_path, text) == message


def test_unknown_time_zone(tmp_path):
    text = MINIMAL.replace("Europe/Helsinki", "Europe/Kuopio")
    assert config_error(tmp_path, text) == "site.timezone: unknown time zone 'Europe/Kuopio'"
    text = MINIMAL.replace("Europe/Helsinki", "../../etc/passwd")
    assert config_error(tmp_path, text) == "site.timezone: unknown time zone '../../etc/passwd'"


def test_default_language_must_be_one_of_the_languages(tmp_path):
    text = MINIMAL.replace("[site]\n", '[site]\ndefault_language = "sv"\n')
    assert config_error(tmp_path, text) == "site.default_language: 'sv' is not in site.languages"
    config = load_config(write(tmp_path, MINIMAL.replace("[site]\n", '[site]\ndefault_language = "fi"\n')))
    assert config.site.default_language == "fi"


# -- the file itself ----------------------------------------------------------------


def test_a_missing_file(tmp_path):
    path = tmp_path / "nowhere" / "newsroom.toml"
    with pytest.raises(ConfigError, match=re.escape(f"{path}: no such configuration file")):
        load_config(path)


def test_a_folder_instead_of_a_file(tmp_path):
    with pytest.raises(ConfigError, match=re.escape(f"{tmp_path}: cannot read")):
        load_config(tmp_path)


def test_a_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "newsroom.toml"
    path.write_bytes(MINIMAL.replace("Testiuutiset", "Testiuutiset \xe4").encode("latin-1"))
    with pytest.raises(ConfigError, match=re.escape(f"{path}: not valid UTF-8 text")):
        load_config(path)


def test_a_toml_syntax_error_names_the_line(tmp_path):
    message = config_error(tmp_path, MINIMAL.replace('timezone = "Europe/Helsinki"', "timezone Europe"))
    assert "line 4" in message, message


def test_the_section_site_is_required(tmp_path):
    assert config_error(tmp_path, "[topics.x]\ntitle = 'x'\n") == "site: missing section"


# -- paths --------------------------------------------------------------------------


def test_relative_paths_resolve_against_the_folder_of_the_file(tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    text = MINIMAL + '[paths]\ncontent = "my-content"\ntemplates = "../shared/templates"\n' \
                     f'output = "{tmp_path / "abs-output"}"\n'
    path = write(tmp_path, text, "site/newsroom.toml")
    (tmp_path / "shared" / "templates").mkdir(parents=True)
    config = load_config(os.path.relpath(path))        # a relative --config is fine too
    assert config.path == path
    assert config.paths.content == tmp_path / "site" / "my-content"
    assert config.paths.templates == tmp_path / "shared" / "templates"
    assert config.paths.output == tmp_path / "abs-output"          # absolute stays
    assert config.paths.state == tmp_path / "site" / "state"       # default: beside the file
    for p in (config.paths.content, config.paths.templates, config.paths.output, config.paths.state):
        assert p.is_absolute()


# -- secrets ------------------------------------------------------------------------


@pytest.mark.parametrize(("section", "key"), [
    ("site", "secret"),
    ("delivery", "smtp_url"),
    ("delivery", "password"),
])
def test_secrets_cannot_be_put_in_the_file(tmp_path, section, key):
    text = MINIMAL + f"[{section}]\n" if section != "site" else MINIMAL
    text = text.replace(f"[{section}]\n", f'[{section}]\n{key} = "hunter2"\n', 1)
    assert config_error(tmp_path, text) == f"{section}.{key}: unknown key"


def test_a_partner_webhook_secret_cannot_be_put_in_the_file(tmp_path):
    text = MINIMAL + PARTNER + 'webhook_secret = "hunter2"\n'
    assert config_error(tmp_path, text) == "partners[0].webhook_secret: unknown key"


def test_secrets_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("NEWSROOM_SECRET", "s3cret")
    monkeypatch.setenv("NEWSROOM_WEBHOOK_SECRET_SAVONIA", "hook")
    monkeypatch.setenv("NEWSROOM_SMTP_URL", "")
    monkeypatch.delenv("NEWSROOM_DB_URL", raising=False)
    assert secret("NEWSROOM_SECRET") == "s3cret"
    assert secret("NEWSROOM_WEBHOOK_SECRET_SAVONIA") == "hook"
    assert secret("NEWSROOM_SMTP_URL") is None           # set but empty counts as unset
    assert secret("NEWSROOM_DB_URL") is None


def test_the_config_holds_no_secret_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("NEWSROOM_SECRET", "s3cret-value")
    monkeypatch.setenv("NEWSROOM_SMTP_URL", "smtp://user:pw-value@host:25")
    config = load_config(write(tmp_path, FULL))
    text = repr(config)
    assert "s3cret-value" not in text and "pw-value" not in text
