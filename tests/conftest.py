"""Shared fixtures: a small real site on disk, and golden-file comparison."""

from __future__ import annotations

import os
import shutil
import struct
import textwrap
import zlib
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pipeline import rebuild
from pipeline.config import load_config

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).resolve().parent / "golden"
HELSINKI = ZoneInfo("Europe/Helsinki")
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=HELSINKI)


def png(width: int = 1, height: int = 1, seed: int = 0, noise: bool = False) -> bytes:
    """A real PNG image (grey pixels, ``seed`` their shade, or random ones, which do not
    compress): media are checked by content."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\0" + (os.urandom(width) if noise else bytes([seed % 256]) * width)
                   for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes: compare whole output trees."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true",
                     help="rewrite the golden files under tests/golden from current output")


@pytest.fixture
def golden(request):
    """``golden("feeds/en.atom", data)`` compares bytes with tests/golden/<name>."""
    update = request.config.getoption("--update-golden")

    def check(name: str, data: bytes) -> None:
        path = GOLDEN / name
        if update:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            return
        assert path.exists(), f"no golden file {path}; run pytest --update-golden"
        assert data.decode() == path.read_text(encoding="utf-8"), f"{name} differs from golden"

    return check


SITE_TOML = """\
[site]
title = { en = "Test News", fi = "Testiuutiset" }
description = { en = "Test site", fi = "Testisivusto" }
base_url = "https://news.example.org/"
timezone = "Europe/Helsinki"
languages = ["en", "fi"]
feed_items = 5

[topics.neurological]
title = { en = "Neurological diseases", fi = "Neurologiset sairaudet" }

[topics.medtech]
title = { en = "Medical technology", fi = "Terveysteknologia" }
"""


class Site:
    """A throwaway site folder: newsroom.toml, content/, output/ and state/ under tmp_path."""

    def __init__(self, root: Path, toml: str = SITE_TOML):
        self.root = root
        self.config_path = root / "newsroom.toml"
        self.config_path.write_text(toml, encoding="utf-8")
        (root / "content" / "news").mkdir(parents=True)
        (root / "content" / "profiles").mkdir(parents=True)
        self.write_profile("uef", "name: {en: University of Eastern Finland, fi: Itä-Suomen yliopisto}\n"
                           "kind: university\ncity: Kuopio\ntopics: [neurological]\n",
                           "The University of Eastern Finland is a multidisciplinary university.\n")

    @property
    def config(self):
        return load_config(self.config_path)

    @property
    def output(self) -> Path:
        return self.root / "output"

    def write(self, rel: str, text: str) -> Path:
        path = self.root / "content" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def write_bytes(self, rel: str, data: bytes) -> Path:
        path = self.root / "content" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def write_news(self, slug: str, front: str, body: str = "A first paragraph of news.\n") -> Path:
        return self.write(f"news/{slug}.md", f"---\n{textwrap.dedent(front)}---\n{body}")

    def write_profile(self, slug: str, front: str, body: str = "") -> Path:
        return self.write(f"profiles/{slug}.md", f"---\n{textwrap.dedent(front)}---\n{body}")


@pytest.fixture(autouse=True)
def _forget_kept_builds():
    """Warm builds keep their last build per output folder (pipeline.rebuild): not across tests."""
    yield
    rebuild.forget()


@pytest.fixture
def site(tmp_path) -> Site:
    return Site(tmp_path)


# -- the built site in headless Chromium (tests/test_browser.py, tests/test_accessibility.py) ------------

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def missing_tool(message: str) -> None:
    """Skip a test whose tool (a browser, PostgreSQL) is not installed here; fail where it
    must be (CI: .ci/run installs every tool and sets NEWSROOM_REQUIRE_BROWSER)."""
    if os.environ.get("NEWSROOM_REQUIRE_BROWSER"):
        pytest.fail(f"{message}; .ci/run installs it")
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium (Debian's, through Debian's chromedriver) for the session."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        missing_tool("Debian's chromium and chromium-driver are not installed "
                     "(apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--allow-file-access-from-files", "--window-size=1280,2000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def shipped_site(tmp_path_factory) -> Path:
    """The shipped content built as of 2026-12-01 12:00: the output folder."""
    from pipeline.cli import main

    root = tmp_path_factory.mktemp("shipped")
    shutil.copy(ROOT / "newsroom.toml", root / "newsroom.toml")
    shutil.copytree(ROOT / "content", root / "content")
    assert main(["build", "--now", "2026-12-01T12:00", "--config", str(root / "newsroom.toml")]) == 0
    return root / "output"


@pytest.fixture(scope="session")
def weekly_email(shipped_site, tmp_path_factory) -> Path:
    """The shipped weekly edition's HTML part, its images loaded from the built site."""
    import email
    from email import policy

    from pipeline.cli import main

    root = shipped_site.parent
    target = tmp_path_factory.mktemp("digest")
    assert main(["digest", "render", "weekly-en", "--now", "2026-12-01T12:00",
                 "--config", str(root / "newsroom.toml"), "--to", str(target)]) == 0
    [eml] = target.glob("*.eml")
    message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    html = message.get_body(("html",)).get_content()
    html = html.replace('src="https://news.kuopiohealth.example/', f'src="{shipped_site.as_uri()}/')
    page = target / "email.html"
    page.write_text(html, encoding="utf-8")
    return page


# -- a throwaway PostgreSQL server (tests/postgres.py): the state database's second engine ------


@pytest.fixture(scope="session")
def postgres_server():
    from .postgres import PostgresServer, postgres_bin

    bin_dir = postgres_bin()
    if bin_dir is None:
        missing_tool("Debian's postgresql is not installed (apt-get install postgresql)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        missing_tool("psycopg is not installed (pip install -e '.[test]')")
    server = PostgresServer(bin_dir).start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(postgres_server) -> str:
    """A fresh, empty PostgreSQL database for one test."""
    return postgres_server.new_database()
