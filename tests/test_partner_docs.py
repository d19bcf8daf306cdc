"""The example client in docs/partners.md really works, against a real HTTP server on loopback."""

from __future__ import annotations

import hashlib
import re
import threading
from datetime import timedelta
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from io import BytesIO
from pathlib import Path
from typing import ClassVar

import pytest

from pipeline.build import build_site

from .conftest import NOW, ROOT, SITE_TOML


class ETagHandler(SimpleHTTPRequestHandler):
    """Static files with a content ETag and If-None-Match, as a production server does."""

    requests: ClassVar[list[tuple[str, int]]] = []

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        if not path.is_file():
            self.send_error(404)
            return None
        data = path.read_bytes()
        etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
        status = 304 if self.headers.get("If-None-Match") == etag else 200
        self.requests.append((self.path, status))
        self.send_response(status)
        self.send_header("ETag", etag)
        if status == 304:
            self.end_headers()
            return None
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        return BytesIO(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server(site):
    site.output.mkdir()
    handler = partial(ETagHandler, directory=str(site.output))
    ETagHandler.requests = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def _client(base: str, state_file: Path) -> dict:
    text = (ROOT / "docs" / "partners.md").read_text(encoding="utf-8")
    code = re.search(r"## Example client.*?```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {"__name__": "partner_client"}
    exec(compile(code, "docs/partners.md", "exec"), namespace)
    namespace.update(BASE=base, PARTNER="city", STATE=state_file)
    return namespace


def test_the_documented_client_mirrors_polls_politely_and_applies_tombstones(site, server, tmp_path):
    toml = SITE_TOML.replace('base_url = "https://news.example.org/"', f'base_url = "{server}"')
    site.config_path.write_text(toml + '\n[[partners]]\nid = "city"\n', encoding="utf-8")
    for n in range(3):
        site.write_news(f"item-{n}", f"title: Item {n}\ndate: 2026-11-0{n + 1}\ntopics: [medtech]\n")
    build_site(site.config, NOW)

    client = _client(server, tmp_path / "mirror.json")
    client["sync"]()
    state = client["load_state"]()
    assert sorted(state["items"]) == [f"{server}news/item-{n}/" for n in range(3)]
    assert state["last_seq"] == 3

    ETagHandler.requests.clear()
    client["sync"]()                          # nothing changed: one conditional request
    assert ETagHandler.requests == [("/syndication/index.json", 304)]

    site.write_news("item-1", "title: Item 1\ndate: 2026-11-02\ntopics: [medtech]\nstatus: draft\n")
    build_site(site.config, NOW + timedelta(minutes=1))
    client["sync"]()
    state = client["load_state"]()
    assert sorted(state["items"]) == [f"{server}news/item-0/", f"{server}news/item-2/"]
    assert state["last_seq"] == 4
