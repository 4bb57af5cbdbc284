"""The patient's record as the team sees it: team notes, the frailty score, one timeline of
everything that happened, and the audit log of who looked at or changed the record."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func
from sqlmodel import Session, select, col

from ..clock import Clock
from ..models import Account, Alert, AuditEvent, Message, Patient, PatientNote, Report
from . import audit, reporting
from .audit import Actor

NOTE_MAX_LENGTH = 4000
FRAILTY_SCORES = range(1, 10)  # Clinical Frailty Scale 1 (very fit) … 9 (terminally ill)
AUDIT_PAGE_SIZE = 50


def age_on(birth_date: date | None, today: date) -> int | None:
    if birth_date is None:
        return None
    return today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))


def add_note(session: Session, clock: Clock, *, patient: Patient, actor: Actor, body: str) -> PatientNote:
    """A team note by the actor. Notes are never edited: a correction is a new note."""
    text = body.strip()
    if not text or len(text) > NOTE_MAX_LENGTH:
        raise ValueError(f"a note is 1 to {NOTE_MAX_LENGTH} characters")
    assert actor.account_id is not None, "a team note is written by a signed-in member of the team"
    note = PatientNote(patient_id=patient.id, author_account_id=actor.account_id, body=text, created_at=clock.now())
    session.add(note)
    session.flush()
    audit.record(session, clock, actor=actor, action="note.create", patient_id=patient.id, object_type="patient_note",
                 object_id=note.id)
    return note


def set_frailty(session: Session, clock: Clock, *, patient: Patient, score: int | None, actor: Actor) -> None:
    """Record the team's Clinical Frailty Scale assessment (None: not assessed)."""
    if score is not None and score not in FRAILTY_SCORES:
        raise ValueError("the Clinical Frailty Scale runs from 1 to 9")
    previous = patient.frailty_score
    patient.frailty_score = score
    session.add(patient)
    audit.record(session, clock, actor=actor, action="patient.frailty", patient_id=patient.id, object_type="patient",
                 object_id=patient.id, previous=previous, score=score)


@dataclass(frozen=True)
class Entry:
    """One line of the timeline. `kind`: report, alert_opened, alert_resolved, note, message."""

    at: datetime
    kind: str
    report: Report | None = None
    values: dict = field(default_factory=dict)
    reporter: str | None = None  # None: the patient (or a device)
    alert: Alert | None = None
    note: PatientNote | None = None
    message: Message | None = None
    author: str | None = None

    @property
    def sort_key(self):
        return (self.at, self.kind, self.report.id if self.report else 0)


def timeline(session: Session, patient: Patient, limit: int) -> tuple[list[Entry], bool]:
    """The newest `limit` entries, newest first, and whether there are older ones. Reads the
    newest `limit` + 1 of each source (a fixed number of queries), so what is left out is
    always older than what is shown."""
    take = limit + 1
    reports = session.exec(select(Report).where(Report.patient_id == patient.id)
                           .order_by(col(Report.measured_at).desc(), col(Report.id).desc()).limit(take)).all()
    with_values = reporting._with_values(session, reports)
    who = reporting.reporters(session, patient, list(reports))
    entries = [Entry(r.measured_at, "report", report=r, values=v, reporter=who.get(r.id)) for r, v in with_values]
    opened = session.exec(select(Alert).where(Alert.patient_id == patient.id)
                          .order_by(col(Alert.opened_at).desc(), col(Alert.id).desc()).limit(take)).all()
    entries += [Entry(a.opened_at, "alert_opened", alert=a) for a in opened]
    resolved = session.exec(select(Alert).where(col(Alert.patient_id) == patient.id, col(Alert.resolved_at).is_not(None))
                            .order_by(col(Alert.resolved_at).desc(), col(Alert.id).desc()).limit(take)).all()
    entries += [Entry(a.resolved_at, "alert_resolved", alert=a) for a in resolved if a.resolved_at is not None]
    notes = session.exec(select(PatientNote).where(PatientNote.patient_id == patient.id)
                         .order_by(col(PatientNote.created_at).desc(), col(PatientNote.id).desc()).limit(take)).all()
    entries += [Entry(n.created_at, "note", note=n) for n in notes]
    sent = session.exec(select(Message).where(Message.patient_id == patient.id)
                        .order_by(col(Message.created_at).desc(), col(Message.id).desc()).limit(take)).all()
    entries += [Entry(m.created_at, "message", message=m) for m in sent]
    names = account_names(session, {n.author_account_id for n in notes} | {m.author_account_id for m in sent}
                          | {a.resolved_by_account_id for a in resolved})
    entries = [_with_author(e, names) for e in entries]
    entries.sort(key=lambda e: e.sort_key, reverse=True)
    return entries[:limit], len(entries) > limit


def _with_author(entry: Entry, names: dict[int, str]) -> Entry:
    account_id = (entry.note.author_account_id if entry.note else entry.message.author_account_id if entry.message
                  else entry.alert.resolved_by_account_id if entry.alert and entry.kind == "alert_resolved" else None)
    if account_id is None:
        return entry
    return Entry(entry.at, entry.kind, report=entry.report, values=entry.values, reporter=entry.reporter,
                 alert=entry.alert, note=entry.note, message=entry.message, author=names.get(account_id))


def account_names(session: Session, account_ids) -> dict[int, str]:
    ids = {i for i in account_ids if i}
    if not ids:
        return {}
    return {a.id: a.name for a in session.exec(select(Account).where(col(Account.id).in_(ids)))}


@dataclass(frozen=True)
class AuditPage:
    events: list[AuditEvent]
    names: dict[int, str]
    page: int
    pages: int
    total: int


def audit_log(session: Session, patient_id: int, page: int = 1) -> AuditPage:
    """Who looked at or changed the patient's record, newest first, AUDIT_PAGE_SIZE a page."""
    total = session.exec(select(func.count(col(AuditEvent.id))).where(col(AuditEvent.patient_id) == patient_id)).one()
    pages = max(1, -(-total // AUDIT_PAGE_SIZE))
    page = min(max(1, page), pages)
    events = list(session.exec(select(AuditEvent).where(AuditEvent.patient_id == patient_id)
                               .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
                               .offset((page - 1) * AUDIT_PAGE_SIZE).limit(AUDIT_PAGE_SIZE)))
    return AuditPage(events, account_names(session, {e.actor_account_id for e in events}), page, pages, total)
