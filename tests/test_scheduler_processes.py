"""Several scheduler processes over the same database, and one that dies mid-send."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, UTC
from pathlib import Path

import pytest
from sqlmodel import Session, select

from homefollow.clock import FixedClock
from homefollow.models import Alert, Channel, Notification
from homefollow.notifications import outbox
from homefollow.notifications.email import LogEmailSender
from homefollow.notifications.outbox import Senders, dispatch_due
from homefollow.notifications.sms import TwilioSmsSender
from homefollow.services import reporting
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER

# Claims, locks, sweeps or SQL that differs between the databases: on PostgreSQL too.
pytestmark = pytest.mark.both_backends

ROOT = Path(__file__).resolve().parent.parent


def test_three_scheduler_processes_send_every_message_exactly_once(engine, db_url, session, world, fake_twilio):
    """90 messages due and six red alerts whose escalation is due: three sweepers at once."""
    real_now = datetime.now(UTC)
    clock = FixedClock(real_now - timedelta(minutes=20))
    # The sweepers run on the real clock: keep the teams open around the clock, so the same people
    # are paged whatever time of day the suite runs (outside hours the team's on-call phone is;
    # only a run in the minute before midnight could still see the team closed).
    for team in (world.team_a, world.team_b):
        team.opening_hours = {day: ["00:00", "23:59"]
                              for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
        session.add(team)
    session.commit()
    patients = [world.patient_a1, world.patient_a2, world.patient_b1]
    for i, patient in enumerate(patients * 2):  # their coordinators' turn (15 min) has come
        clock.advance(seconds=1)
        reporting.report_measurement(session, clock, patient=patient, item_key="spo2", values={"spo2": 84 - i},
                                     idempotency_key=f"red-{i}", reported_by_account_id=None, actor_kind="patient")
    for i in range(90):
        outbox.enqueue(session, clock, dedup_key=f"bulk-{i}", channel=Channel.SMS, recipient=f"+47900{i:05d}",
                       body=f"message {i}")
    session.commit()
    workers = [subprocess.Popen([sys.executable, "-m", "tests.fakes.sweeper", db_url, fake_twilio.base_url, "4"],
                                cwd=ROOT) for _ in range(3)]
    assert [w.wait(timeout=120) for w in workers] == [0, 0, 0]

    with Session(engine) as s:
        rows = s.exec(select(Notification)).all()
        alerts = s.exec(select(Alert)).all()
    assert len(alerts) == 3  # one per patient: the second red reading updated it
    assert {r.status for r in rows} == {"sent"} and all(r.attempts == 1 for r in rows)
    sent = [(m.to, m.body) for m in fake_twilio.messages]
    assert len(sent) == len(rows) == len(set(sent))  # nothing sent twice
    assert sum(1 for to, _body in sent if to == "+4790000102") == 2  # team A's coordinator, once per alert


def test_a_message_claimed_by_a_process_that_was_killed_is_sent_once_after_its_lease(engine, db_url, session,
                                                                                  fake_twilio):
    real_now = datetime.now(UTC)
    clock = FixedClock(real_now)
    n = outbox.enqueue(session, clock, dedup_key="crash", channel=Channel.SMS, recipient="+4790000000", body="hei")
    session.commit()
    notification_id = n.id
    crash = subprocess.run([sys.executable, "-c", f"""
import os, signal
from sqlmodel import Session
from homefollow.clock import SystemClock
from homefollow.db import make_engine
from homefollow.notifications import outbox
with Session(make_engine({db_url!r})) as s:
    assert outbox.claim(s, SystemClock(), {notification_id}) is not None
os.kill(os.getpid(), signal.SIGKILL)  # dies after claiming, before sending
"""], cwd=ROOT)
    assert crash.returncode == -9
    senders = Senders(sms=TwilioSmsSender(ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, api_base_url=fake_twilio.base_url),
                      email=LogEmailSender())
    assert dispatch_due(engine, clock, senders).sent == 0  # still leased to the dead process
    clock.set(real_now + outbox.LEASE + timedelta(seconds=5))
    assert dispatch_due(engine, clock, senders).sent == 1
    assert dispatch_due(engine, clock, senders).sent == 0
    assert [m.body for m in fake_twilio.messages] == ["hei"]
    with Session(engine) as s:
        row = s.get(Notification, notification_id)
        assert (row.status, row.attempts) == ("sent", 2)
