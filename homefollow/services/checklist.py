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
    NOT_YET = "not_yet"
    MISSED = "missed"


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
    """Scheduled measurements for the patient's local today. A report counts for the
    earliest open slot, so two reports in the morning fill the morning and evening slots
    in order — the patient is never told something done is missing."""
    now = clock.now()
    local_today = local_date_of(now, patient.time_zone)
    start, end = local_day_bounds(local_today, patient.time_zone)
    reported: dict[str, int] = {}
    for item_key in session.exec(
        select(Report.item_key).where(Report.patient_id == patient.id, Report.measured_at >= start,
                                      Report.measured_at < end)
    ):
        reported[item_key] = reported.get(item_key, 0) + 1

    items = []
    for m in content.measurements:
        if m.schedule is None:
            continue
        due = slots_on(m.schedule, local_today, patient.time_zone)
        if not due:
            continue
        done = reported.get(m.item, 0)
        grace = timedelta(minutes=m.grace_minutes)
        slots = tuple(
            Slot(at, SlotStatus.DONE if i < done else (SlotStatus.MISSED if now > at + grace else SlotStatus.NOT_YET))
            for i, at in enumerate(due)
        )
        items.append(TodayItem(m.item, slots))
    return items
