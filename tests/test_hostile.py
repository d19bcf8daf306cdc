"""Hostile content: every file under content/ is untrusted. Each test plants a real hostile
file in a throwaway site and checks that the build refuses it with a clear
``path:line: field: message``, publishes nothing, prints no traceback, and stays within
seconds and a few hundred MB (the costly cases run as a child process, measured)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.cli import main

from .conftest import Site, png

NOW = "2026-11-28T12:00"
FRONT = "title: A title\ndate: 2026-11-20T10:00\ntopics: [neurological]\n"
SECRET = "NEWSROOM_SECRET=s3cr3t-do-not-publish"


def run(site, *args: str) -> int:
    return main([*args, "--config", str(site.config_path)])


def refused(site, capsys, *expected: str, command: str = "build") -> str:
    """Build (or check): exit 1, each expected text in stderr, no traceback, no output."""
    args = ("build", "--now", NOW) if command == "build" else ("check",)
    assert run(site, *args) == 1
    err = capsys.readouterr().err
    for text in expected:
        assert text in err, err
    assert "Traceback" not in err
    assert not site.output.exists()
    assert not list(site.root.glob(".output.*")), "nothing may be left beside the output folder"
    return err


# Runs the CLI and reports its peak memory: the resident high-water mark of its own memory
# map (VmHWM; the kernel's ru_maxrss would include the test process it was forked from)
# and that of the workers it started.
_MEASURED = """
import resource, sys
from pipeline.cli import main
try:
    code = main(sys.argv[2:])
finally:
    hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    with open(sys.argv[1], "w") as fh:
        fh.write(str(max(hwm, workers) // 1024))
sys.exit(code)
"""


def run_child(site, *args: str, timeout: float = 30) -> tuple[int, str, float, int]:
    """``newsroom ARGS`` in a child process: (exit code, stderr, seconds, peak RSS in MB of
    the child, or of a worker it started if that was larger)."""
    report = site.root / "peak-mb"
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-c", _MEASURED, str(report), *args,
                               "--config", str(site.config_path)],
                              cwd=site.root, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"newsroom {' '.join(args)} ran past {timeout} s")
    return done.returncode, done.stderr, time.monotonic() - started, int(report.read_text())


def assert_refused_quickly(site, *expected: str, seconds: float = 5, megabytes: int = 400) -> None:
    for command in (("check",), ("build", "--now", NOW)):
        code, err, took, peak = run_child(site, *command)
        print(f"{command[0]}: {took:.2f} s, {peak} MB")
        assert code == 1, err
        for text in expected:
            assert text in err, err
        assert "Traceback" not in err and len(err) < 10_000
        assert took < seconds, f"{command[0]} took {took:.1f} s"
        assert peak < megabytes, f"{command[0]} peaked at {peak} MB"
    assert not site.output.exists()


@pytest.fixture
def outside(tmp_path_factory) -> Path:
    """A folder outside the site, with files nobody may publish."""
    folder = tmp_path_factory.mktemp("outside")
    (folder / "environ").write_text(SECRET)
    (folder / "secret.png").write_bytes(png(seed=42))
    (folder / "stolen.md").write_text(f"---\n{FRONT}---\n{SECRET}\n")
    return folder


def leaked(site, marker: str) -> list[str]:
    return [str(p) for p in site.output.rglob("*") if p.is_file() and marker.encode() in p.read_bytes()]


# -- 1. symbolic links ----------------------------------------------------------------------


def test_a_symlinked_image_leading_outside_is_refused(site, outside, capsys, monkeypatch):
    monkeypatch.chdir(site.root)
    (site.root / "content" / "media").mkdir()
    (site.root / "content" / "media" / "env.png").symlink_to(outside / "secret.png")
    site.write_news("x", FRONT + "image: {src: media/env.png, alt: x}\n")
    refused(site, capsys, "content/news/x.md:5: image.src: content/media/env.png leads outside the "
                          "content folder")


def test_proc_self_environ_as_an_image_is_refused(site, capsys, monkeypatch):
    monkeypatch.chdir(site.root)
    (site.root / "content" / "media").mkdir()
    (site.root / "content" / "media" / "env.png").symlink_to("/proc/self/environ")
    site.write_news("x", FRONT + "image: {src: media/env.png, alt: x}\n")
    refused(site, capsys, "content/news/x.md:5: image.src: content/media/env.png leads outside")


def test_a_folder_symlink_to_the_root_cannot_publish_etc_passwd(site, capsys, monkeypatch):
    monkeypatch.chdir(site.root)
    (site.root / "content" / "media").mkdir()
    (site.root / "content" / "media" / "root").symlink_to("/")
    site.write_profile("lab", "name: Lab\nkind: company\nlogo: {src: media/root/etc/passwd, alt: L}\n")
    err = refused(site, capsys, "content/profiles/lab.md:4: logo.src: content/media/root/etc/passwd "
                                "leads outside")
    assert "root:" not in err


def test_a_symlinked_markdown_file_leading_outside_is_not_news(site, outside, capsys, monkeypatch):
    monkeypatch.chdir(site.root)
    (site.root / "content" / "news" / "stolen.md").symlink_to(outside / "stolen.md")
    err = refused(site, capsys, "content/news/stolen.md:1: file: a symbolic link to a file outside "
                                "the content folder", command="check")
    assert SECRET not in err
    refused(site, capsys, "content/news/stolen.md:1: file:")


def test_a_news_folder_that_is_a_symlink_leading_outside_is_refused(site, outside, capsys, monkeypatch):
    monkeypatch.chdir(site.root)
    news = site.root / "content" / "news"
    news.rmdir()
    news.symlink_to(outside)
    refused(site, capsys, "content/news:1: folder: a symbolic link leading outside the content folder")


def test_keep_going_skips_the_symlink_and_publishes_no_byte_of_its_target(site, outside):
    (site.root / "content" / "media").mkdir()
    (site.root / "content" / "media" / "env.png").symlink_to(outside / "secret.png")
    (site.root / "content" / "news" / "stolen.md").symlink_to(outside / "stolen.md")
    site.write_news("x", FRONT + "image: {src: media/env.png, alt: x}\n")
    site.write_news("good", FRONT.replace("A title", "Good"))
    assert run(site, "build", "--keep-going", "--now", NOW) == 0
    assert (site.output / "news" / "good" / "index.html").exists()
    assert not (site.output / "news" / "x").exists() and not (site.output / "news" / "stolen").exists()
    assert leaked(site, SECRET) == []
    assert not list((site.output / "media").glob("*")) if (site.output / "media").exists() else True


def test_symlinks_that_stay_inside_the_content_folder_work(site):
    media = site.root / "content" / "media"
    media.mkdir()
    (media / "real.png").write_bytes(png())
    (media / "alias.png").symlink_to("real.png")
    site.write_news("x", FRONT + "image: {src: media/alias.png, alt: x}\n")
    (site.root / "content" / "news" / "y.md").symlink_to(site.root / "content" / "news" / "x.md")
    (site.root / "content" / "news" / "y.md").unlink()   # a link to a sibling is a second item:
    site.write("shared/z.md", f"---\n{FRONT}slug: z\n---\nShared.\n")
    (site.root / "content" / "news" / "z.md").symlink_to(site.root / "content" / "shared" / "z.md")
    assert run(site, "build", "--now", NOW) == 0
    [published] = (site.output / "media").glob("*-alias.png")
    assert published.read_bytes() == png()
    assert (site.output / "news" / "z" / "index.html").exists()


# -- 2. only images, and SVG without script --------------------------------------------------

SVG_OPEN = '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">'


@pytest.mark.parametrize(("svg", "reason"), [
    (f"{SVG_OPEN}<script>alert(document.cookie)</script></svg>", "<script> element"),
    ('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>', "event handler onload="),
    (f'{SVG_OPEN}<rect ONCLICK="alert(1)"/></svg>', "event handler ONCLICK="),
    (f"{SVG_OPEN}<foreignObject><p>x</p></foreignObject></svg>", "<foreignObject> element"),
    (f'{SVG_OPEN}<a href="javascript:alert(1)"><text>x</text></a></svg>', "script URL in href="),
    (f'{SVG_OPEN}<image href="https://tracker.example/p.png"/></svg>', "reference to 'https://tracker"),
    (f'{SVG_OPEN}<use xlink:href="other.svg#x"/></svg>', "reference to 'other.svg#x'"),
    (f'{SVG_OPEN}<set attributeName="href" to="javascript:alert(1)"/></svg>', "script URL in to="),
    (f'{SVG_OPEN}<animate attributeName="onbegin" values="x"/></svg>', "<animate> that changes onbegin"),
    (f"{SVG_OPEN}<style>@import url(https://evil.example/x.css);</style></svg>", "@import"),
    (f'{SVG_OPEN}<rect style="fill: url(https://evil.example/#g)"/></svg>', "in url()"),
    ('<svg xmlns="http://www.w3.org/2000/svg"><html:script xmlns:html="http://www.w3.org/1999/xhtml">'
     "alert(1)</html:script></svg>", "element <script> that is not SVG"),
    ('<?xml-stylesheet href="https://evil.example/x.xsl"?><svg xmlns="http://www.w3.org/2000/svg"/>',
     "processing instruction"),
    ('<!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa">]><svg xmlns="http://www.w3.org/2000/svg">&a;</svg>',
     "an entity reference"),
    (f'{SVG_OPEN}<style onload="alert(1)">rect {{}}</style></svg>', "event handler onload= on <style>"),
    (f"{SVG_OPEN}<style>a{{}}<!-- x -->@import url(https://evil.example/x.css);</style></svg>",
     "<style> element with child nodes"),
    (f'{SVG_OPEN}<style>@\\69mport "https://evil.example/x.css";</style></svg>', "an escape"),
    (f'{SVG_OPEN}<rect style="fill:u\\72l(https://evil.example/t.png)"/></svg>', "an escape"),
    (f"{SVG_OPEN}<rect style=\"background-image:image-set('https://evil.example/a.png' 1x)\"/></svg>",
     "image-set in CSS"),
    (f'{SVG_OPEN}<g xml:base="javascript:alert(1)//"><a href="#x"/></g></svg>', "xml:base on <g>"),
    (f'{SVG_OPEN}<g xml:base="https://evil.example/"/></svg>', "xml:base on <g>"),
    (f'{SVG_OPEN}<a href="java&#9;script:alert(1)"><text>x</text></a></svg>', "script URL in href="),
    (f'{SVG_OPEN}<set attributeName=" href " to="#x"/></svg>', "<set> that changes href"),
    ('<svg xmlns="http://www.w3.org/2000/svg"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
     '22-rdf-syntax-ns#" onclick="alert(1)"/></svg>', "event handler onclick= on <RDF>"),
    ("<html><script>alert(1)</script></html>", "not an SVG image"),
    ("<svg><unclosed></svg>", "not a well-formed SVG image"),
])
def test_svg_that_could_run_script_or_fetch_is_refused(site, capsys, monkeypatch, svg, reason):
    monkeypatch.chdir(site.root)
    site.write("media/evil.svg", svg)
    site.write_news("x", FRONT + "image: {src: media/evil.svg, alt: x}\n")
    refused(site, capsys, "content/news/x.md:5: image.src: content/media/evil.svg", reason)


def test_a_clean_svg_is_published_as_checked(site):
    svg = ('<?xml version="1.0" encoding="UTF-8"?>\n'
           '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n'
           f'{SVG_OPEN}<defs><linearGradient id="g"/><style>.a {{ fill: url(#g) }}</style></defs>'
           '<rect class="a" fill="url(#g)" width="10" height="10"/><use xlink:href="#g"/>'
           '<image href="data:image/png;base64,iVBORw0KGgo="/>'
           '<metadata><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"/></metadata>'
           '<!-- a comment --></svg>\n')
    site.write("media/ok.svg", svg)
    site.write_news("x", FRONT + "image: {src: media/ok.svg, alt: x}\n")
    assert run(site, "build", "--now", NOW) == 0
    [published] = (site.output / "media").glob("*-ok.svg")
    text = published.read_text()
    # written out from the tree that was checked: UTF-8, no DOCTYPE, the rest as it was
    assert text.startswith("<?xml version='1.0' encoding='UTF-8'?>\n<svg ") and "DOCTYPE" not in text
    for kept in ('<use xlink:href="#g"/>', "<!-- a comment -->", 'fill="url(#g)"', "<rdf:RDF"):
        assert kept in text


@pytest.mark.parametrize("svg", [
    b'<!DOCTYPE svg [<!ATTLIST svg onload CDATA "alert(1)">]><svg xmlns="http://www.w3.org/2000/svg"/>',
    b'<!DOCTYPE svg SYSTEM "x>" [<!ATTLIST svg onload CDATA "alert(1)">]>'
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>',
    b"\xff\xfe" + '<!DOCTYPE svg [<!ATTLIST svg onload CDATA "alert(1)">]>'
    '<svg xmlns="http://www.w3.org/2000/svg"/>'.encode("utf-16-le"),
], ids=["attlist", "attlist-after-system-literal", "attlist-utf16"])
def test_a_dtd_that_would_add_attributes_is_not_published(site, svg):
    # lxml does not apply a DTD's attribute defaults, some browsers do: the published SVG is
    # the checked tree without its DOCTYPE, so no browser sees an onload either
    site.write_bytes("media/a.svg", svg)
    site.write_news("x", FRONT + "image: {src: media/a.svg, alt: x}\n")
    assert run(site, "build", "--now", NOW) == 0
    [published] = (site.output / "media").glob("*-a.svg")
    assert b"onload" not in published.read_bytes() and b"DOCTYPE" not in published.read_bytes()
    assert published.read_bytes().startswith(b"<?xml version='1.0' encoding='UTF-8'?>")


@pytest.mark.parametrize(("svg", "reason"), [
    # a DOCTYPE, then a megabyte of "<!DOCTYPE " in a comment: once took minutes (a regex)
    (b'<!DOCTYPE svg><svg xmlns="http://www.w3.org/2000/svg"><!-- ' + b"<!DOCTYPE " * 100_000
     + b"--></svg>", None),
    (b'<svg xmlns="http://www.w3.org/2000/svg">' + b"<g/>" * 2_400_000 + b"</svg>",
     "an SVG of more than 200,000 elements is refused"),
], ids=["doctypes-in-a-comment", "ten-megabytes-of-elements"])
def test_costly_svgs_are_checked_or_refused_quickly(site, svg, reason):
    site.write_bytes("media/slow.svg", svg)
    site.write_news("x", FRONT + "image: {src: media/slow.svg, alt: x}\n")
    if reason is None:
        code, err, took, peak = run_child(site, "check")
        assert code == 0 and took < 5 and peak < 400, (err, took, peak)
    else:
        assert_refused_quickly(site, f"content/news/x.md:5: image.src: content/media/slow.svg: {reason}")


def test_html_named_as_html_is_not_a_medium(site, capsys, monkeypatch):
    monkeypatch.chdir(site.root)
    site.write("media/page.html", "<script>alert(1)</script>")
    site.write_news("x", FRONT + "image: {src: media/page.html, alt: x}\n")
    refused(site, capsys, "content/news/x.md:5: image.src: content/media/page.html is not an image file: "
                          "use PNG, JPEG, GIF, WebP, AVIF or SVG")


def test_html_named_as_png_is_refused_by_its_bytes(site, capsys, monkeypatch):
    monkeypatch.chdir(site.root)
    site.write("media/page.png", "<html><script>alert(1)</script></html>")
    site.write_news("x", FRONT + "image: {src: media/page.png, alt: x}\n")
    refused(site, capsys, "content/news/x.md:5: image.src: content/media/page.png is not a PNG image")


def test_an_image_whose_name_lies_about_its_type_is_refused_with_a_hint(site, capsys, monkeypatch):
    monkeypatch.chdir(site.root)
    site.write_bytes("media/photo.png", b"\xff\xd8\xff\xe0" + b"\0" * 100)
    site.write_profile("lab", "name: Lab\nkind: company\nlogo: {src: media/photo.png, alt: Logo}\n")
    refused(site, capsys, "content/profiles/lab.md:4: logo.src: content/media/photo.png is a JPEG image "
                          "but its name ends in .png: rename it to .jpg")


@pytest.mark.parametrize(("name", "data", "media_type"), [
    ("a.png", png(), "image/png"),
    ("b.JPG", b"\xff\xd8\xff\xe0\0\x10JFIF\0" + b"\0" * 64, "image/jpeg"),
    ("c.gif", b"GIF89a\x01\0\x01\0\0\0\0;", "image/gif"),
    ("d.webp", b"RIFF\x1a\0\0\0WEBPVP8L" + b"\0" * 16, "image/webp"),
    ("e.avif", b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf" + b"\0" * 16, "image/avif"),
])
def test_each_supported_raster_type_is_published_with_its_media_type(site, name, data, media_type):
    site.write_bytes(f"media/{name}", data)
    site.write_news("x", FRONT + f"image: {{src: media/{name}, alt: x}}\n")
    assert run(site, "build", "--now", NOW) == 0
    [published] = (site.output / "media").glob(f"*-{Path(name).stem}*")
    assert published.read_bytes() == data
    assert f'type="{media_type}"' in (site.output / "feeds" / "all.rss").read_text()


# -- 3. drafts and embargoed items are not media ------------------------------------------


@pytest.mark.parametrize("hidden", ["date: 2027-01-01T09:00", "status: draft"])
def test_a_hidden_items_markdown_cannot_be_published_as_an_image(site, capsys, monkeypatch, hidden):
    monkeypatch.chdir(site.root)
    site.write("news/2026/12/secret.md", f"---\ntitle: Secret\n{hidden}\n"
               "topics: [neurological]\n---\nThe merger is announced on 1 January.\n")
    if "date" not in hidden:
        site.write("news/2026/12/secret.md", f"---\n{FRONT}{hidden}\n---\nThe merger is announced.\n")
    site.write_news("x", FRONT + "image: {src: news/2026/12/secret.md, alt: x}\n")
    refused(site, capsys, "content/news/x.md:5: image.src: content/news/2026/12/secret.md is under "
                          "content/news/")


def test_nothing_under_profiles_is_a_medium_even_an_image(site, capsys, monkeypatch):
    monkeypatch.chdir(site.root)
    site.write_bytes("profiles/logo.png", png())
    site.write_news("x", FRONT + "image: {src: profiles/logo.png, alt: x}\n")
    refused(site, capsys, "is under content/profiles/")


# -- 4. YAML alias bombs ----------------------------------------------------------------------


def _alias_bomb(field: str) -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    return "\n".join(lines) + f"\n{field}: *a9\n"


@pytest.mark.parametrize("field", ["status", "date", "visibility"])
def test_an_alias_bomb_in_news_front_matter_is_refused_quickly(site, field):
    site.write_news("bomb", "title: Bomb\ntopics: [neurological]\n" + _alias_bomb(field)
                    + ("date: 2026-11-01\n" if field != "date" else ""))
    assert_refused_quickly(site, "content/news/bomb.md:5: yaml: alias *a0: aliases are not allowed")


def test_an_alias_bomb_in_a_profile_kind_is_refused_quickly(site):
    site.write_profile("bomb", "name: Bomb\n" + _alias_bomb("kind"))
    assert_refused_quickly(site, "content/profiles/bomb.md:4: yaml: alias *a0")


def test_deeply_nested_front_matter_is_refused_not_a_crash(site, capsys, monkeypatch):
    monkeypatch.chdir(site.root)
    site.write_news("deep", FRONT + "authors: " + "[" * 100_000 + "]" * 100_000 + "\n")
    err = refused(site, capsys, "content/news/deep.md:5: yaml: ")
    # ours, or (PyYAML 6.0.4 and later) libyaml's own bound, met first while scanning
    assert "nested more than 20 levels deep" in err or "exceeded maximum nesting depth" in err


def test_a_long_value_is_quoted_as_a_short_excerpt(site, capsys, monkeypatch):
    monkeypatch.chdir(site.root)
    site.write_news("long", FRONT + "status: " + "x" * 200_000 + "\n")
    err = refused(site, capsys, "content/news/long.md:5: status: 'xxxxxxxx")
    assert len(err) < 1000


# -- 5. nesting that would make sanitizing quadratic ----------------------------------------


@pytest.mark.parametrize(("body", "reason"), [
    ("> " * 75_000 + "deep\n", "holds 75,000 HTML elements; at most 10,000"),   # 150 KB of blockquotes
    ("<div>" * 50_000 + "deep" + "</div>" * 50_000 + "\n", "holds 50,000 HTML elements"),
    ("> " * 5_000 + "deep\n", "nested more than 100 levels deep"),
    ("".join("  " * i + "- item\n" for i in range(150)), "nested more than 100 levels deep"),
    # end tags the HTML parser ignores must not count as closing anything
    ("<div></x>" * 110_000, "holds 110,000 HTML elements"),
    ("<div></x>" * 5_000, "nested more than 100 levels deep"),
    ("<div><!-- </div> -->" * 5_000, "nested more than 100 levels deep"),
    ('<div title="</div>">' * 5_000, "nested more than 100 levels deep"),
    ("<div><textarea></div></textarea>" * 3_000, "nested more than 100 levels deep"),
    ('<div a=b"c>' * 200 + 'x"', "nested more than 100 levels deep"),
], ids=["blockquotes", "divs", "blockquotes-5000", "lists", "stray-end-tags", "stray-5000",
        "end-tags-in-comments", "end-tags-in-attributes", "end-tags-in-textarea", "quote-in-unquoted-value"])
def test_deeply_nested_bodies_are_refused_quickly(site, body, reason):
    site.write_news("deep", FRONT, body)
    assert_refused_quickly(site, f"content/news/deep.md:6: body: {reason}")


def test_nesting_below_the_limit_and_many_flat_tags_are_fine(site):
    site.write_news("fine", FRONT, "> " * 50 + "quoted\n\n" + "<p>para</p>\n" * 5000
                    + "<ul>" + "<li>unclosed" * 500 + "</ul>\n")
    assert run(site, "build", "--now", NOW) == 0


def test_a_deep_profile_description_is_one_problem_on_its_line(site, capsys, monkeypatch):
    monkeypatch.chdir(site.root)
    site.write_profile("deep", "name: Deep\nkind: company\n", "> " * 500 + "x\n")
    err = refused(site, capsys, "content/profiles/deep.md:5: body: nested more than 100", command="check")
    assert err.count("nested more than") == 1


# -- 6. size limits ---------------------------------------------------------------------------


def test_an_oversized_content_file_is_refused_without_being_read(site):
    site.write_news("huge", FRONT, "All work and no play. " * 2_400_000)   # 50 MB
    assert_refused_quickly(site, "content/news/huge.md:1: file: 52.8 MB, above the limit of 1.0 MB "
                                 "(limits.content_file_bytes in newsroom.toml)", megabytes=200)


def test_the_limits_are_configurable(site, capsys, monkeypatch):
    monkeypatch.chdir(site.root)
    site.config_path.write_text(site.config_path.read_text()
                                + "\n[limits]\ncontent_file_bytes = 2000\nmedia_file_bytes = 1000\n")
    site.write_news("long", FRONT, "word " * 500)
    site.write_bytes("media/big.png", png(100, 100, noise=True))
    site.write_news("pic", FRONT.replace("A title", "Pic"), "Short.\n")
    site.write("news/pic.md", f"---\n{FRONT}image: {{src: media/big.png, alt: x}}\n---\nShort.\n")
    refused(site, capsys, "content/news/long.md:1: file: 2,", "above the limit of 2,000 bytes",
            "content/news/pic.md:5: image.src: content/media/big.png:", "above the limit of 1,000 bytes "
            "(limits.media_file_bytes in newsroom.toml)")


def test_a_fifo_as_an_image_never_blocks_the_build(site, capsys, monkeypatch):
    monkeypatch.chdir(site.root)
    (site.root / "content" / "media").mkdir()
    os.mkfifo(site.root / "content" / "media" / "pipe.png")
    site.write_news("x", FRONT + "image: {src: media/pipe.png, alt: x}\n")
    refused(site, capsys, "content/news/x.md:5: image.src: content/media/pipe.png: not a regular file")


# -- 7. names that file systems refuse, unreadable files -------------------------------------


def test_a_ten_thousand_character_slug_is_a_problem_in_check_and_build(site, capsys, monkeypatch):
    monkeypatch.chdir(site.root)
    site.write_news("x", FRONT + "slug: " + "a" * 10_000 + "\n")
    for command in ("check", "build"):
        err = refused(site, capsys, "content/news/x.md:5: slug: 'aaaa", "is 10000 characters long; "
                                    "at most 100", command=command)
        assert len(err) < 1000
    assert run(site, "build", "--keep-going", "--now", NOW) == 0   # skipped, no traceback


def test_a_profile_with_a_252_character_file_name_is_a_problem(site, capsys, monkeypatch):
    monkeypatch.chdir(site.root)
    name = "p" * 252
    site.write_profile(name, "name: P\nkind: company\n")
    refused(site, capsys, f"content/profiles/{name}.md:1: slug (from the file name):",
            "is 252 characters long", command="check")


def test_a_long_image_file_name_is_shortened_in_media(site):
    name = "kuva-" + "a" * 240 + ".png"
    site.write_bytes(f"media/{name}", png())
    site.write_news("x", FRONT + f"image: {{src: media/{name}, alt: x}}\n")
    assert run(site, "build", "--now", NOW) == 0
    [published] = (site.output / "media").iterdir()
    assert len(published.name) <= 100 and published.name.endswith(".png")


def _as_nobody(work) -> tuple[int, str]:
    """Run ``work()`` (returning an exit code) in a forked child with the rights of
    ``nobody``, so file permissions hold even when the tests run as root."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:   # pragma: no cover - the child
        code = 3
        try:
            os.close(read_fd)
            os.setgid(65534)
            os.setuid(65534)
            err_w = os.fdopen(write_fd, "w")
            sys.stderr = err_w
            code = work()
            err_w.flush()
        finally:
            os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd) as fh:
        err = fh.read()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), err


@pytest.fixture
def open_site():
    """A site in a folder that ``nobody`` may enter (pytest's own temporary folders are
    private to their owner)."""
    root = Path(tempfile.mkdtemp(prefix="newsroom-hostile-"))
    os.chmod(root, 0o755)
    site = Site(root)
    yield site
    shutil.rmtree(root, ignore_errors=True)


def _give_to_nobody(root: Path) -> None:
    if os.geteuid() == 0:
        for path in [root, *root.rglob("*")]:
            os.lchown(path, 65534, 65534)


def test_an_unreadable_file_and_folder_are_problems_not_tracebacks(open_site, capsys, monkeypatch):
    site = open_site
    monkeypatch.chdir(site.root)
    site.write_news("good", FRONT.replace("A title", "Good"))
    secret = site.write_news("secret", FRONT)
    site.write("news/2026/locked.md", f"---\n{FRONT}---\nx\n")
    _give_to_nobody(site.root)
    secret.chmod(0)
    (site.root / "content" / "news" / "2026").chmod(0)

    def check() -> int:
        return main(["check", "--config", str(site.config_path)])

    if os.geteuid() == 0:   # root reads anything: drop to nobody for the real permission check
        code, err = _as_nobody(check)
    else:
        code, err = check(), capsys.readouterr().err
    assert code == 1, err
    assert "content/news/secret.md:1: file: cannot read: Permission denied" in err
    assert "content/news/2026:1: folder: cannot be read: Permission denied" in err
    assert "Traceback" not in err


# -- 8. small ones ------------------------------------------------------------------------------


def test_a_file_name_ending_in_a_newline_is_not_a_valid_slug(site, capsys, monkeypatch):
    monkeypatch.chdir(site.root)
    (site.root / "content" / "news" / "x\n.md").write_text(f"---\n{FRONT}---\nx\n")
    refused(site, capsys, "slug (from the file name): 'x\\n' is not a valid slug", command="check")


@pytest.mark.parametrize("date", ["1900-01-01", "1921-05-01T10:00", "1969-12-31T23:59:59+00:00"])
def test_dates_before_1970_are_refused(site, capsys, monkeypatch, date):
    monkeypatch.chdir(site.root)
    site.write_news("old", f"title: Old\ndate: {date}\ntopics: [neurological]\n")
    refused(site, capsys, f"content/news/old.md:3: date: '{date}' is before 1970", command="check")


def test_href_text_inside_code_is_not_rewritten_in_feeds(site):
    site.write_news("code", FRONT, 'Write `<a href="page.html">` in HTML, or [jump](#details).\n')
    assert run(site, "build", "--now", NOW) == 0
    rss = (site.output / "feeds" / "all.json").read_text()
    assert 'href=\\"page.html\\"' in rss.replace("&quot;", '\\"') or "href=&quot;page.html&quot;" in rss
    assert "news.example.org/page.html" not in rss
    assert "https://news.example.org/news/code/#details" in rss


@pytest.mark.parametrize("kind", ["system folder", "file", "foreign folder"])
def test_a_refused_output_leaves_nothing_behind(site, capsys, tmp_path_factory, kind):
    site.write_news("good", FRONT)
    scratch = tmp_path_factory.mktemp("scratch")
    target = {"system folder": Path("/usr"), "file": scratch / "a-file",
              "foreign folder": scratch / "photos"}[kind]
    if kind == "file":
        target.write_text("not a folder")
    elif kind == "foreign folder":
        target.mkdir()
        (target / "holiday.jpg").write_bytes(b"x")
    before = sorted(p.name for p in target.parent.iterdir())
    state = site.root / "state"
    state_before = sorted(p.name for p in state.iterdir()) if state.exists() else []
    assert run(site, "build", "--output", str(target), "--now", NOW) == 2
    err = capsys.readouterr().err
    assert "newsroom: error:" in err and "Traceback" not in err
    assert sorted(p.name for p in target.parent.iterdir()) == before
    state_after = sorted(p.name for p in state.iterdir())
    assert not [name for name in state_after if name not in state_before and "published" in name]


# -- the property: whatever the mix of hostile pieces, nothing leaks ----------------------------

OUTSIDE_MARK = "OUTSIDE-7f3a9"
HIDDEN_MARK = "HIDDEN-91c2e"


def _png_with_text(text: str) -> bytes:
    """A real PNG that carries ``text`` in a tEXt chunk (so its bytes are recognisable)."""
    import struct
    import zlib

    data = png(seed=len(text))
    chunk = b"Comment\0" + text.encode()
    crc = struct.pack(">I", zlib.crc32(b"tEXt" + chunk))
    text_chunk = struct.pack(">I", len(chunk)) + b"tEXt" + chunk + crc
    return data[:33] + text_chunk + data[33:]   # after the signature and IHDR


BODIES = [
    "A plain paragraph.",
    '<script>alert("x")</script>',
    "<img src=x onerror=alert(1)>",
    "[click](javascript:alert(1))",
    "<svg onload=alert(1)><circle/></svg>",
    '<a href="data:text/html,<script>alert(1)</script>">x</a>',
    'Write `<a href="page.html">` in HTML.',
    '<iframe src="https://evil.example/"></iframe>',
    "<scr<script>ipt>alert(1)</script>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "![inline](media/link.png)",
    "> " * 150 + "deep",
    "<div>" * 150 + "deep",
]
TITLES = ["Plain title", "<script>alert(1)</script>", "A & B < C", '"><img src=x onerror=alert(1)>']
SOURCES = ["media/ok.png", "media/link.png", "media/outside-dir/secret.png", "news/draft-0.md",
           "news/embargoed-0.md", "media/evil.svg", "media/page.html", "media/ok.svg",
           "https://images.example/remote.png"]


def _plant(root: Path, outside: Path, pieces: list[tuple[str, int, int, int]]) -> None:
    content = root / "content"
    media = content / "media"
    media.mkdir(parents=True, exist_ok=True)
    (media / "ok.png").write_bytes(png())
    (media / "ok.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"><circle r="1"/></svg>')
    (media / "evil.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>')
    (media / "page.html").write_text("<script>alert(1)</script>")
    for n, (kind, title, body, source) in enumerate(pieces):
        front = f"title: '{TITLES[title]}'\ndate: 2026-11-{1 + n % 20:02}\ntopics: [neurological]\n"
        image = f"image: {{src: '{SOURCES[source]}', alt: A picture}}\n"
        text = f"{BODIES[body]}\n"
        if kind == "public":
            (content / "news" / f"public-{n}.md").write_text(f"---\n{front}{image}---\n{text}")
        elif kind in ("draft", "embargoed"):
            (media / f"hidden-{n}.png").write_bytes(_png_with_text(HIDDEN_MARK))
            hidden = "status: draft\n" if kind == "draft" else ""
            when = "date: 2027-06-01\n" if kind == "embargoed" else "date: 2026-11-02\n"
            (content / "news" / f"{kind}-{n % 2}.md").write_text(
                f"---\ntitle: {HIDDEN_MARK} title\n{when}{hidden}topics: [neurological]\n"
                f"summary: {HIDDEN_MARK} summary\nimage: {{src: media/hidden-{n}.png, alt: {HIDDEN_MARK}}}\n"
                f"---\n{HIDDEN_MARK} body\n")
        elif kind == "symlinked-news":
            link = content / "news" / f"link-{n}.md"
            link.symlink_to(outside / "stolen.md")
        elif kind == "symlinked-media":
            link = media / "link.png"
            if not link.is_symlink():
                link.symlink_to(outside / "secret.png")
        elif kind == "symlinked-folder":
            link = media / "outside-dir"
            if not link.is_symlink():
                link.symlink_to(outside)
        elif kind == "profile":
            logo = f"logo: {{src: '{SOURCES[source]}', alt: Logo}}\n"
            profile = f"---\nname: Org {n}\nkind: company\n{logo}---\n{text}"
            (content / "profiles" / f"org-{n}.md").write_text(profile)


def _live_script(html: str) -> list[str]:
    """Script that a browser would run from this HTML: script elements, event handlers,
    javascript: URLs."""
    from lxml import html as lxml_html

    if not html.strip():
        return []
    found = []
    for element in lxml_html.fragment_fromstring(html, create_parent="div").iter():
        if not isinstance(element.tag, str):
            continue
        if element.tag.lower() == "script":
            found.append("<script>")
        for name, value in element.attrib.items():
            if name.lower().startswith("on"):
                found.append(f"{name}=")
            if name.lower() in ("href", "src", "action") and value.strip().lower().startswith(
                    ("javascript:", "data:text", "vbscript:")):
                found.append(f"{name}={value[:30]}")
    return found


def _json_html(value, found: list[str]) -> None:
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "content_html" and isinstance(inner, str):
                found += _live_script(inner)
            else:
                _json_html(inner, found)
    elif isinstance(value, list):
        for inner in value:
            _json_html(inner, found)


PIECE = st.tuples(
    st.sampled_from(["public", "public", "draft", "embargoed", "symlinked-news", "symlinked-media",
                     "symlinked-folder", "profile"]),
    st.integers(0, len(TITLES) - 1), st.integers(0, len(BODIES) - 1), st.integers(0, len(SOURCES) - 1))


@settings(max_examples=30, deadline=None)
@given(pieces=st.lists(PIECE, min_size=1, max_size=8))
def test_no_hostile_mix_publishes_outside_bytes_hidden_items_or_script(pieces):
    import json

    from pipeline.build import build_site
    from pipeline.config import load_config

    with tempfile.TemporaryDirectory() as scratch:
        root, outside = Path(scratch) / "site", Path(scratch) / "outside"
        root.mkdir()
        outside.mkdir()
        (outside / "secret.png").write_bytes(_png_with_text(OUTSIDE_MARK))
        (outside / "stolen.md").write_text(f"---\n{FRONT}---\n{OUTSIDE_MARK}\n")
        site = Site(root)
        _plant(root, outside, pieces)
        report = build_site(load_config(site.config_path), datetime(2026, 11, 28, 12, tzinfo=UTC),
                            keep_going=True)
        assert report.catalog is not None
        for path in site.output.rglob("*"):
            if not path.is_file():
                continue
            data = path.read_bytes()
            assert OUTSIDE_MARK.encode() not in data, path
            assert HIDDEN_MARK.encode() not in data, path
            name = path.name
            if name.endswith((".rss", ".atom", ".xml", ".opml", ".svg")):
                assert b"<script" not in data.lower(), path
            elif name.endswith(".html"):
                assert _live_script(data.decode()) == [], path
            elif name.endswith(".json"):
                found: list[str] = []
                _json_html(json.loads(data), found)
                assert found == [], (path, found)


# -- found by review: the embargo at the autumn DST change ------------------------------------


def test_an_embargo_in_the_repeated_dst_hour_is_not_lifted_early(site):
    # 03:30+02:00 on 25 October 2026 is 01:30 UTC; 03:45+03:00 that night is 00:45 UTC,
    # 45 minutes earlier, though it reads later on the wall clock
    site.write_news("dst", "title: DST embargo\ndate: 2026-10-25T03:30:00+02:00\ntopics: [medtech]\n",
                    "SECRET-EMBARGO-BODY\n")
    site.write_news("older", "title: Older\ndate: 2026-10-24\ntopics: [medtech]\n")
    assert run(site, "build", "--now", "2026-10-25T03:45+03:00") == 0
    assert leaked(site, "SECRET-EMBARGO-BODY") == [] and leaked(site, "DST embargo") == []
    assert run(site, "build", "--now", "2026-10-25T01:30:00+00:00") == 0
    assert leaked(site, "SECRET-EMBARGO-BODY")


# -- found by review: odd files are problems, never tracebacks ------------------------------


def test_odd_entries_named_like_content_are_problems(site, capsys, monkeypatch):
    monkeypatch.chdir(site.root)
    news = site.root / "content" / "news"
    (news / "loop.md").symlink_to("loop.md")
    (news / "dangling.md").symlink_to("nowhere.md")
    os.mkfifo(news / "pipe.md")
    (news / ".#editing.md").symlink_to("user@host.1234")        # an editor's lock file: ignored
    (news / ".hidden.md").write_text("not even front matter")     # dot-files are ignored
    os.mkdir(os.fsencode(news) + b"/bad\xff.md")                   # a folder: its files are news
    with open(os.fsencode(news) + b"/bad\xff.md/x.md", "w") as fh:
        fh.write(f"---\n{FRONT}---\nx\n")
    err = refused(site, capsys, "content/news/loop.md:1: file: cannot be read: Too many levels of "
                                "symbolic links",
                  "content/news/dangling.md:1: file: cannot be read: No such file or directory",
                  "content/news/pipe.md:1: file: not a regular file",
                  "content/news/bad\\xff.md/x.md:1: file: the file name is not valid UTF-8", command="check")
    assert "editing" not in err and "hidden" not in err


def test_a_thousand_nested_folders_are_read(site):
    deep = site.root / "content" / "news"
    for _ in range(1_100):   # os.makedirs (and shutil.rmtree) would recurse as deep
        deep = deep / "a"
        deep.mkdir()
    (deep / "deep.md").write_text(f"---\n{FRONT}---\nFound.\n")
    try:
        assert run(site, "check") == 0
    finally:
        (deep / "deep.md").unlink()
        while deep.name == "a":
            deep.rmdir()
            deep = deep.parent


@pytest.mark.parametrize(("src", "message"), [
    ("media/dir.png", "content/media/dir.png: not a regular file"),
    ("media/" + "a" * 300 + ".png", "cannot be used: File name too long"),
])
def test_odd_media_paths_are_problems(site, capsys, monkeypatch, src, message):
    monkeypatch.chdir(site.root)
    (site.root / "content" / "media" / "dir.png").mkdir(parents=True)
    site.write_news("x", FRONT + f"image: {{src: '{src}', alt: x}}\n")
    refused(site, capsys, "content/news/x.md:5: image.src:", message)


def test_content_cannot_forge_or_hide_problem_lines(site, capsys, monkeypatch):
    monkeypatch.chdir(site.root)
    news = site.root / "content" / "news"
    (news / "evil\x1b[2J\x1b[31mRED.md").write_text("no front matter")
    (news / "a\nFORGED.md:7: title: injected line.md").write_text("no front matter")
    site.write_news("keys", FRONT + '"x\\nnews/fake.md:9: summary: FORGED by key\\u202e": 1\n'
                    'organizations: ["uef\\nnews/fake2.md:3: slug: FORGED\\u009b31m"]\n')
    err = refused(site, capsys, command="check")
    lines = err.splitlines()
    assert not [line for line in lines if line.startswith(("FORGED", "news/fake"))], err
    assert not any(ch in err for ch in "\x1b\x9b\u202e"), err
    assert all(line.startswith(("content/news/", "newsroom:")) for line in lines), err
    assert "evil\\x1b[2J" in err
