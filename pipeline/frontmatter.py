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
            tag = _RESOLVED.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)
                if len(_RESOLVED) >= _RESOLVED_MAX:
                    _RESOLVED.clear()   # bounded: content is untrusted
                _RESOLVED[value] = tag
            return tag
        return super().resolve(kind, value, implicit)


_RESOLVED: dict[str, str] = {}   # a plain scalar's text -> its tag, for _Loader
_RESOLVED_MAX = 4096


_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
# an explicit !!timestamp stays text too
_Loader.add_constructor(_TIMESTAMP, _Loader.construct_yaml_str)


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


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    parts = [p for p in (exc.context, exc.problem) if p]
    return "YAML syntax error: " + ", ".join(parts)
