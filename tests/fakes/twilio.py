"""A local fake of Twilio's Messages API, for the real `twilio` library to talk to over HTTP.

It checks HTTP basic auth like Twilio, records every POST attempt and every accepted message,
and lists accepted messages (GET Messages.json, filtered and paged as Twilio does) so the app
can ask whether a message whose fate it does not know was accepted. It also sends signed
delivery-status callbacks and inbound messages to the app, as Twilio does.

Answers are scripted per recipient (`script`, consumed in order), per recipient until changed
(`modes`), or for everyone (`mode`); the first that has one wins, else "ok":

    "ok"                    201, the message is accepted
    "transient"             500, code 20500
    "rate_limited[:N]"      429, code 20429; with N, a `Retry-After: N` header (seconds)
    "permanent"             400, code 21211 (invalid 'To' number)
    "opted_out"             400, code 21610 (the recipient replied STOP)
    "hang[:N]"              hold the request N seconds (or until `release()`), then 500
    "accept_then_hang[:N]"  accept the message (it is in `messages` and in the listing), then
                            answer 201 only after N seconds (or on `release()`): a client with a
                            shorter timeout never learns that it was accepted

`stop()` closes the listening socket (new connections are refused); `restart()` listens on the
same port again. `list_mode` answers the listing: "ok", "transient" (500) or "hang[:N]".
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, UTC
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "fake-twilio-auth-token"
FROM_NUMBER = "+4759440000"

_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC\w+)/Messages\.json$")
MESSAGES_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
DEFAULT_PAGE_SIZE = 50  # Twilio's default
MAX_PAGE_SIZE = 1000


def rfc2822(at: datetime) -> str:
    """Twilio's date format: 'Mon, 07 Dec 2026 05:45:52 +0000'."""
    return format_datetime(at.astimezone(UTC).replace(microsecond=0))


@dataclass
class SentMessage:
    sid: str
    to: str
    from_: str
    body: str
    status_callback: str | None
    received_at: float = field(default_factory=time.time)  # when the fake accepted it (time.time())

    @property
    def date_sent(self) -> datetime:
        """Twilio sets date_sent when the message leaves for the carrier; here at once."""
        return datetime.fromtimestamp(self.received_at, UTC)

    def resource(self, status: str = "sent") -> dict:
        """The message as Twilio's API shows it."""
        at = rfc2822(self.date_sent)
        uri = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/{self.sid}.json"
        return {"account_sid": ACCOUNT_SID, "api_version": "2010-04-01", "body": self.body,
                "date_created": at, "date_sent": at if status != "queued" else None, "date_updated": at,
                "direction": "outbound-api", "error_code": None, "error_message": None, "from": self.from_,
                "messaging_service_sid": None, "num_media": "0", "num_segments": "1", "price": None,
                "price_unit": "USD", "sid": self.sid, "status": status, "to": self.to, "uri": uri,
                "subresource_uris": {"media": uri.replace(".json", "/Media.json"),
                                     "feedback": uri.replace(".json", "/Feedback.json")}}


@dataclass
class Attempt:
    """One POST to Messages.json, whatever became of it."""

    to: str
    body: str
    answer: str  # the scripted answer used ("ok", "transient", "hang", ...)
    at: float  # when the request arrived (time.time())
    status: int | None = None  # the HTTP status answered; None while held (or the client left)
    answered_at: float | None = None


@dataclass
class ListRequest:
    query: dict[str, str]
    at: float
    status: int | None = None
    found: int = 0  # messages on the page answered


def _parse_answer(answer: str) -> tuple[str, float | None]:
    kind, _, arg = answer.partition(":")
    return kind, (float(arg) if arg else None)


def _date_filter(value: str) -> tuple[datetime | date, bool]:
    """A DateSent filter value: 'YYYY-MM-DD' (a whole day) or 'YYYY-MM-DDTHH:MM:SSZ'."""
    if "T" in value:
        return datetime.strptime(value.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S%z"), True
    return date.fromisoformat(value), False


def _matches_dates(message: SentMessage, query: dict[str, str]) -> bool:
    """`DateSent=` is a day; `DateSent>=` / `DateSent<=` (in the query string the keys are
    'DateSent>' and 'DateSent<') are inclusive bounds, a day or a moment to the second."""
    sent = message.date_sent.replace(microsecond=0)
    if "DateSent" in query:
        bound, is_datetime = _date_filter(query["DateSent"])
        if sent.date() != (bound.date() if is_datetime else bound):
            return False
    for key, compare in (("DateSent>", lambda a, b: a >= b), ("DateSent<", lambda a, b: a <= b)):
        if key in query:
            bound, is_datetime = _date_filter(query[key])
            if not compare(sent if is_datetime else sent.date(), bound):
                return False
    return True


@dataclass
class FakeTwilio:
    messages: list[SentMessage] = field(default_factory=list)
    # recipient -> scripted answers consumed in order (see the module docstring)
    script: dict[str, list[str]] = field(default_factory=dict)
    # recipient -> answer for every request until changed
    modes: dict[str, str] = field(default_factory=dict)
    # the answer for every recipient without a script or mode of its own
    mode: str = "ok"
    list_mode: str = "ok"
    requests: int = 0  # POSTs to Messages.json
    attempts: list[Attempt] = field(default_factory=list)
    list_requests: list[ListRequest] = field(default_factory=list)
    held: int = 0  # requests being held right now (hang, accept_then_hang)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    address: tuple[str, int] = ("127.0.0.1", 0)
    _release: threading.Event = field(default_factory=threading.Event)

    @property
    def base_url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    def answer_for(self, to: str) -> str:
        with self.lock:
            queue = self.script.get(to)
            if queue:
                return queue.pop(0)
            return self.modes.get(to) or self.mode or "ok"

    def to(self, number: str) -> list[SentMessage]:
        with self.lock:
            return [m for m in self.messages if m.to == number]

    def attempts_to(self, number: str) -> list[Attempt]:
        with self.lock:
            return [a for a in self.attempts if a.to == number]

    # --- faults --------------------------------------------------------------------------

    def release(self) -> None:
        """Let every request held now go (hang: 500; accept_then_hang: 201). Later holds wait anew."""
        with self.lock:
            event, self._release = self._release, threading.Event()
        event.set()

    def _hold(self, seconds: float | None) -> None:
        with self.lock:
            event = self._release
            self.held += 1
        try:
            event.wait(seconds)
        finally:
            with self.lock:
                self.held -= 1

    def stop(self) -> None:
        """Close the listening socket: connecting now fails with 'connection refused'."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def restart(self) -> None:
        """Listen again on the same port."""
        self.server = _Server(self.address, _handler(self))
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release()
        self.stop()

    # --- what Twilio sends to the app ---------------------------------------------------

    def post_signed(self, url: str, params: dict[str, str], signature_url: str | None = None,
                    token: str = AUTH_TOKEN) -> tuple[int, str]:
        """POST form data to the app with a valid X-Twilio-Signature (or one made with `token`)."""
        signature = RequestValidator(token).compute_signature(signature_url or url, params)
        request = urllib.request.Request(url, data=urllib.parse.urlencode(params).encode(), method="POST",
                                         headers={"X-Twilio-Signature": signature,
                                                  "Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def send_status(self, message: SentMessage, status: str, error_code: str | None = None) -> tuple[int, str]:
        params = {"MessageSid": message.sid, "MessageStatus": status, "To": message.to, "From": message.from_,
                  "AccountSid": ACCOUNT_SID}
        if error_code:
            params["ErrorCode"] = error_code
        return self.post_signed(message.status_callback, params)


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True
    block_on_close = False  # closing the socket never waits for held requests


def _error(status: int, code: int, message: str) -> dict:
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}


def _handler(fake: FakeTwilio):
    class Handler(BaseHTTPRequestHandler):
        # HTTP/1.0 (the default): one request per connection, so a stopped fake refuses the
        # next request instead of serving it on a kept-alive connection.

        def log_message(self, *args):  # keep test output clean
            pass

        def _reply(self, status: int, payload: dict, headers: dict[str, str] | None = None) -> bool:
            body = json.dumps(payload).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                return True
            except OSError:  # the client gave up (timeout) or was killed
                self.close_connection = True
                return False

        def _authorised(self, match) -> bool:
            expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
            return self.headers.get("Authorization") == expected and match["sid"] == ACCOUNT_SID

        def do_GET(self):
            parts = urllib.parse.urlsplit(self.path)
            match = _PATH.match(parts.path)
            if not match:
                return self._reply(404, _error(404, 20404, "The requested resource was not found"))
            if not self._authorised(match):
                return self._reply(401, _error(401, 20003, "Authenticate"))
            query = {k: v[0] for k, v in urllib.parse.parse_qs(parts.query, keep_blank_values=True).items()}
            request = ListRequest(query=query, at=time.time())
            with fake.lock:
                fake.list_requests.append(request)
            kind, seconds = _parse_answer(fake.list_mode)
            if kind == "hang":
                fake._hold(seconds)
                kind = "transient"
            if kind == "transient":
                request.status = 500
                return self._reply(500, _error(500, 20500, "Internal Server Error"))
            try:
                size = min(int(query.get("PageSize", DEFAULT_PAGE_SIZE)), MAX_PAGE_SIZE)
                page = int(query.get("Page", 0))
                with fake.lock:
                    found = [m for m in fake.messages
                             if ("To" not in query or m.to == query["To"])
                             and ("From" not in query or m.from_ == query["From"]) and _matches_dates(m, query)]
            except ValueError as exc:
                request.status = 400
                return self._reply(400, _error(400, 20001, f"Invalid parameter: {exc}"))
            found.sort(key=lambda m: m.received_at, reverse=True)  # newest first, as Twilio lists
            records = found[page * size:(page + 1) * size]
            request.status, request.found = 200, len(records)

            def uri(page_number: int, token: str | None = None) -> str:
                params = [(k, v) for k, v in query.items() if k not in ("Page", "PageSize", "PageToken")]
                params += [("PageSize", str(size)), ("Page", str(page_number))]
                if token:
                    params.append(("PageToken", token))
                return f"{parts.path}?{urllib.parse.urlencode(params)}"

            more = (page + 1) * size < len(found)
            return self._reply(200, {
                "end": page * size + max(len(records) - 1, 0),
                "first_page_uri": uri(0),
                "messages": [m.resource() for m in records],
                "next_page_uri": uri(page + 1, "PA" + records[-1].sid) if more else None,
                "page": page,
                "page_size": size,
                "previous_page_uri": uri(page - 1, "PB" + records[0].sid) if page > 0 and records else None,
                "start": page * size,
                "uri": uri(page),
            })

        def do_POST(self):
            with fake.lock:
                fake.requests += 1
            match = _PATH.match(self.path)
            if not match:
                return self._reply(404, _error(404, 20404, "The requested resource was not found"))
            if not self._authorised(match):
                return self._reply(401, _error(401, 20003, "Authenticate"))
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in urllib.parse.parse_qs(self.rfile.read(length).decode()).items()}
            to = form.get("To", "")
            answer = fake.answer_for(to)
            attempt = Attempt(to=to, body=form.get("Body", ""), answer=answer, at=time.time())
            with fake.lock:
                fake.attempts.append(attempt)
            kind, seconds = _parse_answer(answer)

            def reply(status: int, payload: dict, headers: dict[str, str] | None = None) -> None:
                attempt.status, attempt.answered_at = status, time.time()
                self._reply(status, payload, headers)

            if kind == "hang":
                fake._hold(seconds)
                return reply(500, _error(500, 20500, "Internal Server Error"))
            if kind == "transient":
                return reply(500, _error(500, 20500, "Internal Server Error"))
            if kind == "rate_limited":
                headers = {"Retry-After": str(int(seconds))} if seconds is not None else None
                return reply(429, _error(429, 20429, "Too Many Requests"), headers)
            if kind == "opted_out":
                return reply(400, _error(400, 21610, "Attempt to send to unsubscribed recipient"))
            if kind == "permanent" or not to.startswith("+"):
                return reply(400, _error(400, 21211, f"The 'To' number {to} is not a valid phone number."))
            message = SentMessage(sid="SM" + uuid.uuid4().hex, to=to, from_=form.get("From", ""),
                                  body=form.get("Body", ""), status_callback=form.get("StatusCallback"))
            with fake.lock:
                fake.messages.append(message)
            if kind == "accept_then_hang":
                fake._hold(seconds)
            return reply(201, message.resource(status="queued"))

    return Handler


def start_fake_twilio() -> FakeTwilio:
    fake = FakeTwilio()
    fake.server = _Server(("127.0.0.1", 0), _handler(fake))
    fake.address = fake.server.server_address[:2]
    threading.Thread(target=fake.server.serve_forever, daemon=True).start()
    return fake
