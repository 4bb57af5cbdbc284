"""Helpers for tests that drive real HomeFollow processes (`flask serve`, `flask scheduler run`)."""

from __future__ import annotations

import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER

ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "process-test-secret-key-0123456789abcdef"


def wait_for(condition, timeout: float, what: str, interval: float = 0.05):
    """Poll until `condition()` is truthy (and return it), or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_env(database_url: str, twilio_base_url: str | None = None, **extra: str) -> dict[str, str]:
    """The environment of a production-like process: no demo, no settings from the caller's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "SMTP_", "HOMEFOLLOW_"))}
    env.update(DATABASE_URL=database_url, SECRET_KEY=SECRET_KEY, SCHEDULER_TICK_SECONDS="1",
               PUBLIC_BASE_URL="https://homefollow.test")  # production refuses to start without it
    if twilio_base_url:
        env.update(TWILIO_ACCOUNT_SID=ACCOUNT_SID, TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_FROM_NUMBER=FROM_NUMBER,
                   TWILIO_API_BASE_URL=twilio_base_url)
    env.update(extra)
    return env


def start_flask(args: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """`flask --app wsgi <args>`, its output (the log) into `log_path`."""
    log = log_path.open("ab")
    try:
        return subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT)
    finally:
        log.close()  # the child has its own copy


def stop(process: subprocess.Popen, timeout: float = 20, signum: int = signal.SIGTERM) -> int:
    """SIGTERM (or `signum`) and the exit code (SIGKILL, and a failure, if it does not end in time)."""
    process.send_signal(signum)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(f"pid {process.pid} did not stop within {timeout} s of signal {signum}") from None


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def running(pid: int) -> bool:
    """Whether the process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


class HangingServer:
    """Accepts HTTP requests and never answers them: a provider that hangs."""

    def __init__(self):
        self.requests = 0
        self._release = threading.Event()
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                self.request.recv(65536)
                server.requests += 1
                server._release.wait(120)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True

        self._server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
