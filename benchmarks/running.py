"""One edit rebuilt inside a running process, as ``newsroom run --watch`` rebuilds.

``python benchmarks/running.py SITE FILE SENTENCE NOW`` (run as a script: it needs only
an installed Newsroom): builds the site once in this process, the way the daemon's build job does
(``build_site(..., warm=True)``: the parse cache's rows stay decoded in memory), then
appends SENTENCE to FILE, builds again and prints that second build's wall time, in
seconds, as the last line. The interpreter's start, the imports and the first build are
not part of it: a daemon has paid them before anyone edits a file.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from pipeline.build import build_site
from pipeline.config import load_config
from pipeline.readers import parse_datetime


def rebuild_after_edit(site: Path, edited: Path, sentence: str, at: str) -> float:
    config = load_config(site / "newsroom.toml")
    now = parse_datetime(at, config.site)   # as `newsroom build --now` reads it
    build_site(config, now, warm=True)          # what the daemon did before the edit
    edited.write_bytes(edited.read_bytes() + f"\n{sentence}\n".encode())
    start = time.perf_counter()
    build_site(config, now, warm=True)
    return time.perf_counter() - start


if __name__ == "__main__":
    site_folder, edited_file, text, instant = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
    print(f"{rebuild_after_edit(site_folder, edited_file, text, instant):.6f}")
