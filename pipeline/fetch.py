"""Fetching an upstream feed over HTTP, bounded in every way an upstream server could abuse.

One :class:`Fetcher` (one ``requests`` session) serves a whole ingest run. Each fetch:

- sends a User-Agent naming Newsroom and the site, and the validators of the last
  successful fetch (``If-None-Match``, ``If-Modified-Since``): a 304 costs nothing;
- follows at most :data:`MAX_REDIRECTS` redirects itself, each checked: only http(s), no
  loop; and unless the source itself is internal, every connection's peer must be a
  public address (no loopback, private, link-local or shared address, however spelled);
- streams the body and stops at ``max_bytes`` (decompressed size, so a gzip bomb stops too);
- ends at a deadline for the whole fetch. A read timeout bounds each read, not a server
  that drips one byte a second, so a watchdog shuts the fetch's sockets at the deadline.

Every failure is a :class:`FetchError` with a message for the source's report; a 429 or 503
carries the server's ``Retry-After``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from .model import excerpt, printable

__all__ = ["MAX_REDIRECTS", "FetchError", "Fetched", "Fetcher"]

MAX_REDIRECTS = 5
CONNECT_SECONDS = 5.0
READ_SECONDS = 15.0
MAX_ADDRESSES = 3   # of a host name's addresses, tried in turn
CHUNK = 16 * 1024   # decompressed per read: bounds what one read of a gzip bomb can inflate to
ACCEPT = ("application/atom+xml, application/rss+xml, application/feed+json, application/json;q=0.9, "
          "application/xml;q=0.8, text/xml;q=0.8, */*;q=0.1")


class FetchError(Exception):
    def __init__(self, message: str, retry_after: datetime | None = None):
        super().__init__(message)
        self.message, self.retry_after = message, retry_after


@dataclass(frozen=True)
class Fetched:
    url: str                      # after redirects
    body: bytes | None            # None: not modified (304)
    content_type: str
    etag: str | None
    last_modified: str | None
    content_language: str | None

    @property
    def not_modified(self) -> bool:
        return self.body is None


class Fetcher:
    """A shared session for one ingest run; ``with Fetcher(...) as f: f.fetch(url)``."""

    def __init__(self, user_agent: str, max_bytes: int, seconds: float):
        self.max_bytes, self.seconds = max_bytes, seconds
        self._sockets = _SocketRegistry()
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": user_agent, "Accept": ACCEPT,
                                     "Accept-Encoding": "gzip, deflate"})
        self.session.trust_env = False   # no proxies or .netrc credentials from the environment
        self._adapter = _WatchedAdapter(self._sockets)
        for scheme in ("http://", "https://"):
            self.session.mount(scheme, self._adapter)

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc) -> None:
        self.session.close()

    def fetch(self, url: str, etag: str | None = None, last_modified: str | None = None,
              now: datetime | None = None) -> Fetched:
        now = now or datetime.now(UTC)
        conditions = {}
        if etag:
            conditions["If-None-Match"] = etag
        if last_modified:
            conditions["If-Modified-Since"] = last_modified
        expired = threading.Event()

        def on_deadline():
            expired.set()
            self._sockets.shut_all()

        deadline = time.monotonic() + self.seconds
        self._sockets.deadline = deadline
        self._sockets.allow_internal = _source_is_internal(url)
        watchdog = threading.Timer(self.seconds, on_deadline)
        watchdog.daemon = True
        watchdog.start()
        try:
            fetched = self._fetch(url, conditions, now, deadline)
            if expired.is_set():   # a shut socket can look like the end of a body
                raise FetchError(f"took longer than {self.seconds:g} s (limits.fetch_seconds)")
            return fetched
        except (requests.RequestException, OSError) as exc:
            if expired.is_set():
                raise FetchError(f"took longer than {self.seconds:g} s (limits.fetch_seconds)") from None
            raise FetchError(_describe(exc)) from None
        finally:
            watchdog.cancel()
            # no connection outlives its fetch: the next one's sockets must all be watched
            self._adapter.poolmanager.clear()
            self._sockets.forget_all()

    def _fetch(self, url: str, conditions: dict[str, str], now: datetime, deadline: float) -> Fetched:
        seen = [url]
        while True:
            response = self.session.get(url, headers=conditions, stream=True, allow_redirects=False,
                                        timeout=(CONNECT_SECONDS, READ_SECONDS))
            with response:
                if response.is_redirect:
                    url = self._next_hop(seen, response.headers.get("Location", ""))
                    seen.append(url)
                    continue
                return self._result(url, response, now, deadline, bool(conditions))

    def _next_hop(self, seen: list[str], location: str) -> str:
        if len(seen) > MAX_REDIRECTS:
            raise FetchError(f"more than {MAX_REDIRECTS} redirects")
        try:
            target = urljoin(seen[-1], location.strip())
            parts = urlsplit(target)
            hostname = parts.hostname
        except ValueError:
            raise FetchError(f"redirected to a malformed URL: {_short(location)}") from None
        if parts.scheme not in ("http", "https") or not hostname:
            raise FetchError(f"redirected to {_short(target)}: only http and https URLs are followed")
        if target in seen:
            raise FetchError(f"redirect loop at {_short(target)}")
        if _is_internal(hostname) and not _is_internal(urlsplit(seen[0]).hostname or ""):
            raise FetchError(f"redirected to {_short(target)}: an internal address")
        return target

    def _result(self, url: str, response: requests.Response, now: datetime, deadline: float,
                conditional: bool) -> Fetched:
        headers = response.headers
        if response.status_code == 304:
            if not conditional:
                raise FetchError("HTTP 304 Not Modified to a request that asked for the whole feed")
            return Fetched(url, None, "", headers.get("ETag"), headers.get("Last-Modified"), None)
        if response.status_code in (429, 503):
            retry_at = _retry_after(headers.get("Retry-After"), now)
            raise FetchError(f"HTTP {response.status_code} {response.reason or ''}".rstrip()
                             + f"; retrying after {retry_at.isoformat(timespec='seconds')}", retry_at)
        if response.status_code != 200:
            raise FetchError(f"HTTP {response.status_code} {response.reason or ''}".rstrip())
        declared = headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise FetchError(_too_large(self.max_bytes))
        body = bytearray()
        for chunk in response.iter_content(CHUNK):
            body += chunk
            if len(body) > self.max_bytes:
                raise FetchError(_too_large(self.max_bytes))
            if time.monotonic() > deadline:
                raise FetchError(f"took longer than {self.seconds:g} s (limits.fetch_seconds)")
        return Fetched(url, bytes(body), headers.get("Content-Type", ""), headers.get("ETag"),
                       headers.get("Last-Modified"), headers.get("Content-Language"))


def _too_large(max_bytes: int) -> str:
    return f"the body is larger than {max_bytes:,} bytes (limits.feed_bytes); stopped there"


def _retry_after(value: str | None, now: datetime) -> datetime:
    """When to ask again: the server's Retry-After (seconds or an HTTP date), at least a
    minute and at most a day away; ten minutes when it says nothing usable."""
    wait = timedelta(minutes=10)
    value = (value or "").strip()
    if value.isascii() and value.isdigit() and len(value) <= 9:
        wait = timedelta(seconds=int(value))
    elif value:
        with contextlib.suppress(TypeError, ValueError, IndexError, OverflowError):
            wait = parsedate_to_datetime(value) - now
    return now + min(max(wait, timedelta(minutes=1)), timedelta(days=1))


def _describe(exc: Exception) -> str:
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS error: the server's certificate could not be verified"
    if isinstance(exc, requests.ConnectTimeout):
        return f"could not connect within {CONNECT_SECONDS:g} s"
    if isinstance(exc, requests.ReadTimeout | requests.exceptions.ChunkedEncodingError) \
            and "timed out" in str(exc).lower():
        return f"no data for {READ_SECONDS:g} s"
    if isinstance(exc, requests.ConnectionError):
        return "could not connect or the connection broke"
    if isinstance(exc, requests.exceptions.ContentDecodingError):
        return "the body's compression is broken"
    return f"{type(exc).__name__}: {_short(str(exc))}"


def _short(text: str) -> str:
    return excerpt(printable(text), 119, quote=False)


def _is_internal(host: str) -> bool:
    """A host name or address that is not on the public internet (as written)."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return _is_internal_address(host)
    except ValueError:
        return False


def _is_internal_address(text: str) -> bool:
    """Loopback, private, shared (CGNAT), link-local (cloud metadata), unspecified: any
    address that is not globally reachable. Raises ValueError for a name."""
    address = ipaddress.ip_address(text.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not address.is_global


def _source_is_internal(url: str) -> bool:
    """Whether an operator configured an internal feed (an intranet, a test server): then
    its redirects and addresses may be internal too."""
    host = urlsplit(url).hostname or ""
    if _is_internal(host):
        return True
    try:
        infos = socket.getaddrinfo(host, None, 0, socket.SOCK_STREAM)
    except OSError:
        return False
    return any(_is_internal_address(info[4][0]) for info in infos)


# -- the watchdog's view of the sockets ---------------------------------------------------------


class _SocketRegistry:
    """The sockets of the current fetch, opened here so that its deadline bounds connecting
    too (at most :data:`MAX_ADDRESSES` addresses, each within what is left) and a watchdog
    can shut them when it passes (a read blocked in another thread returns at once). A
    peer that is not a public address is refused unless the source itself is internal:
    checked on the connected socket, so no spelling of an address or DNS trick gets by."""

    def __init__(self):
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self.deadline = float("inf")
        self.allow_internal = True

    def open_socket(self, host: str, port: int, options) -> socket.socket:
        error: OSError | None = None
        for family, kind, proto, _, address in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[
                :MAX_ADDRESSES]:
            remaining = self.deadline - time.monotonic()
            if remaining <= 0:
                break
            sock = socket.socket(family, kind, proto)
            with self._lock:
                self._open.append(sock)
            try:
                for option in options or ():
                    sock.setsockopt(*option)
                sock.settimeout(min(CONNECT_SECONDS, remaining))
                sock.connect(address)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            peer = sock.getpeername()[0]
            if not self.allow_internal and _is_internal_address(peer):
                sock.close()
                raise FetchError(f"{_short(host)} is an internal address ({peer}): refused")
            sock.settimeout(READ_SECONDS)
            return sock
        raise error or TimeoutError(f"could not connect to {host} in time")

    def shut_all(self) -> None:
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(sock, socket.SHUT_RDWR)

    def forget_all(self) -> None:
        with self._lock:
            self._open.clear()


class _WatchedAdapter(HTTPAdapter):
    """An adapter whose connections open their sockets through the registry."""

    def __init__(self, registry: _SocketRegistry):
        self._registry = registry
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        registry = self._registry

        class Watched(HTTPConnection):
            def _new_conn(self):
                return registry.open_socket(self._dns_host, self.port, self.socket_options)

        class WatchedTLS(HTTPSConnection):
            def _new_conn(self):
                return registry.open_socket(self._dns_host, self.port, self.socket_options)

        class Pool(HTTPConnectionPool):
            ConnectionCls = Watched

        class TLSPool(HTTPSConnectionPool):
            ConnectionCls = WatchedTLS

        self.poolmanager.pool_classes_by_scheme = {"http": Pool, "https": TLSPool}
