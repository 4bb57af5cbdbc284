"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives.

Recipients can be refused for good (`refuse[address] = "permanent"`: 550 on RCPT TO) or for
now (`"transient"`: 451 on RCPT TO), and scripted per recipient, one answer per delivery
attempt, consumed in order (`script[address] = ["rcpt:451", "ok"]`):

    "ok"          accepted
    "rcpt:451"    451 4.3.0 on RCPT TO (try again later)
    "rcpt:550"    550 5.1.1 on RCPT TO (no such user)
    "data:451"    RCPT TO accepted, 451 4.3.0 after DATA
    "data:550"    RCPT TO accepted, 550 5.7.1 after DATA

Every RCPT TO and DATA is recorded in `attempts`.
"""

from __future__ import annotations

import email
import socket
import threading
import time
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller

REPLIES = {
    "rcpt:451": "451 4.3.0 Mailbox temporarily unavailable, try again later",
    "rcpt:550": "550 5.1.1 No such user here",
    "data:451": "451 4.3.0 Temporary local problem, try again later",
    "data:550": "550 5.7.1 Message rejected",
}


@dataclass
class ReceivedMail:
    sender: str
    recipients: list[str]
    subject: str
    body: str
    received_at: float = field(default_factory=time.time)


@dataclass
class SmtpAttempt:
    recipient: str
    stage: str  # "rcpt" or "data"
    reply: str  # the reply's first line, e.g. "250 OK"
    at: float = field(default_factory=time.time)

    @property
    def code(self) -> int:
        return int(self.reply[:3])


@dataclass
class _Handler:
    received: list[ReceivedMail] = field(default_factory=list)
    refuse: dict[str, str] = field(default_factory=dict)  # address -> "permanent" | "transient"
    script: dict[str, list[str]] = field(default_factory=dict)  # address -> answers, one per attempt
    attempts: list[SmtpAttempt] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def _answer_for(self, address: str) -> str:
        with self.lock:
            queue = self.script.get(address)
            if queue:
                return queue.pop(0)
        return {"permanent": "rcpt:550", "transient": "rcpt:451"}.get(self.refuse.get(address, ""), "ok")

    def _record(self, recipient: str, stage: str, reply: str) -> str:
        with self.lock:
            self.attempts.append(SmtpAttempt(recipient, stage, reply))
        return reply

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        answer = self._answer_for(address)
        if answer.startswith("rcpt:"):
            return self._record(address, "rcpt", REPLIES[answer])
        if answer.startswith("data:"):
            envelope.scripted_data_reply = REPLIES[answer]  # refuse the whole message after DATA
        envelope.rcpt_tos.append(address)
        return self._record(address, "rcpt", "250 OK")

    async def handle_DATA(self, server, session, envelope):
        reply = getattr(envelope, "scripted_data_reply", None)
        if reply is not None:
            for recipient in envelope.rcpt_tos:
                self._record(recipient, "data", reply)
            return reply
        message = email.message_from_bytes(envelope.content)
        body = message.get_payload(decode=True).decode() if not message.is_multipart() else ""
        with self.lock:
            self.received.append(ReceivedMail(envelope.mail_from, list(envelope.rcpt_tos), message["Subject"], body))
        for recipient in envelope.rcpt_tos:
            self._record(recipient, "data", "250 Message accepted")
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

    @property
    def script(self) -> dict[str, list[str]]:
        return self.handler.script

    @property
    def attempts(self) -> list[SmtpAttempt]:
        return self.handler.attempts

    def to(self, address: str) -> list[ReceivedMail]:
        with self.handler.lock:
            return [m for m in self.handler.received if address in m.recipients]

    def attempts_to(self, address: str) -> list[SmtpAttempt]:
        with self.handler.lock:
            return [a for a in self.handler.attempts if a.recipient == address]

    def stop(self) -> None:
        self.controller.stop()
