"""Built-in templates, a site's overrides file by file and string by string, and clear
errors for a missing folder or a broken template."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.cli import main
from pipeline.templating import BUILTIN

NOW = "2026-11-28T12:00"


def build(site, *extra: str) -> int:
    return main(["build", "--now", NOW, "--config", str(site.config_path), *extra])


@pytest.fixture
def news(site):
    site.write_news("good", "title: Good news\ndate: 2026-11-01\ntopics: [neurological]\n")
    return site


def test_a_site_without_templates_builds_with_the_built_in_ones(news):
    assert not (news.root / "templates").exists()
    assert build(news) == 0
    page = (news.output / "news" / "good" / "index.html").read_text()
    assert "<h1>Good news</h1>" in page and 'class="skip"' in page


def built_with_own_item_page(site, main_block: str) -> str:
    """Build with the site's own ``pages/item.html`` (the built-in base, ``main_block`` as
    its main block); the item page it wrote."""
    own = site.root / "templates" / "pages" / "item.html"
    own.parent.mkdir(parents=True)
    own.write_text('{% extends "pages/base.html" %}{% block main %}' + main_block + "{% endblock %}")
    assert build(site) == 0
    return (site.output / "news" / "good" / "index.html").read_text()


def test_a_site_may_override_one_template_and_keep_the_rest(news):
    page = built_with_own_item_page(news, '<p class="mine">{{ item.title }}</p>')
    assert '<p class="mine">Good news</p>' in page
    assert 'class="skip"' in page                               # the built-in base.html still
    assert "Good news" in (news.output / "index.html").read_text()   # the built-in front page


def test_a_sites_template_reads_feed_links_as_attributes_or_keys(news):
    page = built_with_own_item_page(news, '{% for f in feed_links(head_feeds) %}'
                                          '<i>{{ f.href }}|{{ f["type"] }}|{{ f.title }}</i>{% endfor %}')
    assert "/feeds/en/index.atom|application/atom+xml|" in page


def test_a_sites_strings_override_key_by_key(news):
    (news.root / "templates").mkdir()
    (news.root / "templates" / "strings.toml").write_text('[en]\nlatest = "Fresh from Kuopio"\n'
                                                          '[fi]\nlatest = "Tuoreimmat"\n')
    assert build(news) == 0
    front = (news.output / "index.html").read_text()
    assert "Fresh from Kuopio" in front and "Skip to content" in front   # one changed, the rest kept
    assert "Tuoreimmat" in (news.output / "fi" / "index.html").read_text()


def test_a_named_templates_folder_that_is_missing_is_an_error(news, capsys):
    news.config_path.write_text(news.config_path.read_text() + '\n[paths]\ntemplates = "my-templates"\n')
    assert build(news) == 2
    err = capsys.readouterr().err
    assert "paths.templates: no such folder:" in err and "my-templates" in err
    assert "Traceback" not in err and not news.output.exists()


@pytest.mark.parametrize(("name", "text", "expected"), [
    ("pages/item.html", "{% extends 'pages/base.html' %}\n{% block main %}\n{% if %}{% endblock %}",
     "pages/item.html:3: template syntax error"),
    ("pages/extra.html", "{{ unclosed", "pages/extra.html:1: template syntax error"),
    ("pages/item.html", "{% extends 'pages/base.html' %}{% block main %}{{ no_such_thing.x }}"
     "{% endblock %}", "pages/item.html: 'no_such_thing' is undefined"),
    ("strings.toml", "[en\nlatest = 1", "strings.toml: "),
    ("strings.toml", "[en]\nlatest = 1\n", "strings.toml: [en] must hold text values only"),
])
def test_a_broken_template_is_an_error_naming_the_file(news, capsys, name, text, expected):
    path = news.root / "templates" / name
    path.parent.mkdir(parents=True)
    path.write_text(text)
    assert build(news) == 2
    err = capsys.readouterr().err
    assert expected in err and str(news.root / "templates") in err, err
    assert "Traceback" not in err and not news.output.exists()


def test_the_built_in_templates_are_part_of_the_package():
    assert (BUILTIN / "pages" / "item.html").is_file() and (BUILTIN / "strings.toml").is_file()
    assert BUILTIN.parent.name == "pipeline"


def test_a_long_running_process_sees_a_template_the_site_adds_later(news):
    """`newsroom run` builds in one process: an override added after the built-in template
    was first used must win from the next build on."""
    (news.root / "templates").mkdir()
    assert build(news) == 0                               # the built-in item.html, cached
    own = news.root / "templates" / "pages" / "item.html"
    own.parent.mkdir()
    own.write_text('{% extends "pages/base.html" %}{% block main %}<p class="later">{{ item.title }}</p>'
                   "{% endblock %}")
    assert build(news) == 0
    assert '<p class="later">Good news</p>' in (news.output / "news" / "good" / "index.html").read_text()


def test_a_long_running_process_sees_a_template_edited_within_the_same_second(news):
    """Jinja's own check of template times is off (it cost every page a few file system
    calls): the environment is chosen by the site's templates' bytes, so an edit that
    keeps the file's size and time is seen too."""
    own = news.root / "templates" / "pages" / "item.html"
    own.parent.mkdir(parents=True)
    template = ('{% extends "pages/base.html" %}'
                '{% block main %}<p class="v1">{{ item.title }}</p>{% endblock %}')
    own.write_text(template)
    assert build(news) == 0
    stat = own.stat()
    own.write_text(template.replace("v1", "v2"))
    os.utime(own, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert build(news) == 0
    assert '<p class="v2">Good news</p>' in (news.output / "news" / "good" / "index.html").read_text()


# -- the fast rendering path writes what Jinja's own would -------------------------------

_TRICKY = """\
{% macro card(x) %}<b title="{{ x }}">{{ x }}</b>{% endmacro -%}
{% macro boxed(x) %}<div>{{ x }}{{ caller() }}</div>{% endmacro -%}
{% set captured %}<i>{{ text }}</i>{% endset -%}
{{ text }}|{{ safe }}|{{ number }}|{{ none_value }}|{{ text | e }}|{{ text ~ safe }}
{{ card(text) }}{% call boxed(safe) %}{{ text }}{% endcall %}{{ captured }}
{% filter upper %}{{ text }}{% endfilter %}|{{ plain(text) }}|{{ with_context(text) }}
{{ with_environment(text) }}|{{ callable_object(text) }}|{{ inherited(text) }}|{{ stopping() is undefined }}
{% for value in [text, safe, number] %}{{ loop.index }}{{ value }}{% endfor %}|{{ when.isoformat() }}
"""


def _stock_and_ours(tmp_path, template: str):
    from jinja2 import DictLoader, Environment, StrictUndefined, select_autoescape

    from pipeline.templating import _environment

    (tmp_path / "t.html").write_text(template)
    ours = _environment((tmp_path,), None, frozenset()).get_template("t.html")
    stock = Environment(loader=DictLoader({"t.html": template}), undefined=StrictUndefined,
                        autoescape=select_autoescape(["html", "xml"]), trim_blocks=True,
                        lstrip_blocks=True).get_template("t.html")
    return stock, ours


@pytest.mark.parametrize("text", ["plain", "<a href=\"x\">'&'</a>", "&amp; &#39;", "–ä\u2028"])
def test_our_environment_renders_what_stock_jinja_renders(tmp_path, text):
    from datetime import datetime

    from jinja2 import pass_context, pass_environment
    from markupsafe import Markup

    class CallableWithContext:
        @pass_context
        def __call__(self, context, value):
            return f"{context['number']}:{value}"

    class Inherits(CallableWithContext):
        pass

    def stopping():
        raise StopIteration

    stock, ours = _stock_and_ours(tmp_path, _TRICKY)
    values = dict(text=text, safe=Markup("<em>safe</em>"), number=42, none_value=None,
                  plain=lambda v: f"<{v}>", with_context=pass_context(lambda c, v: f"{c['number']}<{v}"),
                  with_environment=pass_environment(lambda e, v: f"{type(e).__name__}<{v}"),
                  callable_object=CallableWithContext(),
                  inherited=Inherits(), stopping=stopping, when=datetime(2026, 12, 6, 8, 30))
    assert ours.render(**values) == stock.render(**values)


@given(st.one_of(st.text(), st.integers(), st.floats(allow_nan=False)))
def test_our_escaping_is_markupsafes(value):
    from markupsafe import escape

    from pipeline.templating import _escape

    assert _escape(value) == str(escape(value))
