"""'I dag': a measurement taken earlier the same local day counts for the day's first slot of
that item, even before the slot's usual window opens (issue 20: a weight at 06:50 for a 13:00
slot was "not done", and the patient was reminded of it). Injected clock, across DST."""

from __future__ import annotations

from datetime import datetime, time, timedelta, UTC
from zoneinfo import ZoneInfo

import pytest

from homefollow.services import checklist, plans, reporting
from homefollow.services.checklist import SlotStatus
from homefollow.services.plans import PlanMeasurement
from rules.schedule import Schedule
from tests.factories import standard_plan

# Claims, locks, sweeps or SQL that differs between the databases: on PostgreSQL too.
pytestmark = pytest.mark.both_backends

OSLO = ZoneInfo("Europe/Oslo")


def local(y, m, d, hh, mm=0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=OSLO).astimezone(UTC)


def weight_at(*times: time):
    base = standard_plan()
    others = [m for m in base.measurements if m.item != "weight"]
    return base.model_copy(update={"measurements": [*others, PlanMeasurement(item="weight",
                                                                           schedule=Schedule(times=times))]})


def weight_slots(content, reported_at: list[datetime], now: datetime):
    reported = {("measurement", "weight"): [(at, True) for at in reported_at]}
    item = next(i for i in checklist.today_items_of(content, "Europe/Oslo", reported, now) if i.key == "weight")
    return [s.status for s in item.slots]


@pytest.mark.parametrize("day", [(2026, 3, 10), (2026, 3, 29), (2026, 10, 25)])  # ordinary, spring, autumn DST
def test_a_weight_at_06_50_counts_for_the_13_00_slot(day):
    content = weight_at(time(13, 0))
    morning = local(*day, 6, 50)
    assert weight_slots(content, [morning], local(*day, 7, 0)) == [SlotStatus.DONE]
    assert weight_slots(content, [morning], local(*day, 18, 0)) == [SlotStatus.DONE]  # not missed after grace
    assert weight_slots(content, [], local(*day, 18, 0)) == [SlotStatus.MISSED]  # without it, missed


@pytest.mark.parametrize("day", [(2026, 3, 29), (2026, 10, 25)])
def test_a_reading_last_night_does_not_count_for_today_across_dst(day):
    content = weight_at(time(13, 0))
    yesterday_late = local(*day, 0, 0) - timedelta(minutes=30)
    assert weight_slots(content, [yesterday_late], local(*day, 18, 0)) == [SlotStatus.MISSED]


def test_an_early_reading_counts_for_the_first_slot_only():
    content = weight_at(time(13, 0), time(20, 0))
    early = local(2026, 3, 10, 5, 0)
    assert weight_slots(content, [early], local(2026, 3, 10, 23, 30)) == [SlotStatus.DONE, SlotStatus.MISSED]
    # a second early reading does not tick off the evening (it opens at 14:00)
    assert weight_slots(content, [early, early + timedelta(minutes=5)], local(2026, 3, 10, 23, 30)) \
        == [SlotStatus.DONE, SlotStatus.MISSED]


def test_before_the_window_the_slot_is_shown_as_later_but_a_reading_counts():
    content = weight_at(time(13, 0))
    assert weight_slots(content, [], local(2026, 3, 10, 6, 0)) == [SlotStatus.LATER]
    assert weight_slots(content, [local(2026, 3, 10, 5, 55)], local(2026, 3, 10, 6, 0)) == [SlotStatus.DONE]


def test_today_items_with_a_stored_report_before_the_window(session, clock, world):
    """Through the database: the report's measured_at is what counts."""
    patient = world.patient_a1
    content = weight_at(time(13, 0))
    from homefollow.services.plan_changes import change_plan

    clock.set(local(2026, 3, 10, 6, 0))
    change_plan(session, clock, patient=patient, content=content, author_account_id=world.nurse_a.id,
                reason="weight at 13", checked=False)
    clock.set(local(2026, 3, 10, 6, 50))
    reporting.report_measurement(session, clock, patient=patient, item_key="weight", values={"weight": 68.0},
                                 idempotency_key="early", reported_by_account_id=None, actor_kind="patient")
    clock.set(local(2026, 3, 10, 17, 0))
    current, _version = plans.current_content(session, patient.id)
    weight = next(i for i in checklist.today_items(session, clock, patient, current) if i.key == "weight")
    assert [s.status for s in weight.slots] == [SlotStatus.DONE]


def test_done_and_due_cards_differ_in_words_and_marks_not_only_colour(app, session, clock, world):
    from tests.webclient import WebClient, text_of

    clock.set(local(2026, 3, 10, 7, 42))
    reporting.report_measurement(session, clock, patient=world.patient_a1, item_key="weight", values={"weight": 68.0},
                                 idempotency_key="w", reported_by_account_id=None, actor_kind="patient")
    client = WebClient(app.test_client())
    client.login_patient("+4791000001")
    response = client.get("/today")
    html = response.get_data(as_text=True)
    page = text_of(response)
    assert "Gjort kl. 07:42" in page
    assert 'class="task task--done task--finished"' in html and 'class="task__mark" aria-hidden="true">✓' in html
    assert "Registrer nå" in page and "task--due" in html  # the SpO2 08:00 is due: a call to act
    assert "patient_forms.css" in html
