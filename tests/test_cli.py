"""The command line: exit codes, messages, --keep-going, --now and determinism."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pipeline.cli import main

from .conftest import ROOT, tree


def _good(site) -> None:
    site.write_news("good", "title: Good news\ndate: 2026-11-01\ntopics: [neurological]\n")


def _bad(site) -> None:
    site.write_news("bad", "title: Bad news\ndate: 2026-02-30\ntopics: [nope]\n")


def run(site, *args: str):
    return main([*args, "--config", str(site.config_path)])


def test_build_publishes_and_summarises(site, capsys):
    _good(site)
    assert run(site, "build", "--now", "2026-11-28T12:00") == 0
    out = capsys.readouterr().out
    assert "built 1 public items" in out and "files written" in out
    assert (site.output / "news" / "good" / "index.html").exists()


def test_bad_content_prints_every_problem_publishes_nothing_and_exits_1(site, capsys, monkeypatch):
    monkeypatch.chdir(site.root)
    _good(site)
    _bad(site)
    assert run(site, "build") == 1
    err = capsys.readouterr().err
    assert "content/news/bad.md:3: date: impossible date '2026-02-30'" in err
    assert "content/news/bad.md:4: topics: unknown topic 'nope'" in err
    assert "nothing was published" in err
    assert "Traceback" not in err
    assert not site.output.exists()


def test_bad_content_leaves_earlier_output_untouched(site):
    _good(site)
    assert run(site, "build", "--now", "2026-11-28T12:00") == 0
    before = tree(site.output)
    _bad(site)
    assert run(site, "build", "--now", "2026-11-28T12:00") == 1
    assert tree(site.output) == before


def test_keep_going_publishes_the_good_files_and_names_the_skipped(site, capsys, monkeypatch):
    monkeypatch.chdir(site.root)
    _good(site)
    _bad(site)
    assert run(site, "build", "--keep-going", "--now", "2026-11-28T12:00") == 0
    err = capsys.readouterr().err
    assert "skipped content/news/bad.md" in err
    assert (site.output / "news" / "good" / "index.html").exists()
    assert not (site.output / "news" / "bad").exists()


def test_check_reports_without_publishing(site, capsys):
    _good(site)
    assert run(site, "check") == 0
    assert "1 news items and 1 profiles are valid" in capsys.readouterr().out
    _bad(site)
    assert run(site, "check") == 1
    assert not site.output.exists()


@pytest.mark.parametrize("args, message", [
    (["build", "--now", "yesterday"], "--now: 'yesterday' is not an ISO 8601 date"),
    (["build", "--content", "/no/such/folder"], "content folder /no/such/folder does not exist"),
])
def test_usage_errors_exit_2(site, capsys, args, message):
    assert run(site, *args) == 2
    assert message in capsys.readouterr().err


def test_missing_or_invalid_config_exits_2(tmp_path, capsys):
    assert main(["build", "--config", str(tmp_path / "none.toml")]) == 2
    assert "no such configuration file" in capsys.readouterr().err
    bad = tmp_path / "newsroom.toml"
    bad.write_text('[site]\ntitle = "x"\nbase_url = "https://x.org/"\nlanguages = ["en"]\ncolour = 1\n')
    assert main(["check", "--config", str(bad)]) == 2
    assert "site.colour: unknown key" in capsys.readouterr().err


def test_unknown_command_is_a_usage_error():
    with pytest.raises(SystemExit) as exc:
        main(["explode"])
    assert exc.value.code == 2


def test_now_fixes_the_clock_and_output_is_byte_identical(site, tmp_path):
    _good(site)
    site.write_news("later", "title: Later\ndate: 2026-12-24T10:00\ntopics: [medtech]\n")
    a, b = tmp_path / "a", tmp_path / "b"
    assert run(site, "build", "--now", "2026-11-28T12:00", "--output", str(a)) == 0
    os.utime(site.config_path)   # nothing but time passes between the two builds
    assert run(site, "build", "--now", "2026-11-28T12:00", "--output", str(b)) == 0
    assert tree(a) == tree(b)
    assert "news/later/index.html" not in tree(a)      # still embargoed at --now
    c = tmp_path / "c"
    assert run(site, "build", "--now", "2026-12-24T10:00", "--output", str(c)) == 0
    assert "news/later/index.html" in tree(c)           # the embargo has passed


def test_python_dash_m_pipeline_runs_the_cli():
    result = subprocess.run([sys.executable, "-m", "pipeline", "--help"], capture_output=True,
                            text=True, cwd=ROOT)
    assert result.returncode == 0
    assert "build" in result.stdout and "check" in result.stdout


def test_shipped_content_builds_cleanly(tmp_path):
    """The README's main job: the shipped Kuopio content builds with no problem."""
    out = tmp_path / "output"
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "build", "--output", str(out), "--now", "2026-11-28T12:00"],
        capture_output=True, text=True, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "" or "skipped" not in result.stderr
    assert (out / "index.html").exists() and (out / "fi" / "index.html").exists()


@pytest.mark.parametrize("target", ["content", ".", "state", "templates"])
def test_output_over_the_sites_own_files_is_refused(site, capsys, target):
    _good(site)
    (site.root / "templates").mkdir(exist_ok=True)   # a site's own templates folder
    assert run(site, "build", "--output", str(site.root / target)) == 2
    assert "would replace" in capsys.readouterr().err
    assert (site.root / "content" / "news" / "good.md").exists()


def test_keep_going_with_a_broken_profile_keeps_the_items_naming_it(site, capsys):
    site.write_news("uef-news", "title: UEF news\ndate: 2026-11-01\ntopics: [neurological]\n"
                    "organizations: [uef]\n")
    site.write_profile("uef", "name: UEF\nkind: spaceship\n")
    assert run(site, "build", "--keep-going", "--now", "2026-11-28T12:00") == 0
    assert "skipped" in capsys.readouterr().err
    assert (site.output / "news" / "uef-news" / "index.html").exists()
    assert not (site.output / "organizations" / "uef").exists()


def test_images_of_hidden_items_are_not_published(site):
    site.write("media/secret.svg", "<svg xmlns='http://www.w3.org/2000/svg'/>")
    site.write_news("later", "title: Later\ndate: 2026-12-24\ntopics: [medtech]\n"
                    "image: {src: media/secret.svg, alt: A secret}\n")
    assert run(site, "build", "--now", "2026-11-28T12:00") == 0
    assert not list((site.output).glob("media/*secret*"))
    assert run(site, "build", "--now", "2026-12-24T00:00") == 0
    assert list((site.output).glob("media/*secret*"))


def test_out_of_range_dates_are_messages_not_tracebacks(site, capsys):
    _good(site)
    assert run(site, "build", "--now", "9999-12-31T23:00-12:00") == 2
    assert "out of the range" in capsys.readouterr().err
