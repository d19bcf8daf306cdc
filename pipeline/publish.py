"""Publish a whole output tree atomically.

The new tree is written into a staging folder beside ``output/`` and then swapped in
with one ``renameat2(RENAME_EXCHANGE)`` call, so a reader sees either the old tree or
the new one, never half of either. A crash while staging leaves ``output/`` untouched
(the next run sweeps the leftovers). Files whose bytes did not change are hard-linked
from the previous tree, so they keep their modification time, which is what web
servers derive ``Last-Modified`` and ETags from. A lock file stops two builds racing.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import os
import shutil
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .render import Listing, Output, dump_json

__all__ = ["MANIFEST_PATH", "PublishError", "PublishResult", "build_manifest", "output_lock", "publish"]

MANIFEST_PATH = "syndication/index.json"
MANIFEST_SCHEMA_VERSION = 1


class PublishError(Exception):
    """The output folder could not be locked or replaced."""


@dataclass(frozen=True)
class PublishResult:
    added: tuple[str, ...]
    changed: tuple[str, ...]
    removed: tuple[str, ...]
    files: int

    @property
    def touched(self) -> tuple[str, ...]:
        return tuple(sorted(self.added + self.changed + self.removed))


def publish(output: Output, output_dir: Path, base_url: str, generator: str,
            updated: datetime | None, lock_timeout: float = 30.0, lock: bool = True) -> PublishResult:
    """Write ``output`` plus its manifest as the new ``output_dir``; return what changed.

    ``lock=False`` is for a caller that already holds :func:`output_lock`."""
    output_dir = output_dir.resolve()
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    files = dict(output.files)
    files[MANIFEST_PATH] = build_manifest(output, base_url, generator, updated)
    with output_lock(output_dir, lock_timeout) if lock else nullcontext():
        _refuse_foreign(output_dir)
        _recover(output_dir)
        staging = output_dir.with_name(f".{output_dir.name}.staging-{os.getpid()}")
        try:
            added, changed = _stage(files, staging, output_dir)
            removed = _removed(files, output_dir)
            _swap(staging, output_dir)
        except OSError as exc:
            shutil.rmtree(staging, ignore_errors=True)
            raise PublishError(f"cannot publish to {output_dir}: {exc}") from None
    return PublishResult(tuple(added), tuple(changed), tuple(removed), len(files))


def _refuse_foreign(output_dir: Path) -> None:
    """Replacing a folder deletes what is in it: only ever replace an earlier output."""
    if output_dir.is_dir() and any(output_dir.iterdir()) and not (output_dir / MANIFEST_PATH).is_file():
        raise PublishError(f"{output_dir} is not empty and holds no earlier Newsroom output "
                           f"({MANIFEST_PATH}); refusing to replace it")


def build_manifest(output: Output, base_url: str, generator: str,
                   updated: datetime | None) -> bytes:
    entries = [_manifest_entry(path, output.files[path], listing, base_url)
               for path, listing in sorted(output.listings.items())]
    manifest = {
        "schema_version": MANIFEST_SCHEMA_VERSION,
        "generator": generator,
        "updated": _iso(updated),
        "files": entries,
    }
    return dump_json(manifest)


def _manifest_entry(path: str, data: bytes, listing: Listing, base_url: str) -> dict:
    return {
        "url": base_url + path,
        "path": path,
        "kind": listing.kind,
        "media_type": listing.media_type,
        "title": listing.title,
        "language": listing.language,
        "items": listing.items,
        "updated": _iso(listing.updated),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


# -- staging ------------------------------------------------------------------


def _stage(files: dict[str, bytes], staging: Path, previous: Path) -> tuple[list[str], list[str]]:
    added, changed = [], []
    made: set[Path] = set()
    for path in sorted(files):
        data = files[path]
        target = staging / path
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        old = previous / path
        state = _compare(old, data)
        if state == "same":
            if not _link(old, target):
                _write(target, data)
            continue
        _write(target, data)
        (added if state == "new" else changed).append(path)
    return added, changed


def _compare(old: Path, data: bytes) -> str:
    try:
        if old.stat().st_size == len(data) and old.read_bytes() == data:
            return "same"
        return "changed"
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return "new"


def _link(old: Path, target: Path) -> bool:
    try:
        os.link(old, target)
        return True
    except OSError:
        return False


def _write(target: Path, data: bytes) -> None:
    with open(target, "wb") as fh:
        fh.write(data)


def _removed(files: dict[str, bytes], previous: Path) -> list[str]:
    if not previous.is_dir():
        return []
    return sorted(p for p in _walk(previous) if p not in files)


def _walk(root: Path) -> Iterator[str]:
    for dirpath, _, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        for name in filenames:
            yield (rel / name).as_posix()


# -- swapping -----------------------------------------------------------------

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _swap(staging: Path, output_dir: Path) -> None:
    if not output_dir.exists():
        os.rename(staging, output_dir)
        return
    if not output_dir.is_dir() or output_dir.is_symlink():
        shutil.rmtree(staging, ignore_errors=True)
        raise PublishError(f"{output_dir} exists and is not a folder")
    os.chmod(staging, stat.S_IMODE(output_dir.stat().st_mode))   # keep the folder's permissions
    if _exchange(staging, output_dir):
        shutil.rmtree(staging)   # staging now holds the previous tree
        return
    # No atomic exchange on this file system: two renames, repaired by _recover on a crash.
    old = output_dir.with_name(f".{output_dir.name}.old-{os.getpid()}")
    os.rename(output_dir, old)
    os.rename(staging, output_dir)
    shutil.rmtree(old)


def _exchange(a: Path, b: Path) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise PublishError(f"cannot swap {a} into {b}: {os.strerror(err)}")


def _recover(output_dir: Path) -> None:
    """Sweep what a crashed run left: staging folders, and restore a half-swapped output."""
    for leftover in output_dir.parent.glob(f".{output_dir.name}.staging-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    olds = sorted(output_dir.parent.glob(f".{output_dir.name}.old-*"))
    if olds and not output_dir.exists():
        os.rename(olds.pop(), output_dir)
    for old in olds:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def output_lock(output_dir: Path, timeout: float = 30.0) -> Iterator[None]:
    """Hold the lock beside ``output_dir``; only one build at a time may publish there."""
    output_dir = output_dir.resolve()
    try:
        output_dir.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PublishError(f"cannot create {output_dir.parent}: {exc}") from None
    lock_path = output_dir.with_name(f".{output_dir.name}.lock")
    try:
        fh = open(lock_path, "a+b")  # noqa: SIM115 - closed by the with below
    except OSError as exc:
        raise PublishError(f"cannot lock {lock_path}: {exc}") from None
    with fh:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise PublishError(
                        f"another build holds {lock_path}; try again when it has finished"
                    ) from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
