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

from .config import ConfigError

__all__ = ["OutboxSender", "PermanentFailure", "Sender", "SmtpSender", "SmtpSettings", "TemporaryFailure"]

TIMEOUT = 30.0


class TemporaryFailure(Exception):
    """Try again later: a 4xx answer, or the connection failed."""


class PermanentFailure(Exception):
    """The server refused this recipient or message for good (5xx)."""


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
            raise TemporaryFailure(f"SMTP {s.host}:{s.port}: cannot connect: {exc}") from None
        return smtp

    def send(self, sender: str, recipient: str, message: bytes, message_id: str) -> None:
        if self._smtp is None:
            self._smtp = self._connect()
        try:
            self._smtp.sendmail(sender, [recipient], message)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = exc.recipients.get(recipient, (550, b"refused"))
            self._failed(code, text)
        except smtplib.SMTPResponseException as exc:
            if exc.smtp_code == 421:   # the server is closing the connection
                self._drop()
            self._failed(exc.smtp_code, exc.smtp_error)
        except (TimeoutError, smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            raise TemporaryFailure(f"connection lost: {exc}") from None

    def _failed(self, code: int, text: bytes | str) -> None:
        message = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
        message = f"{code} {' '.join(message.split())[:300]}"
        if 400 <= code < 500:
            raise TemporaryFailure(message)
        raise PermanentFailure(message)

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
