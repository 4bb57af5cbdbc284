"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives.

Recipients can be scripted to be refused permanently (550) or temporarily (451)."""

from __future__ import annotations

import email
import socket
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller


@dataclass
class ReceivedMail:
    sender: str
    recipients: list[str]
    subject: str
    body: str


@dataclass
class _Handler:
    received: list[ReceivedMail] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # address -> "permanent" | "transient"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        answer = self.refuse.get(address)
        if answer == "permanent":
            return "550 5.1.1 No such user here"
        if answer == "transient":
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content)
        body = message.get_payload(decode=True).decode() if not message.is_multipart() else ""
        self.received.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), message["Subject"], body))
        return "250 Message accepted"


class FakeSmtp:
    def __init__(self):
        self.handler = _Handler()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=port)
        self.controller.start()
        self.host, self.port = "127.0.0.1", port

    @property
    def received(self) -> list[ReceivedMail]:
        return self.handler.received

    def stop(self) -> None:
        self.controller.stop()
