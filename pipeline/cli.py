"""The ``newsroom`` command line: thin, each command calls one library function.

Exit codes: 0 done; 1 content errors (nothing published); 2 usage, config or environment.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from . import __version__
from .build import BuildReport, ContentErrors, build_site, check_content
from .cache import CacheChanged
from .config import Config, ConfigError, load_config
from .media import MediaError
from .model import printable
from .publish import PublishError
from .readers import parse_datetime
from .scaffold import init_site

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["main"]

EXIT_OK, EXIT_CONTENT, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    pass


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    out, err = _console(sys.stdout), _console(sys.stderr)
    try:
        if args.command == "init":   # the one command without a configuration to read
            return _init(args, out)
        config = load_config(args.config)
        return args.handler(args, config, out, err)
    except (ConfigError, UsageError, PublishError, CacheChanged, MediaError) as exc:
        err.print(printable(f"newsroom: error: {exc}"), markup=False, soft_wrap=True)
        return EXIT_USAGE
    except (OSError, sqlite3.Error) as exc:   # the environment: a read-only state folder, a full disk
        err.print(printable(f"newsroom: error: {exc}"), markup=False, soft_wrap=True)
        return EXIT_USAGE
    except KeyboardInterrupt:
        err.print("newsroom: interrupted; the previous output is intact", markup=False, soft_wrap=True)
        return 130


def _console(stream: TextIO) -> Console:
    """A rich console (with a spinner) on a terminal; plain lines elsewhere, where rich
    would print the same text anyway and importing it costs a rebuild some 30 ms."""
    if stream.isatty():
        from rich.console import Console

        return Console(file=stream, highlight=False)
    return _PlainConsole(stream)  # type: ignore[return-value]


class _PlainConsole:
    """The part of rich's Console the CLI uses, for output that is not a terminal."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def print(self, text: str, markup: bool = False, soft_wrap: bool = True) -> None:
        print(text, file=self.stream, flush=True)

    @contextmanager
    def status(self, message: str) -> Iterator[_PlainConsole]:
        yield self

    def update(self, message: str) -> None:
        pass

    def stop(self) -> None:
        pass


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsroom",
        description="Build news feeds, pages and partner files from Markdown content.",
    )
    parser.add_argument("--version", action="version", version=f"newsroom {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = commands.add_parser("build", help="validate content and publish the output tree")
    _common(build)
    build.add_argument("--output", type=Path, metavar="D", help="output folder (default from config)")
    build.add_argument("--now", metavar="ISO", help="build as of this instant (default: now)")
    build.add_argument("--keep-going", action="store_true",
                       help="skip files with problems, publish the rest, exit 0")
    build.set_defaults(handler=_build)

    check = commands.add_parser("check", help="validate content; publish nothing")
    _common(check)
    check.set_defaults(handler=_check)

    digest = commands.add_parser("digest", help="newsletter editions: preview and list")
    actions = digest.add_subparsers(dest="action", required=True, metavar="ACTION")
    render = actions.add_parser("render", help="write the due edition's HTML, text and a sample .eml; "
                                               "send nothing")
    render.add_argument("newsletter", metavar="NEWSLETTER", help="a newsletter id of newsroom.toml")
    _common(render)
    render.add_argument("--now", metavar="ISO", help="the edition due at this instant (default: now)")
    render.add_argument("--to", type=Path, default=Path("digest-preview"), metavar="DIR",
                        help="where to write the files (default: ./digest-preview)")
    render.set_defaults(handler=_digest_render)
    listing = actions.add_parser("list", help="each newsletter's last and next editions")
    _common(listing)
    listing.add_argument("--now", metavar="ISO", help="as of this instant (default: now)")
    listing.set_defaults(handler=_digest_list)

    init = commands.add_parser("init", help="write a new site into an empty folder")
    init.add_argument("folder", type=Path, metavar="DIR", help="a missing or empty folder")
    init.add_argument("--title", default="My News", help='the site\'s title (default: "My News")')
    init.add_argument("--base-url", default="https://news.example.org/", metavar="URL",
                      help="where the output will be served (default: https://news.example.org/)")
    init.add_argument("--languages", default="en", metavar="LANGS",
                      help="comma-separated, the first the default (default: en; e.g. fi,en)")
    init.add_argument("--timezone", default="UTC", metavar="ZONE",
                      help="IANA time zone (default: UTC; e.g. Europe/Helsinki)")
    return parser


def _common(command: argparse.ArgumentParser) -> None:
    command.add_argument("--config", type=Path, default=Path("newsroom.toml"), metavar="F",
                         help="configuration file (default: ./newsroom.toml)")
    command.add_argument("--content", type=Path, metavar="D",
                         help="content folder (default from config)")


def _now(text: str | None, config: Config) -> datetime:
    if text is None:
        return datetime.now(UTC).replace(microsecond=0).astimezone(config.site.timezone)
    try:
        return parse_datetime(text, config.site)
    except ValueError as exc:
        raise UsageError(f"--now: {exc}") from None


def _content_dir(args, config: Config) -> Path:
    content = (args.content or config.paths.content).resolve()
    if not content.is_dir():
        raise UsageError(f"content folder {content} does not exist")
    return content


def _build(args, config: Config, out: Console, err: Console) -> int:
    now = _now(args.now, config)
    content_dir = _content_dir(args, config)
    with err.status("building…") as status:
        try:
            report = build_site(config, now, content_dir=content_dir,
                                output_dir=args.output.resolve() if args.output else None,
                                keep_going=args.keep_going,
                                progress=lambda message: status.update(f"{message}…"))
        except ContentErrors as exc:
            status.stop()
            _print_problems(exc.problems, err)
            err.print(f"newsroom: {len(exc.problems)} problem(s) in "
                      f"{len({p.path for p in exc.problems})} file(s); nothing was published",
                      markup=False, soft_wrap=True)
            return EXIT_CONTENT
    if report.skipped:
        _print_problems(report.content.problems, err)
        for path in report.skipped:
            err.print(printable(f"newsroom: skipped {path}"), markup=False, soft_wrap=True)
    _summary(report, out)
    return EXIT_OK


def _check(args, config: Config, out: Console, err: Console) -> int:
    content = check_content(config, _content_dir(args, config))
    if content.problems:
        _print_problems(content.problems, err)
        err.print(f"newsroom: {len(content.problems)} problem(s) in "
                  f"{len(content.bad_files)} file(s)", markup=False, soft_wrap=True)
        return EXIT_CONTENT
    out.print(f"ok: {len(content.news)} news items and {len(content.profiles)} profiles are valid",
              markup=False, soft_wrap=True)
    return EXIT_OK


def _digest_render(args, config: Config, out: Console, err: Console) -> int:
    from .digest import render_preview

    newsletter = config.newsletter(args.newsletter)
    now = _now(args.now, config)
    try:
        preview = render_preview(config, newsletter.id, now, args.to.resolve(), _content_dir(args, config))
    except ContentErrors as exc:
        return _content_failed(exc, err)
    if preview.edition is None:
        due = newsletter.when.latest_at_or_before(now)
        when = f"the edition of {due.isoformat()}" if due else "no edition yet (the schedule has not fired)"
        out.print(f"{newsletter.id}: nothing to send at {now.isoformat()}: {when} holds no items",
                  markup=False)
        return EXIT_OK
    edition = preview.edition
    state = "issued" if edition.recorded else "not issued yet"
    cut = f", {preview.cut} left to the web version (size cap)" if preview.cut else ""
    out.print(printable(f"{edition.id} ({state}): {preview.stories} stories, "
                        f"{len(edition.of_kind('updated'))} updated, {len(edition.of_kind('withdrawn'))} "
                        f"withdrawn{cut}"), markup=False)
    for path in preview.files:
        out.print(printable(f"wrote {path}"), markup=False)
    return EXIT_OK


def _digest_list(args, config: Config, out: Console, err: Console) -> int:
    from .digest import newsletter_status

    now = _now(args.now, config)
    try:
        rows = newsletter_status(config, now, _content_dir(args, config))
    except ContentErrors as exc:
        return _content_failed(exc, err)
    if not rows:
        out.print(f"no [[newsletters]] in {config.path.name}", markup=False)
    for row in rows:
        n = row.newsletter
        last = (f"{row.last.label} ({row.last.scheduled:%Y-%m-%d %H:%M}, "
                f"{len(row.last.of_kind('new'))} stories)" if row.last else "none")
        due = (f"; due now: {row.due.label} ({len(row.due.of_kind('new'))} stories, not issued yet)"
               if row.due else "")
        upcoming = f"{row.next_label} at {row.next_at:%Y-%m-%d %H:%M %Z}" if row.next_at else "never"
        out.print(printable(f"{n.id} [{n.lang}] {n.title!r} ({n.schedule}): last {last}{due}; "
                            f"next {upcoming}"), markup=False)
    return EXIT_OK


def _content_failed(exc: ContentErrors, err: Console) -> int:
    _print_problems(exc.problems, err)
    err.print(f"newsroom: {len(exc.problems)} problem(s) in content", markup=False, soft_wrap=True)
    return EXIT_CONTENT


def _init(args, out: Console) -> int:
    languages = tuple(lang.strip() for lang in args.languages.split(",") if lang.strip())
    written = init_site(args.folder, args.title, args.base_url, languages, args.timezone,
                        datetime.now(UTC))
    out.print(printable(f"wrote {len(written)} files into {args.folder}: " +
                        ", ".join(p.relative_to(args.folder).as_posix() for p in written)), markup=False)
    out.print(printable(f"next: cd {args.folder} && newsroom build"), markup=False)
    return EXIT_OK


def _print_problems(problems, err: Console) -> None:
    for problem in problems:
        err.print(str(problem), markup=False, soft_wrap=True)


def _summary(report: BuildReport, out: Console) -> None:
    result = report.published
    catalog = report.catalog
    out.print(
        f"built {len(catalog.items)} public items ({len(catalog.partner_only)} partner-only) "
        f"and {len(catalog.profiles)} profiles: {result.files} files written, "
        f"{len(result.added)} added, {len(result.changed)} changed, {len(result.removed)} removed "
        f"in {report.seconds:.2f}s",
        markup=False, soft_wrap=True,
    )
