"""`newsroom init`: a new site that builds at once; and Newsroom installed from a wheel,
used the way a new user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.config import load_config

from .conftest import ROOT
from .test_links import crawl


def test_init_writes_a_site_that_builds_at_once(tmp_path, capsys):
    site = tmp_path / "site"
    assert main(["init", str(site), "--title", "Lab News", "--languages", "fi,en",
                 "--timezone", "Europe/Helsinki", "--base-url", "https://lab.example.fi"]) == 0
    assert "wrote 3 files" in capsys.readouterr().out
    files = sorted(p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file())
    assert files == ["content/news/2026/welcome.md" if "2026" in files[0] else files[0],
                     "content/profiles/example-organization.md", "newsroom.toml"]
    config = load_config(site / "newsroom.toml")
    assert config.site.languages == ("fi", "en") and config.site.base_url == "https://lab.example.fi/"
    assert str(config.site.timezone) == "Europe/Helsinki" and config.paths.templates is None
    assert "#" in (site / "newsroom.toml").read_text()          # commented for its reader
    assert main(["build", "--config", str(site / "newsroom.toml")]) == 0
    manifest = json.loads((site / "output" / "syndication" / "index.json").read_text())
    assert manifest["files"]
    assert (site / "output" / "index.html").exists() and (site / "output" / "en" / "index.html").exists()
    _, broken = crawl(site / "output", "https://lab.example.fi/")
    assert broken == []


@pytest.mark.parametrize(("args", "message"), [
    (["--languages", "de"], "--languages: unsupported language 'de'"),
    (["--timezone", "Mars/Olympus"], "--timezone: unknown time zone 'Mars/Olympus'"),
    (["--base-url", "news.example.org"], "--base-url: 'news.example.org' is not an absolute http(s) URL"),
    (["--title", 'Say "hi"'], "--title: give a title without quotes"),
])
def test_init_refuses_bad_flags_and_writes_nothing(tmp_path, capsys, args, message):
    assert main(["init", str(tmp_path / "site"), *args]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "site").exists()


def test_init_refuses_a_folder_that_is_not_empty(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["init", str(tmp_path)]) == 2
    assert "is not an empty folder" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


@pytest.mark.slow
def test_a_wheel_installed_in_a_fresh_environment_inits_and_builds_a_site(tmp_path):
    """The wheel carries the built-in templates: no checkout, no templates of the site's own."""
    dist = tmp_path / "dist"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist),
         str(ROOT)], cwd=tmp_path)
    [wheel] = dist.glob("newsroom-*.whl")
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path)
    python = venv / "bin" / "python"
    run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)],
        cwd=tmp_path)
    where = run([str(python), "-c", "import pipeline; print(pipeline.__file__)"], cwd=tmp_path)
    assert str(venv) in where and str(ROOT) not in where      # the wheel, not the checkout
    newsroom = venv / "bin" / "newsroom"
    run([str(newsroom), "init", "site", "--languages", "en,fi"], cwd=tmp_path)
    done = subprocess.run([str(newsroom), "build"], cwd=tmp_path / "site", capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": ""})
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    output = tmp_path / "site" / "output"
    assert json.loads((output / "syndication" / "index.json").read_text())["files"]
    assert 'class="skip"' in (output / "index.html").read_text()   # the built-in templates


def run(command: list[str], cwd: Path) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": "", "PIP_NO_INPUT": "1"})
    assert done.returncode == 0, f"{command}: {done.stdout}\n{done.stderr}"
    return done.stdout
