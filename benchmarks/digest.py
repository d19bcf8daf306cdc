"""Digest rendering: messages per second and peak memory. ``python -m benchmarks.digest``

Method
------
The benchmark corpus (:mod:`benchmarks.corpus`, default 10,000 items) is written as a
site with one monthly English newsletter, and loaded once. The edition due at
2026-06-02 (May's stories, about 60 of them) is made from it. Subscribers are generated
on the fly, never held in a list: subscriber *n* narrows the newsletter to the *n* mod
30th of 30 topic sets (the first set empty: the whole newsletter), so the edition is
rendered as 30 variants.

Each run is a forked child process (the corpus loaded before the fork) that renders the
edition for its subscribers, each message written as the bytes a sender hands to SMTP
(``MessageFactory.message_bytes``, byte for byte ``EmailMessage.as_bytes()``) and then
dropped. Its figures: wall time from the
fork to the last message, messages per second, and its peak resident memory
(``ru_maxrss`` of the reaped child). With ``--processes 2`` the subscribers are split
between two children running at once (the machine has two cores).

Baselines in the same run: the rate of one process against two, and the peak memory of
the 10,000-subscriber run against a 1,000-subscriber run. Memory is flat when the two
are close: nothing per subscriber is kept.
"""

from __future__ import annotations

import argparse
import itertools
import os
import pickle
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pipeline.build import catalog_for
from pipeline.config import load_config
from pipeline.content import load_content
from pipeline.editions import EditionStore, due_edition
from pipeline.messages import MessageFactory, Recipient
from pipeline.render.digest import DigestRenderer
from pipeline.statedb import open_database
from pipeline.templating import load_templates

from .corpus import TOPICS, stories, write_newsroom_site

NOW = datetime(2026, 6, 2, 12, 0, tzinfo=ZoneInfo("Europe/Helsinki"))
SECRET = "benchmark-secret-not-for-production"
NEWSLETTER = """
[[newsletters]]
id = "monthly-en"
title = "Benchmark Health Monthly"
lang = "en"
schedule = "0 8 1 * *"

[delivery]
from = "Benchmark News <news@news.example.org>"
"""
VARIANTS = 30
TARGET_RATE = 2000


def topic_sets(count: int = VARIANTS) -> list[tuple[str, ...]]:
    """``count`` distinct topic sets: none (everything), then singles, then pairs."""
    keys = sorted(TOPICS)
    sets: list[tuple[str, ...]] = [()]
    sets += [(key,) for key in keys]
    sets += list(itertools.combinations(keys, 2))
    return sets[:count]


def subscribers(first: int, count: int) -> Iterator[Recipient]:
    sets = topic_sets()
    for n in range(first, first + count):
        yield Recipient(id=f"s{n}", email=f"reader{n}@example.org", name=f"Reader {n}",
                        topics=sets[n % len(sets)])


def run(factory_args: tuple, first: int, count: int) -> dict:
    """In a child: every message of ``count`` subscribers built, serialized and dropped."""
    config, catalog, edition = factory_args
    renderer = DigestRenderer(config, catalog, load_templates(None), edition.newsletter)
    factory = MessageFactory(config, renderer, edition, NOW, SECRET)
    started = time.perf_counter()
    sent = skipped = size = 0
    for recipient in subscribers(first, count):
        message = factory.message_bytes(recipient)
        if message is None:
            skipped += 1
            continue
        size += len(message)
        sent += 1
    return {"sent": sent, "skipped": skipped, "bytes": size, "seconds": time.perf_counter() - started}


def forked(factory_args: tuple, slices: list[tuple[int, int]]) -> dict:
    """Run each slice in its own child at once; wall time over all, peak memory of the largest."""
    started = time.perf_counter()
    children = []
    for first, count in slices:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(read_fd)
                with os.fdopen(write_fd, "wb") as fh:
                    fh.write(pickle.dumps(run(factory_args, first, count)))
            finally:
                os._exit(0)
        os.close(write_fd)
        children.append((pid, read_fd))
    results, peak = [], 0
    for pid, read_fd in children:
        with os.fdopen(read_fd, "rb") as fh:
            results.append(pickle.loads(fh.read()))
        _, _, usage = os.wait4(pid, 0)
        peak = max(peak, usage.ru_maxrss)
    wall = time.perf_counter() - started
    sent = sum(r["sent"] for r in results)
    return {"sent": sent, "skipped": sum(r["skipped"] for r in results), "seconds": wall,
            "rate": sent / wall, "peak_mib": peak / 1024, "bytes": sum(r["bytes"] for r in results)}


def prepare(workdir: Path, items: int) -> tuple:
    site = workdir / "site"
    write_newsroom_site(site, stories(items))
    with (site / "newsroom.toml").open("a", encoding="utf-8") as fh:
        fh.write(NEWSLETTER)
    config = load_config(site / "newsroom.toml")
    content = load_content(config)
    catalog = catalog_for(config, content, NOW)
    store = EditionStore(open_database(f"sqlite:///{workdir / 'state.db'}"))
    edition = due_edition(config.newsletter("monthly-en"), catalog, store)
    if edition is None:
        raise SystemExit("the corpus has no stories in the benchmark's edition window")
    # bodies are not needed for emails; the parse cache connection must not cross a fork
    content.close()
    return config, catalog, edition


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Digest rendering: messages per second and peak memory.")
    parser.add_argument("--items", type=int, default=10_000, help="corpus size (default 10,000)")
    parser.add_argument("--subscribers", type=int, default=10_000, help="subscribers (default 10,000)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of each measurement (default 2)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="newsroom-digest-bench-") as tmp:
        print(f"writing and loading a {args.items:,}-item corpus…", flush=True)
        factory_args = prepare(Path(tmp), args.items)
        edition = factory_args[2]
        print(f"edition {edition.id}: {len(edition.entries)} stories, {VARIANTS} topic variants, "
              f"{args.subscribers:,} subscribers", flush=True)
        baseline = max(args.subscribers // 10, 100)
        rows = []
        for round_ in range(1, args.rounds + 1):
            one = forked(factory_args, [(0, args.subscribers)])
            half = args.subscribers // 2
            two = forked(factory_args, [(0, half), (half, args.subscribers - half)])
            small = forked(factory_args, [(0, baseline)])
            rows.append((one, two, small))
            print(f"round {round_}: 1 process {one['rate']:,.0f} msg/s ({one['seconds']:.2f} s, "
                  f"{one['peak_mib']:.0f} MiB); 2 processes {two['rate']:,.0f} msg/s "
                  f"({two['seconds']:.2f} s, {two['peak_mib']:.0f} MiB each at most); "
                  f"{baseline:,} subscribers: {small['peak_mib']:.0f} MiB", flush=True)
        report(rows, args.subscribers, baseline)
    return 0


def report(rows: list[tuple[dict, dict, dict]], subscribers_: int, baseline: int) -> None:
    def median(values: list[float]) -> float:
        values = sorted(values)
        middle = len(values) // 2
        return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2

    one = median([r[0]["rate"] for r in rows])
    two = median([r[1]["rate"] for r in rows])
    peak, small = median([r[0]["peak_mib"] for r in rows]), median([r[2]["peak_mib"] for r in rows])
    first = rows[0][0]
    print()
    print(f"messages: {first['sent']:,} sent, {first['skipped']:,} skipped (no story of their topics), "
          f"{first['bytes'] / first['sent'] / 1024:.0f} KiB each on average")
    print(f"rate, 1 process:   {one:,.0f} messages/s")
    print(f"rate, 2 processes: {two:,.0f} messages/s ({two / one:.2f}x one process)")
    print(f"peak memory: {peak:.0f} MiB for {subscribers_:,} subscribers, {small:.0f} MiB for "
          f"{baseline:,} ({peak / small:.2f}x)")
    best = max(one, two)
    verdict = "PASS" if best >= TARGET_RATE else "FAIL"
    print(f"target >= {TARGET_RATE:,} messages/s on this machine: {verdict} ({best:,.0f})")
    print(f"memory flat in subscribers (within 10% of the {baseline:,}-subscriber run): "
          f"{'PASS' if peak <= small * 1.10 else 'FAIL'}")


if __name__ == "__main__":
    sys.exit(main())
