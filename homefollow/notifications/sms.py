"""SMS senders: Twilio (through the real twilio library) and a log sender for set-ups
without Twilio credentials, which records what would have been sent."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from .errors import PermanentError, TransientError

log = logging.getLogger(__name__)

# Twilio error codes that mean the number can never receive this message.
# https://www.twilio.com/docs/api/errors
PERMANENT_TWILIO_CODES = {
    21211,  # invalid 'To' phone number
    21214,  # 'To' number cannot be reached
    21408,  # sending to this region not enabled
    21610,  # recipient replied STOP
    21612,  # cannot route to this number
    21614,  # 'To' is not a mobile number
}


@dataclass(frozen=True)
class Accepted:
    provider: str
    ref: str


class SmsSender(Protocol):
    name: str

    def send(self, to: str, body: str, *, status_callback: str | None = None) -> Accepted: ...


class LogSmsSender:
    """Used when no Twilio account is configured: nothing leaves the machine, the outbox row
    shows provider 'log' so admins can see what would have been sent."""

    name = "log"

    def send(self, to: str, body: str, *, status_callback: str | None = None) -> Accepted:
        log.info("SMS (not sent, no Twilio configured) to %s: %s", to, body)
        return Accepted(self.name, f"log-{uuid.uuid4().hex[:12]}")


class _BaseUrlHttpClient(TwilioHttpClient):
    """Sends Twilio API calls to another base URL (a local fake Twilio in tests and demos)."""

    def __init__(self, base_url: str, **kwargs):
        super().__init__(**kwargs)
        self._base = urlsplit(base_url)

    def request(self, method, url, *args, **kwargs):
        parts = urlsplit(url)
        if parts.hostname and parts.hostname.endswith("twilio.com"):
            url = urlunsplit((self._base.scheme, self._base.netloc, self._base.path.rstrip("/") + parts.path,
                              parts.query, parts.fragment))
        return super().request(method, url, *args, **kwargs)


class TwilioSmsSender:
    name = "twilio"

    def __init__(self, account_sid: str, auth_token: str, from_number: str, api_base_url: str | None = None,
                 timeout: float = 10.0):
        http_client = _BaseUrlHttpClient(api_base_url, timeout=timeout) if api_base_url else TwilioHttpClient(timeout=timeout)
        self.client = Client(account_sid, auth_token, http_client=http_client)
        self.from_number = from_number

    def send(self, to: str, body: str, *, status_callback: str | None = None) -> Accepted:
        kwargs = {"to": to, "from_": self.from_number, "body": body}
        if status_callback:
            kwargs["status_callback"] = status_callback
        try:
            message = self.client.messages.create(**kwargs)
        except TwilioRestException as exc:
            if exc.code in PERMANENT_TWILIO_CODES or (exc.status in (400, 404) and exc.code is not None):
                raise PermanentError(f"Twilio {exc.status} {exc.code}: {exc.msg}", code=str(exc.code)) from exc
            raise TransientError(f"Twilio {exc.status} {exc.code}: {exc.msg}", code=str(exc.code)) from exc
        except requests.RequestException as exc:
            raise TransientError(f"Twilio unreachable: {exc.__class__.__name__}") from exc
        return Accepted(self.name, message.sid)
