"""What the plan asks of the patient today — measurements, check-ins and self-care tasks — and
what is already done."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import Enum

from sqlmodel import Session, select, col

from rules.schedule import Schedule, local_date_of, local_day_bounds, slots_on

from ..clock import Clock
from ..models import Measurement, Patient, Report, ReportKind
from .plans import PlanContent


class SlotStatus(str, Enum):
    DONE = "done"
    NOT_DONE = "not_done"  # a self-care task reported as not done
    NOT_YET = "not_yet"  # can be done now
    LATER = "later"  # too early: a report now would not count for it
    MISSED = "missed"


# A report counts for a slot from this long before it — the same window the missed-check-in
# rules use (open_before), so "done" here and "not missed" there agree. The day's first slot
# of an item opens at the start of the local day as well: a weight taken at 06:50 counts for
# a 13:00 slot (rules.engine's missed-check-in rule counts it the same way).
OPEN_BEFORE = timedelta(hours=6)


@dataclass(frozen=True)
class Slot:
    due_at: datetime
    status: SlotStatus
    done_at: datetime | None = None  # when the report that filled it was taken ("Gjort kl. 07:42")


@dataclass(frozen=True)
class TodayItem:
    kind: ReportKind
    key: str  # measurement item, questionnaire or task key
    slots: tuple[Slot, ...]

    @property
    def item_key(self) -> str:  # the measurement item (for measurements)
        return self.key

    @property
    def done(self) -> bool:
        return all(s.status in (SlotStatus.DONE, SlotStatus.NOT_DONE) for s in self.slots)

    @property
    def next_open_slot(self) -> Slot | None:
        return next((s for s in self.slots if s.status not in (SlotStatus.DONE, SlotStatus.NOT_DONE)), None)


def scheduled(content: PlanContent) -> list[tuple[ReportKind, str, Schedule, int]]:
    """Everything the plan expects on a schedule: (kind, key, schedule, grace minutes)."""
    entries = [(ReportKind.MEASUREMENT, m.item, m.schedule, m.grace_minutes) for m in content.measurements]
    entries += [(ReportKind.QUESTIONNAIRE, q.key, q.schedule, q.grace_minutes) for q in content.questionnaires]
    entries += [(ReportKind.TASK, t.key, t.schedule, t.grace_minutes) for t in content.tasks]
    return [(kind, key, schedule, grace) for kind, key, schedule, grace in entries if schedule is not None]


def today_items(session: Session, clock: Clock, patient: Patient, content: PlanContent) -> list[TodayItem]:
    """The patient's local today. Each slot takes the earliest report not yet counted that was
    taken no more than OPEN_BEFORE before it — for the day's first slot, any time earlier that
    local day: a late morning reading fills the morning slot, an early one counts too, and a
    second morning reading does not fill the evening."""
    now = clock.now()
    local_today = local_date_of(now, patient.time_zone)
    start, end = local_day_bounds(local_today, patient.time_zone)
    return _items_on(content, local_today, patient.time_zone, _reported(session, patient.id, start, end), now)


def today_items_of(content: PlanContent, tz: str, reported: dict, now: datetime) -> list[TodayItem]:
    """`today_items` from reports already loaded (the batched overview)."""
    return _items_on(content, local_date_of(now, tz), tz, reported, now)


@dataclass(frozen=True)
class Adherence:
    """How much of what the plan asked for was done over some whole days."""

    days: int
    expected: dict[ReportKind, int]
    done: dict[ReportKind, int]  # a task reported as not done counts as reported, not as done

    @property
    def total_expected(self) -> int:
        return sum(self.expected.values())

    @property
    def rate(self) -> float | None:
        return sum(self.done.values()) / self.total_expected if self.total_expected else None

    def rate_of(self, kind: ReportKind) -> float | None:
        return self.done.get(kind, 0) / self.expected[kind] if self.expected.get(kind) else None

    def __add__(self, other: Adherence) -> Adherence:
        """Two patients' (or two periods') adherence together."""
        return Adherence(self.days + other.days,
                         {k: self.expected.get(k, 0) + other.expected.get(k, 0) for k in self.expected | other.expected},
                         {k: self.done.get(k, 0) + other.done.get(k, 0) for k in self.done | other.done})


def adherence(session: Session, clock: Clock, patient: Patient, content: PlanContent, days: int = 7) -> Adherence:
    """Adherence over the `days` whole local days before today, by the current plan (one query)."""
    now = clock.now()
    today = local_date_of(now, patient.time_zone)
    first = today - timedelta(days=days)
    start, _ = local_day_bounds(first, patient.time_zone)
    end, _ = local_day_bounds(today, patient.time_zone)
    return adherence_of(content, patient.time_zone, _reported(session, patient.id, start, end), now, days,
                        since=patient.followed_since)


def adherence_of(content: PlanContent, tz: str, reported: dict, now: datetime, days: int,
                 since: datetime | None = None) -> Adherence:
    """Adherence over the `days` whole local days before today from reports already loaded
    (by (kind, key) as `_reported` gives them): the one definition of what was expected, shared
    by the patient page, the batched overview (services.overview) and the figures page's
    day-by-day counts (services.adherence_days). Days before the local day of `since` (the start
    of follow-up) are not counted: a patient enrolled last week has not missed 83 of the last 90
    days. `Adherence.days` is the number of days counted."""
    first, end = counted_days(tz, now, days, since)
    expected: dict[ReportKind, int] = {}
    done: dict[ReportKind, int] = {}
    for counts in adherence_by_day(content, tz, reported, now, first, end).values():
        for kind, (n_expected, n_done) in counts.items():
            expected[kind] = expected.get(kind, 0) + n_expected
            done[kind] = done.get(kind, 0) + n_done
    return Adherence((end - first).days, expected, done)


def counted_days(tz: str, now: datetime, days: int, since: datetime | None = None) -> tuple[date, date]:
    """The local days [first, end) that adherence over `days` days counts: whole days before
    today, none before the local day of `since`."""
    end = local_date_of(now, tz)
    first = end - timedelta(days=days)
    if since is not None:
        first = min(max(first, local_date_of(since, tz)), end)
    return first, end


def adherence_by_day(content: PlanContent, tz: str, reported: dict, now: datetime, first: date, end: date
                     ) -> dict[date, dict[ReportKind, tuple[int, int]]]:
    """Slots expected and done per kind on each local day in [first, end) that expects any."""
    by_day = _by_local_day(reported, tz)
    counted = [first + timedelta(days=n) for n in range((end - first).days)]
    result: dict[date, dict[ReportKind, tuple[int, int]]] = {}
    # As _items_on day by day, without building slots where nothing was reported: those slots
    # are expected and not done whatever their status (the figures page sums months of this).
    for kind, key, schedule, grace in scheduled(content):
        for day in counted:
            due = slots_on(schedule, day, tz)
            if not due:
                continue
            n_done = 0
            reports = by_day.get(day, {}).get((kind.value, key))
            if reports:
                slots = _slots(due, reports, now, timedelta(minutes=grace))
                n_done = sum(s.status == SlotStatus.DONE for s in slots)
            counts = result.setdefault(day, {})
            was_expected, was_done = counts.get(kind, (0, 0))
            counts[kind] = (was_expected + len(due), was_done + n_done)
    return result


def _by_local_day(reported: dict, tz: str) -> dict:
    """The reports of `_reported` grouped by their local day first, so a long period does not
    scan every report for every day (the figures page sums months of many patients)."""
    by_day: dict = {}
    for key, reports in reported.items():
        for r in reports:
            by_day.setdefault(local_date_of(r[0], tz), {}).setdefault(key, []).append(r)
    return by_day


def _reported(session: Session, patient_id: int, start: datetime, end: datetime
              ) -> dict[tuple[str, str], list[tuple[datetime, bool]]]:
    """Reports in [start, end) by (kind, key), oldest first: (time, done)."""
    return reported_of_patients(session, [patient_id], start, end)[patient_id]


def reported_of_patients(session: Session, patient_ids: list[int], start: datetime, end: datetime
                         ) -> dict[int, dict[tuple[str, str], list[tuple[datetime, bool]]]]:
    """`_reported` for many patients in one query: patient id -> (kind, key) -> [(time, done)]."""
    by_patient: dict[int, dict[tuple[str, str], list[tuple[datetime, bool]]]] = {pid: {} for pid in patient_ids}
    if not patient_ids:
        return by_patient
    # Only a task's value matters (0: not done), so only tasks are joined to their values.
    rows = session.exec(
        # sqlmodel's select() is typed for at most four columns; this one takes six.
        select(Report.id, Report.patient_id, Report.kind, Report.item_key, Report.measured_at,  # type: ignore[call-overload]
               Measurement.value)
        .join(Measurement, (Measurement.report_id == Report.id) & (Report.kind == ReportKind.TASK.value),
              isouter=True)
        .where(col(Report.patient_id).in_(patient_ids), col(Report.measured_at) >= start, col(Report.measured_at) < end)
        .order_by(Report.measured_at, Report.id)
    ).all()
    seen = set()
    for report_id, patient_id, kind, key, measured_at, value in rows:
        if report_id in seen:
            continue  # one report, several values
        seen.add(report_id)
        done = not (kind == ReportKind.TASK.value and value == 0)
        by_patient[patient_id].setdefault((kind, key), []).append((measured_at, done))
    return by_patient


def _items_on(content: PlanContent, local_date, tz: str, reported: dict, now: datetime) -> list[TodayItem]:
    items = []
    for kind, key, schedule, grace in scheduled(content):
        due = slots_on(schedule, local_date, tz)
        if due:
            day_start, day_end = local_day_bounds(local_date, tz)
            reports = [r for r in reported.get((kind.value, key), []) if day_start <= r[0] < day_end]
            items.append(TodayItem(kind, key, _slots(due, reports, now, timedelta(minutes=grace))))
    return items


def _slots(due: list[datetime], reports: list[tuple[datetime, bool]], now: datetime,
           grace: timedelta) -> tuple[Slot, ...]:
    """`due` are the slots of one local day, `reports` that day's reports (oldest first)."""
    unused = list(reports)
    slots = []
    first = min(due) if due else None
    for at in due:
        # The day's first slot opens when the day does (the reports are of this day only).
        opens = None if at == first else at - OPEN_BEFORE
        taken = next((r for r in unused if opens is None or r[0] >= opens), None)
        done_at = None
        if taken is not None:
            unused.remove(taken)
            status = SlotStatus.DONE if taken[1] else SlotStatus.NOT_DONE
            done_at = taken[0]
        elif now > at + grace:
            status = SlotStatus.MISSED
        elif now >= at - OPEN_BEFORE:  # shown as "later" until then, though a reading would count
            status = SlotStatus.NOT_YET
        else:
            status = SlotStatus.LATER
        slots.append(Slot(at, status, done_at))
    return tuple(slots)
