"""Load the content folder: read every file (through the parse cache), then run the checks
that need more than one file, and resolve local images.

The result is a :class:`Content`: the good items and profiles plus every problem found,
so the CLI can report them all at once.
"""

from __future__ import annotations

import gc
import hashlib
import os
import pickle
import posixpath
import re
import stat
import sys
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from itertools import repeat
from operator import attrgetter
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

from .cache import Bodies, Packed, ParseCache, Parsed, Signature, pack, signature
from .config import Config, Site, Topic
from .markup import with_local_images
from .media import IMAGE_TYPES, MediaError, Medium, Unreadable, load_medium, read_bounded, too_large
from .model import Image, NewsItem, Problem, Profile, excerpt
from .readers import parse_news, parse_profile

__all__ = ["PARALLEL_FROM", "Content", "collector_paused", "load_content"]

# Parsing this many files or more is split between worker processes. Below it, starting
# them costs more than it saves. Each task is a chunk of files, so results cross the
# process boundary in few, large messages.
PARALLEL_FROM = 200
_CHUNK = 200

Found = tuple[str, str, Signature]   # (path relative to the content folder, full path, stat)


@dataclass(frozen=True)
class Content:
    news: tuple[NewsItem, ...]
    profiles: dict[str, Profile]
    problems: tuple[Problem, ...] = ()
    media: dict[str, Medium] = field(default_factory=dict)   # output path -> checked source file
    files_read: int = 0
    files_parsed: int = 0                                  # cache misses
    fingerprints: dict[str, str] = field(default_factory=dict)   # source -> short hash, see _fingerprints
    base_url: str = ""
    _bodies: Bodies | None = field(default=None, repr=False, compare=False)

    @property
    def bad_files(self) -> tuple[str, ...]:
        return tuple(sorted({p.path for p in self.problems}))

    def body(self, item: NewsItem) -> str:
        """The item's sanitized body HTML. Through the parse cache, ``item.body_html`` is empty
        and the body is read from the cache now: all of them at once would be most of a
        build's memory."""
        html = item.body_html if self._bodies is None else self._bodies.get(item.source)
        return with_local_images(html, {src: self.base_url + path for src, path in item.body_media})

    def prefetch(self, items: Sequence[NewsItem]) -> None:
        """The next :meth:`body` calls will be for these items: read their bodies together."""
        if self._bodies is not None:
            self._bodies.prefetch([item.source for item in items])

    def close(self) -> None:
        """Release the parse cache's connection now (a later :meth:`body` opens another).
        Optional: the garbage collector would, at its next full collection (an SQLite
        connection sits in a reference cycle)."""
        if self._bodies is not None:
            self._bodies.close()


def load_content(config: Config, content_dir: Path | None = None, use_cache: bool = True,
                 parallel_from: int = PARALLEL_FROM, warm: bool = False) -> Content:
    """The content folder's items and profiles, and every problem. ``warm``: this process
    builds again and again (``newsroom run``) and keeps the parse cache's rows decoded
    between builds."""
    content_dir = (content_dir or config.paths.content).resolve()
    site = config.site
    limit = config.limits.content_file_bytes
    cache = ParseCache.open(config.paths.state, site, warm) if use_cache else ParseCache.disabled(site)
    try:
        files, refused = _scan(content_dir, limit)
        results, parsed = _read(files, cache, site, parallel_from, limit)
        bodies = cache.commit()
    except BaseException:
        cache.close()
        raise

    # the checks across files also run on files with problems of their own (all problems in
    # one pass), but a sound file claims a slug or id before a broken one
    problems = refused + [p for _, _, found in results for p in found]
    broken = {p.path for p in problems}
    records = [r for _, r, _ in results if r is not None]
    all_profiles = [r for r in records if isinstance(r, Profile)]
    news = [r for r in records if isinstance(r, NewsItem)]
    profiles = _unique_profiles(all_profiles, broken, problems)
    problems += _check_profiles(all_profiles, config.topics)
    problems += _check_news(news, config.topics, profiles)
    problems += _check_unique_news(news, broken)
    media = _Media(content_dir, site, config.limits.media_file_bytes)
    news = [_resolve_body_images(_resolve_image(n, media, problems), media, problems) for n in news]
    profiles = {s: _resolve_body_images(_resolve_logo(p, media, problems), media, problems)
                for s, p in profiles.items()}

    bad = {p.path for p in problems}
    in_order = sorted(problems, key=lambda p: (p.path, p.line))
    shown = [_display(p, content_dir) for p in _at_most_per_file(in_order)]
    good_profiles = {s: p for s, p in sorted(profiles.items()) if p.source not in bad}
    skipped = {s for s, p in profiles.items() if p.source in bad}
    good_news = tuple(_without_skipped_organizations(n, skipped) if skipped else n
                      for n in news if n.source not in bad)
    digests = {name: digest for (name, _, _), (digest, _, _) in zip(files, results, strict=True)}
    return Content(
        news=good_news,
        profiles=good_profiles,
        problems=tuple(shown),
        media=media.files,
        files_read=len(files),
        files_parsed=parsed,
        fingerprints=_fingerprints(good_news, good_profiles.values(), digests, cache.fingerprint),
        base_url=site.base_url,
        _bodies=bodies,
    )


def _scan(content_dir: Path, max_bytes: int) -> tuple[list[Found], list[Problem]]:
    """Every news file (sub-folders too), then every profile, each in path order; and the
    files refused before reading (too large, or a symbolic link leading out of the content
    folder). One ``scandir`` per folder gives names and types without a Path object per file."""
    news: list[Found] = []
    profiles: list[Found] = []
    refused: list[Problem] = []
    for folder, found, recursive in (("news", news, True), ("profiles", profiles, False)):
        if _outside(content_dir, content_dir / folder):
            refused.append(Problem(folder, 1, "folder", "a symbolic link leading outside the content "
                                   "folder: refused"))
        else:
            _markdown_files(content_dir, folder, found, recursive, _Refusals(refused, max_bytes))
    return news + profiles, refused


@dataclass
class _Refusals:
    problems: list[Problem]
    max_bytes: int

    def add(self, name: str, field_: str, message: str) -> None:
        self.problems.append(Problem(name, 1, field_, message))


def _markdown_files(content_dir: Path, folder: str, found: list[Found], recursive: bool,
                    refusals: _Refusals) -> None:
    """Depth first, each folder's entries by name: the order of ``sorted(Path.rglob(...))``,
    which compares paths part by part ("a/x.md" before "a-b/x.md"). An explicit stack, not
    recursion: a thousand nested folders are no error. Names starting with "." (editors'
    lock and backup files) are ignored. Symbolic links to folders are not followed; one
    to a file counts only if the file is inside the content folder (a link to /etc/passwd
    or /proc/self/environ would publish it)."""
    top = _folder_entries(folder, content_dir / folder, refusals)
    stack = [iter(top or ())]
    prefixes = [folder]
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            prefixes.pop()
            continue
        if entry.name.startswith("."):
            continue
        name = f"{prefixes[-1]}/{entry.name}"
        if _is_folder(entry):
            if recursive:
                stack.append(iter(_folder_entries(name, Path(entry.path), refusals) or ()))
                prefixes.append(name)
        elif entry.name.endswith(".md"):
            _markdown_file(content_dir, name, entry, found, refusals)


def _folder_entries(name: str, path: Path, refusals: _Refusals) -> list[os.DirEntry] | None:
    try:
        with os.scandir(path) as entries:
            return sorted(entries, key=attrgetter("name"))
    except (FileNotFoundError, NotADirectoryError):
        return None   # as Path.rglob: a missing folder holds no files
    except OSError as exc:   # an unreadable folder: its items must not silently disappear
        refusals.add(_printable(name), "folder", f"cannot be read: {exc.strerror or exc}")
        return None


def _is_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _markdown_file(content_dir: Path, name: str, entry: os.DirEntry, found: list[Found],
                   refusals: _Refusals) -> None:
    """Add one ``.md`` file, or the reason it is refused: nothing named like content is
    silently left out."""
    shown = _printable(name)
    if shown != name:
        refusals.add(shown, "file", "the file name is not valid UTF-8: rename it")
        return
    try:
        info = entry.stat()   # follows a symbolic link
    except OSError as exc:   # a dangling or looping link, an unsearchable folder
        refusals.add(name, "file", f"cannot be read: {exc.strerror or exc}")
        return
    if not stat.S_ISREG(info.st_mode):
        refusals.add(name, "file", "not a regular file")
        return
    real = entry.path
    if entry.is_symlink():
        if not Path(os.path.realpath(real)).is_relative_to(content_dir):
            refusals.add(name, "file", "a symbolic link to a file outside the content folder: refused")
            return
        real = os.path.realpath(real)
    if info.st_size > refusals.max_bytes:
        refusals.add(name, "file", too_large(info.st_size, refusals.max_bytes, "limits.content_file_bytes"))
        return
    found.append((name, real, signature(info)))


def _printable(name: str) -> str:
    """A file name as text: bytes that are not UTF-8 (kept by Python as surrogates) shown as
    escapes, so that printing or storing the name never fails."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", "backslashreplace")


def _outside(content_dir: Path, path: Path) -> bool:
    """Whether ``path``, its symbolic links followed, leads outside ``content_dir`` (resolved)."""
    return path.is_symlink() and not Path(os.path.realpath(path)).is_relative_to(content_dir)


def _read(files: list[Found], cache: ParseCache, site: Site, parallel_from: int,
          max_bytes: int) -> tuple[list[Parsed], int]:
    """Every file's result, in order (from the cache where it can), and how many were parsed."""
    with collector_paused():
        results = cache.lookup(files)
        missed = [i for i, result in enumerate(results) if result is None]
        todo = [files[i][:2] for i in missed]
        for i, packed in zip(missed, _parse_all(todo, site, parallel_from, max_bytes), strict=True):
            name, _, stat = files[i]
            if packed[0] == _UNREAD:   # not cached: the file may be readable next time, same stat
                results[i] = (_UNREAD, None, pickle.loads(packed[2]))
            else:
                results[i] = cache.store(name, stat, packed)
    return results, len(missed)


@contextmanager
def collector_paused() -> Iterator[None]:
    """While thousands of records are built, CPython's cycle collector would scan the growing
    heap again and again (a fifth of a warm load); they form no cycles."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _parse_all(todo: list[tuple[str, str]], site: Site, parallel_from: int,
               max_bytes: int) -> Iterator[Packed]:
    """Parse ``(name, path)`` files in order: many of them in two worker processes. Those are
    forked (Linux only: elsewhere forking a process with system libraries loaded is unsafe),
    so they start in milliseconds with everything already imported."""
    workers = min(2, os.cpu_count() or 1)
    if len(todo) < max(parallel_from, 1) or workers < 2 or sys.platform != "linux":
        return (_parse_file(name, path, site, max_bytes) for name, path in todo)
    size = min(_CHUNK, -(-len(todo) // (2 * workers)))   # at least two tasks per worker
    chunks = [todo[i:i + size] for i in range(0, len(todo), size)]
    return _parse_in_workers(chunks, site, workers, max_bytes)


def _parse_in_workers(chunks: list[list[tuple[str, str]]], site: Site, workers: int,
                      max_bytes: int) -> Iterator[Packed]:
    # imported here: a rebuild after an edit parses a file or two and never needs them
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
        for packed in pool.map(_parse_chunk, chunks, repeat(site), repeat(max_bytes)):
            yield from packed


def _parse_chunk(files: list[tuple[str, str]], site: Site, max_bytes: int) -> list[Packed]:
    gc.enable()   # forked while the parent had the collector paused: parsing may leave cycles
    return [_parse_file(name, path, site, max_bytes) for name, path in files]


_UNREAD = b""   # the digest of a file that could not be read


def _parse_file(name: str, path: str, site: Site, max_bytes: int) -> Packed:
    """Read and parse one file, packed for the cache (in a worker, that work is spared the
    parent too, and the result crosses to it as a few strings)."""
    try:
        raw = read_bounded(path, max_bytes, "limits.content_file_bytes")
    except Unreadable as exc:
        return _UNREAD, None, pickle.dumps([Problem(name, 1, "file", str(exc))]), None
    reader = parse_news if name.startswith("news/") else parse_profile
    return pack((hashlib.sha256(raw).digest(), *reader(name, raw, site)))


def _fingerprints(news: Iterable[NewsItem], profiles: Iterable[Profile], digests: dict[str, bytes],
                  salt: str) -> dict[str, str]:
    """Per source file, a hash of everything its final record depends on: the file's path
    (the default slug, URL and id come from its name) and bytes, the site settings and
    reader code (the cache's fingerprint, ``salt``), the image as resolved (a new picture
    under the same name gets a new URL) and, for news, the organizations kept; so a
    renderer can skip what did not change."""
    salted = hashlib.blake2b(salt.encode(), digest_size=8)

    def fingerprint(record: NewsItem | Profile, image: Image | None,
                    organizations: tuple[str, ...] = ()) -> str:
        h = salted.copy()
        h.update(record.source.encode() + b"\0")
        h.update(digests[record.source])
        h.update("\0".join(organizations).encode())
        if image is not None:
            h.update(repr(image).encode())
        if record.body_media:
            h.update(repr(record.body_media).encode())
        return h.hexdigest()

    out = {n.source: fingerprint(n, n.image, n.organizations) for n in news}
    out.update((p.source, fingerprint(p, p.logo)) for p in profiles)
    return out


def _without_skipped_organizations(item: NewsItem, skipped: set[str]) -> NewsItem:
    """With --keep-going a broken profile is skipped; the items naming it stay, without it."""
    kept = tuple(o for o in item.organizations if o not in skipped)
    return item if kept == item.organizations else replace(item, organizations=kept)


def _unique_profiles(profiles: list[Profile], broken: set[str],
                     problems: list[Problem]) -> dict[str, Profile]:
    by_slug: dict[str, Profile] = {}
    for profile in sorted(profiles, key=lambda p: (p.source in broken, p.source)):
        first = by_slug.get(profile.slug)
        if first:
            problems.append(Problem(profile.source, profile.line_of("slug"), "slug",
                                    f"{excerpt(profile.slug)} is also the slug of {first.source}"))
        else:
            by_slug[profile.slug] = profile
    return by_slug


def _check_profiles(profiles, topics: dict[str, Topic]) -> list[Problem]:
    return [
        Problem(p.source, p.line_of("topics"), "topics", f"unknown topic {excerpt(t)}")
        for p in profiles for t in p.topics if t not in topics
    ]


def _check_news(news: list[NewsItem], topics: dict[str, Topic],
                profiles: dict[str, Profile]) -> list[Problem]:
    problems = []
    for item in news:
        for topic in item.topics:
            if topic not in topics:
                problems.append(Problem(item.source, item.line_of("topics"), "topics",
                                        f"unknown topic {excerpt(topic)} (known: {', '.join(topics)})"))
        for org in item.organizations:
            if org not in profiles:
                missing = f"no content/profiles/{excerpt(org, quote=False)}.md"
                problems.append(Problem(item.source, item.line_of("organizations"), "organizations",
                                        f"unknown organization {excerpt(org)}: {missing}"))
    return problems


def _check_unique_news(news: list[NewsItem], broken: set[str]) -> list[Problem]:
    """Slugs, ids and (translation_key, lang) pairs are unique; a clash names both files."""
    if _all_distinct(news):
        return []   # the usual case, without sorting thousands of items
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
                                        f"{excerpt(shown)} {what}is also used by {first.source}"))
    return problems


def _all_distinct(news: list[NewsItem]) -> bool:
    translated = [(n.translation_key, n.lang) for n in news if n.translation_key]
    return (len({n.slug for n in news}) == len({n.id for n in news}) == len(news)
            and len(set(translated)) == len(translated))


class _Media:
    """Local images checked and named for ``media/``; each file read once per build."""

    def __init__(self, content_dir: Path, site: Site, max_bytes: int):
        self.content_dir, self.site, self.max_bytes = content_dir, site, max_bytes
        self.files: dict[str, Medium] = {}            # output path -> medium
        self._by_src: dict[str, tuple[str, Medium] | MediaError] = {}

    def resolve(self, image: Image) -> Image:
        """``image`` with its URL; raises :class:`MediaError` for a local file refused."""
        if image.src.startswith(("http://", "https://")):
            return replace(image, url=image.src, media_type=_remote_media_type(image.src))
        found = self._by_src.get(image.src)
        if found is None:
            try:
                medium = load_medium(self.content_dir, image.src, self.max_bytes)
                name = _url_safe_name(PurePosixPath(image.src).stem) + medium.extension
                found = (f"media/{medium.sha256[:12]}-{name}", medium)
            except MediaError as exc:
                found = exc
            self._by_src[image.src] = found
        if isinstance(found, MediaError):
            raise found
        output_path, medium = found
        self.files[output_path] = medium
        return replace(image, url=self.site.base_url + output_path, output_path=output_path,
                       media_type=medium.media_type, length=medium.length)


def _remote_media_type(url: str) -> str | None:
    suffix = PurePosixPath(url.split("?", 1)[0].split("#", 1)[0]).suffix.lower()
    return next((t for t, extensions in IMAGE_TYPES.items() if suffix in extensions), None)


def _resolve_image(item: NewsItem, media: _Media, problems: list[Problem]) -> NewsItem:
    image = _resolve(item.image, item.source, item.line_of("image"), "image", media, problems)
    return replace(item, image=image) if image is not item.image else item


def _resolve_logo(profile: Profile, media: _Media, problems: list[Problem]) -> Profile:
    logo = _resolve(profile.logo, profile.source, profile.line_of("logo"), "logo", media, problems)
    return replace(profile, logo=logo) if logo is not profile.logo else profile


def _resolve(image: Image | None, source: str, line: int, name: str, media: _Media,
             problems: list[Problem]) -> Image | None:
    """Give an image its absolute URL; a local file is checked and goes to media/ under a
    content hash."""
    if image is None:
        return None
    try:
        return media.resolve(image)
    except MediaError as exc:
        problems.append(Problem(source, line, f"{name}.src", str(exc)))
        return image


def _resolve_body_images(record: NewsItem | Profile, media: _Media,
                         problems: list[Problem]) -> NewsItem | Profile:
    """Check and name the local images of a body (``![scan](media/scan.png)``: relative to
    content/, or to the file's folder when it starts with ./ or ../)."""
    if not record.body_images:
        return record
    mapped = []
    for src, line in record.body_images:
        path = _content_path(src, record.source)
        try:
            if path is None:
                raise MediaError(f"image {excerpt(src)} leads outside the content folder")
            mapped.append((src, media.resolve(Image(src=path, alt="")).output_path))
        except MediaError as exc:
            missing = str(exc).startswith("no such file")
            problems.append(Problem(record.source, line, "body",
                                    f"image not found {excerpt(src)}" if missing else str(exc)))
    if isinstance(record, Profile) and mapped:
        urls = {src: media.site.base_url + output for src, output in mapped}
        descriptions = {lang: with_local_images(html, urls) for lang, html in record.description_html.items()}
        return replace(record, body_media=tuple(mapped), description_html=descriptions)
    return replace(record, body_media=tuple(mapped))


def _content_path(src: str, source: str) -> str | None:
    """The path under content/ that an image of ``source``'s body names, or None if it
    climbs out of content/."""
    src = unquote(src.split("?", 1)[0].split("#", 1)[0])
    if src.startswith(("./", "../")):
        src = posixpath.join(posixpath.dirname(source), src)
    path = posixpath.normpath(src)
    return None if path == ".." or path.startswith("../") or path.startswith("/") else path


_MAX_NAME = 80   # characters of a medium's own name kept in its output name


def _url_safe_name(name: str) -> str:
    """``Kuva äänestä 1`` -> ``kuva-aanesta-1``: lowercase ASCII letters, digits, '-' and
    '.', so pages, feeds and partner files can all use the URL as it is; cut short, so the
    hashed output name stays far below file systems' 255 bytes."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    safe = re.sub(r"[^a-z0-9.]+", "-", ascii_name.lower()).strip("-.")
    return safe[:_MAX_NAME].rstrip("-.") or "file"


MAX_PROBLEMS_PER_FILE = 20


def _at_most_per_file(problems: list[Problem]) -> list[Problem]:
    """The first problems of each file, then one line saying how many more there are: a
    file listing ten thousand unknown topics must not print ten thousand lines."""
    counts: dict[str, int] = {}
    for problem in problems:
        counts[problem.path] = counts.get(problem.path, 0) + 1
    if max(counts.values(), default=0) <= MAX_PROBLEMS_PER_FILE:
        return problems
    kept: list[Problem] = []
    seen: dict[str, int] = {}
    for problem in problems:
        seen[problem.path] = seen.get(problem.path, 0) + 1
        if seen[problem.path] <= MAX_PROBLEMS_PER_FILE:
            kept.append(problem)
        elif seen[problem.path] == MAX_PROBLEMS_PER_FILE + 1:
            more = counts[problem.path] - MAX_PROBLEMS_PER_FILE
            kept.append(replace(problem, field="problems", message=f"{more} more not shown"))
    return kept


def _display(problem: Problem, content_dir: Path) -> Problem:
    """Show the path as the user would type it: relative to the working directory if possible."""
    full = content_dir / problem.path
    try:
        shown = full.relative_to(Path.cwd())
    except ValueError:
        shown = full
    return replace(problem, path=str(shown))
