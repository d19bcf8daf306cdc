"""The state database: migrations, both transports, clear errors."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pipeline.build import build_site
from pipeline.config import ConfigError
from pipeline.journal import Journal
from pipeline.statedb import HEAD, KNOWN, _run_alembic, open_database

from .conftest import NOW, Site

V1_SCHEMA = """
CREATE TABLE published (target TEXT NOT NULL, id TEXT NOT NULL, url TEXT NOT NULL,
    lang TEXT NOT NULL, modified TEXT NOT NULL, PRIMARY KEY (target, id));
CREATE TABLE changes (target TEXT NOT NULL, seq INTEGER NOT NULL, at TEXT NOT NULL,
    event TEXT NOT NULL, id TEXT NOT NULL, url TEXT NOT NULL, lang TEXT NOT NULL,
    modified TEXT, PRIMARY KEY (target, seq));
CREATE TABLE sequence (target TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
INSERT INTO published VALUES ('output', 'x', 'https://e/x', 'en', '2026-01-01T00:00:00+00:00');
INSERT INTO changes VALUES ('output', 7, '2026-11-01T00:00:00+00:00', 'published', 'x', 'https://e/x', 'en',
    '2026-01-01T00:00:00+00:00');
INSERT INTO sequence VALUES ('output', 7);
PRAGMA user_version = 1;
"""


def url_of(path: Path, transport: str) -> str:
    return f"{transport}:///{path}"


@pytest.fixture(params=["sqlite", "sqlite+pysqlite"])
def transport(request) -> str:
    """The standard library's sqlite3, and SQLAlchemy's engine on the same kind of file."""
    return request.param


def test_alembics_head_is_the_head_the_code_knows():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    import pipeline.statedb

    config = Config()
    config.set_main_option("script_location", str(Path(pipeline.statedb.__file__).parent / "migrations"))
    script = ScriptDirectory.from_config(config)
    assert script.get_current_head() == HEAD
    assert [r.revision for r in reversed(list(script.walk_revisions()))] == list(KNOWN)


def test_a_new_database_is_made_at_head(tmp_path, transport):
    db = open_database(url_of(tmp_path / "new.db", transport))
    assert db.query("SELECT version_num FROM alembic_version") == [(HEAD,)]
    assert db.query("SELECT COUNT(*) FROM subscribers") == [(0,)]
    db.close()


def test_a_database_from_before_migrations_is_upgraded_and_keeps_its_rows(tmp_path, transport):
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        old.executescript(V1_SCHEMA)
    db = open_database(url_of(path, transport))
    assert db.query("SELECT id FROM published") == [("x",)]
    assert db.query("SELECT seq FROM changes") == [(7,)]
    assert db.query("SELECT last_seq FROM sequence") == [(7,)]
    assert db.query("SELECT COUNT(*) FROM editions") == [(0,)]
    journal = Journal(db, "output")
    assert journal.log(datetime(2026, 11, 2, tzinfo=UTC)).count == 1
    db.close()


def database_of_the_previous_revision(url: str) -> None:
    """Migrate the database at ``url`` to the revision before the head, with an edition in it."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, text

    import pipeline.statedb

    engine = create_engine(url)
    with engine.begin() as connection:
        config = Config()
        config.set_main_option("script_location", str(Path(pipeline.statedb.__file__).parent / "migrations"))
        config.attributes["connection"] = connection
        command.upgrade(config, KNOWN[-2])
        connection.execute(text("INSERT INTO editions VALUES ('w', '2026-W49', 'a', 'b', 'c')"))
    engine.dispose()


def test_a_database_of_the_previous_revision_is_upgraded_and_keeps_its_rows(tmp_path, transport):
    path = tmp_path / "previous.db"
    database_of_the_previous_revision(f"sqlite:///{path}")
    db = open_database(url_of(path, transport))
    assert db.query("SELECT version_num FROM alembic_version") == [(HEAD,)]
    assert db.query("SELECT edition FROM editions") == [("2026-W49",)]
    db.close()


def test_a_database_newer_than_the_code_is_a_clear_error(tmp_path, transport):
    path = tmp_path / "newer.db"
    open_database(url_of(path, "sqlite")).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(ConfigError, match="newer Newsroom"):
        open_database(url_of(path, transport))


def test_an_unreachable_or_unknown_database_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="NEWSROOM_DB_URL"):
        open_database("nosuchdialect://x/y")
    with pytest.raises(ConfigError, match="NEWSROOM_DB_URL: cannot open"):
        open_database(f"sqlite+pysqlite:///{tmp_path}/missing-folder/x/../../nowhere/db.sqlite")


def test_migrations_are_idempotent_when_run_again(tmp_path):
    url = url_of(tmp_path / "db.sqlite", "sqlite")
    open_database(url).close()
    _run_alembic(url)   # a second process that raced us to the upgrade finds nothing to do
    assert open_database(url).query("SELECT version_num FROM alembic_version") == [(HEAD,)]


def test_a_build_runs_the_same_through_sqlalchemy(tmp_path, monkeypatch):
    """The journal and editions through SQLAlchemy's engine give the same output as sqlite3."""
    outputs = {}
    for transport in ("sqlite", "sqlite+pysqlite"):
        (tmp_path / transport).mkdir()
        site = Site(tmp_path / transport)
        site.write_news("a", "title: A\ndate: 2026-11-20\ntopics: [neurological]\n")
        monkeypatch.setenv("NEWSROOM_DB_URL", f"{transport}:///{tmp_path / transport / 'state.db'}")
        build_site(site.config, NOW)
        site.write_news("b", "title: B\ndate: 2026-11-21\ntopics: [neurological]\n")
        build_site(site.config, NOW)
        outputs[transport] = (site.output / "syndication/changes.json").read_text()
    assert outputs["sqlite"] == outputs["sqlite+pysqlite"]
    assert outputs["sqlite"].count('"event": "published"') == 2


def test_the_snapshot_a_new_sqlite_database_is_made_from_is_alembics_head(tmp_path):
    """A new SQLite file gets the head schema from migrations/head.sqlite.sql (no Alembic
    import on a first build). After a new migration, write the snapshot again with:
    python -c "from pipeline.statedb import *; from pathlib import Path; p = Path('/tmp/s.db');
    _run_alembic(f'sqlite:///{p}'); SNAPSHOT.write_text(SqliteDatabase(p).schema())"."""
    from pipeline.statedb import SNAPSHOT, SqliteDatabase

    _run_alembic(f"sqlite:///{tmp_path / 'alembic.db'}")
    made_by_alembic = SqliteDatabase(tmp_path / "alembic.db").schema()
    assert SNAPSHOT.read_text(encoding="utf-8") == made_by_alembic
    fresh = open_database(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert fresh.schema() == made_by_alembic
    assert fresh.query("SELECT version_num FROM alembic_version") == [(HEAD,)]
    fresh.close()


def test_many_processes_opening_a_new_database_at_once_all_succeed(tmp_path):
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'race.db'}"
    code = f"from pipeline.statedb import open_database; open_database({url!r}).close()"
    children = [subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE) for _ in range(6)]
    errors = [child.communicate()[1] for child in children]
    assert [child.returncode for child in children] == [0] * 6, errors


def test_database_urls_in_errors_never_show_a_password():
    for url in ("postgres//user:s3cretpw@host/db", "postgresql://user:s3cretpw@host:notaport/db",
                "nosuch://user:s3cretpw@host/db"):
        with pytest.raises(ConfigError) as caught:
            open_database(url)
        assert "s3cretpw" not in str(caught.value) and "NEWSROOM_DB_URL" in str(caught.value)
