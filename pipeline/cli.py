"""The ``newsroom`` command line: thin, each command calls one library function.

Exit codes: 0 done; 1 content errors (nothing published); 2 usage, config or environment.
"""

from __future__ import annotations

import argparse
import gc
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
from .config import Config, ConfigError, load_config, secret
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


_whole_process = False   # set by run(): the process ends when the command does


def run() -> None:
    """The ``newsroom`` command: :func:`main` as the whole process. The objects left at the
    end are frozen first, so that the collection at exit skips them (a command-line build
    ends 0.1 s sooner at 10,000 items; tests call :func:`main` and keep their collector)."""
    global _whole_process
    _whole_process = True
    code = main()
    gc.freeze()
    raise SystemExit(code)


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
    send = actions.add_parser("send",
                              help="send the due edition to every active subscriber who has not had it")
    send.add_argument("newsletter", metavar="NEWSLETTER", help="a newsletter id of newsroom.toml")
    _common(send)
    send.add_argument("--now", metavar="ISO", help="the edition due at this instant (default: now)")
    send.set_defaults(handler=_digest_send)
    listing = actions.add_parser("list", help="each newsletter's last and next editions")
    _common(listing)
    listing.add_argument("--now", metavar="ISO", help="as of this instant (default: now)")
    listing.set_defaults(handler=_digest_list)

    serve = commands.add_parser("serve", help="serve output/ and the subscriber service (unsubscribe, "
                                              "preferences, subscribe) with waitress")
    serve.add_argument("--port", type=int, default=8080, metavar="N", help="default 8080")
    serve.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (put a reverse proxy in front)")
    serve.add_argument("--config", type=Path, default=Path("newsroom.toml"), metavar="F")
    serve.set_defaults(handler=_serve)

    daemon = commands.add_parser("run", help="the daemon: rebuild on schedule, at embargo ends and on edits; "
                                             "send digests at their times")
    daemon.add_argument("--watch", action="store_true", help="also rebuild when content, templates or "
                                                              "newsroom.toml change")
    daemon.add_argument("--once", action="store_true",
                        help="do what is due now and exit (for cron/systemd timers)")
    daemon.add_argument("--config", type=Path, default=Path("newsroom.toml"), metavar="F")
    daemon.set_defaults(handler=_run)

    worker = commands.add_parser("worker", help="send queued digests; run any number, on any machines that "
                                                "share the state database")
    worker.add_argument("--concurrency", type=int, metavar="N",
                        help="SMTP connections of this worker (default: [delivery] connections)")
    worker.add_argument("--once", action="store_true", help="send what is queued now and exit")
    worker.add_argument("--lease-seconds", type=float, default=None, metavar="S",
                        help="how long a claimed batch stays this worker's without a renewal (default 60): "
                             "after a crash, other workers take it over after this")
    _common(worker)
    worker.set_defaults(handler=_worker)

    database = commands.add_parser("db", help="the state database: migrate, show its state")
    db_actions = database.add_subparsers(dest="action", required=True, metavar="ACTION")
    db_upgrade = db_actions.add_parser("upgrade", help="apply the migrations this Newsroom knows")
    db_upgrade.add_argument("--config", type=Path, default=Path("newsroom.toml"), metavar="F")
    db_upgrade.set_defaults(handler=_db_upgrade)
    db_status = db_actions.add_parser("status",
                                      help="where it is, its revision, what is queued and who sends")
    db_status.add_argument("--config", type=Path, default=Path("newsroom.toml"), metavar="F")
    db_status.set_defaults(handler=_db_status)

    hooks = commands.add_parser("webhooks", help="partner webhooks and WebSub pings")
    hook_actions = hooks.add_subparsers(dest="action", required=True, metavar="ACTION")
    hook_log = hook_actions.add_parser("log", help="the latest delivery attempts")
    hook_log.add_argument("--limit", type=int, default=50, metavar="N")
    hook_log.add_argument("--config", type=Path, default=Path("newsroom.toml"), metavar="F")
    hook_log.set_defaults(handler=_webhooks_log)

    people = commands.add_parser("subscribers", help="newsletter subscribers: import, export, list, "
                                                     "add, remove, forget")
    tasks = people.add_subparsers(dest="action", required=True, metavar="ACTION")
    imp = tasks.add_parser("import", help="import a CSV (email, name, language, newsletters, topics)")
    imp.add_argument("file", type=Path, metavar="FILE.csv")
    imp.add_argument("--pending", action="store_true",
                     help="new subscribers confirm first (a confirmation message is sent)")
    imp.add_argument("--resubscribe", action="store_true",
                     help="subscribe again people who unsubscribed (only with their renewed consent)")
    imp.add_argument("--config", type=Path, default=Path("newsroom.toml"), metavar="F")
    imp.set_defaults(handler=_subscribers_import)
    exp = tasks.add_parser("export", help="every subscription as CSV")
    exp.add_argument("--to", type=Path, metavar="FILE", help="write here (default: standard output)")
    exp.add_argument("--config", type=Path, default=Path("newsroom.toml"), metavar="F")
    exp.set_defaults(handler=_subscribers_export)
    lst = tasks.add_parser("list", help="counts per newsletter and status")
    lst.add_argument("--config", type=Path, default=Path("newsroom.toml"), metavar="F")
    lst.set_defaults(handler=_subscribers_list)
    add = tasks.add_parser("add", help="subscribe one address (consent obtained elsewhere)")
    add.add_argument("email")
    add.add_argument("--newsletter", required=True, metavar="ID")
    add.add_argument("--name", default="")
    add.add_argument("--language", metavar="LANG")
    add.add_argument("--topics", default="", metavar="A,B", help="narrow to these topics")
    add.add_argument("--config", type=Path, default=Path("newsroom.toml"), metavar="F")
    add.set_defaults(handler=_subscribers_add)
    remove = tasks.add_parser("remove", help="unsubscribe an address (from one newsletter, or all)")
    remove.add_argument("email")
    remove.add_argument("--newsletter", metavar="ID")
    remove.add_argument("--config", type=Path, default=Path("newsroom.toml"), metavar="F")
    remove.set_defaults(handler=_subscribers_remove)
    forget = tasks.add_parser("forget", help="erase a person's data; a keyed hash keeps them from being "
                                             "imported again")
    forget.add_argument("email")
    forget.add_argument("--config", type=Path, default=Path("newsroom.toml"), metavar="F")
    forget.set_defaults(handler=_subscribers_forget)

    ingest = commands.add_parser("ingest", help="fetch the [[sources]] feeds into content/news/ingested/")
    ingest.add_argument("source", nargs="?", metavar="SOURCE", help="only this source (default: all)")
    _common(ingest)
    ingest.add_argument("--status", action="store_true",
                        help="each source's health: last fetch, last success, items, conflicts, errors")
    ingest.add_argument("--now", metavar="ISO", help="fetch as of this instant (default: now)")
    ingest.set_defaults(handler=_ingest)

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
    if _whole_process:
        # a build pauses the cycle collector; when it resumed, it would walk all the
        # objects the build made, to find nothing, just before the process exits
        gc.disable()
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
    if not args.output and (config.site.websub_hubs or any(p.webhook_url for p in config.partners)):
        from .notify import notify  # the site's own output: tell partners and hubs

        notify(config, now, log=lambda line: err.print(line, markup=False, soft_wrap=True))
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


def _digest_send(args, config: Config, out: Console, err: Console) -> int:
    from .digest import send_edition

    newsletter = config.newsletter(args.newsletter)
    now = _now(args.now, config)
    with _progress(err, f"sending {newsletter.id}") as progress:
        try:
            sending = send_edition(config, newsletter.id, now, _content_dir(args, config), progress=progress)
        except ContentErrors as exc:
            return _content_failed(exc, err)
    if sending.edition is None:
        out.print(f"{newsletter.id}: nothing to send at {now.isoformat()}", markup=False)
        return EXIT_OK
    r = sending.report
    if r is None:
        out.print(f"{sending.edition.id}: {sending.queued} message(s) queued; {sending.workers} running "
                  "`newsroom worker` process(es) send them", markup=False)
        return EXIT_OK
    for error in r.errors[:20]:
        err.print(printable(f"newsroom: failed: {error}"), markup=False, soft_wrap=True)
    out.print(f"{sending.edition.id}: {r.sent} sent, {r.skipped} skipped (nothing for them), "
              f"{r.failed} failed, {r.deferred} deferred to the next run, {r.unknown} of unknown outcome, "
              f"{r.retried} retried, {r.already_sent} sent before; {r.seconds:.1f}s, {r.rate:.1f} messages/s",
              markup=False)
    return EXIT_OK if not (r.failed or r.deferred or r.unknown) else EXIT_CONTENT


@contextmanager
def _progress(console, label: str) -> Iterator:
    """A progress bar on a terminal; nothing elsewhere. Yields ``update(done, total)``."""
    if not isinstance(console, _PlainConsole):
        from rich.progress import Progress

        with Progress(console=console, transient=True) as bar:
            task = bar.add_task(label, total=None)
            yield lambda done, total: bar.update(task, completed=done, total=total)
        return
    yield None


def _serve(args, config: Config, out: Console, err: Console) -> int:
    import waitress

    from .service import ServiceApp

    app = ServiceApp(config)
    out.print(f"serving {config.paths.output} and the subscriber service on http://{args.host}:{args.port}/ "
              f"(public address: {config.service_url})", markup=False)
    waitress.serve(app, host=args.host, port=args.port, threads=8, ident="newsroom",
                   max_request_body_size=1_000_000, channel_timeout=30)
    return EXIT_OK


def _run(args, config: Config, out: Console, err: Console) -> int:
    import logging

    from .runtime import run, run_once

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    if args.once:
        run_once(config)
    else:
        run(config, watch=args.watch)
    return EXIT_OK


def _worker(args, config: Config, out: Console, err: Console) -> int:
    import logging

    from .delivery import LEASE_SECONDS
    from .worker import run_worker

    if args.concurrency is not None and not 1 <= args.concurrency <= 64:
        raise UsageError("--concurrency: expected 1 to 64")
    if args.lease_seconds is not None and not 1 <= args.lease_seconds <= 3600:
        raise UsageError("--lease-seconds: expected 1 to 3600")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sent = run_worker(config, args.concurrency, args.lease_seconds or LEASE_SECONDS, once=args.once,
                      content_dir=args.content)
    out.print(f"sent {sent} message(s)", markup=False)
    return EXIT_OK


def _db_upgrade(args, config: Config, out: Console, err: Console) -> int:
    from .statedb import database_url, upgrade_database

    before, after = upgrade_database(database_url(config))
    where = config_where(config)
    if before == after:
        out.print(f"{where}: at revision {after}, the newest this Newsroom knows; nothing to do",
                  markup=False)
    else:
        out.print(f"{where}: upgraded from revision {before or 'none'} to {after}", markup=False)
    return EXIT_OK


def _db_status(args, config: Config, out: Console, err: Console) -> int:
    from .statedb import HEAD, database_status, database_url

    status = database_status(database_url(config))
    out.print(f"database: {config_where(config)} ({status.dialect})", markup=False)
    pending = f"; {len(status.pending)} migration(s) to apply: newsroom db upgrade" if status.pending else ""
    out.print(f"revision: {status.revision or 'none (empty)'} (this Newsroom: {HEAD}){pending}", markup=False)
    for name, value in status.counts:
        out.print(f"{name}: {value}", markup=False)
    return EXIT_OK


def config_where(config: Config) -> str:
    from .statedb import _where, database_url

    return _where(database_url(config))


def _webhooks_log(args, config: Config, out: Console, err: Console) -> int:
    from .notify import delivery_log

    rows = delivery_log(config, args.limit)
    if not rows:
        out.print("no webhook or hub deliveries yet", markup=False)
    for at, handler, kind, subject, attempt, outcome in rows:
        out.print(printable(f"{at[:19]}  {handler}  {kind} {subject}  try {attempt}: {outcome}"),
                  markup=False)
    return EXIT_OK


def _ingest(args, config: Config, out: Console, err: Console) -> int:
    from .ingest import ingest, ingest_status

    if not config.sources:
        out.print(f"no [[sources]] in {config.path.name}", markup=False)
        return EXIT_OK
    known = [source.id for source in config.sources]
    if args.source is not None and args.source not in known:
        raise UsageError(f"no source {args.source!r} in {config.path.name} (there are: {', '.join(known)})")
    content = _content_dir(args, config)
    if args.status:
        _print_ingest_status(ingest_status(config, content), out)
        return EXIT_OK
    def report(text: str) -> None:
        for line in text.splitlines():   # printable() shows a newline as \n: one line each
            out.print(printable(line), markup=False)

    reports = ingest(config, args.source, _now(args.now, config), content, log=report)
    failed = [r.source for r in reports if not r.ok]
    if failed:
        err.print(printable(f"newsroom: {len(failed)} source(s) failed: {', '.join(failed)}; "
                            "the others were ingested"), markup=False)
        return EXIT_CONTENT
    return EXIT_OK


def _print_ingest_status(rows, out: Console) -> None:
    header = ("source", "health", "last fetch", "last success", "items", "conflicts", "failures",
              "last error")
    table = [header] + [(r.source, r.health, (r.last_fetch or "never")[:16], (r.last_success or "never")[:16],
                         str(r.items), str(r.conflicts), str(r.failures), (r.last_error or "")[:80])
                        for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(header) - 1)]
    for row in table:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        out.print(printable("  ".join([*cells, row[-1]]).rstrip()), markup=False)


@contextmanager
def _subscribers(config: Config) -> Iterator:
    """The subscriber store of the state database, closed after the block."""
    from .statedb import state_database
    from .subscribers import SubscriberStore

    with state_database(config) as db:
        yield SubscriberStore(db, config, secret("NEWSROOM_SECRET"))


def _email(text: str) -> str:
    from .subscribers import normalize_email

    try:
        return normalize_email(text)
    except ValueError as exc:
        raise UsageError(f"{text!r}: {exc}") from None


def _subscribers_import(args, config: Config, out: Console, err: Console) -> int:
    with _subscribers(config) as store:
        report = store.import_csv(args.file.resolve(), _now(None, config), pending=args.pending,
                                  resubscribe=args.resubscribe)
        confirmations = 0
        if report.pending:
            from .confirm import send_confirmations

            confirmations = send_confirmations(config, store, report.pending, _now(None, config))
    for problem in report.problems:
        err.print(printable(str(problem)), markup=False, soft_wrap=True)
    out.print(f"imported {args.file.name}: {report.added} added, {report.updated} updated, "
              f"{report.unchanged} unchanged, {report.kept_unsubscribed} kept unsubscribed, "
              f"{len(report.problems)} bad row(s)" + (f"; {confirmations} confirmation message(s) sent"
                                                       if args.pending else ""), markup=False)
    return EXIT_CONTENT if report.problems else EXIT_OK


def _subscribers_export(args, config: Config, out: Console, err: Console) -> int:
    with _subscribers(config) as store:
        text = store.export_csv()
    if args.to:
        from .publish import write_atomically

        write_atomically(args.to.resolve(), text.encode("utf-8"))
        out.print(printable(f"wrote {args.to}"), markup=False)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _subscribers_list(args, config: Config, out: Console, err: Console) -> int:
    from .subscribers import STATUSES

    with _subscribers(config) as store:
        counts = store.counts()
    configured = [n.id for n in config.newsletters]
    names = configured + sorted({nl for nl, _ in counts} - set(configured))
    width = max([len("newsletter"), *map(len, names)])
    out.print(f"{'newsletter':<{width}}  " + "  ".join(f"{s:>12}" for s in STATUSES), markup=False)
    for name in names:
        out.print(f"{name:<{width}}  " + "  ".join(f"{counts.get((name, s), 0):>12}" for s in STATUSES),
                  markup=False)
    return EXIT_OK


def _subscribers_add(args, config: Config, out: Console, err: Console) -> int:
    with _subscribers(config) as store:
        topics = [t for t in args.topics.replace(",", " ").split() if t]
        try:
            outcome = store.subscribe(_email(args.email), args.newsletter, _now(None, config), "cli",
                                      name=args.name, language=args.language, topics=topics)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    out.print(f"{args.newsletter}: {outcome}", markup=False)
    return EXIT_OK


def _subscribers_remove(args, config: Config, out: Console, err: Console) -> int:
    with _subscribers(config) as store:
        subscriber = store.get(_email(args.email))
        if subscriber is None:
            raise UsageError(f"no subscriber {args.email!r}")
        if args.newsletter is not None:
            config.newsletter(args.newsletter)
        changed = store.set_status(subscriber.id, args.newsletter, "unsubscribed", _now(None, config), "cli")
    out.print(f"unsubscribed from {changed} newsletter(s)", markup=False)
    return EXIT_OK


def _subscribers_forget(args, config: Config, out: Console, err: Console) -> int:
    with _subscribers(config) as store:
        address = _email(args.email)
        found = store.forget(address, _now(None, config))
    from .senders import OutboxSender

    purged = OutboxSender(config.paths.state / "outbox").purge(address)
    if purged:
        out.print(f"removed {purged} message(s) to the address from the outbox", markup=False)
    out.print("forgotten: their data is erased; a keyed hash keeps them from being imported again"
              if found else "no such subscriber; the address is kept from being imported", markup=False)
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
