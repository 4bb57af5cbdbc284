"""SMS reminders: a scheduled measurement not done by its time gets one reminder, at the delay
the patient chose, never in the patient's quiet hours. The text says only that something is
due. The next time a reminder may be due is kept on the patient, indexed for the sweep."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import update
from sqlmodel import Session, select, col

from rules.schedule import local_date_of, local_to_utc, slots_on

from ..clock import Clock
from ..db import rows_changed
from ..models import Account, Channel, Patient, PatientStatus
from ..notifications import outbox, quiet_hours
from ..transactions import commit_now
from ..notifications.texts import message_text
from . import checklist
from .checklist import SlotStatus
from .plans import PlanContent, current_content

log = logging.getLogger(__name__)

SWEEP_LEASE = timedelta(minutes=2)


class Settings(BaseModel):
    """The patient's choice, stored as JSON on the patient."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    delay_minutes: int = Field(default=60, ge=15, le=360)  # after the scheduled time
    quiet_start: time = time(21, 0)  # no SMS from here …
    quiet_end: time = time(8, 0)  # … until here (local time)

    def in_quiet_hours(self, local: time) -> bool:
        return quiet_hours.in_quiet_hours(local, self.quiet_start, self.quiet_end)


def settings_of(patient: Patient) -> Settings:
    return Settings.model_validate(patient.reminders or {})


def send_after(patient: Patient, now: datetime) -> datetime:
    """When an SMS to the patient that can wait may go: now, or when the patient's quiet hours
    end (their own setting, in their time zone). For the outbox's not-before time (due_at)."""
    settings = settings_of(patient)
    return quiet_hours.send_after(now, patient.time_zone, settings.quiet_start, settings.quiet_end)


def relative_send_after(patient: Patient, now: datetime) -> datetime:
    """The same for a relative of the patient: the standard quiet hours (21:00–08:00), in the
    patient's time zone."""
    return quiet_hours.send_after(now, patient.time_zone)


@dataclass(frozen=True)
class Due:
    kind: str  # ReportKind value
    key: str  # measurement item, questionnaire or task
    slot: datetime  # the scheduled time
    remind_at: datetime


def reminder_times(content: PlanContent, settings: Settings, local_date: date, tz: str) -> list[Due]:
    """When each of the day's scheduled measurements, check-ins and tasks would be reminded of,
    if not done. A reminder that would fall in quiet hours waits for them to end — unless that
    is the next day, when the reminder would only confuse."""
    zone = ZoneInfo(tz)
    result = []
    for kind, key, schedule, _grace in checklist.scheduled(content):
        for slot in slots_on(schedule, local_date, tz):
            remind_at = slot + timedelta(minutes=settings.delay_minutes)
            local = remind_at.astimezone(zone)
            if settings.in_quiet_hours(local.time()):
                quiet_ends = local_to_utc(local.date(), settings.quiet_end, tz)
                if quiet_ends <= remind_at or local_date_of(quiet_ends, tz) != local_date:
                    continue  # quiet until tomorrow
                remind_at = quiet_ends
            result.append(Due(kind.value, key, slot, remind_at))
    return sorted(result, key=lambda d: d.remind_at)


def next_due(session: Session, clock: Clock, patient: Patient) -> datetime | None:
    """The next moment a reminder may be due: today's next reminder time, else tomorrow's first."""
    settings = settings_of(patient)
    if not settings.enabled or not patient.phone or patient.status != PatientStatus.ACTIVE.value:
        return None
    content, _version = current_content(session, patient.id)
    now = clock.now()
    today = local_date_of(now, patient.time_zone)
    for day in (today, today + timedelta(days=1)):
        later = [d.remind_at for d in reminder_times(content, settings, day, patient.time_zone) if d.remind_at > now]
        if later:
            return later[0]
    return None


def schedule_next(session: Session, clock: Clock, patient: Patient) -> None:
    """Set when the sweep next looks at this patient (after a plan or settings change)."""
    patient.reminder_due_at = next_due(session, clock, patient)
    session.add(patient)


def send_due(session: Session, clock: Clock, patient: Patient) -> int:
    """Queue one reminder for the latest reminder time that has come while something due then
    is still not done (three things due at 08:00 make one SMS, not three). Once per time,
    whatever happens (outbox key)."""
    settings = settings_of(patient)
    if not settings.enabled or not patient.phone or patient.status != PatientStatus.ACTIVE.value:
        return 0  # paused (admitted) or ended: nothing is due
    now = clock.now()
    content, _version = current_content(session, patient.id)
    today = local_date_of(now, patient.time_zone)
    open_slots = {(item.kind.value, item.key, slot.due_at)
                  for item in checklist.today_items(session, clock, patient, content)
                  for slot in item.slots if slot.status not in (SlotStatus.DONE, SlotStatus.NOT_DONE)}
    times = sorted({due.remind_at for due in reminder_times(content, settings, today, patient.time_zone)
                    if due.remind_at <= now and (due.kind, due.key, due.slot) in open_slots})
    account = session.get(Account, patient.account_id) if patient.account_id else None
    sent = 0
    for remind_at in times[-1:]:  # after a pause in sweeping, one SMS, not a burst of old ones
        # A sweep that runs late (after an outage) may find an evening reminder once quiet hours
        # have begun: it waits for them to end, unless that is another day (it would only confuse).
        due_at = send_after(patient, now)
        if local_date_of(due_at, patient.time_zone) != local_date_of(remind_at, patient.time_zone):
            continue
        queued = outbox.enqueue(session, clock, dedup_key=f"reminder:{patient.id}:{remind_at.isoformat()}",
                                channel=Channel.SMS, recipient=patient.phone,
                                body=message_text("reminder", account.locale if account else "nb"),
                                patient_id=patient.id, due_at=due_at)
        sent += queued is not None
    return sent


@dataclass
class ReminderSweep:
    patients: int = 0
    queued: int = 0
    skipped: int = 0


def sweep_due_reminders(session: Session, clock: Clock, limit: int = 500) -> ReminderSweep:
    result = ReminderSweep()
    now = clock.now()
    due_ids = session.exec(select(Patient.id).where(col(Patient.reminder_due_at) <= now)
                           .order_by(col(Patient.reminder_due_at)).limit(limit)).all()
    commit_now(session, "sweep_item")
    for patient_id in due_ids:
        claimed = session.execute(update(Patient).where(col(Patient.id) == patient_id, col(Patient.reminder_due_at) <= now)
                                  .values(reminder_due_at=now + SWEEP_LEASE))
        commit_now(session, "sweep_item")
        if rows_changed(claimed) != 1:
            result.skipped += 1
            continue
        try:
            patient = session.get(Patient, patient_id, populate_existing=True)
            assert patient is not None, "just claimed"
            result.queued += send_due(session, clock, patient)
            schedule_next(session, clock, patient)
            commit_now(session, "sweep_item")
            result.patients += 1
        except Exception:  # one patient's failure must not stop the others; the lease retries it
            session.rollback()
            log.exception("reminders for patient %s failed", patient_id)
    return result
