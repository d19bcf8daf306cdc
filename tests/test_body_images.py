"""Images in Markdown bodies: checked and copied to media/ like front-matter images,
linked relatively on pages and absolutely in feeds and partner files."""

from __future__ import annotations

import json

from pipeline.cli import main

from .conftest import png

NOW = "2026-11-28T12:00"
FRONT = "title: Scans\ndate: 2026-11-20T10:00\ntopics: [neurological]\n"


def build(site, *extra: str) -> int:
    return main(["build", "--now", NOW, "--config", str(site.config_path), *extra])


def test_a_body_image_is_copied_and_linked_relatively_on_pages_absolutely_in_feeds(site):
    site.write_bytes("media/scan.png", png(seed=9))
    site.write("news/2026/scans.md", f"---\n{FRONT}---\nBefore.\n\n![An MRI scan](media/scan.png)\n\n"
               "Also from the file's folder: ![The same scan](../../media/scan.png)\n")
    assert build(site) == 0
    [published] = (site.output / "media").glob("*-scan.png")
    assert published.read_bytes() == png(seed=9)
    name = published.name
    page = (site.output / "news" / "scans" / "index.html").read_text()
    assert page.count(f'src="../../media/{name}"') == 2 and "media/scan.png" not in page
    absolute = f"https://news.example.org/media/{name}"
    feed = json.loads((site.output / "feeds" / "all.json").read_text())
    assert feed["items"][0]["content_html"].count(f'src="{absolute}"') == 2
    atom = (site.output / "feeds" / "all.atom").read_text()
    assert f'src="{absolute}"' in atom


def test_a_partner_file_gets_absolute_body_image_urls(site):
    site.config_path.write_text(site.config_path.read_text() + '\n[[partners]]\nid = "city"\n')
    site.write_bytes("media/scan.png", png())
    site.write_news("scans", FRONT, "![An MRI scan](media/scan.png)\n")
    assert build(site) == 0
    partner = json.loads((site.output / "syndication" / "partners" / "city.json").read_text())
    assert 'src="https://news.example.org/media/' in partner["items"][0]["content_html"]


def test_a_missing_body_image_is_a_problem_on_its_line(site, capsys, monkeypatch):
    monkeypatch.chdir(site.root)
    site.write_news("scans", FRONT, "Intro.\n\nText ![A scan](media/scan.png) here.\n")
    assert build(site) == 1
    assert "content/news/scans.md:8: body: image not found 'media/scan.png'" in capsys.readouterr().err
    assert not site.output.exists()


def test_a_body_image_without_alt_text_is_a_problem(site, capsys, monkeypatch):
    monkeypatch.chdir(site.root)
    site.write_bytes("media/scan.png", png())
    site.write_news("scans", FRONT, "Text.\n\n![](media/scan.png)\n")
    assert build(site) == 1
    assert ("content/news/scans.md:8: body: image 'media/scan.png' has no alt text"
            in capsys.readouterr().err)


def test_body_images_obey_the_media_rules(site, capsys, monkeypatch, tmp_path_factory):
    monkeypatch.chdir(site.root)
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.png").write_bytes(png(seed=1))
    (site.root / "content" / "media").mkdir()
    (site.root / "content" / "media" / "link.png").symlink_to(outside / "secret.png")
    site.write_news("draft", "title: D\ndate: 2026-11-01\ntopics: [medtech]\nstatus: draft\n")
    site.write("media/evil.svg", '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>')
    site.write_news("scans", FRONT, "![a](media/link.png)\n![b](news/draft.md)\n![c](media/evil.svg)\n"
                    "![d](../../../etc/passwd.png)\n")
    assert build(site) == 1
    err = capsys.readouterr().err
    assert "content/news/scans.md:6: body: content/media/link.png leads outside the content folder" in err
    assert "content/news/scans.md:7: body: content/news/draft.md is under content/news/" in err
    assert "content/news/scans.md:8: body: content/media/evil.svg (line 1): an event handler" in err
    assert "content/news/scans.md:9: body: image '../../../etc/passwd.png' leads outside" in err


def test_a_changed_body_image_renders_the_page_again(site):
    site.write_bytes("media/scan.png", png(seed=1))
    site.write_news("scans", FRONT, "![An MRI scan](media/scan.png)\n")
    assert build(site) == 0
    first = (site.output / "news" / "scans" / "index.html").read_text()
    site.write_bytes("media/scan.png", png(seed=2))
    assert build(site) == 0
    second = (site.output / "news" / "scans" / "index.html").read_text()
    assert first != second
    assert len(list((site.output / "media").iterdir())) == 1


def test_a_body_image_in_a_profile_description(site):
    site.write_bytes("media/campus.png", png())
    site.write_profile("lab", "name: Lab\nkind: company\n", "Our campus: ![The campus](media/campus.png)\n")
    assert build(site) == 0
    [published] = (site.output / "media").glob("*-campus.png")
    page = (site.output / "organizations" / "lab" / "index.html").read_text()
    assert f'src="../../media/{published.name}"' in page
