"""Fault injection on the red path: the real scheduler process against a fake provider that fails.

Every case runs `flask --app wsgi scheduler run` as a subprocess (one tick a second, a 2 s
send timeout) on the test's PostgreSQL database, sending SMS through the real `twilio` library
to tests/fakes/twilio.py and e-mail through smtplib to tests/fakes/smtp.py, and counts what
the provider received against what the outbox meant to send:

    intents     outbox rows that should reach the provider (rows refused for good on purpose
                are left out)
    received    messages the fakes accepted (SMS and e-mail)
    duplicates  accepted messages beyond one per intent
    lost        intents the provider never accepted

The table of every case is printed at the end of the run (tests/conftest.py,
pytest_terminal_summary).

The subprocess runs on the real clock, so alerts are opened on the real clock too, and time
that a case cannot wait for is moved in the database instead: a killed process's lease is
run out by moving its end into the past, and a retry's back-off by moving the row's due time
to now (never earlier than a Retry-After allows). Everything else is real time.

SQLite is skipped here (with the reason shown): the cases are about processes and the
provider, and one backend keeps the module within its time budget on two cores.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, UTC
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from homefollow.clock import SystemClock
from homefollow.escalation import parse_policy
from homefollow.models import Alert, AlertEvent, Channel, Heartbeat, Notification, NotificationStatus
from homefollow.notifications import outbox
from homefollow.services import reporting
from homefollow.services.rulebook import sync_defaults
from tests.factories import make_patient, make_staff, make_team, unscheduled_plan
from tests.fakes.smtp import FakeSmtp
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, start_fake_twilio

pytestmark = [pytest.mark.faults, pytest.mark.xdist_group("red_path_faults")]

ROOT = Path(__file__).resolve().parent.parent

TICK = 1  # SCHEDULER_TICK_SECONDS
SEND_TIMEOUT = 2  # SEND_TIMEOUT_SECONDS
# A tick's own work (sweeps, database round trips) on two cores shared with other tests.
SLACK = 2.0
# A red page is due when its alert opens; it must be with the provider within one tick, plus
# one send timeout for sends already in flight when it came due.
RED_BOUND = TICK + SEND_TIMEOUT + SLACK

NURSE, COORDINATOR, ON_CALL = "+4790000101", "+4790000102", "+4790000900"
NURSE_EMAIL, COORDINATOR_EMAIL = "nurse.red@example.no", "coordinator.red@example.no"

# Every step applies at every hour, so what is paged does not depend on when the suite runs.
POLICY = {
    "name": "Feiltest",
    "steps": [
        {"target": {"kind": "role", "role": "nurse"}, "channels": ["sms", "email"], "when": "always",
         "wait": {"yellow": 60, "red": 15}},
        {"target": {"kind": "role", "role": "coordinator"}, "channels": ["sms", "email"], "when": "always",
         "wait": {"yellow": 60, "red": 15}},
    ],
    "repeat": 0,
    "fallback": [{"kind": "phone", "number": ON_CALL, "label": "Vakttelefon"}],
    "ack_timeout": {"yellow": 240, "red": 30},
    "snooze_max": {"yellow": 1440, "red": 60},
}

_REF = re.compile(r"\s*Ref: \S+\s*$")


def plain(body: str) -> str:
    """A message body without the reconciliation token line, whitespace-normalised (SMTP
    rewrites line ends)."""
    return " ".join(_REF.sub("", body.replace("\r\n", "\n")).split())


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> str:
    if request.param == "sqlite":
        pytest.skip("fault cases run on PostgreSQL only: each starts real scheduler processes, and both backends "
                    "would double the module's time on two cores (benchmarks/red_page_latency.py uses SQLite)")
    return request.param


# ---- the harness ---------------------------------------------------------------------------

@dataclass
class RedTeam:
    team: object
    nurse: object
    coordinator: object
    patients: list


@dataclass
class Tally:
    case: str
    intents: int
    received: int
    duplicates: int
    lost: int
    red_latency: float | None  # the slowest red alert: opened → first page accepted (s)
    per_intent: dict[str, int] = field(default_factory=dict)  # dedup key → times accepted

    def row(self, backend: str) -> dict:
        return {"case": self.case, "backend": backend, "intents": self.intents, "received": self.received,
                "duplicates": self.duplicates, "lost": self.lost,
                "red_latency": None if self.red_latency is None else round(self.red_latency, 2)}


class Harness:
    """Scheduler processes, the fakes, the database, and the case's tally."""

    def __init__(self, request, engine, db_url, session, tmp_path):
        self.request, self.engine, self.db_url, self.session, self.tmp_path = request, engine, db_url, session, tmp_path
        self.twilio = start_fake_twilio()
        self.smtp = FakeSmtp()
        self.processes: list[subprocess.Popen] = []
        self.case: str | None = None
        self.refused: set[tuple[str, str]] = set()  # (channel, recipient) refused for good on purpose
        self.red_alerts: dict[int, str] = {}  # alert id -> short code
        self.tally: Tally | None = None
        self.clock = SystemClock()

    # -- set-up -------------------------------------------------------------------------

    def team(self, patients: int = 1) -> RedTeam:
        s, clock = self.session, self.clock
        sync_defaults(s, clock)
        team = make_team(s, clock, "Team Rød", on_call_phone=ON_CALL)
        team.opening_hours = {day: ["00:00", "23:59"] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
        team.escalation_policy = parse_policy(POLICY).model_dump(mode="json")
        s.add(team)
        nurse = make_staff(s, clock, NURSE_EMAIL, "Nina Nurse", team, "nurse", phone=NURSE)
        coordinator = make_staff(s, clock, COORDINATOR_EMAIL, "Cora Coordinator", team, "coordinator",
                                 phone=COORDINATOR)
        people = [make_patient(s, clock, team, f"Pasient {i}", f"+479100{i:04d}", unscheduled_plan(), nurse)
                  for i in range(patients)]
        s.commit()
        return RedTeam(team, nurse, coordinator, people)

    def open_red(self, patient) -> Alert:
        """A red SpO2 reading from the patient: a red alert opens and its first page is due now."""
        reporting.report_measurement(self.session, self.clock, patient=patient, item_key="spo2", values={"spo2": 84},
                                     idempotency_key=f"red-{patient.id}-{time.monotonic_ns()}",
                                     reported_by_account_id=None, actor_kind="patient")
        self.session.commit()  # the test is the edge: services flush, it commits
        with Session(self.engine) as s:
            alert = s.exec(select(Alert).where(Alert.patient_id == patient.id, Alert.severity == "red")).one()
        self.red_alerts[alert.id] = alert.short_code
        return alert

    def queue(self, channel: Channel, recipient: str, body: str, subject: str | None = None) -> int:
        n = outbox.enqueue(self.session, self.clock, dedup_key=f"fault:{channel.value}:{recipient}:{body}",
                           channel=channel, recipient=recipient, body=body, subject=subject)
        self.session.commit()
        return n.id

    # -- processes ------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        # A production-like process: no demo, no provider settings from the caller's shell.
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("TWILIO_", "SMTP_", "HOMEFOLLOW_", "SEND_", "SCHEDULER_")) and k != "FLASK_APP"}
        env.update(DATABASE_URL=self.db_url, SECRET_KEY="fault-injection-secret-key-0123456789abcdef",
                   PUBLIC_BASE_URL="https://homefollow.example.no", TWILIO_ACCOUNT_SID=ACCOUNT_SID,
                   TWILIO_AUTH_TOKEN=AUTH_TOKEN, TWILIO_FROM_NUMBER=FROM_NUMBER,
                   TWILIO_API_BASE_URL=self.twilio.base_url, SMTP_HOST=self.smtp.host, SMTP_PORT=str(self.smtp.port),
                   SMTP_FROM="HomeFollow <hf@example.no>", SCHEDULER_TICK_SECONDS=str(TICK),
                   SEND_TIMEOUT_SECONDS=str(SEND_TIMEOUT), SEND_CONCURRENCY="4", PYTHONUNBUFFERED="1")
        return env

    def start(self, count: int = 1, wait: bool = True) -> list[subprocess.Popen]:
        started = []
        for _ in range(count):
            with open(self.tmp_path / f"scheduler-{len(self.processes)}.log", "wb") as log:
                p = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "scheduler", "run"], cwd=ROOT,
                                     env=self.env(), stdout=log, stderr=subprocess.STDOUT)
            self.processes.append(p)
            started.append(p)
        if wait:
            for p in started:
                self.must(f"scheduler {p.pid} ticking", lambda p=p: self.ticking(p), 40)
        return started

    def ticking(self, p: subprocess.Popen) -> bool:
        if p.poll() is not None:
            raise AssertionError(f"scheduler {p.pid} exited with {p.returncode}\n{self.logs()}")
        with Session(self.engine) as s:
            return s.exec(select(Heartbeat).where(Heartbeat.pid == p.pid)).first() is not None

    def kill9(self, p: subprocess.Popen) -> None:
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=10)

    def stop(self) -> None:
        for p in self.processes:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.processes:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def logs(self, lines: int = 30) -> str:
        out = []
        for path in sorted(self.tmp_path.glob("scheduler-*.log")):
            text = path.read_text(errors="replace").splitlines()
            out.append(f"--- {path.name} (last {lines} lines)\n" + "\n".join(text[-lines:]))
        return "\n".join(out)

    # -- waiting and the database ---------------------------------------------------------

    @staticmethod
    def wait(predicate, timeout: float, interval: float = 0.05):
        """The predicate's first true value, or None after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                return None
            time.sleep(interval)

    def must(self, what: str, predicate, timeout: float):
        value = self.wait(predicate, timeout)
        if not value:
            raise AssertionError(f"timed out after {timeout} s waiting for: {what}\n{self.logs()}")
        return value

    def rows(self) -> list[Notification]:
        with Session(self.engine) as s:
            return list(s.exec(select(Notification).order_by(Notification.id)))

    def row(self, notification_id: int) -> Notification:
        with Session(self.engine) as s:
            return s.get(Notification, notification_id)

    def events(self, kind: str) -> list[AlertEvent]:
        with Session(self.engine) as s:
            return list(s.exec(select(AlertEvent).where(AlertEvent.kind == kind).order_by(AlertEvent.id)))

    def run_out_leases(self) -> None:
        """As if the 2-minute lease of every claimed row had passed (its process is dead)."""
        with self.engine.begin() as c:
            c.execute(update(Notification).where(Notification.status == NotificationStatus.SENDING.value)
                      .values(lease_until=datetime.now(UTC) - timedelta(seconds=1)))

    def bring_forward(self, not_before: datetime | None = None) -> None:
        """As if the back-off of every row waiting for a retry had passed; never earlier than
        `not_before` (a Retry-After)."""
        at = max(datetime.now(UTC), not_before or datetime.min.replace(tzinfo=UTC))
        with self.engine.begin() as c:
            c.execute(update(Notification).where(Notification.status == NotificationStatus.PENDING.value,
                                                 Notification.due_at > at).values(due_at=at))

    def recover(self, timeout: float) -> bool:
        """The provider is well again: run out the back-offs (also of sends that end meanwhile)
        until every message is sent, or `timeout` seconds pass."""
        def done() -> bool:
            self.bring_forward()
            return self.all_sent()

        return bool(self.wait(done, timeout, interval=0.25))

    def all_sent(self, ids: list[int] | None = None) -> bool:
        rows = [r for r in self.rows() if ids is None or r.id in ids]
        return bool(rows) and all(r.status == NotificationStatus.SENT.value for r in rows)

    # -- counting -------------------------------------------------------------------------

    def red_page_times(self) -> dict[int, float | None]:
        """Per red alert: seconds from its opening to the first page about it (SMS or e-mail, to
        anyone) that the provider accepted; None if none was."""
        with Session(self.engine) as s:
            opened = {a.id: a.opened_at for a in s.exec(select(Alert).where(Alert.id.in_(list(self.red_alerts))))}
        out = {}
        for alert_id, code in self.red_alerts.items():
            times = [m.received_at for m in list(self.twilio.messages) + list(self.smtp.received) if code in m.body]
            out[alert_id] = min(times) - opened[alert_id].timestamp() if times else None
        return out

    def count(self) -> Tally:
        sms = [(Channel.SMS.value, m.to, plain(m.body)) for m in list(self.twilio.messages)]
        mail = [(Channel.EMAIL.value, to, plain(m.body)) for m in list(self.smtp.received) for to in m.recipients]
        received = sms + mail
        per_intent = {}
        for r in self.rows():
            if (r.channel, r.recipient) in self.refused:
                continue
            key = (r.channel, r.recipient, plain(r.body))
            per_intent[r.dedup_key] = received.count(key)
        keys = {(r.channel, r.recipient, plain(r.body)) for r in self.rows()}
        unmatched = sum(1 for item in received if item not in keys)  # sent, though nothing meant it
        latencies = self.red_page_times()
        worst = None
        if latencies:
            worst = float("inf") if None in latencies.values() else max(latencies.values())
        return Tally(case=self.case or self.request.node.name, intents=len(per_intent), received=len(received),
                     duplicates=sum(max(n - 1, 0) for n in per_intent.values()) + unmatched,
                     lost=sum(1 for n in per_intent.values() if n == 0), red_latency=worst, per_intent=per_intent)

    def finish(self, settle: float = 2 * TICK) -> Tally:
        """Let the schedulers run `settle` seconds more (a duplicate has time to show), stop
        them, count, and put the case in the run's table."""
        if self.tally is None:
            time.sleep(settle)
            self.stop()
            self.twilio.release()
            self.tally = self.count()
            backend = self.request.node.callspec.params.get("backend", "?")
            self.request.node.user_properties.append(("red_path_row", self.tally.row(backend)))
        return self.tally

    def close(self) -> None:
        try:
            if self.case is not None:
                self.finish(settle=0)
        finally:
            self.stop()
            self.twilio.close()
            self.smtp.stop()


@pytest.fixture
def harness(request, engine, db_url, session, tmp_path):
    h = Harness(request, engine, db_url, session, tmp_path)
    yield h
    h.close()


def assert_counts(h: Harness, t: Tally) -> None:
    assert t.lost == 0, f"{t.lost} of {t.intents} messages never reached the provider: {t.per_intent}\n{h.logs()}"
    assert t.duplicates == 0, f"{t.duplicates} duplicates: {t.per_intent} (received {t.received})\n{h.logs()}"


def assert_red_in_time(h: Harness, bound: float = RED_BOUND) -> None:
    late = {a: (None if s is None else round(s, 2)) for a, s in h.red_page_times().items() if s is None or s > bound}
    assert not late, f"red alerts not paged within {bound} s of opening (alert: seconds): {late}\n{h.logs()}"


def failed_pages_logged(h: Harness, words: str) -> list[AlertEvent]:
    return [e for e in h.events("page_failed") if words in str(e.data)]


# ---- processes that die ----------------------------------------------------------------------

KILLS = 3


def test_kill_9_while_the_provider_holds_the_request_sends_the_page_once(harness):
    """The provider holds the request; the scheduler is killed; a new one starts when the lease
    has run out. Three times; then the provider answers. The page is accepted exactly once."""
    h = harness
    h.case = f"kill -9 mid-send ×{KILLS}"
    team = h.team()
    h.twilio.modes[NURSE] = "hang"
    h.open_red(team.patients[0])
    for _ in range(KILLS):
        [p] = h.start()
        h.must("the provider holding the page", lambda: h.twilio.held >= 1, 20)
        h.kill9(p)
        h.twilio.release()
        h.must("the held request let go", lambda: h.twilio.held == 0, 5)
        h.run_out_leases()
    assert h.twilio.to(NURSE) == []  # nothing was accepted while it hung
    del h.twilio.modes[NURSE]
    h.start()
    h.must("the page sent", lambda: h.all_sent(), 20)
    t = h.finish()
    assert_counts(h, t)


def test_kill_9_between_the_providers_accept_and_the_commit_sends_each_page_once(harness):
    """The provider accepts the page and is slow to answer; the scheduler is killed before it
    can record that. Three times, one new red alert each; then a scheduler starts on a healthy
    provider. Before sending again it asks Twilio, finds each page, and sends nothing twice."""
    h = harness
    h.case = f"kill -9 after accept ×{KILLS}"
    team = h.team(patients=KILLS)
    h.twilio.modes[NURSE] = "accept_then_hang"
    for i in range(KILLS):
        alert = h.open_red(team.patients[i])
        [p] = h.start()
        h.must(f"page {i + 1} accepted", lambda alert=alert: any(alert.short_code in m.body for m in h.twilio.messages), 20)
        h.kill9(p)
        h.twilio.release()
        h.must("the held request let go", lambda: h.twilio.held == 0, 5)
        h.run_out_leases()
    del h.twilio.modes[NURSE]
    h.start()
    h.wait(lambda: h.all_sent(), 15)
    t = h.finish()
    assert_counts(h, t)
    rows = h.rows()
    assert {r.status for r in rows} == {"sent"}, [(r.id, r.status, r.last_error) for r in rows]
    # Each row names the message the provider holds for it (delivery reports find their row).
    sids = {m.sid for m in h.twilio.messages}
    assert all(r.provider_ref in sids for r in rows), [(r.id, r.provider_ref) for r in rows]
    # The token that made the reconciliation possible: one per row, on the last line.
    refs = [m.body.rsplit("\n", 1)[-1] for m in h.twilio.messages]
    assert all(re.fullmatch(r"Ref: \S+", ref) for ref in refs) and len(set(refs)) == len(refs), refs


def test_three_schedulers_at_once_send_everything_once_and_red_in_time(harness):
    h = harness
    h.case = "three schedulers at once"
    team = h.team(patients=3)
    for i in range(60):
        h.queue(Channel.SMS, f"+479800{i:04d}", f"HomeFollow: påminnelse [{i:02d}]")
    h.start(3)
    for patient in team.patients:
        h.open_red(patient)
    h.wait(lambda: h.all_sent(), 30)
    t = h.finish()
    assert_counts(h, t)
    assert_red_in_time(h)


# ---- a provider that fails -------------------------------------------------------------------

def test_provider_500_is_retried_and_the_page_sent_once(harness):
    h = harness
    h.case = "Twilio 500"
    team = h.team()
    h.twilio.script[NURSE] = ["transient"]
    h.start()
    alert = h.open_red(team.patients[0])
    h.must("the 500", lambda: any(a.status == 500 for a in h.twilio.attempts_to(NURSE)), RED_BOUND + 5)
    [row] = [r for r in h.rows() if r.alert_id == alert.id]
    h.must("the page waiting for its retry", lambda: h.row(row.id).status == "pending" and h.row(row.id).last_error, 5)
    h.bring_forward()
    h.must("the page sent", lambda: h.all_sent(), RED_BOUND + 5)
    t = h.finish()
    assert_counts(h, t)


RETRY_AFTER = 3


def test_429_is_retried_no_sooner_than_retry_after(harness):
    h = harness
    h.case = f"Twilio 429, Retry-After {RETRY_AFTER} s"
    team = h.team()
    h.twilio.script[NURSE] = [f"rate_limited:{RETRY_AFTER}"]
    h.start()
    alert = h.open_red(team.patients[0])
    first = h.must("the 429", lambda: next((a for a in h.twilio.attempts_to(NURSE) if a.status == 429), None),
                   RED_BOUND + 5)
    not_before = datetime.fromtimestamp(first.answered_at + RETRY_AFTER, UTC)
    [row] = [r for r in h.rows() if r.alert_id == alert.id]
    h.must("the page waiting for its retry", lambda: h.row(row.id).status == "pending" and h.row(row.id).last_error, 5)
    h.bring_forward(not_before=not_before)  # the back-off may be longer; Retry-After is what is tested
    h.must("the page sent", lambda: h.all_sent(), RETRY_AFTER + TICK + SEND_TIMEOUT + SLACK + 5)
    t = h.finish()
    assert_counts(h, t)
    [_, second] = h.twilio.attempts_to(NURSE)
    assert second.at >= first.answered_at + RETRY_AFTER - 0.05, (
        f"retried {second.at - first.answered_at:.2f} s after a 429 that said Retry-After: {RETRY_AFTER}")


def test_a_hanging_provider_does_not_delay_a_red_page(harness):
    """Twenty reminders to numbers where the provider hangs keep every SMS sender busy; a red
    alert opened then is still paged within a tick and a send timeout, and e-mail (its own
    lane) goes out meanwhile. When the provider recovers, everything is sent once."""
    h = harness
    h.case = "provider hangs (20 SMS)"
    team = h.team()
    hanging = [f"+479700{i:04d}" for i in range(20)]
    for number in hanging:
        h.twilio.modes[number] = "hang"
        h.queue(Channel.SMS, number, f"HomeFollow: påminnelse til {number}")
    h.start()
    h.must("the provider holding requests", lambda: h.twilio.held >= 1, 20)
    h.open_red(team.patients[0])
    mail = h.queue(Channel.EMAIL, "team.red@example.no", "Ukentlig oversikt er klar.", subject="Oversikt")
    queued_mail_at = time.time()
    h.wait(lambda: all(t is not None for t in h.red_page_times().values()), RED_BOUND + 5)
    h.wait(lambda: h.row(mail).status == "sent", max(1.0, queued_mail_at + RED_BOUND - time.time()))
    mail_latency = [m.received_at - queued_mail_at for m in h.smtp.to("team.red@example.no")]
    red = h.red_page_times()
    # The provider recovers: the reminders go out, each once.
    h.twilio.modes.clear()
    h.twilio.release()
    h.recover(20)
    t = h.finish()
    late = {a: s for a, s in red.items() if s is None or s > RED_BOUND}
    assert not late, f"red page not sent within {RED_BOUND} s while the provider hangs: {late}\n{h.logs()}"
    assert mail_latency and mail_latency[0] <= RED_BOUND, f"e-mail waited for hanging SMS: {mail_latency}"
    assert_counts(h, t)


def test_accept_then_hang_is_reconciled_without_sending_twice(harness):
    """The provider accepts each page but answers only after the client has timed out. The
    scheduler does not know whether they went; it asks Twilio (which fails at first: it then
    sends nothing), finds them, and marks them sent. Nothing is sent twice."""
    h = harness
    h.case = "accept, then answer after the timeout"
    team = h.team(patients=3)
    h.twilio.modes[NURSE] = "accept_then_hang"
    h.twilio.list_mode = "transient"
    h.start()
    alerts = [h.open_red(p) for p in team.patients]
    h.must("the pages accepted", lambda: all(any(a.short_code in m.body for m in h.twilio.messages) for a in alerts),
           RED_BOUND + 5)
    first_accepts = len(h.twilio.attempts_to(NURSE))
    # The client has given up; Twilio's listing fails: nothing may be sent blind meanwhile.
    time.sleep(SEND_TIMEOUT + 2 * TICK)
    h.bring_forward()
    time.sleep(2 * TICK)
    blind = len(h.twilio.attempts_to(NURSE)) - first_accepts
    refused_lookups = sum(1 for r in h.twilio.list_requests if r.status == 500)
    h.twilio.list_mode = "ok"
    h.recover(15)
    t = h.finish()
    assert refused_lookups, f"no retry asked the provider about the pages in {SEND_TIMEOUT + 4 * TICK} s\n{h.logs()}"
    assert blind == 0, f"{blind} pages sent again while the provider could not say whether it had them"
    assert_counts(h, t)
    rows = h.rows()
    sids = {m.sid for m in h.twilio.messages}
    assert {r.status for r in rows} == {"sent"} and all(r.provider_ref in sids for r in rows), (
        [(r.id, r.status, r.provider_ref, r.last_error) for r in rows])


def test_connection_refused_then_back(harness):
    h = harness
    h.case = "connection refused, then back"
    team = h.team()
    h.twilio.stop()
    h.start()
    alert = h.open_red(team.patients[0])
    [row] = [r for r in h.rows() if r.alert_id == alert.id]
    h.must("the page waiting for its retry", lambda: h.row(row.id).last_error, RED_BOUND + 5)
    assert h.row(row.id).status == "pending"  # not given up, not sent
    h.twilio.restart()
    back = time.time()
    h.bring_forward()
    h.must("the page sent", lambda: h.all_sent(), RED_BOUND + 5)
    t = h.finish()
    assert_counts(h, t)
    assert h.twilio.to(NURSE)[0].received_at - back <= RED_BOUND


# ---- refused for good: the next channel or step at once ------------------------------------

def test_invalid_number_21211_pages_the_next_channel_in_the_same_tick(harness):
    h = harness
    h.case = "Twilio 400/21211 on the nurse"
    h.refused = {("sms", NURSE)}
    team = h.team()
    h.twilio.script[NURSE] = ["permanent"]
    h.start()
    h.open_red(team.patients[0])
    refused = h.must("the 400", lambda: next((a for a in h.twilio.attempts_to(NURSE) if a.status == 400), None),
                     RED_BOUND + 5)
    h.wait(lambda: h.smtp.to(NURSE_EMAIL), TICK + SEND_TIMEOUT + 5)
    h.wait(lambda: failed_pages_logged(h, "21211"), 2)
    t = h.finish()
    mail = h.smtp.to(NURSE_EMAIL)
    assert mail, f"the nurse's e-mail was not paged after her number was refused\n{h.logs()}"
    assert mail[0].received_at - refused.answered_at <= TICK + SLACK, (
        f"next channel paged {mail[0].received_at - refused.answered_at:.1f} s after the refusal")
    assert failed_pages_logged(h, "21211"), (
        f"no page_failed event naming 21211 in the alert's log; page_failed events: {h.events('page_failed')}")
    assert_red_in_time(h)
    assert_counts(h, t)


def test_opted_out_21610_then_smtp_550_pages_the_coordinator_in_the_same_tick(harness):
    """The nurse's phone replied STOP to Twilio once (21610) and her mailbox is gone (550):
    the coordinator is paged at once, not after the nurse's 15-minute step."""
    h = harness
    h.case = "Twilio 21610 + SMTP 550 on the nurse"
    h.refused = {("sms", NURSE), ("email", NURSE_EMAIL)}
    team = h.team()
    h.twilio.script[NURSE] = ["opted_out"]
    h.smtp.script[NURSE_EMAIL] = ["rcpt:550"]
    h.start()
    h.open_red(team.patients[0])
    h.must("the 21610", lambda: any(a.status == 400 for a in h.twilio.attempts_to(NURSE)), RED_BOUND + 5)
    refused = h.must("the 550", lambda: next((a for a in h.smtp.attempts_to(NURSE_EMAIL) if a.code == 550), None),
                     TICK + SEND_TIMEOUT + 5)
    h.wait(lambda: h.twilio.to(COORDINATOR), TICK + SEND_TIMEOUT + 5)
    h.wait(lambda: failed_pages_logged(h, "550") and failed_pages_logged(h, "21610"), 2)
    t = h.finish()
    coordinator = h.twilio.to(COORDINATOR)
    assert coordinator, f"the coordinator was not paged after the nurse could not be reached\n{h.logs()}"
    assert coordinator[0].received_at - refused.at <= TICK + SLACK, (
        f"coordinator paged {coordinator[0].received_at - refused.at:.1f} s after the last refusal")
    assert failed_pages_logged(h, "21610") and failed_pages_logged(h, "550"), (
        f"no page_failed events naming 21610 and 550 in the alert's log; page_failed events: "
        f"{h.events('page_failed')}")
    assert_red_in_time(h)
    assert_counts(h, t)


# ---- e-mail: try again later -----------------------------------------------------------------

@pytest.mark.parametrize("stage", ["rcpt", "data"])
def test_smtp_451_is_retried_and_delivered_once(harness, stage):
    h = harness
    h.case = f"SMTP 451 on {'RCPT TO' if stage == 'rcpt' else 'DATA'}"
    address = "team.red@example.no"
    h.smtp.script[address] = [f"{stage}:451"]
    mail = h.queue(Channel.EMAIL, address, "Ukentlig oversikt er klar.", subject="Oversikt")
    h.start()
    h.must("the 451", lambda: any(a.code == 451 for a in h.smtp.attempts_to(address)), TICK + SEND_TIMEOUT + 5)
    h.wait(lambda: h.row(mail).status != "sending" and h.row(mail).last_error, 5)
    after_451 = h.row(mail)
    h.bring_forward()
    h.wait(lambda: h.row(mail).status == "sent", TICK + SEND_TIMEOUT + 5)
    t = h.finish()
    assert after_451.status == "pending", f"a 451 ended the message: {after_451.status} ({after_451.last_error})"
    assert_counts(h, t)
