"""Pauses of follow-up, and their end.

A pause (status "paused") stops SMS reminders and alerts for missed check-ins; readings that
arrive are still stored and checked, so the safety net keeps working on a holiday. Every pause
ends: one with an end date (a holiday) resumes by itself at the local midnight after its last
day (the scheduler's sweep); one without (an admission with no discharge message yet) puts a
question in the team's triage queue after REVIEW_AFTER, and again every REVIEW_AGAIN_AFTER
until someone resumes it. A pause is never silent to the team: one set by the patient or a
relative puts an item in the queue (yellow, nobody paged).

Pause and resume write a compare-and-set UPDATE on the patient's status, so a sweep in several
processes, a discharge and a tap on "I am home again" at the same moment resume once. They do
not commit: the request, the sweep or the hospital message that calls them does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, select, col

from rules.schedule import local_date_of, local_day_bounds
from rules.text import both, day, moment

from ..clock import Clock
from ..db import rows_changed
from ..i18n import N_, t
from ..models import Account, AccountKind, Patient, PatientStatus
from ..transactions import commit_now
from . import alerts, audit, evaluation, reminders
from .audit import Actor
from .access import valid_grant

log = logging.getLogger(__name__)

HOLIDAY, ADMISSION, OTHER = "holiday", "admission", "other"
REASONS = {
    HOLIDAY: N_("Holiday or away"),
    ADMISSION: N_("Hospital admission"),
    OTHER: N_("Other reason"),
}
# A pause with an end date ends at most this many days after today: long enough for a long
# holiday, short enough that a typo in the year never switches follow-up off for months.
MAX_DAYS = 60
# A pause without an end is questioned after this long (a median hospital stay is shorter),
# and again this often while nobody resumes it.
REVIEW_AFTER = timedelta(days=5)
REVIEW_AGAIN_AFTER = timedelta(days=3)

PAUSED_KEY = "pause.by_patient"  # the queue item of a pause set (or ended) on the patient's side
REVIEW_KEY = "pause.review"  # the queue item asking whether a pause without an end still holds
PATIENT_SIDE = (AccountKind.PATIENT.value, AccountKind.RELATIVE.value)


class PauseError(ValueError):
    """The pause cannot be set as asked. `field` ("reason" or "until") names what is wrong and
    `code` why; the portals word it."""

    def __init__(self, field: str, code: str):
        super().__init__(f"{field}: {code}")
        self.field = field
        self.code = code


def end_of(last_day: date, patient: Patient) -> datetime:
    """The end of a pause whose last day is `last_day`: the local midnight after it, in UTC."""
    return local_day_bounds(last_day, patient.time_zone)[1]


def last_day(patient: Patient) -> date | None:
    """The last local day of the patient's pause, or None (not paused, or no end)."""
    if patient.status != PatientStatus.PAUSED.value or patient.paused_until is None:
        return None
    return local_date_of(patient.paused_until - timedelta(microseconds=1), patient.time_zone)


def latest_last_day(clock: Clock, patient: Patient) -> date:
    return local_date_of(clock.now(), patient.time_zone) + timedelta(days=MAX_DAYS)


def until_from(clock: Clock, patient: Patient, last: date) -> datetime:
    """The end of a pause whose last day is `last` (today at the earliest), checked before it is
    turned into a time, so an absurd year (0001, 9999) is a clear error rather than an overflow."""
    if last < local_date_of(clock.now(), patient.time_zone):
        raise PauseError("until", "past")
    if last > latest_last_day(clock, patient):
        raise PauseError("until", "too_far")
    return end_of(last, patient)


def pause(session: Session, clock: Clock, patient: Patient, *, reason: str, until: datetime | None,
          actor: Actor) -> None:
    """Pause follow-up (or change the pause already in place).

    `until`: when it ends by itself (end_of the last day), required for a holiday and for any
    pause set on the patient's side; None: it lasts until resumed, and the team is asked after
    REVIEW_AFTER whether it still holds. Raises PauseError."""
    now = clock.now()
    if reason not in REASONS:
        raise PauseError("reason", "unknown")
    side = actor.kind in PATIENT_SIDE
    if side and reason != HOLIDAY:
        raise PauseError("reason", "unknown")
    if until is None and (reason == HOLIDAY or side):
        raise PauseError("until", "required")
    if until is not None:
        if until.tzinfo is None:
            raise ValueError("until must be an aware datetime")
        if until <= now:
            raise PauseError("until", "past")
        if until > end_of(latest_last_day(clock, patient), patient):
            raise PauseError("until", "too_far")
    if side and patient.status == PatientStatus.PAUSED.value and patient.pause_reason != HOLIDAY:
        raise PauseError("reason", "set_by_team")  # the patient cannot turn an admission into a holiday
    paused_at = patient.paused_at if patient.status == PatientStatus.PAUSED.value and patient.paused_at else now
    review_at = None if until is not None else now + REVIEW_AFTER
    # Only a followed patient can be paused: an ending or withdrawn consent a moment ago wins.
    changed = session.execute(
        update(Patient)
        .where(col(Patient.id) == patient.id,
               col(Patient.status).in_((PatientStatus.ACTIVE.value, PatientStatus.PAUSED.value)))
        .values(status=PatientStatus.PAUSED.value, paused_at=paused_at, pause_reason=reason, paused_until=until,
                pause_review_at=review_at)
        .execution_options(synchronize_session="fetch"))
    if rows_changed(changed) != 1:
        raise PauseError("reason", "not_followed")
    reminders.schedule_next(session, clock, patient)  # none while paused
    audit.record(session, clock, actor=actor, action="patient.pause",
                 patient_id=patient.id, reason=reason, until=until.isoformat() if until else None)
    if side:
        _tell_team_paused(session, clock, patient, _who(session, clock, patient, actor))


def resume(session: Session, clock: Clock, patient: Patient, *, actor: Actor,
           ended: bool = False) -> bool:
    """Resume a paused patient's follow-up now: reminders and rule timers start again from now,
    and what was expected while paused is not held against the patient. False when the patient
    was not paused (someone resumed it a moment ago). `ended`: the sweep, only if the pause's
    end has passed (it may have been moved a moment ago)."""
    now = clock.now()
    was = (patient.pause_reason, patient.paused_at, patient.paused_until)
    claim = update(Patient).where(col(Patient.id) == patient.id, col(Patient.status) == PatientStatus.PAUSED.value)
    if ended:
        claim = claim.where(col(Patient.paused_until) <= now)
    changed = session.execute(
        claim.values(status=PatientStatus.ACTIVE.value, resumed_at=now, paused_at=None, pause_reason=None,
                     paused_until=None, pause_review_at=None)
        .execution_options(synchronize_session="fetch"))
    if rows_changed(changed) != 1:
        return False
    reminders.schedule_next(session, clock, patient)
    evaluation.evaluate_patient(session, clock, patient)  # restarts the rules' timers from now
    reason, since, until = was
    audit.record(session, clock, actor=actor, action="patient.resume",
                 patient_id=patient.id, reason=reason, paused_at=since.isoformat() if since else None,
                 until=until.isoformat() if until else None, by_end_date=ended)
    if actor.kind in PATIENT_SIDE and (reason != HOLIDAY or alerts.open_alert_for(session, patient.id, PAUSED_KEY)):
        # Home from a stay the team knows of, or back early while the pause's item is still
        # open: the queue says so instead of a pause that no longer holds.
        _tell_team_resumed(session, clock, patient, _who(session, clock, patient, actor),
                           reason, since)
    return True


def _who(session: Session, clock: Clock, patient: Patient, actor: Actor) -> str:
    """The patient's name, or the relative's with their relation ("Marit Hansen (datter)")."""
    if actor.kind == AccountKind.RELATIVE.value and actor.account_id is not None:
        account = session.get(Account, actor.account_id)
        assert account is not None, "a signed-in relative's account exists"
        grant = valid_grant(session, clock, actor.account_id, patient.id)
        return f"{account.name} ({grant.relation})" if grant else account.name
    return patient.name


def _reason(loc: str, reason: str | None) -> str:
    return t(loc, REASONS[reason]) if reason in REASONS else (reason or "")


def _tell_team_paused(session: Session, clock: Clock, patient: Patient, who: str) -> None:
    end = patient.paused_until
    assert end is not None, "the team is told only of a pause with an end"
    shown = end - timedelta(microseconds=1)  # the last day, not the midnight after it
    alerts.add_to_queue(
        session, clock, patient, key=PAUSED_KEY,
        title=both(lambda loc: t(loc, "Follow-up paused until %(day)s", day=day(shown, patient.time_zone, loc))),
        value_text=both(lambda loc: _reason(loc, patient.pause_reason)),
        threshold_text=both(lambda loc: t(loc, "Resumes by itself on %(when)s",
                                          when=moment(end, patient.time_zone, loc))),
        explanation=both(lambda loc: t(
            loc, "%(who)s has paused follow-up until and including %(day)s (%(reason)s). Until then no SMS "
                 "reminders are sent and no alerts for missed measurements are raised; measurements that are "
                 "sent are still checked. Follow-up resumes by itself the day after. To resume it earlier, "
                 "press Resume follow-up on the patient page.",
            who=who, day=day(shown, patient.time_zone, loc), reason=_reason(loc, patient.pause_reason))),
        pause_reason=patient.pause_reason, paused_until=end.isoformat())


def _tell_team_resumed(session: Session, clock: Clock, patient: Patient, who: str, reason: str | None,
                       since: datetime | None) -> None:
    now = clock.now()
    since = since or now
    alerts.add_to_queue(
        session, clock, patient, key=PAUSED_KEY,
        title=both(lambda loc: t(loc, "Follow-up resumed: the patient is home")),
        value_text=both(lambda loc: _reason(loc, reason)),
        threshold_text=both(lambda loc: t(loc, "Paused since %(when)s", when=moment(since, patient.time_zone, loc))),
        explanation=both(lambda loc: t(
            loc, "%(who)s said on %(when)s that the patient is home again, and follow-up has resumed (paused since "
                 "%(since)s: %(reason)s). Check whether the plan still fits.",
            who=who, when=moment(now, patient.time_zone, loc), since=moment(since, patient.time_zone, loc),
            reason=_reason(loc, reason))),
        pause_reason=reason, resumed_at=now.isoformat())


def _ask_team(session: Session, clock: Clock, patient: Patient, next_at: datetime) -> None:
    since = patient.paused_at or clock.now()
    days = max((clock.now() - since).days, 1)
    admitted = patient.pause_reason == ADMISSION
    tz = patient.time_zone
    if admitted:
        title = both(lambda loc: t(loc, "Still admitted? Follow-up has been paused for %(days)s days", days=days))
        explanation = both(lambda loc: t(
            loc, "Follow-up was paused on %(since)s because the patient was admitted to hospital, and no discharge "
                 "has been reported. While it is paused, no reminders are sent and no alerts for missed "
                 "measurements are raised. Check whether the patient is still admitted. If the patient is home, "
                 "press Resume follow-up on the patient page. If not, resolve this item: you are asked again on "
                 "%(next)s.", since=moment(since, tz, loc), next=moment(next_at, tz, loc)))
    else:
        title = both(lambda loc: t(loc, "Still paused? Follow-up has been paused for %(days)s days", days=days))
        explanation = both(lambda loc: t(
            loc, "Follow-up was paused on %(since)s without an end date (%(reason)s). While it is paused, no "
                 "reminders are sent and no alerts for missed measurements are raised. Check whether the pause "
                 "still holds. If not, press Resume follow-up on the patient page. If it does, resolve this item: "
                 "you are asked again on %(next)s.", since=moment(since, tz, loc), next=moment(next_at, tz, loc),
            reason=_reason(loc, patient.pause_reason)))
    alerts.add_to_queue(
        session, clock, patient, key=REVIEW_KEY, title=title,
        value_text=both(lambda loc: _reason(loc, patient.pause_reason)),
        threshold_text=both(lambda loc: t(loc, "Paused since %(when)s", when=moment(since, tz, loc))),
        explanation=explanation, pause_reason=patient.pause_reason, next_review_at=next_at.isoformat())


# ---- the scheduler's sweep ------------------------------------------------------------------

@dataclass
class PauseSweep:
    resumed: int = 0
    asked: int = 0
    skipped: int = 0  # another process got there first, or the pause changed meanwhile
    failed: int = 0


def sweep_due_pauses(session: Session, clock: Clock, limit: int = 500) -> PauseSweep:
    """Resume pauses whose end has passed, and ask the team about pauses without an end that
    are due for review. Each patient is claimed with a compare-and-set UPDATE in its own
    transaction, so several processes at once do each thing once."""
    result = PauseSweep()
    now = clock.now()
    paused = col(Patient.status) == PatientStatus.PAUSED.value
    ended = session.exec(select(Patient.id).where(paused, col(Patient.paused_until) <= now)
                         .order_by(col(Patient.paused_until)).limit(limit)).all()
    to_review = session.exec(select(Patient.id).where(paused, col(Patient.paused_until).is_(None),
                                                      col(Patient.pause_review_at) <= now)
                             .order_by(col(Patient.pause_review_at)).limit(limit)).all()
    commit_now(session, "sweep_item")
    for patient_id in ended:
        try:
            patient = session.get(Patient, patient_id, populate_existing=True)
            assert patient is not None, "patients are not deleted"
            if resume(session, clock, patient, actor=Actor.system(), ended=True):
                result.resumed += 1
            else:
                result.skipped += 1
            commit_now(session, "sweep_item")
        except Exception:  # one patient's failure must not stop the others; the next sweep retries
            session.rollback()
            result.failed += 1
            log.exception("resuming the pause of patient %s failed", patient_id)
    for patient_id in to_review:
        try:
            next_at = now + REVIEW_AGAIN_AFTER
            claimed = session.execute(update(Patient).where(col(Patient.id) == patient_id, paused,
                                                            col(Patient.paused_until).is_(None),
                                                            col(Patient.pause_review_at) <= now)
                                      .values(pause_review_at=next_at))
            if rows_changed(claimed) != 1:
                commit_now(session, "sweep_item")
                result.skipped += 1
                continue
            patient = session.get(Patient, patient_id, populate_existing=True)
            assert patient is not None, "patients are not deleted"
            _ask_team(session, clock, patient, next_at)
            commit_now(session, "sweep_item")
            result.asked += 1
        except Exception:
            session.rollback()
            result.failed += 1
            log.exception("asking about the pause of patient %s failed", patient_id)
    return result
