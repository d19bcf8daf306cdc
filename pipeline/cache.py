"""The parse cache: per-file reader results in SQLite (``state/parse-cache.sqlite3``).

Results are keyed by the SHA-256 of the file's bytes. Like git's index, a row also keeps
the file's stat signature: while that is unchanged the stored digest is trusted without
reading the file; otherwise the file is read and hashed, and only a new digest means
parsing it again. News bodies, most of the bytes, live in a table of their own and are
read one at a time when a renderer asks, so a build never holds all of them in memory.

The database carries a format version and a fingerprint of everything else a reader
depends on (the site settings and the reader code): a mismatch empties it, and a file
that is not a sound database is replaced. A build writes its changes in one
transaction, so a crash never leaves a torn cache, and writes nothing when nothing
changed.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import fields
from datetime import datetime
from pathlib import Path

from . import __version__
from .config import Site
from .model import NewsItem, Problem, Profile

__all__ = ["Bodies", "CacheChanged", "Packed", "ParseCache", "Parsed", "Signature", "pack", "signature",
           "site_fingerprint"]

CACHE_VERSION = 4   # 3: SQLite, one row per file, bodies apart; 4: a body row has its file's digest
_FILE = "parse-cache.sqlite3"
_OLD_FILE = "parse-cache.pickle"   # versions 1 and 2

Record = NewsItem | Profile | None
Parsed = tuple[bytes, Record, list[Problem]]   # (sha256 of the file's bytes, record, problems)
Packed = tuple[bytes, bytes | None, bytes | None, str | None]   # (digest, record, problems, body)
Signature = tuple[int | None, int, int]        # (st_mtime_ns, st_size, st_ino)

# A file changed within this long before the build started may change again within the
# same timestamp tick, unseen by its stat ("racy git"): its signature is stored without
# a time, so the next build hashes it again.
# The margin is the file system's timestamp granularity, with room to spare: whole seconds
# or coarser (FAT, ext3, HFS+) when the time has no fraction of a second, else a few
# milliseconds at most (ext4, xfs, btrfs, tmpfs, APFS, NTFS tick with the kernel's clock).
_RACY_NS = 2_000_000_000
_RACY_FINE_NS = 100_000_000
_BATCH = 500   # rows written per statement
_PREFETCH = 100   # bodies read per statement

_SCHEMA = (
    """CREATE TABLE files (
        path TEXT PRIMARY KEY,     -- relative to the content folder
        mtime_ns INTEGER,          -- NULL: changed too recently to trust (see _RACY_NS)
        size INTEGER NOT NULL,
        ino INTEGER NOT NULL,
        digest BLOB NOT NULL,      -- sha256 of the file's bytes
        record BLOB,               -- the record without its body; NULL if unreadable
        problems BLOB              -- pickled list of problems; NULL if none
    )""",
    # the digest again, so a body is read with one lookup (a join costs a renderer twice as long)
    "CREATE TABLE bodies (path TEXT PRIMARY KEY, digest BLOB NOT NULL, html TEXT NOT NULL)",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
)
_BODY = """SELECT html FROM bodies WHERE path = ? AND digest = ?
           AND (SELECT value FROM meta WHERE key = 'fingerprint') = ?"""
_BODIES = (f"SELECT path, digest, html FROM bodies WHERE path IN ({', '.join(['?'] * _PREFETCH)}) "
           "AND (SELECT value FROM meta WHERE key = 'fingerprint') = ?")
_CORRUPT = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}

# The code a cached result depends on: a change to any of these modules (a fix in a
# reader, say) must invalidate the cache even when the version number did not move.
_READER_MODULES = ("readers.py", "frontmatter.py", "markup.py", "model.py", "cache.py")


@functools.cache
def _code_hash() -> str:
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for name in _READER_MODULES:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()


def _library_versions() -> tuple[object, ...]:
    """The parsers a record is made with: an upgrade may change the HTML they write.
    (Read from the modules: importlib.metadata would cost a rebuild some 30 ms.)"""
    import nh3
    import yaml
    from cmarkgfm import cmark

    return cmark.CMARK_VERSION, nh3.__version__, yaml.__version__


def site_fingerprint(site: Site) -> str:
    """Everything besides a file's bytes that its record depends on."""
    parts = (__version__, CACHE_VERSION, _code_hash(), _library_versions(), site.base_url,
             str(site.timezone), site.languages, site.default_language)
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def signature(stat: os.stat_result) -> Signature:
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


class ParseCache:
    """The rows of the last build, and this build's changes to them (one write transaction,
    begun at the first change and committed by :meth:`commit`)."""

    def __init__(self, path: Path | None, db: sqlite3.Connection | None, fingerprint: str,
                 rows: dict[str, tuple]):
        self._path, self._db, self.fingerprint = path, db, fingerprint
        self._rows = rows   # path -> (path, mtime_ns, size, ino, digest, record, problems), until looked up
        self._generation: str | None = None   # of the rows read; a new one once this build writes
        self._decoded = False                 # the rows' record and problems are objects already
        self._next: dict[str, tuple] | None = None   # kept warm: this build's rows, decoded
        self._seen: dict[str, bytes] = {}      # path -> digest, for every file of this build
        self._restat: list[tuple[str, Signature]] = []   # same bytes, new signature
        self._writing = False
        self._started_ns = time.time_ns()
        self._rows_to_write: list[tuple] = []
        self._bodies_to_write: list[tuple[str, bytes, str | None]] = []
        self._codec = _Codec()

    @classmethod
    def open(cls, state_dir: Path, site: Site, warm: bool = False) -> ParseCache:
        """The cache of ``state_dir``. ``warm``, for a long-running process: this process
        keeps the decoded rows between builds and reuses them while no other process has
        written the cache since (its generation, a token each writing build changes)."""
        state_dir.mkdir(parents=True, exist_ok=True)
        (state_dir / _OLD_FILE).unlink(missing_ok=True)
        path, fingerprint = state_dir / _FILE, site_fingerprint(site)
        memo = _WARM.pop(path, None) if warm else None   # back at commit: a failed build drops it
        try:
            db, rows, generation = _load(path, fingerprint, memo)
        except sqlite3.DatabaseError as exc:
            if getattr(exc, "sqlite_errorcode", None) not in _CORRUPT:
                raise
            _remove(path)   # not a database, or a damaged one: start afresh
            db, rows, generation = _load(path, fingerprint, None)
        cache = cls(path, db, fingerprint, rows)
        if warm:
            cache._keep_warm(generation, decoded=memo is not None and memo.rows is rows)
        return cache

    def _keep_warm(self, generation: str | None, decoded: bool) -> None:
        self._generation, self._decoded, self._next = generation, decoded, {}

    @classmethod
    def disabled(cls, site: Site) -> ParseCache:
        """Misses everything and writes nothing; records keep their bodies."""
        return cls(None, None, site_fingerprint(site), {})

    def lookup(self, files: Iterable[tuple[str, str, Signature]]) -> list[Parsed | None]:
        """The stored result of each ``(name, path, stat)`` file, or None where it must be parsed.
        Rows leave memory as they are looked up, so their bytes and the records they become
        are not all held at once; the rows left over are the files that are gone."""
        rows, seen, record = self._rows, self._seen, self._codec.record
        decoded, warm = self._decoded, self._next
        results: list[Parsed | None] = []
        for name, path, stat in files:
            row = rows.pop(name, None)
            if row is None or (row[1:4] != stat and not self._same_bytes(row, path, stat)):
                results.append(None)
                continue
            seen[name] = row[4]
            if decoded:
                results.append((row[4], row[5], row[6]))
            else:
                results.append((row[4], record(row[5]), pickle.loads(row[6]) if row[6] else []))
            if warm is not None:
                warm[name] = (*row[:5], *results[-1][1:])
        return results

    def store(self, name: str, stat: Signature, packed: Packed) -> Parsed:
        """Write a freshly parsed result (see :func:`pack`); return it as :meth:`lookup`
        will: without its body (but with it when there is no cache to keep it)."""
        digest, record, problems, body = packed
        self._seen[name] = digest
        if self._db is not None:
            self._rows_to_write.append((name, *self._trusted(stat), digest, record, problems))
            self._bodies_to_write.append((name, digest, body))
            if len(self._rows_to_write) >= _BATCH:
                self._write_batch()
            body = None
        result = digest, self._codec.record(record, body), pickle.loads(problems) if problems else []
        if self._next is not None:
            self._next[name] = (name, *self._trusted(stat), *result)
        return result

    def _write_batch(self) -> None:
        """Rows go in batches: a cold build stores 10,000, one statement each costs seconds."""
        if not self._rows_to_write:
            return
        self._begin()
        self._db.executemany("INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?, ?)", self._rows_to_write)
        self._db.executemany("DELETE FROM bodies WHERE path = ?",
                             [(name,) for name, _, body in self._bodies_to_write if body is None])
        self._db.executemany("INSERT OR REPLACE INTO bodies VALUES (?, ?, ?)",
                             [row for row in self._bodies_to_write if row[2] is not None])
        self._rows_to_write, self._bodies_to_write = [], []

    def commit(self) -> Bodies | None:
        """Record new signatures, forget the files that are gone, and commit; return the
        reader of this build's bodies (None without a cache: the records keep theirs)."""
        if self._db is None:
            return None
        self._write_batch()
        gone = [(name,) for name in self._rows]
        if self._restat or gone:
            self._begin()
            self._db.executemany("UPDATE files SET mtime_ns = ?, size = ?, ino = ? WHERE path = ?",
                                 [(*self._trusted(stat), name) for name, stat in self._restat])
            self._db.executemany("DELETE FROM files WHERE path = ?", gone)
            self._db.executemany("DELETE FROM bodies WHERE path = ?", gone)
        if self._writing:
            self._db.execute("COMMIT")
            self._writing = False
        if self._next is not None:
            self._after_restat()
            _WARM[self._path] = _Warm(self.fingerprint, self._generation, self._next)  # type: ignore[index]
        return Bodies(self._path, self._db, self._seen, self.fingerprint)

    def close(self) -> None:
        """Give up: roll back this build's unfinished changes (the cache stays as it was)."""
        if self._db is not None:
            self._db.close()

    def _same_bytes(self, row: tuple, path: str, stat: Signature) -> bool:
        """A new signature: compare digests (a ``touch``, a checkout of the same bytes)."""
        try:
            if _digest(Path(path).read_bytes()) != row[4]:
                return False
        except OSError:
            return False   # unreadable now: parsing it again reports why
        if self._trusted(stat) != row[1:4]:
            self._restat.append((row[0], stat))
        return True

    def _after_restat(self) -> None:
        """The new signatures, in the rows kept warm too."""
        for name, stat in self._restat:
            row = self._next.get(name)   # type: ignore[union-attr]
            if row is not None:
                self._next[name] = (name, *self._trusted(stat), *row[4:])  # type: ignore[index]

    def _begin(self) -> None:
        if not self._writing:
            self._db.execute("BEGIN IMMEDIATE")
            self._writing = True
            if not _is_current(self._db, self.fingerprint):
                raise CacheChanged("a build with other site settings or code took over the parse "
                                   "cache during this one; build again")
            self._generation = os.urandom(16).hex()   # what a warm process checks its rows by
            self._db.execute("INSERT OR REPLACE INTO meta VALUES ('generation', ?)", (self._generation,))

    def _trusted(self, stat: Signature) -> Signature:
        mtime_ns, size, ino = stat
        margin = _RACY_NS if mtime_ns % 1_000_000_000 == 0 else _RACY_FINE_NS
        return (mtime_ns if mtime_ns < self._started_ns - margin else None), size, ino


class CacheChanged(RuntimeError):
    """Another build, run at the same time, changed what this one relies on in the cache
    (rows are self-consistent: builds with the same settings never get in each other's way)."""


class Bodies:
    """The sanitized body HTML of this build's news, read from the parse cache one at a time."""

    def __init__(self, path: Path, db: sqlite3.Connection, digests: dict[str, bytes], fingerprint: str):
        self._path, self._digests, self._fingerprint = path, digests, fingerprint
        self._connections = {os.getpid(): db}
        self._ahead: dict[str, str] = {}

    def prefetch(self, names: list[str]) -> None:
        """Read these bodies now, in one query, for the next :meth:`get` calls (the ones
        read before are let go). A renderer asks for the next hundred or so: one query
        each costs several times as much between two pages as in a row."""
        self._ahead = {}
        digests = self._digests
        for start in range(0, len(names), _PREFETCH):
            batch = names[start:start + _PREFETCH]
            # always as many parameters (no name is ""): one statement, compiled once
            rows = self._connection().execute(_BODIES, [*batch, *[""] * (_PREFETCH - len(batch)),
                                                        self._fingerprint])
            self._ahead.update((name, html) for name, digest, html in rows if digests[name] == digest)

    def get(self, name: str) -> str:
        html = self._ahead.pop(name, None)
        if html is not None:
            return html
        query = (name, self._digests[name], self._fingerprint)
        row = self._connection().execute(_BODY, query).fetchone()
        if row is None:
            raise CacheChanged(f"{name} changed during the build; build again")
        return row[0]

    def close(self) -> None:
        """Close this process's connection (a forked child leaves its parent's alone)."""
        db = self._connections.pop(os.getpid(), None)
        if db is not None:
            db.close()

    def _connection(self) -> sqlite3.Connection:
        """An SQLite connection must not cross fork(): a forked renderer opens its own (and
        leaves the inherited one alone)."""
        db = self._connections.get(os.getpid())
        if db is None:
            db = self._connections[os.getpid()] = _connect(self._path)
        return db


def pack(parsed: Parsed) -> Packed:
    """A reader's result as the cache stores it: the record without its body, and the body.
    A pure function, so that worker processes do this work, not the parent."""
    digest, record, problems = parsed
    body = record.body_html if isinstance(record, NewsItem) else None
    return digest, _encode(record), pickle.dumps(problems, protocol=5) if problems else None, body


# A NewsItem is stored as the tuple of its field values, which loads several times faster
# than the pickled dataclass (no field names, no time zone objects): the dates as their
# bytes, and in place of ``lines`` the item's "shape", pickled apart: the dates' time zones
# and the ``lines`` dict, which thousands of items share (see _Codec).
_FIELDS = tuple(f.name for f in fields(NewsItem))
_BODY_HTML, _DATE, _UPDATED, _LINES = map(_FIELDS.index, ("body_html", "date", "updated", "lines"))


def _encode(record: Record) -> bytes | None:
    if not isinstance(record, NewsItem):
        return None if record is None else pickle.dumps(record, protocol=5)
    values = [getattr(record, name) for name in _FIELDS]
    values[_BODY_HTML] = ""
    values[_DATE], *date_zone = record.date.__reduce_ex__(4)[1]   # fold included from protocol 4
    updated_zone = None
    if record.updated is not None:
        values[_UPDATED], *updated_zone = record.updated.__reduce_ex__(4)[1]
    values[_LINES] = pickle.dumps((date_zone, updated_zone, record.lines), protocol=5)
    return pickle.dumps(tuple(values), protocol=5)


class _Codec:
    """Loads records; each distinct shape once, so the items laid out the same way share
    one ``lines`` dict (no one mutates it)."""

    def __init__(self):
        self._shapes: dict[bytes, tuple] = {}

    def record(self, blob: bytes | None, body: str | None = None) -> Record:
        if blob is None:
            return None
        values = pickle.loads(blob)
        if type(values) is not tuple:
            return values   # a profile
        item = object.__new__(NewsItem)
        state = item.__dict__
        state.update(zip(_FIELDS, values, strict=True))
        shape = self._shapes.get(values[_LINES])
        if shape is None:
            shape = self._shapes[values[_LINES]] = pickle.loads(values[_LINES])
        date_zone, updated_zone, state["lines"] = shape
        state["date"] = datetime(values[_DATE], *date_zone)
        if updated_zone is not None:
            state["updated"] = datetime(values[_UPDATED], *updated_zone)
        if body is not None:
            state["body_html"] = body
        return item


def _digest(raw: bytes) -> bytes:
    return hashlib.sha256(raw).digest()


def _connect(path: Path) -> sqlite3.Connection:
    # Transactions are explicit (isolation_level=None); WAL lets a renderer read bodies
    # while another build writes; NORMAL sync can lose the last build's rows on power
    # loss, never the database's consistency.
    db = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
    # for a new file: a body is a few kB, and pages of 16 kB hold it without a chain of
    # overflow pages (a cold build's 10,000 rows were written a third faster)
    db.execute("PRAGMA page_size=16384")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


class _Warm:
    """A long-running process's decoded rows of one cache (see :meth:`ParseCache.open`),
    as the cache held them after its build of that generation."""

    def __init__(self, fingerprint: str, generation: str | None, rows: dict[str, tuple]):
        self.fingerprint, self.generation, self.rows = fingerprint, generation, rows


_WARM: dict[Path, _Warm] = {}   # cache file -> its rows, in this process


def _load(path: Path, fingerprint: str,
          memo: _Warm | None) -> tuple[sqlite3.Connection, dict[str, tuple], str | None]:
    """The connection, the rows and the generation they are of: ``memo``'s own dict while
    the cache is the one it was taken from (same fingerprint and generation), otherwise
    read from the database (the generation first: a write in between makes it older than
    the rows, which only costs the next build a reload)."""
    db = _connect(path)
    try:
        if not _is_current(db, fingerprint):
            _reset(db, fingerprint)
        generation = _generation(db)
        if (memo is not None and generation is not None and memo.fingerprint == fingerprint
                and generation == memo.generation):
            return db, memo.rows, generation
        rows = db.execute("SELECT path, mtime_ns, size, ino, digest, record, problems FROM files")
        return db, {row[0]: row for row in rows}, generation
    except BaseException:
        db.close()
        raise


def _generation(db: sqlite3.Connection) -> str | None:
    row = db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
    return row[0] if row else None


def _is_current(db: sqlite3.Connection, fingerprint: str) -> bool:
    if db.execute("PRAGMA user_version").fetchone()[0] != CACHE_VERSION:
        return False
    row = db.execute("SELECT value FROM meta WHERE key = 'fingerprint'").fetchone()
    return row is not None and row[0] == fingerprint


def _reset(db: sqlite3.Connection, fingerprint: str) -> None:
    """Empty the database in place (never delete a file another build may have open),
    unless a build started at the same time has just done so."""
    db.execute("BEGIN IMMEDIATE")
    try:
        if not _is_current(db, fingerprint):
            tables = db.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                "AND name NOT LIKE 'sqlite_%'").fetchall()
            for (table,) in tables:
                db.execute(f'DROP TABLE "{table}"')
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute("INSERT INTO meta VALUES ('fingerprint', ?)", (fingerprint,))
            db.execute(f"PRAGMA user_version = {CACHE_VERSION}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _remove(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
