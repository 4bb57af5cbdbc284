"""Fault injection: the scheduler's escalation step racing a patient's report, and racing a
nurse's acknowledgement, on the same alert (issue 18, "no reading is ever lost to a race").

Each race is two real connections in two threads released at the same moment by a barrier:
the scheduler's sweep (`sweep_due_escalations`, as the scheduler process calls it) against the
patient's web form POST or the nurse's acknowledge button, through the real app. Before the
lock order (homefollow.transactions), 9 of 60 such races deadlocked on PostgreSQL and one
patient saw a 500 and lost the value. Counted per case: deadlocks and other conflicts that were
retried, readings lost (a submitted value not stored exactly once), duplicate pages (one
recipient paged twice on one channel for one alert), and errors that reached a caller.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from sqlmodel import Session, func, select

from homefollow import create_app
from homefollow.escalation import parse_policy
from homefollow.models import Account, Alert, AlertStatus, Notification, Outcome, Patient, Report, Team
from homefollow.services import alerts, reporting
from homefollow.services.escalation import SWEEP_LEASE_SECONDS, sweep_due_escalations
from tests.conftest import T0, app_config, examples
from tests.factories import make_patient, standard_plan
from tests.webclient import WebClient, staff_client

pytestmark = [pytest.mark.faults, pytest.mark.both_backends]

# 60 races of each case on PostgreSQL in CI, as in the issue (25 in the quick local profile,
# tests/conftest.py). SQLite lets one writer in at a time (BEGIN IMMEDIATE), so a smaller run
# there shows the same code paths hold on it.
RACES = {"postgresql": examples(60), "sqlite": 10}
STEP_DUE = timedelta(minutes=16)  # a red alert's first step waits 15 minutes: the next one is due


@dataclass
class Tally:
    case: str
    short: str  # in the suite's table
    races: int = 0
    lost: int = 0
    duplicates: int = 0
    unhandled: list[str] = field(default_factory=list)
    retried: int = 0

    def row(self) -> str:
        return (f"{self.case:<34} | {self.races:>5} | {self.retried:>17} | {self.lost:>4} | {self.duplicates:>10} "
                f"| {len(self.unhandled):>9}")

    def report(self, request, backend: str, received: int) -> None:
        """Print the row, and add it to the suite's fault-injection table (tests/conftest.py),
        which `make test` prints also from xdist workers: intents are the races' submissions."""
        print(f"\n{HEADER}\n{self.row()}")
        request.node.user_properties.append(("red_path_row", {
            "case": f"race: {self.short}, {self.retried} retried", "backend": backend, "intents": self.races,
            "received": received, "duplicates": self.duplicates, "lost": self.lost, "red_latency": None}))


HEADER = f"{'case':<34} | races | deadlocks retried | lost | duplicates | unhandled"


class _Retries(logging.Handler):
    """Counts the transactions homefollow.transactions ran again, from any thread."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.count = 0
        self.lock = threading.Lock()

    def emit(self, record):
        if "retrying" in record.getMessage():
            with self.lock:
                self.count += 1


@pytest.fixture
def retries():
    handler = _Retries()
    logger = logging.getLogger("homefollow.transactions")
    logger.addHandler(handler)
    yield handler
    logger.removeHandler(handler)


@pytest.fixture
def race_app(engine, clock, world):
    # Staff stay signed in across the test's clock jumps.
    return create_app(app_config(engine, clock, STAFF_SESSION_MINUTES=7 * 24 * 60))


def _prepared(client: WebClient, page_url: str, action: str | None = None) -> tuple[str, dict]:
    """The form on page_url as a browser has it before the press: its action and fields."""
    _response, parsed = client.page(page_url)
    form = next(f for f in parsed.forms if f["method"] == "post" and (f["action"] or None) == action)
    return form["action"] or page_url, dict(form["fields"])


def _red_alert(engine, clock, world, n: int) -> tuple[str, int]:
    """A new patient of team A (each race has its own, at the same moment) with a red alert whose
    next escalation step is due now: the patient's phone (login) and the alert's id."""
    clock.set(T0)
    phone = f"+4792{n:06d}"
    with Session(engine) as s:
        patient = make_patient(s, clock, s.get(Team, world.team_a.id), f"Race {n}", phone, standard_plan(),
                               s.get(Account, world.nurse_a.id))
        s.commit()
        reporting.report_measurement(s, clock, patient=patient, item_key="spo2", values={"spo2": 85},
                                     idempotency_key="setup", reported_by_account_id=patient.account_id,
                                     actor_kind="patient")
        s.commit()  # the test is the edge: services flush, it commits
        alert_id = s.exec(select(Alert.id).where(Alert.patient_id == patient.id)).one()
    clock.set(T0 + STEP_DUE)
    return phone, alert_id


def _race(first, second) -> list:
    """Run both at the same moment in two threads; each one's result or exception."""
    barrier = threading.Barrier(2)
    results: list = [None, None]

    def run(i, fn):
        barrier.wait()
        try:
            results[i] = fn()
        except Exception as exc:  # counted by the caller: an error that reached the caller
            results[i] = exc

    threads = [threading.Thread(target=run, args=(0, first)), threading.Thread(target=run, args=(1, second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a race hung"
    return results


def _sweep(engine, clock):
    def run():
        with Session(engine, expire_on_commit=False) as session:
            return sweep_due_escalations(session, clock)
    return run


def _duplicate_pages(s: Session, alert_id: int) -> int:
    """Pages beyond the first to one recipient on one channel for this alert. Within 16
    minutes of opening a red alert in opening hours, each person is paged once per channel."""
    rows = s.exec(select(Notification.recipient, Notification.channel, func.count())
                  .where(Notification.alert_id == alert_id)
                  .group_by(Notification.recipient, Notification.channel)).all()
    return sum(n - 1 for _r, _c, n in rows)


def _check_sweep(tally: Tally, sweep) -> None:
    if isinstance(sweep, Exception):
        tally.unhandled.append(f"sweep: {sweep!r}"[:300])
    elif sweep.failed:
        tally.unhandled.append(f"sweep: {sweep.failed} escalation step(s) failed")


def _close(engine, clock, alert_id: int, nurse_id: int) -> None:
    with Session(engine) as s:
        alerts.resolve(s, clock, alert_id, nurse_id, Outcome.ADVICE_GIVEN, "race test")


def test_an_escalation_step_racing_a_report_loses_no_reading_and_pages_once(
        engine, backend, clock, world, race_app, retries, request):
    tally = Tally("escalation step vs web report", "step vs report")
    stored_once = 0
    for n in range(RACES[backend]):
        phone, alert_id = _red_alert(engine, clock, world, n)
        patient = WebClient(race_app.test_client())
        patient.login_patient(phone)
        url, fields = _prepared(patient, "/report/spo2")
        fields.update(spo2="84", confirm_repeat="yes")

        sweep, post = _race(_sweep(engine, clock), functools.partial(patient.client.post, url, data=fields))

        tally.races += 1
        _check_sweep(tally, sweep)
        if isinstance(post, Exception) or post.status_code != 302 or "/report/result/" not in post.location:
            tally.unhandled.append(f"report: {post!r}"[:300])
        with Session(engine) as s:
            stored = s.exec(select(func.count()).select_from(Report)
                            .where(Report.idempotency_key == fields["idempotency_key"])).one()
            tally.lost += stored != 1
            stored_once += stored == 1
            alert = s.get(Alert, alert_id)
            tally.duplicates += _duplicate_pages(s, alert_id)
            # The step was done, by the sweep or by the report's own escalation: the coordinator
            # (step 2) was paged, and the next step is planned, not left at the sweep's lease.
            step_two = s.exec(select(func.count()).select_from(Notification)
                              .where(Notification.alert_id == alert_id,
                                     Notification.recipient == world.admin_a.phone)).one()
            if step_two != 1 or alert.escalation_due_at - clock.now() <= timedelta(seconds=SWEEP_LEASE_SECONDS):
                tally.unhandled.append(f"race {n}: step not done (coordinator pages {step_two}, "
                                       f"next due {alert.escalation_due_at})")
        _close(engine, clock, alert_id, world.nurse_a.id)
    tally.retried = retries.count
    tally.report(request, backend, received=stored_once)
    assert (tally.lost, tally.duplicates, tally.unhandled) == (0, 0, [])


def test_an_escalation_step_racing_an_acknowledgement_keeps_the_acknowledgement(
        engine, backend, clock, world, race_app, retries, request):
    tally = Tally("escalation step vs acknowledgement", "step vs acknowledge")
    held = 0
    nurse = staff_client(race_app, "nurse.a@example.no")
    for n in range(RACES[backend]):
        _phone, alert_id = _red_alert(engine, clock, world, n)
        action = f"/clinic/alerts/{alert_id}/acknowledge"
        url, fields = _prepared(nurse, f"/clinic/alerts/{alert_id}", action=action)

        sweep, ack = _race(_sweep(engine, clock), functools.partial(nurse.client.post, url, data=fields))

        tally.races += 1
        _check_sweep(tally, sweep)
        if isinstance(ack, Exception) or ack.status_code != 302:
            tally.unhandled.append(f"acknowledge: {ack!r}"[:300])
        with Session(engine) as s:
            alert = s.get(Alert, alert_id)
            tally.duplicates += _duplicate_pages(s, alert_id)
            # The acknowledgement holds, and paging waits for its timeout: the step that raced it
            # neither undid it nor left its own plan (the next step in 15 minutes) behind.
            timeout = parse_policy(alert.escalation_policy).ack_timeout.minutes(alert.severity)
            if alert.status != AlertStatus.ACKNOWLEDGED.value or alert.escalation_due_at != clock.now() + timeout:
                tally.unhandled.append(f"race {n}: {alert.status}, next due {alert.escalation_due_at}")
            else:
                held += 1
        _close(engine, clock, alert_id, world.nurse_a.id)
    tally.retried = retries.count
    tally.lost = tally.races - held  # acknowledgements undone by the race
    tally.report(request, backend, received=held)
    assert (tally.duplicates, tally.unhandled) == (0, [])


def test_two_reports_of_one_patient_at_once_both_land(engine, backend, clock, world, retries, request):
    """Two red readings of one patient sent at the same moment (the web form and a device hub):
    the second waits for the first on the patient's row (transactions.lock_patient) instead of
    deadlocking with it on the rule states (issue 22). Each is stored once and judged red, the
    patient has an open alert, and neither needed a retry: no retry wrapper is used here."""
    tally = Tally("two reports of one patient", "report vs report")
    landed = 0
    for n in range(RACES[backend]):
        clock.set(T0)
        with Session(engine) as s:
            patient = make_patient(s, clock, s.get(Team, world.team_a.id), f"Twice {n}", f"+4793{n:06d}",
                                   standard_plan(), s.get(Account, world.nurse_a.id))
            s.commit()
            patient_id, account_id = patient.id, patient.account_id

        def send(value: float, key: str, patient_id=patient_id, account_id=account_id):
            def run():
                with Session(engine, expire_on_commit=False) as s:
                    outcome = reporting.report_measurement(
                        s, clock, patient=s.get(Patient, patient_id), item_key="spo2", values={"spo2": value},
                        idempotency_key=key, reported_by_account_id=account_id, actor_kind="patient")
                    s.commit()  # the edge's commit
                    return outcome
            return run

        results = _race(send(86, "form"), send(85, "hub"))
        tally.races += 1
        tally.unhandled += [f"race {n}: {r!r}"[:300] for r in results if isinstance(r, Exception)]
        with Session(engine) as s:
            reports = s.exec(select(Report).where(Report.patient_id == patient_id)).all()
            open_alerts = s.exec(select(Alert).where(Alert.patient_id == patient_id,
                                                     Alert.status != AlertStatus.RESOLVED.value)).all()
        if sorted(r.idempotency_key for r in reports) == ["form", "hub"] and all(r.zone == "red" for r in reports):
            landed += 1
        else:
            tally.lost += 1
        if len({a.rule_key for a in open_alerts}) != len(open_alerts) or not open_alerts:
            tally.duplicates += 1
    tally.retried = retries.count
    tally.report(request, backend, received=landed)
    assert (tally.lost, tally.duplicates, tally.unhandled, tally.retried) == (0, 0, [], 0)
    assert landed == tally.races
