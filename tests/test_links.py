"""Pages work wherever they are opened: every local link, image and stylesheet of every
HTML page resolves to a file of the output tree (a folder link to its index.html), and
nothing on a page points at base_url except what a standard wants absolute."""

from __future__ import annotations

import shutil
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

import pytest
from lxml import html

from pipeline.cli import main

from .conftest import ROOT

NOW = "2026-12-01T12:00"
ABSOLUTE_ALLOWED = {"canonical", "alternate"}   # <link rel=…> in the head: absolute by design
# answered by `newsroom serve` (at [delivery] service_url, by default base_url), not files
SERVICE_ENDPOINTS = ("subscribe", "unsubscribe", "preferences")


def crawl(output: Path, base_url: str) -> tuple[int, list[str]]:
    """(links checked, the broken ones as 'page -> href')."""
    checked, broken = 0, []
    for page in sorted(output.rglob("*.html")):
        doc = html.fromstring(page.read_bytes())
        where = page.relative_to(output).as_posix()
        for element, attribute, url, _ in doc.iterlinks():
            rel = element.get("rel", "")
            if element.tag == "link" and rel in ABSOLUTE_ALLOWED:
                continue
            if url.startswith(base_url) and url[len(base_url):].split("?")[0] in SERVICE_ENDPOINTS:
                continue
            if url.startswith(base_url):
                broken.append(f"{where} -> {url} (absolute URL of our own site)")
                continue
            parts = urlsplit(url)
            if parts.scheme or parts.netloc or not parts.path:
                continue   # another site, mailto:, or a #fragment of this page
            target = PurePosixPath(where).parent / unquote(parts.path)
            resolved = output.joinpath(*target.parts).resolve()
            if url.endswith("/"):
                resolved = resolved / "index.html"
            checked += 1
            if not resolved.is_file() or not resolved.is_relative_to(output.resolve()):
                broken.append(f"{where} -> {url} ({attribute} of <{element.tag}>)")
    return checked, broken


@pytest.fixture(scope="module")
def shipped_output(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("shipped")
    shutil.copy(ROOT / "newsroom.toml", root / "newsroom.toml")
    shutil.copytree(ROOT / "content", root / "content")
    assert main(["build", "--now", NOW, "--config", str(root / "newsroom.toml")]) == 0
    return root / "output"


def test_every_local_link_of_the_shipped_site_resolves(shipped_output):
    checked, broken = crawl(shipped_output, "https://news.kuopiohealth.example/")
    assert broken == []
    assert checked > 500   # pages, organizations, images, feeds: a real crawl


def test_the_crawl_finds_a_broken_link(tmp_path):
    (tmp_path / "news" / "a").mkdir(parents=True)
    (tmp_path / "news" / "a" / "index.html").write_text(
        '<a href="../../news/b/">b</a><img src="../../media/x.png" alt=""><a href="../../">home</a>'
        '<a href="https://example.org/x/">own</a>')
    (tmp_path / "index.html").write_text("<p>home</p>")
    checked, broken = crawl(tmp_path, "https://example.org/")
    assert checked == 3
    assert broken == ["news/a/index.html -> ../../news/b/ (href of <a>)",
                      "news/a/index.html -> ../../media/x.png (src of <img>)",
                      "news/a/index.html -> https://example.org/x/ (absolute URL of our own site)"]
