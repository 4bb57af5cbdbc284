"""On-call rotations and overrides, including the DST nights."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from homefollow.escalation import OnCallSchedule, Rotation, shift_on, who_is_on_call

from .helpers import OSLO, UTC, oslo
from tests.conftest import examples

TZ = "Europe/Oslo"


def rotation(**fields) -> Rotation:
    base = {"role": "nurse", "people": [1, 2, 3], "start_date": "2026-03-02", "shift_start": "08:00",
            "shift_end": "16:00"}
    return Rotation.model_validate({**base, **fields})


def schedule(*rotations: Rotation, overrides=()) -> OnCallSchedule:
    return OnCallSchedule(rotations=rotations, overrides=overrides)


def test_daily_rotation_takes_turns_in_order():
    s = schedule(rotation())
    assert [who_is_on_call(s, "nurse", oslo(2026, 3, d, 12, 0)) for d in range(2, 8)] == [1, 2, 3, 1, 2, 3]


def test_weekday_rotation_counts_shifts_not_days():
    s = schedule(rotation(weekdays=[0, 1, 2, 3, 4]))
    # Mon–Fri: 1 2 3 1 2, weekend nobody, next Monday 3.
    week = [who_is_on_call(s, "nurse", oslo(2026, 3, d, 12, 0)) for d in range(2, 10)]
    assert week == [1, 2, 3, 1, 2, None, None, 3]


def test_weekly_handover():
    s = schedule(rotation(handover="weekly", people=[7, 8], shift_start="08:00", shift_end="08:00"))
    assert who_is_on_call(s, "nurse", oslo(2026, 3, 2, 9, 0)) == 7
    assert who_is_on_call(s, "nurse", oslo(2026, 3, 9, 7, 59)) == 7
    assert who_is_on_call(s, "nurse", oslo(2026, 3, 9, 8, 0)) == 8
    assert who_is_on_call(s, "nurse", oslo(2026, 3, 16, 8, 0)) == 7


def test_outside_shifts_before_the_start_and_for_other_roles_nobody_is_on_call():
    s = schedule(rotation())
    assert who_is_on_call(s, "nurse", oslo(2026, 3, 3, 7, 59)) is None
    assert who_is_on_call(s, "nurse", oslo(2026, 3, 3, 16, 0)) is None
    assert who_is_on_call(s, "nurse", oslo(2026, 3, 1, 12, 0)) is None
    assert who_is_on_call(s, "physician", oslo(2026, 3, 3, 12, 0)) is None


def test_night_shift_is_covered_by_the_shift_that_started_yesterday():
    s = schedule(rotation(shift_start="22:00", shift_end="08:00"))
    assert who_is_on_call(s, "nurse", oslo(2026, 3, 3, 3, 0)) == 1  # Monday's night
    assert who_is_on_call(s, "nurse", oslo(2026, 3, 3, 23, 0)) == 2


@pytest.mark.parametrize(("day", "hours"), [(date(2026, 3, 28), 9), (date(2026, 3, 21), 10), (date(2026, 10, 24), 11)])
def test_night_shift_across_the_dst_change_is_shorter_or_longer(day, hours):
    night = shift_on(rotation(shift_start="22:00", shift_end="08:00"), day, TZ)
    assert night.end - night.start == timedelta(hours=hours)
    assert night.start.astimezone(OSLO).time() == time(22, 0)
    assert night.end.astimezone(OSLO).time() == time(8, 0)


@pytest.mark.parametrize("day", [date(2026, 3, 27), date(2026, 3, 30), date(2026, 10, 23), date(2026, 10, 26)])
def test_day_shift_stays_at_eight_local(day):
    shift = shift_on(rotation(), day, TZ)
    assert shift.start.astimezone(OSLO).time() == time(8, 0)
    assert shift.end - shift.start == timedelta(hours=8)


def test_who_is_on_call_during_the_dst_nights():
    s = schedule(rotation(shift_start="22:00", shift_end="08:00"))
    # Spring: the night starting Saturday 28 March ends at 08:00 CEST = 06:00 UTC.
    saturday_night = who_is_on_call(s, "nurse", datetime(2026, 3, 29, 5, 59, tzinfo=UTC))
    assert saturday_night is not None
    assert who_is_on_call(s, "nurse", datetime(2026, 3, 29, 6, 0, tzinfo=UTC)) is None
    # Autumn: the night starting Saturday 24 October ends at 08:00 CET = 07:00 UTC.
    assert who_is_on_call(s, "nurse", datetime(2026, 10, 25, 6, 59, tzinfo=UTC)) is not None
    assert who_is_on_call(s, "nurse", datetime(2026, 10, 25, 7, 0, tzinfo=UTC)) is None
    # Both passes of the repeated hour 02:00–03:00 belong to the same night.
    first = who_is_on_call(s, "nurse", datetime(2026, 10, 25, 0, 30, tzinfo=UTC))  # 02:30 CEST
    second = who_is_on_call(s, "nurse", datetime(2026, 10, 25, 1, 30, tzinfo=UTC))  # 02:30 CET
    assert first == second is not None


def test_overrides_win_and_the_newest_wins():
    s = OnCallSchedule.model_validate({
        "rotations": [rotation().model_dump(mode="json")],
        "overrides": [
            {"role": "nurse", "person": 9, "start": "2026-03-03T10:00:00+01:00", "end": "2026-03-03T14:00:00+01:00",
             "note": "bytte"},
            {"role": "nurse", "person": 10, "start": "2026-03-03T12:00:00+01:00",
             "end": "2026-03-03T13:00:00+01:00"},
            {"role": "physician", "person": 50, "start": "2026-03-03T00:00:00+01:00",
             "end": "2026-03-04T00:00:00+01:00"},
        ],
    })
    assert who_is_on_call(s, "nurse", oslo(2026, 3, 3, 9, 59)) == 2
    assert who_is_on_call(s, "nurse", oslo(2026, 3, 3, 10, 0)) == 9
    assert who_is_on_call(s, "nurse", oslo(2026, 3, 3, 12, 30)) == 10
    assert who_is_on_call(s, "nurse", oslo(2026, 3, 3, 13, 0)) == 9
    assert who_is_on_call(s, "nurse", oslo(2026, 3, 3, 14, 0)) == 2
    assert who_is_on_call(s, "physician", oslo(2026, 3, 3, 20, 0)) == 50  # an override needs no rotation


def test_first_rotation_wins_where_rotations_overlap():
    s = schedule(rotation(people=[1]), rotation(people=[2], shift_start="00:00", shift_end="00:00"))
    assert who_is_on_call(s, "nurse", oslo(2026, 3, 3, 12, 0)) == 1
    assert who_is_on_call(s, "nurse", oslo(2026, 3, 3, 20, 0)) == 2


def test_json_round_trip():
    s = schedule(rotation(weekdays=[4, 0]), overrides=[])
    data = s.model_dump(mode="json")
    assert data["rotations"][0]["shift_start"] == "08:00" and data["rotations"][0]["weekdays"] == [0, 4]
    assert OnCallSchedule.model_validate(data) == s


def test_naive_moment_is_refused():
    with pytest.raises(ValueError, match="aware"):
        who_is_on_call(schedule(rotation()), "nurse", datetime(2026, 3, 3, 12, 0))


@pytest.mark.parametrize(
    ("data", "loc", "message"),
    [
        ({"rotations": [{**rotation().model_dump(mode="json"), "people": []}]}, ("rotations", 0, "people"),
         "list at least one person (account id)"),
        ({"rotations": [{**rotation().model_dump(mode="json"), "shift_start": "8"}]},
         ("rotations", 0, "shift_start"), "must be a time of day written HH:MM, e.g. 08:00 (got '8')"),
        ({"rotations": [{**rotation().model_dump(mode="json"), "weekdays": [7]}]}, ("rotations", 0, "weekdays"),
         "choose at least one weekday, 0 (Monday) … 6 (Sunday)"),
        ({"time_zone": "Europe/Bergen"}, ("time_zone",),
         "unknown time zone 'Europe/Bergen'; use an IANA name such as Europe/Oslo"),
        ({"overrides": [{"person": 1, "start": "2026-03-03T12:00:00+01:00", "end": "2026-03-03T10:00:00+01:00"}]},
         ("overrides", 0, "end"), "must be after the start"),
        ({"overrides": [{"person": 1, "start": "2026-03-01T12:00:00+01:00", "end": "2026-04-03T10:00:00+01:00"}]},
         ("overrides", 0, "end"), "an override may last at most 31 days; change the rotation instead"),
        ({"overrides": [{"person": 1, "start": "2026-03-03T12:00:00", "end": "2026-03-03T14:00:00+01:00"}]},
         ("overrides", 0, "start"), "Input should have timezone info"),
    ],
)
def test_validation_messages(data, loc, message):
    with pytest.raises(ValidationError) as info:
        OnCallSchedule.model_validate(data)
    errors = [(e["loc"], e["msg"].removeprefix("Value error, ")) for e in info.value.errors()]
    assert (loc, message) in errors


days = st.dates(min_value=date(2026, 1, 1), max_value=date(2028, 12, 31))


@settings(max_examples=examples(200), deadline=None)
@given(days, st.integers(min_value=0, max_value=24 * 60 - 1))
def test_round_the_clock_rotation_always_has_someone(day, minute):
    s = schedule(rotation(start_date="2025-12-29", shift_start="08:00", shift_end="08:00"))
    at = datetime.combine(day, time(0, 0), tzinfo=UTC) + timedelta(minutes=minute)
    assert who_is_on_call(s, "nurse", at) in (1, 2, 3)


@settings(max_examples=examples(200), deadline=None)
@given(days)
def test_shifts_start_at_their_local_time_and_last_23_to_25_hours_for_24h_rotations(day):
    shift = shift_on(rotation(start_date="2025-12-29", shift_start="07:30", shift_end="07:30"), day, TZ)
    assert shift.start.astimezone(OSLO).time() == time(7, 30)
    assert shift.end - shift.start in (timedelta(hours=23), timedelta(hours=24), timedelta(hours=25))
