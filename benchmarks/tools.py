"""The two site generators under test, and one measured build of either.

A :class:`Tool` knows, for its site folder, how to build it, what a cold start deletes,
where a story's source file and rendered page are, and which files prove that a build
produced its output. :func:`run_build` runs one build as a child process and returns its
wall time and peak RSS.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .corpus import Story, hugo_item, newsroom_item, pelican_item

__all__ = ["HUGO", "NEWSROOM", "PELICAN", "TOOLS", "BuildFailed", "Sample", "Tool", "run_build"]

# The instant every Newsroom build is made "as of", so that all builds see the same
# visible items (the corpus ends in late 2026).
NOW = "2026-11-28T12:00"


class BuildFailed(Exception):
    """A build exited non-zero, timed out, or did not produce what it should have."""

    def __init__(self, message: str, stderr: str = "", stdout: str = "") -> None:
        super().__init__(message)
        self.stderr = stderr
        self.stdout = stdout


@dataclass(frozen=True)
class Sample:
    """One measured build."""

    seconds: float          # wall clock around the child process
    maxrss_kib: int         # ru_maxrss of the child, from os.wait4 (KiB on Linux)
    tree_kib: int = 0       # the peak of the summed RSS of the child and its descendants, sampled


@dataclass(frozen=True)
class Tool:
    name: str
    command: tuple[str, ...]
    state: tuple[str, ...]                      # deleted before a cold build (globs, relative)
    required: tuple[str, ...]                   # must exist after every build
    source: Callable[[Path, Story, str], Path]  # where a story's file is, in this site
    page: Callable[[Path, Story, str], Path]    # where its rendered page is
    render: Callable[[Story, str, str], str]    # its file text, with an appended extra
    # an organization profile's file and the page that shows it (None: the tool has no profiles)
    profile: Callable[[Path, str], tuple[Path, Path]] | None = None
    # builds again inside a running process (see benchmarks.running); else None
    running: tuple[str, ...] | None = None

    def reset(self, site: Path) -> None:
        """Delete the output and every cache or state file: the next build is cold."""
        for pattern in self.state:
            for path in site.glob(pattern):
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()

    def check_output(self, site: Path) -> None:
        missing = [name for name in self.required if not (site / name).is_file()]
        if missing:
            raise BuildFailed(f"{self.name} build in {site} did not write {', '.join(missing)}")


NEWSROOM = Tool(
    name="Newsroom",
    command=(sys.executable, "-m", "pipeline", "build", "--now", NOW),
    state=("output", ".output*", "state"),
    required=("output/feeds/all.atom", "output/syndication/index.json"),
    source=lambda site, story, lang: (site / "content" / "news" / f"{story.date:%Y}" / f"{story.date:%m}"
                                      / f"{story.slug}-{lang}.md"),
    page=lambda site, story, lang: site / "output" / "news" / f"{story.slug}-{lang}" / "index.html",
    render=newsroom_item,
    profile=lambda site, slug: (site / "content" / "profiles" / f"{slug}.md",
                                site / "output" / "organizations" / slug / "index.html"),
    running=(sys.executable, str(Path(__file__).with_name("running.py"))),
)

PELICAN = Tool(
    name="Pelican",
    command=(sys.executable, "-m", "pelican", "content", "-s", "pelicanconf.py", "-o", "output", "-q"),
    state=("output", "cache"),
    required=("output/feeds/all.atom.xml",),
    source=lambda site, story, lang: (site / "content" / f"{story.date:%Y}" / f"{story.date:%m}"
                                      / f"{story.slug}-{lang}.md"),
    # English is DEFAULT_LANG: ARTICLE_URL "{slug}.html"; a translation: ARTICLE_LANG_URL
    # "{slug}-{lang}.html".
    page=lambda site, story, lang: site / "output" / (f"{story.slug}.html" if lang == "en"
                                                      else f"{story.slug}-{lang}.html"),
    render=pelican_item,
)

HUGO = Tool(
    name="Hugo",
    command=("hugo", "--quiet"),
    state=("public", "resources", ".hugo_build.lock"),
    required=("public/index.xml", "public/feed.json", "public/fi/index.xml"),
    source=lambda site, story, lang: (site / "content" / "news" / f"{story.date:%Y}" / f"{story.date:%m}"
                                      / f"{story.slug}.{lang}.md"),
    # English, the default language, at the root; Finnish under /fi/
    page=lambda site, story, lang: (site / "public" / ("" if lang == "en" else lang) / "news"
                                    / f"{story.slug}-{lang}" / "index.html"),
    render=hugo_item,
)

TOOLS = {"newsroom": NEWSROOM, "pelican": PELICAN, "hugo": HUGO}


def run_build(tool: Tool, site: Path, timeout: float, command: tuple[str, ...] | None = None,
              timed_by_child: bool = False) -> Sample:
    """Build ``site`` once in a child process; raise :class:`BuildFailed` if it fails.
    ``command`` instead of the tool's; ``timed_by_child``: the child prints the seconds
    to report as its last line (a build inside it, not the whole process).

    ``os.wait4`` rather than ``Popen.wait`` reaps the child, so that the rusage is this
    child's own. Output goes to temporary files, never pipes, so that a chatty child
    cannot block on a full pipe while we wait.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        command = command or tool.command
        child = subprocess.Popen(command, cwd=site, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        timed_out = threading.Event()
        killer = threading.Timer(timeout, lambda: (timed_out.set(), child.kill()))
        killer.start()
        sampler = _TreeMemory(child.pid)
        sampler.start()
        try:
            _, status, usage = os.wait4(child.pid, 0)
        finally:
            killer.cancel()
            sampler.done.set()
            sampler.join()
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)   # tell Popen it has been reaped
        if child.returncode != 0:
            reason = (f"timed out after {timeout:g} s" if timed_out.is_set()
                      else f"exit status {child.returncode}")
            raise BuildFailed(f"{tool.name} build in {site} failed: {reason}\n  command: "
                              f"{' '.join(command)}", _text(err), _text(out))
        if timed_by_child:
            seconds = float(_text(out).split()[-1])
    tool.check_output(site)
    return Sample(seconds, usage.ru_maxrss, max(sampler.peak_kib, usage.ru_maxrss))


class _TreeMemory(threading.Thread):
    """Samples, every 10 ms, the resident memory of a process and all its descendants
    together: ``ru_maxrss`` gives the largest single process, not what a build that forks
    workers holds at once. The sum counts pages shared after a fork twice (an upper bound)."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak_kib, self.done = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.01):
            self.peak_kib = max(self.peak_kib, sum(_rss_kib(p) for p in _tree(self.pid)))


def _tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as fh:
                    todo.extend(int(child) for child in fh.read().split())
        except OSError:
            continue
    return found


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _text(file) -> str:
    file.seek(0)
    return file.read().decode("utf-8", "replace")
