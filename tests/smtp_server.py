"""A real SMTP server on loopback (aiosmtpd) for the tests and the sending benchmark, with
answers a test can script: a delay per message, 4xx a few times or 5xx for some
recipients, a dropped connection."""

from __future__ import annotations

import asyncio
import socket
import threading
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller


@dataclass
class Script:
    delay: float = 0.0                                        # seconds per message (DATA)
    temporary: dict[str, int] = field(default_factory=dict)   # address -> 451s to answer first
    permanent: set[str] = field(default_factory=set)          # addresses answered 550
    drop_after: int | None = None     # every n-th message of a connection: closed at MAIL FROM
    silent_after_data: set[str] = field(default_factory=set)   # taken, then closed without an answer
    refuse_sender: bool = False       # 553 to MAIL FROM


class Recorder:
    """The handler: records each accepted message (recipient, bytes)."""

    def __init__(self, script: Script | None = None):
        self.script = script or Script()
        self.messages: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self._per_connection: dict[int, int] = {}
        self.drops = 0

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.script.refuse_sender:
            return "553 5.7.1 sender not allowed"
        with self.lock:
            count = self._per_connection.get(id(session), 0) + 1
            self._per_connection[id(session)] = count
            if self.script.drop_after and count % self.script.drop_after == 0:
                self.drops += 1
                server.transport.close()   # an idle connection the server dropped
                return "421 4.4.2 closing"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        script = self.script
        if address in script.permanent:
            return "550 5.1.1 no such user"
        with self.lock:
            left = script.temporary.get(address, 0)
            if left:
                script.temporary[address] = left - 1
                return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.script.delay:
            await asyncio.sleep(self.script.delay)
        with self.lock:
            for rcpt in envelope.rcpt_tos:
                self.messages.append((rcpt, envelope.original_content or envelope.content))
        if set(envelope.rcpt_tos) & self.script.silent_after_data:
            server.transport.close()   # delivered, but the client never hears so
        return "250 OK"

    def recipients(self) -> list[str]:
        with self.lock:
            return [r for r, _ in self.messages]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpServer:
    def __init__(self, script: Script | None = None):
        self.handler = Recorder(script)
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port,
                                     decode_data=False, enable_SMTPUTF8=False, data_size_limit=50_000_000)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()
