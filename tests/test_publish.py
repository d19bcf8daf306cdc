"""Atomic publish: staging and swap, stale files removed, unchanged files kept, the lock."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime

import pytest

from pipeline.publish import MANIFEST_PATH, PublishError, publish
from pipeline.render import Listing, Output, OutputConflict

from .conftest import tree

BASE = "https://news.example.org/"
WHEN = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def _output(files: dict[str, bytes], listed: dict[str, Listing] | None = None) -> Output:
    out = Output()
    for path, data in files.items():
        out.add(path, data, (listed or {}).get(path))
    return out



def test_first_publish_writes_every_file_and_the_manifest(tmp_path):
    out_dir = tmp_path / "output"
    listing = Listing("feed", "application/atom+xml", "All news", "en", 3, WHEN)
    result = publish(_output({"index.html": b"<p>hi</p>", "feeds/en/index.atom": b"<feed/>"},
                             {"feeds/en/index.atom": listing}), out_dir, BASE, "newsroom test", WHEN)
    files = tree(out_dir)
    assert files["index.html"] == b"<p>hi</p>"
    assert set(result.added) == {"index.html", "feeds/en/index.atom", MANIFEST_PATH}
    manifest = json.loads(files[MANIFEST_PATH])
    assert manifest["schema_version"] == 1
    assert manifest["updated"] == "2026-11-01T09:00:00+00:00"
    [entry] = manifest["files"]
    assert entry == {
        "url": BASE + "feeds/en/index.atom", "path": "feeds/en/index.atom", "kind": "feed",
        "media_type": "application/atom+xml", "title": "All news", "language": "en", "items": 3,
        "updated": "2026-11-01T09:00:00+00:00", "sha256": hashlib.sha256(b"<feed/>").hexdigest(),
    }


def test_republish_reports_changes_removes_stale_files_and_keeps_unchanged_inodes(tmp_path):
    out_dir = tmp_path / "output"
    publish(_output({"a.html": b"a", "b.html": b"b", "old/c.html": b"c"}), out_dir, BASE, "g", WHEN)
    inode_a = (out_dir / "a.html").stat().st_ino
    mtime_a = (out_dir / "a.html").stat().st_mtime_ns
    result = publish(_output({"a.html": b"a", "b.html": b"B", "d.html": b"d"}), out_dir, BASE, "g", WHEN)
    assert result.added == ("d.html",)
    assert result.changed == ("b.html",)
    assert result.removed == ("old/c.html",)
    assert tree(out_dir).keys() == {"a.html", "b.html", "d.html", MANIFEST_PATH}
    # an unchanged file is the same file: its modification time (Last-Modified) survives
    assert (out_dir / "a.html").stat().st_ino == inode_a
    assert (out_dir / "a.html").stat().st_mtime_ns == mtime_a


def test_nothing_left_beside_the_output_after_publishing(tmp_path):
    out_dir = tmp_path / "output"
    for text in (b"1", b"2"):
        publish(_output({"x.html": text}), out_dir, BASE, "g", WHEN)
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers == [".output.lock", "output"]


def test_same_path_twice_is_refused():
    out = _output({"a.html": b"1"})
    with pytest.raises(OutputConflict, match=r"a\.html"):
        out.add("a.html", b"2")


def test_a_held_lock_stops_a_second_build(tmp_path):
    out_dir = tmp_path / "output"
    lock = tmp_path / ".output.lock"
    with open(lock, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        with pytest.raises(PublishError, match="another build"):
            publish(_output({"a.html": b"1"}), out_dir, BASE, "g", WHEN, lock_timeout=0.2)
    assert not out_dir.exists()


def test_output_path_that_is_a_file_is_an_error(tmp_path):
    (tmp_path / "output").write_text("not a folder")
    with pytest.raises(PublishError, match="not a folder"):
        publish(_output({"a.html": b"1"}), tmp_path / "output", BASE, "g", WHEN)
    assert (tmp_path / "output").read_text() == "not a folder"


def test_leftovers_of_a_crashed_run_are_swept_and_a_half_swap_is_repaired(tmp_path):
    out_dir = tmp_path / "output"
    publish(_output({"a.html": b"first"}), out_dir, BASE, "g", WHEN)
    (tmp_path / ".output.staging-999" / "x").mkdir(parents=True)
    # a crash between the two renames of the fallback swap leaves only ".output.old-*"
    os.rename(out_dir, tmp_path / ".output.old-999")
    publish(_output({"a.html": b"second"}), out_dir, BASE, "g", WHEN)
    assert (out_dir / "a.html").read_bytes() == b"second"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".output.lock", "output"]


KILLER = textwrap.dedent("""
    import os, signal, sys
    import pipeline.publish as publish
    written = 0
    real_write = publish._write

    def write_then_die(target, data):
        global written
        real_write(target, data)
        written += 1
        if written == int(os.environ["KILL_AFTER"]):
            os.kill(os.getpid(), signal.SIGKILL)

    publish._write = write_then_die
    from pipeline.cli import main
    sys.exit(main(sys.argv[1:]))
""")


@pytest.mark.parametrize("kill_after", [1, 3])  # the first write, a later one
def test_a_build_killed_part_way_leaves_the_previous_output_byte_identical(site, kill_after):
    site.write_news("first", "title: First\ndate: 2026-11-01\ntopics: [neurological]\n")
    args = ["build", "--config", str(site.config_path), "--now", "2026-11-28T12:00"]
    env = {**os.environ, "KILL_AFTER": str(kill_after)}
    first = subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, env=env)
    assert first.returncode == 0, first.stderr
    before = tree(site.output)

    site.write_news("second", "title: Second\ndate: 2026-11-02\ntopics: [neurological]\n")
    killed = subprocess.run([sys.executable, "-c", KILLER, *args], capture_output=True, env=env)
    assert killed.returncode == -signal.SIGKILL
    assert tree(site.output) == before
    assert list(site.root.glob("state/published-*.dirty")), "the kill should have struck while staging"

    again = subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True)
    assert again.returncode == 0, again.stderr
    assert "news/second/index.html" in tree(site.output)
    assert not list(site.root.glob("state/published-*.dirty"))


def test_a_folder_that_is_not_an_earlier_output_is_never_replaced(tmp_path):
    precious = tmp_path / "output"
    precious.mkdir()
    (precious / "thesis.tex").write_text("years of work")
    with pytest.raises(PublishError, match="refusing to replace it"):
        publish(_output({"a.html": b"1"}), precious, BASE, "g", WHEN)
    assert (precious / "thesis.tex").read_text() == "years of work"


def test_the_output_folder_keeps_its_permissions(tmp_path):
    out_dir = tmp_path / "output"
    publish(_output({"a.html": b"1"}), out_dir, BASE, "g", WHEN)
    out_dir.chmod(0o750)
    publish(_output({"a.html": b"2"}), out_dir, BASE, "g", WHEN)
    assert out_dir.stat().st_mode & 0o777 == 0o750


def test_a_file_given_in_parts_is_written_whole_and_listed_by_its_bytes(tmp_path):
    """Feed documents reach the publisher as their parts (head, entries, tail), more of
    them than one writev takes; the file, its size and its manifest digest are the
    joined bytes'."""
    from pipeline.publish import Publisher

    parts = [b"<head>"] + [f"<entry n='{n}'>{'x' * (n % 7)}</entry>".encode() for n in range(2500)]
    parts += [b"", b"</tail>\n"]
    data = b"".join(parts)
    publisher = Publisher(tmp_path / "out", "https://example.org/", "test")
    publisher.add("feeds/big.atom", parts, Listing("feed", "application/atom+xml", "Big"))
    publisher.add("plain.txt", b"plain\n")
    publisher.finish(None)
    assert (tmp_path / "out" / "feeds" / "big.atom").read_bytes() == data
    manifest = json.loads((tmp_path / "out" / MANIFEST_PATH).read_bytes())
    [entry] = manifest["files"]
    assert entry["sha256"] == hashlib.sha256(data).hexdigest()
