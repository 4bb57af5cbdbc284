"""On-call schedules: who answers for a role at a given moment.

Pure: no database and no clock; every moment is an argument (an aware datetime).

A schedule is a list of rotations plus overrides. A rotation has shifts that start at a local
wall-clock time ("08:00" in Europe/Oslo) on chosen weekdays, with the people taking turns in
the listed order from a starting date. Shift times are computed per local date and converted
to UTC (rules.schedule.local_to_utc), so a day shift starts at 08:00 local all year, and a
night shift over a DST change is an hour shorter (March) or longer (October).

Who is on call at `at`, for a role:
1. the last override in the list that covers `at` (overrides are appended, the newest wins);
2. otherwise the first rotation in the list with a shift covering `at`;
3. otherwise nobody (None) — the escalation planner then pages the policy's fallback.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationInfo,
    field_validator,
)

from rules.schedule import local_date_of, local_to_utc

from ..values import BadValue, format_time, parse_time

# The roles of homefollow.models.Role (not imported: that module needs SQLModel).
ROLES = ("nurse", "coordinator", "physician", "gp", "team_admin")
Role = Literal["nurse", "coordinator", "physician", "gp", "team_admin"]

MAX_OVERRIDE = timedelta(days=31)


def _parse_hhmm(value: object) -> object:
    """Wall-clock times are stored "08:00" and read as the team forms read them (values.parse_time)."""
    if isinstance(value, time):
        return value
    try:
        return parse_time(value)
    except BadValue:
        raise ValueError(f"must be a time of day written HH:MM, e.g. 08:00 (got {value!r})") from None


# A local wall-clock time stored as "HH:MM" in JSON.
LocalTime = Annotated[
    time, BeforeValidator(_parse_hhmm), PlainSerializer(format_time, return_type=str)
]


def check_time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}; use an IANA name such as Europe/Oslo") from None
    return name


class Rotation(BaseModel):
    """People taking turns on shifts that start at the same local time on chosen weekdays."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Role = "nurse"
    people: tuple[int, ...] = Field(description="account ids in rotation order")
    start_date: date = Field(description="local date of the first shift; people[0] takes it")
    shift_start: LocalTime
    # At or before shift_start: the shift ends the next day ("22:00"–"08:00"); equal: 24 hours.
    shift_end: LocalTime
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)  # days a shift starts on; Monday = 0
    # daily: the next person takes the next shift; weekly: one person takes every shift of a
    # week, weeks counted from start_date.
    handover: Literal["daily", "weekly"] = "daily"

    @field_validator("people")
    @classmethod
    def _people(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v:
            raise ValueError("list at least one person (account id)")
        if any(p < 1 for p in v):
            raise ValueError("account ids are positive whole numbers")
        return v

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or any(d not in range(7) for d in v):
            raise ValueError("choose at least one weekday, 0 (Monday) … 6 (Sunday)")
        return tuple(sorted(set(v)))


class Override(BaseModel):
    """Person X covers the role from `start` to `end` (e.g. swapped or sick-leave shifts)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Role = "nurse"
    person: int = Field(ge=1, description="account id")
    start: AwareDatetime
    end: AwareDatetime
    note: str = Field(default="", max_length=200)

    @field_validator("end")
    @classmethod
    def _span(cls, end: datetime, info: ValidationInfo) -> datetime:
        start = info.data.get("start")
        if start is None:
            return end
        if end <= start:
            raise ValueError("must be after the start")
        if end - start > MAX_OVERRIDE:
            raise ValueError("an override may last at most 31 days; change the rotation instead")
        return end


class OnCallSchedule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    time_zone: str = "Europe/Oslo"
    rotations: tuple[Rotation, ...] = ()
    overrides: tuple[Override, ...] = ()

    @field_validator("time_zone")
    @classmethod
    def _tz(cls, v: str) -> str:
        return check_time_zone(v)


class Shift(BaseModel):
    model_config = ConfigDict(frozen=True)

    start: datetime  # UTC
    end: datetime  # UTC
    person: int


def _shift_days_between(rotation: Rotation, first: date, last: date) -> int:
    """How many shifts of the rotation start on local dates in [first, last)."""
    days = (last - first).days
    weeks, rest = divmod(days, 7)
    count = weeks * len(rotation.weekdays)
    count += sum(1 for i in range(rest) if (first + timedelta(days=weeks * 7 + i)).weekday() in rotation.weekdays)
    return count


def shift_on(rotation: Rotation, local_date: date, tz: str) -> Shift | None:
    """The shift of this rotation that starts on a local date, or None if none does."""
    if local_date < rotation.start_date or local_date.weekday() not in rotation.weekdays:
        return None
    if rotation.handover == "weekly":
        turn = (local_date - rotation.start_date).days // 7
    else:
        turn = _shift_days_between(rotation, rotation.start_date, local_date)
    end_date = local_date + timedelta(days=1) if rotation.shift_end <= rotation.shift_start else local_date
    return Shift(
        start=local_to_utc(local_date, rotation.shift_start, tz),
        end=local_to_utc(end_date, rotation.shift_end, tz),
        person=rotation.people[turn % len(rotation.people)],
    )


def who_is_on_call(schedule: OnCallSchedule, role: str, at: datetime) -> int | None:
    """The account id on call for `role` at the moment `at`, or None if nobody is."""
    if at.tzinfo is None:
        raise ValueError("who_is_on_call needs an aware datetime")
    for override in reversed(schedule.overrides):
        if override.role == role and override.start <= at < override.end:
            return override.person
    today = local_date_of(at, schedule.time_zone)
    for rotation in schedule.rotations:
        if rotation.role != role:
            continue
        # A shift covering `at` started today or yesterday (night and 24-hour shifts).
        for day in (today, today - timedelta(days=1)):
            shift = shift_on(rotation, day, schedule.time_zone)
            if shift is not None and shift.start <= at < shift.end:
                return shift.person
    return None


__all__ = [
    "ROLES",
    "LocalTime",
    "OnCallSchedule",
    "Override",
    "Role",
    "Rotation",
    "Shift",
    "check_time_zone",
    "shift_on",
    "who_is_on_call",
]
