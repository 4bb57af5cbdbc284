"""An alert's count is the number of distinct readings (or occurrences) that raised it, not the
number of times the rules were evaluated: the scheduler evaluating the same readings again
does not count them again, and paging goes on as before."""

from datetime import time, timedelta

import pytest
from sqlmodel import select

from homefollow.models import Alert, AlertEvent, Notification
from homefollow.services import evaluation, reporting
from homefollow.services.plan_changes import change_plan
from homefollow.services.plans import AssignedRule, PlanMeasurement, Schedule, ZoneActions
from tests.factories import standard_plan

# Claims, locks, sweeps or SQL that differs between the databases: on PostgreSQL too.
pytestmark = pytest.mark.both_backends


def _pulse(session, clock, patient, value, key):
    return reporting.report_measurement(session, clock, patient=patient, item_key="pulse", values={"pulse": value},
                                        idempotency_key=key, reported_by_account_id=patient.account_id,
                                        actor_kind="patient")


def _pulse_plan():
    content = standard_plan()
    return content.model_copy(update={
        "measurements": [*content.measurements, PlanMeasurement(
            item="pulse", schedule=Schedule(times=(time(8, 0),)),
            patient_actions=ZoneActions(green="Fint.", yellow="Hvil.", red="Ring nå."))],
        "rules": [*content.rules, AssignedRule(key="general.pulse_red", parameters={"red_high": 120}),
                  AssignedRule(key="general.pulse_yellow", parameters={"yellow_low": 50, "yellow_high": 100}),
                  AssignedRule(key="missed.pulse")]})


def _with_pulse_plan(session, clock, world):
    patient = world.patient_a1
    change_plan(session, clock, patient=patient, content=_pulse_plan(), author_account_id=world.nurse_a.id,
                reason="test", checked=False)
    session.commit()
    return patient


def _ticks(session, clock, hours):
    for _ in range(hours):
        clock.advance(timedelta(hours=1))
        evaluation.sweep_due_rules(session, clock)
        session.commit()


def _pulse_alert(session):
    return session.exec(select(Alert).where(Alert.rule_key == "general.pulse")).one()


def test_two_red_pulses_count_twice_whatever_the_scheduler_does_in_between(session, clock, world):
    patient = _with_pulse_plan(session, clock, world)
    _pulse(session, clock, patient, 160, "p1")
    _ticks(session, clock, 5)
    assert _pulse_alert(session).occurrences == 1
    _pulse(session, clock, patient, 165, "p2")
    assert _pulse_alert(session).occurrences == 2
    _ticks(session, clock, 30)
    alert = _pulse_alert(session)
    assert alert.occurrences == 2
    repeated = session.exec(select(AlertEvent).where(AlertEvent.alert_id == alert.id,
                                                     AlertEvent.kind == "repeated")).all()
    assert [e.data["occurrences"] for e in repeated] == [2]


def test_a_milder_reading_counts_once_and_ticks_after_it_do_not_count_but_paging_goes_on(session, clock, world):
    """A red pulse, then a yellow one: the alert stays red and shows the red reading, so each
    tick's evaluation of the yellow rule "says something else". It was counted on every tick
    (the inflated "7 times"); it counts once. The escalation still runs on those ticks."""
    patient = _with_pulse_plan(session, clock, world)
    _pulse(session, clock, patient, 160, "p1")
    _ticks(session, clock, 5)
    _pulse(session, clock, patient, 110, "p2")
    assert _pulse_alert(session).occurrences == 2
    pages_before = len(session.exec(select(Notification)).all())
    _ticks(session, clock, 30)
    assert _pulse_alert(session).occurrences == 2
    # Unacknowledged, the red alert is paged again in its next round: an honest count pages as before.
    assert len(session.exec(select(Notification)).all()) > pages_before


def test_the_queue_and_the_alert_page_say_two_times(app, session, clock, world):
    from tests.test_triage import nurse_client
    patient = _with_pulse_plan(session, clock, world)
    _pulse(session, clock, patient, 160, "p1")
    _ticks(session, clock, 3)
    _pulse(session, clock, patient, 165, "p2")
    _ticks(session, clock, 20)
    client = nurse_client(app)
    queue = client.get("/clinic/").get_data(as_text=True)
    assert "2 ganger" in queue
    alert = _pulse_alert(session)
    page = client.get(f"/clinic/alerts/{alert.id}").get_data(as_text=True)
    assert "<dd>2</dd>" in page
