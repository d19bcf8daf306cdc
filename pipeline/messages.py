"""Digest emails: one ``EmailMessage`` per recipient, and the signed tokens in their links.

Every recipient gets ``multipart/alternative`` (plain text, then HTML) with the headers
Gmail's and Yahoo's bulk-sender rules ask for: ``List-Unsubscribe`` with an https URL
and a mailto, and ``List-Unsubscribe-Post: List-Unsubscribe=One-Click`` (RFC 8058).

An edition is rendered once per *variant* (the set of topics a subscriber narrowed the
newsletter to), with a placeholder where the recipient's token goes; each message then
only swaps in its token and encodes its parts (quoted-printable, by binascii's C code).
Messages are produced one at a time, so memory stays flat in the number of recipients.

Tokens are ``<payload>.<mac>`` in base64url: the payload names the subscriber and the
newsletter, the MAC is HMAC-SHA256 under a key derived from ``NEWSROOM_SECRET``. They are
checked in constant time; a token of the wrong shape, length or signature is just invalid.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage, MIMEPart
from email.policy import SMTP as _SMTP
from email.utils import format_datetime, parseaddr
from urllib.parse import quote, urlsplit

from .config import Config, ConfigError
from .editions import Edition, Entry
from .render.digest import DigestRenderer, Links, Rendered

__all__ = ["PREVIEW_TOKEN", "MessageFactory", "Recipient", "RecipientError", "make_token", "read_token"]

PREVIEW_TOKEN = "PREVIEW-SAMPLE-TOKEN-NOT-VALID"   # marks a preview: the service refuses it
MIN_SECRET_LENGTH = 16
MAX_TOKEN_LENGTH = 512
_TOKEN_PURPOSE = b"newsroom subscriber token v1"
# Headers are folded at RFC 5322's hard limit, not at 78: Python folds a long URL (one
# "word") into encoded words, and List-Unsubscribe must stay a plain <https://...> list.
SMTP = _SMTP.clone(max_line_length=998)
_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,400}\.[A-Za-z0-9_-]{43}")
_SIMPLE_NAME = re.compile(r"(?:[A-Za-z0-9]+(?: [A-Za-z0-9]+)*)?")   # needs no quoting or encoding
_SIMPLE_ADDRESS = re.compile(r"[a-z0-9._+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+")
_TOKEN_PART = re.compile(r"[^\x00-\x1f\x7f]{1,200}")
_UNSAFE_IN_HEADER = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


class RecipientError(ValueError):
    """An address no message can be written to (the send marks it failed and goes on)."""


@dataclass(frozen=True)
class Recipient:
    """Who a message goes to: a subscriber of one newsletter."""

    id: str                          # stable and opaque: it is what tokens name
    email: str
    name: str = ""
    topics: tuple[str, ...] = ()     # narrowed to these; empty: the whole newsletter


# -- tokens -------------------------------------------------------------------------------


def _key(secret: str, purpose: str = "subscriber") -> bytes:
    if len(secret) < MIN_SECRET_LENGTH:
        raise ConfigError("NEWSROOM_SECRET is too short to sign with "
                          f"(at least {MIN_SECRET_LENGTH} characters)")
    label = _TOKEN_PURPOSE if purpose == "subscriber" else f"newsroom {purpose} token v1".encode()
    return hmac.new(secret.encode("utf-8"), label, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def make_token(secret: str, subscriber_id: str, newsletter_id: str, purpose: str = "subscriber") -> str:
    """The token of one subscriber of one newsletter, for unsubscribe and preference links
    (``purpose`` "subscriber"), or for another purpose ("confirm"): a token of one purpose
    is never valid for another."""
    for name, value in (("subscriber id", subscriber_id), ("newsletter id", newsletter_id)):
        if not _TOKEN_PART.fullmatch(value):
            raise ValueError(f"a {name} in a token is 1 to 200 printable characters without a line break")
    payload = f"{subscriber_id}\n{newsletter_id}".encode()
    if len(payload) > 300:   # what read_token accepts (400 base64 characters)
        raise ValueError("a token's subscriber and newsletter ids are at most 300 bytes together")
    mac = hmac.new(_key(secret, purpose), payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(mac)}"


def read_token(secret: str, token: str, purpose: str = "subscriber") -> tuple[str, str] | None:
    """``(subscriber_id, newsletter_id)`` of a genuine token; None for anything else."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or not _TOKEN.fullmatch(token):
        return None
    payload_text, mac_text = token.split(".")
    try:
        payload = base64.urlsafe_b64decode(payload_text + "=" * (-len(payload_text) % 4))
        mac = base64.urlsafe_b64decode(mac_text + "=")
    except (binascii.Error, ValueError):
        return None
    if _b64(payload) != payload_text or _b64(mac) != mac_text:   # one spelling per token
        return None
    if not hmac.compare_digest(mac, hmac.new(_key(secret, purpose), payload, hashlib.sha256).digest()):
        return None
    subscriber_id, _, newsletter_id = payload.decode("utf-8", "replace").partition("\n")
    return subscriber_id, newsletter_id


# -- messages -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Variant:
    """The edition rendered for one set of topics, its parts already encoded: each part is
    the quoted-printable text between the places where a recipient's token goes."""

    rendered: Rendered
    entries: tuple[Entry, ...]
    subject: str                 # the folded Subject line
    text: tuple[str, ...]
    html: tuple[str, ...]


class MessageFactory:
    """The messages of one edition. ``secret`` signs the recipients' tokens; with
    ``preview`` every link carries :data:`PREVIEW_TOKEN` instead (and no secret is needed).

    :meth:`message_bytes` writes a message the way SMTP carries it, from pieces prepared
    once per edition and variant; :meth:`message` builds the same message as an
    ``EmailMessage`` (its ``as_bytes()`` is byte for byte the same, which the tests hold
    it to). The sender uses the bytes: the email package's generator would spend most of
    the time of a send re-reading each message line by line."""

    def __init__(self, config: Config, renderer: DigestRenderer, edition: Edition, now: datetime,
                 secret: str | None, preview: bool = False):
        if not preview and not secret:
            raise ConfigError("NEWSROOM_SECRET is not set: it signs the unsubscribe links of every "
                              "message; set it in the environment (a preview needs none)")
        if secret and not preview:
            _key(secret)   # too short: an error now, not at the first recipient
        self.config, self.renderer, self.edition = config, renderer, edition
        self._secret, self._preview = secret, preview
        self.placeholder = f"nrtoken{secrets.token_hex(12)}"   # content cannot know it
        self.refused: list[tuple[Recipient, str]] = []           # by messages(): bad addresses
        self._variants: dict[frozenset[str], _Variant | None] = {}
        self._domain = urlsplit(config.site.base_url).hostname or "localhost"
        newsletter = edition.newsletter
        sender_name, self._sender_address = parseaddr(config.delivery.sender)
        self._boundary = f"=_newsroom_{hashlib.sha256(edition.id.encode()).hexdigest()[:24]}"
        # the headers every message of the edition shares, parsed and folded once
        self._from = _header("From", Address(display_name=_one_line(sender_name),
                                             addr_spec=self._sender_address))
        self._shared = [
            _header("Date", format_datetime(now)),
            _header("List-Id", f"{_one_line(newsletter.title)} <{newsletter.id}.{self._domain}>"),
            # RFC 8058 one-click needs an https link; a plain-http service (a local test) gets none
            *([_header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")]
              if config.service_url.startswith("https://") else []),
            _header("MIME-Version", "1.0"),
            _header("Content-Type", f'multipart/alternative; boundary="{self._boundary}"'),
        ]
        self._part_headers = {subtype: [_header("Content-Type", f"text/{subtype}; charset=utf-8"),
                                        _header("Content-Transfer-Encoding", "quoted-printable")]
                              for subtype in ("plain", "html")}
        self._head = _fold(self._from)
        self._shared_lines = "".join(_fold(h) for h in self._shared)
        self._part_heads = {subtype: "".join(_fold(h) for h in headers) + "\r\n"
                            for subtype, headers in self._part_headers.items()}

    @property
    def sender_address(self) -> str:
        """The envelope sender (the address of ``[delivery] from``)."""
        return self._sender_address

    def message_id(self, recipient: Recipient) -> str:
        return self._message_id(recipient)

    def links(self, token: str) -> Links:
        base = self.config.service_url
        return Links(unsubscribe=f"{base}unsubscribe?token={token}",
                     preferences=f"{base}preferences?token={token}")

    def variant(self, topics: Iterable[str] = ()) -> _Variant | None:
        """The edition rendered for subscribers narrowed to ``topics`` (None: nothing for them)."""
        key = frozenset(topics)
        if key not in self._variants:
            entries = self.edition.for_topics(key)
            self._variants[key] = self._prepare(entries) if entries else None
        return self._variants[key]

    def _prepare(self, entries: tuple[Entry, ...]) -> _Variant:
        rendered = self.renderer.email(self.edition, entries, self.links(self.placeholder))
        subject = _header("Subject", _one_line(rendered.subject))
        return _Variant(rendered, entries, _fold(subject), _qp_segments(rendered.text, self.placeholder),
                        _qp_segments(rendered.html, self.placeholder))

    def token(self, recipient: Recipient) -> str:
        if self._preview:
            return PREVIEW_TOKEN
        return make_token(self._secret or "", recipient.id, self.edition.newsletter.id)

    def message_bytes(self, recipient: Recipient) -> bytes | None:
        """``recipient``'s message as SMTP carries it (CRLF lines), or None when none of the
        edition matches their topics."""
        variant = self.variant(recipient.topics)
        if variant is None:
            return None
        token = self.token(recipient)
        boundary = self._boundary
        return "".join((
            self._head, self._to_line(recipient), variant.subject, self._shared_lines,
            _plain_line("Message-ID", self._message_id(recipient)),
            _plain_line("List-Unsubscribe", self._unsubscribe_header(token)), "\r\n",
            f"--{boundary}\r\n", self._part_heads["plain"], _qp_join(variant.text, token), "\r\n",
            f"--{boundary}\r\n", self._part_heads["html"], _qp_join(variant.html, token), "\r\n",
            f"--{boundary}--\r\n",
        )).encode("ascii")

    def message(self, recipient: Recipient) -> EmailMessage | None:
        """``recipient``'s message as an ``EmailMessage``, or None when none of the edition
        matches their topics."""
        variant = self.variant(recipient.topics)
        if variant is None:
            return None
        token = self.token(recipient)
        message = EmailMessage(policy=SMTP)
        message["From"] = self._from
        message["To"] = self._to(recipient)
        message["Subject"] = _one_line(variant.rendered.subject)
        for header in self._shared:
            message[header.name] = header
        message["Message-ID"] = self._message_id(recipient)
        message["List-Unsubscribe"] = self._unsubscribe_header(token)
        for subtype, segments in (("plain", variant.text), ("html", variant.html)):
            part = MIMEPart(policy=SMTP)
            for header in self._part_headers[subtype]:
                part[header.name] = header
            part.set_payload(_qp_join(segments, token).replace("\r\n", "\n"))
            message.attach(part)
        return message

    def messages(self, recipients: Iterable[Recipient]) -> Iterator[tuple[Recipient, EmailMessage | None]]:
        """Each recipient with their message (None: nothing matched, skip them), one at a
        time. A recipient whose address cannot be written is skipped and listed in
        :attr:`refused`; the others still get theirs."""
        for recipient in recipients:
            try:
                yield recipient, self.message(recipient)
            except RecipientError as exc:
                self.refused.append((recipient, str(exc)))

    def _to_line(self, recipient: Recipient) -> str:
        """The folded To header; a plain name and address written directly (what the
        email package writes for them, and a fifth of a message's cost when parsed)."""
        name = _one_line(recipient.name)
        if _SIMPLE_NAME.fullmatch(name) and _SIMPLE_ADDRESS.fullmatch(recipient.email):
            return f"To: {name} <{recipient.email}>\r\n" if name else f"To: {recipient.email}\r\n"
        return _fold(self._to(recipient))

    def _to(self, recipient: Recipient):
        """The To header, checked: one address, exactly the recipient's, on one line."""
        address = envelope_address(recipient.email)
        name = _one_line(recipient.name)
        if "=?" in name:   # would be decoded as an encoded word, and could carry a line break
            name = ""
        try:
            header = _header("To", Address(display_name=name, addr_spec=address))
            folded = _fold(header)
        except (ValueError, IndexError, TypeError) as exc:
            raise RecipientError(f"{recipient.email!r}: {exc}") from None
        if [a.addr_spec for a in header.addresses] != [address] or "\n" in folded.rstrip("\r\n"):
            raise RecipientError(f"{recipient.email!r}: the address does not make one clean To header")
        return header

    def _unsubscribe_header(self, token: str) -> str:
        unsubscribe = self.links(token).unsubscribe
        return f"<{unsubscribe}>, <mailto:{self._sender_address}?subject={quote('unsubscribe ' + token)}>"

    def _message_id(self, recipient: Recipient) -> str:
        """Unique per edition and recipient, and the same if the message is rendered again
        (a resend after a crash is recognizably the same message)."""
        who = hashlib.sha256(f"{self.edition.id}\n{recipient.id}".encode()).hexdigest()[:20]
        return f"<{self.edition.newsletter.id}.{self.edition.label}.{who}@{self._domain}>"


def _header(name: str, value):
    """A parsed header (what ``message[name] = value`` stores), to reuse or fold."""
    return SMTP.header_factory(name, value)


def _fold(header) -> str:
    return header.fold(policy=SMTP)


def _plain_line(name: str, value: str) -> str:
    """A header of ASCII text we made (Message-ID, List-Unsubscribe) as the policy folds it:
    as is, while it fits a line."""
    if value.isascii() and len(name) + len(value) < 990 and "=?" not in value and value.isprintable():
        return f"{name}: {value}\r\n"
    return _fold(_header(name, value))


def _qp_segments(body: str, placeholder: str) -> tuple[str, ...]:
    """``body`` quoted-printable (binascii's C encoder), cut where ``placeholder`` stood,
    every segment but the last ending in a soft line break's ``=`` (its last line cut
    first if the ``=`` would make it longer than 76). Line breaks become CRLF; a bare CR
    (never valid in mail) becomes a line break first."""
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    pieces = [binascii.b2a_qp(piece.encode("utf-8"), istext=True).decode("ascii").replace("\n", "\r\n")
              for piece in body.split(placeholder)]
    return (*(_soft_end(piece) for piece in pieces[:-1]), pieces[-1])


def _soft_end(segment: str) -> str:
    start = segment.rfind("\r\n") + 2 if "\r\n" in segment else 0
    last = segment[start:]
    if len(last) <= 75:
        return segment + "="
    cut = 73
    while cut > 1 and "=" in last[cut - 2:cut]:   # never between an = and its two hex digits
        cut -= 1
    return f"{segment[:start]}{last[:cut]}=\r\n{last[cut:]}="


def _qp_join(segments: tuple[str, ...], token: str) -> str:
    """The encoded part with ``token`` where the placeholder was. The token (letters,
    digits, ``-_.``: literal in quoted-printable) goes on lines of its own between soft
    line breaks, so no line grows past 76 characters and the decoded text is exact."""
    if len(segments) == 1:
        return segments[0]
    lines = "=\r\n".join(token[i:i + 75] for i in range(0, len(token), 75))
    return f"\r\n{lines}=\r\n".join(segments)


def _one_line(text: str) -> str:
    """Text for a header: controls and line breaks become spaces, and ``=?`` (which mail
    readers, and Python, decode as an encoded word that can hold a line break) is broken
    up: nothing in it can start another header."""
    return " ".join(_UNSAFE_IN_HEADER.sub(" ", text).split()).replace("=?", "= ?")


def envelope_address(email: str) -> str:
    """``local@domain`` as SMTP carries it (the To header and RCPT TO): an internationalized
    domain in punycode; a non-ASCII local part needs SMTPUTF8, which Newsroom does not send,
    and is refused."""
    if not isinstance(email, str) or email.count("@") != 1 or _UNSAFE_IN_HEADER.search(email) \
            or any(ch in email for ch in ' \t<>,;"()[]\\'):
        raise RecipientError(f"{email!r} is not one plain address")
    local, domain = email.split("@")
    if not local or not domain or not local.isascii():
        raise RecipientError(f"{email!r}: a non-ASCII part before the @ needs SMTPUTF8, which is not sent")
    try:
        domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise RecipientError(f"{email!r}: the domain is not a valid internationalized name") from None
    return f"{local}@{domain}"
