#!/usr/bin/env python3
"""Screenshot the HTML part of an .eml in headless Chromium (Debian's package) at the
widths email is read at: 600 px (desktop clients) and 375 px (a phone), in light and dark
colour schemes. A preview for people, not a test.

    python scripts/screenshot_eml.py digest-preview/weekly-en-2026-W49.eml --to shots/ \
        [--base-url https://news.example.org/ --output-dir output/]

With --base-url and --output-dir, images of the site are loaded from the built output
folder instead of the network (the site need not be online yet).
"""

from __future__ import annotations

import argparse
import email
import shutil
import subprocess
import sys
import tempfile
from email import policy
from pathlib import Path

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--hide-scrollbars", "--disable-component-update", "--no-first-run",
                  "--allow-file-access-from-files"]
WIDTHS = (600, 375)


def html_of(eml: Path) -> str:
    message = email.message_from_bytes(eml.read_bytes(), policy=policy.default)
    part = message.get_body(preferencelist=("html",))
    if part is None:
        raise SystemExit(f"{eml}: no HTML part")
    return part.get_content()


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    raise SystemExit("no Chromium found: apt-get install chromium")


def screenshot(browser: str, page: Path, target: Path, width: int, dark: bool) -> None:
    flags = [*CHROMIUM_FLAGS, f"--window-size={width},2400", f"--screenshot={target}"]
    if dark:
        flags += ["--force-dark-mode", "--blink-settings=preferredColorScheme=0"]
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([browser, *flags, f"--user-data-dir={profile}", page.as_uri()], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("eml", type=Path)
    parser.add_argument("--to", type=Path, default=Path("shots"), help="folder for the PNG files")
    parser.add_argument("--base-url", help="the site's base_url, to load its images from --output-dir")
    parser.add_argument("--output-dir", type=Path, help="the built output folder")
    args = parser.parse_args(argv)
    html = html_of(args.eml)
    if args.base_url and args.output_dir:
        html = html.replace(f'src="{args.base_url}', f'src="{args.output_dir.resolve().as_uri()}/')
    args.to.mkdir(parents=True, exist_ok=True)
    page = args.to / f"{args.eml.stem}.html"
    page.write_text(html, encoding="utf-8")
    browser = chromium()
    for width in WIDTHS:
        for dark in (False, True):
            target = args.to / f"{args.eml.stem}-{width}{'-dark' if dark else ''}.png"
            screenshot(browser, page, target, width, dark)
            print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
