"""The state database: publication journal, newsletter editions, subscribers and sends.

One database that survives restarts: SQLite at ``state/newsroom.db`` by default, any
SQLAlchemy URL in ``NEWSROOM_DB_URL`` (PostgreSQL when one machine is outgrown). Its
schema is versioned by Alembic migrations (``pipeline/migrations``): an older database is
upgraded when it is opened, one newer than this code is refused with a clear error.

Stages talk to a small :class:`Database` interface with plain, portable SQL and named
parameters (``:id``), which two transports carry:

- :class:`SqliteDatabase`, the standard library's ``sqlite3``, for ``sqlite:///`` URLs
  and the default: a rebuild after one edit must not pay SQLAlchemy's import (a quarter
  of a second) to read its journal;
- :class:`EngineDatabase`, an SQLAlchemy engine, for every other URL
  (``sqlite+pysqlite:///`` selects it for SQLite, which the tests use to run both).

Alembic (and so SQLAlchemy) is imported only when the schema must change.
"""

from __future__ import annotations

import fcntl
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .config import Config, ConfigError, secret

__all__ = ["HEAD", "Database", "DatabaseStatus", "EngineDatabase", "SqliteDatabase", "connect",
           "database_status", "database_url", "open_database", "state_database", "state_lock",
           "upgrade_database"]

# The newest migration (pipeline/migrations/versions). A test holds it to Alembic's head.
HEAD = "0005"
KNOWN = ("0001", "0002", "0003", "0004", "0005")   # oldest first

Params = Mapping[str, Any]
MIGRATION_LOCK = 0x4E52_4D49_4752   # a PostgreSQL advisory lock key: "NRMIGR"


class Database(Protocol):
    url: str
    dialect: str   # "sqlite", "postgresql", … (SQLAlchemy's dialect names)

    def query(self, sql: str, params: Params | None = None) -> list[tuple]:
        """The rows of a SELECT."""

    def execute(self, sql: str, params: Params | None = None) -> int:
        """Run one statement; the number of rows it changed. Outside :meth:`transaction`
        it is committed at once."""

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        """Run one statement for each of ``rows``."""

    def transaction(self):
        """A context: everything inside commits together or not at all."""

    def rollback_if_needed(self) -> None:
        """End a transaction a failed statement left open."""

    def erase_freed(self) -> None:
        """After deleting personal data: leave no copy of it where the database keeps old
        pages (SQLite: secure_delete is on; the write-ahead log is checkpointed and cut)."""

    def close(self) -> None: ...


def database_url(config: Config) -> str:
    """``NEWSROOM_DB_URL``, else SQLite at ``state/newsroom.db``. A relative SQLite path
    (``sqlite:///db/news.db``) resolves against the site folder."""
    url = secret("NEWSROOM_DB_URL")
    if url is None:
        return f"sqlite:///{config.paths.state / 'newsroom.db'}"
    for prefix in ("sqlite:///", "sqlite+pysqlite:///"):
        if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
            return prefix + str(config.path.parent / url.removeprefix(prefix))
    return url


def connect(url: str) -> Database:
    """The database at ``url`` as it is (no migration)."""
    if url.startswith("sqlite:///") and "?" not in url:
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteDatabase(path)
    return EngineDatabase(url)


def open_database(url: str) -> Database:
    """The database at ``url``, its schema brought up to :data:`HEAD`."""
    db = connect(url)
    try:
        upgrade(db)
    except BaseException:
        db.close()
        raise
    return db


def upgrade_database(url: str) -> tuple[str | None, str]:
    """``newsroom db upgrade``: the revisions before and after."""
    db = connect(url)
    try:
        before = revision(db)
        upgrade(db)
        return before, revision(db) or HEAD
    finally:
        db.close()


@dataclass(frozen=True)
class DatabaseStatus:
    dialect: str
    revision: str | None
    pending: tuple[str, ...]
    counts: tuple[tuple[str, str], ...]   # (what, how many), for people


def database_status(url: str) -> DatabaseStatus:
    """``newsroom db status``: the schema and what the tables hold, changing nothing."""
    from datetime import UTC, datetime

    db = connect(url)
    try:
        current = revision(db)
        if current is not None and current not in KNOWN:
            raise ConfigError(f"{_where(url)} was written by a newer Newsroom (schema revision {current!r})")
        pending = KNOWN[KNOWN.index(current) + 1:] if current else KNOWN
        counts: list[tuple[str, str]] = []
        if current == HEAD:
            now = datetime.now(UTC).isoformat(timespec="microseconds")
            queries = (
                ("subscribers", "SELECT COUNT(*) FROM subscribers", {}),
                ("editions issued", "SELECT COUNT(*) FROM editions", {}),
                ("messages queued", "SELECT COUNT(*) FROM sends WHERE status IN ('queued', 'sending')", {}),
                ("messages sent", "SELECT COUNT(*) FROM sends WHERE status = 'sent'", {}),
                ("send workers alive", "SELECT COUNT(*) FROM workers WHERE alive_until >= :now",
                 {"now": now}),
                ("events awaiting delivery", "SELECT COUNT(*) FROM deliveries WHERE status = 'pending'", {}),
                ("scheduled jobs", "SELECT COUNT(*) FROM scheduler_jobs", {}),
                ("ingested entries", "SELECT COUNT(*) FROM ingest_entries", {}),
            )
            counts = [(name, str(db.query(sql, params)[0][0])) for name, sql, params in queries]
        return DatabaseStatus(db.dialect, current, tuple(pending), tuple(counts))
    finally:
        db.close()


@contextmanager
def state_database(config: Config) -> Iterator[Database]:
    """The site's state database, open for the block and closed after it."""
    db = open_database(database_url(config))
    try:
        yield db
    finally:
        db.close()


@contextmanager
def state_lock(config: Config, name: str) -> Iterator[bool]:
    """Try to hold ``state/.<name>.lock`` for the block; yields False (at once) when another
    process holds it. A lock of this machine: several machines need the database's."""
    config.paths.state.mkdir(parents=True, exist_ok=True)
    with open(config.paths.state / f".{name}.lock", "a+b") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def revision(db: Database) -> str | None:
    """The schema's Alembic revision; None for a database Alembic never touched."""
    try:
        rows = db.query("SELECT version_num FROM alembic_version")
    except Exception:   # no such table: a new database, or one from before migrations
        db.rollback_if_needed()
        return None
    return rows[0][0] if rows else None


SNAPSHOT = Path(__file__).parent / "migrations" / "head.sqlite.sql"


def upgrade(db: Database) -> None:
    current = revision(db)
    if current == HEAD:
        return
    if current is None and isinstance(db, SqliteDatabase) and db.is_empty():
        # A new SQLite file: the head schema as Alembic makes it (tests/test_statedb.py holds
        # the snapshot to that), without importing Alembic and SQLAlchemy (half a second of
        # every first build on a machine).
        if db.create_from(SNAPSHOT.read_text(encoding="utf-8"), HEAD):
            return
        current = revision(db)   # made meanwhile by another process
        if current == HEAD:
            return
    if current is not None and current not in KNOWN:
        raise ConfigError(f"{_where(db.url)} was written by a newer Newsroom (schema revision {current!r}; "
                          f"this one knows up to {HEAD!r}): upgrade Newsroom")
    _run_alembic(db.url)


def _run_alembic(url: str) -> None:
    from alembic import command
    from alembic.config import Config as AlembicConfig
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            if engine.dialect.name == "postgresql":   # processes starting together migrate one by one
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
            cfg = AlembicConfig()
            cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
    finally:
        engine.dispose()


def _where(url: str) -> str:
    """The URL without what could be a password (anything before an @), for messages."""
    if "@" in url:
        head, host = url.rsplit("@", 1)
        scheme = head.split("//", 1)[0] + "//" if "//" in head else ""
        return f"{scheme}…@{host}"
    return url.removeprefix("sqlite:///")


# -- transports ----------------------------------------------------------------------------------


class SqliteDatabase:
    """The standard library's sqlite3: no import cost, WAL, a 30 s busy timeout."""

    def __init__(self, path: Path):
        self.url = f"sqlite:///{path}"
        self.dialect = "sqlite"
        # we say when to commit; threads may share it under the caller's lock (the sender)
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._depth = 0
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL commits survive a killed process without an fsync each; only a power cut may
        # lose the last ones (a send ledger then repeats its last few messages)
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA secure_delete=ON")   # deleted rows are overwritten (forget)

    def query(self, sql: str, params: Params | None = None) -> list[tuple]:
        return self._db.execute(sql, params or {}).fetchall()

    def execute(self, sql: str, params: Params | None = None) -> int:
        return self._db.execute(sql, params or {}).rowcount

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        self._db.executemany(sql, rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._depth:   # nested: part of the outer transaction
            yield
            return
        self._db.execute("BEGIN IMMEDIATE")   # take the write lock now, not halfway through
        self._depth = 1
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")
        finally:
            self._depth = 0

    def rollback_if_needed(self) -> None:
        pass

    def erase_freed(self) -> None:
        # TRUNCATE waits for readers (busy timeout); another connection still reading an old
        # snapshot can keep frames alive until it ends
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def is_empty(self) -> bool:
        return not self._db.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()

    def create_from(self, schema: str, revision_: str) -> bool:
        """Make the schema of an empty database from its SQL, stamped ``revision_``, at once;
        False if another process made it first."""
        with self.transaction():
            if not self.is_empty():
                return False
            for statement in filter(str.strip, schema.split(";\n")):
                self._db.execute(statement)
            self._db.execute("INSERT INTO alembic_version (version_num) VALUES (:v)", {"v": revision_})
        return True

    def schema(self) -> str:
        """The SQL of every table and index (for the snapshot)."""
        rows = self._db.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid")
        return "".join(sql + ";\n" for (sql,) in rows)

    def close(self) -> None:
        self._db.close()


class EngineDatabase:
    """Any database SQLAlchemy reaches, through one connection."""

    def __init__(self, url: str):
        from sqlalchemy import create_engine
        from sqlalchemy.exc import ArgumentError, SQLAlchemyError

        self.url = url
        try:
            self._engine = create_engine(url)
            self._connection = self._engine.connect()
        except ImportError as exc:
            raise ConfigError(f"NEWSROOM_DB_URL: {_where(url)} needs a database driver that is not "
                              f"installed ({exc.name or exc}); for PostgreSQL: pip install 'psycopg[binary]'"
                              ) from None
        except (ArgumentError, SQLAlchemyError, ValueError) as exc:
            detail = str(exc).splitlines()[0].replace(url, _where(url))
            raise ConfigError(f"NEWSROOM_DB_URL: cannot open {_where(url)}: {detail}") from None
        self._depth = 0
        self.dialect = self._engine.dialect.name

    def query(self, sql: str, params: Params | None = None) -> list[tuple]:
        from sqlalchemy import text

        with self._statement():
            rows = [tuple(row) for row in self._connection.execute(text(sql), dict(params or {}))]
        self._autocommit()
        return rows

    def execute(self, sql: str, params: Params | None = None) -> int:
        from sqlalchemy import text

        with self._statement():
            count = self._connection.execute(text(sql), dict(params or {})).rowcount
        self._autocommit()
        return count

    def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        from sqlalchemy import text

        batch = [dict(row) for row in rows]
        if batch:
            with self._statement():
                self._connection.execute(text(sql), batch)
        self._autocommit()

    @contextmanager
    def _statement(self) -> Iterator[None]:
        """A failed statement outside :meth:`transaction` is rolled back at once: on
        PostgreSQL it would leave the connection refusing every later statement."""
        try:
            yield
        except BaseException:
            if not self._depth:
                self.rollback_if_needed()
            raise

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._depth:
            yield
            return
        if self._connection.in_transaction():
            self._connection.commit()
        self._depth = 1
        try:
            with self._connection.begin():
                yield
        finally:
            self._depth = 0

    def _autocommit(self) -> None:
        if not self._depth and self._connection.in_transaction():
            self._connection.commit()

    def rollback_if_needed(self) -> None:
        if self._connection.in_transaction():
            self._connection.rollback()

    def erase_freed(self) -> None:
        pass   # a server database reclaims deleted rows itself (PostgreSQL: on VACUUM)

    def close(self) -> None:
        self._connection.close()
        self._engine.dispose()
