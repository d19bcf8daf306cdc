"""Sending: messages per second to a local SMTP server. ``python -m benchmarks.send``

Method
------
A small site (40 stories in the week of the edition, 10 topics variants among the
subscribers) gets N subscribers (default 10,000). An SMTP sink (:mod:`benchmarks.smtp_sink`,
aiosmtpd in four processes sharing one port, none sharing the sender's interpreter)
accepts every message. The machine has two cores: the sink and the sender compete for
them, so the figures are a floor. Each run is ``send_edition`` in a forked child, timed
from the fork to its end,
its peak memory ``ru_maxrss``; the send ledger is emptied between runs, so every run sends
the whole edition:

1. a server that answers at once, ``[delivery] connections = 4``: messages per second;
2. a server that takes 20 ms per message, with 1, 4 and 8 connections, to a smaller list
   (``--slow-subscribers``, default 1,000): the rate should grow with the connections.

Ratios are printed against the one-connection run in the same process.
"""

from __future__ import annotations

import argparse
import os
import pickle
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from pipeline.config import load_config
from pipeline.digest import send_edition
from pipeline.statedb import database_url, open_database
from pipeline.subscribers import SubscriberStore

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=ZoneInfo("Europe/Helsinki"))
SECRET = "benchmark-secret-not-for-production"
TOPICS = ["neurological", "medtech", "metabolic", "pharma", "cardiovascular"]
SITE = """[site]
title = { en = "Bench News", fi = "Vertailu" }
base_url = "https://news.example.org/"
timezone = "Europe/Helsinki"
languages = ["en", "fi"]
""" + "".join(f'[topics.{t}]\ntitle = {{ en = "{t}", fi = "{t}" }}\n' for t in TOPICS) + """
[[newsletters]]
id = "weekly-en"
title = "Bench Weekly"
lang = "en"
schedule = "0 8 * * mon"

[delivery]
method = "smtp"
from = "Bench News <news@news.example.org>"
rate_per_second = 100000
connections = 4
"""


def write_site(root: Path, subscribers: int) -> Path:
    news = root / "content" / "news"
    news.mkdir(parents=True)
    (root / "content" / "profiles").mkdir()
    for n in range(40):
        topic = TOPICS[n % len(TOPICS)]
        (news / f"s{n}.md").write_text(
            f"---\ntitle: Story number {n} about {topic} research in Kuopio\ndate: 2026-11-{24 + n % 6:02d}T"
            f"{8 + n % 10:02d}:00\nlang: en\ntopics: [{topic}]\nsummary: A summary of story {n}, "
            "two sentences long. It tells what happened and why it matters.\n---\nBody.\n", encoding="utf-8")
    (root / "newsroom.toml").write_text(SITE, encoding="utf-8")
    config = load_config(root / "newsroom.toml")
    db = open_database(database_url(config))
    store = SubscriberStore(db, config, SECRET)
    sets = [(), *[(t,) for t in TOPICS], *[(a, b) for a in TOPICS for b in TOPICS if a < b]][:10]
    with db.transaction():
        for n in range(subscribers):
            store.subscribe(f"reader{n}@example.org", "weekly-en", NOW, "benchmark", name=f"Reader {n}",
                            topics=sets[n % len(sets)])
    db.close()
    return root / "newsroom.toml"


SINK_PROCESSES = 4


def sink(delay: float) -> tuple[list[subprocess.Popen], int]:
    """SMTP sink processes sharing one port (SO_REUSEPORT), so the server is not what limits."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    processes = []
    for _ in range(SINK_PROCESSES):
        process = subprocess.Popen([sys.executable, "-m", "benchmarks.smtp_sink", str(port), str(delay)],
                                   stdout=subprocess.PIPE, text=True)
        assert process.stdout and process.stdout.readline().strip() == "ready"
        processes.append(process)
    return processes, port


def stop(processes: list[subprocess.Popen]) -> int:
    """Stop the sinks; how many messages they accepted together."""
    for process in processes:
        process.terminate()
    return sum(int(process.communicate()[0].strip() or 0) for process in processes)


def run(config_path: Path, connections: int, delay: float) -> dict:
    server, port = sink(delay)
    os.environ["NEWSROOM_SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    config = load_config(config_path)
    config = replace(config, delivery=replace(config.delivery, connections=connections))
    db = open_database(database_url(config))
    db.execute("DELETE FROM sends")
    db.close()
    read_fd, write_fd = os.pipe()
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_fd)
            report = send_edition(config, "weekly-en", NOW).report
            with os.fdopen(write_fd, "wb") as fh:
                fh.write(pickle.dumps((report.sent, report.failed)))
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as fh:
        sent, failed = pickle.loads(fh.read())
    _, _, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - started
    received = stop(server)
    return {"sent": sent, "failed": failed, "received": received, "seconds": seconds, "rate": sent / seconds,
            "peak_mib": usage.ru_maxrss / 1024}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Sending: messages per second to a local SMTP server.")
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--slow-subscribers", type=int, default=1_000)
    args = parser.parse_args(argv)
    os.environ["NEWSROOM_SECRET"] = SECRET
    with tempfile.TemporaryDirectory(prefix="newsroom-send-bench-") as tmp:
        print(f"writing a site with {args.subscribers:,} subscribers…", flush=True)
        fast = write_site(Path(tmp) / "fast", args.subscribers)
        slow = write_site(Path(tmp) / "slow", args.slow_subscribers)
        result = run(fast, 4, 0.0)
        print(f"instant server, 4 connections: {result['sent']:,} sent ({result['received']:,} received) "
              f"in {result['seconds']:.1f} s: {result['rate']:,.0f} messages/s, "
              f"peak {result['peak_mib']:.0f} MiB", flush=True)
        verdict = "PASS" if result["rate"] >= 500 and result["received"] == result["sent"] else "FAIL"
        print(f"target >= 500 messages/s when the server answers at once: {verdict}")
        rates = {}
        for connections in (1, 4, 8):
            slow_run = run(slow, connections, 0.02)
            rates[connections] = slow_run["rate"]
            print(f"20 ms server, {connections} connection(s): {slow_run['sent']:,} sent in "
                  f"{slow_run['seconds']:.1f} s: {slow_run['rate']:,.0f} messages/s "
                  f"({slow_run['rate'] / rates[1]:.1f}x one connection)", flush=True)
        grows = rates[1] < rates[4] < rates[8]
        print(f"the rate grows with connections: {'PASS' if grows else 'FAIL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
