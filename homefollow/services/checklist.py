"""What the plan asks of the patient today, and what is already done."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from sqlmodel import Session, select

from rules.schedule import local_date_of, local_day_bounds, slots_on

from ..clock import Clock
from ..models import Patient, Report
from .plans import PlanContent


class SlotStatus(str, Enum):
    DONE = "done"
    NOT_YET = "not_yet"  # can be done now
    LATER = "later"  # too early: a report now would not count for it
    MISSED = "missed"


# A report counts for a slot from this long before it — the same window the missed-check-in
# rules use (open_before), so "done" here and "not missed" there agree.
OPEN_BEFORE = timedelta(hours=6)


@dataclass(frozen=True)
class Slot:
    due_at: datetime
    status: SlotStatus


@dataclass(frozen=True)
class TodayItem:
    item_key: str
    slots: tuple[Slot, ...]

    @property
    def done(self) -> bool:
        return all(s.status == SlotStatus.DONE for s in self.slots)

    @property
    def next_open_slot(self) -> Slot | None:
        return next((s for s in self.slots if s.status != SlotStatus.DONE), None)


def today_items(session: Session, clock: Clock, patient: Patient, content: PlanContent) -> list[TodayItem]:
    """Scheduled measurements for the patient's local today. Each slot takes the earliest
    report not yet counted that was taken no more than OPEN_BEFORE before it: a late morning
    reading fills the morning slot, and a second morning reading does not fill the evening."""
    now = clock.now()
    local_today = local_date_of(now, patient.time_zone)
    start, end = local_day_bounds(local_today, patient.time_zone)
    reported: dict[str, list] = {}
    for item_key, measured_at in session.exec(
        select(Report.item_key, Report.measured_at)
        .where(Report.patient_id == patient.id, Report.measured_at >= start, Report.measured_at < end)
        .order_by(Report.measured_at)
    ):
        reported.setdefault(item_key, []).append(measured_at)

    items = []
    for m in content.measurements:
        if m.schedule is None:
            continue
        due = slots_on(m.schedule, local_today, patient.time_zone)
        if due:
            items.append(TodayItem(m.item, _slots(due, reported.get(m.item, []), now,
                                                  timedelta(minutes=m.grace_minutes))))
    return items


def _slots(due: list[datetime], reports: list[datetime], now: datetime, grace: timedelta) -> tuple[Slot, ...]:
    unused = list(reports)
    slots = []
    for at in due:
        taken = next((t for t in unused if t >= at - OPEN_BEFORE), None)
        if taken is not None:
            unused.remove(taken)
            status = SlotStatus.DONE
        elif now > at + grace:
            status = SlotStatus.MISSED
        elif now >= at - OPEN_BEFORE:
            status = SlotStatus.NOT_YET
        else:
            status = SlotStatus.LATER
        slots.append(Slot(at, status))
    return tuple(slots)
