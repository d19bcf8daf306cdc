"""Send workers sharing one queue on PostgreSQL: ``python -m benchmarks.workers``

Method
------
A throwaway PostgreSQL server (Debian's ``postgresql``, as the tests start it:
``tests/postgres.py``) holds the state of the small site of :mod:`benchmarks.send` with N
subscribers (default 20,000). An SMTP sink (:mod:`benchmarks.smtp_sink`, four processes
on one port) takes ``--delay`` seconds per message (default 20 ms, a real server's pace).
For each worker count (default 1, 2 and 4), the ledger is emptied, ``newsroom digest send``
queues the edition while the workers run, and the time from the queueing to the last
message accepted gives messages per second. Each worker has ``--concurrency`` SMTP
connections (default 4). Ratios are printed against the one-worker run of the same
invocation. The machine has two cores, shared by the workers, the sink and PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pipeline.config import load_config
from pipeline.statedb import state_database

from .send import NOW, SECRET, sink, stop, write_site


def start_workers(config_path: Path, count: int, concurrency: int, env: dict) -> list[subprocess.Popen]:
    return [subprocess.Popen([sys.executable, "-m", "pipeline", "worker", "--concurrency", str(concurrency),
                              "--config", str(config_path)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(count)]


def count(config_path: Path, sql: str) -> int:
    with state_database(load_config(config_path)) as db:
        return db.query(sql)[0][0]


def run(config_path: Path, workers: int, concurrency: int, delay: float, messages: int) -> dict:
    server, port = sink(delay)
    env = {**os.environ, "NEWSROOM_SMTP_URL": f"smtp://127.0.0.1:{port}"}
    with state_database(load_config(config_path)) as db:
        db.execute("DELETE FROM sends")
    processes = start_workers(config_path, workers, concurrency, env)
    try:
        deadline = time.monotonic() + 60
        while count(config_path, "SELECT COUNT(*) FROM workers") < workers:
            if time.monotonic() > deadline:
                raise SystemExit("the workers did not start")
            time.sleep(0.2)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "pipeline", "digest", "send", "weekly-en", "--now",
                        NOW.isoformat(), "--config", str(config_path)],
                       env=env, check=True, capture_output=True)
        while count(config_path, "SELECT COUNT(*) FROM sends WHERE status IN ('queued', 'sending')"):
            time.sleep(0.1)
        seconds = time.perf_counter() - started
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.wait(timeout=120)
    sent = count(config_path, "SELECT COUNT(*) FROM sends WHERE status = 'sent'")
    received = stop(server)
    return {"workers": workers, "sent": sent, "received": received, "seconds": seconds,
            "rate": sent / seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Send workers on PostgreSQL: messages per second.")
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--workers", default="1,2,4", help="worker counts to run (default 1,2,4)")
    parser.add_argument("--concurrency", type=int, default=4, help="SMTP connections per worker")
    parser.add_argument("--delay", type=float, default=0.02, help="the server's seconds per message")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.postgres import PostgresServer, postgres_bin

    bin_dir = postgres_bin()
    if bin_dir is None:
        raise SystemExit("PostgreSQL is not installed (apt-get install postgresql)")
    server = PostgresServer(bin_dir).start()
    try:
        os.environ["NEWSROOM_DB_URL"] = server.new_database()
        os.environ["NEWSROOM_SECRET"] = SECRET
        with tempfile.TemporaryDirectory(prefix="newsroom-workers-") as folder:
            print(f"writing the site and {args.subscribers:,} subscribers…", flush=True)
            config_path = write_site(Path(folder), args.subscribers)
            results = []
            for workers in (int(n) for n in args.workers.split(",")):
                result = run(config_path, workers, args.concurrency, args.delay, args.subscribers)
                results.append(result)
                base = results[0]["rate"]
                print(f"{workers} worker(s) x {args.concurrency} connections: {result['sent']:,} sent "
                      f"({result['received']:,} received) in {result['seconds']:.1f} s = "
                      f"{result['rate']:.0f} messages/s ({result['rate'] / base:.2f}x the first)", flush=True)
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
