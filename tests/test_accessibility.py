"""Accessibility (WCAG 2.1 A and AA) and valid HTML of everything Newsroom shows people:
the front pages in both languages, an item page, organization pages, the digest archive,
the subscriber service's pages and a digest email.

- axe-core (npm ``axe-core``) runs in Debian's headless Chromium over each page, in the
  light and the dark colour scheme: its rules tagged wcag2a, wcag2aa, wcag21a and wcag21aa,
  WCAG 2.1's unique-id rules (4.1.1, which axe no longer runs by default) and the structure
  rules of its best practices (one main landmark, all content in landmarks, heading order,
  a first-level heading). Zero violations.
- No horizontal scrolling at 320 and 375 px, and at 200 % zoom (a 1280 px window).
- Keyboard: the skip link is the first stop, shows when focused and leads to the main
  content; every stop shows a focus outline that stands out (3:1) from what is around it.
- The Nu Html Checker (npm ``vnu-jar``, on Java) over every page of the build at once:
  zero errors.
- A planted fault (an image without alt, low-contrast text, a duplicate id) in a site's own
  template makes both checks fail.

The tools are installed by .ci/run (``npm install --prefix .ci …``); without them these
tests are skipped, except where NEWSROOM_REQUIRE_BROWSER is set (CI), where they fail.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.config import load_config
from pipeline.messages import make_token
from pipeline.service import ServiceApp
from pipeline.statedb import database_url, open_database
from pipeline.subscribers import SubscriberStore
from pipeline.templating import BUILTIN

from .conftest import NOW, ROOT, SITE_TOML, Site, missing_tool

pytestmark = pytest.mark.slow

TOOLS = Path(os.environ.get("NEWSROOM_A11Y_TOOLS", ROOT / ".ci" / "node_modules"))
AXE_JS = TOOLS / "axe-core" / "axe.min.js"
VNU_JAR = TOOLS / "vnu-jar" / "build" / "dist" / "vnu.jar"

# The email's HTML keeps what Outlook needs and the standard does not know.
EMAIL_IDIOMS = ("Attribute “xmlns:o” not allowed here.",                # Office settings
                "CSS: “mso-hide”: Property “mso-hide” doesn't exist.")   # the hidden preheader

# axe: the WCAG 2.1 A/AA rules, WCAG 2.1's 4.1.1 (unique ids; axe has deprecated the rules
# since WCAG 2.2 dropped the criterion) and, on pages, the structure rules of best practice.
# duplicate-id-aria only ever "needs review": it counts as a violation here. So does colour
# contrast that "needs review" because text and background have the same colour (axe's
# "equalRatio", a 1:1 ratio): that text is invisible (white on white, say).
AXE = """
const [extra, done] = [arguments[0], arguments[arguments.length - 1]];
const rules = axe.getRules(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).map(r => r.ruleId)
    .concat(['duplicate-id', 'duplicate-id-active'], extra);
const equal = n => n.any.concat(n.all, n.none).some(c => c.data && (c.data.messageKey === 'equalRatio'
    || Math.round(c.data.contrastRatio * 100) === 100));
axe.run(document, {runOnly: {type: 'rule', values: rules}, resultTypes: ['violations', 'incomplete']})
  .then(r => done(r.violations.concat(
      r.incomplete.filter(v => v.id === 'duplicate-id-aria'),
      r.incomplete.filter(v => v.id === 'color-contrast')
        .map(v => ({...v, id: 'color-contrast-equal', nodes: v.nodes.filter(equal)}))
        .filter(v => v.nodes.length))
      .map(v => [v.id, v.help, v.nodes.slice(0, 3).map(n => n.target.join(' ') + ': ' + n.failureSummary)])),
        e => done([['axe-error', String(e), []]]));
"""
STRUCTURE = ["region", "landmark-one-main", "landmark-no-duplicate-main", "landmark-unique",
             "landmark-banner-is-top-level", "landmark-contentinfo-is-top-level",
             "landmark-main-is-top-level", "landmark-complementary-is-top-level",
             "page-has-heading-one", "heading-order", "skip-link"]

WIDTH = """return {width: document.documentElement.scrollWidth, viewport: window.innerWidth};"""
# the luminance of the page's background (0 black, 1 white)
BACKGROUND = """
const c = getComputedStyle(document.body).backgroundColor.match(/[\\d.]+/g).slice(0, 3).map(Number);
const [r, g, b] = c.map(v => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
return 0.2126 * r + 0.7152 * g + 0.0722 * b;
"""

# The focused element's outline, and the colour behind it (the first opaque background up
# its ancestors), as contrast ratio.
FOCUS = """
const e = document.activeElement, s = getComputedStyle(e);
const rgb = c => (c.match(/[\\d.]+/g) || [0, 0, 0, 0]).map(Number);
const lum = c => { const [r, g, b] = rgb(c).slice(0, 3).map(v => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
let back = 'rgb(255, 255, 255)';
for (let p = e; p; p = p.parentElement) {
    const c = getComputedStyle(p).backgroundColor, a = rgb(c);
    if (a.length < 4 || a[3] > 0) { back = c; break; }
}
const [x, y] = [lum(s.outlineColor), lum(back)].sort((p, q) => q - p);
const box = e.getBoundingClientRect();
return {tag: e.tagName.toLowerCase(), text: (e.textContent || e.value || '').trim().slice(0, 40),
        cls: e.className, href: e.getAttribute('href'), style: s.outlineStyle,
        width: parseFloat(s.outlineWidth), contrast: (x + 0.05) / (y + 0.05),
        visible: box.width > 0 && box.height > 0 && box.right > 0 && box.bottom > 0
                 && box.left < window.innerWidth};
"""


# -- the tools ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def axe_source() -> str:
    if not AXE_JS.is_file():
        missing_tool(f"axe-core is not installed ({AXE_JS})")
    return AXE_JS.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def vnu() -> list[str]:
    java = shutil.which("java")
    if java is None or not VNU_JAR.is_file():
        missing_tool(f"the Nu Html Checker needs java and {VNU_JAR}")
    return [java, "-Xss4m", "-jar", str(VNU_JAR)]


def vnu_errors(vnu: list[str], targets: list[Path], allowed: tuple[str, ...] = ()) -> list[str]:
    """Every error of vnu over ``targets`` (files or folders, checked in one run)."""
    done = subprocess.run([*vnu, "--errors-only", "--skip-non-html", "--format", "json",
                           *map(str, targets)], capture_output=True, text=True, timeout=600)
    messages = json.loads(done.stderr)["messages"]
    return [f"{m.get('url', '?')}:{m.get('lastLine', '?')}: {m['message']}"
            for m in messages if m.get("type") in ("error", "non-document-error")
            and m["message"] not in allowed]


def axe_violations(browser, axe_source: str, page: Path, structure: bool = True) -> list:
    browser.get(page.as_uri())
    browser.execute_script(axe_source)
    return browser.execute_async_script(AXE, STRUCTURE if structure else [])


def colour_scheme(browser, scheme: str | None) -> None:
    features = [{"name": "prefers-color-scheme", "value": scheme}] if scheme else []
    browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": features})


# -- what is checked ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def service_pages(shipped_site, tmp_path_factory) -> dict[str, Path]:
    """The subscriber service's pages as `newsroom serve` answers them, saved to files."""
    root = shipped_site.parent
    folder = tmp_path_factory.mktemp("service")
    secret = "a11y-test-secret-0123456789"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NEWSROOM_SECRET", secret)
        config = load_config(root / "newsroom.toml")
        db = open_database(database_url(config))
        store = SubscriberStore(db, config, secret)
        store.subscribe("anna@example.org", "weekly-en", NOW, "test", language="en")
        store.subscribe("pekka@example.org", "viikko-fi", NOW, "test", language="fi", pending=True)
        anna, pekka = store.get("anna@example.org").key, store.get("pekka@example.org").key
        db.close()
        app = ServiceApp(config)
        anna_token = make_token(secret, anna, "weekly-en")
        requests = {
            "subscribe": ("GET", "/subscribe", ""),
            "subscribe-fi": ("GET", "/subscribe", "lang=fi"),
            "unsubscribe": ("GET", "/unsubscribe", f"token={anna_token}"),
            "preferences": ("GET", "/preferences", f"token={make_token(secret, pekka, 'viikko-fi')}"),
            "confirm": ("GET", "/confirm", f"token={make_token(secret, pekka, 'viikko-fi', 'confirm')}"),
            "forbidden": ("GET", "/unsubscribe", "token=forged"),
            "unsubscribed": ("POST", "/unsubscribe", f"token={anna_token}"),
        }
        pages = {}
        for name, (method, path, query) in requests.items():
            body = b"List-Unsubscribe=One-Click" if method == "POST" else b""
            status, _, html = app.handle({"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
                                          "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body)})
            assert status.startswith("403" if name == "forbidden" else "200"), (name, status)
            pages[name] = folder / f"{name}.html"
            pages[name].write_bytes(html)
    return pages


@pytest.fixture(scope="module")
def pages(shipped_site, service_pages) -> dict[str, Path]:
    """Every kind of page a person sees, by name."""
    out = shipped_site
    [item] = [p for p in (out / "news").glob("*/index.html") if b"<figure>" in p.read_bytes()][:1]
    found = {
        "front": out / "index.html",
        "front-fi": out / "fi" / "index.html",
        "item": item,
        "organization": out / "organizations" / "uef" / "index.html",
        "organization-fi": out / "fi" / "organizations" / "kuh" / "index.html",
        "digest-archive": out / "digests" / "weekly-en" / "index.html",
        "digest-edition": out / "digests" / "viikko-fi" / "2026-W49" / "index.html",
        **{f"service-{name}": path for name, path in service_pages.items()},
    }
    assert all(path.is_file() for path in found.values())
    return found


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_wcag_21_aa_violations(browser, axe_source, pages, weekly_email, scheme):
    colour_scheme(browser, scheme)
    found, backgrounds = {}, {}
    try:
        for name, page in pages.items():
            found[name] = axe_violations(browser, axe_source, page)
            backgrounds[name] = browser.execute_script(BACKGROUND)
        # an email has no landmarks: the WCAG rules only
        found["email"] = axe_violations(browser, axe_source, weekly_email, structure=False)
        backgrounds["email"] = browser.execute_script(BACKGROUND)
    finally:
        colour_scheme(browser, None)
    assert {name: violations for name, violations in found.items() if violations} == {}
    # the dark scheme is dark, the light one light: both were really checked
    assert {name for name, lum in backgrounds.items() if (lum < 0.05) != (scheme == "dark")} == set()


def test_axe_at_phone_width(browser, axe_source, pages, weekly_email):
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 375, "height": 800, "deviceScaleFactor": 2, "mobile": True})
    try:
        found = {name: axe_violations(browser, axe_source, pages[name])
                 for name in ("front", "item", "service-preferences")}
        found["email"] = axe_violations(browser, axe_source, weekly_email, structure=False)
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert {name: violations for name, violations in found.items() if violations} == {}


# 320 px: WCAG's reflow width (1280 px at 400 %); 375 px: a phone; 640 px at scale 2: 200 % zoom
@pytest.mark.parametrize(("width", "scale"), [(320, 1), (375, 2), (640, 2)])
def test_no_horizontal_scrolling(browser, pages, weekly_email, width, scale):
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": width, "height": 900,
                            "deviceScaleFactor": scale, "mobile": width < 500})
    try:
        seen = {}
        for name, page in [*pages.items(), ("email", weekly_email)]:
            browser.get(page.as_uri())
            seen[name] = browser.execute_script(WIDTH)
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    assert {name: s for name, s in seen.items() if s["width"] > s["viewport"]} == {}
    assert all(s["viewport"] == width for s in seen.values())


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_keyboard_skip_link_and_visible_focus(browser, pages, scheme):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    colour_scheme(browser, scheme)
    poor, stops = {}, {}
    try:
        for name in ("front", "item", "organization-fi", "digest-archive", "service-subscribe"):
            browser.get(pages[name].as_uri())
            ActionChains(browser).send_keys(Keys.TAB).perform()
            first = browser.execute_script(FOCUS)
            assert first["cls"] == "skip" and first["visible"], (name, first)
            ActionChains(browser).send_keys(Keys.ENTER).perform()
            assert browser.execute_script("return document.activeElement.id") == "main", name
            browser.get(pages[name].as_uri())
            for _ in range(25):   # the first stops of the page
                ActionChains(browser).send_keys(Keys.TAB).perform()
                stop = browser.execute_script(FOCUS)
                if stop["tag"] == "body":
                    break
                stops[name] = stops.get(name, 0) + 1
                if stop["style"] == "none" or stop["width"] < 2 or stop["contrast"] < 3:
                    poor.setdefault(name, []).append(stop)
    finally:
        colour_scheme(browser, None)
    assert poor == {}
    assert all(stops.get(name, 0) >= 3 for name in ("front", "item", "service-subscribe")), stops


def test_every_page_and_the_email_are_valid_html(vnu, shipped_site, service_pages, weekly_email):
    # the whole build (every page of it) and the service pages in one run; the email alone,
    # for the Outlook idioms it keeps
    assert vnu_errors(vnu, [shipped_site, *service_pages.values()]) == []
    assert vnu_errors(vnu, [weekly_email], allowed=EMAIL_IDIOMS) == []


# -- the checks can fail ----------------------------------------------------------------------------

FAULTS = """
<p><img src="missing.png" width="10" height="10"></p>
<p style="color: #c8c8c8">Low-contrast text</p>
<p id="latest">A second element with the id of the heading above</p>
{% endblock %}"""


def test_a_planted_fault_fails_axe_and_vnu(browser, axe_source, vnu, tmp_path):
    site = Site(tmp_path, SITE_TOML)
    site.write_news("study", """\
        title: A study
        date: 2026-11-20T10:00
        topics: [neurological]
        """)
    templates = tmp_path / "templates" / "pages"
    templates.mkdir(parents=True)
    builtin = (BUILTIN / "pages" / "index.html").read_text(encoding="utf-8")
    (templates / "index.html").write_text(builtin.replace("{% endblock %}", FAULTS, 1), encoding="utf-8")
    assert main(["build", "--now", NOW.isoformat(), "--config", str(site.config_path)]) == 0
    page = site.output / "index.html"
    assert "Low-contrast" in page.read_text(encoding="utf-8")

    found = {rule for rule, _, _ in axe_violations(browser, axe_source, page)}
    assert {"image-alt", "color-contrast", "duplicate-id-aria"} <= found, found
    errors = "\n".join(vnu_errors(vnu, [page]))
    assert "An “img” element must have an “alt” attribute" in errors
    assert "Duplicate ID “latest”" in errors
    # and the same site without the fault passes both
    (templates / "index.html").unlink()
    assert main(["build", "--now", NOW.isoformat(), "--config", str(site.config_path)]) == 0
    assert axe_violations(browser, axe_source, page) == [] and vnu_errors(vnu, [page]) == []


# A site's own style sheet, made for light backgrounds only: it sets the page's background
# and leaves the text's colour to the browser.
LIGHT_ONLY_CSS = """
body { background: #fff; font-family: sans-serif; margin: 0; }
a { color: #0b4f75; }
.vh { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
.skip { position: absolute; left: -999px; } .skip:focus { left: 0; }
"""

INVISIBLE = """
<p style="color: #fff; background: #fff">Invisible text</p>
{% endblock %}"""


def _light_only_site(root: Path, index: str | None = None) -> Path:
    """A site with its own light-only style sheet (and ``index``, its own front page), built."""
    root.mkdir()
    site = Site(root, SITE_TOML)
    site.write_news("study", "title: A study\ndate: 2026-11-20T10:00\ntopics: [neurological]\n")
    templates = root / "templates" / "pages"
    templates.mkdir(parents=True)
    (templates / "style.css").write_text(LIGHT_ONLY_CSS, encoding="utf-8")
    if index is not None:
        (templates / "index.html").write_text(index, encoding="utf-8")
    assert main(["build", "--now", NOW.isoformat(), "--config", str(site.config_path)]) == 0
    return site.output / "index.html"


def test_a_site_with_its_own_light_only_style_is_readable_in_the_dark_scheme(browser, axe_source, tmp_path):
    # the built-in style sheet asks for both schemes itself (:root { color-scheme: light dark });
    # the page must not ask for them over a site's own: dark mode's white text on its white
    page = _light_only_site(tmp_path / "own")
    builtin = (BUILTIN / "pages" / "index.html").read_text(encoding="utf-8")
    invisible = _light_only_site(tmp_path / "invisible", builtin.replace("{% endblock %}", INVISIBLE, 1))
    colour_scheme(browser, "dark")
    try:
        assert axe_violations(browser, axe_source, page) == []
        # and the check sees invisible text, which axe only says "needs review"
        found = axe_violations(browser, axe_source, invisible)
    finally:
        colour_scheme(browser, None)
    assert [rule for rule, _, _ in found] == ["color-contrast-equal"], found
