"""The state database: the publication journal and the newsletter editions, in SQLite.

One file (``state/newsroom.db``, or ``NEWSROOM_DB_URL``) that survives restarts. Its
schema carries a version (``PRAGMA user_version``): an older file is upgraded in place
when opened, a newer one is refused (it was written by a newer Newsroom). The SQL is
kept portable (no SQLite-only types or upserts), because a server database comes next.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .config import Config, ConfigError, secret

__all__ = ["SCHEMA_VERSION", "connect", "database_path"]

SCHEMA_VERSION = 2

# each version's statements, applied in order to bring a file up from the version before
_MIGRATIONS: dict[int, str] = {
    1: """
CREATE TABLE IF NOT EXISTS published (
    target TEXT NOT NULL,
    id TEXT NOT NULL,
    url TEXT NOT NULL,
    lang TEXT NOT NULL,
    modified TEXT NOT NULL,
    PRIMARY KEY (target, id)
);
CREATE TABLE IF NOT EXISTS changes (
    target TEXT NOT NULL,
    seq INTEGER NOT NULL,
    at TEXT NOT NULL,
    event TEXT NOT NULL CHECK (event IN ('published', 'updated', 'withdrawn')),
    id TEXT NOT NULL,
    url TEXT NOT NULL,
    lang TEXT NOT NULL,
    modified TEXT,
    PRIMARY KEY (target, seq)
);
CREATE TABLE IF NOT EXISTS sequence (
    target TEXT PRIMARY KEY,
    last_seq INTEGER NOT NULL
);
""",
    2: """
CREATE TABLE IF NOT EXISTS editions (
    newsletter TEXT NOT NULL,
    edition TEXT NOT NULL,
    scheduled_at TEXT NOT NULL,
    window_start TEXT NOT NULL,
    made_at TEXT NOT NULL,
    PRIMARY KEY (newsletter, edition)
);
CREATE TABLE IF NOT EXISTS edition_entries (
    newsletter TEXT NOT NULL,
    edition TEXT NOT NULL,
    position INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('new', 'updated', 'withdrawn')),
    item_id TEXT NOT NULL,
    modified TEXT,
    title TEXT NOT NULL,
    url TEXT NOT NULL,
    lang TEXT NOT NULL,
    topics TEXT NOT NULL,
    PRIMARY KEY (newsletter, edition, position)
);
""",
}


def database_path(config: Config) -> Path:
    """``NEWSROOM_DB_URL`` (``sqlite:///relative.db`` or ``sqlite:////absolute.db``), else
    ``state/newsroom.db``. Relative paths resolve against the site folder."""
    url = secret("NEWSROOM_DB_URL")
    if url is None:
        return config.paths.state / "newsroom.db"
    if not url.startswith("sqlite:///"):
        raise ConfigError(f"NEWSROOM_DB_URL: only sqlite:/// URLs are supported, not {url!r}")
    return config.path.parent / url.removeprefix("sqlite:///")


def connect(path: Path) -> sqlite3.Connection:
    """The database at ``path``, created or upgraded to :data:`SCHEMA_VERSION`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, timeout=30)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise ConfigError(f"{path} was written by a newer Newsroom (state database "
                              f"v{version}, this one knows v{SCHEMA_VERSION}); upgrade Newsroom")
        if version < SCHEMA_VERSION:
            with db:
                for step in range(version + 1, SCHEMA_VERSION + 1):
                    db.executescript(_MIGRATIONS[step])
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
    except BaseException:
        db.close()
        raise
    return db
