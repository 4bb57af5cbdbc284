"""Use of services before and after inclusion, and readmissions within 30 days. Pure functions.

Definitions (docs/outcomes.md has worked examples):
- The inclusion date I is a local calendar date. "Before" is the 250 days I-250 … I-1, "after"
  the days I … I+249, cut at `today` (exclusive): a patient included 100 days ago has 100 days
  of follow-up. The hospital history is taken as complete, so "before" is always 250 days.
- Events count in the window where they start. Bed-days are the nights of acute admissions
  (the night after day d, for start <= d < end) that fall in the window, so a stay spanning
  the inclusion date is split; an admission without an end runs until `today`.
- Cohort figures are totals with patient-years behind them (days / 365.25) and rates per
  patient-year, so patients with a short follow-up count only for the time they have. A
  patient with no follow-up yet counts in "before" only. Each figure shows its patients.
- Readmission: an acute admission discharged in the window (index) is readmitted when another
  acute admission starts 0–30 days after the discharge date. An index discharged less than 30
  days before `today` without a readmission yet is left out (its outcome is not known).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

WINDOW_DAYS = 250
READMISSION_DAYS = 30
DAYS_PER_YEAR = 365.25

MEASURES = ("acute_admissions", "bed_days", "emergency_contacts", "short_stays")


@dataclass(frozen=True)
class Event:
    kind: str  # ServiceKind value
    start: date
    end: date | None = None
    acute: bool = True


@dataclass(frozen=True)
class Window:
    first: date  # inclusive
    end: date  # exclusive

    @property
    def days(self) -> int:
        return max((self.end - self.first).days, 0)

    def contains(self, day: date) -> bool:
        return self.first <= day < self.end


def windows(inclusion: date, today: date, days: int = WINDOW_DAYS) -> tuple[Window, Window]:
    before = Window(inclusion - timedelta(days=days), inclusion)
    after = Window(inclusion, max(inclusion, min(inclusion + timedelta(days=days), today)))
    return before, after


def _nights(event: Event, window: Window, today: date) -> int:
    end = event.end or today
    first, last = max(event.start, window.first), min(end, window.end)
    return max((last - first).days, 0)


def count_in(events: list[Event], window: Window, today: date) -> dict[str, int]:
    counts = dict.fromkeys(MEASURES, 0)
    for e in events:
        if e.kind == "admission" and e.acute:
            counts["bed_days"] += _nights(e, window, today)
            if window.contains(e.start):
                counts["acute_admissions"] += 1
        elif e.kind == "emergency" and window.contains(e.start):
            counts["emergency_contacts"] += 1
        elif e.kind == "short_stay" and window.contains(e.start):
            counts["short_stays"] += 1
    return counts


@dataclass(frozen=True)
class Readmissions:
    index_admissions: int = 0
    readmitted: int = 0

    @property
    def rate(self) -> float | None:
        return self.readmitted / self.index_admissions if self.index_admissions else None

    def __add__(self, other: Readmissions) -> Readmissions:
        return Readmissions(self.index_admissions + other.index_admissions, self.readmitted + other.readmitted)


def readmissions(events: list[Event], window: Window, today: date) -> Readmissions:
    acute = sorted((e for e in events if e.kind == "admission" and e.acute), key=lambda e: e.start)
    index = readmitted = 0
    for e in acute:
        if e.end is None or not window.contains(e.end):
            continue
        again = any(o is not e and 0 <= (o.start - e.end).days <= READMISSION_DAYS for o in acute)
        if again:
            index += 1
            readmitted += 1
        elif (today - e.end).days >= READMISSION_DAYS:
            index += 1
    return Readmissions(index, readmitted)


@dataclass(frozen=True)
class PeriodFigures:
    patients: int = 0
    days: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MEASURES, 0))
    readmissions: Readmissions = Readmissions()

    @property
    def patient_years(self) -> float:
        return self.days / DAYS_PER_YEAR

    def per_patient_year(self, measure: str) -> float | None:
        return self.counts[measure] / self.patient_years if self.days else None


@dataclass(frozen=True)
class Figures:
    before: PeriodFigures
    after: PeriodFigures

    def change(self, measure: str) -> float | None:
        """Relative change of the rate per patient-year (-0.5: halved); None when not computable."""
        b, a = self.before.per_patient_year(measure), self.after.per_patient_year(measure)
        if b is None or a is None or b == 0:
            return None
        return (a - b) / b


def _period(patients: list[tuple[list[Event], Window]], today: date) -> PeriodFigures:
    counts = dict.fromkeys(MEASURES, 0)
    days = n = 0
    readmitted = Readmissions()
    for events, window in patients:
        if window.days == 0:
            continue
        n += 1
        days += window.days
        for key, value in count_in(events, window, today).items():
            counts[key] += value
        readmitted = readmitted + readmissions(events, window, today)
    return PeriodFigures(patients=n, days=days, counts=counts, readmissions=readmitted)


def cohort_figures(patients: list[tuple[date, list[Event]]], today: date, days: int = WINDOW_DAYS) -> Figures:
    """Figures for patients given as (inclusion date, events); one patient is a cohort of one.
    Patients included after `today` are left out."""
    before, after = [], []
    for inclusion, events in patients:
        if inclusion > today:
            continue
        b, a = windows(inclusion, today, days)
        before.append((events, b))
        after.append((events, a))
    return Figures(before=_period(before, today), after=_period(after, today))
