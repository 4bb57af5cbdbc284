"""Pauses of follow-up and their end (services.pauses): a holiday ends by itself, a pause without
an end is questioned and questioned again, a discharge resumes through the same path, and two
sweeps at once do each thing once."""

from __future__ import annotations

import threading
from datetime import date, datetime, time, timedelta, UTC

import pytest
from sqlmodel import Session, select

from homefollow.models import Alert, AuditEvent, Notification, Outcome, Patient, ServicePerson
from homefollow.services import alerts, evaluation, hospital_stays, pauses, reminders, reporting
from homefollow.services.audit import Actor
from homefollow.services.pauses import PauseError
from homefollow.services.plans import AssignedRule
from rules.schedule import local_to_utc
from tests.factories import audit_events
from tests.test_rule_evaluation import with_rules

# Claims, locks, sweeps or SQL that differs between the databases: on PostgreSQL too.
pytestmark = pytest.mark.both_backends

OSLO = "Europe/Oslo"


def pause_holiday(session, clock, patient, last: date, *, by=None, kind="patient"):
    pauses.pause(session, clock, patient, reason=pauses.HOLIDAY, until=pauses.end_of(last, patient),
                 actor=Actor(by if by is not None else patient.account_id, kind))
    session.commit()


def items(session, key: str) -> list[Alert]:
    session.expire_all()
    return list(session.exec(select(Alert).where(Alert.rule_key == key).order_by(Alert.id)))


def reload(session, patient) -> Patient:
    session.expire_all()
    return session.get(Patient, patient.id)


# ---- pause -------------------------------------------------------------------------------------

def test_a_holiday_pause_stops_reminders_tells_the_team_without_paging_and_is_audited(session, clock, world):
    patient = world.patient_a1
    patient.reminders = {"enabled": True}
    reminders.schedule_next(session, clock, patient)
    session.commit()
    assert patient.reminder_due_at is not None
    pause_holiday(session, clock, patient, date(2026, 3, 20))

    patient = reload(session, patient)
    assert (patient.status, patient.pause_reason, patient.paused_at) == ("paused", "holiday", clock.now())
    assert patient.paused_until == local_to_utc(date(2026, 3, 21), time(0, 0), OSLO)  # the midnight after
    assert patient.pause_review_at is None and patient.reminder_due_at is None
    assert pauses.last_day(patient) == date(2026, 3, 20)

    [item] = items(session, pauses.PAUSED_KEY)
    assert (item.severity, item.status, item.escalation_policy) == ("yellow", "open", None)
    assert "Astrid A1" in item.explanation["en"] and "20 Mar" in item.explanation["en"]
    assert "20" in item.title["nb"]
    assert session.exec(select(Notification)).all() == []  # nobody is paged
    [row] = audit_events(session, "patient.pause")
    assert (row.actor_kind, row.patient_id, row.detail["reason"]) == ("patient", patient.id, "holiday")


def test_a_relative_who_pauses_is_named_with_the_relation(session, clock, world):
    pause_holiday(session, clock, world.patient_a1, date(2026, 3, 12), by=world.relative.id, kind="relative")
    [item] = items(session, pauses.PAUSED_KEY)
    assert "Marit Datter (datter)" in item.explanation["en"]


def test_a_pause_by_the_team_puts_nothing_in_the_queue(session, clock, world):
    pauses.pause(session, clock, world.patient_a1, reason=pauses.OTHER, until=None,
                 actor=Actor(world.nurse_a.id, "staff"))
    session.commit()
    patient = reload(session, world.patient_a1)
    assert patient.pause_reason == "other" and patient.pause_review_at == clock.now() + pauses.REVIEW_AFTER
    assert session.exec(select(Alert)).all() == []
    assert audit_events(session, "patient.pause")[0].actor_account_id == world.nurse_a.id


@pytest.mark.parametrize("reason, until, kind, problem", [
    ("holiday", None, "staff", ("until", "required")),
    ("holiday", "past", "staff", ("until", "past")),
    ("holiday", "61 days", "staff", ("until", "too_far")),
    ("other", "61 days", "staff", ("until", "too_far")),
    ("sabbatical", None, "staff", ("reason", "unknown")),
    ("admission", None, "patient", ("reason", "unknown")),  # the patient's side pauses for a holiday only
    ("holiday", None, "relative", ("until", "required")),  # … and always with an end
])
def test_a_pause_that_does_not_fit_is_refused_and_changes_nothing(session, clock, world, reason, until, kind,
                                                                  problem):
    patient = world.patient_a1
    until = {None: None, "past": clock.now(),
             "61 days": pauses.end_of(date(2026, 3, 10) + timedelta(days=61), patient)}[until]
    with pytest.raises(PauseError) as refused:
        pauses.pause(session, clock, patient, reason=reason, until=until, actor=Actor(None, kind))
    assert (refused.value.field, refused.value.code) == problem
    session.rollback()
    assert reload(session, patient).status == "active"
    assert audit_events(session, "patient.pause") == []


def test_the_longest_pause_is_sixty_days_and_absurd_dates_are_errors_not_overflows(session, clock, world):
    patient = world.patient_a1
    today = date(2026, 3, 10)
    assert pauses.until_from(clock, patient, today) == pauses.end_of(today, patient)  # away for the rest of today
    assert pauses.until_from(clock, patient, today + timedelta(days=60)) == pauses.end_of(today + timedelta(days=60),
                                                                                        patient)
    for day, code in ((today + timedelta(days=61), "too_far"), (date(9999, 12, 31), "too_far"),
                      (date(1, 1, 1), "past"), (today - timedelta(days=1), "past")):
        with pytest.raises(PauseError) as refused:
            pauses.until_from(clock, patient, day)
        assert refused.value.code == code


def test_an_ended_patient_cannot_be_paused(session, clock, world):
    patient = world.patient_a1
    patient.status = "ended"
    session.add(patient)
    session.commit()
    with pytest.raises(PauseError) as refused:
        pause_holiday(session, clock, patient, date(2026, 3, 12))
    assert refused.value.code == "not_followed"
    session.rollback()
    assert reload(session, patient).status == "ended"


def test_the_patient_cannot_turn_an_admission_into_a_holiday(session, clock, world):
    patient = world.patient_a1
    pauses.pause(session, clock, patient, reason=pauses.ADMISSION, until=None, actor=Actor(None, "api"))
    session.commit()
    with pytest.raises(PauseError) as refused:
        pause_holiday(session, clock, patient, date(2026, 3, 12))
    assert refused.value.code == "set_by_team"


def test_readings_while_paused_are_still_checked_and_a_red_value_still_alerts(session, clock, world):
    patient = world.patient_a1
    pause_holiday(session, clock, patient, date(2026, 3, 20))
    outcome = reporting.report_measurement(session, clock, patient=reload(session, patient), item_key="spo2",
                                           values={"spo2": 84}, idempotency_key="away-1",
                                           reported_by_account_id=patient.account_id, actor_kind="patient")
    session.commit()
    assert outcome.zone.value == "red"
    assert [a.severity for a in session.exec(select(Alert).where(Alert.rule_key.not_like("pause.%")))] == ["red"]
    assert session.exec(select(Notification)).all()  # the red alert is paged as always


# ---- resume ------------------------------------------------------------------------------------

def test_resume_starts_reminders_and_rules_again_and_is_audited(session, clock, world):
    patient = world.patient_a1
    patient.reminders = {"enabled": True}
    pause_holiday(session, clock, patient, date(2026, 3, 20))
    clock.advance(days=2)
    assert pauses.resume(session, clock, reload(session, patient), actor=Actor(world.nurse_a.id, "staff"))
    session.commit()
    patient = reload(session, patient)
    assert (patient.status, patient.resumed_at, patient.reminder_due_at is not None) == ("active", clock.now(), True)
    assert (patient.paused_at, patient.pause_reason, patient.paused_until, patient.pause_review_at) == (None,) * 4
    [row] = audit_events(session, "patient.resume")
    assert (row.actor_kind, row.detail["reason"], row.detail["by_end_date"]) == ("staff", "holiday", False)
    # Not paused any more: a second resume (a double tap) does nothing.
    assert not pauses.resume(session, clock, patient, actor=Actor(world.nurse_a.id, "staff"))
    session.commit()
    assert len(audit_events(session, "patient.resume")) == 1


def test_home_early_updates_the_open_pause_item_instead_of_adding_one(session, clock, world):
    patient = world.patient_a1
    pause_holiday(session, clock, patient, date(2026, 3, 20))
    clock.advance(days=1)
    pauses.resume(session, clock, reload(session, patient), actor=Actor(patient.account_id, "patient"))
    session.commit()
    [item] = items(session, pauses.PAUSED_KEY)
    assert item.occurrences == 2 and "home again" in item.explanation["en"]


def test_home_from_a_holiday_whose_item_was_resolved_adds_nothing(session, clock, world):
    patient = world.patient_a1
    pause_holiday(session, clock, patient, date(2026, 3, 20))
    [item] = items(session, pauses.PAUSED_KEY)
    alerts.resolve(session, clock, item.id, world.nurse_a.id, Outcome.OTHER, "Noted")
    pauses.resume(session, clock, reload(session, patient), actor=Actor(patient.account_id, "patient"))
    session.commit()
    assert [i.status for i in items(session, pauses.PAUSED_KEY)] == ["resolved"]


def test_a_patient_home_from_hospital_tells_the_team(session, clock, world):
    patient = world.patient_a1
    pauses.pause(session, clock, patient, reason=pauses.ADMISSION, until=None, actor=Actor(None, "api"))
    session.commit()
    clock.advance(days=2)
    pauses.resume(session, clock, reload(session, patient), actor=Actor(world.relative.id, "relative"))
    session.commit()
    [item] = items(session, pauses.PAUSED_KEY)
    assert "Marit Datter (datter)" in item.explanation["en"] and item.value_text["en"] == "Hospital admission"


# ---- the sweep ---------------------------------------------------------------------------------

def test_a_holiday_ends_by_itself_at_the_local_midnight_after_its_last_day(session, clock, world):
    patient = world.patient_a1
    pause_holiday(session, clock, patient, date(2026, 3, 12))
    midnight = datetime(2026, 3, 12, 23, 0, tzinfo=UTC)  # 00:00 on the 13th in Oslo (CET)
    clock.set(midnight - timedelta(seconds=1))
    assert pauses.sweep_due_pauses(session, clock) == pauses.PauseSweep()
    assert reload(session, patient).status == "paused"
    clock.set(midnight + timedelta(seconds=15))  # the next tick
    assert pauses.sweep_due_pauses(session, clock).resumed == 1
    patient = reload(session, patient)
    assert (patient.status, patient.resumed_at, patient.paused_until) == ("active", clock.now(), None)
    [row] = audit_events(session, "patient.resume")
    assert (row.actor_kind, row.actor_account_id, row.detail["by_end_date"]) == ("system", None, True)
    assert pauses.sweep_due_pauses(session, clock) == pauses.PauseSweep()


@pytest.mark.parametrize("last_day, resumes_at", [
    # The last Sunday of March: the clocks went forward at 02:00, so Monday 00:00 is 22:00 UTC.
    (date(2026, 3, 29), datetime(2026, 3, 29, 22, 0, tzinfo=UTC)),
    # The Saturday before: Sunday 00:00 is still winter time, 23:00 UTC.
    (date(2026, 3, 28), datetime(2026, 3, 28, 23, 0, tzinfo=UTC)),
    # The last Sunday of October: the clocks went back at 03:00, so Monday 00:00 is 23:00 UTC.
    (date(2026, 10, 25), datetime(2026, 10, 25, 23, 0, tzinfo=UTC)),
    # The Saturday before: Sunday 00:00 is still summer time, 22:00 UTC.
    (date(2026, 10, 24), datetime(2026, 10, 24, 22, 0, tzinfo=UTC)),
])
def test_a_holiday_ending_around_a_dst_change_resumes_at_local_midnight(session, clock, world, last_day,
                                                                       resumes_at):
    clock.set(resumes_at - timedelta(days=10))
    patient = world.patient_a1
    pause_holiday(session, clock, patient, last_day)
    assert reload(session, patient).paused_until == resumes_at
    clock.set(resumes_at - timedelta(minutes=1))
    assert pauses.sweep_due_pauses(session, clock).resumed == 0
    clock.set(resumes_at)
    assert pauses.sweep_due_pauses(session, clock).resumed == 1
    assert reload(session, patient).status == "active"


def test_check_ins_missed_on_holiday_are_not_held_against_the_patient_but_the_next_day_counts(session, clock, world):
    clock.set(datetime(2026, 3, 10, 5, 0, tzinfo=UTC))  # 06:00 in Oslo
    world.patient_a1.monitoring_since = clock.now()
    patient = with_rules(session, clock, world, AssignedRule(key="hf.weight_missed"))
    session.commit()
    pause_holiday(session, clock, patient, date(2026, 3, 11))
    for hour in range(6, 49, 6):  # the scheduler keeps sweeping through the holiday, to 06:00 on the 12th
        clock.set(datetime(2026, 3, 10, 5, 0, tzinfo=UTC) + timedelta(hours=hour))
        pauses.sweep_due_pauses(session, clock)
        evaluation.sweep_due_rules(session, clock)
    # Resumed at 00:00 on the 12th; nothing missed on the 10th or 11th raised an alert.
    assert reload(session, patient).status == "active"
    assert [a.rule_key for a in session.exec(select(Alert))] == [pauses.PAUSED_KEY]
    # The weighing of the 12th at 08:00 is expected again: missed by 11:00, it is an alert.
    clock.set(datetime(2026, 3, 12, 10, 0, tzinfo=UTC))
    evaluation.sweep_due_rules(session, clock)
    assert {a.rule_key for a in items(session, "hf.weight_missed")} == {"hf.weight_missed"}


def test_a_pause_moved_later_a_moment_ago_is_not_resumed(engine, session, clock, world):
    patient_id = world.patient_a1.id
    pause_holiday(session, clock, world.patient_a1, date(2026, 3, 12))
    clock.set(datetime(2026, 3, 12, 23, 0, tzinfo=UTC))
    with Session(engine, expire_on_commit=False) as sweep:
        due = sweep.get(Patient, patient_id)
        sweep.commit()
        # The patient extends the holiday after the sweep found the pause due, before it claims it.
        session.commit()
        with Session(engine) as other:
            pause_holiday(other, clock, other.get(Patient, patient_id), date(2026, 3, 14))
        assert not pauses.resume(sweep, clock, due, actor=Actor(None, "system"), ended=True)
        sweep.rollback()
    assert session.get(Patient, patient_id).status == "paused"


def admit(session, clock, world):
    patient = world.patient_a1
    session.add(ServicePerson(team_id=patient.team_id, person_key="p-a1", name=patient.name, patient_id=patient.id,
                              created_at=clock.now(), updated_at=clock.now()))
    session.flush()
    hospital_stays.admit(session, clock, patient=patient, source="UNN", source_id="ADM-1", admitted_at=clock.now(),
                         hospital="UNN Tromsø")
    session.commit()
    return patient


def test_an_admission_is_questioned_after_five_days_and_again_every_three(session, clock, world):
    patient = admit(session, clock, world)
    admitted_at = clock.now()
    assert reload(session, patient).pause_review_at == admitted_at + timedelta(days=5)
    clock.set(admitted_at + timedelta(days=5) - timedelta(seconds=1))
    assert pauses.sweep_due_pauses(session, clock).asked == 0
    clock.set(admitted_at + timedelta(days=5))
    assert pauses.sweep_due_pauses(session, clock).asked == 1
    assert pauses.sweep_due_pauses(session, clock).asked == 0  # asked once per review, not once per tick
    [item] = items(session, pauses.REVIEW_KEY)
    assert (item.severity, item.status, item.escalation_policy) == ("yellow", "open", None)
    assert "Still admitted" in item.title["en"] and "Resume follow-up" in item.explanation["en"]
    assert reload(session, patient).pause_review_at == clock.now() + timedelta(days=3)

    # Still admitted: the nurse resolves the item, and is asked again three days later.
    alerts.resolve(session, clock, item.id, world.nurse_a.id, Outcome.OTHER, "Fortsatt innlagt")
    clock.advance(days=3)
    assert pauses.sweep_due_pauses(session, clock).asked == 1
    assert [i.status for i in items(session, pauses.REVIEW_KEY)] == ["resolved", "open"]
    # Not looked at: the open item is seen again rather than doubled.
    clock.advance(days=3)
    assert pauses.sweep_due_pauses(session, clock).asked == 1
    [_resolved, again] = items(session, pauses.REVIEW_KEY)
    assert again.occurrences == 2
    assert reload(session, patient).status == "paused"  # nothing resumes an admission by itself


def test_a_discharge_resumes_through_the_pause_service(session, clock, world):
    patient = admit(session, clock, world)
    clock.advance(days=2)
    hospital_stays.discharge(session, clock, patient=reload(session, patient), source="UNN", source_id="ADM-1",
                             discharged_at=clock.now(), hospital="UNN Tromsø")
    session.commit()
    patient = reload(session, patient)
    assert (patient.status, patient.resumed_at, patient.pause_review_at) == ("active", clock.now(), None)
    assert [r.actor_kind for r in audit_events(session, "patient.resume")] == ["api"]
    clock.advance(days=10)
    assert pauses.sweep_due_pauses(session, clock) == pauses.PauseSweep()  # no question after the discharge


def test_an_admission_during_a_holiday_becomes_a_pause_without_an_end(session, clock, world):
    pause_holiday(session, clock, world.patient_a1, date(2026, 3, 12))
    patient = admit(session, clock, world)
    patient = reload(session, patient)
    assert (patient.pause_reason, patient.paused_until) == ("admission", None)
    clock.set(datetime(2026, 3, 13, 12, 0, tzinfo=UTC))  # after the holiday's last day
    assert pauses.sweep_due_pauses(session, clock).resumed == 0
    assert reload(session, patient).status == "paused"


def test_two_sweeps_at_once_resume_once_and_ask_once(engine, session, clock, world):
    pause_holiday(session, clock, world.patient_a1, date(2026, 3, 12))
    pauses.pause(session, clock, world.patient_a2, reason=pauses.ADMISSION, until=None, actor=Actor(None, "api"))
    session.commit()
    clock.set(datetime(2026, 3, 20, 12, 0, tzinfo=UTC))
    barrier = threading.Barrier(3)
    results, errors = [], []

    def sweep():
        with Session(engine, expire_on_commit=False) as s:
            barrier.wait()
            try:
                results.append(pauses.sweep_due_pauses(s, clock))
            except Exception as exc:  # pragma: no cover - the assertion below reports it
                errors.append(exc)

    threads = [threading.Thread(target=sweep) for _ in range(3)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert errors == [] and sum(r.failed for r in results) == 0
    assert (sum(r.resumed for r in results), sum(r.asked for r in results)) == (1, 1)
    assert len(audit_events(session, "patient.resume")) == 1
    [review] = items(session, pauses.REVIEW_KEY)
    assert review.occurrences == 1 and review.patient_id == world.patient_a2.id
    session.expire_all()
    assert len(session.exec(select(AuditEvent).where(AuditEvent.action == "patient.resume")).all()) == 1
