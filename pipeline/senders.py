"""Senders: where a finished message goes. A small interface with two implementations:

- :class:`SmtpSender`: smtplib to the server ``NEWSROOM_SMTP_URL`` names
  (``smtp://user:pass@host:port``, ``smtps://…`` for TLS from the start,
  ``?starttls=true`` to upgrade), one connection reused for many messages and opened
  again when the server drops it, with timeouts;
- :class:`OutboxSender`: writes each message as an ``.eml`` file under ``output/outbox/``
  (``[delivery] method = "outbox"``, the default): nothing leaves the machine.

A sender raises :class:`TemporaryFailure` when trying again later may work (4xx, a
dropped or refused connection) and :class:`PermanentFailure` when it will not (5xx for
the recipient). A sender object is used by one thread at a time.
"""

from __future__ import annotations

import contextlib
import os
import re
import smtplib
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

from .config import Config, ConfigError, secret

__all__ = [
    "OutboxSender",
    "PermanentFailure",
    "Sender",
    "ServerUnavailable",
    "SmtpSender",
    "SmtpSettings",
    "TemporaryFailure",
    "UnknownOutcome",
    "senders_for",
]

TIMEOUT = 30.0


def senders_for(config: Config) -> list[Sender]:
    """One sender per connection: SMTP (``NEWSROOM_SMTP_URL``) or the outbox folder
    (``state/outbox/``: the output folder is replaced whole by every build)."""
    if config.delivery.method == "outbox":
        return [OutboxSender(config.paths.state / "outbox")]
    url = secret("NEWSROOM_SMTP_URL")
    if not url:
        raise ConfigError("[delivery] method = \"smtp\" needs NEWSROOM_SMTP_URL "
                          "(smtp://user:pass@host:port, smtps://…, ?starttls=true)")
    settings = SmtpSettings.from_url(url)
    return [SmtpSender(settings) for _ in range(config.delivery.connections)]


class TemporaryFailure(Exception):
    """Try again later: a 4xx answer, or the connection failed."""


class PermanentFailure(Exception):
    """The server refused this recipient or message for good (5xx). ``bounce``: it was
    the recipient's address it refused (5xx to RCPT), which counts against the address."""

    def __init__(self, message: str, bounce: bool = True):
        super().__init__(message)
        self.bounce = bounce


class UnknownOutcome(Exception):
    """The message was handed over whole but no answer came (a timeout or a dropped
    connection after the end of DATA): it may have been delivered. Never retried."""


class ServerUnavailable(Exception):
    """No connection to the server (or it refused our sender address): stop the run; the
    remaining messages stay queued for the next."""


class Sender(Protocol):
    def send(self, sender: str, recipient: str, message: bytes, message_id: str) -> None:
        """Hand one message over; returns once the server accepted it."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    tls: bool = False           # smtps: TLS from the first byte
    starttls: bool = False
    user: str | None = None
    password: str | None = None
    timeout: float = TIMEOUT

    @classmethod
    def from_url(cls, url: str) -> SmtpSettings:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigError("NEWSROOM_SMTP_URL: expected smtp://user:pass@host:port or smtps://… "
                              "(add ?starttls=true to upgrade a plain connection)")
        query = parse_qs(parts.query)
        unknown = set(query) - {"starttls", "timeout"}
        if unknown:
            raise ConfigError(f"NEWSROOM_SMTP_URL: unknown option(s) {', '.join(sorted(unknown))}")
        starttls = query.get("starttls", ["false"])[0].lower() in ("1", "true", "yes")
        try:
            port = parts.port or (465 if parts.scheme == "smtps" else 587 if starttls else 25)
            timeout = float(query.get("timeout", [TIMEOUT])[0])
        except ValueError as exc:
            raise ConfigError(f"NEWSROOM_SMTP_URL: {exc}") from None
        return cls(parts.hostname, port, parts.scheme == "smtps", starttls,
                   unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password else None, timeout)


class SmtpSender:
    """One SMTP connection, opened on first use and again after the server drops it."""

    def __init__(self, settings: SmtpSettings):
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        try:
            if s.tls:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout,
                                                      context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            smtp.ehlo()
            if s.starttls:
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if s.user:
                smtp.login(s.user, s.password or "")
        except smtplib.SMTPAuthenticationError as exc:
            raise ConfigError(f"SMTP {s.host}:{s.port}: login refused ({exc.smtp_code})") from None
        except (OSError, smtplib.SMTPException) as exc:
            raise ServerUnavailable(f"SMTP {s.host}:{s.port}: cannot connect: {exc}") from None
        return smtp

    def send(self, sender: str, recipient: str, message: bytes, message_id: str) -> None:
        """MAIL, RCPT and DATA step by step: a failure before DATA is answered is safe to
        retry; silence after the whole message went out is :class:`UnknownOutcome`."""
        if self._smtp is None:
            self._smtp = self._connect()
        smtp = self._smtp
        try:
            code, text = smtp.mail(sender)
            if code != 250:
                self._reset()
                if 500 <= code < 600:
                    raise ServerUnavailable(f"the server refused the sender {sender}: {_reply(code, text)}")
                self._failed(code, text)
            code, text = smtp.rcpt(recipient)
            if code not in (250, 251):
                self._reset()
                self._failed(code, text)
        except (TimeoutError, smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise TemporaryFailure(f"connection lost: {exc}") from None
        try:
            code, text = smtp.data(message)
        except smtplib.SMTPResponseException as exc:   # an answer: the message was not taken
            if exc.smtp_code == 421:   # the server is closing the connection
                self._drop()
            self._failed(exc.smtp_code, exc.smtp_error, bounce=False)
        except (TimeoutError, smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise UnknownOutcome(f"no answer after the message was sent ({exc or type(exc).__name__}); "
                                 "it may have been delivered, so it is not sent again") from None
        if code != 250:
            self._failed(code, text, bounce=False)

    def _reset(self) -> None:
        try:
            self._smtp.rset()   # type: ignore[union-attr]
        except (OSError, smtplib.SMTPException):
            self._drop()

    def _failed(self, code: int, text: bytes | str, bounce: bool = True) -> None:
        if 400 <= code < 500:
            raise TemporaryFailure(_reply(code, text))
        raise PermanentFailure(_reply(code, text), bounce=bounce)

    def _drop(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.close()
            finally:
                self._smtp = None

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._smtp.quit()
            self._drop()


def _reply(code: int, text: bytes | str) -> str:
    message = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {' '.join(message.split())[:300]}"


class OutboxSender:
    """Messages written as ``.eml`` files (one per message, named by its Message-ID)."""

    def __init__(self, folder: Path):
        self.folder = folder

    def send(self, sender: str, recipient: str, message: bytes, message_id: str) -> None:
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", message_id.strip("<>"))[:180] + ".eml"
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{name}.{os.getpid()}.tmp"
        try:
            with open(tmp, "wb") as fh:
                fh.write(message)
            os.replace(tmp, self.folder / name)
        except OSError as exc:
            raise TemporaryFailure(f"outbox {self.folder}: {exc.strerror or exc}") from None

    def close(self) -> None:
        pass

    def purge(self, email: str) -> int:
        """Delete the messages addressed to ``email`` (forgetting a person); how many."""
        needle = email.lower().encode()
        removed = 0
        for path in self.folder.glob("*.eml") if self.folder.is_dir() else ():
            head = path.read_bytes().split(b"\r\n\r\n", 1)[0].lower()
            if needle in head:
                path.unlink()
                removed += 1
        return removed
