"""E-mail senders: SMTP, and a log sender when no SMTP server is configured."""

from __future__ import annotations

import logging
import smtplib
import uuid
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Protocol

from .errors import PermanentError, TransientError
from .sms import Accepted

log = logging.getLogger(__name__)


class EmailSender(Protocol):
    name: str

    def send(self, to: str, subject: str, body: str) -> Accepted: ...


class LogEmailSender:
    name = "log"

    def send(self, to: str, subject: str, body: str) -> Accepted:
        log.info("E-mail (not sent, no SMTP configured) to %s: %s", to, subject)
        return Accepted(self.name, f"log-{uuid.uuid4().hex[:12]}")


class SmtpEmailSender:
    name = "smtp"

    def __init__(self, host: str, port: int, sender: str, username: str | None = None,
                 password: str | None = None, starttls: bool = False, timeout: float = 5.0):
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password, self.starttls, self.timeout = username, password, starttls, timeout

    def send(self, to: str, subject: str, body: str) -> Accepted:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message_id = make_msgid(domain="homefollow")
        message["Message-ID"] = message_id
        message.set_content(body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            # 4xx ("451 try again later", a full mailbox) is transient; only 5xx is for good.
            codes = [code for code, _text in exc.recipients.values()]
            if codes and all(400 <= code < 500 for code in codes):
                raise TransientError(f"recipient deferred: {exc.recipients}") from exc
            raise PermanentError(f"recipient refused: {exc.recipients}") from exc
        except smtplib.SMTPResponseException as exc:
            if 500 <= exc.smtp_code < 600:
                raise PermanentError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
            raise TransientError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
        except (TimeoutError, smtplib.SMTPException, OSError) as exc:
            raise TransientError(f"SMTP unreachable: {exc.__class__.__name__}") from exc
        return Accepted(self.name, message_id)
