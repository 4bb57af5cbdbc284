"""'Today' follows the patient's wall clock in Europe/Oslo, across daylight-saving changes."""

from __future__ import annotations

from datetime import datetime, timedelta, UTC

import pytest

from homefollow.services import checklist, plans, reporting
from homefollow.services.checklist import SlotStatus

# Claims, locks, sweeps or SQL that differs between the databases: on PostgreSQL too.
pytestmark = pytest.mark.both_backends


def items(session, clock, patient):
    content, _version = plans.current_content(session, patient.id)
    return {i.item_key: i for i in checklist.today_items(session, clock, patient, content)}


@pytest.mark.parametrize("day, expected_utc_hour", [
    (datetime(2026, 3, 28, 12, tzinfo=UTC), 7),  # Saturday, winter time (UTC+1)
    (datetime(2026, 3, 29, 12, tzinfo=UTC), 6),  # Sunday, summer time began at 02:00
    (datetime(2026, 10, 25, 12, tzinfo=UTC), 7),  # Sunday, back to winter time
])
def test_the_morning_measurement_is_due_at_eight_local_time_on_dst_days(session, clock, world, day, expected_utc_hour):
    clock.set(day)
    spo2 = items(session, clock, world.patient_a1)["spo2"]
    assert [s.due_at.hour for s in spo2.slots] == [expected_utc_hour, expected_utc_hour + 10]


def test_slots_are_done_in_order_missed_after_grace_and_not_yet_before(session, clock, world):
    clock.set(datetime(2026, 3, 10, 6, 30, tzinfo=UTC))  # 07:30 in Oslo
    spo2 = items(session, clock, world.patient_a1)["spo2"]
    assert [s.status for s in spo2.slots] == [SlotStatus.NOT_YET, SlotStatus.LATER]  # 18:00 opens at 12:00
    clock.set(datetime(2026, 3, 10, 11, 1, tzinfo=UTC))  # 12:01: 08:00 + 3 h grace has passed
    assert items(session, clock, world.patient_a1)["spo2"].slots[0].status == SlotStatus.MISSED
    reporting.report_measurement(session, clock, patient=world.patient_a1, item_key="spo2", values={"spo2": 95},
                                 idempotency_key="late", reported_by_account_id=None, actor_kind="patient")
    spo2 = items(session, clock, world.patient_a1)["spo2"]
    assert [s.status for s in spo2.slots] == [SlotStatus.DONE, SlotStatus.NOT_YET]
    assert not spo2.done and spo2.next_open_slot == spo2.slots[1]


def test_a_report_late_last_night_does_not_count_for_today(session, clock, world):
    clock.set(datetime(2026, 3, 9, 22, 30, tzinfo=UTC))  # 23:30 in Oslo, Monday
    reporting.report_measurement(session, clock, patient=world.patient_a1, item_key="weight", values={"weight": 68},
                                 idempotency_key="night", reported_by_account_id=None, actor_kind="patient")
    clock.set(datetime(2026, 3, 9, 23, 30, tzinfo=UTC))  # 00:30 Tuesday in Oslo, still Monday in UTC
    assert items(session, clock, world.patient_a1)["weight"].slots[0].status == SlotStatus.LATER  # not DONE


def test_a_second_morning_reading_does_not_tick_off_the_evening(session, clock, world):
    for minutes, key in ((0, "first"), (65, "second")):
        clock.set(datetime(2026, 3, 10, 7, 0, tzinfo=UTC) + timedelta(minutes=minutes))  # 08:00, 09:05
        reporting.report_measurement(session, clock, patient=world.patient_a1, item_key="spo2", values={"spo2": 95},
                                     idempotency_key=key, reported_by_account_id=None, actor_kind="patient")
    assert [s.status for s in items(session, clock, world.patient_a1)["spo2"].slots] == [SlotStatus.DONE,
                                                                                      SlotStatus.LATER]
    clock.set(datetime(2026, 3, 10, 12, 30, tzinfo=UTC))  # 13:30: the evening may be done now
    reporting.report_measurement(session, clock, patient=world.patient_a1, item_key="spo2", values={"spo2": 95},
                                 idempotency_key="afternoon", reported_by_account_id=None, actor_kind="patient")
    assert items(session, clock, world.patient_a1)["spo2"].done
