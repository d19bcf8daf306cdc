"""The web archive of newsletter editions that every build publishes under ``digests/``:
the issued editions of each newsletter, and the one due now, which the build issues
(records in the state database) once it has published it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .catalog import Catalog
from .config import Config, Newsletter
from .content import Content
from .editions import Edition, EditionStore, due_edition, issued_editions
from .media import dimensions, read_medium, rendition_size
from .model import Image
from .render import Sink
from .render.digest import DigestRenderer, render_archive
from .templating import load_templates

__all__ = ["Archive", "archive_editions", "image_dimensions", "render_archive_files", "rendition_sizes"]


@dataclass(frozen=True)
class Archive:
    """What a build publishes under ``digests/``: per newsletter, its editions newest
    first; ``to_issue`` are due editions the build records once it has published."""

    editions: tuple[tuple[Newsletter, tuple[Edition, ...]], ...]
    to_issue: tuple[Edition, ...]


def archive_editions(config: Config, catalog: Catalog, store: EditionStore, issue: bool) -> Archive:
    """The editions of every newsletter at the catalog's instant: the issued ones and the
    one due now. With ``issue``, a due edition not issued yet is listed in ``to_issue``
    (the site's own build issues it); without, it is only shown (a preview build)."""
    editions, to_issue = [], []
    for newsletter in config.newsletters:
        shown = issued_editions(newsletter, catalog, store)
        due = due_edition(newsletter, catalog, store)
        if due is not None and not due.recorded:
            shown.insert(0, due)
            if issue:
                to_issue.append(due)
        editions.append((newsletter, tuple(shown)))
    return Archive(tuple(editions), tuple(to_issue))


def render_archive_files(config: Config, catalog: Catalog, content: Content, archive: Archive,
                         sink: Sink, template_cache: Path | None = None) -> None:
    if not archive.editions:
        return
    templates = load_templates(config.paths.templates, template_cache)
    measure = image_dimensions(content, config)
    for newsletter, editions in archive.editions:
        renderer = DigestRenderer(config, catalog, templates, newsletter, measure)
        render_archive(renderer, list(editions), sink)


def image_dimensions(content: Content, config: Config) -> Callable[[Image], tuple[int, int] | None]:
    """Width and height of local images (read once each); None for remote ones."""
    known: dict[str, tuple[int, int] | None] = {}

    def measure(image: Image) -> tuple[int, int] | None:
        path = image.output_path
        if path is None or path not in content.media:
            return None
        if path not in known:
            medium = content.media[path]
            known[path] = dimensions(read_medium(medium, config.limits.media_file_bytes), medium.media_type)
        return known[path]

    return measure


def rendition_sizes(content: Content, config: Config) -> Callable[[Image], tuple[int, int] | None]:
    """Width and height of the PNG rendition of a local SVG that cairosvg can draw (one
    with a size); None for any other image."""
    measure = image_dimensions(content, config)

    def size(image: Image) -> tuple[int, int] | None:
        if image.media_type != "image/svg+xml":
            return None
        return rendition_size(measure(image))

    return size
