"""Newsroom against Pelican 4.12 on one synthetic corpus: ``python -m benchmarks``.

Method
------
For each corpus size N (default 1,000 and 10,000 items), :mod:`benchmarks.corpus` writes
one deterministic corpus twice, into ``<workdir>/<N>/newsroom`` (a Newsroom site: every
output, 12 organization profiles, 2 partners) and ``<workdir>/<N>/pelican`` (the same
stories as Pelican Markdown: RSS and Atom for all, per language, per category and per
tag, FEED_MAX_ITEMS 50, reader-level content caching on). Then, for each round, both
tools in turn (round 1 Newsroom first, round 2 Pelican first, and so on, so that neither
always runs on a warmer machine) go through three builds:

cold
    the output and every cache or state file deleted (Newsroom: ``output``,
    ``.output*``, ``state``; Pelican: ``output``, ``cache``), then a build;
edit
    a sentence appended, as a new paragraph, to one existing item (the same story and
    language in both trees; a different story each round), then a rebuild;
add
    one new item (a story beyond the corpus, in English) written, then a rebuild.

Newsroom also measures, between the edit and the add, an edit rebuilt *in a running
process* (:mod:`benchmarks.running`, the way ``newsroom run --watch`` rebuilds: one build
in the process, a second sentence appended, the time of the next build alone), and after
the round an edit of an organization's profile.

After the three builds the edited file gets its original bytes back and the new file
(and any folder made for it) is removed, so every round starts from the same corpus.
"Cold" means no tool state; the operating system's file cache is warm in every build.

Each build is a child process (``sys.executable -m pipeline build --now …`` or
``sys.executable -m pelican content …``) with the site folder as its working directory;
interpreter start-up and imports are part of every figure, for both tools. Its time is
the wall clock around the child (``time.perf_counter``). Its memory is ``ru_maxrss`` of
the rusage ``os.wait4`` returns when it reaps that child: the peak resident set size in
KiB. The kernel reports for a reaped child the *maximum* over that child and the
descendants it waited for, not their sum: a build that fans out to worker processes is
charged only its largest process. Both tools build in one process today.

After every build the harness checks that it produced output (Newsroom:
``output/feeds/all.atom`` and ``output/syndication/index.json``; Pelican:
``output/feeds/all.atom.xml``; both: the page of the first story), after the edit that
the edited item's page carries the new sentence, and after the add that the new item
has a page. A failed build or check stops the run with the child's stderr and exit 1.

Every sample is kept (``--json`` writes them all); the tables show medians, the ratio
Newsroom/Pelican, the speed-up Pelican/Newsroom, the growth of the cold build time
from the smallest to the largest size, and the issue's targets judged at the largest
size. The machine is shared and noisy: read the raw samples beside the medians.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from .corpus import ORGANIZATIONS, Story, stories, write_hugo_site, write_newsroom_site, write_pelican_site
from .report import SizeResult, growth, size_label, size_table, targets
from .tools import HUGO, NEWSROOM, NOW, PELICAN, TOOLS, BuildFailed, Sample, Tool, run_build

ADD_LANGUAGE = "en"
ADDED_AT = datetime(2026, 11, 28, 9, 0)    # the morning of the builds' --now
EDIT_LANGUAGES = ("en", "fi")       # alternating by round, so both page paths are checked


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.rounds < 1 or min(args.sizes) < 2:
        parser.error("--rounds must be at least 1 and every size at least 2")
    started = time.perf_counter()
    everyone = [NEWSROOM, PELICAN, *([HUGO] if shutil.which("hugo") else [])]   # Hugo: when installed
    tools = [TOOLS[args.only]] if args.only else everyone
    workdir, made_workdir = _workdir(args.workdir)
    machine = machine_info()
    print_machine(machine, workdir)
    results: list[SizeResult] = []
    try:
        preflight(workdir, tools)
        machine["start-up"] = start_up(workdir)
        print(f"  {'start-up:':<14}{machine['start-up']}\n", flush=True)
        for items in sorted(set(args.sizes)):
            result = benchmark_size(workdir / str(items), items, args.rounds, tools, args.timeout)
            results.append(result)
            print(size_table(result) + "\n", flush=True)
            if not args.keep:
                shutil.rmtree(workdir / str(items))
        print_summary(results)
        total = time.perf_counter() - started
        print(f"\ntotal benchmark wall time: {total:.0f} s ({total / 60:.1f} min)")
        if args.json:
            write_json(args.json, machine, vars(args), results, total)
        return 0
    except BuildFailed as failure:
        _print_failure(failure)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        if args.keep:
            print(f"the sites are kept in {workdir}")
        elif made_workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Build one synthetic corpus with Newsroom and with Pelican 4.12, alternating, "
                    "and compare build times and peak memory (method: benchmarks/README.md).")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000], metavar="N",
                        help="corpus sizes in items (default: 1000 10000)")
    parser.add_argument("--rounds", type=int, default=3, metavar="R", help="rounds per size (default: 3)")
    parser.add_argument("--workdir", type=Path, metavar="D",
                        help="where the sites are written; <workdir>/<N> is replaced "
                             "(default: a new folder in /dev/shm, else the temporary folder; "
                             "removed at the end)")
    parser.add_argument("--keep", action="store_true", help="keep the generated sites and outputs")
    parser.add_argument("--only", choices=sorted(TOOLS), help="build with one tool only (development)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write every raw sample to FILE")
    parser.add_argument("--timeout", type=float, default=300, metavar="S",
                        help="kill a build after S seconds and stop (default: 300)")
    return parser


def _memory_folder() -> str | None:
    """/dev/shm (tmpfs) where there is one: both tools write thousands of files, and on a
    shared virtual disk creating them can stall for seconds after a large deletion (each
    cold build starts with one), which would measure the disk, not the tools."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def _workdir(given: Path | None) -> tuple[Path, bool]:
    """The working folder, and whether this run created it (and so may remove it)."""
    if given is None:
        return Path(tempfile.mkdtemp(prefix="newsroom-bench-", dir=_memory_folder())), True
    made = not given.exists()
    given.mkdir(parents=True, exist_ok=True)
    return given.resolve(), made


# -- the measurements --------------------------------------------------------------------


def benchmark_size(root: Path, items: int, rounds: int, tools: list[Tool], timeout: float) -> SizeResult:
    """Write the corpus of ``items`` items once, then run every round."""
    corpus, spare = corpus_and_spare(items, rounds)
    print(f"== N = {items:,} items ({len(corpus):,} stories in English and Finnish, "
          f"{len(ORGANIZATIONS)} organization profiles), {rounds} round(s)", flush=True)
    sites = write_sites(root, corpus)
    result = SizeResult(items)
    for number in range(1, rounds + 1):
        edited = corpus[(2 * number - 1) * len(corpus) // (2 * rounds)]
        lang = EDIT_LANGUAGES[(number - 1) % len(EDIT_LANGUAGES)]
        added = spare[number - 1]
        order = tools if number % 2 else tools[::-1]
        result.rounds.append({"round": number, "order": [t.name for t in order],
                              "edited": f"{edited.slug}-{lang}", "added": f"{added.slug}-{ADD_LANGUAGE}"})
        for tool in order:
            samples = one_round(tool, sites[tool.name], number, corpus[0], edited, lang, added, timeout)
            for scenario, sample in samples.items():
                result.add(tool.name, scenario, sample)
            print(f"   round {number} {tool.name:<9}" + "  ".join(
                f"{scenario} {s.seconds:6.2f} s {s.maxrss_kib / 1024:5.0f} MiB"
                for scenario, s in samples.items()), flush=True)
    return result


def corpus_and_spare(items: int, rounds: int) -> tuple[list[Story], list[Story]]:
    """The corpus' stories and one more per round for the "add" builds. The generator draws
    story after story from one seeded stream, so the first ``items // 2`` stories of the
    longer list are exactly ``stories(items)``."""
    everything = stories(items + 2 * rounds)
    # an editor adds today's news: the new story is the newest, as it is in a newsroom
    today = [replace(story, date=ADDED_AT + timedelta(minutes=n))
             for n, story in enumerate(everything[items // 2:])]
    return everything[: items // 2], today


def write_sites(root: Path, corpus: list[Story]) -> dict[str, Path]:
    if root.exists():
        shutil.rmtree(root)
    start = time.perf_counter()
    sites = {NEWSROOM.name: root / "newsroom", PELICAN.name: root / "pelican", HUGO.name: root / "hugo"}
    write_newsroom_site(sites[NEWSROOM.name], corpus)
    write_pelican_site(sites[PELICAN.name], corpus)
    write_hugo_site(sites[HUGO.name], corpus)
    print(f"   corpus written to {root} in {time.perf_counter() - start:.1f} s", flush=True)
    return sites


def one_round(tool: Tool, site: Path, number: int, first: Story, edited: Story, lang: str, added: Story,
              timeout: float) -> dict[str, Sample]:
    """Cold build, edit and rebuild, add and rebuild; then put the corpus back as it was."""
    tool.reset(site)
    samples = {"cold": checked_build(tool, site, timeout, first)}
    edited_file, new_file = tool.source(site, edited, lang), tool.source(site, added, ADD_LANGUAGE)
    original = edited_file.read_bytes()
    new_folders = _missing_folders(new_file.parent, site)
    sentence = f"Benchmark round {number} appended this sentence to {edited.slug}."
    try:
        edited_file.write_text(tool.render(edited, lang, f"\n{sentence}\n"), encoding="utf-8")
        samples["edit"] = checked_build(tool, site, timeout, first)
        _expect(sentence in tool.page(site, edited, lang).read_text(encoding="utf-8"),
                f"{tool.name}: the page of {edited_file.name} lacks the appended sentence after the rebuild")
        if tool.running is not None:
            again = f"Benchmark round {number} appended a second sentence to {edited.slug}."
            samples["running"] = running_edit(tool, site, edited_file, again, timeout)
            _expect(again in tool.page(site, edited, lang).read_text(encoding="utf-8"),
                    f"{tool.name}: the page of {edited_file.name} lacks the second sentence")
        new_file.parent.mkdir(parents=True, exist_ok=True)
        new_file.write_text(tool.render(added, ADD_LANGUAGE, ""), encoding="utf-8")
        samples["add"] = checked_build(tool, site, timeout, added, ADD_LANGUAGE)
    finally:
        edited_file.write_bytes(original)
        new_file.unlink(missing_ok=True)
        for folder in new_folders:            # deepest first
            if folder.exists():
                folder.rmdir()
    if tool.profile is not None:
        samples["profile"] = profile_edit(tool, site, number, timeout, first)
    return samples


def running_edit(tool: Tool, site: Path, edited_file: Path, sentence: str, timeout: float) -> Sample:
    """A running process (as ``newsroom run``) builds, ``sentence`` is appended to the
    edited file, and it builds again: the time of that build alone."""
    command = (*tool.running, str(site), str(edited_file), sentence, NOW)  # type: ignore[misc]
    return run_build(tool, site, timeout, command, timed_by_child=True)


def profile_edit(tool: Tool, site: Path, number: int, timeout: float, first: Story) -> Sample:
    """A sentence appended to one organization's profile (a different one each round),
    then a build; the profile is put back as it was."""
    slug = sorted(ORGANIZATIONS)[(number - 1) % len(ORGANIZATIONS)]
    source, page = tool.profile(site, slug)  # type: ignore[misc]  # checked by the caller
    original = source.read_bytes()
    sentence = f"Benchmark round {number} appended this sentence to the profile of {slug}."
    try:
        source.write_bytes(original + f"\n{sentence}\n".encode())
        sample = checked_build(tool, site, timeout, first)
        _expect(sentence in page.read_text(encoding="utf-8"),
                f"{tool.name}: {page} lacks the sentence appended to {source.name}")
    finally:
        source.write_bytes(original)
    return sample


def checked_build(tool: Tool, site: Path, timeout: float, story: Story, lang: str = "en") -> Sample:
    """One measured build, then proof that it wrote ``story``'s page."""
    sample = run_build(tool, site, timeout)
    _expect(tool.page(site, story, lang).is_file(),
            f"{tool.name} build in {site} wrote no page for {story.slug}-{lang}")
    return sample


def _missing_folders(folder: Path, site: Path) -> list[Path]:
    """The folders between ``site`` and ``folder`` that do not exist yet, deepest first."""
    missing = []
    while not folder.exists() and folder != site:
        missing.append(folder)
        folder = folder.parent
    return missing


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise BuildFailed(message)


_MODULES = {NEWSROOM.name: ("pipeline",), PELICAN.name: ("pelican", "markdown"), HUGO.name: ()}


def preflight(workdir: Path, tools: list[Tool]) -> None:
    """The tools must be importable by the children, from a folder outside the repository."""
    modules = [module for tool in tools for module in _MODULES[tool.name]]
    if not modules:
        return
    check = subprocess.run([sys.executable, "-c", f"import {', '.join(modules)}"], cwd=workdir,
                           capture_output=True, text=True)
    if check.returncode != 0:
        raise BuildFailed(f"{sys.executable} cannot import {', '.join(modules)} from outside "
                          "the repository; install them with: python -m pip install -e '.[bench]'",
                          check.stderr)
    # Byte-code as an installed package has it (pip compiles on install; an editable install
    # or PYTHONDONTWRITEBYTECODE leaves none): else every child compiles the tool anew.
    compile_code = (f"import compileall, os, {', '.join(modules)}\n"
                    f"for m in ({', '.join(modules)},):\n"
                    "    compileall.compile_dir(os.path.dirname(m.__file__), quiet=1)\n")
    subprocess.run([sys.executable, "-c", compile_code], cwd=workdir, capture_output=True, check=False)


# -- the printout --------------------------------------------------------------------------


def machine_info() -> dict[str, str]:
    return {
        "cpus": f"{os.cpu_count()} (usable: {_usable_cpus()})",
        "cpu": _cpu_model(),
        "load average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "python": f"{platform.python_version()} ({sys.executable})",
        "pelican": _version("pelican"),
        "markdown": _version("markdown"),
        "hugo": _hugo_version(),
        "newsroom": f"{_version('newsroom')} (commit {_git_commit()})",
        "platform": platform.platform(),
    }


def start_up(workdir: Path, runs: int = 5) -> str:
    """The floor under every build's time: the interpreter starting, and it importing
    Newsroom's build (medians of ``runs``)."""
    def median_seconds(code: str) -> float:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], cwd=workdir, check=True)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    bare, imported = median_seconds("pass"), median_seconds("import pipeline.cli, pipeline.build")
    return f"python -c pass {bare:.2f} s; importing Newsroom's build {imported:.2f} s"


def print_machine(machine: dict[str, str], workdir: Path) -> None:
    print("Newsroom vs Pelican and Hugo benchmark")
    for key, value in machine.items():
        print(f"  {key + ':':<14}{value}")
    print(f"  {'workdir:':<14}{workdir}\n", flush=True)


def print_summary(results: list[SizeResult]) -> None:
    if not results:
        return
    small, large = results[0], results[-1]
    if large is not small:
        label = f"{size_label(large.items)}/{size_label(small.items)}"
        print(f"growth of the cold build time {label} (size ×{large.items / small.items:.3g}):")
        for tool in (NEWSROOM.name, PELICAN.name, HUGO.name):
            factor = growth(small, large, tool)
            if factor is None:
                continue
            print(f"  {tool:<10}{'–' if factor is None else f'{factor:.2f}'}")
        print()
    print(f"targets at N = {large.items:,}:")
    for line in targets(results):
        print(f"  {line}")


def _print_failure(failure: BuildFailed) -> None:
    print(f"\nbenchmark stopped: {failure}", file=sys.stderr)
    for name, text in (("stdout", failure.stdout), ("stderr", failure.stderr)):
        if text.strip():
            print(f"--- child {name} ---\n{text.rstrip()}", file=sys.stderr)


def write_json(path: Path, machine: dict[str, str], args: dict, results: list[SizeResult],
               total: float) -> None:
    document = {
        "machine": machine,
        "arguments": {key: str(value) if isinstance(value, Path) else value for key, value in args.items()},
        "total_seconds": total,
        "sizes": [{
            "items": result.items,
            "rounds": result.rounds,
            "samples": {tool: {scenario: [{"seconds": s.seconds, "maxrss_kib": s.maxrss_kib} for s in runs]
                               for scenario, runs in scenarios.items()}
                        for tool, scenarios in result.samples.items()},
        } for result in results],
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"raw samples written to {path}")


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _hugo_version() -> str:
    if not shutil.which("hugo"):
        return "not installed (apt-get install hugo)"
    try:
        version = subprocess.run(["hugo", "version"], capture_output=True, text=True, check=True).stdout
        return version.split()[1]
    except (OSError, subprocess.CalledProcessError, IndexError):
        return "unknown"


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent,
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _usable_cpus() -> int | None:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


if __name__ == "__main__":
    sys.exit(main())
