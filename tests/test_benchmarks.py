"""The benchmark's corpus is deterministic and builds cleanly; its harness runs end to end
(Newsroom only: Pelican is in the `bench` extra, not needed by the test suite)."""

from __future__ import annotations

import subprocess
import sys

from benchmarks.corpus import stories, write_newsroom_site, write_pelican_site
from pipeline.build import build_site
from pipeline.config import load_config

from .conftest import NOW, ROOT, tree


def test_the_corpus_is_the_same_every_time(tmp_path):
    for name in ("a", "b"):
        corpus = stories(40)
        write_newsroom_site(tmp_path / name / "newsroom", corpus)
        write_pelican_site(tmp_path / name / "pelican", corpus)
    assert tree(tmp_path / "a") == tree(tmp_path / "b")
    assert len(list((tmp_path / "a/newsroom/content/news").rglob("*.md"))) == 40
    assert len(list((tmp_path / "a/pelican/content").rglob("*.md"))) == 40


def test_the_corpus_builds_without_problems(tmp_path):
    write_newsroom_site(tmp_path, stories(60))
    report = build_site(load_config(tmp_path / "newsroom.toml"), NOW)
    assert not report.content.problems
    assert len(report.catalog.items) == 60 and len(report.catalog.profiles) == 12


def test_the_harness_runs_and_reports(tmp_path):
    run = subprocess.run([sys.executable, "-m", "benchmarks", "--sizes", "20", "40", "--rounds", "1",
                          "--only", "newsroom", "--workdir", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    for line in ("cold build, median", "rebuild after edit, median", "rebuild after add, median",
                 "rebuild after profile edit, median", "edit, in a running process, median", "peak memory",
                 "growth of the cold build time 40/20", "edit rebuild in a running process",
                 "python -c pass"):
        assert line in run.stdout
