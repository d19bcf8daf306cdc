"""``newsroom run``: the daemon that builds, sends and notifies on its own.

APScheduler 3 runs the jobs, kept in the state database (an SQLAlchemy job store), so a
restart knows what was due while it was down:

- ``build``: every ``[runtime] rebuild_minutes``; each build delivers the event outbox
  (webhooks, WebSub) and re-plans ``embargo``;
- ``embargo``: one-off, at the next embargo's end (the earliest future-dated item), so an
  embargoed item is public within seconds of its time;
- ``ingest``: every ``[runtime] ingest_minutes`` when there are ``[[sources]]``: fetches
  them (:mod:`pipeline.ingest`) and builds when anything was written;
- ``digest:<id>``: each newsletter's cron schedule (:meth:`pipeline.schedule.Schedule`,
  in the site's time zone) sends the due edition. ``coalesce`` and a misfire grace of
  ``[runtime] digest_grace_hours``: after downtime a missed digest is sent once, and not
  at all when it is older than that.

Jobs run one at a time (one worker thread; the build also holds the output lock).
SIGTERM and SIGINT let the running job finish, then stop. ``--once`` does what is due now
and exits (for cron or systemd timers); ``--watch`` rebuilds when ``content/``,
``templates/`` or ``newsroom.toml`` change (watchfiles, debounced: a burst of saves is one
build).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apscheduler.triggers.base import BaseTrigger

from .config import Config, load_config
from .schedule import Schedule

__all__ = ["CronScheduleTrigger", "Leadership", "run", "run_once"]

log = logging.getLogger("newsroom.run")
STANDBY_POLL = 1.0    # seconds between a waiting daemon's tries to lead
LEADER_CHECK = 1.0    # seconds between the leader's checks that its lock's connection lives
# The lock's connection: when the leader's machine vanishes, the server ends its session
# (and frees the lock) within ~25 s, on both ends' keepalives and an unacknowledged-data
# limit; a leader cut off from the server notices within seconds (statement timeout).
_LOCK_CONNECTION = {
    "connect_timeout": 5, "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5,
    "keepalives_count": 3, "tcp_user_timeout": 15000,
    "options": "-c tcp_keepalives_idle=10 -c tcp_keepalives_interval=5 -c tcp_keepalives_count=3"
               " -c tcp_user_timeout=15000 -c statement_timeout=5000",
}


class CronScheduleTrigger(BaseTrigger):
    """A newsletter's schedule as a trigger APScheduler can store (it pickles triggers)."""

    def __init__(self, cron: str, timezone: str):
        self.cron, self.timezone = cron, timezone

    @property
    def schedule(self) -> Schedule:
        from zoneinfo import ZoneInfo

        return Schedule.parse(self.cron, ZoneInfo(self.timezone))

    def get_next_fire_time(self, previous_fire_time, now):
        if previous_fire_time is None:
            return self.schedule.next_after(now - timedelta(microseconds=1))
        return self.schedule.next_after(previous_fire_time)

    def __getstate__(self):
        return {"version": 1, "cron": self.cron, "timezone": self.timezone}

    def __setstate__(self, state):
        self.cron, self.timezone = state["cron"], state["timezone"]

    def __str__(self) -> str:
        return f"cron[{self.cron} {self.timezone}]"


# -- the jobs (module functions: the job store keeps references to them by name) ----------------


# Set while this process leads (and only then do jobs run): a leader that lost its lock
# stops starting jobs at once, not only when its scheduler has been shut down.
_leading = threading.Event()
# Set on SIGTERM/SIGINT: a long job (a resumed send) stops after the messages in flight.
_stopping = threading.Event()


def _may_run(job: str) -> bool:
    if not _leading.is_set():
        log.warning("%s: not run: this daemon no longer leads", job)
        return False
    return True


def build_job(config_path: str) -> None:
    from .build import ContentErrors, build_site
    from .notify import notify

    if not _may_run("build"):
        return
    config = load_config(config_path)
    now = datetime.now(UTC).astimezone(config.site.timezone)
    try:
        report = build_site(config, now, keep_going=True, warm=True)
    except ContentErrors as exc:   # keep_going skips bad files; this is a last resort
        log.error("build failed: %d problem(s); the previous output stays", len(exc.problems))
        return
    result = report.published
    log.info("built %d items: %d added, %d changed, %d removed in %.2fs", len(report.catalog.items),
             len(result.added), len(result.changed), len(result.removed), report.seconds)
    for problem in report.content.problems:
        log.warning("skipped: %s", problem)
    notify(config, now, log=log.warning)
    plan_embargo(config, report.content.news, now)


def ingest_job(config_path: str) -> None:
    from .ingest import describe, ingest

    if not _may_run("ingest"):
        return
    config = load_config(config_path)
    reports = ingest(config)
    for report in reports:
        (log.info if report.ok else log.warning)("ingest: %s", describe(report))
    if any(report.changed for report in reports):
        build_job(config_path)


def digest_job(config_path: str, newsletter_id: str) -> None:
    from .digest import send_edition

    if not _may_run(f"digest:{newsletter_id}"):
        return
    config = load_config(config_path)
    now = datetime.now(UTC).astimezone(config.site.timezone)
    sending = send_edition(config, newsletter_id, now)
    if sending.edition is None:
        log.info("%s: nothing to send", newsletter_id)
        return
    r = sending.report
    if r is None:
        log.info("%s: %d message(s) queued for %d running worker(s)", sending.edition.id, sending.queued,
                 sending.workers)
        return
    log.info("%s: %d sent, %d skipped, %d failed, %d deferred", sending.edition.id, r.sent, r.skipped,
             r.failed, r.deferred)


def resume_job(config_path: str) -> None:
    """Finish editions left half-sent (a leader or a worker that died, a server that was
    down) when no worker runs to do it."""
    from .delivery import live_workers
    from .statedb import state_database
    from .worker import open_editions, run_worker

    if not _may_run("resume"):
        return
    config = load_config(config_path)
    now = datetime.now(UTC)
    with state_database(config) as db:
        if live_workers(db, now) or not open_editions(db, now):
            return
    sent = run_worker(config, once=True, stop=_stopping)
    log.info("resumed half-sent editions: %d sent", sent)


_plans: dict[str, object] = {}     # embargo plans jobs leave for the main loop (it owns the scheduler)
_plans_lock = threading.Lock()


def plan_embargo(config: Config, news, now: datetime) -> None:
    """Plan a one-off build at the next embargo's end (the main loop puts it in the
    scheduler: a job must not call the scheduler, which a shutdown may be holding)."""
    upcoming = [item.date for item in news
                if item.status != "draft" and item.date.timestamp() > now.timestamp()]
    at = min(upcoming, key=datetime.timestamp) + timedelta(seconds=1) if upcoming else None
    with _plans_lock:
        _plans["embargo"] = (str(config.path), at)


def _apply_plans(scheduler) -> None:
    with _plans_lock:
        plan = _plans.pop("embargo", None)
        watched = _plans.pop("watch", None)
    if watched is not None:
        # waits behind a running job however long it takes (never dropped as "missed")
        scheduler.add_job(build_job, args=[watched], id="watch-build", replace_existing=True,
                          misfire_grace_time=None, coalesce=True)
    if plan is None:
        return
    path, at = plan
    if at is None:
        if scheduler.get_job("embargo"):
            scheduler.remove_job("embargo")
        return
    scheduler.add_job(build_job, "date", run_date=at, args=[path], id="embargo", replace_existing=True,
                      misfire_grace_time=None, coalesce=True)
    log.info("next embargo ends %s: a build is planned then", at.isoformat())


# -- running -------------------------------------------------------------------------------------


def run_once(config: Config) -> None:
    """What is due now: the sources, a build, and each newsletter whose due edition is within
    the grace time (sending sends nothing twice). Nothing while a daemon leads."""
    with Leadership(config) as leadership:
        if not leadership.try_lead():
            log.warning("a `newsroom run` daemon is running (it holds the scheduler lock): it does what is "
                        "due; nothing done")
            return
        _leading.set()
        try:
            _run_due(config)
        finally:
            _leading.clear()


def _run_due(config: Config) -> None:
    if config.sources:
        ingest_job(str(config.path))
    build_job(str(config.path))
    resume_job(str(config.path))
    now = datetime.now(UTC)
    for newsletter in config.newsletters:
        due = newsletter.when.latest_at_or_before(now.astimezone(config.site.timezone))
        if due is None:
            continue
        if now.timestamp() - due.timestamp() > config.runtime.digest_grace_hours * 3600:
            log.warning("%s: the edition of %s is older than digest_grace_hours (%s h); not sent late",
                        newsletter.id, due.isoformat(), config.runtime.digest_grace_hours)
            continue
        digest_job(str(config.path), newsletter.id)


class Leadership:
    """One daemon schedules and builds; others wait. On PostgreSQL an advisory lock, held by
    a connection of its own for as long as the daemon leads: when the leader dies, its
    connection closes, the lock is free, and a waiting daemon takes over within
    :data:`STANDBY_POLL` seconds. On SQLite a lock file of this machine."""

    LOCK_KEY = 0x4E65_7773_526F_6F6D & 0x7FFF_FFFF_FFFF_FFFF   # "NewsRoom": one per database

    def __init__(self, config: Config):
        from .statedb import database_url

        self.config, self.url = config, database_url(config)
        self._connection = None
        self._engine = None
        self._held_lock: contextlib.ExitStack | None = None   # SQLite: the held state lock
        self._leads = False

    def __enter__(self) -> Leadership:
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    @property
    def _on_server(self) -> bool:
        return not self.url.startswith(("sqlite:", "sqlite+"))

    def try_lead(self) -> bool:
        """Become the leader if no one is; True if this daemon leads (now or already)."""
        if self._leads:
            return True
        if self._on_server:
            self._leads = self._try_advisory_lock()
            return self._leads
        from .statedb import state_lock

        held = contextlib.ExitStack()   # the state lock, kept entered for as long as this leads
        if not held.enter_context(state_lock(self.config, "scheduler")):
            held.close()
            return False
        self._held_lock, self._leads = held, True
        return True

    def wait_to_lead(self, stop: threading.Event) -> bool:
        """Wait until this daemon leads (True) or ``stop`` is set (False)."""
        said = False
        while not stop.is_set():
            try:
                if self.try_lead():
                    return True
            except Exception as exc:   # the database is down: keep waiting
                self._drop_connection()
                log.warning("standby: cannot reach the state database (%s); retrying", exc)
            if not said:
                log.info("standby: another daemon leads (it holds the scheduler lock); waiting to take over")
                said = True
            stop.wait(STANDBY_POLL)
        return False

    def still_leads(self) -> bool:
        """False once the lock's connection is gone (the database restarted, the network
        failed): the lock may be another daemon's by now."""
        if not self._on_server:
            return True
        try:
            from sqlalchemy import text

            self._connection.execute(text("SELECT 1"))
            return True
        except Exception:
            self._drop_connection()
            return False

    def release(self) -> None:
        self._drop_connection()
        if self._held_lock is not None:
            self._held_lock.close()   # leaves the state lock
            self._held_lock = None
        self._leads = False

    def _try_advisory_lock(self) -> bool:
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        if self._connection is None:
            args = _LOCK_CONNECTION if self.url.startswith("postgresql") else {}
            self._engine = create_engine(self.url, connect_args=args, poolclass=NullPool)
            self._connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        held = self._connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.LOCK_KEY})
        return bool(held.scalar())

    def _drop_connection(self) -> None:
        self._leads = False
        if self._connection is not None:
            with contextlib.suppress(Exception):   # already broken: nothing to unlock or close
                from sqlalchemy import text

                self._connection.execute(text("SELECT pg_advisory_unlock_all()"))
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def run(config: Config, watch: bool = False) -> None:
    """The daemon, until SIGTERM or SIGINT: waits to lead, then schedules and builds."""
    stop = threading.Event()

    def shutdown(signum, _frame):
        log.info("signal %s: finishing the running job, then stopping", signum)
        stop.set()
        _stopping.set()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    with Leadership(config) as leadership:
        while leadership.wait_to_lead(stop):
            log.info("leading: this daemon schedules and builds")
            _lead(config, watch, stop, leadership)
            if not stop.is_set():
                log.error("lost the scheduler lock (the state database went away): stopped scheduling; "
                          "waiting to lead again")
    log.info("stopped")


def _lead(config: Config, watch: bool, stop: threading.Event, leadership: Leadership) -> None:
    """Schedule and run the jobs until ``stop`` is set or the leadership is lost."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    from .statedb import database_url, state_database

    url = database_url(config)
    with state_database(config):   # created and migrated before the job store uses it
        pass
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(url=url, tablename="scheduler_jobs")},
        executors={"default": ThreadPoolExecutor(1)},   # one job at a time
        job_defaults={"coalesce": True, "max_instances": 1}, timezone=config.site.timezone)
    path = str(config.path)
    scheduler.add_job(build_job, "interval", minutes=config.runtime.rebuild_minutes, args=[path], id="build",
                      replace_existing=True, next_run_time=datetime.now(UTC), misfire_grace_time=None)
    if config.sources:
        scheduler.add_job(ingest_job, "interval", minutes=config.runtime.ingest_minutes, args=[path],
                          id="ingest", replace_existing=True, next_run_time=datetime.now(UTC),
                          misfire_grace_time=None)
    grace = int(config.runtime.digest_grace_hours * 3600)
    wanted = {f"digest:{n.id}" for n in config.newsletters} | ({"ingest"} if config.sources else set())
    scheduler.start(paused=True)
    for job in scheduler.get_jobs():
        if (job.id.startswith("digest:") or job.id == "ingest") and job.id not in wanted:
            job.remove()
    for newsletter in config.newsletters:
        trigger = CronScheduleTrigger(newsletter.schedule, config.site.timezone.key)
        job = scheduler.get_job(f"digest:{newsletter.id}")
        if job is not None and str(job.trigger) == str(trigger):
            continue   # kept as stored: a run missed while down is still due (or too old)
        scheduler.add_job(digest_job, trigger, args=[path, newsletter.id], id=f"digest:{newsletter.id}",
                          name=f"digest:{newsletter.id}", replace_existing=True, misfire_grace_time=grace)
    scheduler.add_job(resume_job, "interval", minutes=config.runtime.rebuild_minutes, args=[path],
                      id="resume", replace_existing=True, misfire_grace_time=None,
                      next_run_time=datetime.now(UTC) + timedelta(seconds=5))
    _leading.set()
    scheduler.resume()
    log.info("running: rebuild every %s min, %d newsletter(s), %d source(s)%s",
             config.runtime.rebuild_minutes, len(config.newsletters), len(config.sources),
             ", watching for changes" if watch else "")
    unwatch = threading.Event()
    watcher = threading.Thread(target=_watch, args=(config, unwatch), daemon=True) if watch else None
    if watcher:
        watcher.start()
    checked = time.monotonic()
    while not stop.wait(0.5):   # a timed wait: signal handlers run promptly
        _apply_plans(scheduler)
        if time.monotonic() - checked >= LEADER_CHECK:
            checked = time.monotonic()
            if not leadership.still_leads():
                _leading.clear()   # before anything else: no job starts from now on
                break
    _leading.clear()
    unwatch.set()
    scheduler.shutdown(wait=True)   # the running job finishes: a build is never cut short


def _watch(config: Config, stop: threading.Event) -> None:
    """Rebuild on changes to content, templates and newsroom.toml, a burst of saves once."""
    from watchfiles import watch

    paths = [config.paths.content, config.path]
    if config.paths.templates is not None:
        paths.append(config.paths.templates)
    ignored = {config.paths.output.resolve(), config.paths.state.resolve()}

    def interesting(_change, path: str) -> bool:
        return not any(Path(path).resolve().is_relative_to(folder) for folder in ignored) \
            and not Path(path).name.startswith(".")

    # a batch ends after 400 ms without changes (at most 3 s): an editor's burst is one build
    for changes in watch(*[str(p) for p in paths if p.exists()], watch_filter=interesting, debounce=3000,
                         step=400, stop_event=stop, yield_on_timeout=False):
        log.info("%d change(s): rebuilding", len(changes))
        with _plans_lock:
            _plans["watch"] = str(config.path)
