"""Opening hours in the team's time zone, DST-correct, agreeing with services.teams."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from homefollow.escalation import OpeningHours, is_open, next_opening_change
from homefollow.services import teams

from .helpers import UTC, WEEKDAY_HOURS, oslo
from tests.conftest import examples

TZ = "Europe/Oslo"


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (oslo(2026, 3, 10, 7, 59), False),
        (oslo(2026, 3, 10, 8, 0), True),
        (oslo(2026, 3, 10, 15, 29), True),
        (oslo(2026, 3, 10, 15, 30), False),
        (oslo(2026, 3, 14, 10, 0), False),  # Saturday
        (oslo(2026, 3, 30, 8, 0), True),  # first Monday of summer time
        (oslo(2026, 10, 26, 7, 59), False),  # first Monday of winter time
        (oslo(2026, 10, 26, 8, 0), True),
    ],
)
def test_is_open(at, expected):
    assert is_open(WEEKDAY_HOURS, TZ, at) is expected


def test_opening_hours_json_round_trip_keeps_hh_mm():
    data = {"mon": ["08:00", "15:30"], "sat": ["10:00", "12:00"]}
    assert OpeningHours.model_validate(data).model_dump(mode="json") == data


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"mon": ["15:30", "08:00"]}, "mon: closes (08:00) must be after it opens (15:30)"),
        ({"mon": ["8", "15:30"]}, "must be a time of day written HH:MM, e.g. 08:00 (got '8')"),
        ({"funday": ["08:00", "15:30"]}, "Input should be 'mon', 'tue', 'wed', 'thu', 'fri', 'sat' or 'sun'"),
        ({"mon": ["08:00"]}, "Field required"),
    ],
)
def test_bad_opening_hours(data, fragment):
    with pytest.raises(ValidationError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        OpeningHours.model_validate(data)


def test_no_hours_means_always_closed_and_no_change():
    hours = OpeningHours({})
    assert not is_open(hours, TZ, oslo(2026, 3, 10, 10, 0))
    assert next_opening_change(hours, TZ, oslo(2026, 3, 10, 10, 0)) is None


def test_hours_inside_the_dst_gap_follow_rules_schedule():
    # 02:30 does not exist on 29 March; like rules.schedule it moves forward to 03:30.
    hours = OpeningHours.model_validate({"sun": ["02:30", "04:00"]})
    assert not is_open(hours, TZ, datetime(2026, 3, 29, 1, 15, tzinfo=UTC))  # 03:15 CEST
    assert is_open(hours, TZ, datetime(2026, 3, 29, 1, 30, tzinfo=UTC))  # 03:30 CEST
    assert next_opening_change(hours, TZ, datetime(2026, 3, 29, 0, 0, tzinfo=UTC)) == datetime(
        2026, 3, 29, 1, 30, tzinfo=UTC)


quarter_hours = st.integers(min_value=6 * 4, max_value=22 * 4).map(lambda q: time(q // 4, q % 4 * 15))
day_hours = st.tuples(quarter_hours, quarter_hours).filter(lambda p: p[0] < p[1])
hours_data = st.dictionaries(st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]), day_hours)
instants = st.integers(min_value=0, max_value=365 * 24 * 60).map(
    lambda m: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=m))


@settings(max_examples=examples(300), deadline=None)
@given(hours_data, instants)
def test_agrees_with_the_team_service(data, at):
    """Daytime hours (away from the 02:00–03:00 DST hour) give the same answer as
    homefollow.services.teams.is_open, which compares wall-clock times."""
    json_hours = {d: [a.strftime("%H:%M"), b.strftime("%H:%M")] for d, (a, b) in data.items()}
    team = SimpleNamespace(time_zone=TZ, opening_hours=json_hours)
    assert is_open(OpeningHours.model_validate(json_hours), TZ, at) == teams.is_open(team, at)


@settings(max_examples=examples(200), deadline=None)
@given(hours_data, instants)
def test_next_change_is_the_first_flip(data, at):
    hours = OpeningHours.model_validate({d: [a.strftime("%H:%M"), b.strftime("%H:%M")] for d, (a, b) in data.items()})
    change = next_opening_change(hours, TZ, at)
    if change is None:
        assert not data
        return
    state = is_open(hours, TZ, at)
    assert is_open(hours, TZ, change) != state
    # Nothing flips in between (checked every 15 minutes, the grid of the hours).
    probe = at
    while probe + timedelta(minutes=15) < change:
        probe += timedelta(minutes=15)
        assert is_open(hours, TZ, probe) == state
