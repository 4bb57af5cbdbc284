"""Adherence kept day by day for the figures page (services.adherence_days): always the same
numbers as counting the reports afresh (services.checklist), whatever arrives late, changes in
the plan or ends a pause; and a second look reads the kept days, not the reports."""

from __future__ import annotations

import random
import threading
from datetime import timedelta

import pytest
from sqlmodel import select

from homefollow.models import AdherenceDay, AdherenceRollup, Patient, ReportKind
from homefollow.scheduler import roll_up_adherence
from homefollow.services import adherence_days, checklist, plans, reporting
from homefollow.services.plan_changes import change_plan
from tests.factories import standard_plan

# Upserts and row locks differ between the databases: on PostgreSQL too.
pytestmark = pytest.mark.both_backends


def _direct(session, clock, patients, days) -> checklist.Adherence:
    """The definition: each patient's reports counted afresh by their current plan, summed."""
    total = checklist.Adherence(0, {}, {})
    for p in patients:
        content, _version = plans.current_content(session, p.id)
        if checklist.scheduled(content):
            total += checklist.adherence(session, clock, p, content, days)
    return total


def _kept(session, clock, patients, days) -> checklist.Adherence:
    """What the figures page sums, before and after the scheduler's roll-up: the same."""
    before = adherence_days.adherence_over(session, clock.now(), patients, days)
    session.commit()
    roll_up_adherence(session.get_bind(), clock, days)
    after = adherence_days.adherence_over(session, clock.now(), patients, days)
    session.commit()
    assert before == after
    return after


def _followed_for(session, clock, patient, days: int) -> None:
    patient.monitoring_since = clock.now() - timedelta(days=days)
    session.add(patient)
    session.commit()


def _weigh(session, clock, patient, key, at=None, kg=68.5):
    reporting.report_measurement(session, clock, patient=patient, item_key="weight", values={"weight": kg},
                                 idempotency_key=key, reported_by_account_id=None, actor_kind="patient",
                                 source=reporting.ReportSource.DEVICE, measured_at=at)
    session.commit()


def _reported_over(session, clock, patient, days, seed):
    """Some of a plan's measurements on some of the last `days` days, at their own times."""
    rng = random.Random(seed)
    today = clock.now()
    for back in range(days, 0, -1):
        for hour in (7, 8, 9, 17, 18, 19):
            if rng.random() < 0.3:
                clock.set(today - timedelta(days=back) + timedelta(hours=hour - 9, minutes=rng.randrange(60)))
                _weigh(session, clock, patient, f"r{seed}-{back}-{hour}")
    clock.set(today)


def test_the_kept_days_give_the_figures_counting_afresh_gives(session, clock, world, count_queries):
    patients = [world.patient_a1, world.patient_a2]
    for p in patients:
        p.monitoring_since = clock.now() - timedelta(days=40)
        session.add(p)
    session.commit()
    _reported_over(session, clock, world.patient_a1, 20, seed=1)

    first = _kept(session, clock, patients, 30)
    assert first == _direct(session, clock, patients, 30)
    assert first.total_expected > 0 and 0 < sum(first.done.values()) < first.total_expected
    # Once the days are kept, the page sums them and reads no report, and writes nothing.
    with count_queries() as statements:
        assert adherence_days.adherence_over(session, clock.now(), patients, 30) == first
    assert statements and not any(" report" in s.lower().split(" where ")[0] for s in statements)
    assert all(s.lstrip().upper().startswith("SELECT") for s in statements)
    session.commit()


def test_a_new_day_is_counted_on_top_of_the_days_kept(session, clock, world):
    patient = world.patient_a1
    _followed_for(session, clock, patient, 10)
    _reported_over(session, clock, patient, 5, seed=2)
    everyone = len(session.exec(select(Patient)).all())
    session.commit()
    assert roll_up_adherence(session.get_bind(), clock) == everyone  # the first time: everyone
    _weigh(session, clock, patient, "today")  # today: not counted until the day has ended

    clock.advance(days=1)
    expecting = len(session.exec(select(AdherenceRollup).where(AdherenceRollup.expects)).all())
    session.commit()
    # The nightly job: the day that ended, for each patient whose plan expects anything.
    assert 1 <= roll_up_adherence(session.get_bind(), clock) == expecting < everyone
    session.commit()
    marker = session.get(AdherenceRollup, patient.id)
    assert marker.through == checklist.counted_days(patient.time_zone, clock.now(), 30)[1]
    assert _kept(session, clock, [patient], 30) == _direct(session, clock, [patient], 30)
    assert roll_up_adherence(session.get_bind(), clock) == 0  # nothing left to count


def test_a_late_reading_for_a_counted_day_is_counted(session, clock, world):
    patient = world.patient_a1
    _followed_for(session, clock, patient, 10)
    before = _kept(session, clock, [patient], 7)
    # A device hub sends yesterday morning's weight today.
    _weigh(session, clock, patient, "late", at=clock.now() - timedelta(days=1, hours=1))
    assert session.get(AdherenceRollup, patient.id).through < clock.now().date()  # no longer holds
    session.commit()
    after = _kept(session, clock, [patient], 7)
    assert after == _direct(session, clock, [patient], 7)
    assert after.done[ReportKind.MEASUREMENT] == before.done[ReportKind.MEASUREMENT] + 1


def test_a_new_plan_counts_every_day_again_by_that_plan(session, clock, world):
    patient = world.patient_a1
    _followed_for(session, clock, patient, 10)
    _reported_over(session, clock, patient, 7, seed=3)
    before = _kept(session, clock, [patient], 7)
    smaller = standard_plan()
    smaller.measurements = [m for m in smaller.measurements if m.item == "weight"]
    change_plan(session, clock, patient=patient, content=smaller, author_account_id=None, reason="test", checked=False)
    session.commit()
    after = _kept(session, clock, [patient], 7)
    assert after == _direct(session, clock, [patient], 7)
    assert after.total_expected < before.total_expected


def test_a_longer_period_and_a_pause_that_ended_are_counted_as_the_definition_says(session, clock, world):
    patient = world.patient_a1
    _followed_for(session, clock, patient, 60)
    _reported_over(session, clock, patient, 12, seed=4)
    assert _kept(session, clock, [patient], 7) == _direct(session, clock, [patient], 7)
    assert _kept(session, clock, [patient], 30) == _direct(session, clock, [patient], 30)
    assert _kept(session, clock, [patient], 7) == _direct(session, clock, [patient], 7)
    # Follow-up started again five days ago (a pause ended): nothing is expected before.
    patient.resumed_at = clock.now() - timedelta(days=5)
    session.add(patient)
    session.commit()
    resumed = _kept(session, clock, [patient], 30)
    assert resumed == _direct(session, clock, [patient], 30) and resumed.days == 5
    rows = session.exec(select(AdherenceDay).where(AdherenceDay.patient_id == patient.id)).all()
    assert min(r.day for r in rows) == checklist.counted_days(patient.time_zone, clock.now(), 30,
                                                              patient.followed_since)[0]


def _waits_for_a_lock(engine, thread: threading.Thread) -> bool:
    """Whether some connection to this PostgreSQL database waits for a row lock, asked until it
    does while `thread` runs (at most thirty seconds: a loaded machine is slow to get there).
    Each question in a transaction of its own: PostgreSQL reads pg_stat_activity once per
    transaction, so asking again inside one never saw a wait that began after the first look
    (the test failed when the first look came before the reading reached the lock)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for _ in range(3000):
            if not thread.is_alive():
                return False
            if conn.exec_driver_sql("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                    "AND wait_event_type = 'Lock'").scalar():
                return True
            conn.exec_driver_sql("SELECT pg_sleep(0.01)")
        return False


def test_a_late_reading_while_the_roll_up_counts_waits_for_it_and_is_counted(backend, engine, session, clock, world):
    """The roll-up holds the locks of the patients it counts: a late reading of one of them
    waits until the count is committed, then marks the patient's days as no longer holding.
    Without the lock, the reading would commit first, the count (made without it) would be
    committed after, and the kept days would leave the reading out."""
    if backend != "postgresql":
        pytest.skip("SQLite lets one writer in at a time: the roll-up and the report cannot overlap")
    patient = world.patient_a1
    _followed_for(session, clock, patient, 10)
    from homefollow.models import Patient as PatientRow
    from sqlmodel import Session

    counting = Session(engine, expire_on_commit=False)
    adherence_days.roll_up(counting, clock.now(), [counting.get(PatientRow, patient.id)], 7)  # holds the lock
    errors: list[Exception] = []

    def late_reading():
        with Session(engine, expire_on_commit=False) as s:
            try:
                _weigh(s, clock, s.get(PatientRow, patient.id), "late-while-counting",
                       at=clock.now() - timedelta(days=1, hours=1))
            except Exception as exc:  # pragma: no cover - the assertion below reports it
                errors.append(exc)

    thread = threading.Thread(target=late_reading)
    thread.start()
    try:
        assert _waits_for_a_lock(engine, thread), f"the reading did not wait for the count: {errors}"
    finally:
        counting.commit()
        counting.close()
        thread.join()
    assert errors == []
    session.expire_all()
    assert session.get(AdherenceRollup, patient.id).through < clock.now().date()
    session.commit()
    assert _kept(session, clock, [patient], 7) == _direct(session, clock, [patient], 7)


def test_days_older_than_the_longest_period_are_let_go_and_the_figures_still_hold(session, clock, world):
    """The kept days do not grow for ever: a day older than the figures page's longest period is
    deleted as the roll-up moves on, and every period still gives what counting afresh gives."""
    from clinician_portal.figures import PERIODS

    assert max(PERIODS) <= adherence_days.KEEP_DAYS  # no period reaches past the days kept
    patient = world.patient_a1
    _followed_for(session, clock, patient, 400)
    _reported_over(session, clock, patient, 3, seed=5)
    # A year and a bit of nightly roll-ups, every patient counted as each day ends.
    first = checklist.counted_days(patient.time_zone, clock.now(), 90, patient.followed_since)[0]
    for _night in range(adherence_days.KEEP_DAYS - 90 + 20):
        clock.advance(days=1)
        roll_up_adherence(session.get_bind(), clock)
    session.commit()
    end = checklist.counted_days(patient.time_zone, clock.now(), 1)[1]
    days = sorted({r.day for r in session.exec(select(AdherenceDay).where(AdherenceDay.patient_id == patient.id))})
    assert days[0] == end - timedelta(days=adherence_days.KEEP_DAYS) > first  # the oldest twenty are gone
    assert days[-1] == end - timedelta(days=1)
    assert session.get(AdherenceRollup, patient.id).first_day == days[0]
    for period in PERIODS:
        assert _kept(session, clock, [patient], period) == _direct(session, clock, [patient], period)
