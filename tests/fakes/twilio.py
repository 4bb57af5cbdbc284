"""A local fake of Twilio's Messages API, for the real `twilio` library to talk to over HTTP.

It checks HTTP basic auth like Twilio, records accepted messages, and can be told to answer
a recipient with a transient error (500 / 429) or a permanent one (400, code 21211). It also
sends signed delivery-status callbacks and inbound messages to the app, as Twilio does.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "fake-twilio-auth-token"
FROM_NUMBER = "+4759440000"

_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC\w+)/Messages\.json$")


@dataclass
class SentMessage:
    sid: str
    to: str
    from_: str
    body: str
    status_callback: str | None


@dataclass
class FakeTwilio:
    messages: list[SentMessage] = field(default_factory=list)
    # recipient -> list of scripted answers consumed in order: "ok", "transient", "rate_limited", "permanent"
    script: dict[str, list[str]] = field(default_factory=dict)
    requests: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def answer_for(self, to: str) -> str:
        with self.lock:
            queue = self.script.get(to)
            return queue.pop(0) if queue else "ok"

    def to(self, number: str) -> list[SentMessage]:
        return [m for m in self.messages if m.to == number]

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


def _handler(fake: FakeTwilio):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep test output clean
            pass

        def _reply(self, status: int, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            fake.requests += 1
            match = _PATH.match(self.path)
            if not match:
                return self._reply(404, {"code": 20404, "message": "The requested resource was not found", "status": 404})
            expected = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
            if self.headers.get("Authorization") != expected or match["sid"] != ACCOUNT_SID:
                return self._reply(401, {"code": 20003, "message": "Authenticate", "status": 401})
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in urllib.parse.parse_qs(self.rfile.read(length).decode()).items()}
            to = form.get("To", "")
            answer = fake.answer_for(to)
            if answer == "transient":
                return self._reply(500, {"code": 20500, "message": "Internal Server Error", "status": 500})
            if answer == "rate_limited":
                return self._reply(429, {"code": 20429, "message": "Too Many Requests", "status": 429})
            if answer == "permanent" or not to.startswith("+"):
                return self._reply(400, {"code": 21211, "message": f"The 'To' number {to} is not a valid phone number.",
                                         "status": 400})
            message = SentMessage(sid="SM" + uuid.uuid4().hex, to=to, from_=form.get("From", ""),
                                  body=form.get("Body", ""), status_callback=form.get("StatusCallback"))
            with fake.lock:
                fake.messages.append(message)
            now = formatdate(usegmt=True)
            return self._reply(201, {"sid": message.sid, "account_sid": ACCOUNT_SID, "to": to, "from": message.from_,
                                     "body": message.body, "status": "queued", "date_created": now,
                                     "date_updated": now, "num_segments": "1", "direction": "outbound-api"})

    return Handler


def start_fake_twilio() -> FakeTwilio:
    fake = FakeTwilio()
    fake.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    threading.Thread(target=fake.server.serve_forever, daemon=True).start()
    return fake
