"""The built site opened from disk in headless Chromium (Debian's package, driven through
Debian's chromedriver): every image loads, and a screenshot shows the page. The fixtures
(``browser``, ``shipped_site``, ``weekly_email``) are in conftest.py, shared with
tests/test_accessibility.py."""

from __future__ import annotations

import pytest

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


# -- the weekly digest email --------------------------------------------------------------------

COLOURS = """
const rgb = s => s.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number);
const lum = c => { const [r, g, b] = c.map(v => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
const contrast = (a, b) => { const [x, y] = [lum(rgb(a)), lum(rgb(b))].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05); };
const box = document.querySelector('table.container');
const background = getComputedStyle(box).backgroundColor;
const pairs = Array.from(box.querySelectorAll('h1, h2, h3 a, p, a')).map(
    e => [e.textContent.trim().slice(0, 40), contrast(getComputedStyle(e).color, background)]);
return {background: lum(rgb(background)), width: document.documentElement.scrollWidth,
        viewport: window.innerWidth, worst: pairs.sort((p, q) => p[1] - q[1])[0]};
"""


@pytest.mark.slow
@pytest.mark.parametrize("width", [600, 375])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_weekly_digest_reads_well_at_phone_and_desktop_width_in_both_schemes(
        browser, weekly_email, width, scheme, tmp_path):
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": width, "height": 1200, "deviceScaleFactor": 1, "mobile": width < 500})
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia",
                            {"features": [{"name": "prefers-color-scheme", "value": scheme}]})
    try:
        browser.get(weekly_email.as_uri())
        images = browser.execute_async_script(IMAGES_LOADED)
        assert [src for src, loaded in images if not loaded] == []
        seen = browser.execute_script(COLOURS)
        assert seen["width"] <= seen["viewport"] == width          # no horizontal scrolling
        assert (seen["background"] < 0.05) == (scheme == "dark")    # dark mode is dark, light is light
        assert seen["worst"][1] >= 4.5, seen["worst"]               # WCAG AA contrast for every text
        shot = tmp_path / f"digest-{width}-{scheme}.png"
        assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 5_000
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": []})
