"""Split a content file into YAML front matter and Markdown body, keeping line numbers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from .markup import clean_text, is_clean_utf8

__all__ = ["Document", "FrontMatterError", "split_document"]

try:  # the C loader is several times faster; fall back to pure Python where it is missing
    _BaseLoader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover
    _BaseLoader = yaml.SafeLoader


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """SafeLoader without the timestamp resolver: dates stay text and are parsed by us,
    so an impossible date is a validation error rather than a YAML traceback."""

    def construct_scalar(self, node: yaml.ScalarNode) -> Any:
        # escapes such as "\x07" in a quoted scalar make characters XML forbids after
        # the raw text was cleaned: clean every scalar again
        return clean_text(super().construct_scalar(node))

    def resolve(self, kind: type, value: str, implicit: tuple[bool, bool]) -> str:
        """PyYAML's resolver, remembering the tag of a plain scalar's text: front matter
        says "title", "lang", "en" and a topic's key in every file, and each is matched
        against a dozen patterns (no path resolvers are registered)."""
        if kind is yaml.ScalarNode and implicit[0]:
            return _plain_tag(value)
        return super().resolve(kind, value, implicit)


_RESOLVED: dict[str, str] = {}   # a plain scalar's text -> its tag
_RESOLVED_MAX = 4096


def _plain_tag(value: str) -> str:
    """The tag :class:`_Loader` gives a plain scalar's text ("en": str, "yes": bool)."""
    tag = _RESOLVED.get(value)
    if tag is None:
        tag = _RESOLVER.resolve(yaml.ScalarNode, value, (True, False))
        if len(_RESOLVED) >= _RESOLVED_MAX:
            _RESOLVED.clear()   # bounded: content is untrusted
        _RESOLVED[value] = tag
    return tag


_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
# an explicit !!timestamp stays text too
_Loader.add_constructor(_TIMESTAMP, _Loader.construct_yaml_str)


class _Resolver(yaml.resolver.BaseResolver):
    yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers


_RESOLVER = _Resolver()


class FrontMatterError(Exception):
    def __init__(self, line: int, field: str, message: str):
        super().__init__(message)
        self.line, self.field, self.message = line, field, message


@dataclass(frozen=True)
class Document:
    meta: dict[str, Any]
    lines: dict[str, int]   # top-level key -> 1-based line in the file
    body: str
    body_line: int          # line of the body's first line


def split_document(raw: bytes) -> Document:
    """Decode, clean and split a file. Raises :class:`FrontMatterError` with a line."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise FrontMatterError(line, "encoding", "not valid UTF-8 text") from None
    text = text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not is_clean_utf8(raw):
        text = clean_text(text)
    lines = text.split("\n")
    if not lines or lines[0].rstrip() != "---":
        raise FrontMatterError(1, "front matter", "the file must start with a '---' line")
    end = next((i for i in range(1, len(lines)) if lines[i].rstrip() in ("---", "...")), None)
    if end is None:
        raise FrontMatterError(1, "front matter", "no closing '---' line")
    meta, key_lines = _load_yaml("\n".join(lines[1:end]), first_line=2)
    return Document(meta=meta, lines=key_lines, body="\n".join(lines[end + 1:]), body_line=end + 2)


# Front matter is a few flat fields. Aliases (``*a``) let a few hundred bytes expand to
# gigabytes (a "billion laughs"), and deep nesting overflows the C stack of PyYAML's
# composer (a crash, not an exception): both are refused before a node is composed.
MAX_DEPTH = 20
_SCAN_FROM = 1000   # characters; shorter text cannot nest deep enough to matter
# Where an alias can stand: at the start of a node, after a line's indentation or an
# indicator (": ", "- ", "? ", "[", "{", ","). A "*" inside text (*emphasis* in a summary)
# is not one, and need not cost an event scan.
_ALIAS_LIKE = re.compile(r"(?:^|[:\-?\[{,])[ \t]*\*", re.M)


def _refuse_aliases_and_depth(source: str, first_line: int) -> None:
    if len(source) < _SCAN_FROM and ("*" not in source or not _ALIAS_LIKE.search(source)):
        return   # the usual case: no event scan (it would cost as much again as composing)
    depth = 0
    for event in yaml.parse(source, Loader=_BaseLoader):
        if isinstance(event, yaml.AliasEvent):
            raise FrontMatterError(first_line + event.start_mark.line, "yaml",
                                   f"alias *{event.anchor}: aliases are not allowed in front matter")
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise FrontMatterError(first_line + event.start_mark.line, "yaml",
                                       f"nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _load_yaml(source: str, first_line: int) -> tuple[dict[str, Any], dict[str, int]]:
    """The front matter's fields, and the line of each."""
    simple = _simple_yaml(source, first_line)
    return simple if simple is not None else _compose_yaml(source, first_line)


def _compose_yaml(source: str, first_line: int) -> tuple[dict[str, Any], dict[str, int]]:
    """:func:`_load_yaml` through the YAML parser, for any front matter."""
    loader = _Loader(source)
    try:
        _refuse_aliases_and_depth(source, first_line)
        node = loader.get_single_node()
        if node is None:
            return {}, {}
        if not isinstance(node, yaml.MappingNode):
            raise FrontMatterError(first_line, "front matter", "expected 'field: value' lines")
        data = _construct(loader, node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = first_line + (mark.line if mark else 0)
        raise FrontMatterError(line, "yaml", _yaml_message(exc)) from None
    except yaml.YAMLError as exc:
        raise FrontMatterError(first_line, "yaml", str(exc)) from None
    except (ValueError, TypeError, OverflowError) as exc:  # an explicit tag on the wrong text: !!int x
        raise FrontMatterError(first_line, "yaml", f"YAML value error: {str(exc)[:200]}") from None
    except RecursionError:   # nesting just below MAX_DEPTH cannot get here; a safety net
        raise FrontMatterError(first_line, "yaml", "nested too deeply") from None
    finally:
        loader.dispose()
    key_lines: dict[str, int] = {}
    for key_node, _ in node.value:
        key, line = str(key_node.value), first_line + key_node.start_mark.line
        if key in key_lines:
            raise FrontMatterError(line, key, f"given twice (first on line {key_lines[key]})")
        key_lines[key] = line
    return data, key_lines


_STR, _SEQ, _MAP = (f"tag:yaml.org,2002:{name}" for name in ("str", "seq", "map"))


def _construct(loader: _Loader, node: yaml.Node) -> Any:
    """``loader.construct_document(node)``, several times faster for what front matter holds:
    text, lists and mappings are built here; anything else (numbers, booleans, explicit
    tags, merge keys ``<<``, a mapping as a key) by the loader, the same way. (Aliases were
    refused before, so every node is built once.)"""
    kind, tag = type(node), node.tag
    if kind is yaml.ScalarNode and tag == _STR:
        return _text(node)
    if kind is yaml.SequenceNode and tag == _SEQ:
        return [_construct(loader, item) for item in node.value]
    if kind is yaml.MappingNode and tag == _MAP and all(
            type(key) is yaml.ScalarNode and key.tag == _STR for key, _ in node.value):
        return {_text(key): _construct(loader, value) for key, value in node.value}
    return loader.construct_object(node, deep=True)


def _text(node: yaml.ScalarNode) -> str:
    """A text scalar, as ``_Loader.construct_scalar`` gives it. The source was cleaned
    before parsing: only a double-quoted scalar's escapes ("\x07") can bring back
    characters XML forbids."""
    return clean_text(node.value) if node.style == '"' else node.value


# -- front matter as nearly every file writes it, without a YAML parser -------------------
# "title: text", "topics: [a, b]" and one level of "image:" with "  src: x" lines below:
# read line by line several times faster than libyaml composes nodes (a tenth of a cold
# build's parsing). Anything else, or any doubt, is left to the YAML parser: the result
# is the same either way (tested against it).

_KEY_LINE = re.compile(r"([A-Za-z_][A-Za-z0-9_-]*):(?: +(.*))?")
_SUB_KEY_LINE = re.compile(r"( +)([A-Za-z_][A-Za-z0-9_-]*): +(.*)")
_PLAIN_START = frozenset("-?:,[]{}#&*!|>'\"%@`")
_FLOW_BREAKERS = re.compile(r"[:#,\[\]{}]")


def _simple_yaml(source: str, first_line: int) -> tuple[dict[str, Any], dict[str, int]] | None:
    """What :func:`_load_yaml` returns for simple front matter; None for anything else."""
    meta: dict[str, Any] = {}
    key_lines: dict[str, int] = {}
    nested: dict[str, Any] | None = None   # the mapping a "key:" line opened, if any
    indent = ""                            # its lines' indentation
    for number, line in enumerate(source.split("\n")):
        if not line.isprintable():   # tabs, no-break spaces, line separators: YAML's rules
            return None
        if not line:
            continue
        if line[0] == " ":   # a line of the open mapping, all as deep as its first
            sub = _SUB_KEY_LINE.fullmatch(line)
            if nested is None or sub is None or (nested and sub.group(1) != indent):
                return None
            key, value = sub.group(2), _simple_value(sub.group(3))
            if value is None or key in nested or not _is_text(key):
                return None
            indent, nested[key] = sub.group(1), value
            continue
        if nested == {}:
            return None   # "key:" with nothing under it: a null
        match = _KEY_LINE.fullmatch(line)
        if match is None or match.group(1) in meta or not _is_text(match.group(1)):
            return None
        key, text = match.group(1), match.group(2)
        key_lines[key] = first_line + number
        if text is None:
            nested = meta[key] = {}
            continue
        nested, value = None, _simple_value(text)
        if value is None:
            return None
        meta[key] = value
    if nested == {}:
        return None
    return meta, key_lines


def _simple_value(text: str) -> str | list[str] | None:
    """A scalar or a flow list of scalars, as YAML reads it; None if it is anything else."""
    if text.startswith("["):
        if not text.endswith("]"):
            return None
        inner = text[1:-1].strip(" ")
        if not inner:
            return []
        items = [_simple_scalar(item.strip(" "), flow=True) for item in inner.split(",")]
        return None if None in items else items   # type: ignore[return-value]
    return _simple_scalar(text, flow=False)


def _simple_scalar(text: str, flow: bool) -> str | None:
    if not text or text[-1] == " ":
        return None
    first = text[0]
    if first in "\"'":
        inner = text[1:-1]
        if len(text) < 2 or text[-1] != first or first in inner or "\\" in inner:
            return None
        return inner
    if first in _PLAIN_START or text.endswith(":") or ": " in text or " #" in text:
        return None
    if flow and _FLOW_BREAKERS.search(text):
        return None
    return text if _is_text(text) else None


def _is_text(plain: str) -> bool:
    return _plain_tag(plain) == _STR


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    parts = [p for p in (exc.context, exc.problem) if p]
    return "YAML syntax error: " + ", ".join(parts)
