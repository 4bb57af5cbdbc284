"""When something is expected of a patient, in the patient's own time zone.

A schedule says "08:00 and 20:00, Monday to Friday" in local wall-clock time. Slots are
computed per local date and converted to UTC, so a measurement due at 08:00 stays at 08:00
in Tromsø across daylight-saving changes. On the spring-forward night a wall-clock time that
does not exist (02:30) moves forward by the length of the gap (to 03:30), as zoneinfo does
with fold=0; on the fall-back night an ambiguous time is taken at its first occurrence.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, UTC
from functools import lru_cache
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

WEEKDAYS = (0, 1, 2, 3, 4, 5, 6)  # Monday = 0, as datetime.weekday()


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    times: tuple[time, ...] = Field(min_length=1)
    weekdays: tuple[int, ...] = WEEKDAYS  # a weekly item names a single weekday

    @field_validator("times")
    @classmethod
    def _sorted_unique_times(cls, v: tuple[time, ...]) -> tuple[time, ...]:
        return tuple(sorted(set(v)))

    @field_validator("weekdays")
    @classmethod
    def _valid_weekdays(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or any(d not in WEEKDAYS for d in v):
            raise ValueError("weekdays must be a non-empty subset of 0 (Monday) … 6 (Sunday)")
        return tuple(sorted(set(v)))

    @property
    def is_daily(self) -> bool:
        return self.weekdays == WEEKDAYS


def local_to_utc(local_date: date, at: time, tz: str) -> datetime:
    """The UTC instant of a wall-clock time on a local date, resolving DST gaps and folds."""
    aware = datetime.combine(local_date, at).replace(tzinfo=ZoneInfo(tz), fold=0)
    return aware.astimezone(UTC)


def slots_on(schedule: Schedule, local_date: date, tz: str) -> list[datetime]:
    """UTC instants at which items of this schedule are due on the given local date."""
    return list(_slots(schedule.times, schedule.weekdays, local_date, tz))


@lru_cache(maxsize=16384)
def _slots(times: tuple[time, ...], weekdays: tuple[int, ...], local_date: date, tz: str) -> tuple[datetime, ...]:
    # Cached: the scheduler sweep asks for the same few days of the same schedules all the time.
    if local_date.weekday() not in weekdays:
        return ()
    return tuple(local_to_utc(local_date, t, tz) for t in times)


def local_date_of(at: datetime, tz: str) -> date:
    return at.astimezone(ZoneInfo(tz)).date()


@lru_cache(maxsize=16384)
def local_day_bounds(local_date: date, tz: str) -> tuple[datetime, datetime]:
    """[start, end) of a local calendar day in UTC (23 or 25 hours long on DST days)."""
    start = local_to_utc(local_date, time(0, 0), tz)
    end = local_to_utc(local_date + timedelta(days=1), time(0, 0), tz)
    return start, end
