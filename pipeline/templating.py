"""Templates: the built-in set that ships with Newsroom, and a site's own overrides.

A site needs no templates of its own. If it has a templates folder (``[paths] templates``),
each file there replaces the built-in file of the same name (a site may override only
``pages/item.html``), and its ``strings.toml`` replaces interface strings key by key.
A site's own templates are compiled before a build renders anything, so a syntax error is
a clear error naming the file and line, never a traceback halfway through.
"""

from __future__ import annotations

import hashlib
import tomllib
from functools import lru_cache
from pathlib import Path

import markupsafe
from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemBytecodeCache,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateSyntaxError,
    pass_context,
    select_autoescape,
)
from jinja2 import TemplateError as JinjaError
from jinja2.runtime import Context

from .config import ConfigError
from .urls import relative_html, relative_url

__all__ = ["BUILTIN", "TemplateError", "Templates", "load_templates", "template_files"]

BUILTIN = Path(__file__).resolve().parent / "templates"
STRINGS = "strings.toml"

Strings = dict[str, dict[str, str]]   # language -> key -> text


class TemplateError(ConfigError):
    """A template or the strings file cannot be used (exit 2, like configuration)."""


class Templates:
    """The environment pages are rendered with, and the interface strings."""

    def __init__(self, env: Environment, strings: Strings):
        self.env, self.strings = env, strings

    def render(self, name: str, /, **context) -> str:
        try:
            return self.env.get_template(name).render(**context)
        except TemplateSyntaxError as exc:
            raise TemplateError(_where(exc)) from None
        except JinjaError as exc:   # an undefined name in a site's own template, say
            raise TemplateError(f"{_file_of(self.env, name)}: {exc.message or exc}") from None


def folders(site_folder: Path | None) -> list[Path]:
    """Where templates are looked up, first match wins."""
    return [site_folder, BUILTIN] if site_folder is not None else [BUILTIN]


def load_templates(site_folder: Path | None, cache_dir: Path | None = None) -> Templates:
    """The templates and strings, checked. Both are read on every build (a long-running
    process must see an edit).
    With ``cache_dir``, compiled templates are kept there (keyed by their source), so a
    rebuild after one edit does not compile them again (~50 ms)."""
    if site_folder is not None and not site_folder.is_dir():
        raise TemplateError(f"{site_folder}: the templates folder named in newsroom.toml "
                            "([paths] templates) does not exist")
    own = template_files(site_folder)
    # The site's own templates (names and bytes) are the environment's identity: a long-running
    # `newsroom run` gets a new one when a template is edited, added (it may hide a built-in
    # one) or removed. Jinja's own check of every template's time, on each page, is off.
    env = _environment(tuple(folders(site_folder)), cache_dir,
                       frozenset((name, hashlib.sha256(path.read_bytes()).digest()) for name, path in own))
    # The site's own templates are compiled now, used or not, so a mistake in one is found
    # before anything is rendered; the built-in ones (tested) when first used: compiling
    # all of them would cost a rebuild after one edit some 50 ms.
    for name, _ in own:
        if name.endswith((".html", ".txt", ".xml")):
            try:
                env.get_template(name)
            except TemplateSyntaxError as exc:
                raise TemplateError(_where(exc)) from None
    strings = _strings(BUILTIN / STRINGS)
    if site_folder is not None and (site_folder / STRINGS).is_file():
        for lang, texts in _strings(site_folder / STRINGS).items():
            strings[lang] = {**strings.get(lang, {}), **texts}
    return Templates(env, strings)


def template_files(site_folder: Path | None) -> list[tuple[str, Path]]:
    """The site's own template files (name, path), for the build's fingerprint; the
    built-in ones are part of Newsroom's code."""
    if site_folder is None or not site_folder.is_dir():
        return []
    return [(p.relative_to(site_folder).as_posix(), p) for p in sorted(site_folder.rglob("*")) if p.is_file()]


@lru_cache(maxsize=4)
def _environment(search: tuple[Path, ...], cache_dir: Path | None,
                 own: frozenset[tuple[str, bytes]]) -> Environment:
    bytecode = None
    if cache_dir is not None:
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            bytecode = FileSystemBytecodeCache(str(cache_dir))
        except OSError:
            bytecode = None   # a cache only: without one, templates are compiled each time
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(str(folder)) for folder in search]),
        bytecode_cache=bytecode,
        autoescape=select_autoescape(["html", "xml"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.context_class, env.template_class = _Context, _Template
    # Filters, not functions in the context: Jinja calls a filter directly, a context
    # function through its call machinery (several times slower, on every link of 20,000 pages).
    env.filters["relative"] = _relative
    env.filters["relative_html"] = _relative_html
    return env


# -- rendering, fast ------------------------------------------------------------
# An item page writes some 85 values and calls some 15 functions; 10,000 pages do that a
# million times, so Jinja's generic path for both is a tenth of a page's time.

try:   # markupsafe's escaping without the Markup object around it (markupsafe >= 3)
    from markupsafe import _escape_inner
except ImportError:   # pragma: no cover - an older or a future markupsafe
    def _escape_inner(text: str) -> str:
        return str(markupsafe.escape(text))


def _escape(value) -> str:
    """What ``{{ value }}`` writes in an autoescaped template, as markupsafe.escape writes
    it, but as a plain str: Jinja only joins it into the page (or into a buffer it marks
    safe as a whole), so the Markup object markupsafe would build around it is waste."""
    if type(value) is str:
        return _escape_inner(value)
    if hasattr(value, "__html__"):
        return value.__html__()
    return _escape_inner(str(value))


class _Template(Template):
    """A compiled template whose output escaping is :func:`_escape`."""

    @classmethod
    def from_code(cls, environment, code, globals, uptodate=None):
        template = super().from_code(environment, code, globals, uptodate)
        # The compiled code looks ``escape`` up in its module's namespace on each use; a
        # Jinja that names it otherwise keeps its own (the same text, a little slower).
        namespace = template.root_render_func.__globals__
        if "escape" in namespace:
            namespace["escape"] = _escape
        return template


class _Context(Context):
    """Calls a template makes (``date(item.date)``, ``item.date.isoformat()``) go straight
    to a plain callable; only those marked with pass_context and its kind take Jinja's way."""

    def call(__self, __obj, *args, **kwargs):
        # an object of a class whose __call__ is so marked counts too, as in Jinja
        call = getattr(type(__obj), "__call__", None)  # noqa: B004 - its mark, not whether it is callable
        if hasattr(__obj, "jinja_pass_arg") or hasattr(call, "jinja_pass_arg"):
            return super().call(__obj, *args, **kwargs)
        kwargs.pop("_block_vars", None)
        kwargs.pop("_loop_vars", None)
        try:
            return __obj(*args, **kwargs)
        except StopIteration:
            return __self.environment.undefined(
                "value was undefined because a callable raised a StopIteration exception")


@pass_context
def _relative(context, url: str) -> str:
    """``{{ item.url | relative }}``: a URL of the site, relative to the page being rendered
    (kept absolute where ``up`` is None: in an email)."""
    up = context["up"]
    return url if up is None else relative_url(url, context["site"].base_url, up)


@pass_context
def _relative_html(context, body: str) -> str:
    """``{{ body | relative_html | safe }}``: sanitized HTML with links to the site relative."""
    return relative_html(body, context["site"].base_url, context["up"])


def _strings(path: Path) -> Strings:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise TemplateError(f"{path}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise TemplateError(f"{path}: {exc}") from None
    strings: Strings = {}
    for lang, texts in raw.items():
        if not isinstance(texts, dict) or not all(isinstance(v, str) for v in texts.values()):
            raise TemplateError(f"{path}: [{lang}] must hold text values only (key = \"text\")")
        strings[lang] = texts
    return strings


def _where(exc: TemplateSyntaxError) -> str:
    return f"{exc.filename or exc.name}:{exc.lineno}: template syntax error: {exc.message}"


def _file_of(env: Environment, name: str) -> str:
    try:
        source = env.loader.get_source(env, name)   # type: ignore[union-attr]
        return source[1] or name
    except JinjaError:
        return name
