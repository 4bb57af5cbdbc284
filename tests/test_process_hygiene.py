"""Stopping the processes: `flask serve` stops its scheduler on SIGTERM as on Ctrl-C, and the
scheduler stops cleanly on SIGTERM, also in the middle of sending, losing and repeating nothing.

Real processes on a private copy of the migrated SQLite database, the real `twilio` library
against the local fake (or against a server that never answers)."""

from __future__ import annotations

import signal
import time
import urllib.request
from datetime import datetime, timedelta, UTC

import pytest
from sqlalchemy import func
from sqlmodel import Session, select

from homefollow.clock import FixedClock, SystemClock
from homefollow.db import make_engine
from homefollow.models import Channel, Heartbeat, Notification
from homefollow.notifications import outbox
from homefollow.notifications.email import LogEmailSender
from homefollow.notifications.outbox import Senders, dispatch_due
from homefollow.notifications.sms import TwilioSmsSender
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER
from tests.processes import (HangingServer, app_env, children_of, free_port, running, start_flask, stop,
                             wait_for)


@pytest.fixture
def private_db(_migrated, tmp_path):
    """A copy of this worker's migrated SQLite database, empty, for processes of the test's own."""
    target = tmp_path / "homefollow.sqlite"
    _migrated("sqlite").copy_to("empty", target)
    engine = make_engine(f"sqlite:///{target}")
    yield engine
    engine.dispose()


def heartbeats(engine) -> list[Heartbeat]:
    with Session(engine.execution_options(sqlite_begin="DEFERRED")) as s:
        return list(s.exec(select(Heartbeat)))


def statuses(engine) -> dict[str, int]:
    with Session(engine.execution_options(sqlite_begin="DEFERRED")) as s:
        return dict(s.exec(select(Notification.status, func.count()).group_by(Notification.status)).all())


def queue_sms(engine, n: int) -> list[str]:
    bodies = [f"melding {i}" for i in range(n)]
    with Session(engine) as s:
        for i, body in enumerate(bodies):
            outbox.enqueue(s, SystemClock(), dedup_key=f"hygiene-{i}", channel=Channel.SMS,
                           recipient=f"+4790{i:06d}", body=body)
        s.commit()
    return bodies


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_sigterm_or_ctrl_c_stops_flask_serve_and_its_scheduler_child(private_db, tmp_path, signum):
    port, log = free_port(), tmp_path / "serve.log"
    serve = start_flask(["serve", "--port", str(port)], app_env(str(private_db.url)), log)
    try:
        # Generous waits: on a loaded two-core machine (the browser sweeps beside it) starting
        # Python twice took over 20 s; the waits end as soon as each is there.
        [child] = wait_for(lambda: children_of(serve.pid), 60, "the scheduler child")
        wait_for(lambda: heartbeats(private_db), 60, "the scheduler's first heartbeat")
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), 60, "the web server")
        assert stop(serve, signum=signum) == 0
        assert not running(child), "the scheduler outlived `flask serve`"
        text = log.read_text()
        assert "SIGTERM received, stopping" in text and text.rstrip().endswith("stopped")  # one signal: a clean stop
    finally:
        if serve.poll() is None:
            serve.kill()
        for pid in children_of(serve.pid):
            pytest.fail(f"a child of `flask serve` is left: {pid}")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def test_sigterm_mid_batch_finishes_the_send_and_exits_0_and_nothing_is_lost_or_sent_twice(
        private_db, tmp_path, fake_twilio):
    bodies = queue_sms(private_db, 300)  # three passes of 100
    fake_twilio.mode = "accept_then_hang:0.2"  # a slow provider: each message takes 0.2 s
    env, log = app_env(str(private_db.url), fake_twilio.base_url), tmp_path / "scheduler.log"
    scheduler = start_flask(["scheduler", "run"], env, log)
    try:
        wait_for(lambda: len(fake_twilio.messages) >= 5, 30, "the first messages at the provider")
        wait_for(lambda: statuses(private_db).get("sending"), 10, "sends in progress")
        assert stop(scheduler) == 0
    finally:
        if scheduler.poll() is None:
            scheduler.kill()
    text = log.read_text()
    assert "SIGTERM received, stopping" in text and text.rstrip().endswith("stopped")
    left = statuses(private_db)
    assert left.get("sending", 0) == 0  # the sends in progress were finished, not left claimed
    assert 0 < left.get("sent", 0) < len(bodies)  # it stopped mid-way, taking no new pass
    fake_twilio.mode = "ok"
    assert sorted(m.body for m in fake_twilio.messages) == sorted(set(m.body for m in fake_twilio.messages))
    assert len(fake_twilio.messages) == left["sent"]  # what the provider accepted is what is marked sent

    again = start_flask(["scheduler", "run"], env, log)  # the rest goes out after a restart
    try:
        wait_for(lambda: statuses(private_db) == {"sent": len(bodies)}, 60, "every message sent")
        assert stop(again) == 0
    finally:
        if again.poll() is None:
            again.kill()
    assert sorted(m.body for m in fake_twilio.messages) == sorted(bodies)  # each exactly once


def test_while_the_provider_hangs_the_heartbeat_goes_on_and_sigterm_abandons_the_send_after_the_grace(
        private_db, tmp_path, fake_twilio):
    bodies = queue_sms(private_db, 20)
    hanging, log = HangingServer(), tmp_path / "scheduler.log"
    env = app_env(str(private_db.url), hanging.base_url, SCHEDULER_STOP_GRACE_SECONDS="1")
    scheduler = start_flask(["scheduler", "run"], env, log)
    try:
        wait_for(lambda: hanging.requests >= 1, 30, "a send in progress")
        hung_at = datetime.now(UTC)
        # The tick waits for the provider (5 s), the heartbeat does not: the process looks alive.
        wait_for(lambda: any(h.pid == scheduler.pid and h.beat_at > hung_at + timedelta(seconds=1.5)
                             for h in heartbeats(private_db)), 3.2, "a heartbeat while the send hangs")
        assert statuses(private_db).get("sending")  # still hanging
        signalled = time.monotonic()
        assert stop(scheduler) == 0
        assert time.monotonic() - signalled < 3  # the grace, not the send's own timeout
    finally:
        if scheduler.poll() is None:
            scheduler.kill()
        hanging.close()
    text = log.read_text()
    assert "SIGTERM received, stopping" in text
    assert "stopped in the middle of a tick; a message being sent goes back to the queue" in text
    left = statuses(private_db)
    assert left.get("sending") and set(left) <= {"pending", "sending"}  # claimed under a lease, not lost

    # Later (leases run out, retries are due) a healthy provider gets every message once.
    senders = Senders(sms=TwilioSmsSender(ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, api_base_url=fake_twilio.base_url),
                      email=LogEmailSender())
    later = FixedClock(datetime.now(UTC) + timedelta(minutes=10))
    for _ in range(3):
        dispatch_due(private_db, later, senders)
    assert statuses(private_db) == {"sent": len(bodies)}
    assert sorted(m.body for m in fake_twilio.messages) == sorted(bodies)


def test_a_scheduler_started_before_its_database_keeps_ticking_and_stops_cleanly(tmp_path):
    log = tmp_path / "scheduler.log"
    nothing_there = f"postgresql://postgres@127.0.0.1:{free_port()}/homefollow"  # nothing listens there
    scheduler = start_flask(["scheduler", "run"], app_env(nothing_there), log)
    try:
        wait_for(lambda: log.read_text().count("the database is unavailable") >= 3, 30, "ticks that fail")
        assert scheduler.poll() is None
        assert stop(scheduler) == 0
    finally:
        if scheduler.poll() is None:
            scheduler.kill()
    text = log.read_text()
    assert "the database is unavailable at start" in text and "Traceback" not in text
    assert text.rstrip().endswith("stopped")
