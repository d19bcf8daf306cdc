"""The parse cache: per-file reader results keyed by the file's content hash.

It lives in ``state/parse-cache.pickle`` and carries a format version and a
fingerprint of everything else a reader depends on (the site settings and the
Newsroom version), so a stale cache is simply discarded. It is saved to a temporary
file and renamed into place, so a crash never leaves a torn cache behind.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import __version__
from .config import Site

__all__ = ["ParseCache"]

CACHE_VERSION = 2   # 2: entries are (item or None, problems)
_FILE = "parse-cache.pickle"


# The code a cached result depends on: a change to any of these modules (a fix in a
# reader, say) must invalidate the cache even when the version number did not move.
_READER_MODULES = ("readers.py", "frontmatter.py", "markup.py", "model.py")


@functools.cache
def _code_hash() -> str:
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for name in _READER_MODULES:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()


def _fingerprint(site: Site) -> str:
    parts = (__version__, CACHE_VERSION, _code_hash(), site.base_url, str(site.timezone), site.languages,
             site.default_language)
    return hashlib.sha256(repr(parts).encode()).hexdigest()


class ParseCache:
    def __init__(self, path: Path | None, fingerprint: str, entries: dict[str, tuple[str, Any]]):
        self._path, self._fingerprint = path, fingerprint
        self._old = entries
        self._new: dict[str, tuple[str, Any]] = {}
        self.misses = 0

    @classmethod
    def open(cls, state_dir: Path, site: Site) -> ParseCache:
        path = state_dir / _FILE
        fingerprint = _fingerprint(site)
        try:
            with path.open("rb") as fh:
                stored = pickle.load(fh)
            ok = (isinstance(stored, dict) and stored.get("version") == CACHE_VERSION
                  and stored.get("fingerprint") == fingerprint
                  and isinstance(stored.get("entries"), dict))
            entries = stored["entries"] if ok else {}
        except Exception:  # a corrupt pickle raises almost anything (ValueError, MemoryError…)
            entries = {}   # no cache yet, a corrupt one, or one from another version: start afresh
        return cls(path, fingerprint, entries)

    @classmethod
    def disabled(cls) -> ParseCache:
        return cls(None, "", {})

    def get_or_read(self, name: str, raw: bytes, read: Callable[[], Any]) -> Any:
        digest = hashlib.sha256(raw).hexdigest()
        hit = self._old.get(name)
        if hit and hit[0] == digest:
            result = hit[1]
        else:
            result = read()
            self.misses += 1
        self._new[name] = (digest, result)
        return result

    def save(self) -> None:
        """Keep only the files seen in this run, written atomically."""
        if self._path is None or (self.misses == 0 and self._new.keys() == self._old.keys()):
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"version": CACHE_VERSION, "fingerprint": self._fingerprint, "entries": self._new}
        fd, tmp = tempfile.mkstemp(dir=self._path.parent, prefix=".parse-cache.")
        try:
            with os.fdopen(fd, "wb") as fh:
                pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self._path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
