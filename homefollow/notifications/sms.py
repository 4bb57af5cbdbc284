"""SMS senders: Twilio (through the real twilio library) and a log sender for set-ups
without Twilio credentials, which records what would have been sent."""

from __future__ import annotations

import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3
from twilio.base.exceptions import TwilioException, TwilioRestException
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

    def find(self, to: str, ref: str, since: datetime) -> Accepted | None:
        """A message to `to` created since `since` whose text carries `ref`, if the provider
        has one (it accepted an earlier attempt); raises TransientError if it cannot tell."""


class LogSmsSender:
    """Used when no Twilio account is configured: nothing leaves the machine, the outbox row
    shows provider 'log' so admins can see what would have been sent."""

    name = "log"

    def send(self, to: str, body: str, *, status_callback: str | None = None) -> Accepted:
        log.info("SMS (not sent, no Twilio configured) to %s: %s", to, body)
        return Accepted(self.name, f"log-{uuid.uuid4().hex[:12]}")

    def find(self, to: str, ref: str, since: datetime) -> Accepted | None:
        return None  # nothing left the machine, so nothing can have been sent twice


class _HttpClient(TwilioHttpClient):
    """Twilio's HTTP client, keeping the last answer's headers (for Retry-After) and, when
    given a base URL, sending the API calls there (a local fake Twilio in tests and demos)."""

    def __init__(self, base_url: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self._base = urlsplit(base_url) if base_url else None
        self.last_headers: dict = {}

    def request(self, method, url, *args, **kwargs):
        parts = urlsplit(url)
        if self._base and parts.hostname and parts.hostname.endswith("twilio.com"):
            url = urlunsplit((self._base.scheme, self._base.netloc, self._base.path.rstrip("/") + parts.path,
                              parts.query, parts.fragment))
        self.last_headers = {}
        response = super().request(method, url, *args, **kwargs)
        self.last_headers = dict(response.headers or {})
        return response


def _retry_after(headers: dict) -> float | None:
    """Seconds from a Retry-After header (Twilio sends seconds), capped at an hour."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    try:
        return min(max(float(value), 0.0), 3600.0) if value is not None else None
    except ValueError:
        return None


def _never_reached(exc: requests.RequestException) -> bool:
    """The request cannot have reached Twilio: no connection was made."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


class TwilioSmsSender:
    name = "twilio"

    def __init__(self, account_sid: str, auth_token: str, from_number: str, api_base_url: str | None = None,
                 timeout: float = 5.0):
        self._account = (account_sid, auth_token)
        self.api_base_url, self.timeout, self.from_number = api_base_url, timeout, from_number
        self._local = threading.local()  # one client per sending thread: its headers are its own

    @property
    def client(self) -> Client:
        client = getattr(self._local, "client", None)
        if client is None:
            http = _HttpClient(self.api_base_url, timeout=self.timeout)
            client = self._local.client = Client(*self._account, http_client=http)
        return client

    def send(self, to: str, body: str, *, status_callback: str | None = None) -> Accepted:
        kwargs = {"to": to, "from_": self.from_number, "body": body}
        if status_callback:
            kwargs["status_callback"] = status_callback
        client = self.client
        try:
            message = client.messages.create(**kwargs)
        except TwilioRestException as exc:
            if exc.code in PERMANENT_TWILIO_CODES or (exc.status in (400, 404) and exc.code is not None):
                raise PermanentError(f"Twilio {exc.status} {exc.code}: {exc.msg}", code=str(exc.code)) from exc
            raise TransientError(f"Twilio {exc.status} {exc.code}: {exc.msg}", code=str(exc.code),
                                 retry_after=_retry_after(client.http_client.last_headers)) from exc
        except requests.RequestException as exc:
            raise TransientError(f"Twilio unreachable: {exc.__class__.__name__}",
                                 maybe_sent=not _never_reached(exc)) from exc
        return Accepted(self.name, message.sid)

    def find(self, to: str, ref: str, since: datetime) -> Accepted | None:
        """Look through the recent messages to `to` (newest first) for one carrying `ref`."""
        try:
            for message in self.client.messages.stream(to=to, page_size=50, limit=200):
                created = message.date_created
                if ref in (message.body or "") and (created is None or created >= since):
                    return Accepted(self.name, message.sid)
        except TwilioException as exc:  # a failed page fetch is a plain TwilioException
            raise TransientError(f"Twilio lookup failed: {exc}"[:300],
                                 retry_after=_retry_after(self.client.http_client.last_headers)) from exc
        except requests.RequestException as exc:
            raise TransientError(f"Twilio lookup failed: {exc.__class__.__name__}") from exc
        return None
