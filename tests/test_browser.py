"""The built site opened from disk in headless Chromium (Debian's package, driven through
Debian's chromedriver): every image loads, and a screenshot shows the page."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from pipeline.cli import main

from .conftest import ROOT

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def browser():
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        if os.environ.get("NEWSROOM_REQUIRE_BROWSER"):   # set by .ci/run, which installs them
            pytest.fail("Chromium and chromedriver are required here "
                        "(apt-get install chromium chromium-driver)")
        pytest.skip("Debian's chromium and chromium-driver are not installed")
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


@pytest.fixture(scope="module")
def shipped_site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("browser")
    shutil.copy(ROOT / "newsroom.toml", root / "newsroom.toml")
    shutil.copytree(ROOT / "content", root / "content")
    assert main(["build", "--now", "2026-12-01T12:00", "--config", str(root / "newsroom.toml")]) == 0
    return root / "output"


# Lazy images load only near the viewport, and after the page's load event: bring each into
# view and wait for it to decode (or fail) before judging it.
IMAGES_LOADED = """
const done = arguments[arguments.length - 1];
const images = Array.from(document.images);
Promise.all(images.map(img => {
    img.loading = 'eager';
    img.scrollIntoView();
    return img.decode().then(() => true, () => false);
})).then(results => done(images.map((img, i) =>
    [img.getAttribute('src'), results[i] && img.naturalWidth > 0])));
"""
# the links of the page to our own site, as written and as the browser resolves them
OWN_LINKS = """
return Array.from(document.querySelectorAll('a[href]'))
    .filter(a => !/^[a-z]+:/i.test(a.getAttribute('href')))
    .map(a => [a.getAttribute('href'), a.href]);
"""


@pytest.mark.slow
@pytest.mark.parametrize("page", ["index.html", "fi/index.html", "organizations/uef/index.html"])
def test_pages_opened_from_disk_show_their_images(browser, shipped_site, page, tmp_path):
    browser.get((shipped_site / page).as_uri())
    images = browser.execute_async_script(IMAGES_LOADED)
    assert images, f"{page} has no images to check"
    assert [src for src, loaded in images if not loaded] == []
    shot = tmp_path / "page.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    # links to our own pages stay on the disk: none leaves for base_url
    links = browser.execute_script(OWN_LINKS)
    assert len(links) > 3
    assert [written for written, resolved in links if not resolved.startswith("file://")] == []


@pytest.mark.slow
def test_an_item_page_from_disk_shows_its_picture(browser, shipped_site):
    [page] = [p for p in (shipped_site / "news").glob("*/index.html") if b"<figure>" in p.read_bytes()][:1]
    browser.get(page.as_uri())
    images = browser.execute_async_script(IMAGES_LOADED)
    assert images and all(loaded for _, loaded in images), images
