"""Publish an output tree atomically, rewriting only what changed.

A reader must see the previous tree or the new one, never a mix: the new tree is
assembled in a folder beside ``output/`` and swapped in with one
``renameat2(RENAME_EXCHANGE)``. A crash before the swap leaves ``output/`` untouched.
Unchanged files are hard links to the published ones, so they keep their modification
time (web servers derive ``Last-Modified`` and ETags from it). A lock file stops two
builds racing.

With a state folder, the folder the new tree is assembled in is kept between builds
(``.output.spare``): after a swap it holds the previous tree, and the next build brings
it up to date instead of assembling ten thousand files from nothing, touching only the
files that changed in the last two builds. What the publisher knows about the published
tree (each file's key, size and, for listed files, sha256; which spare files are stale)
is saved in ``state/`` with a version number. It is trusted only while both folders'
inode numbers match what it recorded and no ``.dirty`` marker says a build died while
changing the spare; otherwise every file is rendered and the spare assembled afresh.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import hashlib
import os
import pickle
import shutil
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .render import Data, Listing, Output, OutputConflict, dump_json, joined

__all__ = ["MANIFEST_PATH", "PublishError", "PublishResult", "Publisher", "check_output_dir", "output_lock",
           "publish"]

MANIFEST_PATH = "syndication/index.json"
MANIFEST_SCHEMA_VERSION = 1
STATE_VERSION = 3   # 2: the world fingerprint; 3: boot id and the output folder's ctime


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
            updated: datetime | None, lock_timeout: float = 30.0, lock: bool = True,
            state_dir: Path | None = None) -> PublishResult:
    """Write ``output`` plus its manifest as the new ``output_dir``; return what changed.

    ``lock=False`` is for a caller that already holds :func:`output_lock`."""
    check_output_dir(output_dir.resolve())
    with output_lock(output_dir, lock_timeout) if lock else nullcontext():
        publisher = Publisher(output_dir, base_url, generator, state_dir)
        try:
            output.send_to(publisher)
        except BaseException:
            publisher.abandon()
            raise
        return publisher.finish(updated)


# -- what is known about the published tree ------------------------------------------

# path -> (key or None, size, sha256 of listed files or None)
FileRecord = tuple[str | None, int, str | None]


@dataclass
class TreeState:
    output_ino: int
    spare_ino: int | None
    files: dict[str, FileRecord]
    stale: set[str] = field(default_factory=set)   # spare files that differ from output's
    world: str = ""                                 # the catalog fingerprint the keys were made in
    output_ctime: int = 0    # the output folder's st_ctime_ns after the swap: every swap changes
                             # it, so a state saved one swap earlier (the inodes alternate) is refused
    boot: str = ""           # files written before a power cut may not have reached the disk


def _state_file(state_dir: Path, output_dir: Path) -> Path:
    name = hashlib.sha256(os.fsencode(output_dir)).hexdigest()[:12]
    return state_dir / f"published-{name}.pickle"


def _load_state(path: Path, output_dir: Path) -> TreeState | None:
    if path.with_suffix(".dirty").exists():
        return None
    try:
        with path.open("rb") as fh:
            stored = pickle.load(fh)
        if stored.get("version") != STATE_VERSION:
            return None
        state = TreeState(stored["output_ino"], stored["spare_ino"], stored["files"], stored["stale"],
                          stored["world"], stored["output_ctime"], stored["boot"])
    except Exception:   # none yet, torn, or from another version: trust nothing
        return None
    try:
        found = output_dir.stat()
        if ((found.st_ino, found.st_ctime_ns) != (state.output_ino, state.output_ctime)
                or state.boot != _boot_id() or not (output_dir / MANIFEST_PATH).is_file()):
            return None
    except OSError:
        return None
    return state


def _boot_id() -> str:
    """Changes with every boot (Linux): after a power cut, files written just before it may
    be empty on disk, so a state from before a reboot is not trusted; the full render
    that follows compares every file's bytes."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def _save_state(path: Path, state: TreeState) -> None:
    payload = {"version": STATE_VERSION, "output_ino": state.output_ino, "spare_ino": state.spare_ino,
               "files": state.files, "stale": state.stale, "world": state.world,
               "output_ctime": state.output_ctime, "boot": state.boot}
    write_atomically(path, pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` whole: a reader sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _mark_dirty(marker: Path) -> None:
    """Durably say "the spare is being changed" before the first change."""
    marker.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(marker, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    _fsync_dir(marker.parent)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- the publisher --------------------------------------------------------------------


class Publisher:
    """A :class:`~pipeline.render.Sink` that assembles the new tree on disk as files
    arrive; :meth:`finish` writes the manifest and swaps the tree in. The caller holds
    :func:`output_lock`."""

    def __init__(self, output_dir: Path, base_url: str, generator: str, state_dir: Path | None = None,
                 world: str = ""):
        self.output_dir = output_dir = output_dir.resolve()
        self.base_url, self.generator, self.world = base_url, generator, world
        output_dir.parent.mkdir(parents=True, exist_ok=True)
        _refuse_foreign(output_dir)
        _recover(output_dir)
        self._state_path = _state_file(state_dir, output_dir) if state_dir else None
        self._old = _load_state(self._state_path, output_dir) if self._state_path else None
        if self._state_path:
            self.spare = output_dir.with_name(f".{output_dir.name}.spare")
            self._incremental = self._old is not None and _inode(self.spare) == self._old.spare_ino
            _mark_dirty(self._state_path.with_suffix(".dirty"))
        else:
            self.spare = output_dir.with_name(f".{output_dir.name}.staging-{os.getpid()}")
            self._incremental = False
        if not self._incremental:
            shutil.rmtree(self.spare, ignore_errors=True)
            self.spare.mkdir()
        self._had_output = output_dir.is_dir()
        # A first build: no tree comes back from the swap to be the next build's spare, so
        # each file is also linked into a mirror as it is written (by both rendering
        # processes), which becomes the spare. Linking the tree after the swap was a third
        # of a second at 10,000 items, on one core.
        self._mirror: str | None = None
        if self._state_path and not self._had_output:
            mirror = _mirror_of(output_dir)   # a crashed build's was swept by _recover
            mirror.mkdir()
            self._mirror = str(mirror)
        self._files: dict[str, FileRecord] = {}
        self._listings: dict[str, Listing] = {}
        self._added: list[str] = []
        self._changed: list[str] = []
        self._folders = {str(self.spare), self._mirror} - {None}   # folders made already

    # -- the sink -----------------------------------------------------------------------

    def wants(self, path: str, key: str | None) -> bool:
        if key is None or self._old is None:
            return True
        old = self._old.files.get(path)
        return old is None or old[0] != key

    def keep(self, path: str, key: str, listing: Listing | None = None) -> None:
        _, size, sha = self._old.files[path]  # type: ignore[union-attr]  # wants() was False
        if listing is not None and sha is None:
            sha = hashlib.sha256((self.output_dir / path).read_bytes()).hexdigest()
        self._record(path, (key, size, sha), listing)
        self._place_unchanged(path)

    def published(self, path: str, key: str) -> bytes | None:
        old = self._old.files.get(path) if self._old is not None else None
        if old is None or old[0] != key:
            return None
        try:
            data = (self.output_dir / path).read_bytes()
        except OSError:
            return None
        return data if len(data) == old[1] else None

    def add(self, path: str, data: Data, listing: Listing | None = None, key: str | None = None) -> None:
        parts = [data] if isinstance(data, bytes) else data
        sha = _sha256(parts) if listing is not None else None
        self._record(path, (key, sum(map(len, parts)), sha), listing)
        state = self._compare(path, parts)
        if state == "same":
            self._place_unchanged(path, data)
            return
        self._write(path, data)
        (self._added if state == "new" else self._changed).append(path)

    @property
    def fresh(self) -> bool:
        """Every file will be rendered: nothing is known about the published tree, or it
        was rendered from other code, templates or configuration."""
        return self._old is None or self._old.world != self.world

    def records(self) -> tuple:
        """What this publisher recorded: for a forked helper process to hand back."""
        return self._files, self._listings, self._added, self._changed

    def merge(self, records: tuple) -> None:
        """Take the files a forked helper process wrote into the spare."""
        files, listings, added, changed = records
        for path, record in files.items():
            self._record(path, record, listings.get(path))
        self._added += added
        self._changed += changed

    # -- finishing ----------------------------------------------------------------------

    def finish(self, updated: datetime | None) -> PublishResult:
        """Write the manifest, remove what is no longer produced, swap the tree in."""
        try:
            self.add(MANIFEST_PATH, build_manifest(self._listings, self._files, self.base_url,
                                                   self.generator, updated))
            removed = self._removed()
            if self._incremental:
                for path in (self._old.stale | set(removed)) - self._files.keys():  # type: ignore[union-attr]
                    _unlink(self.spare / path, self.spare)
            _swap(self.spare, self.output_dir)
        except OSError as exc:
            self.abandon()
            raise PublishError(f"cannot publish to {self.output_dir}: {exc}") from None
        self._after_swap(removed)
        return PublishResult(tuple(self._added), tuple(self._changed), tuple(removed), len(self._files))

    def abandon(self) -> None:
        """Give up before the swap: ``output/`` is untouched; the spare is no longer trusted."""
        if not self._state_path:
            shutil.rmtree(self.spare, ignore_errors=True)
        if self._mirror:
            shutil.rmtree(self._mirror, ignore_errors=True)

    def _after_swap(self, removed: list[str]) -> None:
        if not self._state_path:
            shutil.rmtree(self.spare, ignore_errors=True)   # the previous tree
            return
        if self._had_output:
            stale = set(self._added) | set(self._changed) | set(removed)
        else:   # nothing came back from the swap: the mirror of links is the spare
            os.rename(self._mirror, self.spare)  # type: ignore[arg-type]
            stale = set()
        output = self.output_dir.stat()
        _save_state(self._state_path, TreeState(output.st_ino, _inode(self.spare), self._files, stale,
                                                self.world, output.st_ctime_ns, _boot_id()))
        self._state_path.with_suffix(".dirty").unlink(missing_ok=True)

    def _removed(self) -> list[str]:
        if self._old is not None:
            return sorted(self._old.files.keys() - self._files.keys())
        if not self._had_output:
            return []
        return sorted(p for p in _walk(self.output_dir) if p not in self._files)

    # -- files --------------------------------------------------------------------------

    def _record(self, path: str, record: FileRecord, listing: Listing | None) -> None:
        if path in self._files:
            raise OutputConflict(f"{path} is produced twice")
        self._files[path] = record
        if listing is not None:
            self._listings[path] = listing

    def _compare(self, path: str, parts: list[bytes]) -> str:
        old_record = self._old.files.get(path) if self._old else None
        if (self._old is not None and old_record is None) or not self._had_output:
            return "new"
        size = sum(map(len, parts))
        if old_record is not None and old_record[1] != size:
            return "changed"
        try:
            old = self.output_dir / path
            if old.stat().st_size == size and old.read_bytes() == joined(parts):
                return "same"
            return "changed"
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return "new"

    def _place_unchanged(self, path: str, data: Data | None = None) -> None:
        """Make the spare's ``path`` the published file (a hard link), where it is not."""
        if self._incremental and path not in self._old.stale:  # type: ignore[union-attr]
            return
        target = self._prepare(path)
        try:
            os.link(self.output_dir / path, target)
        except OSError:   # no hard links here: a copy, the same bytes
            _write(target, data if data is not None else (self.output_dir / path).read_bytes())

    def _write(self, path: str, data: Data) -> None:
        target = self._prepare(path)
        _write(target, data)
        if self._mirror:
            os.link(target, self._folder_made(os.path.join(self._mirror, path)))

    def _prepare(self, path: str) -> str:
        """The spare's ``path``, its folder made and any old file there unlinked (it may be
        a hard link to a published file, which must not be written through)."""
        target = self._folder_made(os.path.join(self.spare, path))   # strings, not 13,000 Paths
        if self._incremental:
            with suppress(FileNotFoundError):
                os.unlink(target)
        return target

    def _folder_made(self, target: str) -> str:
        """``target``, once its folder exists."""
        folder = os.path.dirname(target)
        if folder not in self._folders:
            _make_folder(folder)
            self._folders.add(folder)
        return target


def _make_folder(folder: str) -> None:
    """``os.makedirs(folder, exist_ok=True)`` in one system call where the parent exists
    (a page's folder, usually: 10,000 of them in a first build)."""
    try:
        os.mkdir(folder)
    except FileExistsError:
        if not os.path.isdir(folder):
            raise
    except FileNotFoundError:
        os.makedirs(folder, exist_ok=True)


def _inode(path: Path) -> int | None:
    try:
        return path.stat().st_ino
    except OSError:
        return None


def _unlink(target: Path, root: Path) -> None:
    """Remove a file and the folders it leaves empty, up to ``root``."""
    with suppress(FileNotFoundError):
        target.unlink()
    folder = target.parent
    while folder != root:
        try:
            folder.rmdir()
        except OSError:
            return
        folder = folder.parent


def check_output_dir(output_dir: Path) -> None:
    """Refuse an output folder that cannot be ours, before anything (a lock file, a
    spare tree, a state marker) is created beside it."""
    if output_dir.exists() and not output_dir.is_dir():
        raise PublishError(f"{output_dir} exists and is not a folder; choose another output folder")
    if output_dir.parent == output_dir:
        raise PublishError(f"{output_dir} cannot be an output folder")
    _refuse_foreign(output_dir)


def _refuse_foreign(output_dir: Path) -> None:
    """Replacing a folder deletes what is in it: only ever replace an earlier output."""
    try:
        foreign = (output_dir.is_dir() and any(output_dir.iterdir())
                   and not (output_dir / MANIFEST_PATH).is_file())
    except OSError as exc:
        raise PublishError(f"cannot read {output_dir}: {exc.strerror or exc}") from None
    if foreign:
        raise PublishError(f"{output_dir} is not empty and holds no earlier Newsroom output "
                           f"({MANIFEST_PATH}); refusing to replace it")


def build_manifest(listings: dict[str, Listing], files: dict[str, FileRecord], base_url: str,
                   generator: str, updated: datetime | None) -> bytes:
    entries = [_manifest_entry(path, files[path][2], listing, base_url)  # type: ignore[arg-type]
               for path, listing in sorted(listings.items())]
    manifest = {
        "schema_version": MANIFEST_SCHEMA_VERSION,
        "generator": generator,
        "updated": _iso(updated),
        "files": entries,
    }
    return dump_json(manifest)


def _manifest_entry(path: str, sha256: str, listing: Listing, base_url: str) -> dict:
    return {
        "url": base_url + path,
        "path": path,
        "kind": listing.kind,
        "media_type": listing.media_type,
        "title": listing.title,
        "language": listing.language,
        "items": listing.items,
        "updated": _iso(listing.updated),
        "sha256": sha256,
    }


def _iso(when: datetime | None) -> str | None:
    return when.isoformat() if when else None


def _write(target: str | Path, data: Data) -> None:
    if isinstance(data, bytes):
        with open(target, "wb") as fh:
            fh.write(data)
        return
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
    try:
        _write_parts(fd, data)
    finally:
        os.close(fd)


def _write_parts(fd: int, parts: list[bytes]) -> None:
    """All ``parts``, in order, in as few system calls as the kernel allows (not joined
    first: a feed archive page is a few hundred kilobytes)."""
    pending: list[bytes | memoryview] = list(parts)
    first = 0
    while first < len(pending):
        written = os.writev(fd, pending[first:first + _IOV_MAX])
        while first < len(pending) and written >= len(pending[first]):   # whole parts written
            written -= len(pending[first])
            first += 1
        if written:                                                   # a short write, inside a part
            pending[first] = memoryview(pending[first])[written:]


_IOV_MAX = 1024   # buffers per writev (Linux's limit)


def _sha256(parts: list[bytes]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
    return digest.hexdigest()


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
        return   # staging now holds the previous tree
    # No atomic exchange on this file system: two renames, repaired by _recover on a crash.
    old = output_dir.with_name(f".{output_dir.name}.old-{os.getpid()}")
    os.rename(output_dir, old)
    os.rename(staging, output_dir)
    os.rename(old, staging)


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


def _mirror_of(output_dir: Path) -> Path:
    return output_dir.with_name(f".{output_dir.name}.mirror")


def _recover(output_dir: Path) -> None:
    """Sweep what a crashed run left: staging folders and a first build's mirror, and
    restore a half-swapped output."""
    for leftover in [*output_dir.parent.glob(f".{output_dir.name}.staging-*"), _mirror_of(output_dir)]:
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
