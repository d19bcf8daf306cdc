"""One build, top to bottom: content → catalog → renderers → publish.

This is the library function behind ``newsroom build`` and ``newsroom check``; the
scheduler and the file watcher call the same function.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path

from . import __version__, rebuild
from .archive import Archive, archive_editions, render_archive_files, rendition_sizes
from .catalog import Catalog, build_catalog, digest
from .config import Config
from .content import Content, collector_paused, load_content
from .editions import EditionStore
from .events import record_events
from .journal import ChangeLog, Journal, commit_profiles
from .media import EMAIL_IMAGE_WIDTH, can_rasterize, email_rendition_path, rasterize_svg, read_medium
from .model import Image, Problem
from .publish import Publisher, PublishError, PublishResult, check_output_dir, output_lock
from .rebuild import Recall
from .render import Output, Share, Sink, emit, feeds, pages, partners, schemas, sitemap, syndication
from .statedb import Database, database_url, open_database
from .templating import template_files
from .urls import organization_path, url_of

__all__ = ["BuildReport", "ContentErrors", "build_site", "catalog_for", "check_content", "render_all"]

GENERATOR = f"newsroom {__version__}"

# Items; below this a second process costs more than it saves. Cold builds measured split
# and in one process: 300 items 1.0-1.4 s and 1.4-1.8 s; 1,000 items 2.0-2.3 s and 3.0-3.3 s.
SPLIT_ABOVE = 200


class ContentErrors(Exception):
    """Content has problems and the build was asked not to skip them; nothing was published."""

    def __init__(self, problems: tuple[Problem, ...]):
        super().__init__(f"{len(problems)} problem(s) in content")
        self.problems = problems


@dataclass(frozen=True)
class BuildReport:
    content: Content
    catalog: Catalog
    published: PublishResult
    seconds: float
    skipped: tuple[str, ...] = field(default_factory=tuple)


def journal_target(config: Config, output_dir: Path) -> str:
    """The journal's (and the event outbox's) name for an output folder: relative to the
    site folder, so a copied site keeps its journal."""
    root = config.path.parent
    return output_dir.relative_to(root).as_posix() if output_dir.is_relative_to(root) else str(output_dir)


@contextmanager
def _state(config: Config, output_dir: Path) -> Iterator[tuple[Journal, EditionStore, Database]]:
    """The journal of ``output_dir`` and the newsletter editions, on one connection."""
    target = journal_target(config, output_dir)
    db = open_database(database_url(config))
    try:
        yield Journal(db, target), EditionStore(db), db
    finally:
        db.close()


def check_content(config: Config, content_dir: Path | None = None) -> Content:
    return load_content(config, content_dir)


def render_all(catalog: Catalog, config: Config, content: Content,
               changes: ChangeLog | None = None, sink: Sink | None = None,
               archive: Archive | None = None, recall: Recall | None = None) -> Sink:
    """Every output file of a build, into ``sink`` (default: in memory). ``recall``: what
    a running process kept of its previous build (:mod:`pipeline.rebuild`)."""
    sink = Output() if sink is None else sink
    pages.render(catalog, config.paths.templates, sink, cache_dir=_template_cache(config),
                 png_renditions=_renditions(config, content), recall=recall)
    _render_the_rest(catalog, config, content, changes or ChangeLog.of(()), sink,
                     archive=archive or _NO_ARCHIVE, recall=recall)
    return sink


_NO_ARCHIVE = Archive((), ())


def _fork_older_half(catalog: Catalog, config: Config, content: Content, publisher: Publisher) -> _Forked:
    """:func:`render_all` on both cores, first half: the pages and feed documents of the
    older items in a forked process (returned: call it for what it wrote), writing into
    the publisher's spare folder; :func:`_render_newer_half` does the rest here. Worth it
    when every file is rendered (a first build, a lost state); a rebuild after an edit
    renders a few. The forked process takes more than half of the items: this one also
    renders the site-wide files."""
    older = Share(older=True, cut=_cut(catalog))

    def older_half() -> tuple:
        pages.render(catalog, config.paths.templates, publisher, older, _template_cache(config),
                     _renditions(config, content))
        feeds.render(catalog, publisher, older)
        return publisher.records()

    return _Forked(older_half)


def _render_newer_half(catalog: Catalog, config: Config, content: Content, changes: ChangeLog,
                       publisher: Publisher, archive: Archive) -> None:
    """The pages and feed documents of the newer items, and the site-wide files."""
    newer = Share(older=False, cut=_cut(catalog))
    pages.render(catalog, config.paths.templates, publisher, newer, _template_cache(config),
                 _renditions(config, content))
    _render_the_rest(catalog, config, content, changes, publisher, newer, archive)


def _cut(catalog: Catalog) -> int:
    return round(len(catalog.items) * _FORKED_SHARE)


_FORKED_SHARE = 0.55   # measured at 10,000 items: both processes then finish together


def _renditions(config: Config, content: Content) -> Callable[[Image], tuple[int, int] | None] | None:
    """Are PNG renditions of SVG pictures (items' and organizations' logos) published? When
    cairosvg is installed, of each SVG it can draw (one with a size): link previews show
    them (Facebook, LinkedIn and X show no SVG), and so do emails (nor do Gmail and
    Outlook). The size of an SVG's rendition (None: it has none), or None without cairosvg."""
    if not any(medium.media_type == "image/svg+xml" for medium in content.media.values()):
        return None   # nothing to draw: cairosvg (half a second to import) is not loaded
    return rendition_sizes(content, config) if can_rasterize() else None


def _template_cache(config: Config) -> Path:
    return config.paths.state / "template-cache"


def _render_the_rest(catalog: Catalog, config: Config, content: Content, changes: ChangeLog,
                     sink: Sink, share: Share | None = None, archive: Archive = _NO_ARCHIVE,
                     recall: Recall | None = None) -> None:
    """Everything but the pages: feeds (or their ``share``) and the site-wide files."""
    feeds.render(catalog, sink, share, recall)
    syndication.render(catalog, changes, sink)
    sitemap.render(catalog, sink, archive.editions, recall=recall)
    render_archive_files(config, catalog, content, archive, sink, _template_cache(config))
    partners.render(catalog, config.partners, sink)
    schemas.render(config.site).send_to(sink)
    limit = config.limits.media_file_bytes
    for path in sorted(_visible_media(catalog)):
        # the name carries a hash of the bytes: the same name is the same file
        medium = content.media[path]
        emit(sink, path, path, partial(read_medium, medium, limit))
    measure = _renditions(config, content)
    if measure is not None:
        for path in sorted(_email_svgs(catalog, measure)):
            emit(sink, email_rendition_path(path), f"{path}@{EMAIL_IMAGE_WIDTH}",
                 partial(rasterize_svg, content.media[path], limit))


class _Forked:
    """A function running in a forked child; calling the object waits for its result
    (re-raising its exception). ``cancel`` kills it."""

    def __init__(self, work: Callable[[], object]):
        read_fd, write_fd = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:   # the child: whatever happens, it never returns into the caller's code
            status = 1
            try:
                os.close(read_fd)
                try:
                    payload = pickle.dumps((True, work()))
                except BaseException as exc:
                    payload = pickle.dumps((False, _picklable(exc)))
                with os.fdopen(write_fd, "wb") as fh:
                    fh.write(payload)
                status = 0
            finally:
                os._exit(status)
        os.close(write_fd)
        self._read_fd: int | None = read_fd
        self._running = True

    def __call__(self) -> object:
        with os.fdopen(self._take_fd(), "rb") as fh:
            payload = fh.read()
        _, status = os.waitpid(self.pid, 0)
        self._running = False
        if not payload:
            raise RuntimeError(f"the page-rendering process died (wait status {status})")
        ok, value = pickle.loads(payload)
        if not ok:
            raise value
        return value

    def cancel(self) -> None:
        if self._running:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self._running = False
        if self._read_fd is not None:
            os.close(self._take_fd())

    def _take_fd(self) -> int:
        fd, self._read_fd = self._read_fd, None
        if fd is None:
            raise RuntimeError("the child's result was already read")
        return fd


def _picklable(exc: BaseException) -> BaseException:
    try:
        pickle.dumps(exc)
        return exc
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")


def catalog_for(config: Config, content: Content, now: datetime, fingerprint: str | None = None) -> Catalog:
    """The catalog of loaded content at ``now``, with what renderers need to skip
    unchanged files and to read bodies from the parse cache. ``fingerprint``: the
    :func:`world_fingerprint`, if known."""
    return build_catalog(content.news, content.profiles, config.site, config.topics, now,
                         fingerprint=fingerprint or world_fingerprint(config, content),
                         item_fingerprints=content.fingerprints, read_body=content.body,
                         read_ahead=content.prefetch)


def world_fingerprint(config: Config, content: Content) -> str:
    """A digest of everything but the items and the profiles that output depends on:
    Newsroom's code and the libraries that write for it, newsroom.toml and the templates.
    When it changes, every file is rendered again. (Profiles are in the keys of what shows
    them: :attr:`Catalog.profiles_fingerprint`, :meth:`Catalog.profile_fingerprint`.)"""
    import babel
    import feedgen.version
    import jinja2
    from lxml import etree

    templates = [(name, _file_hash(path)) for name, path in template_files(config.paths.templates)]
    return digest(_code_hash(), sys.version, babel.__version__, feedgen.version.version_str,
                  jinja2.__version__, etree.LXML_VERSION, config.path.read_bytes(), templates)


_CODE_SUFFIXES = (".py", ".json", ".html", ".css", ".toml", ".txt", ".xml")   # built-in templates too


def _code_hash() -> str:
    package = Path(__file__).parent
    digest_ = hashlib.sha256()
    for path in sorted(package.rglob("*")):
        if path.suffix in _CODE_SUFFIXES and "__pycache__" not in path.parts:
            digest_.update(path.relative_to(package).as_posix().encode())
            digest_.update(path.read_bytes())
    return digest_.hexdigest()


def _file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _refuse_overlap(output_dir: Path, config: Config, content_dir: Path | None) -> None:
    """The output folder is replaced wholesale: it must not hold the site's own files."""
    sources = {config.path, config.paths.templates, config.paths.state, content_dir or config.paths.content}
    for source in sources - {None}:
        source = source.resolve()
        if source == output_dir or source.is_relative_to(output_dir):
            raise PublishError(f"the output folder {output_dir} would replace {source}; "
                               "choose another --output")


def _visible_media(catalog: Catalog) -> set[str]:
    """Images of visible items and profiles only: a draft's or an embargoed item's picture
    must not be published before the item is."""
    records = [*catalog.items, *catalog.partner_only, *catalog.profiles.values()]
    images = [getattr(r, "image", None) or getattr(r, "logo", None) for r in records]
    paths = {image.output_path for image in images if image and image.output_path}
    return paths | {path for r in records for _, path in r.body_media}


_SUBSCRIBED = ("feeds/", "digests/", "syndication/")


def _build_summary(result: PublishResult) -> dict:
    """What ``build.completed`` says: counts, and the files subscribers fetch (feeds,
    partner and syndication files) that changed, for WebSub pings and webhooks."""
    subscribed = [p for p in (*result.added, *result.changed)
                  if p.startswith(_SUBSCRIBED) and p.endswith((".rss", ".atom", ".json"))]
    return {"added": len(result.added), "changed": len(result.changed), "removed": len(result.removed),
            "files": sorted(subscribed)}


def _email_svgs(catalog: Catalog, measure: Callable[[Image], tuple[int, int] | None]) -> set[str]:
    """The SVG pictures of public items and organizations' SVG logos that cairosvg can
    draw, which emails and link previews show as PNG."""
    images = [*(item.image for item in catalog.items), *(p.logo for p in catalog.profiles.values())]
    return {image.output_path for image in images
            if image and image.output_path and image.media_type == "image/svg+xml"
            and measure(image)}


def build_site(config: Config, now: datetime, content_dir: Path | None = None,
               output_dir: Path | None = None, keep_going: bool = False,
               progress: Callable[[str], None] | None = None, warm: bool = False) -> BuildReport:
    """Build and publish. Raises :class:`ContentErrors` (nothing published) on bad content
    unless ``keep_going``, which publishes the good files and reports the skipped ones.
    ``warm``: the caller builds again and again (``newsroom run``); what can be reused by the
    next build is kept in memory (see :func:`~pipeline.content.load_content`)."""
    started = time.perf_counter()
    step = progress or (lambda _message: None)
    # A build allocates hundreds of thousands of short-lived objects and makes few cycles:
    # CPython's cycle collector would rescan the growing heap again and again (a tenth of a
    # rebuild's time). It runs again once the build is over.
    with collector_paused():
        step("reading content")
        content = load_content(config, content_dir, warm=warm)
        try:
            return _publish_content(config, content, now, content_dir, output_dir, keep_going, step, started,
                                    warm)
        finally:
            content.close()   # the parse cache's connection; a later body() opens it again


def _publish_content(config: Config, content: Content, now: datetime, content_dir: Path | None,
                     output_dir: Path | None, keep_going: bool, step: Callable[[str], None],
                     started: float, warm: bool) -> BuildReport:
    if content.problems and not keep_going:
        raise ContentErrors(content.problems)
    output_dir = (output_dir or config.paths.output).resolve()
    place = (output_dir, (content_dir or config.paths.content).resolve())
    fingerprint = world_fingerprint(config, content)
    if warm:   # a running process: the previous build's catalog and plans, if they still hold
        catalog, recall = rebuild.recall(place, content, fingerprint, now,
                                         partial(catalog_for, config, content, now, fingerprint))
    else:
        catalog, recall = catalog_for(config, content, now, fingerprint), None
    _refuse_overlap(output_dir, config, content_dir)
    check_output_dir(output_dir)
    # One build at a time per output folder: the journal and the tree must move together.
    with output_lock(output_dir), _state(config, output_dir) as (journal, editions, db):
        step("rendering")
        publisher = Publisher(output_dir, config.site.base_url, GENERATOR, config.paths.state,
                              world=catalog.fingerprint)
        child: _Forked | None = None
        own_output = output_dir == config.paths.output.resolve()
        try:
            # fork only on Linux: elsewhere forking a process with system libraries loaded is
            # unsafe. Forked first: its half needs neither the journal nor the editions.
            if publisher.fresh and sys.platform == "linux" and len(catalog.items) > SPLIT_ABOVE:
                child = _fork_older_half(catalog, config, content, publisher)
            pending = journal.pending(catalog.items, now)
            partner_journal = Journal(db, journal.target + "#partners", visibility="partners")
            partner_pending = partner_journal.pending(catalog.partner_only, now)
            # the site's own output issues due editions; a preview build elsewhere only shows them
            archive = archive_editions(config, catalog, editions, issue=own_output)
            changes = journal.log(now, pending)
            if child is not None:
                _render_newer_half(catalog, config, content, changes, publisher, archive)
            else:
                render_all(catalog, config, content, changes, publisher, archive, recall)
            commits = [journal.prepare(pending, catalog.items, now, events=own_output),
                       partner_journal.prepare(partner_pending, catalog.partner_only, now, events=own_output)]
            if child is not None:
                # waited for before the journal's transaction: that must not hold the
                # database's write lock (subscribers signing up) for as long as a render
                publisher.merge(child())
            step("publishing")
            # Journal first: if the swap then fails or the process dies, the journal is ahead
            # of the output, which the next build repairs (it renders changes.json from the
            # journal); the other order could publish sequence numbers the journal never
            # recorded. Both journals and their events in one transaction.
            with db.transaction():
                for commit in commits:
                    commit.write()
                commit_profiles(db, journal.target, {
                    slug: (url_of(config.site, organization_path(config.site, config.site.default_language,
                                                                 slug)),
                           content.fingerprints.get(profile.source, ""))
                    for slug, profile in catalog.profiles.items()}, now, events=own_output)
        except BaseException:
            if child is not None:
                child.cancel()
            publisher.abandon()
            raise
        for edition in archive.to_issue:
            editions.record(edition, now)
        result = publisher.finish(catalog.updated)
        if recall is not None:
            rebuild.remember(place, catalog, content, recall)
        if own_output and result.touched:
            record_events(db, journal.target, now, [("build.completed", journal.target,
                                                     _build_summary(result))])
    return BuildReport(content=content, catalog=catalog, published=result,
                       seconds=time.perf_counter() - started, skipped=content.bad_files)
