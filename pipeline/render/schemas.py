"""Publish the JSON Schemas (draft 2020-12) of every syndication file beside them."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from ..config import Site
from ..urls import url_of
from . import Listing, Output, dump_json

__all__ = ["SCHEMA_NAMES", "load_schema", "render", "schema_path"]

SCHEMA_NAMES = ("index", "partner", "profiles", "topics", "changes")
MEDIA_TYPE = "application/schema+json"


def schema_path(name: str) -> str:
    return f"syndication/schema/{name}.schema.json"


@cache
def _text(name: str) -> str:
    return resources.files("pipeline").joinpath(f"schemas/{name}.schema.json").read_text("utf-8")


def load_schema(name: str) -> dict:
    return json.loads(_text(name))


def render(site: Site) -> Output:
    """Each schema with its ``$id`` set to where it is published."""
    output = Output()
    for name in SCHEMA_NAMES:
        schema = load_schema(name)
        path = schema_path(name)
        schema = {"$schema": schema.pop("$schema"), "$id": url_of(site, path), **schema}
        output.add(path, dump_json(schema), Listing("schema", MEDIA_TYPE, schema["title"]))
    return output
